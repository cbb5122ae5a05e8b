"""The error tree and the one function that classifies errors."""

from __future__ import annotations

import asyncio

import pytest

from fundarb.errors import (
    AmbiguousError,
    ConfigError,
    ErrorClass,
    FundarbError,
    InvalidOrderError,
    OrderRejectedError,
    RateLimitedError,
    RequestTimeoutError,
    RetryableError,
    UnknownSymbolError,
    VenueError,
    VenueUnavailableError,
    classify_error,
)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (InvalidOrderError("bad size"), ErrorClass.DEFINITIVE),
        (UnknownSymbolError("no such symbol"), ErrorClass.DEFINITIVE),
        (OrderRejectedError("post-only would cross"), ErrorClass.DEFINITIVE),
        (RetryableError("refused"), ErrorClass.RETRYABLE),
        (RateLimitedError("slow down", retry_after_s=2.0), ErrorClass.RETRYABLE),
        (VenueUnavailableError("connection refused"), ErrorClass.RETRYABLE),
        (AmbiguousError("reset after send"), ErrorClass.AMBIGUOUS),
        (RequestTimeoutError("no answer"), ErrorClass.AMBIGUOUS),
        (VenueError("something failed"), ErrorClass.AMBIGUOUS),
    ],
)
def test_classify_error_by_class(error: BaseException, expected: ErrorClass) -> None:
    assert classify_error(error) is expected


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("boom"),
        TimeoutError(),
        ConnectionResetError(),
        KeyError("x"),
        ConfigError("bad config"),
        FundarbError("base"),
        asyncio.CancelledError(),
    ],
)
def test_an_error_we_do_not_recognise_is_ambiguous(error: BaseException) -> None:
    assert classify_error(error) is ErrorClass.AMBIGUOUS


def test_venue_error_str_names_venue_symbol_and_client_order_id() -> None:
    error = OrderRejectedError(
        "insufficient margin", venue="sim-a", symbol="BTC-PERP", client_order_id="leg-1"
    )

    assert str(error) == (
        "insufficient margin (venue=sim-a, symbol=BTC-PERP, client_order_id=leg-1)"
    )


def test_venue_error_str_leaves_out_what_is_unknown() -> None:
    assert str(VenueUnavailableError("down", venue="sim-a")) == "down (venue=sim-a)"
    assert str(VenueError("down")) == "down"


def test_rate_limited_error_keeps_retry_after_and_where() -> None:
    error = RateLimitedError("slow down", retry_after_s=2.5, venue="sim-a", symbol="BTC-PERP")

    assert error.retry_after_s == 2.5
    assert (error.venue, error.symbol, error.client_order_id) == ("sim-a", "BTC-PERP", None)


def test_invalid_order_error_is_a_value_error_with_where() -> None:
    error = UnknownSymbolError("unknown symbol", venue="sim-a", symbol="DOGE-PERP")

    assert isinstance(error, ValueError)
    assert isinstance(error, FundarbError)
    assert (error.venue, error.symbol) == ("sim-a", "DOGE-PERP")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ConfigError, FundarbError)
