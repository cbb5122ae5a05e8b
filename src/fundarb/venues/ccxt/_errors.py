"""ccxt's exceptions, translated once into fundarb's error tree (design notes §6).

The verdict depends on whether the failed call could have changed state at the venue:

===============================================  ==================  ======================
ccxt exception                                   a read              a send (place, cancel)
===============================================  ==================  ======================
``RateLimitExceeded``, ``DDoSProtection``        retryable           retryable
``OnMaintenance``, ``InvalidNonce``              retryable           retryable
``ExchangeNotAvailable`` (5xx, conn. reset)      retryable           AMBIGUOUS
``RequestTimeout``                               ambiguous           AMBIGUOUS
other ``NetworkError``, ``BadResponse``,         ambiguous           AMBIGUOUS
``OperationFailed``, bare ``ExchangeError``
``InvalidOrder``, ``InsufficientFunds``,         definitive          definitive
``BadRequest`` (``BadSymbol``),
``AuthenticationError``, ``NotSupported``,
``ArgumentsRequired``, ``OperationRejected``
===============================================  ==================  ======================

ccxt raises ``ExchangeNotAvailable`` for HTTP 5xx and for a connection reset after the
request left; Binance documents that a 5xx leaves an order's fate unknown, so a send that
failed that way is ambiguous. ``OnMaintenance`` is refused before matching. A bare
``ExchangeError`` is a venue code ccxt does not know (Binance -1000 "unknown error"):
unknown is not rejected.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable
from types import ModuleType

from fundarb.errors import (
    AmbiguousError,
    OrderRejectedError,
    RateLimitedError,
    RequestTimeoutError,
    VenueError,
    VenueUnavailableError,
)
from fundarb.funding.collectors.redact import describe_error
from fundarb.venues.orders import RejectReason

__all__ = ["BadPayloadError", "reject_reason", "translate"]

_RETRY_AFTER_S = 1.0
# Binance's documented order-reject codes ccxt folds into broad classes; ccxt's message
# carries the venue's JSON body, whose ``code`` is a number, not prose
_BINANCE_CODE = re.compile(r'"code"\s*:\s*(-\d+)')
_BINANCE_REASONS = {
    "-2019": RejectReason.INSUFFICIENT_MARGIN,  # Margin is insufficient
    "-2022": RejectReason.REDUCE_ONLY,  # ReduceOnly Order is rejected
    "-4116": RejectReason.DUPLICATE_CLIENT_ORDER_ID,  # ClientOrderId is duplicated
    "-4164": RejectReason.MIN_NOTIONAL,  # notional must be no smaller than ...
    "-5022": RejectReason.POST_ONLY_WOULD_CROSS,  # could not be executed as maker
    "-1111": RejectReason.INVALID_QUANTITY,  # precision is over the maximum defined
    "-4003": RejectReason.INVALID_QUANTITY,  # quantity less than zero
    "-4014": RejectReason.INVALID_PRICE,  # price not increased by tick size
    "-4024": RejectReason.INVALID_PRICE,  # price higher than the multiplier cap
}


class BadPayloadError(AmbiguousError):
    """The venue answered with something that is not the documented shape (an HTML page
    on HTTP 200, a missing order id): never read as data; its effect is unknown."""


@functools.cache
def ccxt_module() -> ModuleType:
    # ccxt ships no type information: as a module object its classes are Any, here only
    return importlib.import_module("ccxt")


def is_ccxt_error(exc: BaseException) -> bool:
    return isinstance(exc, ccxt_module().BaseError)


def translate(
    exc: BaseException,
    *,
    sends: bool,
    venue: str,
    secrets: Iterable[str | None],
    symbol: str | None = None,
    client_order_id: str | None = None,
) -> VenueError:
    """``exc`` (a ccxt error) as a fundarb :class:`VenueError`, its text redacted.

    ``sends`` is True for a call that may change state at the venue (place, cancel).
    """
    ccxt = ccxt_module()
    message = describe_error(exc, secrets)
    where = {"venue": venue, "symbol": symbol, "client_order_id": client_order_id}
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return RateLimitedError(message, retry_after_s=_RETRY_AFTER_S, **where)
    if isinstance(exc, ccxt.OnMaintenance | ccxt.InvalidNonce):
        return VenueUnavailableError(message, **where)
    if isinstance(exc, ccxt.ExchangeNotAvailable):
        return (
            AmbiguousError(message, **where) if sends else VenueUnavailableError(message, **where)
        )
    if isinstance(exc, ccxt.RequestTimeout):
        return RequestTimeoutError(message, **where)
    if isinstance(exc, ccxt.BadResponse):
        return BadPayloadError(message, **where)
    definitive = (
        ccxt.InvalidOrder,
        ccxt.InsufficientFunds,
        ccxt.BadRequest,
        ccxt.AuthenticationError,
        ccxt.NotSupported,
        ccxt.ArgumentsRequired,
        ccxt.OperationRejected,
        ccxt.InvalidAddress,
        ccxt.ExchangeClosedByUser,
    )
    if isinstance(exc, definitive):
        return OrderRejectedError(message, **where)
    return AmbiguousError(message, **where)


def reject_reason(exc: BaseException) -> RejectReason:
    """Why the venue refused an order, from ccxt's class (never from message text)."""
    ccxt = ccxt_module()
    code = _BINANCE_CODE.search(str(exc))
    if code is not None and code.group(1) in _BINANCE_REASONS:
        return _BINANCE_REASONS[code.group(1)]
    if isinstance(exc, ccxt.InsufficientFunds):
        return RejectReason.INSUFFICIENT_MARGIN
    if isinstance(exc, ccxt.OrderImmediatelyFillable):
        return RejectReason.POST_ONLY_WOULD_CROSS
    if isinstance(exc, ccxt.DuplicateOrderId):
        return RejectReason.DUPLICATE_CLIENT_ORDER_ID
    if isinstance(exc, ccxt.OrderNotFound):
        return RejectReason.UNKNOWN_ORDER
    return RejectReason.VENUE_REJECT
