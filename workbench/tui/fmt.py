"""Number formats shared by the widgets: money to the 1e-8 dollar, milliseconds as whole numbers."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

_STEP = Decimal("1e-8")


def usd(value: Decimal | float | int) -> str:
    """Dollars without float noise or scientific notation: 0.00005535, 0.000129, 1.5, 0."""
    amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    text = f"{amount.quantize(_STEP, rounding=ROUND_HALF_EVEN):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"
