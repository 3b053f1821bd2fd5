"""The transparency log's public HTTP API: checkpoints, leaves and proofs, no login.

Everything here can be checked offline with the log's public key (``supervision verify``): the
checkpoint is a signed note, a leaf's document is hashed by the verifier itself, and proofs lead
to a signed root or they fail. Hashes in proofs are base64, as in checkpoints.

The log is also served as C2SP tlog-tiles under the prefix ``/v1/log``: ``/v1/log/checkpoint``,
``/v1/log/tile/<L>/<N>[.p/<W>]`` and ``/v1/log/tile/entries/<N>[.p/<W>]``
(:mod:`services.disclosure.tiles`): stored bytes only, from which a client computes any proof.
A full tile never changes and is cached for a year; a partial one briefly (a wider one follows).
Every answer here reads O(log n) stored hashes, or one tile's rows.

The app includes :data:`router` and sets ``app.state.log_keys`` (the log's
:class:`~services.disclosure.checkpoints.SigningKeys`, or ``None``) for ``/v1/log/key``. When the
app also has ``app.state.limiter`` (a :class:`~services.platform.ratelimit.RateLimiter`), requests
are rate-limited per client like the rest of the public API.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from contracts.problems import FieldViolation
from services.disclosure import tiles, transparency
from services.disclosure.checkpoints import SigningKeys
from services.disclosure.web.common import Limited
from services.platform.http import DatabasePool, ProblemError, problem_responses

router = APIRouter(prefix="/v1/log", tags=["transparency log"])

_MAX: Final = 2**62
_IMMUTABLE: Final = {"Cache-Control": "public, max-age=86400"}
_TEXT: Final = "text/plain; charset=utf-8"
_OCTETS: Final = "application/octet-stream"
_FULL_TILE: Final = {"Cache-Control": "public, max-age=31536000, immutable"}
_PARTIAL_TILE: Final = {"Cache-Control": "public, max-age=10"}


def _text(description: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"description": description, "content": {"text/plain": {}}},
        **problem_responses(*statuses),
    }


def _out_of_range(error: transparency.OutOfRange, names: dict[str, str]) -> ProblemError:
    field = names.get(error.parameter, error.parameter)
    return ProblemError(
        422,
        "out-of-range",
        f"'{field}' is beyond the log",
        detail=f"{field}: {error}",
        errors=[FieldViolation(field=field, message=str(error))],
    )


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class LeafOut(BaseModel):
    """One leaf of the log: a document exactly as published, and when it was appended."""

    index: int
    leaf_hash: str = Field(description="SHA-256(0x00 || document), hex.")
    document: str = Field(description="The exact bytes published and hashed, base64.")
    document_json: Any = Field(
        description="The document decoded as JSON, for reading; verify the base64 bytes."
    )
    critique_id: uuid.UUID
    appended_at: datetime


class LeafRef(BaseModel):
    index: int
    leaf_hash: str = Field(description="Hex.")
    appended_at: datetime


class CritiqueLeaves(BaseModel):
    """Every version of one critique's public document in the log, oldest first."""

    critique_id: uuid.UUID
    leaves: list[LeafRef]


class DraftLeaves(BaseModel):
    """Every version of one draft's public document in the log, oldest first."""

    draft_id: uuid.UUID
    leaves: list[LeafRef]


def _refs(found: list[transparency.Leaf]) -> list[LeafRef]:
    return [
        LeafRef(index=leaf.index, leaf_hash=leaf.leaf_hash.hex(), appended_at=leaf.appended_at)
        for leaf in found
    ]


class InclusionProofOut(BaseModel):
    index: int
    size: int = Field(description="The tree size the proof is for: a signed checkpoint's size.")
    hashes: list[str] = Field(description="The audit path, leaf side first, base64.")
    root_hash: str = Field(
        description="The root the path leads to, base64; compare with a signed checkpoint."
    )


