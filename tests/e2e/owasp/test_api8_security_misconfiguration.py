"""API8:2023 Security Misconfiguration — every door speaks TLS 1.2 or later with the deployment's
certificate, read again when it is renewed; HSTS over TLS; and no listener serves plaintext off
loopback unless told that a proxy in front of it terminates TLS.

Checked with real clients: ``curl --cacert``, ``openssl s_client`` for the protocol versions,
and grpcurl for the gRPC server."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from services.platform.certificates import DevelopmentCA
from tests.support.grpcurl import grpcurl
from tests.support.services import Deployment, Tls

REPO_ROOT = Path(__file__).resolve().parents[3]


def _doors(deployment: Deployment) -> dict[str, tuple[str, int]]:
    """Every listener of the deployment: name → (host, port)."""
    doors = {}
    for name, url in (
        ("submission", deployment.submission_url),
        ("disclosure", deployment.disclosure_url),
        ("tracking metrics", deployment.tracking_metrics_url),
    ):
        parsed = httpx.URL(url)
        assert parsed.host
        assert parsed.port
        doors[name] = (parsed.host, parsed.port)
    host, _, port = deployment.tracking_address.rpartition(":")
    doors["tracking gRPC"] = (host, int(port))
    return doors


def _s_client(host: str, port: int, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"{host}:{port}", *flags],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


async def test_every_listener_speaks_tls_1_2_and_1_3_and_refuses_older_versions(
    deployment: Deployment, tls: Tls
) -> None:
    for name, (host, port) in _doors(deployment).items():
        for version, expected in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            run = await asyncio.to_thread(
                _s_client, host, port, version, "-CAfile", str(tls.ca_file), "-verify_return_error"
            )
            assert f"New, {expected}, Cipher is " in run.stdout, (name, version, run.stdout)
            assert "Verify return code: 0 (ok)" in run.stdout, (name, version)
        for version in ("-tls1", "-tls1_1"):
            # SECLEVEL=0: the client itself would not offer these versions otherwise, and the
            # refusal would prove nothing of the server.
            run = await asyncio.to_thread(
                _s_client, host, port, version, "-cipher", "DEFAULT:@SECLEVEL=0"
            )
            assert "New, (NONE), Cipher is (NONE)" in run.stdout, (name, version, run.stdout)
            # gRPC answers with a protocol_version alert; asyncio's TLS (uvicorn) just closes.
            assert run.returncode != 0, (name, version)


async def test_curl_reaches_the_apis_with_the_ca_and_not_without_it(
    deployment: Deployment, tls: Tls
) -> None:
    for url in (f"{deployment.submission_url}/healthz", f"{deployment.disclosure_url}/healthz"):
        trusted = await asyncio.to_thread(
            subprocess.run,
            ["curl", "--silent", "--show-error", "--cacert", str(tls.ca_file), "-i", url],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert trusted.returncode == 0, trusted.stderr
        head = trusted.stdout.split("\r\n\r\n", 1)[0].lower()
        assert head.startswith("http/1.1 200")
        assert "strict-transport-security: max-age=" in head
        untrusted = await asyncio.to_thread(
            subprocess.run,
            ["curl", "--silent", "--show-error", url],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert untrusted.returncode == 60, untrusted  # the peer's certificate is not trusted
        plaintext = await asyncio.to_thread(
            subprocess.run,
            ["curl", "--silent", "--show-error", url.replace("https://", "http://")],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert plaintext.returncode != 0 or "HTTP/1.1 200" not in plaintext.stdout


async def test_grpcurl_reaches_tracking_with_the_ca_and_not_in_plaintext(
    deployment: Deployment, tls: Tls
) -> None:
    listed = await asyncio.to_thread(
        grpcurl, deployment.tracking_address, "list", cacert=tls.ca_file
    )
    assert listed.returncode == 0, listed.stderr
    assert "supervision.agency.v1.AgencyService" in listed.stdout.split()
    plaintext = await asyncio.to_thread(grpcurl, deployment.tracking_address, "list")
    assert plaintext.returncode != 0


def _serial(host: str, port: int, ca_file: Path) -> int:
    """The serial number of the certificate a new TLS connection is given."""
    context = ssl.create_default_context(cafile=ca_file)
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as connection,
    ):
        certificate = connection.getpeercert()
    assert certificate is not None
    return int(str(certificate["serialNumber"]), 16)


def _renew(tls: Tls, folder: Path) -> int:
    """Issue a new server certificate and put it in place of the served one, as a renewal does
    (each file replaced whole); returns its serial number."""
    issued = tls.ca.issue_server(folder)
    os.replace(issued.key_file, tls.server.key_file)
    os.replace(issued.certificate_file, tls.server.certificate_file)
    return int(tls.server.facts().serial_number, 16)


async def test_a_renewed_certificate_is_served_without_a_restart(
    deployment: Deployment, tls: Tls, tmp_path: Path
) -> None:
    doors = _doors(deployment)
    pids = {name: process.popen.pid for name, process in deployment.processes.items()}
    renewed = _renew(tls, tmp_path / "renewed")

    async def all_renewed() -> dict[str, int]:
        async with asyncio.timeout(20):
            while True:
                serials = {
                    name: await asyncio.to_thread(_serial, host, port, tls.ca_file)
                    for name, (host, port) in doors.items()
                }
                if set(serials.values()) == {renewed}:
                    return serials
                await asyncio.sleep(0.5)

    await all_renewed()
    # SIGHUP reads the files again at once (no waiting for a second to pass).
    again = _renew(tls, tmp_path / "again")
    for name in ("submission", "tracking", "disclosure"):
        deployment.processes[name].popen.send_signal(1)  # SIGHUP
    renewed = again
    await all_renewed()
    assert {name: process.popen.pid for name, process in deployment.processes.items()} == pids
    assert all(process.popen.poll() is None for process in deployment.processes.values())


def _serve(service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "serve", service],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO_ROOT,
    )


HOSTS = {
    "submission": ["SUPERVISION_SUBMISSION_HTTP_HOST"],
    "disclosure": ["SUPERVISION_DISCLOSURE_HTTP_HOST"],
    "tracking": ["SUPERVISION_TRACKING_GRPC_HOST", "SUPERVISION_TRACKING_METRICS_HOST"],
}


@pytest.mark.parametrize(
    ("service", "host_setting"),
    [(service, setting) for service, settings in HOSTS.items() for setting in settings],
)
async def test_plaintext_off_loopback_refuses_to_start(
    deployment: Deployment, service: str, host_setting: str
) -> None:
    """Refused before anything binds: the test never listens beyond loopback."""
    env = {
        key: value
        for key, value in deployment.launches[service].env.items()
        if not key.startswith("SUPERVISION_TLS_")
    }
    env[host_setting] = "0.0.0.0"  # refused before any socket is opened
    run = await asyncio.to_thread(_serve, service, env)
    assert run.returncode != 0
    assert "without TLS" in run.stderr
    assert "SUPERVISION_ALLOW_PLAINTEXT" in run.stderr


async def test_an_unusable_key_refuses_to_start(
    deployment: Deployment, tls: Tls, tmp_path: Path
) -> None:
    open_key = tmp_path / "open.key"
    shutil.copyfile(tls.server.key_file, open_key)
    open_key.chmod(0o644)
    other = DevelopmentCA(tmp_path / "other").issue_server(tmp_path / "other")
    for service in ("submission", "tracking"):
        env = dict(deployment.launches[service].env)
        run = await asyncio.to_thread(
            _serve, service, {**env, "SUPERVISION_TLS_KEY_FILE": str(open_key)}
        )
        assert run.returncode != 0
        assert "chmod 600" in run.stderr, run.stderr
        mismatched = {**env, "SUPERVISION_TLS_KEY_FILE": str(other.key_file)}
        run = await asyncio.to_thread(_serve, service, mismatched)
        assert run.returncode != 0
        assert "cannot be used together" in run.stderr, run.stderr
