"""The benchmark's arithmetic and its table (bench/report.py): the benchmark itself takes minutes
on the real engines and is run by `make bench`, not by the test suite."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.report import (
    Measure,
    Results,
    at_least,
    at_most,
    markdown_table,
    overhead,
    percentile,
    share,
    text_table,
)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile(list(reversed(values)), 0.95) == 95
    assert percentile([7.0], 0.99) == 7
    assert math.isnan(percentile([], 0.5))


def test_targets_have_a_direction() -> None:
    assert at_least(1000).met(1000)
    assert not at_least(1000).met(999)
    assert at_least(1000).ratio(500) == 0.5
    assert at_most(100).met(100)
    assert not at_most(100).met(101)
    assert at_most(100).ratio(50) == 2.0  # twice as good as the bound
    assert not at_least(1).met(math.nan)


def test_shares_and_overhead() -> None:
    assert share(500, 1000) == 0.5
    assert math.isnan(share(1, 0))
    assert math.isclose(overhead(850, 1000), 0.15)
    assert overhead(1000, 1000) == 0
    assert math.isnan(overhead(1, 0))


def test_measures_say_met_or_missed() -> None:
    fast = Measure("system", "accept p99", 40.0, "ms", at_most(100))
    slow = Measure("system", "submissions made public", 300.0, "/s", at_least(1000))
    info = Measure("baseline", "gRPC echo", 3000.0, "calls/s")
    assert (fast.verdict, fast.ratio) == ("met", 2.5)
    assert (slow.verdict, slow.ratio) == ("MISSED", 0.3)
    assert (info.verdict, info.ratio) == ("", None)
    unknown = Measure("system", "accept p99", math.nan, "ms", at_most(100))
    assert unknown.verdict == "MISSED"


def test_tables_list_every_measure_with_its_target() -> None:
    measures = [
        Measure("system", "accept p99", 40.0, "ms", at_most(100)),
        Measure("system", "submissions made public", 300.0, "/s", at_least(1000), note="a|b"),
        Measure("tracing", "overhead", 0.2, "%", at_most(0.15)),
    ]
    text = text_table(measures).splitlines()
    assert text[0].split()[:2] == ["section", "measure"]
    assert "40.0 ms" in text[2]
    assert "≤ 100.0 ms" in text[2]
    assert "2.50 (met)" in text[2]
    assert "0.30 (MISSED)" in text[3]
    assert "20.0 %" in text[4]
    assert "≤ 15.0 %" in text[4]
    markdown = markdown_table(measures).splitlines()
    assert len(markdown) == 2 + len(measures)
    assert "a\\|b" in markdown[3]  # a pipe in a cell does not break the table


def test_results_are_written_as_markdown_and_json(tmp_path: Path) -> None:
    results = Results(
        machine={"cpu": "Test CPU", "cores (nproc)": "2"},
        command="python -m bench --quick",
        started="2025-01-01T00:00:00+00:00",
        settings={"sustained run": "8 s"},
        measures=[
            Measure("system", "accept p99", 40.0, "ms", at_most(100)),
            Measure("system", "made public", math.nan, "/s", at_least(1000)),
        ],
        notes=["shared machine"],
        appendix="## Profile\n\nThe exporter.\n",
    )
    json_path = results.write(tmp_path / "benchmarks.md")
    markdown = (tmp_path / "benchmarks.md").read_text()
    assert "| cpu | Test CPU |" in markdown
    assert "`python -m bench --quick`" in markdown
    assert "Missed: system / made public." in markdown
    assert "- shared machine" in markdown
    assert markdown.endswith("## Profile\n\nThe exporter.\n")
    written = json.loads(json_path.read_text())
    assert json_path.name == "benchmarks.json"
    assert written["measures"][0]["verdict"] == "met"
    assert written["measures"][0]["target"] == {"value": 100, "better": "lower"}
    assert written["measures"][1]["value"] is None  # NaN is not JSON
    assert written["measures"][1]["verdict"] == "MISSED"


def test_the_overload_run_counts_refusals_and_what_accepted_never_became_public() -> None:
    from bench.__main__ import overload_measures
    from bench.system import Load, Outcome

    outcome = Outcome(Load(seconds=10, rate=100, shedding=True), seconds=10.0)
    outcome.accepted = {"a": 1.0, "b": 2.0, "c": 3.0}
    outcome.public = {"a": 1.5, "b": 2.5}
    outcome.shed = 7
    measures = {m.name: m for m in overload_measures(outcome)}
    refused = measures["submissions refused (503 overloaded)"]
    assert refused.value == 0.7
    assert refused.note == "7 of 10"
    lost = measures["accepted and not made public"]
    assert lost.value == 1
    assert lost.verdict == "MISSED"
    assert measures["accept → public p99 (of those accepted)"].value == 0.5


def test_the_latency_targets_are_judged_on_the_paced_run_not_the_saturated_one() -> None:
    from bench.__main__ import paced_measures, system_measures
    from bench.system import Load, Outcome

    outcome = Outcome(Load(seconds=10, rate=40), seconds=10.0)
    outcome.accepted = {"a": 1.0, "b": 2.0, "c": 3.0}
    outcome.public = {"a": 1.5, "b": 2.5, "c": 6.5}
    paced = {m.name: m for m in paced_measures(outcome)}
    assert paced["accept → public p99"].value == 3.5
    assert paced["accept → public p99"].verdict == "MISSED"
    assert paced["accepted and not made public"].verdict == "met"
    saturated = {m.name: m for m in system_measures(outcome, None)}
    assert saturated["accept → public p99"].target is None
    assert saturated["accept p99"].target is None
