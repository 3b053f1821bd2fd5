"""Metrics for Prometheus: one OpenTelemetry meter provider per process, read at scrape time.

Every instrument is named here, once (Prometheus sees the names with ``_`` for ``.`` and the
unit appended: ``http_server_request_duration_seconds``). What is measured:

* ``http.server.request.duration`` (s, histogram): recorded by the FastAPI instrumentation for
  every request but ``/healthz``, ``/readyz`` and ``/metrics``, labelled with the route template
  (``http.route``), never the raw path; its count gives the request rate.
* ``rpc.server.call.duration`` (s, histogram): every gRPC call, by fully-qualified method and
  status code (the OpenTelemetry gRPC instrumentation records spans only, so this module's
  :class:`RpcMetricsInterceptor` records it).
* ``supervision.consumer.lag`` (gauge): records not yet committed by a consumer group, per topic
  and partition (log end offset minus the group's committed offset).
* ``supervision.consumer.oldest_unconsumed.age`` (s, gauge): how long ago the oldest record the
  consumer group has not consumed yet on a topic was written (0 when it has consumed all), as the
  service's own consumer knows it: exact while it works on a batch (or keeps retrying one); while
  it is paused or between batches, the age of the last record it consumed, which the next one
  is younger than. Against ``supervision.topic.retention`` (s, gauge: how long Kafka keeps the
  topic's records, -1 for ever, read back with the topics' settings every
  ``SUPERVISION_KAFKA_RETENTION_CHECK_INTERVAL_SECONDS``), the first reaching the second means
  records deleted unread. A service that is down reports neither: ``supervision ops status``
  reads the same from Kafka, from outside.
* ``supervision.outbox.backlog`` (gauge) and ``supervision.outbox.age`` (s, gauge): how many
  outbox rows are not yet published, and how long ago the oldest of them was written.
* ``supervision.consumer.dead_letters`` (counter): events published to a ``.dlq`` topic, by
  consumer group, topic and error kind.
* ``supervision.requests.shed`` (counter, submission only): writes refused with ``503`` because
  a bound on the backlog behind the API was passed (``services.submission.admission``), by the
  bound (``outbox_rows``, ``outbox_age``, ``consumer_lag``, ``consumer_lag_age``,
  ``writes_in_flight``).
* ``supervision.cases.open`` and ``supervision.cases.overdue`` (gauges, tracking only): cases
  awaiting an answer, and those of them past their due date, by the organisation's level.

Gauges that read the database or Kafka run their query on the service's event loop when they are
scraped, under a short timeout, and keep the result for a few seconds; a query that fails or is
too slow leaves the gauge without a sample for that scrape rather than reporting a stale value.
Scrapes are served from a thread (``/metrics`` through :func:`metrics_endpoint`, or the
standalone listener of :func:`start_listener`), so that thread may wait for the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import grpc
from fastapi import FastAPI
from fastapi.responses import Response
from opentelemetry import metrics as otel_metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from services.platform.grpc_server import AroundInterceptor
from services.platform.kafka import unread
from services.platform.tls import Certificates

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from services.platform.outbox import Backlog

log = logging.getLogger(__name__)

# Instrument names, once.
HTTP_SERVER_REQUEST_DURATION: Final = "http.server.request.duration"
"""Recorded by the FastAPI instrumentation, not here; named for reference."""
RPC_SERVER_CALL_DURATION: Final = "rpc.server.call.duration"
CONSUMER_LAG: Final = "supervision.consumer.lag"
CONSUMER_OLDEST_UNCONSUMED_AGE: Final = "supervision.consumer.oldest_unconsumed.age"
TOPIC_RETENTION: Final = "supervision.topic.retention"
CONSUMER_DEAD_LETTERS: Final = "supervision.consumer.dead_letters"
OUTBOX_BACKLOG: Final = "supervision.outbox.backlog"
OUTBOX_AGE: Final = "supervision.outbox.age"
REQUESTS_SHED: Final = "supervision.requests.shed"
CASES_OPEN: Final = "supervision.cases.open"
CASES_OVERDUE: Final = "supervision.cases.overdue"

# Attribute names (OpenTelemetry semantic conventions where they have one).
ATTR_CONSUMER_GROUP: Final = "messaging.consumer.group.name"
ATTR_DESTINATION: Final = "messaging.destination.name"
ATTR_PARTITION: Final = "messaging.destination.partition.id"
ATTR_ERROR_TYPE: Final = "error.type"
ATTR_RPC_SYSTEM: Final = "rpc.system.name"
ATTR_RPC_METHOD: Final = "rpc.method"
ATTR_RPC_STATUS: Final = "rpc.response.status_code"
ATTR_LEVEL: Final = "supervision.organisation.level"
ATTR_SHED_BOUND: Final = "supervision.shed.bound"

PROBE_TTL_SECONDS: Final = 5.0
"""How long a database or Kafka reading is reused: scrapes closer together cost nothing."""
PROBE_TIMEOUT_SECONDS: Final = 2.0
"""How long a scrape waits for one reading before that gauge goes without a sample."""

METRICS_PATH: Final = "/metrics"

_SEMCONV_OPT_IN: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"

_meter = otel_metrics.get_meter("supervision")
_provider_lock = threading.Lock()
_provider: MeterProvider | None = None


def setup(resource: Resource) -> MeterProvider:
    """Install the global meter provider, read by Prometheus; once per process (later calls return
    the first provider). Call before instrumenting FastAPI, asyncpg or gRPC.

    HTTP metrics follow the stable semantic conventions (``http.server.request.duration`` in
    seconds, ``http.route``) unless ``OTEL_SEMCONV_STABILITY_OPT_IN`` says otherwise.
    """
    global _provider
    with _provider_lock:
        if _provider is None:
            os.environ.setdefault(_SEMCONV_OPT_IN, "http")
            _provider = MeterProvider(resource=resource, metric_readers=[PrometheusMetricReader()])
            otel_metrics.set_meter_provider(_provider)
        return _provider


def exposition() -> bytes:
    """Every metric in the Prometheus text format (blocks while gauges are read: not on a loop)."""
    return generate_latest(REGISTRY)


# Readings taken on the service's loop, for gauges observed from a scraping thread.

T = TypeVar("T")


class Probe(Generic[T]):
    """An async reading taken on ``loop`` when a gauge is observed, kept for ``ttl`` seconds.

    :meth:`read` is called from the scraping thread; it waits at most ``timeout`` for the loop
    and returns None when the reading failed or took too long (a failure is kept for ``ttl``
    too, so the gauges sharing a probe do not each wait for it).
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[T]],
        *,
        loop: asyncio.AbstractEventLoop,
        ttl: float = PROBE_TTL_SECONDS,
        timeout: float = PROBE_TIMEOUT_SECONDS,
    ) -> None:
        self._fetch = fetch
        self._loop = loop
        self._ttl = ttl
        self._timeout = timeout
        self._lock = threading.Lock()
        self._value: T | None = None
        self._read_at = float("-inf")

    def read(self) -> T | None:
        with self._lock:
            if time.monotonic() - self._read_at < self._ttl:
                return self._value
            self._value = self._take()
            self._read_at = time.monotonic()
            return self._value

    def _take(self) -> T | None:
        if self._loop.is_closed() or _running_loop() is self._loop:
            return None  # a reading cannot wait for the loop it would run on
        try:
            future = asyncio.run_coroutine_threadsafe(self._timed(), self._loop)
        except RuntimeError:  # the loop is shutting down
            return None
        try:
            return future.result(self._timeout + 0.5)
        except Exception as error:
            future.cancel()
            log.warning("a metric could not be read", extra={"error": repr(error)})
            return None

    async def _timed(self) -> T:
        async with asyncio.timeout(self._timeout):
            return await self._fetch()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Kept(Generic[T]):
    """A reading the service keeps in memory, read as it is (it must not block)."""

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read

    def read(self) -> T | None:
        return self._read()


