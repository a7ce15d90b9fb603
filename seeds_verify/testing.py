"""Assertions for your own test suite: convergence orders, exactness and agreement (MATH §8, §9).

Three helpers in the style of ``numpy.testing``: each returns quietly when the property holds
and raises :class:`AssertionError` with a message that says what was measured and why it falls
short. They take any sampler in the k-diffusion convention
``sampler(model, x, sigmas, extra_args=None, callback=None, disable=None, **kw)``;
a sampler with a ``noise_sampler`` parameter is stochastic, one without it is deterministic and
is run without ``noise_sampler`` and ``eta`` (at η = 0), as in
:func:`~seeds_verify.convergence.verify_sampler`.

* :func:`assert_convergence_order` — the strong, weak or deterministic order of a sampler is
  shown to reach a declared value (the verdict ``pass`` of MATH §9). Slow-ish: a ladder of step
  counts over many Brownian paths.
* :func:`assert_exact_on_point_mass` — on a point mass every data-form exponential scheme is
  exact: one Brownian path, any number of steps, the same end point (MATH §8). Fast.
* :func:`assert_agrees_with_reference` — the sampler reproduces a SEEDS sampler of this package
  on the same Brownian path, start and σ grid (for samplers meant to implement SEEDS). Fast.

Two module settings tune :func:`assert_convergence_order` for a whole run (the pytest plugin
:mod:`seeds_verify.pytest_plugin` sets them from ``--seeds-paths`` and ``--seeds-plots``):

* :data:`PATHS_SCALE` — checks that do not pass ``paths`` start from
  ``round(DEFAULT_PATHS × PATHS_SCALE)`` Monte Carlo paths instead of ``DEFAULT_PATHS`` (1000).
* :data:`PLOT_DIR` — when set, every check writes its log-log error plot under
  ``PLOT_DIR/<test>/<sampler>/`` (``<test>`` when run by pytest) and a failure message says where.

Importing this module is cheap: torch and the convergence engine load on the first call.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from typing import Callable, Mapping, Sequence

__all__ = [
    "assert_convergence_order",
    "assert_exact_on_point_mass",
    "assert_agrees_with_reference",
    "PATHS_SCALE",
    "PLOT_DIR",
    "REFERENCES",
]

#: Scale of the Monte Carlo paths of checks that do not pass ``paths`` (1.0: the engine's default).
PATHS_SCALE: float = 1.0
#: Folder for convergence plots, or None for no plots.
PLOT_DIR: str | None = None

#: Reference samplers of :func:`assert_agrees_with_reference` by name.
REFERENCES = ("seeds1", "seeds2", "seeds3")

# Samples (rows of x) of the point-mass and reference checks: enough rows that a defect in one
# noise coefficient shows in some component, few enough that the check runs in milliseconds.
_CHECK_SAMPLES = 8
# Path cells per step: stage points at 1/2, 1/3 and 2/3 of a step are then path nodes (the
# fractions of every SEEDS and DPM-Solver default; what the convergence engine uses too).
_CELLS_PER_STEP = 6


# --------------------------------------------------------------------------------------------
# Helpers shared by the assertions
# --------------------------------------------------------------------------------------------


def _current_test() -> str | None:
    """``file.py::test_name[param]`` of the running pytest test, or None outside pytest."""
    current = os.environ.get("PYTEST_CURRENT_TEST")
    if not current:
        return None
    nodeid = current.rsplit(" (", 1)[0]
    path, _, rest = nodeid.partition("::")
    return f"{os.path.basename(path)}::{rest}" if rest else os.path.basename(path)


def _folder_name(text: str) -> str:
    """A portable folder name: letters, digits, ``.``, ``-``, ``_`` and ``=`` only."""
    name = re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("._")
    return name[:120] or "sampler"


def _lcm(values) -> int:
    out = 1
    for v in values:
        out = out * v // math.gcd(out, v)
    return out


def _resolve_eta(sampler: Callable, eta, sampler_kwargs: Mapping, default_stochastic=None) -> tuple[float, bool]:
    """(η, whether the sampler is stochastic), by the rules of ``verify_sampler``; a stochastic
    sampler with no η anywhere gets ``default_stochastic`` when that is given."""
    from .convergence.subjects import SamplerSignature, resolve_eta
    from .schemes import check_eta

    sig = SamplerSignature.of(sampler)
    if not sig.has_noise_sampler:
        if eta is not None and check_eta(eta) != 0.0:
            raise ValueError(f"eta={eta!r}: the sampler has no noise_sampler parameter, so it is deterministic "
                             "and runs at eta = 0; leave eta out")
        return 0.0, False
    if (eta is None and "eta" not in sampler_kwargs and sig.eta_default is None
            and default_stochastic is not None):
        return check_eta(default_stochastic), True
    return resolve_eta(sampler, eta, sampler_kwargs), True


def _sampler_label(sampler: Callable) -> str:
    from .convergence.subjects import sampler_label

    return sampler_label(sampler)


def _check_rtol(rtol) -> float:
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not (rtol >= 0 and math.isfinite(rtol)):
        raise ValueError(f"rtol must be a finite number >= 0, got {rtol!r}")
    return float(rtol)


def _kdiffusion_model(problem):
    """``model(x, sigma, **extra)`` → the problem's denoiser D(x, σ̃) (α = 1)."""
    def model(x, sigma, **extra):
        return problem.denoiser(x, sigma)

    return model


