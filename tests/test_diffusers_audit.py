"""The diffusers adapter and audit: exact model outputs in every prediction type, noise read from the
study's Brownian path, a quick end-to-end audit and its JSON schema."""

import json
import math

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers", reason="diffusers is not installed (pip install seeds_verify[diffusers])")

from seeds_verify.audit import RECORD_KEYS  # noqa: E402
from seeds_verify.convergence.subjects import SamplerError  # noqa: E402
from seeds_verify.diffusers import audit as daudit  # noqa: E402
from seeds_verify.diffusers.adapter import (TABLE_INTERVALS, SchedulerSpec, build_scheduler,  # noqa: E402
                                            model_output, scheduler_sampler, uniform_lambda_table)
from seeds_verify.noise import BrownianPath  # noqa: E402
from seeds_verify.problems import get_problem  # noqa: E402

SIGMA_START, SIGMA_END = 80.0, 0.02
X0 = torch.tensor([0.5, -1.0], dtype=torch.float64)


def _sigmas(n):
    return torch.from_numpy(np.exp(np.linspace(math.log(SIGMA_START), math.log(SIGMA_END), n + 1)))


def _point_mass(x, sigma, **_):
    return X0.expand_as(x).clone()


def _start(paths=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return X0 + SIGMA_START * torch.randn(paths, 2, generator=gen, dtype=torch.float64)


def _ddim(prediction_type="epsilon"):
    return SchedulerSpec("DDIM", "diffusers:DDIMScheduler",
                         {"clip_sample": False, "set_alpha_to_one": False, "prediction_type": prediction_type},
                         "trailing", stochastic=True, eta_control="step", noise_hook="randn")


def _ddpm():
    return SchedulerSpec("DDPM", "diffusers:DDPMScheduler", {"clip_sample": False}, "linspace+1",
                         stochastic=True, noise_hook="randn")


def test_table_is_uniform_in_log_sigma():
    for layout, positions in (("linspace", np.arange(TABLE_INTERVALS + 1)),
                              ("trailing", np.r_[0, np.arange(2, TABLE_INTERVALS + 1)])):
        betas = uniform_lambda_table(SIGMA_START, SIGMA_END, layout)
        abar = np.cumprod(1.0 - betas)
        log_sigma = 0.5 * np.log((1.0 - abar) / abar)
        expected = math.log(SIGMA_END) + positions / TABLE_INTERVALS * math.log(SIGMA_START / SIGMA_END)
        np.testing.assert_allclose(log_sigma, expected, rtol=0, atol=1e-11)
    with pytest.raises(ValueError, match="sigma_end"):
        uniform_lambda_table(1.0, 2.0)
    with pytest.raises(ValueError, match="layout"):
        uniform_lambda_table(2.0, 1.0, "leading")


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
def test_model_output_gives_the_denoiser_back(kind):
    """The scheduler's own conversion of the adapter's output is the exact denoised sample."""
    spec = SchedulerSpec("DDPM", "diffusers:DDPMScheduler", {"clip_sample": False, "prediction_type": kind},
                         "linspace+1", stochastic=True, noise_hook="randn")
    sch = build_scheduler(spec, SIGMA_START, SIGMA_END)
    sch.set_timesteps(5)
    problem = get_problem("gaussian")
    t = int(sch.timesteps[1])
    abar = float(sch.alphas_cumprod[t])
    sigma = math.sqrt((1.0 - abar) / abar)
    y = problem.sample(6, sigma, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    den = problem.denoiser(y, sigma)
    x_vp = y * math.sqrt(abar)
    out = model_output(sch, den, y, sigma)
    result = sch.step(out.float(), t, x_vp.float(), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(result.pred_original_sample.double(), den, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("spec", [
    _ddim("epsilon"), _ddim("v_prediction"), _ddim("sample"),
    SchedulerSpec("Euler-eps", "diffusers:EulerDiscreteScheduler", {}, "linspace+1"),
    SchedulerSpec("Euler-v", "diffusers:EulerDiscreteScheduler", {"prediction_type": "v_prediction"}, "linspace+1"),
    SchedulerSpec("DPM2M-sample", "diffusers:DPMSolverMultistepScheduler",
                  {"prediction_type": "sample", "final_sigmas_type": "sigma_min"}),
    SchedulerSpec("EDM-v", "diffusers:EDMDPMSolverMultistepScheduler", {"prediction_type": "v_prediction"}, "edm+1"),
], ids=lambda s: s.name)
def test_odes_are_exact_on_a_point_mass(spec):
    """D ≡ x0: the ODE is y(σ) = x0 + (σ/σ_start)(y_start − x0); DDIM (η = 0), Euler in σ and
    DPM-Solver++ reproduce it in every prediction type, VP and VE coordinates alike."""
    y0 = _start()
    expected = X0 + SIGMA_END / SIGMA_START * (y0 - X0)
    kw = {"eta": 0.0} if spec.stochastic else {}
    for n in (3, 12):
        out = scheduler_sampler(spec)(_point_mass, y0, _sigmas(n), **kw)
        torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


def test_ddpm_noise_is_the_paths_increment():
    """Each DDPM step asks for noise over exactly its own [σ_k, σ_{k+1}], and its update is the
    exact one-step solution on a point mass with that increment (k = 1, MATH §4)."""
    n = 4
    sig = _sigmas(n)
    gen = torch.Generator().manual_seed(3)
    calls, draws = [], []

    def noise_sampler(a, b):
        calls.append((float(a), float(b)))
        draws.append(torch.randn(4, 2, generator=gen, dtype=torch.float64))
        return draws[-1]

    y0 = _start()
    out = scheduler_sampler(_ddpm())(_point_mass, y0, sig, noise_sampler=noise_sampler)
    assert calls == [(float(sig[k]), float(sig[k + 1])) for k in range(n)]
    y = y0
    for k in range(n):
        decay = math.exp(-2.0 * math.log(float(sig[k] / sig[k + 1])))  # e^{−2h}
        y = X0 + float(sig[k + 1] / sig[k]) * math.sqrt(decay) * (y - X0) \
            + float(sig[k + 1]) * math.sqrt(1.0 - decay) * draws[k]
    torch.testing.assert_close(out, y, rtol=1e-10, atol=1e-10)


def test_same_path_same_output_bit_for_bit():
    problem = get_problem("gaussian")
    sig = _sigmas(12)
    lam = -np.log(sig.numpy())
    path = BrownianPath(np.linspace(lam[0], lam[-1], 12 * 6 + 1), (8, 2), seed=5, moments=4)
    y0 = problem.sample(8, SIGMA_START, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    model = lambda x, s, **_: problem.denoiser(x, s)  # noqa: E731
    sde = daudit.SPECS[[s.name for s in daudit.SPECS].index("DPMSolverSDEScheduler")]
    # DPMSolverSDEScheduler draws through torchsde, an optional backend of diffusers
    for spec in [_ddpm()] + ([sde] if sde.unavailable() is None else []):
        runs = [scheduler_sampler(spec)(model, y0.clone(), sig, noise_sampler=path.noise_sampler(1.0))
                for _ in range(2)]
        assert torch.equal(runs[0], runs[1])
        other = scheduler_sampler(spec)(model, y0.clone(), sig,
                                        noise_sampler=BrownianPath(path.grid, (8, 2), seed=6).noise_sampler(1.0))
        assert not torch.equal(runs[0], other)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="grid"):
        SchedulerSpec("x", "diffusers:DDIMScheduler", grid="leading")
    with pytest.raises(ValueError, match="config"):
        SchedulerSpec("x", "diffusers:DDIMScheduler", {"trained_betas": [0.1]})
    with pytest.raises(TypeError, match="spec"):
        scheduler_sampler("DDIMScheduler")
    euler = scheduler_sampler(SchedulerSpec("Euler", "diffusers:EulerDiscreteScheduler", grid="linspace+1"))
    with pytest.raises(ValueError, match="sigmas"):
        euler(_point_mass, _start(), _sigmas(4).flip(0))
    with pytest.raises(SamplerError, match="divide"):
        euler(_point_mass, _start(), _sigmas(5))
    with pytest.raises(ValueError, match="eta"):
        scheduler_sampler(_ddim())(_point_mass, _start(), _sigmas(4), eta=0.5)
    with pytest.raises(ValueError, match="only"):
        daudit.diffusers_samplers(["NoSuchScheduler"])


def test_quick_audit_end_to_end(tmp_path, capsys):
    names = "EulerDiscreteScheduler,HeunDiscreteScheduler,DDIMScheduler"
    code = daudit.main(["--quick", "--problems", "gaussian", "--schedulers", names, "--out", str(tmp_path),
                        "--no-progress"])
    assert code == 0
    data = json.loads((tmp_path / "audit_diffusers.json").read_text())
    assert (tmp_path / "audit_diffusers.png").stat().st_size > 0
    assert set(data) == {"meta", "records"}
    assert {"versions", "settings", "claims", "schedulers", "wall_time_s"} <= set(data["meta"])
    recs = {(r["sampler"].split(":")[-1], r["regime"]): r for r in data["records"]}
    assert len(data["records"]) == 3 * 3
    for rec in data["records"]:
        assert set(rec) == set(RECORD_KEYS)
    assert recs[("EulerDiscreteScheduler", "deterministic")]["verdict"] == "pass"
    assert recs[("EulerDiscreteScheduler", "deterministic")]["declared"] == 1.0
    assert recs[("HeunDiscreteScheduler", "deterministic")]["verdict"] == "pass"
    assert abs(recs[("HeunDiscreteScheduler", "deterministic")]["measured_order"] - 2.0) < 0.25
    assert recs[("DDIMScheduler", "deterministic")]["verdict"] == "pass"
    assert recs[("DDIMScheduler", "strong")]["verdict"] == "measured"
    assert recs[("EulerDiscreteScheduler", "strong")]["verdict"] == "not applicable"
    assert "arXiv:2206.00364" in recs[("HeunDiscreteScheduler", "deterministic")]["source"]
    capsys.readouterr()
    assert daudit.main(["--table-from", str(tmp_path / "audit_diffusers.json")]) == 0
    table = capsys.readouterr().out
    assert "| `HeunDiscreteScheduler` | deterministic | 2 (EDM) |" in table

    from seeds_verify.report.audit_diffusers import diffusers_audit_pages

    pages = list(diffusers_audit_pages(tmp_path))
    assert [p.slug for p in pages] == ["audit_diffusers"]
    text = " ".join(t.get_text() for t in pages[0].figure.texts)
    assert "diffusers" in text and "HeunDiscreteScheduler" in text
    import matplotlib.pyplot as plt

    plt.close(pages[0].figure)
    assert list(diffusers_audit_pages(tmp_path / "absent")) == []


def test_every_claim_names_a_known_scheduler_and_a_source():
    names = {s.name for s in daudit.SPECS}
    for name, regimes in daudit.CLAIMS.items():
        if name.startswith("SEEDSScheduler") and name not in names:
            continue
        assert name in names
        for regime, (order, source) in regimes.items():
            assert regime in ("strong", "weak", "deterministic") and order > 0 and source


def test_a_scheduler_without_its_backend_is_reported_unavailable():
    """diffusers stands in a placeholder class for a scheduler whose optional backend is missing;
    the audit then records it as not applicable with the reason instead of crashing."""
    placeholder = type("NeedsSomething", (), {"_backends": ["torch", "somebackend"],
                                               "__module__": "diffusers.utils.dummy_torch_and_somebackend_objects"})
    spec = SchedulerSpec("NeedsSomething", placeholder)
    assert "somebackend" in spec.unavailable()
    assert _ddpm().unavailable() is None
