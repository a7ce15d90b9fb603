"""Property tests of the reference samplers sample_seeds_1/2/3 on inputs drawn by seeds_verify.strategies.

The draws come from the package's own strategies (schedules, sigma and λ grids, η, stage
fractions, Gaussian problems), so these tests also exercise the strategies' whole output space.
Five properties:

(a) finite: any drawn valid σ grid, η, stage fractions and dtype (float32, float64) with the
    Gaussian denoiser of a drawn problem gives a finite output of x's shape and dtype, no error;
(b) path consistency on a point mass: on one Brownian path, n and m·n uniform-λ steps of a drawn
    schedule give the same end point, the exact pathwise solution (tests/test_fuzz_samplers.py
    checks each single run against an iterated reference formula; here runs with different step
    counts are compared with each other and with the closed-form solution);
(c) data and noise forms converge together: at η = 0 on a drawn Gaussian problem the difference
    between ``prediction="data"`` and ``prediction="noise"`` falls by at least 2^(p − 1/2) from N to
    2N uniform-λ steps (p the scheme's order: 2 for SEEDS-2, 3 for SEEDS-3), or is at the rounding
    floor; for SEEDS-1 both forms are the same DDIM step, so they agree to rounding;
(d) reproducibility: the same seed gives a bit-identical output (same code, same device);
(e) invalid input: a valid draw made invalid (σ grid reordered or broken, η outside [0, 1],
    stage fractions out of range or out of order) raises ValueError/TypeError naming the argument
    (tests/test_fuzz_samplers.py covers hand-made invalid values; here they derive from draws).

All searches are derandomised. The number of cases each property ran is printed at the end of
the module (run with ``-s`` to see it) and must reach a minimum.
"""

from __future__ import annotations

import collections
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from seeds_verify.noise import BrownianPath
from seeds_verify.problems import get_problem
from seeds_verify.samplers import sample_seeds_1, sample_seeds_2, sample_seeds_3
from seeds_verify.schedules import lambda_grid
from seeds_verify.strategies import etas, gaussian_problems, schedules, sigma_grids, stage_fractions

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SAMPLERS = {"seeds1": sample_seeds_1, "seeds2": sample_seeds_2, "seeds3": sample_seeds_3}
ORDERS = {"seeds1": 1, "seeds2": 2, "seeds3": 3}
U64 = torch.finfo(torch.float64).eps / 2

CASES: collections.Counter = collections.Counter()
MIN_CASES = {"finite": 40, "path_consistency": 30, "forms_converge": 15, "bit_identity": 20, "invalid": 60}


@pytest.fixture(scope="module", autouse=True)
def report_case_counts(request):
    yield
    ran = {k: CASES[k] for k in (*MIN_CASES, *sorted(k for k in CASES if "[" in k))}
    line = "cases per property: " + ", ".join(f"{k}={v}" for k, v in ran.items())
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print("\n" + line)


def seeded_noise(x: torch.Tensor, seed: int):
    gen = torch.Generator().manual_seed(seed)
    return lambda sigma_a, sigma_b: torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.dtype)


@st.composite
def scheme_kwargs(draw, name: str | None = None):
    """(sampler name, keyword arguments): stage fractions from stage_fractions, SEEDS variants."""
    name = draw(st.sampled_from(tuple(SAMPLERS))) if name is None else name
    if name == "seeds2":
        (r,) = draw(stage_fractions(1))
        return name, {"r": r, "solver_type": draw(st.sampled_from(("phi_1", "phi_2")))}
    if name == "seeds3":
        r_1, r_2 = draw(stage_fractions(2))
        return name, {"r_1": r_1, "r_2": r_2, "solver_type": draw(st.sampled_from(("3a", "3b")))}
    return name, {}


# ---------------------------------------------------------------------------------------------
# (a) finite outputs on every valid draw
# ---------------------------------------------------------------------------------------------


