"""The verification report: pages, extractable text, PNG copies, atomic writes, argument checks.

Built from a synthetic results.json made here (never committed as results); budget < 60 s on
2 cores, most of it one quick build shared by the module.
"""

from __future__ import annotations

import json
import math
import os
import stat

import numpy as np
import pytest

pypdf = pytest.importorskip("pypdf")

from seeds_verify.convergence import statistics as S  # noqa: E402
from seeds_verify.convergence.records import RegimeResult  # noqa: E402
from seeds_verify.report import build_report  # noqa: E402
from seeds_verify.report.derivations import split_top_level  # noqa: E402
from seeds_verify.report.layout import FAIL_COLOUR, INCONCLUSIVE_COLOUR, MUTED_COLOUR, PASS_COLOUR  # noqa: E402
from seeds_verify.report.tables import summary_rows  # noqa: E402
from seeds_verify.report.results import load_results  # noqa: E402

SOLVERS = ("seeds1", "seeds2(r=1/2,phi_1)", "seeds3(r_1=1/3,r_2=2/3,3a)", "em")
DECLARED = {"seeds1": 1, "seeds2(r=1/2,phi_1)": 2, "seeds3(r_1=1/3,r_2=2/3,3a)": 3, "em": 1}
FAILING = ("em", "data", "strong", "gmm", "edm")
INCONCLUSIVE = ("seeds3(r_1=1/3,r_2=2/3,3a)", "noise", "weak", "gmm", "edm")
INCONCLUSIVE_REASON = "the interval [2.10, 3.30] straddles declared - tolerance = 2.75; evidence budget spent"
FAIL_REASON = "the interval [-0.01, 0.11] lies below declared - tolerance = 0.75"
BLACK_BOX = "k_diffusion.sampling:sample_euler"


def _record(sampler, prediction, regime, problem, schedule, slope, declared, verdict, rng, *,
            steps=(8, 16, 32, 64, 128), paths=200, reason=None, rounds=1) -> dict:
    """One record as the engine writes it: errors C·h^p with a little noise over ``steps``."""
    h = [10.0 / n for n in steps]
    err = [0.3 * x ** slope * math.exp(0.05 * rng.standard_normal()) for x in h]
    seeds = sampler.startswith("seeds")
    return RegimeResult(
        sampler=sampler, regime=regime, problem=problem, schedule=schedule,
        eta=0.0 if regime == "deterministic" else 1.0, verdict=verdict, reason=reason, prediction=prediction,
        weight_exponent=None if regime == "deterministic" else 1.0, declared=declared, measured_order=slope,
        constant=0.3, ci_low=slope - 0.06, ci_high=slope + 0.06, ci_method="bootstrap",
        fit_steps=(steps[1], steps[-1]), step_counts=tuple(steps), step_sizes=tuple(h), errors=tuple(err),
        errors_ci_low=tuple(e * 0.9 for e in err), errors_ci_high=tuple(e * 1.1 for e in err), paths=paths,
        rounds=tuple({"paths": paths, "finest_steps": steps[-1] // 2 ** k, "verdict": verdict,
                      "measured_order": slope, "ci_low": slope - 0.06, "ci_high": slope + 0.06}
                     for k in reversed(range(rounds))),
        predicted_order=0.9 if regime == "strong" and seeds else None,
        predicted_constant=0.31 if regime == "strong" and seeds else None,
        reference="exact", details={"rms_errors": err}, seconds=1.0).to_record()


