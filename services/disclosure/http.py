"""Disclosure's public HTTP API: read-only, no login."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from contracts.events import DueDateRule
from contracts.problems import Problem
from services.disclosure import store
from services.disclosure.domain import RecordStatus
from services.platform.http import (
    DatabasePool,
    ProblemError,
    install_problem_handlers,
)


class _FromRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PointOut(_FromRecord):
    number: int
    text: str
    citation: str | None
    disposition: str | None = Field(description="accepted, partly_accepted or not_accepted.")
    explanation: str | None


class TimelineOut(_FromRecord):
    at: datetime
    step: str
    label: str = Field(description="For people, Vietnamese first.")


class RecordOut(_FromRecord):
    """A disclosed critique: what was asked, what was answered point by point, and when."""

    critique_id: uuid.UUID
    organisation_id: str
    organisation_name: str
    organisation_level: str
    agency_id: str
    kind: str
    title: str
    status: RecordStatus
    submitted_at: datetime
    due_date: date | None
    due_rule: DueDateRule | None
    answered_at: datetime | None
    published_at: datetime
    points: list[PointOut]
    timeline: list[TimelineOut]


def build_app() -> FastAPI:
    app = FastAPI(
        title="Supervision — public disclosure API",
        version="1.0.0",
        description="Critiques of the Fatherland Front, the agencies' answers, and lateness.",
    )
    install_problem_handlers(app)

    @app.get(
        "/v1/records/{critique_id}",
        response_model=RecordOut,
        responses={404: {"model": Problem, "content": {"application/problem+json": {}}}},
        tags=["records"],
        summary="One disclosed record",
    )
    async def get_record(critique_id: uuid.UUID, pool: DatabasePool) -> RecordOut:
        try:
            return RecordOut.model_validate(await store.published_record(pool, critique_id))
        except store.NotPublished:
            raise ProblemError(
                404,
                "not-found",
                "No disclosed record with this id",
                detail="It may not exist, or not be answered or overdue yet.",
            ) from None

    return app
