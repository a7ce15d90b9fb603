"""Hypothesis strategies for property tests of diffusion samplers (needs ``hypothesis``).

``pip install hypothesis`` (or the ``test`` extra of this package) before importing this module.
Every strategy draws objects that are valid by construction (no filtering of invalid draws) and
shrinks towards the simplest case: the default schedule, the fewest steps, uniform λ spacing,
η = 0, equally spaced stage fractions, N(0, I) data.

* :func:`schedules` — VP-linear, VP-cosine, VE, EDM and rectified-flow schedules with drawn
  parameters (:mod:`seeds_verify.schedules`).
* :func:`lambda_grids` — increasing λ-grids (numpy float64) from
  :func:`~seeds_verify.schedules.lambda_grid` with drawn spacing (uniform λ, Karras ρ, uniform t).
* :func:`sigma_grids` — k-diffusion ``sigmas``: a strictly decreasing float64 tensor, optionally
  ending in 0.
* :func:`etas` — η in [0, 1], with 0 and 1 drawn often.
* :func:`stage_fractions` — sorted stage fractions in (0, 1), separated enough for the SEEDS
  schemes' conditioning bound (:data:`seeds_verify.schemes.MAX_LEBESGUE_CONSTANT`).
* :func:`gaussian_problems`, :func:`mixtures` — Gaussian data and Gaussian mixtures with drawn
  means and symmetric positive definite covariances.

Example::

    from hypothesis import given, settings
    from seeds_verify.strategies import etas, sigma_grids

    @settings(max_examples=25, deadline=None)
    @given(sigmas=sigma_grids(max_steps=16), eta=etas())
    def test_my_sampler_is_finite(sigmas, eta):
        ...
"""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import strategies as st

from .problems import GaussianMixture, GaussianProblem
from .schedules import EDM, SPACINGS, VE, RectifiedFlow, Schedule, VPCosine, VPLinear, lambda_grid, sigmas_from_lambdas

__all__ = [
    "schedules",
    "lambda_grids",
    "sigma_grids",
    "etas",
    "stage_fractions",
    "gaussian_problems",
    "mixtures",
    "SCHEDULE_KINDS",
]

#: Schedule kinds of :func:`schedules`, simplest first (the one draws shrink to).
SCHEDULE_KINDS = ("vp_linear", "vp_cosine", "ve", "edm", "rectified_flow")


def _log_uniform(low: float, high: float):
    """10**u with u uniform in [log10 low, log10 high] (shrinks towards the end nearer 10**0)."""
    lo, hi = math.log10(low), math.log10(high)
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda u: float(10.0 ** u))


def _vp_linear(draw) -> VPLinear:
    beta_min = draw(st.floats(0.0, 1.0))
    beta_max = beta_min + draw(st.floats(1.0, 40.0))
    t_min = draw(_log_uniform(1e-4, 1e-2))
    t_max = draw(st.floats(0.5, 1.0))
    return VPLinear(beta_min=beta_min, beta_max=beta_max, t_min=t_min, t_max=t_max)


def _vp_cosine(draw) -> VPCosine:
    s = draw(st.floats(0.0, 0.02))
    t_min = draw(_log_uniform(1e-4, 1e-2))
    t_max = draw(st.floats(0.5, 0.995))
    return VPCosine(s=s, t_min=t_min, t_max=t_max)


def _ve(draw) -> VE:
    sigma_min = draw(_log_uniform(1e-3, 1e-1))
    sigma_max = sigma_min * draw(_log_uniform(10.0, 1e5))
    t_min = draw(st.floats(0.0, 1e-2))
    return VE(sigma_min=sigma_min, sigma_max=sigma_max, t_min=t_min, t_max=1.0)


def _edm(draw) -> EDM:
    sigma_min = draw(_log_uniform(1e-3, 1e-1))
    sigma_max = sigma_min * draw(_log_uniform(10.0, 1e5))
    return EDM(sigma_min=sigma_min, sigma_max=sigma_max)


def _rectified_flow(draw) -> RectifiedFlow:
    t_min = draw(_log_uniform(1e-4, 1e-2))
    t_max = 1.0 - draw(_log_uniform(1e-4, 1e-1))
    return RectifiedFlow(t_min=t_min, t_max=t_max)


_BUILDERS = {"vp_linear": (VPLinear, _vp_linear), "vp_cosine": (VPCosine, _vp_cosine), "ve": (VE, _ve),
             "edm": (EDM, _edm), "rectified_flow": (RectifiedFlow, _rectified_flow)}


