"""Argument types shared by the ``fundarb`` subcommands: a bad value is an argparse error
(exit 2, a message naming the problem) before anything runs."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation

__all__ = ["days", "positive_decimal", "positive_float", "positive_int"]


def positive_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above zero, got {text}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number above zero, got {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def days(text: str) -> float:
    """Simulated days: above zero, at most 30."""
    value = positive_float(text)
    if value > 30:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 30, got {text}")
    return value
