"""Number formats shared by the widgets: money to the 1e-8 dollar, milliseconds as whole numbers."""

from __future__ import annotations

from decimal import Decimal

from workbench.accounting import money


def usd(value: Decimal | float | int) -> str:
    """Dollars without float noise or scientific notation: 0.00005535, 0.000129, 1.5, 0 (to the 1e-8 dollar)."""
    return money.usd(value, places=8)


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"
