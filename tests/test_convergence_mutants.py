"""The engine must flag every mutant of seeds_verify.convergence.mutants and pass every correct
scheme: strong, weak (exact moments) and deterministic studies on the Gaussian problem (data form,
VP-linear, η = 1, ladder 32…256, 200 paths) plus the point-mass exactness check (MATH §7, §8)."""

import pytest

from seeds_verify.convergence.mutants import MUTANTS
from seeds_verify.convergence.studies import StudySetup, exactness_check, parse_solver, run_regime
from seeds_verify.convergence.suite import single_thread

STEPS = (32, 64, 128, 256)
REGIMES = ("strong", "weak", "deterministic")
_SETUPS = {}


def verdicts(solver: str) -> dict:
    choice = parse_solver(solver)
    out = {}
    with single_thread("cpu"):
        for regime in REGIMES:
            if regime not in _SETUPS:
                _SETUPS[regime] = StudySetup("gaussian", "vp_linear", regime, 1.0, STEPS, 200,
                                             denominators=(2, 3), with_predictions=False)
            out[regime] = run_regime(_SETUPS[regime], choice, "data")["passed"]
        out["exactness"] = exactness_check(choice)["passed"]
    return out


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


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_mutant_is_caught(name):
    result = verdicts(f"mutant:{name}")
    failed = {regime for regime, ok in result.items() if not ok}
    assert failed, f"{name} was not caught: {result}"
    assert failed == CAUGHT_BY[name], result


@pytest.mark.parametrize("solver", ["seeds1", "seeds2", "seeds2:r=1/3", "seeds2:phi_2"])
def test_every_correct_base_scheme_passes(solver):
    """The schemes the mutants are built from pass every regime and the exactness check."""
    assert all(verdicts(solver).values())


@pytest.mark.parametrize("solver", ["seeds1", "seeds2", "seeds2:r=1/3", "seeds2:phi_2", "seeds2:r=1/3:phi_2",
                                    "seeds3", "seeds3:3b"])
def test_point_mass_is_exact_for_any_step_count(solver):
    """One Brownian path, 3, 6, 12, 24 steps: the same x to ≤ 1e-10 relative (float64, MATH §8)."""
    ex = exactness_check(parse_solver(solver), steps=(3, 6, 12, 24))
    assert ex["passed"] and ex["spread"] <= 1e-10 and ex["exact_deviation"] <= 1e-10, ex


def test_swapped_mutant_breaks_point_mass_exactness():
    ex = exactness_check(parse_solver("mutant:swapped_noise"), steps=(3, 6, 12, 24))
    assert not ex["passed"] and ex["spread"] > 1e-3, ex
