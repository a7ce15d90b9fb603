"""Every SEEDS coefficient, derived for symbolic fractions and symbolic η (MATH §4–§7).

The derivation rule of MATH §6: at a stage point λ_s + c h, keep the exact linear factor of
MATH §4, replace the model output F (D in the data form, ε̂ in the noise form) by its
polynomial interpolant through the stage's nodes, and integrate that interpolant against the
exact model kernel. With u = λ − λ_s the kernel of :func:`seeds_verify.analytic.exact.exact_step`
restricted to the stage is

    K_c(u) = A_c e^{κ(c h − u)},   data: A_c = (1+η) α_c, κ = −(1+η);
                                   noise: A_c = −(1+η) σ_c, κ = +1,

(both read off the derived kernel, see :func:`stage_kernel`). For the Lagrange basis ℓ_j of the
nodes u_j = c_j h the model term is Σ_j (∫_0^{ch} K_c ℓ_j du) F_j; sympy integrates the
monomials ∫_0^{ch} e^{κ(ch−u)} uⁿ du, so each *model weight* A_c ω_j is a closed form in
h, η, the fractions and α_c or σ_c. The "phi_1" (2a) variant averages the kernel:
(∫_0^{ch} K_c du)·(1/(ch))∫_0^{ch} ℓ_j du.

Equivalently (MATH §5), with v = u/(ch), the monomial coefficients p = P·F of the interpolant
(P the inverse Vandermonde matrix of v_j = c_j/c) and the kernel moments
μ_n(z) = ∫_0^1 e^{z(1−v)} vⁿ dv = n! φ_{n+1}(z):

    ω_j = c h Σ_n μ_n(κ c h) P_nj          (averaged: μ_n → μ_0/(n+1)).

:func:`check_moment_form` proves the two agree; :mod:`seeds_verify.coefficients` evaluates the
moment form in float64 and :mod:`seeds_verify.analytic.orders` expands it in h.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Sequence

import sympy as sp

from .algebra import assert_zero, require
from .exact import _check_form, alpha, exact_step
from .noise import noise_factor_symbolic
from .phi import phi_of
from .symbols import alpha_c, alpha_s, as_sympy, eta, h, lam, lam_s, lam_t, sigma_c, sigma_s, u

__all__ = [
    "StageCoefficients",
    "SchemeCoefficients",
    "stage_kernel",
    "linear_factor_symbolic",
    "interpolation_matrix_symbolic",
    "kernel_moment_symbolic",
    "stage_weights_by_integration",
    "stage_weights_by_moments",
    "scheme_coefficients",
    "check_moment_form",
    "check_math5_kernel_identity",
]


# Relations of MATH §1 at the two points of a stage: σ = α e^{−λ}.
def _to_symbols(expr: sp.Expr, frac: sp.Expr) -> sp.Expr:
    point = lam_s + frac * h
    return expr.subs({alpha(point): alpha_c, alpha(lam_s): alpha_s})


@functools.cache
def stage_kernel(form: str) -> tuple[sp.Expr, sp.Expr]:
    """(A_c, κ) of the model kernel K_c(u) = A_c e^{κ(c h − u)} at a stage (MATH §4, §6).

    Read off the derived exact kernel with λ_t → λ_s + c h, λ → λ_s + u:
    data (1+η)α_c, −(1+η); noise −(1+η)σ_c, +1 (α_c e^{−λ_c} = σ_c).
    """
    _check_form(form)
    frac = sp.Symbol("c_stage", positive=True)
    point = lam_s + frac * h
    kernel = exact_step(form).model_kernel.subs({lam_t: point, lam: lam_s + u})
    kernel = _to_symbols(kernel, frac)
    scale = sp.simplify(kernel.subs(u, frac * h))
    rate = sp.simplify(-sp.diff(sp.log(kernel), u))
    require(rate.free_symbols <= {eta}, f"kernel rate must be constant, got {rate}")
    assert_zero(kernel - scale * sp.exp(rate * (frac * h - u)), f"{form} kernel shape")
    if form == "noise":
        # α_c e^{−(λ_s + c h)} = σ_c (MATH §1)
        scale = sp.simplify(scale.subs(alpha_c, sigma_c * sp.exp(point)))
        require(scale.free_symbols <= {eta, sigma_c}, f"noise-form scale must be in σ_c, got {scale}")
    return scale, rate


def linear_factor_symbolic(form: str, fraction: Any) -> sp.Expr:
    """Linear factor from λ_s to λ_s + c h (MATH §4, §6): data (σ_c/σ_s) e^{−ηch}; noise α_c/α_s.

    Derived from :func:`exact_step` and rewritten with σ = α e^{−λ}; the equality is checked.
    """
    _check_form(form)
    frac = as_sympy(fraction, "fraction")
    point = lam_s + frac * h
    derived = _to_symbols(exact_step(form).linear_factor.subs(lam_t, point), frac)
    if form == "data":
        printed = (sigma_c / sigma_s) * sp.exp(-eta * frac * h)
        in_alpha = printed.subs({sigma_c: alpha_c * sp.exp(-point), sigma_s: alpha_s * sp.exp(-lam_s)})
    else:
        printed = alpha_c / alpha_s
        in_alpha = printed
    assert_zero(derived - in_alpha, f"{form} linear factor")
    return printed


def interpolation_matrix_symbolic(node_positions: Sequence[Any]) -> sp.Matrix:
    """P = V⁻¹ for the Vandermonde matrix V_{jn} = v_jⁿ: monomial coefficients p = P·values."""
    positions = [as_sympy(p, "node_positions") for p in node_positions]
    if not positions:
        raise ValueError("node_positions must be non-empty")
    vander = sp.Matrix(len(positions), len(positions), lambda j, n: positions[j] ** n)
    if sp.simplify(vander.det()) == 0:
        raise ValueError(f"node_positions must be distinct, got {positions}")
    return sp.simplify(vander.inv())


def kernel_moment_symbolic(n: int, argument: sp.Expr) -> sp.Expr:
    """μ_n(z) = ∫_0^1 e^{z(1−v)} vⁿ dv = n! φ_{n+1}(z) at ``argument`` (MATH §5)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    return sp.factorial(n) * phi_of(n + 1, argument)


