"""The audit of k-diffusion's samplers (seeds_verify.audit) and the peer loader (seeds_verify.peers).

Budget: a few seconds. The k-diffusion parts skip, with the loader's reason, when it is absent;
the rest runs the audit over this package's own samplers only, on tiny ladders.
"""

from __future__ import annotations

import json
import sys

import pytest

from seeds_verify import audit, peers
from seeds_verify.convergence import verify_sampler
from seeds_verify.samplers import sample_seeds_1

REQUIRED = ("sampler", "regime", "problem", "schedule", "measured_order", "ci_low", "ci_high", "declared",
            "source", "verdict", "reason", "paths", "finest_steps", "eta")
VERDICTS = {"pass", "pass (>)", "fail", "inconclusive", "measured", audit.NOT_APPLICABLE}
TINY = {"gaussian": audit.Budget((4, 8, 16), 16, 16, 16)}


def _k_diffusion():
    try:
        return peers.k_diffusion_sampling()
    except peers.PeerUnavailable as exc:
        pytest.skip(f"k-diffusion is not available: {exc}")


def _check_records(records):
    for rec in records:
        missing = [k for k in REQUIRED if k not in rec]
        assert not missing, (rec["sampler"], missing)
        assert rec["verdict"] in VERDICTS
        if rec["verdict"] == audit.NOT_APPLICABLE:
            assert rec["reason"] and rec["measured_order"] is None
        elif rec["measured_order"] is not None:
            assert rec["ci_low"] <= rec["ci_high"]
        assert (rec["declared"] is None) == (rec["source"] is None)
        assert rec["eta"] == (0.0 if rec["regime"] == "deterministic" else 1.0)


def test_our_samplers_on_a_tiny_ladder_give_complete_records():
    samplers = audit.seeds_samplers()
    config = audit.AuditConfig(samplers=samplers, problems=("gaussian",), schedules=("vp_linear",),
                               budgets=TINY, replicates=200)
    result = audit.run_audit(config, progress=False)
    records = result["records"]
    assert len(records) == 3 * 3
    _check_records(records)
    assert {(r["sampler"].split(":")[-1], r["regime"]) for r in records} == {
        (n, g) for n in ("sample_seeds_1", "sample_seeds_2", "sample_seeds_3")
        for g in ("strong", "weak", "deterministic")}
    for rec in records:  # every regime of ours declares an order with its source
        name = rec["sampler"].split(":")[-1]
        assert rec["declared"] == audit.CLAIMS[name][rec["regime"]][0]
        assert rec["verdict"] != audit.NOT_APPLICABLE and rec["finest_steps"] == 16
    weak = {r["sampler"].split(":")[-1]: r["declared"] for r in records if r["regime"] == "weak"}
    assert weak == {"sample_seeds_1": 1.0, "sample_seeds_2": 2.0, "sample_seeds_3": 2.0}
    assert "arXiv:2305.14267" in audit.CLAIMS["sample_seeds_3"]["strong"][1]
    assert set(result["timings"]) == {"gaussian/vp_linear"}


def test_shared_setups_give_what_verify_sampler_gives():
    config = audit.AuditConfig(samplers=[s for s in audit.seeds_samplers() if s.name == "sample_seeds_1"],
                               problems=("gaussian",), schedules=("edm",), budgets=TINY, replicates=200)
    rec = next(r for r in audit.run_audit(config, progress=False)["records"] if r["regime"] == "strong")
    alone = verify_sampler(sample_seeds_1, eta=1.0, regimes=("strong",), declared={"strong": 1.0},
                           problem="gaussian", schedule="edm", steps=(4, 8, 16), paths=16, max_paths=16,
                           max_steps=16).regimes["strong"]
    assert rec["errors"] == list(alone.errors)
    assert rec["measured_order"] == alone.measured_order


