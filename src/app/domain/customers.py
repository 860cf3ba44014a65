"""Customers: sign up and look up."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.errors import ConflictError, NotFoundError
from app.observability import metrics
from app.store import customers as rows
from app.store.database import Database


@dataclass(frozen=True, slots=True)
class Customer:
    id: uuid.UUID
    email: str
    name: str
    beta_group: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Customer:
        return cls(**{key: row[key] for key in ("id", "email", "name", "beta_group", "created_at")})


class CustomerService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def sign_up(self, *, email: str, name: str, beta_group: bool) -> Customer:
        async with self.db.begin() as conn:
            row = await rows.insert_customer(
                conn, customer_id=uuid.uuid4(), email=email.lower(), name=name, beta_group=beta_group
            )
        if row is None:
            raise ConflictError("a customer with this email already exists")
        metrics.SIGNUPS.inc()
        return Customer.from_row(row)

    async def get(self, customer_id: uuid.UUID) -> Customer:
        row = await rows.read_customer(self.db, customer_id)
        if row is None:
            raise NotFoundError("customer not found")
        return Customer.from_row(row)
