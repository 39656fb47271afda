"""The one exception root. Each error knows its kind; the HTTP edge maps kinds to statuses."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    """What went wrong, independent of any transport."""

    INVALID = "invalid_input"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TOO_LARGE = "payload_too_large"
    OVERLOADED = "overloaded"
    UNAVAILABLE = "unavailable"
    MODEL_ERROR = "model_error"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    INTERNAL = "internal"


class InferlineError(Exception):
    """Base of every error Inferline raises on purpose."""

    kind: ErrorKind = ErrorKind.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.retry_after = retry_after


class InvalidInput(InferlineError):
    """The request or model input breaks the schema or a rule."""

    kind = ErrorKind.INVALID


class Unauthenticated(InferlineError):
    """No credential, or one that is unknown, expired, revoked or badly signed (401)."""

    kind = ErrorKind.UNAUTHENTICATED


class Forbidden(InferlineError):
    """The caller is known but its scopes do not allow this (403). Never used for another
    tenant's resources: those do not exist for the caller (NotFound)."""

    kind = ErrorKind.FORBIDDEN


class RateLimited(InferlineError):
    """The caller's key is over its request rate or concurrent-job limit (429)."""

    kind = ErrorKind.RATE_LIMITED


class NotFound(InferlineError):
    """A job, model or collection does not exist (for this tenant)."""

    kind = ErrorKind.NOT_FOUND


class Conflict(InferlineError):
    """The operation does not fit the resource's current state."""

    kind = ErrorKind.CONFLICT


class InvalidTransition(Conflict):
    """A job was asked to change in a way its current state does not allow."""


class PayloadTooLarge(InferlineError):
    """The request body is over the configured limit."""

    kind = ErrorKind.TOO_LARGE


class Overloaded(InferlineError):
    """A bounded queue is full; the caller should retry after `retry_after` seconds."""

    kind = ErrorKind.OVERLOADED


class Unavailable(InferlineError):
    """A dependency (database, model) is not ready."""

    kind = ErrorKind.UNAVAILABLE


class ModelError(InferlineError):
    """The model raised while computing an item."""

    kind = ErrorKind.MODEL_ERROR


class DeadlineExceeded(InferlineError):
    """The work's deadline passed before it could start; it was not run."""

    kind = ErrorKind.DEADLINE_EXCEEDED
