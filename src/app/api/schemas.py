"""Request and response bodies. Bounds are part of the contract: absurd input is a 422, not a 500."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
    StringConstraints,
)

from app.api.problems import BY_STATUS, PROBLEM_TYPES, ProblemType

# No control characters: Postgres text cannot hold NUL, and a name has no use for newlines, terminal
# escapes (C0, DEL and the C1 controls such as NEL, U+0085) or the bidirectional overrides and
# isolates (U+202A-U+202E, U+2066-U+2069) that make a name display as text it does not contain.
_NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+$"
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NAME_PATTERN)
]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


def _integral(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# JSON Schema's integer, which the OpenAPI document promises: 2 and 2.0, never "2" or true. Pydantic's
# lax int takes "2" and true, and its strict int refuses 2.0.
JsonInt = Annotated[StrictInt, BeforeValidator(_integral)]


class _RequestBody(BaseModel):
    """A request body: a field the schema does not name is refused (a typo is a 422, never ignored)."""

    model_config = ConfigDict(extra="forbid")


class CustomerIn(_RequestBody):
    email: Annotated[EmailStr, Field(max_length=320)]
    name: Name
    # Strict: the schema says boolean, so 0, 1, "yes" and "false" are refused, not coerced.
    beta_group: StrictBool = False


class CustomerOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    beta_group: bool
    created_at: datetime


class LineItemIn(_RequestBody):
    sku: Sku
    quantity: JsonInt = Field(ge=1, le=1000)
    unit_price_cents: JsonInt = Field(ge=0, le=10_000_000, description="Price of one unit, in cents.")


class OrderIn(_RequestBody):
    customer_id: uuid.UUID
    items: list[LineItemIn] = Field(min_length=1, max_length=100)


class LineItemOut(BaseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class OrderOut(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    checkout_flow: Literal["legacy", "new"]
    items: list[LineItemOut]
    total_cents: int
    created_at: datetime
    status: Literal["placed", "cancelled"] = Field(description="More statuses may come: expect them.")


class OrderPage(BaseModel):
    items: list[OrderOut] = Field(description="Newest first.")
    next: str | None = Field(description="The `after` of the following page; null on the last page.")


class FieldError(BaseModel):
    pointer: str
    detail: str


_TYPE_URIS: list[JsonValue] = [*(kind.uri for kind in PROBLEM_TYPES), "about:blank"]


class Problem(BaseModel):
    """RFC 9457 problem details. `type` names the kind of problem; docs/api.md says when each is sent."""

    type: str = Field(
        description="The kind of problem: one of these URIs, or about:blank for a status with no kind.",
        json_schema_extra={"enum": _TYPE_URIS},
    )
    title: str
    status: int
    detail: str
    request_id: str | None = None
    errors: list[FieldError] | None = Field(default=None, description="The first errors found.")
    error_count: int | None = Field(default=None, description="How many errors there were in all.")


def problem_responses(*kinds: int | ProblemType) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem+json errors a route can return: a status stands for its usual
    kind (`app.api.problems.BY_STATUS`); a `ProblemType` for itself. Each entry names its kinds.

    Routes with a body list 400 too: FastAPI answers a body it cannot decode at all (not UTF-8) with a
    400 before validation, and the document lists it; malformed JSON text stays a 422.
    """
    by_status: dict[int, list[ProblemType]] = {}
    for kind in kinds:
        resolved = BY_STATUS[kind] if isinstance(kind, int) else kind
        by_status.setdefault(resolved.status, []).append(resolved)
    return {
        status: {
            "model": Problem,
            "content": {"application/problem+json": {}},
            "description": "; ".join(f"{kind.title} (`{kind.uri}`): {kind.meaning}" for kind in found),
        }
        for status, found in sorted(by_status.items())
    }
