"""Orders from error ladders: least-squares slopes, bootstrap and regression intervals (MATH §9).

An order is the slope p of ``log E(h) = log C + p log h`` fitted by least squares over the
*asymptotic range* of a ladder of step sizes. The rule used everywhere in this package:

    drop the points at the fine end whose error lies at the rounding floor; the asymptotic
    range holds the finest three remaining points and extends towards coarser step sizes while
    each added local slope (log-log slope between neighbouring points) lies within
    ``CURVATURE`` = 0.25 of the finest local slope (see :func:`fit_range`).

Coarse points where the error curve still bends (the pre-asymptotic regime) are thereby left out,
and the range is decided once from the full data and kept fixed for every bootstrap replicate.

Intervals:

* Monte Carlo studies (strong, weak with samples, deterministic from sampled starts): a
  percentile bootstrap over samples, its tails expanded for small samples to the width of a
  t-interval (:func:`bootstrap_tail`). Sample ``s`` is one Brownian path and one start point; it is
  resampled *with the same indices for every step count*, so the correlation between the errors
  of one path at different h is kept. When the fitted points bend more than their sampling noise
  explains (a χ² lack-of-fit test at 95 % with the bootstrap variances), the interval is joined
  with the regression interval below: a ladder that still bends leaves the order uncertain too.
  ``OrderFit.limited_by`` says which part sets the width, and so whether more paths or finer
  steps buy a decision.
* Exact studies (weak with exact moments, deterministic on closed forms): there is no sampling
  noise; the interval is the 95 % t-interval of the regression slope, which measures how far the
  points are from a straight line (the pre-asymptotic curvature).

The verdict puts the burden on *showing* the declared order p_d with tolerance τ:

* ``pass``          ci_low ≥ p_d − τ   (the whole interval is at or above the widened claim);
* ``pass (>)``      ci_low − τ > p_d    (the whole widened interval lies above p_d: converging
                    faster than declared is consistent with MATH §9's E ≤ C hᵖ);
* ``fail``          ci_high < p_d − τ  (the whole interval lies below the widened claim);
* ``inconclusive``  otherwise: the interval straddles p_d − τ and the evidence cannot decide;
  the engine buys more evidence (paths, finer steps) before it settles for this.

The default τ = 0.25 follows from MATH §9: strong errors of exponential schemes with additive
noise show slopes ≈ 0.9 before the asymptotic regime, so a margin of 0.1 would reject correct
schemes, while every defect that lowers an order by ≥ 1/2 stays below p_d − τ.

Error rates of the rule, measured by ``tests/test_convergence_statistics.py`` on synthetic
5-point ladders h = 2⁻¹…2⁻⁵ with declared order 2, 400 ladders per case (seed 0); "false pass" is
a pass at true order 1.5, "false fail" a fail at true order 2 (each must stay ≤ 5 %):

* Monte Carlo (200 samples, 200 bootstrap replicates, e_s = 0.3 hᵖ exp(σ g_s + τ g_{s,h})):
  (σ, τ) = (0.5, 0.5): false pass 0 %, false fail 0 %, decided 99.3–99.8 %;
  (1, 1): 0 %, 0 %, decided 68–72 %; (1, 2): 0.75 %, 0 %, decided 16–23 %.
  With few samples the plain percentile interval is too narrow (a mean over 10 normal samples:
  89 % coverage; the expanded tails of :func:`bootstrap_tail`: 95 %). On the engine's strong
  study (SEEDS-1, Gaussian, VP-linear, 8…64 steps, 100 seeds) 4 paths gave 6 false fails in 100
  with 2.5 % tails and 2 with the expanded ones; from 8 paths on none either way.
* Exact ladders (regression, e = 0.3 hᵖ exp(a h + ε g_h)): ε = 0.02: 0 %, 0 %, all decided;
  ε = 0.1: 0 %, 0 %, decided 52–57 %; ε = 0.2: 0 %, 0.75 %; ε = 0.02 with a ~ N(0, 2²):
  0 %, 0 %, decided 62–65 %.

Noisier evidence is left ``inconclusive`` (and bought more of), not decided wrongly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DEFAULT_TOLERANCE",
    "CONFIDENCE",
    "ROUNDING_MARGIN",
    "OrderFit",
    "fit_range",
    "bootstrap_tail",
    "fit_slope",
    "bootstrap_order",
    "regression_order",
    "verdict",
    "worst_verdict",
    "PASS", "PASS_ABOVE", "FAIL", "INCONCLUSIVE", "MEASURED", "VERDICTS",
    "FIT_RULE",
    "CURVATURE",
]

DEFAULT_TOLERANCE = 0.25
RESOLVED_SE = 2.0  # a mean error is resolved from zero when it exceeds 2 standard errors
CURVATURE = 0.25
MIN_FIT_POINTS = 3  # fewest fitted points that can show a straight line
# Low-precision studies fit only points whose error is at least this many times their measured
# rounding error (the same run from the same start and path in float64): the discretisation error
# then dominates the measured one to within 10 % (docs/precision.md).
ROUNDING_MARGIN = 10.0
CONFIDENCE = 0.95


@dataclass(frozen=True)
class OrderFit:
    """A fitted order with its interval.

    Attributes:
        order: least-squares slope of log error against log h over ``fit_range``.
        constant: C of E ≈ C hᵖ from the same fit.
        ci_low, ci_high: 95 % interval of the slope (bootstrap or regression, see ``method``).
        fit_range: (first, last) index into the ladder of the points fitted (inclusive).
        method: ``"bootstrap"`` or ``"regression"``.
        limited_by: what sets the interval's width: ``"sampling"`` (the bootstrap percentiles;
            more paths narrow it) or ``"curvature"`` (the regression interval: the fitted points
            still bend, finer steps narrow it).
        errors_ci_low, errors_ci_high: per step count 95 % interval of the mean error
            (bootstrap percentiles; equal to the errors themselves for exact studies).
    """

    order: float
    constant: float
    ci_low: float
    ci_high: float
    fit_range: tuple[int, int]
    method: str
    errors_ci_low: tuple[float, ...]
    errors_ci_high: tuple[float, ...]
    limited_by: str = "curvature"


def _check_ladder(step_sizes, errors) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(step_sizes, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if h.ndim != 1 or h.size < 2:
        raise ValueError("step_sizes must be a 1-D sequence of at least two values")
    if e.shape[-1] != h.size:
        raise ValueError(f"errors must have {h.size} entries per row, got shape {e.shape}")
    if not np.all(h > 0) or not np.all(np.isfinite(h)):
        raise ValueError("step_sizes must be positive and finite")
    if not np.all(np.diff(h) < 0):
        raise ValueError("step_sizes must be strictly decreasing (coarse to fine)")
    return h, e


def fit_range(step_sizes, errors, floor: float = 0.0, coarsest: int = 0) -> tuple[int, int]:
    """Indices (first, last) of the asymptotic range of a coarse-to-fine ladder (module rule).

    Points at the fine end whose error is ≤ ``floor`` (the rounding floor of the study: one value,
    or one per ladder point when it is measured) or not
    finite are dropped first. The range then holds the finest three remaining points (two if
    only two remain) and extends
    towards coarser ones while each added local slope (between a point and its finer neighbour)
    differs from the finest local slope by at most ``CURVATURE``, never beyond index ``coarsest``
    (points coarser than it are not measured well enough to fit) nor over a positive error at or
    below the floor (one that dips there, e.g. as a component changes sign, is no order). Fewer
    than 2 usable points → ValueError.
    """
    h = np.asarray(step_sizes, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    floor = np.broadcast_to(np.asarray(floor, dtype=np.float64), e.shape)  # one value, or one per point
    last = e.size - 1
    while last >= 0 and not (np.isfinite(e[last]) and e[last] > floor[last]):
        last -= 1
    below = np.nonzero((e[: last + 1] > 0) & (e[: last + 1] <= floor[: last + 1]))[0]
    coarsest = max(coarsest, int(below[-1]) + 1 if below.size else 0)
    if last < coarsest + 1:
        raise ValueError("fewer than two errors above the rounding and sampling-noise floor: no order can be fitted")
    with np.errstate(divide="ignore", invalid="ignore"):
        local = np.diff(np.log(e[: last + 1])) / np.diff(np.log(h[: last + 1]))
    finest = local[-1]
    first = max(coarsest, last - 2)
    while first > coarsest:
        s = local[first - 1]
        if not (np.isfinite(e[first - 1]) and e[first - 1] > 0 and abs(s - finest) <= CURVATURE):
            break
        first -= 1
    return first, last


def fit_slope(step_sizes, errors) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (slope, intercept) of log errors against log step sizes.

    ``errors`` may be 1-D (one ladder) or 2-D (one ladder per row, e.g. bootstrap replicates);
    the result has the leading shape of ``errors``. Non-positive errors give −inf logs, so
    callers pass only fitted ranges of positive errors.
    """
    x = np.log(np.asarray(step_sizes, dtype=np.float64))
    with np.errstate(divide="ignore"):
        y = np.log(np.asarray(errors, dtype=np.float64))
    xc = x - x.mean()
    slope = (y * xc).sum(axis=-1) / (xc * xc).sum()
    intercept = y.mean(axis=-1) - slope * x.mean()
    return slope, intercept


