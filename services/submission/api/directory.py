"""Who the caller is, and the agencies critiques can be addressed to."""

from __future__ import annotations

from fastapi import APIRouter

from contracts.submission_api import (
    AgencyOut,
    OrganisationOut,
)
from services.platform.http import (
    DatabasePool,
    ProblemError,
)
from services.submission import directory
from services.submission.api.common import (
    CurrentOrganisation,
    problems,
)

router = APIRouter()


@router.get("/v1/me", response_model=OrganisationOut, responses=problems(401, 429), tags=["me"])
async def me(organisation: CurrentOrganisation) -> OrganisationOut:
    """The organisation the token belongs to."""
    return OrganisationOut.model_validate(organisation)


@router.get("/v1/agencies", response_model=list[AgencyOut], tags=["agencies"])
async def list_agencies(pool: DatabasePool) -> list[AgencyOut]:
    """The agencies critiques can be addressed to (tracking's directory)."""
    return [AgencyOut.model_validate(a) for a in await directory.agencies(pool)]


@router.get(
    "/v1/agencies/{agency_id}",
    response_model=AgencyOut,
    responses=problems(404),
    tags=["agencies"],
)
async def get_agency(agency_id: str, pool: DatabasePool) -> AgencyOut:
    found = await directory.agency(pool, agency_id)
    if found is None:
        raise ProblemError(404, "not-found", "No such agency", detail=agency_id)
    return AgencyOut.model_validate(found)
