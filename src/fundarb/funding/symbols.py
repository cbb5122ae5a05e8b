"""One canonical name per asset across venues, including multiplier listings.

Venues name the same perpetual differently: ``BTCUSDT`` (Binance, Bybit), ``BTC/USDT:USDT``
(ccxt), ``BTC-USDT-SWAP`` (OKX), ``BTC_USDT`` (Gate), ``XBTUSDTM`` (KuCoin), ``BTC-USD``
(dYdX), ``BTC-PERP`` and ``BTC`` (Hyperliquid). All are ``BTC`` here: a funding pair is
long one listing and short another of the same base asset, whatever the quote.

Multiplier listings quote a bundle of base units: ``1000PEPEUSDT`` and Hyperliquid's
``kPEPE`` are 1000 PEPE per unit, ``1000000MOG`` a million. Their canonical name is the base
(``PEPE``) and :attr:`Listing.multiplier` says how to convert: a price per listed unit is
``multiplier`` × the price per base unit, a quantity in listed units is the base quantity ÷
``multiplier``. Funding rates are fractions of notional and need no conversion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Listing", "canonical_symbol", "parse_listing"]

# longest first, so USDT wins over USD
_QUOTES = ("FDUSD", "BUSD", "USDT", "USDC", "USDE", "TUSD", "USD")
_SUFFIXES = ("-SWAP", "-PERPETUAL", "-PERP", "PERP", "_PERP")
_ALIASES = {"XBT": "BTC"}
_PREFIX = re.compile(r"^(1000000|100000|10000|1000|1M|1K|K)(?=[A-Z0-9])", re.IGNORECASE)
_PREFIX_VALUES = {
    "1000000": Decimal(1_000_000),
    "100000": Decimal(100_000),
    "10000": Decimal(10_000),
    "1000": Decimal(1000),
    "1M": Decimal(1_000_000),
    "1K": Decimal(1000),
    "K": Decimal(1000),
}


@dataclass(frozen=True, slots=True)
class Listing:
    """What a venue's symbol lists: ``multiplier`` units of ``base`` per unit, in ``quote``."""

    venue_symbol: str
    base: str
    quote: str | None
    multiplier: Decimal = Decimal(1)

    @property
    def symbol(self) -> str:
        """The canonical name: the base asset."""
        return self.base

    def to_base_quantity(self, listed: Decimal) -> Decimal:
        return listed * self.multiplier

    def to_listed_quantity(self, base: Decimal) -> Decimal:
        return base / self.multiplier

    def to_base_price(self, listed_price: Decimal) -> Decimal:
        return listed_price / self.multiplier


def parse_listing(venue_symbol: str) -> Listing:
    """Read a venue symbol: ``1000PEPE/USDT:USDT`` → ``Listing(base="PEPE", quote="USDT",
    multiplier=1000)``. Raises :class:`ValueError` for a name with no base asset in it."""
    text = venue_symbol.strip()
    if not text:
        raise ValueError("empty symbol")
    # Hyperliquid's lower-case k prefix (kPEPE) is the only case-sensitive marker
    kilo = len(text) > 1 and text[0] == "k" and text[1].isupper()
    token = text.upper()
    settle = None
    if ":" in token:
        token, settle = token.split(":", 1)
    for suffix in _SUFFIXES:
        if token.endswith(suffix) and len(token) > len(suffix):
            token = token[: -len(suffix)]
            break
    quote: str | None = None
    parts = re.split(r"[/\-_]", token)
    if not parts[0] or not all(parts):
        raise ValueError(f"no base asset in symbol {venue_symbol!r}")
    base = parts[0]
    if len(parts) > 1:
        quote = parts[1]
    else:
        if base.endswith("USDTM") and len(base) > 5:  # KuCoin's linear perpetuals
            base = base[:-1]
        for candidate in _QUOTES:
            if base.endswith(candidate) and len(base) > len(candidate):
                base, quote = base[: -len(candidate)], candidate
                break
    multiplier = Decimal(1)
    match = _PREFIX.match(base)
    if match and (match.group(1).upper() != "K" or kilo):
        rest = base[match.end() :]
        if rest and not rest.isdigit():
            multiplier = _PREFIX_VALUES[match.group(1).upper()]
            base = rest
    base = _ALIASES.get(base, base)
    if not base or not re.fullmatch(r"[A-Z0-9]+", base):
        raise ValueError(f"no base asset in symbol {venue_symbol!r}")
    return Listing(venue_symbol, base, quote or settle, multiplier)


def canonical_symbol(venue_symbol: str) -> str:
    """The canonical name of a venue's symbol (its base asset): ``BTCUSDT`` → ``BTC``."""
    return parse_listing(venue_symbol).base
