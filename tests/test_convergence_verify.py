"""verify_sampler on samplers written the way users write them (k-diffusion convention): the
regimes that apply, η and the weight exponent, exact black-box weak moments, samplers that are
not path-consistent or that break the calling convention, and the escalation of evidence
(MATH §4, §8, §9)."""

import dataclasses
import functools
import math

import numpy as np
import pytest
import torch

from seeds_verify.convergence import (
    RegimeResult, SetupCache, StudySetup, VerificationResult, parse_solver, solver_subject, verify_sampler,
    verify_subject,
)
from seeds_verify.convergence.moments import probe_trajectory, propagate_moments
from seeds_verify.convergence.subjects import sampler_subject
from seeds_verify.convergence.suite import single_thread
from seeds_verify.convergence.verify import make_ladder
from seeds_verify.samplers import sample_seeds_1, sample_seeds_2
from seeds_verify.solvers import SEEDS2

PASSING = ("pass", "pass (>)")


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread("cpu"):
        yield


# --------------------------------------------------------------------------------------------
# User-style samplers
# --------------------------------------------------------------------------------------------


def _lam_step(sigmas, i):
    """h = λ_{i+1} − λ_i with λ = −log σ."""
    return torch.log(sigmas[i] / sigmas[i + 1])


def sample_exp_ab2(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Second-order exponential Adams–Bashforth in λ on the data prediction D:
    x_{i+1} = (σ_{i+1}/σ_i) x_i − expm1(−h) ((1 + 1/(2r)) D_i − 1/(2r) D_{i−1}), r = h_{i−1}/h_i;
    the first step is first order (no D_{−1} yet)."""
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    previous, h_previous = None, None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        h = _lam_step(sigmas, i)
        if previous is None:
            d = denoised
        else:
            r = h_previous / h
            d = (1 + 1 / (2 * r)) * denoised - 1 / (2 * r) * previous
        x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-h) * d
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
        previous, h_previous = denoised, h
    return x


def sample_exp_euler(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Exponential Euler in λ on D (DDIM): first order."""
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-_lam_step(sigmas, i)) * denoised
    return x


DETERMINISTIC_ONLY = {"strong", "weak"}


def test_a_user_multistep_sampler_passes_deterministic_order_two():
    res = verify_sampler(sample_exp_ab2, declared={"deterministic": 2}, steps=(8, 16, 32, 64), paths=100)
    assert isinstance(res, VerificationResult)
    assert set(res.regimes) == {"deterministic"}
    assert set(res.not_applicable) == DETERMINISTIC_ONLY
    assert all("noise_sampler" in why for why in res.not_applicable.values())
    det = res.regimes["deterministic"]
    assert det.verdict == "pass", det.summary()
    assert res.verdict == "pass" and res.passed
    assert det.eta == 0.0 and det.weight_exponent is None and det.prediction is None
    assert abs(det.measured_order - 2.0) < 0.25
    assert det.sampler == res.sampler and res.sampler.endswith(":sample_exp_ab2")
    assert "not applicable" in str(res)


def test_a_first_order_sampler_fails_a_declared_order_two():
    res = verify_sampler(sample_exp_euler, declared={"deterministic": 2}, steps=(8, 16, 32, 64), paths=100)
    det = res.regimes["deterministic"]
    assert det.verdict == "fail", det.summary()
    assert det.ci_high < 2.0 - det.tolerance
    assert abs(det.measured_order - 1.0) < 0.25
    assert "lies below" in det.reason
    assert res.verdict == "fail" and not res.passed
    assert set(res.not_applicable) == DETERMINISTIC_ONLY
    # The same sampler held to what it is: first order.
    again = verify_sampler(sample_exp_euler, declared={"deterministic": 1}, steps=(8, 16, 32, 64), paths=100)
    assert again.verdict == "pass", str(again)


def test_a_deterministic_sampler_asked_only_for_strong_runs_nothing():
    res = verify_sampler(sample_exp_euler, regimes=("strong",), steps=(8, 16, 32), paths=10)
    assert res.regimes == {} and set(res.not_applicable) == {"strong"}
    assert res.verdict == "measured" and not res.passed