class _Sources(Generic[T]):
    """The probes a gauge family reads, registered by running services."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._probes: list[Probe[T] | _Kept[T]] = []

    def add(self, probe: Probe[T] | _Kept[T]) -> Callable[[], None]:
        with self._lock:
            self._probes.append(probe)

        def remove() -> None:
            with self._lock:
                if probe in self._probes:
                    self._probes.remove(probe)

        return remove

    def readings(self) -> Iterator[T]:
        with self._lock:
            probes = list(self._probes)
        for probe in probes:
            value = probe.read()
            if value is not None:
                yield value


# The outbox.

_outboxes: _Sources[Backlog] = _Sources()


def _observe_backlog(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(state.rows) for state in _outboxes.readings()]


def _observe_outbox_age(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(state.oldest_age_seconds) for state in _outboxes.readings()]


_meter.create_observable_gauge(
    OUTBOX_BACKLOG,
    [_observe_backlog],
    unit="{event}",
    description="Outbox rows not yet published to Kafka.",
)
_meter.create_observable_gauge(
    OUTBOX_AGE,
    [_observe_outbox_age],
    unit="s",
    description="Seconds since the oldest outbox row not yet published was written (0 if none).",
)


# Consumers: lag and dead letters.


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    lag: int
    oldest_age_seconds: float | None = None
    """How long ago the oldest record not consumed yet was written (0 with no lag); None when
    the consumer has not seen that partition's records (just assigned, say)."""


