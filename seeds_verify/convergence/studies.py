"""Strong, weak and deterministic convergence studies on closed-form problems (MATH §8, §9).

Every study runs solvers on uniform λ-grids of a ladder of step counts over the schedule's
default λ range and compares the result at the end with a reference.

* **Strong** (η > 0): every step count of every solver is driven by the SAME
  :class:`~seeds_verify.noise.BrownianPath` per sample, on a fine λ-grid whose cells contain every
  coarse grid's stage points (cells = lcm(step counts) × lcm of the stage-fraction denominators).
  Start points are exact draws from p_T (``problem.sample`` at σ̃_T, times α_T). The reference is
  the exact pathwise solution on linear problems (``exact_solution``); otherwise a fine SEEDS-2
  solve on a path grid ``REFINE`` times finer, whose own error is estimated against a solve on
  half its steps and must be below 1/10 of the smallest measured error. Error: the mean over
  samples of ‖X_h − X_ref‖ (per-sample Euclidean norm), with the RMS beside it.
* **Weak**: linear problems — the scheme's mean and covariance propagated exactly by affine
  probes (:mod:`.moments`) and compared with the exact law N(α μ, α²(Σ + σ̃² I)); the error is
  ‖m_h − m‖ + ‖S_h − S‖_F with S the second moment. Nonlinear problems — Monte Carlo on the
  strong study's paths, |mean φ(X_h) − mean φ(X_ref)| for φ = x, x xᵀ and the component
  responsibilities (a control variate: both sides share paths and start points), with the
  reference's distance to the exact moments reported beside it.
* **Deterministic** (η = 0): error against the exact ODE solution (linear problems) or scipy
  ``solve_ivp`` (DOP853, rtol = atol = 1e-12) of the probability-flow ODE.

Orders are fitted by :mod:`.statistics` (rule and tolerance stated there).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from functools import reduce
from typing import Callable, Sequence

import numpy as np
import torch

from ..noise import BrownianPath
from ..problems import GaussianProblem, get_problem
from ..schedules import get_schedule, lambda_grid
from ..solvers import SEEDS1, SEEDS2, SEEDS3, DDPMAncestral, EulerMaruyama, Solver
from ..solvers.seeds import ExponentialSolver
from . import statistics as S
from .moments import NotAffineError, propagate_moments

__all__ = [
    "REGIMES",
    "PREDICTIONS",
    "SolverChoice",
    "parse_solver",
    "StudySetup",
    "run_regime",
    "exactness_check",
    "predicted_orders_table",
    "choose_moments",
    "DEFAULT_SOLVERS",
]

REGIMES = ("strong", "weak", "deterministic")
PREDICTIONS = ("data", "noise")
DEFAULT_SOLVERS = ("seeds1", "seeds2", "seeds2:r=1/3:phi_2", "seeds3", "seeds3:3b", "em", "ddpm")
MAX_DENOMINATOR = 1000
MAX_PATH_CELLS = 400_000
REFINE = 64  # reference steps per step of the finest ladder grid (nonlinear problems): enough
# for the reference error to stay below 1/10 of SEEDS-3's smallest error on the mixtures
VARIANCE_DEFECT = 1e-14  # Legendre moments kept: the fewest with a defect at the rounding level


# --------------------------------------------------------------------------------------------
# Which solver
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SolverChoice:
    """A solver to study, built fresh for every run.

    Attributes:
        label: what tables and plots call it, e.g. ``"seeds2(r=1/3,phi_2)"``.
        factory: builds the solver.
        fractions: stage fractions of one step (end point included), as exact rationals: the
            Brownian path's grid must contain every stage point.
        scheme: key of the symbolic predictions (``analytic.predicted_orders``), or None.
        mutant: the mutant's name when this is a deliberately broken solver.
        description: one line for reports.
    """

    label: str
    factory: Callable[[], Solver]
    fractions: tuple
    scheme: str | None = None
    mutant: str | None = None
    description: str = ""

    def build(self) -> Solver:
        return self.factory()


def _fraction(text: str, name: str) -> Fraction:
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"{name} must be a number such as 1/3 or 0.5, got {text!r}") from exc
    if not 0 < value < 1:
        raise ValueError(f"{name} must lie in (0, 1), got {text!r}")
    if value.denominator > MAX_DENOMINATOR:
        raise ValueError(f"{name}={text} has denominator {value.denominator} > {MAX_DENOMINATOR}; "
                         "write stage fractions as p/q (e.g. 1/3) so stage points fall on the path grid")
    return value


def _frac_text(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def parse_solver(text: str) -> SolverChoice:
    """A solver from its command-line spelling ``name[:option[:option…]]``.

    Names: ``seeds1``, ``seeds2``, ``seeds3``, ``em``, ``ddpm`` and ``mutant:<mutant name>``.
    Options are ``key=value`` or a bare variant:

    * ``seeds2:r=1/3:phi_2`` — stage fraction r (default 1/2), variant phi_1 (default) or phi_2;
    * ``seeds3:r_1=1/4:r_2=3/4:3b`` — fractions (default 1/3, 2/3), variant 3a (default) or 3b;
    * ``mutant:swapped_noise`` — see :mod:`.mutants` for the names.

    Fractions must be rationals p/q with q ≤ 1000. Bad spellings raise ValueError.
    """
    from .mutants import MUTANTS

    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"solver must be a non-empty string, got {text!r}")
    parts = [p.strip() for p in text.strip().split(":")]
    name, opts = parts[0].lower(), parts[1:]
    keyed, bare = {}, []
    for opt in opts:
        if "=" in opt:
            k, v = opt.split("=", 1)
            keyed[k.strip()] = v.strip()
        elif opt:
            bare.append(opt)

    def reject_extra(allowed_keys, allowed_bare):
        for k in keyed:
            if k not in allowed_keys:
                raise ValueError(f"unknown option {k!r} for solver {name!r} in {text!r}")
        for b in bare:
            if b not in allowed_bare:
                raise ValueError(f"unknown option {b!r} for solver {name!r} in {text!r}")
        if len(bare) > 1:
            raise ValueError(f"solver {text!r} names more than one variant")

    one = (Fraction(1),)
    if name == "seeds1":
        reject_extra((), ())
        return SolverChoice("seeds1", SEEDS1, one, "seeds1")
    if name == "seeds2":
        reject_extra(("r", "variant"), ("phi_1", "phi_2"))
        r = _fraction(keyed.get("r", "1/2"), "r")
        variant = keyed.get("variant", bare[0] if bare else "phi_1")
        if variant not in ("phi_1", "phi_2"):
            raise ValueError(f"variant of seeds2 must be phi_1 or phi_2, got {variant!r}")
        return SolverChoice(f"seeds2(r={_frac_text(r)},{variant})",
                            lambda: SEEDS2(float(r), variant), (r, Fraction(1)), f"seeds2_{variant}")
    if name == "seeds3":
        reject_extra(("r_1", "r_2", "variant"), ("3a", "3b"))
        r1 = _fraction(keyed.get("r_1", "1/3"), "r_1")
        r2 = _fraction(keyed.get("r_2", "2/3"), "r_2")
        if not r1 < r2:
            raise ValueError(f"r_1 must be smaller than r_2 in {text!r}")
        variant = keyed.get("variant", bare[0] if bare else "3a")
        if variant not in ("3a", "3b"):
            raise ValueError(f"variant of seeds3 must be 3a or 3b, got {variant!r}")
        return SolverChoice(f"seeds3(r_1={_frac_text(r1)},r_2={_frac_text(r2)},{variant})",
                            lambda: SEEDS3(float(r1), float(r2), variant), (r1, r2, Fraction(1)),
                            f"seeds3_{variant}")
    if name == "em":
        reject_extra((), ())
        return SolverChoice("em", EulerMaruyama, one, "em")
    if name == "ddpm":
        reject_extra((), ())
        return SolverChoice("ddpm", DDPMAncestral, one, "ddpm")
    if name == "mutant":
        if len(bare) != 1 or keyed:
            raise ValueError(f"write a mutant as mutant:<name> with name in {tuple(MUTANTS)}, got {text!r}")
        if bare[0] not in MUTANTS:
            raise ValueError(f"unknown mutant {bare[0]!r}; choose from {tuple(MUTANTS)}")
        factory, description, fractions = MUTANTS[bare[0]]
        scheme = "seeds2_phi_1_swapped" if bare[0] == "swapped_noise" else None
        return SolverChoice(f"mutant:{bare[0]}", factory, fractions, scheme, bare[0], description)
    raise ValueError(f"unknown solver {name!r}; choose from seeds1, seeds2, seeds3, em, ddpm, mutant:<name>")


# --------------------------------------------------------------------------------------------
# Symbolic predictions (optional)
# --------------------------------------------------------------------------------------------

_PREDICTED: list | None = None


def predicted_orders_table() -> list:
    """Rows of ``seeds_verify.analytic.predicted_orders()``, or [] while that module is absent."""
    global _PREDICTED
    if _PREDICTED is None:
        try:
            from ..analytic import predicted_orders  # sympy: imported only here, on demand
            _PREDICTED = list(predicted_orders())
        except Exception:  # the symbolic module is optional: a missing or failing one shows "n/a"
            _PREDICTED = []
    return _PREDICTED


def _predicted(choice: SolverChoice, prediction: str, regime: str) -> tuple[float | None, float | None]:
    """(order, constant) of the symbolic prediction for this scheme, its stage fractions,
    prediction form and regime; (None, None) when there is none."""
    if choice.scheme is None:
        return None, None
    stage_fractions = tuple(Fraction(f) for f in choice.fractions[:-1])
    for row in predicted_orders_table():
        get = (lambda k: row.get(k)) if isinstance(row, dict) else (lambda k: getattr(row, k, None))
        if get("scheme") != choice.scheme or get("regime") != regime:
            continue
        if get("prediction") not in (prediction, None, "both"):
            continue
        fr = get("fractions")
        if fr and tuple(Fraction(f) for f in fr) != stage_fractions:
            continue
        try:
            order, constant = get("order"), get("constant")
            return (None if order is None else float(order)), (None if constant is None else float(constant))
        except (TypeError, ValueError):
            return None, None
    return None, None


# --------------------------------------------------------------------------------------------
# The setup shared by all solvers of one (problem, schedule, regime)
# --------------------------------------------------------------------------------------------


def choose_moments(grid: np.ndarray, exponents: Sequence[float], max_moments: int = 8) -> int:
    """Fewest Legendre moments per cell whose variance defect is below ``VARIANCE_DEFECT``
    for every weight exponent in ``exponents`` (``BrownianPath.moments_needed``)."""
    return BrownianPath.moments_needed(grid, exponents, VARIANCE_DEFECT, max_moments)


def _lcm(values) -> int:
    return reduce(lambda a, b: a * b // math.gcd(a, b), values, 1)


@dataclass
class StudySetup:
    """What every solver of one study shares (see the module docstring)."""

    problem_name: object  # a name from problems.PROBLEMS or a Problem instance
    schedule_name: str
    regime: str
    eta: float
    steps: tuple[int, ...]
    paths: int
    seed: int = 0
    device: str = "cpu"
    dtype: torch.dtype = torch.float64
    tolerance: float = S.DEFAULT_TOLERANCE
    replicates: int = 1000
    denominators: tuple[int, ...] = (1,)
    with_predictions: bool = True  # look up analytic.predicted_orders (sympy, ~10 s once per process)
    problem: object = field(init=False, default=None)
    schedule: object = field(init=False, default=None)

    def __post_init__(self):
        if self.regime not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {self.regime!r}")
        if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in self.steps):
            raise ValueError(f"steps must be at least three increasing positive ints, got {self.steps!r}")
        steps = tuple(int(n) for n in self.steps)
        if len(steps) < 3 or any(n < 1 for n in steps) or list(steps) != sorted(set(steps)):
            raise ValueError(f"steps must be at least three increasing positive ints, got {self.steps!r}")
        self.steps = steps
        if self.regime == "deterministic":
            self.eta = 0.0
        if isinstance(self.problem_name, str):
            self.problem = get_problem(self.problem_name)
        else:
            # A problem instance (e.g. a 1-D Gaussian built by hand) is studied under its own name.
            self.problem, self.problem_name = self.problem_name, self.problem_name.name
        self.schedule = get_schedule(self.schedule_name)
        self.lam_start, self.lam_end = self.schedule.lam_range()
        self.step_sizes = tuple((self.lam_end - self.lam_start) / n for n in steps)
        self.grids = {n: lambda_grid(self.schedule, n) for n in steps}
        self.model = self.problem.model(self.schedule)
        self.alpha_start = float(self.schedule.alpha_of_lam(self.lam_start))
        self.alpha_end = float(self.schedule.alpha_of_lam(self.lam_end))
        self.sigma_start = math.exp(-self.lam_start)
        self.sigma_end = math.exp(-self.lam_end)
        self._path = None
        self._ref = None
        self.reference_info: dict = {}

    # -- shared random inputs ---------------------------------------------------------------

    @property
    def linear(self) -> bool:
        return isinstance(self.problem, GaussianProblem)

    def start_points(self) -> torch.Tensor:
        """x_T = α_T · (exact draws from p_T at σ̃_T); the same for every solver."""
        gen = torch.Generator(device=self.device).manual_seed(self.seed)
        y = self.problem.sample(self.paths, self.sigma_start, generator=gen, device=self.device,
                                dtype=torch.float64)
        return (self.alpha_start * y).to(self.dtype)

    def path_cells(self, refine: int = 1) -> int:
        cells = _lcm(self.steps) * _lcm(self.denominators) * refine
        if cells > MAX_PATH_CELLS:
            raise ValueError(f"the Brownian path would need {cells} cells (lcm of the step counts times "
                             f"the stage-fraction denominators); choose steps and fractions with a "
                             f"smaller lcm (at most {MAX_PATH_CELLS} cells)")
        return cells

    def path(self) -> BrownianPath:
        if self._path is None:
            # Nonlinear problems: the fine reference (SEEDS-2 on every other node) takes at least
            # REFINE times the finest ladder's step count, so its error is ~1/REFINE of theirs.
            # A multiple of 4 keeps the reference's half steps, and those of its own half-step
            # check, on the path's nodes whatever the ladder.
            refine = 1 if self.linear else 4 * math.ceil(2 * REFINE / (4 * _lcm(self.denominators)))
            grid = lambda_grid(self.schedule, self.path_cells(refine))
            exps = sorted({self.eta, -1.0, 0.0, -(1.0 + self.eta), 1.0 + self.eta})
            moments = choose_moments(grid, exps)
            self._path = BrownianPath(grid, (self.paths, self.problem.dim), seed=self.seed + 1,
                                      device=self.device, dtype=self.dtype, moments=moments)
        return self._path

    # -- references ---------------------------------------------------------------------------

    def reference(self) -> torch.Tensor:
        """X_ref at λ_end for the strong / deterministic studies, on the shared starts (and path)."""
        if self._ref is not None:
            return self._ref
        x0 = self.start_points()
        t0 = time.perf_counter()
        if self.linear:
            path = self.path() if self.eta > 0 else None
            y = self.problem.exact_solution(x0.to(torch.float64) / self.alpha_start, self.lam_start,
                                            self.lam_end, self.eta, path)
            self._ref = (self.alpha_end * y).to(torch.float64)
            self.reference_info = {"kind": "exact pathwise solution" if self.eta > 0 else "exact ODE solution"}
        elif self.eta == 0.0:
            self._ref = self._ode_reference(x0)
        else:
            self._ref = self._fine_reference(x0)
        self.reference_info["seconds"] = time.perf_counter() - t0
        return self._ref

    def _fine_reference(self, x0: torch.Tensor) -> torch.Tensor:
        path = self.path()
        cells = path.n_cells
        solver = SEEDS2(0.5, "phi_2")
        n_ref = cells // 2  # stage points at half steps fall on the grid
        grids = [lambda_grid(self.schedule, n_ref), lambda_grid(self.schedule, n_ref // 2)]
        fine, half = (solver.solve(self.model, x0.to(torch.float64), g, schedule=self.schedule,
                                   noise=path, eta=self.eta, prediction="data").to(torch.float64)
                      for g in grids)
        own = float((fine - half).norm(dim=-1).mean())
        self.reference_info = {"kind": f"SEEDS-2 (r=1/2, phi_2) with {n_ref} steps on the same path",
                               "error_estimate": own, "steps": n_ref}
        return fine

    def _ode_reference(self, x0: torch.Tensor) -> torch.Tensor:
        from scipy.integrate import solve_ivp

        y0 = (x0.to(torch.float64) / self.alpha_start).cpu()
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
        y = torch.from_numpy(sol.y[:, -1].reshape(shape))
        self.reference_info = {"kind": "solve_ivp DOP853 rtol=atol=1e-12", "nfev": int(sol.nfev)}
        return (self.alpha_end * y).to(self.device)

    def floor(self, scale: float) -> float:
        """Errors at or below this are rounding, not truncation, and are left out of fits."""
        return 1e3 * float(torch.finfo(self.dtype).eps) * max(scale, 1.0)


# --------------------------------------------------------------------------------------------
# Running one solver through one regime
# --------------------------------------------------------------------------------------------


def _solve(setup: StudySetup, solver: Solver, x0: torch.Tensor, n: int, prediction: str, noise) -> torch.Tensor:
    return solver.solve(setup.model, x0, setup.grids[n], schedule=setup.schedule, noise=noise,
                        eta=setup.eta, prediction=prediction).to(torch.float64)


def _base_record(setup: StudySetup, choice: SolverChoice, prediction: str, solver: Solver) -> dict:
    expected = solver.expected_order(setup.regime, setup.eta)
    p_order, p_const = (_predicted(choice, prediction, setup.regime) if setup.with_predictions
                        else (None, None))
    return {
        "solver": choice.label, "prediction": prediction, "eta": setup.eta, "problem": setup.problem_name,
        "schedule": setup.schedule_name, "regime": setup.regime, "expected_order": expected,
        "predicted_order": p_order, "predicted_constant": p_const,
        "step_counts": list(setup.steps), "step_sizes": list(setup.step_sizes),
        "mutant": choice.mutant, "tolerance": setup.tolerance,
    }


def _finish(record: dict, fit: S.OrderFit | None, tolerance: float, note: str | None = None) -> dict:
    if fit is None:
        record.update(measured_order=None, measured_constant=None, ci_low=None, ci_high=None,
                      fit_range=None, ci_method=None, passed=False)
    else:
        record.update(measured_order=fit.order, measured_constant=fit.constant, ci_low=fit.ci_low,
                      ci_high=fit.ci_high, fit_range=[record["step_counts"][fit.fit_range[0]],
                                                      record["step_counts"][fit.fit_range[1]]],
                      ci_method=fit.method,
                      passed=S.order_consistent(fit, record["expected_order"], tolerance),
                      above_expected=S.order_above(fit, record["expected_order"], tolerance))
        if "errors_ci_low" not in record:
            record["errors_ci_low"] = list(fit.errors_ci_low)
            record["errors_ci_high"] = list(fit.errors_ci_high)
    if note:
        record["note"] = note
    return record


def _pathwise(setup: StudySetup, choice: SolverChoice, prediction: str) -> dict:
    """Strong (η > 0) or deterministic (η = 0) study of one solver."""
    solver = choice.build()
    record = _base_record(setup, choice, prediction, solver)
    ref = setup.reference()
    x0 = setup.start_points()
    noise = setup.path() if setup.eta > 0 else None
    per_sample = np.empty((setup.paths, len(setup.steps)))
    for i, n in enumerate(setup.steps):
        x = _solve(setup, solver, x0, n, prediction, noise)
        per_sample[:, i] = (x - ref).norm(dim=-1).cpu().numpy()
    if not np.all(np.isfinite(per_sample)):
        record.update(errors=[float(e) for e in per_sample.mean(axis=0)], rms_errors=None)
        return _finish(record, None, setup.tolerance, "non-finite errors")
    record["errors"] = per_sample.mean(axis=0).tolist()
    record["rms_errors"] = np.sqrt((per_sample ** 2).mean(axis=0)).tolist()
    scale = float(ref.norm(dim=-1).mean())
    record["reference"] = setup.reference_info.get("kind")
    note = None
    try:
        fit = S.bootstrap_order(setup.step_sizes, per_sample, replicates=setup.replicates,
                                seed=setup.seed, floor=setup.floor(scale))
    except ValueError as exc:
        fit, note = None, str(exc)
    est = setup.reference_info.get("error_estimate")
    if est is not None:
        record["reference_error"] = est
        smallest = float(min(record["errors"]))
        record["reference_adequate"] = bool(est < smallest / 10.0)
        if not record["reference_adequate"]:
            note = (f"fine reference error {est:.3g} is not below 1/10 of the smallest measured "
                    f"error {smallest:.3g}")
    out = _finish(record, fit, setup.tolerance, note)
    if record.get("reference_adequate") is False:
        out["passed"] = False
    return out


def _weak_exact(setup: StudySetup, choice: SolverChoice, prediction: str) -> dict:
    """Weak study on a linear problem: exact moments by affine probes (no sampling noise)."""
    solver = choice.build()
    record = _base_record(setup, choice, prediction, solver)
    p = setup.problem
    m0 = setup.alpha_start * p.mean(setup.sigma_start)
    P0 = setup.alpha_start ** 2 * p.cov(setup.sigma_start)
    m_true = setup.alpha_end * p.mean(setup.sigma_end)
    P_true = setup.alpha_end ** 2 * p.cov(setup.sigma_end)
    S_true = P_true + np.outer(m_true, m_true)
    errors, mean_err, second_err = [], [], []
    try:
        for n in setup.steps:
            m, P = propagate_moments(solver, setup.model, setup.grids[n], m0, P0, schedule=setup.schedule,
                                     eta=setup.eta, prediction=prediction, dtype=setup.dtype,
                                     device=setup.device, seed=setup.seed)
            e_m = float(np.linalg.norm(m - m_true))
            e_s = float(np.linalg.norm(P + np.outer(m, m) - S_true))
            mean_err.append(e_m)
            second_err.append(e_s)
            errors.append(e_m + e_s)
    except NotAffineError as exc:
        record.update(errors=[], rms_errors=None)
        return _finish(record, None, setup.tolerance, f"exact weak propagation impossible: {exc}")
    record.update(errors=errors, mean_errors=mean_err, second_moment_errors=second_err,
                  reference="exact law N(alpha mu, alpha^2 (Sigma + sigma~^2 I))")
    note = None
    try:
        fit = S.regression_order(setup.step_sizes, errors,
                                 floor=setup.floor(float(np.linalg.norm(S_true))))
    except ValueError as exc:
        fit, note = None, str(exc)
    return _finish(record, fit, setup.tolerance, note)


def _weak_statistics(problem, x: torch.Tensor, sigma_end: float, alpha_end: float) -> np.ndarray:
    """Per-sample φ(x): x, the upper triangle of x xᵀ and the component responsibilities."""
    d = x.shape[-1]
    iu = torch.triu_indices(d, d)
    outer = (x[:, :, None] * x[:, None, :])[:, iu[0], iu[1]]
    parts = [x, outer]
    if hasattr(problem, "responsibilities"):
        parts.append(problem.responsibilities(x / alpha_end, sigma_end).to(torch.float64))
    return torch.cat(parts, dim=-1).cpu().numpy()


def _weak_monte_carlo(setup: StudySetup, choice: SolverChoice, prediction: str) -> dict:
    """Weak study on a nonlinear problem: same-path Monte Carlo against the fine reference."""
    solver = choice.build()
    record = _base_record(setup, choice, prediction, solver)
    ref = setup.reference()
    x0 = setup.start_points()
    phi_ref = _weak_statistics(setup.problem, ref, setup.sigma_end, setup.alpha_end)
    diffs = np.empty((setup.paths, len(setup.steps), phi_ref.shape[-1]))
    for i, n in enumerate(setup.steps):
        x = _solve(setup, solver, x0, n, prediction, setup.path())
        diffs[:, i] = _weak_statistics(setup.problem, x, setup.sigma_end, setup.alpha_end) - phi_ref
    stat = lambda means: np.abs(means).sum(axis=-1)  # noqa: E731
    errors = stat(diffs.mean(axis=0))
    record["errors"] = errors.tolist()
    # Exact moments of p_0 against the reference's sample moments: a check on the reference.
    d = setup.problem.dim
    m_true = setup.alpha_end * setup.problem.mean(setup.sigma_end)
    P_true = setup.alpha_end ** 2 * setup.problem.cov(setup.sigma_end)
    S_true = (P_true + np.outer(m_true, m_true))[np.triu_indices(d)]
    ref_dev = np.abs(phi_ref[:, :d].mean(0) - m_true).sum() + np.abs(phi_ref[:, d:d + S_true.size].mean(0) - S_true).sum()
    se = phi_ref[:, :d + S_true.size].std(0).sum() / math.sqrt(setup.paths)
    record["reference"] = setup.reference_info.get("kind")
    record["reference_moment_deviation"] = float(ref_dev)
    record["reference_moment_standard_error"] = float(se)
    note = None
    try:
        fit = S.bootstrap_order(setup.step_sizes, diffs, replicates=setup.replicates, seed=setup.seed,
                                statistic=stat)
    except ValueError as exc:
        fit, note = None, str(exc)
    return _finish(record, fit, setup.tolerance, note)


def run_regime(setup: StudySetup, choice: SolverChoice, prediction: str) -> dict:
    """One record (see the CLI's results.json) for one solver and prediction form."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
    t0 = time.perf_counter()
    if setup.regime == "weak":
        record = (_weak_exact if setup.linear else _weak_monte_carlo)(setup, choice, prediction)
    else:
        record = _pathwise(setup, choice, prediction)
    record["seconds"] = time.perf_counter() - t0
    return record


# --------------------------------------------------------------------------------------------
# Exactness on a point mass (MATH §8)
# --------------------------------------------------------------------------------------------


def exactness_check(choice: SolverChoice, *, schedule: str = "vp_linear", eta: float = 1.0,
                    steps: Sequence[int] = (3, 6, 12, 24), paths: int = 16, seed: int = 0,
                    tolerance: float = 1e-10, device: str = "cpu") -> dict:
    """Point mass, one Brownian path, data form: every step count must give the same x (MATH §8).

    Returns {"passed", "spread" (max over step counts and samples of ‖X_N − X_first‖/‖X_first‖),
    "exact_deviation" (the same against ``exact_solution``), "tolerance"}; float64 throughout.
    """
    setup = StudySetup("point_mass", schedule, "strong", eta, tuple(steps), paths, seed, device,
                       torch.float64, denominators=tuple(f.denominator for f in choice.fractions))
    solver = choice.build()
    x0 = setup.start_points()
    path = setup.path()
    ref = setup.reference()
    outs = [_solve(setup, solver, x0, n, "data", path) for n in setup.steps]
    first = outs[0]
    spread = max(float(((o - first).norm(dim=-1) / first.norm(dim=-1)).max()) for o in outs[1:])
    exact = max(float(((o - ref).norm(dim=-1) / ref.norm(dim=-1)).max()) for o in outs)
    return {"passed": bool(spread <= tolerance and exact <= tolerance), "spread": spread,
            "exact_deviation": exact, "tolerance": tolerance, "steps": list(setup.steps)}


def is_exponential(choice: SolverChoice) -> bool:
    """Whether the choice is a SEEDS scheme (exact on a point mass in the data form)."""
    return isinstance(choice.build(), ExponentialSolver)
