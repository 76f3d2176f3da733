"""The domain errors every service raises, mapped once to HTTP in the API and to messages in pages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldError:
    """What is wrong with one field (or one row and field of an import)."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """Return the ``{"field": ..., "message": ...}`` form used in API error bodies."""
        return {"field": self.field, "message": self.message}


@dataclass
class RapportError(Exception):
    """Base of all errors a user can cause; ``message`` is a sentence meant for them."""

    message: str
    errors: list[FieldError] = field(default_factory=list)
    code: str = "error"
    status: int = 400

    def __str__(self) -> str:
        if not self.errors:
            return self.message
        details = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in self.errors)
        return f"{self.message} ({details})"


@dataclass
class ValidationFailed(RapportError):
    """The input is malformed: a bad email, an unknown field, a wrong type."""

    code: str = "invalid"
    status: int = 422


@dataclass
class Conflict(RapportError):
    """The change clashes with existing data, such as a duplicate email or a concurrent edit."""

    code: str = "conflict"
    status: int = 409
    existing_id: int | None = None


@dataclass
class NotFound(RapportError):
    """The record does not exist, or the caller may not know that it does."""

    code: str = "not_found"
    status: int = 404


@dataclass
class Forbidden(RapportError):
    """The caller's role may not do this."""

    code: str = "forbidden"
    status: int = 403


def invalid(field_name: str, message: str) -> ValidationFailed:
    """Shorthand for a validation error about one field."""
    return ValidationFailed("The input is not valid.", [FieldError(field_name, message)])
