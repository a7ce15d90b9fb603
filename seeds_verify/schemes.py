"""The stage structure of every SEEDS scheme, as plain data (MATH §6).

A SEEDS step from λ_s to λ_t = λ_s + h visits stage points λ_s + c_i h (0 < c_1 ≤ … ≤ c_m = 1,
the last one is the end point; consecutive stages may share a point, as SEEDS-2 with r = 1
does). At each stage point the model term is the *polynomial interpolant* of the model output
through some earlier evaluation nodes, integrated against the exact kernel of the
variation-of-constants formula (MATH §4–§6). A scheme is therefore fully described by, for each
stage: its fraction ``c``, which earlier evaluations (``nodes``) the interpolant goes through,
and whether the kernel moments are *averaged* (the "phi_1"/2a simplification: ∫ K(v) vⁿ dv is
replaced by (∫ K dv)·∫ vⁿ dv = (∫ K dv)/(n+1)).

This module holds no numbers of its own: the symbolic module (``seeds_verify.analytic``)
derives every coefficient from these specifications for symbolic fractions, the numeric module
(``seeds_verify.coefficients``) evaluates the same construction in float64, and the solvers use
the numbers. Fractions may be floats, fractions or sympy symbols.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any

__all__ = [
    "Stage",
    "SchemeSpec",
    "seeds1_spec",
    "seeds2_spec",
    "seeds3_spec",
    "SEEDS2_VARIANTS",
    "SEEDS3_VARIANTS",
    "REGIMES",
    "FORMS",
    "check_form",
    "check_eta",
    "lebesgue_constant",
    "MAX_LEBESGUE_CONSTANT",
]

# The three regimes in which a scheme declares and is measured an order (MATH §9): strong
# (pathwise, η > 0), weak (moments, η > 0) and deterministic (η = 0, the probability-flow ODE).
REGIMES = ("strong", "weak", "deterministic")
# The two parametrisations of a scheme (MATH §2, §6): data prediction D and noise prediction ε̂.
FORMS = ("data", "noise")


def check_form(form: str, name: str = "prediction") -> str:
    """Return ``form`` if it is ``"data"`` or ``"noise"``; raise ValueError naming ``name`` otherwise."""
    if not isinstance(form, str) or form not in FORMS:
        raise ValueError(f"{name} must be one of {FORMS}, got {form!r}")
    return form


def check_eta(eta) -> float:
    """η as a float in [0, 1] (MATH §3); TypeError/ValueError naming ``eta`` otherwise."""
    if isinstance(eta, bool) or not isinstance(eta, Real):
        raise TypeError(f"eta must be a real number, got {type(eta).__name__}")
    eta = float(eta)
    if not (0.0 <= eta <= 1.0):
        raise ValueError(f"eta must lie in [0, 1], got {eta!r}")
    return eta

SEEDS2_VARIANTS = ("phi_1", "phi_2")
SEEDS3_VARIANTS = ("3a", "3b")


@dataclass(frozen=True)
class Stage:
    """One stage point of an exponential scheme.

    Attributes:
        fraction: c in (0, 1]; the stage point is λ_s + c·h. The end point has c = 1.
        nodes: indices of the model evaluations the interpolant goes through
            (0 is the evaluation at the start of the step, i ≥ 1 the one at stage i).
            One node gives a constant, two a line, three a parabola.
        averaged: use averaged kernel moments (the "phi_1" variant of MATH §6).
    """

    fraction: Any
    nodes: tuple[int, ...]
    averaged: bool = False


@dataclass(frozen=True)
class SchemeSpec:
    """Stage structure of a scheme plus the orders it claims (checked by measurement).

    Attributes:
        name: short identifier, e.g. ``"seeds2_phi_1"``.
        stages: the stages in order; the last one is the end point (fraction 1).
        deterministic_order: order of the η = 0 exponential integrator (MATH §9).
        strong_order: strong order for η > 0 (MATH §9: at most 1 for schemes that see only
            finitely many weighted increments per step).
        weak_order: weak order for η > 0 (predicted by ``analytic.predicted_orders`` and
            measured by the convergence engine's exact-moment weak study).
    """

    name: str
    stages: tuple[Stage, ...]
    deterministic_order: int
    strong_order: float
    weak_order: int

    @property
    def fractions(self) -> tuple:
        """Stage fractions c_1 ≤ … ≤ c_m = 1 (the end point included)."""
        return tuple(s.fraction for s in self.stages)

    @property
    def nfe_per_step(self) -> int:
        """Model evaluations per step: one at the start plus one per intermediate stage."""
        return len(self.stages)


def _check_fraction(value: Any, name: str, *, allow_one: bool = False) -> None:
    """Numeric fractions must lie in (0, 1), or in (0, 1] with ``allow_one`` (NaN is rejected)."""
    if isinstance(value, bool) or not isinstance(value, (Real,)) and not hasattr(value, "free_symbols"):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if isinstance(value, Real):
        v = float(value)
        inside = 0.0 < v <= 1.0 if allow_one else 0.0 < v < 1.0
        if not inside:
            interval = "(0, 1]" if allow_one else "(0, 1)"
            raise ValueError(f"{name} must lie in {interval}, got {value!r}")


# --------------------------------------------------------------------------------------------
# Conditioning of the stage interpolants
# --------------------------------------------------------------------------------------------
#
# A stage at fraction c integrates the interpolant of the model outputs F_j through its nodes
# v_j = c_j / c ∈ [0, 1] against a positive kernel: with the Lagrange basis ℓ_j of the nodes,
#
#     model term = A_c · c h · ∫_0^1 K(v) Σ_j ℓ_j(v) F_j dv = A_c Σ_j ω_j F_j,
#     ω_j = c h ∫_0^1 K(v) ℓ_j(v) dv,   K(v) = e^{κ c h (1 − v)} > 0
#
# (the averaged "phi_1" variant uses the constant kernel μ_0, also positive). The ℓ_j sum to 1,
# so Σ_j ω_j = c h ∫ K. Relative perturbations |δ_j| ≤ u of the F_j (the rounding of the model
# outputs and of the stage values they are computed from, the rounding of each product ω_j F_j)
# change the term by at most
#
#     u Σ_j |ω_j| |F_j| ≤ u · max_j |F_j| · c h ∫_0^1 K(v) Σ_j |ℓ_j(v)| dv
#                       ≤ u · Λ · c h ∫ K · max_j |F_j|,
#
# with the Lebesgue constant Λ = max_{v ∈ [0, 1]} Σ_j |ℓ_j(v)| of the nodes, while the term itself
# is c h ∫ K · F for equal F_j. So Λ bounds the relative condition number of the stage's model
# term; the bound is approached when the kernel concentrates where the Lebesgue function peaks
# (for large c h the data-form kernel concentrates at v = 1, the noise-form one at v = 0). The
# Lagrange basis carries the node gaps in its
# denominators: for nodes {0, a}, Λ = 2/a − 1; for {0, a, b} with b < 1,
# Λ ≥ Σ_j |ℓ_j(1)| = 1 + 2(1 − b)/(a (b − a)). A fraction near 0, or two fractions close to each
# other, makes Λ ~ 1/gap and the rounding error of the stage ~ u/gap: SEEDS-2 with r = 1e-16 in
# float64, or r = 1e-8 in float32, returns noise (measured relative error ~1), r = 1e-300
# overflows the weights, and SEEDS-3 "3b" with r_2 − r_1 = 1e-6 multiplies the stages' own
# discretisation errors by Λ ≈ 2e6 as well (measured relative errors 1e11 to 1e19 on 5- to
# 40-step grids).
#
# The bound. The solvers compute float32, float16 and bfloat16 inputs in float32, so the worst
# unit roundoff in the product Λ·u is u = 2⁻²⁴. Allowing the interpolation to cost at most half
# of float32's 24 significand bits, u·Λ ≤ 2⁻¹², gives
#
#     Λ ≤ 2¹² = 4096      (relative amplification ≤ 2.4e-4 in float32, ≤ 4.5e-13 in float64).
#
# A float64-only criterion (2⁻⁵³ Λ ≤ 1e-8, Λ ≤ 9e7) would accept fractions that lose every
# float32 digit. In terms of the fractions: SEEDS-2 needs r ≥ 2/4097 ≈ 4.88e-4; SEEDS-3 needs
# r_1/r_2 ≥ 2/4097 (stage 2, nodes 0 and r_1 seen from r_2), r_2 ≥ 2/4097 ("3a") and for "3b"
# Λ(0, r_1, r_2) ≤ 4096, which implies r_1 (r_2 − r_1) ≥ 2(1 − r_2)/4095 (e.g. r_2 − r_1 ≥ 4.9e-4
# at r_1 ≈ 1/2). The usual fractions (1/2, 1/3, 2/3, 1/4, 3/4, 0.1, 0.9, 1) have Λ ≤ 19 in
# SEEDS-2, the SEEDS-3 defaults Λ = 7 ("3b") and any pair of the usual fractions Λ ≤ 101.
# Fractions inside the bound may still carry a large discretisation constant (Λ also multiplies
# the stages' truncation errors, which the bound does not see): "3b" at r_1 = 1/2, r_2 = 0.51
# (Λ ≈ 201) converges, but with errors 10³ to 10⁴ times those of the defaults on 5- to 160-step
# grids (measured on a Gaussian problem).

#: Largest accepted Lebesgue constant of a stage's interpolation nodes: 2¹² (derivation above).
MAX_LEBESGUE_CONSTANT = 4096.0


def lebesgue_constant(node_positions: Any) -> float:
    """Λ = max over v ∈ [0, 1] of Σ_j |ℓ_j(v)| for at most three distinct nodes in [0, 1].

    ℓ_j is the Lagrange basis polynomial of node j. Between consecutive break points (0, the
    nodes, 1) every ℓ_j keeps its sign, so the Lebesgue function is there a polynomial of degree
    ≤ 2 whose maximum lies at an end point or at its vertex; all of those are evaluated. Returns
    ``inf`` when the basis overflows float64 (nodes a few hundred orders of magnitude apart).
    """
    v = [float(p) for p in node_positions]
    if not 1 <= len(v) <= 3:
        raise ValueError(f"node_positions must hold 1 to 3 nodes, got {len(v)}")
    if any(not 0.0 <= p <= 1.0 for p in v) or len(set(v)) != len(v):
        raise ValueError(f"node_positions must be distinct values in [0, 1], got {v}")
    if len(v) == 1:
        return 1.0
    denominators = []
    for j, vj in enumerate(v):
        d = 1.0
        for k, vk in enumerate(v):
            if k != j:
                d *= vj - vk
        denominators.append(d)
    if 0.0 in denominators:
        return math.inf  # Π (v_j − v_k) underflowed: the basis is beyond float64

    def basis(j: int, t: float) -> float:
        out = 1.0
        for k, vk in enumerate(v):
            if k != j:
                out *= (t - vk) / (v[j] - vk)
        return out

    def lebesgue(t: float) -> float:
        return sum(abs(basis(j, t)) for j in range(len(v)))

    breaks = sorted({0.0, 1.0, *v})
    candidates = list(breaks)
    if len(v) == 3:
        for a, b in zip(breaks[:-1], breaks[1:]):
            mid = 0.5 * (a + b)
            signs = [1.0 if basis(j, mid) >= 0 else -1.0 for j in range(3)]
            # Σ_j s_j ℓ_j(t) = A t² + B t + C with ℓ_j(t) = (t − v_k)(t − v_l) / d_j.
            quad = sum(s / d for s, d in zip(signs, denominators))
            lin = -sum(s * (sum(v) - vj) / d for s, vj, d in zip(signs, v, denominators))
            if quad != 0.0 and math.isfinite(quad) and math.isfinite(lin):
                vertex = -lin / (2.0 * quad)
                if a < vertex < b:
                    candidates.append(vertex)
    values = [lebesgue(t) for t in candidates]
    if any(math.isnan(x) for x in values):
        return math.inf
    return max(values)


def _worst_stage(stages: tuple) -> tuple[int, float] | None:
    """(stage index, Λ) of the first stage whose nodes exceed the bound; None if all pass or the
    fractions are symbolic."""
    fractions = [s.fraction for s in stages]
    if not all(isinstance(f, Real) for f in fractions):
        return None
    for i, stage in enumerate(stages):
        c = float(stage.fraction)
        nodes = [0.0 if j == 0 else float(fractions[j - 1]) / c for j in stage.nodes]
        cond = lebesgue_constant(nodes)
        if not cond <= MAX_LEBESGUE_CONSTANT:
            return i, cond
    return None


def _conditioning_message(what: str, cond: float, need: str) -> str:
    return (f"{what} amplifies rounding errors of the model outputs by its Lebesgue constant "
            f"{cond:.3g}, above the bound {MAX_LEBESGUE_CONSTANT:.0f} (2^12, half of float32's significand "
            f"bits; derivation in seeds_verify.schemes): {need}")


def seeds1_spec() -> SchemeSpec:
    """SEEDS-1: a single exponential Euler step with the model frozen at the start (MATH §6)."""
    return SchemeSpec("seeds1", (Stage(1, (0,)),), 1, 1.0, 1)


def seeds2_spec(r: Any = 0.5, variant: str = "phi_1") -> SchemeSpec:
    """SEEDS-2 with stage fraction ``r`` ∈ (0, 1] (MATH §6).

    Stage 1 at c = r: model frozen at the start. End point: the line through the model at
    λ_s and at the stage, integrated exactly ("phi_2", 2b) or with averaged moments ("phi_1", 2a).
    With r = 1 the stage is a full SEEDS-1 step to λ_t (with "phi_2": the exponential Heun
    scheme); the sub-interval [λ_s + r h, λ_t] then has zero length and carries no noise (MATH §7).
    A numeric r below 2/4097 ≈ 4.88e-4 is refused (ValueError): its end-point interpolant would
    amplify rounding by more than ``MAX_LEBESGUE_CONSTANT`` (see "Conditioning" above).
    """
    _check_fraction(r, "r", allow_one=True)
    if not isinstance(variant, str) or variant not in SEEDS2_VARIANTS:
        raise ValueError(f"solver_type (variant) must be one of {SEEDS2_VARIANTS}, got {variant!r}")
    stages = (Stage(r, (0,)), Stage(1, (0, 1), averaged=(variant == "phi_1")))
    if _worst_stage(stages) is not None:
        _, cond = _worst_stage(stages)
        raise ValueError(f"r={r!r} is too close to 0: " + _conditioning_message(
            "the end-point interpolant through the nodes 0 and r", cond, "r must be >= 2/4097 ~ 4.88e-4"))
    return SchemeSpec(f"seeds2_{variant}", stages, 2, 1.0, 2)


def seeds3_spec(r_1: Any = None, r_2: Any = None, variant: str = "3a") -> SchemeSpec:
    """SEEDS-3 with stage fractions ``r_1 < r_2`` (default 1/3, 2/3; MATH §6).

    Stage 1 at c2 = r_1: model frozen. Stage 2 at c3 = r_2: line through (0, c2).
    End point: line through (0, c3) ("3a") or parabola through (0, c2, c3) ("3b").
    Numeric fractions whose interpolants amplify rounding by more than ``MAX_LEBESGUE_CONSTANT``
    are refused (ValueError naming r_1, r_2 and the stage; see "Conditioning" above).
    """
    from fractions import Fraction

    r_1 = Fraction(1, 3) if r_1 is None else r_1
    r_2 = Fraction(2, 3) if r_2 is None else r_2
    _check_fraction(r_1, "r_1")
    _check_fraction(r_2, "r_2")
    if isinstance(r_1, Real) and isinstance(r_2, Real) and not float(r_1) < float(r_2):
        raise ValueError(f"r_1 must be smaller than r_2, got r_1={r_1!r}, r_2={r_2!r}")
    if not isinstance(variant, str) or variant not in SEEDS3_VARIANTS:
        raise ValueError(f"solver_type (variant) must be one of {SEEDS3_VARIANTS}, got {variant!r}")
    final_nodes = (0, 2) if variant == "3a" else (0, 1, 2)
    stages = (Stage(r_1, (0,)), Stage(r_2, (0, 1)), Stage(1, final_nodes))
    worst = _worst_stage(stages)
    if worst is not None:
        stage, cond = worst
        head = f"r_1={r_1!r}, r_2={r_2!r} ({variant}): "
        if stage == 1:
            raise ValueError(head + _conditioning_message(
                "the interpolant at r_2 through the nodes 0 and r_1", cond,
                "r_1/r_2 must be >= 2/4097 ~ 4.88e-4"))
        if variant == "3a":
            raise ValueError(head + _conditioning_message(
                "the end-point interpolant through the nodes 0 and r_2", cond, "r_2 must be >= 2/4097 ~ 4.88e-4"))
        raise ValueError(head + _conditioning_message(
            "the end-point interpolant through the nodes 0, r_1 and r_2", cond,
            "widen the gaps r_1 and r_2 - r_1 (a necessary condition is r_1 (r_2 - r_1) >= 2 (1 - r_2)/4095)"))
    # Weak order 2, not 3: on the linear test problem the local error of the second moment is
    # O(h³) for both variants (seeds_verify.analytic.predicted_orders), and the exact-moment
    # weak study measures slopes 1.84 → 1.98 on ladders up to 2048 steps.
    return SchemeSpec(f"seeds3_{variant}", stages, 3, 1.0, 2)
