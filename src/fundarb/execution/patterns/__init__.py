"""Multi-leg patterns: atomic pairs and the one-sided fill handler.

The public names are re-exported from :mod:`fundarb.execution`.
"""
