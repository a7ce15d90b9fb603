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
]

# The three regimes in which a scheme declares and is measured an order (MATH §9): strong
# (pathwise, η > 0), weak (moments, η > 0) and deterministic (η = 0, the probability-flow ODE).
REGIMES = ("strong", "weak", "deterministic")
# The two parametrisations of a scheme (MATH §2, §6): data prediction D and noise prediction ε̂.
FORMS = ("data", "noise")


def check_form(form: str, name: str = "prediction") -> str:
    """Return ``form`` if it is ``"data"`` or ``"noise"``; raise ValueError naming ``name`` otherwise."""
    if form not in FORMS:
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


def seeds1_spec() -> SchemeSpec:
    """SEEDS-1: a single exponential Euler step with the model frozen at the start (MATH §6)."""
    return SchemeSpec("seeds1", (Stage(1, (0,)),), 1, 1.0, 1)


def seeds2_spec(r: Any = 0.5, variant: str = "phi_1") -> SchemeSpec:
    """SEEDS-2 with stage fraction ``r`` ∈ (0, 1] (MATH §6).

    Stage 1 at c = r: model frozen at the start. End point: the line through the model at
    λ_s and at the stage, integrated exactly ("phi_2", 2b) or with averaged moments ("phi_1", 2a).
    With r = 1 the stage is a full SEEDS-1 step to λ_t (with "phi_2": the exponential Heun
    scheme); the sub-interval [λ_s + r h, λ_t] then has zero length and carries no noise (MATH §7).
    """
    _check_fraction(r, "r", allow_one=True)
    if variant not in SEEDS2_VARIANTS:
        raise ValueError(f"solver_type (variant) must be one of {SEEDS2_VARIANTS}, got {variant!r}")
    stages = (Stage(r, (0,)), Stage(1, (0, 1), averaged=(variant == "phi_1")))
    return SchemeSpec(f"seeds2_{variant}", stages, 2, 1.0, 2)


def seeds3_spec(r_1: Any = None, r_2: Any = None, variant: str = "3a") -> SchemeSpec:
    """SEEDS-3 with stage fractions ``r_1 < r_2`` (default 1/3, 2/3; MATH §6).

    Stage 1 at c2 = r_1: model frozen. Stage 2 at c3 = r_2: line through (0, c2).
    End point: line through (0, c3) ("3a") or parabola through (0, c2, c3) ("3b").
    """
    from fractions import Fraction

    r_1 = Fraction(1, 3) if r_1 is None else r_1
    r_2 = Fraction(2, 3) if r_2 is None else r_2
    _check_fraction(r_1, "r_1")
    _check_fraction(r_2, "r_2")
    if isinstance(r_1, Real) and isinstance(r_2, Real) and not float(r_1) < float(r_2):
        raise ValueError(f"r_1 must be smaller than r_2, got r_1={r_1!r}, r_2={r_2!r}")
    if variant not in SEEDS3_VARIANTS:
        raise ValueError(f"solver_type (variant) must be one of {SEEDS3_VARIANTS}, got {variant!r}")
    final_nodes = (0, 2) if variant == "3a" else (0, 1, 2)
    stages = (Stage(r_1, (0,)), Stage(r_2, (0, 1)), Stage(1, final_nodes))
    # Weak order 2, not 3: on the linear test problem the local error of the second moment is
    # O(h³) for both variants (seeds_verify.analytic.predicted_orders), and the exact-moment
    # weak study measures slopes 1.84 → 1.98 on ladders up to 2048 steps.
    return SchemeSpec(f"seeds3_{variant}", stages, 3, 1.0, 2)
