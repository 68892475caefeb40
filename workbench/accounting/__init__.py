"""Accounting truth: the normalized usage record of a hop and the versioned prices that cost it.

Pure data and arithmetic (Decimal, never accumulated floats); no I/O. Used by providers (to map wire usage),
the engine (to cost hops and enforce caps), profiles (price entries) and the store (re-pricing).
"""

from workbench.accounting.prices import Price, PriceTier, Rates, select_price
from workbench.accounting.usage import Cost, Usage, cost_of

__all__ = ["Cost", "Price", "PriceTier", "Rates", "Usage", "cost_of", "select_price"]