@functools.cache
def _monomial_integral(n: int) -> tuple[sp.Expr, sp.Symbol, sp.Symbol]:
    """∫_0^X e^{κ(X−u)} uⁿ du for symbols X > 0, κ ≠ 0."""
    big_x = sp.Symbol("X", positive=True)
    rate = sp.Symbol("kappa", nonzero=True)
    value = sp.integrate(sp.exp(rate * (big_x - u)) * u**n, (u, 0, big_x), conds="none")
    return sp.simplify(value), big_x, rate


def _node_fractions(fraction: sp.Expr, node_fractions: Sequence[Any]) -> tuple:
    nodes = tuple(as_sympy(f, "node_fractions") for f in node_fractions)
    if not nodes:
        raise ValueError("node_fractions must be non-empty")
    return nodes


def stage_weights_by_integration(form: str, fraction: Any, node_fractions: Sequence[Any],
                                 averaged: bool = False) -> tuple[sp.Expr, ...]:
    """ω_j with model term A_c Σ_j ω_j F_j, by integrating the interpolant (MATH §6 rule).

    ω_j = (1/A_c) ∫_0^{ch} K_c(u) ℓ_j(u) du, ℓ_j the Lagrange basis of the nodes u_j = c_j h;
    averaged: ω_j = (1/A_c)(∫_0^{ch} K_c du)(1/(ch))∫_0^{ch} ℓ_j du.
    """
    _check_form(form)
    frac = as_sympy(fraction, "fraction")
    nodes = _node_fractions(frac, node_fractions)
    _, rate = stage_kernel(form)
    ch = frac * h
    weights = []
    for j, node in enumerate(nodes):
        basis = sp.Integer(1)
        for l, other in enumerate(nodes):
            if l != j:
                basis *= (u - other * h) / ((node - other) * h)
        poly = sp.Poly(sp.expand(basis), u)
        if averaged:
            mass, big_x, kap = _monomial_integral(0)
            mass = mass.subs({big_x: ch, kap: rate})
            mean = sum(coef * ch**n / (n + 1) for (n,), coef in poly.terms())
            weights.append(mass * mean)
        else:
            total = sp.Integer(0)
            for (n,), coef in poly.terms():
                value, big_x, kap = _monomial_integral(n)
                total += coef * value.subs({big_x: ch, kap: rate})
            weights.append(total)
    return tuple(sp.simplify(w) for w in weights)


def stage_weights_by_moments(form: str, fraction: Any, node_fractions: Sequence[Any],
                             averaged: bool = False) -> tuple[sp.Expr, ...]:
    """ω_j = c h Σ_n μ_n(κ c h) P_nj with node positions v_j = c_j/c (MATH §5, §6).

    averaged: μ_n replaced by μ_0/(n+1). The closed forms of the φ's are used for μ_n.
    """
    _check_form(form)
    frac = as_sympy(fraction, "fraction")
    nodes = _node_fractions(frac, node_fractions)
    _, rate = stage_kernel(form)
    p = interpolation_matrix_symbolic([node / frac for node in nodes])
    argument = rate * frac * h
    moments = [kernel_moment_symbolic(n, argument) for n in range(len(nodes))]
    if averaged:
        moments = [moments[0] / (n + 1) for n in range(len(nodes))]
    return tuple(frac * h * sum(moments[n] * p[n, j] for n in range(len(nodes))) for j in range(len(nodes)))


def check_moment_form(form: str, fraction: Any, node_fractions: Sequence[Any], averaged: bool = False) -> bool:
    """Prove :func:`stage_weights_by_integration` = :func:`stage_weights_by_moments`; True or raise."""
    by_int = stage_weights_by_integration(form, fraction, node_fractions, averaged)
    by_mom = stage_weights_by_moments(form, fraction, node_fractions, averaged)
    for j, (a, b) in enumerate(zip(by_int, by_mom)):
        assert_zero(a - b, f"{form} weight {j}: integral vs moment form")
    return True


