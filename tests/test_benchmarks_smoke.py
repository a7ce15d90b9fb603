"""Each benchmark at tiny size: it runs, counts NFE honestly and writes well-formed results.

Budget: under 30 s on 2 cores (measured with ``pytest --durations=10``). No timing is asserted:
timings on a shared machine are noise; only the structure and the exact quantities are checked.
Peers (k-diffusion, torchsde) are optional: without them the peer parts are skipped and our side
still runs.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import overhead, quality, registry, throughput  # noqa: E402
from seeds_verify.problems import GaussianMixture  # noqa: E402
from seeds_verify.schedules import get_schedule  # noqa: E402

HAVE_KDIFF = importlib.util.find_spec("k_diffusion") is not None
HAVE_TORCHSDE = importlib.util.find_spec("torchsde") is not None


def test_nfe_accounting_inverts():
    for k in (1, 2, 3):
        for nfe in (7, 13, 25):
            m = registry.positive_sigmas(nfe, k)
            assert registry.nfe_of(m, k) == nfe
    with pytest.raises(ValueError, match="nfe"):
        registry.positive_sigmas(8, 3)


def _model_calls(entry, n_positive: int) -> int:
    problem = quality.get_problem("gmm_unequal")
    sigmas = quality.karras_sigmas(get_schedule("edm"), n_positive, "cpu")
    model = registry.CountingModel(problem.denoiser)
    torch.manual_seed(0)
    out = entry.run(model, problem.sample(16, float(sigmas[0])), sigmas)
    assert out.shape == (16, 2) and bool(torch.isfinite(out).all())
    return model.calls


@pytest.mark.parametrize("entry", registry.ours(), ids=lambda e: e.name)
def test_our_samplers_spend_the_declared_nfe(entry):
    assert _model_calls(entry, 5) == registry.nfe_of(5, entry.nfe_per_step)


def test_peer_samplers_spend_the_declared_nfe():
    if not HAVE_KDIFF:
        pytest.skip("k-diffusion not installed")
    peers, reason = registry.k_diffusion_peers(plain_noise_2m=True)
    if reason:
        pytest.skip(reason)
    for entry in peers:
        assert _model_calls(entry, 5) == registry.nfe_of(5, entry.nfe_per_step), entry.name


def test_isotropic_denoiser_matches_the_exact_mixture():
    cheap = overhead.IsotropicMixture.random(dim=3, components=4, seed=1, dtype=torch.float64)
    exact = GaussianMixture(cheap.weights.numpy(), cheap.means.numpy(),
                            np.stack([v * np.eye(3) for v in cheap.variances.numpy()]))
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3
    for s in (0.05, 1.0, 30.0):
        sigma = torch.full((50,), s, dtype=torch.float64)
        torch.testing.assert_close(cheap(x, sigma), exact.denoiser(x, sigma), rtol=1e-10, atol=1e-10)


def test_floor_band_is_reached_by_exact_samples():
    """An exact sample must lie in the band about as often as the band's quantile says."""
    problem = quality.get_problem("gmm_unequal")
    ref = quality.Reference(problem, 0.002, n=200, n_ref=2000, projections=8, device=torch.device("cpu"), seed=3)
    floor = ref.floor(40)
    inside = 0
    for _ in range(40):
        m = ref.metrics(ref.per_point(ref.draw(200)))
        inside += all(m[k] <= floor[k]["band"] for k in quality.METRICS)
    # Band = per-metric 99% quantile of 40 draws; five metrics, so >= ~0.9 expected; 0.6 is
    # more than 5 binomial standard errors (sd ≈ 0.05) below that.
    assert inside / 40 >= 0.6


def test_quality_quick(tmp_path):
    samplers = ["seeds1", "seeds3", "euler-maruyama"]
    if HAVE_KDIFF:
        samplers.append("kd-euler-ancestral")
    result = quality.run(problems=("unequal",), schedules=("edm",), nfe=(7, 13), n=64, n_high_dim=64,
                         ref_factor=4, floor_reps=5, boot=3, projections=4, samplers=samplers, log=lambda *_: None)
    (case,) = result["cases"]
    assert set(case["curves"]) == set(samplers)
    for name, curve in case["curves"].items():
        assert [p["nfe"] for p in curve["points"]] == [7, 13]
        for p in curve["points"]:
            assert set(p["metrics"]) == set(quality.METRICS)
            assert all(math.isfinite(v) and v >= 0 for v in p["metrics"].values())
    assert case["headline"]["seeds3"]["ratio_to_seeds3"] in (None, 1.0)
    quality.plot(result, tmp_path / "q.png")
    assert (tmp_path / "q.png").stat().st_size > 0
    json.dumps(result, default=str)


