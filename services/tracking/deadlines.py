"""Reply deadlines: which rule applies to a critique, and the due date it gives. Pure, no I/O.

The law sets no number of days for the written reply to a social criticism or a supervision
recommendation (DOMAIN.md, "Deadlines"): 30 calendar days is our default, configurable per kind
and per kind and level (:class:`DeadlinePolicy`).

How a period is counted (Civil Code 2015, Bộ luật Dân sự 2015):

* art. 147(1): when a period is counted in days, it starts on the day after the event, so the
  day of receipt (in Vietnam time, Asia/Ho_Chi_Minh) is never counted;
* calendar days: the due date is the receipt day plus ``days``; art. 148(5)-(6): when the last
  day of a period is a weekly rest day or a public holiday, the period ends at the end of the
  next working day, so the due date rolls over to the next working day;
* working days: the due date is the ``days``-th working day after the receipt day, passing over
  Saturdays, Sundays and public holidays.

Public holidays, including the lunar ones (Tết Nguyên Đán, Giỗ Tổ Hùng Vương) and the
days off in lieu and working-day swaps the government announces, come from the maintained
``holidays`` library (Labor Code 2019 art. 112). A yearly break the library does not know yet can
be injected with ``WorkingCalendar(extra_days_off=..., extra_working_days=...)``. The only
"I/O" is the library reading its own bundled translation files when a year is first loaded; the
years are cached for the process.

Every :class:`DueDate` carries the rule, where the rule came from, the start day, each day off
that moved the result, and a bilingual explanation (Vietnamese first), so that anyone can check it.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.events import Counting, CritiqueKind, DueDateRule, Level, SkippedDay
from contracts.vocabulary import KIND, LEVEL, VIETNAM


class Rule(BaseModel):
    """``days`` days after receipt, counted as calendar or working days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: int = Field(ge=1, le=365)
    counting: Counting


def _kind_source(kind: CritiqueKind) -> str:
    return f"kind {kind.value}"


def _kind_and_level_source(kind: CritiqueKind, level: Level) -> str:
    return f"{kind.value} at {level.value} level"


DEFAULT_SOURCE: Final = "default"

# The rule sources ``rule_for`` names, in Vietnamese and English, for explanations.
_SOURCE_LABELS: Final[Mapping[str, tuple[str, str]]] = {
    DEFAULT_SOURCE: ("quy định mặc định", "default rule"),
    **{
        _kind_source(kind): (f"quy định cho {KIND[kind].vi_inline}", f"rule for {kind.value}")
        for kind in CritiqueKind
    },
    **{
        _kind_and_level_source(kind, level): (
            f"quy định cho {KIND[kind].vi_inline} {LEVEL[level].vi_inline}",
            f"rule for {kind.value} at {level.value} level",
        )
        for kind in CritiqueKind
        for level in Level
    },
}


def _parse_kind_and_level(key: str) -> tuple[CritiqueKind, Level]:
    kind_text, slash, level_text = key.partition("/")
    if not slash or "/" in level_text:
        raise ValueError(f"{key!r}: expected a key 'kind/level', e.g. 'social_criticism/commune'")
    try:
        kind = CritiqueKind(kind_text)
    except ValueError:
        known = ", ".join(k.value for k in CritiqueKind)
        raise ValueError(f"{key!r}: unknown kind {kind_text!r}, expected one of {known}") from None
    try:
        level = Level(level_text)
    except ValueError:
        known = ", ".join(lv.value for lv in Level)
        raise ValueError(
            f"{key!r}: unknown level {level_text!r}, expected one of {known}"
        ) from None
    return kind, level


