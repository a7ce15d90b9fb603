"""SEEDS in the k-diffusion calling convention (MATH §1, k-diffusion / EDM convention).

``model(x, sigma * s_in, **extra_args)`` returns the denoised x_0 for x = x_0 + σ ε (α = 1);
``sigmas`` is decreasing and may end in 0, in which case the last step returns the denoised
value. The half log-SNR is λ = −log σ. ``noise_sampler(sigma_a, sigma_b)`` returns a
standard-normal tensor shaped like x; it is called once per sub-interval of positive length
between consecutive stage points (never with σ_a = σ_b), in order, with those end points, and
its value is read as the normalised weighted increment z_k(λ(σ_a), λ(σ_b)) of MATH §4 with
k = η (``prediction="data"``) or k = −1 (``prediction="noise"``). Without a
``noise_sampler``, fresh ``torch.randn_like`` draws are used (reproducible under
``torch.manual_seed``). With η = 0 or ``s_noise = 0`` no noise is drawn.

Half-precision inputs are computed in float32 and returned in their own dtype.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal, Optional, Sequence, Union

import numpy as np
import torch

from .coefficients import check_form
from .schedules import EDM
from .solvers import SEEDS1, SEEDS2, SEEDS3, Solver
from .solvers.base import check_eta, working_dtype

__all__ = ["sample_seeds_1", "sample_seeds_2", "sample_seeds_3", "run_karras_sampler"]

# k-diffusion convention: α = 1, σ = e^{−λ}, which is the EDM schedule seen in λ.
_UNIT_ALPHA = EDM()

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


def _check_sigmas(sigmas, x: torch.Tensor) -> tuple[np.ndarray, bool]:
    """Validate k-diffusion sigmas; return the positive ones (float64) and whether a 0 ends them."""
    if isinstance(sigmas, torch.Tensor):
        if sigmas.device != x.device and sigmas.device.type != "cpu":
            raise ValueError(f"sigmas is on {sigmas.device} but x is on {x.device}")
        values = sigmas.detach().cpu().double().numpy()
    else:
        try:
            values = np.asarray(sigmas, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError("sigmas must be a 1-D tensor or sequence of numbers") from exc
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
    return positive, final_zero


class _KarrasModel:
    """Adapts a k-diffusion denoiser to the solvers' ``data``/``noise`` interface (α = 1)."""

    def __init__(self, model: Callable, x: torch.Tensor, extra_args: dict, sigmas: np.ndarray):
        self.model = model
        self.extra_args = extra_args
        self.s_in = x.new_ones([x.shape[0]])
        # Grid values are passed to the model exactly as the caller gave them.
        self._exact = {float(-math.log(s)): float(s) for s in sigmas}

    def sigma(self, lam: float) -> float:
        return self._exact.get(float(lam), math.exp(-lam))

    def data(self, x, lam):
        out = self.model(x, self.sigma(lam) * self.s_in, **self.extra_args)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            raise ValueError("model must return a tensor shaped like x")
        return out.to(x.dtype)

    def noise(self, x, lam):
        sigma = self.sigma(lam)
        return (x - self.data(x, lam)) / sigma

    def predict(self, x, lam, form):
        return self.data(x, lam) if form == "data" else self.noise(x, lam)


def run_karras_sampler(solver: Solver, model: Denoiser, x: torch.Tensor, sigmas: Sigmas, *,
                       extra_args: Optional[dict[str, Any]] = None,
                       callback: Optional[Callback] = None, disable: Optional[bool] = None,
                       eta: float = 1.0, s_noise: float = 1.0,
                       noise_sampler: Optional[NoiseSampler] = None,
                       prediction: Prediction = "data") -> torch.Tensor:
    """Run any solver of :mod:`seeds_verify.solvers` in the k-diffusion convention."""
    if not callable(model):
        raise TypeError(f"model must be callable, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if extra_args is not None and not isinstance(extra_args, dict):
        raise TypeError(f"extra_args must be a dict, got {type(extra_args).__name__}")
    if noise_sampler is not None and not callable(noise_sampler):
        raise TypeError("noise_sampler must be callable")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable")
    check_eta(eta)
    check_form(prediction)
    positive, final_zero = _check_sigmas(sigmas, x)
    if not torch.isfinite(x).all():
        raise ValueError("x must be finite (no NaN or inf)")
    out_dtype = x.dtype
    # Half precision is computed in float32: x, the σ passed to the model and the final denoise.
    x = x.to(working_dtype(x))
    adapter = _KarrasModel(model, x, dict(extra_args or {}), positive)

    if noise_sampler is None:
        def noise(lam_a, lam_b, k):
            return torch.randn_like(x)
    else:
        def noise(lam_a, lam_b, k):
            return noise_sampler(adapter.sigma(lam_a), adapter.sigma(lam_b))

    if positive.size >= 2:
        x = solver.solve(adapter, x, -np.log(positive), schedule=_UNIT_ALPHA, noise=noise, eta=eta,
                         prediction=prediction, s_noise=s_noise, callback=callback, disable=disable)
    if final_zero:
        # The last step to σ = 0 returns the denoised value (k-diffusion convention).
        denoised = adapter.data(x, float(-math.log(positive[-1])))
        if callback is not None:
            callback({"x": x, "i": positive.size - 1, "sigma": float(positive[-1]),
                      "sigma_hat": float(positive[-1]), "denoised": denoised})
        x = denoised
    return x.to(out_dtype)


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
    ``noise_sampler`` is called once per step instead of twice.
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

    Three model calls per step.
    """
    return run_karras_sampler(SEEDS3(r_1, r_2, solver_type), model, x, sigmas,
                              extra_args=extra_args, callback=callback, disable=disable, eta=eta,
                              s_noise=s_noise, noise_sampler=noise_sampler, prediction=prediction)
