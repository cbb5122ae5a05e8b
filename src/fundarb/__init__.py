"""fundarb: delta-neutral funding-rate arbitrage on perpetual futures."""

import logging

__version__ = "0.1.0"

# a library logs, it does not print: the application decides where logs go (fundarb.logs)
logging.getLogger("fundarb").addHandler(logging.NullHandler())

__all__ = ["__version__"]
