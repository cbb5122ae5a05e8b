"""fundarb: delta-neutral funding-rate arbitrage on perpetual futures."""

__version__ = "0.1.0"

__all__ = ["__version__"]
