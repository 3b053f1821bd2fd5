"""How ``supervision critique`` shows critiques, agencies and errors (rich renderables).

Labels put the Vietnamese term first, as the officers' own documents do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import typer
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from contracts.events import Disposition
from contracts.lifecycle import RequestKind, RequestStatus
from contracts.problems import FieldViolation
from contracts.submission_api import (
    AgencyOut,
    AttachmentOut,
    ChangeRequestOut,
    CritiqueOut,
    CritiqueStatus,
    ExtensionOut,
    HistoryOut,
    OrganisationOut,
)
from contracts.vocabulary import (
    DISPOSITION,
    EXTENSION_STATUS,
    HISTORY_STEP,
    KIND,
    REFUSAL_REASON,
    REQUEST_KIND,
    REQUEST_STATUS,
)
from services.submission.client import ApiError

out = Console()
err = Console(stderr=True)

DISPOSITION_STYLES = {
    Disposition.ACCEPTED: "green",
    Disposition.PARTLY_ACCEPTED: "yellow",
    Disposition.NOT_ACCEPTED: "red",
}
_STATUS_STYLES = {
    CritiqueStatus.SUBMITTED: "cyan",
    CritiqueStatus.AWAITING_REPLY: "yellow",
    CritiqueStatus.ACKNOWLEDGED: "blue",
    CritiqueStatus.ANSWERED: "green",
    CritiqueStatus.WITHDRAWN: "dim",
}


def when(moment: datetime | date | None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, datetime):
        return moment.astimezone().strftime("%Y-%m-%d %H:%M")
    return moment.isoformat()


def size(count: int) -> str:
    return f"{count} B" if count < 1024 else f"{count / 1024:.1f} KiB"


def status(critique: CritiqueOut) -> Text:
    return Text(critique.status_label, style=_STATUS_STYLES.get(critique.status, ""))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Says what went wrong; raise the result to end the command with ``code``."""
    err.print(Text.assemble(("Error: ", "bold red"), message))
    return typer.Exit(code)


def print_problem(console: Console, error: ApiError) -> None:
    print_violations(console, f"{error.title} (HTTP {error.status})", error.detail, error.errors)
    if error.retry_after is not None:
        console.print(Text(f"Retry in {error.retry_after:.0f} s.", style="red"))


def print_violations(
    console: Console, title: str, detail: str | None, errors: Sequence[FieldViolation]
) -> None:
    console.print(Text(f"Error: {title}", style="bold red"))
    # The API's detail often just joins the violations listed below.
    if detail and detail != "; ".join(f"{v.field}: {v.message}" for v in errors):
        console.print(Text(detail, style="red"))
    for violation in errors:
        console.print(Text(f"  • {violation.field}: {violation.message}", style="red"))


def agencies_table(agencies: Sequence[AgencyOut], *, numbered: bool = False) -> Table:
    table = Table(title="Cơ quan / Agencies")
    if numbered:
        table.add_column("#", justify="right")
    for column in ("id", "name", "level", "kind"):
        table.add_column(column)
    for number, agency in enumerate(agencies, start=1):
        row = [agency.id, agency.name, agency.level.value, agency.kind]
        table.add_row(*([str(number)] if numbered else []), *row)
    return table


def critiques_table(
    critiques: Iterable[CritiqueOut], agency_names: Mapping[str, str], *, full_ids: bool
) -> Table:
    table = Table(title="Văn bản đã gửi / Critiques")
    table.add_column("id", no_wrap=True)
    table.add_column("title", max_width=48, no_wrap=True, overflow="ellipsis")
    table.add_column("agency", max_width=32, no_wrap=True, overflow="ellipsis")
    table.add_column("status")
    table.add_column("due", no_wrap=True)
    table.add_column("submitted", no_wrap=True)
    for critique in critiques:
        table.add_row(
            str(critique.id) if full_ids else str(critique.id)[:8],
            critique.title,
            agency_names.get(critique.agency_id, critique.agency_id),
            status(critique),
            when(critique.due_date),
            when(critique.submitted_at),
        )
    return table


def _facts(critique: CritiqueOut, agency_name: str) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    answered = when(critique.answered_at)
    if critique.answered_late is not None:
        answered += " (late / quá hạn)" if critique.answered_late else " (on time / đúng hạn)"
    facts: list[tuple[str, str | Text]] = [
        ("Id", str(critique.id)),
        ("Kind", str(KIND[critique.kind])),
        ("Agency", f"{agency_name} ({critique.agency_id})"),
        ("Status", status(critique)),
        ("Version", str(critique.version)),
        ("Submitted", when(critique.submitted_at)),
        (
            "Due",
            when(critique.due_date) if critique.due_date else "— (once the agency's case opens)",
        ),
    ]
    if critique.draft:
        draft = critique.draft
        facts.append(
            (
                "Draft",
                ", ".join(v for v in (draft.title, draft.drafting_agency, draft.version) if v),
            )
        )
        if draft.url:
            facts.append(("Draft link", draft.url))
    if critique.legal_basis:
        facts.append(("Legal basis", critique.legal_basis))
    facts += [
        (label, when(moment))
        for label, moment in (
            ("Acknowledged", critique.acknowledged_at),
            ("Withdrawn", critique.withdrawn_at),
        )
        if moment
    ]
    if critique.answered_at:
        facts.append(("Answered", answered))
    for label, value in facts:
        grid.add_row(label, value)
    return grid


