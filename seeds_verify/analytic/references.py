"""Printed forms the derived coefficients must reproduce (MATH §6 and the η = 0 literature).

Two kinds of reference, each a list of stages ``(linear factor, {node: model weight})`` in the
symbols of :mod:`seeds_verify.analytic.symbols` (``alpha_c``/``sigma_c`` denote α, σ at the
stage's own point, α_t/σ_t at the end point):

* :func:`math6_printed` — the data-form SEEDS formulas as printed in MATH §6 (H = (1+η)h,
  H_c = (1+η)ch);
* :func:`dpm_solver_printed` / :func:`dpm_solver_pp_printed` — the deterministic exponential
  integrators of Lu et al. (2022), "DPM-Solver" (noise prediction, Algorithms 1–2: DPM-Solver-1,
  -2 with stage fraction r, -3 with r_1, r_2) and Lu et al. (2022), "DPM-Solver++" (data
  prediction: first order, the two-stage "2S" form with r, and the third-order single-step
  form obtained from the same Taylor expansion). They are typed from the published
  equations, e.g. DPM-Solver-1: x_t = (α_t/α_s) x_s − σ_t(e^h − 1) ε̂_s and DPM-Solver++ first
  order: x_t = (σ_t/σ_s) x_s − α_t(e^{−h} − 1) D_s.

:func:`check_math6` and :func:`check_eta0_reductions` prove that
:func:`seeds_verify.analytic.coefficients.scheme_coefficients` reproduces them: SEEDS in the noise
form at η = 0 is DPM-Solver-1/2/3 (SEEDS-1, SEEDS-2 "phi_1", SEEDS-3 "3a"), in the data form
the DPM-Solver++ counterparts.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import sympy as sp

from seeds_verify.schemes import seeds1_spec, seeds2_spec, seeds3_spec

from .algebra import assert_zero, require
from .coefficients import scheme_coefficients
from .phi import phi_of
from .symbols import alpha_c, alpha_s, c, c2, c3, eta, h, sigma_c, sigma_s

__all__ = ["math6_printed", "dpm_solver_printed", "dpm_solver_pp_printed", "check_math6", "check_eta0_reductions",
           "reference_spec"]


def reference_spec(scheme: str, fractions=None):
    """The :class:`SchemeSpec` a reference name refers to, with symbolic fractions by default."""
    if scheme == "seeds1":
        return seeds1_spec()
    if scheme in ("seeds2_phi_1", "seeds2_phi_2"):
        (r,) = fractions or (c,)
        return seeds2_spec(r, scheme[len("seeds2_"):])
    if scheme in ("seeds3_3a", "seeds3_3b"):
        r1, r2 = fractions or (c2, c3)
        return seeds3_spec(r1, r2, scheme[len("seeds3_"):])
    raise ValueError(f"scheme must be one of seeds1, seeds2_phi_1, seeds2_phi_2, seeds3_3a, seeds3_3b, got {scheme!r}")


def _data_linear(frac):
    return (sigma_c / sigma_s) * sp.exp(-eta * frac * h)


def math6_printed(scheme: str) -> list[tuple[sp.Expr, dict]]:
    """MATH §6's data-form stages for ``scheme`` (3b: the printed numbers at c2 = 1/3, c3 = 2/3).

    SEEDS-1: α_t(1 − e^{−H}) D_s. SEEDS-2 stage: α_u(1 − e^{−H_c}) D_s; 2a end:
    α_t(1 − e^{−H})[(1 − 1/(2c)) D_s + D_u/(2c)]; 2b end: α_t[(1 − e^{−H}) D_s + (Hφ_2(−H)/c)(D_u − D_s)].
    SEEDS-3: u3 = … + α_3[(1 − e^{−H_3}) D_s + (c3/c2) H_3 φ_2(−H_3)(D_2 − D_s)]; 3a end:
    α_t[(1 − e^{−H}) D_s + (Hφ_2(−H)/c3)(D_3 − D_s)]; 3b end (c2 = 1/3, c3 = 2/3):
    α_t[(1 − e^{−H}) D_s + Hφ_2(−H)(−4.5 D_s + 6 D_2 − 1.5 D_3) + Hφ_3(−H)·9(D_s − 2D_2 + D_3)].
    """
    big_h = (1 + eta) * h

    def mass(frac):  # 1 − e^{−H_c}
        return 1 - sp.exp(-(1 + eta) * frac * h)

    phi2 = big_h * phi_of(2, -big_h)
    phi3 = big_h * phi_of(3, -big_h)
    if scheme == "seeds1":
        return [(_data_linear(1), {0: alpha_c * mass(1)})]
    if scheme == "seeds2_phi_1":
        return [(_data_linear(c), {0: alpha_c * mass(c)}),
                (_data_linear(1), {0: alpha_c * mass(1) * (1 - 1 / (2 * c)), 1: alpha_c * mass(1) / (2 * c)})]
    if scheme == "seeds2_phi_2":
        return [(_data_linear(c), {0: alpha_c * mass(c)}),
                (_data_linear(1), {0: alpha_c * (mass(1) - phi2 / c), 1: alpha_c * phi2 / c})]
    h3 = (1 + eta) * c3 * h
    stage3 = (_data_linear(c3), {0: alpha_c * (mass(c3) - (c3 / c2) * h3 * phi_of(2, -h3)),
                                 1: alpha_c * (c3 / c2) * h3 * phi_of(2, -h3)})
    if scheme == "seeds3_3a":
        return [(_data_linear(c2), {0: alpha_c * mass(c2)}), stage3,
                (_data_linear(1), {0: alpha_c * (mass(1) - phi2 / c3), 2: alpha_c * phi2 / c3})]
    if scheme == "seeds3_3b":
        third = sp.Rational(1, 3)
        stages = [(_data_linear(c2), {0: alpha_c * mass(c2)}), stage3,
                  (_data_linear(1), {0: alpha_c * (mass(1) - sp.Rational(9, 2) * phi2 + 9 * phi3),
                                     1: alpha_c * (6 * phi2 - 18 * phi3),
                                     2: alpha_c * (-sp.Rational(3, 2) * phi2 + 9 * phi3)})]
        return [(lin.subs({c2: third, c3: 2 * third}), {k: w.subs({c2: third, c3: 2 * third}) for k, w in ws.items()})
                for lin, ws in stages]
    raise ValueError(f"scheme must be one of seeds1, seeds2_phi_1, seeds2_phi_2, seeds3_3a, seeds3_3b, got {scheme!r}")


def dpm_solver_printed(order: int) -> list[tuple[sp.Expr, dict]]:
    """DPM-Solver-1/2/3 (noise prediction, η = 0), stage fractions r = c (2), r_1 = c2, r_2 = c3 (3).

    1: x_t = (α_t/α_s) x_s − σ_t(e^h − 1) ε̂_s.
    2: u = (α_u/α_s) x_s − σ_u(e^{rh} − 1) ε̂_s;
       x_t = (α_t/α_s) x_s − σ_t(e^h − 1) ε̂_s − (σ_t/(2r))(e^h − 1)(ε̂_u − ε̂_s).
    3: u_1 = (α_1/α_s) x_s − σ_1(e^{r_1 h} − 1) ε̂_s;
       u_2 = (α_2/α_s) x_s − σ_2(e^{r_2 h} − 1) ε̂_s − σ_2 (r_2/r_1)((e^{r_2 h} − 1)/(r_2 h) − 1)(ε̂_1 − ε̂_s);
       x_t = (α_t/α_s) x_s − σ_t(e^h − 1) ε̂_s − (σ_t/r_2)((e^h − 1)/h − 1)(ε̂_2 − ε̂_s).
    """
    lin = alpha_c / alpha_s
    first = {0: -sigma_c * (sp.exp(h) - 1)}
    if order == 1:
        return [(lin, first)]
    if order == 2:
        return [(lin, {0: -sigma_c * (sp.exp(c * h) - 1)}),
                (lin, {0: -sigma_c * (sp.exp(h) - 1) + sigma_c / (2 * c) * (sp.exp(h) - 1),
                       1: -sigma_c / (2 * c) * (sp.exp(h) - 1)})]
    if order == 3:
        g2 = (c3 / c2) * ((sp.exp(c3 * h) - 1) / (c3 * h) - 1)
        g3 = ((sp.exp(h) - 1) / h - 1) / c3
        return [(lin, {0: -sigma_c * (sp.exp(c2 * h) - 1)}),
                (lin, {0: -sigma_c * (sp.exp(c3 * h) - 1) + sigma_c * g2, 1: -sigma_c * g2}),
                (lin, {0: -sigma_c * (sp.exp(h) - 1) + sigma_c * g3, 2: -sigma_c * g3})]
    raise ValueError(f"order must be 1, 2 or 3, got {order!r}")


def dpm_solver_pp_printed(order: int) -> list[tuple[sp.Expr, dict]]:
    """DPM-Solver++ counterparts (data prediction, η = 0).

    1: x_t = (σ_t/σ_s) x_s − α_t(e^{−h} − 1) D_s.
    2 (2S): u = (σ_u/σ_s) x_s − α_u(e^{−rh} − 1) D_s;
       x_t = (σ_t/σ_s) x_s − α_t(e^{−h} − 1)[(1 − 1/(2r)) D_s + D_u/(2r)].
    3: u_1 = (σ_1/σ_s) x_s − α_1(e^{−r_1 h} − 1) D_s;
       u_2 = (σ_2/σ_s) x_s − α_2(e^{−r_2 h} − 1) D_s + α_2 (r_2/r_1)((e^{−r_2 h} − 1)/(r_2 h) + 1)(D_1 − D_s);
       x_t = (σ_t/σ_s) x_s − α_t(e^{−h} − 1) D_s + (α_t/r_2)((e^{−h} − 1)/h + 1)(D_2 − D_s).
    """
    lin = sigma_c / sigma_s
    if order == 1:
        return [(lin, {0: -alpha_c * (sp.exp(-h) - 1)})]
    if order == 2:
        first = -alpha_c * (sp.exp(-h) - 1)
        return [(lin, {0: -alpha_c * (sp.exp(-c * h) - 1)}),
                (lin, {0: first * (1 - 1 / (2 * c)), 1: first / (2 * c)})]
    if order == 3:
        g2 = (c3 / c2) * ((sp.exp(-c3 * h) - 1) / (c3 * h) + 1)
        g3 = ((sp.exp(-h) - 1) / h + 1) / c3
        return [(lin, {0: -alpha_c * (sp.exp(-c2 * h) - 1)}),
                (lin, {0: -alpha_c * (sp.exp(-c3 * h) - 1) - alpha_c * g2, 1: alpha_c * g2}),
                (lin, {0: -alpha_c * (sp.exp(-h) - 1) - alpha_c * g3, 2: alpha_c * g3})]
    raise ValueError(f"order must be 1, 2 or 3, got {order!r}")


def _compare(derived, printed, what: str, at: dict | None = None) -> bool:
    at = at or {}
    require(len(derived.stages) == len(printed), f"{what}: {len(derived.stages)} stages vs {len(printed)} printed")
    for i, (stage, (lin, weights)) in enumerate(zip(derived.stages, printed)):
        assert_zero(stage.linear_factor.subs(at) - lin.subs(at), f"{what} stage {i + 1} linear factor")
        by_node = dict(zip(stage.nodes, stage.model_weights))
        require(set(weights) <= set(by_node) and all(k in weights or by_node[k] == 0 for k in by_node),
                f"{what} stage {i + 1}: nodes {sorted(by_node)} vs printed {sorted(weights)}")
        for node, printed_weight in weights.items():
            assert_zero(by_node[node].subs(at) - printed_weight.subs(at), f"{what} stage {i + 1} weight of node {node}")
    return True


@functools.cache
def check_math6() -> bool:
    """Prove the derived data-form coefficients equal MATH §6 (symbolic c, c2, c3, η); True or raise.

    3b is compared at c2 = 1/3, c3 = 2/3, the only fractions MATH §6 prints numbers for.
    """
    for scheme in ("seeds1", "seeds2_phi_1", "seeds2_phi_2", "seeds3_3a"):
        _compare(scheme_coefficients(reference_spec(scheme), "data"), math6_printed(scheme), f"MATH §6 {scheme}")
    third = Fraction(1, 3)
    derived = scheme_coefficients(reference_spec("seeds3_3b", (third, 2 * third)), "data")
    _compare(derived, math6_printed("seeds3_3b"), "MATH §6 seeds3_3b")
    return True


@functools.cache
def check_eta0_reductions() -> bool:
    """Prove SEEDS at η = 0 is DPM-Solver (noise form) and DPM-Solver++ (data form); True or raise.

    seeds1 ↔ order 1, seeds2_phi_1 (fraction r) ↔ DPM-Solver-2 / DPM-Solver++(2S),
    seeds3_3a (r_1, r_2) ↔ DPM-Solver-3 / its data-prediction counterpart; symbolic fractions.
    """
    at = {eta: 0}
    for order, scheme in ((1, "seeds1"), (2, "seeds2_phi_1"), (3, "seeds3_3a")):
        spec = reference_spec(scheme)
        _compare(scheme_coefficients(spec, "noise"), dpm_solver_printed(order), f"DPM-Solver-{order}", at)
        _compare(scheme_coefficients(spec, "data"), dpm_solver_pp_printed(order), f"DPM-Solver++ order {order}", at)
    return True
