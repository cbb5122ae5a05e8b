"""Every venue's collector at once; a failing venue backs off while the others carry on.

:class:`CollectorSet` owns one record per venue. :meth:`CollectorSet.collect` runs one
cycle: every venue that is due is collected concurrently in a task group, each attempt
bounded by ``timeout_s``. An attempt that fails (any exception but a cancellation) fails
only its venue: the venue becomes DEGRADED, with the redacted error text, its count of
consecutive failures and the event-loop time of its next attempt, after an exponential
back-off (``base_s`` × 2^(failures − 1), at most ``cap_s``, shortened at random by up to
``jitter`` of itself; at least a rate limit's ``retry_after_s``). One structured line is
logged per failure and per recovery. :meth:`CollectorSet.run` keeps collecting, each venue
on its own schedule, until cancelled.

Each attempt's CPU time outside the network (the collector's parsing and normalising,
ccxt's included) is measured with :mod:`~fundarb.funding.collectors.metering` and reported
per venue and per cycle.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType

from fundarb.errors import ConfigError, RateLimitedError, RequestTimeoutError, classify_error
from fundarb.funding.collectors.metering import CpuMeter, metered
from fundarb.funding.collectors.protocol import FundingCollector, wanted_symbols
from fundarb.funding.collectors.redact import describe_error
from fundarb.funding.rates import FundingSample
from fundarb.logs import log_event

__all__ = ["BackoffConfig", "CollectorSet", "CycleReport", "VenueState", "VenueStatus"]

logger = logging.getLogger("fundarb.funding.collectors")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class VenueState(StrEnum):
    """Where a venue stands. Any state moves to OK on a success and to DEGRADED on a failure."""

    PENDING = "pending"  # not attempted yet
    OK = "ok"  # the last attempt succeeded
    DEGRADED = "degraded"  # the last attempt failed; the next waits for the back-off


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffConfig:
    """Waits between attempts at a failing venue, in seconds of the event loop's clock."""

    base_s: float = 1.0  # after the first failure
    cap_s: float = 300.0  # never longer
    jitter: float = 0.2  # fraction of the wait taken off at random, in [0, 1]

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base_s) and self.base_s > 0):
            raise ConfigError(f"backoff base_s must be a positive number, got {self.base_s!r}")
        if not (math.isfinite(self.cap_s) and self.cap_s >= self.base_s):
            raise ConfigError(f"backoff cap_s must be at least base_s, got {self.cap_s!r}")
        if not 0 <= self.jitter <= 1:
            raise ConfigError(f"backoff jitter must be in [0, 1], got {self.jitter!r}")

    def delay_s(self, failures: int, draw: float) -> float:
        """The wait after ``failures`` consecutive failures; ``draw`` is uniform in [0, 1)."""
        full = min(self.cap_s, self.base_s * 2.0 ** min(max(failures, 1) - 1, 64))
        return full * (1 - self.jitter * draw)


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueStatus:
    """A venue's collection state, as :meth:`CollectorSet.status` reports it."""

    venue: str
    state: VenueState
    consecutive_failures: int = 0
    last_error: str | None = None  # redacted, one line; kept after a recovery
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    next_retry_at_s: float | None = None  # event-loop time of the next attempt, if degraded
    samples: int = 0  # held from the last success
    last_cpu_s: float = 0.0  # CPU time of the last attempt outside the network


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleReport:
    """One :meth:`CollectorSet.collect` cycle. Times are event-loop seconds."""

    started_at_s: float
    duration_s: float
    succeeded: tuple[str, ...]
    failed: tuple[str, ...]
    waiting: tuple[str, ...]  # degraded venues whose back-off had not run out
    samples: int
    cpu_s_by_venue: Mapping[str, float]

    @property
    def cpu_s(self) -> float:
        """CPU time of the cycle outside the network, all venues together."""
        return sum(self.cpu_s_by_venue.values())


