"""``CcxtExchangeClient`` over the real ccxt ``binanceusdm`` class, its HTTP answered by a
scripted Binance USD-M (see ``binance.py``): no network, payloads in Binance's documented
shapes, ccxt's request building, signing, error mapping and parsing unmodified."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from fundarb.errors import (
    AmbiguousError,
    ErrorClass,
    InvalidOrderError,
    OrderRejectedError,
    RateLimitedError,
    RequestTimeoutError,
    UnknownSymbolError,
    VenueError,
    VenueUnavailableError,
    classify_error,
)
from fundarb.venues import (
    BalanceProvider,
    ClockProvider,
    EventStreamProvider,
    ExchangeClient,
    FeeProvider,
    FillHistoryProvider,
    FundingRateProvider,
    MarketSpecProvider,
    OrderLookup,
    PositionProvider,
    RejectReason,
)
from fundarb.venues import ccxt as ccxt_venue
from fundarb.venues.ccxt import AccountRateLimiter, BadPayloadError, CcxtExchangeClient
from fundarb.venues.interface import FundingHistoryProvider
from tests.venues.ccxt.binance import (
    API_KEY,
    SECRET,
    FakeBinance,
    FakeSession,
    Reply,
    binance_error,
    binanceusdm,
    timeout_error,
)

BTC = "BTC/USDT:USDT"


class Venue:
    def __init__(self) -> None:
        self.session = FakeSession()
        self.binance = FakeBinance(self.session)
        self.exchange = binanceusdm(self.session)
        self.client = CcxtExchangeClient(
            self.exchange, limiter=AccountRateLimiter(rate_per_s=1000, burst=1000)
        )

    def orders_sent(self) -> list[dict[str, str]]:
        return [r.fields for r in self.session.calls("POST", "/fapi/v1/order")]


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    made = Venue()
    yield made
    await made.exchange.close()


@pytest.fixture
async def loaded(venue: Venue) -> Venue:
    """Markets loaded, so that any later request is the call under test's own."""
    await venue.client.get_market_spec(BTC)
    venue.session.requests.clear()
    return venue


def test_public_api_is_pinned() -> None:
    assert ccxt_venue.__all__ == [
        "AccountRateLimiter",
        "BadPayloadError",
        "CcxtExchangeClient",
        "EventSettings",
        "Priority",
    ]


def test_offers_the_interface_and_capabilities(venue: Venue) -> None:
    for protocol in (
        ExchangeClient,
        MarketSpecProvider,
        PositionProvider,
        BalanceProvider,
        FundingRateProvider,
        FeeProvider,
        OrderLookup,
        FillHistoryProvider,
        ClockProvider,
        EventStreamProvider,
        FundingHistoryProvider,
    ):
        assert isinstance(venue.client, protocol), protocol.__name__


# -- markets and books ----------------------------------------------------------------------


async def test_market_spec_from_binance_filters(venue: Venue) -> None:
    spec = await venue.client.get_market_spec("BTCUSDT")  # the venue's id works too

    assert spec.symbol == BTC
    assert (spec.tick_size, spec.lot_size, spec.min_quantity) == (
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.001"),
    )
    assert (spec.min_notional, spec.contract_size) == (Decimal(100), Decimal(1))


async def test_book_and_bbo_in_decimal(venue: Venue) -> None:
    book = await venue.client.get_order_book_depth(BTC, 1)
    bid, ask = await venue.client.fetch_bbo_prices(BTC)

    assert book["bids"] == [{"price": Decimal("50000.1"), "size": Decimal("1.5")}]
    assert book["asks"] == [{"price": Decimal("50000.2"), "size": Decimal("0.8")}]
    assert book["timestamp"] == 1589436922959
    assert (bid, ask) == (Decimal("50000.1"), Decimal("50000.2"))
    # Binance accepts only some depths: 1 level is asked as 5
    assert venue.session.calls("GET", "/fapi/v1/depth")[0].fields["limit"] == "5"


# -- placing --------------------------------------------------------------------------------


async def test_placement_always_sends_a_client_order_id(loaded: Venue) -> None:
    mine = await loaded.client.place_limit_order(
        BTC, Decimal("0.01"), Decimal(50000), "buy", client_order_id="leg-1"
    )
    generated = await loaded.client.place_market_order(BTC, Decimal("0.01"), "sell")

    sent = loaded.orders_sent()
    assert sent[0]["newClientOrderId"] == "leg-1" == mine.client_order_id
    assert sent[1]["newClientOrderId"] == generated.client_order_id
    assert generated.client_order_id
    assert len(generated.client_order_id) <= 36
    assert mine.success
    assert mine.order_id == "22542179"
    assert mine.status == "NEW"


