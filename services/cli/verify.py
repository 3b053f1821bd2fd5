"""``supervision verify``: check the disclosure transparency log with nothing but its public key.

* ``record``: a leaf (as served by ``/v1/log/leaves/{index}``) is in the tree of a signed
  checkpoint, by its inclusion proof (``/v1/log/proofs/inclusion``);
* ``consistency``: a newer checkpoint extends an older one, by a consistency proof
  (``/v1/log/proofs/consistency``): nothing published before was changed or removed;
* ``fetch``: downloads the latest checkpoint, a critique's leaves, and the log's C2SP tlog-tiles
  (``/v1/log/tile/…``) that the proofs need, checks the tiles against the signed root, computes
  each inclusion proof (and, with ``--since``, the consistency proof to a checkpoint you kept)
  here from the tiles and checks them all: the server computes nothing for a verifier.

No database, no trust in the server: every hash is recomputed here and every root comes from a
note signed by a key in ``--key``: a file of verifier keys (``name+keyid+base64``), one a line, as
``/v1/log/key`` serves them. While the log hands over to a new key it serves both, and signs every
checkpoint with both: a note verifies when a key trusted here signed it and no signature by a
trusted key fails; signatures by other keys are ignored.

Exit codes: 0 everything verified; 1 anything failed or could not be checked.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer

from services.disclosure import merkle, tiles
from services.disclosure.checkpoints import (
    Checkpoint,
    CheckpointError,
    generate_key,
    read_verifier_keys,
    verify_checkpoint,
)

app = typer.Typer(
    no_args_is_help=True,
    help="Verify the disclosure transparency log offline, with only its public key.",
)


class VerificationFailed(Exception):
    """Something does not verify, or cannot be checked; the message says what."""


# -- checks (pure: files in, verdict out) -------------------------------------------------------


def _field(data: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    value = data.get(name) if isinstance(data, Mapping) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise VerificationFailed(f"{what} has no valid '{name}' ({kind.__name__})")
    return value


def _base64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise VerificationFailed(f"{what} is not base64") from None


def _proof_hashes(proof: Mapping[str, Any], what: str) -> list[bytes]:
    values = _field(proof, "hashes", list, what)
    if not all(isinstance(value, str) for value in values):
        raise VerificationFailed(f"{what}: 'hashes' must be base64 strings")
    return [_base64(value, f"{what} hash {n}") for n, value in enumerate(values)]


def _checkpoint(note: str, verifier_keys: str, what: str) -> Checkpoint:
    try:
        return verify_checkpoint(note, verifier_keys)
    except CheckpointError as error:
        raise VerificationFailed(f"{what}: {error}") from None


@dataclass(frozen=True)
class RecordVerified:
    checkpoint: Checkpoint
    index: int
    leaf_hash: bytes
    document: bytes


def check_record(
    leaf: Mapping[str, Any], proof: Mapping[str, Any], note: str, verifier_keys: str
) -> RecordVerified:
    """Check that the leaf's document is leaf ``index`` of the checkpoint's tree (signed by a
    key of ``verifier_keys``, one a line)."""
    checkpoint = _checkpoint(note, verifier_keys, "the checkpoint")
    index = _field(leaf, "index", int, "the leaf")
    document = _base64(_field(leaf, "document", str, "the leaf"), "the leaf's document")
    leaf_hash = merkle.leaf_hash(document)
    stated = leaf.get("leaf_hash")
    if stated is not None and stated != leaf_hash.hex():
        raise VerificationFailed(
            f"leaf {index}: the stated leaf hash {stated} is not the hash of its document"
            f" ({leaf_hash.hex()})"
        )
    if "document_json" in leaf:
        try:
            decoded = json.loads(document)
        except ValueError:
            decoded = None
        if leaf["document_json"] != decoded:
            raise VerificationFailed(
                f"leaf {index}: the decoded document shown is not what the document's bytes say"
            )
    proof_index = _field(proof, "index", int, "the inclusion proof")
    proof_size = _field(proof, "size", int, "the inclusion proof")
    if proof_index != index:
        raise VerificationFailed(f"the proof is for leaf {proof_index}, not leaf {index}")
    if proof_size != checkpoint.size:
        raise VerificationFailed(
            f"the proof is for tree size {proof_size}, the checkpoint is of size"
            f" {checkpoint.size}: fetch the proof for size {checkpoint.size}"
        )
    if index >= checkpoint.size:
        raise VerificationFailed(
            f"leaf {index} is not yet in the signed tree of size {checkpoint.size}:"
            " retry after the next checkpoint"
        )
    try:
        merkle.verify_inclusion(
            index, checkpoint.size, leaf_hash, _proof_hashes(proof, "the proof"), checkpoint.root
        )
    except merkle.ProofError as error:
        raise VerificationFailed(
            f"leaf {index} is NOT in the signed tree of size {checkpoint.size} with this"
            f" document: {error}. The document or the log was altered after it was signed."
        ) from None
    return RecordVerified(checkpoint, index, leaf_hash, document)


def check_consistency(
    old_note: str, new_note: str, proof: Mapping[str, Any], verifier_keys: str
) -> tuple[Checkpoint, Checkpoint]:
    """Check that the new checkpoint's tree extends the old one's, leaf for leaf (each signed by
    a key of ``verifier_keys``: across a key handover, the old note by the old key and the new
    one by the new key)."""
    old = _checkpoint(old_note, verifier_keys, "the old checkpoint")
    new = _checkpoint(new_note, verifier_keys, "the new checkpoint")
    if old.origin != new.origin:
        raise VerificationFailed(f"the checkpoints are of two logs: {old.origin!r}, {new.origin!r}")
    if old.size > new.size:
        raise VerificationFailed(
            f"the old checkpoint (size {old.size}) is larger than the new one (size {new.size})"
        )
    sizes = (
        _field(proof, "from", int, "the consistency proof"),
        _field(proof, "to", int, "the consistency proof"),
    )
    if sizes != (old.size, new.size):
        raise VerificationFailed(
            f"the proof is from size {sizes[0]} to {sizes[1]}, the checkpoints are of sizes"
            f" {old.size} and {new.size}"
        )
    try:
        merkle.verify_consistency(
            old.size, new.size, old.root, new.root, _proof_hashes(proof, "the proof")
        )
    except merkle.ProofError as error:
        raise VerificationFailed(
            f"the log of size {new.size} does NOT extend the log of size {old.size}: {error}."
            " Both checkpoints are signed by the log's key: the log rewrote its history."
        ) from None
    return old, new


# -- fetching from the public API ---------------------------------------------------------------


@dataclass
class Fetched:
    """What ``fetch`` downloaded and checked."""

    checkpoint: Checkpoint
    note: str
    leaves: list[dict[str, Any]]
    proofs: list[dict[str, Any]]
    verified: list[RecordVerified]


async def _get(client: httpx.AsyncClient, path: str, **params: int) -> httpx.Response:
    try:
        response = await client.get(path, params=params or None)
    except httpx.HTTPError as error:
        raise VerificationFailed(f"GET {path}: {error!r}") from None
    if response.status_code != 200:
        title = ""
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            try:
                body = response.json()
                title = f": {body.get('title')} {body.get('detail') or ''}".rstrip()
            except (ValueError, AttributeError):
                title = ""
        raise VerificationFailed(f"GET {path} answered {response.status_code}{title}")
    return response


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise VerificationFailed(f"{response.request.url} did not answer JSON") from None
    if not isinstance(body, dict):
        raise VerificationFailed(f"{response.request.url} did not answer a JSON object")
    return body


async def _tile(client: httpx.AsyncClient, tile: tiles.Tile) -> bytes:
    """A tile's bytes; a partial tile the log no longer keeps is cut from the full one (the
    spec lets a log delete a partial tile once the full one exists)."""
    try:
        response = await client.get(f"/v1/log/{tile.path}")
    except httpx.HTTPError as error:
        raise VerificationFailed(f"GET /v1/log/{tile.path}: {error!r}") from None
    if response.status_code == 404 and not tile.full:
        full = await _get(client, f"/v1/log/{tiles.Tile(tile.level, tile.index).path}")
        return full.content[: tile.width * merkle.HASH_SIZE]
    if response.status_code != 200:
        raise VerificationFailed(f"GET /v1/log/{tile.path} answered {response.status_code}")
    return response.content


async def read_tree(
    client: httpx.AsyncClient,
    checkpoint: Checkpoint,
    nodes: list[merkle.Node],
    cache: dict[tiles.Tile, bytes],
) -> tiles.TreeTiles:
    """The tiles of the checkpoint's tree that hold ``nodes``, fetched (those not in ``cache``)
    and checked against its signed root."""
    try:
        needed = tiles.tiles_for(checkpoint.size, nodes)
    except tiles.TileError as error:
        raise VerificationFailed(str(error)) from None
    missing = sorted(needed - cache.keys())
    for tile, data in zip(
        missing, await asyncio.gather(*(_tile(client, tile) for tile in missing)), strict=True
    ):
        cache[tile] = data
    try:
        return tiles.TreeTiles(
            checkpoint.size, checkpoint.root, {tile: cache[tile] for tile in needed}
        )
    except tiles.TileError as error:
        raise VerificationFailed(
            f"the log's tiles do not match the signed checkpoint of size {checkpoint.size}: {error}"
        ) from None


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


async def fetch_and_check(
    client: httpx.AsyncClient,
    critique_id: uuid.UUID,
    verifier_keys: str,
    *,
    since: str | None = None,
    compare_record: bool = True,
    echo: Callable[[str], None] = lambda _: None,
) -> Fetched:
    """Download the latest checkpoint and every leaf of ``critique_id``, compute each leaf's
    inclusion proof from the log's tiles, and check them; with ``since`` (a checkpoint kept
    earlier), check the log still extends it (the consistency proof, from the tiles too); with
    ``compare_record``, check the record served now is the latest version logged."""
    note = (await _get(client, "/v1/log/checkpoint")).text
    checkpoint = _checkpoint(note, verifier_keys, "the latest checkpoint")
    echo(
        f"checkpoint verified: {checkpoint.origin}, size {checkpoint.size},"
        f" root {checkpoint.root_base64}"
    )
    cache: dict[tiles.Tile, bytes] = {}
    if since is not None:
        old = _checkpoint(since, verifier_keys, "the earlier checkpoint")
        hashes: list[bytes] = []
        if old.size <= checkpoint.size:
            plan = merkle.consistency_plan(old.size, checkpoint.size)
            tree = await read_tree(client, checkpoint, [n for ns in plan for n in ns], cache)
            hashes = merkle.proof_from(plan, tree.hash)
        consistency: dict[str, Any] = {
            "from": old.size,
            "to": checkpoint.size,
            "hashes": [_b64(value) for value in hashes],
            "root_hash": checkpoint.root_base64,
        }
        check_consistency(since, note, consistency, verifier_keys)
        echo(f"consistent with the earlier checkpoint of size {old.size}")

    listing = _json(await _get(client, f"/v1/log/critiques/{critique_id}"))
    refs = _field(listing, "leaves", list, "the critique's leaf list")
    if not refs:
        raise VerificationFailed(f"no leaf of critique {critique_id} in the log")
    fetched = Fetched(checkpoint, note, [], [], [])
    for ref in refs:
        index = _field(ref, "index", int, "a leaf reference")
        leaf = _json(await _get(client, f"/v1/log/leaves/{index}"))
        if leaf.get("critique_id") != str(critique_id):
            raise VerificationFailed(f"leaf {index} is of critique {leaf.get('critique_id')}")
        if index >= checkpoint.size:
            raise VerificationFailed(
                f"leaf {index} of this critique is newer than the latest checkpoint (size"
                f" {checkpoint.size}): retry after the next checkpoint is signed"
            )
        plan = merkle.inclusion_plan(index, checkpoint.size)
        tree = await read_tree(
            client, checkpoint, [(0, index), *(n for ns in plan for n in ns)], cache
        )
        document = _base64(_field(leaf, "document", str, "the leaf"), "the leaf's document")
        held = tree.hash((0, index))
        if merkle.leaf_hash(document) != held:
            raise VerificationFailed(
                f"leaf {index}: its document (hash {merkle.leaf_hash(document).hex()}) is NOT the"
                f" entry the signed tree of size {checkpoint.size} holds at index {index} (hash"
                f" {held.hex()}): the document was altered after it was signed"
            )
        path = merkle.proof_from(plan, tree.hash)
        proof: dict[str, Any] = {
            "index": index,
            "size": checkpoint.size,
            "hashes": [_b64(value) for value in path],
            "root_hash": checkpoint.root_base64,
        }
        verified = check_record(leaf, proof, note, verifier_keys)
        shown = leaf.get("document_json")
        if isinstance(shown, dict) and shown.get("critique_id") not in (
            None,
            str(critique_id),
        ):
            raise VerificationFailed(f"leaf {index}'s document is about another critique")
        fetched.leaves.append(leaf)
        fetched.proofs.append(proof)
        fetched.verified.append(verified)
        echo(
            f"leaf {index} verified: hash {verified.leaf_hash.hex()}, appended"
            f" {leaf.get('appended_at')}, {len(path)} proof hashes from the log's tiles"
        )

    if compare_record:
        latest = fetched.leaves[-1].get("document_json")
        try:
            response = await client.get(f"/v1/records/{critique_id}")
        except httpx.HTTPError as error:
            raise VerificationFailed(f"GET /v1/records/{critique_id}: {error!r}") from None
        if response.status_code == 404:
            raise VerificationFailed(
                "the log shows this record was published, but the API no longer serves it"
            )
        if response.status_code != 200:
            raise VerificationFailed(
                f"GET /v1/records/{critique_id} answered {response.status_code}"
            )
        if _json(response) != latest:
            raise VerificationFailed(
                "the record served now differs from its latest version in the log"
                f" (leaf {fetched.verified[-1].index})"
            )
        echo("the record served now is the latest version in the log")
    return fetched


# -- commands -----------------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    typer.echo(f"FAILED: {message}", err=True)
    raise typer.Exit(1)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as error:
        _fail(f"cannot read {what} {path}: {error.strerror}")
    except UnicodeDecodeError:
        _fail(f"{what} {path} is not UTF-8")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_read_text(path, what))
    except ValueError:
        _fail(f"{what} {path} is not JSON")
    if not isinstance(value, dict):
        _fail(f"{what} {path} is not a JSON object")
    return value


def read_key(path: Path) -> str:
    """The verifier keys in ``path`` (one a line; blank lines and ``#`` comments skipped), each
    checked, one a line: the keys trusted."""
    try:
        verifiers = read_verifier_keys(_read_text(path, "key file"))
    except CheckpointError as error:
        _fail(f"key file {path}: {error}")
    return "".join(f"{verifier.key}\n" for verifier in verifiers)


KeyOption = Annotated[
    Path,
    typer.Option(
        "--key",
        help="File of the log's verifier keys (name+keyid+base64), one a line, as /v1/log/key"
        " serves them; a checkpoint signed by any of them is trusted.",
    ),
]


@app.command()
def record(
    leaf: Annotated[Path, typer.Option(help="The leaf JSON (GET /v1/log/leaves/{index}).")],
    proof: Annotated[Path, typer.Option(help="The inclusion proof JSON.")],
    checkpoint: Annotated[Path, typer.Option(help="The signed checkpoint note.")],
    key: KeyOption,
) -> None:
    """Check that a published document is in the tree of a signed checkpoint."""
    try:
        verified = check_record(
            _read_json(leaf, "leaf"),
            _read_json(proof, "proof"),
            _read_text(checkpoint, "checkpoint"),
            read_key(key),
        )
    except VerificationFailed as failed:
        _fail(str(failed))
    cp = verified.checkpoint
    typer.echo(f"OK: checkpoint {cp.origin}, size {cp.size}, root {cp.root_base64} is signed")
    typer.echo(
        f"OK: leaf {verified.index} (hash {verified.leaf_hash.hex()}) is in that tree:"
        " the document was published and has not changed since"
    )


@app.command()
def consistency(
    old: Annotated[Path, typer.Option(help="The earlier signed checkpoint note.")],
    new: Annotated[Path, typer.Option(help="The later signed checkpoint note.")],
    proof: Annotated[Path, typer.Option(help="The consistency proof JSON.")],
    key: KeyOption,
) -> None:
    """Check that a later checkpoint extends an earlier one (the log only grew)."""
    try:
        before, after = check_consistency(
            _read_text(old, "old checkpoint"),
            _read_text(new, "new checkpoint"),
            _read_json(proof, "proof"),
            read_key(key),
        )
    except VerificationFailed as failed:
        _fail(str(failed))
    typer.echo(f"OK: both checkpoints of {after.origin} are signed")
    typer.echo(
        f"OK: the tree of size {after.size} extends the tree of size {before.size}:"
        " nothing published before was changed or removed"
    )


def _save(folder: Path, fetched: Fetched) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "checkpoint.note").write_text(fetched.note, encoding="utf-8")
    for leaf, proof in zip(fetched.leaves, fetched.proofs, strict=True):
        index = leaf["index"]
        (folder / f"leaf-{index}.json").write_text(json.dumps(leaf, indent=2), encoding="utf-8")
        (folder / f"inclusion-{index}.json").write_text(
            json.dumps(proof, indent=2), encoding="utf-8"
        )


@app.command()
def fetch(
    critique: Annotated[uuid.UUID, typer.Option(help="The critique's id.")],
    key: KeyOption,
    url: Annotated[str, typer.Option(help="The public disclosure API.")] = "http://127.0.0.1:8080",
    since: Annotated[
        Path | None,
        typer.Option(help="A checkpoint note kept earlier: check the log still extends it."),
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(help="Save the checkpoint, leaves and proofs here, to re-check offline."),
    ] = None,
    compare_record: Annotated[
        bool, typer.Option(help="Check that /v1/records/{id} serves the latest logged version.")
    ] = True,
) -> None:
    """Download a critique's log entries and proofs from the API and verify all of them."""
    verifier_keys = read_key(key)
    earlier = _read_text(since, "checkpoint") if since is not None else None

    async def run() -> Fetched:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
            return await fetch_and_check(
                client,
                critique,
                verifier_keys,
                since=earlier,
                compare_record=compare_record,
                echo=lambda line: typer.echo(f"OK: {line}"),
            )

    try:
        fetched = asyncio.run(run())
    except VerificationFailed as failed:
        _fail(str(failed))
    typer.echo("\nThe signed checkpoint (keep it, to check later that the log only grows):")
    typer.echo(fetched.note, nl=False)
    for verified, proof in zip(fetched.verified, fetched.proofs, strict=True):
        typer.echo(
            f"\nleaf {verified.index}: SHA-256(0x00 || document) = {verified.leaf_hash.hex()}"
        )
        for position, value in enumerate(proof["hashes"]):
            typer.echo(f"  proof[{position}] {value}")
    if save is not None:
        _save(save, fetched)
        typer.echo(f"\nsaved to {save}/: re-check with `supervision verify record`")


@app.command()
def keygen(
    name: Annotated[str, typer.Argument(help="The key name: the log's origin, e.g. a URL path.")],
    private_key_file: Annotated[
        Path | None,
        typer.Option(
            help="Write the private key to this new file, created mode 0600 (the file"
            " SUPERVISION_DISCLOSURE_LOG_KEY_FILE names), instead of printing it."
        ),
    ] = None,
) -> None:
    """Generate the log's signing key pair (for the operator). To rotate, give the name of the
    log's current key: the new key goes on a line of its own in the same key file."""
    try:
        private_key, verifier_key = generate_key(name)
    except CheckpointError as error:
        _fail(str(error))
    if private_key_file is None:
        typer.echo(f"private key (a line of the log's key file; keep secret): {private_key}")
    else:
        try:
            # Created with its final mode: never a moment when another user could open it.
            descriptor = os.open(private_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            _fail(f"{private_key_file} exists; not overwriting a key")
        except OSError as error:
            _fail(f"cannot create {private_key_file}: {error.strerror}")
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(private_key + "\n")
        typer.echo(f"private key written to {private_key_file}")
    typer.echo(f"verifier key (publish): {verifier_key}")
