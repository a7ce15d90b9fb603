"""The order fit, its asymptotic-range rule and its intervals (seeds_verify.convergence.statistics)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seeds_verify.convergence import statistics as S

H = np.array([2.0 ** -k for k in range(2, 9)])


@settings(deadline=None, max_examples=25)
@given(p=st.floats(0.5, 4.0), c=st.floats(0.01, 100.0))
def test_power_law_is_recovered_exactly(p, c):
    errors = c * H ** p
    fit = S.regression_order(H, errors)
    assert fit.order == pytest.approx(p, abs=1e-9)
    assert fit.constant == pytest.approx(c, rel=1e-8)
    assert fit.ci_high - fit.ci_low < 1e-6
    assert fit.fit_range == (0, H.size - 1)


def test_pre_asymptotic_points_and_rounding_floor_are_left_out():
    errors = H ** 2
    errors[:2] *= 50.0  # a bend at the coarse end
    errors[-1] = 1e-18  # at the rounding floor
    first, last = S.fit_range(H, errors, floor=1e-15)
    assert last == H.size - 2
    assert first == 2


def test_fit_range_needs_two_points():
    with pytest.raises(ValueError):
        S.fit_range(H[:3], [1.0, 0.0, 0.0])


def test_bootstrap_interval_covers_the_true_slope():
    """Errors h·|N(0,1)|·(1 + noise): the 95 % interval must contain 1 (fixed seed)."""
    rng = np.random.default_rng(3)
    per_sample = np.abs(rng.standard_normal((400, 1))) * H[None, :] * (1 + 0.1 * rng.standard_normal((400, H.size)))
    fit = S.bootstrap_order(H, per_sample, replicates=400, seed=1)
    assert fit.ci_low < 1.0 < fit.ci_high
    assert fit.ci_high - fit.ci_low < 0.1
    assert all(lo <= e <= hi for lo, e, hi in zip(fit.errors_ci_low, per_sample.mean(0), fit.errors_ci_high))


def test_bootstrap_is_reproducible():
    rng = np.random.default_rng(0)
    data = np.abs(rng.standard_normal((50, H.size))) * H
    a = S.bootstrap_order(H, data, replicates=100, seed=5)
    b = S.bootstrap_order(H, data, replicates=100, seed=5)
    assert a == b


def test_consistency_is_a_lower_bound_check():
    fit = S.OrderFit(0.9, 1.0, 0.85, 0.95, (0, 3), "bootstrap", (), ())
    assert S.order_consistent(fit, 1.0, 0.25)
    assert not S.order_consistent(fit, 2.0, 0.25)
    fast = S.OrderFit(2.0, 1.0, 1.9, 2.1, (0, 3), "bootstrap", (), ())
    assert S.order_consistent(fast, 1.0) and S.order_above(fast, 1.0)
    assert not S.order_consistent(S.OrderFit(0, 1, math.nan, math.nan, (0, 1), "x", (), ()), 0.0)


@pytest.mark.parametrize("bad", [dict(step_sizes=[1.0]), dict(step_sizes=[0.5, 1.0, 2.0])])
def test_bad_ladders_are_rejected(bad):
    with pytest.raises(ValueError):
        S.regression_order(bad["step_sizes"], np.ones(len(bad["step_sizes"])))



def test_an_uninformative_interval_does_not_pass():
    """A pre-asymptotic ladder (8…64 steps, SEEDS-3 exact weak study) leaves three bent points and
    a one-degree-of-freedom t-interval several orders wide; that must not count as a pass."""
    from seeds_verify.convergence.statistics import MAX_CI_WIDTH
    from seeds_verify.convergence.studies import StudySetup, parse_solver, run_regime

    setup = StudySetup("gaussian", "vp_linear", "weak", 1.0, (8, 16, 32, 64), 10, with_predictions=False)
    rec = run_regime(setup, parse_solver("seeds3"), "data")
    assert rec["ci_high"] - rec["ci_low"] > MAX_CI_WIDTH
    assert rec["passed"] is False


def test_points_lost_in_sampling_noise_are_not_fitted():
    """A ladder whose finest errors are pure noise (mean zero) must be fitted on the resolved
    points only; they carry slope 2 here by construction."""
    import numpy as np

    from seeds_verify.convergence.statistics import bootstrap_order

    rng = np.random.default_rng(0)
    h = np.array([0.8, 0.4, 0.2, 0.1, 0.05, 0.025])
    signal = 3.0 * h ** 2
    signal[-2:] = 0.0  # the two finest points have no signal left, only noise
    per_sample = signal[None, :, None] + rng.normal(0.0, 0.05, size=(400, h.size, 1))
    fit = bootstrap_order(h, per_sample, replicates=200, statistic=lambda m: np.abs(m).sum(-1))
    assert fit.fit_range[1] <= h.size - 3
    assert abs(fit.order - 2.0) < 0.25
