"""Exact solution of the λ-time reverse SDE by variation of constants (MATH §3, §4).

Start from a symbolic schedule α(λ) (a sympy ``Function``) and σ(λ) = α(λ) e^{−λ} (MATH §1:
λ = log(α/σ)). MATH §3 writes the reverse SDE in λ-time in two ways,

    data form:  dx = [ℓ_D(λ) x + (1+η) α D] dλ + σ sqrt(2η) dW,   ℓ_D = dlogα/dλ − 1 − η,
    noise form: dx = [ℓ_N(λ) x − (1+η) σ ε̂] dλ + σ sqrt(2η) dW,   ℓ_N = dlogα/dλ,

with ε̂ = (x − αD)/σ. For either, sympy solves the homogeneous linear ODE Φ' = ℓ Φ,
Φ(λ_s) = 1 (``dsolve``); variation of constants then gives

    x_t = Φ(λ_t) x_s + ∫ Φ(λ_t)/Φ(λ) · m(λ) F(λ) dλ + ∫ Φ(λ_t)/Φ(λ) · σ(λ) sqrt(2η) dW_λ,

so the pieces are: the *linear factor* Φ(λ_t)/Φ(λ_s), the *model kernel* Φ(λ_t)/Φ(λ)·m(λ)
(m = (1+η)α or −(1+η)σ), the *noise kernel* Φ(λ_t)/Φ(λ)·σ(λ)sqrt(2η) and, by Itô's isometry,
the *noise variance* over [λ_a, λ_b] seen at λ_b, ∫_{λ_a}^{λ_b} (noise kernel)² dλ.
:func:`check_exact_against_math4` compares them with the formulas printed in MATH §4.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from ..schemes import FORMS, check_form

from .algebra import assert_zero, require
from .symbols import eta, lam, lam_a, lam_b, lam_s, lam_t

__all__ = [
    "FORMS",
    "alpha",
    "sigma_of",
    "ExactStep",
    "sde_drift",
    "exact_step",
    "math4_exact_step",
    "check_forms_same_sde",
    "check_exact_against_math4",
    "check_exact_solves_sde",
    "check_lambda_time_sde",
]

#: the schedule's α as an undetermined function of λ
alpha = sp.Function("alpha", positive=True)


def sigma_of(at: sp.Expr) -> sp.Expr:
    """σ(λ) = α(λ) e^{−λ} (MATH §1, λ = log(α/σ))."""
    return alpha(at) * sp.exp(-at)


def _check_form(form: str) -> str:
    return check_form(form, "form")


def sde_drift(form: str, state: sp.Expr, model: sp.Expr, at: sp.Expr = lam) -> sp.Expr:
    """Drift of the λ-time SDE of MATH §3 in the given form, with model output ``model``.

    data:  (dlogα/dλ − 1 − η) x + (1+η) α D;   noise: (dlogα/dλ) x − (1+η) σ ε̂.
    """
    _check_form(form)
    dlog_alpha = sp.diff(sp.log(alpha(lam)), lam).subs(lam, at)
    if form == "data":
        return (dlog_alpha - 1 - eta) * state + (1 + eta) * alpha(at) * model
    return dlog_alpha * state - (1 + eta) * sigma_of(at) * model


@dataclass(frozen=True)
class ExactStep:
    """Variation-of-constants pieces of one exact step λ_s → λ_t (MATH §4).

    Attributes:
        form: "data" or "noise".
        integrating_factor: Φ(λ) with Φ' = ℓΦ, Φ(λ_s) = 1 (solved by sympy).
        linear_factor: Φ(λ_t)/Φ(λ_s), the coefficient of x_s.
        model_kernel: coefficient of F(λ) dλ in x_t (F = D or ε̂), a function of ``lam``.
        noise_kernel: coefficient of dW_λ in x_t, a function of ``lam``.
        noise_variance: Var of the noise over [λ_a, λ_b] seen at λ_b.
        weight_exponent: k with noise kernel ∝ e^{kλ} (η data, −1 noise; MATH §4).
    """

    form: str
    integrating_factor: sp.Expr
    linear_factor: sp.Expr
    model_kernel: sp.Expr
    noise_kernel: sp.Expr
    noise_variance: sp.Expr
    weight_exponent: sp.Expr


@functools.cache
def exact_step(form: str) -> ExactStep:
    """Derive the exact-solution pieces for ``form`` from the SDE of MATH §3 (see module doc)."""
    _check_form(form)
    phi_fn = sp.Function("Phi")
    rate = sde_drift(form, 1, 0)  # ℓ(λ): the drift's coefficient of x
    ode = sp.Eq(phi_fn(lam).diff(lam), rate * phi_fn(lam))
    solution = sp.dsolve(ode, phi_fn(lam), ics={phi_fn(lam_s): 1}).rhs
    require(sp.simplify(solution.diff(lam) - rate * solution) == 0, "integrating factor solves Φ' = ℓΦ")

    def transition(to, frm):
        return sp.powsimp(sp.expand(solution.subs(lam, to) / solution.subs(lam, frm)), combine="exp")

    model_coefficient = sde_drift(form, 0, 1)
    noise_coefficient = sigma_of(lam) * sp.sqrt(2 * eta)
    model_kernel = sp.powsimp(sp.expand(transition(lam_t, lam) * model_coefficient), combine="exp")
    noise_kernel = sp.powsimp(sp.expand(transition(lam_t, lam) * noise_coefficient), combine="exp")
    # Itô isometry over [λ_a, λ_b], seen at λ_b. sympy integrates for η > 0; both sides are
    # entire in η, so the η = 0 value follows by continuity.
    eta_pos = sp.Symbol("eta_pos", positive=True)
    squared = (noise_kernel.subs(lam_t, lam_b) ** 2).subs(eta, eta_pos)
    variance = sp.integrate(sp.expand(squared), (lam, lam_a, lam_b), conds="none").subs(eta_pos, eta)
    weight = sp.simplify(sp.diff(sp.log(noise_kernel), lam))
    return ExactStep(
        form=form,
        integrating_factor=solution,
        linear_factor=transition(lam_t, lam_s),
        model_kernel=model_kernel,
        noise_kernel=noise_kernel,
        noise_variance=sp.simplify(variance),
        weight_exponent=weight,
    )


def math4_exact_step(form: str) -> dict:
    """The pieces as printed in MATH §4 (typed from the page, to be checked against the derivation).

    data:  x_s-factor (σ_t/σ_s) e^{−ηh}; model kernel (1+η) α_t e^{−(1+η)(λ_t−λ)};
           noise kernel σ_t sqrt(2η) e^{−η(λ_t−λ)}; variance over [a, b]: σ_b² (1 − e^{−2η(b−a)}).
    noise: x_s-factor α_t/α_s; model kernel −(1+η) α_t e^{−λ}; noise kernel α_t sqrt(2η) e^{−λ};
           variance over [a, b]: η σ_b² (e^{2(b−a)} − 1).
    """
    _check_form(form)
    a_t, a_s = alpha(lam_t), alpha(lam_s)
    s_t, s_s, s_b = sigma_of(lam_t), sigma_of(lam_s), sigma_of(lam_b)
    h = lam_t - lam_s
    if form == "data":
        return {
            "linear_factor": (s_t / s_s) * sp.exp(-eta * h),
            "model_kernel": (1 + eta) * a_t * sp.exp(-(1 + eta) * (lam_t - lam)),
            "noise_kernel": s_t * sp.sqrt(2 * eta) * sp.exp(-eta * (lam_t - lam)),
            "noise_variance": s_b**2 * (1 - sp.exp(-2 * eta * (lam_b - lam_a))),
            "weight_exponent": eta,
        }
    return {
        "linear_factor": a_t / a_s,
        "model_kernel": -(1 + eta) * a_t * sp.exp(-lam),
        "noise_kernel": a_t * sp.sqrt(2 * eta) * sp.exp(-lam),
        "noise_variance": eta * s_b**2 * (sp.exp(2 * (lam_b - lam_a)) - 1),
        "weight_exponent": sp.Integer(-1),
    }


@functools.cache
def check_exact_against_math4(form: str) -> bool:
    """Prove every derived piece of :func:`exact_step` equals MATH §4's printed formula; True or raise."""
    derived = exact_step(form)
    for name, printed in math4_exact_step(form).items():
        assert_zero(getattr(derived, name) - printed, f"MATH §4 {form} form, {name}")
    return True


