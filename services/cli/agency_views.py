"""How cases look in the terminal: tables, details and change lines for `supervision agency`."""

from __future__ import annotations

from datetime import UTC

from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from contracts.agency_api import CHANGES, DISPOSITIONS, EXTENSION_STATUSES, KINDS, inverse
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.lifecycle import CaseStatus
from contracts.vocabulary import (
    CASE_CHANGE,
    CASE_STATUS,
    COUNTING,
    DISPOSITION,
    EXTENSION_STATUS,
    KIND,
    label_of,
)
from services.cli import critique_views as views

_STATUSES = {
    wire: (str(CASE_STATUS[status]), style)
    for status, wire, style in (
        (CaseStatus.AWAITING_ANSWER, pb.CASE_STATUS_AWAITING_ANSWER, "yellow"),
        (CaseStatus.ACKNOWLEDGED, pb.CASE_STATUS_ACKNOWLEDGED, "blue"),
        (CaseStatus.ANSWERED, pb.CASE_STATUS_ANSWERED, "green"),
        (CaseStatus.WITHDRAWN, pb.CASE_STATUS_WITHDRAWN, "dim"),
    )
}
ANSWERABLE = (pb.CASE_STATUS_AWAITING_ANSWER, pb.CASE_STATUS_ACKNOWLEDGED)
ENDED = {pb.CASE_STATUS_ANSWERED: "answered", pb.CASE_STATUS_WITHDRAWN: "withdrawn"}
_CHANGES = {wire: str(CASE_CHANGE[change]) for change, wire in CHANGES.items()}
_DISPOSITIONS = {
    wire: (str(DISPOSITION[disposition]), views.DISPOSITION_STYLES[disposition])
    for disposition, wire in DISPOSITIONS.items()
}
_EXTENSIONS = {wire: str(EXTENSION_STATUS[status]) for status, wire in EXTENSION_STATUSES.items()}
_KINDS = inverse(KINDS)


# ── how cases look ───────────────────────────────────────────────────────────────────────────


def moment(stamp: Timestamp) -> str:
    return views.when(stamp.ToDatetime(tzinfo=UTC)) if stamp.seconds or stamp.nanos else "—"


def status(case: pb.Case) -> Text:
    label, style = _STATUSES.get(case.status, (str(case.status), ""))
    return Text(label, style=style)


def due(case: pb.Case) -> Text:
    text = Text(case.due_date or "—")
    if case.overdue:
        text.append(" (quá hạn / overdue)", style="bold red")
    return text


def cases_table(cases: list[pb.Case]) -> Table:
    table = Table(title="Hồ sơ / Cases")
    table.add_column("id", no_wrap=True)
    table.add_column("title", max_width=48, no_wrap=True, overflow="ellipsis")
    table.add_column("organisation", max_width=32, no_wrap=True, overflow="ellipsis")
    table.add_column("status")
    table.add_column("due", no_wrap=True)
    table.add_column("overdue")
    for case in cases:
        table.add_row(
            case.case_id[:8],
            case.title,
            case.organisation_name or case.organisation_id,
            status(case),
            case.due_date,
            Text("quá hạn / overdue", style="bold red") if case.overdue else "",
        )
    return table


def facts(case: pb.Case) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    kind = _KINDS.get(case.kind)
    rule = case.due_rule
    counting = str(label_of(COUNTING, rule.counting))
    rows: list[tuple[str, str | Text]] = [
        ("Case", case.case_id),
        ("Critique", case.critique_id),
        ("Kind", str(KIND[kind]) if kind else str(case.kind)),
        ("Organisation", f"{case.organisation_name} ({case.organisation_id})"),
        ("Status", status(case)),
        ("Version", str(case.version)),
        ("Opened", moment(case.opened_at)),
        ("Acknowledged", moment(case.acknowledged_at)),
        ("Due", due(case)),
        ("Computed", f"{rule.days} {counting} after {rule.start} (receipt); rule: {rule.source}"),
        ("", Text(rule.explanation, style="dim")),
    ]
    if case.HasField("answered_at"):
        late = " (late / quá hạn)" if case.answered_late else " (on time / đúng hạn)"
        rows.append(("Answered", moment(case.answered_at) + late))
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def points_table(case: pb.Case) -> Table:
    answers = {a.point_number: a for a in case.answers}
    table = Table(title="Các điểm / Points", expand=True)
    table.add_column("#", justify="right")
    table.add_column("point", ratio=3)
    if answers:
        table.add_column("answer / trả lời", ratio=2)
    for point in case.points:
        text = Text(point.text)
        if point.citation:
            text.append(f"\n{point.citation}", style="dim")
        row: list[RenderableType] = [str(point.number), text]
        if point.number in answers:
            answer = answers[point.number]
            label, style = _DISPOSITIONS.get(answer.disposition, ("?", ""))
            row.append(Text(label, style=style).append(f"\n{answer.explanation}".rstrip(), ""))
        elif answers:
            row.append(Text("—", style="dim"))
        table.add_row(*row)
    return table


def detail(case: pb.Case) -> Group:
    parts: list[RenderableType] = [
        Panel(facts(case), title=Text(case.title, style="bold")),
        points_table(case),
    ]
    if case.due_rule.skipped:
        skipped = Table(title="Ngày không tính / Days not counted")
        skipped.add_column("day", no_wrap=True)
        skipped.add_column("reason")
        for day in case.due_rule.skipped:
            skipped.add_row(day.day, day.reason)
        parts.append(skipped)
    if case.extensions:
        extensions = Table(title="Gia hạn / Extensions")
        for column in ("requested", "until", "status", "reason", "decision"):
            extensions.add_column(column)
        for e in case.extensions:
            status = _EXTENSIONS.get(e.status, str(e.status))
            row = (moment(e.requested_at), e.requested_due_date, status, e.reason)
            extensions.add_row(*row, e.decision_note)
        parts.append(extensions)
    history = Table(title="Lịch sử / History")
    for column in ("at", "change", "detail"):
        history.add_column(column, no_wrap=column == "at")
    for entry in case.history:
        history.add_row(moment(entry.at), _CHANGES.get(entry.change, "?"), entry.detail)
    parts.append(history)
    return Group(*parts)


def change_line(change: pb.CaseChange) -> Text:
    case = change.case
    return Text.assemble(
        (moment(change.at), "dim"),
        "  ",
        (f"{_CHANGES.get(change.change, '?'):<44}", "bold"),
        f"{case.case_id[:8]}  {case.title}  — due {case.due_date}  ",
        status(case),
        (f"  cursor {change.cursor}", "dim"),
    )


# ── commands ─────────────────────────────────────────────────────────────────────────────────