@dataclass(slots=True)
class _Record:
    collector: FundingCollector
    state: VenueState = VenueState.PENDING
    failures: int = 0
    last_error: str | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    next_retry_at: float | None = None
    degraded_since: float | None = None
    samples: tuple[FundingSample, ...] = field(default_factory=tuple)
    last_cpu_s: float = 0.0

    def status(self) -> VenueStatus:
        return VenueStatus(
            venue=self.collector.venue,
            state=self.state,
            consecutive_failures=self.failures,
            last_error=self.last_error,
            last_success_at=self.last_success_at,
            last_failure_at=self.last_failure_at,
            next_retry_at_s=self.next_retry_at if self.state is VenueState.DEGRADED else None,
            samples=len(self.samples),
            last_cpu_s=self.last_cpu_s,
        )


class CollectorSet:
    """Collects from every venue concurrently and remembers each venue's latest samples.

    ``timeout_s`` bounds one attempt at one venue (None: unbounded). ``rng`` draws the
    jitter (seed it for repeatable back-offs); ``clock`` stamps successes and failures.
    """

    def __init__(
        self,
        collectors: Iterable[FundingCollector],
        *,
        backoff: BackoffConfig | None = None,
        timeout_s: float | None = 30.0,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        records: dict[str, _Record] = {}
        for collector in collectors:
            if collector.venue in records:
                raise ConfigError(f"two collectors for venue {collector.venue!r}")
            records[collector.venue] = _Record(collector)
        if not records:
            raise ConfigError("a collector set needs at least one collector")
        if timeout_s is not None and not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ConfigError(f"timeout_s must be a positive number or None, got {timeout_s!r}")
        self._records = records
        self._backoff = backoff if backoff is not None else BackoffConfig()
        self._timeout_s = timeout_s
        self._rng = rng if rng is not None else random.Random()
        self._clock = clock
        self._last_cycle: CycleReport | None = None

    def __repr__(self) -> str:
        return f"CollectorSet(venues={list(self._records)!r})"

    @property
    def venues(self) -> tuple[str, ...]:
        return tuple(self._records)

    @property
    def last_cycle(self) -> CycleReport | None:
        """The report of the last :meth:`collect` cycle, if any."""
        return self._last_cycle

    def status(self) -> dict[str, VenueStatus]:
        """Each venue's state, by venue name."""
        return {venue: record.status() for venue, record in self._records.items()}

    def latest(self, *, include_degraded: bool = False) -> list[FundingSample]:
        """The samples of each venue's last success. A degraded venue's samples are stale
        and left out unless ``include_degraded`` (their ``collected_at`` tells their age)."""
        return [
            sample
            for record in self._records.values()
            if include_degraded or record.state is not VenueState.DEGRADED
            for sample in record.samples
        ]

    async def collect(self, symbols: Collection[str] | None = None) -> CycleReport:
        """One cycle: every venue not waiting out a back-off, concurrently. A ``symbols``
        filter with a name that is no asset raises :class:`ValueError` before any venue is
        asked (it is the caller's mistake, not the venues' failure)."""
        wanted_symbols(symbols)
        loop = asyncio.get_running_loop()
        started = loop.time()
        due: list[_Record] = []
        waiting: list[str] = []
        for venue, record in self._records.items():
            retry_at = record.next_retry_at
            if record.state is VenueState.DEGRADED and retry_at is not None and retry_at > started:
                waiting.append(venue)
            else:
                due.append(record)
        async with asyncio.TaskGroup() as group:
            tasks = {
                record.collector.venue: group.create_task(
                    self._attempt(record, symbols), name=f"funding-{record.collector.venue}"
                )
                for record in due
            }
        cpu = {venue: task.result() for venue, task in tasks.items()}
        report = CycleReport(
            started_at_s=started,
            duration_s=loop.time() - started,
            succeeded=tuple(v for v in tasks if self._records[v].state is VenueState.OK),
            failed=tuple(v for v in tasks if self._records[v].state is VenueState.DEGRADED),
            waiting=tuple(waiting),
            samples=sum(len(self._records[v].samples) for v in tasks),
            cpu_s_by_venue=MappingProxyType(cpu),
        )
        self._last_cycle = report
        return report

    async def run(self, *, period_s: float, symbols: Collection[str] | None = None) -> None:
        """Collect every venue each ``period_s`` seconds of loop time (a degraded one when
        its back-off runs out) until cancelled. Use this or :meth:`collect`, not both at once."""
        if not (math.isfinite(period_s) and period_s > 0):
            raise ConfigError(f"period_s must be a positive number, got {period_s!r}")
        wanted_symbols(symbols)
        async with asyncio.TaskGroup() as group:
            for venue, record in self._records.items():
                group.create_task(self._run_venue(record, period_s, symbols), name=f"run-{venue}")

    async def _run_venue(
        self, record: _Record, period_s: float, symbols: Collection[str] | None
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self._attempt(record, symbols)
            wake = started + period_s
            if record.state is VenueState.DEGRADED and record.next_retry_at is not None:
                wake = record.next_retry_at
            await asyncio.sleep(max(0.0, wake - loop.time()))

    async def _attempt(self, record: _Record, symbols: Collection[str] | None) -> float:
        """Collect one venue; record the outcome; return the attempt's CPU seconds."""
        meter = CpuMeter()
        try:
            samples = await self._collect_bounded(record, symbols, meter)
        except Exception as exc:  # noqa: BLE001 - a venue's failure is its own: kept, logged, retried
            self._failed(record, exc, meter.seconds)
        else:
            self._succeeded(record, samples, meter.seconds)
        return meter.seconds

    async def _collect_bounded(
        self, record: _Record, symbols: Collection[str] | None, meter: CpuMeter
    ) -> list[FundingSample]:
        if self._timeout_s is None:
            return await metered(record.collector.collect(symbols), meter)
        try:
            async with asyncio.timeout(self._timeout_s) as scope:
                return await metered(record.collector.collect(symbols), meter)
        except TimeoutError:
            if not scope.expired():
                raise
            raise RequestTimeoutError(
                f"no answer within {self._timeout_s} s", venue=record.collector.venue
            ) from None

    def _succeeded(self, record: _Record, samples: list[FundingSample], cpu_s: float) -> None:
        now = asyncio.get_running_loop().time()
        if record.state is VenueState.DEGRADED:
            since = record.degraded_since if record.degraded_since is not None else now
            log_event(
                logger,
                logging.INFO,
                "funding_venue_recovered",
                venue=record.collector.venue,
                failures=record.failures,
                down_s=round(now - since, 3),
                samples=len(samples),
            )
        record.state = VenueState.OK
        record.failures = 0
        record.next_retry_at = None
        record.degraded_since = None
        record.samples = tuple(samples)
        record.last_success_at = self._clock()
        record.last_cpu_s = cpu_s

    def _failed(self, record: _Record, exc: Exception, cpu_s: float) -> None:
        now = asyncio.get_running_loop().time()
        record.failures += 1
        delay = self._backoff.delay_s(record.failures, self._rng.random())
        if isinstance(exc, RateLimitedError):
            delay = max(delay, exc.retry_after_s)
        text = describe_error(exc)
        record.state = VenueState.DEGRADED
        record.last_error = text
        record.last_failure_at = self._clock()
        record.next_retry_at = now + delay
        if record.degraded_since is None:
            record.degraded_since = now
        record.last_cpu_s = cpu_s
        log_event(
            logger,
            logging.WARNING,
            "funding_venue_failed",
            venue=record.collector.venue,
            failures=record.failures,
            retry_in_s=round(delay, 3),
            error_class=classify_error(exc).value,
            error=text,
        )