def test_the_sampler_gets_extra_args_and_a_callback():
    """The study calls ``sampler(model, x, sigmas, **kw)`` with ``disable`` and ``callback``
    set, on sigmas that are float64, decreasing, positive and without a trailing zero."""
    seen = {}

    def spy(model, x, sigmas, extra_args=None, callback=None, disable=None):
        seen.update(sigmas=sigmas, callback=callback, disable=disable, dtype=x.dtype, extra=extra_args)
        return sample_exp_euler(model, x, sigmas)

    verify_sampler(spy, steps=(8, 16, 32), paths=4)
    sigmas = seen["sigmas"]
    assert sigmas.dtype == torch.float64 and bool((sigmas > 0).all()) and bool((sigmas.diff() < 0).all())
    assert sigmas.numel() == 33
    assert callable(seen["callback"]) and seen["disable"] is True and seen["dtype"] == torch.float64


# --------------------------------------------------------------------------------------------
# η: bound by a partial, given explicitly, or missing
# --------------------------------------------------------------------------------------------


def test_eta_bound_by_a_partial_is_the_eta_verified():
    sampler = functools.partial(sample_seeds_2, eta=0.5)
    res = verify_sampler(sampler, declared={"strong": 1}, steps=(8, 16, 32, 64), paths=200)
    strong, weak, det = (res.regimes[r] for r in ("strong", "weak", "deterministic"))
    assert strong.eta == weak.eta == 0.5 and det.eta == 0.0
    # The data-prediction convention: increments weighted with k = η.
    assert strong.weight_exponent == weak.weight_exponent == 0.5
    assert strong.verdict == "pass", strong.summary()
    assert weak.verdict == det.verdict == "measured"
    assert res.verdict == "pass"
    assert "eta=0.5" in res.sampler


def test_explicit_eta_overrides_the_partial_and_sampler_kwargs():
    sampler = functools.partial(sample_seeds_2, eta=0.5)
    res = verify_sampler(sampler, eta=1.0, regimes=("strong",), steps=(8, 16, 32), paths=10)
    assert res.regimes["strong"].eta == 1.0
    res = verify_sampler(sample_seeds_2, regimes=("strong",), steps=(8, 16, 32), paths=10,
                         sampler_kwargs={"eta": 0.25})
    assert res.regimes["strong"].eta == 0.25 and res.regimes["strong"].weight_exponent == 0.25


def test_a_stochastic_sampler_without_an_eta_default_needs_one():
    def no_default(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=None,
                   noise_sampler=None):
        return sample_seeds_2(model, x, sigmas, eta=eta, noise_sampler=noise_sampler)

    with pytest.raises(ValueError, match="eta"):
        verify_sampler(no_default, steps=(8, 16, 32), paths=4)
    res = verify_sampler(no_default, eta=1.0, regimes=("strong",), steps=(8, 16, 32), paths=4)
    assert res.regimes["strong"].eta == 1.0


def test_eta_zero_leaves_only_the_deterministic_regime():
    res = verify_sampler(sample_seeds_2, eta=0.0, steps=(8, 16, 32), paths=4)
    assert set(res.regimes) == {"deterministic"}
    assert set(res.not_applicable) == DETERMINISTIC_ONLY
    assert all("eta = 0" in why for why in res.not_applicable.values())


def test_a_stochastic_sampler_without_eta_has_no_deterministic_regime():
    def no_eta(model, x, sigmas, extra_args=None, callback=None, disable=None, noise_sampler=None):
        return sample_seeds_1(model, x, sigmas, eta=1.0, noise_sampler=noise_sampler)

    res = verify_sampler(no_eta, eta=1.0, regimes=("deterministic",), steps=(8, 16, 32), paths=4)
    assert res.regimes == {} and "eta" in res.not_applicable["deterministic"]


