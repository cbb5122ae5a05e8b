"""Real venues through ccxt: :class:`CcxtExchangeClient` over a ccxt ``async_support``
exchange (its order and fill events tuned by :class:`EventSettings`), and the
per-account :class:`AccountRateLimiter` its clients share."""

from fundarb.venues.ccxt._errors import BadPayloadError
from fundarb.venues.ccxt.client import CcxtExchangeClient
from fundarb.venues.ccxt.events import EventSettings
from fundarb.venues.ccxt.limiter import AccountRateLimiter, Priority

__all__ = [
    "AccountRateLimiter",
    "BadPayloadError",
    "CcxtExchangeClient",
    "EventSettings",
    "Priority",
]
