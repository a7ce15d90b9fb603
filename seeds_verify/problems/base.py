"""The interface every closed-form test problem answers, and the argument checks they share.

Every problem is stated in the k-diffusion / EDM convention α = 1 (MATH §1): the noisy variable
is ``x̃ = x_0 + σ̃ ε`` with ``σ̃ = σ/α = e^{−λ}``. Its marginal p_σ̃ is the data distribution
convolved with N(0, σ̃² I), and its denoiser is ``D(x̃, σ̃) = E[x_0 | x_0 + σ̃ ε = x̃]``
(MATH §2). A solver on another schedule works on ``x = α x̃``; data prediction is invariant
under that rescaling (MATH §1), which is what :meth:`Problem.model` relies on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


__all__ = ["Problem"]


class Problem:
    """A data distribution whose noisy marginals, denoiser and moments are known exactly.

    Attributes:
        name: short name (the key of :func:`~seeds_verify.problems.get_problem` it came from).
        dim: dimension of one sample.
        is_linear: True when the denoiser is affine in x (Gaussian data, a point mass), so that
            the reverse SDE is linear and has a pathwise exact solution (MATH §8).

    Methods (σ̃ ≥ 0 everywhere; ``x`` has shape ``(..., dim)``):
        ``denoiser(x, sigma)``: D(x, σ̃), a tensor of x's dtype and device. ``sigma`` is a float,
            a 0-d tensor or a tensor broadcastable against x's batch dimensions ``x.shape[:-1]``
            (k-diffusion passes shape ``(batch,)``).
        ``sample(n, sigma)``: n exact draws from p_σ̃, shape ``(n, dim)`` (σ̃ = 0: the data).
        ``log_density(x, sigma)``: log p_σ̃(x), shape ``x.shape[:-1]``.
        ``mean(sigma)``, ``cov(sigma)``: exact moments of p_σ̃ as float64 numpy arrays.
        (A solver takes the denoiser on a schedule through
        ``seeds_verify.solvers.DiffusionModel(problem.denoiser, "denoiser", schedule)``.)
    """

    name: str = "problem"
    dim: int = 0
    is_linear: bool = False

    def denoiser(self, x: torch.Tensor, sigma) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def sample(self, n: int, sigma: float = 0.0, *, generator: torch.Generator | None = None,
               device=None, dtype: torch.dtype = torch.float64) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def log_density(self, x: torch.Tensor, sigma) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def mean(self, sigma: float = 0.0) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def cov(self, sigma: float = 0.0) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def score(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """∇ log p_σ̃(x) = (D(x, σ̃) − x)/σ̃² (Tweedie, MATH §2 with α = 1); needs σ̃ > 0."""
        s = sigma_tensor(sigma, x, positive=True)
        d = self.denoiser(x, sigma)
        return ((d.to(torch.float64) - x.to(torch.float64)) / (s * s)).to(x.dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


# --------------------------------------------------------------------------------------------
# Argument checks shared by the problems
# --------------------------------------------------------------------------------------------


def check_sigma(sigma: Any, name: str = "sigma") -> float:
    """σ̃ as a finite float ≥ 0; TypeError/ValueError naming ``name`` otherwise."""
    if isinstance(sigma, torch.Tensor):
        if sigma.numel() != 1:
            raise ValueError(f"{name} must be a single number here, got shape {tuple(sigma.shape)}")
        sigma = sigma.item()
    if isinstance(sigma, (bool, np.bool_)) or not isinstance(sigma, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(sigma).__name__}")
    value = float(sigma)
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return value


def all_finite(x: torch.Tensor) -> bool:
    """Whether every entry of a floating tensor is finite, in one reduction when it is.

    A NaN or an infinity in x makes its sum NaN or infinite, so a finite sum proves every entry
    finite; only a non-finite sum (a bad entry, or finite entries whose sum overflows) needs the
    element-wise test. Exact either way; a model call's check costs one sum instead of two passes.
    """
    return math.isfinite(float(x.sum())) or bool(torch.isfinite(x).all())


def check_x(x: Any, dim: int, name: str = "x") -> torch.Tensor:
    """A finite floating tensor whose last dimension is ``dim``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if x.ndim < 1 or x.shape[-1] != dim:
        raise ValueError(f"{name} must have shape (..., {dim}), got {tuple(x.shape)}")
    if not all_finite(x):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return x


