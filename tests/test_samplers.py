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
