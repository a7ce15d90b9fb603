"""Property-based fuzzing of every public entry point of ``seeds_verify.noise`` and
``seeds_verify.schedules`` (and the ``check_device`` helper they share).

Contract under test: every accepted input gives a right answer, and every rejected one a
ValueError or TypeError whose message names the offending argument.

* Valid extremes are drawn on purpose: λ over the whole float64 line (log-uniform magnitudes up
  to 1e308), t down to the smallest subnormal and up to 1 − 1e-16 or 1e300, schedule parameters
  over hundreds of decades, grid offsets up to 1e6 and cell widths down to 1e-6, seeds beyond
  2^64.
* "Right" for a schedule value means: within the conditioning bound of ``test_schedules.py``,
  ``|ŷ − y| ≤ C (u_y + |dy/dx| u_x)`` with C = 4, u_t = ε|t|, u_λ = ε max(1, |λ|) and u_y = ε|y|
  for the positive quantities α, σ, t, against the exact value from mpmath at 60 digits. The
  references use exact identities of MATH §1 in forms with no cancellation (so 60 digits are 40
  more than needed even at t = 1e-300); conditioning factors come from the analytic derivatives.
  Where the exact value lies beyond float64 (overflow) the IEEE limit ±inf is the right answer;
  results below the smallest normal float64 carry absolute, not relative, precision and are
  held to C units of the smallest subnormal (2^-1074) on top.
* "Right" for a noise increment: correct shape and dtype, finite, and a sample of N = 4000
  (or 2000) normals with mean within 5 standard errors 1/sqrt(N) of 0 and variance within
  5 standard errors sqrt(2/N) of 1; or a ValueError naming k and the grid exactly when the
  query's variance defect exceeds the path's ``defect_tol`` (checked against the per-cell
  defects, with a factor-2 band for the rounding of the two computations).

Every property runs derandomised (fixed examples, reproducible on every machine) with a fixed
torch seed per example. Budget: < 60 s on 2 cores for the whole file; run
``pytest --hypothesis-show-statistics`` to see the number of cases per property.
"""

from __future__ import annotations

import math
import warnings

import mpmath as mp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from seeds_verify.devices import check_device
from seeds_verify.noise import BrownianPath, GaussianNoise
from seeds_verify.schedules import (
    EDM,
    MAX_STEPS,
    RHO_RANGE,
    SCHEDULES,
    SPACINGS,
    VE,
    RectifiedFlow,
    VPCosine,
    VPLinear,
    get_schedule,
    lambda_grid,
    lambdas_from_sigmas,
    sigmas_from_lambdas,
)

EPS = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)
C = 4.0
TINY = 2.0 ** -1074  # smallest subnormal float64
MAX = float(np.finfo(np.float64).max)
DPS = 60


