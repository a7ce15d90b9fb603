"""Half-precision models and the useful-steps limit (seeds_verify.convergence.precision)."""

import json
import math

import numpy as np
import pytest
import torch

from seeds_verify.convergence.precision import (RECORD_KEYS, HalfPrecisionDenoiser, UsefulStepsLimit,
                                                crossing, main, markdown_table, record_limit,
                                                useful_steps_limit, useful_steps_study)
from seeds_verify.problems import anisotropic_gaussian

HALF = (torch.bfloat16, torch.float16)
# Small ladders: SEEDS-2 (deterministic) meets the bfloat16 rounding near 50 steps and the float16
# rounding near 150 on both schedules (benchmarks/results/useful_steps.json).
STEPS = (8, 16, 32, 64, 128, 256)
PATHS = 24


def _x(seed=0, n=64):
    gen = torch.Generator().manual_seed(seed)
    return (3.0 * torch.randn(n, 2, generator=gen, dtype=torch.float64)).to(torch.float32)


# -- the wrapper ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", HALF)
def test_input_is_rounded_to_the_half_dtype(dtype):
    seen = {}

    def spy(x, sigma):
        seen["x"], seen["sigma"] = x, sigma
        return x

    x = _x()
    sigma = torch.full((x.shape[0],), 0.7, dtype=torch.float32)
    out = HalfPrecisionDenoiser(spy, dtype)(x, sigma)
    assert seen["x"].dtype == dtype
    assert torch.equal(seen["x"], x.to(dtype))
    assert seen["sigma"] is sigma  # σ̃ reaches the network unchanged (float32)
    # The identity network hands back the rounded input, in the state's dtype.
    assert out.dtype == torch.float32 and torch.equal(out, x.to(dtype).to(torch.float32))
    assert not torch.equal(out, x)  # the rounding is real: most float32 values are not half values


@pytest.mark.parametrize("dtype", HALF)
def test_output_is_a_half_value_of_the_denoiser_at_the_rounded_input(dtype):
    problem = anisotropic_gaussian()
    x = _x(1)
    out = HalfPrecisionDenoiser(problem.denoiser, dtype)(x, 0.5)
    assert out.dtype == torch.float32
    assert torch.equal(out.to(dtype).to(torch.float32), out)  # exactly representable in dtype
    at_rounded = problem.denoiser(x.to(dtype).to(torch.float64), 0.5)  # float64 D at the rounded input
    unit = torch.finfo(dtype).eps / 2
    # One rounding of the output: within half an ulp of the exact value at the rounded input.
    assert torch.all((out.double() - at_rounded).abs() <= unit * at_rounded.abs() + 1e-300)
    exact = problem.denoiser(x, 0.5)
    assert not torch.equal(out, exact)


def test_float32_wrapper_adds_no_rounding_to_a_float32_state():
    problem = anisotropic_gaussian()
    x = _x(2)
    assert torch.equal(HalfPrecisionDenoiser(problem.denoiser, torch.float32)(x, 0.3), problem.denoiser(x, 0.3))


def test_wrapper_arguments_are_checked():
    with pytest.raises(TypeError, match="denoiser"):
        HalfPrecisionDenoiser(3, torch.float16)
    with pytest.raises(ValueError, match="dtype"):
        HalfPrecisionDenoiser(abs, torch.float64)
    with pytest.raises(ValueError, match="dtype"):
        HalfPrecisionDenoiser(abs, "half")
    with pytest.raises(TypeError, match="dtype"):
        HalfPrecisionDenoiser(abs, 16)
    with pytest.raises(TypeError, match="x"):
        HalfPrecisionDenoiser(abs, "bfloat16")([1.0], 0.5)
    assert HalfPrecisionDenoiser(abs, "bfloat16").dtype == torch.bfloat16


# -- the crossing -------------------------------------------------------------------------------


