"""Tests for seeds_verify.schedules (MATH §1).

Reference values come from the defining formulas evaluated in mpmath at 80 significant digits
(the cosine formula cancels up to ~25 digits near t = 0; derivatives of log α use
``mpmath.diff`` at 30 digits), so a float64 result is compared with its exact value.

Tolerances. Write ``u_t = ε|t|`` and ``u_λ = ε max(1, |λ|)`` (ε = 2⁻⁵²) for one unit of rounding
in each variable: t is measured relatively; λ is a logarithm, so its absolute error is the
relative error of α/σ, and the terms that make up λ (log α, log σ) have magnitude ≥ ~1.
A float64 evaluation y = f(x) is accepted when

    |ŷ − y| ≤ C (u_y + |dy/dx| u_x),    C = 4,

i.e. a few roundings of the result plus a few roundings of the input pushed through the
conditioning dy/dx (each kernel here rounds its input once or twice, e.g. ``π/2 · t/(1+s)``,
and then applies at most ~6 operations of ≤ 1 ulp each). Where a function is a positive
quantity (α, σ, dlog α/dλ) ``u_y = ε|y|`` (relative). A round trip x → y → x composes two such
evaluations and is accepted at ``2C (u_x + |dx/dy| u_y)``. dx/dy comes from mpmath, not from
the code under test. Each check is stated once as a property and run by hypothesis with a fixed
derandomised seed. Budget for this file: < 20 s on 2 cores (measured 6.3 s wall).
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seeds_verify.schedules import (
    EDM,
    SCHEDULES,
    SPACINGS,
    VE,
    RectifiedFlow,
    Schedule,
    VPCosine,
    VPLinear,
    get_schedule,
    lambda_grid,
    lambdas_from_sigmas,
    sigmas_from_lambdas,
)

EPS = float(np.finfo(np.float64).eps)
C = 4.0
DPS = 80
FAST = settings(deadline=None, max_examples=60, derandomize=True)

CASES = {
    "vp_linear": VPLinear(),
    "vp_linear_beta0": VPLinear(beta_min=0.0, beta_max=5.0),
    "vp_cosine": VPCosine(),
    "vp_cosine_s0": VPCosine(s=0.0),
    "ve": VE(),
    "edm": EDM(),
    "rectified_flow": RectifiedFlow(),
}
VP_CASES = ["vp_linear", "vp_linear_beta0", "vp_cosine", "vp_cosine_s0"]

# t ranges probed by the property tests: inside each domain, down to 1e-12 where the domain
# starts at 0 and up to 1 − 1e-10 where it ends at 1 (λ is still finite and the mpmath
# reference still has ≥ 30 correct digits there).
T_RANGE = {
    "vp_linear": (1e-12, 10.0),
    "vp_cosine": (1e-12, 1.0 - 1e-10),
    "ve": (-2.0, 3.0),
    "edm": (1e-8, 1e4),
    "rectified_flow": (1e-12, 1.0 - 1e-10),
}
LAM_RANGE = (-25.0, 25.0)


# --------------------------------------------------------------------------------------------
# mpmath references: the defining formulas of MATH §1, nothing taken from the code under test
# --------------------------------------------------------------------------------------------


def ref_log_alpha_sigma(sched: Schedule, t):
    """(log α_t, log σ_t) at the current mpmath precision, straight from each definition."""
    t = mp.mpf(t)
    if isinstance(sched, VPLinear):
        b0, b1 = mp.mpf(sched.beta_min), mp.mpf(sched.beta_max)
        log_alpha = -b0 * t / 2 - (b1 - b0) * t**2 / 4
        return log_alpha, mp.log(-mp.expm1(2 * log_alpha)) / 2
    if isinstance(sched, VPCosine):
        s = mp.mpf(sched.s)
        alpha = mp.cos(mp.pi / 2 * (t + s) / (1 + s)) / mp.cos(mp.pi / 2 * s / (1 + s))
        return mp.log(alpha), mp.log(1 - alpha**2) / 2
    if isinstance(sched, VE):
        lo, hi = mp.mpf(sched.sigma_min), mp.mpf(sched.sigma_max)
        return mp.mpf(0), mp.log(lo) + t * (mp.log(hi) - mp.log(lo))
    if isinstance(sched, EDM):
        return mp.mpf(0), mp.log(t)
    if isinstance(sched, RectifiedFlow):
        return mp.log(1 - t), mp.log(t)
    raise AssertionError(type(sched))


def ref_lam(sched, t):
    log_alpha, log_sigma = ref_log_alpha_sigma(sched, t)
    return log_alpha - log_sigma


def ref_derivative(f, t):
    """f'(t) by a central difference with step 1e-30 |t| at DPS + 20 digits (error ~1e-50)."""
    scale = abs(mp.mpf(t)) if t != 0 else mp.mpf(1)
    # f(t) may hold terms of size 1 next to terms of size t, so resolving a step of 1e-30 |t|
    # needs log10(1/|t|) more digits when t is tiny.
    extra = max(0, int(-mp.log10(scale)) + 1)
    with mp.workdps(DPS + 20 + extra):
        t = mp.mpf(t)
        h = scale * mp.mpf(10) ** -30
        return (f(t + h) - f(t - h)) / (2 * h)


def ref_dlam_dt(sched, t):
    return ref_derivative(lambda x: ref_lam(sched, x), t)


