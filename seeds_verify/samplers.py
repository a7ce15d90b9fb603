"""SEEDS in the k-diffusion calling convention (MATH §1, k-diffusion / EDM convention).

``model(x, sigma * s_in, **extra_args)`` returns the denoised x_0 for x = x_0 + σ ε (α = 1);
``sigmas`` is decreasing and may end in 0, in which case the last step returns the denoised
value. The half log-SNR is λ = −log σ. ``noise_sampler(sigma_a, sigma_b)`` returns a
standard-normal tensor shaped like x; it is called once per sub-interval of positive length
between consecutive stage points (never with σ_a = σ_b), in order, with those end points, and
its value is read as the normalised weighted increment z_k(λ(σ_a), λ(σ_b)) of MATH §4 with
k = η (``prediction="data"``) or k = −1 (``prediction="noise"``). Each draw must be a finite
floating-point tensor of x's shape on x's device (else TypeError/ValueError naming
``noise_sampler``, the call and the step). A sub-interval so short that its end points round to
one float64 σ (sigmas a few ulp apart) is not asked of the sampler: its increment is a
``torch.randn_like`` draw. Without a
``noise_sampler``, fresh ``torch.randn_like`` draws are used (reproducible under
``torch.manual_seed``). With η = 0 or ``s_noise = 0`` no noise is drawn.

Half-precision inputs are computed in float32 and returned in their own dtype.

Every argument is validated before the first model call; a non-finite model output raises a
ValueError naming ``model``, the step and σ; the result is finite or a ValueError says why
(e.g. an overflow of the result's dtype).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Callable, Literal, Optional, Sequence, Union

import numpy as np
import torch

from .coefficients import check_form
from .problems.base import all_finite
from .solvers import SEEDS1, SEEDS2, SEEDS3, Solver
from .solvers.base import check_eta, check_s_noise, working_dtype

__all__ = ["sample_seeds_1", "sample_seeds_2", "sample_seeds_3", "run_karras_sampler"]

#: ``model(x, sigma * s_in, **extra_args)`` returning the denoised x_0, shaped like x.
Denoiser = Callable[..., torch.Tensor]
#: ``noise_sampler(sigma_a, sigma_b)`` returning a standard-normal tensor shaped like x.
NoiseSampler = Callable[[float, float], torch.Tensor]
#: ``callback(info)`` with info keys "x", "i", "sigma", "sigma_hat", "denoised" (k-diffusion).
Callback = Callable[[dict[str, Any]], Any]
#: A decreasing 1-D tensor, array or sequence of noise levels, optionally ending in 0.
Sigmas = Union[torch.Tensor, np.ndarray, Sequence[float]]
Prediction = Literal["data", "noise"]
SEEDS2SolverType = Literal["phi_1", "phi_2"]
SEEDS3SolverType = Literal["3a", "3b"]


class _GridSchedule:
    """The k-diffusion convention seen in λ (the EDM schedule): α = 1 and σ = e^{−λ}, except at
    the grid's own λ values, where σ is the caller's sigma.

    e^{−λ} of a rounded λ = −log σ is |λ|·u off σ in relative terms (|λ| ≈ 230 for σ = 1e100): the
    coefficients use the exact σ the model and ``noise`` see, so that, e.g., the noise form's
    x_s − (σ_s − σ_t)(x_s − D)/σ_s cancels to a few ulp.
    """

    def __init__(self, sigmas: np.ndarray):
        order = np.argsort(-np.log(sigmas))
        self._sigma = np.asarray(sigmas, dtype=np.float64)[order]
        self._lam = -np.log(self._sigma)

    def alpha_of_lam(self, lam):
        return np.ones_like(np.asarray(lam, dtype=np.float64))

    def dlog_alpha_dlam(self, lam):
        return np.zeros_like(np.asarray(lam, dtype=np.float64))

    def sigma_of_lam(self, lam):
        lam = np.asarray(lam, dtype=np.float64)
        idx = np.clip(np.searchsorted(self._lam, lam), 0, self._lam.size - 1)
        return np.where(self._lam[idx] == lam, self._sigma[idx], np.exp(-lam))


def _check_sigmas(sigmas, x: torch.Tensor) -> tuple[np.ndarray, bool]:
    """Validate k-diffusion sigmas; return the positive ones (float64) and whether a 0 ends them."""
    if isinstance(sigmas, torch.Tensor):
        if sigmas.device != x.device and sigmas.device.type != "cpu":
            raise ValueError(f"sigmas is on {sigmas.device} but x is on {x.device}")
        if sigmas.dtype == torch.bool or sigmas.is_complex():
            raise TypeError(f"sigmas must hold real numbers, got dtype {sigmas.dtype}")
        values = sigmas.detach().cpu().double().numpy()
    else:
        try:
            raw = np.asarray(sigmas)
        except (TypeError, ValueError) as exc:
            raise TypeError("sigmas must be a 1-D tensor or sequence of numbers") from exc
        if raw.dtype == object and all(isinstance(v, Real) and not isinstance(v, bool) for v in raw.ravel()):
            raw = raw.astype(np.float64)
        if raw.dtype.kind not in "fiu":
            raise TypeError(f"sigmas must be a 1-D tensor or sequence of real numbers, got dtype {raw.dtype}")
        values = raw.astype(np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError("sigmas must be a 1-D sequence of at least two values")
    if not np.all(np.isfinite(values)):
        raise ValueError("sigmas must be finite (no NaN or inf)")
    if np.any(values < 0):
        raise ValueError("sigmas must be non-negative")
    if not np.all(np.diff(values) < 0):
        raise ValueError("sigmas must be strictly decreasing")
    final_zero = values[-1] == 0.0
    positive = values[:-1] if final_zero else values
    # The solvers step in λ = −log σ: two sigmas a few ulp apart can share one float64 λ.
    same = np.flatnonzero(np.diff(-np.log(positive)) <= 0)
    if same.size:
        i = int(same[0])
        raise ValueError(f"sigmas[{i}] = {float(positive[i])!r} and sigmas[{i + 1}] = {float(positive[i + 1])!r} "
                         "are too close: their λ = −log σ coincide in float64")
    if working_dtype(x) == torch.float32:
        info = torch.finfo(torch.float32)
        if positive.max() > info.max or positive.min() < info.tiny:
            raise ValueError(f"sigmas must lie in float32's normal range [{info.tiny:.4g}, {info.max:.4g}] for "
                             f"x of dtype {x.dtype} (computed in float32), got {float(positive.min())!r} .. "
                             f"{float(positive.max())!r}")
    return positive, final_zero


class _KarrasModel:
    """Adapts a k-diffusion denoiser to the solvers' ``data``/``noise`` interface (α = 1).

    Every output is checked (a floating tensor shaped like x on x's device, finite); the model
    calls are counted so that an error can name the step: a solver makes ``nfe_per_step`` calls
    per step, in order.
    """

    def __init__(self, model: Callable, x: torch.Tensor, extra_args: dict, sigmas: np.ndarray,
                 nfe_per_step: int = 1):
        self.model = model
        self.extra_args = extra_args
        self.s_in = x.new_ones([x.shape[0]])
        # Grid values are passed to the model exactly as the caller gave them.
        self._exact = {float(-math.log(s)): float(s) for s in sigmas}
        self.calls = 0
        self.nfe_per_step = max(1, int(nfe_per_step))

    def sigma(self, lam: float) -> float:
        return self._exact.get(float(lam), math.exp(-lam))

    def data(self, x, lam, step: Optional[int] = None):
        sigma = self.sigma(lam)
        step = self.calls // self.nfe_per_step if step is None else step
        self.calls += 1
        out = self.model(x, sigma * self.s_in, **self.extra_args)
        where = f"at step {step} (sigma={sigma!r})"
        _check_output(out, x, "model", where)
        if not all_finite(out):
            if not all_finite(x):
                raise ValueError(f"the sampler's iterate overflowed {x.dtype} before the model call {where}: "
                                 "x, sigmas or the model outputs are too large for this dtype")
            raise ValueError(f"model returned non-finite values (NaN or inf) {where} for a finite input")
        return out.to(x.dtype)

    def noise(self, x, lam):
        sigma = self.sigma(lam)
        return (x - self.data(x, lam)) / sigma

    def predict(self, x, lam, form):
        return self.data(x, lam) if form == "data" else self.noise(x, lam)


def _check_output(value, x: torch.Tensor, who: str, where: str) -> None:
    """What ``who`` (the model or the noise_sampler) returned must be a floating tensor shaped like
    x, on x's device; TypeError/ValueError naming ``who`` and ``where`` otherwise."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{who} must return a torch.Tensor, got {type(value).__name__} {where}")
    if value.shape != x.shape:
        raise ValueError(f"{who} must return a tensor shaped like x {tuple(x.shape)}, got "
                         f"{tuple(value.shape)} {where}")
    if not torch.is_floating_point(value):
        raise TypeError(f"{who} must return a floating-point tensor, got {value.dtype} {where}")
    if value.device != x.device:
        raise ValueError(f"{who} returned a tensor on {value.device} for x on {x.device} {where}")


def _check_noise(z, x: torch.Tensor, sigma_a: float, sigma_b: float, step: int) -> None:
    """A noise_sampler draw must be a finite floating tensor shaped like x, on x's device."""
    where = f"from noise_sampler({sigma_a!r}, {sigma_b!r}) in step {step}"
    _check_output(z, x, "noise_sampler", where)
    if not bool(torch.isfinite(z).all()):
        raise ValueError(f"noise_sampler returned non-finite values (NaN or inf) {where}")


#: Largest accepted rounding gain of a step times the unit roundoff: half of the significand
#: (2⁻¹²·u⁻¹ is 4096 in float32, 2.2e12 in float64), the criterion of seeds_verify.schemes.
_MAX_GAIN_ROUNDOFF = 2.0 ** -12


def _check_noise_form_steps(solver, positive: np.ndarray, lam_grid: np.ndarray, eta: float,
                            work: torch.dtype) -> None:
    """Reject noise-form steps whose stages amplify rounding past half the working precision.

    With ``prediction="noise"`` a multi-stage step reads ε̂ = (x − D)/σ at its stage points: the
    rounding of a stage value, ~u|x_s|, is divided by σ_c and multiplied back by ~σ_s, a gain of
    about σ_s/σ_c = e^{ch} (``ExponentialSolver.rounding_gain``). One step from σ = 1e100 to
    1e-100 with SEEDS-2 has gain 1e100; in float32 a SEEDS-2 step with σ_s/σ_t = 1e8 returns
    errors of 10⁴·|x| (measured). The data form has no such division.
    """
    unit = torch.finfo(work).eps / 2.0
    limit = _MAX_GAIN_ROUNDOFF / unit
    gain = solver.rounding_gain(lam_grid, _GridSchedule(positive), eta, "noise")
    bad = np.flatnonzero(~(gain <= limit))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"sigmas[{i}] = {float(positive[i])!r} to sigmas[{i + 1}] = {float(positive[i + 1])!r} is too large a "
            f"step for prediction='noise' with {solver.name} in {work}: ε̂ = (x − D)/σ at its stages amplifies "
            f"rounding errors of x by {gain[i]:.3g}, above {limit:.3g} (half of the significand lost); use "
            "prediction='data' or insert sigmas between them")


