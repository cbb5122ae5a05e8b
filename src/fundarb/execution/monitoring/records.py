"""What an execution did, as frozen values: :class:`ExecutionRecord` and its :class:`LegRecord`.

Money, prices and quantities are exact ``Decimal``; times are UTC; durations are float
milliseconds. Slippage is signed so that positive is a cost: ``slippage_pct`` is a fraction
(``Decimal("0.002")`` is 0.2 %, 20 bps), ``slippage_bps`` is in basis points; both are
measured against the arrival mid.

:meth:`ExecutionRecord.to_dict` / :meth:`ExecutionRecord.from_dict` round-trip exactly
through JSON (Decimals as strings, times as ISO 8601 with ``+00:00``); the spool file and the
storage layer use them. Bad values raise ``ValueError`` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from fundarb.execution.core.order_executor import ExecutionResult
from fundarb.execution.patterns.atomic_multi_order import AtomicExecutionResult, AtomicOutcome
from fundarb.venues.orders import Side, parse_side

__all__ = ["LEG_ROLES", "OUTCOMES", "ExecutionRecord", "LegRecord", "field_kinds"]

_ZERO: Final = Decimal(0)
_BPS: Final = Decimal(10_000)

# An atomic execution's outcome (AtomicOutcome values), or a single leg's.
OUTCOMES: Final = (
    *(o.value for o in AtomicOutcome),
    "partial",  # a single leg that filled some of its target
    "not_filled",  # a single leg that filled nothing
)
# What a leg record is: the leg's own order(s), or a later order that adjusted it.
LEG_ROLES: Final = (
    "entry",  # the leg as executed
    "hedge",  # same side as the leg: completes a lagging leg
    "unwind",  # opposite side: trims or rolls the leg back
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LegRecord:
    """One leg (or one adjustment of a leg) of an execution.

    ``quantity`` is the base quantity asked, ``filled_quantity`` what filled; ``fill_price``
    is the VWAP of the fills; ``decision_price`` the book price the leg was decided and
    sized at; ``limit_price`` the price of the leg's first order, None for a market order
    and when unknown. ``time_to_ack_ms`` and ``time_to_fill_ms`` run from the leg's first
    send to its first acknowledgement and to the last rise in its filled quantity.
    ``slippage_bps`` (fill VWAP against ``arrival_mid``, positive is cost) is computed from
    the prices when not given. ``retries`` counts the orders sent after the first one and
    the sends repeated under the same client order id.
    ``index`` is the leg's position in the execution; adjustments share their leg's index
    and differ by ``role`` (see :data:`LEG_ROLES`).
    """

    venue: str
    symbol: str
    side: str  # "buy" or "sell", stored as a Side
    mode: str  # the ExecutionMode value used ("" when unknown)
    quantity: Decimal
    filled_quantity: Decimal = _ZERO
    arrival_mid: Decimal | None = None
    decision_price: Decimal | None = None
    limit_price: Decimal | None = None
    fill_price: Decimal | None = None
    maker_quantity: Decimal = _ZERO
    taker_quantity: Decimal = _ZERO
    fees: Decimal = _ZERO  # quote currency; negative is a rebate
    fees_estimated: bool = False
    time_to_ack_ms: float | None = None
    time_to_fill_ms: float | None = None
    elapsed_ms: float | None = None  # the whole leg, from its first read to its result
    retries: int = 0
    slippage_bps: Decimal | None = None
    index: int = 0
    role: str = "entry"
    client_order_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        name = "LegRecord"
        _set(self, "venue", _text(self.venue, f"{name}.venue"))
        _set(self, "symbol", _text(self.symbol, f"{name}.symbol"))
        try:
            _set(self, "side", parse_side(self.side))
        except ValueError:
            raise ValueError(f"{name}.side must be 'buy' or 'sell', got {self.side!r}") from None
        _set(self, "mode", _text(self.mode, f"{name}.mode", empty=True))
        for money in ("quantity", "filled_quantity", "maker_quantity", "taker_quantity"):
            _set(self, money, _decimal(getattr(self, money), f"{name}.{money}", non_negative=True))
        _set(self, "fees", _decimal(self.fees, f"{name}.fees"))
        for price in ("arrival_mid", "decision_price", "limit_price", "fill_price"):
            _set(self, price, _optional_decimal(getattr(self, price), f"{name}.{price}"))
        _set(self, "fees_estimated", _flag(self.fees_estimated, f"{name}.fees_estimated"))
        for ms in ("time_to_ack_ms", "time_to_fill_ms", "elapsed_ms"):
            _set(self, ms, _milliseconds(getattr(self, ms), f"{name}.{ms}"))
        _set(self, "retries", _count(self.retries, f"{name}.retries"))
        _set(self, "index", _count(self.index, f"{name}.index"))
        if self.role not in LEG_ROLES:
            raise ValueError(f"{name}.role must be one of {LEG_ROLES}, got {self.role!r}")
        _set(self, "client_order_ids", _texts(self.client_order_ids, f"{name}.client_order_ids"))
        bps = _optional_decimal(self.slippage_bps, f"{name}.slippage_bps")
        if bps is None and self.fill_price is not None and self.arrival_mid:
            sign = Side(self.side).sign
            bps = (self.fill_price - self.arrival_mid) / self.arrival_mid * sign * _BPS
        _set(self, "slippage_bps", bps)

    @classmethod
    def from_result(
        cls, result: ExecutionResult, *, index: int = 0, role: str = "entry"
    ) -> LegRecord:
        """The record of one :class:`ExecutionResult`.

        ``limit_price`` is the price of the first order sent (the full list is the result's
        ``limit_prices``); the times are the result's seconds in milliseconds, None where
        the result has none; ``elapsed_ms`` is the executor's whole time for the leg.
        ``retries`` is the number of orders sent after the first (re-prices, ladder rungs,
        the fallback) plus the sends retried under the same client order id.
        """
        slippage = result.slippage_pct
        return cls(
            venue=result.venue,
            symbol=result.symbol,
            side=result.side,
            mode=result.execution_mode_used.value,
            quantity=result.target_quantity,
            filled_quantity=result.filled_quantity,
            arrival_mid=result.arrival_mid,
            decision_price=result.decision_price,
            limit_price=result.limit_prices[0] if result.limit_prices else None,
            fill_price=result.fill_price,
            maker_quantity=result.maker_quantity,
            taker_quantity=result.taker_quantity,
            fees=result.fees,
            fees_estimated=result.fees_estimated,
            time_to_ack_ms=_ms(result.time_to_ack_s),
            time_to_fill_ms=_ms(result.time_to_fill_s),
            elapsed_ms=result.elapsed_s * 1000,
            retries=max(len(result.client_order_ids) - 1, 0) + result.send_retries,
            slippage_bps=slippage * _BPS if slippage is not None else None,
            index=index,
            role=role,
            client_order_ids=result.client_order_ids,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings, tuples as lists; see :meth:`from_dict`."""
        return {f: _encode(_LEG_KINDS[f], getattr(self, f)) for f in _LEG_KINDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LegRecord:
        """The inverse of :meth:`to_dict`. Raises ``ValueError`` on unknown or missing keys."""
        return cls(**_decode_all(data, _LEG_KINDS, "LegRecord"))


@dataclass(frozen=True, slots=True, init=False)
class ExecutionRecord:
    """One execution: a single leg or an atomic multi-leg execution.

    Keyword-only. ``execution_id`` may be given as a ``UUID``; it is stored as ``str``.
    ``time`` defaults to now (UTC; aware datetimes are converted, naive ones refused).
    ``outcome`` is one of :data:`OUTCOMES`, and defaults to ``"filled"`` or ``"not_filled"``
    from ``filled``; ``filled`` is True exactly when the outcome is ``"filled"``.
    ``slippage_pct`` is a fraction against the arrival mid (positive is cost).
    ``mode`` and ``venue`` default to the first leg's ("" when there is no leg).
    ``rollback_cost_usd`` is the loss of trades undone, fees included; ``leg_skew_ms`` the
    spread of the legs' first sends; ``elapsed_ms`` the whole execution.
    """

    execution_id: str
    strategy_name: str
    symbol: str
    filled: bool
    slippage_pct: Decimal | None
    time: datetime
    outcome: str
    rollback_cost_usd: Decimal
    leg_skew_ms: float | None
    elapsed_ms: float | None
    legs: tuple[LegRecord, ...]
    mode: str
    venue: str
    error_message: str | None

    def __init__(
        self,
        *,
        execution_id: str | UUID,
        strategy_name: str,
        symbol: str,
        filled: bool,
        slippage_pct: Decimal | None = None,
        time: datetime | None = None,
        outcome: str | None = None,
        rollback_cost_usd: Decimal = _ZERO,
        leg_skew_ms: float | None = None,
        elapsed_ms: float | None = None,
        legs: Sequence[LegRecord] = (),
        mode: str | None = None,
        venue: str | None = None,
        error_message: str | None = None,
    ) -> None:
        name = "ExecutionRecord"
        if isinstance(execution_id, UUID):
            execution_id = str(execution_id)
        _set(self, "execution_id", _text(execution_id, f"{name}.execution_id"))
        _set(self, "strategy_name", _text(strategy_name, f"{name}.strategy_name"))
        _set(self, "symbol", _text(symbol, f"{name}.symbol"))
        _set(self, "filled", _flag(filled, f"{name}.filled"))
        _set(self, "slippage_pct", _optional_decimal(slippage_pct, f"{name}.slippage_pct"))
        _set(self, "time", _utc(datetime.now(UTC) if time is None else time, f"{name}.time"))
        if outcome is None:
            outcome = "filled" if filled else "not_filled"
        if outcome not in OUTCOMES:
            raise ValueError(f"{name}.outcome must be one of {OUTCOMES}, got {outcome!r}")
        if filled != (outcome == "filled"):
            raise ValueError(f"{name}.filled is {filled} but outcome is {outcome!r}")
        _set(self, "outcome", outcome)
        cost = _decimal(rollback_cost_usd, f"{name}.rollback_cost_usd")
        _set(self, "rollback_cost_usd", cost)
        _set(self, "leg_skew_ms", _milliseconds(leg_skew_ms, f"{name}.leg_skew_ms"))
        _set(self, "elapsed_ms", _milliseconds(elapsed_ms, f"{name}.elapsed_ms"))
        given: object = legs
        if not isinstance(given, Sequence) or not all(isinstance(g, LegRecord) for g in given):
            raise ValueError(f"{name}.legs must be a sequence of LegRecord, got {legs!r}")
        _set(self, "legs", tuple(legs))
        first = legs[0] if legs else None
        if mode is None:
            mode = first.mode if first is not None else ""
        _set(self, "mode", _text(mode, f"{name}.mode", empty=True))
        if venue is None:
            venue = first.venue if first is not None else ""
        _set(self, "venue", _text(venue, f"{name}.venue", empty=True))
        if error_message is not None:
            error_message = _text(error_message, f"{name}.error_message", empty=True) or None
        _set(self, "error_message", error_message)

    @classmethod
    def from_result(
        cls, result: ExecutionResult, *, strategy_name: str, time: datetime | None = None
    ) -> ExecutionRecord:
        """The record of a single :meth:`OrderExecutor.execute_order` leg.

        Outcome ``filled``, ``partial`` or ``not_filled``; see :meth:`LegRecord.from_result`
        for the figures a result does not carry.
        """
        if result.filled:
            outcome = "filled"
        else:
            outcome = "partial" if result.filled_quantity > 0 else "not_filled"
        return cls(
            execution_id=result.execution_id,
            strategy_name=strategy_name,
            symbol=result.symbol,
            filled=result.filled,
            slippage_pct=result.slippage_pct,
            time=time,
            outcome=outcome,
            elapsed_ms=result.elapsed_s * 1000,
            legs=(LegRecord.from_result(result),),
            venue=result.venue,
            error_message=result.error_message,
        )

    @classmethod
    def from_atomic(
        cls,
        result: AtomicExecutionResult,
        *,
        strategy_name: str,
        symbol: str | None = None,
        time: datetime | None = None,
    ) -> ExecutionRecord:
        """The record of an :meth:`AtomicMultiOrderExecutor.execute_atomically` call.

        One ``entry`` leg per leg (with nothing filled when the leg never ran), then its
        adjustments (``hedge`` on the leg's side, ``unwind`` on the other). ``symbol``
        defaults to the legs' symbols (joined with ``/`` when they differ); a result aborted
        before any leg was planned names none, so pass it then (else ``ValueError``).
        ``slippage_pct`` is the result's ``total_slippage_usd`` over the entries' filled
        notional at their arrival mids; ``leg_skew_ms`` is ``send_skew_ms``. Each leg's
        figures are as in :meth:`LegRecord.from_result`.
        """
        legs: list[LegRecord] = []
        for report in result.legs:
            if report.entry is not None:
                legs.append(LegRecord.from_result(report.entry, index=report.index))
            else:
                legs.append(
                    LegRecord(
                        venue=report.venue,
                        symbol=report.symbol,
                        side=report.side,
                        mode="",
                        quantity=report.target,
                        index=report.index,
                    )
                )
            legs.extend(
                LegRecord.from_result(
                    adjustment,
                    index=report.index,
                    role="hedge" if adjustment.side is report.side else "unwind",
                )
                for adjustment in report.adjustments
            )
        if symbol is None:
            names = list(dict.fromkeys(report.symbol for report in result.legs))
            if not names:
                raise ValueError(
                    "ExecutionRecord.symbol: the atomic result has no legs (aborted before "
                    "planning); pass symbol="
                )
            symbol = "/".join(names)
        notional = sum(
            (
                e.arrival_mid * e.filled_quantity
                for e in (r.entry for r in result.legs)
                if e is not None and e.arrival_mid is not None and e.fill_price is not None
            ),
            _ZERO,
        )
        return cls(
            execution_id=result.execution_id,
            strategy_name=strategy_name,
            symbol=symbol,
            filled=result.outcome is AtomicOutcome.FILLED,
            slippage_pct=result.total_slippage_usd / notional if notional else None,
            time=time,
            outcome=result.outcome.value,
            rollback_cost_usd=result.rollback_cost_usd,
            leg_skew_ms=result.send_skew_ms,
            elapsed_ms=result.execution_time_ms,
            legs=legs,
            error_message=result.error_message,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and exact: Decimals as strings, ``time`` as ISO 8601, legs as dicts."""
        return {f: _encode(_RECORD_KINDS[f], getattr(self, f)) for f in _RECORD_KINDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExecutionRecord:
        """The inverse of :meth:`to_dict`. Raises ``ValueError`` on unknown or missing keys."""
        return cls(**_decode_all(data, _RECORD_KINDS, "ExecutionRecord"))


# -- field kinds: how each field is written and read -------------------------------------------

_LEG_KINDS: Final[dict[str, str]] = {
    "venue": "text",
    "symbol": "text",
    "side": "text",
    "mode": "text",
    "quantity": "decimal",
    "filled_quantity": "decimal",
    "arrival_mid": "decimal?",
    "decision_price": "decimal?",
    "limit_price": "decimal?",
    "fill_price": "decimal?",
    "maker_quantity": "decimal",
    "taker_quantity": "decimal",
    "fees": "decimal",
    "fees_estimated": "bool",
    "time_to_ack_ms": "float?",
    "time_to_fill_ms": "float?",
    "elapsed_ms": "float?",
    "retries": "int",
    "slippage_bps": "decimal?",
    "index": "int",
    "role": "text",
    "client_order_ids": "texts",
}
_RECORD_KINDS: Final[dict[str, str]] = {
    "execution_id": "text",
    "strategy_name": "text",
    "symbol": "text",
    "filled": "bool",
    "slippage_pct": "decimal?",
    "time": "time",
    "outcome": "text",
    "rollback_cost_usd": "decimal",
    "leg_skew_ms": "float?",
    "elapsed_ms": "float?",
    "mode": "text",
    "venue": "text",
    "error_message": "text?",
    "legs": "legs",
}
assert list(_LEG_KINDS) == [f.name for f in fields(LegRecord)]
assert sorted(_RECORD_KINDS) == sorted(f.name for f in fields(ExecutionRecord))


def field_kinds(of: type[LegRecord] | type[ExecutionRecord]) -> dict[str, str]:
    """Each field's kind (``text``, ``text?``, ``decimal``, ``decimal?``, ``float?``,
    ``int``, ``bool``, ``time``, ``texts``, ``legs``), in the order :meth:`to_dict` uses."""
    return dict(_LEG_KINDS if of is LegRecord else _RECORD_KINDS)


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind in ("decimal", "decimal?"):
        return str(value)
    if kind == "time":
        return value.isoformat()
    if kind == "texts":
        return list(value)
    if kind == "legs":
        return [leg.to_dict() for leg in value]
    if kind == "text":
        return str(value)  # a Side as its plain value
    return value


def _decode_all(data: Mapping[str, Any], kinds: dict[str, str], owner: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{owner}.from_dict needs a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(kinds))
    if unknown:
        raise ValueError(f"{owner}.from_dict: unknown keys {unknown}")
    missing = [key for key in kinds if key not in data]
    if missing:
        raise ValueError(f"{owner}.from_dict: missing keys {missing}")
    return {key: _decode(kind, data[key], f"{owner}.{key}") for key, kind in kinds.items()}


def _decode(kind: str, value: Any, name: str) -> Any:
    if value is None or kind in ("text", "text?", "bool", "int", "float?"):
        return value  # the constructor checks the type
    if kind in ("decimal", "decimal?"):
        if isinstance(value, Decimal):
            return value
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a decimal string, got {value!r}")
        try:
            return Decimal(value)
        except ArithmeticError:
            raise ValueError(f"{name} must be a decimal string, got {value!r}") from None
    if kind == "time":
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an ISO 8601 time, got {value!r}") from None
    if kind == "texts":
        if not isinstance(value, list | tuple):
            raise ValueError(f"{name} must be a list of str, got {value!r}")
        return tuple(value)
    if kind == "legs":
        if not isinstance(value, list | tuple):
            raise ValueError(f"{name} must be a list of leg dicts, got {value!r}")
        return tuple(LegRecord.from_dict(leg) for leg in value)
    raise AssertionError(f"unknown field kind {kind}")


# -- validation ---------------------------------------------------------------------------------


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # frozen: the constructor's normalisation only


def _text(value: object, name: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or not (empty or value.strip()):
        raise ValueError(f"{name} must be a {'' if empty else 'non-empty '}str, got {value!r}")
    return value


def _texts(value: object, name: str) -> tuple[str, ...]:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or not all(isinstance(item, str) for item in value)
    ):
        raise ValueError(f"{name} must be a sequence of str, got {value!r}")
    return tuple(value)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, got {value!r}")
    return value


def _decimal(value: object, name: str, *, non_negative: bool = False) -> Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name} must be a finite Decimal (never a float), got {value!r}")
    if non_negative and value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _optional_decimal(value: object, name: str) -> Decimal | None:
    return None if value is None else _decimal(value, name)


def _milliseconds(value: object, name: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value >= 0)
    ):
        raise ValueError(f"{name} must be a finite number of ms, zero or more, got {value!r}")
    return float(value)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an int, zero or more, got {value!r}")
    return value


def _utc(value: object, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)
