"""Exact step by variation of constants (MATH §3, §4), derived from a symbolic α(λ)."""

import mpmath as mp
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from seeds_verify.analytic import (
    DerivationError,
    assert_zero,
    check_exact_against_math4,
    check_exact_solves_sde,
    check_forms_same_sde,
    check_lambda_time_sde,
    exact_step,
    math4_exact_step,
)
from seeds_verify.analytic.exact import alpha
from seeds_verify.analytic.symbols import eta, lam, lam_a, lam_b, lam_t


@pytest.mark.parametrize("form", ["data", "noise"])
def test_pieces_equal_math4(form):
    assert check_exact_against_math4(form)
    assert check_exact_solves_sde(form)


def test_forms_are_one_sde():
    assert check_forms_same_sde()


def test_lambda_time_sde_from_t_time():
    assert check_lambda_time_sde()


def test_weight_exponents():
    assert exact_step("data").weight_exponent == eta
    assert exact_step("noise").weight_exponent == -1


def test_a_misprinted_variance_is_caught():
    """Data-form variance without the factor 2 in the exponent must not pass."""
    wrong = (alpha(lam_b) * sp.exp(-lam_b)) ** 2 * (1 - sp.exp(-eta * (lam_b - lam_a)))
    with pytest.raises(DerivationError):
        assert_zero(exact_step("data").noise_variance - wrong, "misprint")


@settings(deadline=None, max_examples=8, derandomize=True)
@given(form=st.sampled_from(["data", "noise"]), a=st.floats(-3, 2), width=st.floats(0.01, 2), ev=st.floats(0.05, 1))
def test_variance_equals_ito_integral_for_a_concrete_schedule(form, a, width, ev):
    """∫_a^b (noise kernel)² dλ by quadrature = the derived variance, for the VP-type schedule
    α(λ)² = 1/(1 + e^{−2λ}) (α² + σ² = 1 with σ = α e^{−λ})."""
    a, b, ev = sp.Rational(a), sp.Rational(a) + sp.Rational(width), sp.Rational(ev)
    step = exact_step(form)
    fn_alpha = sp.Lambda(sp.Symbol("y"), 1 / sp.sqrt(1 + sp.exp(-2 * sp.Symbol("y"))))
    kernel = step.noise_kernel.subs({lam_t: b, eta: ev}).replace(alpha, fn_alpha)
    variance = step.noise_variance.subs({lam_a: a, lam_b: b, eta: ev}).replace(alpha, fn_alpha)
    f = sp.lambdify(lam, kernel**2, "mpmath")
    with mp.workdps(40):
        quad = mp.quad(f, [mp.mpf(a.p) / a.q, mp.mpf(b.p) / b.q])
        closed = mp.mpf(str(sp.N(variance, 45)))
        assert abs(quad - closed) <= mp.mpf(10) ** -35 * abs(closed)


def test_bad_form():
    with pytest.raises(ValueError, match="form"):
        exact_step("score")
    with pytest.raises(ValueError, match="form"):
        math4_exact_step("eps")
