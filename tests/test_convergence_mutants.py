"""The engine must flag every mutant of seeds_verify.convergence.mutants and pass every correct
scheme: strong, weak (exact moments) and deterministic studies on the Gaussian problem (data form,
VP-linear, η = 1, ladder 16…128 with escalation, 200 paths) plus the point-mass exactness check
(MATH §7, §8) — once as reference solvers, once as black-box samplers in the k-diffusion
convention (functools.partial(run_karras_sampler, mutant))."""

import functools

import numpy as np
import pytest

from seeds_verify.convergence import (
    REGIMES, SetupCache, exactness_check, parse_solver, solver_subject, verify_sampler, verify_subject,
)
from seeds_verify.convergence.mutants import MUTANTS, make_mutant
from seeds_verify.convergence.suite import single_thread
from seeds_verify.convergence.verify import make_ladder
from seeds_verify.samplers import run_karras_sampler

STEPS = (16, 32, 64, 128)
PATHS = 200
LADDER = make_ladder(STEPS, PATHS, None, None)
# One cache for the module: subjects share start points, Brownian paths and references.
_SETUPS = SetupCache(seed=0, denominators=(2, 3))
_RESULTS = {}


def internal(solver: str):
    """Verdicts (and results) of a reference solver or mutant, data form, η = 1."""
    if solver not in _RESULTS:
        choice = parse_solver(solver)
        with single_thread("cpu"):
            result = verify_subject(solver_subject(choice, "data", 1.0), regimes=REGIMES, problem="gaussian",
                                    schedule="vp_linear", ladder=LADDER, setups=_SETUPS)
            exact = exactness_check(choice)
        verdicts = {regime: r.verdict for regime, r in result.regimes.items()}
        verdicts["exactness"] = "pass" if exact["passed"] else "fail"
        _RESULTS[solver] = (verdicts, result)
    return _RESULTS[solver]


# Which regimes catch which defect (measured; the CLI prints the same table):
# noise defects are invisible at η = 0 and the missing e^{−ηh} vanishes there too; an O(1)
# stage correction is consistent on a point mass (D_u − D_s = 0) but nowhere else.
CAUGHT_BY = {
    "swapped_noise": {"strong", "weak", "exactness"},
    "independent_end_noise": {"strong", "weak", "exactness"},
    "stage_correction_over_h": {"strong", "weak", "deterministic"},
    "missing_eta_decay": {"strong", "weak", "exactness"},
    "frozen_update": {"strong", "weak", "deterministic", "exactness"},
}


def test_the_table_names_every_mutant():
    assert set(CAUGHT_BY) == set(MUTANTS)


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_mutant_is_caught(name):
    verdicts, _ = internal(f"mutant:{name}")
    failed = {regime for regime, v in verdicts.items() if v == "fail"}
    assert failed, f"{name} was not caught: {verdicts}"
    assert failed == CAUGHT_BY[name], verdicts
    # Where the defect is invisible the correct scheme's claim holds: a pass, not a shrug.
    assert all(v in ("pass", "pass (>)") for regime, v in verdicts.items() if regime not in failed), verdicts


@pytest.mark.parametrize("solver", ["seeds1", "seeds2", "seeds2:r=1/3", "seeds2:phi_2"])
def test_every_correct_base_scheme_passes(solver):
    """The schemes the mutants are built from pass every regime and the exactness check."""
    verdicts, _ = internal(solver)
    assert all(v in ("pass", "pass (>)") for v in verdicts.values()), verdicts


@pytest.mark.parametrize("solver", ["seeds1", "seeds2", "seeds2:r=1/3", "seeds2:phi_2", "seeds2:r=1/3:phi_2",
                                    "seeds3", "seeds3:3b"])
def test_point_mass_is_exact_for_any_step_count(solver):
    """One Brownian path, 3, 6, 12, 24 steps: the same x to ≤ 1e-10 relative (float64, MATH §8)."""
    ex = exactness_check(parse_solver(solver), steps=(3, 6, 12, 24))
    assert ex["passed"] and ex["spread"] <= 1e-10 and ex["exact_deviation"] <= 1e-10, ex


def test_swapped_mutant_breaks_point_mass_exactness():
    ex = exactness_check(parse_solver("mutant:swapped_noise"), steps=(3, 6, 12, 24))
    assert not ex["passed"] and ex["spread"] > 1e-3, ex


# --------------------------------------------------------------------------------------------
# The same mutants as black boxes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_mutant_is_caught_through_the_black_box_path(name):
    """A mutant handed over as a k-diffusion sampler, held to the orders of the scheme it breaks
    (the mutant keeps its scheme's declarations), must fail in at least one regime — the regimes
    the reference-solver study catches it in, less the exactness check the black box has no
    counterpart for."""
    solver = make_mutant(name)
    declared = {regime: solver.expected_order(regime, 1.0) for regime in REGIMES}
    sampler = functools.partial(run_karras_sampler, make_mutant(name))
    with single_thread("cpu"):
        result = verify_sampler(sampler, declared=declared, problem="gaussian", schedule="vp_linear",
                                steps=STEPS, paths=PATHS)
    assert not result.not_applicable
    verdicts = {regime: r.verdict for regime, r in result.regimes.items()}
    failed = {regime for regime, v in verdicts.items() if v == "fail"}
    assert failed, f"{name} was not caught through the black box: {result}"
    assert failed == CAUGHT_BY[name] - {"exactness"}, result
    assert result.verdict == "fail"

    # The black box runs the same λ-grids, start points and Brownian paths in α = 1 coordinates;
    # an exponential scheme is invariant under that change, so where the mutant reads only the
    # study's path the errors are those of the reference-solver study up to rounding (the frozen
    # update freezes a different quantity in each coordinate system; the independent noise
    # draws numbers of its own).
    _, ref = internal(f"mutant:{name}")
    if name in ("frozen_update", "independent_end_noise"):
        return
    for regime, r in result.regimes.items():
        other = ref.regimes[regime]
        assert r.step_counts == other.step_counts and r.paths == other.paths, regime
        rel = np.abs(np.subtract(r.errors, other.errors)) / np.abs(other.errors)
        assert rel.max() <= 1e-9, (regime, r.errors, other.errors)


def test_an_independent_noise_mutant_is_reported_as_not_path_consistent():
    sampler = functools.partial(run_karras_sampler, make_mutant("independent_end_noise"))
    result = verify_sampler(sampler, regimes=("strong", "weak"), declared={"strong": 1, "weak": 2},
                            steps=(8, 16, 32), paths=20)
    for regime in ("strong", "weak"):
        r = result.regimes[regime]
        assert r.verdict == "fail" and r.reason.startswith("not path-consistent"), r.summary()
        assert r.measured_order is None
