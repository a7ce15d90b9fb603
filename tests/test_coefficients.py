"""Stable float64 numerics of seeds_verify.coefficients against mpmath (MATH §5–§7)."""

import math

import mpmath as mp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seeds_verify import coefficients as C

ULP_BOUND = 4.0  # the accuracy the solvers rely on (issue-level requirement, float64)


def phi_reference(k: int, z: float) -> mp.mpf:
    """φ_k(z) in 120-digit arithmetic from the closed form (MATH §5): enough digits to absorb
    the cancellation of e^z − Σ_{n<k} zⁿ/n! down to |z| = 1e-12."""
    with mp.workdps(120):
        zz = mp.mpf(z)
        if zz == 0:
            return mp.mpf(1) / mp.factorial(k)
        s = mp.e ** zz - sum(zz ** n / mp.factorial(n) for n in range(k))
        return s / zz ** k


def ulp_error(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(got - ref) / np.spacing(np.abs(ref))


SWEEP = np.concatenate([
    -np.logspace(-12, math.log10(60.0), 241),
    np.logspace(-12, math.log10(60.0), 241),
    [0.0, -1.0, -4.0, 1.0, 8.0, -60.0, 60.0],
])


@pytest.mark.parametrize("k", range(5))
def test_phi_ulp_sweep(k):
    ref = np.array([float(phi_reference(k, z)) for z in SWEEP])
    got = C.phi(k, SWEEP)
    err = ulp_error(got, ref)
    assert err.max() <= ULP_BOUND, f"k={k}: {err.max()} ulp at z={SWEEP[err.argmax()]}"
    # the same numbers as Python floats (scalar fast paths) and through torch
    got_s = np.array([C.phi(k, float(z)) for z in SWEEP])
    assert ulp_error(got_s, ref).max() <= ULP_BOUND
    got_t = C.phi(k, torch.tensor(SWEEP, dtype=torch.float64))
    assert ulp_error(got_t.numpy(), ref).max() <= ULP_BOUND


def test_phi_at_zero_is_exact():
    for k in range(5):
        assert C.phi(k, 0.0) == 1.0 / math.factorial(k)


def test_phi_types_round_trip():
    assert isinstance(C.phi(2, 0.3), float)
    arr = C.phi(2, np.array([0.1, -0.2]))
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float64
    t32 = C.phi(2, torch.tensor([0.1, -0.2], dtype=torch.float32))
    assert t32.dtype == torch.float32
    t64 = C.phi(3, torch.tensor([0.1], dtype=torch.float64))
    assert t64.dtype == torch.float64


def test_phi_bad_input():
    with pytest.raises(TypeError, match="k"):
        C.phi(1.5, 0.1)
    with pytest.raises(ValueError, match="k"):
        C.phi(-1, 0.1)
    with pytest.raises(TypeError, match="z"):
        C.phi(1, "x")
    with pytest.raises(TypeError, match="z"):
        C.phi(1, True)


def test_naive_formula_really_fails_near_zero():
    """Why the stable version exists: the textbook formula loses every digit at |z| = 1e-10."""
    z = 1e-10
    naive = (math.exp(z) - 1 - z) / z ** 2
    ref = float(phi_reference(2, z))
    assert abs(naive - ref) / ref > 1e-3
    assert abs(C.phi(2, z) - ref) / ref < 1e-15


# -- noise factors (MATH §7) ---------------------------------------------------------------


def noise_factor_reference(fractions, h, eta, form):
    """The square roots of differences of exponentials of MATH §7, in 60-digit arithmetic."""
    with mp.workdps(60):
        c = [mp.mpf(0)] + [mp.mpf(f) for f in fractions]
        h, eta = mp.mpf(h), mp.mpf(eta)
        m = len(fractions)
        out = np.zeros((m, m))
        for i in range(1, m + 1):
            for j in range(1, i + 1):
                if form == "data":
                    v = mp.e ** (-2 * eta * (c[i] - c[j]) * h) - mp.e ** (-2 * eta * (c[i] - c[j - 1]) * h)
                else:
                    v = eta * (mp.e ** (2 * (c[i] - c[j - 1]) * h) - mp.e ** (2 * (c[i] - c[j]) * h))
                out[i - 1, j - 1] = float(mp.sqrt(v))
        return out


@settings(deadline=None, max_examples=60)
@given(
    log_h=st.floats(-10, math.log10(3.0)),
    eta=st.floats(1e-6, 1.0),
    c1=st.floats(0.05, 0.45),
    c2=st.floats(0.55, 0.95),
    form=st.sampled_from(C.FORMS),
)
def test_noise_factor_matches_high_precision(log_h, eta, c1, c2, form):
    h = 10.0 ** log_h
    fr = [c1, c2, 1.0]
    got = C.noise_factor(fr, h, eta, form)
    ref = noise_factor_reference(fr, h, eta, form)
    mask = np.tril(np.ones((3, 3), dtype=bool))
    # A product of φ_1, exp and sqrt: each ≤ a few ulp; 16 ulp leaves room for their sum.
    assert np.all(ulp_error(got[mask], ref[mask]) <= 16)
    assert np.all(got[~mask] == 0)


@settings(deadline=None, max_examples=40)
@given(h=st.floats(1e-6, 3.0), eta=st.floats(0.0, 1.0), c=st.floats(0.05, 0.95),
       form=st.sampled_from(C.FORMS))
def test_noise_rows_give_exact_variance(h, eta, c, form):
    """Σ_j F_ij² equals the exact variance of MATH §4 at every point (σ_i factored out)."""
    fr = [c, 1.0]
    f = C.noise_factor(fr, h, eta, form)
    for i, ci in enumerate(fr):
        exact = -math.expm1(-2 * eta * ci * h) if form == "data" else eta * math.expm1(2 * ci * h)
        assert math.isclose((f[i] ** 2).sum(), exact, rel_tol=1e-13, abs_tol=1e-300)


def test_noise_factor_bad_fractions():
    with pytest.raises(ValueError, match="fractions"):
        C.noise_factor([0.6, 0.5, 1.0], 0.1, 1.0, "data")
    with pytest.raises(ValueError, match="prediction"):
        C.noise_factor([0.5, 1.0], 0.1, 1.0, "score")


# -- model weights (MATH §6) ----------------------------------------------------------------


def test_seeds2_weights_match_printed_forms():
    h, eta, c = 0.37, 1.0, 1 / 3
    H = (1 + eta) * h
    # 2b (phi_2): α_t[(1−e^{−H}) D_s + (Hφ_2(−H)/c)(D_u − D_s)]; scale A = (1+η)α_t with α_t = 1
    w = (1 + eta) * C.stage_kernel_weights(1.0, h, eta, "data", [0.0, c], averaged=False)
    b2 = H * C.phi(2, -H) / c
    np.testing.assert_allclose(w, [-math.expm1(-H) - b2, b2], rtol=1e-14)
    # 2a (phi_1): (1−e^{−H})[(1 − 1/(2c)) D_s + D_u/(2c)]
    w = (1 + eta) * C.stage_kernel_weights(1.0, h, eta, "data", [0.0, c], averaged=True)
    m = -math.expm1(-H)
    np.testing.assert_allclose(w, [m * (1 - 1 / (2 * c)), m / (2 * c)], rtol=1e-14)


def test_seeds3_3b_weights_match_printed_numbers():
    """With c2 = 1/3, c3 = 2/3 the parabola gives (−4.5, 6, −1.5)·Hφ_2 and 9·(1, −2, 1)·Hφ_3."""
    h, eta = 0.21, 0.6
    H = (1 + eta) * h
    w = (1 + eta) * C.stage_kernel_weights(1.0, h, eta, "data", [0.0, 1 / 3, 2 / 3])
    p1, p2 = H * C.phi(2, -H), H * C.phi(3, -H)
    expected = np.array([-math.expm1(-H), 0.0, 0.0]) + p1 * np.array([-4.5, 6, -1.5]) \
        + 2 * p2 * 9 * np.array([1, -2, 1]) / 2
    np.testing.assert_allclose(w, expected, rtol=1e-12, atol=1e-15 * H)


def test_noise_form_seeds1_is_dpm_solver_1():
    """Noise form, η = 0: −σ_t (e^h − 1) ε̂_s, i.e. A = −σ_t times ω = h φ_1(h) = e^h − 1."""
    h = 0.4
    w = C.stage_kernel_weights(1.0, h, 0.0, "noise", [0.0])
    np.testing.assert_allclose(w, [math.expm1(h)], rtol=1e-15)


def test_interpolation_matrix_rejects_repeated_nodes():
    with pytest.raises(ValueError, match="distinct"):
        C.interpolation_matrix([0.0, 0.5, 0.5])


# -- discounted noise-form coefficients (overflow-free for any step) -------------------------


def discounted_moment_reference(j: int, z: float) -> mp.mpf:
    """ν_j(z) = ∫_0^1 e^{−zv} vʲ dv = j!/z^{j+1} · P(j+1, z) (regularised lower incomplete gamma),
    in 60-digit arithmetic."""
    with mp.workdps(60):
        zz = mp.mpf(z)
        if zz == 0:
            return mp.mpf(1) / (j + 1)
        return mp.factorial(j) / zz ** (j + 1) * mp.gammainc(j + 1, 0, zz, regularized=True)


@pytest.mark.parametrize("j", range(4))
def test_discounted_kernel_moments_ulp_sweep(j):
    """e^{−z}·j! φ_{j+1}(z) (φ ≤ 4 ulp, exp ≤ 1, two products) below z = 600, j!/z^{j+1} above:
    8 ulp over z ∈ {0} ∪ [1e-12, 1e5]; finite where μ_j(z) overflows."""
    zs = np.concatenate([[0.0], np.logspace(-12, 5, 171), [599.0, 600.0, 601.0, 710.0, 1400.0]])
    got = C.discounted_kernel_moments(zs, j)[j]
    ref = np.array([float(discounted_moment_reference(j, z)) for z in zs])
    assert np.all(np.isfinite(got))
    assert np.max(ulp_error(got, ref)) <= 8
    scalar = C.discounted_kernel_moments(float(zs[100]), j)[j]
    assert isinstance(scalar, float) and scalar == got[100]


@pytest.mark.parametrize("nodes,averaged", [([0.0], False), ([0.0, 1 / 3], False), ([0.0, 1 / 3], True),
                                            ([0.0, 1 / 3, 2 / 3], False)])
def test_discounted_stage_weights(nodes, averaged):
    """Noise form: e^{−ch}·ω to a few ulp where ω is finite (both sides ≤ 8 ulp from exact: 16 ulp
    relative to the largest weight, the weights of a row cancelling to their sum), finite beyond;
    data form: the same numbers (nothing is discounted)."""
    hs = np.logspace(-6, math.log10(300.0), 60)
    plain = C.stage_kernel_weights(1.0, hs, 0.4, "noise", nodes, averaged)
    disc = C.stage_kernel_weights(1.0, hs, 0.4, "noise", nodes, averaged, discounted=True)
    want = plain * np.exp(-hs)[:, None]
    scale = np.abs(want).max(axis=1, keepdims=True)
    assert np.max(np.abs(disc - want) / np.spacing(scale)) <= 16
    big = C.stage_kernel_weights(1.0, np.array([800.0, 1400.0]), 0.4, "noise", nodes, averaged, discounted=True)
    assert np.all(np.isfinite(big))
    np.testing.assert_array_equal(C.stage_kernel_weights(1.0, hs, 0.4, "data", nodes, averaged, discounted=True),
                                  C.stage_kernel_weights(1.0, hs, 0.4, "data", nodes, averaged))


@settings(deadline=None, max_examples=40)
@given(log_h=st.floats(-8, math.log10(1400.0)), eta=st.floats(1e-6, 1.0), c1=st.floats(0.05, 0.45),
       c2=st.floats(0.55, 0.95))
def test_discounted_noise_factor_matches_high_precision(log_h, eta, c1, c2):
    """Noise form: e^{−c_i h} F_ij against MATH §7 in 60-digit arithmetic, for steps up to h = 1400
    where F_ij itself (~e^{c_i h}) overflows. 16 ulp as for the undiscounted factor, plus the
    conditioning of e^{x}: the rounded argument x = −c_{j−1}h (and 2Δ_j h inside φ_1) carries a
    relative error u, i.e. |x| u absolute, which e^{x} turns into a relative error |x| u — up to
    2h ulp for |x| ≤ 2h (as exp(−λ_s − c h) of the stage σ does anyway). The data form is returned
    unchanged."""
    h = 10.0 ** log_h
    fr = [c1, c2, 1.0]
    got = C.noise_factor(fr, h, eta, "noise", discounted=True)
    with mp.workdps(60):
        c = [mp.mpf(0)] + [mp.mpf(f) for f in fr]
        ref = np.zeros((3, 3))
        for i in range(1, 4):
            for j in range(1, i + 1):
                v = eta * (mp.e ** (2 * (c[i] - c[j - 1]) * h) - mp.e ** (2 * (c[i] - c[j]) * h))
                ref[i - 1, j - 1] = float(mp.sqrt(v) * mp.e ** (-c[i] * h))
    mask = np.tril(np.ones((3, 3), dtype=bool))
    assert np.all(ulp_error(got[mask], ref[mask]) <= 16 + 2 * h)
    assert np.all(got[~mask] == 0)
    np.testing.assert_array_equal(C.noise_factor(fr, h, eta, "data", discounted=True),
                                  C.noise_factor(fr, h, eta, "data"))