def ref_t_of_lam(sched, lam: float, start: float):
    """The exact t with λ_t = lam (Newton at DPS digits from the float64 estimate ``start``)."""
    t = mp.mpf(start)
    for _ in range(4):
        t -= (ref_lam(sched, t) - lam) / ref_dlam_dt(sched, t)
    assert abs(ref_lam(sched, t) - lam) < mp.mpf(10) ** -30 * max(1, abs(lam))
    return t


def u_lam(lam) -> float:
    return EPS * max(1.0, abs(float(lam)))


def assert_close(got, exact, tol, what):
    err = abs(mp.mpf(float(got)) - exact)
    assert err <= tol, f"{what}: got {float(got)!r}, exact {mp.nstr(exact, 20)}, err {float(err):.3g} > tol {tol:.3g}"
    return float(err)


def t_strategy(key):
    lo, hi = T_RANGE[CASES[key].name]
    parts = [st.floats(lo, hi)]
    if lo > 0:
        parts.append(st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10.0**e))
    if hi < 1.0:
        parts.append(st.floats(math.log10(1.0 - hi), -0.5).map(lambda e: 1.0 - 10.0**e))
    return st.one_of(*parts).filter(lambda t: lo <= t <= hi)


lam_strategy = st.floats(*LAM_RANGE)


# --------------------------------------------------------------------------------------------
# Accuracy against mpmath
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(CASES))
def test_functions_of_t_match_mpmath(key):
    sched = CASES[key]

    @FAST
    @given(t_strategy(key))
    def check(t):
        with mp.workdps(DPS):
            log_alpha, log_sigma = ref_log_alpha_sigma(sched, t)
            lam = log_alpha - log_sigma
            dlam = ref_dlam_dt(sched, t)
            # dlog α/dt and dlog σ/dt, for the conditioning of α and σ.
            dla = ref_derivative(lambda x: ref_log_alpha_sigma(sched, x)[0], t)
            dls = ref_derivative(lambda x: ref_log_alpha_sigma(sched, x)[1], t)
            u_t = EPS * abs(t)
            alpha, sigma = mp.exp(log_alpha), mp.exp(log_sigma)
            assert_close(sched.alpha(t), alpha, C * alpha * (EPS + abs(dla) * u_t), "alpha")
            assert_close(sched.sigma(t), sigma, C * sigma * (EPS + abs(dls) * u_t), "sigma")
            assert_close(sched.lam(t), lam, C * (u_lam(lam) + abs(dlam) * u_t), "lam")

    check()


@pytest.mark.parametrize("key", list(CASES))
def test_functions_of_lam_match_mpmath(key):
    """t_of_lam, alpha_of_lam, sigma_of_lam and dlog_alpha_dlam against the exact t(λ).

    dlog α/dλ is checked against mpmath differentiation (30 digits) of the defining log α_t,
    through the chain rule (dlog α/dt)/(dλ/dt) at the exact t(λ). α(λ), σ(λ) and dlog α/dλ
    have exactly representable inputs and are evaluated by exp, one or two roundings and a
    square root, so they are held to C ε relative with no conditioning term.
    """
    sched = CASES[key]

    @FAST
    @given(lam_strategy)
    def check(lam):
        t_hat = sched.t_of_lam(lam)
        with mp.workdps(DPS):
            t = ref_t_of_lam(sched, lam, t_hat)
            log_alpha, log_sigma = ref_log_alpha_sigma(sched, t)
            alpha, sigma = mp.exp(log_alpha), mp.exp(log_sigma)
            dt = 1 / ref_dlam_dt(sched, t)
            assert_close(t_hat, t, C * (EPS * abs(t) + abs(dt) * u_lam(lam)), "t_of_lam")
            assert_close(sched.alpha_of_lam(lam), alpha, C * EPS * alpha, "alpha_of_lam")
            assert_close(sched.sigma_of_lam(lam), sigma, C * EPS * sigma, "sigma_of_lam")
        with mp.workdps(30):
            def log_alpha_of_t(x):
                return ref_log_alpha_sigma(sched, x)[0]

            slope = mp.diff(log_alpha_of_t, t, relative=True) * dt
        got = sched.dlog_alpha_dlam(lam)
        with mp.workdps(DPS):
            assert_close(got, slope, C * EPS * abs(slope), "dlog_alpha_dlam")

    check()


# --------------------------------------------------------------------------------------------
# Round trips and identities
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(CASES))
def test_round_trip_t_lam_t(key):
    sched = CASES[key]

    @FAST
    @given(t_strategy(key))
    def check(t):
        lam = sched.lam(t)
        with mp.workdps(DPS):
            dt = 1 / ref_dlam_dt(sched, t)
            tol = 2 * C * (EPS * abs(t) + abs(dt) * u_lam(lam))
            assert_close(sched.t_of_lam(lam), mp.mpf(t), tol, "t -> lam -> t")

    check()


@pytest.mark.parametrize("key", list(CASES))
def test_round_trip_lam_t_lam(key):
    sched = CASES[key]

    @FAST
    @given(lam_strategy)
    def check(lam):
        t = sched.t_of_lam(lam)
        with mp.workdps(DPS):
            dlam = ref_dlam_dt(sched, t)
            tol = 2 * C * (u_lam(lam) + abs(dlam) * EPS * abs(t))
            assert_close(sched.lam(t), mp.mpf(lam), tol, "lam -> t -> lam")

    check()


