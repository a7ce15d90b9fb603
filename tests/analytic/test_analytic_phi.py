"""φ-functions (MATH §5): closed forms, their identities, exactly and at 50 digits."""

from fractions import Fraction

import mpmath as mp
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from seeds_verify.analytic import (
    DerivationError,
    assert_zero,
    check_phi_all,
    check_phi_at_zero,
    check_phi_integral_form,
    check_phi_recurrence,
    check_phi_taylor,
    phi_of,
    phi_symbolic,
    phi_taylor_coefficient,
    z,
)

rationals = st.fractions(min_value=-12, max_value=12, max_denominator=50).filter(lambda q: q != 0)


@pytest.mark.parametrize("k", range(5))
def test_closed_form_shape(k):
    expected = (sp.exp(z) - sum(z**j / sp.factorial(j) for j in range(k))) / z**k
    assert sp.simplify(phi_symbolic(k) - expected) == 0


@pytest.mark.parametrize("k", range(5))
def test_identities_hold(k):
    assert check_phi_recurrence(k)
    assert check_phi_at_zero(k)
    assert check_phi_taylor(k, 7)
    if k >= 1:
        assert check_phi_integral_form(k)


def test_check_all():
    assert check_phi_all(4)


def test_zero_test_rejects_a_wrong_identity():
    """The decision procedure behind every check does fail on a false identity."""
    wrong = (sp.exp(z) - 1) / z**2  # φ_2 without the −z
    with pytest.raises(DerivationError):
        assert_zero(phi_symbolic(2) - wrong, "wrong φ_2")


@settings(deadline=None, max_examples=15, derandomize=True)
@given(k=st.integers(0, 3), q=rationals)
def test_recurrence_exact_at_rationals(k, q):
    """φ_{k+1}(q) = (φ_k(q) − 1/k!)/q in exact arithmetic (exp of a rational stays symbolic)."""
    zq = sp.Rational(q.numerator, q.denominator)
    lhs = phi_of(k + 1, zq)
    rhs = (phi_of(k, zq) - sp.Rational(1, sp.factorial(k))) / zq
    assert sp.expand(lhs - rhs) == 0


@settings(deadline=None, max_examples=8, derandomize=True)
@given(k=st.integers(1, 4), q=rationals)
def test_integral_form_numerically(k, q):
    """Closed form vs ∫_0^1 e^{(1−τ)z} τ^{k−1}/(k−1)! dτ by mpmath quadrature at 50 digits."""
    with mp.workdps(60):
        zq = mp.mpf(q.numerator) / q.denominator
        integral = mp.quad(lambda t: mp.exp((1 - t) * zq) * t ** (k - 1) / mp.factorial(k - 1), [0, 1])
        closed = (mp.exp(zq) - sum(zq**j / mp.factorial(j) for j in range(k))) / zq**k
        assert abs(integral - closed) <= mp.mpf(10) ** -50 * abs(closed)
        symbolic = mp.mpf(str(sp.N(phi_of(k, sp.Rational(q.numerator, q.denominator)), 60)))
        assert abs(symbolic - integral) <= mp.mpf(10) ** -50 * abs(integral)


@settings(deadline=None, max_examples=15, derandomize=True)
@given(k=st.integers(0, 4), q=st.fractions(min_value=Fraction(-1, 2), max_value=Fraction(1, 2), max_denominator=1000))
def test_taylor_remainder_bound(k, q):
    """|φ_k(z) − Σ_{n<N} zⁿ/(n+k)!| ≤ |z|^N e^{|z|}/(N+k)! (Lagrange-type bound from the series)."""
    n_terms = 10
    with mp.workdps(60):
        zq = mp.mpf(q.numerator) / q.denominator
        exact = mp.mpf(1) / mp.factorial(k) if zq == 0 else (mp.exp(zq) - sum(zq**j / mp.factorial(j) for j in range(k))) / zq**k
        coefficients = [phi_taylor_coefficient(k, n) for n in range(n_terms)]
        partial = sum(zq**n * mp.mpf(int(a.p)) / int(a.q) for n, a in enumerate(coefficients))
        bound = abs(zq) ** n_terms * mp.exp(abs(zq)) / mp.factorial(n_terms + k)
        assert abs(exact - partial) <= bound + mp.mpf(10) ** -55


def test_taylor_coefficients():
    assert phi_taylor_coefficient(2, 3) == sp.Rational(1, 120)


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)])
def test_bad_k(bad, error):
    with pytest.raises(error, match="k"):
        phi_symbolic(bad)
