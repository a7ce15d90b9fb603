"""seeds_verify.testing: the assertion helpers for users' test suites (MATH §8, §9).

Convergence checks run on small ladders (steps 8…64, 100–200 paths) so that every verdict here
is conclusive; the expected numbers in failure messages come from an independent
``verify_sampler`` call with the same arguments (same code, same seed: the same result).
"""

import functools
import math
import os

import pytest
import torch
from scipy.stats import t

from seeds_verify import testing
from seeds_verify.convergence import RegimeResult, verify_sampler
from seeds_verify.convergence.verify import DEFAULT_PATHS
from seeds_verify.samplers import sample_seeds_1, sample_seeds_2, sample_seeds_3
from seeds_verify.testing import (assert_agrees_with_reference, assert_convergence_order,
                                  assert_exact_on_point_mass)

LADDER = (8, 16, 32, 64)


# --------------------------------------------------------------------------------------------
# Samplers written the way users write them (k-diffusion convention)
# --------------------------------------------------------------------------------------------


def sample_exp_euler(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Deterministic exponential Euler on the denoiser (DDIM): order 1."""
    ones = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        d = model(x, sigmas[i] * ones)
        ratio = sigmas[i + 1] / sigmas[i]
        x = ratio * x + (1 - ratio) * d
    return x


def sample_exp_em(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0,
                  noise_sampler=None):
    """Data-form exponential Euler–Maruyama (MATH §6, SEEDS-1) written from the formula:
    x_t = (σ_t/σ_s) e^{−ηh} x_s + (1 − e^{−(1+η)h}) D_s + σ_t sqrt(1 − e^{−2ηh}) z."""
    ones = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        s, t = sigmas[i], sigmas[i + 1]
        d = model(x, s * ones)
        h = torch.log(s / t)
        x = (t / s) * torch.exp(-eta * h) * x - torch.expm1(-(1 + eta) * h) * d
        if eta > 0:
            x = x + t * torch.sqrt(-torch.expm1(-2 * eta * h)) * noise_sampler(s, t)
    return x


def sample_exp_em_wrong_noise(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0,
                              noise_sampler=None):
    """As ``sample_exp_em`` with the η = 1 noise scale at every η (right only at η = 1)."""
    ones = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        s, t = sigmas[i], sigmas[i + 1]
        d = model(x, s * ones)
        h = torch.log(s / t)
        x = (t / s) * torch.exp(-eta * h) * x - torch.expm1(-(1 + eta) * h) * d
        if eta > 0:
            x = x + t * torch.sqrt(-torch.expm1(-2 * h)) * noise_sampler(s, t)
    return x


# --------------------------------------------------------------------------------------------
# assert_convergence_order
# --------------------------------------------------------------------------------------------


def _reference_result(sampler, regime, order, **kw) -> RegimeResult:
    """What assert_convergence_order measured: verify_sampler with the same arguments."""
    res = verify_sampler(sampler, regimes=(regime,), declared={regime: float(order)}, **kw)
    return res.regimes[regime]


def test_a_correct_sampler_passes_and_gets_its_result_back():
    r = assert_convergence_order(sample_seeds_2, regime="deterministic", order=2, steps=LADDER, paths=100)
    assert isinstance(r, RegimeResult)
    assert r.passed and r.regime == "deterministic" and r.declared == 2.0


def test_a_stochastic_sampler_passes_strong_order_one():
    r = assert_convergence_order(sample_seeds_2, regime="strong", order=1, eta=1.0, steps=LADDER, paths=100)
    assert r.passed and r.eta == 1.0 and r.paths >= 100


def test_a_user_deterministic_sampler_passes_its_order():
    r = assert_convergence_order(sample_exp_euler, regime="deterministic", order=1, steps=LADDER, paths=100)
    assert r.passed


def test_a_failure_states_order_interval_declared_verdict_reason_ladder_and_evidence():
    kw = dict(steps=LADDER, paths=100)
    with pytest.raises(AssertionError) as info:
        assert_convergence_order(sample_seeds_1, regime="deterministic", order=2, **kw)
    msg = str(info.value)
    r = _reference_result(sample_seeds_1, "deterministic", 2, **kw)
    assert r.verdict == "fail"
    assert "deterministic order 2 not shown (verdict: fail)" in msg
    assert f"measured order {r.measured_order:.3f}" in msg
    assert f"95% interval [{r.ci_low:.3f}, {r.ci_high:.3f}]" in msg
    assert "declared order 2 with tolerance 0.25" in msg and "at or above 1.75" in msg
    assert f"reason: {r.reason}" in msg
    assert f"{r.paths} paths" in msg
    assert "steps " + ", ".join(map(str, r.step_counts)) in msg
    rows = {}
    for line in msg.splitlines():  # ladder rows: [*] steps, h, error, [interval], local slope
        tokens = line.replace("*", " ").split()
        if tokens and tokens[0].isdigit():
            rows[int(tokens[0])] = tokens
    assert sorted(rows) == list(r.step_counts)
    for n, h, e in zip(r.step_counts, r.step_sizes, r.errors):
        assert rows[n][1] == f"{h:.4g}" and rows[n][2] == f"{e:.3e}"
    assert "to settle it" not in msg  # advice is for inconclusive verdicts only


def test_the_ladder_rows_show_local_slopes():
    with pytest.raises(AssertionError) as info:
        assert_convergence_order(sample_seeds_1, regime="deterministic", order=2, steps=LADDER, paths=100)
    r = _reference_result(sample_seeds_1, "deterministic", 2, steps=LADDER, paths=100)
    slope = math.log(r.errors[1] / r.errors[0]) / math.log(r.step_sizes[1] / r.step_sizes[0])
    assert f"{slope:.2f}" in str(info.value)


def test_a_weak_failure_on_exact_moments_says_so():
    with pytest.raises(AssertionError) as info:
        assert_convergence_order(sample_seeds_1, regime="weak", order=2, eta=1.0, steps=LADDER, paths=100)
    msg = str(info.value)
    assert "exact moments (no Monte Carlo paths)" in msg and "verdict: fail" in msg


def test_inconclusive_fails_with_the_paths_that_would_likely_settle_a_sampling_limited_interval():
    # 8 paths of seed 1: an interval that straddles 0.75 and whose width is the sampling noise
    # (asserted, so a change of the random streams that loses the premise fails here).
    kw = dict(eta=1.0, steps=LADDER, paths=8, max_paths=8, max_steps=64, seed=1)
    r = _reference_result(sample_seeds_2, "strong", 1.0, **kw)
    assert r.verdict == "inconclusive" and r.details["limited_by"] == "sampling"
    with pytest.raises(AssertionError) as info:
        assert_convergence_order(sample_seeds_2, regime="strong", order=1.0, **kw)
    msg = str(info.value)
    threshold = 1.0 - 0.25
    est = r.measured_order
    half, margin = (est - r.ci_low, est - threshold) if est >= threshold else (r.ci_high - est, threshold - est)
    # The half-width over n paths goes as t_{n-1}/sqrt(n) (expanded bootstrap tails): the fewest n.
    width = lambda n: half * t.ppf(0.975, n - 1) / t.ppf(0.975, 7) * math.sqrt(8 / n)  # noqa: E731
    need = next(n for n in range(8, 10 ** 6) if width(n) <= margin)
    assert need < math.ceil(8 * (half / margin) ** 2)  # fewer than 1/sqrt(n) alone would say
    assert "verdict: inconclusive" in msg
    assert f"about {need} paths would likely settle it" in msg


def test_inconclusive_limited_by_curvature_asks_for_finer_steps():
    # Exact weak moments have no sampling noise: only the bend of the ladder widens the interval.
    kw = dict(eta=1.0, steps=LADDER, max_steps=64)
    r = _reference_result(sample_seeds_2, "weak", 2.0, **kw)
    assert r.verdict == "inconclusive" and r.details["limited_by"] == "curvature"
    with pytest.raises(AssertionError) as info:
        assert_convergence_order(sample_seeds_2, regime="weak", order=2.0, **kw)
    msg = str(info.value)
    assert "finer steps are needed" in msg and "max_steps=256" in msg


def _synthetic(**fields) -> RegimeResult:
    base = dict(sampler="s", regime="strong", problem="gaussian", schedule="vp_linear", eta=1.0,
                verdict="inconclusive", declared=1.0, measured_order=0.9, ci_low=0.6, ci_high=1.2,
                step_counts=(8, 16, 32), step_sizes=(1.0, 0.5, 0.25), errors=(0.4, 0.2, 0.1), paths=100,
                details={"limited_by": "sampling"})
    base.update(fields)
    return RegimeResult(**base)


def test_the_paths_estimate_scales_the_half_width_as_t_over_root_paths():
    # est 0.9, threshold 0.75: half-width 0.3 towards it at 100 paths, margin 0.15. With 1/sqrt(n)
    # alone 100 × (0.3/0.15)² = 400 paths; the t-quantile of the expanded tails falls from
    # t_99 = 1.984 to t_392 = 1.966 on the way, so 393 paths suffice.
    width = lambda n: 0.3 * t.ppf(0.975, n - 1) / t.ppf(0.975, 99) * math.sqrt(100 / n)  # noqa: E731
    assert width(393) <= 0.15 < width(392)
    advice = testing._settle_advice(_synthetic(), 1.0, 0.25)
    assert "about 393 paths" in advice
    # Below the threshold the upper half-width counts: est 0.6, hi 0.9, margin 0.15 → 393 again.
    advice = testing._settle_advice(_synthetic(measured_order=0.6, ci_low=0.3, ci_high=0.9), 1.0, 0.25)
    assert "about 393 paths" in advice
    # On the threshold no number of paths decides.
    advice = testing._settle_advice(_synthetic(measured_order=0.75), 1.0, 0.25)
    assert "no number of paths" in advice
    # Without a fit there is no interval to narrow.
    advice = testing._settle_advice(_synthetic(measured_order=None, ci_low=None, ci_high=None), 1.0, 0.25)
    assert "no order could be fitted" in advice


def test_a_regime_that_does_not_apply_fails_with_the_reason():
    with pytest.raises(AssertionError, match="strong regime does not apply.*no noise_sampler"):
        assert_convergence_order(sample_exp_euler, regime="strong", order=1, steps=LADDER, paths=100)
    with pytest.raises(AssertionError, match="weak regime does not apply.*eta = 0"):
        assert_convergence_order(sample_seeds_2, regime="weak", order=1, eta=0.0, steps=LADDER, paths=100)


def test_bad_arguments_are_value_errors_not_assertion_errors():
    with pytest.raises(ValueError, match="order"):
        assert_convergence_order(sample_seeds_2, regime="strong", order=0, eta=1.0)
    with pytest.raises(ValueError, match="regime"):
        assert_convergence_order(sample_seeds_2, regime="pathwise", order=1, eta=1.0, steps=LADDER, paths=10)


def test_paths_scale_sets_the_paths_of_checks_without_paths(monkeypatch):
    monkeypatch.setattr(testing, "PATHS_SCALE", 150 / DEFAULT_PATHS)
    r = assert_convergence_order(sample_seeds_2, regime="deterministic", order=2, steps=LADDER)
    assert r.rounds[0]["paths"] == 150
    # An explicit paths= is kept as given.
    r = assert_convergence_order(sample_seeds_2, regime="deterministic", order=2, steps=LADDER, paths=120)
    assert r.rounds[0]["paths"] == 120
    # max_paths below the scaled paths is raised to them rather than rejected.
    r = assert_convergence_order(sample_seeds_2, regime="deterministic", order=2, steps=LADDER, max_paths=100)
    assert r.rounds[0]["paths"] == 150


def test_a_bad_paths_scale_is_named(monkeypatch):
    monkeypatch.setattr(testing, "PATHS_SCALE", -1.0)
    with pytest.raises(ValueError, match="PATHS_SCALE"):
        assert_convergence_order(sample_seeds_2, regime="deterministic", order=2, steps=LADDER)


def test_the_plot_folder_receives_the_plot_and_the_message_names_it(monkeypatch, tmp_path):
    monkeypatch.setattr(testing, "PLOT_DIR", str(tmp_path))
    with pytest.raises(AssertionError) as info:
        assert_convergence_order(sample_seeds_1, regime="deterministic", order=2, steps=LADDER, paths=100)
    lines = [ln for ln in str(info.value).splitlines() if "convergence plot:" in ln]
    assert len(lines) == 1
    path = lines[0].split("convergence plot:", 1)[1].strip()
    assert os.path.isfile(path) and path.startswith(str(tmp_path))
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    rel = os.path.relpath(path, tmp_path).split(os.sep)
    # <test>/<sampler>/<regime>_<problem>_<schedule>.png, the test named by pytest
    assert rel[0].startswith("test_testing.py_test_the_plot_folder")
    assert "sample_seeds_1" in rel[1]
    assert rel[2] == "deterministic_gaussian_vp_linear.png"


def test_without_a_plot_folder_nothing_is_written(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(testing, "PLOT_DIR", None)
    with pytest.raises(AssertionError) as info:
        assert_convergence_order(sample_seeds_1, regime="deterministic", order=2, steps=LADDER, paths=100)
    assert "convergence plot" not in str(info.value)
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------
# assert_exact_on_point_mass
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", [sample_seeds_1, sample_seeds_2, sample_seeds_3,
                                     functools.partial(sample_seeds_3, solver_type="3b"),
                                     functools.partial(sample_seeds_2, r=1 / 3, solver_type="phi_2")],
                         ids=["seeds1", "seeds2", "seeds3", "seeds3b", "seeds2_r13_phi2"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_the_seeds_samplers_are_exact_on_a_point_mass(sampler, eta):
    assert_exact_on_point_mass(sampler, eta=eta)


def sample_exp_em_always_noise(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0,
                               noise_sampler=None):
    """As ``sample_exp_em``, calling ``noise_sampler`` at every η (its draw times 0 at η = 0)."""
    ones = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        s, t = sigmas[i], sigmas[i + 1]
        h = torch.log(s / t)
        x = (t / s) * torch.exp(-eta * h) * x - torch.expm1(-(1 + eta) * h) * model(x, s * ones)
        x = x + t * torch.sqrt(-torch.expm1(-2 * eta * h)) * noise_sampler(s, t)
    return x


def test_at_eta_zero_a_stochastic_sampler_still_gets_a_noise_sampler():
    assert_exact_on_point_mass(sample_exp_em_always_noise, eta=0.0)
    assert_agrees_with_reference(sample_exp_em_always_noise, "seeds1", eta=0.0)


def test_a_user_sampler_from_the_formula_is_exact_and_a_deterministic_one_too():
    assert_exact_on_point_mass(sample_exp_em, eta=0.7)
    assert_exact_on_point_mass(sample_exp_euler)  # no noise_sampler: eta 0, no noise keywords


@pytest.mark.parametrize("schedule", ["vp_cosine", "ve", "edm", "rectified_flow"])
def test_exactness_holds_on_every_schedule(schedule):
    assert_exact_on_point_mass(sample_seeds_2, eta=1.0, schedule=schedule, steps=(2, 4, 8))


def test_a_wrong_noise_scale_is_not_exact_and_the_message_has_the_spread_per_step_count():
    with pytest.raises(AssertionError) as info:
        assert_exact_on_point_mass(sample_exp_em_wrong_noise, eta=0.5, steps=(3, 6, 12))
    msg = str(info.value)
    assert "not exact on a point mass" in msg and "rtol=1e-10" in msg
    rows = [ln.split() for ln in msg.splitlines() if ln.strip()[:1].isdigit()]
    assert [int(r[0]) for r in rows] == [3, 6, 12]
    assert float(rows[0][1]) == 0.0  # the first step count against itself
    assert all(float(r[2]) > 1e-6 for r in rows)  # every count is off the exact solution


def test_a_nan_output_is_not_exact():
    def sample_nan(model, x, sigmas, extra_args=None, callback=None, disable=None):
        return sample_exp_euler(model, x, sigmas) * (math.nan if len(sigmas) > 7 else 1.0)

    with pytest.raises(AssertionError, match="up to inf"):
        assert_exact_on_point_mass(sample_nan)
    with pytest.raises(AssertionError, match="largest relative difference inf"):
        assert_agrees_with_reference(sample_nan, "seeds1")


def test_the_noise_form_is_not_exact_on_a_point_mass():
    # MATH §8 is a data-form property: noise prediction is not exact on a point mass.
    with pytest.raises(AssertionError, match="not exact"):
        assert_exact_on_point_mass(sample_seeds_2, eta=1.0, sampler_kwargs={"prediction": "noise"})


def test_exactness_arguments_are_checked():
    with pytest.raises(ValueError, match="steps"):
        assert_exact_on_point_mass(sample_seeds_2, eta=1.0, steps=(3, 6))
    with pytest.raises(ValueError, match="eta"):
        assert_exact_on_point_mass(sample_exp_euler, eta=1.0)
    with pytest.raises(ValueError, match="sampler_kwargs"):
        assert_exact_on_point_mass(sample_seeds_2, eta=1.0, sampler_kwargs={"noise_sampler": None})


# --------------------------------------------------------------------------------------------
# assert_agrees_with_reference
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eta", [0.3, 1.0])
def test_a_user_seeds1_from_the_formula_agrees_with_the_reference(eta):
    assert_agrees_with_reference(sample_exp_em, "seeds1", eta=eta)


def test_a_deterministic_sampler_is_compared_at_eta_zero():
    assert_agrees_with_reference(sample_exp_euler, "seeds1")


def test_reference_keywords_select_the_variant():
    mine = functools.partial(sample_seeds_2, r=1 / 3, solver_type="phi_2")
    assert_agrees_with_reference(mine, "seeds2", r=1 / 3, solver_type="phi_2")
    assert_agrees_with_reference(functools.partial(sample_seeds_3, solver_type="3b"), "seeds3",
                                 solver_type="3b", eta=0.5, steps=6)


def test_a_disagreement_names_the_largest_relative_difference_and_where():
    with pytest.raises(AssertionError) as info:
        assert_agrees_with_reference(sample_seeds_2, "seeds2", r=1 / 3)
    msg = str(info.value)
    assert "does not agree with the reference seeds2(r=0.3333333333333333)" in msg
    assert "largest relative difference" in msg and "at sample" in msg and "component" in msg
    # The reported values are the two samplers' outputs at that place.
    line = next(ln for ln in msg.splitlines() if "at sample" in ln)
    got = float(line.split("got ")[1].split(",")[0])
    ref = float(line.split("reference ")[1])
    assert got != ref


def test_a_wrong_noise_scale_disagrees_below_eta_one_only():
    assert_agrees_with_reference(sample_exp_em_wrong_noise, "seeds1", eta=1.0)
    with pytest.raises(AssertionError, match="largest relative difference"):
        assert_agrees_with_reference(sample_exp_em_wrong_noise, "seeds1", eta=0.5)


def test_reference_arguments_are_checked():
    with pytest.raises(ValueError, match="reference"):
        assert_agrees_with_reference(sample_seeds_2, "dpmpp")
    with pytest.raises(ValueError, match="eta"):
        assert_agrees_with_reference(sample_exp_euler, "seeds1", eta=1.0)
    with pytest.raises(ValueError, match="steps"):
        assert_agrees_with_reference(sample_seeds_2, steps=0)


def test_importing_the_module_is_cheap():
    import subprocess
    import sys

    code = "import sys, seeds_verify.testing; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