@pytest.mark.parametrize("key", VP_CASES)
def test_variance_preserving_identity(key):
    sched = CASES[key]

    @FAST
    @given(t_strategy(key), lam_strategy)
    def check(t, lam):
        # α² + σ² rounds each square (relative C ε each), so the sum is within 2C ε of 1.
        assert abs(sched.alpha(t) ** 2 + sched.sigma(t) ** 2 - 1.0) <= 2 * C * EPS
        assert abs(sched.alpha_of_lam(lam) ** 2 + sched.sigma_of_lam(lam) ** 2 - 1.0) <= 2 * C * EPS

    check()


@pytest.mark.parametrize("key", list(CASES))
def test_lam_strictly_decreasing_in_t(key):
    sched = CASES[key]
    lo, hi = T_RANGE[sched.name]
    # 2000 points in the range and in log scale near each end: consecutive points differ by
    # far more than the rounding of λ, so the computed λ must decrease strictly too.
    parts = [np.linspace(lo, hi, 2000)]
    if lo > 0:
        parts.append(np.geomspace(lo, hi, 2000))
    if hi < 1:
        parts.append(1.0 - np.geomspace(1.0 - hi, 0.5, 2000))
    for ts in parts:
        ts = np.unique(ts)
        assert np.all(np.diff(sched.lam(ts)) < 0.0)

    @FAST
    @given(t_strategy(key), t_strategy(key))
    def check(a, b):
        if a == b:
            return
        a, b = min(a, b), max(a, b)
        with mp.workdps(DPS):
            gap = ref_lam(sched, a) - ref_lam(sched, b)
            if gap <= 2 * C * (u_lam(sched.lam(a)) + u_lam(sched.lam(b))):
                return  # closer than the rounding of λ: order not resolvable in float64
        assert sched.lam(a) > sched.lam(b)

    check()


@pytest.mark.parametrize("key", list(CASES))
def test_functions_of_lam_agree_with_functions_of_t(key):
    """alpha_of_lam(lam(t)) == alpha(t) and the same for σ, within the propagated tolerance:
    λ̂ = lam(t) carries C u_λ, which moves log α by |dlog α/dλ| C u_λ."""
    sched = CASES[key]

    @FAST
    @given(t_strategy(key))
    def check(t):
        lam = sched.lam(t)
        g = sched.dlog_alpha_dlam(lam)
        with mp.workdps(DPS):
            dlam = ref_dlam_dt(sched, t)
        shift = C * (u_lam(lam) + float(abs(dlam)) * EPS * abs(t))
        alpha = sched.alpha(t)
        assert abs(sched.alpha_of_lam(lam) - alpha) <= 2 * C * EPS * alpha + alpha * abs(g) * shift
        sigma = sched.sigma(t)
        assert abs(sched.sigma_of_lam(lam) - sigma) <= 2 * C * EPS * sigma + sigma * abs(g - 1.0) * shift

    check()


@pytest.mark.parametrize("key", list(CASES))
def test_dlog_alpha_dlam_central_difference(key):
    """Against (log α(λ+h) − log α(λ−h))/(2h), h = 1e-5.

    Truncation: h²/6 · max|(log α)'''|; (log α)' is sigmoid(−2λ) (VP), sigmoid(−λ) (RF) or 0,
    and |sigmoid''| ≤ 0.1, so |(log α)'''| ≤ 0.8 and truncation ≤ 1.4e-11. Rounding: log α is
    accurate to C ε max(1, |λ|) (its conditioning in λ is ≤ 1), divided by 2h. Tolerance is the
    sum, doubled.
    """
    sched = CASES[key]
    h = 1e-5

    @FAST
    @given(lam_strategy)
    def check(lam):
        fd = (math.log(sched.alpha_of_lam(lam + h)) - math.log(sched.alpha_of_lam(lam - h))) / (2 * h)
        tol = 2 * (0.8 * h**2 / 6 + C * EPS * max(1.0, abs(lam)) / h)
        assert abs(sched.dlog_alpha_dlam(lam) - fd) <= tol

    check()


def test_vp_cosine_default_end_point():
    """The documented reason for t_max = 0.9946: α > 0 there and λ is near VPLinear's λ(1)."""
    cosine = VPCosine()
    assert cosine.alpha(cosine.t_max) > 0
    assert abs(cosine.alpha(cosine.t_max) - 8.4e-3) < 1e-4
    lam_cos, lam_lin = cosine.lam_range()[0], VPLinear().lam_range()[0]
    assert abs(lam_cos + 4.78) < 0.01 and abs(lam_lin + 5.03) < 0.01
    assert cosine.lam(1.0) == -math.inf and cosine.alpha(1.0) == 0.0


def test_end_points_of_domain_give_infinite_lambda():
    assert VPLinear().lam(0.0) == math.inf
    assert EDM().lam(0.0) == math.inf
    assert RectifiedFlow().lam(0.0) == math.inf and RectifiedFlow().lam(1.0) == -math.inf
    assert math.isfinite(VE().lam(0.0))


