"""Checkpoints of the transparency log as C2SP signed notes with Ed25519: pure, no I/O.

A checkpoint (https://c2sp.org/tlog-checkpoint) is the note text::

    <origin>
    <tree size, decimal, no leading zeroes>
    <base64 root hash>

signed as a note (https://c2sp.org/signed-note): the text, a blank line, then one line per
signature, ``— <key name> <base64(key id || signature)>``, where the key id is the first four
bytes of SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key) and 0x01 is the Ed25519
signature type. Keys are written as in golang.org/x/mod/sumdb/note, so the Go tools (and every
witness that speaks notes) read them:

* verifier key: ``<name>+<key id, 8 hex digits>+<base64(0x01 || public key)>``
* private key: ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte seed)>``

A log signs with :class:`SigningKeys`: one key, or while it hands over to a new key, several of
the same name, each adding its signature line to every note. Verification follows the note
specification and trusts a set of keys (one or more): signatures by keys outside it are ignored
(witnesses may cosign; a verifier that knows only one of the log's keys ignores the other), a
signature by a trusted key that fails rejects the whole note, and a note with no signature by a
trusted key is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519: Final = 0x01
_PRIVATE_PREFIX: Final = "PRIVATE+KEY+"
_SIGNATURE_PREFIX: Final = "\u2014 "  # em dash, space
_MAX_SIGNATURES: Final = 100
_MAX_NOTE_BYTES: Final = 1_000_000
_SIZE = re.compile(r"0|[1-9][0-9]*")
_KEY_ID = re.compile(r"[0-9a-f]{8}")


class CheckpointError(ValueError):
    """A key, a note or a checkpoint is malformed, or a signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    """What a verified checkpoint states: the log, its size, and the root of that tree."""

    origin: str
    size: int
    root: bytes

    @property
    def root_base64(self) -> str:
        return base64.b64encode(self.root).decode()


def _check_name(name: str, what: str = "key name") -> None:
    if not name or "+" in name or any(character.isspace() for character in name):
        raise CheckpointError(f"the {what} {name!r} must be non-empty, without spaces or '+'")


def key_id(name: str, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CheckpointError(f"{what} is not valid base64") from None


def _split_key(text: str, what: str) -> tuple[str, int, bytes]:
    """``name+keyid+base64`` -> name, key id, decoded key (0x01 || 32 bytes)."""
    name, plus1, rest = text.partition("+")
    hex_id, plus2, encoded = rest.partition("+")
    if not plus1 or not plus2:
        raise CheckpointError(f"the {what} is not of the form <name>+<key id>+<base64 key>")
    _check_name(name)
    if not _KEY_ID.fullmatch(hex_id):
        raise CheckpointError(f"the {what}'s key id {hex_id!r} is not 8 lowercase hex digits")
    key = _b64decode(encoded, f"the {what}")
    if len(key) != 33 or key[0] != ALG_ED25519:
        raise CheckpointError(f"the {what} is not an Ed25519 key (0x01 and 32 bytes)")
    return name, int(hex_id, 16), key[1:]


@dataclass(frozen=True)
class Verifier:
    """A public key that checks note signatures, read from its verifier key text."""

    name: str
    key_id: int
    public_key: bytes

    @classmethod
    def from_key(cls, verifier_key: str) -> Verifier:
        name, declared_id, public_key = _split_key(verifier_key.strip(), "verifier key")
        if key_id(name, public_key) != declared_id:
            raise CheckpointError(
                "the verifier key's key id does not match its name and public key"
            )
        return cls(name, declared_id, public_key)

    @property
    def key(self) -> str:
        """The verifier key text: ``name+keyid+base64(0x01 || public key)``."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    """The log's private key: signs notes under its name."""

    def __init__(self, name: str, seed: bytes) -> None:
        _check_name(name)
        if len(seed) != 32:
            raise CheckpointError("an Ed25519 seed is 32 bytes")
        self._seed = seed
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        public_key = self._private.public_key().public_bytes_raw()
        self.verifier = Verifier(name, key_id(name, public_key), public_key)

    @classmethod
    def generate(cls, name: str) -> Signer:
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, seed)

    @classmethod
    def from_key(cls, private_key: str) -> Signer:
        """Read ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>``."""
        text = private_key.strip()
        if not text.startswith(_PRIVATE_PREFIX):
            raise CheckpointError("a private key starts with PRIVATE+KEY+")
        name, declared_id, seed = _split_key(text.removeprefix(_PRIVATE_PREFIX), "private key")
        signer = cls(name, seed)
        if signer.verifier.key_id != declared_id:
            raise CheckpointError("the private key's key id does not match its name and key")
        return signer

    @property
    def name(self) -> str:
        return self.verifier.name

    @property
    def private_key(self) -> str:
        """The secret, to keep out of logs: ``PRIVATE+KEY+name+keyid+base64(0x01 || seed)``."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self._seed).decode()
        return f"{_PRIVATE_PREFIX}{self.name}+{self.verifier.key_id:08x}+{encoded}"

    @property
    def verifier_key(self) -> str:
        return self.verifier.key

    def __repr__(self) -> str:  # never the seed
        return f"Signer({self.verifier_key!r})"

    def signature_line(self, text: str) -> str:
        """This key's signature line of a note of ``text``: ``— <name> <base64>`` and a newline."""
        _check_text(text)
        signature = self.verifier.key_id.to_bytes(4, "big") + self._private.sign(text.encode())
        encoded = base64.b64encode(signature).decode()
        return f"{_SIGNATURE_PREFIX}{self.name} {encoded}\n"

    def sign_note(self, text: str) -> str:
        """The signed note: ``text`` (which ends in a newline), a blank line, the signature."""
        return f"{text}\n{self.signature_line(text)}"

    def sign_checkpoint(self, origin: str, size: int, root: bytes) -> str:
        """The signed note of the checkpoint ``origin``/``size``/``root``."""
        return self.sign_note(checkpoint_text(origin, size, root))


