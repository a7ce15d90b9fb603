"""Deciding symbolic identities: a zero test for exponential–rational expressions.

Every identity in this package is of the form "expression == 0" where the expression is a
rational function of polynomials and exponentials ``exp(p)`` of polynomials ``p`` in the
symbols. Write each exponent as Σ q_m·m over monomials m with rational q_m, introduce one new
symbol E_m = exp(m/L_m) per monomial (L_m the common denominator of its q's), and the
expression becomes a rational function of the symbols and the E's. Exponentials of
Q-linearly independent non-constant polynomials are algebraically independent over the field of
rational functions (a classical consequence of Ax's theorem / Lindemann–Weierstrass for function
fields), so the expression vanishes identically *iff* that rational function is zero — which
``sympy.together`` + ``expand`` of the numerator decides. :func:`is_identically_zero` is
therefore a decision procedure (not a heuristic) for the expressions we feed it; square roots
are handled by the callers (squares compared, signs argued).
"""

from __future__ import annotations

import math

import sympy as sp

__all__ = ["DerivationError", "require", "exp_to_atoms", "is_identically_zero", "assert_zero"]


class DerivationError(AssertionError):
    """A symbolic identity that should hold does not (the derivation or a formula is wrong)."""


def require(condition: bool, message: str) -> bool:
    """Return True if ``condition`` holds, else raise :class:`DerivationError` with ``message``."""
    if not condition:
        raise DerivationError(message)
    return True


def exp_to_atoms(expr: sp.Expr) -> sp.Expr:
    """Replace every ``exp(Σ q_m m)`` by ``Π E_m^{q_m L_m}`` with fresh positive symbols E_m."""
    expr = sp.sympify(expr)
    exps = expr.atoms(sp.exp)
    if not exps:
        return expr
    coeffs: dict[sp.Expr, list[sp.Rational]] = {}
    split: dict[sp.Expr, list[tuple[sp.Rational, sp.Expr]]] = {}
    for e in exps:
        terms = []
        for term in sp.Add.make_args(sp.expand(e.args[0])):
            q, mono = term.as_coeff_Mul()
            if not q.is_Rational:
                raise ValueError(f"exponent term {term} has a non-rational coefficient")
            terms.append((q, mono))
            coeffs.setdefault(mono, []).append(q)
        split[e] = terms
    atoms = {}
    for i, (mono, qs) in enumerate(sorted(coeffs.items(), key=lambda kv: sp.default_sort_key(kv[0]))):
        denom = math.lcm(*[int(q.q) for q in qs])
        atoms[mono] = (sp.Symbol(f"_E{i}", positive=True), denom)
    replacement = {}
    for e, terms in split.items():
        value = sp.Integer(1)
        for q, mono in terms:
            sym, denom = atoms[mono]
            value *= sym ** (q * denom)
        replacement[e] = value
    return expr.xreplace(replacement)


def is_identically_zero(expr: sp.Expr) -> bool:
    """Decide whether an exponential–rational expression vanishes identically (see module doc)."""
    rational = sp.together(exp_to_atoms(sp.sympify(expr)))
    numerator, _ = sp.fraction(rational)
    return sp.expand(numerator) == 0


def assert_zero(expr: sp.Expr, what: str) -> bool:
    """Return True if ``expr`` vanishes identically; raise :class:`DerivationError` naming ``what``."""
    return require(is_identically_zero(expr), f"{what}: difference does not vanish: {sp.simplify(expr)}")
