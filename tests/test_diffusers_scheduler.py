"""seeds_verify.diffusers.SEEDSScheduler: the reference SEEDS trajectory inside diffusers' loop.

The scheduler's iterate, divided by α, must be the trajectory of ``sample_seeds_k`` on the
scheduler's own σ̃-grid with the same noise (MATH §1: data prediction is invariant under x ← x/α),
whatever the pipeline: checked against a Gaussian-mixture denoiser for every order, form and η,
and end to end in ``DDPMPipeline`` with a tiny random UNet.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers", reason="diffusers is not installed (pip install seeds_verify[diffusers])")

from diffusers import (  # noqa: E402
    DDPMPipeline,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    UNet2DModel,
)

from seeds_verify import sample_seeds_1, sample_seeds_2, sample_seeds_3  # noqa: E402
from seeds_verify.diffusers import SEEDSScheduler  # noqa: E402

SAMPLERS = {1: sample_seeds_1, 2: sample_seeds_2, 3: sample_seeds_3}


def mixture_denoiser(x: torch.Tensor, sigma) -> torch.Tensor:
    """Exact denoiser of ½N(−1, 0.3² I) + ½N(1.5, 0.5² I) per coordinate (MATH §8), nonlinear in x."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    means, variances = (-1.0, 1.5), (0.09, 0.25)
    logits, parts = [], []
    for m, v in zip(means, variances):
        total = v + sigma ** 2
        logits.append(-0.5 * (x - m) ** 2 / total - 0.5 * torch.log(total))
        parts.append(m + v / total * (x - m))
    r = torch.softmax(torch.stack(logits), dim=0)
    return (r * torch.stack(parts)).sum(0)


def model_output(kind: str, x: torch.Tensor, sigma_tilde: float) -> torch.Tensor:
    """What a model of ``prediction_type`` returns at the variance-preserving x (α² + σ² = 1)."""
    alpha = 1.0 / math.hypot(1.0, sigma_tilde)
    sigma = sigma_tilde * alpha
    x_tilde = x / alpha
    data = mixture_denoiser(x_tilde, sigma_tilde)
    eps = (x_tilde - data) / sigma_tilde
    return {"epsilon": eps, "sample": data, "v_prediction": alpha * eps - sigma * data}[kind]


class RecordingNoise:
    """A k-diffusion noise_sampler: draws in call order from a seeded generator, records (σ_a, σ_b)."""

    def __init__(self, shape, dtype, seed=7):
        self.generator = torch.Generator().manual_seed(seed)
        self.shape, self.dtype, self.calls = shape, dtype, []

    def __call__(self, sigma_a, sigma_b):
        self.calls.append((sigma_a, sigma_b))
        return torch.randn(self.shape, generator=self.generator, dtype=self.dtype)


def run_scheduler(scheduler: SEEDSScheduler, x: torch.Tensor, kind: str = "epsilon", out_dtype=None,
                  generator=None) -> torch.Tensor:
    """The plain diffusers loop with the test model; the scheduler's σ̃ of each call feeds the model."""
    for k, t in enumerate(scheduler.timesteps):
        sigma_tilde = float(scheduler.sigmas[k])
        out = model_output(kind, x.to(torch.float64), sigma_tilde)
        out = out.to(out_dtype or x.dtype)
        x = scheduler.step(out, t, x, generator=generator).prev_sample
    return x


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def seeds_kwargs(order: int, scheduler: SEEDSScheduler) -> dict:
    solver = scheduler.solver
    if order == 2:
        return {"r": solver.r, "solver_type": solver.variant}
    if order == 3:
        return {"r_1": solver.r_1, "r_2": solver.r_2, "solver_type": solver.variant}
    return {}


