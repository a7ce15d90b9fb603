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
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from .array_backends import NumpyOps as _NumpyOps
from .array_backends import TorchOps as _TorchOps

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
    which ``σ² = −expm1(2 log α)`` and ``λ = log α − ½ log σ²`` lose nothing.
    """

    def _log_alpha(self, t, ops):
        raise NotImplementedError

    def _alpha(self, t, ops):
        return ops.exp(self._log_alpha(t, ops))

    def _sigma(self, t, ops):
        return ops.sqrt(-ops.expm1(2.0 * self._log_alpha(t, ops)))

    def _lam(self, t, ops):
        log_alpha = self._log_alpha(t, ops)
        return log_alpha - 0.5 * ops.log(-ops.expm1(2.0 * log_alpha))

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
    ``(−b + sqrt(b² + 4ac))/(2a)`` cancels when 4ac ≪ b² (small t).

    ``dlog α/dλ = σ(λ)²`` (see the variance-preserving derivation above).
    """

    name = "vp_linear"
    t_domain = (0.0, math.inf)

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

    def _t_of_lam(self, lam, ops):
        c = 0.5 * _softplus(-2.0 * lam, ops)
        return 2.0 * c / (self._b + ops.sqrt(self._b * self._b + 4.0 * self._a * c))


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
        self._sin_u0, self._cos_u0, self._tan_u0 = math.sin(u0), math.cos(u0), math.tan(u0)
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

    def _t_of_lam(self, lam, ops):
        alpha = self._alpha_of_lam(lam, ops)
        sigma_sq = _sigmoid(-2.0 * lam, ops)
        sin_u = ops.sqrt(self._sin_u0**2 + sigma_sq * self._cos_u0**2)
        sin_d = sigma_sq * self._cos_u0 / (sin_u + alpha * self._sin_u0)
        cos_d = alpha * self._cos_u0**2 + self._sin_u0 * sin_u
        return ops.atan2(sin_d, cos_d) / self._scale


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
        self._log_ratio = math.log(sigma_max) - math.log(sigma_min)
        self._check_time_range(t_min, t_max)

    def _params(self) -> dict:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, **super()._params()}

    def _log_sigma(self, t, ops):
        return self._log_sigma_min + t * self._log_ratio

    def _sigma(self, t, ops):
        return ops.exp(self._log_sigma(t, ops))

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
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
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
    """
    if isinstance(schedule, str):
        schedule = get_schedule(schedule)
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a Schedule or a schedule name, got {type(schedule).__name__}")
    n = _check_n_steps(n_steps)
    if not isinstance(spacing, str) or spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    rho = _check_real(rho, "rho")
    if rho <= 0.0:
        raise ValueError(f"rho must be > 0, got {rho}")
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
        raise ValueError(
            f"n_steps={n} is too many for the λ range [{lam_first}, {lam_last}]: grid points coincide in float64"
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
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    vec = _as_vector(lams, "lams")
    if not bool((vec[1:] > vec[:-1]).all()):
        raise ValueError("lams must be strictly increasing (a sampling grid runs towards less noise)")
    sigmas = torch.exp(-vec)
    if append_zero:
        sigmas = torch.cat([sigmas, sigmas.new_zeros(1)])
    sigmas = sigmas.to(dtype=dtype, device=device if device is not None else vec.device)
    if not bool((sigmas[1:] < sigmas[:-1]).all()):
        raise ValueError(f"lams are too close together for distinct sigmas in {dtype}")
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