def test_closed_forms_of_lam(assert_close_ulps):
    """The λ-forms quoted in the task and docstrings: VP α² = 1/(1+e^{−2λ}), α=1 σ = e^{−λ},
    rectified flow α = sigmoid(λ), σ = sigmoid(−λ)."""
    lams = np.linspace(-8, 8, 33)
    for key in VP_CASES:
        np.testing.assert_allclose(CASES[key].alpha_of_lam(lams) ** 2, 1 / (1 + np.exp(-2 * lams)), rtol=4 * EPS)
        np.testing.assert_allclose(CASES[key].dlog_alpha_dlam(lams), CASES[key].sigma_of_lam(lams) ** 2, rtol=4 * EPS)
    for key in ("ve", "edm"):
        np.testing.assert_allclose(CASES[key].sigma_of_lam(lams), np.exp(-lams), rtol=EPS)
        # α = 1 and dlog α/dλ = 0 are exact constants of these schedules, not rounded values.
        assert np.all(CASES[key].alpha_of_lam(lams) == 1.0) and np.all(CASES[key].dlog_alpha_dlam(lams) == 0.0)
    rf = CASES["rectified_flow"]
    np.testing.assert_allclose(rf.alpha_of_lam(lams), 1 / (1 + np.exp(-lams)), rtol=4 * EPS)
    np.testing.assert_allclose(rf.sigma_of_lam(lams), 1 / (1 + np.exp(lams)), rtol=4 * EPS)
    # dlog α/dλ = σ(λ) for rectified flow: two public functions for one quantity, each held to
    # C = 4 ulp of the exact value (test_functions_of_lam_match_mpmath), so at most 2C = 8 ulp
    # apart (0 today: both evaluate sigmoid(−λ)).
    assert_close_ulps(rf.dlog_alpha_dlam(lams), rf.sigma_of_lam(lams), 8, "dlog_alpha_dlam vs sigma_of_lam")


# --------------------------------------------------------------------------------------------
# Grids and the k-diffusion convention
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("key", list(CASES))
@pytest.mark.parametrize("n_steps", [1, 2, 7, 50])
def test_grid_shape_order_and_end_points(key, spacing, n_steps):
    sched = CASES[key]
    grid = lambda_grid(sched, n_steps, spacing)
    assert isinstance(grid, np.ndarray) and grid.dtype == np.float64 and grid.shape == (n_steps + 1,)
    assert np.all(np.diff(grid) > 0)
    # Bit-exact by contract: the end points are the values of the same lam() call on the same t.
    assert (grid[0], grid[-1]) == sched.lam_range()
    assert sched.lam_range() == (sched.lam(sched.t_max), sched.lam(sched.t_min))


@pytest.mark.parametrize("spacing", SPACINGS)
def test_grid_custom_end_points(spacing):
    sched = CASES["vp_linear"]
    grid = lambda_grid(sched, 10, spacing, t_start=0.5, t_end=0.01)
    assert grid[0] == sched.lam(0.5) and grid[-1] == sched.lam(0.01)
    assert np.all(np.diff(grid) > 0)


def test_lambda_spacing_is_uniform():
    grid = lambda_grid(CASES["vp_cosine"], 40, "lambda")
    steps = np.diff(grid)
    assert np.max(np.abs(steps - steps.mean())) <= 4 * EPS * np.max(np.abs(grid))


def test_time_spacing_is_uniform_in_t():
    sched = CASES["rectified_flow"]
    grid = lambda_grid(sched, 20, "time")
    ts = sched.t_of_lam(grid)
    expected = np.linspace(sched.t_max, sched.t_min, 21)
    dt = np.abs(1 / np.array([float(ref_dlam_dt(sched, t)) for t in expected]))
    assert np.all(np.abs(ts - expected) <= 2 * C * (EPS * expected + dt * EPS * np.maximum(1, np.abs(grid))))


@pytest.mark.parametrize("rho", [0.5, 1.0, 3.0, 7.0, 20.0])
def test_karras_spacing_reproduces_edm_formula(rho):
    """σ_i = (σ_max^{1/ρ} + i/n (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ at DPS digits vs our sigmas.

    Our λ_i comes from a log-sum-exp of arguments of size |λ_end|/ρ, multiplied by ρ, so its
    absolute error is a few ε max(1, |λ_0|, |λ_n|); σ̃_i = e^{−λ_i} turns that into a relative
    error and adds one rounding.
    """
    sched, n = EDM(0.002, 80.0), 18
    grid = lambda_grid(sched, n, "karras", rho=rho)
    sigmas = sigmas_from_lambdas(grid).numpy()
    scale = max(1.0, abs(grid[0]), abs(grid[-1]))
    with mp.workdps(DPS):
        a, b = mp.mpf(80.0) ** (1 / mp.mpf(rho)), mp.mpf(0.002) ** (1 / mp.mpf(rho))
        for i, got in enumerate(sigmas):
            exact = (a + mp.mpf(i) / n * (b - a)) ** rho
            assert_close(got, exact, C * EPS * (scale + 1) * exact, f"sigma_{i}")


def test_karras_spacing_extreme_rho():
    sched = VE(sigma_min=1e-3, sigma_max=1e3)
    # Small ρ: e^{−λ/ρ} would overflow (|λ_0|/ρ ≈ 1.4e3); the log-space form must not.
    grid = lambda_grid(sched, 30, "karras", rho=0.005)
    assert np.all(np.isfinite(grid)) and np.all(np.diff(grid) > 0)
    # Large ρ: with X = −λ_0 or −λ_n (weights 1 − f, f), λ_i = −ρ log E e^{X/ρ}. Jensen gives
    # λ_i ≤ uniform_i, and Hoeffding's lemma log E e^{sX} − s E X ≤ s² Δ²/8 gives
    # uniform_i − λ_i ≤ Δ²/(8ρ), Δ = λ_n − λ_0.
    rho = 1e3
    grid = lambda_grid(sched, 30, "karras", rho=rho)
    uniform = lambda_grid(sched, 30, "lambda")
    delta = uniform[-1] - uniform[0]
    slack = C * EPS * max(abs(uniform[0]), abs(uniform[-1])) * 2
    gap = uniform - grid
    assert np.all(gap >= -slack) and np.all(gap <= delta**2 / (8 * rho) + slack)
    assert np.max(gap) > 0.5 * delta**2 / (8 * rho)  # the bound is nearly attained at f = 1/2