@functools.cache
def check_math5_kernel_identity(n: int) -> bool:
    """Prove (1+η)∫_0^{ch} e^{−(1+η)(ch−u)} (u/(ch))ⁿ du = n! H φ_{n+1}(−H), H = (1+η)ch (MATH §5)."""
    from .symbols import c as c_sym

    value, big_x, kap = _monomial_integral(n)
    ch = c_sym * h
    lhs = (1 + eta) * value.subs({big_x: ch, kap: -(1 + eta)}) / ch**n
    big_h = (1 + eta) * ch
    return assert_zero(lhs - sp.factorial(n) * big_h * phi_of(n + 1, -big_h), f"MATH §5 kernel identity n={n}")


@dataclass(frozen=True)
class StageCoefficients:
    """Coefficients of one stage x_c = L x_s + Σ_j W_j F_j + σ_c Σ_j R_j z_j (MATH §6, §7).

    Symbols: ``h``, ``eta``, the fractions, and ``alpha_s, sigma_s`` (step start) and
    ``alpha_c, sigma_c`` (this stage's own point; at the end point they are α_t, σ_t).

    Attributes:
        fraction: c of the stage point λ_s + c h.
        nodes: indices of the model evaluations used (0 = step start, i = stage i).
        node_fractions: their fractions (0 for the step start).
        averaged: the "phi_1" (2a) kernel averaging.
        linear_factor: L (data (σ_c/σ_s) e^{−ηch}, noise α_c/α_s).
        model_scale: A_c ((1+η)α_c data, −(1+η)σ_c noise).
        kernel_rate: κ (−(1+η) data, +1 noise).
        kernel_weights: ω_j (dimension of λ; model term = A_c Σ ω_j F_j).
        model_weights: W_j = A_c ω_j, the full coefficient of F_j.
        noise_row: R_j = F_ij of MATH §7 for the segments j up to this point.
    """

    fraction: sp.Expr
    nodes: tuple[int, ...]
    node_fractions: tuple
    averaged: bool
    linear_factor: sp.Expr
    model_scale: sp.Expr
    kernel_rate: sp.Expr
    kernel_weights: tuple
    model_weights: tuple
    noise_row: tuple


@dataclass(frozen=True)
class SchemeCoefficients:
    """All stages of a scheme in one parametrisation; ``noise_factor`` is MATH §7's matrix."""

    name: str
    form: str
    fractions: tuple
    stages: tuple[StageCoefficients, ...]
    noise_factor: sp.Matrix

    @property
    def end(self) -> StageCoefficients:
        """The end-point stage (fraction 1)."""
        return self.stages[-1]


def _spec_key(spec) -> tuple:
    from seeds_verify.schemes import SchemeSpec

    if not isinstance(spec, SchemeSpec):
        raise TypeError(f"spec must be a SchemeSpec, got {type(spec).__name__}")
    return spec.name, tuple((as_sympy(s.fraction, "fraction"), tuple(s.nodes), bool(s.averaged)) for s in spec.stages)


def scheme_coefficients(spec, form: str) -> SchemeCoefficients:
    """Derive every stage's linear factor, model weights and noise row for ``spec`` (MATH §6, §7).

    ``spec`` is a :class:`seeds_verify.schemes.SchemeSpec` (fractions may be sympy symbols),
    ``form`` is "data" or "noise". Model weights come from integrating the interpolant against
    the exact kernel (:func:`stage_weights_by_integration`), the noise rows from
    :func:`seeds_verify.analytic.noise.noise_factor_symbolic` over the spec's fractions.
    """
    _check_form(form)
    return _scheme_coefficients(_spec_key(spec), form)


@functools.cache
def _scheme_coefficients(key: tuple, form: str) -> SchemeCoefficients:
    name, stages = key
    fractions = tuple(frac for frac, _, _ in stages)
    if fractions[-1] != 1:
        raise ValueError(f"the last stage of {name} must be the end point (fraction 1), got {fractions[-1]}")
    factor = noise_factor_symbolic(fractions, form)
    scale, rate = stage_kernel(form)
    out = []
    for i, (frac, nodes, averaged) in enumerate(stages):
        if any(n > i for n in nodes):
            raise ValueError(f"stage {i + 1} of {name} uses a later evaluation: nodes {nodes}")
        node_fracs = tuple(sp.Integer(0) if n == 0 else fractions[n - 1] for n in nodes)
        omegas = stage_weights_by_integration(form, frac, node_fracs, averaged)
        out.append(StageCoefficients(
            fraction=frac,
            nodes=nodes,
            node_fractions=node_fracs,
            averaged=averaged,
            linear_factor=linear_factor_symbolic(form, frac),
            model_scale=scale,
            kernel_rate=rate,
            kernel_weights=omegas,
            model_weights=tuple(scale * w for w in omegas),
            noise_row=tuple(factor[i, j] for j in range(i + 1)),
        ))
    return SchemeCoefficients(name=name, form=form, fractions=fractions, stages=tuple(out), noise_factor=factor)
