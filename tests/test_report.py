"""The verification report: pages, extractable text, PNG copies, atomic writes, argument checks.

Built from a synthetic results.json made here (never committed as results); budget < 60 s on
2 cores, most of it one quick build shared by the module.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pypdf = pytest.importorskip("pypdf")

from seeds_verify.report import build_report  # noqa: E402
from seeds_verify.report.derivations import split_top_level  # noqa: E402
from seeds_verify.report.layout import PASS_COLOUR, FAIL_COLOUR  # noqa: E402
from seeds_verify.report.tables import summary_rows  # noqa: E402
from seeds_verify.report.results import load_results  # noqa: E402

SOLVERS = ("seeds1", "seeds2_phi_1", "seeds3_3a", "em")
DECLARED = {"seeds1": 1, "seeds2_phi_1": 2, "seeds3_3a": 3, "em": 1}
FAILING = ("em", "data", "strong", "gmm", "edm")


def synthetic_study(problems=("gaussian", "gmm"), schedules=("vp_linear", "edm"), seed=0) -> dict:
    """A results.json as the convergence CLI lays it out, with errors C·h^p and one failing record."""
    rng = np.random.default_rng(seed)
    records = []
    for regime in ("deterministic", "strong", "weak"):
        eta = 0.0 if regime == "deterministic" else 1.0
        for problem in problems:
            for schedule in schedules:
                for solver in SOLVERS:
                    for prediction in ("data", "noise"):
                        expected = 1.0 if regime == "strong" else float(DECLARED[solver])
                        failing = (solver, prediction, regime, problem, schedule) == FAILING
                        slope = 0.05 if failing else expected * (1 + 0.03 * rng.standard_normal())
                        steps = [8, 16, 32, 64, 128]
                        h = [10.0 / n for n in steps]
                        err = [0.3 * x ** slope * math.exp(0.05 * rng.standard_normal()) for x in h]
                        records.append({
                            "solver": solver, "prediction": prediction, "eta": eta, "problem": problem,
                            "schedule": schedule, "regime": regime, "measured_order": slope,
                            "ci_low": slope - 0.06, "ci_high": slope + 0.06, "expected_order": expected,
                            "predicted_order": 0.9 if regime == "strong" and solver.startswith("seeds") else None,
                            "predicted_constant": 0.31 if regime == "strong" and solver.startswith("seeds") else None,
                            "passed": not failing, "step_counts": steps, "step_sizes": h, "errors": err,
                            "errors_ci_low": [e * 0.9 for e in err], "errors_ci_high": [e * 1.1 for e in err],
                            "rms_errors": err, "reference_error": 1e-9, "fit_range": [0, 4],
                        })
    mutations = [
        {"mutant": "swapped_noise", "description": "noise coefficients with c and 1 − c swapped (MATH §7): "
                                                   "every variance right, correlations wrong",
         "regimes": {"deterministic": "passed", "strong": "failed", "weak": "passed"}, "caught": True},
        {"mutant": "wrong_phi2", "description": "φ_2 replaced by φ_1/2 in the final stage",
         "regimes": {"deterministic": "failed", "strong": "passed", "weak": "failed"}, "caught": True},
        {"mutant": "harmless_rename", "description": "a variant the checks cannot see",
         "regimes": {"deterministic": "passed", "strong": "passed", "weak": "passed"}, "caught": False},
    ]
    meta = {"command": "python -m seeds_verify.convergence --quick --report --out /tmp/study", "seed": 1234,
            "versions": {"python": "3.11", "torch": "2.x", "numpy": "2.x", "sympy": "1.x"},
            "device": "cpu", "dtype": "float64", "wall_time_s": 123.4, "tolerance": 0.25}
    return {"meta": meta, "records": records, "mutations": mutations}


def write_study(directory, study=None):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps(study or synthetic_study()))
    return directory


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = write_study(tmp_path_factory.mktemp("study"), synthetic_study(problems=("gmm",), schedules=("edm",)))
    path = build_report(out, quick=True, benchmarks_dir=out / "no_benchmarks")
    return out, path


def test_report_pages_and_text(built):
    out, path = built
    assert path == out / "verification.pdf" and path.is_file()
    reader = pypdf.PdfReader(str(path))
    pngs = sorted(out.glob("report_*.png"))
    # One PNG per page, each named after its page.
    assert len(reader.pages) == len(pngs) >= 7
    names = {p.stem for p in pngs}
    for expected in ("report_summary", "report_convergence_strong", "report_coefficients_phi",
                     "report_coefficients_noise", "report_derivations", "report_samples", "report_mutations"):
        assert expected in names
    summary = reader.pages[0].extract_text()
    for solver in SOLVERS:
        assert solver in summary
    assert "strong" in summary and "FAIL" in summary and "1234" in summary
    mutations = "".join(reader.pages[i].extract_text() for i in range(len(reader.pages)))
    assert "swapped_noise" in mutations and "harmless_rename" in mutations
    width, height = (float(v) for v in reader.pages[0].mediabox[2:])
    assert abs(width - 595.4) < 1.0 and abs(height - 841.7) < 1.0  # A4 in points
    assert not list(out.glob(".*tmp"))


def test_summary_rows_colour_the_failing_record(tmp_path):
    results = load_results(write_study(tmp_path))
    rows, colours = summary_rows(results, lookup=lambda *a: (None, None))
    verdicts = [(row[0], row[1], row[3], row[4], row[5], row[-1], c[-1]) for row, c in zip(rows, colours)]
    failing = [v for v in verdicts if v[5] == "FAIL"]
    assert failing == [FAILING + ("FAIL", FAIL_COLOUR)]
    assert all(v[6] == PASS_COLOUR for v in verdicts if v[5] == "pass")
    assert len(rows) == len(results.records)


def test_interrupted_build_leaves_no_files(tmp_path, monkeypatch):
    out = write_study(tmp_path / "study", synthetic_study(problems=("gmm",), schedules=("edm",)))
    import seeds_verify.report.tables as tables

    def broken(results):
        raise RuntimeError("interrupted while drawing the mutation page")
        yield  # pragma: no cover

    monkeypatch.setattr(tables, "mutation_pages", broken)
    monkeypatch.setattr("seeds_verify.report.samples.samples_pages", lambda seed, quick=False: iter(()))
    with pytest.raises(RuntimeError, match="interrupted"):
        build_report(out, quick=True, benchmarks_dir=tmp_path / "none")
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="out_dir"):
        build_report(tmp_path / "missing")
    with pytest.raises(ValueError, match="out_dir.*results.json"):
        build_report(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="out_dir"):
        build_report(tmp_path / "file.txt")
    with pytest.raises(TypeError, match="out_dir"):
        build_report(3)
    write_study(tmp_path)
    with pytest.raises(ValueError, match="pdf_name"):
        build_report(tmp_path, pdf_name="../escape.pdf")
    with pytest.raises(ValueError, match="pdf_name"):
        build_report(tmp_path, pdf_name="report.png")
    with pytest.raises(TypeError, match="quick"):
        build_report(tmp_path, quick="yes")
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="results.json"):
        build_report(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"meta": {}, "records": [{"solver": "seeds1"}]}))
    with pytest.raises(ValueError, match="regime"):
        build_report(tmp_path)
    assert not (tmp_path / "verification.pdf").exists()


def test_split_top_level_keeps_groups_whole():
    pieces = split_top_level(r"x_t = a \left(b + c\right) + \frac{d - e}{2} - f^{-1}")
    assert pieces == ["x_t", r"= a \left(b + c\right)", r"+ \frac{d - e}{2}", "- f^{-1}"]