def _points(critique: CritiqueOut) -> Table:
    answers = {answer.point_number: answer for answer in critique.answers}
    cited = {c.point_number: c.parts for c in critique.cited}
    table = Table(title="Các điểm / Points", expand=True)
    table.add_column("#", justify="right")
    table.add_column("point", ratio=3)
    if answers:
        table.add_column("answer / trả lời", ratio=2)
    for point in critique.points:
        text = Text(point.text)
        if point.citation:
            text.append(f"\n{point.citation}", style="dim")
        for part in cited.get(point.number, ()):
            text.append(f"\n{part.citation}: ", style="bold dim")
            text.append(part.text, style="dim")
        row: list[RenderableType] = [str(point.number), text]
        if answers:
            answer = answers.get(point.number)
            if answer is None:
                row.append(Text("—", style="dim"))
            else:
                text = Text(
                    str(DISPOSITION[answer.disposition]),
                    style=DISPOSITION_STYLES[answer.disposition],
                )
                if answer.explanation:
                    text.append(f"\n{answer.explanation}", style="")
                row.append(text)
        table.add_row(*row)
    return table


def attachments_table(attachments: Sequence[AttachmentOut]) -> Table:
    table = Table(title="Tệp đính kèm / Attachments")
    for column in ("id", "file", "size", "added", "sha256"):
        table.add_column(column, no_wrap=column != "file")
    for attachment in attachments:
        table.add_row(
            str(attachment.id)[:8],
            attachment.filename,
            size(attachment.size),
            when(attachment.added_at),
            attachment.sha256[:16] + "…",
        )
    return table


def summary(critique: CritiqueOut, agency_name: str) -> Panel:
    return Panel(_facts(critique, agency_name), title=Text(critique.title, style="bold"))


def detail(critique: CritiqueOut, agency_name: str, attachments: Sequence[AttachmentOut]) -> Group:
    parts: list[RenderableType] = [summary(critique, agency_name), _points(critique)]
    if critique.pending_requests:
        parts.append(requests_table(critique.pending_requests))
    if attachments:
        parts.append(attachments_table(attachments))
    return Group(*parts)


_REQUEST_STYLES = {
    RequestStatus.PENDING: "yellow",
    RequestStatus.ACCEPTED: "green",
    RequestStatus.REFUSED: "red",
}


def request_line(request: ChangeRequestOut) -> str:
    """E.g. "Sửa đổi / Amendment: Bị từ chối / Refused — Cơ quan đã tiếp nhận / …"."""
    line = f"{REQUEST_KIND[request.kind]}: {REQUEST_STATUS[request.status]}"
    if request.refusal is not None:
        line += f" — {request.refusal.detail or REFUSAL_REASON[request.refusal.reason]}"
    elif request.status is RequestStatus.ACCEPTED and request.kind is RequestKind.AMENDMENT:
        line += f" — version {request.version}"
    return line


def requests_table(requests: Sequence[ChangeRequestOut]) -> Table:
    table = Table(title="Đề nghị / Requests")
    for column in ("id", "requested", "kind", "status", "decided", "outcome"):
        table.add_column(column, no_wrap=column in {"id", "requested", "decided"})
    for request in requests:
        outcome = ""
        if request.refusal is not None:
            outcome = request.refusal.detail or str(REFUSAL_REASON[request.refusal.reason])
        elif request.version is not None:
            outcome = f"version {request.version}"
        table.add_row(
            str(request.id)[:8],
            when(request.requested_at),
            str(REQUEST_KIND[request.kind]),
            Text(str(REQUEST_STATUS[request.status]), style=_REQUEST_STYLES[request.status]),
            when(request.decided_at),
            outcome,
        )
    return table


def extensions_table(extensions: Sequence[ExtensionOut]) -> Table:
    table = Table(title="Gia hạn / Extensions")
    for column in ("id", "requested", "until", "status", "reason", "note"):
        table.add_column(column, no_wrap=column in {"id", "requested", "until"})
    for extension in extensions:
        status = str(EXTENSION_STATUS[extension.status])
        if extension.decision_request is not None:
            status += " (decision sent / đã gửi quyết định)"
        table.add_row(
            str(extension.id)[:8],
            when(extension.requested_at),
            when(extension.requested_due_date),
            status,
            extension.reason,
            extension.note,
        )
    return table


def _history_detail(step: str, found: dict[str, Any]) -> str:
    if step in {"amendment_refused", "withdrawal_refused", "extension_decision_refused"}:
        return str(found.get("detail") or found.get("reason") or "")
    if step == "extension_decision_requested":
        return "grant / chấp thuận" if found.get("grant") else "refuse / từ chối"
    if step in {"amended", "amendment_requested"}:
        content = found.get("content", {})
        return f"{content.get('title', '')} ({len(content.get('points', []))} points)"
    if step in {"withdrawn", "withdrawal_requested"}:
        return found.get("reason") or "—"
    if step == "attachment_added":
        return str(found.get("filename", ""))
    if step == "case_opened":
        return f"due {found.get('due_date')}: {found.get('due_rule', '')}"
    if step == "answered":
        return "late / quá hạn" if found.get("late") else "on time / đúng hạn"
    return ""


def history_table(entries: Sequence[HistoryOut]) -> Table:
    table = Table(title="Lịch sử / History")
    table.add_column("at", no_wrap=True)
    table.add_column("step")
    table.add_column("version", justify="right")
    table.add_column("detail")
    for entry in entries:
        table.add_row(
            when(entry.at),
            str(HISTORY_STEP[entry.step]),
            str(entry.version),
            _history_detail(entry.step, entry.detail),
        )
    return table


def organisation(found: OrganisationOut, api_url: str) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in (
        ("Id", found.id),
        ("Level", found.level.value),
        ("Kind", found.kind.value),
        ("Parent", found.parent_id or "—"),
        ("API", api_url),
    ):
        grid.add_row(label, value)
    return Panel(grid, title=Text(found.name, style="bold"))
