"""Predicted strong, weak and deterministic orders from local error expansions (MATH §9).

Test problem. k-diffusion convention α = 1, σ = e^{−λ} (MATH §1), a linear denoiser
D(x, λ) = a x + b(λ) with b(λ) = b_0 + b_1 λ + b_2 λ² and symbolic a, b_0, b_1, b_2; the noise
form sees the same SDE through ε̂ = (x − D)/σ (MATH §2). By MATH §3 the SDE is

    dx = (A x + B(λ)) dλ + e^{−λ} sqrt(2η) dW,   A = (1+η)(a − 1),  B = (1+η) b(λ),

(read off :func:`seeds_verify.analytic.exact.sde_drift`). Everything is linear with additive
noise, so one step from λ_s = 0 (translation invariant: the polynomial b is re-centred and the
noise scales with σ_s) started at x_0 gives

    X_exact  = m_e(h) + ∫_0^h K_e(u) dW(u),   K_e(u) = sqrt(2η) e^{A(h−u)} e^{−u},
    X_scheme = m_s(h) + ∫_0^h K_s(u) dW(u).

The scheme sees the path only through the normalised weighted increments z_j of its segments
S_j = [c_{j−1}h, c_j h] (MATH §4, §7), so K_s is piecewise: on S_j it is a sum of
σ_i F_ij e^{ku}/‖e^{ku}‖_{S_j} over the points i whose noise uses z_j, each carried to the end
point by the model weights times ∂F/∂x (a in the data form, e^{λ}(1 − a) in the noise form).
The local error e = X_scheme − X_exact is Gaussian given x_0 with

    E e = m_s − m_e,       E e² = (E e)² + ∫_0^h (K_s − K_e)² du        (Itô isometry).

This is the same as treating the increments the scheme sees and the rest of the path (the part
of ∫K_e dW orthogonal to the z_j, which carries e.g. the iterated integral ∫∫dW dλ) as Gaussian
symbols with their known joint moments: E[z_j z_l] = δ_jl, E[z_j ∫K_e dW] = ⟨e^{ku}/‖·‖, K_e⟩_{S_j},
and the orthogonal rest contributes ‖K_e‖² − Σ_j ⟨·,·⟩² — summed up, exactly ∫(K_s − K_e)².

All quantities are expanded in h early: every factor is a power series (exponentials, φ-series
Σ zⁿ/(n+k)! of MATH §5, square roots of series with a rational leading term) with coefficients
in the polynomial ring Q[a, b_0, b_1, b_2, x_0, η, w, r] (w the position inside a segment, r a
square root the swapped factor needs), truncated at h^N. η stays a symbol throughout
(``LocalErrorExpansion.coefficients`` shows the η-dependence); orders are read from the first
coefficient that is non-zero as a polynomial in a, b, x_0 (generic data) once η is fixed at the
regime's value.

Orders, with p_1 = order of E e and p_2 = half the order of E e²:
* strong (η = 1): Milstein's fundamental theorem — p_2 ≥ 1/2 and p_1 ≥ p_2 + 1/2 give global
  mean-square order p_2 − 1/2; in general min(p_2, p_1 − 1/2) − 1/2;
* weak (η = 1): local errors of E x and E x² given x_0 (for this Gaussian problem the mean and
  variance, hence every test function) are O(h^{q+1}) ⇒ weak order q;
* deterministic (η = 0): local error O(h^{p+1}) ⇒ order p.
These are orders on the linear test problem, upper bounds for a general nonlinear D. The
time-dependent b(λ) makes the test see the quadrature conditions (Σ b_i c_i² = 1/3 type) that a
constant b would miss.

``constant`` of a row, always at the :data:`REFERENCE_POINT` a = 1/4, b(λ) = 1/3 + λ/5 + λ²/7,
x_0 = 1, with the regime's η (1, or 0 for "deterministic") and λ_s = 0:
* strong: C with sqrt(E e²) = C h^{p_2} + o(h^{p_2}) (local RMS error coefficient);
* weak: the coefficient of h^{q+1} in E[X_scheme²] − E[X_exact²];
* deterministic: the coefficient of h^{p+1} in X_scheme − X_exact.
The reference point is generic on purpose: at a = 1/2, b ≡ 0 some leading coefficients vanish
(e.g. the η = 0 error of "phi_2" at r = 1/3 is ∝ a(2a − 1)(a − 1)), and the data and noise
forms' strong constants, ∝ |a| and ∝ |1 − a|, coincide.

Local constants are not global ones: a scheme with p_1 = p_2 + 1/2 (SEEDS-1, EM) accumulates
its local mean error coherently at the same global order. :func:`linear_global_strong_error`
computes the global mean-square error on the same linear problem exactly, by propagating the
second moments of (exact, scheme) through the steps.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.rings import ring

from ..schemes import REGIMES
from .coefficients import interpolation_matrix_symbolic, linear_factor_symbolic, stage_kernel
from .exact import alpha, exact_step, sde_drift
from .noise import noise_factor_symbolic, swapped_noise_factor_symbolic
from .symbols import alpha_c, alpha_s, eta, h, lam, sigma_c, sigma_s

__all__ = ["OrderPrediction", "LocalErrorExpansion", "predicted_orders", "local_error_expansion",
           "linear_global_strong_error", "linear_global_second_moments", "REFERENCE_POINT", "REGIMES"]

#: where ``constant`` is evaluated (η is the regime's)
REFERENCE_POINT = {"a": Fraction(1, 4), "b0": Fraction(1, 3), "b1": Fraction(1, 5), "b2": Fraction(1, 7), "x0": Fraction(1)}

_R, _A, _B0, _B1, _B2, _X0, _ETA, _W, _ROOT = ring("a,b0,b1,b2,x0,eta,w,r", QQ)
_ONE = _R.one
_ZERO = _R.zero
_W_INDEX = _R.gens.index(_W)
_ROOT_INDEX = _R.gens.index(_ROOT)
_START_ORDER = 6
_MAX_ORDER = 12


@dataclass(frozen=True)
class OrderPrediction:
    """One predicted order (see the module docstring for the definitions).

    Attributes:
        scheme: scheme name as in :mod:`seeds_verify.schemes` ("seeds1", "seeds2_phi_1", …),
            "em" for Euler–Maruyama, "seeds2_phi_1_swapped" for SEEDS-2 with the c ↔ 1 − c noise
            defect of MATH §7.
        prediction: "data" or "noise" (the parametrisation the scheme is built in).
        regime: "strong", "weak" (both η = 1) or "deterministic" (η = 0).
        order: the predicted global order.
        constant: the leading local-error coefficient defined in the module docstring.
        fractions: the stage fractions (without the end point 1), e.g. (Fraction(1, 3),).
        local_mean_order: p_1 (order of E e); local_ms_order: p_2 (E e² = O(h^{2 p_2})).
    """

    scheme: str
    prediction: str
    regime: str
    order: float
    constant: float
    fractions: tuple = ()
    local_mean_order: float | None = None
    local_ms_order: float | None = None

    @property
    def label(self) -> str:
        """Scheme name with its fractions, e.g. ``seeds2_phi_1(r=1/3)``."""
        if not self.fractions:
            return self.scheme
        if len(self.fractions) == 1:
            return f"{self.scheme}(r={self.fractions[0]})"
        return f"{self.scheme}(r={','.join(str(f) for f in self.fractions)})"


# --------------------------------------------------------------------------------------------
# Truncated power series in h with coefficients in the ring _R
# --------------------------------------------------------------------------------------------

class _Series:
    """Power series Σ_{n≤N} s_n hⁿ with ring coefficients, truncated at the fixed degree N."""

    __slots__ = ("c",)

    def __init__(self, coefficients):
        self.c = list(coefficients)

    @property
    def order(self) -> int:
        return len(self.c) - 1

    @classmethod
    def const(cls, value, order):
        return cls([_R(value)] + [_ZERO] * order)

    @classmethod
    def h(cls, order):
        return cls([_ZERO, _ONE] + [_ZERO] * (order - 1))

    def __add__(self, other):
        other = other if isinstance(other, _Series) else _Series.const(other, self.order)
        return _Series(a + b for a, b in zip(self.c, other.c))

    __radd__ = __add__

    def __neg__(self):
        return _Series(-a for a in self.c)

    def __sub__(self, other):
        return self + (-other if isinstance(other, _Series) else _Series.const(-_R(other), self.order))

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        if not isinstance(other, _Series):
            value = _R(other)
            return _Series(a * value for a in self.c)
        n = self.order
        out = [_ZERO] * (n + 1)
        for i, a in enumerate(self.c):
            if a:
                for j in range(n + 1 - i):
                    if other.c[j]:
                        out[i + j] += a * other.c[j]
        return _Series(out)

    __rmul__ = __mul__

    def map(self, fn):
        return _Series(fn(a) for a in self.c)

    def divide_by_h(self):
        """s/h, exact (s_0 must vanish); the top coefficient is lost, so the order drops by one."""
        if self.c[0]:
            raise ArithmeticError("series is not divisible by h")
        return _Series(self.c[1:])

    def truncate(self, order):
        return _Series(self.c[: order + 1])

    def inverse(self):
        lead = self.c[0]
        if not lead.is_ground or not lead:
            raise ArithmeticError(f"leading coefficient {lead} is not an invertible constant")
        inv_lead = QQ(1) / lead.LC
        out = [_R(inv_lead)]
        for n in range(1, len(self.c)):
            acc = sum((self.c[m] * out[n - m] for m in range(1, n + 1)), _ZERO)
            out.append(-acc * inv_lead)
        return _Series(out)

    def sqrt(self):
        """sqrt of a series with a positive rational leading term; an irrational sqrt becomes r·q."""
        lead = self.c[0]
        if not lead.is_ground or not lead or lead.LC < 0:
            raise ArithmeticError(f"leading coefficient {lead} is not a positive constant")
        root = _rational_sqrt(Fraction(int(lead.LC.numerator), int(lead.LC.denominator)))
        rest = self * _R(QQ(1) / lead.LC) - 1  # = s with 1 + s = series/lead, s_0 = 0
        out = _Series.const(1, self.order)
        power = _Series.const(1, self.order)
        for k in range(1, self.order + 1):
            power = power * rest
            out = out + power * _R(QQ(sp.binomial(sp.Rational(1, 2), k).p, sp.binomial(sp.Rational(1, 2), k).q))
        return out * root


# The squarefree integer r stands for in the expansion being computed (set by _rational_sqrt,
# cleared by _expansion; expansions run one at a time).
_SQRT_RADICAND: list = []


def _rational_sqrt(value: Fraction):
    num, den = value.numerator * value.denominator, value.denominator
    square, free = 1, 1
    for prime, mult in sp.factorint(num).items():
        square *= prime ** (mult // 2)
        free *= prime ** (mult % 2)
    coefficient = QQ(square, den)
    if free == 1:
        return _R(coefficient)
    if _SQRT_RADICAND and _SQRT_RADICAND[0] != free:
        raise NotImplementedError("more than one irrational square root in one expansion")
    if not _SQRT_RADICAND:
        _SQRT_RADICAND.append(free)
    return _ROOT * coefficient


def _exp_h(rate, order) -> _Series:
    """exp(h·rate) for a ring element ``rate``."""
    out, term = [], _ONE
    for n in range(order + 1):
        out.append(term)
        term = term * rate * _R(QQ(1, n + 1))
    return _Series(out)


def _phi_h(k: int, rate, order) -> _Series:
    """φ_k(h·rate) = Σ_n (h·rate)ⁿ/(n+k)! (MATH §5, proven by check_phi_taylor)."""
    out, power = [], _ONE
    for n in range(order + 1):
        out.append(power * _R(QQ(1, math.factorial(n + k))))
        power = power * rate
    return _Series(out)


def _integrate_w(poly):
    """∫_0^1 poly dw for a ring element."""
    total = _ZERO
    for monom, coeff in poly.terms():
        e = monom[_W_INDEX]
        reduced = list(monom)
        reduced[_W_INDEX] = 0
        total += _R({tuple(reduced): coeff * QQ(1, e + 1)})
    return total


# --------------------------------------------------------------------------------------------
# sympy → series
# --------------------------------------------------------------------------------------------

_SYMBOL_TO_RING = {eta: _ETA}


def _ring_of(expr: sp.Expr):
    """A sympy expression free of h as a ring element."""
    expr = sp.expand(expr)
    if h in expr.free_symbols:
        raise ValueError(f"{expr} depends on h")
    return _R(expr.xreplace({s: sp.Symbol(str(g)) for s, g in _SYMBOL_TO_RING.items()}))


def _to_series(expr: sp.Expr, order: int) -> _Series:
    """Expand a sympy expression built from +, ×, integer powers and exp(h·…) in h."""
    expr = sp.sympify(expr)
    if h not in expr.free_symbols:
        return _Series.const(_ring_of(expr), order)
    if expr == h:
        return _Series.h(order)
    if isinstance(expr, sp.Add):
        total = _Series.const(0, order)
        for term in expr.args:
            total = total + _to_series(term, order)
        return total
    if isinstance(expr, sp.Mul):
        product = _Series.const(1, order)
        for factor in expr.args:
            product = product * _to_series(factor, order)
        return product
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer:
        base = _to_series(expr.base, order)
        if expr.exp < 0:
            base = base.inverse()
        out = _Series.const(1, order)
        for _ in range(abs(int(expr.exp))):
            out = out * base
        return out
    if isinstance(expr, sp.exp):
        arg = sp.expand(expr.args[0])
        poly = sp.Poly(arg, h)
        if poly.degree() > 1 or poly.coeff_monomial(1) != 0:
            raise ValueError(f"exponent {arg} must be h times an h-free expression")
        return _exp_h(_ring_of(poly.coeff_monomial(h)), order)
    raise ValueError(f"cannot expand {expr} in h")


# --------------------------------------------------------------------------------------------
# The test problem and the schemes on it
# --------------------------------------------------------------------------------------------

def _linear_problem():
    """(A, B(λ)) of dx = (A x + B) dλ + e^{−λ}sqrt(2η) dW from MATH §3 with α = 1, D = a x + b(λ)."""
    a, b0, b1, b2, xs = sp.symbols("a b0 b1 b2 x_state")
    denoiser = a * xs + b0 + b1 * lam + b2 * lam**2
    drift = sde_drift("data", xs, denoiser).subs(alpha(lam), 1).doit()
    drift = sp.expand(drift.subs(sp.Derivative(1, lam), 0))
    rate = drift.coeff(xs)
    forcing = sp.expand(drift - rate * xs)
    noise_drift = sde_drift("noise", xs, (xs - denoiser) / sp.exp(-lam)).subs(alpha(lam), 1).doit()
    if sp.simplify(noise_drift - drift) != 0:
        raise AssertionError("data and noise drifts of the test problem differ")
    return rate, forcing


@functools.cache
def _problem_ring():
    rate, forcing = _linear_problem()
    rate_ring = _R(sp.expand(rate).xreplace({eta: sp.Symbol("eta")}))
    forcing_coeffs = [_R(sp.expand(forcing.coeff(lam, n)).xreplace({eta: sp.Symbol("eta")})) for n in range(3)]
    return rate_ring, forcing_coeffs


def _b_at(frac: Fraction, order: int) -> _Series:
    """b(λ) at λ = frac·h as a series."""
    f = QQ(frac.numerator, frac.denominator)
    return _Series([_B0, _B1 * f, _B2 * f * f] + [_ZERO] * (order - 2))


def _model(form: str, frac: Fraction, mean: _Series, kernels: dict, order: int):
    """Mean and kernels of the model output at a node with state (mean, kernels) (α = 1)."""
    if form == "data":  # D = a x + b(λ)
        return mean * _A + _b_at(frac, order), {j: k * _A for j, k in kernels.items()}
    growth = _exp_h(_R(QQ(frac.numerator, frac.denominator)), order)  # e^{λ} = 1/σ
    return growth * (mean * (1 - _A) - _b_at(frac, order)), {j: growth * (k * (1 - _A)) for j, k in kernels.items()}


def _at_point(expr: sp.Expr, frac: Fraction) -> sp.Expr:
    """Schedule symbols at λ_s = 0, α = 1: σ_s = 1, σ_c = e^{−ch}."""
    f = sp.Rational(frac.numerator, frac.denominator)
    return expr.subs({alpha_c: 1, alpha_s: 1, sigma_s: 1, sigma_c: sp.exp(-f * h)})


def _weights(form, frac: Fraction, node_fracs, averaged, order):
    """Model weights A_c ω_j as series: ω_j = ch Σ_n μ_n(κch) P_nj (MATH §5, §6)."""
    scale, rate = stage_kernel(form)
    f = QQ(frac.numerator, frac.denominator)
    p = interpolation_matrix_symbolic([sp.Rational(n.numerator, n.denominator) / sp.Rational(frac.numerator, frac.denominator)
                                       for n in node_fracs])
    kappa_c = _ring_of(rate) * f
    moments = [_phi_h(n + 1, kappa_c, order) * math.factorial(n) for n in range(len(node_fracs))]
    if averaged:
        moments = [moments[0] * _R(QQ(1, n + 1)) for n in range(len(node_fracs))]
    scale_series = _to_series(_at_point(scale, frac), order)
    out = []
    for j in range(len(node_fracs)):
        omega = _Series.const(0, order)
        for n in range(len(node_fracs)):
            entry = p[n, j]
            if entry != 0:
                omega = omega + moments[n] * _R(QQ(int(entry.p), int(entry.q)))
        out.append(scale_series * (_Series.h(order) * f) * omega)
    return out


def _normalised_noise(factor: sp.Matrix, fractions, form: str, order: int):
    """g_ij = F_ij / (sqrt(2η) ‖e^{ku}‖_{S_j}) as series (the scheme's kernel on S_j is σ_i g_ij e^{ku})."""
    k = _ring_of(exact_step(form).weight_exponent)
    lows = [Fraction(0)] + list(fractions[:-1])
    out = {}
    for i in range(len(fractions)):
        for j in range(i + 1):
            low, delta = lows[j], fractions[j] - lows[j]
            if delta == 0:  # a zero-length segment (e.g. SEEDS-2 at r = 1): F_ij = 0, no increment
                out[i, j] = _Series.const(0, order)
                continue
            lo, de = QQ(low.numerator, low.denominator), QQ(delta.numerator, delta.denominator)
            squared = _to_series(sp.expand(factor[i, j] ** 2), order + 1).divide_by_h()
            squared = squared.map(lambda p: p.exquo(2 * _ETA))
            # ‖e^{ku}‖²_{S_j}/h = Δ_j ∫_0^1 e^{2k h (c_{j−1} + Δ_j w)} dw
            norm = _exp_h(2 * k * (lo + de * _W), order).map(_integrate_w) * _R(de)
            out[i, j] = (squared.truncate(order) * norm.inverse()).sqrt()
    return out


@dataclass(frozen=True)
class LocalErrorExpansion:
    """h-series (coefficients: ring polynomials) of a scheme's local error on the test problem.

    mean_error: E e = E X_s − E X_e (the first-moment error); mean_square_error: E e²;
    second_moment_error: E X_s² − E X_e²; order: truncation degree in h; radicand: the integer
    whose square root the generator r stands for (1 if none is needed).
    """

    mean_error: _Series
    mean_square_error: _Series
    second_moment_error: _Series
    order: int
    radicand: int = 1

    def coefficients(self, quantity: str) -> list[sp.Expr]:
        """The h-coefficients of ``quantity`` ("mean_error", "mean_square_error",
        "second_moment_error") as sympy expressions in a, b0, b1, b2, x0, eta."""
        if quantity not in ("mean_error", "mean_square_error", "second_moment_error"):
            raise ValueError(f"quantity must name a series of this expansion, got {quantity!r}")
        root = sp.sqrt(self.radicand)
        return [sp.expand(p.as_expr().subs(sp.Symbol("r"), root)) for p in getattr(self, quantity).c]

    def evaluate(self, quantity: str, values: dict, step) -> sp.Expr:
        """Σ_n c_n hⁿ of ``quantity`` at rational ``values`` (keys "a", "b0", "b1", "b2", "x0",
        "eta") and h = ``step``, exactly (a rational, or rational + rational·sqrt(radicand))."""
        if quantity not in ("mean_error", "mean_square_error", "second_moment_error"):
            raise ValueError(f"quantity must name a series of this expansion, got {quantity!r}")
        gens = {"a": _A, "b0": _B0, "b1": _B1, "b2": _B2, "x0": _X0, "eta": _ETA}
        if set(values) != set(gens):
            raise ValueError(f"values must give {sorted(gens)}, got {sorted(values)}")
        step_q = QQ(Fraction(step).numerator, Fraction(step).denominator)
        total = _ZERO
        for n, poly in enumerate(getattr(self, quantity).c):
            for name, gen in gens.items():
                q = Fraction(values[name])
                poly = poly.subs(gen, QQ(q.numerator, q.denominator))
            total += poly * step_q**n
        even, odd = _at_eta(total, None, self.radicand)
        return _ground(even) + sp.sqrt(self.radicand) * _ground(odd)


def _expansion(stages, form: str, factor: sp.Matrix | None, order: int) -> LocalErrorExpansion:
    """Local error series of the scheme (``stages``: (fraction, nodes, averaged); ``None`` factor: EM)."""
    _SQRT_RADICAND.clear()
    rate, forcing = _problem_ring()
    fractions = [Fraction(f) for f, _, _ in stages]
    lows = [Fraction(0)] + fractions[:-1]
    hs = _Series.h(order)

    # exact solution: m_e = e^{Ah} x_0 + ∫_0^h e^{A(h−u)} B(u) du, K_e = sqrt(2η) e^{A(h−u) − u}
    forcing_u = _Series([forcing[0], forcing[1] * _W, forcing[2] * _W * _W] + [_ZERO] * (order - 2))
    exact_mean = _exp_h(rate, order) * _X0 + hs * (_exp_h(rate * (1 - _W), order) * forcing_u).map(_integrate_w)

    def exact_kernel(j):
        lo, de = QQ(lows[j].numerator, lows[j].denominator), QQ((fractions[j] - lows[j]).numerator,
                                                                 (fractions[j] - lows[j]).denominator)
        pos = lo + de * _W
        return _exp_h(rate * (1 - pos) - pos, order)

    if factor is None:  # Euler–Maruyama: x_0 + h (A x_0 + B(0)) + sqrt(2η) σ_0 ΔW
        scheme_mean = _Series.const(_X0, order) + hs * (_X0 * rate + forcing[0])
        scheme_kernels = {0: _Series.const(1, order)}
    else:
        g = _normalised_noise(factor, fractions, form, order)
        k = _ring_of(exact_step(form).weight_exponent)
        means = {0: _Series.const(_X0, order)}
        kernels = {0: {}}
        models = {0: _model(form, Fraction(0), means[0], kernels[0], order)}
        for i, (frac, nodes, averaged) in enumerate(stages, start=1):
            frac = Fraction(frac)
            node_fracs = [Fraction(0) if n == 0 else fractions[n - 1] for n in nodes]
            lin = _to_series(_at_point(linear_factor_symbolic(form, sp.Rational(frac.numerator, frac.denominator)), frac), order)
            weights = _weights(form, frac, node_fracs, averaged, order)
            mean = lin * _X0
            kern: dict = {}
            for node, weight in zip(nodes, weights):
                m_mean, m_kern = models[node]
                mean = mean + weight * m_mean
                for j, kj in m_kern.items():
                    kern[j] = kern.get(j, _Series.const(0, order)) + weight * kj
            sigma_i = _exp_h(_R(-QQ(frac.numerator, frac.denominator)), order)
            for j in range(i):
                lo, de = QQ(lows[j].numerator, lows[j].denominator), QQ((fractions[j] - lows[j]).numerator,
                                                                         (fractions[j] - lows[j]).denominator)
                own = sigma_i * g[i - 1, j] * _exp_h(k * (lo + de * _W), order)
                kern[j] = kern.get(j, _Series.const(0, order)) + own
            means[i], kernels[i] = mean, kern
            models[i] = _model(form, frac, mean, kern, order)
        scheme_mean = means[len(stages)]
        scheme_kernels = kernels[len(stages)]

    segments = range(len(fractions))
    mean_error = scheme_mean - exact_mean
    fluct = _Series.const(0, order)
    var_s = _Series.const(0, order)
    var_e = _Series.const(0, order)
    for j in segments:
        de = QQ((fractions[j] - lows[j]).numerator, (fractions[j] - lows[j]).denominator)
        ks = scheme_kernels.get(j, _Series.const(0, order))
        ke = exact_kernel(j)
        diff = ks - ke
        seg = hs * _R(de * 2) * _ETA  # 2η |S_j| (du = h Δ_j dw)
        fluct = fluct + seg * (diff * diff).map(_integrate_w)
        var_s = var_s + seg * (ks * ks).map(_integrate_w)
        var_e = var_e + seg * (ke * ke).map(_integrate_w)
    mean_square = mean_error * mean_error + fluct
    second = scheme_mean * scheme_mean - exact_mean * exact_mean + var_s - var_e
    return LocalErrorExpansion(mean_error, mean_square, second, order,
                               _SQRT_RADICAND[0] if _SQRT_RADICAND else 1)


# --------------------------------------------------------------------------------------------
# Reading orders off the series
# --------------------------------------------------------------------------------------------

def _at_eta(poly, value, radicand: int):
    """(rational part, sqrt part) of a coefficient at η = value with r = sqrt(radicand)."""
    fixed = poly.subs(_ETA, value) if value is not None else poly  # None: η already fixed
    even, odd = _ZERO, _ZERO
    for monom, coeff in fixed.terms():
        e = monom[_ROOT_INDEX]
        reduced = list(monom)
        reduced[_ROOT_INDEX] = 0
        term = _R({tuple(reduced): coeff * QQ(radicand) ** (e // 2)})
        if e % 2:
            odd += term
        else:
            even += term
    return even, odd


def _leading(series: _Series, value, radicand: int):
    """(index, coefficient) of the first coefficient that is non-zero at η = value, or None."""
    for n, poly in enumerate(series.c):
        even, odd = _at_eta(poly, value, radicand)
        if even or odd:
            return n, (even, odd)
    return None


def _ground(poly) -> sp.Rational:
    if poly and not poly.is_ground:
        raise AssertionError(f"coefficient still depends on symbols: {poly}")
    return sp.Rational(int(poly.LC.numerator), int(poly.LC.denominator)) if poly else sp.Integer(0)


def _at_reference(parts, radicand: int) -> float:
    even, odd = parts
    point = {_A: REFERENCE_POINT["a"], _B0: REFERENCE_POINT["b0"], _B1: REFERENCE_POINT["b1"],
             _B2: REFERENCE_POINT["b2"], _X0: REFERENCE_POINT["x0"]}

    def evaluate(poly):
        for gen, val in point.items():
            poly = poly.subs(gen, QQ(val.numerator, val.denominator))
        if not poly.is_ground and poly:
            raise AssertionError(f"coefficient still depends on symbols: {poly}")
        return sp.Rational(poly.LC.numerator, poly.LC.denominator) if poly else sp.Integer(0)

    return float(evaluate(even) + sp.sqrt(radicand) * evaluate(odd))


def local_error_expansion(stages, form: str, factor: sp.Matrix | None, order: int = _START_ORDER):
    """The h-series of the local error (public for inspection and tests; see module docstring).

    ``stages``: sequence of (fraction, nodes, averaged) with the end point (fraction 1) last;
    ``factor``: the sympy noise factor used by the scheme (``None``: Euler–Maruyama, one stage).
    """
    if form not in ("data", "noise"):
        raise ValueError(f"form must be 'data' or 'noise', got {form!r}")
    return _expansion(tuple(stages), form, factor, order)


def _rows_for(scheme: str, stages, form: str, factor_fn, fractions) -> list[OrderPrediction]:
    order = _START_ORDER
    while True:
        factor = factor_fn(form) if factor_fn is not None else None
        exp = _expansion(tuple(stages), form, factor, order)
        det = _leading(exp.mean_error, 0, exp.radicand)
        mean1 = _leading(exp.mean_error, 1, exp.radicand)
        ms1 = _leading(exp.mean_square_error, 1, exp.radicand)
        weak1 = _leading(exp.mean_error, 1, exp.radicand), _leading(exp.second_moment_error, 1, exp.radicand)
        if all(x is not None for x in (det, mean1, ms1, *weak1)):
            break
        order += 3
        if order > _MAX_ORDER:
            raise ArithmeticError(f"{scheme} ({form}): local error vanishes through h^{_MAX_ORDER}")
    rows = []
    p1 = mean1[0]
    p2 = Fraction(ms1[0], 2)
    strong = min(p2, Fraction(p1) - Fraction(1, 2)) - Fraction(1, 2)
    strong_const = math.sqrt(max(_at_reference(ms1[1], exp.radicand), 0.0))
    rows.append(OrderPrediction(scheme, form, "strong", float(strong), strong_const, fractions,
                                float(p1), float(p2)))
    q_plus_one = min(weak1[0][0], weak1[1][0])
    second = exp.second_moment_error.c[q_plus_one]
    weak_const = _at_reference(_at_eta(second, 1, exp.radicand), exp.radicand)
    rows.append(OrderPrediction(scheme, form, "weak", float(q_plus_one - 1), weak_const, fractions,
                                float(p1), float(p2)))
    rows.append(OrderPrediction(scheme, form, "deterministic", float(det[0] - 1),
                                _at_reference(det[1], exp.radicand), fractions, float(det[0]), None))
    return rows


def _spec_stages(spec):
    return tuple((Fraction(st.fraction), tuple(st.nodes), bool(st.averaged)) for st in spec.stages)


def predicted_orders() -> list[OrderPrediction]:
    """Predicted orders and leading constants of every scheme (module docstring).

    Rows for "em", "seeds1", "seeds2_phi_1" and "seeds2_phi_2" (r = 1/2 and 1/3), "seeds3_3a" and
    "seeds3_3b" (1/3, 2/3) and "seeds2_phi_1_swapped" (r = 1/3), each in both parametrisations
    and all three regimes. Euler–Maruyama does not depend on the parametrisation (the drift is
    one function, MATH §3), so its data and noise rows coincide. The derivation runs once (a
    few seconds) and is cached; each call returns a fresh list of the immutable rows.
    """
    return list(_predicted_orders())


@functools.cache
def _predicted_orders() -> tuple[OrderPrediction, ...]:
    from seeds_verify.schemes import seeds1_spec, seeds2_spec, seeds3_spec

    third = Fraction(1, 3)
    cases = [("em", ((Fraction(1), (0,), False),), None, ())]
    cases.append(("seeds1", _spec_stages(seeds1_spec()), "factor", ()))
    for variant in ("phi_1", "phi_2"):
        for r in (Fraction(1, 2), third):
            cases.append((f"seeds2_{variant}", _spec_stages(seeds2_spec(r, variant)), "factor", (r,)))
    for variant in ("3a", "3b"):
        cases.append((f"seeds3_{variant}", _spec_stages(seeds3_spec(third, 2 * third, variant)), "factor", (third, 2 * third)))
    cases.append(("seeds2_phi_1_swapped", _spec_stages(seeds2_spec(third, "phi_1")), "swapped", (third,)))
    rows: list[OrderPrediction] = []
    for name, stages, kind, fractions in cases:
        for form in ("data", "noise"):
            if kind is None:
                factor_fn = None
            elif kind == "swapped":
                factor_fn = functools.partial(_swapped, fractions[0])
            else:
                factor_fn = functools.partial(_factor, tuple(f for f, _, _ in stages))
            rows.extend(_rows_for(name, stages, form, factor_fn, fractions))
    return tuple(rows)


def _factor(fractions, form):
    return noise_factor_symbolic(tuple(sp.Rational(f.numerator, f.denominator) for f in fractions), form)


def _swapped(fraction, form):
    return swapped_noise_factor_symbolic(sp.Rational(fraction.numerator, fraction.denominator), form)


# --------------------------------------------------------------------------------------------
# Global mean-square error on the linear test problem (exact second-moment recursion)
# --------------------------------------------------------------------------------------------

def linear_global_strong_error(spec, form: str, a, eta_value, lam_start, lam_end, steps: int,
                               x_start=1, swapped: bool = False, digits: int = 30) -> float:
    """sqrt(E|X_N − Y_N|²) after N = ``steps`` equal steps on the linear test problem.

    See :func:`linear_global_second_moments`; the global strong constant is this value / h.
    """
    import mpmath as mp

    with mp.workdps(digits):
        xx, xy, yy = _global_moments(spec, form, a, eta_value, lam_start, lam_end, steps, x_start, swapped)
        return float(mp.sqrt(xx - 2 * xy + yy))


def linear_global_second_moments(spec, form: str, a, eta_value, lam_start, lam_end, steps: int,
                                 x_start=1, swapped: bool = False, digits: int = 30) -> tuple:
    """(E X_N², E X_N Y_N, E Y_N²) for N = ``steps`` equal steps of the scheme, exactly.

    D(x) = a x (b ≡ 0), α = 1, σ = e^{−λ}, from λ_start to λ_end, X_0 = Y_0 = ``x_start``; X is
    the exact solution, Y the scheme on the same Brownian path. Both are linear with additive
    noise, so one step reads X' = E X + σ_n ξ_n, Y' = R Y + σ_n ζ_n with (ξ_n, ζ_n) Gaussian,
    independent of the past, with the covariance Q of the module docstring (σ_n = e^{−λ_n} by
    translation invariance); the second moments of (X, Y) then obey S' = M S Mᵀ + σ_n² Q,
    M = diag(E, R) — no sampling. E, R, Q come from :func:`scheme_coefficients` (closed forms)
    and quadrature, evaluated with ``digits`` digits. ``swapped`` uses the SEEDS-2 factor with
    c ↔ 1 − c in the end row (MATH §7). E Y_N² − E X_N² is the global weak error of the second
    moment (the first moment's is (R^N − E^N) x_start).
    """
    import mpmath as mp

    with mp.workdps(digits):
        return tuple(float(v) for v in _global_moments(spec, form, a, eta_value, lam_start, lam_end, steps,
                                                       x_start, swapped))


def _global_moments(spec, form, a, eta_value, lam_start, lam_end, steps, x_start, swapped):
    """The recursion of :func:`linear_global_second_moments` at the current mpmath precision."""
    import mpmath as mp

    from .coefficients import scheme_coefficients

    if form not in ("data", "noise"):
        raise ValueError(f"form must be 'data' or 'noise', got {form!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    def exact(value):  # a number as an exact fraction, then at the working precision
        q = Fraction(value)
        return mp.mpf(q.numerator) / q.denominator

    a_v, ev, lam0, lam1 = exact(a), exact(eta_value), exact(lam_start), exact(lam_end)
    if not lam1 > lam0:
        raise ValueError("lam_end must exceed lam_start")
    hv = (lam1 - lam0) / steps
    coeffs = scheme_coefficients(spec, form)
    if swapped:
        if len(coeffs.fractions) != 2:
            raise ValueError("swapped applies to two-point (SEEDS-2) schemes only")
        factor = swapped_noise_factor_symbolic(coeffs.fractions[0], form)
    else:
        factor = coeffs.noise_factor
    fracs = [mp.mpf(int(sp.Rational(f).p)) / int(sp.Rational(f).q) for f in coeffs.fractions]
    big_a = (1 + ev) * (a_v - 1)
    k = ev if form == "data" else mp.mpf(-1)
    h_sym = sp.Symbol("h_value", positive=True)

    def value(expr, frac):
        sub = {alpha_s: 1, sigma_s: 1, alpha_c: 1, sigma_c: sp.exp(-sp.Rational(frac) * h_sym)}
        fn = sp.lambdify((h_sym, eta), sp.sympify(expr).subs(sub).subs(h, h_sym), "mpmath")
        return fn(hv, ev)

    m = len(fracs)
    states = {0: (mp.mpf(1), [mp.mpf(0)] * m)}
    for i, stage in enumerate(coeffs.stages, start=1):
        mean_i = value(stage.linear_factor, stage.fraction)
        s_i = [mp.mpf(0)] * m
        for node, weight in zip(stage.nodes, stage.model_weights):
            n_mean, n_s = states[node]
            lam_node = mp.mpf(0) if node == 0 else fracs[node - 1] * hv
            slope = a_v if form == "data" else mp.exp(lam_node) * (1 - a_v)
            w = value(weight, stage.fraction)
            mean_i += w * slope * n_mean
            s_i = [x + w * slope * y for x, y in zip(s_i, n_s)]
        sigma_i = mp.exp(-fracs[i - 1] * hv)
        for j in range(i):
            s_i[j] += sigma_i * value(factor[i - 1, j], stage.fraction)
        states[i] = (mean_i, s_i)
    scheme_gain, s_end = states[m]
    lows = [mp.mpf(0)] + fracs[:-1]
    cross = mp.mpf(0)
    for j in range(m):
        lo, hi = lows[j] * hv, fracs[j] * hv
        if hi == lo:  # a zero-length segment carries no increment
            continue
        norm = mp.sqrt(mp.quad(lambda t: mp.exp(2 * k * t), [lo, hi]))
        cross += s_end[j] * mp.sqrt(2 * ev) * mp.quad(lambda t: mp.exp(big_a * (hv - t) - t + k * t), [lo, hi]) / norm
    var_exact = 2 * ev * mp.quad(lambda t: mp.exp(2 * big_a * (hv - t) - 2 * t), [0, hv])
    var_scheme = sum(x * x for x in s_end)
    gain = mp.matrix([[mp.exp(big_a * hv), 0], [0, scheme_gain]])
    noise = mp.matrix([[var_exact, cross], [cross, var_scheme]])
    x0 = exact(x_start)
    moments = mp.matrix([[x0 * x0, x0 * x0], [x0 * x0, x0 * x0]])
    lam = lam0
    for _ in range(steps):
        moments = gain * moments * gain.T + mp.exp(-2 * lam) * noise
        lam += hv
    return moments[0, 0], moments[0, 1], moments[1, 1]
