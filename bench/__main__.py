"""``python -m bench``: the baselines, then the system, measured in one run on this machine; a
table on stdout, and the same figures in ``docs/benchmarks.md`` and ``docs/benchmarks.json``."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bench import baselines, machine, system
from bench.report import Measure, Results, at_least, at_most, overhead, share, text_table
from tests.support.engines import ROOT, start_engines

FINDINGS = Path(__file__).with_name("findings.md")
"""What profiling found and what was fixed: appended to the results."""

TARGETS = {
    "sustained": at_least(1000),
    "accept_p99_ms": at_most(250),
    "to_public_p99_s": at_most(2),
    "versus_bare": at_least(0.5),
    "answers": at_least(1000),
    "tracing_overhead": at_most(0.15),
    "rss_mb": at_most(200),
    "cpu_per_journey_ms": at_most(4),
    "round_trips_per_journey": at_most(15),
    "lost": at_most(0),
    "history_cpu_ratio": at_most(1.25),
}


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a few seconds per phase: development, smoke test"
    )
    parser.add_argument(
        "--seconds", type=float, help="the sustained system run (default 300; --quick 8)"
    )
    parser.add_argument(
        "--baseline-seconds", type=float, help="each baseline (default 20; --quick 3)"
    )
    parser.add_argument(
        "--compare-seconds",
        type=float,
        help="each of the two saturated runs, tracing on and off (default 60; --quick 6)",
    )
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="submissions offered per second (open loop)"
    )
    parser.add_argument(
        "--overload-seconds", type=float, help="the overload run (default 60; --quick 8)"
    )
    parser.add_argument(
        "--paced-seconds",
        type=float,
        help="the run at 80 %% of the sustained rate, for the latencies (default 60; --quick 8)",
    )
    parser.add_argument(
        "--paced-rate",
        type=float,
        help="submissions offered per second in the paced run (default: 80 %% of what the"
        " sustained run made public per second, or 40 without it)",
    )
    parser.add_argument(
        "--overload-rate",
        type=float,
        help="submissions offered per second in the overload run (default: twice what the"
        " sustained run made public per second, or 200 without it)",
    )
    parser.add_argument("--in-flight", type=int, default=128, help="concurrent HTTP clients")
    parser.add_argument("--organisations", type=int, default=4)
    parser.add_argument("--readers", type=int, default=2, help="concurrent public readers")
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        metavar="N",
        help="run the sustained phase again after preloading N critiques into the three"
        " databases (bench.history), and compare the CPU per journey with the empty run's",
    )
    parser.add_argument(
        "--only",
        choices=("baselines", "system", "paced", "overload", "tracing"),
        action="append",
        help="run only these phases (repeatable); the others are left out of the table",
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help="Markdown results"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; write no file")
    parser.add_argument(
        "--profile",
        type=Path,
        help="record each service with py-spy during the sustained run (collapsed stacks here)",
    )
    parser.add_argument(
        "--logs", type=Path, help="keep the tail of each service's log of each run here"
    )
    found = parser.parse_args(argv)
    found.seconds = found.seconds or (8.0 if found.quick else 300.0)
    found.baseline_seconds = found.baseline_seconds or (3.0 if found.quick else 20.0)
    found.compare_seconds = found.compare_seconds or (6.0 if found.quick else 60.0)
    found.overload_seconds = found.overload_seconds or (8.0 if found.quick else 60.0)
    found.paced_seconds = found.paced_seconds or (8.0 if found.quick else 60.0)
    found.only = set(found.only or ("baselines", "system", "paced", "overload", "tracing"))
    return found


async def measure_baselines(seconds: float, results: Results) -> float:
    """Run the baselines; add their figures; return the bare pipeline's rate."""
    section = "baseline"
    with ExitStack() as stack:
        print(f"baselines: {seconds:.0f} s each …", file=sys.stderr)
        engines = start_engines(stack)
        raw_kafka = await baselines.kafka_round_trip(engines, seconds)
        raw_pg = await baselines.postgres_transactions(engines, seconds)
        echo = await baselines.grpc_echo(seconds)
        bare = await baselines.bare_pipeline(engines, seconds)
    results.measures += [
        Measure(
            section,
            "Kafka produce+consume, 1 KiB, acks=all, idempotent",
            raw_kafka.per_second,
            "msg/s",
        ),
        Measure(section, "Kafka produce → consume p99", raw_kafka.ms(0.99), "ms"),
        Measure(
            section, "PostgreSQL one-row transactions, 16 connections", raw_pg.per_second, "tx/s"
        ),
        Measure(section, "PostgreSQL transaction p99", raw_pg.ms(0.99), "ms"),
        Measure(section, "gRPC unary echo, 64 in flight", echo.per_second, "calls/s"),
        Measure(section, "gRPC echo p99", echo.ms(0.99), "ms"),
        Measure(
            section, "bare pipeline insert → produce → consume → upsert", bare.per_second, "rows/s"
        ),
        Measure(section, "bare pipeline insert → upserted p99", bare.ms(0.99), "ms"),
    ]
    return bare.per_second


