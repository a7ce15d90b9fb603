"""Closed forms of the test problems (MATH §8) against their definitions, at 50 digits."""

from fractions import Fraction

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from seeds_verify.analytic import (
    check_gaussian_denoiser,
    check_gaussian_transition,
    check_gmm_denoiser,
    derive_gaussian_denoiser,
    gaussian_denoiser,
    gaussian_marginal,
    gaussian_reverse_moments,
    gaussian_transition,
    gmm_denoiser,
    gmm_log_density,
    gmm_moments,
)
from seeds_verify.analytic.problems import alpha_sym, lam_from, lam_to, s2, sigma_sym
from seeds_verify.analytic.symbols import eta, x

positive = st.fractions(Fraction(1, 10), Fraction(5), max_denominator=20)


def test_denoiser_derivations():
    assert sp.simplify(derive_gaussian_denoiser() - gaussian_denoiser()) == 0
    assert check_gaussian_denoiser(1)
    assert check_gaussian_denoiser(2)


def test_transition_derivation():
    phi_closed, var_closed = gaussian_transition()
    assert check_gaussian_transition()
    assert phi_closed.has(eta) and var_closed.has(eta)


def test_gmm_denoiser_is_tweedie():
    assert check_gmm_denoiser()


@settings(deadline=None, max_examples=6, derandomize=True)
@given(var=positive, ev=st.fractions(Fraction(0), Fraction(1), max_denominator=10),
       l0=st.fractions(Fraction(-2), Fraction(1), max_denominator=10), width=positive)
def test_transition_solves_moment_odes_numerically(var, ev, l0, width):
    """Φ and V against a numerical integration of m' = ℓm, V' = 2ℓV + 2ησ² (rtol 1e-11)."""
    var_f, ev_f, l0_f, l1_f = float(var), float(ev), float(l0), float(l0 + width)

    def rhs(lam, y):
        sig2 = np.exp(-2 * lam)
        rate = -(1 + ev_f) * sig2 / (var_f + sig2)
        return [rate * y[0], 2 * rate * y[1] + 2 * ev_f * sig2]

    sol = solve_ivp(rhs, (l0_f, l1_f), [1.0, 0.0], rtol=1e-12, atol=1e-14, method="DOP853")
    phi_closed, var_closed = gaussian_transition()
    at = {s2: sp.Rational(var.numerator, var.denominator), eta: sp.Rational(ev.numerator, ev.denominator),
          lam_from: sp.Rational(l0.numerator, l0.denominator),
          lam_to: sp.Rational((l0 + width).numerator, (l0 + width).denominator)}
    assert sol.y[0, -1] == pytest.approx(float(phi_closed.subs(at)), rel=1e-10)
    assert sol.y[1, -1] == pytest.approx(float(var_closed.subs(at)), rel=1e-9, abs=1e-13)


def test_reverse_moments_keep_the_marginal_in_2d():
    """Started from the exact marginal at λ_0 the exact solution has the exact marginal at λ_1."""
    mean = sp.Matrix([1, -2])
    cov = sp.Matrix([[2, sp.Rational(1, 2)], [sp.Rational(1, 2), 1]])
    l0, l1 = sp.Rational(-1), sp.Rational(1, 2)
    for ev in (0, sp.Rational(1, 2), 1):
        m0, c0 = gaussian_marginal(mean, cov, 1, sp.exp(-l0))
        m1, c1 = gaussian_reverse_moments(mean, cov, m0, c0, l0, l1, ev)
        want_m, want_c = gaussian_marginal(mean, cov, 1, sp.exp(-l1))
        assert all(abs(float(e)) < 1e-12 for e in (m1 - want_m))
        assert all(abs(float(e)) < 1e-12 for e in (c1 - want_c))


def test_reverse_moments_scalar_from_a_point():
    m1, v1 = gaussian_reverse_moments(0, 1, 2, 0, 0, 1, 1)
    phi_closed, var_closed = gaussian_transition()
    at = {s2: 1, eta: 1, lam_from: 0, lam_to: 1}
    assert sp.simplify(m1 - 2 * phi_closed.subs(at)) == 0
    assert sp.simplify(v1 - var_closed.subs(at)) == 0


