"""Gaussian data and the point mass: linear denoisers with pathwise exact reverse-SDE solutions.

For data N(μ, Σ) and noise level σ̃ (α = 1, MATH §1, §8):

    p_σ̃ = N(μ, Σ + σ̃² I),    D(x, σ̃) = μ + Σ(Σ + σ̃² I)^{-1}(x − μ),

affine in x, so the reverse SDE of MATH §3 is linear and :meth:`GaussianProblem.exact_solution`
solves it exactly on a given Brownian path. A point mass (Σ = 0) has D ≡ x_0, and every data-form
SEEDS scheme integrates it exactly (MATH §8).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..noise import BrownianPath
from ..schemes import check_eta
from .base import (Problem, check_dtype, check_n, check_sigma, check_x, sample_device,
                   shared_sigma, sigma_tensor)
from .components import GaussianComponents

__all__ = ["GaussianProblem", "PointMass", "anisotropic_gaussian"]


def _check_lam(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


class GaussianProblem(Problem):
    """Data N(mean, cov) (MATH §8); ``cov`` symmetric positive semi-definite.

    Args:
        mean: (dim,) mean μ.
        cov: (dim, dim) covariance Σ (singular allowed: the denoiser then uses its σ̃ → 0⁺ limit).
        name: the problem's name.

    Σ = U diag(s²) Uᵀ is factored once (:attr:`variances` s², :attr:`eigenvectors` U); every
    formula below is diagonal in the coordinates Uᵀ(x − μ).
    """

    is_linear = True

    def __init__(self, mean, cov, name: str = "gaussian"):
        mu = np.asarray(mean.detach().cpu() if isinstance(mean, torch.Tensor) else mean, dtype=np.float64)
        if mu.ndim != 1 or mu.size < 1:
            raise ValueError(f"mean must be a 1-D array of length dim >= 1, got shape {mu.shape}")
        sig = np.asarray(cov.detach().cpu() if isinstance(cov, torch.Tensor) else cov, dtype=np.float64)
        if sig.shape != (mu.size, mu.size):
            raise ValueError(f"cov must have shape ({mu.size}, {mu.size}) to match mean, got {sig.shape}")
        self._components = GaussianComponents(mu[None], sig[None], names=("mean", "cov"))
        self._affine_cache: dict = {}
        self.name = str(name)
        self.dim = mu.size

    # -- the distribution ---------------------------------------------------------------------

    @property
    def variances(self) -> np.ndarray:
        """Eigenvalues s² of Σ, ascending (float64, (dim,))."""
        return self._components.variances[0]

    @property
    def eigenvectors(self) -> np.ndarray:
        """Orthogonal U with Σ = U diag(s²) Uᵀ (columns are eigenvectors; float64, (dim, dim))."""
        return self._components.eigenvectors[0]

    def mean(self, sigma: float = 0.0) -> np.ndarray:
        """μ: the mean of p_σ̃ for every σ̃ (MATH §8)."""
        check_sigma(sigma)
        return self._components.means[0].copy()

    def cov(self, sigma: float = 0.0) -> np.ndarray:
        """Σ + σ̃² I (MATH §8)."""
        s = check_sigma(sigma)
        return self._components.covs[0] + s * s * np.eye(self.dim)

    def denoiser(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """D(x, σ̃) = μ + Σ(Σ + σ̃² I)^{-1}(x − μ) (MATH §8), computed in float64, returned in x's dtype.

        One σ̃ for the whole batch (how samplers call a model, :func:`~.base.shared_sigma`) takes
        the affine form G x + c of :meth:`denoiser_affine`, kept per σ̃: one matrix product per call.
        """
        check_x(x, self.dim)
        shared = shared_sigma(sigma, x)
        x64 = x.to(torch.float64)
        if shared is not None:
            g_t, c = self._affine_tensors(shared * shared, x.device)
            return torch.addmm(c, x64.reshape(-1, self.dim), g_t).reshape(x.shape).to(x.dtype)
        s = sigma_tensor(sigma, x)
        s2 = self._components.collapse(s * s)
        if s2.ndim == 0:
            g_t, c = self._affine_tensors(float(s2), x.device)
            return torch.addmm(c, x64.reshape(-1, self.dim), g_t).reshape(x.shape).to(x.dtype)
        coords = self._components.coordinates(x64)
        ones = torch.ones(coords.shape[:-1], dtype=torch.float64, device=x.device)
        return self._components.combine(ones, coords, s2).to(x.dtype)

    def _affine_tensors(self, s2: float, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(Gᵀ as a contiguous tensor, c) on ``device`` for σ̃² = ``s2``, kept per (σ̃², device)."""
        key = (s2, torch.device(device))
        hit = self._affine_cache.get(key)
        if hit is None:
            if len(self._affine_cache) > 65536:
                self._affine_cache.clear()
            g, c = self._affine_from_s2(s2)
            hit = (torch.as_tensor(np.ascontiguousarray(g.T), device=device), torch.as_tensor(c, device=device))
            self._affine_cache[key] = hit
        return hit

    def denoiser_affine(self, sigma: float) -> tuple[np.ndarray, np.ndarray]:
        """(G, c) with D(x, σ̃) = G x + c: G = U diag(s²/(s²+σ̃²)) Uᵀ, c = U diag(σ̃²/(s²+σ̃²)) Uᵀ μ.

        c = (I − G) μ is formed from σ̃²/(s²+σ̃²) directly, so it does not cancel at small σ̃.
        """
        return self._affine_from_s2(check_sigma(sigma) ** 2)

    def _affine_from_s2(self, s2: float) -> tuple[np.ndarray, np.ndarray]:
        ev, u = self.variances, self.eigenvectors
        total = ev + s2
        positive = total > 0
        keep = np.where(positive, ev / np.where(positive, total, 1.0), 0.0)
        drop = np.where(positive, s2 / np.where(positive, total, 1.0), 1.0)
        g = (u * keep) @ u.T
        c = u @ (drop * (u.T @ self._components.means[0]))
        return g, c

    def log_density(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """log N(x; μ, Σ + σ̃² I), shape x.shape[:-1] (MATH §8)."""
        check_x(x, self.dim)
        s = sigma_tensor(sigma, x)
        self._components.check_positive_definite(s, "log_density")
        coords = self._components.coordinates(x.to(torch.float64))
        return self._components.log_normal(coords, s * s)[..., 0].to(x.dtype)

    def sample(self, n: int, sigma: float = 0.0, *, generator: torch.Generator | None = None,
               device=None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """n exact draws from N(μ, Σ + σ̃² I), shape (n, dim)."""
        n, s, dtype = check_n(n), check_sigma(sigma), check_dtype(dtype)
        dev = sample_device(generator, device)
        normals = torch.randn((n, self.dim), generator=generator, device=dev, dtype=torch.float64)
        index = torch.zeros(n, dtype=torch.long, device=dev)
        return self._components.draw(index, s, normals).to(dtype)

    # -- the exact reverse-SDE solution ------------------------------------------------------

    def _log_total(self, lam) -> np.ndarray:
        """log(s² + σ̃_λ²) = logaddexp(log s², −2λ), shape lam.shape + (dim,)."""
        lam = np.asarray(lam, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_ev = np.log(self.variances)
        return np.logaddexp(log_ev, -2.0 * lam[..., None])

    def transition_factor(self, lam_end: float, lam, eta: float) -> np.ndarray:
        """Φ_i(T, λ) = ((s_i² + σ̃_T²)/(s_i² + σ̃_λ²))^{(1+η)/2}, shape lam.shape + (dim,).

        The fundamental solution of the linear reverse SDE along eigen-direction i (see
        :meth:`exact_solution`); σ̃_λ = e^{−λ}.
        """
        eta = check_eta(eta)
        return np.exp(0.5 * (1.0 + eta) * (self._log_total(lam_end) - self._log_total(lam)))

    def solution_kernel(self, lam_end: float, lam, eta: float) -> np.ndarray:
        """sqrt(2η) Φ_i(T, λ) e^{−λ}: the weight of dW'_i in :meth:`exact_solution`, lam.shape + (dim,)."""
        eta = check_eta(eta)
        lam = np.asarray(lam, dtype=np.float64)
        log_phi = 0.5 * (1.0 + eta) * (self._log_total(lam_end) - self._log_total(lam))
        return math.sqrt(2.0 * eta) * np.exp(log_phi - lam[..., None])

    def exact_solution(self, y_start: torch.Tensor, lam_start: float, lam_end: float, eta: float,
                       path: BrownianPath | None = None) -> torch.Tensor:
        """The exact solution at λ_end of the data-form reverse SDE started at y_start (MATH §3, §4, §8).

        Derivation. In α = 1 coordinates (y = x̃, σ̃_λ = e^{−λ}, dlog α/dλ = 0) the data form of
        MATH §3 is

            dy = (1+η)(D(y, λ) − y) dλ + e^{−λ} sqrt(2η) dW_λ,
            D(y, λ) − y = −σ̃²(Σ + σ̃² I)^{-1}(y − μ).

        With Σ = U diag(s²) Uᵀ, v = Uᵀ(y − μ) and W' = Uᵀ W (again a standard Brownian motion, U
        being orthogonal) the directions decouple:

            dv_i = −(1+η) σ̃²/(s_i² + σ̃²) v_i dλ + e^{−λ} sqrt(2η) dW'_i.

        Because dσ̃²/dλ = −2σ̃², the drift rate is ((1+η)/2) d/dλ log(s_i² + σ̃_λ²), so the
        fundamental solution from λ to t is

            Φ_i(t, λ) = ((s_i² + σ̃_t²)/(s_i² + σ̃_λ²))^{(1+η)/2},

        and variation of constants gives, with T = λ_end,

            v_i(T) = Φ_i(T, λ_start) v_i(λ_start) + sqrt(2η) ∫_{λ_start}^T Φ_i(T, λ) e^{−λ} dW'_i(λ),
            y(T) = μ + U v(T).

        Checks: s_i = 0 gives Φ = e^{−(1+η)(T−λ)}, the data-form kernel of MATH §4 at α = 1; and
        with u = s² + σ̃², E v_i(T)² = Φ² u_start + 2η ∫ Φ² e^{−2λ} dλ = u_T whenever
        E v_i(λ_start)² = u_start (substitute u for λ), for every η: all reverse SDEs of MATH §3
        share the marginals N(μ, Σ + σ̃² I).

        Noise. ``path`` is the :class:`~seeds_verify.noise.BrownianPath` a solver used (shape
        ``y_start.shape``, end points on its grid): the solver's noise σ sqrt(2η) dW is this W, so
        ∫ Φ_i e^{−λ} dW'_i = Σ_j U_ji ∫ Φ_i e^{−λ} dW_j is evaluated from the same Legendre moments
        by :meth:`BrownianPath.weighted_integral`. For a solver on a schedule with α ≠ 1 its state
        is x = α(λ) y: dividing the SDE in x by α gives the equation above with the same W.
        ``eta = 0`` needs no path (the probability-flow ODE).

        Returns a tensor like ``y_start`` (computed in float64).
        """
        eta = check_eta(eta)
        a, b = _check_lam(lam_start, "lam_start"), _check_lam(lam_end, "lam_end")
        if not b >= a:
            raise ValueError(f"lam_end must be >= lam_start, got lam_start={a!r}, lam_end={b!r}")
        check_x(y_start, self.dim, "y_start")
        dev = y_start.device
        mu = torch.as_tensor(self._components.means[0], dtype=torch.float64, device=dev)
        u = torch.as_tensor(self.eigenvectors, dtype=torch.float64, device=dev)
        phi = torch.as_tensor(self.transition_factor(b, a, eta), dtype=torch.float64, device=dev)
        v = ((y_start.to(torch.float64) - mu) @ u) * phi
        if eta > 0.0 and b > a:
            if not isinstance(path, BrownianPath):
                raise TypeError(f"path must be a BrownianPath when eta > 0, got {type(path).__name__}")
            if tuple(path.shape) != tuple(y_start.shape):
                raise ValueError(f"path has shape {tuple(path.shape)} but y_start has shape "
                                 f"{tuple(y_start.shape)}; they must be equal")
            ints = path.weighted_integral(a, b, lambda lam: self.solution_kernel(b, lam, eta))
            # ints[i, ..., j] = ∫ kernel_i dW_j; rotate W to the eigenbasis: Σ_j U_ji ints[i, ..., j].
            ints = ints.to(device=dev, dtype=torch.float64).movedim(0, -2)  # (..., i, j)
            v = v + (ints * u.T).sum(-1)
        return (mu + v @ u.T).to(y_start.dtype)


class PointMass(GaussianProblem):
    """All data at x0 (Σ = 0): D ≡ x0 for every σ̃ and p_σ̃ = N(x0, σ̃² I) (MATH §8).

    Every data-form SEEDS scheme integrates this problem exactly: with one Brownian path, any
    step count gives the same x (to rounding) and equals :meth:`exact_solution`.
    """

    def __init__(self, x0, name: str = "point_mass"):
        x0 = np.asarray(x0.detach().cpu() if isinstance(x0, torch.Tensor) else x0, dtype=np.float64)
        if x0.ndim != 1 or x0.size < 1:
            raise ValueError(f"x0 must be a 1-D array of length dim >= 1, got shape {x0.shape}")
        if not np.all(np.isfinite(x0)):
            raise ValueError("x0 must be finite (no NaN or inf)")
        super().__init__(x0, np.zeros((x0.size, x0.size)), name=name)


def anisotropic_gaussian() -> GaussianProblem:
    """2-D N(μ, Σ) with μ = (1, −0.5), Σ = [[2, 0.9], [0.9, 0.6]] (eigenvalues ≈ 2.44, 0.16)."""
    return GaussianProblem([1.0, -0.5], [[2.0, 0.9], [0.9, 0.6]], name="gaussian")
