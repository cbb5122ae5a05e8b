"""The entry algorithm: with ``algorithm: auto`` a pair larger than the depth the books show
is opened by a pair TWAP (several atomic slices, legs level, every fill booked); with
``atomic`` (the default) it is one atomic execution, whatever the books (too thin: the
pre-flight refuses it, as before)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

from fundarb.funding.opportunities import Opportunity
from fundarb.strategies.funding_arbitrage import PositionState
from tests.strategies.books import assert_books_balance, assert_flat, open_one
from tests.strategies.conftest import World, easy_settings, world

SIZE_USD = Decimal(5000)


def thin_books(sim_world: World) -> Callable[[Opportunity], Awaitable[None]]:
    """Before the entry, leave each leg's book with half the pair's quantity on each side
    (five levels next to the mid); the market model refills it at its next step."""

    async def thin(opportunity: Opportunity) -> None:
        for venue, leg in (
            (opportunity.long_venue, opportunity.long_leg),
            (opportunity.short_venue, opportunity.short_leg),
        ):
            client = sim_world.sims[venue]
            symbol = leg.venue_symbol
            spec = await client.get_market_spec(symbol)
            bid, ask = await client.fetch_bbo_prices(symbol)
            level = SIZE_USD / ask / 2 / 5 // spec.lot_size * spec.lot_size
            tick = spec.tick_size
            client.set_book(
                symbol,
                bids=[(bid - i * tick, level) for i in range(5)],
                asks=[(ask + i * tick, level) for i in range(5)],
            )

    return thin


async def test_auto_opens_a_pair_too_large_for_the_books_through_a_pair_twap(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as sim_world:
        before = await sim_world.equity()
        settings = easy_settings(
            symbols=("SOL",),
            max_positions=1,
            size_usd=str(SIZE_USD),
            execution={"algorithm": "auto", "twap_duration_s": 300},
        )
        strategy = sim_world.strategy(settings, before_entry=thin_books(sim_world))

        position = await open_one(strategy)

        chosen = [e.text for e in strategy.events if e.kind == "algorithm"]
        assert len(chosen) == 1
        assert "pair_twap" in chosen[0]
        assert "of the visible depth" in chosen[0]
        assert position.state is PositionState.OPEN
        assert position.entry_execution_id == f"entry-{position.position_id}"
        slices = {t.execution_id for t in position.trades if t.kind == "twap"}
        assert len(slices) >= 3
        assert strategy.executions >= len(slices)
        long_q = position.net_quantity(position.long)
        assert long_q == -position.net_quantity(position.short) == position.quantity > 0
        for leg, signed in ((position.long, long_q), (position.short, -long_q)):
            listed = await sim_world.sims[leg.venue].get_position(leg.symbol)
            assert listed is not None
            assert listed.quantity == signed  # the venues agree with the booked trades
        assert all(t.fee > 0 and t.mid > 0 for t in position.trades)
        rows = {r.position_id: r for r in await sim_world.store.load_positions()}
        assert rows[position.position_id].state == PositionState.OPEN.value

        await strategy.close_all("end of test")

        assert position.state is PositionState.CLOSED
        await assert_flat(sim_world)
        assert_books_balance(strategy, before, await sim_world.equity())


async def test_atomic_sends_one_execution_whatever_the_books(tmp_path: Path) -> None:
    async with world(tmp_path) as sim_world:
        before = await sim_world.equity()
        settings = easy_settings(
            symbols=("SOL",), max_positions=1, size_usd=str(SIZE_USD), cooldown_s=0
        )
        assert settings.execution.algorithm == "atomic"
        strategy = sim_world.strategy(settings, before_entry=thin_books(sim_world))
        await strategy.start()

        assert await strategy.scan() == []  # as ever: one atomic pair, refused by its pre-flight

        assert not [e for e in strategy.events if e.kind == "algorithm"]
        failed = [e.text for e in strategy.events if e.kind == "open_failed"]
        assert failed
        assert all("aborted_preflight" in text and "insufficient_depth" in text for text in failed)
        assert strategy.executions == len(failed)
        assert all(
            r.state == PositionState.FAILED.value for r in await sim_world.store.load_positions()
        )
        await assert_flat(sim_world)
        assert await sim_world.equity() == before


async def test_auto_opens_a_pair_the_books_can_take_in_one_atomic_execution(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as sim_world:
        before = await sim_world.equity()
        settings = easy_settings(symbols=("SOL",), max_positions=1, execution={"algorithm": "auto"})
        strategy = sim_world.strategy(settings)

        position = await open_one(strategy)

        chosen = [e.text for e in strategy.events if e.kind == "algorithm"]
        assert len(chosen) == 1
        assert chosen[0].startswith("SOL: atomic: ")
        assert strategy.executions == 1
        assert {t.execution_id for t in position.trades} == {position.entry_execution_id}
        await strategy.close_all("end of test")
        await assert_flat(sim_world)
        assert_books_balance(strategy, before, await sim_world.equity())