def reference_and_scheduler(order, form, eta, dtype, *, steps=6, shape=(3, 5), kind="epsilon", **config):
    """(scheduler result / α_end, sample_seeds_k result, their noise_sampler calls)."""
    scheduler = SEEDSScheduler(solver_order=order, algorithm_type=form, eta=eta, prediction_type=kind, **config)
    scheduler.set_timesteps(steps)
    start = torch.randn(shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    sigma_max = float(scheduler.step_sigmas[0])
    ours_noise, ref_noise = RecordingNoise(shape, dtype), RecordingNoise(shape, dtype)
    scheduler.set_noise_sampler(ours_noise)
    ours = run_scheduler(scheduler, start.to(dtype), kind)
    # The variance-preserving start x = ε is x̃ = sqrt(1 + σ̃_max²) ε in the k-diffusion convention.
    x_tilde = (start * math.hypot(1.0, sigma_max)).to(dtype)
    ref = SAMPLERS[order](mixture_denoiser, x_tilde, scheduler.step_sigmas, eta=eta, prediction=form,
                          noise_sampler=ref_noise, **seeds_kwargs(order, scheduler))
    sigma_end = float(scheduler.step_sigmas[-1])
    return ours.double() * math.hypot(1.0, sigma_end), ref, ours_noise.calls, ref_noise.calls


# --------------------------------------------------------------------------------------------
# The trajectory is sample_seeds_k's
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("form", ["data", "noise"])
@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["f64", "f32"])
def test_trajectory_equals_sample_seeds(order, form, eta, dtype, tol):
    ours, ref, ours_calls, ref_calls = reference_and_scheduler(order, form, eta, dtype,
                                                              beta_schedule="scaled_linear", beta_start=0.00085,
                                                              beta_end=0.012)
    assert relative_error(ours, ref) <= tol
    # Same sub-intervals, in the same order, with the same σ̃ end points (none when η = 0).
    assert len(ours_calls) == len(ref_calls) == (0 if eta == 0 else order * 5)
    np.testing.assert_allclose(np.array(ours_calls), np.array(ref_calls), rtol=1e-15, atol=0)


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
@pytest.mark.parametrize("config", [
    dict(solver_order=2, solver_type="phi_2", stage_fractions=[1.0], final_sigmas_type="sigma_min"),
    dict(solver_order=3, solver_type="3b", stage_fractions=[0.25, 0.6], use_karras_sigmas=True),
    dict(solver_order=2, algorithm_type="noise", timestep_spacing="trailing", final_sigmas_type="sigma_min"),
    dict(solver_order=3, algorithm_type="noise", timestep_spacing="leading", steps_offset=1,
         beta_schedule="squaredcos_cap_v2"),
], ids=["heun-sigma_min", "3b-karras", "noise-trailing", "noise-leading-cosine"])
def test_trajectory_for_every_prediction_type_and_grid(kind, config):
    order = config["solver_order"]
    config = {k: v for k, v in config.items() if k != "solver_order"}
    form = config.pop("algorithm_type", "data")
    ours, ref, ours_calls, ref_calls = reference_and_scheduler(order, form, 1.0, torch.float64, kind=kind, **config)
    assert relative_error(ours, ref) <= 1e-12
    assert len(ours_calls) == len(ref_calls) > 0
    np.testing.assert_allclose(np.array(ours_calls), np.array(ref_calls), rtol=1e-15, atol=0)