@dataclass(frozen=True)
class Seen:
    """Where a consumer is on a partition, as its own batches tell: the offset of the first
    record it has not consumed yet, and the timestamp (ms) of that record (``exact``) or of the
    last record it consumed, before it."""

    offset: int
    timestamp_ms: int
    exact: bool


ConsumerLookup = Callable[[], "tuple[AIOKafkaConsumer, Mapping[TopicPartition, Seen]] | None"]
"""The running Kafka consumer of a group and where its batches have got to, or None before it
starts or after it stops."""


async def read_lag(consumers: Mapping[str, ConsumerLookup]) -> list[PartitionLag]:
    """Log end offset minus committed offset, for each partition assigned to each group (from
    the beginning of the partition where the group has committed nothing yet)."""
    running = [
        (group, *found) for group, lookup in consumers.items() if (found := lookup()) is not None
    ]
    per_group = await asyncio.gather(
        *(_group_lag(group, consumer, seen) for group, consumer, seen in running)
    )
    return [lag for lags in per_group for lag in lags]


def oldest_age(lag: int, committed: int | None, seen: Seen | None, now_ms: int) -> float | None:
    """The age in seconds of the oldest record not consumed yet on a partition behind by
    ``lag`` (0 with none); None when what the consumer has seen says nothing of it."""
    if lag <= 0:
        return 0.0
    if seen is None or (committed is not None and seen.offset < committed):
        return None  # another member consumed it since: this one's reading is stale
    return max(0.0, (now_ms - seen.timestamp_ms) / 1000)


async def _group_lag(
    group: str, consumer: AIOKafkaConsumer, seen: Mapping[TopicPartition, Seen]
) -> list[PartitionLag]:
    partitions = sorted(consumer.assignment())
    if not partitions:
        return []
    # All at once: each request may wait behind the consumer's own long-polling fetch.
    ends, starts, *committed = await asyncio.gather(
        consumer.end_offsets(partitions),
        consumer.beginning_offsets(partitions),
        *(consumer.committed(tp) for tp in partitions),
    )
    now_ms = int(time.time() * 1000)
    lags = []
    for tp, done in zip(partitions, committed, strict=True):
        lag = unread(end=ends[tp], beginning=starts[tp], committed=done)
        age = oldest_age(lag, done, seen.get(tp), now_ms)
        lags.append(PartitionLag(group, tp.topic, tp.partition, lag, age))
    return lags


_lags: _Sources[list[PartitionLag]] = _Sources()


def _observe_lag(_: CallbackOptions) -> Iterable[Observation]:
    return [
        Observation(
            item.lag,
            {
                ATTR_CONSUMER_GROUP: item.group,
                ATTR_DESTINATION: item.topic,
                ATTR_PARTITION: str(item.partition),
            },
        )
        for reading in _lags.readings()
        for item in reading
    ]