def _run(sampler, model, x, sigmas, eta, stochastic, noise_sampler, sampler_kwargs):
    """One call in the k-diffusion convention (the keywords ``verify_sampler`` passes)."""
    from .convergence.subjects import SamplerSignature

    kw = dict(sampler_kwargs)
    kw.pop("eta", None)
    kw["disable"] = True
    if stochastic:
        if SamplerSignature.of(sampler).has_eta:
            kw["eta"] = eta
        kw["noise_sampler"] = noise_sampler
    return sampler(model, x.clone(), sigmas, **kw)


def _noise_sampler(sched, steps: int, shape, eta: float, seed: int):
    """The ``noise_sampler`` of a check: z_η of one Brownian path per sample (6 cells per step of
    a uniform λ-grid of ``steps`` steps over the schedule's range) for η > 0; seeded fresh normals
    at η = 0, which a correct sampler multiplies by zero (as ``verify_sampler`` does)."""
    import torch

    from .noise import BrownianPath
    from .schedules import lambda_grid

    if eta > 0:
        grid = lambda_grid(sched, _CELLS_PER_STEP * steps)
        moments = BrownianPath.moments_needed(grid, [eta])
        path = BrownianPath(grid, tuple(shape), seed=seed + 1, dtype=torch.float64, moments=moments)
        return path, path.noise_sampler(eta)
    gen = torch.Generator().manual_seed(seed + 2)

    def fresh(sigma_a, sigma_b):
        return torch.randn(tuple(shape), generator=gen, dtype=torch.float64)

    return None, fresh


def _check_kwargs(sampler_kwargs, name: str = "sampler_kwargs") -> dict:
    if sampler_kwargs is None:
        return {}
    if not isinstance(sampler_kwargs, Mapping):
        raise TypeError(f"{name} must be a dict, got {type(sampler_kwargs).__name__}")
    kw = dict(sampler_kwargs)
    for reserved in ("noise_sampler", "callback", "disable", "extra_args"):
        if reserved in kw:
            raise ValueError(f"{name}: {reserved!r} is set by the check and may not be given")
    return kw


# --------------------------------------------------------------------------------------------
# Convergence orders
# --------------------------------------------------------------------------------------------


