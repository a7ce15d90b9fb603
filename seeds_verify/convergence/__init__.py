"""Convergence studies of diffusion samplers: strong, weak and deterministic orders (MATH §9).

* :func:`check_sampler` — the strong order of any k-diffusion-style sampler on a Gaussian problem.
* :mod:`.studies` — one solver through one regime (:class:`StudySetup`, :func:`run_regime`).
* :mod:`.suite` — the full study behind ``python -m seeds_verify.convergence``.
* :mod:`.statistics` — the order fit, its asymptotic-range rule and confidence intervals.
* :mod:`.moments` — exact mean/covariance propagation of any solver by affine probes.
* :mod:`.mutants` — deliberately broken solvers the studies must flag.
* :mod:`.plots` — log-log error plots.
"""

from .check import ConvergenceResult, check_sampler
from .statistics import DEFAULT_TOLERANCE, OrderFit, bootstrap_order, regression_order
from .studies import REGIMES, SolverChoice, StudySetup, exactness_check, parse_solver, run_regime
from .suite import SuiteConfig, run_suite

__all__ = [
    "check_sampler", "ConvergenceResult", "DEFAULT_TOLERANCE", "OrderFit", "bootstrap_order",
    "regression_order", "REGIMES", "SolverChoice", "StudySetup", "exactness_check", "parse_solver",
    "run_regime", "SuiteConfig", "run_suite",
]