class ConsistencyProofOut(BaseModel):
    from_: int = Field(alias="from", description="The older tree size.")
    to: int
    hashes: list[str] = Field(description="RFC 9162 consistency proof, base64.")
    root_hash: str = Field(description="The root of tree size 'to', base64.")


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    responses=_text("The latest checkpoint, a C2SP signed note.", 404, 429),
    summary="The latest signed checkpoint",
)
async def get_checkpoint(pool: DatabasePool, _: Limited) -> PlainTextResponse:
    latest = await transparency.latest_checkpoint(pool)
    if latest is None:
        raise ProblemError(404, "not-found", "No checkpoint has been signed yet")
    return PlainTextResponse(latest.note, media_type=_TEXT, headers={"Cache-Control": "no-cache"})


@router.get(
    "/checkpoints/{size}",
    response_class=PlainTextResponse,
    responses=_text("The checkpoint signed at this tree size.", 404, 422, 429),
    summary="The checkpoint signed at a tree size",
)
async def get_checkpoint_of_size(
    size: Annotated[int, Path(ge=0, le=_MAX)], pool: DatabasePool, _: Limited
) -> PlainTextResponse:
    found = await transparency.checkpoint(pool, size)
    if found is None:
        raise ProblemError(404, "not-found", "No checkpoint was signed at this tree size")
    return PlainTextResponse(found.note, media_type=_TEXT, headers=_IMMUTABLE)


@router.get(
    "/key",
    response_class=PlainTextResponse,
    responses=_text(
        "The verifier key, <name>+<key id>+<base64 Ed25519 key>, on a line; while the log hands"
        " over to a new key, one line per key, the newest last (every checkpoint then carries a"
        " signature by each).",
        404,
        429,
    ),
    summary="The log's public (verifier) keys",
)
async def get_key(request: Request, _: Limited) -> PlainTextResponse:
    keys: SigningKeys | None = getattr(request.app.state, "log_keys", None)
    if keys is None:
        raise ProblemError(404, "not-found", "This server has no log signing key configured")
    return PlainTextResponse(keys.verifier_keys, media_type=_TEXT)


def _decoded(document: bytes) -> Any:
    try:
        return json.loads(document)
    except ValueError:
        return None


@router.get(
    "/leaves/{index}",
    response_model=LeafOut,
    responses=problem_responses(404, 422, 429),
    summary="One leaf: a published document, byte for byte",
)
async def get_leaf(
    index: Annotated[int, Path(ge=0, le=_MAX)], pool: DatabasePool, _: Limited
) -> LeafOut:
    found = await transparency.leaf(pool, index)
    if found is None:
        raise ProblemError(404, "not-found", "No leaf with this index")
    return LeafOut(
        index=found.index,
        leaf_hash=found.leaf_hash.hex(),
        document=_b64(found.document),
        document_json=_decoded(found.document),
        critique_id=found.critique_id,
        appended_at=found.appended_at,
    )


@router.get(
    "/critiques/{critique_id}",
    response_model=CritiqueLeaves,
    responses=problem_responses(404, 422, 429),
    summary="The leaves of one critique's public document, oldest first",
)
async def get_critique_leaves(
    critique_id: uuid.UUID, pool: DatabasePool, _: Limited
) -> CritiqueLeaves:
    found = await transparency.leaves_of(pool, critique_id)
    if not found:
        raise ProblemError(404, "not-found", "No document of this critique is in the log")
    return CritiqueLeaves(critique_id=critique_id, leaves=_refs(found))


@router.get(
    "/drafts/{draft_id}",
    response_model=DraftLeaves,
    responses=problem_responses(404, 422, 429),
    summary="The leaves of one draft's public document, oldest first",
)
async def get_draft_leaves(draft_id: uuid.UUID, pool: DatabasePool, _: Limited) -> DraftLeaves:
    # A draft's leaves are kept by its id where a record's are by its critique's.
    found = await transparency.leaves_of(pool, draft_id)
    if not found:
        raise ProblemError(404, "not-found", "No document of this draft is in the log")
    return DraftLeaves(draft_id=draft_id, leaves=_refs(found))


