"""The log's signing key as an operator handles it: in a file only the service may read, and
rotated by the README's steps while the public keeps verifying with the real command line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx

from services.disclosure import checkpoints
from tests.support.directory import Directory, register
from tests.support.engines import free_port
from tests.support.journeys import answer, case_of, eventually, public_record, submit
from tests.support.services import Deployment, wait_ready
from tests.support.transparency import logged_and_signed, verify


async def published_and_signed(deployment: Deployment, directory: Directory) -> tuple[str, str]:
    """A new critique, answered and so published: its id, and the first checkpoint over it."""
    critique_id = await submit(deployment, directory)
    await answer(deployment, directory, await case_of(deployment, directory, critique_id))
    await eventually(lambda: public_record(deployment, critique_id))
    return critique_id, (await logged_and_signed(deployment, critique_id))["checkpoint"]


def signature_lines(note: str) -> list[str]:
    return note[note.rindex("\n\n") + 2 :].splitlines()


async def served_key(deployment: Deployment) -> str:
    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as http:
        response = await http.get("/v1/log/key")
    assert response.status_code == 200, response.text
    return response.text


def fetch(deployment: Deployment, critique_id: str, key: Path) -> subprocess.CompletedProcess[str]:
    return verify(
        "fetch", "--url", deployment.disclosure_url, "--critique", critique_id, "--key", str(key)
    )


async def consistency_proof(deployment: Deployment, old: str, new: str, path: Path) -> Path:
    sizes = {"from": int(old.splitlines()[1]), "to": int(new.splitlines()[1])}
    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as http:
        response = await http.get("/v1/log/proofs/consistency", params=sizes)
    assert response.status_code == 200, response.text
    path.write_text(json.dumps(response.json()))
    return path


async def test_a_handover_to_a_new_key_keeps_every_verifier_verifying(
    deployment: Deployment, tmp_path: Path
) -> None:
    assert deployment.log_key_file is not None
    key_file = deployment.log_key_file
    name = deployment.log_verifier_key.split("+", 1)[0]
    directory = await register(deployment)
    old_pub = tmp_path / "old.pub"
    old_pub.write_text(await served_key(deployment))
    assert old_pub.read_text() == f"{deployment.log_verifier_key}\n"

    # Before: checkpoints signed by the old key alone.
    first, before = await published_and_signed(deployment, directory)
    assert len(signature_lines(before)) == 1
    (tmp_path / "before.note").write_text(before)

    # The operator makes a key of the log's name and adds it to the file, then restarts.
    made = verify("keygen", name, "--private-key-file", str(tmp_path / "new.key"))
    assert made.returncode == 0, made.stderr
    new_verifier = next(
        line.split(": ", 1)[1] for line in made.stdout.splitlines() if "verifier key" in line
    )
    with key_file.open("a") as keys:  # keeps the file's mode, 0600
        keys.write("# the new key, from the handover\n" + (tmp_path / "new.key").read_text())
    await deployment.restart("disclosure")
    await wait_ready(deployment)

    # The key endpoint serves both, the newest last: a verifier of before, reading its first
    # line, still gets the old key.
    both_pub = tmp_path / "both.pub"
    both_pub.write_text(await served_key(deployment))
    assert both_pub.read_text() == f"{deployment.log_verifier_key}\n{new_verifier}\n"
    new_pub = tmp_path / "new.pub"
    new_pub.write_text(f"{new_verifier}\n")

    second, during = await published_and_signed(deployment, directory)
    assert len(signature_lines(during)) == 2
    for key in (deployment.log_verifier_key, new_verifier):
        assert checkpoints.verify_checkpoint(during, key, origin=name).size > 0
    for key_path in (old_pub, new_pub, both_pub):
        checked = fetch(deployment, second, key_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # The log still extends what a verifier of the old key kept.
    extended = verify(
        "fetch", "--url", deployment.disclosure_url, "--critique", first,
        "--key", str(old_pub), "--since", str(tmp_path / "before.note"),
    )  # fmt: skip
    assert extended.returncode == 0, extended.stdout + extended.stderr

    # Once verifiers have the new key: the old one leaves the file, and disclosure restarts.
    key_file.write_text((tmp_path / "new.key").read_text())
    await deployment.restart("disclosure")
    await wait_ready(deployment)
    assert await served_key(deployment) == f"{new_verifier}\n"

    third, after = await published_and_signed(deployment, directory)
    assert len(signature_lines(after)) == 1
    (tmp_path / "after.note").write_text(after)
    checked = fetch(deployment, third, new_pub)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    stale = fetch(deployment, third, old_pub)  # a verifier that never took the new key
    assert stale.returncode == 1
    assert "no signature by the key" in stale.stderr

    # A checkpoint signed by the old key alone is extended by one signed by the new key alone.
    proof = await consistency_proof(deployment, before, after, tmp_path / "proof.json")
    consistent = verify(
        "consistency",
        "--old", str(tmp_path / "before.note"), "--new", str(tmp_path / "after.note"),
        "--proof", str(proof), "--key", str(both_pub),
    )  # fmt: skip
    assert consistent.returncode == 0, consistent.stdout + consistent.stderr
    assert "extends the tree of size" in consistent.stdout


def test_disclosure_refuses_to_start_with_a_key_file_others_may_read(
    deployment: Deployment, tmp_path: Path
) -> None:
    assert deployment.log_key_file is not None
    readable = tmp_path / "disclosure-log.key"
    readable.write_bytes(deployment.log_key_file.read_bytes())
    readable.chmod(0o644)
    launch = deployment.launches["disclosure"]
    started = subprocess.run(
        launch.argv,
        env={
            **os.environ,
            **launch.env,
            "SUPERVISION_DISCLOSURE_HTTP_PORT": str(free_port()),
            "SUPERVISION_DISCLOSURE_LOG_KEY_FILE": str(readable),
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert started.returncode == 1, started.stdout + started.stderr
    assert "SUPERVISION_DISCLOSURE_LOG_KEY_FILE" in started.stderr
    assert f"{readable} has mode 0644" in started.stderr
    assert f"chmod 600 {readable}" in started.stderr
    assert "PRIVATE+KEY" not in started.stdout + started.stderr
