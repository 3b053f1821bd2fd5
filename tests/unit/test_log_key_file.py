"""The log's key file: disclosure reads it only when no one but the service can, and refuses to
start otherwise, saying which file, its mode and the command that fixes it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import verify
from services.disclosure import log_key
from services.disclosure.checkpoints import Signer
from services.disclosure.main import DisclosureSettings, create_app, log_keys

NAME = "supervision.test/disclosure"


def key_file(path: Path, *signers: Signer, mode: int = 0o600) -> Path:
    path.write_text("".join(f"{signer.private_key}\n" for signer in signers))
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610, 0o601, 0o700 | 0o040])
def test_a_key_file_its_group_or_others_may_use_is_refused(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path / "log.key", Signer.generate(NAME), mode=mode)
    with pytest.raises(log_key.LogKeyRefused) as refused:
        log_key.read(path)
    message = str(refused.value)
    assert str(path) in message
    assert f"mode {mode:04o}" in message
    assert f"chmod 600 {path}" in message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_key_file_only_its_owner_may_read_is_read(tmp_path: Path, mode: int) -> None:
    signer = Signer.generate(NAME)
    keys = log_key.read(key_file(tmp_path / "log.key", signer, mode=mode))
    assert keys.verifier_keys == f"{signer.verifier_key}\n"


def test_a_key_file_with_the_old_and_the_new_key_gives_both(tmp_path: Path) -> None:
    old, new = Signer.generate(NAME), Signer.generate(NAME)
    keys = log_key.read(key_file(tmp_path / "log.key", old, new))
    assert keys.verifier_keys == f"{old.verifier_key}\n{new.verifier_key}\n"


def test_keys_of_different_names_in_the_file_are_refused(tmp_path: Path) -> None:
    path = key_file(tmp_path / "log.key", Signer.generate(NAME), Signer.generate("other/log"))
    with pytest.raises(log_key.LogKeyRefused, match=f"{path}: the keys have 2 names"):
        log_key.read(path)


def test_a_missing_unreadable_or_malformed_key_file_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.key"
    with pytest.raises(log_key.LogKeyRefused, match=f"{missing} does not exist"):
        log_key.read(missing)
    not_a_folder = key_file(tmp_path / "log.key", Signer.generate(NAME))
    with pytest.raises(log_key.LogKeyRefused, match="cannot be read: Not a directory"):
        log_key.read(not_a_folder / "log.key")
    with pytest.raises(log_key.LogKeyRefused, match="is not a regular file"):
        log_key.read(tmp_path)
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(log_key.LogKeyRefused, match="is not a regular file"):
        log_key.read(fifo)  # refused, not waited on
    secret = Signer.generate(NAME).private_key
    malformed = tmp_path / "malformed.key"
    malformed.write_text(f"# the log\n{secret[:-2]}\n")
    malformed.chmod(0o600)
    with pytest.raises(log_key.LogKeyRefused, match=f"{malformed}: line 2: ") as refused:
        log_key.read(malformed)
    # PRIVATE+KEY+<name>+<key id>+<base64>: the base64 may itself hold "+", so split on the fields
    seed = secret.split("+", 4)[4]
    assert len(seed) > 40
    assert seed[:-2] not in str(refused.value)
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(log_key.LogKeyRefused, match="no private key"):
        log_key.read(empty)


def test_disclosure_exits_as_for_a_bad_setting_naming_the_variable(tmp_path: Path) -> None:
    path = key_file(tmp_path / "log.key", Signer.generate(NAME), mode=0o644)
    config = DisclosureSettings(disclosure_database_url="unused", disclosure_log_key_file=path)
    with pytest.raises(SystemExit) as refused:
        create_app(config)
    message = str(refused.value.code)
    assert message.startswith("DisclosureSettings: the service cannot start")
    assert (
        f"SUPERVISION_DISCLOSURE_LOG_KEY_FILE: the log's key file {path} has mode 0644" in message
    )
    path.chmod(0o600)
    keys = log_keys(config)
    assert keys is not None
    assert create_app(config).state.log_keys is not None
    assert log_keys(DisclosureSettings(disclosure_database_url="unused")) is None


def test_keygen_creates_the_key_file_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    previous = os.umask(0)
    try:
        made = CliRunner().invoke(verify.app, ["keygen", NAME, "--private-key-file", str(path)])
    finally:
        os.umask(previous)
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert log_key.read(path).name == NAME
    again = CliRunner().invoke(verify.app, ["keygen", NAME, "--private-key-file", str(path)])
    assert again.exit_code == 1
    assert "not overwriting a key" in again.output


def test_the_key_in_the_environment_is_refused_rather_than_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = Signer.generate(NAME)
    monkeypatch.setenv("SUPERVISION_DISCLOSURE_LOG_KEY", signer.private_key)
    config = DisclosureSettings(disclosure_database_url="unused")
    with pytest.raises(SystemExit) as refused:
        log_keys(config)
    message = str(refused.value.code)
    assert "SUPERVISION_DISCLOSURE_LOG_KEY is set, but the key is no longer read" in message
    assert signer.private_key not in message
    monkeypatch.delenv("SUPERVISION_DISCLOSURE_LOG_KEY")
    assert log_key.configured(key_file(tmp_path / "log.key", signer), {}) is not None