class SigningKeys:
    """The log's private keys, in the order of its key file: one, or during a handover to a new
    key several (the newest last). All have the log's name, so the origin and the key name stay
    the same across a rotation; every note is signed by each key, one signature line each."""

    def __init__(self, signers: Sequence[Signer]) -> None:
        if not signers:
            raise CheckpointError("there is no private key (one PRIVATE+KEY+… a line)")
        names = list(dict.fromkeys(signer.name for signer in signers))
        if len(names) > 1:
            raise CheckpointError(
                f"the keys have {len(names)} names ({', '.join(names)}): all the keys of a log"
                " have the log's name (a new key is made with the old one's name)"
            )
        ids = [signer.verifier.key_id for signer in signers]
        if len(set(ids)) != len(ids):
            raise CheckpointError("a key is listed twice")
        self.signers: tuple[Signer, ...] = tuple(signers)

    @classmethod
    def from_text(cls, text: str) -> SigningKeys:
        """Read a key file: one private key a line; blank lines and ``#`` comments are skipped.
        Errors name the line, never its content."""
        signers = []
        for number, line in enumerate(text.splitlines(), start=1):
            key = line.strip()
            if not key or key.startswith("#"):
                continue
            try:
                signers.append(Signer.from_key(key))
            except CheckpointError as error:
                raise CheckpointError(f"line {number}: {error}") from None
        return cls(signers)

    @property
    def name(self) -> str:
        return self.signers[0].name

    @property
    def verifier_keys(self) -> str:
        """The verifier keys, one a line in the file's order (the newest last)."""
        return "".join(f"{signer.verifier_key}\n" for signer in self.signers)

    def __repr__(self) -> str:  # never a seed
        return f"SigningKeys({[signer.verifier_key for signer in self.signers]!r})"

    def sign_note(self, text: str) -> str:
        """The note of ``text`` signed by every key: a blank line, then one line per key."""
        return f"{text}\n{''.join(signer.signature_line(text) for signer in self.signers)}"

    def sign_checkpoint(self, origin: str, size: int, root: bytes) -> str:
        """The checkpoint ``origin``/``size``/``root`` as a note signed by every key."""
        return self.sign_note(checkpoint_text(origin, size, root))


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise CheckpointError("a note's text ends with a newline")
    if any(ord(character) < 0x20 and character != "\n" for character in text):
        raise CheckpointError("a note may contain no control characters other than newline")


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """The checkpoint body: origin, decimal size, base64 root, each on its own line."""
    if not origin or "\n" in origin:
        raise CheckpointError("a checkpoint's origin is one non-empty line")
    if size < 0:
        raise CheckpointError("a tree size is not negative")
    if len(root) != 32:
        raise CheckpointError("a root hash is 32 bytes")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def generate_key(name: str) -> tuple[str, str]:
    """A new key pair: (private key, verifier key) in the note format."""
    signer = Signer.generate(name)
    return signer.private_key, signer.verifier_key


