"""Submission's HTTP API: translate requests to store calls and results to JSON, nothing more."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.events import CritiqueKind, Point, ShortText, Text
from contracts.identifiers import AgencyId
from services.platform import telemetry, tokens
from services.platform.http import (
    DatabasePool,
    FieldViolation,
    Problem,
    ProblemError,
    install_problem_handlers,
)
from services.submission import store
from services.submission.domain import normalise, repeated_point_numbers

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (401, 404, 422)
}


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1, le=1000, description="The point's number, unique in the critique.")
    text: Text
    citation: ShortText | None = Field(
        default=None, description="The draft's article or clause, e.g. 'Điều 5, khoản 2'."
    )

    @field_validator("text", "citation")
    @classmethod
    def _nfc(cls, value: str | None) -> str | None:
        return None if value is None else normalise(value)


class CritiqueIn(BaseModel):
    """A critique, recommendation or opinion addressed to one agency."""

    model_config = ConfigDict(extra="forbid")

    agency_id: AgencyId = Field(description="The addressed agency's id in tracking's directory.")
    kind: CritiqueKind
    title: ShortText
    points: list[PointIn] = Field(min_length=1, max_length=1000)

    @field_validator("title")
    @classmethod
    def _nfc(cls, value: str) -> str:
        return normalise(value)


class CritiqueOut(BaseModel):
    id: uuid.UUID
    organisation_id: str
    agency_id: str
    kind: CritiqueKind
    title: str
    status: str
    points: list[Point]
    submitted_at: datetime

    @classmethod
    def of(cls, critique: store.Critique) -> CritiqueOut:
        return cls(
            id=critique.id,
            organisation_id=critique.organisation_id,
            agency_id=critique.agency_id,
            kind=critique.kind,
            title=critique.title,
            status=critique.status.value,
            points=list(critique.points),
            submitted_at=critique.submitted_at,
        )


async def _organisation(
    pool: DatabasePool, authorization: Annotated[str | None, Header()] = None
) -> store.Organisation:
    token = tokens.bearer(authorization)
    organisation = None if token is None else await store.organisation_by_token(pool, token)
    if organisation is None:
        raise ProblemError(
            401,
            "unauthenticated",
            "An organisation's bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="submission"'},
        )
    trace.get_current_span().set_attribute(telemetry.ATTR_ORGANISATION_ID, organisation.id)
    return organisation


CurrentOrganisation = Annotated[store.Organisation, Depends(_organisation)]


def add_routes(app: FastAPI) -> None:
    @app.post(
        "/v1/critiques",
        status_code=201,
        response_model=CritiqueOut,
        responses=PROBLEM_RESPONSES,
        tags=["critiques"],
        summary="Submit a critique",
    )
    async def submit_critique(
        body: CritiqueIn, organisation: CurrentOrganisation, pool: DatabasePool
    ) -> CritiqueOut:
        repeated = repeated_point_numbers(body.points)
        if repeated:
            raise ProblemError(
                422,
                "duplicate-point-numbers",
                "Point numbers must be unique",
                detail=f"used more than once: {', '.join(map(str, repeated))}",
                errors=[
                    FieldViolation(field=f"points[{index}].number", message="duplicate number")
                    for index, point in enumerate(body.points)
                    if point.number in repeated
                ],
            )
        critique = await store.submit(
            pool,
            organisation=organisation,
            agency_id=body.agency_id,
            kind=body.kind,
            title=body.title,
            points=tuple(
                Point(number=p.number, text=p.text, citation=p.citation)
                for p in sorted(body.points, key=lambda p: p.number)
            ),
        )
        span = trace.get_current_span()
        span.set_attribute(telemetry.ATTR_CRITIQUE_ID, str(critique.id))
        span.set_attribute(telemetry.ATTR_AGENCY_ID, critique.agency_id)
        return CritiqueOut.of(critique)

    @app.get(
        "/v1/critiques/{critique_id}",
        response_model=CritiqueOut,
        responses=PROBLEM_RESPONSES,
        tags=["critiques"],
        summary="One of the organisation's critiques",
    )
    async def get_critique(
        critique_id: uuid.UUID, organisation: CurrentOrganisation, pool: DatabasePool
    ) -> CritiqueOut:
        try:
            found = await store.critique(
                pool, critique_id=critique_id, organisation_id=organisation.id
            )
        except store.NotFound:
            raise ProblemError(
                404, "not-found", "No such critique", detail=f"critique {critique_id}"
            ) from None
        return CritiqueOut.of(found)


def build_app() -> FastAPI:
    app = FastAPI(
        title="Supervision — submission API",
        version="1.0.0",
        description="Front committees and member organisations submit and follow critiques.",
    )
    install_problem_handlers(app)
    add_routes(app)
    return app
