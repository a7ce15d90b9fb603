"""The full verification study: every reference solver × prediction × η × problem × schedule ×
regime through the same engine as any third-party sampler (:func:`.verify.verify_subject`), the
mutation checks and the point-mass exactness checks (``python -m seeds_verify.convergence``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from ..coefficients import FORMS
from ..schemes import REGIMES
from . import statistics as S
from .mutants import MUTANTS
from .records import RegimeResult
from .shards import (check_path_block, check_scheduler, check_shards, check_variance_reduction,
                     check_workers, open_runner)
from .studies import SetupCache, exactness_check, single_thread
from .subjects import DEFAULT_SOLVERS, SolverChoice, Subject, parse_solver, solver_subject
from .verify import DEFAULT_PATHS, DEFAULT_STEPS, ESCALATION, QUICK_STEPS, make_ladder, verify_subject

__all__ = ["SuiteConfig", "run_suite", "single_thread", "DEFAULT_STEPS", "QUICK_STEPS", "EXACTNESS_PROBLEM"]

EXACTNESS_PROBLEM = "point_mass"


@dataclass
class SuiteConfig:
    """Everything a study run needs; the CLI fills it from its arguments.

    ``subjects`` adds samplers other than the reference solvers (e.g. from ``--sampler``); with
    ``solvers`` empty only those are studied.
    """

    solvers: Sequence = DEFAULT_SOLVERS
    predictions: Sequence[str] = FORMS
    etas: Sequence[float] = (1.0,)
    problems: Sequence[str] = ("gaussian",)
    schedules: Sequence[str] = ("vp_linear", "edm")
    regimes: Sequence[str] = REGIMES
    steps: Sequence[int] = DEFAULT_STEPS
    paths: int = DEFAULT_PATHS
    max_paths: int | None = None
    max_steps: int | None = None
    seed: int = 0
    device: str = "cpu"
    dtype: torch.dtype = torch.float64
    tolerance: float = S.DEFAULT_TOLERANCE
    replicates: int = 1000
    mutations: bool = True
    subjects: Sequence[Subject] = ()
    choices: list = field(default_factory=list)
    workers: int | None = None
    scheduler: str | None = None
    shards: int | None = None
    variance_reduction: str | None = None
    path_block: int | None = None

    def __post_init__(self):
        self.choices = [c if isinstance(c, SolverChoice) else parse_solver(c) for c in self.solvers]
        self.workers, self.scheduler = check_workers(self.workers), check_scheduler(self.scheduler)
        if self.workers is not None and self.scheduler is not None:
            raise ValueError("give workers (an embedded cluster) or scheduler (an existing one), not both")
        self.shards = check_shards(self.shards)
        self.variance_reduction = check_variance_reduction(self.variance_reduction)
        self.path_block = check_path_block(self.path_block)
        self.ladder = make_ladder(tuple(self.steps), self.paths, self.max_paths, self.max_steps)

    def denominators(self, extra: Sequence[SolverChoice] = ()) -> tuple[int, ...]:
        dens = {f.denominator for c in list(self.choices) + list(extra) for f in c.fractions}
        for s in self.subjects:
            dens.update(s.denominators)
        return tuple(sorted(dens)) or (1,)


def _stochastic_eta(config: SuiteConfig) -> float:
    positive = [e for e in config.etas if e > 0]
    return positive[0] if positive else 1.0


def run_suite(config: SuiteConfig, progress: bool = True) -> dict:
    """Run the study; returns {"records": [RegimeResult, ...], "mutations", "exactness"}.

    Monte Carlo studies (weak on a mixture, strong, deterministic) run their shards on the Dask
    cluster the config names
    (``workers``: an embedded one; ``scheduler``: an existing one), else in this process."""

    with open_runner(config.workers, config.scheduler, shards=config.shards, progress=progress,
                     device=config.device) as runner:
        return _run_suite(config, progress, runner)


def _run_suite(config: SuiteConfig, progress: bool, runner) -> dict:
    from tqdm.auto import tqdm

    mutant_choices = [parse_solver(f"mutant:{name}") for name in MUTANTS] if config.mutations else []
    setups = SetupCache(seed=config.seed, device=config.device, dtype=config.dtype,
                        denominators=config.denominators(mutant_choices), runner=runner,
                        variance_reduction=config.variance_reduction, path_block=config.path_block)
    # (subject, regimes): strong and weak once per η > 0, deterministic (η = 0) once per subject.
    positive = [e for e in config.etas if e > 0] or [None]
    work = []
    for choice in config.choices:
        for prediction in config.predictions:
            for i, eta in enumerate(positive):
                regimes = tuple(r for r in config.regimes
                                if (r == "deterministic" and i == 0) or (r != "deterministic" and eta))
                work.append((solver_subject(choice, prediction, eta or 1.0), regimes))
    for subject in config.subjects:
        work.append((subject, tuple(config.regimes)))
    exact_targets = [c for c in config.choices if c.mutant is None and c.scheme and c.scheme.startswith("seeds")]
    # The point mass is an exactness check (MATH §8): every exponential scheme solves it exactly,
    # so its errors lie at the rounding floor and carry no order. It is checked on every schedule.
    combos = [(p, s) for p in config.problems if p != EXACTNESS_PROBLEM for s in config.schedules]
    exact_schedules = (tuple(config.schedules) if EXACTNESS_PROBLEM in config.problems
                       else tuple(config.schedules[:1]))
    total = (sum(len(r) for _, r in work) * len(combos)
             + len(mutant_choices) * (len(config.regimes) + 1) + len(exact_targets) * len(exact_schedules))
    records: list[RegimeResult] = []
    mutations, exactness, not_applicable = [], {}, []
    with single_thread(config.device), tqdm(total=total, disable=not progress, desc="studies",
                                            unit="study") as bar:
        for problem, schedule in combos:
            for subject, regimes in work:
                bar.set_postfix_str(f"{schedule} {subject.label} {subject.prediction or ''}")
                result = verify_subject(subject, regimes=regimes, problem=problem, schedule=schedule,
                                        ladder=config.ladder, setups=setups, tolerance=config.tolerance,
                                        replicates=config.replicates, on_regime=lambda r: bar.update())
                records.extend(result.regimes.values())
                not_applicable.extend((f"{subject.label} {regime}", why)
                                      for regime, why in result.not_applicable.items())
                bar.update(len(result.not_applicable))
        if mutant_choices:
            mutations = _mutation_checks(config, mutant_choices, setups, bar)
        for schedule in exact_schedules:
            for choice in exact_targets:
                bar.set_postfix_str(f"exactness {choice.label} {schedule}")
                key = choice.label if len(exact_schedules) == 1 else f"{choice.label} ({schedule})"
                exactness[key] = exactness_check(choice, schedule=schedule, eta=_stochastic_eta(config),
                                                 device=config.device)
                bar.update()
    return {"records": records, "mutations": mutations, "exactness": exactness,
            "not_applicable": not_applicable}


def _mutation_checks(config: SuiteConfig, mutants: Sequence[SolverChoice], setups: SetupCache, bar) -> list:
    """Each mutant through every regime of the config (data form, the first schedule, the
    Gaussian problem) and the point-mass exactness check; ``caught`` when any of them fails."""
    schedule = config.schedules[0]
    eta = _stochastic_eta(config)
    out = []
    for choice in mutants:
        subject = solver_subject(choice, "data", eta)
        bar.set_postfix_str(f"mutant {choice.mutant}")
        result = verify_subject(subject, regimes=config.regimes, problem="gaussian", schedule=schedule,
                                ladder=config.ladder, setups=setups, tolerance=config.tolerance,
                                replicates=config.replicates, on_regime=lambda r: bar.update())
        verdicts = {regime: r.verdict for regime, r in result.regimes.items()}
        details = {regime: {k: getattr(r, k) for k in ("measured_order", "ci_low", "ci_high", "declared",
                                                        "errors", "step_counts", "reason")}
                   for regime, r in result.regimes.items()}
        bar.set_postfix_str(f"mutant {choice.mutant} exactness")
        ex = exactness_check(choice, schedule=schedule, eta=eta, device=config.device)
        verdicts["exactness"] = S.PASS if ex["passed"] else S.FAIL
        details["exactness"] = ex
        bar.update()
        out.append({"mutant": choice.mutant, "description": choice.description, "schedule": schedule,
                    "problem": "gaussian", "prediction": "data", "eta": eta, "regimes": verdicts,
                    "details": details, "caught": any(v == S.FAIL for v in verdicts.values())})
    return out