def test_cli_writes_json_and_png(tmp_path, capsys):
    out = tmp_path / "res"
    status = audit.main(["--no-k-diffusion", "--quick", "--problems", "gaussian", "--schedules", "edm",
                         "--samplers", "sample_seeds_2", "--paths", "40", "--out", str(out), "--no-progress"])
    assert status in (0, 1)
    payload = json.loads((out / "audit.json").read_text())
    assert set(payload) == {"meta", "records"}
    meta = payload["meta"]
    for key in ("command", "versions", "seed", "wall_time_s", "settings"):
        assert key in meta
    assert "torch" in meta["versions"] and "k-diffusion" in meta["versions"]
    assert meta["settings"]["budgets"]["gaussian"]["paths"] == 40
    assert len(payload["records"]) == 3
    _check_records(payload["records"])
    assert (out / "audit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    capsys.readouterr()
    assert audit.main(["--table-from", str(out / "audit.json")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| sampler | regime | declared (source) | gaussian · edm |")
    assert len(table) == 2 + 3 and "`sample_seeds_2` | weak | 2 (seeds_verify)" in table[3]


def test_cli_rejects_unknown_sampler(capsys):
    with pytest.raises(SystemExit) as exc:
        audit.main(["--no-k-diffusion", "--samplers", "sample_nope", "--out", "unused"])
    assert exc.value.code == 2
    assert "sample_nope" in capsys.readouterr().err


def test_missing_k_diffusion_says_how_to_install(monkeypatch):
    import importlib.util

    monkeypatch.delitem(sys.modules, "k_diffusion.sampling", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    loader = peers._Loader()
    with pytest.raises(peers.PeerUnavailable, match="pip install") as exc:
        loader.load()
    assert isinstance(exc.value, ImportError) and isinstance(exc.value, ValueError)
    with pytest.raises(peers.PeerUnavailable, match="not installed"):  # remembered
        loader.load()


def test_benchmarks_reexport_the_loader():
    from benchmarks import peers as bench_peers

    assert bench_peers.k_diffusion_sampling is peers.k_diffusion_sampling
    assert bench_peers.PeerUnavailable is peers.PeerUnavailable


# --------------------------------------------------------------------------------------------
# With k-diffusion
# --------------------------------------------------------------------------------------------


def test_every_k_diffusion_sampler_is_classified():
    ks = _k_diffusion()
    entries, reason = audit.k_diffusion_samplers()
    assert reason is None
    names = {e.name for e in entries}
    assert names == {n for n in dir(ks) if n.startswith("sample_")}
    na = {e.name for e in entries if e.unavailable}
    assert {"sample_dpm_fast", "sample_dpm_adaptive"} <= na
    for e in entries:
        if e.unavailable:
            assert "sigma_min" in e.unavailable and e.regimes() == ()
    stochastic = {e.name for e in entries if e.stochastic and not e.unavailable}
    assert {"sample_euler_ancestral", "sample_dpmpp_2m_sde", "sample_dpmpp_sde"} <= stochastic
    assert "sample_euler" not in stochastic and "sample_heun" not in stochastic


def test_k_diffusion_smoke_audit():
    _k_diffusion()
    samplers, _ = audit.audit_samplers(only=["sample_euler_ancestral", "sample_heun", "sample_dpm_fast"])
    config = audit.AuditConfig(samplers=samplers, problems=("gaussian",), schedules=("edm",),
                               budgets=TINY, replicates=200)
    records = audit.run_audit(config, progress=False)["records"]
    assert len(records) == 9
    _check_records(records)
    by = {(r["sampler"].split(":")[-1], r["regime"]): r for r in records}
    assert all(by["sample_dpm_fast", g]["verdict"] == audit.NOT_APPLICABLE for g in audit.REGIME_ETA)
    assert by["sample_heun", "strong"]["verdict"] == audit.NOT_APPLICABLE
    assert by["sample_heun", "deterministic"]["declared"] == 2.0
    assert by["sample_euler_ancestral", "strong"]["verdict"] == "measured"
    assert by["sample_euler_ancestral", "strong"]["measured_order"] is not None


def test_convergence_cli_loads_k_diffusion_samplers():
    _k_diffusion()
    from seeds_verify.convergence.__main__ import load_sampler

    fn = load_sampler("k_diffusion.sampling:sample_dpmpp_2m")
    assert fn is peers.k_diffusion_sampling().sample_dpmpp_2m