@functools.cache
def check_exact_solves_sde(form: str) -> bool:
    """Prove the variation-of-constants formula solves the SDE (MATH §4); True or raise.

    Write x(λ_t) = Φ(λ_t)[x_s + ∫_{λ_s}^{λ_t} Φ(λ)^{-1}(m F dλ + σ sqrt(2η) dW)]; by the product
    rule its differential is ℓ x dλ + m F dλ + σ sqrt(2η) dW exactly when Φ' = ℓΦ and the
    kernels are Φ(λ_t)/Φ(λ)·(m, σ sqrt(2η)) — which is what is checked here, piece by piece.
    """
    step = exact_step(form)
    phi_expr = step.integrating_factor
    rate = sde_drift(form, 1, 0)
    assert_zero(sp.diff(phi_expr, lam) - rate * phi_expr, f"{form}: Φ' = ℓΦ")
    ratio = phi_expr.subs(lam, lam_t) / phi_expr
    assert_zero(step.model_kernel - ratio * sde_drift(form, 0, 1), f"{form}: model kernel")
    assert_zero(step.noise_kernel - ratio * sigma_of(lam) * sp.sqrt(2 * eta), f"{form}: noise kernel")
    assert_zero(step.linear_factor - ratio.subs(lam, lam_s), f"{form}: linear factor")
    return True


