"""Funding benchmarks: the opportunity ranking in one pass, and the CPU time a collection
cycle spends outside the network.

    .venv/bin/python benchmarks/bench_funding.py [--runs N] [--venues V] [--symbols S]
        [--cycles C] [--listings L]

Prints a Markdown table. The market is synthetic and seeded (no capture needed): 20 venues
(ten pay every 8 h, five every 4 h, five every hour) listing the same 500 symbols, a
20-level book per side for each (one in twenty fifty times shallower: mostly too thin for
the size), a history mean for every listing.
Each timed run gets fresh ``OrderBook`` objects (built untimed), so the walks pay for
building their integer units as they would on books just fetched.

The collection cycles run a ``CollectorSet`` of ``CcxtFundingCollector``s over the real ccxt
classes of binanceusdm, bybit, okx and hyperliquid, each answering from a stubbed HTTP
transport (no network at all) with payloads of the documented shapes (the test fixtures,
used as templates) scaled up to L perpetuals a venue, seeded. ``CycleReport.cpu_s_by_venue``
gives each venue's CPU time outside the network (ccxt's parsing included): C cycles after a
warm-up cycle that loads the markets. Then the same for the simulated world's venues.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt.async_support as ccxt_async

from common import ROOT, Row, latency, print_table
from fundarb.config import Config
from fundarb.execution import BookLevel, OrderBook
from fundarb.funding import FundingSample
from fundarb.funding.collectors import CcxtFundingCollector, CollectorSet, CycleReport
from fundarb.funding.opportunities import Opportunity, OpportunityFilters, rank_opportunities
from fundarb.funding.service import open_venues
from fundarb.venues import FeeSchedule

SEED = 20260101
NOW = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
NOTIONAL = Decimal(10_000)
HORIZON = 72
GOAL_MS = 50
MIN_NET_APR = Decimal("0.10")


@dataclass(frozen=True, slots=True)
class Market:
    samples: list[FundingSample]
    levels: dict[tuple[str, str], tuple[tuple[BookLevel, ...], tuple[BookLevel, ...]]]
    fees: dict[str, FeeSchedule]
    history: dict[tuple[str, str], Decimal]

    def fresh_books(self) -> dict[tuple[str, str], OrderBook]:
        """New book objects over the same levels: nothing cached from an earlier run."""
        return {
            key: OrderBook(bids=bids, asks=asks, symbol=key[1])
            for key, (bids, asks) in self.levels.items()
        }


def _d(value: float, places: int) -> Decimal:
    return Decimal(f"{value:.{places}f}")


def synthetic_market(venues: int, symbols: int, seed: int = SEED) -> Market:
    """Rates around a per-symbol level with per-venue noise (one listing in fifty an outlier),
    books of 20 levels a side around one mid per symbol, maker/taker fees by venue."""
    rng = random.Random(seed)
    names = [f"venue{v:02d}" for v in range(venues)]
    interval_h = {name: (8 if v < venues // 2 else 4 if v < venues * 3 // 4 else 1)
                  for v, name in enumerate(names)}  # fmt: skip
    fees = {
        name: FeeSchedule(_d(rng.uniform(-0.0001, 0.0002), 5), _d(rng.uniform(0.0002, 0.0006), 5))
        for name in names
    }
    samples: list[FundingSample] = []
    levels: dict[tuple[str, str], tuple[tuple[BookLevel, ...], tuple[BookLevel, ...]]] = {}
    history: dict[tuple[str, str], Decimal] = {}
    for s in range(symbols):
        symbol = f"SYM{s:03d}"
        base = rng.gauss(0.0000125, 0.00002)  # per hour: 0.01 % per 8 h on average
        mid = 10 ** rng.uniform(-2, 4.8)
        tick_exp = len(str(int(mid))) - 6  # about 1 bp of the price
        tick = Decimal(1).scaleb(tick_exp)
        for name in names:
            hours = interval_h[name]
            per_hour = base + rng.gauss(0, 0.00001) * (10 if rng.random() < 0.02 else 1)
            funding_time = NOW.replace(minute=0) + timedelta(hours=hours)
            samples.append(
                FundingSample(
                    venue=name,
                    symbol=symbol,
                    venue_symbol=f"{symbol}USDT",
                    rate=_d(per_hour * hours, 8),
                    interval=timedelta(hours=hours),
                    funding_time=funding_time,
                    collected_at=NOW,
                    open_interest_usd=_d(rng.uniform(1e5, 1e9), 0),
                    volume_24h_usd=_d(rng.uniform(1e5, 5e9), 0),
                )
            )
            history[(name, symbol)] = _d(base + rng.gauss(0, 0.000005), 12)
            depth_usd = rng.uniform(2_000, 50_000) * (0.02 if rng.random() < 0.05 else 1)
            center = Decimal(mid).quantize(tick)
            half = max(1, int(rng.uniform(0.5, 3)))
            bids = tuple(
                BookLevel(
                    center - tick * (half + i), _d(depth_usd / mid * rng.uniform(0.5, 1.5), 4)
                )
                for i in range(20)
            )
            asks = tuple(
                BookLevel(
                    center + tick * (half + i), _d(depth_usd / mid * rng.uniform(0.5, 1.5), 4)
                )
                for i in range(20)
            )
            levels[(name, symbol)] = (
                tuple(lv for lv in bids if lv.size > 0 and lv.price > 0),
                tuple(lv for lv in asks if lv.size > 0),
            )
    return Market(samples, levels, fees, history)


def time_runs(
    market: Market,
    runs: int,
    rank: Callable[[dict[tuple[str, str], OrderBook]], list[Opportunity]],
    *,
    fresh: bool = True,
) -> tuple[list[int], list[Opportunity]]:
    """Wall time of ``runs`` ranking passes after one untimed pass; each on fresh books, or
    (``fresh=False``) all on the books of the untimed pass, whose walks are then cached."""
    books = market.fresh_books()
    result = rank(books)
    samples: list[int] = []
    for _ in range(runs):
        if fresh:
            books = market.fresh_books()
        gc.collect()
        gc.disable()  # a collection landing in one run is noise, not the code's cost
        try:
            start = time.perf_counter_ns()
            result = rank(books)
            samples.append(time.perf_counter_ns() - start)
        finally:
            gc.enable()
    return samples, result


# -- collection cycles: the CPU time a cycle spends outside the network --------------------

FIXTURES = ROOT / "tests" / "funding" / "fixtures"  # the documented payloads, as templates
CCXT_VENUES = ("binanceusdm", "bybit", "okx", "hyperliquid")
SERVER_MS = 1_795_653_000_000  # 2026-11-26 00:30 UTC: the payloads' "now"
HOUR_MS = 3_600_000
DELIVERY_MS = "1798185600000"  # 2026-12-25 08:00 UTC: the dated futures' delivery


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def like(template: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    return {**template, **changes}


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


@dataclass(frozen=True, slots=True)
class Route:
    """An HTTP answer: ``method`` and URL ``path``; ``match``, query (GET) or JSON body
    (POST) fields that must be equal; ``body``, the JSON as the venue sends it."""

    method: str
    path: str
    body: bytes
    match: tuple[tuple[str, str], ...] = ()


def stubbed_exchange(exchange_id: str, routes: list[Route]) -> Any:
    """The real ccxt class ``exchange_id`` whose lowest HTTP method answers from ``routes``,
    as in tests/funding/test_collectors.py: ccxt's request building, error handling and
    parsing run unmodified; aiohttp and the network are left out."""

    def answer(method: str, url: str, body: str | None) -> bytes:
        parts = urlsplit(url)
        fields = dict(parse_qsl(parts.query)) if method == "GET" else json.loads(body or "{}")
        for route in routes:
            if (route.method, route.path) == (method, parts.path) and all(
                fields.get(k) == v for k, v in route.match
            ):
                return route.body
        raise AssertionError(f"no stubbed answer for {method} {url} {body}")

    class Stubbed(getattr(ccxt_async, exchange_id)):  # type: ignore[misc]
        async def fetch(
            self, url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            text = answer(method, url, body).decode()  # as aiohttp's response.text()
            parsed = self.parse_json(text)
            self.handle_errors(200, "OK", url, method, {}, text, parsed, headers, body)
            return parsed

    # no throttle: its waits are no CPU, and with no network they would only slow the run
    return Stubbed({"enableRateLimit": False, "timeout_on_exit": 0})


@dataclass(frozen=True, slots=True)
class Asset:
    """One synthetic asset as every venue lists it."""

    base: str  # SYM000 …
    price: float  # per listed unit
    decimals: int  # of prices
    multiplied: bool  # listed as 1000 units: 1000SYMxxxUSDT, kSYMxxx
    hours: int  # funding interval (Hyperliquid: always 1)

    def px(self, rng: random.Random, spread: float = 0.002) -> str:
        return f"{self.price * (1 + rng.uniform(-spread, spread)):.{self.decimals}f}"

    @property
    def tick(self) -> str:
        return f"{10.0**-self.decimals:.{self.decimals}f}"

    @property
    def listed(self) -> str:
        return f"1000{self.base}" if self.multiplied else self.base

    @property
    def next_funding_ms(self) -> int:
        step = self.hours * HOUR_MS
        return (SERVER_MS // step + 1) * step


def synthetic_assets(count: int, rng: random.Random) -> list[Asset]:
    """``count`` assets: prices from 0.001 to 60,000, one in 25 a 1000× listing; funding
    every 8 h for 65 % of them, every 4 h for 30 %, every hour for 5 %."""
    found = []
    for i in range(count):
        price = 10 ** rng.uniform(-3, 4.8)
        decimals = (
            max(1, 5 - len(str(int(price)))) if price >= 1 else 4 - math.floor(math.log10(price))
        )
        draw = rng.random()
        hours = 8 if draw >= 0.35 else 4 if draw >= 0.05 else 1
        found.append(Asset(f"SYM{i:03d}", price, decimals, i % 25 == 7, hours))
    return found


def _rate(rng: random.Random) -> str:
    return f"{rng.gauss(0.0001, 0.0002):.8f}"


def binance_routes(assets: list[Asset], rng: random.Random) -> list[Route]:
    """GET /fapi/v1/exchangeInfo, premiumIndex and fundingInfo: a perpetual per asset (one
    in 20 also a quarterly, which is no swap); fundingInfo lists the ones not paying 8 h."""
    info = fixture("binanceusdm_exchange_info")
    perpetual, quarterly = info["symbols"][1], info["symbols"][3]
    rate_row, quarter_row = fixture("binanceusdm_premium_index")[0::3]
    adjusted_row = fixture("binanceusdm_funding_info")[0]
    symbols: list[dict[str, Any]] = []
    premium: list[dict[str, Any]] = []
    adjusted: list[dict[str, Any]] = []
    for i, asset in enumerate(assets):
        name = f"{asset.listed}USDT"
        filters = [
            like(f, tickSize=asset.tick, minPrice=asset.tick)
            if f["filterType"] == "PRICE_FILTER"
            else f
            for f in perpetual["filters"]
        ]
        listing = {"pair": name, "baseAsset": asset.listed, "pricePrecision": asset.decimals}
        symbols.append(like(perpetual, symbol=name, filters=filters, **listing))
        premium.append(
            like(
                rate_row,
                symbol=name,
                markPrice=asset.px(rng),
                indexPrice=asset.px(rng),
                estimatedSettlePrice=asset.px(rng),
                lastFundingRate=_rate(rng),
                nextFundingTime=asset.next_funding_ms,
                time=SERVER_MS,
            )
        )
        if asset.hours != 8:
            adjusted.append(like(adjusted_row, symbol=name, fundingIntervalHours=asset.hours))
        if i % 20 == 3:
            dated = {"deliveryDate": int(DELIVERY_MS), "filters": filters, **listing}
            symbols.append(like(quarterly, symbol=f"{name}_261225", **dated))
            premium.append(like(quarter_row, symbol=f"{name}_261225", time=SERVER_MS))
    info["symbols"], info["serverTime"] = symbols, SERVER_MS
    return [
        Route("GET", "/fapi/v1/exchangeInfo", _json(info)),
        Route("GET", "/fapi/v1/premiumIndex", _json(premium)),
        Route("GET", "/fapi/v1/fundingInfo", _json(adjusted)),
    ]


def bybit_routes(assets: list[Asset], rng: random.Random) -> list[Route]:
    """GET /v5/market/instruments-info and tickers (category linear): a USDT perpetual per
    asset, stating its interval in the instrument (``fundingInterval``) and, in half the
    tickers, in ``fundingIntervalHour`` (newer payloads); one in 20 also a dated future."""
    instruments = fixture("bybit_instruments_linear")
    tickers = fixture("bybit_tickers_linear")
    perpetual = instruments["result"]["list"][0]
    older, newer = tickers["result"]["list"]
    listed: list[dict[str, Any]] = []
    quoted: list[dict[str, Any]] = []
    for i, asset in enumerate(assets):
        names = [(f"{asset.listed}USDT", "LinearPerpetual")]
        if i % 20 == 3:
            names.append((f"{asset.listed}-26DEC26", "LinearFutures"))
        prices = like(perpetual["priceFilter"], minPrice=asset.tick, tickSize=asset.tick)
        for name, contract in names:
            swap = contract == "LinearPerpetual"
            listed.append(
                like(
                    perpetual,
                    symbol=name,
                    symbolId=1000 + len(listed),
                    contractType=contract,
                    baseCoin=asset.listed,
                    priceScale=str(asset.decimals),
                    priceFilter=prices,
                    fundingInterval=asset.hours * 60 if swap else 0,
                    deliveryTime="0" if swap else DELIVERY_MS,
                )
            )
            oi = rng.uniform(1e4, 1e9) / asset.price
            row = {
                "symbol": name,
                "lastPrice": asset.px(rng),
                "indexPrice": asset.px(rng),
                "markPrice": asset.px(rng),
                "prevPrice24h": asset.px(rng, 0.1),
                "highPrice24h": asset.px(rng, 0.1),
                "lowPrice24h": asset.px(rng, 0.1),
                "prevPrice1h": asset.px(rng, 0.02),
                "bid1Price": asset.px(rng),
                "ask1Price": asset.px(rng),
                "openInterest": f"{oi:.3f}",
                "openInterestValue": f"{oi * asset.price:.2f}",
                "turnover24h": f"{rng.uniform(1e5, 5e9):.4f}",
                "fundingRate": _rate(rng) if swap else "",
                "nextFundingTime": str(asset.next_funding_ms) if swap else "0",
                "deliveryTime": "0" if swap else DELIVERY_MS,
            }
            if swap and rng.random() < 0.5:  # a newer payload: the interval stated
                row |= {
                    "singleOpenInterest": f"{oi / 2:.3f}",
                    "singleOpenInterestValue": f"{oi * asset.price / 2:.2f}",
                    "fundingIntervalHour": str(asset.hours),
                }
                quoted.append(like(newer, **row))
            else:
                quoted.append(like(older, **row))
    instruments["result"]["list"], tickers["result"]["list"] = listed, quoted
    empty = (FIXTURES / "bybit_empty.json").read_bytes()
    return [
        Route("GET", "/v5/market/instruments-info", empty, (("status", "PreLaunch"),)),
        Route("GET", "/v5/market/instruments-info", _json(instruments), (("category", "linear"),)),
        Route("GET", "/v5/market/instruments-info", empty),  # spot, inverse, option
        Route("GET", "/v5/market/tickers", _json(tickers), (("category", "linear"),)),
    ]


def okx_routes(assets: list[Asset], rng: random.Random) -> list[Route]:
    """GET /api/v5/public/instruments (SWAP) and funding-rate (instId=ANY): a USDT swap per
    asset, one in 10 also a USD swap (inverse); the interval is nextFundingTime −
    fundingTime."""
    instruments = fixture("okx_instruments_swap")
    rates = fixture("okx_funding_rate")
    linear, inverse = instruments["data"][0], instruments["data"][2]
    rate_row = rates["data"][0]
    listed: list[dict[str, Any]] = []
    quoted: list[dict[str, Any]] = []
    for i, asset in enumerate(assets):
        family = f"{asset.base}-USDT"
        listed.append(
            like(
                linear,
                instId=f"{family}-SWAP",
                instFamily=family,
                uly=family,
                ctValCcy=asset.base,
                tickSz=asset.tick,
            )
        )
        names = [f"{family}-SWAP"]
        if i % 10 == 3:
            family = f"{asset.base}-USD"
            listed.append(like(inverse, instId=f"{family}-SWAP", instFamily=family, uly=family))
            names.append(f"{family}-SWAP")
        for name in names:
            settles = asset.next_funding_ms
            quoted.append(
                like(
                    rate_row,
                    instId=name,
                    fundingRate=f"{rng.gauss(0.0001, 0.0002):.16f}",
                    fundingTime=str(settles),
                    nextFundingTime=str(settles + asset.hours * HOUR_MS),
                    premium=f"{rng.gauss(0, 0.0002):.16f}",
                    settFundingRate=f"{rng.gauss(0.0001, 0.0002):.16f}",
                    ts=str(SERVER_MS),
                )
            )
    instruments["data"], rates["data"] = listed, quoted
    return [
        Route("GET", "/api/v5/public/instruments", _json(instruments), (("instType", "SWAP"),)),
        Route("GET", "/api/v5/public/instruments", (FIXTURES / "okx_empty.json").read_bytes()),
        Route("GET", "/api/v5/public/funding-rate", _json(rates), (("instId", "ANY"),)),
    ]


def hyperliquid_routes(assets: list[Asset], rng: random.Random) -> list[Route]:
    """POST /info: metaAndAssetCtxs with a perpetual per asset (kSYMxxx for the 1000×
    ones), funding hourly; spotMeta, spotMetaAndAssetCtxs and perpDexs as in the tests."""
    meta, contexts = fixture("hyperliquid_meta_and_asset_ctxs")
    coin, context = meta["universe"][0], contexts[0]
    universe: list[dict[str, Any]] = []
    quoted: list[dict[str, Any]] = []
    for asset in assets:
        universe.append(like(coin, name=f"k{asset.base}" if asset.multiplied else asset.base))
        mark = asset.px(rng)
        quoted.append(
            like(
                context,
                dayNtlVlm=f"{rng.uniform(1e4, 1e9):.6f}",
                funding=f"{rng.gauss(0.0000125, 0.00003):.8f}",
                impactPxs=[asset.px(rng), asset.px(rng)],
                markPx=mark,
                midPx=mark,
                openInterest=f"{rng.uniform(1e4, 1e8) / asset.price:.2f}",
                oraclePx=asset.px(rng),
                premium=f"{rng.gauss(0, 0.0003):.8f}",
                prevDayPx=asset.px(rng, 0.1),
            )
        )
    meta["universe"] = universe

    def info(kind: str, body: bytes) -> Route:
        return Route("POST", "/info", body, (("type", kind),))

    return [
        info("spotMeta", (FIXTURES / "hyperliquid_spot_meta.json").read_bytes()),
        info("spotMetaAndAssetCtxs", _json(fixture("hyperliquid_spot_meta_and_asset_ctxs"))),
        info("metaAndAssetCtxs", _json([meta, quoted])),
        info("perpDexs", (FIXTURES / "hyperliquid_perp_dexs.json").read_bytes()),
    ]


PAYLOADS: dict[str, Callable[[list[Asset], random.Random], list[Route]]] = {
    "binanceusdm": binance_routes,
    "bybit": bybit_routes,
    "okx": okx_routes,
    "hyperliquid": hyperliquid_routes,
}


@dataclass(frozen=True, slots=True)
class Cycles:
    """The reports of the warm-up cycle and the timed ones."""

    warmup: CycleReport
    timed: list[CycleReport]

    def cpu_ns(self, venue: str | None = None) -> list[int]:
        """CPU outside the network per timed cycle: one venue's, or all together."""
        return [
            round((r.cpu_s if venue is None else r.cpu_s_by_venue[venue]) * 1e9) for r in self.timed
        ]


