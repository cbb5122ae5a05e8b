"""Single-leg execution: the order executor and the analysis it relies on.

The public names are re-exported from :mod:`fundarb.execution`.
"""
