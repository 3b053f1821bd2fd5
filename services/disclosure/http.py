"""Disclosure's public HTTP API: read-only, no login."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from fastapi import FastAPI
from pydantic import BaseModel

from contracts.events import DueDateRule
from services.disclosure import store
from services.disclosure.domain import RecordStatus
from services.platform.http import (
    DatabasePool,
    Problem,
    ProblemError,
    install_problem_handlers,
)


class PointOut(BaseModel):
    number: int
    text: str
    citation: str | None
    disposition: str | None
    explanation: str | None


class TimelineOut(BaseModel):
    at: datetime
    step: str
    label: str


class RecordOut(BaseModel):
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

    @classmethod
    def of(cls, record: store.PublicRecord) -> RecordOut:
        return cls(
            critique_id=record.critique_id,
            organisation_id=record.organisation_id,
            organisation_name=record.organisation_name,
            organisation_level=record.organisation_level,
            agency_id=record.agency_id,
            kind=record.kind,
            title=record.title,
            status=record.status,
            submitted_at=record.submitted_at,
            due_date=record.due_date,
            due_rule=record.due_rule,
            answered_at=record.answered_at,
            published_at=record.published_at,
            points=[PointOut(**vars(point)) for point in record.points],
            timeline=[
                TimelineOut(at=entry.at, step=entry.step.value, label=entry.step.label)
                for entry in record.timeline
            ],
        )


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
            return RecordOut.of(await store.published_record(pool, critique_id))
        except store.NotPublished:
            raise ProblemError(
                404,
                "not-found",
                "No disclosed record with this id",
                detail="It may not exist, or not be answered or overdue yet.",
            ) from None

    return app
