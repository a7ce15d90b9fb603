"""The sympy symbols shared by every derivation in ``seeds_verify.analytic`` (MATH §1).

Assumptions are the ones the mathematics needs and no more: step sizes, fractions, α and σ
are positive, η is non-negative (MATH §3: η ∈ [0, 1]). They let sympy drop the ``Piecewise``
branches for a zero rate (1 + η > 0 always) without hiding a genuine case distinction.
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "z", "tau", "h", "eta", "c", "c2", "c3", "lam", "lam_s", "lam_t", "lam_a", "lam_b", "u", "v",
    "alpha_s", "sigma_s", "alpha_c", "sigma_c", "alpha_t", "sigma_t", "x", "as_sympy",
]

#: argument of the φ-functions (MATH §5)
z = sp.Symbol("z")
#: integration variable of the integral form of φ_k
tau = sp.Symbol("tau", positive=True)
#: step size h = λ_t − λ_s > 0 (MATH §1)
h = sp.Symbol("h", positive=True)
#: stochasticity η ∈ [0, 1] (MATH §3)
eta = sp.Symbol("eta", nonnegative=True)
#: stage fractions: c for SEEDS-2, c2 < c3 for SEEDS-3 (MATH §6)
c = sp.Symbol("c", positive=True)
c2 = sp.Symbol("c_2", positive=True)
c3 = sp.Symbol("c_3", positive=True)
#: λ-time, the step's ends and a generic segment [λ_a, λ_b]
lam = sp.Symbol("lambda", real=True)
lam_s = sp.Symbol("lambda_s", real=True)
lam_t = sp.Symbol("lambda_t", real=True)
lam_a = sp.Symbol("lambda_a", real=True)
lam_b = sp.Symbol("lambda_b", real=True)
#: time since the start of the step, u = λ − λ_s ∈ [0, h], and its scaled form v = u/(c h)
u = sp.Symbol("u", nonnegative=True)
v = sp.Symbol("v", nonnegative=True)
#: schedule values at the step start s, at a stage point c and at the step end t
alpha_s = sp.Symbol("alpha_s", positive=True)
sigma_s = sp.Symbol("sigma_s", positive=True)
alpha_c = sp.Symbol("alpha_c", positive=True)
sigma_c = sp.Symbol("sigma_c", positive=True)
alpha_t = sp.Symbol("alpha_t", positive=True)
sigma_t = sp.Symbol("sigma_t", positive=True)
#: a state value
x = sp.Symbol("x", real=True)


def as_sympy(value, name: str) -> sp.Expr:
    """Convert a number, ``fractions.Fraction`` or sympy expression to sympy, exactly.

    Floats are converted to the exact binary fraction they hold (no rounding to "nice" values:
    a derivation must not silently change its input). Raises TypeError naming ``name`` for
    anything else (booleans, strings, arrays).
    """
    from fractions import Fraction
    from numbers import Integral, Real

    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number or sympy expression, got bool")
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, Integral):
        return sp.Integer(int(value))
    if isinstance(value, Real):
        return sp.Rational(float(value))
    raise TypeError(f"{name} must be a real number or sympy expression, got {type(value).__name__}")
