"""φ-functions of exponential integrators, derived and checked symbolically (MATH §5).

Definition (MATH §5): φ_0(z) = e^z and φ_{k+1}(z) = (φ_k(z) − 1/k!)/z. Unrolling the recurrence
gives the closed form

    φ_k(z) = (e^z − Σ_{j<k} z^j/j!) / z^k,

which :func:`phi_symbolic` derives by running the recurrence in sympy and then normalises to
exactly this shape. The check functions below prove, for a given k, the other characterisations
MATH §5 uses: the integral form, the value at 0 and the Taylor series.
"""

from __future__ import annotations

import functools

import sympy as sp

from .algebra import assert_zero, require
from .symbols import tau, z

__all__ = [
    "z",
    "phi_symbolic",
    "phi_taylor_coefficient",
    "phi_of",
    "check_phi_recurrence",
    "check_phi_integral_form",
    "check_phi_at_zero",
    "check_phi_taylor",
    "check_phi_all",
]


def _check_k(k, lowest: int = 0) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < lowest:
        raise ValueError(f"k must be >= {lowest}, got {k}")
    return k


@functools.cache
def phi_symbolic(k: int) -> sp.Expr:
    """Closed form of φ_k(z) in the symbol :data:`z` (MATH §5).

    φ_k(z) = (e^z − Σ_{j<k} z^j/j!)/z^k, obtained by running φ_{j+1} = (φ_j − 1/j!)/z from
    φ_0 = e^z; the returned expression is the derived one, brought onto a single fraction.
    """
    _check_k(k)
    expr = sp.exp(z)
    for j in range(k):
        expr = sp.together((expr - sp.Rational(1, sp.factorial(j))) / z)
    # The recurrence's output is (e^z − P(z))/z^k up to a common factor; put it in that shape.
    numerator, denominator = sp.fraction(expr)
    scale = sp.Poly(denominator, z).LC()
    closed = sp.expand(numerator / scale) / sp.expand(denominator / scale)
    expected = (sp.exp(z) - sum(z**j / sp.factorial(j) for j in range(k))) / z**k
    assert_zero(closed - expected, f"closed form of phi_{k}")
    return closed


def phi_of(k: int, argument: sp.Expr) -> sp.Expr:
    """φ_k evaluated at a sympy expression (closed form of :func:`phi_symbolic` with z ↦ argument)."""
    return phi_symbolic(k).xreplace({z: sp.sympify(argument)})


def phi_taylor_coefficient(k: int, n: int) -> sp.Rational:
    """Coefficient of zⁿ in the Taylor series of φ_k at 0: 1/(n+k)! (MATH §5, checked below)."""
    _check_k(k)
    _check_k(n)
    return sp.Rational(1, sp.factorial(n + k))


@functools.cache
def check_phi_recurrence(k: int) -> bool:
    """Prove φ_{k+1}(z) = (φ_k(z) − 1/k!)/z for the closed forms (MATH §5); True or raise."""
    _check_k(k)
    return assert_zero(phi_symbolic(k + 1) - (phi_symbolic(k) - sp.Rational(1, sp.factorial(k))) / z,
                       f"recurrence phi_{k + 1}")


@functools.cache
def check_phi_integral_form(k: int) -> bool:
    """Prove φ_k(z) = ∫_0^1 e^{(1−τ)z} τ^{k−1}/(k−1)! dτ for k ≥ 1 (MATH §5); True or raise.

    sympy evaluates the integral for z ≠ 0 (the z = 0 value is covered by
    :func:`check_phi_at_zero`, both sides being continuous).
    """
    _check_k(k, 1)
    z_nonzero = sp.Symbol("z_nonzero", nonzero=True)
    integral = sp.integrate(sp.exp((1 - tau) * z_nonzero) * tau ** (k - 1) / sp.factorial(k - 1), (tau, 0, 1))
    return assert_zero(integral - phi_of(k, z_nonzero), f"integral form of phi_{k}")


@functools.cache
def check_phi_at_zero(k: int) -> bool:
    """Prove lim_{z→0} φ_k(z) = 1/k! (MATH §5); True or raise."""
    _check_k(k)
    value = sp.limit(phi_symbolic(k), z, 0)
    return require(value == sp.Rational(1, sp.factorial(k)), f"phi_{k}(0) = {value}, expected 1/{k}!")


@functools.cache
def check_phi_taylor(k: int, terms: int = 6) -> bool:
    """Prove φ_k(z) = Σ_{n<terms} zⁿ/(n+k)! + O(z^terms) (MATH §5); True or raise."""
    _check_k(k)
    _check_k(terms, 1)
    series = sp.series(phi_symbolic(k), z, 0, terms).removeO()
    expected = sum(phi_taylor_coefficient(k, n) * z**n for n in range(terms))
    return require(sp.expand(series - expected) == 0, f"Taylor series of phi_{k}: {series}")


def check_phi_all(max_k: int = 4) -> bool:
    """Run every φ check for k = 0..max_k (integral form from k = 1); True or raise."""
    _check_k(max_k)
    for k in range(max_k + 1):
        check_phi_recurrence(k)
        check_phi_at_zero(k)
        check_phi_taylor(k)
        if k >= 1:
            check_phi_integral_form(k)
    return True
