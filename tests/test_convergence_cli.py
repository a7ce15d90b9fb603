"""python -m seeds_verify.convergence: outputs, exit codes (0 pass, 1 fail, 2 usage, 3 inconclusive),
argument errors and --sampler studies."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from seeds_verify.convergence import RegimeResult
from seeds_verify.convergence.__main__ import main
from seeds_verify.convergence.mutants import MUTANTS
from seeds_verify.convergence.records import RECORD_KEYS

META = {"command", "seed", "versions", "device", "dtype", "wall_time_s", "tolerance", "paths", "max_paths",
        "steps", "max_steps", "bootstrap_replicates", "fit_rule", "verdict", "exactness"}


def _results(folder):
    return json.loads((folder / "results.json").read_text())


def test_small_study_writes_results_plots_and_mutation_table(tmp_path, capsys):
    """One reference solver on one schedule with the quick ladder, the mutation checks and the
    point-mass exactness check, in-process."""
    code = main(["--quick", "--solvers", "seeds1", "--prediction", "data", "--schedule", "vp_linear",
                 "--paths", "100", "--out", str(tmp_path), "--no-progress"])
    data = _results(tmp_path)
    meta = data["meta"]
    assert META <= set(meta)
    assert meta["steps"] == [16, 32, 64, 128, 256] and meta["paths"] == 100
    assert meta["max_paths"] == 800 and meta["max_steps"] == 2048
    records = data["records"]
    assert [r["regime"] for r in records] == ["strong", "weak", "deterministic"]
    for r in records:
        assert set(r) == set(RECORD_KEYS)
        assert r["sampler"] == "seeds1" and r["prediction"] == "data" and r["schedule"] == "vp_linear"
        back = RegimeResult.from_record(r)
        assert back.to_record() == r
    strong, weak, det = records
    assert strong["ci_method"] == "bootstrap" and strong["paths"] >= 100
    assert "rms_errors" in strong["details"]
    assert weak["ci_method"] == "regression" and weak["paths"] == 0
    assert det["eta"] == 0.0 and det["weight_exponent"] is None
    assert len(data["mutations"]) == len(MUTANTS) and all(m["caught"] for m in data["mutations"])
    assert meta["exactness"]["seeds1"]["passed"]
    # Exit status and the verdict stored in meta agree with the records.
    assert meta["verdict"] == "pass"
    assert code == 0
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["deterministic_gaussian_vp_linear.png", "strong_gaussian_vp_linear.png",
                    "weak_gaussian_vp_linear.png"]
    assert not list(tmp_path.glob(".tmp-*"))
    out = capsys.readouterr().out
    assert "mutation score: 5/5" in out


def test_a_failing_study_exits_one(tmp_path, capsys):
    code = main(["--solvers", "mutant:frozen_update", "--regime", "deterministic", "--no-mutations",
                 "--schedule", "edm", "--prediction", "data", "--steps", "4,8,16", "--paths", "8",
                 "--out", str(tmp_path), "--no-progress"])
    assert code == 1
    rec, = _results(tmp_path)["records"]
    assert rec["verdict"] == "fail" and rec["mutant"] == "frozen_update"
    assert "lies below declared" in capsys.readouterr().out


def test_a_passing_study_exits_zero(tmp_path):
    code = main(["--solvers", "seeds2", "--regime", "deterministic", "--no-mutations", "--schedule", "edm",
                 "--prediction", "data", "--steps", "16,32,64", "--paths", "8", "--out", str(tmp_path),
                 "--no-progress"])
    assert code == 0


def test_an_inconclusive_study_exits_three(tmp_path):
    """SEEDS-3's exact weak errors on 8, 16, 32 steps still bend (a one-degree-of-freedom
    interval several orders wide); with no budget to extend the ladder the verdict stays
    inconclusive and says so."""
    code = main(["--solvers", "seeds3", "--regime", "weak", "--no-mutations", "--schedule", "vp_linear",
                 "--prediction", "data", "--steps", "8,16,32", "--max-steps", "32", "--paths", "8",
                 "--out", str(tmp_path), "--no-progress"])
    rec, = _results(tmp_path)["records"]
    assert rec["verdict"] == "inconclusive"
    assert "evidence budget spent" in rec["reason"] and len(rec["rounds"]) == 1
    assert code == 3


@pytest.mark.parametrize("args, name", [
    (["--paths", "-5"], "argument --paths: must be a positive integer"),
    (["--solvers", "seeds9"], "argument --solvers"),
    (["--solvers", "seeds2:r=0.3333333"], "argument --solvers"),
    (["--solvers", "mutant:nonsense"], "argument --solvers"),
    (["--problem", "nonsense"], "argument --problem"),
    (["--schedule", "nonsense"], "argument --schedule"),
    (["--steps", "8,4"], "argument --steps"),
    (["--eta", "2"], "argument --eta"),
    (["--seed", "-1"], "argument --seed"),
    (["--tolerance", "-1"], "argument --tolerance"),
    (["--sampler", "seeds_verify.samplers:sample_seeds_2", "--declared", "bogus=1"], "argument --declared"),
    (["--sampler", "seeds_verify.samplers:sample_seeds_2", "--declared", "strong=0"], "argument --declared"),
    (["--sampler", "seeds_verify.samplers:sample_seeds_2", "--declared", "strong=x"], "argument --declared"),
    (["--declared", "strong=1"], "argument --declared"),
    (["--sampler-kwargs", "{}"], "argument --sampler-kwargs"),
    (["--sampler", "seeds_verify.samplers:sample_seeds_2", "--sampler-kwargs", "[1]"],
     "argument --sampler-kwargs"),
    (["--sampler", "seeds_verify.samplers:sample_seeds_2", "--sampler-kwargs", "{bad"],
     "argument --sampler-kwargs"),
    (["--sampler", "nomodule_for_seeds_verify_tests:f"], "argument --sampler"),
    (["--sampler", "seeds_verify.samplers:no_such_sampler"], "argument --sampler"),
    (["--sampler", "seeds_verify.samplers"], "argument --sampler"),
    (["--sampler", "seeds_verify.samplers:sample_seeds_2", "--sampler-kwargs", '{"noise_sampler": 1}'],
     "argument --sampler"),
    (["--weight-exponent", "nan", "--sampler", "seeds_verify.samplers:sample_seeds_2"],
     "argument --weight-exponent"),
])
def test_bad_arguments_exit_two_naming_the_argument(args, name, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(args + ["--out", str(tmp_path), "--no-progress"])
    assert exc.value.code == 2
    assert name in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_module_entry_point_reports_bad_arguments():
    proc = subprocess.run([sys.executable, "-m", "seeds_verify.convergence", "--paths", "-5"],
                          capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert proc.returncode == 2
    assert "argument --paths: must be a positive integer" in proc.stderr


def test_results_are_bit_for_bit_reproducible(tmp_path):
    """The same command twice: the same records, to the bit, apart from wall times."""
    args = ["--solvers", "seeds1", "--regime", "strong", "--no-mutations", "--schedule", "edm",
            "--prediction", "data", "--steps", "4,8,16", "--paths", "16", "--no-progress"]
    main(args + ["--out", str(tmp_path / "a")])
    main(args + ["--out", str(tmp_path / "b")])
    a = _results(tmp_path / "a")["records"]
    b = _results(tmp_path / "b")["records"]
    strip = lambda recs: [{k: v for k, v in r.items() if k != "seconds"} for r in recs]  # noqa: E731
    assert strip(a) == strip(b)


# --------------------------------------------------------------------------------------------
# --sampler
# --------------------------------------------------------------------------------------------


def test_sampler_study_of_seeds2_passes(tmp_path):
    spec = "seeds_verify.samplers:sample_seeds_2"
    code = main(["--sampler", spec, "--declared", "strong=1,weak=2,deterministic=2", "--quick",
                 "--schedule", "edm", "--no-progress", "--out", str(tmp_path)])
    data = _results(tmp_path)
    records = data["records"]
    assert code == 0, [(r["regime"], r["verdict"], r["reason"]) for r in records]
    assert {r["regime"] for r in records} == {"strong", "weak", "deterministic"}
    assert all(r["sampler"] == spec and r["prediction"] is None for r in records)
    assert {r["regime"]: r["declared"] for r in records} == {"strong": 1.0, "weak": 2.0, "deterministic": 2.0}
    assert all(r["verdict"] in ("pass", "pass (>)") for r in records)
    assert data["mutations"] == []  # off by default with --sampler


@pytest.fixture
def user_samplers(tmp_path, monkeypatch):
    """An importable module of user samplers (written to a temporary folder on sys.path)."""
    folder = tmp_path / "mods"
    folder.mkdir()
    (folder / "seeds_verify_cli_user_samplers.py").write_text(textwrap.dedent('''
        import torch

        from seeds_verify.samplers import sample_seeds_2


        def ddim(model, x, sigmas, extra_args=None, callback=None, disable=None):
            s_in = x.new_ones([x.shape[0]])
            for i in range(len(sigmas) - 1):
                denoised = model(x, sigmas[i] * s_in)
                h = torch.log(sigmas[i] / sigmas[i + 1])
                x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-h) * denoised
            return x


        def own_noise(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0,
                      noise_sampler=None):
            return sample_seeds_2(model, x, sigmas, eta=eta,
                                  noise_sampler=lambda a, b: torch.randn_like(x))
    '''))
    monkeypatch.syspath_prepend(str(folder))
    return "seeds_verify_cli_user_samplers"


def test_a_deterministic_user_sampler_is_studied_in_the_deterministic_regime(tmp_path, user_samplers):
    code = main(["--sampler", f"{user_samplers}:ddim", "--declared", "deterministic=1", "--steps", "8,16,32",
                 "--paths", "8", "--schedule", "edm", "--no-progress", "--out", str(tmp_path / "out")])
    rec, = _results(tmp_path / "out")["records"]
    assert rec["regime"] == "deterministic" and rec["verdict"] == "pass" and rec["eta"] == 0.0
    assert code == 0


def test_regimes_that_do_not_apply_are_reported(tmp_path, user_samplers, capsys):
    """A deterministic sampler asked for every regime: the table says why strong and weak were
    not run, as verify_sampler's not_applicable does."""
    main(["--sampler", f"{user_samplers}:ddim", "--steps", "8,16,32", "--paths", "8", "--schedule", "edm",
          "--no-progress", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "not applicable" in out and "noise_sampler" in out, out


def test_a_sampler_with_its_own_noise_exits_one(tmp_path, user_samplers, capsys):
    code = main(["--sampler", f"{user_samplers}:own_noise", "--declared", "strong=1,weak=2",
                 "--regime", "strong", "--steps", "8,16,32", "--paths", "8", "--schedule", "edm",
                 "--no-progress", "--out", str(tmp_path / "out")])
    rec, = _results(tmp_path / "out")["records"]
    assert rec["verdict"] == "fail" and rec["reason"].startswith("not path-consistent")
    assert "not path-consistent" in capsys.readouterr().out
    assert code == 1


def test_sampler_kwargs_and_weight_exponent_reach_the_study(tmp_path):
    spec = "seeds_verify.samplers:sample_seeds_2"
    common = ["--sampler", spec, "--regime", "strong", "--steps", "8,16,32", "--paths", "16",
              "--schedule", "edm", "--no-progress"]
    main(common + ["--out", str(tmp_path / "a")])
    main(common + ["--sampler-kwargs", '{"r": 1.0, "solver_type": "phi_2"}', "--weight-exponent", "0",
                   "--eta", "0.5", "--out", str(tmp_path / "b")])
    a, = _results(tmp_path / "a")["records"]
    b, = _results(tmp_path / "b")["records"]
    assert a["eta"] == 1.0 and a["weight_exponent"] == 1.0 and a["verdict"] == "measured"
    assert b["eta"] == 0.5 and b["weight_exponent"] == 0.0
    assert a["errors"] != b["errors"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_study_runs(tmp_path):
    code = main(["--device", "cuda", "--solvers", "seeds2", "--no-mutations", "--schedule", "edm",
                 "--steps", "16,32,64,128", "--paths", "200", "--out", str(tmp_path), "--no-progress"])
    recs = _results(tmp_path)["records"]
    assert all(r["verdict"] in ("pass", "pass (>)") for r in recs), [(r["regime"], r["reason"]) for r in recs]
    assert code == 0
