"""fundarb's one error tree, and the one function that classifies errors.

::

    FundarbError
    ├── ConfigError                 a configuration value is invalid (also a ValueError)
    ├── InvalidOrderError           bad input, caught before anything is sent (also a ValueError)
    │   └── UnknownSymbolError      the venue does not list the symbol
    ├── StorageError                the database cannot be opened, reached or written
    ├── MarketDataError             a book or price we cannot trust (malformed, crossed, ...)
    │   ├── StaleMarketDataError    older than allowed
    │   └── EmptyBookError          the venue shows no level on either side
    └── VenueError                  a venue refused, failed, or could not be reached
        ├── OrderRejectedError      DEFINITIVE: the venue answered no; nothing is live
        ├── RetryableError          RETRYABLE: refused before it reached the matching engine
        │   ├── RateLimitedError    the venue asked us to slow down (``retry_after_s``)
        │   └── VenueUnavailableError   connection refused, maintenance, outage
        └── AmbiguousError          AMBIGUOUS: it may or may not have taken effect
            └── RequestTimeoutError no answer in time after the request was sent

Every ``VenueError`` carries ``venue``, ``symbol`` and ``client_order_id`` where known.
Third-party errors (ccxt, asyncpg, ...) are translated into this tree at the edge, inside
the adapter, with ``raise ... from exc``. Callers decide by class through
:func:`classify_error`, never by message text.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AmbiguousError",
    "ConfigError",
    "EmptyBookError",
    "ErrorClass",
    "FundarbError",
    "InvalidOrderError",
    "MarketDataError",
    "OrderRejectedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RetryableError",
    "StaleMarketDataError",
    "StorageError",
    "UnknownSymbolError",
    "VenueError",
    "VenueUnavailableError",
    "classify_error",
]


class ErrorClass(StrEnum):
    """What an error means for the order it concerns."""

    DEFINITIVE = "definitive"  # the venue refused: nothing is live, safe to decide anew
    RETRYABLE = "retryable"  # never reached the matching engine: safe to send again
    AMBIGUOUS = "ambiguous"  # may have taken effect: find out before sending anything


class FundarbError(Exception):
    """Base of every error fundarb raises on purpose."""


class ConfigError(FundarbError, ValueError):
    """A configuration value is invalid; the message names the field and what is allowed."""


class InvalidOrderError(FundarbError, ValueError):
    """Bad input (size, price, side, symbol, id) caught before anything was sent."""

    def __init__(
        self,
        message: str,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        client_order_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.venue = venue
        self.symbol = symbol
        self.client_order_id = client_order_id


class UnknownSymbolError(InvalidOrderError):
    """The venue does not list this symbol."""


class StorageError(FundarbError):
    """The database cannot be opened, reached, migrated or written. The message names the
    database with its password hidden."""


class MarketDataError(FundarbError):
    """A book or price we cannot trust (malformed, crossed, another symbol's); never traded on."""

    def __init__(
        self, message: str, *, venue: str | None = None, symbol: str | None = None
    ) -> None:
        super().__init__(message)
        self.venue = venue
        self.symbol = symbol


class StaleMarketDataError(MarketDataError):
    """Market data older than the allowed age."""


class EmptyBookError(MarketDataError):
    """The venue's book shows no level on either side: there is no liquidity to judge."""


class VenueError(FundarbError):
    """A venue refused a request, failed, or could not be reached."""

    error_class: ErrorClass = ErrorClass.AMBIGUOUS

    def __init__(
        self,
        message: str,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        client_order_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.venue = venue
        self.symbol = symbol
        self.client_order_id = client_order_id

    def __str__(self) -> str:
        where = ", ".join(
            f"{k}={v}"
            for k, v in (
                ("venue", self.venue),
                ("symbol", self.symbol),
                ("client_order_id", self.client_order_id),
            )
            if v
        )
        message = super().__str__()
        return f"{message} ({where})" if where else message


class OrderRejectedError(VenueError):
    """The venue answered and refused; no order is live because of this request."""

    error_class = ErrorClass.DEFINITIVE


class RetryableError(VenueError):
    """Refused before the matching engine saw it; sending again is safe."""

    error_class = ErrorClass.RETRYABLE


class RateLimitedError(RetryableError):
    """The venue's rate limit was hit; wait ``retry_after_s`` seconds before the next call."""

    def __init__(self, message: str, *, retry_after_s: float = 1.0, **where: str | None) -> None:
        super().__init__(message, **where)
        self.retry_after_s = retry_after_s


class VenueUnavailableError(RetryableError):
    """The venue could not be reached (connection refused, maintenance, outage)."""


class AmbiguousError(VenueError):
    """The request was sent and its effect is unknown; resolve before sending again."""

    error_class = ErrorClass.AMBIGUOUS


class RequestTimeoutError(AmbiguousError):
    """No answer in time after the request was sent."""


def classify_error(exc: BaseException) -> ErrorClass:
    """Say whether ``exc`` is a definitive reject, retryable, or ambiguous.

    Bad input is definitive (nothing was sent). Anything we do not recognise is
    ambiguous: assuming an unknown failure did nothing is how duplicate orders happen.
    """
    if isinstance(exc, InvalidOrderError):
        return ErrorClass.DEFINITIVE
    if isinstance(exc, VenueError):
        return exc.error_class
    return ErrorClass.AMBIGUOUS