def fuzz(n: int):
    return settings(max_examples=n, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def log_uniform(lo_exp: float, hi_exp: float):
    """Positive floats with log10 uniform in [lo_exp, hi_exp] (subnormals included)."""
    return st.floats(lo_exp, hi_exp).map(lambda e: 10.0 ** e).filter(lambda x: 0.0 < x < math.inf)


def raises_naming(exc, name: str):
    """pytest.raises for ValueError/TypeError whose message names ``name`` as a word."""
    return pytest.raises(exc, match=rf"(?<![A-Za-z_]){name}(?![A-Za-z_])")


# ============================================================================================
# Noise
# ============================================================================================


@st.composite
def grids(draw, max_cells: int = 40, offsets=None):
    """A valid λ-grid: uniform cells of width 10^U(−6, 0.5) from an offset that may be large."""
    cells = draw(st.integers(1, max_cells))
    width = draw(log_uniform(-6.0, 0.5))
    offset = draw(offsets if offsets is not None else st.one_of(
        st.floats(-50.0, 50.0), st.sampled_from([-1e6, -700.0, 0.0, 700.0, 1e6])))
    grid = offset + width * np.arange(cells + 1, dtype=np.float64)
    assume(np.all(np.diff(grid) > 0))
    return grid


exponents = st.one_of(st.floats(-4.0, 4.0), st.sampled_from([0.0, 1e-300, -1e-300, 50.0, -50.0, 1e6]))
seeds = st.one_of(st.integers(0, 2 ** 16), st.integers(2 ** 60, 2 ** 70))


def assert_standard_normal(z: torch.Tensor, n: int):
    z = z.double()
    assert bool(torch.isfinite(z).all())
    assert abs(z.mean().item()) < 5.0 / math.sqrt(n)
    assert abs(z.var().item() - 1.0) < 5.0 * math.sqrt(2.0 / n)


def cell_defects(grid, k, moments):
    """Per-cell variance defects, each from a one-cell path (public API only)."""
    return np.array([BrownianPath(grid[i:i + 2], (1,), moments=moments).variance_defect(k)
                     for i in range(grid.size - 1)])


@fuzz(150)
@given(grid=grids(), seed=seeds, k=exponents, data=st.data(), moments=st.integers(1, 6),
       dtype=st.sampled_from([torch.float64, torch.float32]))
def test_brownian_path_increments(grid, seed, k, data, moments, dtype):
    n = 4000
    i0 = data.draw(st.integers(0, grid.size - 2), label="i0")
    i1 = data.draw(st.integers(i0 + 1, grid.size - 1), label="i1")
    path = BrownianPath(grid, (n,), seed=seed, moments=moments, dtype=dtype)
    defects = cell_defects(grid[i0:i1 + 1], k, moments)
    try:
        z = path(grid[i0], grid[i1], k)
    except ValueError as err:
        assert "k=" in str(err) and "grid" in str(err)
        assert defects.max() > path.defect_tol / 2, defects  # refused only when the defect is real
        return
    assert defects.min() <= 2 * path.defect_tol, defects  # accepted only when it is small
    assert z.shape == (n,) and z.dtype == dtype
    assert_standard_normal(z, n)


@fuzz(100)
@given(grid=grids(max_cells=30), seed=seeds, k=st.floats(-3.0, 3.0), data=st.data())
def test_brownian_path_increments_add_up(grid, seed, k, data):
    """∫_a^c e^{kλ}dW = ∫_a^b + ∫_b^c on one path, written relative to r = max-weight end of
    [a, c]: z_ac N_ac = z_ab N_ab + z_bc N_bc with N_xy = sqrt(∫_x^y e^{2k(λ−r)}). Rounding: each
    z is a sum of n ≤ 4·30 terms coef·ξ with Σ coef² = 1, so |error| ≤ 2nε max|ξ| sqrt(n) per
    side (|ξ| < 6 for every draw here); tolerance 3 × 4nε·6·sqrt(n)."""
    assume(grid.size >= 3)
    i0 = data.draw(st.integers(0, grid.size - 3), label="i0")
    i2 = data.draw(st.integers(i0 + 2, grid.size - 1), label="i2")
    i1 = data.draw(st.integers(i0 + 1, i2 - 1), label="i1")
    a, b, c = grid[i0], grid[i1], grid[i2]
    path = BrownianPath(grid, (200,), seed=seed, defect_tol=1.0)  # exactness is not in question here
    r = c if k > 0 else a

    def norm(x, y):
        with mp.workdps(30):
            x, y, kk = mp.mpf(x), mp.mpf(y), mp.mpf(k)
            if k == 0:
                return float(mp.sqrt(y - x))
            return float(mp.sqrt((mp.exp(2 * kk * (y - r)) - mp.exp(2 * kk * (x - r))) / (2 * kk)))

    whole = path(a, c, k) * norm(a, c)
    parts = path(a, b, k) * norm(a, b) + path(b, c, k) * norm(b, c)
    terms = 4 * (i2 - i0)
    tol = 3 * 4 * terms * EPS * 6 * math.sqrt(terms) * max(1.0, norm(a, c))
    assert float((whole - parts).abs().max()) <= tol


@fuzz(80)
@given(grid=grids(max_cells=20, offsets=st.floats(-30.0, 30.0)), seed=seeds, k=st.floats(-3.0, 3.0),
       data=st.data())
def test_noise_sampler_reads_the_same_increment(grid, seed, k, data):
    """σ = e^{−λ} round-trips to λ within 2ε|λ| (plus the node snap of 1e-7 cell widths), which
    moves z by at most (|k| + 1/L)·δ relative (δ the end-point shift, L = b − a): the two
    readings agree within that plus the rounding of the sum (1e-12)."""
    i0 = data.draw(st.integers(0, grid.size - 2), label="i0")
    i1 = data.draw(st.integers(i0 + 1, grid.size - 1), label="i1")
    path = BrownianPath(grid, (50,), seed=seed, defect_tol=1.0)
    a, b = grid[i0], grid[i1]
    sa, sb = math.exp(-a), math.exp(-b)
    got = path.noise_sampler(k)(sa, sb)
    want = path(a, b, k)
    delta = abs(-math.log(sa) - a) + abs(-math.log(sb) - b)
    rtol = 4 * (abs(k) + 1.0 / (b - a)) * delta + 1e-12
    assert float((got - want).abs().max()) <= rtol * max(1.0, float(want.abs().max()))


@fuzz(80)
@given(grid=grids(max_cells=25, offsets=st.floats(-20.0, 20.0)), seed=seeds, k=st.floats(-3.0, 3.0),
       data=st.data())
def test_weighted_integral_of_the_exponential_weight(grid, seed, k, data):
    """weighted_integral(e^{k(λ−r)}) / N equals path(a, b, k) (the same projections, scaled
    differently: a few ε relative per coefficient, summed over n ≤ 100 terms with |ξ| < 6), or
    both refuse the query; a polynomial weight of degree < moments is always accepted."""
    i0 = data.draw(st.integers(0, grid.size - 2), label="i0")
    i1 = data.draw(st.integers(i0 + 1, grid.size - 1), label="i1")
    a, b = grid[i0], grid[i1]
    path = BrownianPath(grid, (100,), seed=seed)
    r = b if k > 0 else a
    try:
        got = path.weighted_integral(a, b, lambda lam: np.exp(k * (lam - r)))
    except ValueError as err:
        assert "grid" in str(err)
        try:
            path(a, b, k)
        except ValueError as other:
            assert "grid" in str(other)
        else:  # the quadrature estimate refused, the closed form did not: only in the band
            assert max(cell_defects(grid[i0:i1 + 1], k, path.moments)) > path.defect_tol / 2
        return
    with mp.workdps(30):
        norm = mp.sqrt(b - a) if k == 0 else mp.sqrt(-mp.expm1(-2 * abs(mp.mpf(k)) * (mp.mpf(b) - a)) / (2 * abs(mp.mpf(k))))
    try:
        want = path(a, b, k)
    except ValueError:
        # The estimated (quadrature) defect passed and the closed-form one did not: only in the band.
        assert max(cell_defects(grid[i0:i1 + 1], k, path.moments)) > path.defect_tol / 2
        return
    terms = 4 * (i1 - i0)
    assert float((got / float(norm) - want).abs().max()) <= 8 * EPS * terms * 6
    cubic = path.weighted_integral(a, b, lambda lam: np.stack([(lam - a) ** 3, np.ones_like(lam)], axis=-1))
    assert cubic.shape == (2, 100) and bool(torch.isfinite(cubic).all())
    plain = path(a, b, 0.0) * math.sqrt(b - a)
    assert float((cubic[1] - plain).abs().max()) <= 8 * EPS * (i1 - i0) * 6 * math.sqrt(b - a)


@fuzz(100)
@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=3),
       seed=st.one_of(st.none(), st.integers(-(2 ** 63), 2 ** 64 - 1)),
       lam_a=st.floats(-1e308, 1e308), gap=log_uniform(-300, 300), k=st.floats(-1e300, 1e300),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_gaussian_noise(shape, seed, lam_a, gap, k, dtype):
    lam_b = lam_a + gap
    assume(math.isfinite(lam_b) and lam_b > lam_a)
    noise = GaussianNoise(shape, seed=seed, dtype=dtype)
    z = noise(lam_a, lam_b, k)
    assert z.shape == tuple(shape) and z.dtype == dtype and bool(torch.isfinite(z).all())
    if seed is not None:  # same seed, same code, same device: the same numbers
        assert torch.equal(GaussianNoise(shape, seed=seed, dtype=dtype)(lam_a, lam_b, k), z)