def test_sigmas_from_lambdas_and_back(assert_close_ulps):
    grid = lambda_grid(CASES["vp_linear"], 12, "karras")
    sigmas = sigmas_from_lambdas(grid, append_zero=True)
    assert isinstance(sigmas, torch.Tensor) and sigmas.dtype == torch.float64 and sigmas.shape == (14,)
    assert sigmas[-1] == 0 and bool(torch.all(sigmas[1:] < sigmas[:-1]))  # the appended zero is exact
    # torch.exp against numpy.exp: different kernels, each within 1 ulp of e^{−λ}, so at most
    # 2 ulp apart (which bits differ depends on the CPU's vector unit).
    assert_close_ulps(sigmas[:-1], np.exp(-grid), 2, "torch.exp vs numpy.exp")
    back = lambdas_from_sigmas(sigmas[:-1])
    assert isinstance(back, np.ndarray) and back.dtype == np.float64
    np.testing.assert_allclose(back, grid, rtol=0, atol=2 * EPS * np.max(np.abs(grid)))
    as_float32 = sigmas_from_lambdas(torch.tensor(grid), dtype=torch.float32)
    assert as_float32.dtype == torch.float32 and as_float32.shape == (13,)
    np.testing.assert_allclose(lambdas_from_sigmas(list(np.exp(-grid))), grid, atol=2 * EPS * 10)


# --------------------------------------------------------------------------------------------
# Types in = types out
# --------------------------------------------------------------------------------------------

T_METHODS = ("alpha", "sigma", "lam")
LAM_METHODS = ("t_of_lam", "alpha_of_lam", "sigma_of_lam", "dlog_alpha_dlam")


def _inputs(key, method):
    if method in LAM_METHODS:
        return [-3.0, 0.25, 4.0]
    sched = CASES[key]
    return [sched.t_min, 0.5 * (sched.t_min + sched.t_max), sched.t_max]


def assert_paths_agree(assert_close_ulps, method, got, want):
    """Two evaluation paths of one kernel (Python float, numpy array, torch tensor) call different
    exp/log/cos implementations (which bits differ depends on the CPU). Each is within C ulp of
    the exact value (the mpmath tests above), so in float64 they agree to 2C = 8 ulp of the
    result, except λ: a logarithm that crosses 0, whose rounding scales with u_λ = ε max(1, |λ|),
    not with λ, so it is held to 2C u_λ. A float32 result is such a float64 value rounded once:
    the two agree far below half a float32 ulp, so they round to equal or adjacent floats (1 ulp).
    """
    got = got.numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    want = want.numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
    if got.dtype == np.float32:
        assert_close_ulps(got, want, 1, method)
    elif method == "lam":
        tol = 2 * C * EPS * np.maximum(1.0, np.abs(want))
        assert np.all(np.abs(got - want) <= tol), (method, got, want, np.abs(got - want) / tol)
    else:
        assert_close_ulps(got, want, 2 * int(C), method)


@pytest.mark.parametrize("method", T_METHODS + LAM_METHODS)
@pytest.mark.parametrize("key", list(CASES))
def test_types_in_equal_types_out(key, method, assert_close_ulps):
    fn = getattr(CASES[key], method)
    values = _inputs(key, method)
    reference = np.array([fn(v) for v in values])
    assert all(type(fn(v)) is float for v in values)
    out = fn(np.array(values))
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (3,)
    assert_paths_agree(assert_close_ulps, method, out, reference)
    out2d = fn(np.array(values).reshape(3, 1).astype(np.float32))
    assert out2d.dtype == np.float64 and out2d.shape == (3, 1)
    scalar = fn(np.float64(values[1]))
    assert isinstance(scalar, np.float64)
    assert_paths_agree(assert_close_ulps, method, scalar, reference[1])
    for dtype in (torch.float64, torch.float32):
        tensor_out = fn(torch.tensor(values, dtype=dtype))
        assert isinstance(tensor_out, torch.Tensor) and tensor_out.dtype == dtype
        assert tensor_out.device == torch.device("cpu")
        expected = torch.tensor(reference, dtype=torch.float64)
        if dtype == torch.float32:
            # float64 result rounded once to float32, from float32-rounded inputs.
            expected = torch.tensor(np.array([fn(float(torch.tensor(v, dtype=dtype))) for v in values]))
        assert_paths_agree(assert_close_ulps, method, tensor_out, expected.to(dtype))


def test_empty_inputs_give_empty_outputs():
    sched = CASES["vp_cosine"]
    assert sched.lam(np.array([])).shape == (0,)
    assert sched.t_of_lam(torch.zeros(0, dtype=torch.float32)).shape == (0,)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("key", list(CASES))