def _check_sigma_tensor(sigma: torch.Tensor, x: torch.Tensor) -> None:
    """A real tensor σ̃ whose shape broadcasts against the batch dimensions ``x.shape[:-1]``
    without enlarging them (the result must be shaped like x); TypeError/ValueError naming sigma."""
    if sigma.dtype == torch.bool or sigma.is_complex():
        raise TypeError(f"sigma must be a real tensor, got dtype {sigma.dtype}")
    if sigma.ndim > 0 and sigma.shape != x.shape[:-1]:
        try:
            fits = torch.broadcast_shapes(sigma.shape, x.shape[:-1]) == x.shape[:-1]
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"sigma of shape {tuple(sigma.shape)} does not broadcast against the batch "
                             f"dimensions {tuple(x.shape[:-1])} of x")


def shared_sigma(sigma: Any, x: torch.Tensor) -> float | None:
    """σ̃ as one float when a single value serves the whole batch, else None.

    A float, a one-element tensor, or a tensor (shaped as :func:`sigma_tensor` accepts) whose
    entries are all equal and finite ≥ 0 — how samplers call a model, k-diffusion with a
    ``(batch,)`` tensor of one value. Then a problem can evaluate every σ̃-dependent factor once
    for the batch, and the check costs one reduction (min and max) instead of the element-wise
    checks of :func:`sigma_tensor`. None when the entries differ, or when they are not all
    finite and ≥ 0, or the tensor is empty (:func:`sigma_tensor` then answers, or raises its
    ValueError). A float, a bool or a malformed tensor raise as in :func:`sigma_tensor`.
    """
    if not isinstance(sigma, torch.Tensor):
        return check_sigma(sigma)
    _check_sigma_tensor(sigma, x)
    if sigma.numel() == 0:
        return None
    if sigma.numel() == 1:
        value = float(sigma.detach().reshape(()).to(torch.float64))
        return value if math.isfinite(value) and value >= 0.0 else None
    low, high = torch.aminmax(sigma.detach().to(torch.float64))
    low, high = float(low), float(high)
    # NaN compares unequal, so a NaN entry never passes.
    return low if low == high and math.isfinite(low) and low >= 0.0 else None


def sigma_tensor(sigma: Any, x: torch.Tensor, *, positive: bool = False) -> torch.Tensor:
    """σ̃ as a float64 tensor on x's device, shaped to broadcast against ``x.shape[:-1] + (1,)``.

    A float or 0-d tensor gives a 0-d tensor; a tensor of shape B must broadcast against the
    batch dimensions ``x.shape[:-1]`` and comes back as ``B + (1,)``.
    """
    if isinstance(sigma, torch.Tensor):
        _check_sigma_tensor(sigma, x)
        s = sigma.detach().to(device=x.device, dtype=torch.float64)
        if s.ndim > 0:
            s = s.unsqueeze(-1)
    else:
        s = torch.tensor(check_sigma(sigma), dtype=torch.float64, device=x.device)
    if bool((~(s >= 0) | torch.isinf(s)).any()):  # NaN fails s >= 0
        raise ValueError("sigma must be finite and >= 0 (no NaN, inf or negative values)")
    if positive and bool((s == 0).any()):
        raise ValueError("sigma must be > 0 here")
    return s


def check_n(n: Any) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return int(n)


def check_dtype(dtype: Any) -> torch.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    return dtype


def sample_device(generator: torch.Generator | None, device) -> torch.device:
    """Where to draw: ``device`` if given, else the generator's device, else the CPU."""
    if device is not None:
        return torch.device(device)
    if generator is not None:
        return generator.device
    return torch.device("cpu")