def test_gaussian_noise_is_standard_normal():
    n = 20000
    assert_standard_normal(GaussianNoise((n,), seed=3, dtype=torch.float64)(0.0, 1.0, -1.0), n)


BAD_NUMBERS = [float("nan"), float("inf"), -float("inf")]
NOT_NUMBERS = ["1.0", None, True, [1.0], 1j]


@fuzz(80)
@given(case=st.sampled_from([
    # (argument, bad value, expected exception)
    *[("seed", v, ValueError) for v in (-1, -(2 ** 40))],
    *[("seed", v, TypeError) for v in (1.5, True, "3", None)],
    *[("shape", v, TypeError) for v in ((2.5,), (True,), "3", 3, (1, None), torch.ones(2))],
    *[("shape", v, ValueError) for v in ((0,), (2, -1))],
    *[("moments", v, ValueError) for v in (0, -2, True, 2.0)],
    *[("chunk_cells", v, ValueError) for v in (0, False, 1.5)],
    *[("cache_bytes", v, ValueError) for v in (-1, 1.0, True)],
    *[("defect_tol", v, ValueError) for v in (0.0, -1.0, 2.0, 1e-20, *BAD_NUMBERS)],
    *[("defect_tol", v, TypeError) for v in ("1e-8", None, True)],
    *[("device", v, ValueError) for v in ("meta", "garbage", "cpu:7", "")],
    *[("device", v, TypeError) for v in (1.5, object())],
    *[("dtype", v, TypeError) for v in (torch.float16, torch.int64, "float64", np.float64)],
    *[("grid", v, ValueError) for v in ([0.0], [0.0, 0.0], [1.0, 0.0], [0.0, float("nan")],
                                        [[0.0, 1.0]], [-1e308, 1e308], [0.0, float("inf")])],
    *[("grid", v, TypeError) for v in (["a", "b"], [object(), 1.0])],
]))
def test_brownian_path_bad_construction(case):
    name, value, exc = case
    kwargs = {"grid": [0.0, 0.5, 1.0], "shape": (3,), name: value}
    with raises_naming(exc, name):
        BrownianPath(**kwargs)


@fuzz(60)
@given(case=st.sampled_from([
    *[("k", v, ValueError) for v in BAD_NUMBERS],
    *[("k", v, TypeError) for v in NOT_NUMBERS],
    *[("lam_a", v, ValueError) for v in BAD_NUMBERS + [0.25, 0.5 + 1e-3]],
    *[("lam_a", v, TypeError) for v in NOT_NUMBERS],
    *[("lam_b", v, ValueError) for v in BAD_NUMBERS + [0.0, 0.75, -1.0]],
    *[("lam_b", v, TypeError) for v in NOT_NUMBERS],
]))
def test_bad_increment_arguments(case):
    """Each bad value through BrownianPath.__call__, weighted_integral and GaussianNoise.__call__
    (off-grid end points are fine for fresh normals; weighted_integral has no k)."""
    name, value, exc = case
    args = {"lam_a": 0.0, "lam_b": 1.0, "k": 1.0, name: value}
    path = BrownianPath([0.0, 0.5, 1.0], (3,), seed=0)
    calls = [lambda: path(args["lam_a"], args["lam_b"], args["k"])]
    if name != "k":
        calls.append(lambda: path.weighted_integral(args["lam_a"], args["lam_b"], np.exp))
    if name == "k" or value not in (0.25, 0.5 + 1e-3, 0.75):
        calls.append(lambda: GaussianNoise((3,), seed=0)(args["lam_a"], args["lam_b"], args["k"]))
    for call in calls:
        with raises_naming(exc, name):
            call()


@fuzz(150)
@given(case=st.one_of(
    st.tuples(st.just("seed"), st.integers(-(2 ** 80), -1)),
    st.tuples(st.just("defect_tol"), st.one_of(st.floats(1.0, 1e308, exclude_min=True),
                                                st.floats(-1e308, 1e-12, exclude_max=True))),
    st.tuples(st.just("shape"), st.lists(st.integers(-(2 ** 40), 0), min_size=1, max_size=3).map(tuple)),
    st.tuples(st.just("moments"), st.integers(-(2 ** 40), 0)),
    st.tuples(st.just("chunk_cells"), st.integers(-(2 ** 40), 0)),
    st.tuples(st.just("cache_bytes"), st.integers(-(2 ** 70), -1)),
    st.tuples(st.just("k"), st.sampled_from(BAD_NUMBERS)),
))
def test_out_of_range_numbers_are_refused(case):
    """Random out-of-range values of every numeric argument of BrownianPath: ValueError naming it."""
    name, value = case
    if name == "k":
        with raises_naming(ValueError, "k"):
            BrownianPath([0.0, 1.0], (2,))(0.0, 1.0, value)
        return
    kwargs = {"grid": [0.0, 1.0], "shape": (2,), name: value}
    with raises_naming(ValueError, name):
        BrownianPath(**kwargs)


@pytest.mark.parametrize(
    "weight, exc",
    [
        (lambda lam: np.full_like(lam, np.nan), ValueError),  # NaN values
        (lambda lam: np.exp(1e3 * lam), ValueError),  # overflow to inf
        (lambda lam: lam[:, :1], ValueError),  # wrong shape
        (lambda lam: np.exp(40.0 * lam), ValueError),  # not resolved by the cells: defect
        ("exp", TypeError),  # not callable
    ],
)
def test_weighted_integral_bad_weights(weight, exc):
    path = BrownianPath(np.linspace(0.0, 2.0, 9), (4,), seed=0)
    with raises_naming(exc, "weight"):
        path.weighted_integral(0.0, 2.0, weight)


