"""C2SP signed notes and checkpoints with Ed25519, against published notes and keys.

Published material used as expectations (never produced by the code under test):

* golang.org/x/mod ``sumdb/note/note_test.go``: the PeterNeumann and EnochRoot keys, and the
  exact signed note the Go implementation produces for the Peter Neumann quote (Ed25519 is
  deterministic, so signing must give the same bytes);
* github.com/transparency-dev/formats ``log/note_test.go``: key pairs, and a real checkpoint of
  the Go checksum database (``go.sum database tree``) signed by the published sum.golang.org key.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from services.disclosure import checkpoints
from services.disclosure.checkpoints import Checkpoint, CheckpointError, Signer, Verifier

PETER_PRIVATE = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VERIFIER = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
QUOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIGNATURE = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAc"
    "ElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIGNATURE = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOX"
    "m2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

# transparency-dev/formats log/note_test.go
FORMATS_KEY_PAIRS = [
    (
        "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
    ),
    (
        "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
        "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
    ),
    (
        "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
        "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
    ),
    (
        "PRIVATE+KEY+Unknown+fdbb2e08+Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
        "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots",
    ),
]
SUMDB_VERIFIER = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n"
    "6476701\n"
    "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
    "\n"
    "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyV"
    "nrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
)
# Cosignatures by other keys, from the same file's benchmark: verifiers must ignore them.
OTHER_SIGNATURES = (
    "— monkeys 202ffh9ve46Mqbhuyb4wnC2Pwdan5EsXQym/tF1ggX"
    "JqhjGosU4T5intH4iKMRgDLxrnXuIjRaU2NbvAnaepM6Y+8ww=\n"
    "— random1 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6"
    "EMh4hPgCke6eSVPU4BdtXNMPJBXKF+UpDbGgCdcpR8SVSoqAU=\n"
)

ROOT = hashlib.sha256(b"a root").digest()
ORIGIN = "supervision.mttq.vn/disclosure/test"


# -- published keys and notes -------------------------------------------------------------------


def test_the_go_private_key_gives_the_go_verifier_key() -> None:
    assert Signer.from_key(PETER_PRIVATE).verifier_key == PETER_VERIFIER
    for private_key, verifier_key in FORMATS_KEY_PAIRS:
        signer = Signer.from_key(private_key)
        assert signer.verifier_key == verifier_key
        assert signer.private_key == private_key
        assert Verifier.from_key(verifier_key).key == verifier_key


def test_signing_gives_the_exact_note_the_go_implementation_gives() -> None:
    assert Signer.from_key(PETER_PRIVATE).sign_note(QUOTE) == QUOTE + "\n" + PETER_SIGNATURE


def test_a_published_note_opens_with_its_key_and_ignores_other_keys() -> None:
    note = QUOTE + "\n" + PETER_SIGNATURE + ENOCH_SIGNATURE
    assert checkpoints.open_note(note, Verifier.from_key(PETER_VERIFIER)) == QUOTE
    assert checkpoints.open_note(note, Verifier.from_key(ENOCH_VERIFIER)) == QUOTE
    with pytest.raises(CheckpointError, match="no signature by the key"):
        checkpoints.open_note(QUOTE + "\n" + ENOCH_SIGNATURE, Verifier.from_key(PETER_VERIFIER))


def test_a_published_note_with_an_altered_signature_is_rejected() -> None:
    # note_test.go's "invalid signature": four characters inserted into the signature.
    broken = PETER_SIGNATURE[:60] + "ABCD" + PETER_SIGNATURE[60:]
    with pytest.raises(CheckpointError):
        checkpoints.open_note(QUOTE + "\n" + broken, Verifier.from_key(PETER_VERIFIER))


@pytest.mark.parametrize(
    "note",
    [
        QUOTE,
        QUOTE + "\n",
        QUOTE + "\n" + PETER_SIGNATURE[:-1],
        "\x01" + QUOTE + "\n" + PETER_SIGNATURE,
        QUOTE + "\n— Bad Name " + PETER_SIGNATURE.split(" ")[2].removesuffix("\n"),
        QUOTE + "\n" + PETER_SIGNATURE + "Unexpected line.\n",
        QUOTE + "\n" + PETER_SIGNATURE * 101,
    ],
)
def test_malformed_notes_of_note_test_go_are_rejected(note: str) -> None:
    with pytest.raises(CheckpointError):
        checkpoints.open_note(note, Verifier.from_key(PETER_VERIFIER))


def test_a_real_sum_golang_org_checkpoint_verifies() -> None:
    checkpoint = checkpoints.verify_checkpoint(
        SUMDB_CHECKPOINT, SUMDB_VERIFIER, origin="go.sum database tree"
    )
    assert checkpoint == Checkpoint(
        origin="go.sum database tree",
        size=6476701,
        root=base64.b64decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="),
    )
    assert checkpoints.verify_checkpoint(SUMDB_CHECKPOINT + OTHER_SIGNATURES, SUMDB_VERIFIER)
    with pytest.raises(CheckpointError, match="not 'Go rocks"):
        checkpoints.verify_checkpoint(SUMDB_CHECKPOINT, SUMDB_VERIFIER, origin="Go rocks")
    with pytest.raises(CheckpointError):
        checkpoints.verify_checkpoint(
            SUMDB_CHECKPOINT.replace("6476701", "6476702"), SUMDB_VERIFIER
        )


def test_mangled_verifier_keys_are_refused() -> None:
    """note_test.go TestNewVerifier: every proper substring and every one-byte change fails."""
    Verifier.from_key(PETER_VERIFIER)
    for start in range(len(PETER_VERIFIER) + 1):
        for end in range(start + 1, len(PETER_VERIFIER) + 1):
            if (start, end) != (0, len(PETER_VERIFIER)):
                with pytest.raises(CheckpointError):
                    Verifier.from_key(PETER_VERIFIER[start:end])
    for position in range(len(PETER_VERIFIER)):
        changed = (
            PETER_VERIFIER[:position]
            + chr(ord(PETER_VERIFIER[position]) + 1)
            + PETER_VERIFIER[position + 1 :]
        )
        with pytest.raises(CheckpointError):
            Verifier.from_key(changed)
    for bad in (
        # wrong length key, with adjusted key hash; unknown algorithm, with adjusted key hash
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(CheckpointError):
            Verifier.from_key(bad)


def test_mangled_private_keys_are_refused() -> None:
    """note_test.go TestNewSigner: every proper substring and every one-byte change fails."""
    for start in range(len(PETER_PRIVATE) + 1):
        for end in range(start + 1, len(PETER_PRIVATE) + 1):
            if (start, end) != (0, len(PETER_PRIVATE)):
                with pytest.raises(CheckpointError):
                    Signer.from_key(PETER_PRIVATE[start:end])
    for position in range(len(PETER_PRIVATE)):
        changed = (
            PETER_PRIVATE[:position]
            + chr(ord(PETER_PRIVATE[position]) + 1)
            + PETER_PRIVATE[position + 1 :]
        )
        with pytest.raises(CheckpointError):
            Signer.from_key(changed)


# -- our checkpoints ----------------------------------------------------------------------------


def test_a_checkpoint_round_trips() -> None:
    signer = Signer.generate(ORIGIN)
    note = signer.sign_checkpoint(ORIGIN, 42, ROOT)
    text, _, signature = note.partition("\n\n")
    assert text == f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}"
    assert signature.startswith(f"— {ORIGIN} ")
    raw = base64.b64decode(signature.removeprefix(f"— {ORIGIN} ").removesuffix("\n"))
    assert len(raw) == 4 + 64
    key_material = ORIGIN.encode() + b"\n\x01" + signer.verifier.public_key
    assert raw[:4] == hashlib.sha256(key_material).digest()[:4]
    assert checkpoints.verify_checkpoint(note, signer.verifier_key, origin=ORIGIN) == Checkpoint(
        ORIGIN, 42, ROOT
    )


def test_generated_keys_are_in_the_note_format() -> None:
    private_key, verifier_key = checkpoints.generate_key(ORIGIN)
    assert private_key.startswith(f"PRIVATE+KEY+{ORIGIN}+")
    signer = Signer.from_key(private_key)
    assert signer.verifier_key == verifier_key
    assert private_key not in repr(signer)


def test_an_empty_tree_checkpoint() -> None:
    signer = Signer.generate(ORIGIN)
    empty = hashlib.sha256(b"").digest()
    note = signer.sign_checkpoint(ORIGIN, 0, empty)
    assert note.startswith(f"{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n")
    assert checkpoints.verify_checkpoint(note, signer.verifier_key).size == 0


def _replace_line(note: str, number: int, value: str) -> str:
    lines = note.split("\n")
    lines[number] = value
    return "\n".join(lines)


def test_a_tampered_size_root_or_signature_fails() -> None:
    signer = Signer.generate(ORIGIN)
    note = signer.sign_checkpoint(ORIGIN, 42, ROOT)
    other_root = base64.b64encode(hashlib.sha256(b"another root").digest()).decode()
    signature_line = note.split("\n")[4]
    prefix, encoded = signature_line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[10] ^= 1
    tampered_signature = f"{prefix} {base64.b64encode(bytes(raw)).decode()}"
    for tampered in (
        _replace_line(note, 1, "43"),
        _replace_line(note, 1, "042"),
        _replace_line(note, 2, other_root),
        _replace_line(note, 0, ORIGIN + "x"),
        _replace_line(note, 4, tampered_signature),
        note.replace("\n\n", "\nextension\n\n"),
    ):
        with pytest.raises(CheckpointError):
            checkpoints.verify_checkpoint(tampered, signer.verifier_key)


def test_a_wrong_key_fails() -> None:
    signer, impostor = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    note = impostor.sign_checkpoint(ORIGIN, 42, ROOT)
    with pytest.raises(CheckpointError, match="no signature by the key"):
        checkpoints.verify_checkpoint(note, signer.verifier_key)
    # Same name and a forged key id: the signature is checked, and fails.
    forged = note.replace(
        note.split("\n")[4],
        "— "
        + ORIGIN
        + " "
        + base64.b64encode(
            signer.verifier.key_id.to_bytes(4, "big")
            + base64.b64decode(note.split("\n")[4].rsplit(" ", 1)[1])[4:]
        ).decode(),
    )
    with pytest.raises(CheckpointError, match="does not verify"):
        checkpoints.verify_checkpoint(forged, signer.verifier_key)


@pytest.mark.parametrize(
    "body",
    [
        "origin\n42\n",  # no root
        "origin\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n0x2a\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n42\n" + base64.b64encode(ROOT[:31]).decode() + "\n",
        "origin\n42\nnot base64!\n",
        "\n42\n" + base64.b64encode(ROOT).decode() + "\n",
    ],
)
def test_malformed_checkpoint_bodies_are_refused(body: str) -> None:
    with pytest.raises(CheckpointError):
        checkpoints.parse_checkpoint_text(body)


def test_names_with_spaces_or_plus_are_refused() -> None:
    for name in ("", "a b", "a+b"):
        with pytest.raises(CheckpointError):
            Signer.generate(name)


# -- several keys: a handover to a new key --------------------------------------------------------


def _signature_lines(note: str) -> list[str]:
    return note[note.rindex("\n\n") + 2 :].splitlines()


def _tamper(signature_line: str) -> str:
    prefix, encoded = signature_line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1  # the key id stays: the line is still the key's, its signature is wrong
    return f"{prefix} {base64.b64encode(bytes(raw)).decode()}"


def test_the_go_note_signed_by_two_keys_opens_with_either_and_with_both() -> None:
    # note_test.go TestOpen: "one signature verified, one not" and "both verified".
    note = QUOTE + "\n" + PETER_SIGNATURE + ENOCH_SIGNATURE
    peter, enoch = Verifier.from_key(PETER_VERIFIER), Verifier.from_key(ENOCH_VERIFIER)
    for trusted in ([peter], [enoch], [peter, enoch], [enoch, peter]):
        assert checkpoints.open_note(note, trusted) == QUOTE
    with pytest.raises(CheckpointError, match="no signature by the key"):
        checkpoints.open_note(QUOTE + "\n" + ENOCH_SIGNATURE, [peter])


def test_a_failing_signature_by_a_trusted_key_rejects_the_note_another_verified() -> None:
    # note_test.go TestOpen, "duplicated verified and unverified signatures": a bad signature by
    # a key the verifier does not know is ignored; by a key it knows, it rejects the whole note.
    note = QUOTE + "\n" + PETER_SIGNATURE + _tamper(ENOCH_SIGNATURE.removesuffix("\n")) + "\n"
    peter, enoch = Verifier.from_key(PETER_VERIFIER), Verifier.from_key(ENOCH_VERIFIER)
    assert checkpoints.open_note(note, [peter]) == QUOTE
    with pytest.raises(CheckpointError, match="EnochRoot\\+af0cfe78 does not verify"):
        checkpoints.open_note(note, [peter, enoch])


def test_two_keys_of_the_log_sign_every_checkpoint_and_each_verifier_accepts_it() -> None:
    old, new = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    keys = checkpoints.SigningKeys([old, new])
    note = keys.sign_checkpoint(ORIGIN, 42, ROOT)
    assert note.startswith(checkpoints.checkpoint_text(ORIGIN, 42, ROOT) + "\n")
    # One note, one signature line per key in the file's order, each the key's own signature.
    assert _signature_lines(note) == [
        old.signature_line(checkpoints.checkpoint_text(ORIGIN, 42, ROOT)).removesuffix("\n"),
        new.signature_line(checkpoints.checkpoint_text(ORIGIN, 42, ROOT)).removesuffix("\n"),
    ]
    expected = Checkpoint(ORIGIN, 42, ROOT)
    for trusted in (old.verifier_key, new.verifier_key, keys.verifier_keys):
        assert checkpoints.verify_checkpoint(note, trusted, origin=ORIGIN) == expected
    with pytest.raises(CheckpointError, match="no signature by the key"):
        checkpoints.verify_checkpoint(note, Signer.generate(ORIGIN).verifier_key)


def test_a_tampered_second_signature_rejects_the_note_for_a_verifier_that_trusts_its_key() -> None:
    old, new = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    note = checkpoints.SigningKeys([old, new]).sign_checkpoint(ORIGIN, 42, ROOT)
    first, second = _signature_lines(note)
    tampered = note.replace(second, _tamper(second))
    for trusted in (new.verifier_key, f"{old.verifier_key}\n{new.verifier_key}\n"):
        with pytest.raises(CheckpointError, match="does not verify"):
            checkpoints.verify_checkpoint(tampered, trusted)
    # A verifier that knows only the old key ignores the new key's line, as any unknown key's.
    assert checkpoints.verify_checkpoint(tampered, old.verifier_key).size == 42
    assert checkpoints.verify_checkpoint(note.replace(first, _tamper(first)), new.verifier_key)


def test_the_verifier_keys_are_served_one_a_line_the_newest_last() -> None:
    old, new = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    served = checkpoints.SigningKeys([old, new]).verifier_keys
    assert served == f"{old.verifier_key}\n{new.verifier_key}\n"
    # What a verifier reads back; one of before the handover reads the first line, the old key.
    assert checkpoints.read_verifier_keys(served) == (old.verifier, new.verifier)
    assert served.splitlines()[0] == old.verifier_key


def test_a_key_file_holds_one_key_a_line_with_blank_lines_and_comments() -> None:
    old, new = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    text = f"# the log's keys, oldest first\n{old.private_key}\n\n  # new\n{new.private_key}\n"
    keys = checkpoints.SigningKeys.from_text(text)
    assert keys.name == ORIGIN
    assert [signer.verifier_key for signer in keys.signers] == [old.verifier_key, new.verifier_key]
    assert old.private_key not in repr(keys)


def test_keys_of_different_names_are_refused() -> None:
    ours, theirs = Signer.generate(ORIGIN), Signer.generate("another.example/log")
    with pytest.raises(CheckpointError, match=r"2 names .*another\.example/log"):
        checkpoints.SigningKeys.from_text(f"{ours.private_key}\n{theirs.private_key}\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no private key"),
        ("# only a comment\n\n", "no private key"),
        (f"{PETER_PRIVATE}\n{PETER_PRIVATE}\n", "listed twice"),
        (f"{PETER_PRIVATE}\n{PETER_VERIFIER}\n", "line 2: a private key starts with"),
        (f"\n{PETER_PRIVATE[:-3]}\n", "line 2: "),
    ],
)
def test_a_malformed_key_file_is_refused_naming_the_line_not_its_content(
    text: str, message: str
) -> None:
    with pytest.raises(CheckpointError, match=message) as refused:
        checkpoints.SigningKeys.from_text(text)
    assert PETER_PRIVATE.rsplit("+", 1)[1][:-3] not in str(refused.value)


def test_verifier_key_files_are_read_one_key_a_line() -> None:
    peter, enoch = Verifier.from_key(PETER_VERIFIER), Verifier.from_key(ENOCH_VERIFIER)
    text = f"# keys of the logs I follow\n{PETER_VERIFIER}\n\n{ENOCH_VERIFIER}\n"
    assert checkpoints.read_verifier_keys(text) == (peter, enoch)
    with pytest.raises(CheckpointError, match="line 2: a private key"):
        checkpoints.read_verifier_keys(f"{PETER_VERIFIER}\n{PETER_PRIVATE}\n")
    with pytest.raises(CheckpointError, match="no verifier key"):
        checkpoints.read_verifier_keys("\n# nothing\n")


def test_two_trusted_keys_with_one_name_and_id_are_ambiguous() -> None:
    peter = Verifier.from_key(PETER_VERIFIER)
    impostor = Verifier(peter.name, peter.key_id, Signer.generate("x").verifier.public_key)
    note = QUOTE + "\n" + PETER_SIGNATURE
    assert checkpoints.open_note(note, [peter, peter]) == QUOTE  # the same key twice is one
    with pytest.raises(CheckpointError, match="ambiguous key PeterNeumann\\+c74f20a3"):
        checkpoints.open_note(note, [peter, impostor])