def test_cuda_tensors_stay_on_device(key):
    sched = CASES[key]
    t = torch.tensor(_inputs(key, "lam"), dtype=torch.float32, device="cuda")
    lam = sched.lam(t)
    assert lam.device == t.device and lam.dtype == torch.float32
    torch.testing.assert_close(lam.cpu(), sched.lam(t.cpu()))
    lam64 = torch.tensor([-3.0, 0.25, 4.0], dtype=torch.float64, device="cuda")
    for method in LAM_METHODS:
        out = getattr(sched, method)(lam64)
        assert out.device == lam64.device
        # Both devices are within C ulp of the exact value (test_functions_of_lam_match_mpmath).
        torch.testing.assert_close(out.cpu(), getattr(sched, method)(lam64.cpu()), rtol=2 * C * EPS, atol=0)
    sigmas = sigmas_from_lambdas(lambda_grid(sched, 5), device="cuda")
    assert sigmas.device.type == "cuda"


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, exc, name",
    [
        (lambda: VPLinear(beta_min=1.0, beta_max=1.0), ValueError, "beta_max"),
        (lambda: VPLinear(beta_min=2.0, beta_max=1.0), ValueError, "beta_max"),
        (lambda: VPLinear(beta_min=-0.1), ValueError, "beta_min"),
        (lambda: VPLinear(beta_max=float("nan")), ValueError, "beta_max"),
        (lambda: VPLinear(beta_min="0.1"), TypeError, "beta_min"),
        (lambda: VPLinear(t_min=0.0), ValueError, "t_min"),
        (lambda: VPLinear(t_min=0.5, t_max=0.5), ValueError, "t_min"),
        (lambda: VPLinear(t_min=-1e-3), ValueError, "t_min"),
        (lambda: VPLinear(t_max=float("inf")), ValueError, "t_max"),
        (lambda: VPCosine(s=-0.01), ValueError, "s"),
        (lambda: VPCosine(t_max=1.0), ValueError, "t_max"),
        (lambda: VPCosine(t_max=1.5), ValueError, "t_max"),
        (lambda: VE(sigma_min=0.0), ValueError, "sigma_min"),
        (lambda: VE(sigma_min=-1.0), ValueError, "sigma_min"),
        (lambda: VE(sigma_min=50.0, sigma_max=50.0), ValueError, "sigma_max"),
        (lambda: VE(sigma_min=60.0, sigma_max=50.0), ValueError, "sigma_max"),
        (lambda: VE(t_min=1.0, t_max=0.0), ValueError, "t_min"),
        (lambda: EDM(sigma_min=0.0), ValueError, "sigma_min"),
        (lambda: EDM(sigma_min=80.0, sigma_max=0.002), ValueError, "sigma_max"),
        (lambda: EDM(sigma_max=True), TypeError, "sigma_max"),
        (lambda: RectifiedFlow(t_min=0.0), ValueError, "t_min"),
        (lambda: RectifiedFlow(t_max=1.0), ValueError, "t_max"),
        (lambda: get_schedule("vp"), ValueError, "schedule"),
        (lambda: get_schedule(3), TypeError, "schedule"),
        (lambda: get_schedule("edm", rho=7), TypeError, "rho"),
    ],
)
def test_bad_construction(build, exc, name):
    with pytest.raises(exc, match=name):
        build()


