"""ExecutionRecord and LegRecord: defaults, validation, exact dicts, and built from results."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D
from typing import Any
from uuid import UUID, uuid4

import pytest

from fundarb.execution import (
    AtomicMultiOrderExecutor,
    AtomicOutcome,
    ExecutionMode,
    ExecutionRecord,
    LegRecord,
    OrderExecutor,
    OrderSpec,
)
from fundarb.venues.sim import Fault, SimulatedExchange
from tests.conftest import BOOK, BTC, static_venue

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _venue(name: str = "static") -> SimulatedExchange:
    venue = static_venue(venue=name)
    venue.set_book(BTC, **BOOK)
    return venue


def _leg(**overrides: Any) -> LegRecord:
    values: dict[str, Any] = {
        "venue": "a",
        "symbol": BTC,
        "side": "buy",
        "mode": "market_only",
        "quantity": D("0.5"),
        "filled_quantity": D("0.5"),
        "arrival_mid": D("49999.95"),
        "decision_price": D("50000.0"),
        "limit_price": D("50250.0"),
        "fill_price": D("50000.03333333333333333333333"),
        "maker_quantity": D("0.1"),
        "taker_quantity": D("0.4"),
        "fees": D("-0.0012500000000000000000000001"),
        "time_to_ack_ms": 1.25,
        "time_to_fill_ms": 3.5,
        "elapsed_ms": 4.0,
        "retries": 1,
        "client_order_ids": ("fa-x-0-0", "fa-x-0-1"),
    }
    values.update(overrides)
    return LegRecord(**values)


def _record(**overrides: Any) -> ExecutionRecord:
    values: dict[str, Any] = {
        "execution_id": "e1",
        "strategy_name": "funding_arb",
        "symbol": BTC,
        "filled": True,
        "slippage_pct": D("0.00000166667"),
        "time": T0,
        "legs": (_leg(), _leg(venue="b", side="sell", mode="post_only", index=1)),
    }
    values.update(overrides)
    return ExecutionRecord(**values)


# -- construction ------------------------------------------------------------------------------


def test_the_issues_call_works_with_defaults() -> None:
    execution_id = uuid4()
    before = datetime.now(UTC)

    record = ExecutionRecord(
        execution_id=execution_id,
        strategy_name="funding_arb",
        symbol="BTC-PERP",
        filled=True,
        slippage_pct=D("0.002"),
    )

    assert record.execution_id == str(execution_id)
    assert UUID(record.execution_id) == execution_id
    assert record.outcome == "filled"
    assert before <= record.time <= datetime.now(UTC)
    assert record.time.tzinfo is UTC
    assert record.rollback_cost_usd == 0
    assert record.legs == ()
    assert (record.mode, record.venue) == ("", "")
    assert record.leg_skew_ms is None
    assert record.error_message is None


def test_mode_and_venue_default_to_the_first_legs() -> None:
    record = _record()

    assert (record.mode, record.venue) == ("market_only", "a")
    assert replace(record, mode="adaptive", venue="z").venue == "z"


def test_an_unfilled_record_defaults_to_not_filled() -> None:
    assert _record(filled=False).outcome == "not_filled"


def test_times_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))

    record = _record(time=datetime(2026, 1, 1, 14, 0, tzinfo=plus_two))

    assert record.time == T0
    assert record.time.tzinfo is UTC


def test_leg_slippage_bps_is_computed_against_the_arrival_mid_positive_is_cost() -> None:
    buy = _leg(fill_price=D("50010"), arrival_mid=D("50000"))
    sell = _leg(side="sell", fill_price=D("50010"), arrival_mid=D("50000"))
    given = _leg(slippage_bps=D("7"))
    unfilled = _leg(fill_price=None)

    assert buy.slippage_bps == D("2")
    assert sell.slippage_bps == D("-2")
    assert given.slippage_bps == D("7")
    assert unfilled.slippage_bps is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"strategy_name": ""}, "strategy_name"),
        ({"symbol": 5}, "symbol"),
        ({"execution_id": ""}, "execution_id"),
        ({"filled": 1}, "filled"),
        ({"slippage_pct": 0.002}, "slippage_pct"),  # a float: never for money
        ({"slippage_pct": D("NaN")}, "slippage_pct"),
        ({"time": datetime(2026, 1, 1)}, "time"),  # naive
        ({"outcome": "won"}, "outcome"),
        ({"filled": True, "outcome": "hedged"}, "filled"),
        ({"filled": False, "outcome": "filled"}, "filled"),
        ({"rollback_cost_usd": D("Infinity")}, "rollback_cost_usd"),
        ({"leg_skew_ms": -1.0}, "leg_skew_ms"),
        ({"elapsed_ms": float("nan")}, "elapsed_ms"),
        ({"legs": ["not a leg"]}, "legs"),
        ({"mode": None, "legs": (), "venue": 3}, "venue"),
        ({"error_message": 404}, "error_message"),
    ],
)
def test_bad_record_values_are_refused_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=f"ExecutionRecord.{field}"):
        _record(**overrides)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"venue": ""}, "venue"),
        ({"side": "long"}, "side"),
        ({"quantity": D("-1")}, "quantity"),
        ({"filled_quantity": 0.5}, "filled_quantity"),
        ({"maker_quantity": D("-0.1")}, "maker_quantity"),
        ({"fees": "0.1"}, "fees"),
        ({"fill_price": D("sNaN")}, "fill_price"),
        ({"time_to_fill_ms": -2}, "time_to_fill_ms"),
        ({"time_to_ack_ms": True}, "time_to_ack_ms"),
        ({"retries": -1}, "retries"),
        ({"index": 1.0}, "index"),
        ({"role": "hedging"}, "role"),
        ({"client_order_ids": "fa-x-0-0"}, "client_order_ids"),
    ],
)
def test_bad_leg_values_are_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"LegRecord.{field}"):
        _leg(**overrides)


def test_records_are_frozen() -> None:
    record = _record()

    with pytest.raises(AttributeError):
        record.filled = False  # type: ignore[misc]


# -- dicts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        _record(),
        _record(
            filled=False,
            outcome="rolled_back",
            slippage_pct=None,
            rollback_cost_usd=D("12.3400"),
            leg_skew_ms=0.1 + 0.2,  # a float with no short decimal form
            elapsed_ms=1e-7,
            error_message="leg 1: rejected",
            time=datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
            legs=(_leg(), _leg(role="unwind", side="sell", mode="", fill_price=None)),
        ),
        ExecutionRecord(execution_id="bare", strategy_name="s", symbol="ETH", filled=False),
    ],
)
def test_to_dict_and_from_dict_round_trip_exactly_through_json(record: ExecutionRecord) -> None:
    text = json.dumps(record.to_dict())

    back = ExecutionRecord.from_dict(json.loads(text))

    assert back == record
    assert back.to_dict() == record.to_dict()
    assert json.dumps(back.to_dict()) == text


def test_decimals_are_strings_that_keep_every_digit_and_exponent() -> None:
    record = _record(rollback_cost_usd=D("1.2300"))

    data = record.to_dict()

    assert data["rollback_cost_usd"] == "1.2300"
    assert data["legs"][0]["fill_price"] == "50000.03333333333333333333333"
    assert data["legs"][0]["fees"] == "-0.0012500000000000000000000001"
    assert data["time"] == "2026-01-01T12:00:00+00:00"
    assert str(ExecutionRecord.from_dict(data).rollback_cost_usd) == "1.2300"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(extra=1), "unknown keys"),
        (lambda d: d.pop("outcome"), "missing keys"),
        (lambda d: d.update(slippage_pct=0.002), "slippage_pct"),
        (lambda d: d.update(slippage_pct="lots"), "slippage_pct"),
        (lambda d: d.update(time="yesterday"), "time"),
        (lambda d: d.update(legs="none"), "legs"),
        (lambda d: d["legs"][0].update(quantity=1.5), "quantity"),
        (lambda d: d["legs"][0].pop("side"), "missing keys"),
    ],
)
def test_from_dict_refuses_bad_data(change: Any, message: str) -> None:
    data = _record().to_dict()
    change(data)

    with pytest.raises(ValueError, match=message):
        ExecutionRecord.from_dict(data)


# -- from results on simulated venues ------------------------------------------------------------


async def test_from_result_of_a_filled_market_order() -> None:
    venue = _venue()
    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("1.5"), mode=ExecutionMode.MARKET_ONLY
    )

    record = ExecutionRecord.from_result(result, strategy_name="funding_arb", time=T0)

    assert record.execution_id == result.execution_id
    assert (record.filled, record.outcome, record.symbol, record.venue) == (
        True,
        "filled",
        BTC,
        "static",
    )
    assert record.slippage_pct == result.slippage_pct
    assert record.mode == "market_only"
    assert record.time == T0
    (leg,) = record.legs
    assert (leg.venue, leg.symbol, leg.side, leg.mode, leg.role) == (
        "static",
        BTC,
        "buy",
        "market_only",
        "entry",
    )
    assert leg.quantity == leg.filled_quantity == D("1.5")
    assert leg.fill_price == result.fill_price == (D("50000.0") + D("50000.1") / 2) / D("1.5")
    assert leg.arrival_mid == D("49999.95")
    assert leg.fees == result.fees
    assert (leg.maker_quantity, leg.taker_quantity) == (D(0), D("1.5"))
    assert result.slippage_pct is not None
    assert leg.slippage_bps == result.slippage_pct * 10_000 > 0
    assert leg.client_order_ids == result.client_order_ids
    assert leg.retries == len(result.client_order_ids) - 1
    assert leg.elapsed_ms == result.elapsed_s * 1000
    # the ask it was sized at, and the IOC bound 0.5 % past it
    assert (leg.decision_price, leg.limit_price) == (D("50000.0"), D("50250.0"))
    assert (leg.time_to_ack_ms, leg.time_to_fill_ms) == (0.0, 0.0)  # no venue latency


async def test_from_result_of_a_partial_fill() -> None:
    venue = _venue()  # 3 BTC on the asks
    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("5"), mode=ExecutionMode.MARKET_ONLY
    )

    record = ExecutionRecord.from_result(result, strategy_name="s")

    assert (record.filled, record.outcome) == (False, "partial")
    assert record.legs[0].filled_quantity == D("3")
    assert record.error_message == result.error_message is not None


async def test_from_result_of_a_limit_that_never_filled() -> None:
    venue = _venue()
    result = await OrderExecutor().execute_order(
        venue, BTC, "buy", quantity=D("0.5"), mode=ExecutionMode.LIMIT_ONLY, timeout_seconds=2
    )

    record = ExecutionRecord.from_result(result, strategy_name="s")

    assert (record.filled, record.outcome, record.slippage_pct) == (False, "not_filled", None)
    (leg,) = record.legs
    assert (leg.mode, leg.filled_quantity, leg.fill_price, leg.slippage_bps) == (
        "limit_only",
        0,
        None,
        None,
    )


async def test_from_atomic_of_a_filled_pair() -> None:
    a, b = _venue("a"), _venue("b")
    result = await AtomicMultiOrderExecutor().execute_atomically(
        [
            OrderSpec(a, BTC, "buy", None, "market_only", quantity=D("0.5")),
            OrderSpec(b, BTC, "sell", None, "market_only", quantity=D("0.5")),
        ]
    )
    assert result.outcome is AtomicOutcome.FILLED

    record = ExecutionRecord.from_atomic(result, strategy_name="funding_arb")

    assert (record.filled, record.outcome, record.symbol) == (True, "filled", BTC)
    assert (record.venue, record.mode) == ("a", "market_only")
    assert record.leg_skew_ms == result.send_skew_ms
    assert record.elapsed_ms == result.execution_time_ms
    assert record.rollback_cost_usd == 0
    assert [(leg.venue, leg.side, leg.role, leg.index) for leg in record.legs] == [
        ("a", "buy", "entry", 0),
        ("b", "sell", "entry", 1),
    ]
    mids = D("49999.95") * D("0.5") * 2
    assert record.slippage_pct == result.total_slippage_usd / mids
    # buy 0.5 at 50000.0 and sell 0.5 at 49999.9 against the mid 49999.95: 0.05 each way
    assert result.total_slippage_usd == D("0.05")


async def test_from_atomic_of_a_rollback_records_the_unwind() -> None:
    a, b = _venue("a"), _venue("b")
    b.faults.add(Fault.reject(count=None))
    result = await AtomicMultiOrderExecutor().execute_atomically(
        [
            OrderSpec(a, BTC, "buy", None, "market_only", quantity=D("0.5")),
            OrderSpec(b, BTC, "sell", None, "market_only", quantity=D("0.5")),
        ]
    )
    assert result.outcome is AtomicOutcome.ROLLED_BACK

    record = ExecutionRecord.from_atomic(result, strategy_name="funding_arb")

    assert (record.filled, record.outcome) == (False, "rolled_back")
    assert record.rollback_cost_usd == result.rollback_cost_usd > 0
    entries = [leg for leg in record.legs if leg.role == "entry"]
    assert [(leg.venue, leg.filled_quantity) for leg in entries] == [("a", D("0.5")), ("b", 0)]
    unwinds = [leg for leg in record.legs if leg.role == "unwind"]
    assert [(leg.venue, leg.side, leg.index) for leg in unwinds] == [("a", "sell", 0)]
    assert sum(leg.filled_quantity for leg in unwinds) == D("0.5")
    assert record.error_message == result.error_message


async def test_from_atomic_of_an_aborted_execution_needs_the_symbol() -> None:
    a, b = _venue("a"), _venue("b")
    specs = [
        OrderSpec(a, BTC, "buy", None, "market_only", quantity=D("50")),  # far past the book
        OrderSpec(b, BTC, "sell", None, "market_only", quantity=D("50")),
    ]
    result = await AtomicMultiOrderExecutor().execute_atomically(specs)
    assert result.outcome is AtomicOutcome.ABORTED_PREFLIGHT

    with pytest.raises(ValueError, match="pass symbol="):
        ExecutionRecord.from_atomic(result, strategy_name="funding_arb")
    record = ExecutionRecord.from_atomic(result, strategy_name="funding_arb", symbol=BTC)

    assert (record.filled, record.outcome, record.legs) == (False, "aborted_preflight", ())
    assert record.slippage_pct is None
    assert record.error_message == result.error_message
