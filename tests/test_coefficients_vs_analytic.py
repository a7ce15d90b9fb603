"""The float64 coefficients of ``seeds_verify.coefficients`` equal the sympy derivations.

Reference values: the symbolic closed forms of ``seeds_verify.analytic`` at the *exact* float
inputs (mpmath reads a float exactly), evaluated in mpmath at 80 and 160 digits and required
to agree to 50 digits — so the cancellation in closed forms like (e^z − 1 − z)/z² is paid for
with precision, and a shortfall would be detected rather than trusted.

Tolerances (eps = 2^-52), each a few ulp times the condition number of what is compared:

* φ_k(z): the input z is exact, so the condition number is 1; the module documents ≤ 4 ulp,
  plus ½ ulp for rounding the reference: bound 4.5 ulp of |φ_k(z)| (φ_k > 0 on the reals).
* ω_j = c h Σ_n μ_n(κch) P_nj: every μ_n is good to a few ulp and P = V⁻¹ is computed by a
  backward-stable inversion, so |P̂ − P| ≲ eps·cond_∞(V)·|P| entrywise up to a small factor;
  the sum may cancel (the 3b parabola's weights do so at leading order for small h), so the
  error is bounded relative to S_j = c h Σ_n |μ_n| |P_nj| (the size of the terms, which is of
  the order of the scale c h |A_c|/|A_c| of the brief), not to |ω_j|:
  |ω̂_j − ω_j| ≤ 8 eps cond_∞(V) S_j.
* linear factor (σ_c/σ_s)e^{−ηch} and the noise factor entries
  sqrt(2ηΔh φ_1(−2kΔh)) e^{−k(c_i−c_j)h}: products of ≤ 4 correctly rounded operations and
  one exponential whose argument carries a relative error ≤ 2 eps, i.e. an absolute error
  ≤ 2 eps·|argument| in the exponent: bound (8 + 2|argument|) ulp.
"""

from __future__ import annotations

import functools
import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from seeds_verify import coefficients as C
from seeds_verify.analytic import (
    exact_step,
    interpolation_matrix_symbolic,
    kernel_moment_symbolic,
    linear_factor_symbolic,
    noise_factor_symbolic,
    phi_symbolic,
    stage_kernel,
    stage_weights_by_integration,
)
from seeds_verify.analytic.symbols import alpha_c, alpha_s, c, c2, c3, eta, h, sigma_c, sigma_s, z

EPS = float(np.finfo(np.float64).eps)
DIGITS = 50

steps = st.floats(1e-6, 3.0, allow_nan=False, allow_infinity=False)
fracs = st.floats(0.05, 0.95, allow_nan=False, allow_infinity=False)
# η = 0 or η ≥ 1e-20: the 80-digit reference of 1 − e^{−2ηh} keeps 80 + log10(2ηh) digits, which
# must stay above the 50 it certifies (at η ~ 1e-308 it would return 0 for a nonzero factor).
etas = st.one_of(st.just(0.0), st.floats(1e-20, 1.0, allow_nan=False, allow_infinity=False))
forms = st.sampled_from(["data", "noise"])


def exact(value: float) -> sp.Rational:
    return sp.Rational(value)


@functools.lru_cache(maxsize=None)
def _mp_function(expr: sp.Expr, symbols: tuple):
    return sp.lambdify(symbols, expr, modules="mpmath")


def reference(expr: sp.Expr, values: dict) -> float:
    """``expr`` at the exact rationals held by the float ``values``, to 50 certain digits.

    Evaluated in mpmath at 80 and at 160 digits; the two must agree to 50 digits (the
    closed forms lose at most ~20 digits to cancellation for h ≥ 1e-6, and the second
    evaluation proves the first kept enough).
    """
    expr = sp.sympify(expr)
    symbols = tuple(sorted(expr.free_symbols, key=str))
    missing = [s for s in symbols if s not in values]
    if missing:
        raise KeyError(f"no value for {missing}")
    fn = _mp_function(expr, symbols)
    results = []
    for dps in (80, 160):
        with mp.workdps(dps):
            results.append(fn(*[mp.mpf(values[s]) for s in symbols]))
    low, high = results
    with mp.workdps(160):
        if high == 0:
            assert low == 0
            return 0.0
        assert abs(low - high) <= mp.mpf(10) ** (-DIGITS) * abs(high), (expr, values)
        return float(high)


def ulps(got: float, ref: float) -> float:
    return abs(got - ref) / (EPS * abs(ref)) if ref != 0 else (0.0 if got == 0 else math.inf)