def synthetic_study(problems=("gaussian", "gmm"), schedules=("vp_linear", "edm"), seed=0) -> dict:
    """A results.json as the convergence CLI lays it out: errors C·h^p, one failing record, one
    inconclusive record escalated to a longer ladder, and one black-box sampler that declares
    nothing (measured)."""
    rng = np.random.default_rng(seed)
    records = []
    for regime in ("deterministic", "strong", "weak"):
        for problem in problems:
            for schedule in schedules:
                for solver in SOLVERS:
                    for prediction in ("data", "noise"):
                        declared = 1.0 if regime == "strong" else float(DECLARED[solver])
                        key = (solver, prediction, regime, problem, schedule)
                        if key == FAILING:
                            records.append(_record(*key, 0.05, declared, S.FAIL, rng, reason=FAIL_REASON))
                        elif key == INCONCLUSIVE:
                            records.append(_record(*key, 2.7, declared, S.INCONCLUSIVE, rng,
                                                   steps=(8, 16, 32, 64, 128, 256, 512), paths=1600,
                                                   reason=INCONCLUSIVE_REASON, rounds=3))
                        else:
                            slope = declared * (1 + 0.03 * rng.standard_normal())
                            records.append(_record(*key, slope, declared, S.PASS, rng,
                                                   paths=0 if regime == "weak" else 200))
            records.append(_record(BLACK_BOX, None, regime, problem, schedules[0], 1.0, None, S.MEASURED, rng))
    mutations = [
        {"mutant": "swapped_noise", "description": "noise coefficients with c and 1 − c swapped (MATH §7): "
                                                   "every variance right, correlations wrong",
         "regimes": {"strong": "fail", "weak": "pass", "deterministic": "pass", "exactness": "fail"},
         "caught": True},
        {"mutant": "wrong_phi2", "description": "φ_2 replaced by φ_1/2 in the final stage",
         "regimes": {"strong": "inconclusive", "weak": "fail", "deterministic": "fail", "exactness": "pass"},
         "caught": True},
        {"mutant": "harmless_rename", "description": "a variant the checks cannot see",
         "regimes": {"strong": "pass", "weak": "pass", "deterministic": "pass", "exactness": "pass"},
         "caught": False},
    ]
    for m in mutations:
        m.update(schedule="edm", problem="gaussian", prediction="data", eta=1.0)
        m["details"] = {regime: {"measured_order": 0.1, "ci_low": 0.0, "ci_high": 0.2, "declared": 1.0,
                                 "errors": [1.0, 0.9, 0.95, 0.9, 0.92], "step_counts": [8, 16, 32, 64, 128],
                                 "reason": None}
                        for regime in ("strong", "weak", "deterministic")}
        m["details"]["exactness"] = {"passed": m["regimes"]["exactness"] == "pass", "spread": 1e-3}
    mutations[0]["details"]["weak"] = {"measured_order": None, "ci_low": None, "ci_high": None, "declared": 2.0,
                                       "errors": [], "step_counts": [], "reason": "not path-consistent: no noise"}
    meta = {"command": ["python", "-m", "seeds_verify.convergence", "--quick", "--out", "/tmp/study"],
            "seed": 1234, "versions": {"python": "3.11", "torch": "2.x", "numpy": "2.x", "sympy": "1.x"},
            "device": "cpu", "dtype": "float64", "wall_time_s": 123.4, "tolerance": 0.25, "paths": 200,
            "max_paths": 1600, "steps": [8, 16, 32, 64, 128], "max_steps": 1024, "fit_rule": S.FIT_RULE,
            "verdict": S.FAIL, "exactness": {"seeds1": {"passed": True, "spread": 2e-16}}}
    return {"meta": meta, "records": records, "mutations": mutations}


def synthetic_quality() -> dict:
    """A benchmarks/results/quality.json in the layout of ``python -m benchmarks.quality``."""
    cases = []
    for problem in ("ring8", "gmm16"):
        curves = {}
        for sampler, rate in (("seeds3", 2.0), ("kd-euler-ancestral", 1.0)):
            points = [{"nfe": n, "metrics": {"sw2": 0.1 + 30.0 / n ** rate, "tv": 0.05 + 3.0 / n ** rate},
                       "ci95": {"sw2": [0.09 + 30.0 / n ** rate, 0.11 + 30.0 / n ** rate]}}
                      for n in (7, 13, 25)]
            curves[sampler] = {"points": points}
        cases.append({"problem": problem, "schedule": "edm", "curves": curves,
                      "floor": {"sw2": {"median": 0.08, "band": 0.12}, "tv": {"median": 0.04, "band": 0.06}}})
    summary = {"nfe_to_quality": {"seeds3": {"ring8/edm": 13, "gmm16/edm": 25},
                                  "kd-euler-ancestral": {"ring8/edm": None, "gmm16/edm": None}},
               "max_nfe_tried": 25}
    return {"cases": cases, "summary": summary}


