"""Exact numbers at the edges: everything that enters fundarb as money or quantity
becomes a finite ``Decimal`` here, or is refused.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["to_decimal", "to_positive_decimal"]


def to_decimal(value: object, *, name: str = "value") -> Decimal:
    """Return ``value`` as a finite ``Decimal``.

    Accepts ``Decimal``, ``int``, ``float`` and numeric ``str`` (floats go through ``str``
    so ``0.1`` stays ``0.1``). Raises ``ValueError`` naming ``name`` for ``bool``, NaN,
    infinities, and anything else.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not a bool")
    elif isinstance(value, int | float | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{name} must be a number, got {value!r}") from None
    else:
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def to_positive_decimal(value: object, *, name: str = "value") -> Decimal:
    """Like :func:`to_decimal`, and the result must be strictly greater than zero."""
    result = to_decimal(value, name=name)
    if result <= 0:
        raise ValueError(f"{name} must be greater than zero, got {value!r}")
    return result
