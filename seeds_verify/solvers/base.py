"""What every solver shares: argument checks, the step loop, declared orders (diffrax style)."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import trange

from ..coefficients import check_form
from ..noise import GaussianNoise
from ..schemes import REGIMES, check_eta  # check_eta re-exported for the solvers' callers

__all__ = ["Solver", "check_eta", "check_lambdas", "check_s_noise", "working_dtype"]


def check_lambdas(lambdas, name: str = "lambdas") -> np.ndarray:
    """A strictly increasing, finite float64 λ-grid with at least two points."""
    if isinstance(lambdas, torch.Tensor):
        lambdas = lambdas.detach().cpu().double().numpy()
    lam = np.asarray(lambdas, dtype=np.float64)
    if lam.ndim != 1 or lam.size < 2:
        raise ValueError(f"{name} must be a 1-D grid of at least two values")
    if not np.all(np.isfinite(lam)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if not np.all(np.diff(lam) > 0):
        raise ValueError(f"{name} must be strictly increasing (sampling runs towards less noise)")
    return lam


def check_s_noise(s_noise) -> float:
    """The noise scale as a float >= 0: TypeError naming ``s_noise`` for a non-real (bool, str,
    complex, tensor), ValueError for NaN, ±inf or a negative value."""
    if isinstance(s_noise, (bool, np.bool_)) or not isinstance(s_noise, (int, float, np.floating, np.integer)):
        raise TypeError(f"s_noise must be a real number, got {type(s_noise).__name__}")
    value = float(s_noise)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"s_noise must be a finite number >= 0, got {s_noise!r}")
    return value


def working_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 stays float64; everything else (float32, float16, bfloat16) is computed in float32."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    return torch.float64 if x.dtype == torch.float64 else torch.float32


class Solver:
    """Base class of the reference solvers.

    Subclasses declare (diffrax style) the orders the convergence engine holds them to:
    ``order`` (deterministic, η = 0), ``strong_order`` and ``weak_order`` (η > 0), and
    ``nfe_per_step``. They implement :meth:`_prepare` (a plan: the coefficients for the whole
    grid) and :meth:`_step` (one step in torch).

    Call :meth:`solve` with a model answering ``data(x, lam)``/``noise(x, lam)``
    (:class:`~seeds_verify.solvers.model.DiffusionModel` or a problem's model), an increasing
    λ-grid and a schedule (``alpha_of_lam``, ``sigma_of_lam``, ``dlog_alpha_dlam``).
    """

    name: str = "solver"
    order: int = 1
    strong_order: float = 1.0
    weak_order: int = 1
    nfe_per_step: int = 1

    def expected_order(self, regime: str, eta: float) -> float:
        """The order this solver declares for a regime ("strong", "weak", "deterministic")."""
        if regime not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
        if regime == "deterministic" or eta == 0.0:
            return float(self.order)
        return float(self.strong_order if regime == "strong" else self.weak_order)

    # -- to implement ---------------------------------------------------------------------

    def _prepare(self, lam: np.ndarray, schedule, eta: float, form: str):  # pragma: no cover
        raise NotImplementedError

    def _step(self, n: int, x: torch.Tensor, model, plan, noise, form: str, s_noise: float):
        raise NotImplementedError  # pragma: no cover

    # -- the loop -------------------------------------------------------------------------

    def solve(self, model, x: torch.Tensor, lambdas: Sequence[float], *, schedule,
              noise: Callable | None = None, eta: float = 1.0, prediction: str = "data",
              s_noise: float = 1.0, callback: Callable | None = None,
              disable: bool | None = True) -> torch.Tensor:
        """Integrate the reverse SDE of MATH §3 over the λ-grid and return x at ``lambdas[-1]``.

        ``noise(lam_a, lam_b, k)`` supplies the normalised weighted increments (MATH §4); the
        default is fresh Gaussian noise. x may be float32 or float64 (half precision is computed
        in float32 and cast back); all leading dimensions are batch dimensions.
        """
        eta = check_eta(eta)
        form = check_form(prediction)
        lam = check_lambdas(lambdas)
        s_noise = check_s_noise(s_noise)
        work = working_dtype(x)  # also rejects a non-tensor x with a TypeError
        out_dtype = x.dtype
        x = x.to(work)
        if not torch.isfinite(x).all():
            raise ValueError("x must be finite (no NaN or inf)")
        if noise is None:
            noise = GaussianNoise.like(x)
        plan = self._prepare(lam, schedule, eta, form)
        for n in trange(lam.size - 1, disable=disable, desc=self.name):
            x_next, f_start = self._step(n, x, model, plan, noise, form, float(s_noise))
            if callback is not None:
                alpha = float(schedule.alpha_of_lam(lam[n]))
                sigma = float(schedule.sigma_of_lam(lam[n]))
                denoised = f_start if form == "data" else (x - sigma * f_start) / alpha
                # k-diffusion convention: σ̃ = σ/α = e^{−λ}; x is the state at the step's start.
                callback({"x": x, "i": n, "sigma": math.exp(-lam[n]), "sigma_hat": math.exp(-lam[n]),
                          "denoised": denoised, "lam": float(lam[n])})
            x = x_next
        return x.to(out_dtype)
