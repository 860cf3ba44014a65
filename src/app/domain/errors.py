"""Domain errors: the API maps each to one problem type and status."""


class DomainError(Exception):
    """Base class; `detail` is safe to show to the caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(DomainError):
    pass


class ConflictError(DomainError):
    pass


class UnprocessableError(DomainError):
    """The request is well-formed but cannot be honoured (e.g. an unknown customer)."""

    def __init__(self, detail: str, pointer: str) -> None:
        super().__init__(detail)
        self.pointer = pointer


class IdempotencyKeyReusedError(DomainError):
    """The same Idempotency-Key came with a different request body."""