# --------------------------------------------------------------------------------------------
# Black-box weak moments equal the per-step exact propagation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["edm", "vp_linear"])
@pytest.mark.parametrize("r, variant", [(0.5, "phi_1"), (1 / 3, "phi_2"), (1.0, "phi_2")])
def test_black_box_moments_equal_per_step_propagation(schedule, r, variant):
    """sample_seeds_2 as a black box in α = 1 coordinates (y = x/α, σ̃ = e^{−λ}), probed over whole
    runs, against SEEDS-2 probed one step at a time on the schedule itself (x = α y): the same
    exact law up to rounding, 16 steps, data form, η = 1."""
    setup = StudySetup("gaussian", schedule, 1.0, (8, 16, 32), 4)
    problem, lam = setup.problem, setup.grids[16]
    sampler = functools.partial(sample_seeds_2, r=r, solver_type=variant)
    subject = sampler_subject(sampler, eta=1.0)

    def run(y, lambdas, noise):
        return subject.run(setup, y, lambdas, noise, 1.0)

    traj = probe_trajectory(run, lam, dim=problem.dim)
    calls_per_step = 1 if r == 1.0 else 2
    assert len(traj.calls) == calls_per_step * 16
    assert all(k == 1.0 for _, _, k in traj.calls)
    np.testing.assert_array_equal(traj.noise_cov, np.eye(len(traj.calls)))  # disjoint increments
    m0, P0 = problem.mean(setup.sigma_start), problem.cov(setup.sigma_start)
    m_box, P_box = traj.moments(m0, P0)

    a0 = float(setup.schedule.alpha_of_lam(lam[0]))
    a1 = float(setup.schedule.alpha_of_lam(lam[-1]))
    m_x, P_x = propagate_moments(SEEDS2(r, variant), setup.model, lam, a0 * m0, a0 ** 2 * P0,
                                 schedule=setup.schedule, eta=1.0, prediction="data")
    m_step, P_step = m_x / a1, P_x / a1 ** 2
    assert np.linalg.norm(m_box - m_step) <= 1e-10 * np.linalg.norm(m_step)
    assert np.linalg.norm(P_box - P_step) <= 1e-10 * np.linalg.norm(P_step)
    # Both are close to the exact law N(μ, Σ + σ̃² I) at the end (second order at 16 steps).
    P_true = problem.cov(setup.sigma_end)
    assert np.linalg.norm(P_box - P_true) < 0.2 * np.linalg.norm(P_true)


@pytest.mark.parametrize("schedule", ["edm", "vp_linear"])
def test_black_box_weak_errors_equal_the_reference_solver_study(schedule):
    """The weak study of a black-box sample_seeds_2 (r = 1/3, phi_2) and of the reference solver
    seeds2:r=1/3:phi_2: the same error ladder. The errors are differences of moments of size ~1,
    so rounding of ~1e-13 in the moments is amplified by 1/error (≤ 1e3 here): 1e-9 relative."""
    steps = (8, 16, 32)
    box = verify_sampler(functools.partial(sample_seeds_2, r=1 / 3, solver_type="phi_2"), regimes=("weak",),
                         declared={"weak": 2}, schedule=schedule, steps=steps, max_steps=32)
    # The solver without its symbolic prediction (not needed here, and costly to derive).
    choice = dataclasses.replace(parse_solver("seeds2:r=1/3:phi_2"), scheme=None)
    ref = verify_subject(solver_subject(choice, "data", 1.0), regimes=("weak",), schedule=schedule,
                         ladder=make_ladder(steps, 10, None, 32), setups=SetupCache())
    a, b = box.regimes["weak"], ref.regimes["weak"]
    assert a.step_counts == b.step_counts == steps and a.paths == b.paths == 0
    rel = np.abs(np.subtract(a.errors, b.errors)) / np.abs(b.errors)
    assert rel.max() <= 1e-9, (a.errors, b.errors)
    assert a.reference == b.reference


# --------------------------------------------------------------------------------------------
# Samplers that are not path-consistent
# --------------------------------------------------------------------------------------------


def own_noise(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, noise_sampler=None):
    """SEEDS-2 fed noise of its own instead of the noise_sampler it was given."""
    return sample_seeds_2(model, x, sigmas, eta=eta, noise_sampler=lambda a, b: torch.randn_like(x))


def never_calls(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, noise_sampler=None):
    """Takes a noise_sampler and an eta and uses neither."""
    return sample_exp_euler(model, x, sigmas)


def mixes_noise(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, noise_sampler=None):
    """Uses the noise_sampler and adds a little noise of its own."""
    out = sample_seeds_2(model, x, sigmas, eta=eta, noise_sampler=noise_sampler)
    return out + 1e-3 * eta * torch.randn_like(out)