def test_a_run_from_begin_index_is_the_tail_of_the_trajectory():
    """img2img pipelines start at ``set_begin_index(k * order)``: the run is sample_seeds_k's on
    the grid from step k on."""
    scheduler = SEEDSScheduler(solver_order=3, eta=1.0)
    scheduler.set_timesteps(6)
    scheduler.set_begin_index(2 * scheduler.order)
    start = torch.randn(2, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    scheduler.set_noise_sampler(RecordingNoise(start.shape, torch.float64))
    x = start
    for k in range(2 * scheduler.order, len(scheduler.timesteps)):
        out = model_output("epsilon", x, float(scheduler.sigmas[k]))
        x = scheduler.step(out, scheduler.timesteps[k], x).prev_sample
    grid = scheduler.step_sigmas[2:]
    ref = sample_seeds_3(mixture_denoiser, start * math.hypot(1.0, float(grid[0])), grid, eta=1.0,
                         noise_sampler=RecordingNoise(start.shape, torch.float64))
    assert relative_error(x, ref) <= 1e-12
    scheduler.set_timesteps(6)
    scheduler.set_begin_index(1)  # a stage point, not a step's start
    with pytest.raises(ValueError, match="begin_index"):
        scheduler.step(start, scheduler.timesteps[1], start)


def test_custom_sigmas_give_the_same_trajectory():
    scheduler = SEEDSScheduler(solver_order=3, eta=0.7)
    sigmas = [80.0, 20.0, 3.0, 0.4, 0.05, 0.0]
    scheduler.set_timesteps(sigmas=sigmas)
    assert scheduler.num_inference_steps == 5 and len(scheduler.timesteps) == 3 * 4 + 1
    torch.testing.assert_close(scheduler.step_sigmas, torch.tensor(sigmas, dtype=torch.float64), rtol=0, atol=0)
    start = torch.randn(2, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    scheduler.set_noise_sampler(RecordingNoise(start.shape, torch.float64))
    ours = run_scheduler(scheduler, start)
    ref = sample_seeds_3(mixture_denoiser, start * math.hypot(1.0, 80.0), sigmas, eta=0.7,
                         noise_sampler=RecordingNoise(start.shape, torch.float64))
    assert relative_error(ours, ref) <= 1e-12


# --------------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("final", ["zero", "sigma_min"])
def test_timesteps_hold_every_stage_point(order, final):
    scheduler = SEEDSScheduler(solver_order=order, final_sigmas_type=final)
    scheduler.set_timesteps(7)
    calls = order * 6 + 1 if final == "zero" else order * 7
    assert len(scheduler.timesteps) == calls and len(scheduler.sigmas) == calls + 1
    assert scheduler.num_inference_steps == 7 and scheduler.order == order
    x = torch.ones(2)
    assert scheduler.init_noise_sigma == 1.0 and scheduler.scale_model_input(x, scheduler.timesteps[0]) is x
    assert bool((scheduler.timesteps[1:] <= scheduler.timesteps[:-1]).all())
    assert float(scheduler.sigmas[-1]) == (0.0 if final == "zero" else float(scheduler._sigma_of_t(np.array([0.0]))[0]))
    # A stage point at λ_s + c h has σ̃ = σ̃_s^{1−c} σ̃_t^c, and its time maps back to that σ̃.
    grid = scheduler.step_sigmas.numpy()
    fractions = [float(c) for c in scheduler.solver.spec.fractions[:-1]]
    for n in range(6):
        for i, c in enumerate(fractions):
            expected = grid[n] ** (1 - c) * grid[n + 1] ** c
            assert float(scheduler.sigmas[order * n + 1 + i]) == pytest.approx(expected, rel=1e-13)
    mapped = scheduler._sigma_of_t(scheduler.timesteps.double().numpy())
    np.testing.assert_allclose(mapped, scheduler.sigmas[:-1].numpy(), rtol=2e-5)


@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
def test_step_starts_match_euler_timesteps(spacing):
    config = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, timestep_spacing=spacing,
                  steps_offset=1)
    euler = EulerDiscreteScheduler(**config)
    euler.set_timesteps(10)
    ours = SEEDSScheduler(solver_order=2, **config)
    ours.set_timesteps(10)
    starts = ours.timesteps[::2]
    torch.testing.assert_close(starts, euler.timesteps.float(), rtol=0, atol=1e-3)
    if spacing != "linspace":  # integer times: the same table entries (diffusers' in float32)
        np.testing.assert_allclose(ours.step_sigmas.numpy(), euler.sigmas.double().numpy(), rtol=2e-6)


def test_add_noise_matches_ddpm_at_training_steps():
    ours, ddpm = SEEDSScheduler(), DDPMScheduler()
    x0 = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0, 10, 500, 999])
    torch.testing.assert_close(ours.add_noise(x0, noise, t), ddpm.add_noise(x0, noise, t), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="timesteps"):
        ours.add_noise(x0, noise, torch.tensor([1000, 0, 0, 0]))


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------


