"""k-diffusion entry points: calling convention, noise-sampler contract, peer agreement, bad input."""

import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seeds_verify import sample_seeds_1, sample_seeds_2, sample_seeds_3

X0 = torch.tensor([1.5, -0.7], dtype=torch.float64)
SIGMAS = torch.tensor([80.0, 20.0, 5.0, 1.0, 0.3, 0.05], dtype=torch.float64)


def point_mass(x, sigma):
    return X0.to(x.dtype).expand_as(x)


def gaussian_denoiser(x, sigma):
    """N(μ, diag(s²)) data: D = μ + s²/(s² + σ²)(x − μ) (MATH §8), σ as a (batch,) tensor."""
    mu = torch.tensor([0.5, -1.0], dtype=x.dtype)
    s2 = torch.tensor([1.0, 0.25], dtype=x.dtype)
    sig2 = sigma.reshape(-1, 1).to(x.dtype) ** 2
    return mu + s2 / (s2 + sig2) * (x - mu)


class Recorder:
    """A noise sampler that records its calls and replays fixed draws."""

    def __init__(self, shape, seed=0):
        self.calls, self.draws = [], []
        self.gen = torch.Generator().manual_seed(seed)
        self.shape = shape

    def __call__(self, sigma_a, sigma_b):
        self.calls.append((float(sigma_a), float(sigma_b)))
        z = torch.randn(self.shape, generator=self.gen, dtype=torch.float64)
        self.draws.append(z)
        return z


def comfy_style_seeds2(model, x, sigmas, draws, eta, r, solver_type):
    """SEEDS-2 (VP data prediction, α = 1) re-derived from MATH §6–§7 in the form the public ComfyUI
    sampler states it: stage x_2 = (σ_u/σ_s) e^{−rhη} x + (1 − e^{−rH}) D_s + σ_u sqrt(1 − e^{−2rhη}) z_1;
    end x = (σ_t/σ_s) e^{−hη} x + [(1 − e^{−H}) lerp(D_s, D_u, 1/(2r))]  (phi_1)
                                  or [(1 − e^{−H}) D_s + H φ_2(−H)/r (D_u − D_s)]  (phi_2),
    plus σ_t (e^{(r−1)hη} · sqrt(1 − e^{−2rhη}) z_1 + sqrt(1 − e^{2(r−1)hη}) z_2)."""
    it = iter(draws)
    for i in range(len(sigmas) - 1):
        s, t = float(sigmas[i]), float(sigmas[i + 1])
        d = model(x, torch.full((x.shape[0],), s, dtype=x.dtype))
        lam_s, lam_t = -math.log(s), -math.log(t)
        h = lam_t - lam_s
        big_h = h * (1 + eta)
        sig_u = math.exp(-(lam_s + r * h))
        z1 = next(it)
        x2 = sig_u / s * math.exp(-r * h * eta) * x + (1 - math.exp(-r * big_h)) * d \
            + sig_u * math.sqrt(1 - math.exp(-2 * r * h * eta)) * z1
        d2 = model(x2, torch.full((x.shape[0],), sig_u, dtype=x.dtype))
        if solver_type == "phi_1":
            mix = d + (d2 - d) / (2 * r)
            x_new = t / s * math.exp(-h * eta) * x + (1 - math.exp(-big_h)) * mix
        else:
            phi2 = (math.exp(-big_h) - 1 + big_h) / big_h ** 2  # φ_2(−H)
            x_new = t / s * math.exp(-h * eta) * x + (1 - math.exp(-big_h)) * d + big_h * phi2 / r * (d2 - d)
        z2 = next(it)
        stage_noise = math.sqrt(1 - math.exp(-2 * r * h * eta)) * z1 * math.exp((r - 1) * h * eta)
        x = x_new + t * (stage_noise + math.sqrt(1 - math.exp(2 * (r - 1) * h * eta)) * z2)
    return x


