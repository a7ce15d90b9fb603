"""Pathwise-consistent noise inside one step: covariances and the triangular factor (MATH §4, §7).

Put λ_s = 0 (every quantity below depends only on differences of λ once divided by the σ's)
and let the step visit the points c_1 h ≤ … ≤ c_m h (c_m = 1: the end point). By MATH §4 the
noise of the exact solution at point i is N_i = ∫_0^{c_i h} K_i(u) dW_u with the exact noise
kernel K_i of :func:`seeds_verify.analytic.exact.exact_step`:

    data:  K_i(u) = σ_i sqrt(2η) e^{−η(c_i h − u)},     noise: K_i(u) = α_i sqrt(2η) e^{−u}.

Itô's isometry gives Cov(N_i, N_l) = ∫_0^{min(c_i,c_l)h} K_i K_l du. On each segment
S_j = [c_{j−1}h, c_j h] every K_i is a constant multiple of e^{ku} (k = η data, −1 noise), so
∫_{S_j} K_i dW = σ_i F_ij z_j with the normalised weighted increment z_j of MATH §4 and

    F_ij = sqrt(∫_{S_j} (K_i/σ_i)² du)      (j ≤ i),

which :func:`noise_factor_symbolic` computes with sympy and proves equal to MATH §7's square
roots of differences of exponentials. Because K_i and K_l are proportional on S_j,
Cauchy–Schwarz holds with equality there and Σ_j F_ij F_lj reproduces the covariance;
:func:`check_noise_factor` proves this for symbolic fractions, and
:func:`check_swapped_noise_factor` shows that exchanging c and 1 − c in the end-point row keeps
the variances and breaks the stage/end covariance unless c = 1/2.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import sympy as sp

from .algebra import assert_zero, require
from .exact import _check_form, alpha, exact_step
from .symbols import as_sympy, c, eta, h, lam, lam_s, lam_t, u

__all__ = [
    "stage_noise_kernel",
    "noise_covariance_symbolic",
    "noise_factor_symbolic",
    "math7_noise_factor",
    "swapped_noise_factor_symbolic",
    "check_noise_factor",
    "check_swapped_noise_factor",
]


def _fractions(fractions: Sequence[Any]) -> tuple:
    if isinstance(fractions, (str, bytes)) or not hasattr(fractions, "__iter__"):
        raise TypeError(f"fractions must be a sequence, got {type(fractions).__name__}")
    values = tuple(as_sympy(f, "fractions") for f in fractions)
    if not values:
        raise ValueError("fractions must be non-empty")
    numeric = [f for f in values if f.is_number]
    if any(not (0 < f <= 1) for f in numeric):
        raise ValueError(f"fractions must lie in (0, 1], got {values}")
    for a, b in zip(values, values[1:]):
        # Equal neighbours are allowed: the segment between them has zero length (F column 0).
        if a.is_number and b.is_number and not a <= b:
            raise ValueError(f"fractions must be non-decreasing, got {values}")
    return values


def stage_noise_kernel(form: str, fraction: Any) -> sp.Expr:
    """K_i(u)/σ_i: the exact noise kernel seen at λ_s + c h, divided by σ there (MATH §4).

    data: sqrt(2η) e^{−η(c h − u)};  noise: sqrt(2η) e^{c h − u}  (u = λ − λ_s).
    """
    _check_form(form)
    frac = as_sympy(fraction, "fraction")
    kernel = exact_step(form).noise_kernel
    point = lam_s + frac * h
    # σ at the point is α(point) e^{−point}; dividing by it leaves a function of u alone.
    scaled = kernel.subs({lam_t: point, lam: lam_s + u}) / (alpha(point) * sp.exp(-point))
    return sp.powsimp(sp.expand(sp.simplify(scaled)), combine="exp")


def _segments(values: tuple) -> list[tuple]:
    lower = (sp.Integer(0),) + values[:-1]
    return list(zip(lower, values))


@functools.cache
def _noise_covariance(values: tuple, form: str) -> sp.Matrix:
    eta_pos = sp.Symbol("eta_pos", positive=True)
    m = len(values)
    cov = sp.zeros(m, m)
    for i in range(m):
        for l in range(i + 1):
            integrand = (stage_noise_kernel(form, values[i]) * stage_noise_kernel(form, values[l])).subs(eta, eta_pos)
            value = sp.integrate(sp.expand(integrand), (u, 0, values[l] * h), conds="none").subs(eta_pos, eta)
            cov[i, l] = cov[l, i] = sp.simplify(value)
    return cov


def noise_covariance_symbolic(fractions: Sequence[Any], form: str) -> sp.Matrix:
    """C with Cov(N_i, N_l) = σ_i σ_l C_il for the points c_1 < … < c_m (MATH §4, Itô isometry).

    C_il = ∫_0^{c_l h} (K_i/σ_i)(K_l/σ_l) du for c_l ≤ c_i; e.g. data:
    e^{−η(c_i−c_l)h} − e^{−η(c_i+c_l)h}; noise: η(e^{(c_i+c_l)h} − e^{(c_i−c_l)h}).
    (sympy integrates for η > 0; both sides are entire in η, so η = 0 follows by continuity.)
    """
    return _noise_covariance(_fractions(fractions), _check_form(form))


def math7_noise_factor(fractions: Sequence[Any], form: str) -> sp.Matrix:
    """The lower-triangular factor as printed in MATH §7 (c_0 = 0).

    data:  F_ij = sqrt(e^{−2η(c_i − c_j)h} − e^{−2η(c_i − c_{j−1})h});
    noise: F_ij = sqrt(η) sqrt(e^{2(c_i − c_{j−1})h} − e^{2(c_i − c_j)h}).
    """
    values = _fractions(fractions)
    _check_form(form)
    m = len(values)
    lower = (sp.Integer(0),) + values
    factor = sp.zeros(m, m)
    for i in range(m):
        for j in range(i + 1):
            ci, cj, cprev = values[i], values[j], lower[j]
            if form == "data":
                factor[i, j] = sp.sqrt(sp.exp(-2 * eta * (ci - cj) * h) - sp.exp(-2 * eta * (ci - cprev) * h))
            else:
                factor[i, j] = sp.sqrt(eta) * sp.sqrt(sp.exp(2 * (ci - cprev) * h) - sp.exp(2 * (ci - cj) * h))
    return factor


@functools.cache
def _noise_factor(values: tuple, form: str) -> sp.Matrix:
    eta_pos = sp.Symbol("eta_pos", positive=True)
    printed = math7_noise_factor(values, form)
    for i in range(len(values)):
        for j, (a, b) in enumerate(_segments(values)[: i + 1]):
            integrand = (stage_noise_kernel(form, values[i]) ** 2).subs(eta, eta_pos)
            derived = sp.integrate(sp.expand(integrand), (u, a * h, b * h), conds="none").subs(eta_pos, eta)
            # Both F_ij and the printed entry are principal square roots of these non-negative
            # quantities, so equal squares mean equal entries.
            assert_zero(derived - printed[i, j] ** 2, f"F[{i},{j}]² ({form}) vs MATH §7")
    return printed


def noise_factor_symbolic(fractions: Sequence[Any], form: str) -> sp.Matrix:
    """Lower-triangular F with N_i = σ_i Σ_{j≤i} F_ij z_j (MATH §7), derived (see module doc).

    F_ij = sqrt(∫_{S_j}(K_i/σ_i)² du) is integrated by sympy and proven equal to MATH §7's form,
    which is what is returned: data sqrt(e^{−2η(c_i−c_j)h} − e^{−2η(c_i−c_{j−1})h}), noise
    sqrt(η) sqrt(e^{2(c_i−c_{j−1})h} − e^{2(c_i−c_j)h}); symbols ``h``, ``eta`` and the fractions.
    """
    return _noise_factor(_fractions(fractions), _check_form(form))


def swapped_noise_factor_symbolic(fraction: Any = c, form: str = "data") -> sp.Matrix:
    """SEEDS-2 factor with c ↔ 1 − c in the end-point row (the defect MATH §7 warns about).

    The stage row is MATH §7's; the end row is F_2j(1 − c) instead of F_2j(c), e.g. data:
    F'_21 = sqrt(e^{−2ηch} − e^{−2ηh}), F'_22 = sqrt(1 − e^{−2ηch}).
    """
    frac = as_sympy(fraction, "fraction")
    if frac.is_number and not (0 < frac < 1):
        raise ValueError(f"fraction must lie in (0, 1), got {frac}")
    _check_form(form)
    right = math7_noise_factor((c, 1), form)
    swapped = right.copy()
    swapped[1, 0] = right[1, 0].subs(c, 1 - c)
    swapped[1, 1] = right[1, 1].subs(c, 1 - c)
    return swapped.subs(c, frac)


@functools.cache
def check_noise_factor(fractions: tuple, form: str) -> bool:
    """Prove (i) Σ_j F_ij² = C_ii and (ii) Σ_j F_ij F_lj = C_il for the factor of MATH §7; True or raise.

    (ii) involves products of square roots. Each entry is first shown to factor as
    F_ij = e^{−k(c_i − c_j)h} F_jj (squares agree identically and both sides are ≥ 0), after
    which Σ_j F_ij F_lj = e^{−k(c_i+c_l)h} Σ_{j≤l} e^{2k c_j h} F_jj² telescopes and is compared
    with the Itô covariance C_il exactly.
    """
    values = _fractions(fractions)
    _check_form(form)
    factor = noise_factor_symbolic(values, form)
    cov = noise_covariance_symbolic(values, form)
    k = exact_step(form).weight_exponent
    m = len(values)
    for i in range(m):
        assert_zero(sum(factor[i, j] ** 2 for j in range(i + 1)) - cov[i, i], f"variance at point {i} ({form})")
    factored = sp.zeros(m, m)
    for i in range(m):
        for j in range(i + 1):
            factored[i, j] = sp.exp(-k * (values[i] - values[j]) * h) * factor[j, j]
            assert_zero(factor[i, j] ** 2 - factored[i, j] ** 2, f"F[{i},{j}] factorisation ({form})")
    for i in range(m):
        for l in range(i):
            pair = sum(factored[i, j] * factored[l, j] for j in range(l + 1))
            assert_zero(sp.expand(pair) - cov[i, l], f"covariance of points {i},{l} ({form})")
    return True


@functools.cache
def check_swapped_noise_factor(form: str) -> bool:
    """Prove the swapped SEEDS-2 factor keeps variances but not the covariance; True or raise.

    (i) Rows: F'_21² + F'_22² equals the exact end-point variance for every c.
    (ii) The stage/end covariance is F_11 F'_21 instead of F_11 F_21. For η, h > 0, F_11 > 0 and
    the square root is injective on [0, ∞), so the two agree iff F'_21² = F_21²; sympy's
    ``solveset`` over c ∈ (0, 1) returns exactly {1/2}.
    """
    _check_form(form)
    eta_pos = sp.Symbol("eta_pos", positive=True)
    right = noise_factor_symbolic((c, 1), form)
    swapped = swapped_noise_factor_symbolic(c, form)
    cov = noise_covariance_symbolic((c, 1), form)
    assert_zero(swapped[1, 0] ** 2 + swapped[1, 1] ** 2 - cov[1, 1], f"swapped end-point variance ({form})")
    assert_zero(swapped[0, 0] ** 2 - cov[0, 0], f"swapped stage variance ({form})")
    gap = sp.expand((swapped[1, 0] ** 2 - right[1, 0] ** 2).subs(eta, eta_pos))
    zeros = sp.solveset(gap, c, sp.Interval.open(0, 1))
    require(zeros == sp.FiniteSet(sp.Rational(1, 2)), f"swapped covariance correct only at c = 1/2, got {zeros}")
    return True
