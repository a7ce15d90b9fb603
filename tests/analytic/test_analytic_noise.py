"""Pathwise-consistent noise (MATH §4, §7): Itô covariances and the triangular factor."""

from fractions import Fraction

import mpmath as mp
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from seeds_verify.analytic import (
    check_noise_factor,
    check_swapped_noise_factor,
    math7_noise_factor,
    noise_covariance_symbolic,
    noise_factor_symbolic,
    stage_noise_kernel,
    swapped_noise_factor_symbolic,
)
from seeds_verify.analytic.symbols import c, c2, c3, eta, h, u


@pytest.mark.parametrize("form", ["data", "noise"])
@pytest.mark.parametrize("fractions", [(c, 1), (c2, c3, 1), (1, 1)])
def test_factor_reproduces_variances_and_covariances(form, fractions):
    """(i) rows give the exact variances, (ii) pairs the exact covariances (symbolic fractions;
    (1, 1) is SEEDS-2 at r = 1, whose second segment has zero length and a zero column)."""
    assert check_noise_factor(fractions, form)
    if fractions == (1, 1):
        factor = noise_factor_symbolic(fractions, form)
        assert factor[0, 1] == factor[1, 1] == 0 and factor[1, 0] == factor[0, 0]


@pytest.mark.parametrize("form", ["data", "noise"])
def test_swapped_factor_right_variance_wrong_covariance(form):
    """(iii) c ↔ 1 − c in the end row keeps variances, breaks the covariance unless c = 1/2."""
    assert check_swapped_noise_factor(form)
    half = sp.Rational(1, 2)
    assert swapped_noise_factor_symbolic(half, form) == noise_factor_symbolic((half, 1), form)


def test_kernels_and_covariance_closed_forms():
    assert sp.simplify(stage_noise_kernel("data", c) - sp.sqrt(2 * eta) * sp.exp(-eta * (c * h - u))) == 0
    assert sp.simplify(stage_noise_kernel("noise", c) - sp.sqrt(2 * eta) * sp.exp(c * h - u)) == 0
    cov = noise_covariance_symbolic((c, 1), "data")
    expected = sp.exp(-eta * (1 - c) * h) - sp.exp(-eta * (1 + c) * h)
    assert sp.simplify(cov[1, 0] - expected) == 0


@settings(deadline=None, max_examples=12, derandomize=True)
@given(form=st.sampled_from(["data", "noise"]), cv=st.fractions(Fraction(1, 20), Fraction(19, 20), max_denominator=60),
       hv=st.fractions(Fraction(1, 1000), 3, max_denominator=1000), ev=st.fractions(Fraction(1, 100), 1, max_denominator=100))
def test_swapped_covariance_error_numerically(form, cv, hv, ev):
    """At 50 digits: F Fᵀ equals the Itô covariance, the swapped factor's end/stage entry differs
    from it by |F_11 (F'_21 − F_21)| > 0 exactly when c ≠ 1/2."""
    at = {c: sp.Rational(cv.numerator, cv.denominator), h: sp.Rational(hv.numerator, hv.denominator),
          eta: sp.Rational(ev.numerator, ev.denominator)}
    cov = noise_covariance_symbolic((c, 1), form).subs(at)
    right = noise_factor_symbolic((c, 1), form).subs(at)
    swapped = swapped_noise_factor_symbolic(c, form).subs(at)
    with mp.workdps(60):
        def num(e):
            return mp.mpf(str(sp.N(e, 70)))
        for i in range(2):
            for j in range(i + 1):
                got = sum(num(right[i, k]) * num(right[j, k]) for k in range(j + 1))
                assert abs(got - num(cov[i, j])) <= mp.mpf(10) ** -50 * (1 + abs(num(cov[i, j])))
        end_var = num(swapped[1, 0]) ** 2 + num(swapped[1, 1]) ** 2
        assert abs(end_var - num(cov[1, 1])) <= mp.mpf(10) ** -50
        gap = num(swapped[0, 0]) * num(swapped[1, 0]) - num(cov[1, 0])
        if at[c] == sp.Rational(1, 2):
            assert abs(gap) <= mp.mpf(10) ** -50
        else:
            assert abs(gap) > mp.mpf(10) ** -30


def test_math7_printed_form_entries():
    f = math7_noise_factor((c, 1), "data")
    assert f[0, 1] == 0
    assert sp.simplify(f[1, 1] ** 2 - (1 - sp.exp(-2 * eta * (1 - c) * h))) == 0


@pytest.mark.parametrize("bad, error", [
    ((sp.Rational(1, 2), sp.Rational(1, 3), 1), ValueError),
    ((sp.Rational(1, 2), 2), ValueError),
    ("0.5", TypeError),
    ((True, 1), TypeError),
])
def test_bad_fractions(bad, error):
    with pytest.raises(error, match="fraction"):
        noise_factor_symbolic(bad, "data")


def test_bad_form_and_swapped_fraction():
    with pytest.raises(ValueError, match="form"):
        noise_covariance_symbolic((c, 1), "x")
    with pytest.raises(ValueError, match="fraction"):
        swapped_noise_factor_symbolic(sp.Rational(3, 2), "data")