@pytest.mark.parametrize("r,solver_type", [(0.5, "phi_1"), (0.5, "phi_2"), (1 / 3, "phi_1"), (0.3, "phi_2")])
def test_sample_seeds_2_agrees_with_the_public_comfy_formula(r, solver_type):
    x = 80.0 * torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    rec = Recorder((4, 2), seed=3)
    ours = sample_seeds_2(gaussian_denoiser, x, SIGMAS, noise_sampler=rec, eta=1.0, s_noise=1.0,
                          r=r, solver_type=solver_type, disable=True)
    ref = comfy_style_seeds2(gaussian_denoiser, x, SIGMAS, rec.draws, 1.0, r, solver_type)
    assert torch.allclose(ours, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("solver_type", ["phi_1", "phi_2"])
def test_sample_seeds_2_at_r_one_agrees_with_the_public_comfy_formula(solver_type):
    """r = 1 (``r=1, solver_type="phi_2"`` is ComfyUI's exp_heun_2_x0): the formula's second
    increment has coefficient sqrt(1 − e^0) = 0, and the sampler asks for one draw per step."""
    x = 80.0 * torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    rec = Recorder((4, 2), seed=3)
    ours = sample_seeds_2(gaussian_denoiser, x, SIGMAS, noise_sampler=rec, eta=1.0, s_noise=1.0,
                          r=1, solver_type=solver_type, disable=True)
    assert rec.calls == [(float(SIGMAS[i]), float(SIGMAS[i + 1])) for i in range(len(SIGMAS) - 1)]
    # the formula's z_2 (coefficient 0) is fed zeros: only the recorded z_1 of each step matters
    draws = [d for z in rec.draws for d in (z, torch.zeros_like(z))]
    ref = comfy_style_seeds2(gaussian_denoiser, x, SIGMAS, draws, 1.0, 1.0, solver_type)
    assert torch.allclose(ours, ref, rtol=1e-10, atol=1e-10)
    deterministic = sample_seeds_2(gaussian_denoiser, x, SIGMAS, eta=0.0, r=1, solver_type=solver_type,
                                   disable=True)
    ref0 = comfy_style_seeds2(gaussian_denoiser, x, SIGMAS, [torch.zeros_like(x)] * 2 * len(SIGMAS),
                              0.0, 1.0, solver_type)
    assert torch.allclose(deterministic, ref0, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("sampler,calls_per_step", [(sample_seeds_1, 1), (sample_seeds_2, 2), (sample_seeds_3, 3),
                                                    (functools.partial(sample_seeds_2, r=1), 1)])
def test_noise_sampler_called_once_per_subinterval_in_order(sampler, calls_per_step):
    sig = torch.cat([SIGMAS, torch.zeros(1, dtype=torch.float64)])
    rec = Recorder((3, 2))
    sampler(point_mass, torch.zeros(3, 2, dtype=torch.float64), sig, noise_sampler=rec, disable=True)
    steps = len(SIGMAS) - 1  # the final step to σ = 0 draws nothing
    assert len(rec.calls) == steps * calls_per_step
    for a, b in rec.calls:
        assert a > b
    for i in range(steps):
        chunk = rec.calls[i * calls_per_step:(i + 1) * calls_per_step]
        assert math.isclose(chunk[0][0], float(SIGMAS[i]))
        assert math.isclose(chunk[-1][1], float(SIGMAS[i + 1]))
        for (_, b), (a, _) in zip(chunk[:-1], chunk[1:]):
            assert a == b  # consecutive sub-intervals share their end points


def test_final_zero_returns_denoised_and_callback_sees_every_step():
    seen = []
    sig = torch.cat([SIGMAS, torch.zeros(1, dtype=torch.float64)])
    out = sample_seeds_3(point_mass, torch.randn(2, 2, dtype=torch.float64), sig,
                         callback=seen.append, disable=True)
    assert torch.equal(out, X0.expand(2, 2))
    assert [c["i"] for c in seen] == list(range(len(sig) - 1))
    assert set(seen[0]) >= {"x", "i", "sigma", "sigma_hat", "denoised"}


def test_extra_args_reach_the_model():
    got = {}

    def model(x, sigma, *, cond):
        got["cond"] = cond
        return x * 0

    sample_seeds_1(model, torch.zeros(1, 2), SIGMAS, extra_args={"cond": 7}, disable=True)
    assert got["cond"] == 7


@settings(deadline=None, max_examples=25)
@given(
    log_sigma_max=st.floats(-1.0, 4.5),
    gaps=st.lists(st.floats(1e-3, 2.0), min_size=1, max_size=5),
    which=st.sampled_from(["1", "2a", "2b", "2a_r1", "2b_r1", "3a", "3b"]),
)
def test_probability_flow_is_exact_for_a_point_mass(log_sigma_max, gaps, which):
    """η = 0, data form, D ≡ x0: the exact ODE flow x_σ = x0 + (σ/σ_0)(x_σ0 − x0) is reproduced."""
    sig = torch.tensor(np.exp(log_sigma_max - np.concatenate([[0.0], np.cumsum(gaps)])), dtype=torch.float64)
    x = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * sig[0] + X0
    fn = {"1": lambda **k: sample_seeds_1(**k), "2a": lambda **k: sample_seeds_2(**k, solver_type="phi_1"),
          "2b": lambda **k: sample_seeds_2(**k, solver_type="phi_2"),
          "2a_r1": lambda **k: sample_seeds_2(**k, r=1, solver_type="phi_1"),
          "2b_r1": lambda **k: sample_seeds_2(**k, r=1, solver_type="phi_2"), "3a": lambda **k: sample_seeds_3(**k),
          "3b": lambda **k: sample_seeds_3(**k, solver_type="3b")}[which]
    out = fn(model=point_mass, x=x, sigmas=sig, eta=0.0, disable=True)
    exact = X0 + (sig[-1] / sig[0]) * (x - X0)
    assert torch.allclose(out, exact, rtol=1e-12, atol=1e-12 * float(sig[0]))


def test_half_precision_is_returned_in_its_own_dtype():
    out = sample_seeds_2(point_mass, torch.zeros(2, 2, dtype=torch.float16), SIGMAS, disable=True)
    assert out.dtype == torch.float16 and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("kwargs,err,name", [
    (dict(sigmas=torch.tensor([1.0, 2.0, 0.5])), ValueError, "sigmas"),
    (dict(sigmas=torch.tensor([1.0, -0.5])), ValueError, "sigmas"),
    (dict(sigmas=torch.tensor([1.0, float("nan")])), ValueError, "sigmas"),
    (dict(sigmas=torch.tensor([1.0])), ValueError, "sigmas"),
    (dict(eta=2.0), ValueError, "eta"),
    (dict(prediction="v"), ValueError, "prediction"),
    (dict(r=0.0), ValueError, "r must lie in"),
    (dict(r=1.0000001), ValueError, "r must lie in"),
    (dict(r=-0.5), ValueError, "r must lie in"),
    (dict(r=float("nan")), ValueError, "r must lie in"),
    (dict(r=1.5), ValueError, "r"),
    (dict(solver_type="phi_9"), ValueError, "solver_type"),
    (dict(x="not a tensor"), TypeError, "x"),
    (dict(extra_args=[1]), TypeError, "extra_args"),
    (dict(noise_sampler=3), TypeError, "noise_sampler"),
])
def test_sample_seeds_2_bad_input(kwargs, err, name):
    args = dict(model=point_mass, x=torch.zeros(2, 2), sigmas=SIGMAS)
    args.update(kwargs)
    with pytest.raises(err, match=name):
        sample_seeds_2(**args, disable=True)


def test_sample_seeds_3_bad_fractions():
    with pytest.raises(ValueError, match="r_1"):
        sample_seeds_3(point_mass, torch.zeros(2, 2), SIGMAS, r_1=0.6, r_2=0.4)
    with pytest.raises(ValueError, match="solver_type"):
        sample_seeds_3(point_mass, torch.zeros(2, 2), SIGMAS, solver_type="phi_1")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_sampler_runs_and_rejects_mixed_devices():
    x = torch.zeros(4, 2, device="cuda")
    out = sample_seeds_3(point_mass, x, SIGMAS, disable=True)
    assert out.device.type == "cuda"
    with pytest.raises(ValueError, match="sigmas"):
        sample_seeds_1(point_mass, torch.zeros(4, 2), SIGMAS.cuda(), disable=True)


def test_half_precision_model_sees_float32_inputs():
    seen = []

    def model(x, sigma):
        seen.append((x.dtype, sigma.dtype, float(sigma[0])))
        return x * 0

    out = sample_seeds_2(model, torch.zeros(2, 3, dtype=torch.bfloat16), [14.6, 3.3, 0.0123, 0.0], disable=True)
    assert out.dtype == torch.bfloat16
    assert all(xd == torch.float32 and sd == torch.float32 for xd, sd, _ in seen)
    assert seen[0][2] == float(torch.tensor(14.6, dtype=torch.float32))


# --------------------------------------------------------------------------------------------
# Every draw of a noise_sampler is checked (shape, type, dtype, finiteness), naming the call
# --------------------------------------------------------------------------------------------

X43 = torch.zeros(4, 3, dtype=torch.float64)


@pytest.mark.parametrize("bad,err", [
    (torch.zeros(3), ValueError),            # would broadcast over the batch
    (torch.zeros(4, 1), ValueError),         # would broadcast over the features
    (torch.tensor(0.0), ValueError),         # 0-dim
    (torch.zeros(2, 3), ValueError),         # incompatible
    (np.zeros((4, 3)), TypeError),
    (1.0, TypeError),
    (None, TypeError),
    (torch.zeros(4, 3, dtype=torch.int64), TypeError),
    (torch.zeros(4, 3, dtype=torch.complex128), TypeError),
    (torch.full((4, 3), float("nan")), ValueError),
    (torch.full((4, 3), float("-inf")), ValueError),
])
def test_noise_sampler_output_is_checked(bad, err):
    with pytest.raises(err, match=r"^noise_sampler .* from noise_sampler\(80\.0, 20\.0\) in step 0$"):
        sample_seeds_1(point_mass_4x3, X43, SIGMAS, noise_sampler=lambda a, b: bad, disable=True)


def test_noise_sampler_error_names_the_failing_call():
    """SEEDS-2 draws twice per step: the 4th call is step 1's second sub-interval (stage → σ_2)."""
    good = Recorder((4, 3))
    sample_seeds_2(point_mass_4x3, X43, SIGMAS, noise_sampler=good, disable=True)
    sigma_a, sigma_b = good.calls[3]
    calls = []

    def sampler(a, b):
        calls.append((a, b))
        return torch.zeros(4, 3) if len(calls) < 4 else torch.zeros(3)

    with pytest.raises(ValueError) as info:
        sample_seeds_2(point_mass_4x3, X43, SIGMAS, noise_sampler=sampler, disable=True)
    assert f"noise_sampler({sigma_a!r}, {sigma_b!r}) in step 1" in str(info.value)
    assert sigma_b == float(SIGMAS[2])


def point_mass_4x3(x, sigma):
    return torch.arange(3, dtype=x.dtype).expand_as(x)


def test_sub_interval_below_sigma_resolution_is_not_asked_of_the_noise_sampler():
    """r_2 one ulp above r_1 and σ ≈ 1 (λ ≈ 0, whose ulps are far finer than σ's): the stage points
    λ_s + r_i h differ, their σ = e^{−λ} do not; the noise_sampler is never called with σ_a = σ_b
    (that increment is a randn_like draw) and the result stays finite."""
    rec = Recorder((4, 3))
    r_1 = 0.5
    out = sample_seeds_3(point_mass_4x3, X43, [1.01, 1.0, 0.99], noise_sampler=rec, r_1=r_1,
                         r_2=float(np.nextafter(r_1, 1.0)), disable=True)
    assert torch.isfinite(out).all()
    assert rec.calls and all(a > b for a, b in rec.calls)
    assert len(rec.calls) < 2 * 3  # at least one of the two steps had an unresolvable sub-interval


# --------------------------------------------------------------------------------------------
# Non-finite model outputs are reported where they first appear
# --------------------------------------------------------------------------------------------


def test_nan_from_the_model_names_model_step_and_sigma():
    """SEEDS-2 (r = 1/2) evaluates at σ_n and at sqrt(σ_n σ_{n+1}); the first σ below 3 is the stage
    of step 2, sqrt(5 · 1) = 2.236…"""
    def model(x, sigma):
        return torch.full_like(x, float("nan")) if float(sigma[0]) < 3.0 else gaussian_denoiser(x, sigma)

    with pytest.raises(ValueError, match=r"^model returned non-finite values \(NaN or inf\) at step 2 \(sigma=2\.236"):
        sample_seeds_2(model, torch.zeros(3, 2, dtype=torch.float64), SIGMAS, disable=True)


def test_inf_from_the_model_in_the_final_denoise_names_its_step():
    sig = torch.cat([SIGMAS, torch.zeros(1, dtype=torch.float64)])

    def model(x, sigma):
        return torch.full_like(x, float("inf")) if float(sigma[0]) <= 0.05 else x * 0

    with pytest.raises(ValueError, match=r"model returned non-finite .* at step 5 \(sigma=0\.05\)"):
        sample_seeds_1(model, torch.zeros(3, 2, dtype=torch.float64), sig, disable=True)


@pytest.mark.parametrize("out,err,what", [
    (np.zeros((3, 2)), TypeError, "torch.Tensor"),
    (torch.zeros(3, 3), ValueError, "shaped like x"),
    (torch.zeros(3, 2, dtype=torch.int64), TypeError, "floating-point"),
    (torch.zeros(3, 2, dtype=torch.complex128), TypeError, "floating-point"),
])
def test_bad_model_output_names_model_and_step(out, err, what):
    with pytest.raises(err, match=rf"^model .*{what}.* at step 0 \(sigma=80\.0\)"):
        sample_seeds_3(lambda x, s: out, torch.zeros(3, 2, dtype=torch.float64), SIGMAS, disable=True)


def test_overflowing_iterate_is_reported_not_returned():
    """Finite inputs whose iterate leaves float32's range: the next model call sees a non-finite x
    (reported as an overflow, not blamed on the model), and a last step that overflows is caught
    before returning."""
    x = torch.full((2, 2), 3e38)
    tens = lambda a, b: torch.full((2, 2), 10.0)  # noqa: E731 - a finite, if unlikely, draw
    with pytest.raises(ValueError, match=r"iterate overflowed torch\.float32 before the model call at step 1"):
        sample_seeds_1(lambda x, s: x * 0, x, [3e38, 1e38, 1e37], noise_sampler=tens, s_noise=2.0, disable=True)
    with pytest.raises(ValueError, match=r"iterate overflowed torch\.float32 in the last step"):
        sample_seeds_1(lambda x, s: x * 0, x, [3e38, 1e38], noise_sampler=tens, s_noise=2.0, disable=True)


def test_result_that_does_not_fit_a_half_precision_x_is_refused():
    with pytest.raises(ValueError, match=r"does not fit in x's dtype torch\.float16"):
        sample_seeds_1(lambda x, s: x * 0 + 1e5, torch.zeros(2, 2, dtype=torch.float16), [10.0, 1.0, 0.0],
                       disable=True)


# --------------------------------------------------------------------------------------------
# Arguments the solver loop never looked at, and messages that named the wrong argument
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("s_noise,err", [("abc", TypeError), (1j, TypeError), (None, TypeError), (True, TypeError),
                                         (float("nan"), ValueError), (float("inf"), ValueError), (-1, ValueError)])
def test_s_noise_is_checked_even_without_a_stochastic_step(s_noise, err):
    """A single positive sigma followed by 0 only denoises; s_noise is still validated."""
    with pytest.raises(err, match="s_noise"):
        sample_seeds_1(point_mass, torch.zeros(2, 2), [1.0, 0.0], s_noise=s_noise, disable=True)


def test_zero_dim_x_is_a_value_error_naming_x():
    with pytest.raises(ValueError, match=r"^x must have a batch dimension"):
        sample_seeds_1(point_mass, torch.tensor(1.0), [1.0, 0.5], disable=True)


def test_sigmas_one_ulp_apart_name_sigmas():
    """Near σ = 2000 one ulp of σ moves λ = −log σ by less than half an ulp of λ."""
    close = float(np.nextafter(2000.0, 0.0))
    assert np.log(2000.0) == np.log(close)
    with pytest.raises(ValueError, match=r"^sigmas\[0\] = 2000\.0 and sigmas\[1\] = .* are too close: their λ"):
        sample_seeds_1(point_mass, torch.zeros(2, 2), [2000.0, close, 1.0], disable=True)


@pytest.mark.parametrize("sigmas,err", [
    (np.array([1.0 + 1j, 0.5]), TypeError), (torch.tensor([1.0 + 0j, 0.5]), TypeError), ([True, False], TypeError),
    (torch.tensor([True, False]), TypeError), ([1.0, None], TypeError), (None, TypeError),
])
def test_sigmas_of_the_wrong_kind_name_sigmas(sigmas, err):
    with pytest.raises(err, match="sigmas"):
        sample_seeds_1(point_mass, torch.zeros(2, 2), sigmas, disable=True)


def test_sigmas_outside_float32_range_are_refused_for_float32_x():
    with pytest.raises(ValueError, match=r"sigmas must lie in float32's normal range"):
        sample_seeds_1(point_mass, torch.zeros(2, 2), [1e39, 1.0], disable=True)
    with pytest.raises(ValueError, match=r"sigmas must lie in float32's normal range"):
        sample_seeds_1(point_mass, torch.zeros(2, 2), [1.0, 1e-40], disable=True)
    out = sample_seeds_1(point_mass, torch.zeros(2, 2, dtype=torch.float64), [1e39, 1e-40], disable=True)
    assert torch.isfinite(out).all()


# --------------------------------------------------------------------------------------------
# The noise form over very large steps
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigmas", [[80.0, 20.0], [1e100, 1e-100], [1e200, 1e-200], [1e300, 1e-300]])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_seeds1_noise_form_is_finite_and_right_for_any_step(sigmas, eta):
    """SEEDS-1, noise form (α = 1): x_t = x_s − (1+η)(σ_s − σ_t) ε̂_s + sqrt(η(σ_s² − σ_t²)) z.
    σ_t(e^h − 1) = σ_s − σ_t and σ_t sqrt(e^{2h} − 1) = sqrt(σ_s² − σ_t²) are bounded although
    e^{2h} overflows from h ≈ 355 (σ_s/σ_t = 1e100 has h ≈ 460, 1e600 has h ≈ 1382). Each
    coefficient is a few ulp off and x_s − (…)ε̂ cancels, so the result is right to a few ulp of
    the iterate's scale max|x_s|: bound 8 u·max|x_s|."""
    s, t = sigmas
    x = X0 + s * torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    rec = Recorder((3, 2), seed=5)
    out = sample_seeds_1(point_mass, x, sigmas, eta=eta, prediction="noise", noise_sampler=rec, disable=True)
    assert torch.isfinite(out).all()
    eps_hat = (x - X0) / s
    ref = x - (1 + eta) * (s * -math.expm1(math.log(t) - math.log(s))) * eps_hat
    if eta > 0:
        ref = ref + math.sqrt(eta) * s * math.sqrt(-math.expm1(2 * (math.log(t) - math.log(s)))) * rec.draws[0]
    assert float((out - ref).abs().max()) <= 8 * 2.0 ** -53 * float(x.abs().max())


@pytest.mark.parametrize("sampler", [sample_seeds_2, sample_seeds_3,
                                     functools.partial(sample_seeds_2, r=1, solver_type="phi_2")])
def test_multistage_noise_form_refuses_a_step_that_amplifies_rounding(sampler):
    """ε̂ = (x − D)/σ_c at a stage divides the stage value's rounding by σ_c ≪ σ_s (gain ~ e^{ch}):
    a step from 1e100 to 1e-100 would return numbers of order 1e186 for a point mass at 1.5."""
    x = X0 + 1e100 * torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with pytest.raises(ValueError, match=r"^sigmas\[0\] = 1e\+100 to sigmas\[1\] = 1e-100 is too large a step "
                                         r"for prediction='noise'"):
        sampler(point_mass, x, [1e100, 1e-100], eta=0.0, prediction="noise", disable=True)


def test_noise_form_gain_limit_depends_on_the_working_precision():
    """Exponential Heun (SEEDS-2, r = 1) has gain ≈ σ_s/σ_t: a 1e4 ratio is beyond float32's limit
    2^12 but far inside float64's 2^41; the data form has no limit."""
    sig = [80.0, 80.0 / 1e4]
    kwargs = dict(r=1, solver_type="phi_2", eta=0.0, disable=True)
    with pytest.raises(ValueError, match="prediction='noise'"):
        sample_seeds_2(point_mass, torch.zeros(2, 2), sig, prediction="noise", **kwargs)
    assert torch.isfinite(sample_seeds_2(point_mass, torch.zeros(2, 2, dtype=torch.float64), sig,
                                         prediction="noise", **kwargs)).all()
    assert torch.isfinite(sample_seeds_2(point_mass, torch.zeros(2, 2), sig, **kwargs)).all()


# --------------------------------------------------------------------------------------------
# Stage fractions beyond the conditioning bound, and fractions of the wrong type
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r", [1e-300, 1e-16, 1e-12, 1e-8, 4.8e-4])
def test_sample_seeds_2_refuses_ill_conditioned_r(r):
    with pytest.raises(ValueError, match=rf"^r={r!r} is too close to 0: .* above the bound 4096"):
        sample_seeds_2(gaussian_denoiser, torch.zeros(3, 2, dtype=torch.float64), SIGMAS, r=r, disable=True)


@pytest.mark.parametrize("r_1,r_2,variant", [(0.5, 0.5001, "3b"), (0.5, 0.500001, "3b"), (1e-300, 2e-300, "3b"),
                                             (1e-300, 2e-300, "3a"), (1e-4, 0.5, "3a")])
def test_sample_seeds_3_refuses_ill_conditioned_fractions(r_1, r_2, variant):
    with pytest.raises(ValueError, match=rf"^r_1={r_1!r}, r_2={r_2!r} \({variant}\): .* above the bound 4096"):
        sample_seeds_3(gaussian_denoiser, torch.zeros(3, 2, dtype=torch.float64), SIGMAS, r_1=r_1, r_2=r_2,
                       solver_type=variant, disable=True)


@pytest.mark.parametrize("kwargs,name", [(dict(r_1=None), "r_1"), (dict(r_2=None), "r_2"), (dict(r_1="1/3"), "r_1"),
                                         (dict(r_2=torch.tensor(0.7)), "r_2")])
def test_sample_seeds_3_fraction_types(kwargs, name):
    with pytest.raises(TypeError, match=rf"^{name} must be a real number"):
        sample_seeds_3(point_mass, torch.zeros(2, 2), SIGMAS, **kwargs)