@pytest.mark.parametrize("sampler", [own_noise, never_calls, mixes_noise])
def test_samplers_that_ignore_the_path_fail_strong_and_weak(sampler):
    res = verify_sampler(sampler, declared={"strong": 1, "weak": 2, "deterministic": 1},
                         steps=(8, 16, 32), paths=20)
    for regime in ("strong", "weak"):
        r = res.regimes[regime]
        assert r.verdict == "fail", r.summary()
        assert "not path-consistent" in r.reason, r.reason
        assert r.measured_order is None and r.ci is None
        assert len(r.rounds) == 1  # more evidence cannot cure a defect
    assert res.verdict == "fail"
    # At η = 0 none of them draws noise: the deterministic regime is not affected.
    assert res.regimes["deterministic"].verdict in PASSING, res.regimes["deterministic"].summary()


def test_never_calling_is_named_as_such():
    res = verify_sampler(never_calls, regimes=("strong", "weak"), steps=(8, 16, 32), paths=8)
    for r in res.regimes.values():
        assert "never called noise_sampler" in r.reason, r.reason


def test_noise_calls_off_the_path_are_reported():
    """A stochastic sampler that asks for increments between points that are not nodes of the
    study's Brownian path (a quarter of a step), or with σ increasing, breaks the convention."""
    def quarter(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, noise_sampler=None):
        for i in range(len(sigmas) - 1):
            s, t = float(sigmas[i]), float(sigmas[i + 1])
            x = x + 0.0 * noise_sampler(s, math.exp(0.75 * math.log(s) + 0.25 * math.log(t)))
        return x

    def backwards(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, noise_sampler=None):
        return x + noise_sampler(float(sigmas[1]), float(sigmas[0]))

    res = verify_sampler(quarter, regimes=("strong",), steps=(8, 16, 32), paths=8)
    assert res.regimes["strong"].verdict == "fail" and "not a node" in res.regimes["strong"].reason
    res = verify_sampler(backwards, regimes=("strong", "weak"), steps=(8, 16, 32), paths=8)
    for r in res.regimes.values():
        assert r.verdict == "fail" and "not below" in r.reason, r.summary()


# --------------------------------------------------------------------------------------------
# Samplers that break the calling convention
# --------------------------------------------------------------------------------------------


def nan_from_32_steps(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0,
                      noise_sampler=None):
    out = sample_seeds_2(model, x, sigmas, eta=eta, noise_sampler=noise_sampler)
    return out * math.nan if len(sigmas) - 1 >= 32 else out


def test_non_finite_output_fails_naming_the_step_counts():
    res = verify_sampler(nan_from_32_steps, declared={"strong": 1, "deterministic": 2},
                         regimes=("strong", "deterministic"), steps=(8, 16, 32, 64), paths=20)
    for r in res.regimes.values():
        assert r.verdict == "fail", r.summary()
        assert "non-finite" in r.reason and "32, 64 steps" in r.reason, r.reason
        assert len(r.rounds) == 1
        assert r.errors[:2] == tuple(e for e in r.errors[:2] if e is not None and math.isfinite(e))
        assert r.errors[2:] == (None, None)  # non-finite errors become None in records


def test_non_finite_weak_moments_fail_as_non_finite():
    res = verify_sampler(nan_from_32_steps, declared={"weak": 2}, regimes=("weak",), steps=(8, 16, 32, 64))
    r = res.regimes["weak"]
    assert r.verdict == "fail", r.summary()
    assert "non-finite" in r.reason and "32" in r.reason, r.reason


