"""The rates service and its HTTP API, in process, on the simulated world.

Every endpoint; the filters; bad parameters get a 4xx with a message, never a 500 (also
under fuzzing); the token; a venue that fails is degraded while the others carry on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fundarb.config import Config
from fundarb.funding.api import create_app
from fundarb.funding.rates import FundingSample
from fundarb.funding.service import RatesService, open_venues
from fundarb.funding.simworld import WorldConfig
from fundarb.storage import Store
from fundarb.venues.sim import Fault

START = datetime(2024, 3, 1, tzinfo=UTC)


@contextlib.asynccontextmanager
async def _service(tmp_path: Path, *, store: bool = True) -> AsyncIterator[RatesService]:
    async with contextlib.AsyncExitStack() as stack:
        opened = None
        if store:
            opened = await stack.enter_async_context(
                Store.open(f"sqlite:///{tmp_path / 'rates.db'}")
            )
            await opened.upgrade()
        feeds = await stack.enter_async_context(
            open_venues(Config(), world=WorldConfig(start_time=START))
        )
        yield RatesService(feeds, store=opened, clock=lambda: START)


def _client(service: RatesService, token: str | None = None) -> httpx.AsyncClient:
    app = create_app(service, token=token, collect=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_every_endpoint(tmp_path: Path) -> None:
    async with _service(tmp_path) as service, _client(service) as http:
        await service.collect()

        health = (await http.get("/health")).json()
        assert health["status"] == "ok"
        assert set(health["venues"]) == {"alpha", "beta", "gamma"}

        rates = (await http.get("/rates")).json()
        assert len(rates) == 11  # 4 + 3 + 4 listings
        btc_alpha = next(r for r in rates if r["venue"] == "alpha" and r["symbol"] == "BTC")
        assert btc_alpha["venue_symbol"] == "BTCUSDT"
        assert btc_alpha["interval_hours"] == "4"
        # exact decimals as strings, normalised consistently
        rate = Decimal(btc_alpha["rate"])
        assert Decimal(btc_alpha["rate_per_hour"]) == rate / 4
        assert Decimal(btc_alpha["apr"]) == rate / 4 * 8760
        pepe = {r["venue_symbol"]: r for r in rates if r["symbol"] == "PEPE"}
        assert set(pepe) == {"1000PEPEUSDT", "kPEPE"}
        assert {r["multiplier"] for r in pepe.values()} == {"1000"}

        assert {r["venue"] for r in (await http.get("/venues/gamma/rates")).json()} == {"gamma"}
        assert {r["symbol"] for r in (await http.get("/symbols/sol/rates")).json()} == {"SOL"}
        by_apr = (await http.get("/rates", params={"sort": "apr", "desc": "true"})).json()
        aprs = [Decimal(r["apr"]) for r in by_apr]
        assert aprs == sorted(aprs, reverse=True)

        history = (await http.get("/history", params={"symbol": "BTC"})).json()
        assert {r["venue"] for r in history} == {"alpha", "beta", "gamma"}

        stats = (await http.get("/stats", params={"symbol": "BTC"})).json()
        assert {s["venue"] for s in stats} == {"alpha", "beta", "gamma"}

        found = (await http.get("/opportunities")).json()
        assert found, "the simulated world always has spreads"
        first = found[0]
        assert Decimal(first["long_leg"]["rate_per_hour"]) <= Decimal(
            first["short_leg"]["rate_per_hour"]
        )
        if first["feasible"]:
            net = Decimal(first["net_return_usd"])
            costs = Decimal(first["fees_usd"]) + Decimal(first["slippage_usd"])
            assert net == Decimal(first["expected_funding_usd"]) - costs
        apr = [Decimal(o["net_apr"]) for o in found if o["net_apr"] is not None]
        assert apr == sorted(apr, reverse=True)

        openapi = (await http.get("/openapi.json")).json()
        assert {"/health", "/rates", "/history", "/stats", "/opportunities"} <= set(
            openapi["paths"]
        )


async def test_opportunity_filters(tmp_path: Path) -> None:
    async with _service(tmp_path, store=False) as service, _client(service) as http:
        await service.collect()

        async def get(**params: str) -> list[dict[str, object]]:
            response = await http.get("/opportunities", params=params)
            assert response.status_code == 200, response.text
            result: list[dict[str, object]] = response.json()
            return result

        every = await get(limit="1000")
        assert every
        only_btc = await get(symbols="btc", limit="1000")
        assert only_btc
        assert {o["symbol"] for o in only_btc} == {"BTC"}
        no_gamma = await get(exclude_venues="gamma", limit="1000")
        assert all("gamma" not in (o["long_venue"], o["short_venue"]) for o in no_gamma)
        pair = await get(venues="alpha,beta", limit="1000")
        assert all({o["long_venue"], o["short_venue"]} == {"alpha", "beta"} for o in pair)
        high = await get(min_net_apr="0.5", limit="1000")
        assert all(Decimal(str(o["net_apr"])) >= Decimal("0.5") for o in high)
        assert len(high) < len(every)
        assert len(await get(limit="2")) == 2
        tight = await get(max_spread_bps="0", limit="1000")
        assert tight == []  # every simulated book has a spread of a tick or more
        bigger = await get(notional_usd="50000", horizon_hours="24", limit="1000")
        assert all(o["notional_usd"] == "50000" and o["horizon_hours"] == "24" for o in bigger)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/opportunities", {"min_net_apr": "abc"}),
        ("/opportunities", {"notional_usd": "-1"}),
        ("/opportunities", {"notional_usd": "NaN"}),
        ("/opportunities", {"horizon_hours": "0"}),
        ("/opportunities", {"max_spread_bps": "-3"}),
        ("/opportunities", {"mode": "yolo"}),
        ("/opportunities", {"limit": "0"}),
        ("/rates", {"sort": "bogus"}),
        ("/history", {"since": "yesterday"}),
        ("/history", {"limit": "-5"}),
        ("/stats", {}),
        ("/stats", {"symbol": "BTC", "hours": "0"}),
        ("/venues/nowhere/rates", {}),
    ],
)
async def test_bad_parameters_get_a_clear_4xx(
    tmp_path: Path, path: str, params: dict[str, str]
) -> None:
    async with _service(tmp_path) as service, _client(service) as http:
        await service.collect()
        response = await http.get(path, params=params)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["detail"]


_TEXT = st.one_of(
    st.none(),
    st.sampled_from(["", "0", "-1", "1e400", "NaN", "inf", "0.1", "abc", "BTC,ETH", ",,"]),
    st.text(max_size=12),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    params=st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            (
                "notional_usd",
                "horizon_hours",
                "min_net_apr",
                "min_open_interest_usd",
                "min_volume_24h_usd",
                "max_spread_bps",
                "venues",
                "exclude_venues",
                "symbols",
                "feasible_only",
                "mode",
                "limit",
            ),
            _TEXT,
        ),
    )
)
async def test_fuzzed_opportunity_queries_never_500(params: dict[str, str | None]) -> None:
    async with (
        open_venues(Config(), world=WorldConfig(start_time=START)) as feeds,
    ):
        service = RatesService(feeds, clock=lambda: START)
        await service.collect()
        async with _client(service) as http:
            sent = {k: v for k, v in params.items() if v is not None}
            response = await http.get("/opportunities", params=sent)
            assert response.status_code < 500, (sent, response.text)


async def test_a_token_guards_every_endpoint(tmp_path: Path) -> None:
    async with (
        _service(tmp_path, store=False) as service,
        _client(service, token="s3cret-token") as http,
    ):
        assert (await http.get("/health")).status_code == 401
        wrong = await http.get("/rates", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert "s3cret" not in wrong.text
        right = await http.get("/health", headers={"Authorization": "Bearer s3cret-token"})
        assert right.status_code == 200


async def test_a_failing_venue_is_degraded_and_the_others_carry_on(tmp_path: Path) -> None:
    async with _service(tmp_path) as service, _client(service) as http:
        beta = next(feed.client for feed in service.feeds if feed.name == "beta")
        beta.faults.add(Fault.outage(start_s=0, duration_s=600, count=None))
        await service.collect()
        health = (await http.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["degraded_venues"] == ["beta"]
        assert health["venues"]["beta"]["last_error"]
        rates = (await http.get("/rates")).json()
        assert {r["venue"] for r in rates} == {"alpha", "gamma"}
        found = (await http.get("/opportunities", params={"limit": "1000"})).json()
        assert found
        assert all("beta" not in (o["long_venue"], o["short_venue"]) for o in found)


async def test_history_in_the_store_blends_into_the_expected_rate(tmp_path: Path) -> None:
    async with _service(tmp_path) as service:
        assert service.store is not None
        past = [
            FundingSample(
                venue=venue,
                symbol="BTC",
                venue_symbol=listed,
                rate=Decimal("0.0001"),
                interval=timedelta(hours=8),
                funding_time=START - timedelta(hours=8 * k),
                collected_at=START - timedelta(hours=8 * k),
            )
            for venue, listed in (("alpha", "BTCUSDT"), ("beta", "BTC/USDT:USDT"))
            for k in range(1, 6)
        ]
        await service.store.save_samples(past, source="test")
        await service.collect()

        found = await service.opportunities(filters=None)

    legs = [
        leg
        for o in found
        if o.symbol == "BTC"
        for leg in (o.long_leg, o.short_leg)
        if leg.venue in ("alpha", "beta")
    ]
    assert legs
    for leg in legs:
        assert leg.history_per_hour == Decimal("0.0001") / 8
        assert 0 < leg.current_weight < 1  # the print and the history, blended
