"""What a funding collector is: one venue, one coroutine that returns samples."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, runtime_checkable

from fundarb.funding.rates import FundingSample
from fundarb.funding.symbols import canonical_symbol

__all__ = ["FundingCollector", "wanted_symbols"]


@runtime_checkable
class FundingCollector(Protocol):
    """Collects the current funding rates of one venue.

    ``collect(symbols)`` returns one :class:`FundingSample` per listing of the canonical
    ``symbols`` (``BTC``, ``PEPE``) the venue has; ``None`` means every listing the
    collector knows. A venue that cannot be read raises (a :class:`~fundarb.errors.VenueError`
    where the failure is the venue's); a symbol the venue does not list is simply absent.
    """

    @property
    def venue(self) -> str: ...

    async def collect(self, symbols: Collection[str] | None = None) -> list[FundingSample]: ...


def wanted_symbols(symbols: Collection[str] | None) -> frozenset[str] | None:
    """The canonical names of a ``symbols`` filter, None for no filter.

    ``1000PEPE``, ``kPEPE`` and ``pepe`` all mean ``PEPE``. Raises :class:`ValueError` for a
    name with no asset in it.
    """
    if symbols is None:
        return None
    if isinstance(symbols, str):  # a lone "BTC" would otherwise filter on "B", "T", "C"
        symbols = (symbols,)
    return frozenset(canonical_symbol(s) for s in symbols)
