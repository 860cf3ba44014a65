"""Domain errors: what the caller must hear about, in the domain's words. The API maps each class to
one problem type and status (`app.api.problems`); nothing here knows HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base class; `detail` is safe to show to the caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(DomainError):
    pass


class AlreadyExistsError(DomainError):
    """What the request would create exists already (a customer with this email)."""


class TransitionNotAllowedError(DomainError):
    """The resource's state does not allow the change asked for (an order's status)."""


class UnprocessableError(DomainError):
    """The request is well-formed but cannot be honoured (an unknown customer, a cursor that is not
    one of ours). `location` says where in the request, as validation errors do: `("body",
    "customer_id")`, `("query", "after")`, `("path", "order_id")`."""

    def __init__(self, detail: str, *, location: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.location = location


class IdempotencyKeyReusedError(DomainError):
    """The same Idempotency-Key came with a different request body."""