def run_karras_sampler(solver: Solver, model: Denoiser, x: torch.Tensor, sigmas: Sigmas, *,
                       extra_args: Optional[dict[str, Any]] = None,
                       callback: Optional[Callback] = None, disable: Optional[bool] = None,
                       eta: float = 1.0, s_noise: float = 1.0,
                       noise_sampler: Optional[NoiseSampler] = None,
                       prediction: Prediction = "data") -> torch.Tensor:
    """Run any solver of :mod:`seeds_verify.solvers` in the k-diffusion convention.

    Every argument is checked before the first model call (TypeError/ValueError naming it), and
    every model output and ``noise_sampler`` draw when it arrives (naming the step and σ); the
    result is finite or a ValueError says why not.
    """
    if not isinstance(solver, Solver):
        raise TypeError(f"solver must be a seeds_verify Solver, got {type(solver).__name__}")
    if not callable(model):
        raise TypeError(f"model must be callable, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    work = working_dtype(x)  # TypeError naming x for integer, bool or complex tensors
    if x.ndim == 0:
        raise ValueError("x must have a batch dimension (x.ndim >= 1), got a 0-dim tensor")
    if extra_args is not None and not isinstance(extra_args, dict):
        raise TypeError(f"extra_args must be a dict, got {type(extra_args).__name__}")
    if extra_args and not all(isinstance(k, str) for k in extra_args):
        raise TypeError("extra_args must have str keys (they are passed as keyword arguments)")
    if noise_sampler is not None and not callable(noise_sampler):
        raise TypeError("noise_sampler must be callable")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable")
    eta = check_eta(eta)
    s_noise = check_s_noise(s_noise)
    check_form(prediction)
    positive, final_zero = _check_sigmas(sigmas, x)
    if not torch.isfinite(x).all():
        raise ValueError("x must be finite (no NaN or inf)")
    out_dtype = x.dtype
    # Half precision is computed in float32: x, the σ passed to the model and the final denoise.
    x = x.to(work)
    template = x
    adapter = _KarrasModel(model, x, dict(extra_args or {}), positive, getattr(solver, "nfe_per_step", 1))
    lam_grid = -np.log(positive)
    if prediction == "noise" and positive.size >= 2 and hasattr(solver, "rounding_gain"):
        _check_noise_form_steps(solver, positive, lam_grid, eta, work)

    if noise_sampler is None:
        def noise(lam_a, lam_b, k):
            return torch.randn_like(template)
    else:
        def noise(lam_a, lam_b, k):
            sigma_a, sigma_b = adapter.sigma(lam_a), adapter.sigma(lam_b)
            if sigma_a == sigma_b:
                # A sub-interval narrower than σ's float64 resolution (sigmas a few ulp apart):
                # the sampler cannot be asked for it; its increment is an independent draw.
                return torch.randn_like(template)
            z = noise_sampler(sigma_a, sigma_b)
            step = int(np.searchsorted(lam_grid, lam_a, side="right")) - 1
            _check_noise(z, template, sigma_a, sigma_b, step)
            return z

    if positive.size >= 2:
        x = solver.solve(adapter, x, lam_grid, schedule=_GridSchedule(positive), noise=noise, eta=eta,
                         prediction=prediction, s_noise=s_noise, callback=callback, disable=disable)
    if final_zero:
        # The last step to σ = 0 returns the denoised value (k-diffusion convention).
        last = positive.size - 1
        denoised = adapter.data(x, float(lam_grid[-1]), step=last)
        if callback is not None:
            callback({"x": x, "i": last, "sigma": float(positive[-1]),
                      "sigma_hat": float(positive[-1]), "denoised": denoised})
        x = denoised
    out = x.to(out_dtype)
    if not bool(torch.isfinite(out).all()):
        if bool(torch.isfinite(x).all()):
            raise ValueError(f"the result (largest magnitude {float(x.abs().max()):.4g}) does not fit in x's dtype "
                             f"{out_dtype}; pass x in float32 or float64")
        raise ValueError(f"the sampler's iterate overflowed {x.dtype} in the last step: x, sigmas or the model "
                         "outputs are too large for this dtype")
    return out


def sample_seeds_1(model: Denoiser, x: torch.Tensor, sigmas: Sigmas,
                   extra_args: Optional[dict[str, Any]] = None, callback: Optional[Callback] = None,
                   disable: Optional[bool] = None, eta: float = 1.0, s_noise: float = 1.0,
                   noise_sampler: Optional[NoiseSampler] = None,
                   prediction: Prediction = "data") -> torch.Tensor:
    """SEEDS-1 (MATH §6) in the k-diffusion convention (see the module docstring)."""
    return run_karras_sampler(SEEDS1(), model, x, sigmas, extra_args=extra_args, callback=callback,
                              disable=disable, eta=eta, s_noise=s_noise, noise_sampler=noise_sampler,
                              prediction=prediction)


def sample_seeds_2(model: Denoiser, x: torch.Tensor, sigmas: Sigmas,
                   extra_args: Optional[dict[str, Any]] = None, callback: Optional[Callback] = None,
                   disable: Optional[bool] = None, eta: float = 1.0, s_noise: float = 1.0,
                   noise_sampler: Optional[NoiseSampler] = None, prediction: Prediction = "data",
                   r: float = 0.5, solver_type: SEEDS2SolverType = "phi_1") -> torch.Tensor:
    """SEEDS-2 with stage fraction ``r`` ∈ (0, 1], ``solver_type`` "phi_1" (2a) or "phi_2" (2b).

    MATH §6; noise coefficients for any r from MATH §7. Two model calls per step. With r = 1 the
    stage is at the step's end point (``r=1, solver_type="phi_2"`` is the exponential Heun
    scheme); the sub-interval from the stage to the end then has zero length, so
    ``noise_sampler`` is called once per step instead of twice. r < 2/4097 ≈ 4.88e-4 is refused
    (ValueError): the stage interpolant would amplify rounding by more than 2^12
    (``seeds_verify.schemes``).
    """
    return run_karras_sampler(SEEDS2(r, solver_type), model, x, sigmas, extra_args=extra_args,
                              callback=callback, disable=disable, eta=eta, s_noise=s_noise,
                              noise_sampler=noise_sampler, prediction=prediction)


def sample_seeds_3(model: Denoiser, x: torch.Tensor, sigmas: Sigmas,
                   extra_args: Optional[dict[str, Any]] = None, callback: Optional[Callback] = None,
                   disable: Optional[bool] = None, eta: float = 1.0, s_noise: float = 1.0,
                   noise_sampler: Optional[NoiseSampler] = None, prediction: Prediction = "data",
                   r_1: float = 1 / 3, r_2: float = 2 / 3,
                   solver_type: SEEDS3SolverType = "3a") -> torch.Tensor:
    """SEEDS-3 with fractions 0 < ``r_1`` < ``r_2`` < 1, ``solver_type`` "3a" or "3b" (MATH §6).

    Three model calls per step. Fractions whose stage interpolants amplify rounding by more than
    2^12 (r_1/r_2 or r_2 below 2/4097, or for "3b" r_1 (r_2 − r_1) too small) are refused with a
    ValueError naming them (``seeds_verify.schemes``).
    """
    return run_karras_sampler(SEEDS3(r_1, r_2, solver_type), model, x, sigmas,
                              extra_args=extra_args, callback=callback, disable=disable, eta=eta,
                              s_noise=s_noise, noise_sampler=noise_sampler, prediction=prediction)