@functools.cache
def check_forms_same_sde() -> bool:
    """Prove the data and noise forms are one SDE (MATH §3); True or raise.

    With ε̂ = (x − αD)/σ (MATH §2) the two drifts agree identically; the diffusion σ sqrt(2η) is
    common to both. Consequently the two exact solutions agree although their linear parts and
    kernels differ, and their stochastic integrals ∫e^{−η(λ_t−λ)}dW and ∫e^{−λ}dW are different
    random variables that combine with different linear parts (MATH §4).
    """
    state, denoised = sp.symbols("x D", real=True)
    eps_hat = (state - alpha(lam) * denoised) / sigma_of(lam)
    assert_zero(sde_drift("data", state, denoised) - sde_drift("noise", state, eps_hat), "data vs noise drift")
    return True


@functools.cache
def check_lambda_time_sde() -> bool:
    """Prove MATH §3's λ-time SDE follows from the t-time reverse SDE; True or raise.

    With α(t), σ(t), λ = log(α/σ): f = dlogα/dt, g² = dσ²/dt − 2fσ². Then g² = −2σ² dλ/dt, so
    −(1+η)/2·g²·∇log p dt = −(1+η) σ ε̂ dλ (∇log p = −ε̂/σ), f x dt = (dlogα/dλ) x dλ, and the
    noise variance η g² |dt| equals 2ησ² dλ (λ increases while t decreases).
    """
    t = sp.Symbol("t", real=True)
    a_t, s_t = sp.Function("alpha_of_t", positive=True)(t), sp.Function("sigma_of_t", positive=True)(t)
    lam_of_t = sp.log(a_t / s_t)
    f = sp.diff(sp.log(a_t), t)
    g2 = sp.diff(s_t**2, t) - 2 * f * s_t**2
    dlam_dt = sp.diff(lam_of_t, t)
    assert_zero(sp.simplify(g2 + 2 * s_t**2 * dlam_dt), "g² = −2σ² dλ/dt")
    eps_hat = sp.Symbol("epsilon_hat", real=True)
    score = -eps_hat / s_t
    per_dlam = sp.simplify(-(1 + eta) / 2 * g2 * score / dlam_dt)
    assert_zero(sp.simplify(per_dlam + (1 + eta) * s_t * eps_hat), "score term per dλ")
    # |dt| = −dλ/(dλ/dt) because dλ/dt < 0 (MATH §1).
    variance_per_dlam = sp.simplify(eta * g2 * (-1 / dlam_dt))
    assert_zero(sp.simplify(variance_per_dlam - 2 * eta * s_t**2), "noise variance per dλ")
    return True
