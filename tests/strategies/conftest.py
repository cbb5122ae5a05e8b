"""A strategy on the three simulated venues, a fast-forwarded loop and a SQLite file."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fundarb.config import Config, FundingSettings, StrategySettings
from fundarb.fastforward import track_sqlite
from fundarb.funding.service import VenueFeed, open_venues
from fundarb.funding.simworld import WorldConfig
from fundarb.storage import Store
from fundarb.storage.journal import Journal
from fundarb.strategies.funding_arbitrage import FundingArbitrage

START = datetime(2026, 3, 2, tzinfo=UTC)


@dataclass
class World:
    feeds: list[VenueFeed]
    store: Store
    tmp: Path

    @property
    def sims(self) -> dict[str, Any]:
        return {feed.name: feed.client for feed in self.feeds}

    def clock(self) -> datetime:
        return next(iter(self.sims.values())).core.venue_time()

    def strategy(self, settings: StrategySettings | None = None, **kw: Any) -> FundingArbitrage:
        settings = settings or easy_settings()
        return FundingArbitrage(
            self.feeds,
            self.store,
            settings,
            clock=self.clock,
            funding=FundingSettings(collect_every_s=60, horizon_hours=24, notional_usd=5000),
            journal=Journal(self.store, spool_path=self.tmp / "journal-spool.jsonl"),
            **kw,
        )

    async def equity(self) -> Decimal:
        total = Decimal(0)
        for client in self.sims.values():
            total += (await client.get_balance()).equity
        return total


def easy_settings(**changes: Any) -> StrategySettings:
    """Settings that enter readily (tests are about the lifecycle, not the thresholds)."""
    base: dict[str, Any] = {
        "symbols": ("BTC", "ETH", "SOL"),
        "size_usd": "5000",
        "max_positions": 2,
        "max_total_notional_usd": "20000",
        "scan_every_s": 600,
        "monitor_every_s": 120,
        "cooldown_s": 3600,
        "entry": {"min_net_apr": "0.0", "max_break_even_hours": "1000", "horizon_hours": "24"},
        "exit": {"min_net_spread_apr": "-10", "close_on_flip": False, "max_holding_hours": "48"},
        "execution": {"mode": "market_only", "timeout_s": 30},
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return StrategySettings.model_validate(base)


@contextlib.asynccontextmanager
async def world(tmp: Path, *, seed: int = 7) -> AsyncIterator[World]:
    config = Config()
    async with (
        Store.open(f"sqlite+aiosqlite:///{tmp / 'fundarb.db'}") as store,
        open_venues(
            config,
            world=WorldConfig(
                seed=seed, start_time=START, step_s=30, symbols=frozenset({"BTC", "ETH", "SOL"})
            ),
        ) as feeds,
    ):
        await store.upgrade()
        yield World(feeds, store, tmp)


@pytest.fixture(autouse=True)
def _sqlite_holds_the_clock() -> Iterator[None]:
    with track_sqlite():
        yield
