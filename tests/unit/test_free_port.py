"""The tests' ports for the processes they start are never ones an outgoing connection could take
in the meantime, and never handed out twice."""

from __future__ import annotations

import socket

import pytest

from tests.support import engines
from tests.support.engines import _EPHEMERAL, free_port


def test_ports_are_below_the_ephemeral_range_distinct_and_free() -> None:
    low, high = _EPHEMERAL
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert not [port for port in ports if low <= port <= high]
    for port in ports[:20]:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", port))


def test_a_port_a_listener_holds_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    held_port, next_port = 20001, 20002
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", held_port))
        held.listen()
        offered = iter([held_port, next_port])
        monkeypatch.setattr(engines, "_HANDED_OUT", set())
        monkeypatch.setattr(engines._PORTS, "randint", lambda low, high: next(offered))
        assert free_port() == next_port