def bootstrap_order(step_sizes, per_sample_errors, *, replicates: int = 1000, seed: int = 0,
                    floor: float = 0.0, statistic=None, coarsest: int = 0) -> OrderFit:
    """Order and 95 % percentile-bootstrap interval from per-sample values (module docstring).

    ``per_sample_errors`` has shape (samples, step counts, ...). Without ``statistic`` it holds
    per-sample errors and the error of a ladder point is their mean over samples; with it, the
    error is ``statistic(mean over samples)`` (mapping shape (..., step counts, q) to
    (..., step counts), e.g. the size of the mean difference of weak statistics). Each replicate
    resamples the rows with replacement (the same rows for every step count) and refits the
    slope over the fixed asymptotic range of the full data.
    """
    e = np.asarray(per_sample_errors, dtype=np.float64)
    h, _ = _check_ladder(step_sizes, np.zeros(len(step_sizes)))
    if e.ndim < 2 or e.shape[0] < 2 or e.shape[1] != h.size:
        raise ValueError("per_sample_errors must have shape (samples >= 2, step counts, ...)")
    if e.ndim > 2 and statistic is None:
        raise ValueError("per-sample values with more than two dimensions need a statistic")
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 10:
        raise ValueError(f"replicates must be an int >= 10, got {replicates!r}")
    reduce_ = statistic if statistic is not None else (lambda m: m)
    mean = reduce_(e.mean(axis=0))
    rng = np.random.default_rng(seed)
    # Replicates in blocks: memory stays at block·samples·steps whatever ``replicates`` is.
    boot = np.empty((replicates, h.size))
    block = max(1, 2_000_000 // max(1, e.size))
    for start in range(0, replicates, block):
        stop = min(replicates, start + block)
        idx = rng.integers(0, e.shape[0], size=(stop - start, e.shape[0]))
        boot[start:stop] = reduce_(e[idx].mean(axis=1))
    # Sampling noise floor: a point whose error does not exceed RESOLVED_SE times the same
    # statistic of the per-component standard errors measures the noise, not the scheme, and is
    # dropped like a rounding-floor point. (For a norm-like statistic such as Σ_j |mean_j|, pure
    # noise gives about 0.8 Σ_j se_j, so the standard errors must go through the statistic too;
    # this matters for Monte Carlo weak errors, which reach the noise quickly.)
    se = e.std(axis=0, ddof=1) / math.sqrt(e.shape[0])
    resolved = mean > RESOLVED_SE * reduce_(se)
    first, last = fit_range(h, np.where(resolved, mean, 0.0), floor, coarsest)
    sl = slice(first, last + 1)
    slope, intercept = fit_slope(h[sl], mean[sl])
    with np.errstate(divide="ignore", invalid="ignore"):
        boot_slopes, _ = fit_slope(h[sl], boot[:, sl])
    q = bootstrap_tail(e.shape[0])
    lo, hi = np.quantile(boot_slopes, [q, 1.0 - q])
    elo, ehi = np.quantile(boot, [q, 1.0 - q], axis=0)
    # The bootstrap sees the sampling noise only; a ladder that still bends is uncertain too.
    # Lack of fit: χ² = Σ r_i² / v_i of the residuals r_i of log(mean error) about the fitted
    # line, with v_i the bootstrap variance of log(mean error) at point i. Beyond the 95 %
    # quantile of χ²_{n−2} the points bend more than their sampling noise explains: the interval
    # is then joined with the regression t-interval (curvature limits it, finer steps help);
    # otherwise the bootstrap interval stands (sampling limits it, more paths help).
    limited_by = "sampling"
    n_fit = last - first + 1
    if n_fit > 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.var(np.log(boot[:, sl]), axis=0, ddof=1)
        resid = np.log(mean[sl]) - (intercept + slope * np.log(h[sl]))
        chi2 = float(np.sum(resid ** 2 / np.maximum(v, np.finfo(float).tiny)))
        if not np.all(np.isfinite(v)) or chi2 > _chi2_quantile(n_fit - 2):
            half = _regression_halfwidth(h[sl], mean[sl], slope, intercept)
            if 2 * half > hi - lo:
                limited_by = "curvature"
            lo, hi = min(lo, slope - half), max(hi, slope + half)
    return OrderFit(float(slope), float(math.exp(intercept)), float(lo), float(hi), (first, last),
                    "bootstrap", tuple(map(float, elo)), tuple(map(float, ehi)), limited_by)


def bootstrap_tail(samples: int) -> float:
    """The tail probability at each end of a 95 % percentile-bootstrap interval over ``samples``
    rows, expanded for small samples (the *expanded percentile* interval).

    For a mean, the percentile interval has the width of x̄ ± z s √((n − 1)/n) / √n (the
    bootstrap's variance is the plug-in s²(n − 1)/n), narrower than the t-interval
    x̄ ± t_{n−1} s / √n, and it under-covers at small n (about 81 % at n = 4 under normality).
    Taking the quantiles at Φ(−√(n/(n − 1)) t_{n−1}) instead of 2.5 % restores the t-interval's
    width: 0.0248 at n = 1000, 0.024 at 200, 0.0057 at 8, 1.2·10⁻⁴ at 4 (where the interval
    reaches the extreme resamples, and a verdict needs more paths).
    """
    from scipy.stats import norm

    n = int(samples)
    if n < 2:
        raise ValueError(f"samples must be at least 2, got {samples!r}")
    return float(norm.sf(math.sqrt(n / (n - 1)) * _t_quantile(n - 1)))


def _chi2_quantile(dof: int) -> float:
    """95 % quantile of χ² with ``dof`` degrees of freedom (scipy, imported on demand)."""
    from scipy.stats import chi2

    return float(chi2.ppf(CONFIDENCE, dof))


def _t_quantile(dof: int) -> float:
    """Two-sided 95 % Student-t quantile (scipy is imported only here, on demand)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + CONFIDENCE / 2.0, dof))


def _regression_halfwidth(h, e, slope, intercept) -> float:
    """t_{0.975, n−2} · SE(slope) of log e on log h (0 for two points)."""
    x, y = np.log(h), np.log(e)
    n = x.size
    if n <= 2:
        return 0.0
    resid = y - (intercept + slope * x)
    se = math.sqrt(float((resid ** 2).sum()) / (n - 2) / float(((x - x.mean()) ** 2).sum()))
    return _t_quantile(n - 2) * se


def regression_order(step_sizes, errors, *, floor: float = 0.0) -> OrderFit:
    """Order and 95 % regression interval for an exact (noise-free) error ladder.

    The interval is slope ± t_{0.975, n−2} · SE(slope) over the asymptotic range: it is wide
    when the points still bend (pre-asymptotic) and collapses to the slope when they lie on a
    line. With exactly two points in the range the interval is the slope itself.
    """
    h, e = _check_ladder(step_sizes, errors)
    if e.ndim != 1:
        raise ValueError("errors must be 1-D for an exact ladder")
    first, last = fit_range(h, e, floor)
    sl = slice(first, last + 1)
    slope, intercept = fit_slope(h[sl], e[sl])
    half = _regression_halfwidth(h[sl], e[sl], slope, intercept)
    return OrderFit(float(slope), float(math.exp(intercept)), float(slope - half), float(slope + half),
                    (first, last), "regression", tuple(map(float, e)), tuple(map(float, e)))


PASS, PASS_ABOVE, FAIL, INCONCLUSIVE, MEASURED = "pass", "pass (>)", "fail", "inconclusive", "measured"
VERDICTS = (PASS, PASS_ABOVE, FAIL, INCONCLUSIVE, MEASURED)

FIT_RULE = (f"least-squares slope of log error on log h over the finest three resolved points, "
            f"extended coarser while each local slope is within {CURVATURE} of the finest one; "
            f"95 % interval: regression t-interval of the fitted points, joined with the bootstrap "
            f"interval over paths for Monte Carlo ladders; "
            f"pass when ci_low >= declared - tolerance, fail when ci_high < declared - tolerance, "
            f"inconclusive otherwise (more paths or finer steps are then tried)")


def verdict(fit: OrderFit | None, declared: float | None, tolerance: float = DEFAULT_TOLERANCE) -> str:
    """The verdict of a measured order against a declared one (module docstring).

    ``declared`` None → ``"measured"`` (nothing claimed); no fit, a non-finite interval or a fit
    through fewer than ``MIN_FIT_POINTS`` = 3 points (when the finer points sit at the rounding or
    sampling-noise floor, two coarse points remain, and their secant is no asymptotic order) →
    ``"inconclusive"``.
    """
    if declared is None:
        return MEASURED
    if fit is None or not (math.isfinite(fit.ci_low) and math.isfinite(fit.ci_high)):
        return INCONCLUSIVE
    if fit.fit_range[1] - fit.fit_range[0] + 1 < MIN_FIT_POINTS:
        return INCONCLUSIVE  # a secant through two points says nothing about the bend
    if fit.ci_low - tolerance > declared:
        return PASS_ABOVE
    if fit.ci_low >= declared - tolerance:
        return PASS
    if fit.ci_high < declared - tolerance:
        return FAIL
    return INCONCLUSIVE


_SEVERITY = {FAIL: 3, INCONCLUSIVE: 2, PASS: 1, PASS_ABOVE: 1, MEASURED: 0}


def worst_verdict(verdicts) -> str:
    """``fail`` over ``inconclusive`` over ``pass``; ``measured`` when nothing was declared."""
    verdicts = list(verdicts)
    if not verdicts:
        return MEASURED
    worst = max(verdicts, key=lambda v: _SEVERITY[v])
    return PASS if worst == PASS_ABOVE else worst
