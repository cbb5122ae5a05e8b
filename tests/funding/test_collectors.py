"""Funding collectors: the simulated venues, four real venues' documented payloads through
ccxt's own parsers, and the collector set's isolation, back-off and recovery.

No network: each ccxt exchange is the real ccxt class whose lowest HTTP method (``fetch``)
answers from ``fixtures/*.json``, payloads written from each exchange's API documentation.
ccxt's request building, error handling and parsing run unmodified.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt.async_support as ccxt
import pytest

from fundarb.errors import (
    RateLimitedError,
    RequestTimeoutError,
    VenueError,
    VenueUnavailableError,
)
from fundarb.funding import collectors
from fundarb.funding.collectors import (
    BackoffConfig,
    CcxtFundingCollector,
    CollectorSet,
    ExchangeClientCollector,
    FundingCollector,
    IntervalSource,
    VenueState,
)
from fundarb.funding.collectors.intervals import parse_interval, resolve_interval
from fundarb.funding.collectors.metering import CpuMeter, metered
from fundarb.funding.collectors.redact import describe_error, redact
from fundarb.funding.rates import FundingSample
from fundarb.logs import KeyValueFormatter
from fundarb.venues.sim import Fault, FundingConfig, SimulatedExchange, SymbolConfig
from tests.conftest import btc_symbol, static_venue

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "KEY-SHOULD-NOT-LEAK"
H = timedelta(hours=1)


def at(milliseconds: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)


# -- a ccxt exchange whose transport answers from recorded payloads --------------------------


Answer = str | BaseException | Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Route:
    """``method`` and URL ``path``; ``match``: query (GET) or JSON body (POST) fields that
    must be equal. ``answer``: a fixture name, an error to raise, or a handler of the
    request's fields that returns the JSON value to answer."""

    method: str
    path: str
    answer: Answer
    match: Mapping[str, str] | None = None


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class Transport:
    """Answers ccxt's HTTP calls in place of the network, and remembers them."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, dict[str, str] | None]] = []
        self.down: BaseException | None = None  # when set, every call raises it

    def answer(self, method: str, url: str, headers: dict[str, str] | None, body: Any) -> str:
        self.requests.append((method, url, headers))
        if self.down is not None:
            raise self.down
        parts = urlsplit(url)
        fields = dict(parse_qsl(parts.query)) if method == "GET" else json.loads(body or "{}")
        for route in self.routes:
            if route.method != method or route.path != parts.path:
                continue
            if any(fields.get(k) != v for k, v in (route.match or {}).items()):
                continue
            if isinstance(route.answer, BaseException):
                raise route.answer
            if callable(route.answer):
                return json.dumps(route.answer(fields))
            return (FIXTURES / f"{route.answer}.json").read_text()
        raise AssertionError(f"no recorded answer for {method} {url} {body}")


def recorded(name: str, routes: list[Route], **config: Any) -> tuple[Any, Transport]:
    """The real ccxt class ``name`` with its HTTP layer answering from ``routes``."""
    transport = Transport(routes)

    class Recorded(getattr(ccxt, name)):  # type: ignore[misc]
        async def fetch(
            self, url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            text = transport.answer(method, url, headers, body)
            parsed = self.parse_json(text)
            # the venue's error conventions (retCode, code) are ccxt's to apply, as live
            self.handle_errors(200, "OK", url, method, {}, text, parsed, headers, body)
            return parsed

    # the tests run on a fast-forwarded loop clock; ccxt's throttle counts wall time, and
    # its close() waits a quarter second of it for sockets these instances never open
    return Recorded({"enableRateLimit": False, "timeout_on_exit": 0, **config}), transport


def binance_premium_index(fields: Mapping[str, Any]) -> Any:
    rows = fixture("binanceusdm_premium_index")
    symbol = fields.get("symbol")
    return rows if symbol is None else next(r for r in rows if r["symbol"] == symbol)


def binance_history(fields: Mapping[str, Any]) -> Any:
    rows = fixture("binanceusdm_funding_rate_history")
    return [r for r in rows if r["symbol"] == fields.get("symbol")]


def okx_funding(fields: Mapping[str, Any]) -> Any:
    payload = fixture("okx_funding_rate")
    if fields.get("instId") != "ANY":
        payload["data"] = [r for r in payload["data"] if r["instId"] == fields.get("instId")]
    return payload


VENUES: dict[str, list[Route]] = {
    "binanceusdm": [
        Route("GET", "/fapi/v1/exchangeInfo", "binanceusdm_exchange_info"),
        Route("GET", "/fapi/v1/premiumIndex", binance_premium_index),
        Route("GET", "/fapi/v1/fundingInfo", "binanceusdm_funding_info"),
        Route("GET", "/fapi/v1/fundingRate", binance_history),
    ],
    "bybit": [
        Route("GET", "/v5/market/instruments-info", "bybit_empty", {"status": "PreLaunch"}),
        Route(
            "GET", "/v5/market/instruments-info", "bybit_instruments_linear", {"category": "linear"}
        ),
        Route("GET", "/v5/market/instruments-info", "bybit_empty"),  # spot, inverse, option
        Route("GET", "/v5/market/tickers", "bybit_tickers_linear", {"category": "linear"}),
    ],
    "okx": [
        Route("GET", "/api/v5/public/instruments", "okx_instruments_swap", {"instType": "SWAP"}),
        Route("GET", "/api/v5/public/instruments", "okx_empty"),  # spot, futures, options
        Route("GET", "/api/v5/public/funding-rate", okx_funding),
    ],
    "hyperliquid": [
        Route("POST", "/info", "hyperliquid_spot_meta", {"type": "spotMeta"}),
        Route(
            "POST",
            "/info",
            "hyperliquid_spot_meta_and_asset_ctxs",
            {"type": "spotMetaAndAssetCtxs"},
        ),
        Route("POST", "/info", "hyperliquid_meta_and_asset_ctxs", {"type": "metaAndAssetCtxs"}),
        Route("POST", "/info", "hyperliquid_perp_dexs", {"type": "perpDexs"}),
    ],
}


@pytest.fixture
async def exchanges() -> AsyncIterator[Callable[..., tuple[Any, Transport]]]:
    """Make recorded exchanges; each is closed at the end, as a caller's ``async with``."""
    made: list[Any] = []

    def make(name: str, routes: list[Route] | None = None, **config: Any) -> tuple[Any, Transport]:
        exchange, transport = recorded(name, VENUES[name] if routes is None else routes, **config)
        made.append(exchange)
        return exchange, transport

    yield make
    for exchange in made:
        await exchange.close()