class DeadlinePolicy(BaseModel):
    """Which reply rule applies: per kind and level, else per kind, else the default.

    Loadable from JSON, e.g. ``{"default": {"days": 30, "counting": "calendar"},
    "by_kind_and_level": {"supervision_recommendation/commune": {"days": 15, "counting":
    "working"}}}``; unknown kinds, levels or fields are refused.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: Rule = Rule(days=30, counting=Counting.CALENDAR)
    by_kind: dict[CritiqueKind, Rule] = Field(default_factory=dict)
    by_kind_and_level: dict[str, Rule] = Field(
        default_factory=dict, description="Keyed 'kind/level', e.g. 'social_criticism/commune'."
    )

    @field_validator("by_kind_and_level")
    @classmethod
    def _known_kinds_and_levels(cls, rules: dict[str, Rule]) -> dict[str, Rule]:
        for key in rules:
            _parse_kind_and_level(key)
        return rules

    def rule_for(self, kind: CritiqueKind, level: Level) -> tuple[Rule, str]:
        """The most specific rule for ``kind`` at ``level``, and where it came from."""
        if rule := self.by_kind_and_level.get(f"{kind.value}/{level.value}"):
            return rule, _kind_and_level_source(kind, level)
        if rule := self.by_kind.get(kind):
            return rule, _kind_source(kind)
        return self.default, DEFAULT_SOURCE


@dataclass(frozen=True)
class _Year:
    names: Mapping[date, tuple[str, str]]
    """Public holidays and days off in lieu of the year, named in Vietnamese and English."""
    weekend_workdays: frozenset[date]
    """Saturdays and Sundays of the year made working days in exchange for a day off."""


@functools.cache
def _library_year(year: int) -> _Year:
    """One year of Vietnamese public holidays from the ``holidays`` library, cached for the
    process (the values are immutable, so a duplicate load by two threads is harmless)."""
    vi = holidays.country_holidays("VN", years=year, language="vi")
    en = holidays.country_holidays("VN", years=year, language="en_US")
    return _Year(
        names={day: (str(vi[day]), str(en.get(day, vi[day]))) for day in vi},
        weekend_workdays=frozenset(d for d in vi.weekend_workdays if d.year == year),
    )


def load_calendar(now: datetime) -> None:
    """Load the holidays of ``now``'s year in Vietnam and of the next (a due date can fall in
    it) ahead of the first case: the ``holidays`` library takes up to seconds of CPU to build
    them, which the first event otherwise waited for. Other years still load on first use."""
    year = now.astimezone(VIETNAM).year
    for wanted in (year, year + 1):
        _library_year(wanted)


_WEEKEND: Final[Mapping[int, tuple[str, str]]] = {
    5: ("Thứ Bảy", "Saturday"),
    6: ("Chủ nhật", "Sunday"),
}


class WorkingCalendar:
    """Vietnamese working days: Monday to Friday, minus public holidays and days off in lieu
    (``holidays`` library, loaded per year on first use), plus the government's working-day swaps.

    ``extra_days_off`` adds official days off the library does not know (their reason is shown as
    given, ideally "Vietnamese / English"); ``extra_working_days`` makes days working days, e.g. a
    Saturday worked in exchange for a longer break.
    """

    def __init__(
        self,
        *,
        extra_days_off: Mapping[date, str] | None = None,
        extra_working_days: Collection[date] = (),
    ) -> None:
        self._extra_days_off = dict(extra_days_off or {})
        self._extra_working_days = frozenset(extra_working_days)
        if both := sorted(self._extra_working_days & self._extra_days_off.keys()):
            raise ValueError(
                "a day cannot be both an extra day off and an extra working day: "
                + ", ".join(d.isoformat() for d in both)
            )

    def names(self, day: date) -> tuple[str, str] | None:
        """Why ``day`` is not a working day, in Vietnamese and English; None on a working day."""
        if day in self._extra_working_days:
            return None
        if day in self._extra_days_off:
            reason = self._extra_days_off[day]
            return reason, reason
        year = _library_year(day.year)
        if names := year.names.get(day):
            return names
        if day in year.weekend_workdays:
            return None
        return _WEEKEND.get(day.weekday())

    def reason(self, day: date) -> str | None:
        """Why ``day`` is not a working day ("Vietnamese / English"); None on a working day."""
        names = self.names(day)
        return None if names is None else _bilingual(names)

    def is_working_day(self, day: date) -> bool:
        return self.names(day) is None


class DueDate(BaseModel):
    """A due date and how it was computed."""

    model_config = ConfigDict(frozen=True)

    due_date: date
    start: date
    """The day of receipt, Vietnam time; counting starts the day after."""
    rule: Rule
    source: str
    """Which rule of the policy applied, as named by :meth:`DeadlinePolicy.rule_for`."""
    skipped: tuple[SkippedDay, ...]
    """The days off that moved the due date: passed over (working days) or rolled over (calendar
    days)."""
    explanation: str

    @property
    def rule_record(self) -> DueDateRule:
        """How it was computed, as the events and the agency API carry it."""
        return DueDateRule(
            days=self.rule.days,
            counting=self.rule.counting.value,
            start=self.start,
            explanation=self.explanation,
            source=self.source,
            skipped=self.skipped,
        )


def compute_due(
    received_at: datetime,
    rule: Rule,
    *,
    source: str,
    calendar: WorkingCalendar | None = None,
) -> DueDate:
    """The due date for a critique received at ``received_at`` (timezone-aware) under ``rule``."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    calendar = calendar or WorkingCalendar()
    start = received_at.astimezone(VIETNAM).date()
    passed: list[tuple[date, tuple[str, str]]] = []

    if rule.counting is Counting.CALENDAR:
        last_day = due = start + timedelta(days=rule.days)
        while (names := calendar.names(due)) is not None:
            passed.append((due, names))
            due += timedelta(days=1)
    else:
        last_day = due = start
        counted = 0
        while counted < rule.days:
            due += timedelta(days=1)
            if (names := calendar.names(due)) is None:
                counted += 1
            else:
                passed.append((due, names))

    return DueDate(
        due_date=due,
        start=start,
        rule=rule,
        source=source,
        skipped=tuple(SkippedDay(day=day, reason=_bilingual(names)) for day, names in passed),
        explanation=_explain(rule, source, start, last_day, due, passed),
    )


