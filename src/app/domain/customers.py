"""Customers: sign up and look up."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from app.domain.errors import AlreadyExistsError, NotFoundError, UnprocessableError
from app.observability import metrics
from app.store import customers as rows
from app.store.postgres import Postgres

# Longest email key stored: an email is at most 320 characters, and folding can lengthen one (a
# ligature or a compatibility character becomes several letters), never usefully beyond this.
MAX_EMAIL_KEY = 320


def email_key(email: str) -> str:
    """The identity of an email address: one key for every spelling a person could sign up with.

    Unicode's NFKC_Casefold recipe: compatibility forms become the letters they stand for (`ﬁ`
    is `fi`), and case folding, unlike lower-casing, also maps `ß` to `ss` and every sigma to the small one;
    normalising again after folding keeps the result stable. The customer's email is stored as given
    (lower-cased); uniqueness is on this key.
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).casefold())


@dataclass(frozen=True, slots=True)
class Customer:
    id: uuid.UUID
    email: str
    name: str
    beta_group: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Customer:
        return cls(**{key: row[key] for key in ("id", "email", "name", "beta_group", "created_at")})

    def document(self) -> bytes:
        """The customer as the API returns it (`CustomerOut`), as JSON bytes, like an order's."""
        return orjson.dumps(
            {
                "id": str(self.id),
                "email": self.email,
                "name": self.name,
                "beta_group": self.beta_group,
                "created_at": self.created_at,
            }
        )


class CustomerService:
    def __init__(self, db: Postgres) -> None:
        self.db = db

    async def sign_up(self, *, email: str, name: str, beta_group: bool) -> Customer:
        key = email_key(email)
        if len(key) > MAX_EMAIL_KEY:
            raise UnprocessableError("the email is too long once normalised", location=("body", "email"))
        row = await rows.insert_customer(
            self.db,
            customer_id=uuid.uuid4(),
            email=email.lower(),
            email_key=key,
            name=name,
            beta_group=beta_group,
        )
        if row is None:
            raise AlreadyExistsError("a customer with this email already exists")
        metrics.SIGNUPS.inc()
        return Customer.from_row(row)

    async def get(self, customer_id: uuid.UUID) -> Customer:
        row = await rows.read_customer(self.db, customer_id)
        if row is None:
            raise NotFoundError("customer not found")
        return Customer.from_row(row)
