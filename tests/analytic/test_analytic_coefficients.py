"""Scheme coefficients derived from the interpolant and the exact kernel (MATH §5, §6).

The derived coefficients must equal (i) MATH §6's printed data-form formulas for symbolic c,
c2, c3 and η (3b: the printed numbers at c2 = 1/3, c3 = 2/3), (ii) at η = 0 the published
deterministic exponential integrators — DPM-Solver-1/2/3 in the noise form, DPM-Solver++
(first order, 2S with r, third order) in the data form — and (iii) their moment form
c h Σ μ_n P_nj, which is what the float64 module evaluates.
"""

from fractions import Fraction

import mpmath as mp
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from seeds_verify.analytic import (
    DerivationError,
    assert_zero,
    check_eta0_reductions,
    check_math5_kernel_identity,
    check_math6,
    check_moment_form,
    interpolation_matrix_symbolic,
    scheme_coefficients,
    stage_kernel,
    stage_weights_by_integration,
)
from seeds_verify.analytic.references import math6_printed
from seeds_verify.analytic.symbols import alpha_c, c, c2, c3, eta, h, sigma_c, u
from seeds_verify.schemes import seeds1_spec, seeds2_spec, seeds3_spec


def test_math6_printed_forms():
    assert check_math6()


def test_eta0_is_dpm_solver_and_dpm_solver_pp():
    assert check_eta0_reductions()


@pytest.mark.parametrize("n", range(3))
def test_math5_kernel_identity(n):
    assert check_math5_kernel_identity(n)


@pytest.mark.parametrize("form", ["data", "noise"])
@pytest.mark.parametrize("frac, nodes, averaged", [
    (c, (0,), False), (1, (0, c), True), (1, (0, c), False), (c3, (0, c2), False), (1, (0, c2, c3), False),
])
def test_integration_equals_moment_form(form, frac, nodes, averaged):
    assert check_moment_form(form, frac, nodes, averaged)


def test_a_wrong_printed_weight_is_caught():
    """2a with 1/c instead of 1/(2c): the comparison machinery must reject it."""
    derived = scheme_coefficients(seeds2_spec(c, "phi_1"), "data").end.model_weights[1]
    _, printed = math6_printed("seeds2_phi_1")[1]
    wrong = printed[1] * 2
    with pytest.raises(DerivationError):
        assert_zero(derived - wrong, "2a weight")


def test_stage_structure():
    coeffs = scheme_coefficients(seeds3_spec(c2, c3, "3b"), "noise")
    assert [s.fraction for s in coeffs.stages] == [c2, c3, 1]
    assert [len(s.model_weights) for s in coeffs.stages] == [1, 2, 3]
    assert [len(s.noise_row) for s in coeffs.stages] == [1, 2, 3]
    assert coeffs.end.linear_factor == sp.Symbol("alpha_c", positive=True) / sp.Symbol("alpha_s", positive=True)
    assert coeffs.noise_factor.shape == (3, 3)
    scale, rate = stage_kernel("noise")
    assert sp.expand(scale + (1 + eta) * sigma_c) == 0 and rate == 1
    scale, rate = stage_kernel("data")
    assert sp.expand(scale - (1 + eta) * alpha_c) == 0 and sp.expand(rate + 1 + eta) == 0


def test_seeds1_data_weight_is_one_minus_exp():
    (w,) = scheme_coefficients(seeds1_spec(), "data").end.model_weights
    assert_zero(w - alpha_c * (1 - sp.exp(-(1 + eta) * h)), "SEEDS-1")


@settings(deadline=None, max_examples=10, derandomize=True)
@given(form=st.sampled_from(["data", "noise"]),
       cq=st.fractions(Fraction(1, 20), Fraction(19, 20), max_denominator=40),
       hq=st.fractions(Fraction(1, 100), Fraction(3), max_denominator=100),
       eq=st.fractions(Fraction(0), Fraction(1), max_denominator=10),
       coeffs=st.tuples(*[st.integers(-5, 5) for _ in range(3)]))
def test_weights_integrate_polynomials_exactly(form, cq, hq, eq, coeffs):
    """Σ_j ω_j p(c_j h) = (1/A_c)∫_0^{ch} K_c(u) p(u) du for every polynomial p the nodes can
    represent (degree < number of nodes) — the defining property of the interpolatory rule,
    checked at 50 digits by quadrature for the SEEDS-3 "3b" end point (a parabola)."""
    cv, hv, ev = (sp.Rational(q.numerator, q.denominator) for q in (cq, hq, eq))
    c2v, c3v = cv / 2, (cv + 1) / 2
    weights = stage_weights_by_integration(form, 1, (0, c2, c3), False)
    at = {c2: c2v, c3: c3v, h: hv, eta: ev}
    poly = sum(a * u**n for n, a in enumerate(coeffs))
    rule = sum(w.subs(at) * poly.subs(u, node * hv) for w, node in zip(weights, (0, c2v, c3v)))
    _, rate = stage_kernel(form)
    integrand = sp.lambdify(u, sp.exp(rate.subs(eta, ev) * (hv - u)) * poly, "mpmath")
    with mp.workdps(50):
        quad = mp.quad(integrand, [0, mp.mpf(hv.p) / hv.q])
        value = mp.mpf(str(sp.N(rule, 60)))
        assert abs(value - quad) <= mp.mpf(10) ** -40 * (1 + abs(quad))


def test_interpolation_matrix_inverts_vandermonde():
    p = interpolation_matrix_symbolic([0, c, 1])
    vander = sp.Matrix(3, 3, lambda j, n: [0, c, 1][j] ** n)
    assert sp.simplify(p * vander - sp.eye(3)) == sp.zeros(3, 3)
    with pytest.raises(ValueError, match="distinct"):
        interpolation_matrix_symbolic([0, sp.Rational(1, 2), sp.Rational(1, 2)])


def test_bad_arguments():
    with pytest.raises(TypeError, match="spec"):
        scheme_coefficients("seeds1", "data")
    with pytest.raises(ValueError, match="form"):
        scheme_coefficients(seeds1_spec(), "velocity")
    with pytest.raises(TypeError, match="fraction"):
        stage_weights_by_integration("data", "half", (0,))
