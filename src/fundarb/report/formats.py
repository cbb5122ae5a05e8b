"""How the report prints numbers and times: money to the cent, bps to 0.1, UTC times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

__all__ = ["bps", "milliseconds", "quantity", "timestamp", "usd"]

_CENT: Final = Decimal("0.01")
_TENTH: Final = Decimal("0.1")


def usd(value: Decimal) -> str:
    """``1234.565`` → ``1,234.56`` (half-even, never ``-0.00``)."""
    return _fixed(value, _CENT)


def bps(value: Decimal) -> str:
    """Basis points to 0.1."""
    return _fixed(value, _TENTH)


def quantity(value: Decimal) -> str:
    """A base quantity as stored, without exponent or trailing zeros."""
    text = f"{value.normalize():f}"
    return "0" if text == "-0" else text


def milliseconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def timestamp(value: datetime | None) -> str:
    """UTC, to the second; ``—`` for none."""
    return "—" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def _fixed(value: Decimal, step: Decimal) -> str:
    rounded = value.quantize(step, rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)
    return f"{rounded:,}"