def schedules(kinds=SCHEDULE_KINDS) -> st.SearchStrategy[Schedule]:
    """Noise schedules of the given ``kinds`` (names of :data:`SCHEDULE_KINDS`).

    A draw is either the kind's default schedule or one with drawn parameters, each inside the
    constraints of its class and with a λ range of moderate length (|λ| below ~12 at the ends):

    * VP-linear: β_min ∈ [0, 1], β_max − β_min ∈ [1, 40], t_min ∈ [1e-4, 1e-2], t_max ∈ [0.5, 1];
    * VP-cosine: s ∈ [0, 0.02], t_min ∈ [1e-4, 1e-2], t_max ∈ [0.5, 0.995];
    * VE: σ_min ∈ [1e-3, 0.1], σ_max/σ_min ∈ [10, 1e5], t_min ∈ [0, 1e-2], t_max = 1;
    * EDM: σ_min ∈ [1e-3, 0.1], σ_max/σ_min ∈ [10, 1e5];
    * rectified flow: t_min ∈ [1e-4, 1e-2], 1 − t_max ∈ [1e-4, 0.1].

    Shrinks to the default VP-linear schedule.
    """
    if isinstance(kinds, str):
        kinds = (kinds,)
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in _BUILDERS]
    if not kinds or unknown:
        raise ValueError(f"kinds must name schedules among {SCHEDULE_KINDS}, got {kinds!r}")

    @st.composite
    def build(draw):
        kind = draw(st.sampled_from(kinds))
        cls, custom = _BUILDERS[kind]
        return custom(draw) if draw(st.booleans()) else cls()

    return build()


def _schedule_strategy(schedule) -> st.SearchStrategy[Schedule]:
    if schedule is None:
        return schedules()
    if isinstance(schedule, Schedule):
        return st.just(schedule)
    if isinstance(schedule, str):
        return schedules((schedule,))
    if isinstance(schedule, st.SearchStrategy):
        return schedule
    raise TypeError(f"schedule must be None, a Schedule, a schedule name or a strategy, got {type(schedule).__name__}")


