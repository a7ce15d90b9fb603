"""Strong-order check of any sampler with the k-diffusion signature (MATH §1, §4, §9)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Callable, Sequence

import numpy as np
import torch

from ..noise import BrownianPath
from ..problems import GaussianProblem, get_problem
from ..schedules import EDM, lambda_grid, sigmas_from_lambdas
from . import statistics as S
from .studies import choose_moments
from .suite import single_thread

__all__ = ["ConvergenceResult", "check_sampler", "CHECK_STEPS", "CHECK_PATHS", "CELLS_PER_STEP"]

CHECK_STEPS = (8, 16, 32, 64, 128)
CHECK_PATHS = 400
CELLS_PER_STEP = 6  # path cells per coarsest-grid cell: stage fractions 1/2, 1/3, 2/3 fall on nodes


@dataclass(frozen=True)
class ConvergenceResult:
    """Outcome of :func:`check_sampler`.

    Attributes:
        strong_order: least-squares slope of log E‖X_h − X‖ against log h (rule: :mod:`.statistics`).
        ci: 95 % bootstrap interval (low, high) of the order, resampling Brownian paths.
        constant: C of E ≈ C hᵖ from the same fit.
        errors: mean strong error per step count; ``errors_ci`` its 95 % intervals.
        step_counts, step_sizes: the ladder (h in λ = −log σ).
        passed: with ``expected_strong_order``, whether ci_high + tolerance ≥ expected
            (:func:`.statistics.order_consistent`); None without one.
        expected_strong_order, tolerance, weight_exponent, eta, fit_range: the settings.
    """

    strong_order: float
    ci: tuple[float, float]
    constant: float
    errors: tuple[float, ...]
    errors_ci: tuple[tuple[float, float], ...]
    rms_errors: tuple[float, ...]
    step_counts: tuple[int, ...]
    step_sizes: tuple[float, ...]
    passed: bool | None
    expected_strong_order: float | None
    tolerance: float
    weight_exponent: float
    eta: float
    fit_range: tuple[int, int]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def check_sampler(sampler: Callable, *, problem="gaussian", weight_exponent: float = 1.0,
                  steps: Sequence[int] | None = None, paths: int | None = None, seed: int = 0,
                  expected_strong_order: float | None = None, sigma_max: float = 80.0,
                  sigma_min: float = 0.002, tolerance: float = S.DEFAULT_TOLERANCE,
                  device=None, **sampler_kwargs) -> ConvergenceResult:
    """Measure the strong order of ``sampler`` against the exact pathwise solution (MATH §4, §9).

    ``sampler(model, x, sigmas, noise_sampler=…, disable=True, **sampler_kwargs)`` is any
    function with the k-diffusion signature (α = 1 convention: ``model(x, σ)`` returns the
    denoised x_0). It is run on ``sigmas = e^{−λ}`` of uniform λ-grids from ``sigma_max`` to
    ``sigma_min`` (no trailing zero) for every step count, all driven by ONE Brownian path per
    sample through ``noise_sampler(σ_a, σ_b)`` = ``BrownianPath.noise_sampler(weight_exponent)``,
    which returns the normalised weighted increment (MATH §4)

        z_k(a, b) = ∫_a^b e^{kλ} dW_λ / sqrt(∫_a^b e^{2kλ} dλ),   a = −log σ_a, b = −log σ_b,

    with k = ``weight_exponent``. The weight exponent is what the sampler assumes its noise to be:
    the data form of SEEDS reads its noise as z_η (k must equal η, e.g. 1.0 at η = 1); the noise
    form reads z_{−1} (k = −1); a sampler that adds plain Brownian increments ΔW/sqrt(Δλ)
    (Euler–Maruyama, ancestral samplers) needs k = 0. Feeding a sampler a k other than the one it
    assumes gives it the right variances but the wrong path, which a strong study detects.

    Start points are exact draws from p_σmax; the reference is the exact solution of the
    reverse SDE with η = ``sampler_kwargs.get("eta", 1.0)`` on the same path
    (``GaussianProblem.exact_solution``), so ``problem`` must be a Gaussian problem (a name from
    ``seeds_verify.problems.PROBLEMS`` or an instance). The path grid has ``CELLS_PER_STEP`` = 6
    cells per step of the finest ladder's least common multiple: every stage point at fractions
    1/2, 1/3, 2/3 of a step lies on it; a sampler asking for other points gets a ValueError.

    Defaults: ``steps`` (8, 16, 32, 64, 128), ``paths`` 400. Bad arguments raise ValueError naming
    the argument; the order rule and the 95 % bootstrap interval are those of
    :mod:`seeds_verify.convergence.statistics`.
    """
    if not callable(sampler):
        raise ValueError(f"sampler must be callable, got {type(sampler).__name__}")
    if isinstance(problem, str):
        problem = get_problem(problem)
    if not isinstance(problem, GaussianProblem):
        raise ValueError("problem must be a Gaussian problem (it needs an exact pathwise solution), "
                         f"got {problem!r}")
    k = _real(weight_exponent, "weight_exponent")
    steps = CHECK_STEPS if steps is None else steps
    try:
        steps = tuple(_positive_int(n, "steps") for n in steps)
    except TypeError as exc:
        raise ValueError(f"steps must be a sequence of positive integers, got {steps!r}") from exc
    if len(steps) < 3 or list(steps) != sorted(set(steps)):
        raise ValueError(f"steps must hold at least three increasing step counts, got {steps!r}")
    paths = _positive_int(CHECK_PATHS if paths is None else paths, "paths")
    if paths < 2:
        raise ValueError(f"paths must be at least 2, got {paths}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {seed!r}")
    s_max, s_min = _real(sigma_max, "sigma_max"), _real(sigma_min, "sigma_min")
    if not 0 < s_min < s_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got sigma_min={s_min}, sigma_max={s_max}")
    if expected_strong_order is not None:
        expected_strong_order = _real(expected_strong_order, "expected_strong_order")
    tolerance = _real(tolerance, "tolerance")
    eta = _real(sampler_kwargs.get("eta", 1.0), "eta")
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    device = torch.device(device) if device is not None else torch.device("cpu")

    schedule = EDM(sigma_min=s_min, sigma_max=s_max)
    lam_a, lam_b = schedule.lam_range()
    cells = int(np.lcm.reduce(np.asarray(steps, dtype=np.int64))) * CELLS_PER_STEP
    if cells > 400_000:
        raise ValueError(f"steps have too large a least common multiple ({cells // CELLS_PER_STEP})")
    grid = lambda_grid(schedule, cells)
    exps = sorted({k, eta, -1.0, 0.0, -(1.0 + eta), 1.0 + eta})
    path = BrownianPath(grid, (paths, problem.dim), seed=int(seed) + 1, device=device,
                        dtype=torch.float64, moments=choose_moments(grid, exps))
    gen = torch.Generator(device=device).manual_seed(int(seed))
    x0 = problem.sample(paths, s_max, generator=gen, device=device, dtype=torch.float64)

    def model(x, sigma, **kw):
        return problem.denoiser(x, sigma)

    kwargs = dict(sampler_kwargs)
    kwargs.setdefault("disable", True)
    with single_thread(str(device)):
        ref = problem.exact_solution(x0, lam_a, lam_b, eta, path if eta > 0 else None)
        per_sample = np.empty((paths, len(steps)))
        for i, n in enumerate(steps):
            sigmas = sigmas_from_lambdas(lambda_grid(schedule, n), device=device)
            out = sampler(model, x0.clone(), sigmas, noise_sampler=path.noise_sampler(k), **kwargs)
            if not isinstance(out, torch.Tensor) or out.shape != x0.shape:
                raise ValueError(f"sampler must return a tensor shaped like x {tuple(x0.shape)}")
            per_sample[:, i] = (out.to(torch.float64) - ref).norm(dim=-1).cpu().numpy()
    h = tuple((lam_b - lam_a) / n for n in steps)
    fit = S.bootstrap_order(h, per_sample, seed=int(seed))
    passed = None if expected_strong_order is None else S.order_consistent(fit, expected_strong_order,
                                                                            tolerance)
    return ConvergenceResult(
        strong_order=fit.order, ci=(fit.ci_low, fit.ci_high), constant=fit.constant,
        errors=tuple(per_sample.mean(axis=0).tolist()),
        errors_ci=tuple(zip(fit.errors_ci_low, fit.errors_ci_high)),
        rms_errors=tuple(np.sqrt((per_sample ** 2).mean(axis=0)).tolist()),
        step_counts=steps, step_sizes=h, passed=passed, expected_strong_order=expected_strong_order,
        tolerance=tolerance, weight_exponent=k, eta=eta, fit_range=fit.fit_range)