_meter.create_observable_gauge(
    CONSUMER_LAG,
    [_observe_lag],
    unit="{message}",
    description="Records on a partition not yet committed by the consumer group.",
)


def _observe_oldest(_: CallbackOptions) -> Iterable[Observation]:
    oldest: dict[tuple[str, str], float] = {}
    for reading in _lags.readings():
        for item in reading:
            if item.oldest_age_seconds is not None:
                key = (item.group, item.topic)
                oldest[key] = max(oldest.get(key, 0.0), item.oldest_age_seconds)
    return [
        Observation(age, {ATTR_CONSUMER_GROUP: group, ATTR_DESTINATION: topic})
        for (group, topic), age in sorted(oldest.items())
    ]


_meter.create_observable_gauge(
    CONSUMER_OLDEST_UNCONSUMED_AGE,
    [_observe_oldest],
    unit="s",
    description="How long ago the oldest record the consumer group has not consumed yet on the"
    " topic was written (0 when it has consumed all).",
)

_retention: _Sources[Mapping[str, int]] = _Sources()


def _observe_retention(_: CallbackOptions) -> Iterable[Observation]:
    kept = {topic: ms for reading in _retention.readings() for topic, ms in reading.items()}
    return [
        Observation(ms / 1000 if ms >= 0 else -1, {ATTR_DESTINATION: topic})
        for topic, ms in sorted(kept.items())
    ]


_meter.create_observable_gauge(
    TOPIC_RETENTION,
    [_observe_retention],
    unit="s",
    description="How long Kafka keeps the topic's records (-1: for ever).",
)


def observe_retention(read: Callable[[], Mapping[str, int]]) -> Callable[[], None]:
    """Report each topic's ``retention.ms`` as ``read`` returns it (from memory: it must not
    block) until the returned function is called."""
    return _retention.add(_Kept(read))


_dead_letters = _meter.create_counter(
    CONSUMER_DEAD_LETTERS,
    unit="{message}",
    description="Records published to a dead-letter topic, by consumer group, topic and error.",
)


def dead_lettered(*, group: str, topic: str, error_kind: str) -> None:
    """Count one record that ``group`` could not apply and published to ``topic``'s DLQ."""
    _dead_letters.add(
        1, {ATTR_CONSUMER_GROUP: group, ATTR_DESTINATION: topic, ATTR_ERROR_TYPE: error_kind}
    )


def observe_runtime(
    read_outbox: Callable[[], Awaitable[Backlog]], consumers: Mapping[str, ConsumerLookup]
) -> Callable[[], None]:
    """Report this service's outbox (as ``read_outbox`` reads it) and its consumers' lag until
    the returned function is called; call on the service's loop."""
    loop = asyncio.get_running_loop()
    removers = [
        _outboxes.add(Probe(read_outbox, loop=loop)),
        _lags.add(Probe(lambda: read_lag(consumers), loop=loop)),
    ]

    def remove() -> None:
        for remover in removers:
            remover()

    return remove


# Writes refused under load (submission).

_shed = _meter.create_counter(
    REQUESTS_SHED,
    unit="{request}",
    description="Writes refused with 503 because a bound on the backlog behind the API was"
    " passed, by the bound.",
)


def shed(*, bound: str) -> None:
    """Count one write refused because ``bound`` was passed."""
    _shed.add(1, {ATTR_SHED_BOUND: bound})


# Cases (tracking).

CaseCounts = Mapping[str, tuple[int, int]]
"""Open and overdue cases by level."""

_cases: _Sources[CaseCounts] = _Sources()


def _observe_cases(index: int) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(_: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(counts[index], {ATTR_LEVEL: level})
            for reading in _cases.readings()
            for level, counts in sorted(reading.items())
        ]

    return observe


_meter.create_observable_gauge(
    CASES_OPEN,
    [_observe_cases(0)],
    unit="{case}",
    description="Cases awaiting the agency's answer, by the organisation's level.",
)
_meter.create_observable_gauge(
    CASES_OVERDUE,
    [_observe_cases(1)],
    unit="{case}",
    description="Cases awaiting an answer past their due date, by the organisation's level.",
)


