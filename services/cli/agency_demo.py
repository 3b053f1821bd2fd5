"""The demo agency of `make run`: acknowledges and answers its agency's cases."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from services.cli.agency_views import ANSWERABLE, ENDED
from services.cli.critique_views import fail
from services.tracking.agency_client import AgencyApiError, AgencyClient, Answer, Disposition

TOKEN_WAIT_SECONDS = 120.0
log = logging.getLogger("supervision.agency")


PARTLY_EXPLANATION = (
    "Cơ quan trân trọng cảm ơn ý kiến phản biện của Ủy ban Mặt trận Tổ quốc. Nội dung này được"
    " tiếp thu một phần: những đề xuất phù hợp với quy định hiện hành sẽ được chỉnh lý trong dự"
    " thảo tiếp theo; phần còn lại, cơ quan xin được giải trình cụ thể tại buổi đối thoại."
)
ACCEPTED_EXPLANATION = "Cơ quan tiếp thu và sẽ chỉnh lý dự thảo theo ý kiến này."


def demo_answers(points: list[pb.Point]) -> list[Answer]:
    """Every point accepted except the last, partly accepted with a polite explanation."""
    numbers = sorted(p.number for p in points)
    return [
        Answer(n, Disposition.ACCEPTED, ACCEPTED_EXPLANATION)
        if n != numbers[-1]
        else Answer(n, Disposition.PARTLY_ACCEPTED, PARTLY_EXPLANATION)
        for n in numbers
    ]


class DemoAgency:
    """Acknowledges each new case at once and answers it ``answer_after`` seconds later."""

    def __init__(self, api: AgencyClient, answer_after: float) -> None:
        self.api = api
        self.answer_after = answer_after
        self.seen: set[str] = set()
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        cursor, started = None, asyncio.get_running_loop().time()
        log.info("demo agency: watching the cases of this token's agency at %s", self.api.address)
        try:
            while True:
                try:
                    async for change in self.api.watch(cursor=cursor, from_beginning=not cursor):
                        cursor = change.cursor
                        self.on_change(change)
                except AgencyApiError as refused:
                    # Before `supervision admin demo` (re)issued the token, it is not known yet.
                    waited = asyncio.get_running_loop().time() - started
                    if (
                        refused.code != grpc.StatusCode.UNAUTHENTICATED
                        or waited > TOKEN_WAIT_SECONDS
                    ):
                        raise
                    log.info("token not accepted (yet); trying again in 5 s")
                    await asyncio.sleep(5)
        finally:
            for task in list(self.tasks.values()):
                task.cancel()

    def on_change(self, change: pb.CaseChange) -> None:
        case = change.case
        title = case.title if len(case.title) <= 60 else case.title[:59] + "…"
        name = f"{case.case_id[:8]} “{title}”"
        if change.change == pb.CHANGE_KIND_WITHDRAWN and case.case_id in self.tasks:
            self.tasks.pop(case.case_id).cancel()
            log.info("withdrawn by the organisation: %s", name)
        if case.case_id in self.seen:
            return
        self.seen.add(case.case_id)
        if case.status not in ANSWERABLE:
            log.info("skipped %s: already %s", name, ENDED.get(case.status, "closed"))
            return
        log.info(
            "new case %s (critique %s) from %s, %d points, due %s",
            name,
            case.critique_id[:8],
            case.organisation_name or case.organisation_id,
            len(case.points),
            case.due_date,
        )
        task = asyncio.create_task(self.handle(case, name))
        self.tasks[case.case_id] = task
        task.add_done_callback(lambda _: self._done(case.case_id, name, task))

    def _done(self, case_id: str, name: str, task: asyncio.Task[None]) -> None:
        if self.tasks.get(case_id) is task:
            del self.tasks[case_id]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("could not handle %s: %r", name, error)

    async def handle(self, case: pb.Case, name: str) -> None:
        already = case.status == pb.CASE_STATUS_ACKNOWLEDGED
        if await self._persist(f"acknowledge {name}", self.api.acknowledge, case.case_id) is None:
            return
        log.info(
            "%s %s; answering in %g s",
            "already acknowledged" if already else "acknowledged",
            name,
            self.answer_after,
        )
        await asyncio.sleep(self.answer_after)
        current = await self._persist(f"read {name}", self.api.get_case, case.case_id)
        if current is None:
            return
        if current.status not in ANSWERABLE:
            log.info("skipped %s: %s meanwhile", name, ENDED.get(current.status, "closed"))
            return
        answers = demo_answers(list(current.points))
        # The same request id after a restart of the demo, too: the case is answered once.
        request_id = f"demo-{case.case_id}"
        done = await self._persist(
            f"answer {name}",
            self.api.answer,
            case.case_id,
            answers,
            version=current.version,
            request_id=request_id,
        )
        if done is not None:
            log.info(
                "answered %s: %d accepted, 1 partly accepted (%s)",
                name,
                len(answers) - 1,
                "late" if done.answered_late else "on time",
            )

    async def _persist(
        self, action: str, call: Callable[..., Awaitable[pb.Case]], *args: Any, **kwargs: Any
    ) -> pb.Case | None:
        """The call's result, tried again for as long as tracking is unreachable (the client
        itself only retries for a few seconds); None, having said why, if it is refused."""
        wait = 1.0
        while True:
            try:
                return await call(*args, **kwargs)
            except AgencyApiError as refused:
                if not refused.transient:
                    log.info("could not %s: %s", action, refused.message)
                    return None
                log.info("could not %s (%s); trying again in %.0f s", action, refused, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, 10.0)


async def demo_token(tokens_file: Path) -> str:
    """DEMO_AGENCY_TOKEN from the file `supervision admin demo` writes, once it is there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TOKEN_WAIT_SECONDS
    said = False
    while True:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = await asyncio.to_thread(tokens_file.read_text, encoding="utf-8")
            # Only whole lines: the file may be caught half written.
            for line in text.splitlines(keepends=True):
                key, _, value = line.partition("=")
                if key.strip() == "DEMO_AGENCY_TOKEN" and line.endswith("\n") and value.strip():
                    return value.strip()
        if loop.time() > deadline:
            raise fail(f"no DEMO_AGENCY_TOKEN in {tokens_file} after {TOKEN_WAIT_SECONDS:.0f} s")
        if not said:
            log.info("waiting for DEMO_AGENCY_TOKEN in %s (`supervision admin demo`)", tokens_file)
            said = True
        await asyncio.sleep(0.5)