def test_config_round_trip(tmp_path):
    scheduler = SEEDSScheduler(solver_order=3, solver_type="3b", stage_fractions=[0.3, 0.7], eta=0.5,
                               algorithm_type="noise", use_karras_sigmas=True, final_sigmas_type="sigma_min",
                               beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    scheduler.save_config(tmp_path)
    loaded = SEEDSScheduler.from_pretrained(tmp_path)
    again = SEEDSScheduler.from_config(json.loads(scheduler.to_json_string()))
    public = lambda s: {k: v for k, v in s.config.items() if not k.startswith("_")}  # noqa: E731
    assert public(loaded) == public(again) == public(scheduler)
    assert public(scheduler)["stage_fractions"] == [0.3, 0.7] and public(scheduler)["solver_type"] == "3b"
    for s in (loaded, again):
        s.set_timesteps(4)
    scheduler.set_timesteps(4)
    torch.testing.assert_close(loaded.timesteps, scheduler.timesteps, rtol=0, atol=0)
    torch.testing.assert_close(again.sigmas, scheduler.sigmas, rtol=0, atol=0)


def test_from_config_of_karras_family_schedulers():
    dpm = DPMSolverMultistepScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                      algorithm_type="sde-dpmsolver++", solver_type="midpoint",
                                      use_karras_sigmas=True, prediction_type="v_prediction")
    seeds = SEEDSScheduler.from_config(dpm.config)
    assert seeds.config.algorithm_type == "data" and seeds.config.solver_type is None
    assert seeds.config.use_karras_sigmas and seeds.config.prediction_type == "v_prediction"
    assert seeds.config.beta_schedule == "scaled_linear" and seeds.solver.variant == "phi_1"
    dpm_noise = DPMSolverMultistepScheduler(algorithm_type="dpmsolver", final_sigmas_type="sigma_min")
    noise = SEEDSScheduler.from_config(dpm_noise.config)
    assert noise.config.algorithm_type == "noise"
    euler = EulerDiscreteScheduler(timestep_spacing="trailing", final_sigmas_type="zero")
    seeds = SEEDSScheduler.from_config(euler.config, solver_order=3)
    assert seeds.config.timestep_spacing == "trailing" and seeds.order == 3
    assert "EulerDiscreteScheduler" in SEEDSScheduler._compatibles
    assert "DPMSolverMultistepScheduler" in SEEDSScheduler._compatibles


@pytest.mark.parametrize("kwargs,name", [
    (dict(beta_schedule="cosine"), "beta_schedule"),
    (dict(prediction_type="flow_prediction"), "prediction_type"),
    (dict(solver_order=4), "solver_order"),
    (dict(solver_order=2, solver_type="3a"), "solver_type"),
    (dict(solver_order=3, solver_type="phi_1"), "solver_type"),
    (dict(solver_order=3, stage_fractions=[0.5]), "stage_fractions"),
    (dict(solver_order=3, stage_fractions=[0.6, 0.3]), "stage_fractions"),
    (dict(solver_order=2, stage_fractions=[1e-5]), "stage_fractions"),
    (dict(eta=1.5), "eta"),
    (dict(s_noise=-1.0), "s_noise"),
    (dict(algorithm_type="ode"), "algorithm_type"),
    (dict(timestep_spacing="uniform"), "timestep_spacing"),
    (dict(final_sigmas_type="one"), "final_sigmas_type"),
    (dict(num_train_timesteps=1), "num_train_timesteps"),
    (dict(beta_start=-0.1), "beta_start"),
    (dict(trained_betas=[0.1, 0.2]), "trained_betas"),
    (dict(steps_offset=-1), "steps_offset"),
])
def test_bad_config_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SEEDSScheduler(**kwargs)


