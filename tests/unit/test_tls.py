"""TLS settings of the listeners: which binds may speak plaintext, which files are refused, and a
renewal read again (or, half written, not) without a restart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.platform import tls
from services.platform.certificates import DevelopmentCA, facts
from services.tracking.domain import (
    NONE_PRESENTED,
    Credential,
    CredentialsDisagree,
    NotAuthenticated,
    calling_agency,
)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_may_speak_plaintext(host: str) -> None:
    assert tls.is_loopback(host)
    tls.refuse_plaintext(listener="x", host=host, certificates=None, allow_plaintext=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "api.mttq.vn", ""])
def test_any_other_bind_needs_tls_or_an_explicit_allowance(host: str) -> None:
    assert not tls.is_loopback(host)
    with pytest.raises(tls.TlsError, match="SUPERVISION_ALLOW_PLAINTEXT"):
        tls.refuse_plaintext(listener="x", host=host, certificates=None, allow_plaintext=False)
    tls.refuse_plaintext(listener="x", host=host, certificates=None, allow_plaintext=True)


@pytest.fixture
def ca(tmp_path: Path) -> DevelopmentCA:
    return DevelopmentCA(tmp_path / "ca")


def test_half_a_pair_or_an_open_key_is_refused(ca: DevelopmentCA, tmp_path: Path) -> None:
    server = ca.issue_server(tmp_path)
    with pytest.raises(tls.TlsError, match="SUPERVISION_TLS_KEY_FILE"):
        tls.certificates(server.certificate_file, None)
    with pytest.raises(tls.TlsError, match="no certificate"):
        tls.certificates(None, None, ca.certificate_file)
    assert tls.certificates(None, None) is None
    server.key_file.chmod(0o640)  # a group may read it (a certificate manager's)
    assert tls.certificates(server.certificate_file, server.key_file) is not None
    for mode in (0o644, 0o604, 0o660):
        server.key_file.chmod(mode)
        with pytest.raises(tls.TlsError, match="chmod 600"):
            tls.certificates(server.certificate_file, server.key_file)


def test_keys_are_written_private_from_the_start(ca: DevelopmentCA, tmp_path: Path) -> None:
    issued = ca.issue_agency(tmp_path / "agencies", "so-tu-phap")
    assert issued.key_file.stat().st_mode & 0o777 == 0o600
    assert (ca.folder / "ca.key").stat().st_mode & 0o777 == 0o600


def _served_serial(certificates: tls.Certificates) -> str:
    return facts(certificates.current.chain).serial_number


def test_a_renewal_is_loaded_and_a_half_written_one_is_not(
    ca: DevelopmentCA, tmp_path: Path
) -> None:
    server = ca.issue_server(tmp_path / "live")
    certificates = tls.certificates(server.certificate_file, server.key_file)
    assert certificates is not None
    first = _served_serial(certificates)
    assert not certificates.reload()  # nothing changed
    renewal = ca.issue_server(tmp_path / "renewal")
    # The certificate is in place, its key not yet: the previous pair stays in use.
    os.replace(renewal.certificate_file, server.certificate_file)
    assert not certificates.reload()
    assert _served_serial(certificates) == first
    assert certificates.current.generation == 1
    os.replace(renewal.key_file, server.key_file)
    assert certificates.reload()
    assert _served_serial(certificates) != first
    assert certificates.current.generation == 2
    assert certificates.reload(force=True)  # SIGHUP: read again, whatever the files say
    assert certificates.current.generation == 3


def test_a_certificate_acts_for_its_agency_alone() -> None:
    a, b = Credential(True, "ubnd-a"), Credential(True, "ubnd-b")
    assert calling_agency(certificate=a, token=NONE_PRESENTED) == "ubnd-a"
    assert calling_agency(certificate=NONE_PRESENTED, token=a) == "ubnd-a"
    assert calling_agency(certificate=a, token=a) == "ubnd-a"
    with pytest.raises(CredentialsDisagree):
        calling_agency(certificate=a, token=b)
    dead = Credential(True, None)
    for certificate, token, which in ((dead, a, "certificate"), (a, dead, "token")):
        with pytest.raises(NotAuthenticated) as refused:
            calling_agency(certificate=certificate, token=token)
        assert refused.value.dead == which
    with pytest.raises(NotAuthenticated) as nothing:
        calling_agency(certificate=NONE_PRESENTED, token=NONE_PRESENTED)
    assert nothing.value.dead is None