async def run_cycles(collectors: CollectorSet, cycles: int) -> Cycles:
    """A warm-up cycle (it loads the markets), then ``cycles`` cycles; the garbage
    collector runs before each cycle and stays on during them, as in service."""
    gc.collect()
    warmup = await collectors.collect()
    timed = []
    for _ in range(cycles):
        gc.collect()
        report = await collectors.collect()
        timed.append(report)
    for report in (warmup, *timed):
        if report.failed:
            raise SystemExit(f"a collection failed: {collectors.status()}")
    return Cycles(warmup, timed)


async def ccxt_cycles(listings: int, cycles: int) -> tuple[Cycles, dict[str, int]]:
    """The four ccxt venues, ``listings`` assets each, behind stubbed transports."""
    rng = random.Random(SEED)
    assets = synthetic_assets(listings, rng)
    exchanges = [stubbed_exchange(v, PAYLOADS[v](assets, rng)) for v in CCXT_VENUES]
    try:
        collectors = CollectorSet(CcxtFundingCollector(e) for e in exchanges)
        found = await run_cycles(collectors, cycles)
        return found, {v: s.samples for v, s in collectors.status().items()}
    finally:
        for exchange in exchanges:
            await exchange.close()


async def world_cycles(cycles: int) -> tuple[Cycles, dict[str, int]]:
    """The simulated world's venues (the default config), through their exchange clients."""
    async with open_venues(Config()) as feeds:
        collectors = CollectorSet(feed.collector for feed in feeds)
        found = await run_cycles(collectors, cycles)
        return found, {v: s.samples for v, s in collectors.status().items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="timed passes (default: %(default)s)")
    parser.add_argument("--venues", type=int, default=20, help="venues (default: %(default)s)")
    parser.add_argument("--symbols", type=int, default=500, help="symbols (default: %(default)s)")
    parser.add_argument(
        "--cycles", type=int, default=11, help="timed collection cycles (default: %(default)s)"
    )
    parser.add_argument(
        "--listings",
        type=int,
        default=500,
        help="perpetuals per ccxt venue in the collection cycles (default: %(default)s)",
    )
    args = parser.parse_args()
    market = synthetic_market(args.venues, args.symbols)
    pairs = args.symbols * args.venues * (args.venues - 1) // 2

    def ranked(
        filters: OpportunityFilters,
    ) -> Callable[[dict[tuple[str, str], OrderBook]], list[Opportunity]]:
        def rank(books: dict[tuple[str, str], OrderBook]) -> list[Opportunity]:
            return rank_opportunities(
                market.samples,
                books,
                market.fees,
                notional_usd=NOTIONAL,
                horizon_hours=HORIZON,
                now=NOW,
                history=market.history,
                filters=filters,
            )

        return rank

    def described(found: list[Opportunity]) -> str:
        feasible = sum(o.feasible for o in found)
        best = found[0].net_apr if found and found[0].net_apr is not None else None
        text = f"{len(found):,} returned ({feasible:,} feasible)"
        return text + (f", best net APR {best:.1%}" if best is not None else "")

    rows: list[Row] = []
    filtered = ranked(OpportunityFilters(min_net_apr=MIN_NET_APR))
    cold, found = time_runs(market, args.runs, filtered)
    rows.append(
        (
            f"`rank_opportunities`, {args.venues} venues × {args.symbols} symbols, "
            f"min_net_apr {MIN_NET_APR:.0%}, fresh books",
            f"{latency(cold)} (goal ≤ {GOAL_MS} ms)",
            f"{pairs:,} venue pairs considered; {described(found)}; {args.runs} runs",
        )
    )
    warm, found = time_runs(market, args.runs, filtered, fresh=False)
    rows.append(
        (
            "the same on books already walked (their integer units cached)",
            latency(warm),
            f"the ranking's own cost without building the books' walk units; {args.runs} runs",
        )
    )
    runs_all = max(3, args.runs // 5)
    everything, found = time_runs(market, runs_all, ranked(OpportunityFilters()))
    rows.append(
        (
            "no filter: every pair built in full and sorted, fresh books",
            latency(everything),
            f"{described(found)}; {runs_all} runs",
        )
    )
    rows.extend(collection_rows(args.listings, args.cycles))
    print_table(rows)
    return 0


def collection_rows(listings: int, cycles: int) -> list[Row]:
    """CPU time outside the network per collection cycle: the four ccxt venues, then the
    simulated world."""

    def per_sample(cpu_ns: list[int], samples: int) -> str:
        return f"{statistics.median(cpu_ns) / 1000 / max(samples, 1):,.1f} µs a sample"

    rows: list[Row] = []
    found, samples = asyncio.run(ccxt_cycles(listings, cycles))
    warm_ms = {v: s * 1000 for v, s in found.warmup.cpu_s_by_venue.items()}
    for venue in CCXT_VENUES:
        cpu = found.cpu_ns(venue)
        rows.append(
            (
                f"collection cycle, `{venue}`: CPU outside the network "
                f"(ccxt {ccxt_async.__version__}, transport stubbed)",
                f"{latency(cpu)}; {per_sample(cpu, samples[venue])}",
                f"{samples[venue]:,} samples a cycle; the warm-up cycle (markets loaded): "
                f"{warm_ms[venue]:,.1f} ms; {cycles} cycles",
            )
        )
    total = sum(samples.values())
    cpu = found.cpu_ns()
    wall_ms = statistics.median(r.duration_s for r in found.timed) * 1000
    rows.append(
        (
            "collection cycle, the four venues together: CPU outside the network",
            f"{latency(cpu)}; {per_sample(cpu, total)}",
            f"{total:,} samples a cycle; wall p50 {wall_ms:,.1f} ms (no network to wait on: "
            f"the venues' CPU one after another); the warm-up cycle: "
            f"{found.warmup.cpu_s * 1000:,.1f} ms; {cycles} cycles",
        )
    )
    world, samples = asyncio.run(world_cycles(cycles))
    total = sum(samples.values())
    cpu = world.cpu_ns()
    rows.append(
        (
            f"collection cycle, the simulated world ({len(samples)} venues, "
            "`ExchangeClientCollector`): CPU outside the network",
            f"{latency(cpu)}; {per_sample(cpu, total)}",
            f"{total:,} samples a cycle; the simulated venues' own work (`get_funding_rate`) "
            f"runs inside the collector's steps and counts as CPU too; {cycles} cycles",
        )
    )
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