async def test_limit_options_reach_the_venue(loaded: Venue) -> None:
    await loaded.client.place_limit_order(
        BTC, Decimal("0.01"), Decimal(50000), "buy", post_only=True
    )
    await loaded.client.place_limit_order(
        BTC, Decimal("0.01"), Decimal(50000), "sell", True, time_in_force="IOC"
    )

    post_only, ioc = loaded.orders_sent()
    assert post_only["timeInForce"] == "GTX"
    assert (ioc["timeInForce"], ioc["reduceOnly"]) == ("IOC", "true")


@pytest.mark.parametrize(
    ("side", "price", "sent"),
    [
        ("buy", "50000.19", "50000.1"),  # a buy rounds down: never pays more
        ("sell", "50000.11", "50000.2"),  # a sell rounds up: never sells for less
        ("buy", "50000.1", "50000.1"),
        ("sell", "50000.1", "50000.1"),
    ],
)
async def test_limit_price_rounds_by_side(loaded: Venue, side: str, price: str, sent: str) -> None:
    result = await loaded.client.place_limit_order(BTC, Decimal("0.01"), Decimal(price), side)

    assert loaded.orders_sent()[0]["price"] == sent
    assert result.price == Decimal(sent)


@pytest.mark.parametrize(
    ("contract_size", "quantity", "contracts", "lot"),
    [
        ("1", "0.005", "0.005", "0.001"),
        ("0.001", "0.005", "5", "0.000001"),  # a contract of 0.001 BTC: 5 contracts
    ],
)
async def test_quantities_are_base_units_on_our_side(
    venue: Venue, contract_size: str, quantity: str, contracts: str, lot: str
) -> None:
    await venue.exchange.load_markets()
    # Binance's USD-M contracts are one base unit; a venue whose contract is a fraction of
    # the base asset is the same market with another contractSize
    venue.exchange.markets[BTC]["contractSize"] = float(contract_size)
    venue.exchange.markets[BTC]["limits"]["cost"]["min"] = 1.0

    spec = await venue.client.get_market_spec(BTC)
    result = await venue.client.place_limit_order(BTC, Decimal(quantity), Decimal(50000), "buy")
    info = await venue.client.get_order_info(str(result.order_id))

    assert spec.lot_size == Decimal(lot)
    assert venue.orders_sent()[0]["quantity"] == contracts
    assert result.size == Decimal(quantity)
    assert info is not None
    assert info.size == Decimal(quantity)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.place_limit_order(BTC, Decimal(0), Decimal(50000), "buy"), InvalidOrderError),
        (lambda c: c.place_limit_order(BTC, Decimal(-1), Decimal(50000), "buy"), InvalidOrderError),
        (
            lambda c: c.place_limit_order(BTC, Decimal("NaN"), Decimal(50000), "buy"),
            InvalidOrderError,
        ),
        (
            lambda c: c.place_limit_order(BTC, Decimal("0.01"), Decimal("Infinity"), "buy"),
            InvalidOrderError,
        ),
        (
            lambda c: c.place_limit_order(BTC, Decimal("0.01"), Decimal(50000), "up"),
            InvalidOrderError,
        ),
        (  # off the lot step: not silently rounded, a hedge must stay equal
            lambda c: c.place_limit_order(BTC, Decimal("0.0105"), Decimal(50000), "buy"),
            InvalidOrderError,
        ),
        (  # 0.001 x 50000 = 50 < the 100 USDT minimum notional
            lambda c: c.place_limit_order(BTC, Decimal("0.001"), Decimal(50000), "buy"),
            InvalidOrderError,
        ),
        (
            lambda c: c.place_limit_order(BTC, Decimal("0.01"), Decimal(50000), "buy", tif="GTC"),
            InvalidOrderError,
        ),
        (
            lambda c: c.place_limit_order(
                BTC, Decimal("0.01"), Decimal(50000), "buy", client_order_id="x" * 40
            ),
            InvalidOrderError,
        ),
        (
            lambda c: c.place_limit_order(
                BTC, Decimal("0.01"), Decimal(50000), "buy", post_only=True, time_in_force="IOC"
            ),
            InvalidOrderError,
        ),
        (lambda c: c.place_market_order("DOGE/USDT:USDT", Decimal(1), "buy"), UnknownSymbolError),
        (lambda c: c.place_market_order(BTC, Decimal("0.01"), "buy", "yes"), InvalidOrderError),
    ],
)
async def test_invalid_input_sends_nothing(
    loaded: Venue, call: Callable[[CcxtExchangeClient], Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await call(loaded.client)

    assert loaded.session.requests == []


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ccxt_error", "ours", "verdict"),
    [
        (ccxt.InvalidOrder, OrderRejectedError, ErrorClass.DEFINITIVE),
        (ccxt.InsufficientFunds, OrderRejectedError, ErrorClass.DEFINITIVE),
        (ccxt.OrderImmediatelyFillable, OrderRejectedError, ErrorClass.DEFINITIVE),
        (ccxt.BadSymbol, OrderRejectedError, ErrorClass.DEFINITIVE),
        (ccxt.AuthenticationError, OrderRejectedError, ErrorClass.DEFINITIVE),
        (ccxt.PermissionDenied, OrderRejectedError, ErrorClass.DEFINITIVE),
        (ccxt.RateLimitExceeded, RateLimitedError, ErrorClass.RETRYABLE),
        (ccxt.DDoSProtection, RateLimitedError, ErrorClass.RETRYABLE),
        (ccxt.OnMaintenance, VenueUnavailableError, ErrorClass.RETRYABLE),
        (ccxt.InvalidNonce, VenueUnavailableError, ErrorClass.RETRYABLE),
        (ccxt.ExchangeNotAvailable, VenueUnavailableError, ErrorClass.RETRYABLE),
        (ccxt.RequestTimeout, RequestTimeoutError, ErrorClass.AMBIGUOUS),
        (ccxt.NetworkError, AmbiguousError, ErrorClass.AMBIGUOUS),
        (ccxt.BadResponse, BadPayloadError, ErrorClass.AMBIGUOUS),
        (ccxt.ExchangeError, AmbiguousError, ErrorClass.AMBIGUOUS),
    ],
)
async def test_each_ccxt_error_on_a_read_is_classified(
    loaded: Venue, ccxt_error: type[Exception], ours: type[VenueError], verdict: ErrorClass
) -> None:
    loaded.session.fail_next("GET", "/fapi/v1/depth", ccxt_error("binanceusdm: it failed"))

    with pytest.raises(ours) as raised:
        await loaded.client.get_order_book_depth(BTC)

    assert classify_error(raised.value) is verdict
    assert raised.value.venue == "binanceusdm"
    assert raised.value.symbol == BTC


@pytest.mark.parametrize(
    ("reply", "reason"),
    [  # Binance's documented error codes, as ccxt maps them
        (binance_error(400, -2019, "Margin is insufficient."), RejectReason.INSUFFICIENT_MARGIN),
        (
            binance_error(
                400,
                -5022,
                "Due to the order could not be executed as maker, "
                "the Post Only order will be rejected.",
            ),
            RejectReason.POST_ONLY_WOULD_CROSS,
        ),
        (
            binance_error(400, -4164, "Order's notional must be no smaller than 100."),
            RejectReason.MIN_NOTIONAL,
        ),
        (binance_error(400, -2022, "ReduceOnly Order is rejected."), RejectReason.REDUCE_ONLY),
        (
            binance_error(400, -4116, "ClientOrderId is duplicated."),
            RejectReason.DUPLICATE_CLIENT_ORDER_ID,
        ),
        (
            binance_error(401, -2015, "Invalid API-key, IP, or permissions for action."),
            RejectReason.VENUE_REJECT,
        ),
    ],
)
async def test_a_refused_order_is_a_failed_result(
    loaded: Venue, reply: Reply, reason: RejectReason
) -> None:
    loaded.session.fail_next("POST", "/fapi/v1/order", reply)

    result = await loaded.client.place_limit_order(BTC, Decimal("0.01"), Decimal(50000), "buy")

    assert not result.success
    assert result.status == "REJECTED"
    assert result.reject_reason is reason
    assert result.client_order_id
    assert result.client_order_id in str(result.error_message)
    assert len(loaded.orders_sent()) == 1  # and nothing more


@pytest.mark.parametrize(
    "reply",
    [
        binance_error(429, -1003, "Too many requests; current limit is 2400 requests per minute."),
        binance_error(418, -1003, "Way too many requests; IP banned until 1589436922959."),
        Reply(
            503, "<html>503 Service Temporarily Unavailable</html>", {"Content-Type": "text/html"}
        ),
    ],
)
async def test_rate_limits_are_retryable_and_5xx_on_a_send_is_ambiguous(
    loaded: Venue, reply: Reply
) -> None:
    loaded.session.fail_next("POST", "/fapi/v1/order", reply)

    with pytest.raises(VenueError) as raised:
        await loaded.client.place_limit_order(BTC, Decimal("0.01"), Decimal(50000), "buy")

    if reply.status in (418, 429):  # Binance's 429 surfaces as ccxt's DDoSProtection
        assert isinstance(raised.value, RateLimitedError)
        assert classify_error(raised.value) is ErrorClass.RETRYABLE
        assert loaded.session.calls("GET", "/fapi/v1/order") == []  # nothing to look up
    else:  # a 5xx after sending: fate unknown, looked up (not there), stays ambiguous
        assert classify_error(raised.value) is ErrorClass.AMBIGUOUS
        assert len(loaded.session.calls("GET", "/fapi/v1/order")) == 1


@pytest.mark.parametrize("accepted", [True, False])
async def test_timeout_on_create_is_resolved_by_client_id_before_anything_else(
    loaded: Venue, accepted: bool
) -> None:
    if accepted:  # the venue took the order; its answer was lost
        loaded.binance.accept_then_drop_next(timeout_error())
    else:  # the request never arrived
        loaded.session.fail_next("POST", "/fapi/v1/order", timeout_error())

    call = loaded.client.place_limit_order(
        BTC, Decimal("0.01"), Decimal(50000), "buy", client_order_id="leg-7"
    )
    if accepted:
        result = await call
        assert result.success
        assert result.order_id == "22542179"
        assert result.status == "NEW"
        assert result.client_order_id == "leg-7"
    else:
        with pytest.raises(RequestTimeoutError) as raised:
            await call
        assert raised.value.client_order_id == "leg-7"
        assert classify_error(raised.value) is ErrorClass.AMBIGUOUS

    methods = [(r.method, r.path) for r in loaded.session.requests]
    assert methods == [("POST", "/fapi/v1/order"), ("GET", "/fapi/v1/order")]
    assert loaded.session.requests[1].fields["origClientOrderId"] == "leg-7"


async def test_connection_reset_after_send_is_ambiguous(loaded: Venue) -> None:
    loaded.session.fail_next(
        "POST", "/fapi/v1/order", aiohttp.ServerDisconnectedError("Server disconnected")
    )

    with pytest.raises(AmbiguousError):
        await loaded.client.place_market_order(BTC, Decimal("0.01"), "buy", client_order_id="c-1")

    assert loaded.session.calls("GET", "/fapi/v1/order")[0].fields["origClientOrderId"] == "c-1"


@pytest.mark.parametrize(
    "body",
    [
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        "<!DOCTYPE html><html><head><title>Maintenance</title></head></html>",
        '{"unexpected": "shape"}',
        "[]",
    ],
)
async def test_garbage_on_http_200_is_an_error_never_data(loaded: Venue, body: str) -> None:
    loaded.session.fail_next(
        "GET", "/fapi/v1/depth", Reply(200, body, {"Content-Type": "text/html"})
    )
    loaded.session.fail_next(
        "POST", "/fapi/v1/order", Reply(200, body, {"Content-Type": "text/html"})
    )

    with pytest.raises(VenueError) as on_read:
        await loaded.client.get_order_book_depth(BTC)
    with pytest.raises(AmbiguousError) as on_send:
        await loaded.client.place_limit_order(BTC, Decimal("0.01"), Decimal(50000), "buy")

    assert classify_error(on_read.value) is not ErrorClass.DEFINITIVE
    assert classify_error(on_send.value) is ErrorClass.AMBIGUOUS
    assert len(loaded.session.calls("GET", "/fapi/v1/order")) == 1  # looked up, not re-sent
    assert len(loaded.orders_sent()) == 1


# -- cancels and lookups --------------------------------------------------------------------


async def test_cancel_and_cancel_again(loaded: Venue) -> None:
    placed = await loaded.client.place_limit_order(BTC, Decimal("0.01"), Decimal(50000), "buy")
    assert placed.order_id is not None

    cancelled = await loaded.client.cancel_order(placed.order_id)
    again = await loaded.client.cancel_order(placed.order_id)

    assert cancelled.success
    assert cancelled.status == "CANCELED"
    assert cancelled.filled_size == 0
    assert not again.success
    assert again.reject_reason is RejectReason.ALREADY_FINAL
    assert again.status == "CANCELED"


async def test_cancel_of_an_order_the_venue_never_had(loaded: Venue) -> None:
    result = await loaded.client.cancel_order("999", symbol=BTC)

    assert not result.success
    assert result.reject_reason is RejectReason.UNKNOWN_ORDER


async def test_cancel_that_times_out_is_ambiguous(loaded: Venue) -> None:
    placed = await loaded.client.place_limit_order(BTC, Decimal("0.01"), Decimal(50000), "buy")
    loaded.session.fail_next("DELETE", "/fapi/v1/order", timeout_error())

    with pytest.raises(RequestTimeoutError):
        await loaded.client.cancel_order(str(placed.order_id))


async def test_lookups(loaded: Venue) -> None:
    placed = await loaded.client.place_limit_order(
        BTC, Decimal("0.01"), Decimal(50000), "buy", client_order_id="find-me"
    )

    by_client_id = await loaded.client.get_order_by_client_id("find-me")
    by_id = await loaded.client.get_order_info(str(placed.order_id))
    missing = await loaded.client.get_order_by_client_id("never-sent", symbol=BTC)
    open_orders = await loaded.client.get_open_orders(BTC)

    assert by_client_id is not None
    assert by_client_id.order_id == placed.order_id
    assert by_id is not None
    assert by_id.client_order_id == "find-me"
    assert missing is None
    assert [o.client_order_id for o in open_orders] == ["find-me"]


async def test_server_time(loaded: Venue) -> None:
    now = await loaded.client.get_server_time()

    assert int(now.timestamp() * 1000) == 1499827319559


# -- credentials ----------------------------------------------------------------------------


async def test_credentials_never_in_repr_logs_or_errors(
    loaded: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="fundarb")
    loaded.session.fail_next(
        "POST",
        "/fapi/v1/order",
        ccxt.AuthenticationError(f"binanceusdm apiKey={API_KEY} secret {SECRET} refused"),
    )
    loaded.session.fail_next("GET", "/fapi/v1/depth", ccxt.ExchangeError(f"key {API_KEY}"))

    result = await loaded.client.place_limit_order(BTC, Decimal("0.01"), Decimal(50000), "buy")
    with pytest.raises(VenueError) as raised:
        await loaded.client.get_order_book_depth(BTC)

    texts = [repr(loaded.client), str(result), str(raised.value), repr(raised.value), caplog.text]
    texts += [repr(loaded.client._limiter)]
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    for text in texts:
        assert API_KEY not in text
        assert SECRET not in text


async def test_create_builds_and_closes_its_exchange() -> None:
    client = CcxtExchangeClient.create("binanceusdm", api_key=API_KEY, secret=SECRET)
    async with client:
        assert repr(client) == "CcxtExchangeClient(venue='binanceusdm')"
    with pytest.raises(Exception, match="no exchange"):
        CcxtExchangeClient.create("not-an-exchange")


# -- account --------------------------------------------------------------------------------


async def test_positions_in_signed_base_units(loaded: Venue) -> None:
    positions = await loaded.client.get_positions()
    btc = await loaded.client.get_position(BTC)

    assert [p.symbol for p in positions] == [BTC]  # BLZ's zero position is not open
    assert btc == positions[0]
    assert btc.quantity == Decimal("-0.100")
    assert btc.entry_price == Decimal("49887.5")
    assert btc.mark_price == Decimal("50012.50000000")
    assert btc.unrealized_pnl == Decimal("-12.50000000")


async def test_balance_from_the_account_totals(loaded: Venue) -> None:
    balance = await loaded.client.get_balance()

    assert balance.wallet_balance == Decimal("10103.12345678")
    assert balance.equity == Decimal("10090.62345678")
    assert balance.margin_used == Decimal("250.01000000")
    assert balance.maintenance_margin == Decimal("20.00080000")
    assert balance.available == Decimal("9840.61345678")


async def test_funding_rate_keeps_binance_digits(loaded: Venue) -> None:
    rate = await loaded.client.get_funding_rate(BTC)

    assert rate.rate == Decimal("0.00038246")
    assert rate.mark_price == Decimal("50012.50000000")
    assert int(rate.next_funding_time.timestamp() * 1000) == 1597392000000


async def test_fills_of_an_order(loaded: Venue) -> None:
    every = await loaded.client.get_fills(BTC)
    one = await loaded.client.get_fills(BTC, order_ids=["25851814"])

    assert [f.trade_id for f in every] == ["698759", "698760"]
    assert (one[0].quantity, one[0].price, one[0].fee) == (
        Decimal("0.001"),
        Decimal("7819.00"),
        Decimal("-0.00156380"),
    )
    assert one[0].liquidity == "maker"


async def test_fee_schedule(loaded: Venue) -> None:
    fees = await loaded.client.get_fee_schedule(BTC)

    assert fees.maker_rate >= 0
    assert fees.taker_rate > fees.maker_rate