# --------------------------------------------------------------------------------------------
# φ-functions
# --------------------------------------------------------------------------------------------


def phi_reference(k: int, zv: float) -> float:
    if abs(zv) < 1e-12:
        # The closed form's Taylor series (proven by check_phi_taylor): 8 terms leave < 1e-96.
        return float(sum(sp.Rational(1, sp.factorial(n + k)) * exact(zv) ** n for n in range(8)))
    return reference(phi_symbolic(k), {z: zv})


@settings(deadline=None, max_examples=40, derandomize=True)
@given(k=st.integers(0, 4), zv=st.floats(-60.0, 60.0, allow_nan=False))
def test_phi_matches_closed_form(k, zv):
    ref = phi_reference(k, zv)
    got = C.phi(k, zv)
    assert ulps(got, ref) <= 4.5, (k, zv, got, ref)


@settings(deadline=None, max_examples=20, derandomize=True)
@given(zv=st.floats(-30.0, 30.0, allow_nan=False), n=st.integers(0, 3))
def test_kernel_moments_match(zv, n):
    got = C.kernel_moments(zv, n)
    for j in range(n + 1):
        ref = float(math.factorial(j)) * phi_reference(j + 1, zv)
        assert ulps(float(got[j]), ref) <= 4.5 + 1.0  # one more rounding: the factor j!


# --------------------------------------------------------------------------------------------
# Model weights (MATH §6)
# --------------------------------------------------------------------------------------------

#: stage configurations of the schemes: (stage fraction, node fractions, averaged)
STAGES = {
    "seeds2 stage": (c, (0,), False),
    "seeds2 end 2a": (1, (0, c), True),
    "seeds2 end 2b": (1, (0, c), False),
    "seeds3 stage 2": (c3, (0, c2), False),
    "seeds3 end 3a": (1, (0, c3), False),
    "seeds3 end 3b": (1, (0, c2, c3), False),
}


@functools.cache
def symbolic_weights(name: str, form: str):
    frac, nodes, averaged = STAGES[name]
    return stage_weights_by_integration(form, frac, nodes, averaged)


def check_stage_weights(name, form, hv, cv, ev, c2v=0.3, c3v=0.7):
    frac, nodes, averaged = STAGES[name]
    values = {h: hv, eta: ev, c: cv, c2: c2v, c3: c3v}
    point = {k: exact(v) for k, v in values.items()}
    frac_v = float(sp.sympify(frac).subs(point))
    node_v = [float(sp.sympify(n).subs(point)) for n in nodes]
    got = C.stage_kernel_weights(frac_v, hv, ev, form, node_v, averaged)
    want = [reference(w, values) for w in symbolic_weights(name, form)]
    # condition: S_j = c h Σ_n |μ_n(κch)| |P_nj| and cond_∞ of the Vandermonde matrix
    _, rate = stage_kernel(form)
    p = interpolation_matrix_symbolic([exact(n) / exact(frac_v) for n in node_v])
    arg = (rate * exact(frac_v) * exact(hv)).subs(eta, exact(ev))
    mus = [abs(float(kernel_moment_symbolic(n, arg).evalf(30))) for n in range(len(node_v))]
    cond = np.linalg.cond(np.vander(np.array(node_v) / frac_v, increasing=True), np.inf)
    for j in range(len(node_v)):
        size = frac_v * hv * sum(mus[n] * abs(float(p[n, j])) for n in range(len(node_v)))
        assert abs(got[j] - want[j]) <= 8 * EPS * cond * size, (name, form, j, got[j], want[j])


@settings(deadline=None, max_examples=12, derandomize=True)
@given(name=st.sampled_from(sorted(STAGES)), form=forms, hv=steps, cv=fracs, ev=etas,
       c2v=st.floats(0.05, 0.6), gap=st.floats(0.05, 0.35))
def test_stage_kernel_weights_match(name, form, hv, cv, ev, c2v, gap):
    check_stage_weights(name, form, hv, cv, ev, c2v, min(c2v + gap, 0.95))


def test_stage_kernel_weights_vectorised_in_h():
    hs = np.array([1e-5, 0.1, 2.0])
    rows = C.stage_kernel_weights(1.0, hs, 0.7, "data", [0.0, 0.4], False)
    for i, hv in enumerate(hs):
        want = [reference(w, {h: float(hv), eta: 0.7, c: 0.4}) for w in symbolic_weights("seeds2 end 2b", "data")]
        np.testing.assert_allclose(rows[i], want, rtol=64 * EPS)