def test_nfe_to_quality_rule():
    floor = {m: {"band": 1.0} for m in quality.METRICS}
    good = {m: 0.5 for m in quality.METRICS}
    bad = {m: 2.0 for m in quality.METRICS}
    out = quality.nfe_to_quality({7: bad, 13: good, 25: bad, 49: good}, floor)
    assert out["all"] == 13 and out["tv"]["left_band_after"] == [25]
    assert quality.nfe_to_quality({7: bad, 13: None}, floor)["all"] is None


def test_overhead_quick():
    samplers = ["seeds1", "seeds2", "seeds3"] + (["kd-dpmpp-2m-sde", "kd-dpmpp-2m-sde-randn"] if HAVE_KDIFF else [])
    result = overhead.run(dim=4, batch=32, components=3, nfe=13, repeats=2, samplers=samplers, log=lambda *_: None)
    assert set(result["samplers"]) == set(samplers)
    for row in result["samplers"].values():
        assert row["seconds_per_nfe"]["n"] == 2
    if HAVE_KDIFF:
        assert result["samplers"]["kd-dpmpp-2m-sde"]["ratio_to_baseline"]["median"] == 1.0
    else:
        assert result["config"]["baseline"] is None  # only SEEDS asked for: no EM to fall back on


def test_roofline_counts_bytes_of_a_seeds1_step():
    out = overhead.roofline(dim=4, batch=32, steps=4, repeats=1, samplers=("seeds1",))
    row = out["samplers"]["seeds1"]
    # At least x and D read and the new x written per step (three arrays of 128 float32).
    assert row["bytes_per_step"] >= 3 * 32 * 4 * 4
    assert row["ideal_bytes_per_step"] == 3 * 32 * 4 * 4


def test_throughput_quick():
    result = throughput.run(paths=8, levels=(4, 5), repeats=1, memory=False, log=lambda *_: None)
    assert set(result["sides"]) >= set(throughput.OURS)
    if HAVE_TORCHSDE:
        assert "ratio_to_torchsde" in result["sides"]["em"]
    else:
        assert result["peers_missing"]
    for side in result["sides"].values():
        assert side["samples_x_steps_per_second"]["n"] == 1
        assert all(math.isfinite(e) and e > 0 for e in side["strong"]["errors"].values())


def test_scheduler_overhead_quick(tmp_path):
    pytest.importorskip("diffusers", reason="diffusers is not installed (pip install seeds_verify[diffusers])")
    from benchmarks import scheduler_overhead

    threads = torch.get_num_threads()
    try:
        scheduler_overhead.main(["--quick", "--repeats", "1", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)  # main() fixes one thread for its own timing
    saved = json.loads((tmp_path / "scheduler_overhead_cpu_quick.json").read_text())
    rows = saved["schedulers"]
    assert set(rows) == {scheduler_overhead.BASELINE, "seeds1", "seeds2", "seeds3"}
    assert all(row["calls"] == 7 for row in rows.values())  # 7 = k·(N − 1) + 1 for k = 1, 2, 3
    assert rows[scheduler_overhead.BASELINE]["ratio_to_baseline"]["median"] == 1.0
    assert all(row["seconds_per_call"]["n"] == 1 for row in rows.values())


def test_weak_mixture_merge_replaces_records_of_the_same_study_and_lists_the_runs():
    from benchmarks import weak_mixture

    def payload(command, paths, keys):
        return {"meta": {"command": command, "paths": paths, "steps": [4, 8, 16], "variance_reduction": None,
                         "wall_time_s": 1.0, "workers": 2},
                "records": [{"sampler": s, "problem": p, "schedule": c, "paths": paths} for s, p, c in keys]}

    old = payload(["a"], 8, [("x", "gmm", "edm"), ("y", "gmm", "edm"), ("x", "gmm16", "edm")])
    new = payload(["b"], 64, [("y", "gmm", "edm"), ("z", "gmm", "edm")])
    merged = weak_mixture.merge(old, new)
    assert [(r["sampler"], r["problem"], r["paths"]) for r in merged["records"]] == [
        ("x", "gmm", 8), ("y", "gmm", 64), ("x", "gmm16", 8), ("z", "gmm", 64)]
    assert [r["command"] for r in merged["meta"]["runs"]] == [["a"], ["b"]]
    assert merged["meta"]["paths"] == 8 and merged["meta"]["runs_note"] == weak_mixture.RUNS_NOTE
    again = weak_mixture.merge(merged, new)  # a third run keeps the list of the first two
    assert [r["command"] for r in again["meta"]["runs"]] == [["a"], ["b"], ["b"]]