def write_study(directory, study=None):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps(study or synthetic_study()))
    return directory


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = write_study(tmp_path_factory.mktemp("study"), synthetic_study(problems=("gmm",), schedules=("edm",)))
    bench = tmp_path_factory.mktemp("benchmarks")
    (bench / "quality.json").write_text(json.dumps(synthetic_quality()))
    (bench / "quality_quick.json").write_text("{not json")  # a quick run is not shown when a full one exists
    path = build_report(out, quick=True, benchmarks_dir=bench)
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
                     "report_coefficients_noise", "report_derivations", "report_samples", "report_mutations",
                     "report_quality_sw2", "report_quality_tv", "report_quality_nfe"):
        assert expected in names
    summary = reader.pages[0].extract_text()
    for solver in SOLVERS:
        assert solver in summary
    assert "strong" in summary and "FAIL [1]" in summary and "1234" in summary
    assert "27 checks: 22 pass, 1 fail, 1 inconclusive, 3 measured only" in " ".join(summary.split())
    assert S.FIT_RULE.split(";")[0] in " ".join(summary.split())
    text = "".join(page.extract_text() for page in reader.pages)
    assert "swapped_noise" in text and "harmless_rename" in text and "exactness" in text
    assert "NFE to reach the noise floor" in text and "quality.json" in text
    assert b"CreationDate" not in path.read_bytes()  # no timestamp: same results, same bytes
    width, height = (float(v) for v in reader.pages[0].mediabox[2:])
    assert abs(width - 595.4) < 1.0 and abs(height - 841.7) < 1.0  # A4 in points
    assert not list(out.glob(".*tmp"))
    # Written like any open(): mode 0o666 & ~umask (not the 0o600 of a bare mkstemp).
    umask = os.umask(0o022)
    os.umask(umask)
    for written in [path, *pngs]:
        assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask, written.name


def _summary_line(reader, *words) -> str:
    """The one table row (extracted line starting with ``words[0]``) of the summary pages that holds
    every one of ``words``."""
    lines = [line for page in reader.pages[:2] for line in page.extract_text().splitlines()
             if line.startswith(words[0]) and all(w in line for w in words)]
    assert len(lines) == 1, lines
    return lines[0]


def test_inconclusive_and_measured_records_are_shown_as_such(built):
    """An inconclusive check reads 'inconclusive' with its final paths and finest step count and a
    note giving the reason; a sampler that declares nothing reads 'measured'."""
    reader = pypdf.PdfReader(str(built[1]))
    sampler, prediction, regime, problem, schedule = INCONCLUSIVE
    line = _summary_line(reader, sampler, f" {prediction} ", regime)
    assert line.split()[-2:] == ["inconclusive", "[2]"]
    assert " 1600 512 " in line  # paths and finest step count of the final round
    notes = " ".join(reader.pages[0].extract_text().split())
    assert f"[2] {sampler} · {prediction} · η=1 · {regime} · {problem} · {schedule}: inconclusive, " \
           f"{INCONCLUSIVE_REASON}" in notes
    assert f"FAIL, {FAIL_REASON}" in notes
    for regime in ("deterministic", "strong", "weak"):
        line = _summary_line(reader, BLACK_BOX, regime)
        assert line.split()[-1] == "measured" and " none " in line


def test_summary_rows_colour_every_verdict(tmp_path):
    results = load_results(write_study(tmp_path))
    rows, colours, notes = summary_rows(results)
    assert len(rows) == len(results.records)
    verdicts = [(row[0], row[1], row[3], row[4], row[5], row[-1], c[-1]) for row, c in zip(rows, colours)]
    assert [v for v in verdicts if v[5].startswith("FAIL")] == [FAILING + ("FAIL [1]", FAIL_COLOUR)]
    assert [v for v in verdicts if v[5].startswith("inconclusive")] == [
        INCONCLUSIVE + ("inconclusive [2]", INCONCLUSIVE_COLOUR)]
    measured = [v for v in verdicts if v[0] == BLACK_BOX]
    assert len(measured) == 3 * 2 and all(v[1:] == ("–",) + v[2:5] + ("measured", MUTED_COLOUR) for v in measured)
    assert all(v[6] == PASS_COLOUR for v in verdicts if v[5] == "pass")
    assert len(notes) == 2 and notes[0].endswith(FAIL_REASON) and notes[1].endswith(INCONCLUSIVE_REASON)
    # The predicted column is the record's own prediction, never looked up again.
    predicted = {row[7] for row in rows if row[3] == "strong" and row[0].startswith("seeds")}
    assert predicted == {"0.90 (0.31)"}
    assert {row[7] for row in rows if row[3] != "strong" or not row[0].startswith("seeds")} == {"n/a"}


def test_records_are_read_back_as_regime_results(tmp_path):
    study = synthetic_study(problems=("gmm",), schedules=("edm",))
    results = load_results(write_study(tmp_path, study))
    assert [r.to_record() for r in results.records] == study["records"]
    assert isinstance(results.records[0], RegimeResult) and results.verdict == S.FAIL
    assert results.counts() == {S.PASS: 22, S.PASS_ABOVE: 0, S.FAIL: 1, S.INCONCLUSIVE: 1, S.MEASURED: 3}
    study["records"][0]["verdict"] = "passed"  # the vocabulary of an older engine
    with pytest.raises(ValueError, match=r"records\[0\].*verdict"):
        load_results(write_study(tmp_path, study))