class Lines(logging.Handler):
    """The collectors' log lines, formatted as fundarb prints them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(KeyValueFormatter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r.__dict__["fields"] for r in self.records if r.getMessage() == name]

    @property
    def text(self) -> str:
        return "\n".join(self.format(r) for r in self.records)


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    log = logging.getLogger("fundarb.funding.collectors")
    previous = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield handler
    log.removeHandler(handler)
    log.setLevel(previous)


def by_venue_symbol(samples: list[FundingSample]) -> dict[str, FundingSample]:
    return {s.venue_symbol: s for s in samples}


# -- the public API is pinned ----------------------------------------------------------------


def test_public_names_are_pinned() -> None:
    assert collectors.__all__ == [
        "DEFAULT_INTERVALS",
        "BackoffConfig",
        "CcxtExchange",
        "CcxtFundingCollector",
        "CollectorSet",
        "CycleReport",
        "ExchangeClientCollector",
        "FundingCollector",
        "IntervalSource",
        "VenueState",
        "VenueStatus",
    ]


# -- real venues' payloads through ccxt ------------------------------------------------------


async def test_binance_usdm_rates_and_intervals_from_funding_info(
    exchanges: Callable[..., tuple[Any, Transport]], lines: Lines
) -> None:
    exchange, transport = exchanges("binanceusdm")
    collector = CcxtFundingCollector(exchange)

    samples = by_venue_symbol(await collector.collect())

    assert set(samples) == {"BTCUSDT", "BLZUSDT", "1000PEPEUSDT"}  # the quarterly is no swap
    btc, blz, pepe = samples["BTCUSDT"], samples["BLZUSDT"], samples["1000PEPEUSDT"]
    assert (btc.venue, btc.symbol, btc.multiplier) == ("binanceusdm", "BTC", Decimal(1))
    assert btc.rate == Decimal("0.00038246")
    assert str(btc.rate) == "0.00038246"  # the venue's own digits, not a float's
    assert btc.interval == 8 * H  # absent from fundingInfo: the documented 8 h
    assert btc.funding_time == at(1597392000000)
    assert (btc.mark_price, btc.index_price) == (
        Decimal("11793.63104562"),
        Decimal("11781.80495970"),
    )
    assert (btc.open_interest_usd, btc.volume_24h_usd, btc.predicted_rate) == (None, None, None)
    assert blz.rate == Decimal("-0.00123571")
    assert blz.interval == 4 * H  # fundingInfo: fundingIntervalHours 4
    assert blz.funding_time == at(1597377600000)
    assert (pepe.symbol, pepe.multiplier, pepe.rate) == ("PEPE", Decimal(1000), Decimal("0.00005"))
    assert pepe.interval == 8 * H
    assert pepe.mark_price == Decimal("0.0012345")  # per listed unit (1000 PEPE)
    assert lines.events("funding_interval_default") == [
        {
            "venue": "binanceusdm",
            "interval_h": 8.0,
            "symbols": 2,
            "examples": "1000PEPEUSDT,BTCUSDT",
        }
    ]
    paths = [urlsplit(url).path for _, url, _ in transport.requests]
    assert paths.count("/fapi/v1/fundingInfo") == 1


async def test_funding_info_and_markets_are_cached_between_polls(
    exchanges: Callable[..., tuple[Any, Transport]], lines: Lines
) -> None:
    exchange, transport = exchanges("binanceusdm")
    collector = CcxtFundingCollector(exchange, reload_markets_s=600)

    await collector.collect()
    await asyncio.sleep(60)
    await collector.collect()
    await asyncio.sleep(600)
    await collector.collect()

    paths = [urlsplit(url).path for _, url, _ in transport.requests]
    assert paths.count("/fapi/v1/premiumIndex") == 3
    assert paths.count("/fapi/v1/fundingInfo") == 2
    assert paths.count("/fapi/v1/exchangeInfo") == 2
    assert len(lines.events("funding_interval_default")) == 1  # said once, not per poll


async def test_bybit_interval_from_the_ticker_or_the_instrument(
    exchanges: Callable[..., tuple[Any, Transport]],
) -> None:
    exchange, _ = exchanges("bybit")

    samples = by_venue_symbol(await CcxtFundingCollector(exchange).collect())

    btc, pepe = samples["BTCUSDT"], samples["1000PEPEUSDT"]
    assert btc.rate == Decimal("0.0001")
    assert btc.interval == 8 * H  # instruments-info fundingInterval 480 (minutes)
    assert btc.funding_time == at(1760371200000)
    assert btc.open_interest_usd == Decimal("6136953291.47")
    assert btc.volume_24h_usd == Decimal("12683215370.6831")
    assert (pepe.symbol, pepe.multiplier) == ("PEPE", Decimal(1000))
    assert pepe.rate == Decimal("-0.00012345")
    assert pepe.interval == 4 * H  # tickers fundingIntervalHour "4"
    assert pepe.funding_time == at(1760356800000)
    assert pepe.open_interest_usd == Decimal("138594765.92")  # single side
    assert pepe.mark_price == Decimal("0.0082740")
    assert pepe.index_price == Decimal("0.0082752")


async def test_okx_interval_from_the_settlement_times(
    exchanges: Callable[..., tuple[Any, Transport]],
) -> None:
    exchange, _ = exchanges("okx")

    samples = by_venue_symbol(await CcxtFundingCollector(exchange).collect())

    assert set(samples) == {"BTC-USDT-SWAP", "ETH-USDT-SWAP"}  # BTC-USD-SWAP is inverse
    btc, eth = samples["BTC-USDT-SWAP"], samples["ETH-USDT-SWAP"]
    assert str(btc.rate) == "0.0000182221218054"
    assert btc.symbol == "BTC"
    assert btc.funding_time == at(1743609600000)  # fundingTime: when this rate settles
    assert btc.interval == 8 * H
    assert eth.rate == Decimal("-0.0000542376112201")
    assert eth.interval == 4 * H  # nextFundingTime − fundingTime
    assert eth.funding_time == at(1743595200000)
    assert (btc.mark_price, btc.predicted_rate, btc.open_interest_usd) == (None, None, None)


async def test_hyperliquid_hourly_funding_and_kpepe(
    exchanges: Callable[..., tuple[Any, Transport]],
) -> None:
    exchange, _ = exchanges("hyperliquid")
    before = datetime.now(UTC)

    samples = by_venue_symbol(await CcxtFundingCollector(exchange).collect())

    assert set(samples) == {"BTC", "ETH", "kPEPE"}
    pepe, eth = samples["kPEPE"], samples["ETH"]
    assert (pepe.symbol, pepe.multiplier) == ("PEPE", Decimal(1000))
    assert pepe.rate == Decimal("0.0000219")
    assert pepe.interval == H
    assert eth.rate == Decimal("-0.00000587")
    assert (eth.mark_price, eth.index_price) == (Decimal("3433.7"), Decimal("3434.1"))
    assert eth.open_interest_usd == Decimal("1882.55") * Decimal("3433.7")  # coins × mark
    assert eth.volume_24h_usd == Decimal("1426126.295175")
    # ccxt states the next hour of the wall clock as the settlement time
    assert pepe.funding_time.minute == pepe.funding_time.second == 0
    assert before < pepe.funding_time <= datetime.now(UTC) + H


async def test_the_symbols_filter_takes_canonical_names(
    exchanges: Callable[..., tuple[Any, Transport]],
) -> None:
    binance, _ = exchanges("binanceusdm")
    hyperliquid, _ = exchanges("hyperliquid")

    from_binance = await CcxtFundingCollector(binance).collect(["PEPE"])
    from_hyperliquid = await CcxtFundingCollector(hyperliquid).collect(["pepe", "SOL"])

    assert [s.venue_symbol for s in from_binance] == ["1000PEPEUSDT"]
    assert [s.venue_symbol for s in from_hyperliquid] == ["kPEPE"]


async def test_per_symbol_requests_when_the_venue_has_no_bulk_endpoint(
    exchanges: Callable[..., tuple[Any, Transport]],
) -> None:
    exchange, transport = exchanges("okx")
    exchange.has = {**exchange.has, "fetchFundingRates": False}

    samples = by_venue_symbol(await CcxtFundingCollector(exchange).collect())

    assert samples["ETH-USDT-SWAP"].rate == Decimal("-0.0000542376112201")
    assert samples["ETH-USDT-SWAP"].interval == 4 * H
    asked = {
        dict(parse_qsl(urlsplit(url).query)).get("instId")
        for _, url, _ in transport.requests
        if "funding-rate" in url
    }
    assert asked == {"BTC-USDT-SWAP", "ETH-USDT-SWAP"}


async def test_latest_history_print_when_the_venue_gives_no_current_rate(
    exchanges: Callable[..., tuple[Any, Transport]],
) -> None:
    exchange, _ = exchanges("binanceusdm")
    exchange.has = {**exchange.has, "fetchFundingRates": False, "fetchFundingRate": False}

    (sample,) = await CcxtFundingCollector(exchange).collect(["BLZ"])

    assert sample.rate == Decimal("-0.00110342")
    assert sample.funding_time == at(1597363200000)  # the settlement of that print
    assert sample.interval == 4 * H  # two prints 4 h apart (one of them a ms late)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ccxt.RateLimitExceeded("binanceusdm 429 Too Many Requests"), RateLimitedError),
        (ccxt.DDoSProtection("binanceusdm 418"), RateLimitedError),
        (ccxt.RequestTimeout("binanceusdm GET https://fapi.binance.com"), RequestTimeoutError),
        (ccxt.ExchangeNotAvailable("binanceusdm 503 Service Unavailable"), VenueUnavailableError),
        (ccxt.OnMaintenance("binanceusdm maintenance"), VenueUnavailableError),
        (ccxt.BadResponse("binanceusdm unexpected body"), VenueError),
    ],
)
async def test_ccxt_errors_are_translated_at_the_edge(
    exchanges: Callable[..., tuple[Any, Transport]],
    raised: Exception,
    expected: type[VenueError],
) -> None:
    exchange, transport = exchanges("binanceusdm")
    transport.down = raised

    with pytest.raises(expected) as caught:
        await CcxtFundingCollector(exchange).collect()

    assert type(caught.value) is expected
    assert caught.value.venue == "binanceusdm"
    assert type(raised).__name__ in str(caught.value)


async def test_errors_of_per_symbol_requests_are_translated_too(
    exchanges: Callable[..., tuple[Any, Transport]],
) -> None:
    exchange, transport = exchanges("okx")
    await exchange.load_markets()
    exchange.has = {**exchange.has, "fetchFundingRates": False}
    transport.down = ccxt.RequestTimeout("okx GET https://www.okx.com/api/v5/public/funding-rate")

    with pytest.raises(RequestTimeoutError, match="RequestTimeout"):
        await CcxtFundingCollector(exchange).collect()


async def test_bybit_error_codes_are_ccxt_errors_too(
    exchanges: Callable[..., tuple[Any, Transport]],
) -> None:
    def refuse(fields: Mapping[str, Any]) -> Any:
        return {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "time": 1}

    routes = [*VENUES["bybit"][:3], Route("GET", "/v5/market/tickers", refuse)]
    exchange, _ = exchanges("bybit", routes)

    with pytest.raises(RateLimitedError, match="Too many visits"):
        await CcxtFundingCollector(exchange).collect()


# -- credentials never leave the exchange ----------------------------------------------------


async def test_no_credentials_in_errors_logs_or_reprs(
    exchanges: Callable[..., tuple[Any, Transport]],
    lines: Lines,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def leaky(fields: Mapping[str, Any]) -> Any:  # an error that quotes the signed request
        request = transport.requests[-1]
        raise ccxt.AuthenticationError(f"binanceusdm {request[1]} {request[2]} {fields}")

    routes = [Route("GET", path, leaky) for path in ("/sapi/v1/capital/config/getall",)]
    exchange, transport = exchanges(
        "binanceusdm", [*routes, *VENUES["binanceusdm"]], apiKey=SECRET, secret=SECRET
    )
    collector = CcxtFundingCollector(exchange)
    collectors_set = CollectorSet([collector], rng=random.Random(1))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(VenueError) as caught:
        await collector.collect()
    await collectors_set.collect()

    assert SECRET in str(transport.requests[0][2])  # the request did carry it
    status = collectors_set.status()["binanceusdm"]
    assert status.state is VenueState.DEGRADED
    assert status.last_error is not None
    assert "AuthenticationError" in status.last_error
    for text in (
        str(caught.value),
        repr(caught.value),
        status.last_error,
        repr(status),
        repr(collector),
        repr(collectors_set),
        lines.text,
        caplog.text,
    ):
        assert SECRET not in text
    assert "signature=***" in status.last_error
    assert caught.value.__cause__ is None  # the ccxt error and its text stay behind
    assert caught.value.__suppress_context__


def test_redaction_hides_known_values_and_credential_pairs() -> None:
    text = (
        "GET /x?timestamp=1&signature=abcdef0123 {'X-MBX-APIKEY': 'k-123456'} "
        "apiKey=other-key password: hunter22 plain words stay"
    )

    hidden = redact(text, ["k-123456", None, ""])

    for secret in ("abcdef0123", "k-123456", "other-key", "hunter22"):
        assert secret not in hidden
    assert "plain words stay" in hidden
    assert describe_error(ValueError("x" * 1000)).endswith("…")
    assert len(describe_error(ValueError("x" * 1000))) == 300


# -- intervals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8h", 8 * H),
        ("1h", H),
        ("4H", 4 * H),
        ("30m", timedelta(minutes=30)),
        ("1d", timedelta(days=1)),
        ("28800000", 8 * H),  # ccxt's OKX parser passes unnamed intervals as milliseconds
        ("0h", None),
        ("8d", None),  # over a week: not a funding interval
        ("28800001", None),
        ("", None),
        ("eight hours", None),
        (None, None),
        (8, None),
    ],
)
def test_parse_interval(text: object, expected: timedelta | None) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize(
    ("funding", "market", "table", "default", "expected"),
    [
        (
            {"info": {"fundingIntervalHour": "4"}, "interval": "8h"},
            {},
            {},
            None,
            (4 * H, "payload"),
        ),
        ({"interval": "2h", "symbol": "X"}, {}, {"X": 4 * H}, None, (2 * H, "unified")),
        ({"symbol": "X"}, {}, {"X": 4 * H}, 8 * H, (4 * H, "table")),
        (
            {"fundingTimestamp": 3_600_000, "nextFundingTimestamp": 7_200_000},
            {},
            {},
            8 * H,
            (H, "timestamps"),
        ),
        ({}, {"info": {"fundingInterval": 240}}, {}, 8 * H, (4 * H, "market")),
        ({}, {}, {}, 8 * H, (8 * H, "default")),
        ({}, {}, {}, None, None),  # nothing says, no default: no guess
    ],
)
def test_interval_resolution_order(
    funding: dict[str, Any],
    market: dict[str, Any],
    table: dict[str, timedelta],
    default: timedelta | None,
    expected: tuple[timedelta, str] | None,
) -> None:
    found = resolve_interval("bybit", funding, market, table, default)

    if expected is None:
        assert found is None
    else:
        assert found == (expected[0], IntervalSource(expected[1]))


async def test_a_venue_without_a_stated_interval_or_default_gives_no_sample(
    exchanges: Callable[..., tuple[Any, Transport]], lines: Lines
) -> None:
    exchange, _ = exchanges("binanceusdm")
    exchange.has = {**exchange.has, "fetchFundingIntervals": False}
    exchange.id = "some-binance-clone"  # a venue the defaults table does not know

    samples = await CcxtFundingCollector(exchange, venue="clone").collect()

    assert samples == []
    skipped = lines.events("funding_sample_skipped")
    assert {e["venue_symbol"] for e in skipped} == {"BTCUSDT", "BLZUSDT", "1000PEPEUSDT"}


# -- the simulated venues --------------------------------------------------------------------


def kpepe_symbol() -> SymbolConfig:
    return SymbolConfig(
        symbol="kPEPE",
        tick_size=Decimal("0.000001"),
        lot_size=Decimal("1"),
        initial_price=Decimal("0.012"),
        depth_per_level=Decimal("100000"),
        taker_mean_size=Decimal("1000"),
        funding=FundingConfig(rate=Decimal("0.0000125"), interval_s=3600),
    )


def sim_venue(name: str) -> SimulatedExchange:
    btc = btc_symbol(funding=FundingConfig(rate=Decimal("0.0001"), interval_s=8 * 3600))
    return static_venue(venue=name, symbols=(btc, kpepe_symbol()))


async def test_exchange_client_collector_reads_the_simulated_venue() -> None:
    venue = sim_venue("gamma")
    collector = ExchangeClientCollector(venue, ["BTC-PERP", "kPEPE"])

    samples = by_venue_symbol(await collector.collect())

    assert isinstance(collector, FundingCollector)
    assert collector.venue == "gamma"
    btc, pepe = samples["BTC-PERP"], samples["kPEPE"]
    assert (btc.venue, btc.symbol, btc.rate, btc.interval) == (
        "gamma",
        "BTC",
        Decimal("0.0001"),
        8 * H,
    )
    assert btc.funding_time == datetime(2024, 1, 1, 8, tzinfo=UTC)
    assert btc.collected_at == datetime(2024, 1, 1, tzinfo=UTC)  # the venue's clock
    assert btc.mark_price is not None
    assert btc.index_price is not None
    assert (btc.open_interest_usd, btc.volume_24h_usd) == (None, None)
    assert (pepe.symbol, pepe.multiplier, pepe.interval) == ("PEPE", Decimal(1000), H)
    assert pepe.funding_time == datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert [s.venue_symbol for s in await collector.collect(["PEPE"])] == ["kPEPE"]


# -- the collector set -----------------------------------------------------------------------


def clock_of_the_loop() -> Callable[[], datetime]:
    loop = asyncio.get_running_loop()
    return lambda: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=loop.time())


async def test_a_failing_venue_backs_off_while_the_others_report(lines: Lines) -> None:
    healthy, failing = sim_venue("alpha"), sim_venue("beta")
    failing.faults.add(Fault.outage(start_s=0, duration_s=20))
    collectors_set = CollectorSet(
        [ExchangeClientCollector(v, ["BTC-PERP", "kPEPE"]) for v in (healthy, failing)],
        backoff=BackoffConfig(base_s=2, cap_s=8, jitter=0),
        clock=clock_of_the_loop(),
    )
    loop = asyncio.get_running_loop()
    start = loop.time()

    first = await collectors_set.collect()
    second = await collectors_set.collect()  # beta's back-off (2 s) has not run out

    assert (first.succeeded, first.failed, first.waiting) == (("alpha",), ("beta",), ())
    assert (second.succeeded, second.failed, second.waiting) == (("alpha",), (), ("beta",))
    beta = collectors_set.status()["beta"]
    assert beta.state is VenueState.DEGRADED
    assert beta.consecutive_failures == 1
    assert beta.next_retry_at_s == pytest.approx(start + 2)
    assert beta.last_error is not None
    assert beta.last_error.startswith("VenueUnavailableError")
    assert beta.last_success_at is None
    assert {s.venue for s in collectors_set.latest()} == {"alpha"}

    delays = []
    while collectors_set.status()["beta"].state is VenueState.DEGRADED:
        retry_at = collectors_set.status()["beta"].next_retry_at_s
        assert retry_at is not None
        delays.append(round(retry_at - loop.time()))
        await asyncio.sleep(retry_at - loop.time())
        await collectors_set.collect()

    assert delays == [2, 4, 8, 8]  # doubling, capped; the outage ends at 20 s
    failures = lines.events("funding_venue_failed")
    assert [e["failures"] for e in failures] == [1, 2, 3, 4]
    assert {e["venue"] for e in failures} == {"beta"}
    assert failures[0]["error_class"] == "retryable"
    (recovered,) = lines.events("funding_venue_recovered")
    assert (recovered["venue"], recovered["failures"]) == ("beta", 4)
    assert recovered["down_s"] == pytest.approx(22)
    beta = collectors_set.status()["beta"]
    assert (beta.state, beta.consecutive_failures, beta.next_retry_at_s) == (VenueState.OK, 0, None)
    assert beta.last_success_at == datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=loop.time())
    assert {s.venue for s in collectors_set.latest()} == {"alpha", "beta"}
    assert len(collectors_set.latest()) == 4


async def test_a_slow_venue_times_out_and_a_rate_limit_waits_its_retry_after() -> None:
    slow, limited, fine = sim_venue("slow"), sim_venue("limited"), sim_venue("fine")
    slow.faults.add(Fault.slow(delay_s=100))
    limited.faults.add(Fault.rate_limit(retry_after_s=30, count=1))
    collectors_set = CollectorSet(
        [ExchangeClientCollector(v, ["BTC-PERP"]) for v in (slow, limited, fine)],
        backoff=BackoffConfig(base_s=1, cap_s=60, jitter=0),
        timeout_s=5,
    )
    loop = asyncio.get_running_loop()
    start = loop.time()

    report = await collectors_set.collect()

    assert report.duration_s == pytest.approx(5)  # bounded by the slow venue's timeout
    assert set(report.failed) == {"slow", "limited"}
    assert report.succeeded == ("fine",)
    status = collectors_set.status()
    assert status["slow"].last_error == "RequestTimeoutError: no answer within 5 s (venue=slow)"
    assert status["limited"].next_retry_at_s == pytest.approx(start + 30)


async def test_run_keeps_every_venue_on_its_own_schedule(lines: Lines) -> None:
    healthy, failing = sim_venue("alpha"), sim_venue("beta")
    failing.faults.add(Fault.outage(start_s=0, duration_s=100))
    collectors_set = CollectorSet(
        [ExchangeClientCollector(v, ["BTC-PERP"]) for v in (healthy, failing)],
        backoff=BackoffConfig(base_s=10, cap_s=40, jitter=0),
    )

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(185):
            await collectors_set.run(period_s=60)

    # alpha at 0, 60, 120, 180; beta at 0, 10, 30, 70, 110 (then up again)
    assert [e["failures"] for e in lines.events("funding_venue_failed")] == [1, 2, 3, 4]
    assert len(lines.events("funding_venue_recovered")) == 1
    status = collectors_set.status()
    assert status["alpha"].state is status["beta"].state is VenueState.OK


async def test_cycle_reports_cpu_time_outside_the_network(
    exchanges: Callable[..., tuple[Any, Transport]],
) -> None:
    binance, _ = exchanges("binanceusdm")
    okx, _ = exchanges("okx")
    collectors_set = CollectorSet([CcxtFundingCollector(binance), CcxtFundingCollector(okx)])

    report = await collectors_set.collect()

    assert report.samples == 5
    assert set(report.cpu_s_by_venue) == {"binanceusdm", "okx"}
    assert all(seconds > 0 for seconds in report.cpu_s_by_venue.values())
    assert report.cpu_s == sum(report.cpu_s_by_venue.values())
    assert collectors_set.status()["okx"].last_cpu_s == report.cpu_s_by_venue["okx"]
    assert collectors_set.last_cycle is report


async def test_metered_counts_steps_not_waits_and_passes_cancellation_through() -> None:
    meter = CpuMeter()
    cleaned = asyncio.Event()

    async def work() -> str:
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.set()
        return "never"

    assert await metered(asyncio.sleep(10, result="done"), meter) == "done"
    waited = meter.seconds
    task = asyncio.create_task(metered(work(), meter))
    await asyncio.sleep(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert cleaned.is_set()
    assert 0 <= waited < 0.5  # ten seconds asleep cost (almost) no CPU


@pytest.mark.parametrize(
    ("failures", "draw", "expected"),
    [(1, 0.0, 1.0), (2, 0.0, 2.0), (3, 0.0, 4.0), (5, 0.0, 10.0), (500, 0.0, 10.0), (3, 1.0, 2.0)],
)
def test_backoff_doubles_up_to_the_cap_with_jitter(
    failures: int, draw: float, expected: float
) -> None:
    assert BackoffConfig(base_s=1, cap_s=10, jitter=0.5).delay_s(failures, draw) == expected


@pytest.mark.parametrize(
    "kwargs",
    [{"base_s": 0}, {"base_s": float("nan")}, {"cap_s": 0.5}, {"jitter": 1.5}, {"jitter": -0.1}],
)
def test_backoff_config_is_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BackoffConfig(**kwargs)


def test_collector_set_refuses_two_collectors_for_one_venue() -> None:
    with pytest.raises(ValueError, match="two collectors"):
        CollectorSet([ExchangeClientCollector(sim_venue("a"), ["BTC-PERP"])] * 2)


async def test_cancelling_a_cycle_cancels_every_venue_and_marks_none_degraded() -> None:
    slow = sim_venue("slow")
    slow.faults.add(Fault.slow(delay_s=100))
    collectors_set = CollectorSet(
        [ExchangeClientCollector(v, ["BTC-PERP"]) for v in (slow, sim_venue("fine"))],
        timeout_s=None,
    )

    cycle = asyncio.create_task(collectors_set.collect())
    await asyncio.sleep(1)
    cycle.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cycle

    assert collectors_set.status()["slow"].state is VenueState.PENDING
    assert collectors_set.last_cycle is None


@pytest.mark.parametrize(("symbols", "message"), [([], "at least one"), (["--"], "cannot read")])
def test_exchange_client_collector_checks_its_symbols(symbols: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExchangeClientCollector(sim_venue("a"), symbols)


async def test_a_bad_symbols_filter_is_the_callers_error_not_the_venues() -> None:
    collectors_set = CollectorSet([ExchangeClientCollector(sim_venue("a"), ["BTC-PERP"])])

    with pytest.raises(ValueError, match="no base asset"):
        await collectors_set.collect(["--"])

    assert collectors_set.status()["a"].state is VenueState.PENDING
