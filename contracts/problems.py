"""RFC 9457 problem details: the error body of every HTTP API here, shared with the clients."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldViolation(BaseModel):
    field: str = Field(description="Path of the offending field, e.g. 'points[2].text'.")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem detail (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldViolation] = Field(default_factory=list)
