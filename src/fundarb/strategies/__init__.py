"""Strategies built on the execution layer: ``funding_arbitrage``."""