@fuzz(30)
@given(case=st.sampled_from([
    *[("sigma_a", v, ValueError) for v in [0.0, -1.0, *BAD_NUMBERS]],
    *[("sigma_b", v, ValueError) for v in [0.0, -2.0, *BAD_NUMBERS, 2.0]],
    *[("sigma_a", v, TypeError) for v in NOT_NUMBERS],
    *[("sigma_b", v, TypeError) for v in NOT_NUMBERS],
]))
def test_noise_sampler_bad_sigmas(case):
    name, value, exc = case
    sampler = BrownianPath([0.0, 0.5, 1.0], (3,), seed=0).noise_sampler(0.5)
    args = {"sigma_a": 1.0, "sigma_b": math.exp(-1.0), name: value}
    message = name if value not in (0.0, -1.0, -2.0) else "positive sigmas"
    with pytest.raises(exc, match=message):
        sampler(args["sigma_a"], args["sigma_b"])


@fuzz(80)
@given(grid=grids(max_cells=200), ks=st.lists(st.floats(-5.0, 5.0), min_size=1, max_size=4),
       tol=log_uniform(-14.5, -2.0))
def test_moments_needed_is_the_fewest_that_reach_tol(grid, ks, tol):
    """The answer m satisfies the tolerance on every cell and m − 1 does not; or ValueError naming
    tol and the grid when even 8 moments do not."""
    try:
        m = BrownianPath.moments_needed(grid, ks, tol)
    except ValueError as err:
        assert "tol=" in str(err) and "grid" in str(err)
        probe = BrownianPath(grid, (1,), moments=8)
        assert max(probe.variance_defect(k) for k in ks) >= tol
        return
    assert 1 <= m <= 8
    assert max(BrownianPath(grid, (1,), moments=m).variance_defect(k) for k in ks) < tol
    if m > 1:
        assert max(BrownianPath(grid, (1,), moments=m - 1).variance_defect(k) for k in ks) >= tol


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        ({"tol": 1e-16}, ValueError, "tol"),
        ({"tol": float("nan")}, ValueError, "tol"),
        ({"tol": "1e-10"}, TypeError, "tol"),
        ({"max_moments": 0}, ValueError, "max_moments"),
        ({"max_moments": 2.0}, TypeError, "max_moments"),
        ({"exponents": [float("inf")]}, ValueError, "exponents"),
        ({"exponents": []}, ValueError, "exponents"),
        ({"exponents": "1"}, TypeError, "exponents"),
        ({"grid": [0.0, -1.0]}, ValueError, "grid"),
    ],
)
def test_moments_needed_bad_arguments(kwargs, exc, name):
    args = {"grid": [0.0, 0.5, 1.0], "exponents": [1.0], **kwargs}
    with raises_naming(exc, name):
        BrownianPath.moments_needed(**args)


@pytest.mark.parametrize(
    "device, exc",
    [
        ("meta", ValueError),
        ("garbage", ValueError),
        ("cpu:1", ValueError),
        ("", ValueError),
        ("cuda:99", ValueError),
        (torch.device("meta"), ValueError),
        (0.5, TypeError),
        (True, TypeError),
    ],
)
def test_check_device_refuses_unusable_devices(device, exc):
    with raises_naming(exc, "out_device"):
        check_device(device, "out_device")


def test_check_device_accepts_usable_devices():
    assert check_device(None) == torch.device("cpu")
    assert check_device("cpu") == torch.device("cpu")
    assert check_device(torch.device("cpu:0")) == torch.device("cpu:0")
    if torch.cuda.is_available():
        assert check_device("cuda").type == "cuda"
    else:
        with raises_naming(ValueError, "device"):
            check_device("cuda")


# ============================================================================================
# Schedules
# ============================================================================================

# Parameters over many decades: each schedule still maps its domain onto the whole λ line.
# Draws that the constructors rightly refuse (β_max rounding to β_min, σ_max overflowing) are
# skipped before construction.


def _vp_linear(beta_min, delta):
    beta_max = beta_min + delta
    return VPLinear(beta_min, beta_max) if math.isfinite(beta_max) and beta_max > beta_min else None


def _unit_alpha(cls, sigma_min, ratio):
    sigma_max = sigma_min * ratio
    return cls(sigma_min, sigma_max) if math.isfinite(sigma_max) and sigma_max > sigma_min else None


schedules_st = st.one_of(
    st.builds(_vp_linear, st.one_of(st.just(0.0), log_uniform(-300, 300)), log_uniform(-300, 300)),
    st.builds(lambda s: VPCosine(s=s), st.one_of(st.just(0.0), log_uniform(-300, 300))),
    st.builds(lambda lo, r: _unit_alpha(VE, lo, r), log_uniform(-150, 150), log_uniform(-12, 150).map(lambda x: 1 + x)),
    st.builds(lambda lo, r: _unit_alpha(EDM, lo, r), log_uniform(-300, 150), log_uniform(-12, 150).map(lambda x: 1 + x)),
    st.just(RectifiedFlow()),
).filter(lambda sched: sched is not None)


# -- exact references (mpmath, exact identities without cancellation) ----------------------------


def _cosine_consts(sched):
    """(scale = π/(2(1+s)), sin u0, cos u0) with u0 = s·scale; for s > 1 from the complement
    π/2 − u0 = scale (cos u0 = sin(scale)), so that neither loses digits (sin u0 = 0 exactly at s = 0)."""
    s = mp.mpf(sched.s)
    scale = mp.pi / 2 / (1 + s)
    if s <= 1:
        return scale, mp.sin(s * scale), mp.cos(s * scale)
    return scale, mp.cos(scale), mp.sin(scale)


