"""Fault injection for the simulated venue, per venue and per call.

A :class:`Fault` names what goes wrong, on which calls (``on``: method names; empty means
every call), for which symbol, how many times (``count``; None is unlimited), after how
many matching calls (``skip``), and for time-based faults in which window of loop time.

========================  =====================================================================
kind                      effect
========================  =====================================================================
REJECT                    a place call is refused (``success=False``, ``VENUE_REJECT``)
PARTIAL_FILL              a new order fills ``fraction`` at once; a market order's rest expires
ACCEPT_THEN_TIMEOUT       the call takes effect, then raises ``RequestTimeoutError`` (ambiguous)
DROP_REQUEST              the call never arrives, then raises ``RequestTimeoutError``
CANCEL_LOSES_RACE         before the cancel lands the order fills in full; the cancel fails
FILL_AFTER_CANCEL         a fill of ``fraction`` of the rest lands just before the cancel; the
                          cancel's answer and order queries omit it for ``delay_s``, then the
                          fill is reported (position and balance see it at once)
CANCEL_FAILS              the venue refuses the cancel; the order stays open
STALE_BOOK                book calls return the previously served book, with its timestamp
EMPTY_BOOK                book calls return an empty book (BBO of zeros)
OUTAGE                    calls in the window raise ``VenueUnavailableError`` (retryable)
RATE_LIMIT                calls raise ``RateLimitedError`` (retryable)
SLOW                      calls take ``delay_s`` longer to answer
DUPLICATE_FILL_EVENTS     every fill is published twice on the event stream
========================  =====================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from fundarb.errors import ConfigError

__all__ = ["Fault", "FaultInjector", "FaultKind"]

ORDER_CALLS = frozenset({"place_limit_order", "place_market_order"})
BOOK_CALLS = frozenset({"fetch_bbo_prices", "get_order_book_depth"})


class FaultKind(StrEnum):
    REJECT = "reject"
    PARTIAL_FILL = "partial_fill"
    ACCEPT_THEN_TIMEOUT = "accept_then_timeout"
    DROP_REQUEST = "drop_request"
    CANCEL_LOSES_RACE = "cancel_loses_race"
    FILL_AFTER_CANCEL = "fill_after_cancel"
    CANCEL_FAILS = "cancel_fails"
    STALE_BOOK = "stale_book"
    EMPTY_BOOK = "empty_book"
    OUTAGE = "outage"
    RATE_LIMIT = "rate_limit"
    SLOW = "slow"
    DUPLICATE_FILL_EVENTS = "duplicate_fill_events"


# Calls each kind applies to when ``on`` is not given.
_DEFAULT_CALLS: dict[FaultKind, frozenset[str]] = {
    FaultKind.REJECT: ORDER_CALLS,
    FaultKind.PARTIAL_FILL: ORDER_CALLS,
    FaultKind.ACCEPT_THEN_TIMEOUT: ORDER_CALLS,
    FaultKind.DROP_REQUEST: ORDER_CALLS,
    FaultKind.CANCEL_LOSES_RACE: frozenset({"cancel_order"}),
    FaultKind.FILL_AFTER_CANCEL: frozenset({"cancel_order"}),
    FaultKind.CANCEL_FAILS: frozenset({"cancel_order"}),
    FaultKind.STALE_BOOK: BOOK_CALLS,
    FaultKind.EMPTY_BOOK: BOOK_CALLS,
    FaultKind.OUTAGE: frozenset(),
    FaultKind.RATE_LIMIT: frozenset(),
    FaultKind.SLOW: frozenset(),
    FaultKind.DUPLICATE_FILL_EVENTS: frozenset({"events"}),
}
# Kinds checked before the request is processed (they stop or delay the whole call).
GATE_KINDS = frozenset({FaultKind.OUTAGE, FaultKind.RATE_LIMIT, FaultKind.SLOW})


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """One injected fault. Build with the class methods, e.g. ``Fault.reject()``."""

    kind: FaultKind
    on: frozenset[str] = frozenset()  # method names; empty: the kind's default calls
    symbol: str | None = None
    count: int | None = 1  # how many calls it hits; None: every matching call
    skip: int = 0  # let this many matching calls through first
    start_s: float = -math.inf  # active in [start_s, end_s), seconds since the venue started
    end_s: float = math.inf
    fraction: Decimal = Decimal("0.5")  # PARTIAL_FILL, FILL_AFTER_CANCEL
    delay_s: float = 0.0  # SLOW, FILL_AFTER_CANCEL, ACCEPT_THEN_TIMEOUT (0: venue timeout_s)
    retry_after_s: float = 1.0  # RATE_LIMIT
    message: str = ""

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise ConfigError(f"fault count must be 1 or more (or None), got {self.count}")
        if self.skip < 0:
            raise ConfigError(f"fault skip must be zero or more, got {self.skip}")
        if not (0 < self.fraction < 1):
            raise ConfigError(f"fault fraction must be in (0, 1), got {self.fraction}")
        if self.delay_s < 0 or self.end_s <= self.start_s:
            raise ConfigError("fault delay_s must be >= 0 and end_s > start_s")

    @property
    def calls(self) -> frozenset[str]:
        return self.on or _DEFAULT_CALLS[self.kind]

    def applies_to(self, method: str, symbol: str | None, now: float) -> bool:
        calls = self.calls
        return (
            (not calls or method in calls)
            and (self.symbol is None or symbol is None or symbol == self.symbol)
            and self.start_s <= now < self.end_s
        )

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def reject(cls, *, message: str = "rejected by venue (injected)", **kw: object) -> Fault:
        return cls._make(FaultKind.REJECT, message=message, **kw)

    @classmethod
    def partial_fill(cls, fraction: Decimal = Decimal("0.5"), **kw: object) -> Fault:
        return cls._make(FaultKind.PARTIAL_FILL, fraction=fraction, **kw)

    @classmethod
    def accept_then_timeout(cls, **kw: object) -> Fault:
        return cls._make(FaultKind.ACCEPT_THEN_TIMEOUT, **kw)

    @classmethod
    def drop_request(cls, **kw: object) -> Fault:
        return cls._make(FaultKind.DROP_REQUEST, **kw)

    @classmethod
    def cancel_loses_race(cls, **kw: object) -> Fault:
        return cls._make(FaultKind.CANCEL_LOSES_RACE, **kw)

    @classmethod
    def fill_after_cancel(
        cls, fraction: Decimal = Decimal("0.5"), *, delay_s: float = 0.5, **kw: object
    ) -> Fault:
        return cls._make(FaultKind.FILL_AFTER_CANCEL, fraction=fraction, delay_s=delay_s, **kw)

    @classmethod
    def cancel_fails(cls, **kw: object) -> Fault:
        return cls._make(FaultKind.CANCEL_FAILS, **kw)

    @classmethod
    def stale_book(cls, **kw: object) -> Fault:
        return cls._make(FaultKind.STALE_BOOK, **kw)

    @classmethod
    def empty_book(cls, **kw: object) -> Fault:
        return cls._make(FaultKind.EMPTY_BOOK, **kw)

    @classmethod
    def outage(cls, *, start_s: float, duration_s: float, **kw: object) -> Fault:
        """Every call in ``[start_s, start_s + duration_s)`` after the venue started fails."""
        kw.setdefault("count", None)
        return cls._make(FaultKind.OUTAGE, start_s=start_s, end_s=start_s + duration_s, **kw)

    @classmethod
    def rate_limit(cls, *, retry_after_s: float = 1.0, **kw: object) -> Fault:
        return cls._make(FaultKind.RATE_LIMIT, retry_after_s=retry_after_s, **kw)

    @classmethod
    def slow(cls, *, delay_s: float, **kw: object) -> Fault:
        return cls._make(FaultKind.SLOW, delay_s=delay_s, **kw)

    @classmethod
    def duplicate_fill_events(cls, **kw: object) -> Fault:
        kw.setdefault("count", None)
        return cls._make(FaultKind.DUPLICATE_FILL_EVENTS, **kw)

    @classmethod
    def _make(cls, kind: FaultKind, **kw: object) -> Fault:
        on = kw.pop("on", None)
        if isinstance(on, str):
            kw["on"] = frozenset({on})
        elif on is not None:
            kw["on"] = frozenset(on)  # type: ignore[call-overload]
        return cls(kind=kind, **kw)  # type: ignore[arg-type]


@dataclass(slots=True)
class _Armed:
    fault: Fault
    seen: int = 0
    used: int = 0


@dataclass(slots=True)
class FaultInjector:
    """The faults armed on one venue; each call takes the first that applies."""

    _armed: list[_Armed] = field(default_factory=list)
    fired: list[tuple[float, str, FaultKind]] = field(default_factory=list)

    def add(self, *faults: Fault) -> None:
        self._armed.extend(_Armed(f) for f in faults)

    def clear(self) -> None:
        self._armed.clear()

    @property
    def pending(self) -> list[Fault]:
        """Faults that may still fire."""
        return [a.fault for a in self._armed if a.fault.count is None or a.used < a.fault.count]

    def take(
        self, method: str, symbol: str | None, now: float, kinds: frozenset[FaultKind] | None = None
    ) -> Fault | None:
        """Return (and use up) the first armed fault for this call, if any."""
        for armed in self._armed:
            fault = armed.fault
            if kinds is not None and fault.kind not in kinds:
                continue
            if kinds is None and fault.kind in GATE_KINDS:
                continue
            if fault.count is not None and armed.used >= fault.count:
                continue
            if not fault.applies_to(method, symbol, now):
                continue
            armed.seen += 1
            if armed.seen <= fault.skip:
                continue
            armed.used += 1
            self.fired.append((now, method, fault.kind))
            return fault
        return None
