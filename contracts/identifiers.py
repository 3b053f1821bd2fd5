"""Identifiers shared by the services and their clients.

Agencies and organisations are named by stable, human-readable slugs so that a Front officer can
write ``bo-tu-phap`` (Ministry of Justice) in a submission file and an agency's integration
engineer can recognise its own id in logs. Tracking owns the agency directory; submission owns the
organisation directory.
"""

from typing import Annotated

from pydantic import StringConstraints

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"

AgencyId = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
"""An agency in tracking's directory, e.g. ``bo-tu-phap`` or ``ubnd-tinh-bac-ninh``."""

OrganisationId = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
"""A Front committee or member organisation in submission's directory, e.g. ``mttq-trung-uong``."""