def blows_up_after_five_steps(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Exponential Euler that turns infinite after step 5 on grids of 32 steps or more, reporting
    each step to the callback; it calls the model again with the infinite state."""
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-_lam_step(sigmas, i)) * denoised
        if len(sigmas) - 1 >= 32 and i >= 5:
            x = x * math.inf
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
    return x


def test_a_blow_up_inside_the_run_fails_naming_the_step_count():
    res = verify_sampler(blows_up_after_five_steps, declared={"deterministic": 1}, steps=(8, 16, 32), paths=8)
    r = res.regimes["deterministic"]
    assert r.verdict == "fail", r.summary()
    assert "non-finite" in r.reason and "32" in r.reason, r.reason


@pytest.mark.parametrize("result, message", [
    (lambda x: x[:, :1], "shape (8, 1) for x of shape (8, 2)"),
    (lambda x: x.numpy(), "not a torch.Tensor"),
    (lambda x: x.to(torch.int64), "not a floating-point tensor"),
    (lambda x: None, "not a torch.Tensor"),
])
def test_a_sampler_returning_the_wrong_thing_fails_with_a_clear_reason(result, message):
    def wrong(model, x, sigmas, extra_args=None, callback=None, disable=None):
        return result(x)

    res = verify_sampler(wrong, declared={"deterministic": 1}, steps=(8, 16, 32), paths=8)
    r = res.regimes["deterministic"]
    assert r.verdict == "fail" and message in r.reason, r.reason
    assert r.errors == () and len(r.rounds) == 1


def test_a_stochastic_sampler_returning_the_wrong_shape_fails_in_every_regime():
    def wrong(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, noise_sampler=None):
        return sample_seeds_1(model, x, sigmas, eta=eta, noise_sampler=noise_sampler)[:1]

    res = verify_sampler(wrong, steps=(8, 16, 32), paths=8)
    assert set(res.regimes) == {"strong", "weak", "deterministic"}
    for r in res.regimes.values():
        assert r.verdict == "fail" and "shape" in r.reason, r.summary()


# --------------------------------------------------------------------------------------------
# Escalation of evidence
# --------------------------------------------------------------------------------------------


def test_monte_carlo_escalation_buys_paths_or_finer_steps_within_the_budget():
    """SEEDS-1, strong, 16 paths on 8…32 steps (seed 0): the first intervals straddle 0.75, and
    every further round either doubles the paths (same ladder) or appends twice the finest step
    count (same paths), never beyond max_paths and max_steps; the result states what it used."""
    res = verify_sampler(sample_seeds_1, regimes=("strong",), declared={"strong": 1}, steps=(8, 16, 32),
                         paths=16, max_paths=64, max_steps=128)
    r = res.regimes["strong"]
    rounds = r.rounds
    assert len(rounds) >= 2, rounds
    assert all(x["verdict"] == "inconclusive" for x in rounds[:-1])
    for before, after in zip(rounds, rounds[1:]):
        more_paths = (after["paths"], after["finest_steps"]) == (2 * before["paths"], before["finest_steps"])
        finer = (after["paths"], after["finest_steps"]) == (before["paths"], 2 * before["finest_steps"])
        assert more_paths or finer, rounds
    assert r.paths == rounds[-1]["paths"] <= 64
    assert r.step_counts == (8, 16, 32) + tuple(32 * 2 ** i for i in range(1, len(r.step_counts) - 2))
    assert r.step_counts[-1] == rounds[-1]["finest_steps"] <= 128
    assert r.verdict == rounds[-1]["verdict"]
    assert (r.measured_order, r.ci_low, r.ci_high) == tuple(rounds[-1][k] for k in ("measured_order", "ci_low",
                                                                                    "ci_high"))
    if r.verdict == "inconclusive":
        assert "evidence budget spent" in r.reason
    assert r.details["limited_by"] in ("sampling", "curvature")


def test_a_decided_verdict_buys_no_more_evidence():
    """Held to half its order SEEDS-1 passes at once, held to twice its order it fails at once:
    either way the first ladder is the last."""
    passed = verify_sampler(sample_seeds_1, regimes=("strong",), declared={"strong": 0.5},
                            steps=(16, 32, 64, 128), paths=100).regimes["strong"]
    assert passed.verdict in PASSING and len(passed.rounds) == 1 and passed.paths == 100, passed.rounds
    failed = verify_sampler(sample_seeds_1, regimes=("strong",), declared={"strong": 2},
                            steps=(16, 32, 64, 128), paths=100).regimes["strong"]
    assert failed.verdict == "fail" and len(failed.rounds) == 1 and failed.paths == 100, failed.rounds
    assert failed.step_counts == (16, 32, 64, 128)


def test_exact_studies_extend_the_ladder_until_decided_or_out_of_budget():
    """SEEDS-2's exact weak ladder 8…64 still bends: the steps are doubled until the interval
    decides; with no budget the verdict stays inconclusive and says why."""
    res = verify_sampler(sample_seeds_2, regimes=("weak",), declared={"weak": 2}, steps=(8, 16, 32, 64),
                         max_steps=512)
    r = res.regimes["weak"]
    assert r.verdict == "pass", r.summary()
    assert [x["finest_steps"] for x in r.rounds] == [64 * 2 ** i for i in range(len(r.rounds))]
    assert all(x["paths"] == 0 for x in r.rounds) and len(r.rounds) > 1
    stuck = verify_sampler(sample_seeds_2, regimes=("weak",), declared={"weak": 2}, steps=(8, 16, 32, 64),
                           max_steps=64).regimes["weak"]
    assert stuck.verdict == "inconclusive" and "evidence budget spent" in stuck.reason
    assert len(stuck.rounds) == 1


# --------------------------------------------------------------------------------------------
# Arguments and results
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(regimes=("strong", "nonsense")), ValueError, "regimes"),
    (dict(regimes=()), ValueError, "regimes"),
    (dict(declared={"nonsense": 1}), ValueError, "declared"),
    (dict(declared={"strong": -1}), ValueError, "declared"),
    (dict(declared={"strong": math.nan}), ValueError, "declared"),
    (dict(tolerance=-0.5), ValueError, "tolerance"),
    (dict(tolerance=math.inf), ValueError, "tolerance"),
    (dict(weight_exponent=math.inf), ValueError, "weight_exponent"),
    (dict(sampler_kwargs=[("eta", 1)]), TypeError, "sampler_kwargs"),
    (dict(sampler_kwargs={"noise_sampler": None}), ValueError, "sampler_kwargs"),
    (dict(sampler_kwargs={"callback": None}), ValueError, "sampler_kwargs"),
    (dict(seed=True), ValueError, "seed"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(paths=1), ValueError, "paths"),
    (dict(paths=10, max_paths=5), ValueError, "max_paths"),
    (dict(steps=(8, 16, 32), max_steps=16), ValueError, "max_steps"),
    (dict(steps=(8, 16)), ValueError, "steps"),
    (dict(eta=1.5), ValueError, "eta"),
])
def test_bad_arguments_name_themselves(kwargs, error, name):
    with pytest.raises(error, match=name):
        verify_sampler(sample_seeds_1, **kwargs)


def test_sampler_must_be_callable():
    with pytest.raises(TypeError, match="sampler"):
        verify_sampler("sample_seeds_1")


def test_a_single_regime_may_be_named_by_its_string_and_a_label_is_used():
    res = verify_sampler(sample_seeds_1, regimes="strong", steps=(8, 16, 32), paths=8, label="mine")
    assert set(res.regimes) == {"strong"} and res.sampler == "mine"
    assert res.regimes["strong"].sampler == "mine"


def test_results_round_trip_through_records():
    res = verify_sampler(sample_seeds_2, declared={"strong": 1, "weak": 2, "deterministic": 2},
                         steps=(8, 16, 32), paths=20, max_steps=32)
    assert set(res.regimes) == {"strong", "weak", "deterministic"}
    for r in res.regimes.values():
        rec = r.to_record()
        assert all(not isinstance(v, tuple) for v in rec.values())
        assert RegimeResult.from_record(rec) == r
        assert r.regime in r.summary() and r.verdict in r.summary()


def test_the_same_seed_gives_the_same_result():
    def strip(res):
        return {k: {f: v for f, v in r.to_record().items() if f != "seconds"} for k, r in res.regimes.items()}

    kw = dict(regimes=("strong", "weak"), steps=(8, 16, 32), paths=16, max_steps=32, declared={"strong": 1})
    a, b = verify_sampler(sample_seeds_2, **kw), verify_sampler(sample_seeds_2, **kw)
    c = verify_sampler(sample_seeds_2, seed=1, **kw)
    assert strip(a) == strip(b)
    assert strip(a)["strong"]["errors"] != strip(c)["strong"]["errors"]
    # Exact weak moments do not depend on the seed beyond rounding.
    np.testing.assert_allclose(strip(a)["weak"]["errors"], strip(c)["weak"]["errors"], rtol=1e-9)


def test_a_regime_result_rejects_unknown_regimes_and_verdicts():
    with pytest.raises(ValueError, match="regime"):
        RegimeResult(sampler="s", regime="nonsense", problem="gaussian", schedule="edm", eta=1.0, verdict="pass")
    with pytest.raises(ValueError, match="verdict"):
        RegimeResult(sampler="s", regime="strong", problem="gaussian", schedule="edm", eta=1.0, verdict="ok")