def test_matrix_denoiser_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shapes"):
        gaussian_denoiser(sp.Matrix([0, 0]), sp.eye(3), sp.Matrix([1, 1]))
    with pytest.raises(ValueError, match="symmetric"):
        gaussian_reverse_moments(sp.Matrix([0, 0]), sp.Matrix([[1, 2], [0, 1]]), sp.Matrix([0, 0]), sp.eye(2), 0, 1)


MIX = ([Fraction(1, 3), Fraction(2, 3)], [-1, Fraction(3, 2)], [Fraction(1, 2), 2])


@settings(deadline=None, max_examples=4, derandomize=True)
@given(av=st.fractions(Fraction(1, 5), Fraction(1), max_denominator=10),
       sv=st.fractions(Fraction(1, 5), Fraction(2), max_denominator=10))
def test_gmm_moments_and_density_by_quadrature(av, sv):
    """The log-sum-exp log-density equals log Σ w_k N(x; αμ_k, α²s_k + σ²), and ∫p = 1, ∫x p,
    ∫x² p equal the closed-form moments (50 digits). The integrals run over
    [−60, 60]: every component has |mean| ≤ 1.5 and standard deviation ≤ sqrt(2·1 + 4) < 2.5, so
    the mass outside is below e^{−(58.5/2.5)²/2} < 1e-110."""
    weights, means, covs = ([sp.Rational(q.numerator, q.denominator) for q in v] for v in MIX)
    a_, s_ = sp.Rational(av.numerator, av.denominator), sp.Rational(sv.numerator, sv.denominator)
    log_p = sp.lambdify(x, gmm_log_density(weights, means, covs, x, a_, s_), "mpmath")
    first, second = gmm_moments(weights, means, covs, a_, s_)
    with mp.workdps(50):
        def mq(q):
            return mp.mpf(int(q.p)) / int(q.q)

        comps = [(mq(w), mq(a_) * mq(m), mq(a_) ** 2 * mq(c) + mq(s_) ** 2) for w, m, c in zip(weights, means, covs)]

        def dens(t):  # the mixture of MATH §8, written out
            return sum(w * mp.npdf(t, m, mp.sqrt(v)) for w, m, v in comps)

        for t in (-7, -1, 0, mp.mpf(1) / 3, 4):
            assert abs(log_p(t) - mp.log(dens(t))) < mp.mpf(10) ** -45
        cuts = [-60, -20, -8, -3, 0, 3, 8, 20, 60]
        mass = mp.quad(dens, cuts)
        m1 = mp.quad(lambda t: t * dens(t), cuts)
        m2 = mp.quad(lambda t: t * t * dens(t), cuts)
        assert abs(mass - 1) < mp.mpf(10) ** -45
        assert abs(m1 - mp.mpf(str(sp.N(first, 55)))) < mp.mpf(10) ** -45
        assert abs(m2 - mp.mpf(str(sp.N(second, 55)))) < mp.mpf(10) ** -44


def test_gmm_denoiser_is_stable_far_out():
    """The log-sum-exp form gives finite values where plain responsibilities under/overflow."""
    weights, means, covs = ([sp.Rational(q.numerator, q.denominator) for q in v] for v in MIX)
    f = sp.lambdify((x, alpha_sym, sigma_sym), gmm_denoiser(weights, means, covs), "numpy")
    xs = np.array([-500.0, -3.0, 0.0, 2.0, 500.0])
    values = f(xs, 1.0, 0.01)
    assert np.all(np.isfinite(values))
    # far out, the nearest component owns the point; its denoiser is then (almost) the identity
    assert values[0] == pytest.approx(-500.0, rel=1e-3) and values[-1] == pytest.approx(500.0, rel=1e-3)


def test_gmm_multivariate_moments():
    mean1, mean2 = sp.Matrix([0, 1]), sp.Matrix([2, 0])
    cov1, cov2 = sp.eye(2), sp.Matrix([[2, 1], [1, 2]])
    first, second = gmm_moments([sp.Rational(1, 4), sp.Rational(3, 4)], [mean1, mean2], [cov1, cov2], 1, 1)
    assert first == sp.Matrix([sp.Rational(3, 2), sp.Rational(1, 4)])
    assert second == sp.Rational(1, 4) * (cov1 + sp.eye(2) + mean1 * mean1.T) + sp.Rational(3, 4) * (cov2 + sp.eye(2) + mean2 * mean2.T)


def test_gmm_bad_input():
    with pytest.raises(ValueError, match="equal length"):
        gmm_moments([1], [0, 1], [1, 1])
