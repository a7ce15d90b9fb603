"""check_sampler on the project's k-diffusion samplers (MATH §4, §9)."""

import pytest
import torch

from seeds_verify.convergence import ConvergenceResult, check_sampler
from seeds_verify.samplers import sample_seeds_1, sample_seeds_2, sample_seeds_3


@pytest.mark.parametrize("sampler", [sample_seeds_1, sample_seeds_2, sample_seeds_3])
def test_seeds_samplers_have_strong_order_one(sampler):
    res = check_sampler(sampler, expected_strong_order=1.0, paths=200)
    assert isinstance(res, ConvergenceResult)
    assert res.passed is True
    assert res.ci[0] <= res.strong_order <= res.ci[1]
    assert len(res.errors) == len(res.step_counts) == 5


def test_plain_increments_fed_to_seeds2_keep_strong_order_one():
    """SEEDS-2 (data form, η = 1) assumes z_1 increments; here it is fed plain ones (k = 0).

    Measured (seed 0, ladder 8…128, 400 paths): order 0.82, 95 % CI [0.77, 0.86], C = 0.24, error
    at 128 steps 0.030 — against 0.88 [0.85, 0.91], C = 0.31, 0.035 with the right k = 1. The
    mismatch does not break strong order 1: over a step of length h the weights e^{0·λ} and
    e^{1·λ} differ by O(h), so z_0 − z_1 = O(h) and the extra error per step is σ·sqrt(h)·O(h),
    independent across steps — O(h) in total, below the scheme's own O(h) error constant here.
    Asserted with margins of a few CI widths around the measurement.
    """
    wrong = check_sampler(sample_seeds_2, weight_exponent=0.0, expected_strong_order=1.0)
    right = check_sampler(sample_seeds_2, weight_exponent=1.0)
    assert 0.7 < wrong.ci[0] and wrong.ci[1] < 0.95, wrong
    assert wrong.passed is True
    assert 0.6 < wrong.errors[-1] / right.errors[-1] < 1.2
    assert right.passed is None


def test_euler_maruyama_wants_plain_increments():
    """EM reads ΔW/sqrt(h) (k = 0): with the matching path it converges with order ≈ 1."""
    from seeds_verify.samplers import run_karras_sampler
    from seeds_verify.solvers import EulerMaruyama

    def sample_em(model, x, sigmas, **kw):
        return run_karras_sampler(EulerMaruyama(), model, x, sigmas, **kw)

    res = check_sampler(sample_em, weight_exponent=0.0, expected_strong_order=1.0, paths=200,
                        steps=(16, 32, 64, 128))
    assert res.passed


@pytest.mark.parametrize("kwargs, name", [
    (dict(paths=-5), "paths"), (dict(paths=1), "paths"), (dict(steps=(8, 4, 16)), "steps"),
    (dict(steps=(8, 16)), "steps"), (dict(weight_exponent=float("nan")), "weight_exponent"),
    (dict(problem="gmm"), "problem"), (dict(expected_strong_order="one"), "expected_strong_order"),
    (dict(eta=2.0), "eta"), (dict(sigma_min=10.0, sigma_max=1.0), "sigma_min"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        check_sampler(sample_seeds_1, **kwargs)


def test_sampler_must_be_callable():
    with pytest.raises(ValueError, match="sampler"):
        check_sampler(None)


def test_same_seed_same_result():
    a = check_sampler(sample_seeds_1, paths=20, steps=(4, 8, 16))
    b = check_sampler(sample_seeds_1, paths=20, steps=(4, 8, 16))
    assert a == b


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_check_sampler_on_cuda_matches_its_order():
    res = check_sampler(sample_seeds_2, expected_strong_order=1.0, paths=200, device="cuda")
    assert res.passed