def test_crossing_interpolates_on_log_log_axes():
    steps = (2, 4, 8, 16)
    # E = 1/N against a flat R = 1/10: the lines meet at N = 10 exactly.
    errors = [1 / n for n in steps]
    assert crossing(steps, errors, [0.1] * 4) == pytest.approx(10.0, rel=1e-12)
    assert crossing(steps, errors, [1.0] * 4) == -math.inf  # before the ladder
    assert crossing(steps, errors, [1e-3] * 4) == math.inf  # beyond it
    assert crossing(steps, errors, [0.0] * 4) == math.inf  # no rounding, no limit
    # The first point with E <= R decides, not a later one.
    assert crossing(steps, [0.5, 0.05, 0.2, 0.01], [0.1] * 4) < 4


def test_limit_text_and_record_round_trip():
    lim = UsefulStepsLimit(math.inf, 700.0, math.inf, 2, 1024)
    assert lim.text() == "> 1024 [700, > 1024]"
    assert UsefulStepsLimit(math.inf, math.inf, math.inf, 2, 1024).text() == "> 1024"
    assert UsefulStepsLimit(5.234, 5.1, 5.4, 2, 1024).text() == "5.2 [5.1, 5.4]"
    assert UsefulStepsLimit(9.97, 9.7, 146.6, 2, 1024).text() == "10 [9.7, 147]"
    assert lim.outside() == {"limit": "above", "limit_ci_high": "above"}
    rec = {"limit": None, "limit_ci_low": 700.0, "limit_ci_high": None, "limit_outside": lim.outside(),
           "steps": [2, 1024]}
    assert record_limit(rec) == lim


def test_limit_arguments_are_checked():
    e = np.ones((4, 3))
    with pytest.raises(ValueError, match="per_path"):
        useful_steps_limit((2, 4, 8), e, np.ones((4, 2)))
    with pytest.raises(ValueError, match="replicates"):
        useful_steps_limit((2, 4, 8), e, e, replicates=5)
    with pytest.raises(ValueError, match="steps"):
        useful_steps_limit((4, 2, 8), e, e)


# -- the study ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds2():
    """SEEDS-2, deterministic, vp_linear, bfloat16 / float16 / float32 models."""
    return useful_steps_study(schemes=("seeds2",), schedules=("vp_linear",), regimes=("deterministic",),
                              dtypes=("bfloat16", "float16", "float32"), steps=STEPS, paths=PATHS, seed=3,
                              replicates=200)["records"]


def test_records_have_the_documented_keys(seeds2):
    assert [r["dtype"] for r in seeds2] == ["bfloat16", "float16", "float32"]
    for rec in seeds2:
        assert tuple(rec) == RECORD_KEYS
        assert rec["steps"] == list(STEPS) and rec["paths"] == PATHS and rec["seed"] == 3
    json.dumps(seeds2)  # plain JSON


def test_bfloat16_limit_is_reproducible_and_inside_its_interval(seeds2):
    again = useful_steps_study(schemes=("seeds2",), schedules=("vp_linear",), regimes=("deterministic",),
                               dtypes=("bfloat16",), steps=STEPS, paths=PATHS, seed=3, replicates=200)["records"]
    assert again == seeds2[:1]  # same code, seed and machine: bit identity is the property
    bf16 = seeds2[0]
    assert bf16["limit_outside"] == {}
    assert STEPS[0] < bf16["limit_ci_low"] <= bf16["limit"] <= bf16["limit_ci_high"] < STEPS[-1]
    # At the limit the error curves meet: interpolated E and R agree there.
    n = np.log(STEPS)
    e_at = np.interp(np.log(bf16["limit"]), n, np.log(bf16["errors"]))
    r_at = np.interp(np.log(bf16["limit"]), n, np.log(bf16["rounding"]))
    assert e_at == pytest.approx(r_at, abs=1e-9)


def test_coarser_precision_meets_its_floor_earlier(seeds2):
    bf16, fp16 = seeds2[0], seeds2[1]
    assert fp16["limit_outside"] == {} and bf16["limit_outside"] == {}
    assert bf16["limit"] < fp16["limit"]
    assert bf16["limit_ci_high"] < fp16["limit_ci_low"]  # resolved, not merely ordered
    # bfloat16 keeps 8 significant bits, float16 11: its rounding is about 2³ times larger.
    ratio = np.mean(bf16["rounding"]) / np.mean(fp16["rounding"])
    assert 4.0 < ratio < 16.0