@pytest.mark.parametrize("kwargs,name", [
    (dict(eta="1"), "eta"), (dict(use_karras_sigmas="yes"), "use_karras_sigmas"),
    (dict(solver_order=2, stage_fractions="0.5"), "stage_fractions"),
])
def test_wrong_config_types_name_the_argument(kwargs, name):
    with pytest.raises(TypeError, match=name):
        SEEDSScheduler(**kwargs)


def test_bad_calls_name_the_argument():
    scheduler = SEEDSScheduler(solver_order=1)
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="set_timesteps"):
        scheduler.step(x, 999, x)
    with pytest.raises(ValueError, match="num_inference_steps"):
        scheduler.set_timesteps(0)
    with pytest.raises(ValueError, match="num_inference_steps"):
        SEEDSScheduler(timestep_spacing="leading", steps_offset=1).set_timesteps(1000)
    with pytest.raises(ValueError, match="sigmas"):
        scheduler.set_timesteps(sigmas=[500.0, 1.0, 0.0])
    scheduler.set_timesteps(2)
    t = scheduler.timesteps[0]
    with pytest.raises(ValueError, match="model_output"):
        scheduler.step(torch.zeros(2, 4), t, x)
    with pytest.raises(TypeError, match="generator"):
        scheduler.step(x, t, x, generator=[torch.Generator()])
    with pytest.raises(ValueError, match="timestep"):
        scheduler.step(x, 123.5, x)  # not a step's first timestep
    with pytest.raises(TypeError, match="noise_sampler"):
        scheduler.set_noise_sampler(3)
    for t in scheduler.timesteps:
        x = scheduler.step(x, t, x).prev_sample
    with pytest.raises(ValueError, match="set_timesteps"):
        scheduler.step(x, t, x)


# --------------------------------------------------------------------------------------------
# Noise and precision
# --------------------------------------------------------------------------------------------


def test_eta_zero_draws_no_noise():
    scheduler = SEEDSScheduler(solver_order=3, eta=0.0)
    scheduler.set_timesteps(4)
    generator = torch.Generator().manual_seed(5)
    state = generator.get_state()
    run_scheduler(scheduler, torch.randn(2, 3), generator=generator)
    assert torch.equal(generator.get_state(), state)


def test_same_generator_same_result_and_per_sample_streams():
    def run(seeds):
        scheduler = SEEDSScheduler(solver_order=2)
        scheduler.set_timesteps(5)
        start = torch.cat([torch.randn(1, 4, generator=torch.Generator().manual_seed(100 + s)) for s in seeds])
        return run_scheduler(scheduler, start, generator=[torch.Generator().manual_seed(s) for s in seeds])

    one, three = run([0]), run([0, 1, 2])
    assert torch.equal(run([0, 1, 2]), three)  # same code, same seeds: bit-identical
    torch.testing.assert_close(three[:1], one, rtol=1e-6, atol=1e-6)
    assert relative_error(three[1:2], one) > 1e-2  # other streams give other samples