def _fmt(value, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


def _ladder_table(result) -> list[str]:
    """Step counts, step sizes, errors with their intervals and local slopes, one row each."""
    rows = [f"    {'steps':>6}  {'h (in λ)':>10}  {'error':>10}  "
            f"{'95% interval of the error':>26}  {'local slope':>11}"]
    fitted = set()
    if result.fit_steps:
        lo, hi = result.fit_steps
        fitted = {n for n in result.step_counts if lo <= n <= hi}
    previous = None
    for i, (n, h) in enumerate(zip(result.step_counts, result.step_sizes)):
        e = result.errors[i] if i < len(result.errors) else None
        elo = result.errors_ci_low[i] if i < len(result.errors_ci_low) else None
        ehi = result.errors_ci_high[i] if i < len(result.errors_ci_high) else None
        slope = ""
        if previous is not None and e is not None and previous[1] is not None and e > 0 and previous[1] > 0:
            slope = f"{math.log(e / previous[1]) / math.log(h / previous[0]):.2f}"
        interval = "" if elo is None or ehi is None or (elo == e and ehi == e) else f"[{elo:.3e}, {ehi:.3e}]"
        mark = "*" if n in fitted else " "
        rows.append(f"  {mark} {n:>6}  {h:>10.4g}  {_fmt(e, '.3e'):>10}  {interval:>26}  {slope:>11}".rstrip())
        previous = (h, e)
    if fitted:
        rows.append("    (* fitted range)")
    return rows


def _paths_to_settle(paths: int, half: float, margin: float) -> int:
    """The fewest n ≥ ``paths`` with half · (t_{n−1} / t_{paths−1}) · sqrt(paths / n) ≤ margin (the
    interval's half-width at n paths, from its half-width ``half`` at ``paths``)."""
    from .convergence.statistics import _t_quantile

    def fits(n: int) -> bool:
        return half * _t_quantile(n - 1) / _t_quantile(paths - 1) * math.sqrt(paths / n) <= margin

    lo, hi = paths, max(paths, math.ceil(paths * (half / margin) ** 2))  # t decreases: hi fits
    if fits(lo):
        return lo
    while hi - lo > 1:  # fits(hi), not fits(lo)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def _settle_advice(result, declared: float, tolerance: float) -> str:
    """How much more evidence would likely settle an ``inconclusive`` verdict."""
    threshold = declared - tolerance
    if result.measured_order is None or result.ci_low is None:
        return ("no order could be fitted: the errors are at the rounding or sampling-noise floor or not "
                "finite; start the ladder at fewer steps (coarser h) or use more paths")
    est, lo, hi = result.measured_order, result.ci_low, result.ci_high
    limited_by = result.details.get("limited_by", "curvature")
    finest = max(result.step_counts) if result.step_counts else 0
    if limited_by == "sampling" and result.paths > 0:
        # A sampling-limited Monte Carlo interval narrows as t_{n−1}/sqrt(n) over n paths (the
        # bootstrap's expanded tails, statistics.bootstrap_tail): the side facing declared −
        # tolerance must shrink to the distance of the estimate from it.
        half, margin = (est - lo, est - threshold) if est >= threshold else (hi - est, threshold - est)
        if margin <= 0 or half <= 0:
            return (f"the estimate {est:.3f} sits on declared - tolerance = {threshold:.3f}: no number of paths "
                    f"settles it; the order is at the edge of the claim")
        need = _paths_to_settle(result.paths, half, margin)
        return (f"the interval is limited by sampling noise (half-width {half:.3f} towards declared - tolerance, "
                f"margin {margin:.3f}); about {need} paths would likely settle it "
                f"(paths={need} or max_paths={need}; now {result.paths})")
    return (f"the interval is limited by the curvature of the error ladder (its points still bend, "
            f"pre-asymptotic): finer steps are needed, e.g. max_steps={4 * finest} "
            f"(the finest step count so far is {finest})")


def _convergence_message(result, declared: float, tolerance: float, plot_paths: Sequence[str]) -> str:
    r = result
    head = f"{r.sampler}: {r.regime} order {declared:g} not shown (verdict: {r.verdict})"
    lines = [head]
    if r.measured_order is not None:
        lines.append(f"  measured order {r.measured_order:.3f}, 95% interval [{r.ci_low:.3f}, {r.ci_high:.3f}] "
                     f"({r.ci_method}; limited by {r.details.get('limited_by', 'n/a')})")
    else:
        lines.append("  measured order: none (no order could be fitted)")
    lines.append(f"  declared order {declared:g} with tolerance {tolerance:g}: the interval must lie at or "
                 f"above {declared - tolerance:g}")
    if r.reason:
        lines.append(f"  reason: {r.reason}")
    evidence = f"{r.paths} paths" if r.paths else "exact moments (no Monte Carlo paths)"
    wexp = "" if r.weight_exponent is None else f", weight exponent {r.weight_exponent:g}"
    lines.append(f"  problem {r.problem}, schedule {r.schedule}, eta {r.eta:g}{wexp}; {evidence}; "
                 f"steps {', '.join(map(str, r.step_counts))}")
    if r.reference:
        lines.append(f"  reference: {r.reference}")
    if r.errors:
        lines.append("  error ladder:")
        lines.extend(_ladder_table(r))
    if len(r.rounds) > 1:
        parts = [(f"{x['paths']} paths/" if x["paths"] else "") + f"{x['finest_steps']} steps -> {x['verdict']}"
                 for x in r.rounds]
        lines.append("  rounds: " + "; ".join(parts))
    if r.verdict == "inconclusive":
        lines.append("  to settle it: " + _settle_advice(r, declared, tolerance))
    for p in plot_paths:
        lines.append(f"  convergence plot: {p}")
    return "\n".join(lines)


def _write_plots(result) -> list[str]:
    if not PLOT_DIR:
        return []
    from .convergence.plots import plot_records

    parts = [str(PLOT_DIR)]
    test = _current_test()
    if test:
        parts.append(_folder_name(test))
    parts.append(_folder_name(result.sampler))
    folder = os.path.join(*parts)
    os.makedirs(folder, exist_ok=True)
    return [os.path.abspath(p) for p in plot_records([result.to_record()], folder)]


def _paths(paths, max_paths):
    """Paths and max_paths after :data:`PATHS_SCALE` (explicit ``paths`` are kept as given)."""
    if paths is not None or PATHS_SCALE == 1:
        return paths, max_paths
    scale = float(PATHS_SCALE)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"seeds_verify.testing.PATHS_SCALE must be a positive number, got {PATHS_SCALE!r}")
    from .convergence.verify import DEFAULT_PATHS

    paths = max(2, round(DEFAULT_PATHS * scale))
    if max_paths is not None and max_paths < paths:
        max_paths = paths
    return paths, max_paths