def ref_t(sched, t):
    """(log α, log σ, dlog α/dt, dlog σ/dt) at t, exactly (mp precision)."""
    t = mp.mpf(t)
    if isinstance(sched, VPLinear):
        b0, b1 = mp.mpf(sched.beta_min), mp.mpf(sched.beta_max)
        la = -b0 * t / 2 - (b1 - b0) * t ** 2 / 4
        dla = -b0 / 2 - (b1 - b0) * t / 2
    elif isinstance(sched, VPCosine):
        scale, sin_u0, cos_u0 = _cosine_consts(sched)
        if t <= mp.mpf(0.5):
            d = scale * t
            one_minus = 2 * mp.sin(d / 2) ** 2 + sin_u0 / cos_u0 * mp.sin(d)  # 1 − α
            la = mp.log1p(-one_minus)
        else:
            la = mp.log(mp.sin(scale * (1 - t)) / cos_u0)
        # α = cos(u0 + scale·t)/cos u0  ⇒  dlog α/dt = −scale·tan(u0 + scale·t) = −scale·cot(scale(1 − t)),
        # the tangent form where u0 + scale·t is well away from π/2 (else 1 − t would be rounded).
        if sched.s <= 1.0 and t <= mp.mpf(0.5):
            dla = -scale * mp.tan(scale * (mp.mpf(sched.s) + t))
        else:
            dla = -scale / mp.tan(scale * (1 - t))
    else:
        if isinstance(sched, RectifiedFlow):
            return mp.log1p(-t), mp.log(t), -1 / (1 - t), 1 / t
        if isinstance(sched, EDM):
            return mp.mpf(0), mp.log(t), mp.mpf(0), 1 / t
        lo, hi = mp.log(mp.mpf(sched.sigma_min)), mp.log(mp.mpf(sched.sigma_max))
        return mp.mpf(0), lo + t * (hi - lo), mp.mpf(0), hi - lo
    sigma_sq = -mp.expm1(2 * la)
    log_sigma = mp.log(sigma_sq) / 2
    dls = -mp.exp(2 * la) / sigma_sq * dla
    return la, log_sigma, dla, dls


def ref_lam(sched, lam):
    """(t, α, σ, dlog α/dλ) at λ, exactly."""
    lam = mp.mpf(lam)
    if isinstance(sched, (VPLinear, VPCosine)):
        alpha_sq, sigma_sq = 1 / (1 + mp.exp(-2 * lam)), 1 / (1 + mp.exp(2 * lam))
        alpha, sigma = mp.sqrt(alpha_sq), mp.sqrt(sigma_sq)
        if isinstance(sched, VPLinear):
            a = (mp.mpf(sched.beta_max) - mp.mpf(sched.beta_min)) / 4
            b = mp.mpf(sched.beta_min) / 2
            c = mp.log1p(mp.exp(-2 * lam)) / 2
            t = 2 * c / (b + mp.sqrt(b * b + 4 * a * c))
        else:
            scale, sin_u0, cos_u0 = _cosine_consts(sched)
            sin_u = mp.sqrt(sin_u0 ** 2 + sigma_sq * cos_u0 ** 2)  # cos u = α cos u0
            sin_d = sigma_sq * cos_u0 / (sin_u + alpha * sin_u0)
            cos_d = alpha * cos_u0 ** 2 + sin_u0 * sin_u
            t = mp.atan2(sin_d, cos_d) / scale
        return t, alpha, sigma, sigma_sq
    if isinstance(sched, RectifiedFlow):
        t = 1 / (1 + mp.exp(lam))
        return t, 1 - t, t, t
    if isinstance(sched, EDM):
        return mp.exp(-lam), mp.mpf(1), mp.exp(-lam), mp.mpf(0)
    lo, hi = mp.log(mp.mpf(sched.sigma_min)), mp.log(mp.mpf(sched.sigma_max))
    return (-lam - lo) / (hi - lo), mp.mpf(1), mp.exp(-lam), mp.mpf(0)


def dlam_dt(sched, t):
    _, _, dla, dls = ref_t(sched, t)
    return dla - dls


def assert_value(got, exact, tol, what):
    """``got`` is the float64 rounding of ``exact`` within ``tol`` (plus C subnormal units), or the
    IEEE limit where ``exact`` lies beyond the float64 range."""
    got = float(got)
    if abs(exact) > MAX:
        assert got == math.copysign(math.inf, exact), f"{what}: exact {mp.nstr(exact, 8)} overflows, got {got!r}"
        return
    assert math.isfinite(got), f"{what}: got {got!r}, exact {mp.nstr(exact, 17)}"
    err = abs(mp.mpf(got) - exact)
    assert err <= tol + C * TINY, f"{what}: got {got!r}, exact {mp.nstr(exact, 17)}, err {float(err):.3g} > {float(tol):.3g}"


def u_lam(lam) -> float:
    return EPS * max(1.0, abs(float(lam)))


def t_values(sched):
    lo, hi = sched.t_domain
    parts = []
    if lo == 0.0:
        parts += [st.just(0.0), log_uniform(-323.9, 0.0)]
    if hi == 1.0:
        parts += [st.floats(0.0, 1.0), st.floats(-16.0, -0.3).map(lambda e: 1.0 - 10.0 ** e), st.just(1.0)]
    elif hi == math.inf:
        parts += [log_uniform(0.0, 300.0), st.floats(0.0, 50.0)]
    if lo == -math.inf:
        parts += [st.floats(-1e300, 1e300), st.floats(-50.0, 50.0)]
    return st.one_of(*parts)


lam_values = st.one_of(
    st.floats(-40.0, 40.0),
    log_uniform(-300.0, 308.25),
    log_uniform(-300.0, 308.25).map(lambda x: -x),
    st.sampled_from([0.0, 300.0, 372.0, 400.0, 709.0, 745.0, 800.0, -745.0, -1e308, 1e308]),
)


