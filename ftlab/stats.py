"""Is a gap between two settings more than seed noise? Welch's t-test on per-seed scores.

`difference(a, b)` compares the test scores of two settings, each run with several seeds: the
gap of the means, its 95% confidence interval (Welch-Satterthwaite degrees of freedom: the two
settings need not vary alike) and whether the interval excludes 0. `verdict_text` says it in
one sentence for the Compare tab. `t_quantile` gives the intervals of single settings (the
charts' error bars) from the same distribution.

May import: scipy, numpy (lazily: the dashboard imports this module at start-up). Nothing of
ftlab's.
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass
from typing import Sequence

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Difference:
    delta: float  # mean(a) - mean(b)
    low: float  # the confidence interval of delta
    high: float
    p_value: float
    n_a: int
    n_b: int

    @property
    def distinguishable(self) -> bool:
        """True when the interval excludes 0: the gap is larger than seed noise explains."""
        return self.low > 0 or self.high < 0


def difference(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Difference:
    """Welch's t-test of mean(a) - mean(b). Needs 2 or more scores on each side (one seed has no
    spread to compare a gap with). When neither side varies at all (deterministic runs), the
    interval is the gap itself."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"difference: need 2 or more scores each (got {len(a)} and {len(b)})")
    delta = statistics.mean(a) - statistics.mean(b)
    if statistics.pvariance(a) == 0 and statistics.pvariance(b) == 0:
        return Difference(delta, delta, delta, 1.0 if delta == 0 else 0.0, len(a), len(b))
    # Welch's test by its formulas, on scipy's t distribution functions (scipy.special's ufuncs):
    # scipy.stats.ttest_ind would look through sys.modules for array libraries, and a torch that
    # another thread of the dashboard is still importing breaks that look.
    from scipy import special

    share_a, share_b = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(share_a + share_b)
    df = (share_a + share_b) ** 2 / (share_a ** 2 / (len(a) - 1) + share_b ** 2 / (len(b) - 1))
    half = float(special.stdtrit(df, 0.5 + confidence / 2)) * se
    p_value = float(2 * special.stdtr(df, -abs(delta) / se))
    return Difference(delta, delta - half, delta + half, p_value, len(a), len(b))


def verdict_text(name_a: str, name_b: str, d: Difference, scale: float = 100.0, unit: str | None = None) -> str:
    """"lora vs full: -0.2 points (-1.9 to +1.5), 3 seeds each: not distinguishable from seed noise"
    (in the dashboard's language: ftlab.text)."""
    from ftlab.text import t

    unit = unit or t("verdict_points")
    seeds = t("verdict_seeds_each", n=d.n_a) if d.n_a == d.n_b else t("verdict_seeds", a=d.n_a, b=d.n_b)
    gap = t("verdict_gap", delta=f"{d.delta * scale:+.1f}", unit=unit, low=f"{d.low * scale:+.1f}",
            high=f"{d.high * scale:+.1f}")
    if d.distinguishable:
        p = "p < 0.001" if d.p_value < 0.001 else f"p = {d.p_value:.3f}"
        judgement = t("verdict_better" if d.delta > 0 else "verdict_worse", b=name_b, p=p)
    else:
        judgement = t("verdict_noise")
    return t("verdict", a=name_a, b=name_b, gap=gap, seeds=seeds, judgement=judgement)


@functools.lru_cache(maxsize=256)
def t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided `confidence` quantile of Student's t with `df` degrees of freedom (NaN for
    df < 1): the half-width of a mean's interval is this times its standard error. The one source
    of every interval ftlab draws or states (Compare's error bars, the verdicts)."""
    if df < 1:
        return math.nan
    from scipy import special

    return float(special.stdtrit(df, 0.5 + confidence / 2))