def test_the_half_run_error_is_within_the_triangle_inequality(seeds2):
    for rec in seeds2:
        e, r, h = (np.asarray(rec[k]) for k in ("errors", "rounding", "half_errors"))
        assert np.all(h <= e + r + 1e-12) and np.all(h >= np.abs(e - r) - 1e-12)


def test_float32_model_adds_no_rounding(seeds2):
    fp32 = seeds2[2]
    assert fp32["rounding"] == [0.0] * len(STEPS)
    assert fp32["half_errors"] == fp32["errors"]
    assert fp32["limit"] is None and fp32["limit_outside"] == {"limit": "above", "limit_ci_low": "above",
                                                               "limit_ci_high": "above"}
    assert fp32["limit_text"] == f"> {STEPS[-1]}"
    assert "> 256" in markdown_table(seeds2)


def test_strong_regime_shares_one_path_per_sample():
    """η = 1: the float32 ladder converges on the exact pathwise solution (the same Brownian path
    for every step count), so its error falls at about order 1 (0.85–1 from 32 steps on); with fresh
    noise per step count it would not fall at all."""
    rec = useful_steps_study(schemes=("seeds1",), schedules=("edm",), regimes=("strong",), dtypes=("bfloat16",),
                             steps=(32, 64, 128), paths=8, seed=0, replicates=50)["records"][0]
    e = np.asarray(rec["errors"])
    slopes = -np.diff(np.log(e)) / np.log(2)
    assert np.all(slopes > 0.6)
    assert rec["eta"] == 1.0 and max(rec["rounding"]) < 0.1 * e[0]


def test_study_arguments_are_checked():
    with pytest.raises(ValueError, match="schemes"):
        useful_steps_study(schemes=("em",))
    with pytest.raises(ValueError, match="dtypes"):
        useful_steps_study(dtypes=("float64",))
    with pytest.raises(ValueError, match="regimes"):
        useful_steps_study(regimes=("weak",))
    with pytest.raises(ValueError, match="paths"):
        useful_steps_study(paths=1)
    with pytest.raises(ValueError, match="seed"):
        useful_steps_study(seed=-1)
    with pytest.raises(ValueError, match="steps"):
        useful_steps_study(steps=(4, 2))


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize("argv, named", [
    (["--paths", "0"], "--paths"),
    (["--paths", "1"], "--paths"),
    (["--paths", "many"], "--paths"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "x"], "--seed"),
    (["--schemes", "em"], "--schemes"),
    (["--bogus"], "--bogus"),
])
def test_bad_arguments_exit_2(argv, named, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(argv + ["--out", str(tmp_path)])
    assert exc.value.code == 2
    assert named in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_results_are_written_atomically_as_json_and_png(seeds2, tmp_path):
    from seeds_verify.convergence.precision import write_useful_steps

    written = write_useful_steps({"meta": {"seed": 3}, "records": seeds2}, tmp_path, "curves")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.json", "curves.png"]
    assert json.loads((tmp_path / "curves.json").read_text())["records"] == seeds2
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(written) == 2


# -- the report page ----------------------------------------------------------------------------


def test_report_page_is_skipped_without_results(tmp_path):
    from seeds_verify.report.useful_steps import read_useful_steps, useful_steps_pages

    assert list(useful_steps_pages(tmp_path)) == []
    assert read_useful_steps(None) is None
    (tmp_path / "useful_steps.json").write_text("{not json")
    with pytest.raises(ValueError, match="useful-steps"):
        read_useful_steps(tmp_path)


def test_report_page_shows_each_limit_and_the_curves(seeds2, tmp_path):
    from seeds_verify.report.useful_steps import useful_steps_pages

    (tmp_path / "useful_steps.json").write_text(json.dumps({"meta": {"wall_time_s": 5.0}, "records": seeds2}))
    pages = list(useful_steps_pages(tmp_path))
    assert [p.slug for p in pages] == ["useful_steps", "useful_steps_curves"]
    text = " ".join(t.get_text() for t in pages[0].figure.texts)
    assert "How many steps are worth it in bf16/fp16?" in text
    for rec in seeds2:
        assert rec["limit_text"] in text
    panels = pages[1].figure.axes
    assert len(panels) == 1 and seeds2[0]["limit_text"] in panels[0].get_title()
    for page in pages:
        page.figure.clear()
