"""Sources that may not answer, and the terminal that says so."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import grpc
from rich.console import Console

console = Console()
err = Console(stderr=True)


@dataclass(frozen=True)
class Unavailable:
    """A source that did not answer, and how it failed."""

    source: str
    error: str

    def __str__(self) -> str:
        return f"{self.source} unreachable: {self.error}"


T = TypeVar("T")


def describe(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details() or ''}"[:160]
    name = type(error).__name__
    text = " ".join(str(error).split()).removeprefix(f"{name}:").strip()
    return f"{name}: {text}"[:160] if text else name


async def ask(source: str, question: Awaitable[T], within: float) -> T | Unavailable:
    try:
        async with asyncio.timeout(within):
            return await question
    except TimeoutError:
        return Unavailable(source, f"no answer within {within:g} s")
    except Exception as error:
        return Unavailable(source, describe(error))
