"""Noise schedules in float64: α_t, σ_t, the half log-SNR λ_t and its exact inverse (MATH §1).

Convention (MATH §1): ``x_t = α_t x_0 + σ_t ε`` and ``λ_t = log(α_t/σ_t)``, strictly
decreasing in t. Sampling runs from high noise to low noise, so λ *increases* along a sampling
grid; :func:`lambda_grid` returns such grids. Solvers work in λ, so every schedule also answers
α, σ and dlog α/dλ as functions of λ, and ``t_of_lam`` inverts ``lam`` exactly.

The k-diffusion / EDM convention rescales ``x ← x/α``, so that α = 1 and ``σ̃ = σ/α = e^{−λ}``;
:func:`sigmas_from_lambdas` and :func:`lambdas_from_sigmas` convert between the two.

Numerics. Every formula is written so that no two nearly equal numbers are subtracted: for a
variance-preserving schedule ``σ² = −expm1(2 log α)`` and ``λ = log α − ½ log(−expm1(2 log α))``;
functions of λ use a sigmoid evaluated as ``1/(1+e^{−|x|})`` or ``e^{−|x|}/(1+e^{−|x|})``.
``tests/test_schedules.py`` measures the results against mpmath at 30 digits.

Inputs: every method accepts a Python number (returns ``float``), a numpy scalar or array
(returns float64 numpy) or a torch tensor (returns a tensor of the input's floating dtype on the
input's device; integer tensors give float64). The computation itself is always float64.

Extremes. Every t of the domain (down to the smallest subnormal) and every finite λ (up to
±1.8e308) gives the float64 value to a few ulp plus the conditioning of the function — no NaN
and no spurious 0 or inf: e.g. ``VPLinear(0, 20).t_of_lam(400) ≈ 6.1e-175``,
``VPLinear().t_of_lam(-1e308) ≈ 4.5e153``, ``VPLinear().lam(1e-320) ≈ 369.6``. Where the exact
value lies beyond float64 the IEEE limit is returned (``EDM().t_of_lam(-800) = inf``, a
subnormal or 0 below 2.2e-308; ``lam`` is ±inf at the ends of the domain where σ or α vanish).
``tests/test_fuzz_noise_schedules.py`` checks this over the whole range and over schedule
parameters spanning hundreds of decades.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from .array_backends import NumpyOps as _NumpyOps
from .array_backends import TorchOps as _TorchOps
from .devices import check_device

__all__ = [
    "Schedule",
    "VPLinear",
    "VPCosine",
    "VE",
    "EDM",
    "RectifiedFlow",
    "SCHEDULES",
    "SPACINGS",
    "get_schedule",
    "lambda_grid",
    "sigmas_from_lambdas",
    "lambdas_from_sigmas",
]

SPACINGS = ("lambda", "karras", "time")
MAX_STEPS = 10 ** 7
"""Largest ``n_steps`` of :func:`lambda_grid`: 80 MB per float64 grid, and ten million model
calls per solve on it — far beyond any sampling or convergence grid, while a stray huge value
would otherwise allocate several arrays of 8 bytes per step before failing."""
RHO_RANGE = (1e-3, 1e6)
"""Accepted ρ of the Karras spacing. Larger ρ is uniform λ spacing to within Δ²/(8ρ) (Δ the λ
range; < 1.3e-5 for Δ = 10) while the rounding of the log-sum-exp form grows like ρ·ε·log n,
so use ``spacing="lambda"``; smaller ρ puts every interior point within ρ·log n of λ(t_start)."""


# --------------------------------------------------------------------------------------------
# Array back ends: the same formulas run on numpy arrays and on torch tensors.
# --------------------------------------------------------------------------------------------


def _sigmoid(x, ops):
    """1/(1+e^{−x}) with relative error of a few ulp for every x (e^{−|x|} never overflows)."""
    e = ops.exp(-ops.abs(x))
    return ops.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x, ops):
    """log(1+e^x) = max(x, 0) + log1p(e^{−|x|}): a sum of two non-negative terms."""
    return ops.maximum(x, 0.0) + ops.log1p(ops.exp(-ops.abs(x)))


def _hypot(x, c: float, ops):
    """sqrt(x² + c²) for an array x and a constant c, without overflow or underflow."""
    if ops is _TorchOps:
        return torch.hypot(x, torch.full_like(x, c))
    return np.hypot(x, c)


def _as_float64(x: Any, name: str) -> tuple[Any, Any, Callable[[Any], Any]]:
    """Return (float64 values, back end, function restoring the caller's type); reject NaN/inf."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, array or tensor, got bool")
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.bool or x.is_complex():
            raise TypeError(f"{name} must be a real tensor, got dtype {x.dtype}")
        out_dtype = x.dtype if x.is_floating_point() else torch.float64
        values = x.to(torch.float64)
        if not bool(torch.isfinite(values).all()):
            raise ValueError(f"{name} must be finite, got NaN or inf")
        return values, _TorchOps, lambda r: r.to(out_dtype)
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real array, got dtype {x.dtype}")
        values = x.astype(np.float64)
        restore = lambda r: np.asarray(r, dtype=np.float64)  # noqa: E731
    elif isinstance(x, np.generic):
        if x.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
        values = np.asarray(x, dtype=np.float64)
        restore = lambda r: np.float64(r)  # noqa: E731
    elif isinstance(x, (int, float)):
        values = np.asarray(float(x), dtype=np.float64)
        restore = float
    else:
        raise TypeError(f"{name} must be a float, numpy array or torch tensor, got {type(x).__name__}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return values, _NumpyOps, restore


def _extrema(values) -> tuple[float, float]:
    """(min, max) of the values; (inf, −inf) for an empty array, which passes every range check."""
    if values.size == 0 if isinstance(values, np.ndarray) else values.numel() == 0:
        return math.inf, -math.inf
    if isinstance(values, torch.Tensor):
        return float(values.min()), float(values.max())
    return float(np.min(values)), float(np.max(values))


def _check_real(value: Any, name: str) -> float:
    """A finite Python float from a real scalar; TypeError/ValueError naming ``name`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------


class Schedule:
    """A noise schedule ``x_t = α_t x_0 + σ_t ε`` with half log-SNR ``λ_t = log(α_t/σ_t)`` (MATH §1).

    λ is strictly decreasing in t, so a sampling grid (high noise → low noise) has increasing λ.

    Attributes:
        name: the key under which :func:`get_schedule` builds this schedule.
        t_min, t_max: the default sampling range; ``lam_range() = (λ(t_max), λ(t_min))``.
        t_domain: the closed interval on which the defining formula is valid (α ≥ 0, σ ≥ 0,
            λ strictly decreasing). ``lam`` returns ±inf at an end point where σ = 0 or α = 0.

    Functions of t accept any t in ``t_domain``; functions of λ accept any finite λ (every
    schedule here maps its domain onto the whole real λ line). All of them accept floats, numpy
    arrays and torch tensors and return the same kind (see the module docstring).
    """

    name: str = ""
    t_min: float
    t_max: float
    t_domain: tuple[float, float] = (-math.inf, math.inf)

    # -- float64 kernels implemented by each schedule (inputs already validated) -------------
    def _alpha(self, t, ops):
        raise NotImplementedError

    def _sigma(self, t, ops):
        raise NotImplementedError

    def _lam(self, t, ops):
        raise NotImplementedError

    def _t_of_lam(self, lam, ops):
        raise NotImplementedError

    def _alpha_of_lam(self, lam, ops):
        raise NotImplementedError

    def _sigma_of_lam(self, lam, ops):
        raise NotImplementedError

    def _dlog_alpha_dlam(self, lam, ops):
        raise NotImplementedError

    # -- public interface ----------------------------------------------------------------------
    def _apply_t(self, kernel, t):
        values, ops, restore = _as_float64(t, "t")
        lo, hi = self.t_domain
        t_lo, t_hi = _extrema(values)
        if t_lo < lo or t_hi > hi:
            raise ValueError(
                f"t must lie in [{lo}, {hi}] for schedule {self.name!r}, got values in [{t_lo}, {t_hi}]"
            )
        with np.errstate(divide="ignore", over="ignore", under="ignore"):
            return restore(kernel(values, ops))

    def _apply_lam(self, kernel, lam):
        values, ops, restore = _as_float64(lam, "lam")
        with np.errstate(over="ignore", under="ignore"):
            return restore(kernel(values, ops))

    def alpha(self, t):
        """α_t, the signal scale."""
        return self._apply_t(self._alpha, t)

    def sigma(self, t):
        """σ_t, the noise scale."""
        return self._apply_t(self._sigma, t)

    def lam(self, t):
        """λ_t = log(α_t/σ_t) (MATH §1); +inf where σ_t = 0, −inf where α_t = 0."""
        return self._apply_t(self._lam, t)

    def t_of_lam(self, lam):
        """The exact inverse of :meth:`lam`: the t in ``t_domain`` with λ_t = lam."""
        return self._apply_lam(self._t_of_lam, lam)

    def alpha_of_lam(self, lam):
        """α as a function of λ."""
        return self._apply_lam(self._alpha_of_lam, lam)

    def sigma_of_lam(self, lam):
        """σ as a function of λ."""
        return self._apply_lam(self._sigma_of_lam, lam)

    def dlog_alpha_dlam(self, lam):
        """d log α / dλ, the linear drift coefficient of the data- and noise-form SDEs (MATH §3)."""
        return self._apply_lam(self._dlog_alpha_dlam, lam)

    def lam_range(self) -> tuple[float, float]:
        """(λ(t_max), λ(t_min)): the increasing λ interval of a default sampling grid."""
        return float(self.lam(self.t_max)), float(self.lam(self.t_min))

    def _check_time_range(self, t_min: Any, t_max: Any) -> None:
        """Set t_min < t_max inside ``t_domain``, with finite λ at both ends."""
        t_min = _check_real(t_min, "t_min")
        t_max = _check_real(t_max, "t_max")
        lo, hi = self.t_domain
        if not lo <= t_min < t_max <= hi:
            raise ValueError(
                f"need {lo} <= t_min < t_max <= {hi} for schedule {self.name!r}, "
                f"got t_min={t_min}, t_max={t_max}"
            )
        self.t_min, self.t_max = t_min, t_max
        for label, value in (("t_min", t_min), ("t_max", t_max)):
            if not math.isfinite(float(self.lam(value))):
                raise ValueError(
                    f"{label}={value} is an end of the domain of schedule {self.name!r} where λ is infinite"
                )

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self) -> dict:
        return {"t_min": self.t_min, "t_max": self.t_max}


class _VariancePreserving(Schedule):
    """α_t² + σ_t² = 1. Every such schedule shares its functions of λ:

    α² = e^{2λ}/(1+e^{2λ}) = sigmoid(2λ) and σ² = sigmoid(−2λ) (from α/σ = e^λ and α² + σ² = 1);
    log α = −½ log(1 + e^{−2λ}) gives ``dlog α/dλ = e^{−2λ}/(1+e^{−2λ}) = sigmoid(−2λ) = σ(λ)²``.

    Subclasses supply ``_log_alpha(t)`` accurate in relative terms (it is tiny near t = 0), from
    which ``σ² = −expm1(2 log α)`` and ``λ = log α − ½ log σ²`` lose nothing — as long as
    −log α is a normal float64. Closer to t = 0 (−log α < 1e-300, where it underflows) they
    supply ``_root_neg_log_alpha(t)`` = (r, log r) with r = sqrt(−log α) computed from t
    directly; there σ² = −expm1(−2r²) = 2r² exactly in float64, so ``σ = √2 r`` and
    ``λ = log α − ½ log 2 − log r``, finite and accurate down to the smallest positive t.
    """

    _TINY = 1e-300  # below this −log α, σ and λ come from _root_neg_log_alpha

    def _log_alpha(self, t, ops):
        raise NotImplementedError

    def _root_neg_log_alpha(self, t, ops):
        raise NotImplementedError

    def _alpha(self, t, ops):
        return ops.exp(self._log_alpha(t, ops))

    def _sigma(self, t, ops):
        log_alpha = self._log_alpha(t, ops)
        root, _ = self._root_neg_log_alpha(t, ops)
        tiny = -log_alpha < self._TINY
        regular = ops.sqrt(-ops.expm1(2.0 * ops.where(tiny, ops.full_like(log_alpha, -1.0), log_alpha)))
        return ops.where(tiny, math.sqrt(2.0) * root, regular)

    def _lam(self, t, ops):
        log_alpha = self._log_alpha(t, ops)
        _, log_root = self._root_neg_log_alpha(t, ops)
        tiny = -log_alpha < self._TINY
        safe = ops.where(tiny, ops.full_like(log_alpha, -1.0), log_alpha)
        regular = log_alpha - 0.5 * ops.log(-ops.expm1(2.0 * safe))
        return ops.where(tiny, log_alpha - 0.5 * math.log(2.0) - log_root, regular)

    def _alpha_of_lam(self, lam, ops):
        # α = 1/sqrt(1+e^{−2λ}) for λ ≥ 0 and e^{λ}/sqrt(1+e^{2λ}) for λ < 0: the latter keeps
        # full relative precision down to λ ≈ −745, where sqrt(sigmoid(2λ)) would underflow
        # already at λ ≈ −372.
        e = ops.exp(-ops.abs(lam))
        return ops.where(lam >= 0, ops.full_like(e, 1.0), e) / ops.sqrt(1.0 + e * e)

    def _sigma_of_lam(self, lam, ops):
        e = ops.exp(-ops.abs(lam))
        return ops.where(lam >= 0, e, ops.full_like(e, 1.0)) / ops.sqrt(1.0 + e * e)

    def _dlog_alpha_dlam(self, lam, ops):
        return _sigmoid(-2.0 * lam, ops)


class VPLinear(_VariancePreserving):
    """Variance-preserving schedule with linear β(t) = β_min + (β_max − β_min) t (MATH §1).

    ``log α_t = −β_min t/2 − (β_max − β_min) t²/4``, ``σ_t = sqrt(1 − α_t²)``, on t ∈ [0, ∞)
    (sampling uses [t_min, t_max] = [1e-3, 1]).

    Inverse: with ``c = −log α = ½ log(1 + e^{−2λ}) > 0``, t solves ``a t² + b t − c = 0`` with
    ``a = (β_max − β_min)/4``, ``b = β_min/2``. The positive root is taken in the form
    ``t = 2c / (b + sqrt(b² + 4ac))``: a sum of positive terms, whereas the textbook
    ``(−b + sqrt(b² + 4ac))/(2a)`` cancels when 4ac ≪ b² (small t). It is evaluated as
    ``t = q / (B + hypot(B, sqrt(a)))`` with ``q = sqrt(c)`` and ``B = b/(2q)``, q computed
    without forming c where c under- or overflows, so that every finite λ gives t to a few ulp
    (e.g. t ≈ e^{−λ}/sqrt(2a) for β_min = 0 and λ = 400, t ≈ sqrt(|λ|/a) for λ = −1e308).

    ``dlog α/dλ = σ(λ)²`` (see the variance-preserving derivation above).
    """

    name = "vp_linear"
    t_domain = (0.0, math.inf)
    _LAM_LOG = 700.0  # t_of_lam works in log space above this λ (see _t_of_lam)

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, t_min: float = 1e-3, t_max: float = 1.0):
        beta_min = _check_real(beta_min, "beta_min")
        beta_max = _check_real(beta_max, "beta_max")
        if beta_min < 0.0:
            raise ValueError(f"beta_min must be >= 0, got {beta_min}")
        if beta_max <= beta_min:
            raise ValueError(f"beta_max must be > beta_min, got beta_min={beta_min}, beta_max={beta_max}")
        self.beta_min, self.beta_max = beta_min, beta_max
        self._a = 0.25 * (beta_max - beta_min)
        self._b = 0.5 * beta_min
        self._check_time_range(t_min, t_max)

    def _params(self) -> dict:
        return {"beta_min": self.beta_min, "beta_max": self.beta_max, **super()._params()}

    def _log_alpha(self, t, ops):
        # Both terms have the same sign, so log α keeps full relative precision as t → 0.
        return -t * (self._b + self._a * t)

    def _root_neg_log_alpha(self, t, ops):
        # −log α = t (b + a t): r = sqrt(t)·sqrt(b + a t), or t·sqrt(a) when b = 0 (no underflow
        # of t² and no square root of a subnormal).
        if self._b > 0.0:
            inner = self._b + self._a * t
            return ops.sqrt(t) * ops.sqrt(inner), 0.5 * (ops.log(t) + ops.log(inner))
        return t * math.sqrt(self._a), ops.log(t) + 0.5 * math.log(self._a)

    def _t_of_lam(self, lam, ops):
        # t = 2c/(b + sqrt(b² + 4ac)) with c = −log α = ½ log(1 + e^{−2λ}), rewritten with
        # q = sqrt(c) and B = b/(2q) as t = q / (B + hypot(B, sqrt(a))): a sum of positive terms
        # in which nothing overflows or underflows before the result does, for every finite λ.
        #   λ ≥ 0: q = e^{−λ} sqrt(½ log1p(y)/y), y = e^{−2λ} (the ratio → 1 as y underflows);
        #   λ < 0: c = −λ + ½ log1p(e^{2λ}), a sum of positive terms (≈ |λ| up to 1.8e308).
        # From λ = 700 on q nears the subnormal range, and t is taken as exp(log t) with
        # log q = −λ − ½ log 2 (y < 1e-600): one rounding into the subnormals instead of several,
        # and a relative error ε·|log t|, within the conditioning ε|λ|·|dlog t/dλ| (|dlog t/dλ| ≥ 1).
        high = lam > self._LAM_LOG
        lam_mid = ops.where(high, ops.full_like(lam, self._LAM_LOG), lam)
        pos = ops.maximum(lam_mid, 0.0)
        neg = -ops.maximum(-lam_mid, 0.0)
        y = ops.exp(-2.0 * pos)
        y_safe = ops.where(y > 0, y, ops.full_like(y, 1.0))
        ratio = ops.where(y > 0, ops.log1p(y_safe) / y_safe, ops.full_like(y, 1.0))
        q = ops.where(lam_mid >= 0, ops.exp(-pos) * ops.sqrt(0.5 * ratio),
                      ops.sqrt(-neg + 0.5 * ops.log1p(ops.exp(2.0 * neg))))
        big_b = self._b / (2.0 * q)
        t_mid = q / (big_b + _hypot(big_b, math.sqrt(self._a), ops))
        # The log-space branch on λ ≥ 700 (clamped below so that it sees no smaller λ).
        lam_high = ops.maximum(lam, self._LAM_LOG)
        log_q = -lam_high - 0.5 * math.log(2.0)
        half_log_a = 0.5 * math.log(self._a)
        if self._b > 0.0:
            # log(B + hypot(B, √a)) from log B and log √a: with M the larger and e = e^{−|log B − log √a|},
            # M(1 + sqrt(1 + e²)) if B is the larger, M(e + sqrt(e² + 1)) otherwise.
            log_b = math.log(0.5 * self._b) - log_q
            b_larger = log_b >= half_log_a
            larger = ops.maximum(log_b, half_log_a)
            e = ops.exp(-ops.abs(log_b - half_log_a))
            root = ops.sqrt(1.0 + e * e)
            log_denominator = larger + ops.log(ops.where(b_larger, 1.0 + root, e + root))
        else:
            log_denominator = ops.full_like(log_q, half_log_a)
        t_high = ops.exp(log_q - log_denominator)
        return ops.where(high, t_high, t_mid)


class VPCosine(_VariancePreserving):
    """Variance-preserving cosine schedule (MATH §1):
    ``α_t = cos(π/2 · (t+s)/(1+s)) / cos(π/2 · s/(1+s))``, ``σ_t = sqrt(1 − α_t²)``, t ∈ [0, 1].

    α_0 = 1 and α_1 = 0, so λ runs over the whole real line. t_max = 0.9946 keeps α > 0 (needed
    for a finite λ): there α ≈ 8.4e-3 and λ ≈ −4.78, close to the end point λ(1) ≈ −5.03 of
    :class:`VPLinear` with its default β, so both default grids start from almost pure noise;
    closer to t = 1, λ ≈ log(1 − t) + const falls off without bound.

    Numerics. With ``u_0 = π/2 · s/(1+s)``, ``d = π/2 · t/(1+s)`` and ``w = π/2 · (1−t)/(1+s)``
    (so u_0 + d + w = π/2):

    * t ≤ ½: ``1 − α = 2 sin²(d/2) + tan(u_0) sin d`` (from cos(u_0+d) = cos u_0 cos d − sin u_0 sin d),
      a sum of positive terms, and ``log α = log1p(−(1 − α))`` — accurate as t → 0;
    * t > ½: ``α = sin(w)/cos(u_0)`` — accurate as t → 1, where 1 − t is exact.

    Inverse: with cos u = α cos u_0 and sin u = sqrt(sin² u_0 + σ² cos² u_0), the angle
    d = u − u_0 has ``sin d = σ² cos u_0 / (sin u + α sin u_0)`` and
    ``cos d = α cos² u_0 + sin u_0 sin u``, both sums of positive terms, so
    ``t = (2(1+s)/π) atan2(sin d, cos d)`` keeps full relative precision for every λ.

    ``dlog α/dλ = σ(λ)²`` (see the variance-preserving derivation above).
    """

    name = "vp_cosine"
    t_domain = (0.0, 1.0)

    def __init__(self, s: float = 0.008, t_min: float = 1e-3, t_max: float = 0.9946):
        s = _check_real(s, "s")
        if s < 0.0:
            raise ValueError(f"s must be >= 0, got {s}")
        self.s = s
        self._scale = 0.5 * math.pi / (1.0 + s)
        u0 = self._scale * s
        if s <= 1.0:
            self._sin_u0, self._cos_u0, self._tan_u0 = math.sin(u0), math.cos(u0), math.tan(u0)
        else:
            # u0 → π/2 as s grows: take the functions of the complement π/2 − u0 = π/(2(1+s)),
            # which is exact, rather than cos(u0) of a rounded u0 (that loses every digit of
            # cos u0 ≈ π/(2s) once s ≳ 1e16).
            comp = self._scale
            self._sin_u0, self._cos_u0 = math.cos(comp), math.sin(comp)
            self._tan_u0 = self._sin_u0 / self._cos_u0
        self._check_time_range(t_min, t_max)

    def _params(self) -> dict:
        return {"s": self.s, **super()._params()}

    def _branches(self, t, ops):
        """(1 − α on the t ≤ ½ branch, α on the t > ½ branch), each on inputs clamped into its
        own half so that neither produces log(0) or NaN on elements it does not own."""
        low = ops.where(t <= 0.5, t, ops.full_like(t, 0.5))
        high = ops.where(t > 0.5, t, ops.full_like(t, 0.5))
        d = self._scale * low
        half = ops.sin(0.5 * d)
        one_minus_alpha = 2.0 * half * half + self._tan_u0 * ops.sin(d)
        alpha_high = ops.sin(self._scale * (1.0 - high)) / self._cos_u0
        return one_minus_alpha, alpha_high

    def _log_alpha(self, t, ops):
        one_minus_alpha, alpha_high = self._branches(t, ops)
        return ops.where(t <= 0.5, ops.log1p(-one_minus_alpha), ops.log(alpha_high))

    def _alpha(self, t, ops):
        # Directly, not as exp(log α): exp would scale the rounding of log α by |log α|.
        one_minus_alpha, alpha_high = self._branches(t, ops)
        return ops.where(t <= 0.5, 1.0 - one_minus_alpha, alpha_high)

    def _root_neg_log_alpha(self, t, ops):
        # Near t = 0, 1 − α = 2 sin(d/2)(sin(d/2) + tan u0 cos(d/2)) with d = 2h, h = π t/(4(1+s)).
        # Used only where −log α = 1 − α < 1e-300 (h < 1e-150), where sin h = h and cos h = 1
        # exactly in float64: r = sqrt(2h (h + tan u0)), or √2 h when s = 0 (tan u0 = 0).
        h = (0.5 * self._scale) * t
        if self._tan_u0 > 0.0:
            inner = h + self._tan_u0
            return (math.sqrt(self._scale) * ops.sqrt(t) * ops.sqrt(inner),
                    0.5 * (math.log(self._scale) + ops.log(t) + ops.log(inner)))
        return math.sqrt(2.0) * h, 0.5 * math.log(2.0) + math.log(0.5 * self._scale) + ops.log(t)

    def _t_of_lam(self, lam, ops):
        # σ itself (not σ² = sigmoid(−2λ), which underflows from λ ≈ 372 on, where t ≈ (2/π)σ
        # is still representable when s = 0): sin u = hypot(sin u0, σ cos u0) and
        # sin d = σ · (σ cos u0 / (sin u + α sin u0)). t ≤ 1 is enforced against rounding.
        alpha = self._alpha_of_lam(lam, ops)
        sigma = self._sigma_of_lam(lam, ops)
        sin_u = _hypot(sigma * self._cos_u0, self._sin_u0, ops)
        denominator = sin_u + alpha * self._sin_u0
        safe = ops.where(denominator > 0, denominator, ops.full_like(denominator, 1.0))
        sin_d = ops.where(denominator > 0, sigma * (sigma * self._cos_u0 / safe), ops.zeros_like(sigma))
        cos_d = alpha * self._cos_u0**2 + self._sin_u0 * sin_u
        t = ops.atan2(sin_d, cos_d) / self._scale
        return -ops.maximum(-t, -1.0)


class _UnitAlpha(Schedule):
    """α = 1 (variance exploding). Then λ = −log σ, so σ(λ) = e^{−λ}, α(λ) = 1 and
    ``dlog α/dλ = 0``. Subclasses supply ``_log_sigma(t)`` and its inverse ``_t_of_log_sigma``."""

    def _log_sigma(self, t, ops):
        raise NotImplementedError

    def _t_of_log_sigma(self, log_sigma, ops):
        raise NotImplementedError

    def _alpha(self, t, ops):
        return ops.full_like(t, 1.0)

    def _lam(self, t, ops):
        return -self._log_sigma(t, ops)

    def _t_of_lam(self, lam, ops):
        return self._t_of_log_sigma(-lam, ops)

    def _alpha_of_lam(self, lam, ops):
        return ops.full_like(lam, 1.0)

    def _sigma_of_lam(self, lam, ops):
        return ops.exp(-lam)

    def _dlog_alpha_dlam(self, lam, ops):
        return ops.full_like(lam, 0.0)


class VE(_UnitAlpha):
    """Variance-exploding schedule with geometric σ (Song et al., score SDE):
    α = 1, ``σ(t) = σ_min (σ_max/σ_min)^t``, so λ = −log σ_min − t log(σ_max/σ_min) is affine
    in t and t(λ) = (−λ − log σ_min)/log(σ_max/σ_min). The formula holds for every real t;
    sampling uses [t_min, t_max] = [1e-5, 1] (σ(0) = σ_min > 0 already, so t_min = 0 is also
    valid and gives a finite λ). ``dlog α/dλ = 0``.
    """

    name = "ve"
    t_domain = (-math.inf, math.inf)

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, t_min: float = 1e-5, t_max: float = 1.0):
        sigma_min = _check_real(sigma_min, "sigma_min")
        sigma_max = _check_real(sigma_max, "sigma_max")
        if sigma_min <= 0.0:
            raise ValueError(f"sigma_min must be > 0, got {sigma_min}")
        if sigma_max <= sigma_min:
            raise ValueError(f"sigma_max must be > sigma_min, got sigma_min={sigma_min}, sigma_max={sigma_max}")
        self.sigma_min, self.sigma_max = sigma_min, sigma_max
        self._log_sigma_min = math.log(sigma_min)
        # log(σ_max/σ_min) = log1p((σ_max − σ_min)/σ_min): a few ε relative even when the ratio is
        # near 1 (the difference of two logs would lose ε(|log σ_max| + |log σ_min|)/log ratio, and
        # the log of the rounded ratio ε/log ratio), unless the quotient overflows (then the
        # ratio exceeds 1e308 and the difference of the logs is as accurate relative to it).
        excess = (sigma_max - sigma_min) / sigma_min
        self._log_ratio = (math.log1p(excess) if math.isfinite(excess)
                           else math.log(sigma_max) - math.log(sigma_min))
        self._check_time_range(t_min, t_max)

    def _params(self) -> dict:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, **super()._params()}

    def _log_sigma(self, t, ops):
        return self._log_sigma_min + t * self._log_ratio

    def _sigma(self, t, ops):
        # σ_min · e^{t log(σ_max/σ_min)}: relative error ε(2 + |t log ratio|), the last term being
        # the conditioning in t; e^{log σ_min + t log ratio} would add ε|log σ_min|. The latter
        # only where the product form over- or underflows in an intermediate (σ_min far from 1).
        growth = ops.exp(t * self._log_ratio)
        direct = self.sigma_min * growth
        fine = (growth > 0) & (growth < math.inf) & (direct > 0) & (direct < math.inf)
        return ops.where(fine, direct, ops.exp(self._log_sigma(t, ops)))

    def _t_of_log_sigma(self, log_sigma, ops):
        return (log_sigma - self._log_sigma_min) / self._log_ratio


class EDM(_UnitAlpha):
    """The EDM schedule (Karras et al. 2022): α = 1, σ(t) = t, so λ = −log t and t(λ) = e^{−λ}.

    Valid for t ∈ [0, ∞); sampling uses t ∈ [σ_min, σ_max] (``t_min``/``t_max`` equal
    ``sigma_min``/``sigma_max``). ``dlog α/dλ = 0``.
    """

    name = "edm"
    t_domain = (0.0, math.inf)

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0):
        sigma_min = _check_real(sigma_min, "sigma_min")
        sigma_max = _check_real(sigma_max, "sigma_max")
        if sigma_min <= 0.0:
            raise ValueError(f"sigma_min must be > 0, got {sigma_min}")
        if sigma_max <= sigma_min:
            raise ValueError(f"sigma_max must be > sigma_min, got sigma_min={sigma_min}, sigma_max={sigma_max}")
        self.sigma_min, self.sigma_max = sigma_min, sigma_max
        self._check_time_range(sigma_min, sigma_max)

    def _params(self) -> dict:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max}

    def _log_sigma(self, t, ops):
        return ops.log(t)

    def _sigma(self, t, ops):
        return t + 0.0

    def _t_of_log_sigma(self, log_sigma, ops):
        return ops.exp(log_sigma)


class RectifiedFlow(Schedule):
    """Rectified flow / linear interpolation: α_t = 1 − t, σ_t = t on t ∈ [0, 1] (MATH §1).

    λ = log((1−t)/t) = log1p(−t) − log t. From α/σ = e^λ and α + σ = 1:
    α(λ) = sigmoid(λ), σ(λ) = sigmoid(−λ) = t(λ), and
    ``dlog α/dλ = d/dλ [λ − log(1 + e^λ)] = 1 − sigmoid(λ) = σ(λ)``.
    """

    name = "rectified_flow"
    t_domain = (0.0, 1.0)

    def __init__(self, t_min: float = 1e-3, t_max: float = 0.999):
        self._check_time_range(t_min, t_max)

    def _alpha(self, t, ops):
        return 1.0 - t

    def _sigma(self, t, ops):
        return t + 0.0

    def _lam(self, t, ops):
        return ops.log1p(-t) - ops.log(t)

    def _t_of_lam(self, lam, ops):
        return _sigmoid(-lam, ops)

    def _alpha_of_lam(self, lam, ops):
        return _sigmoid(lam, ops)

    def _sigma_of_lam(self, lam, ops):
        return _sigmoid(-lam, ops)

    def _dlog_alpha_dlam(self, lam, ops):
        return _sigmoid(-lam, ops)


_REGISTRY = {
    "vp_linear": VPLinear,
    "vp_cosine": VPCosine,
    "ve": VE,
    "edm": EDM,
    "rectified_flow": RectifiedFlow,
}
SCHEDULES: tuple[str, ...] = tuple(_REGISTRY)


def get_schedule(name: str, **kwargs: Any) -> Schedule:
    """Build the schedule called ``name`` (one of :data:`SCHEDULES`) with constructor ``kwargs``."""
    if not isinstance(name, str):
        raise TypeError(f"schedule must be a str naming one of {SCHEDULES}, got {type(name).__name__}")
    if name not in _REGISTRY:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")
    return _REGISTRY[name](**kwargs)


# --------------------------------------------------------------------------------------------
# Sampling grids
# --------------------------------------------------------------------------------------------


def _check_n_steps(n_steps: Any) -> int:
    if isinstance(n_steps, (bool, np.bool_)) or not isinstance(n_steps, (int, np.integer)):
        raise TypeError(f"n_steps must be an int, got {type(n_steps).__name__}")
    if not 1 <= n_steps <= MAX_STEPS:
        raise ValueError(f"n_steps must lie in [1, {MAX_STEPS}] (see MAX_STEPS), got {n_steps}")
    return int(n_steps)


def lambda_grid(
    schedule: Schedule | str,
    n_steps: int,
    spacing: str = "lambda",
    *,
    rho: float = 7.0,
    t_start: float | None = None,
    t_end: float | None = None,
) -> np.ndarray:
    """A sampling grid of ``n_steps + 1`` strictly increasing λ values (float64 numpy).

    The grid runs from λ(t_start) (most noise; default ``schedule.t_max``) to λ(t_end)
    (least noise; default ``schedule.t_min``); both end points are returned exactly.

    spacing:
        ``"lambda"``: uniform in λ.
        ``"karras"``: the EDM ρ-spacing (Karras et al. 2022) of the rescaled noise level
            σ̃ = σ/α = e^{−λ} between its end points:
            ``σ̃_i = (σ̃_max^{1/ρ} + i/n (σ̃_min^{1/ρ} − σ̃_max^{1/ρ}))^ρ``, λ_i = −log σ̃_i.
        ``"time"``: uniform in t from t_start down to t_end, λ_i = λ(t_i).

    ``schedule`` may be a :class:`Schedule` or a name accepted by :func:`get_schedule`.
    ``n_steps`` is at most :data:`MAX_STEPS` and ``rho`` lies in :data:`RHO_RANGE` (checked
    whatever the spacing); ValueError/TypeError naming the argument otherwise.
    """
    if isinstance(schedule, str):
        schedule = get_schedule(schedule)
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a Schedule or a schedule name, got {type(schedule).__name__}")
    n = _check_n_steps(n_steps)
    if not isinstance(spacing, str) or spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    rho = _check_real(rho, "rho")
    if not RHO_RANGE[0] <= rho <= RHO_RANGE[1]:
        raise ValueError(f"rho must lie in [{RHO_RANGE[0]:g}, {RHO_RANGE[1]:g}] (see RHO_RANGE: beyond it the "
                         f"Karras spacing degenerates), got {rho}")
    t_start = schedule.t_max if t_start is None else _check_real(t_start, "t_start")
    t_end = schedule.t_min if t_end is None else _check_real(t_end, "t_end")
    lo, hi = schedule.t_domain
    if not lo <= t_end < t_start <= hi:
        raise ValueError(
            f"need {lo} <= t_end < t_start <= {hi} for schedule {schedule.name!r}, "
            f"got t_end={t_end}, t_start={t_start}"
        )
    lam_first, lam_last = float(schedule.lam(t_start)), float(schedule.lam(t_end))
    for label, value, lam_value in (("t_start", t_start, lam_first), ("t_end", t_end, lam_last)):
        if not math.isfinite(lam_value):
            raise ValueError(f"{label}={value} gives an infinite λ for schedule {schedule.name!r}")

    fractions = np.arange(n + 1, dtype=np.float64) / n
    if spacing == "lambda":
        lams = lam_first + fractions * (lam_last - lam_first)
    elif spacing == "karras":
        # σ̃_i^{1/ρ} = (1 − f_i) σ̃_max^{1/ρ} + f_i σ̃_min^{1/ρ} with σ̃^{1/ρ} = e^{−λ/ρ}: a sum of
        # two positive terms (no cancellation, unlike σ̃_max^{1/ρ} + f_i(σ̃_min^{1/ρ} − σ̃_max^{1/ρ})),
        # taken in log space so that e^{−λ/ρ} cannot overflow for small ρ.
        with np.errstate(divide="ignore"):
            lams = -rho * np.logaddexp(np.log1p(-fractions) - lam_first / rho, np.log(fractions) - lam_last / rho)
    else:
        times = t_start + fractions * (t_end - t_start)
        times[-1] = t_end
        lams = schedule.lam(times)
    lams[0], lams[-1] = lam_first, lam_last
    if not np.all(np.diff(lams) > 0.0):
        how = f"spacing={spacing!r}" + (f" with rho={rho}" if spacing == "karras" else "")
        raise ValueError(
            f"n_steps={n} is too many for the λ range [{lam_first}, {lam_last}] with {how}: "
            f"grid points coincide in float64"
        )
    return lams


# --------------------------------------------------------------------------------------------
# k-diffusion convention
# --------------------------------------------------------------------------------------------


def _as_vector(values: Any, name: str) -> torch.Tensor:
    """A 1-D float64 tensor (on the input's device for a tensor), finite and non-empty."""
    if isinstance(values, torch.Tensor):
        if values.dtype == torch.bool or values.is_complex():
            raise TypeError(f"{name} must be real, got dtype {values.dtype}")
        vec = values.detach().to(torch.float64)
    else:
        if isinstance(values, (str, bytes)):
            raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
        try:
            arr = np.asarray(values)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a sequence of real numbers") from err
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        vec = torch.from_numpy(arr.astype(np.float64))
    if vec.ndim != 1 or vec.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {tuple(vec.shape)}")
    if not bool(torch.isfinite(vec).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return vec


def sigmas_from_lambdas(
    lams: Any,
    append_zero: bool = False,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """k-diffusion noise levels ``σ̃_i = σ_i/α_i = e^{−λ_i}`` (MATH §1) for an increasing λ grid.

    Returns a strictly decreasing tensor of ``dtype`` on ``device`` (default: the device of
    ``lams`` if it is a tensor, else the CPU), with a trailing 0 when ``append_zero``.
    ValueError naming ``lams`` when a σ̃ overflows or underflows ``dtype`` (λ below about −709.8
    or above about 745.1 in float64) or two of them round to the same value; ValueError naming
    ``device`` for a device this machine cannot use (:func:`~seeds_verify.devices.check_device`).
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    target = None if device is None else check_device(device)
    vec = _as_vector(lams, "lams")
    if not bool((vec[1:] > vec[:-1]).all()):
        raise ValueError("lams must be strictly increasing (a sampling grid runs towards less noise)")
    sigmas = torch.exp(-vec).to(dtype=dtype, device=target if target is not None else vec.device)
    info = torch.finfo(dtype)
    if not bool(torch.isfinite(sigmas).all()):
        raise ValueError(f"lams: σ̃ = e^(−λ) overflows {dtype} for λ < {-math.log(info.max):.6g} "
                         f"(smallest λ {float(vec.min())!r})")
    if not bool((sigmas > 0).all()):
        raise ValueError(f"lams: σ̃ = e^(−λ) underflows to 0 in {dtype} for λ > "
                         f"{math.log(2.0) - math.log(info.smallest_normal) - math.log(info.eps):.6g} (largest λ {float(vec.max())!r})")
    if not bool((sigmas[1:] < sigmas[:-1]).all()):
        raise ValueError(f"lams are too close together for distinct sigmas in {dtype}")
    if append_zero:
        sigmas = torch.cat([sigmas, sigmas.new_zeros(1)])
    return sigmas


def lambdas_from_sigmas(sigmas: Any) -> np.ndarray:
    """The inverse of :func:`sigmas_from_lambdas`: λ_i = −log σ̃_i as float64 numpy.

    ``sigmas`` must be finite, positive and strictly decreasing (drop a trailing 0 first).
    """
    vec = _as_vector(sigmas, "sigmas")
    if not bool((vec > 0).all()):
        raise ValueError("sigmas must be > 0 (drop a trailing 0 before converting)")
    if not bool((vec[1:] < vec[:-1]).all()):
        raise ValueError("sigmas must be strictly decreasing")
    return (-torch.log(vec)).cpu().numpy()