def test_interrupted_build_leaves_no_files(tmp_path, monkeypatch):
    """An exception after some pages were written (summary, one convergence page) leaves neither a
    PDF nor a temporary or PNG file behind; a previous report survives untouched."""
    out = write_study(tmp_path / "study", synthetic_study(problems=("gmm",), schedules=("edm",)))
    (out / "verification.pdf").write_bytes(b"previous report")
    import seeds_verify.report.convergence_plots as plots

    real = plots.convergence_pages

    def broken(results):
        yield next(real(results))
        raise RuntimeError("interrupted while drawing the convergence pages")

    monkeypatch.setattr(plots, "convergence_pages", broken)
    with pytest.raises(RuntimeError, match="interrupted"):
        build_report(out, quick=True, benchmarks_dir=tmp_path / "none")
    assert sorted(p.name for p in out.iterdir()) == ["results.json", "verification.pdf"]
    assert (out / "verification.pdf").read_bytes() == b"previous report"


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
    (tmp_path / "results.json").write_text(json.dumps({"meta": {}, "records": [{"sampler": "seeds1"}]}))
    with pytest.raises(ValueError, match="regime"):
        build_report(tmp_path)
    assert not (tmp_path / "verification.pdf").exists()


def test_seeded_pages_are_reproducible():
    """The randomness of the report (samples page) is seeded: two renderings give the same pixels."""
    import io

    from seeds_verify.report.layout import report_style
    from seeds_verify.report.samples import draw_samples

    first = draw_samples(64, seed=5, budgets=(6,))[3]
    second = draw_samples(64, seed=5, budgets=(6,))[3]
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(first, second))
    with report_style():
        from seeds_verify.report.derivations import derivation_pages

        images = []
        for _ in range(2):
            page = next(derivation_pages([("t", r"x = \frac{a}{b}")]))
            buffer = io.BytesIO()
            page.figure.savefig(buffer, format="png", dpi=30)
            images.append(buffer.getvalue())
    assert images[0] == images[1]


def test_quality_file_choice_and_layouts(tmp_path):
    from seeds_verify.report.quality import choose_quality_file, read_quality

    names = ["quality_quick.json", "quality.partial.json", "quality.json", "quality_cuda.json"]
    assert choose_quality_file([tmp_path / n for n in names]).name == "quality.json"
    assert choose_quality_file([]) is None
    path = tmp_path / "quality.json"
    path.write_text(json.dumps(synthetic_quality()))
    records, summary, notes = read_quality(path)
    assert len(records) == 2 * 2 * 3 * 2 and not notes and summary["max_nfe_tried"] == 25
    assert {r["floor"] for r in records if r["metric"] == "sw2"} == {0.12}
    flat = [{"sampler": "a", "nfe": 10, "value": 0.5, "metric": "sw2", "ci": [0.4, 0.6]}, {"nfe": 3}]
    path.write_text(json.dumps(flat))
    records, _, notes = read_quality(path)
    assert len(records) == 1 and records[0]["lo"] == 0.4 and notes == ["1 of 2 records lack a sampler, NFE or value"]


def test_fitted_range_and_points_follow_each_ladder():
    from seeds_verify.report.convergence_plots import fit_mask, series_points

    study = synthetic_study(problems=("gmm",), schedules=("edm",))
    records = {(r["sampler"], r["prediction"], r["regime"]): RegimeResult.from_record(r) for r in study["records"]}
    long = records[INCONCLUSIVE[:3]]
    counts, h, e, lo, hi = series_points(long)
    assert counts.tolist() == [8, 16, 32, 64, 128, 256, 512] and np.all(np.diff(h) < 0)
    assert fit_mask(long, counts).tolist() == [False] + [True] * 6
    short = records[("em", "data", "strong")]
    assert fit_mask(short, series_points(short)[0]).tolist() == [False, True, True, True, True]
    unfitted = RegimeResult.from_record({**study["records"][0], "fit_steps": None, "errors": [math.nan] * 5})
    assert not fit_mask(unfitted, np.array([8.0, 16.0])).any() and series_points(unfitted) is None


def test_split_top_level_keeps_groups_whole():
    pieces = split_top_level(r"x_t = a \left(b + c\right) + \frac{d - e}{2} - f^{-1}")
    assert pieces == ["x_t", r"= a \left(b + c\right)", r"+ \frac{d - e}{2}", "- f^{-1}"]