@pytest.mark.parametrize("half,tol", [(torch.float16, 2e-2), (torch.bfloat16, 1e-1)])
def test_half_precision_model_outputs_and_samples(half, tol):
    """Half-precision outputs are read in float32; the result is the float32 trajectory up to
    the half-precision rounding of the model outputs (and of the sample between calls)."""
    def run(sample_dtype, out_dtype):
        scheduler = SEEDSScheduler(solver_order=3, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
        scheduler.set_timesteps(6)
        scheduler.set_noise_sampler(RecordingNoise((4, 8), torch.float32))
        start = torch.randn(4, 8, generator=torch.Generator().manual_seed(9))
        return run_scheduler(scheduler, start.to(sample_dtype), out_dtype=out_dtype)

    reference = run(torch.float32, torch.float32)
    outputs_half = run(torch.float32, half)
    assert outputs_half.dtype == torch.float32
    assert 0 < relative_error(outputs_half, reference) <= tol
    both_half = run(half, half)
    assert both_half.dtype == half
    assert relative_error(both_half, reference) <= tol


# --------------------------------------------------------------------------------------------
# A real pipeline
# --------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def one_thread():
    """The tiny models here run faster on one thread than on cores shared with other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_unet(dtype=torch.float32) -> UNet2DModel:
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)
    return unet.to(dtype).eval()


def ddpm_pipeline(dtype=torch.float32, **config) -> DDPMPipeline:
    pipe = DDPMPipeline(unet=tiny_unet(dtype), scheduler=SEEDSScheduler.from_config(DDPMScheduler().config, **config))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_ddpm_pipeline_is_reproducible_and_batch_invariant():
    pipe = ddpm_pipeline(solver_order=2)
    images = pipe(batch_size=3, generator=[torch.Generator().manual_seed(s) for s in range(3)],
                  num_inference_steps=4, output_type="np").images
    again = pipe(batch_size=3, generator=[torch.Generator().manual_seed(s) for s in range(3)],
                 num_inference_steps=4, output_type="np").images
    assert images.shape == (3, 8, 8, 3) and np.array_equal(images, again)
    single = pipe(batch_size=1, generator=[torch.Generator().manual_seed(0)], num_inference_steps=4,
                  output_type="np").images
    np.testing.assert_allclose(single[0], images[0], rtol=1e-5, atol=1e-5)
    assert np.abs(images[1] - images[0]).max() > 1e-2
    shared = pipe(batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=4,
                  output_type="np").images
    assert np.array_equal(shared, pipe(batch_size=2, generator=torch.Generator().manual_seed(0),
                                       num_inference_steps=4, output_type="np").images)


@pytest.mark.parametrize("order,form", [(1, "data"), (2, "noise"), (3, "data")])
def test_ddpm_pipeline_runs_the_reference_trajectory(order, form):
    """DDPMPipeline neither scales its N(0, I) start nor the model input: with the state kept
    variance-preserving, its output is sample_seeds_k's on the UNet seen as a k-diffusion denoiser
    D(x̃, σ̃) = x̃ − σ̃ ε̂(x̃/sqrt(1 + σ̃²), t(σ̃)), started from x̃ = sqrt(1 + σ̃_max²) ε."""
    pipe = ddpm_pipeline(torch.float64, solver_order=order, algorithm_type=form, eta=1.0)
    steps, shape = 3, (2, 3, 8, 8)
    pipe.scheduler.set_noise_sampler(RecordingNoise(shape, torch.float64))
    images = pipe(batch_size=2, generator=torch.Generator().manual_seed(4), num_inference_steps=steps,
                  output_type="pt").images

    scheduler = pipe.scheduler  # its grid after the pipeline's set_timesteps
    time_of = {float(s): t for s, t in zip(scheduler.sigmas[:-1].tolist(), scheduler.timesteps)}
    model_calls = []

    def denoiser(x_tilde, sigma):
        s = float(sigma[0])
        model_calls.append(s)
        eps = pipe.unet(x_tilde / math.hypot(1.0, s), time_of[s]).sample
        return x_tilde - s * eps

    start = torch.randn(shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ref = SAMPLERS[order](denoiser, start * math.hypot(1.0, float(scheduler.step_sigmas[0])), scheduler.step_sigmas,
                          eta=1.0, prediction=form, noise_sampler=RecordingNoise(shape, torch.float64),
                          **seeds_kwargs(order, scheduler))
    assert len(model_calls) == len(scheduler.timesteps) == order * (steps - 1) + 1
    torch.testing.assert_close(images, (ref / 2 + 0.5).clamp(0, 1), rtol=1e-10, atol=1e-10)


def test_import_seeds_verify_does_not_import_diffusers():
    code = ("import sys, seeds_verify, seeds_verify.diffusers; "
            "assert 'diffusers' not in sys.modules, 'diffusers imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
