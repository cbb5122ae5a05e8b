"""PairPosition's PnL split adds up exactly, and a position survives its database row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from fundarb.strategies.funding_arbitrage import (
    FundingEntry,
    LegRef,
    PairPosition,
    PositionState,
    Trade,
)
from fundarb.venues.orders import Side

LONG = LegRef("beta", "SOL/USDT:USDT")
SHORT = LegRef("alpha", "SOLUSDT")
T0 = datetime(2026, 3, 2, tzinfo=UTC)

money = st.decimals(min_value=Decimal("-1000"), max_value=Decimal("1000"), places=6)
prices = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100000"), places=4)
quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000"), places=3)
kinds = st.sampled_from(["entry", "exit", "adjustment", "liquidation", "reconstructed"])

trades = st.builds(
    lambda leg, side, quantity, price, mid, fee, minutes, kind: Trade(
        venue=leg.venue,
        symbol=leg.symbol,
        side=side,
        quantity=quantity,
        price=price,
        mid=mid,
        fee=fee,
        time=T0 + timedelta(minutes=minutes),
        kind=kind,
        execution_id=f"x{minutes}",
    ),
    st.sampled_from([LONG, SHORT]),
    st.sampled_from([Side.BUY, Side.SELL]),
    quantities,
    prices,
    prices,
    money,
    st.integers(min_value=0, max_value=10_000),
    kinds,
)
fundings = st.builds(
    lambda leg, hours, rate, amount, estimated: FundingEntry(
        venue=leg.venue,
        symbol=leg.symbol,
        funding_time=T0 + timedelta(hours=hours),
        rate=rate,
        amount=amount,
        estimated=estimated,
    ),
    st.sampled_from([LONG, SHORT]),
    st.integers(min_value=0, max_value=1000),
    st.decimals(min_value=Decimal("-0.01"), max_value=Decimal("0.01"), places=8),
    money,
    st.booleans(),
)
marks = st.fixed_dictionaries(
    {f"{LONG.venue}:{LONG.symbol}": prices, f"{SHORT.venue}:{SHORT.symbol}": prices}
)


def _position(
    trade_list: list[Trade], funding_list: list[FundingEntry], mark_map: dict[str, Decimal]
) -> PairPosition:
    return PairPosition(
        position_id="p1",
        strategy_name="funding_arbitrage",
        symbol="SOL",
        long=LONG,
        short=SHORT,
        notional_usd=Decimal(5000),
        created_at=T0,
        state=PositionState.OPEN,
        quantity=Decimal("33.3"),
        opened_at=T0,
        entry_execution_id="x0",
        exit_execution_ids=["x1"],
        entry_net_apr=Decimal("0.27"),
        entry_break_even_hours=Decimal("17.5"),
        trades=trade_list,
        funding=funding_list,
        marks=mark_map,
        notes=["a note"],
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(trades, max_size=12), st.lists(fundings, max_size=6), marks)
def test_pnl_split_adds_up_exactly(
    trade_list: list[Trade], funding_list: list[FundingEntry], mark_map: dict[str, Decimal]
) -> None:
    position = _position(trade_list, funding_list, mark_map)

    pnl = position.pnl()

    cash = sum((-t.signed * t.price for t in trade_list), Decimal(0))
    held = sum(
        (
            position.net_quantity(leg) * mark_map[f"{leg.venue}:{leg.symbol}"]
            for leg in position.legs
        ),
        Decimal(0),
    )
    paid = sum((f.amount for f in funding_list), Decimal(0))
    fees = sum((t.fee for t in trade_list), Decimal(0))
    assert pnl.total == cash + held + paid - fees
    assert pnl.funding + pnl.basis - pnl.fees - pnl.slippage == pnl.total
    assert pnl.funding == paid
    assert pnl.fees == fees


@settings(max_examples=40, deadline=None)
@given(
    st.lists(trades, max_size=8),
    st.lists(fundings, max_size=5),
    marks,
    st.sampled_from(list(PositionState)),
    st.one_of(st.none(), st.sampled_from(["max_holding_time", "liquidated"])),
)
def test_a_position_round_trips_through_its_row(
    trade_list: list[Trade],
    funding_list: list[FundingEntry],
    mark_map: dict[str, Decimal],
    state: PositionState,
    exit_reason: str | None,
) -> None:
    position = _position(trade_list, funding_list, mark_map)
    position.state = state
    position.exit_reason = exit_reason
    position.closed_at = T0 + timedelta(days=1) if exit_reason else None

    row = position.to_row(T0 + timedelta(days=2))
    again = PairPosition.from_row(row)

    assert again == position
    assert again.to_row(T0 + timedelta(days=2)) == row
    assert row.pnl_usd == position.pnl().total