def _as_three(fn, x):
    """The float path, the numpy path and the torch path of one function on one value; a
    RuntimeWarning (a NaN or an overflow on the way) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return [fn(x), fn(np.array([x]))[0], float(fn(torch.tensor([x], dtype=torch.float64))[0])]


@fuzz(400)
@given(sched=schedules_st, data=st.data())
def test_schedule_functions_of_t(sched, data):
    """alpha, sigma and lam at any t of the domain: accurate, or ±inf where λ is (the domain ends
    where σ or α vanish, or where the exact λ lies beyond float64); and t → λ → t round trips."""
    t = data.draw(t_values(sched), label="t")
    lo, hi = sched.t_domain
    assert lo <= t <= hi
    with mp.workdps(DPS):
        at_end = (t == 0.0 and lo == 0.0) or (t == 1.0 and hi == 1.0)
        if at_end:
            # λ = +inf at t = 0 (σ = 0), −inf at t = 1 (α = 0): the documented limits.
            want = math.inf if t == 0.0 else -math.inf
            assert all(v == want for v in _as_three(sched.lam, t))
            return
        la, ls, dla, dls = ref_t(sched, t)
        dlam = dla - dls
        u_t = EPS * abs(t)
        alpha, sigma, lam = mp.exp(la), mp.exp(ls), la - ls
        for got in _as_three(sched.alpha, t):
            assert_value(got, alpha, C * alpha * (EPS + abs(dla) * u_t), f"alpha({t!r})")
        for got in _as_three(sched.sigma, t):
            assert_value(got, sigma, C * sigma * (EPS + abs(dls) * u_t), f"sigma({t!r})")
        for got in _as_three(sched.lam, t):
            assert_value(got, lam, C * (u_lam(lam) + abs(dlam) * u_t), f"lam({t!r})")
        got_lam = sched.lam(t)
        if math.isfinite(got_lam) and abs(lam) < 1e300:
            dt = 1 / dlam
            back = sched.t_of_lam(got_lam)
            assert_value(back, mp.mpf(t), 2 * C * (u_t + abs(dt) * u_lam(lam)), f"t_of_lam(lam({t!r}))")


@fuzz(400)
@given(sched=schedules_st, lam=lam_values)
def test_schedule_functions_of_lam(sched, lam):
    """t_of_lam, alpha_of_lam, sigma_of_lam and dlog_alpha_dlam at any finite λ: accurate (the
    IEEE limit where the exact value overflows), t inside the domain; λ → t → λ round trips
    wherever t is a normal float64 away from the domain's ends."""
    with mp.workdps(DPS):
        t, alpha, sigma, slope = ref_lam(sched, lam)
        lo, hi = sched.t_domain
        # Conditioning dt/dλ where t is a float64 number away from the ends of the domain (at
        # t = 1 − O(1e-16) the result is 1 − a few ulp whatever λ, and the rounding term covers it).
        interior = TINY < abs(t) < MAX and (hi != 1.0 or 1 - t > 1e-15)
        dt = 1 / dlam_dt(sched, t) if interior else None
        for got in _as_three(sched.t_of_lam, lam):
            if not (lo <= got <= hi):
                raise AssertionError(f"t_of_lam({lam!r}) = {got!r} outside the domain {sched.t_domain}")
            tol = C * (EPS * abs(t) + (abs(dt) * u_lam(lam) if dt is not None else 0))
            assert_value(got, t, tol, f"t_of_lam({lam!r})")
        for got in _as_three(sched.alpha_of_lam, lam):
            assert_value(got, alpha, C * EPS * alpha, f"alpha_of_lam({lam!r})")
        for got in _as_three(sched.sigma_of_lam, lam):
            assert_value(got, sigma, C * EPS * sigma, f"sigma_of_lam({lam!r})")
        for got in _as_three(sched.dlog_alpha_dlam, lam):
            assert_value(got, slope, C * EPS * slope, f"dlog_alpha_dlam({lam!r})")
            assert 0.0 <= got <= 1.0
        t_hat = sched.t_of_lam(lam)
        if dt is not None and 2.2250738585072014e-308 < abs(t_hat) < MAX and lo < t_hat < hi:
            back = sched.lam(t_hat)
            dlam = 1 / dt
            assert_value(back, mp.mpf(lam), 2 * C * (u_lam(lam) + abs(dlam) * EPS * abs(t_hat)),
                         f"lam(t_of_lam({lam!r}))")


# -- get_schedule and constructor arguments ---------------------------------------------------


@fuzz(100)
@given(name=st.one_of(st.text(max_size=12), st.sampled_from(SCHEDULES)))
def test_get_schedule_names(name):
    if name in SCHEDULES:
        assert get_schedule(name).name == name
    else:
        with raises_naming(ValueError, "schedule"):
            get_schedule(name)


@fuzz(60)
@given(case=st.sampled_from([
    *[(None, v, TypeError, "schedule") for v in (3, None, b"edm", VPLinear)],
    ("vp_linear", {"beta_min": -1.0}, ValueError, "beta_min"),
    ("vp_linear", {"beta_min": float("nan")}, ValueError, "beta_min"),
    ("vp_linear", {"beta_min": True}, TypeError, "beta_min"),
    ("vp_linear", {"beta_max": 0.05}, ValueError, "beta_max"),
    ("vp_linear", {"beta_max": float("inf")}, ValueError, "beta_max"),
    ("vp_linear", {"beta_max": "20"}, TypeError, "beta_max"),
    ("vp_linear", {"t_min": 0.0}, ValueError, "t_min"),
    ("vp_linear", {"t_max": -1.0}, ValueError, "t_min"),
    ("vp_linear", {"t_max": float("nan")}, ValueError, "t_max"),
    ("vp_cosine", {"s": -1e-3}, ValueError, "s"),
    ("vp_cosine", {"s": float("inf")}, ValueError, "s"),
    ("vp_cosine", {"s": None}, TypeError, "s"),
    ("vp_cosine", {"t_max": 1.0}, ValueError, "t_max"),
    ("ve", {"sigma_min": 0.0}, ValueError, "sigma_min"),
    ("ve", {"sigma_min": -3.0}, ValueError, "sigma_min"),
    ("ve", {"sigma_max": 0.001}, ValueError, "sigma_max"),
    ("ve", {"sigma_max": [50.0]}, TypeError, "sigma_max"),
    ("edm", {"sigma_min": float("nan")}, ValueError, "sigma_min"),
    ("edm", {"sigma_max": 1e-3}, ValueError, "sigma_max"),
    ("edm", {"rho": 7.0}, TypeError, "rho"),
    ("rectified_flow", {"t_min": 0.0}, ValueError, "t_min"),
    ("rectified_flow", {"t_max": 1.0}, ValueError, "t_max"),
    ("rectified_flow", {"t_min": 0.5, "t_max": 0.5}, ValueError, "t_min"),
]))
def test_get_schedule_bad_arguments(case):
    name, kwargs, exc, arg = case
    if name is None:
        with raises_naming(exc, arg):
            get_schedule(kwargs)
        return
    with raises_naming(exc, arg):
        get_schedule(name, **kwargs)


