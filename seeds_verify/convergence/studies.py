"""The convergence engine: strong, weak and deterministic orders of any :class:`.Subject` on
closed-form problems, with verdicts that are shown, not merely not refuted (MATH §8, §9).

Every study runs the subject on uniform λ-grids of a ladder of step counts over the schedule's
λ range, all from the same exact start draws y_T ~ p_T (α = 1 coordinates), and compares its end
state with a reference.

* **Strong** (η > 0): every step count is driven by the SAME
  :class:`~seeds_verify.noise.BrownianPath` per sample, on a fine λ-grid whose cells contain every
  grid's stage points (cells = lcm(step counts) × lcm of the stage-fraction denominators). The
  reference is the exact pathwise solution on linear problems (``exact_solution``); otherwise a
  fine SEEDS-2 solve on a path grid ``REFINE`` times finer, whose own error (against half its
  steps) must stay below 1/10 of the smallest measured error. Error: mean over samples of
  ‖Y_h − Y_ref‖. A subject that never reads the path, or gives two different answers on the same
  path and start, is *not path-consistent*: no order is fitted.
* **Weak**: linear problems — the exact mean and covariance of the subject's output, read off by
  affine probes of whole runs (:func:`.moments.probe_trajectory`), against the exact law
  N(μ, Σ + σ̃² I); error ‖m_h − m‖ + ‖S_h − S‖_F with S the second moment. No Monte Carlo noise,
  for any sampler. Nonlinear problems — Monte Carlo on the strong study's paths,
  Σ|mean φ(Y_h) − mean φ(Y_ref)| for φ = y, y yᵀ and the component responsibilities; the fit
  keeps the points whose error is more than 10 times the reference's own weak error.
* **Deterministic** (η = 0): against the exact ODE flow (linear problems) or scipy ``solve_ivp``
  (DOP853, rtol = atol = 1e-12).

Orders and verdicts come from :mod:`.statistics`. :func:`settle` buys evidence while a verdict is
``inconclusive``: Monte Carlo studies whose interval is set by sampling noise double their paths
up to ``max_paths``; a ladder whose points still bend (and every exact study) gains a finer
step count (twice the finest) up to ``max_steps``; when one budget is spent the other is used.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field, replace
from functools import reduce
from typing import Sequence

import numpy as np
import torch

from ..noise import BrownianPath, GaussianNoise
from ..problems import get_problem
from ..schedules import get_schedule, lambda_grid
from ..solvers import SEEDS2, DiffusionModel
from . import statistics as S
from .moments import NotAffineError, probe_scales, probe_trajectory
from .records import RegimeResult, finite_or_none
from .subjects import SamplerError, SolverChoice, Subject, solver_subject

__all__ = [
    "StudySetup", "Ladder", "measure", "settle", "exactness_check", "predicted", "choose_moments",
    "SetupCache", "single_thread",
]

MAX_PATH_CELLS = 400_000
REFINE = 64  # reference steps per step of the finest ladder grid (nonlinear problems): enough
# for the reference error to stay below 1/10 of SEEDS-3's smallest error on the mixtures
VARIANCE_DEFECT = 1e-14  # Legendre moments kept: the fewest with a defect at the rounding level
ROUNDING_MARGIN = S.ROUNDING_MARGIN  # statistics: fit points lie this far above their rounding


@contextlib.contextmanager
def single_thread(device: str):
    """One torch thread on the CPU while a study runs.

    The tensors of these studies are small (paths × dim); a thread pool costs more in
    synchronisation than it gains, and on a shared machine it is far slower.
    """
    if torch.device(device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------------------------
# Symbolic predictions
# --------------------------------------------------------------------------------------------


def predicted(subject: Subject, regime: str) -> tuple[float | None, float | None]:
    """(order, constant) of ``analytic.predicted_orders`` for the subject's scheme, stage fractions,
    prediction form and regime; (None, None) when the scheme has no symbolic prediction."""
    if subject.scheme is None or subject.prediction is None:
        return None, None
    from ..analytic import predicted_orders  # sympy: imported on demand, cached after the first call

    stage_fractions = tuple(subject.fractions[:-1])
    for row in predicted_orders():
        if (row.scheme, row.regime, row.prediction) != (subject.scheme, regime, subject.prediction):
            continue
        if row.fractions and tuple(row.fractions) != stage_fractions:
            continue
        return float(row.order), float(row.constant)
    return None, None


# --------------------------------------------------------------------------------------------
# What the subjects of one study share
# --------------------------------------------------------------------------------------------


def choose_moments(grid: np.ndarray, exponents: Sequence[float], max_moments: int = 8) -> int:
    """Fewest Legendre moments per cell whose variance defect is below ``VARIANCE_DEFECT``
    for every weight exponent in ``exponents`` (``BrownianPath.moments_needed``)."""
    return BrownianPath.moments_needed(grid, exponents, VARIANCE_DEFECT, max_moments)


def _lcm(values) -> int:
    return reduce(lambda a, b: a * b // math.gcd(a, b), values, 1)


def check_steps(steps, name: str = "steps") -> tuple[int, ...]:
    """At least three strictly increasing positive ints; ValueError naming ``name`` otherwise."""
    try:
        values = tuple(steps)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of at least three increasing positive ints, "
                         f"got {steps!r}") from None
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in values) \
            or len(values) < 3 or any(n < 1 for n in values) or list(values) != sorted(set(values)):
        raise ValueError(f"{name} must be a sequence of at least three increasing positive ints, "
                         f"got {steps!r}")
    return tuple(int(n) for n in values)


@dataclass
class StudySetup:
    """Everything the subjects of one (problem, schedule, η, ladder, paths) share: start draws,
    the Brownian path and the reference (module docstring)."""

    problem_name: object  # a name from problems.PROBLEMS or a Problem instance
    schedule_name: object  # a name from schedules.SCHEDULES or a Schedule instance
    eta: float
    steps: tuple[int, ...]
    paths: int
    seed: int = 0
    device: str = "cpu"
    dtype: torch.dtype = torch.float64
    denominators: tuple[int, ...] = (1,)
    problem: object = field(init=False, default=None)
    schedule: object = field(init=False, default=None)

    def __post_init__(self):
        self.steps = check_steps(self.steps)
        # What the setup was built from (a name, or the instance), to rebuild it in a shard.
        self.problem_arg, self.schedule_arg = self.problem_name, self.schedule_name
        if isinstance(self.problem_name, str):
            self.problem = get_problem(self.problem_name)
        else:
            # A problem instance (e.g. a 1-D Gaussian built by hand) is studied under its own name.
            self.problem, self.problem_name = self.problem_name, self.problem_name.name
        if isinstance(self.schedule_name, str):
            self.schedule = get_schedule(self.schedule_name)
        else:  # a Schedule instance, e.g. EDM with a custom σ range
            self.schedule, self.schedule_name = self.schedule_name, self.schedule_name.name
        self.lam_start, self.lam_end = self.schedule.lam_range()
        self.step_sizes = tuple((self.lam_end - self.lam_start) / n for n in self.steps)
        self.grids = {n: lambda_grid(self.schedule, n) for n in self.steps}
        self.model = DiffusionModel(self.problem.denoiser, "denoiser", self.schedule)
        self.sigma_start = math.exp(-self.lam_start)
        self.sigma_end = math.exp(-self.lam_end)
        self.linear = bool(self.problem.is_linear)  # affine denoiser: exact moments by probes
        self.exact_pathwise = hasattr(self.problem, "exact_solution")
        self.low_precision = self.dtype != torch.float64  # rounding measured by float64 twin runs
        self._path = None
        self._refs: dict = {}
        self.reference_info: dict = {}
        self.reference_own_errors: torch.Tensor | None = None  # per path, for a fine reference

    # -- shared random inputs ---------------------------------------------------------------

    def start_points(self) -> torch.Tensor:
        """y_T: exact draws from p_T at σ̃_T (α = 1 coordinates); the same for every subject."""
        gen = torch.Generator(device=self.device).manual_seed(self.seed)
        y = self.problem.sample(self.paths, self.sigma_start, generator=gen, device=self.device,
                                dtype=torch.float64)
        return y.to(self.dtype)

    def path_cells(self, refine: int = 1) -> int:
        cells = _lcm(self.steps) * _lcm(self.denominators) * refine
        if cells > MAX_PATH_CELLS:
            raise ValueError(f"steps: the Brownian path would need {cells} cells (lcm of the step counts "
                             f"times the stage-fraction denominators); choose steps with a smaller lcm "
                             f"(at most {MAX_PATH_CELLS} cells)")
        return cells

    def _refine(self) -> int:
        # Nonlinear problems: the fine reference (SEEDS-2 on every other node) takes at least
        # REFINE times the finest ladder's step count, so its error is ~1/REFINE of theirs.
        # A multiple of 4 keeps the reference's half steps, and those of its own half-step
        # check, on the path's nodes whatever the ladder.
        return 1 if self.exact_pathwise else 4 * math.ceil(2 * REFINE / (4 * _lcm(self.denominators)))

    def cells_for(self, regime: str):
        """steps → the Brownian-path cells a study of ``regime`` on that ladder reads; None when
        it reads no path (deterministic, and weak on a linear problem: exact moments)."""
        if regime == "deterministic" or self.eta == 0.0 or (regime == "weak" and self.linear):
            return None
        factor = _lcm(self.denominators) * self._refine()
        return lambda steps: _lcm(steps) * factor

    def path(self) -> BrownianPath:
        if self._path is None:
            refine = self._refine()
            grid = lambda_grid(self.schedule, self.path_cells(refine))
            exps = sorted({self.eta, -1.0, 0.0, -(1.0 + self.eta), 1.0 + self.eta})
            self._path = BrownianPath(grid, (self.paths, self.problem.dim), seed=self.seed + 1,
                                      device=self.device, dtype=self.dtype,
                                      moments=choose_moments(grid, exps))
        return self._path

    def fresh_noise(self) -> GaussianNoise:
        """Seeded fresh normals: what a black-box sampler gets in the deterministic regime, where
        a correct one multiplies them by zero."""
        return GaussianNoise((self.paths, self.problem.dim), seed=self.seed + 2, device=self.device,
                             dtype=self.dtype)

    # -- references ---------------------------------------------------------------------------

    def reference(self) -> torch.Tensor:
        """Y_ref at λ_end for the pathwise studies (float64, α = 1 coordinates)."""
        if "pathwise" in self._refs:
            return self._refs["pathwise"]
        y0 = self.start_points().to(torch.float64)
        t0 = time.perf_counter()
        if self.exact_pathwise:
            path = self.path() if self.eta > 0 else None
            ref = self.problem.exact_solution(y0, self.lam_start, self.lam_end, self.eta, path)
            self.reference_info = {"kind": "exact pathwise solution" if self.eta > 0 else "exact ODE solution"}
        elif self.eta == 0.0:
            ref = self._ode_reference(y0)
        else:
            ref = self._fine_reference(y0)
        self.reference_info["seconds"] = time.perf_counter() - t0
        self._refs["pathwise"] = ref.to(torch.float64)
        return self._refs["pathwise"]

    def _fine_reference(self, y0: torch.Tensor) -> torch.Tensor:
        path = self.path()
        solver = SEEDS2(0.5, "phi_2")
        n_ref = path.n_cells // 2  # stage points at half steps fall on the grid
        a0 = float(self.schedule.alpha_of_lam(self.lam_start))
        a1 = float(self.schedule.alpha_of_lam(self.lam_end))
        grids = [lambda_grid(self.schedule, n_ref), lambda_grid(self.schedule, n_ref // 2)]
        fine, half = (solver.solve(self.model, a0 * y0, g, schedule=self.schedule, noise=path,
                                   eta=self.eta, prediction="data").to(torch.float64) / a1
                      for g in grids)
        self.reference_own_errors = (fine - half).norm(dim=-1)
        self.reference_info = {"kind": f"SEEDS-2 (r=1/2, phi_2) with {n_ref} steps on the same path",
                               "error_estimate": float(self.reference_own_errors.mean()), "steps": n_ref}
        return fine

    def _ode_reference(self, y0: torch.Tensor) -> torch.Tensor:
        from scipy.integrate import solve_ivp

        y0 = y0.cpu()
        shape = y0.shape

        def rhs(lam, y):
            # Probability-flow ODE in α = 1 coordinates (MATH §3 with η = 0): dy/dλ = D(y, e^{−λ}) − y.
            yt = torch.from_numpy(y.reshape(shape))
            d = self.problem.denoiser(yt, math.exp(-lam))
            return (d - yt).reshape(-1).numpy()

        sol = solve_ivp(rhs, (self.lam_start, self.lam_end), y0.reshape(-1).numpy(), method="DOP853",
                        rtol=1e-12, atol=1e-12)
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed on the reference ODE: {sol.message}")
        self.reference_info = {"kind": "solve_ivp DOP853 rtol=atol=1e-12", "nfev": int(sol.nfev)}
        return torch.from_numpy(sol.y[:, -1].reshape(shape)).to(self.device)

    def floor(self, scale: float) -> float:
        """Errors at or below this are rounding, not truncation, and are left out of fits (float64;
        lower precisions measure their rounding per ladder point, see ``ROUNDING_MARGIN``)."""
        return 1e3 * float(torch.finfo(self.dtype).eps) * max(scale, 1.0)


class SetupCache:
    """Setups by (problem, schedule, η, steps, paths): subjects of one suite share paths and
    references, also in the rounds that escalate."""

    def __init__(self, *, seed: int = 0, device: str = "cpu", dtype: torch.dtype = torch.float64,
                 denominators: tuple[int, ...] = (1,), runner=None, variance_reduction: str | None = None,
                 path_block: int | None = None, conditional_rules=None):
        from .shards import check_path_block, check_variance_reduction

        self.seed, self.device, self.dtype = seed, device, dtype
        self.denominators = tuple(denominators)
        self._setups: dict = {}
        # Monte Carlo studies: where their shards run (None: in this process), the weak studies'
        # variance reduction and the paths per block (None: the regime's default); references
        # per block are shared by every setup.
        self.runner = runner
        self.variance_reduction = check_variance_reduction(variance_reduction)
        self.path_block = check_path_block(path_block)
        self.block_references: dict = {}
        # The quadrature rules of variance_reduction="conditional" (None: conditional.RULES).
        if conditional_rules is not None:
            from .conditional import Rules

            if not isinstance(conditional_rules, Rules):
                raise TypeError(f"conditional_rules must be a conditional.Rules, got {type(conditional_rules).__name__}")
        self.conditional_rules = conditional_rules

    def get(self, problem, schedule: str, eta: float, steps, paths: int,
            denominators: tuple[int, ...] = ()) -> StudySetup:
        dens = tuple(sorted(set(self.denominators) | set(denominators)))
        key = (problem if isinstance(problem, str) else id(problem),
               schedule if isinstance(schedule, str) else id(schedule), float(eta),
               tuple(steps), int(paths), dens)
        if key not in self._setups:
            setup = StudySetup(problem, schedule, eta, tuple(steps), paths, self.seed, self.device,
                               self.dtype, dens)
            setup.runner, setup.variance_reduction = self.runner, self.variance_reduction
            setup.path_block, setup.block_references = self.path_block, self.block_references
            setup.conditional_rules = self.conditional_rules
            self._setups[key] = setup
        return self._setups[key]


# --------------------------------------------------------------------------------------------
# One ladder: measure
# --------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """What one ladder gives before the verdict."""

    errors: list = field(default_factory=list)
    errors_ci_low: list | None = None
    errors_ci_high: list | None = None
    fit: S.OrderFit | None = None
    reason: str | None = None
    failed: bool = False  # a defect of the subject (not a question of evidence)
    more_evidence_helps: bool = True
    reference: str | None = None
    details: dict = field(default_factory=dict)


def _run(subject: Subject, setup: StudySetup, y0: torch.Tensor, n: int, noise, eta: float) -> torch.Tensor:
    try:
        out = subject.run(setup, y0, setup.grids[n], noise, eta)
    except SamplerError as exc:
        raise SamplerError(f"{n} steps: {exc}") from None
    return out.to(torch.float64)


#: One-sided bound on the sampling error of a mean rounding difference: z = 3 standard errors
#: (a 99.87 % upper bound for the normal approximation of the mean over paths).
ROUNDING_Z = 3.0


def rounding_of_mean(errors: np.ndarray, twin_errors: np.ndarray) -> float:
    """Rounding error of one ladder point's error E = mean_s e_s (docs/precision.md).

    ``errors`` are the per-path errors e_s of the low-precision run, ``twin_errors`` those of its
    float64 twin (same start, path and grid), so d_s = e_s − e_s⁶⁴ is what rounding adds to path s.
    What the fit sees is the mean, and rounding moves it by mean_s d_s; the bound returned is
    |mean d| + ``ROUNDING_Z`` · se(d), the part of it that a finite number of paths cannot tell
    from zero included. Rounding that varies from path to path partly cancels in the mean;
    rounding that is one map of the start for every path (e.g. of a coefficient) does not, and
    is kept in full. The bound never exceeds mean_s ‖Y_s − Y_s⁶⁴‖ by more than the sampling
    allowance (that mean is kept in the record as ``per_path_rounding_errors``).
    """
    d = np.asarray(errors, dtype=np.float64) - np.asarray(twin_errors, dtype=np.float64)
    se = float(d.std(ddof=1)) / math.sqrt(d.size) if d.size > 1 else float(np.abs(d).max())
    return float(abs(d.mean()) + ROUNDING_Z * se)


def _rounding_floor(out: "_Outcome", rounding) -> np.ndarray:
    """``ROUNDING_MARGIN`` × the measured rounding per point; records in ``out.details`` the
    finest point above it (``resolved_index``, −1 if none) and whether finer points of the ladder
    lie at it (``rounding_limited``: coarser and denser ladders help, finer ones do not)."""
    floor = ROUNDING_MARGIN * np.asarray(rounding, dtype=np.float64)
    errors = np.asarray(out.errors, dtype=np.float64)
    above = np.nonzero(np.isfinite(errors) & (errors > floor))[0]
    last = int(above[-1]) if above.size else -1
    out.details.update(resolved_index=last, rounding_limited=bool(last < errors.size - 1))
    return floor


class _Float64Noise:
    """The same increments, handed to a float64 twin run."""

    def __init__(self, noise):
        self.noise = noise

    def __call__(self, lam_a, lam_b, k):
        return self.noise(lam_a, lam_b, k).to(torch.float64)


class _CountingNoise:
    """A noise source that counts the calls reaching it."""

    def __init__(self, noise):
        self.noise, self.calls = noise, 0

    def __call__(self, lam_a, lam_b, k):
        self.calls += 1
        return self.noise(lam_a, lam_b, k)


def _nonfinite(per_sample: np.ndarray, steps) -> str | None:
    bad = ~np.isfinite(per_sample)
    if not bad.any():
        return None
    cols = [steps[i] for i in range(len(steps)) if bad[:, i].any()]
    rows = np.nonzero(bad.any(axis=1))[0]
    shown = ", ".join(str(int(r)) for r in rows[:5]) + (", ..." if rows.size > 5 else "")
    return (f"non-finite output at {', '.join(map(str, cols))} steps on {rows.size} of "
            f"{per_sample.shape[0]} paths (paths {shown})")


def _pathwise(subject: Subject, setup: StudySetup, replicates: int, memo: dict | None = None) -> _Outcome:
    """Strong (η > 0) or deterministic (η = 0) ladder, in shards of paths (:mod:`.shards`; in this
    process, or on the setup's Dask runner). ``memo`` keeps a deterministic ladder's per-path
    numbers by (paths, step count) for the later rounds of :func:`settle` (no path is read, so
    they do not change with the ladder; a strong ladder's path does)."""
    from .shards import LocalRunner, StudySpec

    out = _Outcome()
    stochastic = setup.eta > 0
    if stochastic:
        setup.path_cells(setup._refine())  # a ladder too fine for one path: ValueError naming steps
    spec = StudySpec.of(setup, "pathwise")
    runner = getattr(setup, "runner", None) or LocalRunner()
    cache = getattr(setup, "block_references", None)
    if cache is None:
        cache = setup.block_references = {}
    memo = {} if (memo is None or stochastic) else memo
    key = lambda n: ("deterministic", setup.paths, n)  # noqa: E731
    todo = [n for n in setup.steps if key(n) not in memo]
    merged = runner.run(subject, spec, cache, levels=todo)
    out.reference = merged.reference
    if merged.inconsistent is not None:
        out.failed, out.more_evidence_helps, out.reason = True, False, merged.inconsistent
        return out
    for i, n in enumerate(todo):
        memo[key(n)] = tuple(None if a is None else a[:, i] for a in
                             (merged.errors, merged.twin_errors, merged.twin_gaps))
    columns = [memo[key(n)] for n in setup.steps]
    per_sample = np.stack([c[0] for c in columns], axis=1)
    out.errors = per_sample.mean(axis=0).tolist()
    bad = _nonfinite(per_sample, setup.steps)
    if bad:
        out.failed, out.more_evidence_helps, out.reason = True, False, bad
        return out
    out.details["rms_errors"] = np.sqrt((per_sample ** 2).mean(axis=0)).tolist()
    out.details.update(shards=len(runner.ranges(spec)), path_block=spec.path_block, workers=int(runner.workers))
    floor = setup.floor(float(merged.reference_norms.mean()))
    if setup.low_precision:
        out.details.update(rounding_errors=[rounding_of_mean(e, t) for e, t, _ in columns],
                           per_path_rounding_errors=[float(g.mean()) for _, _, g in columns],
                           twin_errors=[float(t.mean()) for _, t, _ in columns])
        floor = _rounding_floor(out, out.details["rounding_errors"])
    try:
        out.fit = S.bootstrap_order(setup.step_sizes, per_sample, replicates=replicates,
                                    seed=setup.seed, floor=floor)
        out.errors_ci_low, out.errors_ci_high = list(out.fit.errors_ci_low), list(out.fit.errors_ci_high)
    except ValueError as exc:
        out.reason = str(exc)
    if merged.reference_own is not None:
        est = float(merged.reference_own.mean())
        smallest = float(min(out.errors))
        out.details.update(reference_error=est, reference_adequate=bool(est < smallest / 10.0))
        if not est < smallest / 10.0:
            out.fit, out.more_evidence_helps = None, False
            out.reason = (f"fine reference error {est:.3g} is not below 1/10 of the smallest measured "
                          f"error {smallest:.3g}")
    return out


def _weak_exact(subject: Subject, setup: StudySetup, memo: dict | None = None) -> _Outcome:
    """Weak ladder on a linear problem: exact moments of whole runs by affine probes. ``memo``
    keeps each step count's numbers for the later rounds of :func:`settle` (they read no path, so
    they do not change with the ladder)."""
    out = _Outcome(reference="exact law N(mu, Sigma + sigma~^2 I)")
    p = setup.problem
    m0, P0 = p.mean(setup.sigma_start), p.cov(setup.sigma_start)
    m_true, P_true = p.mean(setup.sigma_end), p.cov(setup.sigma_end)
    S_true = P_true + np.outer(m_true, m_true)
    mean_err, second_err, rounding, twin_mean = [], [], [], []
    memo = {} if memo is None else memo
    for n in setup.steps:
        if ("weak", n) in memo:
            for column, value in zip((mean_err, second_err, twin_mean, rounding), memo[("weak", n)]):
                if value is not None:
                    column.append(value)
            continue

        def run(y, lambdas, noise, n=n):
            try:
                return subject.run(setup, y, lambdas, noise, setup.eta)
            except SamplerError as exc:
                raise SamplerError(f"{n} steps: {exc}") from None
        try:
            # Path-consistency is a property of the sampler, checked at float64 rounding; a
            # low-precision run is affine only up to its own rounding, which the twin measures.
            twin = probe_trajectory(run, setup.grids[n], dim=p.dim, dtype=torch.float64,
                                    device=setup.device, seed=setup.seed)
            traj = twin if not setup.low_precision else probe_trajectory(
                run, setup.grids[n], dim=p.dim, dtype=setup.dtype, device=setup.device,
                seed=setup.seed, check_affine=False, scales=probe_scales(twin))
        except NotAffineError as exc:
            out.failed, out.more_evidence_helps = True, False
            out.reason = f"{n} steps: {exc}" if "non-finite" in str(exc) else f"not path-consistent: {exc}"
            return out
        if not traj.calls:
            out.failed, out.more_evidence_helps = True, False
            out.reason = (f"not path-consistent: the sampler never called noise_sampler at eta = "
                          f"{setup.eta:g}")
            return out
        m, P = traj.moments(m0, P0)
        mean_err.append(float(np.linalg.norm(m - m_true)))
        second_err.append(float(np.linalg.norm(P + np.outer(m, m) - S_true)))
        if setup.low_precision:
            m64, P64 = twin.moments(m0, P0)
            twin_mean.append(float(np.linalg.norm(m64 - m_true) + np.linalg.norm(P64 + np.outer(m64, m64) - S_true)))
            rounding.append(float(np.linalg.norm(m - m64) + np.linalg.norm(P + np.outer(m, m) - P64
                                                                           - np.outer(m64, m64))))
        memo[("weak", n)] = (mean_err[-1], second_err[-1], twin_mean[-1] if setup.low_precision else None,
                             rounding[-1] if setup.low_precision else None)
    out.errors = [a + b for a, b in zip(mean_err, second_err)]
    out.details.update(mean_errors=mean_err, second_moment_errors=second_err)
    if not np.all(np.isfinite(out.errors)):
        bad = [n for n, e in zip(setup.steps, out.errors) if not math.isfinite(e)]
        out.failed, out.more_evidence_helps = True, False
        out.reason = f"non-finite output moments at {', '.join(map(str, bad))} steps"
        return out
    floor = setup.floor(float(np.linalg.norm(S_true)))
    if rounding:
        out.details.update(rounding_errors=rounding, twin_errors=twin_mean)
        floor = _rounding_floor(out, rounding)
    try:
        out.fit = S.regression_order(setup.step_sizes, out.errors, floor=floor)
    except ValueError as exc:
        out.reason = str(exc)
    return out


def _weak_statistics(problem, y: torch.Tensor, sigma_end: float) -> np.ndarray:
    """Per-sample φ(y): y, the upper triangle of y yᵀ and the component responsibilities."""
    from .shards import weak_statistics

    return weak_statistics(problem, y, sigma_end)


def _weak_monte_carlo(subject: Subject, setup: StudySetup, replicates: int) -> _Outcome:
    """Weak ladder on a nonlinear problem: same-path Monte Carlo against a fine reference, in
    shards of paths (:mod:`.shards`; in this process, or on the setup's Dask runner)."""
    from .shards import LocalRunner, ShardResult, StudySpec, reduction_factors, reference_refine

    out = _Outcome()
    setup.path_cells(reference_refine(setup.denominators))  # a ladder too fine for one path: ValueError
    spec = StudySpec.of(setup)
    runner = getattr(setup, "runner", None) or LocalRunner()
    cache = getattr(setup, "block_references", None)
    if cache is None:
        cache = setup.block_references = {}
    conditional = spec.variance_reduction == "conditional"
    if conditional and getattr(setup.problem, "_components", None) is None:
        raise ValueError(f"variance_reduction='conditional' needs a problem with Gaussian components "
                         f"(a mixture), got {type(setup.problem).__name__}")
    merged: ShardResult = runner.run(subject, spec, cache)
    if conditional:
        from .conditional import RULES

        rules = spec.rules or RULES
        out.reference = (f"none: the sum of the local weak errors from the exact conditional law "
                         f"({rules.describe()}); compared with SEEDS-2 (r=1/2, phi_2) with "
                         f"{merged.reference_steps} steps on the same path")
    else:
        out.reference = (f"SEEDS-2 (r=1/2, phi_2) with {merged.reference_steps} steps on the same path"
                         + (", averaged with the same solve on the antithetic path" if merged.plain is not None
                            else ""))
    if not np.all(merged.calls > 0):
        out.failed, out.more_evidence_helps = True, False
        out.reason = (f"not path-consistent: the sampler never called noise_sampler at eta = "
                      f"{setup.eta:g}")
        return out
    diffs, phi_ref = merged.diffs, merged.phi_ref
    stat = lambda means: np.abs(means).sum(axis=-1)  # noqa: E731
    out.errors = stat(diffs.mean(axis=0)).tolist()
    bad = _nonfinite(diffs.sum(axis=-1), setup.steps)
    if bad:
        out.failed, out.more_evidence_helps, out.reason = True, False, bad
        return out
    # Exact moments of p_0 against the reference's sample moments: a check on the reference.
    d = setup.problem.dim
    m_true = setup.problem.mean(setup.sigma_end)
    S_true = (setup.problem.cov(setup.sigma_end) + np.outer(m_true, m_true))[np.triu_indices(d)]
    dev = (np.abs(phi_ref[:, :d].mean(0) - m_true).sum()
           + np.abs(phi_ref[:, d:d + S_true.size].mean(0) - S_true).sum())
    se = phi_ref[:, :d + S_true.size].std(0).sum() / math.sqrt(setup.paths)
    # The reference's own weak error: with half its steps it is 2^p times larger (p = 2 for
    # SEEDS-2), so Σ|mean φ(fine) − mean φ(half)| / 3 estimates it (docs/weak_mixture.md §4).
    half = merged.phi_half - phi_ref
    ref_error = float(stat(half.mean(axis=0))) / 3.0
    ref_noise = float(stat(half.std(axis=0, ddof=1) / math.sqrt(setup.paths))) / 3.0
    out.details.update(reference_moment_deviation=float(dev), reference_moment_standard_error=float(se),
                       reference_weak_error=ref_error, reference_weak_error_noise=ref_noise,
                       shards=len(runner.ranges(spec)), path_block=spec.path_block,
                       workers=int(runner.workers), shard_seconds=merged.seconds,
                       reference_seconds=merged.reference_seconds)
    if merged.plain is not None:
        out.details["variance_reduction"] = {
            "method": spec.variance_reduction,
            "factors": reduction_factors(merged.plain, diffs),
            "plain_errors": stat(merged.plain.mean(axis=0)).tolist()}
    coarsest, floor = 0, 0.0
    if not conditional:
        # The reference's weak error is a bias in every difference: a point is fitted only while
        # its error stays ROUNDING_MARGIN times above it (as above a rounding floor); the finer
        # points are dropped, not the study.
        floor = ROUNDING_MARGIN * max(0.0, ref_error - S.RESOLVED_SE * ref_noise)
        out.details["reference_floor"] = floor
    else:
        # The quadrature's error, bounded by its change under coarser rules, must stay below
        # 1/ROUNDING_MARGIN of every fitted error (as the reference's must in a coupled study):
        # the fit starts after the finest point where it does not.
        change = stat(merged.rule_change.mean(axis=0))
        inadequate = np.nonzero(~(change * ROUNDING_MARGIN < np.asarray(out.errors)))[0]
        coarsest = int(inadequate[-1]) + 1 if inadequate.size else 0
        coarser = rules.coarser()
        out.details.update(rule_change=change.tolist(),
                           rules=dict(nodes=rules.nodes, orthogonal_nodes=rules.orthogonal_nodes,
                                      orthogonal_draws=rules.orthogonal_draws,
                                      coarser=dict(nodes=coarser.nodes, orthogonal_nodes=coarser.orthogonal_nodes)),
                           rules_adequate_from=setup.steps[coarsest] if coarsest < len(setup.steps) else None)
    try:
        out.fit = S.bootstrap_order(setup.step_sizes, diffs, replicates=replicates, seed=setup.seed,
                                    statistic=stat, coarsest=coarsest, floor=floor)
        out.errors_ci_low, out.errors_ci_high = list(out.fit.errors_ci_low), list(out.fit.errors_ci_high)
    except ValueError as exc:
        out.reason = str(exc)
        if floor > 0 and np.sum(np.asarray(out.errors) > floor) < 2:
            out.more_evidence_helps = False
            out.reason += (f" (the reference's weak error {ref_error:.3g} leaves fewer than two errors "
                           f"{ROUNDING_MARGIN:g} times above it)")
        if coarsest:
            where = out.details["rules_adequate_from"]
            out.reason += (" (the quadrature rules are not adequate on this ladder)" if where is None
                           else f" (the quadrature rules are adequate only from {where} steps)")
        return out
    return out


def _before_asymptotic(setup: StudySetup, fit: S.OrderFit, details: dict) -> int | None:
    """Where the asymptotic range of the float64 twin starts (a step count) when a low-precision
    fit starts before it, else None.

    The twin runs the same ladder without the rounding, so its errors past the low-precision
    floor show where the error curve stops bending (the module rule of :func:`.statistics.fit_range`
    with the float64 floor). A low-precision fit that starts before that range fits a secant of
    the pre-asymptotic curve: it can bound the order from neither side, so it shows no fail.
    """
    twin = details.get("twin_errors")
    if not twin or len(twin) != len(setup.steps):
        return None
    scale = max(float(np.max(twin)), 1.0)
    try:
        first, _ = S.fit_range(setup.step_sizes, twin, floor=1e3 * float(torch.finfo(torch.float64).eps) * scale)
    except ValueError:
        return None
    return setup.steps[first] if fit.fit_range[0] < first else None


def _is_monte_carlo(regime: str, linear: bool) -> bool:
    return not (regime == "weak" and linear)


def measure(subject: Subject, regime: str, setup: StudySetup, *, tolerance: float = S.DEFAULT_TOLERANCE,
            replicates: int = 1000, memo: dict | None = None) -> tuple[RegimeResult, bool]:
    """One ladder of one subject in one regime → (result, whether more evidence could settle an
    ``inconclusive`` verdict). ``setup.eta`` must be the regime's η (0 for deterministic).
    ``memo`` (one per subject and regime, see :func:`settle`) keeps ladder-independent runs."""
    t0 = time.perf_counter()
    try:
        if regime == "weak":
            o = _weak_exact(subject, setup, memo) if setup.linear else _weak_monte_carlo(subject, setup, replicates)
        else:
            o = _pathwise(subject, setup, replicates, memo)
    except SamplerError as exc:
        o = _Outcome(reason=str(exc), failed=True, more_evidence_helps=False)
    declared = subject.declared.get(regime)
    if o.failed:
        verdict = S.FAIL
    elif o.fit is None:
        verdict = S.INCONCLUSIVE
    else:
        verdict = S.verdict(o.fit, declared, tolerance)
    reason = o.reason
    if verdict == S.FAIL and not o.failed and o.details.get("rounding_limited"):
        start = _before_asymptotic(setup, o.fit, o.details)
        if start is not None:
            verdict = S.INCONCLUSIVE
            reason = (f"the interval [{o.fit.ci_low:.2f}, {o.fit.ci_high:.2f}] lies below declared - "
                      f"tolerance = {declared - tolerance:.2f}, but the errors meet the measured rounding "
                      f"floor of {setup.dtype} before the asymptotic range, which the float64 twin of "
                      f"the same runs enters at {start} steps: the fitted slope is a pre-asymptotic "
                      f"secant")
    points = None if o.fit is None else o.fit.fit_range[1] - o.fit.fit_range[0] + 1
    if reason is None and verdict == S.INCONCLUSIVE and points < S.MIN_FIT_POINTS:
        reason = (f"the fit rests on {points} ladder points ({setup.steps[o.fit.fit_range[0]]} to "
                  f"{setup.steps[o.fit.fit_range[1]]} steps; finer ones are at the rounding, "
                  f"sampling-noise or reference-error floor): fewer than {S.MIN_FIT_POINTS}, no asymptotic order")
    elif reason is None and verdict == S.INCONCLUSIVE:
        reason = (f"the interval [{o.fit.ci_low:.2f}, {o.fit.ci_high:.2f}] straddles declared - tolerance "
                  f"= {declared - tolerance:.2f}")
    elif reason is None and verdict == S.FAIL:
        reason = (f"the interval [{o.fit.ci_low:.2f}, {o.fit.ci_high:.2f}] lies below declared - "
                  f"tolerance = {declared - tolerance:.2f}")
    p_order, p_const = predicted(subject, regime)
    fit = o.fit
    if fit is not None:
        o.details["limited_by"] = fit.limited_by
    errors = [finite_or_none(e) for e in o.errors]
    mc = _is_monte_carlo(regime, setup.linear)
    result = RegimeResult(
        sampler=subject.label, regime=regime, problem=str(setup.problem_name), schedule=setup.schedule_name,
        eta=setup.eta, verdict=verdict, reason=reason, prediction=subject.prediction,
        weight_exponent=subject.weight_exponent if setup.eta > 0 else None, declared=declared,
        measured_order=None if fit is None else fit.order, constant=None if fit is None else fit.constant,
        ci_low=None if fit is None else fit.ci_low, ci_high=None if fit is None else fit.ci_high,
        ci_method=None if fit is None else fit.method,
        fit_steps=None if fit is None else (setup.steps[fit.fit_range[0]], setup.steps[fit.fit_range[1]]),
        step_counts=setup.steps, step_sizes=setup.step_sizes, errors=tuple(errors),
        errors_ci_low=tuple(o.errors_ci_low if o.errors_ci_low is not None else errors),
        errors_ci_high=tuple(o.errors_ci_high if o.errors_ci_high is not None else errors),
        paths=setup.paths if mc else 0, predicted_order=p_order, predicted_constant=p_const,
        reference=o.reference, details=o.details, mutant=subject.mutant, tolerance=tolerance,
        seconds=time.perf_counter() - t0)
    return result, o.more_evidence_helps


# --------------------------------------------------------------------------------------------
# Buying evidence: settle
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ladder:
    """The evidence a study starts with and the most it may buy.

    Attributes:
        steps: the starting ladder of step counts; paths: the starting number of samples.
        max_paths: Monte Carlo studies double their paths up to this many.
        max_steps: the ladder is extended by doubling its finest step count up to this many.
        max_denser: low-precision studies whose finer points lie at their measured rounding
            floor make the resolved part of the ladder coarser and denser at most this many
            times (:func:`denser_ladder`).
    """

    steps: tuple[int, ...]
    paths: int
    max_paths: int
    max_steps: int
    max_denser: int = 2

    def __post_init__(self):
        check_steps(self.steps)
        for name in ("paths", "max_paths", "max_steps", "max_denser"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if name == "max_denser" else 1):
                raise ValueError(f"{name} must be a {'non-negative' if name == 'max_denser' else 'positive'} "
                                 f"int, got {v!r}")
        if self.paths < 2:
            raise ValueError(f"paths must be at least 2, got {self.paths}")
        if self.max_paths < self.paths:
            raise ValueError(f"max_paths ({self.max_paths}) must be at least paths ({self.paths})")
        if self.max_steps < self.steps[-1]:
            raise ValueError(f"max_steps ({self.max_steps}) must be at least the finest step count "
                             f"({self.steps[-1]})")


def denser_ladder(steps: Sequence[int], resolved: int, cells=None,
                  max_cells: int = MAX_PATH_CELLS) -> tuple[int, ...] | None:
    """The ladder a low-precision study tries when its finer points lie at the rounding floor.

    ``resolved`` is the index of the finest point above the floor. The points at the floor stay
    (their float64 twins show where the asymptotic range starts, see ``_before_asymptotic``); the
    coarsest step count is halved and a midpoint ⌊(a + b)/2⌋ is inserted between neighbours b ≥ 2a among
    the four finest resolved points and the first one at the floor, so the window where the
    discretisation error is above rounding holds more points. A new step count is kept only while the Brownian
    path stays within ``max_cells`` cells (``cells(ladder)``: the cells a study on that ladder
    reads; None for studies without a path). None when nothing can be added.
    """
    steps = tuple(int(n) for n in steps)
    window = list(steps[max(0, resolved - 3):resolved + 2])
    # Midpoints only in gaps of a factor 2 or more: closer points would let the rounding left in
    # each error (up to 1/ROUNDING_MARGIN) swamp the local slopes the fit range is judged by.
    candidates = ([steps[0] // 2] if steps[0] >= 2 else []) + [
        (a + b) // 2 for a, b in zip(window, window[1:]) if b >= 2 * a]
    ladder = set(steps)
    for n in candidates:
        if n not in ladder and (cells is None or cells(ladder | {n}) <= max_cells):
            ladder.add(n)
    new = tuple(sorted(ladder))
    return new if len(set(new) - set(steps)) and len(new) >= 3 else None


def settle(subject: Subject, regime: str, problem, schedule: str, ladder: Ladder, setups: SetupCache, *,
           tolerance: float = S.DEFAULT_TOLERANCE, replicates: int = 1000) -> RegimeResult:
    """Measure, and while the verdict is ``inconclusive`` and more evidence can help, buy it
    (module docstring); the result lists every round."""
    eta = 0.0 if regime == "deterministic" else subject.eta
    steps, paths = tuple(ladder.steps), int(ladder.paths)
    rounds, seconds, denser = [], 0.0, 0
    memo: dict = {}  # runs that do not depend on the ladder, kept across rounds
    while True:
        setup = setups.get(problem, schedule, eta, steps, paths, subject.denominators)
        result, helps = measure(subject, regime, setup, tolerance=tolerance, replicates=replicates, memo=memo)
        seconds += result.seconds
        rounds.append({"paths": result.paths, "steps": list(steps), "finest_steps": steps[-1],
                       "verdict": result.verdict, "measured_order": result.measured_order,
                       "ci_low": result.ci_low, "ci_high": result.ci_high})
        if result.verdict != S.INCONCLUSIVE or not helps:
            break
        more_paths = _is_monte_carlo(regime, setup.linear) and 2 * paths <= ladder.max_paths
        finer = 2 * steps[-1] <= ladder.max_steps
        sampling = result.details.get("limited_by", "sampling") == "sampling"
        rounding = result.details.get("rounding_limited", False)
        dense = (denser_ladder(steps, result.details["resolved_index"], setup.cells_for(regime))
                 if rounding and denser < ladder.max_denser else None)
        if dense is not None:
            # Finer grids only repeat the rounding floor: the resolved window gains points.
            steps, denser = dense, denser + 1
        elif rounding and not (more_paths and sampling):
            result = replace(result, reason=f"{result.reason}; the finer points lie at the measured "
                                            f"rounding floor of {setup.dtype} and coarser or denser "
                                            f"ladders are spent (max_denser={ladder.max_denser})")
            break
        elif more_paths and (sampling or not finer):
            paths *= 2
        elif finer:
            steps = steps + (2 * steps[-1],)
        else:
            result = replace(result, reason=f"{result.reason}; evidence budget spent (max_paths="
                                            f"{ladder.max_paths}, max_steps={ladder.max_steps})")
            break
    return replace(result, rounds=tuple(rounds), seconds=seconds)


# --------------------------------------------------------------------------------------------
# Exactness on a point mass (MATH §8)
# --------------------------------------------------------------------------------------------


def exactness_check(choice: SolverChoice, *, schedule: str = "vp_linear", eta: float = 1.0,
                    steps: Sequence[int] = (3, 6, 12, 24), paths: int = 16, seed: int = 0,
                    tolerance: float = 1e-10, device: str = "cpu") -> dict:
    """Point mass, one Brownian path, data form: every step count must give the same y (MATH §8).

    Returns {"passed", "spread" (max over step counts and samples of ‖Y_N − Y_first‖/‖Y_first‖),
    "exact_deviation" (the same against ``exact_solution``), "tolerance", "steps"}; float64.
    """
    subject = solver_subject(choice, "data", eta)
    setup = StudySetup("point_mass", schedule, eta, tuple(steps), paths, seed, device, torch.float64,
                       tuple(f.denominator for f in choice.fractions))
    y0 = setup.start_points()
    path = setup.path()
    ref = setup.reference()
    outs = [_run(subject, setup, y0, n, path, eta) for n in setup.steps]
    first = outs[0]
    spread = max(float(((o - first).norm(dim=-1) / first.norm(dim=-1)).max()) for o in outs[1:])
    exact = max(float(((o - ref).norm(dim=-1) / ref.norm(dim=-1)).max()) for o in outs)
    return {"passed": bool(spread <= tolerance and exact <= tolerance), "spread": spread,
            "exact_deviation": exact, "tolerance": tolerance, "steps": list(setup.steps)}
