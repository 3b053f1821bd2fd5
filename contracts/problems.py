"""RFC 9457 problem details: the error body of every HTTP API here, shared with the clients."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field


class FieldViolation(BaseModel):
    field: str = Field(description="Path of the offending field, e.g. 'points[2].text'.")
    message: str


def field_path(location: Sequence[int | str]) -> str:
    """('body', 'points', 2, 'text') -> 'points[2].text'."""
    path = ""
    for part in location[1:] if location and location[0] in {"body", "query", "path"} else location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


class Problem(BaseModel):
    """An RFC 9457 problem detail (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldViolation] = Field(default_factory=list)