def cpu_per_journey_ms(outcome: system.Outcome) -> float:
    """The five processes together: three services, PostgreSQL and Kafka."""
    processes = (*outcome.services.values(), *outcome.engines.values())
    return share(sum(p.cpu_seconds for p in processes) * 1000, len(outcome.public))


def round_trips_per_journey(outcome: system.Outcome) -> float:
    """The three databases together."""
    return share(sum(c.top for c in outcome.statements.values()), len(outcome.public))


def system_section(load: system.Load) -> str:
    stored = f", {load.history:,} critiques stored" if load.history else ""
    return f"system ({load.seconds:.0f} s at {load.rate:.0f}/s offered{stored})"


def system_measures(outcome: system.Outcome, bare: float | None) -> list[Measure]:
    load = outcome.load
    section = system_section(load)
    measures = [
        Measure(
            section,
            "critiques stored before the run (--history)",
            load.history,
            "",
            note=f"preloaded in {outcome.history_seconds:.0f} s" if load.history else "",
        ),
        Measure(section, "submissions accepted (201)", outcome.accepted_per_second, "/s"),
        Measure(
            section,
            "submissions made public, sustained",
            outcome.public_per_second,
            "/s",
            TARGETS["sustained"],
            note="201 → in the public change feed, within the window",
        ),
        Measure(section, "accept p50", outcome.accept_ms(0.50), "ms"),
        Measure(section, "accept p95", outcome.accept_ms(0.95), "ms"),
        Measure(
            section,
            "accept p99",
            outcome.accept_ms(0.99),
            "ms",
            note="offered more than it takes: the target is the paced run's",
        ),
        Measure(section, "accept → public p50", outcome.to_public_s(0.50), "s"),
        Measure(section, "accept → public p95", outcome.to_public_s(0.95), "s"),
        Measure(
            section,
            "accept → public p99",
            outcome.to_public_s(0.99),
            "s",
            note="the backlog of an open loop past capacity: the target is the paced run's",
        ),
    ]
    if bare is not None:
        measures.append(
            Measure(
                section,
                "made public per second / bare pipeline rows per second",
                share(outcome.journeys_per_second, bare),
                "x",
                TARGETS["versus_bare"],
                note="both over their whole run, drain included",
            )
        )
    measures += [
        Measure(
            section,
            "gRPC answers (SubmitAnswer OK)",
            outcome.answers_per_second,
            "/s",
            TARGETS["answers"],
        ),
        Measure(section, "gRPC answer p50", outcome.answer_ms(0.50), "ms"),
        Measure(section, "gRPC answer p99", outcome.answer_ms(0.99), "ms"),
        Measure(section, "public reads during ingest", outcome.reads_per_second, "/s"),
        Measure(section, "public read p99", outcome.read_ms(0.99), "ms"),
        Measure(
            section,
            "made public over the window and the drain",
            outcome.journeys_per_second,
            "/s",
        ),
        Measure(
            section,
            "drained after the window",
            outcome.drain_seconds,
            "s",
            note="all public" if outcome.drained else "NOT all public at the drain timeout",
        ),
    ]
    for name, process in outcome.services.items():
        measures.append(
            Measure(
                section, f"{name} peak RSS (VmHWM)", process.peak_rss_mb, "MB", TARGETS["rss_mb"]
            )
        )
    for name, process in outcome.engines.items():
        measures.append(
            Measure(
                section,
                f"{name} peak RSS",
                process.peak_rss_mb,
                "MB",
                note="information; sum over its processes",
            )
        )
    public = len(outcome.public)
    for name, process in {**outcome.services, **outcome.engines}.items():
        measures.append(
            Measure(
                section,
                f"{name} CPU per journey",
                share(process.cpu_seconds * 1000, public),
                "ms",
                note="window and drain",
            )
        )
    measures.append(
        Measure(
            section,
            "CPU per journey, the five processes together",
            cpu_per_journey_ms(outcome),
            "ms",
            TARGETS["cpu_per_journey_ms"],
            note="three services, PostgreSQL and Kafka; window and drain",
        )
    )
    measures.append(
        Measure(
            section,
            "load generator CPU per journey",
            share(outcome.generator_cpu_seconds * 1000, public),
            "ms",
        )
    )
    for name, counted in outcome.statements.items():
        measures.append(
            Measure(
                section,
                f"{name} database round trips per journey",
                share(counted.top, public),
                "",
                note="top-level statements (pg_stat_statements)",
            )
        )
        measures.append(
            Measure(
                section,
                f"{name} database nested statements per journey",
                share(counted.nested, public),
                "",
                note="in triggers, functions and foreign-key checks",
            )
        )
    measures.append(
        Measure(
            section,
            "database round trips per journey, the three databases together",
            round_trips_per_journey(outcome),
            "",
            TARGETS["round_trips_per_journey"],
        )
    )
    return measures


