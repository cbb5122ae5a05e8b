"""Funding rates: collection, normalisation, history, opportunities and the rates service.

Sign convention, everywhere: a positive rate means longs pay shorts (see :mod:`.rates`).
The package itself exports only the light, dependency-free core (the storage layer imports
it); the rest lives in its modules: :mod:`.collectors`, :mod:`.history`,
:mod:`.opportunities`, :mod:`.service`, :mod:`.api`, :mod:`.simworld`.
"""

from fundarb.funding.rates import FundingSample, apr, per_hour
from fundarb.funding.symbols import Listing, canonical_symbol, parse_listing

__all__ = [
    "FundingSample",
    "Listing",
    "apr",
    "canonical_symbol",
    "parse_listing",
    "per_hour",
]