@settings(max_examples=60, **SETTINGS)
@given(scheme=scheme_kwargs(), sigmas=sigma_grids(max_steps=16), eta=etas(), problem=gaussian_problems(),
       dtype=st.sampled_from((torch.float64, torch.float32)), seed=st.integers(0, 2 ** 16))
def test_outputs_are_finite(scheme, sigmas, eta, problem, dtype, seed):
    name, kwargs = scheme
    x = problem.sample(4, float(sigmas[0]), generator=torch.Generator().manual_seed(seed), dtype=dtype)
    out = SAMPLERS[name](problem.denoiser, x, sigmas, eta=eta, noise_sampler=seeded_noise(x, seed),
                         disable=True, **kwargs)
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.isfinite(out).all()
    CASES["finite"] += 1


# ---------------------------------------------------------------------------------------------
# (b) one Brownian path, any number of steps: the same end point on a point mass
# ---------------------------------------------------------------------------------------------

POINT_MASS = get_problem("point_mass")


@settings(max_examples=40, **SETTINGS)
@given(name=st.sampled_from(tuple(SAMPLERS)), schedule=schedules(), n=st.integers(1, 6),
       m=st.sampled_from((2, 3, 4)), eta=etas(), seed=st.integers(0, 2 ** 16))
def test_step_counts_agree_on_one_path(name, schedule, n, m, eta, seed):
    lam0, lam1 = schedule.lam_range()
    y0 = POINT_MASS.sample(4, math.exp(-lam0), generator=torch.Generator().manual_seed(seed))
    path, noise = None, None
    if eta > 0:
        # 6 cells per fine step: the default stage points (1/2; 1/3, 2/3) of both grids are nodes.
        grid = lambda_grid(schedule, 6 * n * m)
        path = BrownianPath(grid, tuple(y0.shape), seed=seed, dtype=torch.float64,
                            moments=BrownianPath.moments_needed(grid, [eta]))
        noise = path.noise_sampler(eta)
    outs = []
    for steps in (n, n * m):
        sigmas = torch.as_tensor(np.exp(-lambda_grid(schedule, steps)), dtype=torch.float64)
        outs.append(SAMPLERS[name](POINT_MASS.denoiser, y0.clone(), sigmas, eta=eta, noise_sampler=noise,
                                   disable=True))
    exact = POINT_MASS.exact_solution(y0, lam0, lam1, eta, path)
    # Rounding bound: a step adds a few ulps of the largest magnitude involved (start, point,
    # noise term); the stage interpolants of the default fractions amplify it by at most 5.
    scale = float(torch.cat([y0.abs().flatten(), exact.abs().flatten(), torch.ones(1, dtype=torch.float64)]).max())
    atol = 64 * 5 * (n * m + 1) * U64 * scale
    for out in outs:
        torch.testing.assert_close(out, exact, rtol=0, atol=atol)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=atol)
    CASES["path_consistency"] += 1


# ---------------------------------------------------------------------------------------------
# (c) data and noise forms converge to each other with the scheme's order
# ---------------------------------------------------------------------------------------------

# Coarsest λ step of the comparison per scheme, inside its asymptotic range: SEEDS-3's difference
# only settles to its third-order ratio below h ≈ 0.1 (at h = 0.12 the ratio can still be 5.5).
H_MAX = {"seeds1": 0.25, "seeds2": 0.25, "seeds3": 0.0625}


@pytest.mark.parametrize("name", tuple(SAMPLERS))
@settings(max_examples=15, **SETTINGS)
@given(schedule=schedules(), extra=st.integers(0, 16),
       problem=gaussian_problems(dim=st.integers(1, 3)), seed=st.integers(0, 2 ** 16))
