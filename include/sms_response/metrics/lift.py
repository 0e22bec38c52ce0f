"""Lift of a texted group over its holdout: difference of two proportions with a 95 % interval.

Wilson's score interval for each proportion, combined by Newcombe's hybrid score method (Newcombe 1998,
method 10): it keeps its coverage for small groups and rates near 0 or 1, where the Wald interval fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


def wilson(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``hits / n``; (0, 1) when ``n`` is 0 (nothing observed)."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= hits <= n:
        raise ValueError(f"need 0 <= hits <= n, got {hits}/{n}")
    p = hits / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Lift:
    texted: int
    texted_hits: int
    holdout: int
    holdout_hits: int
    texted_rate: float | None
    holdout_rate: float | None
    lift: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def significant(self) -> bool | None:
        """True when the interval excludes 0; None when there is nothing to compare."""
        if self.ci_low is None or self.ci_high is None:
            return None
        return self.ci_low > 0 or self.ci_high < 0


def newcombe_lift(texted_hits: int, texted: int, holdout_hits: int, holdout: int, z: float = Z95) -> Lift:
    """``rate(texted) - rate(holdout)`` with Newcombe's hybrid score interval; None figures for an empty group."""
    if texted <= 0 or holdout <= 0:
        return Lift(texted, texted_hits, holdout, holdout_hits,
                    texted_hits / texted if texted else None, holdout_hits / holdout if holdout else None,
                    None, None, None)
    p1, p2 = texted_hits / texted, holdout_hits / holdout
    l1, u1 = wilson(texted_hits, texted, z)
    l2, u2 = wilson(holdout_hits, holdout, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Lift(texted, texted_hits, holdout, holdout_hits, p1, p2, d, low, high)
