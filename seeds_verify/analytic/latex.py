"""LaTeX of the derived objects, for the report (rendered with matplotlib mathtext).

Every string is produced by ``sympy.latex`` from an object this package derives; mathtext
understands fractions, exponentials, square roots and sub/superscripts, which is all the
expressions below need (matrices are shown entry by entry).
"""

from __future__ import annotations

import functools

import sympy as sp

from .coefficients import scheme_coefficients
from .noise import noise_factor_symbolic, swapped_noise_factor_symbolic
from .phi import phi_symbolic
from .problems import gaussian_transition, s2
from .symbols import alpha_c, alpha_t, c, eta, h

__all__ = ["latex_summary", "BIG_H"]

#: H = (1+η)h, the data-form kernel argument of MATH §5/§6
BIG_H = sp.Symbol("H", positive=True)


def _in_big_h(expr: sp.Expr) -> sp.Expr:
    """Rewrite a data-form coefficient in H = (1+η)h (MATH §6 notation)."""
    expr = sp.simplify(expr.subs(alpha_c, alpha_t).subs(h, BIG_H / (1 + eta)))
    return sp.collect(sp.expand(expr), [alpha_t, 1 / c])


def _equation(lhs: str, expr: sp.Expr) -> str:
    return f"{lhs} = {sp.latex(expr)}"


@functools.cache
def latex_summary() -> tuple[tuple[str, str], ...]:
    """(title, LaTeX) pairs: φ_1..φ_3, SEEDS-2 end-point weights (2a, 2b; data form, symbolic c),
    MATH §7's factor for SEEDS-2 (data form), the swapped end-point entry and the Gaussian
    transition factor of MATH §8."""
    from seeds_verify.schemes import seeds2_spec

    items: list[tuple[str, str]] = []
    for k in (1, 2, 3):
        items.append((f"phi_{k} closed form (MATH §5)", _equation(rf"\varphi_{k}(z)", phi_symbolic(k))))
    for variant, label in (("phi_1", "2a"), ("phi_2", "2b")):
        end = scheme_coefficients(seeds2_spec(c, variant), "data").end
        w_s, w_u = (_in_big_h(w) for w in end.model_weights)
        items.append((f"SEEDS-2 ({label}) end-point weight of D_s, data form (MATH §6)", _equation("W_s", w_s)))
        items.append((f"SEEDS-2 ({label}) end-point weight of D_u, data form (MATH §6)", _equation("W_u", w_u)))
    factor = noise_factor_symbolic((c, 1), "data")
    for (i, j) in ((0, 0), (1, 0), (1, 1)):
        items.append((f"SEEDS-2 noise factor entry F_{i + 1}{j + 1}, data form (MATH §7)",
                      _equation(f"F_{{{i + 1}{j + 1}}}", factor[i, j])))
    swapped = swapped_noise_factor_symbolic(c, "data")
    items.append(("Swapped SEEDS-2 end-point entry (c and 1-c exchanged, MATH §7)",
                  _equation("F'_{21}", swapped[1, 0])))
    phi_closed, var_closed = gaussian_transition()
    readable = {s2: sp.Symbol("s^{2}", positive=True)}  # the variance, not a subscripted s
    phi_closed, var_closed = phi_closed.subs(readable), var_closed.subs(readable)
    items.append(("Gaussian reverse-SDE transition factor, alpha = 1 (MATH §8)", _equation(r"\Phi", phi_closed)))
    items.append(("Gaussian reverse-SDE transition variance, alpha = 1 (MATH §8)", _equation("V", var_closed)))
    return tuple(items)
