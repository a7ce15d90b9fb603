"""python -m seeds_verify.convergence: outputs, exit codes, argument errors."""

import json
import os
import subprocess
import sys

import pytest
import torch

from seeds_verify.convergence.__main__ import main

REQUIRED = {"solver", "prediction", "eta", "problem", "schedule", "regime", "measured_order", "ci_low",
            "ci_high", "expected_order", "predicted_order", "predicted_constant", "passed", "step_counts",
            "step_sizes", "errors", "errors_ci_low", "errors_ci_high", "fit_range", "mutations"}


def test_quick_study_writes_results_and_plots(tmp_path):
    """The documented smoke study, in-process (it also measures its own wall time)."""
    code = main(["--quick", "--out", str(tmp_path), "--no-progress"])
    assert code in (0, 1)
    data = json.loads((tmp_path / "results.json").read_text())
    meta = data["meta"]
    assert {"command", "seed", "versions", "device", "dtype", "wall_time_s", "tolerance"} <= set(meta)
    assert meta["wall_time_s"] < 60.0
    assert data["records"] and all(REQUIRED <= set(r) for r in data["records"])
    assert {r["regime"] for r in data["records"]} == {"strong", "weak", "deterministic"}
    strong = [r for r in data["records"] if r["regime"] == "strong"]
    assert all("rms_errors" in r for r in strong)
    assert len(data["mutations"]) == 5 and all(m["caught"] for m in data["mutations"])
    assert code == (0 if all(r["passed"] for r in data["records"]) else 1)
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert "strong_gaussian_vp_linear.png" in pngs and "weak_gaussian_edm.png" in pngs
    assert not list(tmp_path.glob(".tmp-*"))


def test_a_failing_study_exits_one(tmp_path, capsys):
    code = main(["--solvers", "mutant:frozen_update", "--regime", "deterministic", "--no-mutations",
                 "--schedule", "edm", "--prediction", "data", "--steps", "4,8,16", "--paths", "8",
                 "--out", str(tmp_path), "--no-progress"])
    assert code == 1
    assert "FAIL" in capsys.readouterr().out


def test_a_passing_study_exits_zero(tmp_path):
    code = main(["--solvers", "seeds2", "--regime", "deterministic", "--no-mutations", "--schedule", "edm",
                 "--prediction", "data", "--steps", "16,32,64", "--paths", "8", "--out", str(tmp_path),
                 "--no-progress"])
    assert code == 0


@pytest.mark.parametrize("args, name", [
    (["--paths", "-5"], "argument --paths: must be a positive integer"),
    (["--solvers", "seeds9"], "argument --solvers"),
    (["--solvers", "seeds2:r=0.3333333"], "argument --solvers"),
    (["--solvers", "mutant:nonsense"], "argument --solvers"),
    (["--problem", "nonsense"], "argument --problem"),
    (["--schedule", "nonsense"], "argument --schedule"),
    (["--steps", "8,4"], "argument --steps"),
    (["--eta", "2"], "argument --eta"),
])
def test_bad_arguments_exit_two_naming_the_argument(args, name, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(args + ["--out", str(tmp_path)])
    assert exc.value.code == 2
    assert name in capsys.readouterr().err


def test_module_entry_point_reports_bad_arguments():
    proc = subprocess.run([sys.executable, "-m", "seeds_verify.convergence", "--paths", "-5"],
                          capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert proc.returncode == 2
    assert "argument --paths: must be a positive integer" in proc.stderr


def test_results_are_bit_for_bit_reproducible(tmp_path):
    args = ["--solvers", "seeds1", "--regime", "strong", "--no-mutations", "--schedule", "edm",
            "--prediction", "data", "--steps", "4,8,16", "--paths", "16", "--no-progress"]
    main(args + ["--out", str(tmp_path / "a")])
    main(args + ["--out", str(tmp_path / "b")])
    a = json.loads((tmp_path / "a" / "results.json").read_text())["records"]
    b = json.loads((tmp_path / "b" / "results.json").read_text())["records"]
    strip = lambda recs: [{k: v for k, v in r.items() if k != "seconds"} for r in recs]  # noqa: E731
    assert strip(a) == strip(b)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_study_runs(tmp_path):
    code = main(["--device", "cuda", "--solvers", "seeds2", "--no-mutations", "--schedule", "edm",
                 "--steps", "16,32,64,128", "--paths", "200", "--out", str(tmp_path), "--no-progress"])
    assert code in (0, 1)
    recs = json.loads((tmp_path / "results.json").read_text())["records"]
    assert all(r["passed"] for r in recs if r["regime"] != "weak")