def assert_convergence_order(sampler: Callable, *, regime: str, order: float, eta: float | None = None,
                             problem="gaussian", schedule="vp_linear", tolerance: float = 0.25,
                             paths: int | None = None, max_paths: int | None = None, seed: int = 0,
                             sampler_kwargs: Mapping | None = None, steps: Sequence[int] | None = None,
                             max_steps: int | None = None, weight_exponent: float | None = None,
                             label: str | None = None):
    """Assert that ``sampler`` converges with at least ``order`` in ``regime`` (MATH §9).

    Runs :func:`~seeds_verify.convergence.verify_sampler` for the one regime (``"strong"``,
    ``"weak"`` or ``"deterministic"``) with ``declared={regime: order}`` and returns its
    :class:`~seeds_verify.convergence.RegimeResult` when the verdict is ``pass`` or ``pass (>)``:
    the 95 % interval of the measured order lies at or above ``order − tolerance``.

    Otherwise an :class:`AssertionError` gives the measured order and its interval, the declared
    order, the verdict and its reason, the ladder of step counts with their errors, the paths
    and steps used and (with :data:`PLOT_DIR` set) where the plot was written. ``inconclusive``
    fails too, with an estimate of the evidence that would likely settle it: the paths for a
    sampling-limited interval (its half-width falls as 1/sqrt(paths)), or a ``max_steps`` when
    the ladder still bends. A regime that does not apply (a deterministic sampler in the strong
    or weak regime, a stochastic one without an ``eta`` parameter in the deterministic regime)
    fails with the reason.

    ``eta``, ``problem``, ``schedule``, ``weight_exponent``, ``steps``, ``paths``,
    ``max_paths``, ``max_steps``, ``seed``, ``sampler_kwargs`` and ``label`` are those of
    ``verify_sampler`` (defaults: 1000 paths escalated up to 8×, steps 4…256 extended up to 8×
    the finest). With ``paths`` left out, :data:`PATHS_SCALE` scales the default paths.

    Example (a SEEDS-2 sampler: strong order 1 at η = 1; small ladder for a quick test)::

        from seeds_verify.samplers import sample_seeds_2
        from seeds_verify.testing import assert_convergence_order

        def test_seeds2_strong_order():
            assert_convergence_order(sample_seeds_2, regime="strong", order=1, eta=1.0,
                                     steps=(8, 16, 32, 64), paths=100)
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    from .convergence.verify import verify_sampler

    if isinstance(order, bool) or not isinstance(order, numbers.Real) or not (math.isfinite(order) and order > 0):
        raise ValueError(f"order must be a positive number, got {order!r}")
    if not isinstance(regime, str):
        raise TypeError(f"regime must be a str, got {type(regime).__name__}")
    paths, max_paths = _paths(paths, max_paths)
    result = verify_sampler(sampler, eta=eta, regimes=(regime,), declared={regime: float(order)},
                            problem=problem, schedule=schedule, weight_exponent=weight_exponent,
                            steps=steps, paths=paths, max_paths=max_paths, max_steps=max_steps, seed=seed,
                            sampler_kwargs=sampler_kwargs, tolerance=tolerance, label=label)
    if regime in result.not_applicable:
        raise AssertionError(f"{result.sampler}: the {regime} regime does not apply: "
                             f"{result.not_applicable[regime]}")
    r = result.regimes[regime]
    plots = _write_plots(r)
    if r.passed:
        return r
    raise AssertionError(_convergence_message(r, float(order), float(tolerance), plots))


# --------------------------------------------------------------------------------------------
# Exactness on a point mass
# --------------------------------------------------------------------------------------------


def _relative_rows(a, b):
    """max over samples of ‖a_i − b_i‖ / ‖b_i‖ (rows are samples), as a float."""
    import torch

    diff = (a.to(torch.float64) - b.to(torch.float64)).norm(dim=-1)
    scale = b.to(torch.float64).norm(dim=-1).clamp_min(torch.finfo(torch.float64).tiny)
    worst = float((diff / scale).max())
    return worst if not math.isnan(worst) else math.inf  # a NaN output is as far off as can be


def assert_exact_on_point_mass(sampler: Callable, *, eta: float | None = None,
                               steps: Sequence[int] = (3, 6, 12, 24), sampler_kwargs: Mapping | None = None,
                               schedule="vp_linear", rtol: float = 1e-10, seed: int = 0) -> None:
    """Assert the data-form exactness property of MATH §8 on a point mass.

    With all data at x_0 the denoiser is D ≡ x_0, and every data-form exponential scheme solves
    the reverse SDE exactly: on one Brownian path, from one start, any number of steps gives the
    same end point, equal to the exact pathwise solution. The check draws 8 exact starts from
    p_T of the point mass ``get_problem("point_mass")`` (x_0 = (0.5, −1)), one
    :class:`~seeds_verify.noise.BrownianPath` per start on a uniform λ-grid of 6 cells per step of
    lcm(``steps``) (so stage points at 1/2, 1/3 and 2/3 of a step are path nodes), and runs
    ``sampler`` on ``sigmas = exp(−λ)`` of uniform λ-grids over the ``schedule``'s range with
    ``noise_sampler = path.noise_sampler(eta)`` (weight exponent k = η, the data form).

    Every output must agree with the first step count's and with ``problem.exact_solution`` to
    ``rtol`` in the relative norm ‖a − b‖/‖b‖ of each sample; otherwise AssertionError with the
    largest deviation per step count.

    η: ``eta``; else ``sampler_kwargs["eta"]``; else the sampler's default; a deterministic
    sampler (no ``noise_sampler``) runs at η = 0 without noise keywords.

    Example::

        from seeds_verify.samplers import sample_seeds_3
        from seeds_verify.testing import assert_exact_on_point_mass

        def test_seeds3_is_exact_on_a_point_mass():
            assert_exact_on_point_mass(sample_seeds_3, eta=1.0)
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    import numpy as np
    import torch

    from .convergence.studies import check_steps
    from .problems import get_problem
    from .schedules import Schedule, get_schedule, lambda_grid

    if not callable(sampler):
        raise TypeError(f"sampler must be callable, got {type(sampler).__name__}")
    kwargs = _check_kwargs(sampler_kwargs)
    steps = check_steps(steps)
    rtol = _check_rtol(rtol)
    eta, stochastic = _resolve_eta(sampler, eta, kwargs)
    sched = get_schedule(schedule) if isinstance(schedule, str) else schedule
    if not isinstance(sched, Schedule):
        raise TypeError(f"schedule must be a Schedule or a schedule name, got {type(schedule).__name__}")
    problem = get_problem("point_mass")
    lam0, lam1 = sched.lam_range()
    gen = torch.Generator().manual_seed(int(seed))
    y0 = problem.sample(_CHECK_SAMPLES, math.exp(-lam0), generator=gen, dtype=torch.float64)
    path = noise_sampler = None
    if stochastic:
        path, noise_sampler = _noise_sampler(sched, _lcm(steps), y0.shape, eta, int(seed))
    exact = problem.exact_solution(y0, lam0, lam1, eta, path)
    model = _kdiffusion_model(problem)
    outs = {}
    for n in steps:
        sigmas = torch.as_tensor(np.exp(-lambda_grid(sched, n)), dtype=torch.float64)
        out = _run(sampler, model, y0, sigmas, eta, stochastic, noise_sampler, kwargs)
        if not isinstance(out, torch.Tensor) or out.shape != y0.shape:
            raise AssertionError(f"{_sampler_label(sampler)} returned "
                                 f"{type(out).__name__} {tuple(getattr(out, 'shape', ()))}, expected a tensor "
                                 f"of shape {tuple(y0.shape)}")
        outs[n] = out
    first = outs[steps[0]]
    rows, worst = [], 0.0
    for n in steps:
        spread = _relative_rows(outs[n], first)
        exact_dev = _relative_rows(outs[n], exact)
        worst = max(worst, spread, exact_dev)
        rows.append(f"    {n:>6}  {spread:>22.3e}  {exact_dev:>24.3e}")
    if not worst <= rtol:
        head = (f"{_sampler_label(sampler)} is not exact on a point mass (MATH §8): outputs differ by up to "
                f"{worst:.3e} (relative), above rtol={rtol:g}")
        setup = (f"  schedule {sched.name}, eta {eta:g}, {_CHECK_SAMPLES} samples, "
                 + (f"one Brownian path of {path.n_cells} cells (weight exponent {eta:g})" if path is not None
                    else "no noise (eta = 0)"))
        table = [f"    {'steps':>6}  {f'vs {steps[0]} steps':>22}  {'vs exact solution':>24}"] + rows
        raise AssertionError("\n".join([head, setup, "  largest relative deviation per step count:"] + table))