def test_data_and_noise_forms_converge_together(name, schedule, extra, problem, seed):
    lam0, lam1 = schedule.lam_range()
    n = math.ceil((lam1 - lam0) / H_MAX[name]) + extra
    y0 = problem.sample(4, math.exp(-lam0), generator=torch.Generator().manual_seed(seed))
    gaps = []
    for steps in (n, 2 * n):
        sigmas = torch.as_tensor(np.exp(-lambda_grid(schedule, steps)), dtype=torch.float64)
        try:
            data = SAMPLERS[name](problem.denoiser, y0.clone(), sigmas, eta=0.0, disable=True)
            noise = SAMPLERS[name](problem.denoiser, y0.clone(), sigmas, eta=0.0, disable=True, prediction="noise")
        except ValueError as exc:  # a noise-form step whose rounding gain is beyond the documented limit
            assert "sigmas" in str(exc)
            assume(False)
        gaps.append(float((data - noise).abs().max()))
    scale = float(torch.cat([y0.abs().flatten(), data.abs().flatten()]).max())
    floor = 16 * 2 * n * U64 * scale  # rounding floor of the difference: a few ulps per step
    if name == "seeds1":  # at η = 0 both forms of SEEDS-1 are the DDIM step: equal up to rounding
        assert max(gaps) <= floor, (gaps, floor, n)
    else:
        p = ORDERS[name]
        assert gaps[1] <= gaps[0] / 2 ** (p - 0.5) or gaps[1] <= floor, (gaps, floor, n)
    CASES["forms_converge"] += 1
    CASES[f"forms_converge[{name}{'' if gaps[1] > floor else ', at floor'}]"] += 1


# ---------------------------------------------------------------------------------------------
# (d) same seed, same device: bit-identical output
# ---------------------------------------------------------------------------------------------


@settings(max_examples=30, **SETTINGS)
@given(scheme=scheme_kwargs(), sigmas=sigma_grids(max_steps=12), eta=etas(), problem=gaussian_problems(),
       dtype=st.sampled_from((torch.float64, torch.float32)), seed=st.integers(0, 2 ** 31 - 1),
       global_rng=st.booleans())
def test_same_seed_gives_bit_identical_output(scheme, sigmas, eta, problem, dtype, seed, global_rng):
    name, kwargs = scheme

    def run():
        x = problem.sample(3, float(sigmas[0]), generator=torch.Generator().manual_seed(seed), dtype=dtype)
        if global_rng:  # the sampler's own fresh draws (torch.randn_like) under torch.manual_seed
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return SAMPLERS[name](problem.denoiser, x, sigmas, eta=eta, disable=True, **kwargs)
        return SAMPLERS[name](problem.denoiser, x, sigmas, eta=eta, noise_sampler=seeded_noise(x, seed),
                              disable=True, **kwargs)

    a, b = run(), run()
    assert a.dtype == b.dtype == dtype
    assert torch.equal(a, b) and a.numpy().tobytes() == b.numpy().tobytes()
    CASES["bit_identity"] += 1


# ---------------------------------------------------------------------------------------------
# (e) invalid input derived from valid draws: ValueError/TypeError naming the argument
# ---------------------------------------------------------------------------------------------


@st.composite
def invalid_sigmas(draw):
    """A valid σ grid (at least 2 steps) broken in one way; the error must name ``sigmas``."""
    sigmas = draw(sigma_grids(min_steps=2, max_steps=16)).clone()
    how = draw(st.sampled_from(("increasing", "repeated", "nan", "inf", "negative", "single", "empty", "2d",
                                "complex")))
    i = draw(st.integers(0, len(sigmas) - 1))
    if how == "increasing":
        return how, sigmas.flip(0), ValueError
    if how == "repeated":
        j = min(i, len(sigmas) - 2)
        sigmas[j + 1] = sigmas[j]
        return how, sigmas, ValueError
    if how in ("nan", "inf"):
        sigmas[i] = math.nan if how == "nan" else math.inf
        return how, sigmas, ValueError
    if how == "negative":
        sigmas[-1] = -draw(st.floats(1e-6, 1.0))
        return how, sigmas, ValueError
    if how == "single":
        return how, sigmas[i:i + 1], ValueError
    if how == "empty":
        return how, sigmas[:0], ValueError
    if how == "2d":
        return how, sigmas.unsqueeze(0), (ValueError, TypeError)
    return how, sigmas.to(torch.complex128), TypeError


