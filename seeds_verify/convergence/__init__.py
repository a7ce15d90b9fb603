"""Convergence studies of diffusion samplers: strong, weak and deterministic orders (MATH §9).

* :func:`verify_sampler` — every regime of any k-diffusion-style sampler, with verdicts.
* :func:`check_sampler` — the strong regime alone.
* :mod:`.subjects` — what is measured: the reference solvers and black-box samplers alike.
* :mod:`.studies` — the engine: one ladder (:func:`.studies.measure`) and the escalation that
  buys evidence (:func:`.studies.settle`).
* :mod:`.records` — :class:`RegimeResult` and :class:`VerificationResult`, the one result type.
* :mod:`.suite` — the full study behind ``python -m seeds_verify.convergence``.
* :mod:`.statistics` — the order fit, its asymptotic-range rule, intervals and the verdict rule.
* :mod:`.moments` — exact mean/covariance of any sampler by affine probes.
* :mod:`.mutants` — deliberately broken solvers the studies must flag.
* :mod:`.plots` — log-log error plots.
"""

from ..schemes import REGIMES
from .records import RegimeResult, VerificationResult
from .statistics import DEFAULT_TOLERANCE, OrderFit, bootstrap_order, regression_order
from .studies import Ladder, SetupCache, StudySetup, exactness_check, measure, settle
from .subjects import SolverChoice, Subject, parse_solver, sampler_subject, solver_subject
from .suite import SuiteConfig, run_suite
from .verify import check_sampler, verify_sampler, verify_subject

__all__ = [
    "verify_sampler", "check_sampler", "verify_subject", "RegimeResult", "VerificationResult",
    "DEFAULT_TOLERANCE", "OrderFit", "bootstrap_order", "regression_order", "REGIMES",
    "SolverChoice", "Subject", "parse_solver", "sampler_subject", "solver_subject", "Ladder",
    "SetupCache", "StudySetup", "exactness_check", "measure", "settle", "SuiteConfig", "run_suite",
]