# --------------------------------------------------------------------------------------------
# Agreement with a reference SEEDS sampler
# --------------------------------------------------------------------------------------------


def _reference_sampler(reference):
    from . import samplers

    table = {"seeds1": samplers.sample_seeds_1, "seeds2": samplers.sample_seeds_2,
             "seeds3": samplers.sample_seeds_3}
    if callable(reference):
        return reference
    if not isinstance(reference, str) or reference not in table:
        raise ValueError(f"reference must be one of {REFERENCES} or a sampler, got {reference!r}")
    return table[reference]


def assert_agrees_with_reference(sampler: Callable, reference="seeds2", *, eta: float | None = None,
                                 steps: int = 12, rtol: float = 1e-10, sampler_kwargs: Mapping | None = None,
                                 problem="gaussian", schedule="vp_linear", seed: int = 0,
                                 **reference_kwargs) -> None:
    """Assert that ``sampler`` reproduces a SEEDS sampler of this package, run for run.

    Both samplers get the same 8 exact starts from p_T of ``problem`` (default the 2-D Gaussian
    of ``get_problem("gaussian")``), the same ``sigmas = exp(−λ)`` of a uniform λ-grid of
    ``steps`` steps over the ``schedule``'s range and, when stochastic, the same
    ``noise_sampler`` reading one :class:`~seeds_verify.noise.BrownianPath` per start (weight
    exponent k = η, 6 cells per step). ``reference`` is ``"seeds1"``, ``"seeds2"`` or
    ``"seeds3"`` (:func:`~seeds_verify.samplers.sample_seeds_2` …, in float64), with
    ``reference_kwargs`` such as ``r=1/3, solver_type="phi_2"``; ``sampler_kwargs`` go to
    ``sampler``.

    η: ``eta``; else ``sampler_kwargs["eta"]``; else the sampler's default; else 1 for a
    stochastic sampler. A deterministic sampler (no ``noise_sampler``) is compared at η = 0,
    without noise keywords. The outputs must agree to ``rtol`` relative to each sample's
    largest component; otherwise AssertionError with the largest relative difference, the
    sample and component where it occurs and both values there.

    Example (a hand-written SEEDS-1 must match the package's)::

        from seeds_verify.testing import assert_agrees_with_reference

        def test_my_seeds1_matches():
            assert_agrees_with_reference(my_seeds1, "seeds1", eta=1.0)
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    import numpy as np
    import torch

    from .problems import Problem, get_problem
    from .schedules import Schedule, get_schedule, lambda_grid

    if not callable(sampler):
        raise TypeError(f"sampler must be callable, got {type(sampler).__name__}")
    ref = _reference_sampler(reference)
    kwargs = _check_kwargs(sampler_kwargs)
    ref_kwargs = _check_kwargs(reference_kwargs, "reference_kwargs")
    ref_kwargs.pop("eta", None)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    rtol = _check_rtol(rtol)
    eta, stochastic = _resolve_eta(sampler, eta, kwargs, default_stochastic=1.0)
    sched = get_schedule(schedule) if isinstance(schedule, str) else schedule
    if not isinstance(sched, Schedule):
        raise TypeError(f"schedule must be a Schedule or a schedule name, got {type(schedule).__name__}")
    prob = get_problem(problem) if isinstance(problem, str) else problem
    if not isinstance(prob, Problem):
        raise TypeError(f"problem must be a Problem or a problem name, got {type(problem).__name__}")
    lam = lambda_grid(sched, steps)
    sigmas = torch.as_tensor(np.exp(-lam), dtype=torch.float64)
    gen = torch.Generator().manual_seed(int(seed))
    y0 = prob.sample(_CHECK_SAMPLES, float(sigmas[0]), generator=gen, dtype=torch.float64)
    model = _kdiffusion_model(prob)
    noise_sampler = ref_noise = None
    if stochastic:
        # Each sampler gets its own source of the same numbers (fresh normals are consumed).
        _, noise_sampler = _noise_sampler(sched, steps, y0.shape, eta, int(seed))
        _, ref_noise = _noise_sampler(sched, steps, y0.shape, eta, int(seed))
    got = _run(sampler, model, y0, sigmas, eta, stochastic, noise_sampler, kwargs)
    want = ref(model, y0.clone(), sigmas, eta=eta, noise_sampler=ref_noise, disable=True, **ref_kwargs)
    name = reference if isinstance(reference, str) else _sampler_label(reference)
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        raise AssertionError(f"{_sampler_label(sampler)} returned {type(got).__name__} "
                             f"{tuple(getattr(got, 'shape', ()))}; the reference {name} returned shape "
                             f"{tuple(want.shape)}")
    a, b = got.to(torch.float64), want.to(torch.float64)
    scale = b.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    rel = (a - b).abs() / scale
    rel = torch.where(torch.isnan(rel), torch.full_like(rel, math.inf), rel)
    worst = float(rel.max())
    if not worst <= rtol:
        i, j = divmod(int(rel.argmax()), rel.shape[-1])
        extras = ", ".join(f"{k}={v!r}" for k, v in ref_kwargs.items())
        raise AssertionError(
            f"{_sampler_label(sampler)} does not agree with the reference {name}"
            f"{f'({extras})' if extras else ''}: largest relative difference {worst:.3e} > rtol={rtol:g}\n"
            f"  at sample {i}, component {j}: got {float(a[i, j])!r}, reference {float(b[i, j])!r}\n"
            f"  {int((rel > rtol).sum())} of {rel.numel()} components differ by more than rtol "
            f"(relative to each sample's largest component)\n"
            f"  problem {prob.name}, schedule {sched.name}, {steps} steps, eta {eta:g}, "
            + ("same Brownian path for both" if stochastic and eta > 0 else "no noise"))