def invalid_etas():
    """η outside [0, 1] (ValueError) or not a real number (TypeError)."""
    return st.one_of(
        st.floats(1.0, 1e6, exclude_min=True).map(lambda v: (v, ValueError)),
        st.floats(-1e6, 0.0, exclude_max=True).map(lambda v: (v, ValueError)),
        st.sampled_from((math.nan, math.inf, -math.inf)).map(lambda v: (v, ValueError)),
        st.sampled_from((True, "1.0", None, 1j)).map(lambda v: (v, TypeError)),
    )


@st.composite
def invalid_fractions(draw):
    """SEEDS-2 r or SEEDS-3 (r_1, r_2) made invalid from a stage_fractions draw; the names to expect."""
    if draw(st.booleans()):
        (r,) = draw(stage_fractions(1))
        bad = draw(st.sampled_from(("above_one", "zero", "negative", "nan", "tiny")))
        value = {"above_one": 1.0 + r, "zero": 0.0, "negative": -r, "nan": math.nan, "tiny": r * 1e-4}[bad]
        return "seeds2", {"r": value}, ("r",)
    r_1, r_2 = draw(stage_fractions(2))
    bad = draw(st.sampled_from(("swapped", "equal", "r_2_above_one", "r_1_negative")))
    if bad == "swapped":
        return "seeds3", {"r_1": r_2, "r_2": r_1}, ("r_1", "r_2")
    if bad == "equal":
        return "seeds3", {"r_1": r_1, "r_2": r_1}, ("r_1", "r_2")
    if bad == "r_2_above_one":
        return "seeds3", {"r_1": r_1, "r_2": 1.0 + r_2}, ("r_2",)
    return "seeds3", {"r_1": -r_1, "r_2": r_2}, ("r_1",)


def _names(message: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) is not None


@settings(max_examples=120, **SETTINGS)
@given(data=st.data(), which=st.sampled_from(("sigmas", "eta", "fractions")))
def test_invalid_input_names_the_argument(data, which):
    x = torch.zeros(2, 2, dtype=torch.float64)
    model = lambda x, sigma: torch.zeros_like(x)  # noqa: E731
    valid_sigmas = torch.tensor([10.0, 1.0, 0.1], dtype=torch.float64)
    if which == "sigmas":
        name = data.draw(st.sampled_from(tuple(SAMPLERS)), label="sampler")
        how, sigmas, err = data.draw(invalid_sigmas(), label="sigmas")
        call, expect = (lambda: SAMPLERS[name](model, x, sigmas, disable=True)), ("sigmas",)
    elif which == "eta":
        name = data.draw(st.sampled_from(tuple(SAMPLERS)), label="sampler")
        eta, err = data.draw(invalid_etas(), label="eta")
        call, expect = (lambda: SAMPLERS[name](model, x, valid_sigmas, eta=eta, disable=True)), ("eta",)
    else:
        name, kwargs, expect = data.draw(invalid_fractions(), label="fractions")
        err = ValueError
        call = lambda: SAMPLERS[name](model, x, valid_sigmas, disable=True, **kwargs)  # noqa: E731
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert isinstance(info.value, err), (type(info.value), info.value)
    assert any(_names(str(info.value), e) for e in expect), str(info.value)
    CASES["invalid"] += 1
    CASES[f"invalid[{which}]"] += 1


def test_case_counts_reach_their_minimum():
    """Last in the file: every property that ran (not deselected) ran at least its minimum of cases."""
    ran = {name: CASES[name] for name in MIN_CASES if CASES[name]}
    if not ran:
        pytest.skip("no property ran in this session")
    for name, count in ran.items():
        assert count >= MIN_CASES[name], f"{name}: {count} cases, expected at least {MIN_CASES[name]}"
