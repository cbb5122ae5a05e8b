"""``simex``: the simulated venue behind a local Binance USDⓈ-M futures REST server.

``async with serve(venue, api_key=..., api_secret=...) as address:`` then point an
unmodified ccxt ``binanceusdm`` at ``address.url`` (``binanceusdm_client`` does).
"""

from fundarb.venues.simex.client import binanceusdm_client
from fundarb.venues.simex.server import ServerAddress, create_app, serve

__all__ = ["ServerAddress", "binanceusdm_client", "create_app", "serve"]