@router.get(
    "/proofs/inclusion",
    response_model=InclusionProofOut,
    responses=problem_responses(422, 429),
    summary="Proof that a leaf is in the tree of a given size",
)
async def get_inclusion_proof(
    index: Annotated[int, Query(ge=0, le=_MAX, description="The leaf's index.")],
    size: Annotated[int, Query(ge=1, le=_MAX, description="A tree size, e.g. a checkpoint's.")],
    pool: DatabasePool,
    _: Limited,
) -> InclusionProofOut:
    try:
        proof = await transparency.inclusion(pool, index, size)
    except transparency.OutOfRange as error:
        raise _out_of_range(error, {}) from None
    return InclusionProofOut(
        index=index, size=size, hashes=[_b64(h) for h in proof.hashes], root_hash=_b64(proof.root)
    )


@router.get(
    "/proofs/consistency",
    response_model=ConsistencyProofOut,
    responses=problem_responses(422, 429),
    summary="Proof that the tree of one size is a prefix of the tree of a larger size",
)
async def get_consistency_proof(
    from_: Annotated[int, Query(alias="from", ge=0, le=_MAX, description="The older size.")],
    to: Annotated[int, Query(ge=0, le=_MAX, description="The newer size.")],
    pool: DatabasePool,
    _: Limited,
) -> ConsistencyProofOut:
    try:
        proof = await transparency.consistency(pool, from_, to)
    except transparency.OutOfRange as error:
        raise _out_of_range(error, {"old": "from", "new": "to"}) from None
    return ConsistencyProofOut.model_validate(
        {
            "from": from_,
            "to": to,
            "hashes": [_b64(h) for h in proof.hashes],
            "root_hash": _b64(proof.root),
        }
    )


# -- C2SP tlog-tiles ---------------------------------------------------------------------------


def _octets(description: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"description": description, "content": {_OCTETS: {}}},
        **problem_responses(404, 429, *statuses),
    }


def _no_tile(path: str, why: str) -> ProblemError:
    return ProblemError(404, "not-found", "No such tile", detail=f"{path}: {why}")


def _served(body: bytes, wanted: tiles.Tile) -> Response:
    return Response(body, media_type=_OCTETS, headers=_FULL_TILE if wanted.full else _PARTIAL_TILE)


@router.get(
    "/tile/entries/{path:path}",
    response_class=Response,
    responses=_octets(
        "The entry bundle <N>[.p/<W>] (C2SP tlog-tiles): the documents of leaves 256·N to"
        " 256·N + W - 1, each exactly the bytes whose leaf hash is in the tree, after its length"
        " as a big-endian uint16. A full bundle (W = 256) never changes.",
        501,
    ),
    summary="Entry bundle of the log's tiles",
)
async def get_entry_bundle(path: str, pool: DatabasePool, _: Limited) -> Response:
    try:
        wanted = tiles.parse_entries_path(path)
    except tiles.TilePathError as error:
        raise _no_tile(f"tile/entries/{path}", str(error)) from None
    try:
        body = await transparency.entry_bundle(pool, wanted)
    except tiles.EntryTooLarge as error:
        raise ProblemError(
            501,
            "entry-too-large",
            "An entry of this bundle is too large for a bundle",
            detail=f"leaf {error.position} is {error.length} bytes: a bundle's length prefix"
            f" holds at most {tiles.MAX_ENTRY_BYTES}; read it at /v1/log/leaves/{error.position}",
        ) from None
    if body is None:
        raise _no_tile(wanted.entries_path, "beyond the log")
    return _served(body, wanted)


@router.get(
    "/tile/{level}/{path:path}",
    response_class=Response,
    responses=_octets(
        "The tile <L>/<N>[.p/<W>] (C2SP tlog-tiles): W concatenated 32-byte hashes, at level"
        " L the roots of the complete subtrees of 256^L leaves from (256·N + i)·256^L. A full"
        " tile (W = 256) never changes."
    ),
    summary="Tile of the log's Merkle tree",
)
async def get_tile(level: str, path: str, pool: DatabasePool, _: Limited) -> Response:
    try:
        wanted = tiles.parse_tile_path(level, path)
    except tiles.TilePathError as error:
        raise _no_tile(f"tile/{level}/{path}", str(error)) from None
    body = await transparency.tile(pool, wanted)
    if body is None:
        raise _no_tile(wanted.path, "beyond the log")
    return _served(body, wanted)