def _check_steps(min_steps, max_steps) -> tuple[int, int]:
    for name, v in (("min_steps", min_steps), ("max_steps", max_steps)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if max_steps < min_steps:
        raise ValueError(f"max_steps ({max_steps}) must be >= min_steps ({min_steps})")
    if max_steps > 1024:
        raise ValueError(f"max_steps must be <= 1024 (grids stay distinct in float64), got {max_steps}")
    return min_steps, max_steps


def _spacing_strategy(spacings):
    if isinstance(spacings, str):
        spacings = (spacings,)
    spacings = tuple(spacings)
    if not spacings or any(s not in SPACINGS for s in spacings):
        raise ValueError(f"spacings must name spacings among {SPACINGS}, got {spacings!r}")
    return st.sampled_from(spacings)


# Karras ρ: the EDM value first, then a drawn one (ρ = 1 is uniform in σ).
_RHOS = st.one_of(st.just(7.0), st.floats(1.0, 10.0))


def lambda_grids(schedule=None, min_steps: int = 1, max_steps: int = 64,
                 spacings=SPACINGS) -> st.SearchStrategy[np.ndarray]:
    """Strictly increasing λ-grids (float64 numpy, ``n + 1`` values for n steps).

    ``schedule``: a :class:`~seeds_verify.schedules.Schedule`, a schedule name, a strategy of
    schedules, or None for :func:`schedules`. The grid spans the schedule's default range
    ``schedule.lam_range()`` with n ∈ [``min_steps``, ``max_steps``] steps (at most 1024) and
    spacing drawn from ``spacings``: ``"lambda"`` (uniform λ), ``"karras"`` (EDM ρ-spacing of
    σ̃ = e^{−λ}, ρ = 7 or drawn in [1, 10]) or ``"time"`` (uniform t).

    Shrinks to ``min_steps`` uniform-λ steps.
    """
    lo, hi = _check_steps(min_steps, max_steps)
    sched = _schedule_strategy(schedule)
    spacing_st = _spacing_strategy(spacings)

    @st.composite
    def build(draw):
        s = draw(sched)
        n = draw(st.integers(lo, hi))
        spacing = draw(spacing_st)
        rho = draw(_RHOS) if spacing == "karras" else 7.0
        return lambda_grid(s, n, spacing, rho=rho)

    return build()


def sigma_grids(schedule=None, min_steps: int = 1, max_steps: int = 64, spacings=SPACINGS,
                append_zero: bool | None = None) -> st.SearchStrategy[torch.Tensor]:
    """k-diffusion ``sigmas``: a strictly decreasing float64 tensor σ̃_i = e^{−λ_i}.

    The λ-grid is a draw of :func:`lambda_grids` (same arguments); ``append_zero`` True or
    False fixes whether a final 0 follows (the last step then returns the denoised value), None
    draws it. Shrinks to ``min_steps`` uniform-λ steps without a final 0.
    """
    grids = lambda_grids(schedule, min_steps, max_steps, spacings)
    if append_zero is not None and not isinstance(append_zero, bool):
        raise TypeError(f"append_zero must be None or a bool, got {type(append_zero).__name__}")
    zeros = st.booleans() if append_zero is None else st.just(append_zero)
    return st.tuples(grids, zeros).map(lambda gz: sigmas_from_lambdas(gz[0], append_zero=gz[1]))


def etas() -> st.SearchStrategy[float]:
    """η ∈ [0, 1]: the end points 0 (probability-flow ODE) and 1 (the reverse SDE) drawn
    often, otherwise any float between (no subnormals). Shrinks to 0."""
    return st.one_of(st.sampled_from((0.0, 1.0)), st.floats(0.0, 1.0, allow_subnormal=False))


def stage_fractions(stages: int, min_gap: float = 0.05) -> st.SearchStrategy[tuple[float, ...]]:
    """``stages`` sorted fractions 0 < c_1 < … < c_stages < 1 (a tuple of floats).

    Consecutive fractions, and the first and last from 0 and 1, are at least ``min_gap`` apart
    (default 0.05). That keeps the Lebesgue constants of every SEEDS-2 and SEEDS-3 (3a and 3b)
    interpolant far below :data:`~seeds_verify.schemes.MAX_LEBESGUE_CONSTANT` (for nodes
    {0, a}: Λ = 2/a − 1 ≤ 39; for {0, a, b}: Λ ≤ 721 at the default gap, reached at
    a = 0.05, b = 0.1), so the
    schemes accept every draw: ``sample_seeds_2(r=c[0])``,
    ``sample_seeds_3(r_1=c[0], r_2=c[1])``.

    Draws: the ``stages + 1`` gaps are ``min_gap`` plus shares of the remaining length in
    proportion to weights in [1, 100]. Shrinks to equal gaps: 1/2; 1/3, 2/3; ….
    """
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise ValueError(f"stages must be an int >= 1, got {stages!r}")
    if isinstance(min_gap, bool) or not isinstance(min_gap, (int, float)) or not 0 < min_gap <= 1 / (stages + 1):
        raise ValueError(f"min_gap must lie in (0, 1/(stages + 1)] = (0, {1 / (stages + 1):.4g}], got {min_gap!r}")
    free = 1.0 - (stages + 1) * min_gap

    def build(weights):
        total = math.fsum(weights)
        out, acc = [], 0.0
        for w in weights[:-1]:
            acc += min_gap + free * w / total
            out.append(acc)
        return tuple(out)

    weights = st.lists(st.floats(1.0, 100.0), min_size=stages + 1, max_size=stages + 1)
    return weights.map(build)


def _dims(dim):
    if dim is None:
        return st.integers(1, 4)
    if isinstance(dim, st.SearchStrategy):
        return dim
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be an int >= 1, a strategy or None, got {dim!r}")
    return st.just(dim)


def _spd(draw, d: int) -> np.ndarray:
    """B Bᵀ + δ I with B entries in [−2, 2] and δ ∈ [0.05, 2]: symmetric, eigenvalues ≥ δ.
    Shrinks to I (B = 0, δ = 1)."""
    b = np.array(draw(st.lists(st.floats(-2.0, 2.0), min_size=d * d, max_size=d * d)), dtype=np.float64)
    b = b.reshape(d, d)
    delta = draw(st.floats(0.05, 2.0))
    cov = b @ b.T + delta * np.eye(d)
    return 0.5 * (cov + cov.T)


def _mean(draw, d: int) -> np.ndarray:
    return np.array(draw(st.lists(st.floats(-5.0, 5.0), min_size=d, max_size=d)), dtype=np.float64)


def gaussian_problems(dim=None) -> st.SearchStrategy[GaussianProblem]:
    """Gaussian data N(μ, Σ) (:class:`~seeds_verify.problems.GaussianProblem`).

    ``dim``: an int, a strategy of ints, or None for 1…4. μ has entries in [−5, 5]; Σ = B Bᵀ + δ I
    with B's entries in [−2, 2] and δ ∈ [0.05, 2], so Σ is symmetric positive definite with
    eigenvalues ≥ δ. Shrinks to N(0, I) in dimension 1.
    """
    dims = _dims(dim)

    @st.composite
    def build(draw):
        d = draw(dims)
        return GaussianProblem(_mean(draw, d), _spd(draw, d))

    return build()


def mixtures(dim=None, components=None) -> st.SearchStrategy[GaussianMixture]:
    """Gaussian mixtures Σ_k w_k N(μ_k, Σ_k) (:class:`~seeds_verify.problems.GaussianMixture`).

    ``dim`` as in :func:`gaussian_problems`; ``components``: an int, a strategy of ints, or None
    for 1…4. Weights are drawn in [1, 10] and normalised; means and covariances as in
    :func:`gaussian_problems`. Shrinks to one N(0, I) component in dimension 1.
    """
    dims = _dims(dim)
    if components is None:
        comps = st.integers(1, 4)
    elif isinstance(components, st.SearchStrategy):
        comps = components
    elif isinstance(components, bool) or not isinstance(components, int) or components < 1:
        raise ValueError(f"components must be an int >= 1, a strategy or None, got {components!r}")
    else:
        comps = st.just(components)

    @st.composite
    def build(draw):
        d, k = draw(dims), draw(comps)
        w = np.array(draw(st.lists(st.floats(1.0, 10.0), min_size=k, max_size=k)), dtype=np.float64)
        means = np.stack([_mean(draw, d) for _ in range(k)])
        covs = np.stack([_spd(draw, d) for _ in range(k)])
        return GaussianMixture(w / w.sum(), means, covs)

    return build()