@fuzz(150)
@given(case=st.sampled_from([
    *[(m, v, ValueError, "t") for m in ("alpha", "sigma", "lam") for v in (float("nan"), float("inf"))],
    *[(m, v, TypeError, "t") for m in ("alpha", "sigma", "lam") for v in ("0.5", True, None, [0.5])],
    *[(m, v, ValueError, "lam") for m in ("t_of_lam", "alpha_of_lam", "sigma_of_lam", "dlog_alpha_dlam")
      for v in (float("nan"), -float("inf"), np.array([0.0, np.inf]))],
    *[(m, v, TypeError, "lam") for m in ("t_of_lam", "alpha_of_lam", "sigma_of_lam", "dlog_alpha_dlam")
      for v in ("1", False, None, np.array(["a"]), torch.tensor([1j]))],
]), sched=schedules_st)
def test_schedule_bad_arguments(case, sched):
    method, value, exc, name = case
    with raises_naming(exc, name):
        getattr(sched, method)(value)


@fuzz(100)
@given(sched=schedules_st, sign=st.sampled_from([-1.0, 1.0]), excess=log_uniform(-12, 300))
def test_schedule_t_outside_the_domain(sched, sign, excess):
    lo, hi = sched.t_domain
    t = lo - excess if sign < 0 else hi + excess
    if not math.isfinite(t) or lo <= t <= hi:
        return  # an unbounded side, or an excess lost to rounding
    for method in ("alpha", "sigma", "lam"):
        with raises_naming(ValueError, "t"):
            getattr(sched, method)(t)


# -- lambda_grid ------------------------------------------------------------------------------


def karras_reference(lam0, lam_n, rho, f):
    """−ρ log((1 − f) e^{−λ0/ρ} + f e^{−λn/ρ}) exactly (mp precision)."""
    rho = mp.mpf(rho)
    return -rho * mp.log((1 - f) * mp.exp(-mp.mpf(lam0) / rho) + f * mp.exp(-mp.mpf(lam_n) / rho))


@fuzz(300)
@given(sched=schedules_st, n=st.one_of(st.integers(1, 50), st.integers(51, 3000)),
       spacing=st.sampled_from(SPACINGS),
       rho=st.floats(math.log10(RHO_RANGE[0]), math.log10(RHO_RANGE[1])).map(lambda e: 10.0 ** e),
       data=st.data())
def test_lambda_grid(sched, n, spacing, rho, data):
    """A grid of n + 1 strictly increasing finite λ from λ(t_start) to λ(t_end) exactly, with
    uniform/Karras points accurate to their rounding analysis (below); or a ValueError naming
    n_steps (points coincide in float64) or the end that has an infinite λ."""
    custom = data.draw(st.booleans(), label="custom ends")
    kwargs = {}
    if custom:
        lo, hi = sched.t_domain
        a = data.draw(t_values(sched), label="t a")
        b = data.draw(t_values(sched), label="t b")
        if a == b:
            return
        kwargs = {"t_start": max(a, b), "t_end": min(a, b)}
    try:
        grid = lambda_grid(sched, n, spacing, rho=rho, **kwargs)
    except ValueError as err:
        msg = str(err)
        if "t_start" in msg or "t_end" in msg:
            ends = [sched.lam(kwargs["t_start"]), sched.lam(kwargs["t_end"])]
            assert not all(math.isfinite(v) for v in ends), msg
        else:
            assert "n_steps" in msg and "coincide" in msg and f"spacing={spacing!r}" in msg, msg
        return
    t_start = kwargs.get("t_start", sched.t_max)
    t_end = kwargs.get("t_end", sched.t_min)
    assert grid.shape == (n + 1,) and grid.dtype == np.float64
    assert np.all(np.isfinite(grid)) and np.all(np.diff(grid) > 0)
    assert grid[0] == sched.lam(t_start) and grid[-1] == sched.lam(t_end)
    lam0, lam_n = float(grid[0]), float(grid[-1])
    scale = max(1.0, abs(lam0), abs(lam_n))
    for i in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        f = mp.mpf(i) / n
        with mp.workdps(40):
            if spacing == "lambda":
                # λ0 + f(λn − λ0): the difference, the product and the sum round once each.
                exact = lam0 + f * (mp.mpf(lam_n) - lam0)
                tol = C * EPS * (scale + abs(lam_n - lam0))
            elif spacing == "karras":
                # log-sum-exp of A = log(1 − f) − λ0/ρ and B = log f − λn/ρ, each with absolute
                # rounding ε(|log(1 − f)| + |λ/ρ|), plus ε|L| for the sum, all multiplied by ρ.
                # The rounding of f = i/n (ε f) moves log(1 − f) by ε f/(1 − f).
                exact = karras_reference(lam0, lam_n, rho, f)
                big = abs(mp.log(1 - f)) + f / (1 - f) if f < 1 else 0
                small = abs(mp.log(f)) + 1 if f > 0 else 0
                log_sum = abs(exact) / rho
                tol = C * EPS * (rho * (big + small + log_sum) + abs(lam0) + abs(lam_n) + abs(exact))
            else:
                continue  # "time": λ(t_i) of lam(), tested above; order and ends checked here
            assert_value(grid[i], exact, tol, f"grid[{i}] ({spacing}, rho={rho})")


