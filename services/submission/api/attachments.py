"""PDF attachments: usually the signed paper document the Front office sends."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from contracts.problems import FieldViolation
from contracts.submission_api import (
    AttachmentOut,
)
from services.platform.http import (
    DatabasePool,
    ProblemError,
    attachment_disposition,
)
from services.submission import commands, queries
from services.submission.api.common import (
    BINARY,
    PDF_MAGIC,
    PDF_MEDIA_TYPE,
    AdmittedOrganisation,
    CurrentOrganisation,
    normalised,
    not_found,
    problems,
    unchangeable,
)
from services.submission.store import NotFound

router = APIRouter()


@router.post(
    "/v1/critiques/{critique_id}/attachments",
    status_code=201,
    response_model=AttachmentOut,
    responses=problems(401, 404, 409, 413, 415, 422, 429, 503),
    tags=["attachments"],
    summary="Attach a PDF (the body is the file, Content-Type: application/pdf)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/pdf": {"schema": BINARY}},
        }
    },
)
async def add_attachment(
    critique_id: uuid.UUID,
    request: Request,
    organisation: AdmittedOrganisation,
    pool: DatabasePool,
    filename: Annotated[str, Query(min_length=1, max_length=255)],
) -> AttachmentOut:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != PDF_MEDIA_TYPE:
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Attachments are PDF files",
            detail="Send the file as the body with Content-Type: application/pdf.",
        )
    content = await request.body()
    if not content.startswith(PDF_MAGIC):
        raise ProblemError(
            422,
            "not-a-pdf",
            "The body is not a PDF file",
            errors=[FieldViolation(field="body", message="does not start with %PDF-")],
        )
    name = normalised("filename", filename, max_length=255, required=True)
    try:
        return await commands.add_attachment(
            pool,
            organisation_id=organisation.id,
            critique_id=critique_id,
            filename=name,
            media_type=media_type,
            content=content,
        )
    except NotFound:
        raise not_found(critique_id) from None
    except commands.Settled as settled:
        raise unchangeable(settled) from None


@router.get(
    "/v1/critiques/{critique_id}/attachments",
    response_model=list[AttachmentOut],
    responses=problems(401, 404, 429),
    tags=["attachments"],
)
async def list_attachments(
    critique_id: uuid.UUID, organisation: CurrentOrganisation, pool: DatabasePool
) -> list[AttachmentOut]:
    try:
        return await queries.attachments(
            pool, critique_id=critique_id, organisation_id=organisation.id
        )
    except NotFound:
        raise not_found(critique_id) from None


@router.get(
    "/v1/critiques/{critique_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {"schema": BINARY}}},
        **problems(401, 404, 429),
    },
    tags=["attachments"],
    summary="The attached file itself, to save (Content-Disposition: attachment), never to display",
)
async def get_attachment(
    critique_id: uuid.UUID,
    attachment_id: uuid.UUID,
    organisation: CurrentOrganisation,
    pool: DatabasePool,
) -> Response:
    try:
        attachment, content = await queries.attachment_content(
            pool,
            critique_id=critique_id,
            attachment_id=attachment_id,
            organisation_id=organisation.id,
        )
    except NotFound:
        raise ProblemError(404, "not-found", "No such attachment") from None
    # Whatever the name uploaded, the file is served as what it was checked to be at upload (a
    # PDF), to be saved under a safe name (nosniff and no-store are every private response's).
    return Response(
        content,
        media_type=PDF_MEDIA_TYPE,
        headers={
            "Content-Disposition": attachment_disposition(attachment.filename),
            "Digest": f"sha-256={base64.b64encode(bytes.fromhex(attachment.sha256)).decode()}",
            "ETag": f'"{attachment.sha256}"',
        },
    )