def read_verifier_keys(text: str) -> tuple[Verifier, ...]:
    """The verifier keys in ``text``, one a line (as ``/v1/log/key`` serves them); blank lines
    and ``#`` comments are skipped."""
    lines = [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#")
    ]
    verifiers = []
    for number, key in lines:
        where = f"line {number}: " if len(lines) > 1 else ""
        if key.startswith(_PRIVATE_PREFIX):
            raise CheckpointError(f"{where}a private key: verify with the public (verifier) key")
        try:
            verifiers.append(Verifier.from_key(key))
        except CheckpointError as error:
            raise CheckpointError(f"{where}{error}") from None
    if not verifiers:
        raise CheckpointError("there is no verifier key")
    return tuple(verifiers)


def _trusted(verifiers: Verifier | Iterable[Verifier]) -> dict[tuple[str, int], Verifier]:
    """The verifiers by key name and key id; two keys sharing both would be ambiguous."""
    trusted: dict[tuple[str, int], Verifier] = {}
    for verifier in [verifiers] if isinstance(verifiers, Verifier) else verifiers:
        known = trusted.setdefault((verifier.name, verifier.key_id), verifier)
        if known != verifier:
            raise CheckpointError(f"ambiguous key {verifier.name}+{verifier.key_id:08x}")
    if not trusted:
        raise CheckpointError("there is no verifier key")
    return trusted


def open_note(note: str, verifiers: Verifier | Iterable[Verifier]) -> str:
    """The text of ``note`` once a signature by one of ``verifiers`` (the keys trusted) has
    verified and none by them has failed; other keys' signatures are ignored. Raises
    :class:`CheckpointError` otherwise."""
    trusted = _trusted(verifiers)
    if len(note.encode()) > _MAX_NOTE_BYTES:
        raise CheckpointError("the note is too large")
    if any(ord(character) < 0x20 and character != "\n" for character in note):
        raise CheckpointError("a note may contain no control characters other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("the note has no blank line before its signatures")
    text, signature_block = note[: split + 1], note[split + 2 :]
    if not signature_block.endswith("\n"):
        raise CheckpointError("the note's signature lines do not end with a newline")
    lines = signature_block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise CheckpointError("the note has too many signatures")
    verified = 0
    for line in lines:
        if not line.startswith(_SIGNATURE_PREFIX):
            raise CheckpointError(f"not a signature line: {line!r}")
        name, space, encoded = line.removeprefix(_SIGNATURE_PREFIX).partition(" ")
        if not space:
            raise CheckpointError(f"not a signature line: {line!r}")
        _check_name(name)
        signature = _b64decode(encoded, f"the signature by {name}")
        if len(signature) < 5:
            raise CheckpointError(f"the signature by {name} is too short")
        verifier = trusted.get((name, int.from_bytes(signature[:4], "big")))
        if verifier is None:
            continue  # a key not trusted here: a witness's cosignature, the log's other key
        if not verifier.verify(text.encode(), signature[4:]):
            raise CheckpointError(
                f"the signature by {verifier.name}+{verifier.key_id:08x} does not verify:"
                " the note was altered or was not signed by this key"
            )
        verified += 1
    if not verified:
        keys = ", ".join(f"{name}+{key_id:08x}" for name, key_id in trusted)
        raise CheckpointError(
            f"the note has no signature by the key{'s' if len(trusted) > 1 else ''} {keys}"
        )
    return text


def parse_checkpoint_text(text: str) -> Checkpoint:
    """Read a checkpoint body (origin, size, root hash, then optional extension lines)."""
    lines = text.split("\n")
    if lines[-1] != "" or len(lines) < 4:
        raise CheckpointError("a checkpoint has an origin, a size and a root hash line")
    lines.pop()
    if any(not line for line in lines):
        raise CheckpointError("a checkpoint has no empty lines")
    origin, size_text, root_text = lines[:3]
    if not _SIZE.fullmatch(size_text):
        raise CheckpointError(f"the checkpoint's tree size {size_text!r} is not a decimal number")
    root = _b64decode(root_text, "the checkpoint's root hash")
    if len(root) != 32 or base64.b64encode(root).decode() != root_text:
        raise CheckpointError("the checkpoint's root hash is not the base64 of 32 bytes")
    return Checkpoint(origin=origin, size=int(size_text), root=root)


def verify_checkpoint(
    note: str, verifier_keys: str | Verifier | Iterable[Verifier], *, origin: str | None = None
) -> Checkpoint:
    """The checkpoint that ``note`` states, once signed by a key of ``verifier_keys`` (their text,
    one a line, or the verifiers) as :func:`open_note` checks; with ``origin``, the checkpoint
    must also be of that log. Raises :class:`CheckpointError`."""
    trusted = read_verifier_keys(verifier_keys) if isinstance(verifier_keys, str) else verifier_keys
    checkpoint = parse_checkpoint_text(open_note(note, trusted))
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"the checkpoint is of the log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
