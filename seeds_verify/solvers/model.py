"""Turn any diffusion-model parametrisation into the two predictions a solver asks for (MATH §2).

A solver calls ``model.data(x, lam)`` (the denoiser D = E[x_0 | x_λ = x]) or
``model.noise(x, lam)`` (ε̂ = (x − α D)/σ), with λ the half log-SNR of the schedule.
:class:`DiffusionModel` wraps a user function of one of four kinds:

* ``"denoiser"`` — k-diffusion / EDM convention (α = 1): ``fn(x̃, σ̃)`` returns the denoised x_0 for
  x̃ = x/α and σ̃ = σ/α = e^{−λ}. Data prediction is invariant under x ← x/α (MATH §1), so
  D(x, λ) = fn(x/α_λ, e^{−λ}).
* ``"data"``, ``"noise"``, ``"v"`` — ``fn(x, t)`` in the schedule's own time t, returning D, ε̂ or
  v = α ε − σ x_0. With x = α x_0 + σ ε:  x_0 = (α x − σ v)/(α² + σ²),  ε = (σ x + α v)/(α² + σ²).

The time argument is passed k-diffusion style, as a tensor of shape ``(x.shape[0],)``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

__all__ = ["DiffusionModel", "MODEL_KINDS"]

MODEL_KINDS = ("denoiser", "data", "noise", "v")


class DiffusionModel:
    """A model that answers ``data(x, lam)`` and ``noise(x, lam)`` for a schedule.

    Args:
        fn: the network (any callable on tensors).
        kind: one of ``MODEL_KINDS`` (see the module docstring).
        schedule: object with ``alpha_of_lam``, ``sigma_of_lam`` and ``t_of_lam``
            (``seeds_verify.schedules``); ``t_of_lam`` is only needed for the time-based kinds.
        extra_args: keyword arguments passed to ``fn`` on every call.
    """

    def __init__(self, fn: Callable, kind: str, schedule, extra_args: dict | None = None):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")
        self.fn = fn
        self.kind = kind
        self.schedule = schedule
        self.extra_args = dict(extra_args or {})
        self.calls = 0
        self._coeff_cache: dict[float, tuple[float, float]] = {}

    def _coeffs(self, lam: float) -> tuple[float, float]:
        # A solve asks for the same few λ values on every call; the schedule's checked float64
        # evaluation is done once per value.
        hit = self._coeff_cache.get(lam)
        if hit is None:
            if len(self._coeff_cache) > 65536:
                self._coeff_cache.clear()
            hit = (float(self.schedule.alpha_of_lam(lam)), float(self.schedule.sigma_of_lam(lam)))
            self._coeff_cache[lam] = hit
        return hit

    def precompute(self, lams) -> None:
        """Evaluate α(λ) and σ(λ) of the schedule for an array of λ at once, so that predictions
        at these λ skip the per-call schedule evaluation (a solver calls this with every λ of a
        grid before its steps; the values are the schedule's, elementwise)."""
        lam = np.unique(np.asarray(lams, dtype=np.float64).reshape(-1))
        if lam.size == 0:
            return
        if len(self._coeff_cache) + lam.size > 65536:
            self._coeff_cache.clear()
        alpha = np.broadcast_to(np.asarray(self.schedule.alpha_of_lam(lam), dtype=np.float64), lam.shape)
        sigma = np.broadcast_to(np.asarray(self.schedule.sigma_of_lam(lam), dtype=np.float64), lam.shape)
        self._coeff_cache.update(zip(lam.tolist(), zip(alpha.tolist(), sigma.tolist())))

    def _time(self, x: torch.Tensor, value: float) -> torch.Tensor:
        return torch.full((x.shape[0],), value, dtype=x.dtype, device=x.device)

    def _raw(self, x: torch.Tensor, lam: float) -> torch.Tensor:
        self.calls += 1
        alpha, _ = self._coeffs(lam)
        if self.kind == "denoiser":
            out = self.fn(x / alpha if alpha != 1.0 else x, self._time(x, math.exp(-lam)), **self.extra_args)
        else:
            out = self.fn(x, self._time(x, float(self.schedule.t_of_lam(lam))), **self.extra_args)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            raise ValueError(f"model must return a tensor shaped like x {tuple(x.shape)}, got "
                             f"{getattr(out, 'shape', type(out).__name__)}")
        return out

    def data(self, x: torch.Tensor, lam: float) -> torch.Tensor:
        """Data prediction D(x, λ) (MATH §2)."""
        out = self._raw(x, lam)
        alpha, sigma = self._coeffs(lam)
        if self.kind in ("denoiser", "data"):
            return out
        if self.kind == "noise":
            return (x - sigma * out) / alpha
        return (alpha * x - sigma * out) / (alpha * alpha + sigma * sigma)

    def noise(self, x: torch.Tensor, lam: float) -> torch.Tensor:
        """Noise prediction ε̂(x, λ) = (x − α D)/σ (MATH §2)."""
        if self.kind in ("denoiser", "data"):
            alpha, sigma = self._coeffs(lam)
            return (x - alpha * self._raw(x, lam)) / sigma
        out = self._raw(x, lam)
        if self.kind == "noise":
            return out
        alpha, sigma = self._coeffs(lam)
        return (sigma * x + alpha * out) / (alpha * alpha + sigma * sigma)

    def predict(self, x: torch.Tensor, lam: float, form: str) -> torch.Tensor:
        """``data`` or ``noise`` prediction by name."""
        return self.data(x, lam) if form == "data" else self.noise(x, lam)