def history_measures(empty: system.Outcome, stored: system.Outcome) -> list[Measure]:
    """The same load on the empty system and on one holding ``--history`` critiques: what
    the stored history costs a journey (in the stored run's section)."""
    section = system_section(stored.load)
    history = f"{stored.load.history:,}"
    return [
        Measure(
            section,
            f"CPU per journey with {history} stored / empty",
            share(cpu_per_journey_ms(stored), cpu_per_journey_ms(empty)),
            "x",
            TARGETS["history_cpu_ratio"],
            note=f"{cpu_per_journey_ms(stored):.1f} ms / {cpu_per_journey_ms(empty):.1f} ms,"
            " the five processes together",
        ),
        Measure(
            section, "database round trips per journey, empty", round_trips_per_journey(empty), ""
        ),
        Measure(
            section,
            f"database round trips per journey with {history} stored",
            round_trips_per_journey(stored),
            "",
        ),
    ]


def paced_measures(outcome: system.Outcome) -> list[Measure]:
    """Offered 80 % of what it sustains: how long a submission takes to be accepted, and to
    become public."""
    section = f"paced ({outcome.load.seconds:.0f} s at {outcome.load.rate:.0f}/s offered)"
    return [
        Measure(section, "submissions accepted (201)", outcome.accepted_per_second, "/s"),
        Measure(
            section, "submissions made public, within the window", outcome.public_per_second, "/s"
        ),
        Measure(section, "accept p50", outcome.accept_ms(0.50), "ms"),
        Measure(section, "accept p99", outcome.accept_ms(0.99), "ms", TARGETS["accept_p99_ms"]),
        Measure(section, "accept → public p50", outcome.to_public_s(0.50), "s"),
        Measure(
            section,
            "accept → public p99",
            outcome.to_public_s(0.99),
            "s",
            TARGETS["to_public_p99_s"],
        ),
        Measure(section, "gRPC answer p99", outcome.answer_ms(0.99), "ms"),
        Measure(
            section,
            "accepted and not made public",
            len(set(outcome.accepted) - set(outcome.public)),
            "",
            TARGETS["lost"],
        ),
    ]


def overload_measures(outcome: system.Outcome) -> list[Measure]:
    """Offered more than it sustains, submission sheds: what it accepts still becomes public
    within the bound, and all of it does."""
    section = f"overload ({outcome.load.seconds:.0f} s at {outcome.load.rate:.0f}/s offered)"
    offered = len(outcome.accepted) + outcome.shed
    return [
        Measure(section, "submissions accepted (201)", outcome.accepted_per_second, "/s"),
        Measure(
            section,
            "submissions refused (503 overloaded)",
            share(outcome.shed, offered),
            "%",
            note=f"{outcome.shed} of {offered}",
        ),
        Measure(section, "accept p99", outcome.accept_ms(0.99), "ms"),
        Measure(
            section,
            "accept → public p99 (of those accepted)",
            outcome.to_public_s(0.99),
            "s",
            TARGETS["to_public_p99_s"],
        ),
        Measure(
            section,
            "accepted and not made public",
            len(set(outcome.accepted) - set(outcome.public)),
            "",
            TARGETS["lost"],
        ),
    ]


