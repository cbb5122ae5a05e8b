"""Funding rates: collection, normalisation, history, opportunities and the rates service."""

from fundarb.funding.rates import HOURS_PER_YEAR, FundingSample, apr, per_hour

__all__ = ["HOURS_PER_YEAR", "FundingSample", "apr", "per_hour"]