@pytest.mark.parametrize("form", ["data", "noise"])
def test_scale_rate_and_weight_exponent_match(form):
    scale, rate = stage_kernel(form)
    for ev in (0.0, 0.3, 1.0):
        assert C.kernel_rate(form, ev) == pytest.approx(float(rate.subs(eta, ev)), rel=EPS)
        assert C.weight_exponent(form, ev) == pytest.approx(float(exact_step(form).weight_exponent.subs(eta, ev)), rel=EPS)
        sym = float(scale.subs({eta: ev, alpha_c: sp.Rational(3, 4), sigma_c: sp.Rational(1, 2)}))
        assert C.model_scale(form, 0.75, 0.5, ev) == pytest.approx(sym, rel=2 * EPS)


@settings(deadline=None, max_examples=25, derandomize=True)
@given(form=forms, cv=fracs, hv=steps, ev=etas,
       schedule=st.tuples(*[st.floats(0.01, 10.0) for _ in range(4)]))
def test_linear_factor_matches(form, cv, hv, ev, schedule):
    a_s, s_s, a_c, s_c = schedule
    ch = cv * hv
    sym = linear_factor_symbolic(form, c)
    # the numeric function receives c·h already rounded; evaluate the symbol at that value
    ch_sym = sp.Symbol("ch", positive=True)
    ref = reference(sym.subs(c * h, ch_sym), {ch_sym: ch, eta: ev, alpha_s: a_s, sigma_s: s_s, alpha_c: a_c, sigma_c: s_c})
    got = float(C.linear_factor(form, a_s, s_s, a_c, s_c, ev, ch))
    assert ulps(got, ref) <= 8 + 2 * ev * ch


# --------------------------------------------------------------------------------------------
# Noise factor (MATH §7)
# --------------------------------------------------------------------------------------------


@functools.cache
def symbolic_factor(kind: str, form: str):
    return noise_factor_symbolic((c, 1) if kind == "seeds2" else (c2, c3, 1), form)


def check_noise_factor(kind, form, hv, ev, cv, c2v=0.3, c3v=0.7):
    fractions = [cv, 1.0] if kind == "seeds2" else [c2v, c3v, 1.0]
    got = C.noise_factor(fractions, hv, ev, form)
    sym = symbolic_factor(kind, form)
    values = {h: hv, eta: ev, c: cv, c2: c2v, c3: c3v}
    k = abs(C.weight_exponent(form, ev))
    for i in range(len(fractions)):
        for j in range(len(fractions)):
            if j > i:
                assert got[i, j] == 0.0
                continue
            ref = reference(sym[i, j], values)
            if ref == 0.0:  # η = 0: no noise
                assert got[i, j] == 0.0
                continue
            argument = 2 * k * hv * (fractions[i] - (fractions[j - 1] if j else 0.0))
            assert ulps(float(got[i, j]), ref) <= 8 + 2 * argument, (kind, form, i, j, got[i, j], ref)


@settings(deadline=None, max_examples=25, derandomize=True)
@given(kind=st.sampled_from(["seeds2", "seeds3"]), form=forms, hv=steps, ev=etas, cv=fracs,
       c2v=st.floats(0.05, 0.6), gap=st.floats(0.05, 0.35))
def test_noise_factor_matches(kind, form, hv, ev, cv, c2v, gap):
    check_noise_factor(kind, form, hv, ev, cv, c2v, min(c2v + gap, 0.95))


# --------------------------------------------------------------------------------------------
# SEEDS-2 at r = 1 (the stage at the end point; interpolation nodes 0 and 1)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["data", "noise"])
@pytest.mark.parametrize("hv,ev", [(1e-6, 1.0), (0.05, 0.3), (0.7, 1.0), (3.0, 0.0)])
def test_seeds2_coefficients_at_r_one_match(form, hv, ev):
    """The symbolic SEEDS-2 coefficients at c = 1 against the float64 ones: the stage weight
    (a SEEDS-1 step), both end-point variants, and the noise factor, whose second column (the
    zero-length segment [λ_s + h, λ_t]) is exactly 0."""
    for name in ("seeds2 stage", "seeds2 end 2a", "seeds2 end 2b"):
        check_stage_weights(name, form, hv, 1.0, ev)
    check_noise_factor("seeds2", form, hv, ev, 1.0)
    got = C.noise_factor([1.0, 1.0], hv, ev, form)
    assert np.all(np.isfinite(got)) and got[0, 1] == got[1, 1] == 0.0
    assert got[1, 0] == got[0, 0]  # the end point sees the stage's whole increment
