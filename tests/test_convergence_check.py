"""check_sampler (the strong regime of verify_sampler) on the project's k-diffusion samplers
(MATH §4, §9)."""

import math

import pytest
import torch

from seeds_verify.convergence import RegimeResult, check_sampler
from seeds_verify.convergence.suite import single_thread
from seeds_verify.samplers import run_karras_sampler, sample_seeds_1, sample_seeds_2, sample_seeds_3
from seeds_verify.solvers import EulerMaruyama


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one torch thread is faster than a pool, markedly so on a shared machine."""
    with single_thread("cpu"):
        yield


@pytest.mark.parametrize("sampler", [sample_seeds_1, sample_seeds_2, sample_seeds_3])
def test_seeds_samplers_have_strong_order_one(sampler):
    res = check_sampler(sampler, expected_strong_order=1.0, paths=200)
    assert isinstance(res, RegimeResult)
    assert res.regime == "strong" and res.eta == 1.0 and res.declared == 1.0
    assert res.verdict == "pass" and res.passed, res.summary()
    assert res.ci_method == "bootstrap"
    assert res.ci[0] <= res.measured_order <= res.ci[1]
    assert len(res.errors) == len(res.step_counts) >= 5
    assert res.step_counts[:5] == (8, 16, 32, 64, 128)
    assert res.paths >= 200 and res.rounds[-1]["paths"] == res.paths
    assert res.schedule == "edm" and res.problem == "gaussian"


def test_plain_increments_fed_to_seeds2_keep_strong_order_one():
    """SEEDS-2 (data form, η = 1) assumes z_1 increments; here it is fed plain ones (k = 0).

    Measured (seed 0, ladder 8…128, 400 paths): order 0.91 [0.88, 0.94] and error 0.029 at 128
    steps, against 0.93 [0.90, 0.96] and 0.033 with the right k = 1. The mismatch does not break
    strong order 1: over a step of length h the weights e^{0·λ} and e^{1·λ} differ by O(h), so
    z_0 − z_1 = O(h) and the extra error per step is σ·sqrt(h)·O(h), independent across steps —
    O(h) in total, below the scheme's own O(h) error constant here. Asserted with margins of
    several interval widths around the measurement.
    """
    wrong = check_sampler(sample_seeds_2, weight_exponent=0.0, expected_strong_order=1.0)
    right = check_sampler(sample_seeds_2, weight_exponent=1.0)
    assert wrong.weight_exponent == 0.0 and right.weight_exponent == 1.0
    assert wrong.verdict == "pass", wrong.summary()
    assert 0.7 < wrong.measured_order < 1.0, wrong.summary()
    at_128 = wrong.errors[wrong.step_counts.index(128)] / right.errors[right.step_counts.index(128)]
    assert 0.6 < at_128 < 1.2
    # Nothing declared: measured only, and not counted as a pass.
    assert right.verdict == "measured" and right.declared is None and not right.passed
    assert len(right.rounds) == 1  # nothing to decide, so no evidence is bought


def sample_em(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0,
              noise_sampler=None):
    return run_karras_sampler(EulerMaruyama(), model, x, sigmas, extra_args=extra_args,
                              callback=callback, disable=disable, eta=eta, noise_sampler=noise_sampler)


def test_euler_maruyama_wants_plain_increments():
    """EM reads ΔW/sqrt(h) (k = 0): with the matching path it converges with order ≈ 1."""
    res = check_sampler(sample_em, weight_exponent=0.0, expected_strong_order=1.0, paths=200,
                        steps=(16, 32, 64, 128))
    assert res.verdict == "pass", res.summary()


def test_sampler_kwargs_reach_the_sampler():
    """Extra keywords go to the sampler: SEEDS-2 with r = 1 (one noise call per step) differs
    from the default r = 1/2 on the same paths, and both keep strong order 1."""
    default = check_sampler(sample_seeds_2, paths=50, steps=(8, 16, 32), expected_strong_order=1.0)
    heun = check_sampler(sample_seeds_2, paths=50, steps=(8, 16, 32), expected_strong_order=1.0,
                         r=1.0, solver_type="phi_2")
    assert default.errors != heun.errors
    assert all(math.isfinite(e) for e in heun.errors)


@pytest.mark.parametrize("kwargs, name", [
    (dict(paths=-5), "paths"), (dict(paths=1), "paths"), (dict(steps=(8, 4, 16)), "steps"),
    (dict(steps=(8, 16)), "steps"), (dict(weight_exponent=float("nan")), "weight_exponent"),
    (dict(problem="nonsense"), "problem"), (dict(expected_strong_order="one"), "expected_strong_order"),
    (dict(eta=2.0), "eta"), (dict(sigma_min=10.0, sigma_max=1.0), "sigma_min"),
    (dict(tolerance=-0.1), "tolerance"), (dict(seed=-1), "seed"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        check_sampler(sample_seeds_1, **kwargs)


def test_sampler_must_be_callable():
    with pytest.raises(TypeError, match="sampler"):
        check_sampler(None)


def _deterministic_ddim(model, x, sigmas, extra_args=None, callback=None, disable=None):
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-torch.log(sigmas[i] / sigmas[i + 1])) * denoised
    return x


def test_a_deterministic_sampler_has_no_strong_order():
    """A sampler without noise_sampler cannot be held to a strong order: the error says why."""
    with pytest.raises(ValueError, match="noise_sampler|not appl"):
        check_sampler(_deterministic_ddim, paths=10, steps=(4, 8, 16))


def test_eta_zero_is_rejected():
    with pytest.raises(ValueError, match="eta"):
        check_sampler(sample_seeds_1, eta=0.0, paths=10, steps=(4, 8, 16))


def test_same_seed_same_result():
    """Same code, same inputs, same seed: every field but the wall time is identical."""
    def record(res):
        out = res.to_record()
        out.pop("seconds")
        return out

    a = check_sampler(sample_seeds_1, paths=20, steps=(4, 8, 16))
    b = check_sampler(sample_seeds_1, paths=20, steps=(4, 8, 16))
    c = check_sampler(sample_seeds_1, paths=20, steps=(4, 8, 16), seed=1)
    assert record(a) == record(b)
    assert record(a)["errors"] != record(c)["errors"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_check_sampler_on_cuda_matches_its_order():
    res = check_sampler(sample_seeds_2, expected_strong_order=1.0, paths=200, device="cuda")
    assert res.passed, res.summary()
