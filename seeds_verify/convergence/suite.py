"""The full verification study: every solver × prediction × η × problem × schedule × regime,
the mutation checks and the point-mass exactness checks (what ``python -m seeds_verify.convergence``
runs)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Sequence

import torch

from . import statistics as S
from .mutants import MUTANTS
from .studies import (DEFAULT_SOLVERS, REGIMES, StudySetup, SolverChoice, exactness_check,
                      is_exponential, parse_solver, run_regime)

__all__ = ["SuiteConfig", "run_suite", "single_thread", "DEFAULT_STEPS", "QUICK_STEPS"]

DEFAULT_STEPS = (4, 8, 16, 32, 64, 128, 256)
# The smoke ladder starts at 16 steps: below that the noise form is pre-asymptotic at η = 1
# (errors of 1e3–1e7 at 4–8 steps); five points keep the exact weak fits' intervals informative.
QUICK_STEPS = (16, 32, 64, 128, 256)


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


@dataclass
class SuiteConfig:
    """Everything a study run needs; the CLI fills it from its arguments."""

    solvers: Sequence[str] = DEFAULT_SOLVERS
    predictions: Sequence[str] = ("data", "noise")
    etas: Sequence[float] = (1.0,)
    problems: Sequence[str] = ("gaussian",)
    schedules: Sequence[str] = ("vp_linear", "edm")
    regimes: Sequence[str] = REGIMES
    steps: Sequence[int] = DEFAULT_STEPS
    paths: int = 1000
    seed: int = 0
    device: str = "cpu"
    dtype: torch.dtype = torch.float64
    tolerance: float = S.DEFAULT_TOLERANCE
    replicates: int = 1000
    mutations: bool = True
    choices: list = field(default_factory=list)

    def __post_init__(self):
        self.choices = [c if isinstance(c, SolverChoice) else parse_solver(c) for c in self.solvers]

    def denominators(self, extra: Sequence[SolverChoice] = ()) -> tuple[int, ...]:
        return tuple(f.denominator for c in list(self.choices) + list(extra) for f in c.fractions)


def _studies(config: SuiteConfig):
    """(problem, schedule, regime, η) combinations; η = 0 only once for the deterministic regime."""
    out = []
    for problem in config.problems:
        for schedule in config.schedules:
            for regime in config.regimes:
                etas = (0.0,) if regime == "deterministic" else tuple(config.etas)
                for eta in etas:
                    out.append((problem, schedule, regime, eta))
    return out


def run_suite(config: SuiteConfig, progress: bool = True) -> dict:
    """Run the study; returns {"records", "mutations", "exactness"} (plain JSON-able data)."""
    from tqdm.auto import tqdm

    mutant_choices = [parse_solver(f"mutant:{name}") for name in MUTANTS] if config.mutations else []
    denominators = config.denominators(mutant_choices)
    combos = _studies(config)
    exact_targets = [c for c in config.choices if c.mutant is None and is_exponential(c)]
    total = (len(combos) * len(config.choices) * len(config.predictions)
             + (len(mutant_choices) * (len(config.regimes) + 1)) + len(exact_targets))
    records, mutations, exactness = [], [], {}
    with single_thread(config.device), tqdm(total=total, disable=not progress, desc="studies",
                                            unit="study") as bar:
        for problem, schedule, regime, eta in combos:
            setup = StudySetup(problem, schedule, regime, eta, tuple(config.steps), config.paths,
                               config.seed, config.device, config.dtype, config.tolerance,
                               config.replicates, denominators)
            for choice in config.choices:
                for prediction in config.predictions:
                    bar.set_postfix_str(f"{regime} {schedule} {choice.label} {prediction}")
                    records.append(run_regime(setup, choice, prediction))
                    bar.update()
        if mutant_choices:
            mutations = _mutation_checks(config, mutant_choices, denominators, bar)
        for choice in exact_targets:
            bar.set_postfix_str(f"exactness {choice.label}")
            exactness[choice.label] = exactness_check(choice, schedule=config.schedules[0],
                                                      eta=_stochastic_eta(config), device=config.device)
            bar.update()
    return {"records": records, "mutations": mutations, "exactness": exactness}


def _stochastic_eta(config: SuiteConfig) -> float:
    positive = [e for e in config.etas if e > 0]
    return positive[0] if positive else 1.0


def _mutation_checks(config: SuiteConfig, mutants: Sequence[SolverChoice], denominators, bar) -> list:
    """Each mutant through every regime of the config (data form, the first schedule, the
    Gaussian problem) and the point-mass exactness check; ``caught`` when any of them fails."""
    schedule = config.schedules[0]
    eta = _stochastic_eta(config)
    setups = {regime: StudySetup("gaussian", schedule, regime, eta, tuple(config.steps), config.paths,
                                 config.seed, config.device, config.dtype, config.tolerance,
                                 config.replicates, denominators)
              for regime in config.regimes}
    out = []
    for choice in mutants:
        verdicts, details = {}, {}
        for regime, setup in setups.items():
            bar.set_postfix_str(f"mutant {choice.mutant} {regime}")
            rec = run_regime(setup, choice, "data")
            verdicts[regime] = "passed" if rec["passed"] else "failed"
            details[regime] = {k: rec.get(k) for k in ("measured_order", "ci_low", "ci_high",
                                                       "expected_order", "errors", "note")}
            bar.update()
        bar.set_postfix_str(f"mutant {choice.mutant} exactness")
        ex = exactness_check(choice, schedule=schedule, eta=eta, device=config.device)
        verdicts["exactness"] = "passed" if ex["passed"] else "failed"
        details["exactness"] = ex
        bar.update()
        out.append({"mutant": choice.mutant, "description": choice.description, "schedule": schedule,
                    "problem": "gaussian", "prediction": "data", "eta": eta, "regimes": verdicts,
                    "details": details, "caught": any(v == "failed" for v in verdicts.values())})
    return out