def outcome_notes(name: str, outcome: system.Outcome) -> list[str]:
    notes = [
        f"{name}: {len(outcome.accepted)} accepted, {outcome.cases_seen} cases reached the"
        f" agencies' watch, {len(outcome.answers)} answered, {len(outcome.public)} public"
    ]
    if outcome.errors:
        notes.append(f"{name}: errors: {dict(outcome.errors.most_common(5))}")
    if outcome.retries:
        notes.append(f"{name}: retried replies: {dict(outcome.retries.most_common(5))}")
    return notes


async def main(argv: list[str]) -> int:
    options = arguments(argv)
    results = Results(
        machine=machine.describe(),
        command=" ".join(["python -m bench", *(shlex.quote(a) for a in argv)]),
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        settings={
            "sustained run": f"{options.seconds:.0f} s, {options.rate:.0f} submissions/s offered"
            f" (open loop), {options.in_flight} HTTP clients, {options.organisations} organisations"
            f" and agencies, {options.readers} public readers, tracing on",
            "paced run": f"{options.paced_seconds:.0f} s at 80 % of the rate the sustained run"
            " made public (or --paced-rate), for the latencies",
            "overload run": f"{options.overload_seconds:.0f} s at twice the sustained rate (or"
            " --overload-rate), submission shedding past "
            + " ".join(f"{k}={v}" for k, v in system.SHEDDING.items()),
            "history": f"{options.history:,} critiques preloaded (bench.history) before a second"
            " sustained run"
            if options.history
            else "none (--history N runs the sustained phase again on N stored critiques)",
            "tracing comparison": f"{options.compare_seconds:.0f} s each, closed loop"
            f" ({options.in_flight} clients as fast as answered), tracing on vs off",
            "baselines": f"{options.baseline_seconds:.0f} s each",
            "tracing on": " ".join(f"{k}={v}" for k, v in system.TRACING_ON.items()),
            "tracing off": " ".join(f"{k}={v}" for k, v in system.TRACING_OFF.items()),
            "rate limits": " ".join(f"{k}={v}" for k, v in system.LIMITS.items()),
        },
    )
    results.appendix = FINDINGS.read_text()
    bare = None
    if "baselines" in options.only:
        bare = await measure_baselines(options.baseline_seconds, results)
    sustained: system.Outcome | None = None
    if "system" in options.only:
        print(f"system: {options.seconds:.0f} s at {options.rate:.0f}/s …", file=sys.stderr)
        load = system.Load(
            seconds=options.seconds,
            rate=options.rate,
            in_flight=options.in_flight,
            organisations=options.organisations,
            readers=options.readers,
            profile=options.profile,
        )
        sustained = await system.run(load, log=options.logs / "sustained" if options.logs else None)
        results.machine.update(sustained.versions)
        results.measures += system_measures(sustained, bare)
        results.notes += outcome_notes("sustained", sustained)
        if options.history:
            print(
                f"system with {options.history:,} critiques stored: preloading, then"
                f" {options.seconds:.0f} s at {options.rate:.0f}/s …",
                file=sys.stderr,
            )
            stored = await system.run(
                replace(load, history=options.history, profile=None),
                log=options.logs / "history" if options.logs else None,
            )
            print(f"history preloaded in {stored.history_seconds:.0f} s", file=sys.stderr)
            results.measures += system_measures(stored, bare)
            results.measures += history_measures(sustained, stored)
            results.notes += outcome_notes(f"sustained, {options.history:,} stored", stored)
    if "paced" in options.only:
        paced_rate = options.paced_rate or (
            0.8 * sustained.journeys_per_second if sustained else 40.0
        )
        print(f"paced: {options.paced_seconds:.0f} s at {paced_rate:.0f}/s …", file=sys.stderr)
        paced = await system.run(
            system.Load(
                seconds=options.paced_seconds,
                rate=paced_rate,
                in_flight=options.in_flight,
                organisations=options.organisations,
                readers=options.readers,
            ),
            log=options.logs / "paced" if options.logs else None,
        )
        results.measures += paced_measures(paced)
        results.notes += outcome_notes("paced", paced)
    if "overload" in options.only:
        offered = options.overload_rate or (
            2 * sustained.journeys_per_second if sustained else 200.0
        )
        print(f"overload: {options.overload_seconds:.0f} s at {offered:.0f}/s …", file=sys.stderr)
        overload = await system.run(
            system.Load(
                seconds=options.overload_seconds,
                rate=offered,
                in_flight=options.in_flight,
                organisations=options.organisations,
                readers=options.readers,
                shedding=True,
            ),
            log=options.logs / "overload" if options.logs else None,
        )
        results.measures += overload_measures(overload)
        results.notes += outcome_notes("overload", overload)
    if "tracing" in options.only:
        rates: dict[bool, float] = {}
        costs: dict[bool, float] = {}
        for tracing in (True, False):
            label = "on" if tracing else "off"
            print(
                f"tracing {label}: {options.compare_seconds:.0f} s, closed loop …", file=sys.stderr
            )
            outcome = await system.run(
                system.Load(
                    seconds=options.compare_seconds,
                    rate=0,
                    tracing=tracing,
                    in_flight=options.in_flight,
                    organisations=options.organisations,
                    readers=0,
                ),
                log=options.logs / f"tracing-{label}" if options.logs else None,
            )
            rates[tracing] = outcome.journeys_per_second
            costs[tracing] = share(
                sum(p.cpu_seconds for p in outcome.services.values()), len(outcome.public)
            )
            section = f"tracing {label} (saturated, {options.compare_seconds:.0f} s)"
            results.measures += [
                Measure(section, "submissions accepted (201)", outcome.accepted_per_second, "/s"),
                Measure(
                    section,
                    "made public over the window and the drain",
                    outcome.journeys_per_second,
                    "/s",
                ),
                Measure(
                    section,
                    "services' CPU per 1,000 made public",
                    costs[tracing] * 1000,
                    "s",
                ),
                Measure(section, "accept p99", outcome.accept_ms(0.99), "ms"),
            ]
            results.notes += outcome_notes(f"tracing {label}", outcome)
        results.measures.append(
            Measure(
                "tracing",
                "throughput lost to tracing (1 - on/off, made public)",
                overhead(rates[True], rates[False]),
                "%",
                TARGETS["tracing_overhead"],
            )
        )
        results.measures.append(
            Measure(
                "tracing",
                "services' CPU added by tracing (on/off - 1, per critique made public)",
                share(costs[True], costs[False]) - 1,
                "%",
            )
        )
    results.notes += [
        "Public: a critique is public once it appears in disclosure's `GET /v1/changes` (polled"
        " back to back, every 50 ms when nothing is new). By the disclosure policy that is once the"
        " agency has answered, and the benchmark's agencies answer each case as soon as"
        " `WatchCases` delivers it: accept → public spans submission's outbox, tracking opening"
        " the case, the stream, the gRPC answer, tracking's outbox and disclosure's publication.",
        "Accept latency runs from the moment a free client sends the request to its 201. When"
        " more is offered than the system takes, the backlog waits for a free client (not"
        " counted) and the requests in flight queue inside the service (counted): at saturation"
        " p50 is about clients in flight / accepted per second.",
        "Sustained: critiques accepted and made public inside the window. After the window the"
        " submitters stop and the run waits until every accepted critique is public (the drain);"
        " 'made public over the window and the drain' is all of them over the whole time.",
        "CPU per journey (one critique made public): user + system CPU of each process over the"
        " window and the drain (the work of every journey), from /proc/<pid>/stat. Peak RSS:"
        " VmHWM from /proc/<pid>/status at the end; PostgreSQL's and Kafka's are sums over their"
        " processes.",
        "Database round trips per journey: the top-level statements each service's database ran"
        " over the window and the drain (pg_stat_statements, BEGIN and COMMIT and the pool's"
        " connection resets included), per critique made public; nested statements are those"
        " run inside triggers, functions and foreign-key checks.",
        "Tracing off: no span is sampled (`OTEL_TRACES_SAMPLER=always_off`), nothing exported;"
        " the trace context still travels. Tracing on: every span recorded and written to"
        " OTLP/JSON files. The overhead compares critiques made public per second (window and"
        " drain) of two saturated runs, and the services' CPU per critique.",
        "The load generator (this process) runs on the same machine and takes part of its CPU;"
        " its share is in the table.",
    ]
    print(text_table(results.measures))
    print("\n".join(f"- {note}" for note in results.notes))
    if not options.no_write:
        json_path = results.write(options.output)
        print(f"\nwritten: {options.output} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