@fuzz(80)
@given(case=st.sampled_from([
    *[("n_steps", v, ValueError) for v in (0, -1, MAX_STEPS + 1, 10 ** 9)],
    *[("n_steps", v, TypeError) for v in (2.0, True, "10", None)],
    *[("rho", v, ValueError) for v in (0.0, -7.0, 1e300, RHO_RANGE[0] / 2, RHO_RANGE[1] * 2, *BAD_NUMBERS)],
    *[("rho", v, TypeError) for v in ("7", None, True)],
    *[("spacing", v, ValueError) for v in ("cosine", "", None, 3)],
    *[("t_end", v, ValueError) for v in (0.5, 2.0, -1.0)],
    *[("t_start", v, ValueError) for v in (float("inf"), float("nan"))],
    *[("t_start", v, TypeError) for v in ("1", True)],
    *[("schedule", v, TypeError) for v in (None, 3, object())],
    *[("schedule", v, ValueError) for v in ("vp", "")],
]))
def test_lambda_grid_bad_arguments(case):
    name, value, exc = case
    for spacing in SPACINGS:
        if name == "spacing" and spacing != SPACINGS[0]:
            continue
        args = {"schedule": "vp_linear", "n_steps": 10, "spacing": spacing, "rho": 7.0, "t_start": 0.5,
                "t_end": 0.01}
        args[name] = value
        schedule, n_steps = args.pop("schedule"), args.pop("n_steps")
        with raises_naming(exc, name):
            lambda_grid(schedule, n_steps, **args)


@fuzz(100)
@given(case=st.one_of(
    st.tuples(st.just("n_steps"), st.one_of(st.integers(MAX_STEPS + 1, 2 ** 70), st.integers(-(2 ** 70), 0))),
    st.tuples(st.just("rho"), st.one_of(st.floats(RHO_RANGE[1], 1e308, exclude_min=True),
                                        st.floats(-1e308, RHO_RANGE[0], exclude_max=True))),
), sched=schedules_st)
def test_lambda_grid_out_of_range_numbers(case, sched):
    name, value = case
    kwargs = {"n_steps": 10, "spacing": "karras", "rho": 7.0, name: value}
    with raises_naming(ValueError, name):
        lambda_grid(sched, kwargs.pop("n_steps"), **kwargs)


# -- sigmas_from_lambdas ------------------------------------------------------------------------


@st.composite
def lambda_lists(draw, lo, hi):
    values = draw(st.lists(st.floats(lo, hi), min_size=1, max_size=12, unique=True))
    return sorted(values)


@fuzz(250)
@given(dtype=st.sampled_from([torch.float64, torch.float32]), append_zero=st.booleans(),
       kind=st.sampled_from(["list", "numpy", "tensor"]), data=st.data())
def test_sigmas_from_lambdas(dtype, append_zero, kind, data):
    """σ̃_i = e^{−λ_i}: float64 within 2 ulp of the exact value (torch.exp is within 1, plus the
    conversion), float32 within 1 float32 ulp (one more rounding); or ValueError naming lams —
    overflow, underflow (the exact σ̃ beyond the dtype's range) or coinciding values."""
    info = torch.finfo(dtype)
    lo, hi = (-720.0, 760.0) if dtype == torch.float64 else (-95.0, 110.0)
    lams = data.draw(lambda_lists(lo, hi), label="lams")
    given_lams = {"list": lams, "numpy": np.array(lams), "tensor": torch.tensor(lams, dtype=torch.float64)}[kind]
    try:
        sigmas = sigmas_from_lambdas(given_lams, append_zero, dtype=dtype)
    except ValueError as err:
        msg = str(err)
        assert msg.startswith("lams"), msg
        if "overflows" in msg:
            assert -lams[0] > math.log(info.max)
        elif "underflows" in msg:
            # e^{−λ} rounds to 0 below half the smallest subnormal
            assert -lams[-1] < math.log(info.smallest_normal) + math.log(info.eps) - math.log(2.0) + 1e-9
        else:
            assert "too close together" in msg
            rounded = torch.exp(-torch.tensor(lams, dtype=torch.float64)).to(dtype)
            assert not bool((rounded[1:] < rounded[:-1]).all())
        return
    assert sigmas.dtype == dtype and sigmas.shape == (len(lams) + int(append_zero),)
    assert bool((sigmas[1:] < sigmas[:-1]).all())
    if append_zero:
        assert sigmas[-1] == 0
    unit = 2 * EPS if dtype == torch.float64 else EPS32
    for got, lam in zip(sigmas.tolist(), lams):
        with mp.workdps(30):
            exact = mp.exp(-mp.mpf(lam))
            assert_value(got, exact, unit * exact + float(info.smallest_normal * info.eps), f"sigma({lam})")
    if dtype == torch.float64 and all(s >= info.smallest_normal for s in sigmas.tolist()[:len(lams)]):
        back = lambdas_from_sigmas(sigmas[:len(lams)])
        for got, lam in zip(back, lams):
            assert abs(got - lam) <= 2 * C * EPS * max(1.0, abs(lam))


@fuzz(40)
@given(case=st.sampled_from([
    *[("lams", v, ValueError) for v in ([-800.0, 0.0], [0.0, 750.0], [1.0, 0.0], [0.0, 0.0], [float("nan")],
                                        [], [[0.0, 1.0]], [-800.0, -750.0, 0.0])],
    *[("lams", v, TypeError) for v in (["a"], "01", [1j, 2j], torch.tensor([True, False]))],
    *[("dtype", v, TypeError) for v in (torch.int64, "float64", np.float64, None)],
    *[("device", v, ValueError) for v in ("meta", "garbage", "cpu:3")],
    *[("device", v, TypeError) for v in (1.5, [])],
]))
def test_sigmas_from_lambdas_bad_arguments(case):
    name, value, exc = case
    args = {"lams": [0.0, 1.0], "dtype": torch.float64, "device": None, name: value}
    with raises_naming(exc, name):
        sigmas_from_lambdas(args["lams"], dtype=args["dtype"], device=args["device"])