def observe_cases(read: Callable[[], Awaitable[CaseCounts]]) -> Callable[[], None]:
    """Report the counts ``read`` returns until the returned function is called; call on the
    service's loop."""
    return _cases.add(Probe(read, loop=asyncio.get_running_loop()))


# gRPC.

DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1,
    2.5,
    5,
    7.5,
    10,
)
"""Seconds; the boundaries the semantic conventions give for request durations (and the HTTP
instrumentation uses)."""

_rpc_duration = _meter.create_histogram(
    RPC_SERVER_CALL_DURATION,
    unit="s",
    description="Duration of incoming gRPC calls (of a stream: until it ends).",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
)


def _status_of(context: Any, error: BaseException | None) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int):  # grpc.aio gives the number once a handler has set it
        return next((status.name for status in grpc.StatusCode if status.value[0] == code), "")
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    return "OK" if error is None else "UNKNOWN"


@contextlib.asynccontextmanager
async def _timed(method: str, context: Any) -> AsyncIterator[None]:
    started, error = time.perf_counter(), None
    try:
        yield
    except BaseException as raised:
        error = raised
        raise
    finally:
        _rpc_duration.record(
            time.perf_counter() - started,
            {
                ATTR_RPC_SYSTEM: "grpc",
                ATTR_RPC_METHOD: method,
                ATTR_RPC_STATUS: _status_of(context, error),
            },
        )


class RpcMetricsInterceptor(AroundInterceptor):
    """Records ``rpc.server.call.duration`` for every call (streams: until they end)."""

    def __init__(self) -> None:
        super().__init__(_timed)


# Serving the metrics.


def metrics_endpoint(app: FastAPI) -> None:
    """``GET /metrics`` on ``app``, in the Prometheus text format, outside the OpenAPI schema."""

    async def serve_metrics() -> Response:
        body = await asyncio.to_thread(exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(METRICS_PATH, serve_metrics, methods=["GET"], include_in_schema=False)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged (a line per scrape said nothing)."""


class Listener:
    """A standalone HTTP listener serving the metrics from a thread (for a service without an
    HTTP server), over TLS given ``certificates``. A port that cannot be bound is logged as an
    error and the service runs on without metrics: Prometheus then reports the target down."""

    def __init__(self, host: str, port: int, certificates: Certificates | None = None) -> None:
        self.address = f"{host}:{port}"
        self._server: WSGIServer | None = None
        try:
            self._server = _wsgi_server(host, port, certificates)
        except OSError as error:
            log.error(
                "metrics listener not started; this process serves no metrics",
                extra={"address": self.address, "error": repr(error)},
            )
        else:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="metrics", daemon=True
            )
            self._thread.start()
            log.info(
                "metrics listening", extra={"address": self.address, "tls": bool(certificates)}
            )

    def close(self) -> None:
        """Stop listening (waits up to half a second for the serving loop: call in a thread)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)


def _metrics_only(app: WSGIApplication) -> WSGIApplication:
    """``/metrics`` and nothing else: prometheus_client's app answers every path with the
    metrics, and a listener should answer only what it is documented to serve."""

    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        text = [("Content-Type", "text/plain; charset=utf-8")]
        if environ.get("PATH_INFO") != METRICS_PATH:
            start_response("404 Not Found", text)
            return [b"Not Found: this listener serves /metrics only\n"]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [*text, ("Allow", "GET, HEAD")])
            return [b"Method Not Allowed\n"]
        return app(environ, start_response)

    return serve


def _wsgi_server(host: str, port: int, certificates: Certificates | None) -> WSGIServer:
    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = make_server(
        host, port, _metrics_only(make_wsgi_app(REGISTRY)), Server, handler_class=_Quiet
    )
    if certificates is not None:
        # The handshake happens on the first read, in the request's own thread: a client that
        # connects and says nothing holds up no other scrape.
        server.socket = certificates.ssl_context().wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    return server


def start_listener(host: str, port: int, certificates: Certificates | None = None) -> Listener:
    """Serve ``/metrics`` on ``host:port`` (over TLS with ``certificates``) until
    :meth:`Listener.aclose`."""
    return Listener(host, port, certificates)
