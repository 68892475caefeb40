"""The one way money becomes text: exact decimals, never float noise or exponent notation.

usd(Decimal("0.00005535"))                     -> "0.00005535"   exact (trailing zeros dropped)
usd(value, places=8)                           -> rounded half-even to 1e-8 (the TUI's cells)
usd(value, places=6, pad=True, prefix="$")     -> "$0.000157"    fixed width (the CLI's hop table)
usd(delta, signed=True, prefix="$")            -> "+$0.0012"     a change (re-pricing)
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

__all__ = ["as_decimal", "exact_text", "usd"]


def as_decimal(value: Decimal | float | int | str) -> Decimal:
    """Exact for Decimal, int and str; a float goes through its shortest repr (0.1 -> 0.1)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value) if isinstance(value, float) else str(value))


def exact_text(value: Decimal) -> str:
    """An exact decimal string without trailing zeros or exponent notation (Decimal's str can give '0E-7')."""
    return format(value.normalize(), "f")


def usd(
    value: Decimal | float | int | str,
    *,
    places: int | None = None,
    pad: bool = False,
    signed: bool = False,
    prefix: str = "",
) -> str:
    """`value` in dollars: exact, or rounded half-even to `places` decimals (`pad` keeps trailing zeros);
    `signed` puts + or - first (zero has no sign); `prefix` (e.g. "$") goes between sign and figure."""
    amount = as_decimal(value)
    if places is not None:
        amount = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    sign = ""
    if signed:
        sign = "+" if amount > 0 else "-" if amount < 0 else ""
        amount = abs(amount)
    figure = format(amount, "f") if pad else exact_text(amount)
    return f"{sign}{prefix}{figure}"