def _bilingual(names: tuple[str, str]) -> str:
    vi, en = names
    return vi if vi == en else f"{vi} / {en}"


def _day_word(days: int) -> str:
    return "day" if days == 1 else "days"


def _explain(
    rule: Rule,
    source: str,
    start: date,
    last_day: date,
    due: date,
    passed: list[tuple[date, tuple[str, str]]],
) -> str:
    source_vi, source_en = _SOURCE_LABELS.get(source, (source, source))
    days_vi = ", ".join(f"{day:%d/%m/%Y} {vi}" for day, (vi, _) in passed)
    days_en = ", ".join(f"{day.isoformat()} {en}" for day, (_, en) in passed)
    if rule.counting is Counting.CALENDAR:
        vi = (
            f"{rule.days} ngày theo lịch kể từ ngày nhận {start:%d/%m/%Y} ({source_vi}),"
            " tính từ ngày hôm sau"
        )
        en = (
            f"{rule.days} calendar {_day_word(rule.days)} from receipt on {start.isoformat()}"
            f" ({source_en}),"
            " counted from the next day"
        )
        if passed:
            vi += (
                f"; ngày cuối {last_day:%d/%m/%Y} là ngày nghỉ nên hạn chuyển sang ngày làm việc"
                f" tiếp theo {due:%d/%m/%Y} (ngày nghỉ: {days_vi})"
            )
            en += (
                f"; the last day, {last_day.isoformat()}, is a day off, so the deadline moves to"
                f" the next working day, {due.isoformat()} (days off: {days_en})"
            )
        else:
            vi += f": hạn {due:%d/%m/%Y}"
            en += f": due {due.isoformat()}"
    else:
        vi = (
            f"{rule.days} ngày làm việc kể từ ngày nhận {start:%d/%m/%Y} ({source_vi}),"
            " tính từ ngày hôm sau"
        )
        en = (
            f"{rule.days} working {_day_word(rule.days)} from receipt on {start.isoformat()}"
            f" ({source_en}),"
            " counted from the next day"
        )
        if passed:
            vi += f", không tính ngày nghỉ ({days_vi})"
            en += f", not counting days off ({days_en})"
        vi += f": hạn {due:%d/%m/%Y}"
        en += f": due {due.isoformat()}"
    return f"{vi} / {en}"
