"""Disclosure's public web pages, rendered on the server for citizens and journalists.

What the JSON API serves, for people: the latest and the overdue records, a search with the
API's filters, each record with its points next to their answers, how its due date was computed,
what was hidden and why, each agency's records, and the drafts with their versions, clause
by clause, beside the points that cite them. Bilingual (Vietnamese first, English marked
``lang="en"``), dates in Vietnam time, no JavaScript at all (the Content-Security-Policy forbids
it), one small stylesheet. Every route is rate-limited like the API.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.disclosure.web.common import limited
from services.disclosure.web.pages import agency, draft, record, search, site, statistics

router = APIRouter(include_in_schema=False, dependencies=[Depends(limited)])
for module in (site, search, record, agency, draft, statistics):
    router.include_router(module.router)