@pytest.mark.parametrize(
    "key, method, arg, exc, name",
    [
        ("vp_linear", "alpha", -1e-3, ValueError, "t"),
        ("vp_linear", "lam", float("nan"), ValueError, "t"),
        ("vp_linear", "sigma", float("inf"), ValueError, "t"),
        ("vp_cosine", "alpha", 1.0 + 1e-12, ValueError, "t"),
        ("vp_cosine", "lam", np.array([0.5, -0.1]), ValueError, "t"),
        ("rectified_flow", "lam", torch.tensor([0.5, 1.5]), ValueError, "t"),
        ("rectified_flow", "sigma", torch.tensor([0.5, float("nan")]), ValueError, "t"),
        ("edm", "sigma", -0.5, ValueError, "t"),
        ("ve", "lam", np.array([0.1, np.inf]), ValueError, "t"),
        ("ve", "alpha", "0.5", TypeError, "t"),
        ("ve", "alpha", True, TypeError, "t"),
        ("ve", "sigma", np.array([1 + 1j]), TypeError, "t"),
        ("ve", "sigma", torch.tensor([True]), TypeError, "t"),
        ("vp_linear", "t_of_lam", float("nan"), ValueError, "lam"),
        ("vp_cosine", "alpha_of_lam", np.array([0.0, -np.inf]), ValueError, "lam"),
        ("edm", "sigma_of_lam", torch.tensor([np.inf]), ValueError, "lam"),
        ("rectified_flow", "dlog_alpha_dlam", [0.0, 1.0], TypeError, "lam"),
        ("ve", "t_of_lam", None, TypeError, "lam"),
    ],
)
def test_bad_schedule_arguments(key, method, arg, exc, name):
    with pytest.raises(exc, match=rf"\b{name}\b"):
        getattr(CASES[key], method)(arg)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        ({"n_steps": 0}, ValueError, "n_steps"),
        ({"n_steps": -3}, ValueError, "n_steps"),
        ({"n_steps": 2.0}, TypeError, "n_steps"),
        ({"n_steps": True}, TypeError, "n_steps"),
        ({"n_steps": 5, "spacing": "cosine"}, ValueError, "spacing"),
        ({"n_steps": 5, "spacing": None}, ValueError, "spacing"),
        ({"n_steps": 5, "spacing": "karras", "rho": 0.0}, ValueError, "rho"),
        ({"n_steps": 5, "rho": -7.0}, ValueError, "rho"),
        ({"n_steps": 5, "rho": float("nan")}, ValueError, "rho"),
        ({"n_steps": 5, "t_start": 0.01, "t_end": 0.5}, ValueError, "t_end"),
        ({"n_steps": 5, "t_end": 0.0}, ValueError, "t_end"),
        ({"n_steps": 5, "t_start": float("inf")}, ValueError, "t_start"),
        ({"n_steps": 100_000, "t_start": 0.5, "t_end": 0.5 - 1e-13}, ValueError, "n_steps"),
    ],
)
def test_bad_grid_arguments(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        lambda_grid(CASES["vp_linear"], **kwargs)


def test_bad_grid_schedule():
    with pytest.raises(TypeError, match="schedule"):
        lambda_grid(object(), 5)
    with pytest.raises(ValueError, match="schedule"):
        lambda_grid("vp", 5)


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: sigmas_from_lambdas([0.0, -1.0]), ValueError, "lams"),
        (lambda: sigmas_from_lambdas([0.0, 0.0]), ValueError, "lams"),
        (lambda: sigmas_from_lambdas([0.0, float("nan")]), ValueError, "lams"),
        (lambda: sigmas_from_lambdas(np.zeros((2, 2))), ValueError, "lams"),
        (lambda: sigmas_from_lambdas([]), ValueError, "lams"),
        (lambda: sigmas_from_lambdas(["a"]), TypeError, "lams"),
        (lambda: sigmas_from_lambdas([0.0, 1.0], dtype=torch.int64), TypeError, "dtype"),
        (lambda: sigmas_from_lambdas([0.0, 1e-12], dtype=torch.float32), ValueError, "lams"),
        (lambda: lambdas_from_sigmas([1.0, 0.5, 0.0]), ValueError, "sigmas"),
        (lambda: lambdas_from_sigmas([1.0, 2.0]), ValueError, "sigmas"),
        (lambda: lambdas_from_sigmas([1.0, -2.0]), ValueError, "sigmas"),
        (lambda: lambdas_from_sigmas(torch.tensor([np.inf, 1.0])), ValueError, "sigmas"),
        (lambda: lambdas_from_sigmas("1.0"), TypeError, "sigmas"),
    ],
)
def test_bad_sigma_conversions(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


def test_registry():
    assert SCHEDULES == ("vp_linear", "vp_cosine", "ve", "edm", "rectified_flow")
    for name in SCHEDULES:
        sched = get_schedule(name)
        assert sched.name == name and isinstance(sched, Schedule)
        lo, hi = sched.lam_range()
        assert lo < hi
    assert get_schedule("vp_linear", beta_max=10.0).beta_max == 10.0


# --------------------------------------------------------------------------------------------
# Extremes: every finite λ and every t in the domain give the right value (or the IEEE limit)
# --------------------------------------------------------------------------------------------


def closed_form_t_of_lam(sched, lam):
    """t(λ) from exact algebra at the current mpmath precision (no cancellation anywhere):
    VP-linear solves a t² + b t = c = ½ log(1 + e^{−2λ}) as 2c/(b + sqrt(b² + 4ac)); the cosine
    schedule with s = 0 has α = cos(πt/2), σ = sin(πt/2), so t = (2/π) atan(e^{−λ})."""
    lam = mp.mpf(lam)
    if isinstance(sched, VPLinear):
        a, b = (mp.mpf(sched.beta_max) - mp.mpf(sched.beta_min)) / 4, mp.mpf(sched.beta_min) / 2
        c = mp.log1p(mp.exp(-2 * lam)) / 2
        return 2 * c / (b + mp.sqrt(b * b + 4 * a * c))
    assert isinstance(sched, VPCosine) and sched.s == 0.0
    return 2 / mp.pi * mp.atan(mp.exp(-lam))


@pytest.mark.parametrize(
    "sched, lam",
    [
        (VPLinear(0.0, 20.0), 400.0),  # c = ½ log1p(e^{−800}) underflows; t ≈ 6e-175 does not
        (VPLinear(0.0, 20.0), 700.0),
        (VPLinear(), 300.0),
        (VPCosine(s=0.0), 400.0),  # σ² underflows; t ≈ (2/π) e^{−400} does not
        (VPCosine(s=0.0), 740.0),  # t subnormal
        (VPLinear(), -1e308),  # c ≈ 1e308 and 4ac overflow; t ≈ 4.5e153 does not
        (VPLinear(0.0, 20.0), -1e308),
        (VPLinear(), -1e5),
        (VPLinear(beta_min=1e200, beta_max=2e200), 0.0),  # b² overflows
        (VPLinear(beta_min=0.0, beta_max=1e-300), 1.0),  # 4ac underflows
    ],
)
def test_t_of_lam_at_extreme_lambda_is_finite_and_accurate(sched, lam):
    """Against the exact t within C (u_t + |dt/dλ| u_λ) (module docstring); results below the
    smallest normal float64 are held to C units of the smallest subnormal instead of relative
    precision, which a subnormal does not have. No RuntimeWarning on the way."""
    with np.errstate(all="raise"):
        got = sched.t_of_lam(lam)
        got_array = sched.t_of_lam(np.array([lam]))[0]
    got_tensor = float(sched.t_of_lam(torch.tensor([lam], dtype=torch.float64))[0])
    with mp.workdps(60):
        exact = closed_form_t_of_lam(sched, lam)
        slope = mp.diff(lambda x: closed_form_t_of_lam(sched, x), mp.mpf(lam))
        tol = C * (EPS * abs(exact) + abs(slope) * u_lam(lam)) + C * 2.0**-1074
        for value in (got, got_array, got_tensor):
            assert math.isfinite(value) and value >= 0.0
            assert_close(value, exact, float(tol), f"t_of_lam({lam})")


@pytest.mark.parametrize("key", VP_CASES)
@pytest.mark.parametrize("t", [1e-320, 1e-300, 1e-200, 1e-160, 1e-100])
def test_variance_preserving_tiny_t(key, t):
    """Near t = 0, −log α underflows (t² for β_min = 0 or s = 0 from t ≈ 1e-154 on; t from
    1e-308 on otherwise); λ and σ must still be right: λ to C(u_λ + |dλ/dt| ε t) and σ to
    C σ (ε + |dlog σ/dt| ε t), against the defining formulas at 760 digits (the cosine
    formula cancels ~2·log10(1/t) digits). Below the smallest normal, σ is held to C subnormal
    units."""
    sched = CASES[key]
    lam, sigma = sched.lam(t), sched.sigma(t)
    assert math.isfinite(lam) and lam > 0 and sigma > 0
    with mp.workdps(760):
        log_alpha, log_sigma = ref_log_alpha_sigma(sched, t)
        exact_lam = log_alpha - log_sigma
        tt = mp.mpf(t)
        h = tt * mp.mpf(10) ** -40
        dlam = (ref_lam(sched, tt + h) - ref_lam(sched, tt - h)) / (2 * h)
        dls = (ref_log_alpha_sigma(sched, tt + h)[1] - ref_log_alpha_sigma(sched, tt - h)[1]) / (2 * h)
        assert_close(lam, exact_lam, float(C * (u_lam(exact_lam) + abs(dlam) * EPS * t)), "lam")
        exact_sigma = mp.exp(log_sigma)
        assert_close(sigma, exact_sigma, float(C * exact_sigma * (EPS + abs(dls) * EPS * t) + C * 2.0**-1074), "sigma")
    back = sched.t_of_lam(lam)
    assert abs(back - t) <= 2 * C * (EPS * t + abs(1 / float(dlam)) * u_lam(lam)) + C * 2.0**-1074


def test_vp_cosine_large_s_keeps_its_constants():
    """As s → ∞, α_t → 1 − t; cos u0 = sin(π/(2(1+s))) is taken from the exact complement."""
    for s in (1e3, 1e20, 1e300):
        sched = VPCosine(s=s)
        for t in (1e-6, 0.3, 0.7, 0.99):
            with mp.workdps(DPS + 320):
                log_alpha, _ = ref_log_alpha_sigma(sched, t)
                exact = mp.exp(log_alpha)
            assert abs(sched.alpha(t) - float(exact)) <= 4 * C * EPS * float(exact), (s, t)
            assert abs(sched.t_of_lam(sched.lam(t)) - t) <= 1e-12 * t, (s, t)


def test_t_of_lam_stays_in_the_domain():
    for sched in (VPCosine(), VPCosine(s=0.0), RectifiedFlow()):
        t = sched.t_of_lam(np.array([-1e308, -800.0, -40.0, 40.0, 800.0, 1e308]))
        assert np.all((t >= 0.0) & (t <= 1.0)), t


def test_sigmas_from_lambdas_names_overflow_and_underflow():
    with pytest.raises(ValueError, match=r"lams: .*overflows torch.float64"):
        sigmas_from_lambdas([-800.0, 0.0])
    with pytest.raises(ValueError, match="overflows"):  # the cause, not "too close together"
        sigmas_from_lambdas([-800.0, -750.0, 0.0])
    with pytest.raises(ValueError, match=r"lams: .*underflows to 0 in torch.float64"):
        sigmas_from_lambdas([0.0, 750.0], append_zero=True)
    with pytest.raises(ValueError, match=r"lams: .*overflows torch.float32"):
        sigmas_from_lambdas([-100.0, 0.0], dtype=torch.float32)
    edge = sigmas_from_lambdas([-709.0, 744.0])  # both still finite and positive in float64
    assert bool(torch.isfinite(edge).all()) and bool((edge > 0).all())
    with pytest.raises(ValueError, match="device"):
        sigmas_from_lambdas([0.0, 1.0], device="meta")
    with pytest.raises(TypeError, match="device"):
        sigmas_from_lambdas([0.0, 1.0], device=0.5)


def test_grid_bounds_name_their_argument():
    from seeds_verify.schedules import MAX_STEPS, RHO_RANGE

    with pytest.raises(ValueError, match="rho"):
        lambda_grid("edm", 10, "karras", rho=1e300)
    with pytest.raises(ValueError, match="rho"):
        lambda_grid("edm", 10, "karras", rho=RHO_RANGE[0] / 2)
    lambda_grid("edm", 10, "karras", rho=RHO_RANGE[1])
    with pytest.raises(ValueError, match="n_steps"):
        lambda_grid("edm", 10 ** 9)
    with pytest.raises(ValueError, match="n_steps"):
        lambda_grid("edm", MAX_STEPS + 1)
    with pytest.raises(ValueError, match=r"n_steps=100000 .*spacing='karras' with rho=7"):
        lambda_grid(CASES["vp_linear"], 100_000, "karras", t_start=0.5, t_end=0.5 - 1e-13)
