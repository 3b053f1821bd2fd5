"""The benchmark's figures: measures with their targets, percentiles, and the table and files
they are written to. Pure: no I/O but the writing of the two result files."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class Better(enum.StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class Target:
    """A bound the measure must reach: at least (HIGHER) or at most (LOWER) ``value``."""

    value: float
    better: Better

    def met(self, measured: float) -> bool:
        if math.isnan(measured):
            return False
        if self.better is Better.HIGHER:
            return measured >= self.value
        return measured <= self.value

    def ratio(self, measured: float) -> float:
        """How far the measure is from its bound, > 1 being better than the target."""
        if math.isnan(measured):
            return math.nan
        if self.better is Better.HIGHER:
            return measured / self.value if self.value else math.inf
        return self.value / measured if measured else math.inf

    def describe(self, unit: str) -> str:
        sign = "≥" if self.better is Better.HIGHER else "≤"
        return f"{sign} {format_value(self.value, unit)}"


def at_least(value: float) -> Target:
    return Target(value, Better.HIGHER)


def at_most(value: float) -> Target:
    return Target(value, Better.LOWER)


@dataclass(frozen=True)
class Measure:
    section: str
    name: str
    value: float
    unit: str
    target: Target | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "met" if self.target.met(self.value) else "MISSED"

    @property
    def ratio(self) -> float | None:
        return None if self.target is None else self.target.ratio(self.value)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in [0, 1]) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def share(part: float, whole: float) -> float:
    """``part / whole``, NaN when ``whole`` is 0 or unknown."""
    if not whole or math.isnan(whole) or math.isnan(part):
        return math.nan
    return part / whole


def overhead(with_it: float, without_it: float) -> float:
    """The share of throughput lost to something: 1 - with/without (0 when it costs nothing)."""
    return 1.0 - share(with_it, without_it)


def format_value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "%":
        return f"{value * 100:.1f} %"
    if unit == "x":
        return f"{value:.2f} x"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f} {unit}".strip()
    return f"{value:.2f} {unit}".strip()


def format_ratio(measure: Measure) -> str:
    ratio = measure.ratio
    if ratio is None:
        return ""
    if math.isnan(ratio):
        return f"n/a ({measure.verdict})"
    return f"{ratio:.2f} ({measure.verdict})"


HEADER = ("section", "measure", "value", "target", "ratio (verdict)")


def rows(measures: Sequence[Measure]) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            m.section,
            m.name + (f" ({m.note})" if m.note else ""),
            format_value(m.value, m.unit),
            m.target.describe(m.unit) if m.target else "",
            format_ratio(m),
        )
        for m in measures
    ]


def text_table(measures: Sequence[Measure]) -> str:
    table = [HEADER, *rows(measures)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(measures: Sequence[Measure]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join(
        [line(HEADER), line(["---"] * len(HEADER)), *(line(row) for row in rows(measures))]
    )


@dataclass
class Results:
    """One run of the benchmark: where and how it ran, and what it measured."""

    machine: dict[str, str]
    command: str
    started: str
    settings: dict[str, Any]
    measures: list[Measure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    appendix: str = ""
    """Markdown added at the end (the profile findings and fixes, kept with the code)."""

    def missed(self) -> list[Measure]:
        return [m for m in self.measures if m.verdict == "MISSED"]

    def to_json(self) -> dict[str, Any]:
        def measure(m: Measure) -> dict[str, Any]:
            found = asdict(m)
            found["target"] = None if m.target is None else asdict(m.target)
            found["verdict"] = m.verdict or None
            ratio = m.ratio
            found["ratio"] = None if ratio is None or math.isnan(ratio) else ratio
            if math.isnan(m.value):
                found["value"] = None
            return found

        return {
            "machine": self.machine,
            "command": self.command,
            "started": self.started,
            "settings": self.settings,
            "measures": [measure(m) for m in self.measures],
            "notes": self.notes,
        }

    def markdown(self) -> str:
        machine = "\n".join(f"| {key} | {value} |" for key, value in self.machine.items())
        settings = "\n".join(f"| {key} | `{value}` |" for key, value in self.settings.items())
        missed = self.missed()
        summary = (
            "Every target was met."
            if not missed
            else "Missed: " + "; ".join(f"{m.section} / {m.name}" for m in missed) + "."
        )
        notes = "\n".join(f"- {note}" for note in self.notes)
        return f"""# Benchmark results

Written by `make bench` (`python -m bench`) on {self.started}; the JSON next to this file holds
the same figures. Figures from another machine, or from a busy one, are not comparable: rerun.

Command: `{self.command}`

## Machine

| | |
|---|---|
{machine}

## Settings

| | |
|---|---|
{settings}

## Figures

{summary}

{markdown_table(self.measures)}

Ratio: the measure over its target (targets "at most": the target over the measure), so above 1
is better than the target.

## Notes

{notes}
""" + (f"\n{self.appendix.strip()}\n" if self.appendix.strip() else "")

    def write(self, markdown_path: Path) -> Path:
        """Write the Markdown to ``markdown_path`` and the JSON beside it; return the JSON's."""
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(self.markdown())
        json_path = markdown_path.with_suffix(".json")
        json_path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")
        return json_path
