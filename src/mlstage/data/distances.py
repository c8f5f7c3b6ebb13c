"""Distances and tests between two distributions given as counts over the same bins.

TFDV's comparators (L-infinity for categorical features, Jensen-Shannon
divergence for numeric ones) plus PSI, Kolmogorov-Smirnov and chi-square.
Every function takes two NumPy count vectors aligned bin by bin and returns
``(score, p_value)``; ``p_value`` is None for distances.

The paper behind TFDV prefers distances to tests: on large data a test calls
a tiny, irrelevant difference significant. Both are here; a test drifts when
its p-value is under the threshold, a distance when it is over.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Counts = npt.NDArray[np.float64]

PSI_EPSILON = 1e-4
"""Share given to empty bins in PSI, whose log would be infinite otherwise (as Evidently)."""


def _shares(counts: Counts) -> Counts:
    total = float(counts.sum())
    return counts / total if total > 0 else counts


def linf(ref: Counts, cur: Counts) -> tuple[float, float | None]:
    """Largest change in the share of one value (bin): max_i |p_i - q_i|."""
    import numpy as np

    return float(np.max(np.abs(_shares(ref) - _shares(cur)))) if len(ref) else 0.0, None


def jsd(ref: Counts, cur: Counts) -> tuple[float, float | None]:
    """Jensen-Shannon divergence, base 2, in [0, 1]."""
    import numpy as np

    p, q = _shares(ref), _shares(cur)
    m = (p + q) / 2
    total = 0.0
    for x in (p, q):
        mask = x > 0
        total += 0.5 * float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))
    return max(0.0, min(1.0, total)), None


def psi(ref: Counts, cur: Counts) -> tuple[float, float | None]:
    """Population stability index: sum (q - p) ln(q / p), empty shares set to ``PSI_EPSILON``."""
    import numpy as np

    p = np.clip(_shares(ref), PSI_EPSILON, None)
    q = np.clip(_shares(cur), PSI_EPSILON, None)
    return float(np.sum((q - p) * np.log(q / p))), None


def ks(ref: Counts, cur: Counts) -> tuple[float, float | None]:
    """Two-sample Kolmogorov-Smirnov over ordered bins: largest gap of the two CDFs at the edges.

    Exact at the bin edges, so it can miss at most one bin's share within a bin;
    the p-value is the asymptotic Kolmogorov distribution's.
    """
    import numpy as np
    from scipy.special import kolmogorov

    n, m = float(ref.sum()), float(cur.sum())
    if n == 0 or m == 0:
        return 0.0, 1.0
    d = float(np.max(np.abs(np.cumsum(ref) / n - np.cumsum(cur) / m)))
    return d, float(kolmogorov(d * math.sqrt(n * m / (n + m))))


def chi2(ref: Counts, cur: Counts) -> tuple[float, float | None]:
    """Chi-square test of homogeneity of the two count vectors (bins empty in both dropped)."""
    import numpy as np
    from scipy.stats import chi2 as chi2_dist

    keep = (ref + cur) > 0
    table = np.vstack([ref[keep], cur[keep]]).astype(float)
    if table.shape[1] < 2 or table.sum(axis=1).min() == 0:
        return 0.0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    return stat, float(chi2_dist.sf(stat, table.shape[1] - 1))


COMPARATORS: dict[str, Callable[[Counts, Counts], tuple[float, float | None]]] = {
    "linf": linf,
    "jsd": jsd,
    "psi": psi,
    "ks": ks,
    "chi2": chi2,
}
TESTS = ("ks", "chi2")
"""Comparators that are statistical tests: drift when the p-value is under the threshold."""
