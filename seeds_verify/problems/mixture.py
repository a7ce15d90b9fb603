"""Gaussian mixtures: a nonlinear denoiser whose marginals, moments and density are still exact.

For data Σ_k w_k N(μ_k, Σ_k) and noise level σ̃ (α = 1, MATH §1, §8):

    p_σ̃ = Σ_k w_k N(μ_k, Σ_k + σ̃² I),
    D(x, σ̃) = Σ_k r_k(x) [μ_k + Σ_k(Σ_k + σ̃² I)^{-1}(x − μ_k)],
    r_k(x) = w_k N(x; μ_k, Σ_k + σ̃² I) / p_σ̃(x)    (responsibilities, by log-sum-exp).

D is the posterior mean E[x_0 | x̃ = x]: the component is a latent variable and, given it, the
Gaussian formula applies. The moments of p_σ̃ are m = Σ_k w_k μ_k and
Σ_k w_k (Σ_k + σ̃² I + μ_k μ_kᵀ) − m mᵀ.

Every quantity is computed in float64 whatever the input dtype and returned in the input's
dtype: the log-densities of far-away points are large numbers whose differences decide the
responsibilities, and float32 would round those differences away.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import (Problem, check_dtype, check_n, check_sigma, check_x, sample_device,
                   shared_sigma, sigma_tensor)
from .components import GaussianComponents

__all__ = [
    "GaussianMixture",
    "ring_mixture",
    "high_dim_mixture",
    "separated_mixture",
    "unequal_mixture",
    "bimodal_1d",
]

# Tolerance on Σ w_k = 1: rounding of weights typed as decimals, not a different distribution.
_WEIGHT_SUM_TOL = 1e-9


class GaussianMixture(Problem):
    """Data Σ_k w_k N(μ_k, Σ_k) (MATH §8).

    Args:
        weights: (K,) non-negative, summing to 1 (within 1e-9; renormalised exactly).
        means: (K, dim) component means.
        covs: (K, dim, dim) symmetric positive semi-definite covariances.
        name: the problem's name.
    """

    def __init__(self, weights, means, covs, name: str = "gmm"):
        w = weights.detach().cpu().double().numpy() if isinstance(weights, torch.Tensor) else weights
        try:
            w = np.asarray(w, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError("weights must be an array of real numbers") from exc
        if w.ndim != 1 or w.size < 1:
            raise ValueError(f"weights must be a non-empty 1-D array, got shape {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError("weights must be finite (no NaN or inf)")
        if np.any(w < 0):
            raise ValueError(f"weights must be >= 0, got {w.tolist()}")
        if abs(float(w.sum()) - 1.0) > _WEIGHT_SUM_TOL:
            raise ValueError(f"weights must sum to 1, got sum {float(w.sum())!r}")
        self._components = GaussianComponents(means, covs)
        if self._components.n_components != w.size:
            raise ValueError(f"weights has {w.size} entries but means has {self._components.n_components} "
                             f"components")
        self.weights = w / w.sum()
        with np.errstate(divide="ignore"):
            self._log_weights = np.log(self.weights)
        self.name = str(name)
        self.dim = self._components.dim
        self.n_components = w.size
        self.is_linear = self.n_components == 1
        self._log_w_cache: dict = {}

    @property
    def means(self) -> np.ndarray:
        """(K, dim) component means (float64)."""
        return self._components.means

    @property
    def covs(self) -> np.ndarray:
        """(K, dim, dim) component covariances (float64, symmetrised)."""
        return self._components.covs

    def _log_w(self, device) -> torch.Tensor:
        key = torch.device(device)
        if key not in self._log_w_cache:
            self._log_w_cache[key] = torch.as_tensor(self._log_weights, dtype=torch.float64, device=key)
        return self._log_w_cache[key]

    def _joint(self, x: torch.Tensor, sigma, what: str):
        """(coords ζ (..., K, d), σ̃² , log w_k + log N_k (..., K)) in float64."""
        check_x(x, self.dim)
        shared = shared_sigma(sigma, x)
        if shared is not None:  # one σ̃ for the batch: its checks were one reduction
            s = torch.tensor(shared, dtype=torch.float64, device=x.device)
        else:
            s = sigma_tensor(sigma, x)
        self._components.check_positive_definite(s, what)
        s2 = self._components.collapse(s * s)
        coords = self._components.coordinates(x.to(torch.float64))
        return coords, s2, self._log_w(x.device) + self._components.log_normal(coords, s2)

    # -- the distribution ---------------------------------------------------------------------

    def mean(self, sigma: float = 0.0) -> np.ndarray:
        """m = Σ_k w_k μ_k for every σ̃ (MATH §8)."""
        check_sigma(sigma)
        return self.weights @ self.means

    def cov(self, sigma: float = 0.0) -> np.ndarray:
        """Σ_k w_k (Σ_k + (μ_k − m)(μ_k − m)ᵀ) + σ̃² I: the law of total covariance (MATH §8)."""
        s = check_sigma(sigma)
        centred = self.means - self.mean()
        within = np.einsum("k,kij->ij", self.weights, self.covs)
        between = np.einsum("k,ki,kj->ij", self.weights, centred, centred)
        return within + between + s * s * np.eye(self.dim)

    def log_density(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """log p_σ̃(x) = logsumexp_k(log w_k + log N(x; μ_k, Σ_k + σ̃² I)), shape x.shape[:-1]."""
        _, _, joint = self._joint(x, sigma, "log_density")
        return torch.logsumexp(joint, dim=-1).to(x.dtype)

    def responsibilities(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """r_k(x) = softmax_k(log w_k + log N(x; μ_k, Σ_k + σ̃² I)), shape x.shape[:-1] + (K,)."""
        _, _, joint = self._joint(x, sigma, "responsibilities")
        return torch.softmax(joint, dim=-1).to(x.dtype)

    def denoiser(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """D(x, σ̃) = Σ_k r_k(x) [μ_k + Σ_k(Σ_k + σ̃² I)^{-1}(x − μ_k)] (MATH §8).

        At σ̃ = 0 every component returns x itself (non-singular Σ_k), so D(x, 0) = x.
        """
        coords, s2, joint = self._joint(x, sigma, "the denoiser")
        resp = torch.softmax(joint, dim=-1)
        return self._components.combine(resp, coords, s2).to(x.dtype)

    def sample(self, n: int, sigma: float = 0.0, *, generator: torch.Generator | None = None,
               device=None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """n exact draws from p_σ̃: a component k ~ w, then N(μ_k, Σ_k + σ̃² I); shape (n, dim)."""
        n, s, dtype = check_n(n), check_sigma(sigma), check_dtype(dtype)
        dev = sample_device(generator, device)
        probs = torch.as_tensor(self.weights, dtype=torch.float64, device=dev)
        index = torch.multinomial(probs, n, replacement=True, generator=generator)
        normals = torch.randn((n, self.dim), generator=generator, device=dev, dtype=torch.float64)
        return self._components.draw(index, s, normals).to(dtype)

    def component_weights(self, x: torch.Tensor, sigma: float = 0.0) -> np.ndarray:
        """Fraction of the samples x (..., dim) whose most responsible component is k; (K,) float64.

        With well separated modes this estimates the mixture weights, so comparing it with
        :attr:`weights` measures mode coverage.
        """
        _, _, joint = self._joint(x, check_sigma(sigma), "component_weights")
        best = joint.reshape(-1, self.n_components).argmax(dim=-1)
        counts = torch.bincount(best, minlength=self.n_components).cpu().numpy()
        return counts / max(int(best.numel()), 1)

    def __repr__(self) -> str:
        return f"GaussianMixture(name={self.name!r}, dim={self.dim}, n_components={self.n_components})"


# --------------------------------------------------------------------------------------------
# The standard mixtures
# --------------------------------------------------------------------------------------------


def _check_count(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _check_positive(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


def ring_mixture(n_components: int = 8, radius: float = 4.0, std: float = 0.5,
                 weights="unequal") -> GaussianMixture:
    """2-D isotropic components N(μ_k, std² I) with μ_k = radius (cos 2πk/K, sin 2πk/K).

    ``weights``: "unequal" (w_k ∝ k + 1, the default, so rare and common modes coexist),
    "equal", or an explicit (K,) array.
    """
    k = _check_count(n_components, "n_components")
    r = _check_positive(radius, "radius")
    s = _check_positive(std, "std")
    angle = 2.0 * np.pi * np.arange(k) / k
    means = r * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    if isinstance(weights, str):
        if weights == "unequal":
            w = np.arange(1, k + 1, dtype=np.float64)
            w /= w.sum()
        elif weights == "equal":
            w = np.full(k, 1.0 / k)
        else:
            raise ValueError(f"weights must be 'unequal', 'equal' or an array, got {weights!r}")
    else:
        w = weights
    covs = np.broadcast_to(s * s * np.eye(2), (k, 2, 2)).copy()
    return GaussianMixture(w, means, covs, name="gmm")


def high_dim_mixture(dim: int = 16, n_components: int = 16, seed: int = 0) -> GaussianMixture:
    """A dim-dimensional mixture built deterministically from ``seed``.

    Means μ_k ~ N(0, 3² I); covariances Q_k diag(s²) Q_kᵀ with Q_k a random rotation (QR of a
    Gaussian matrix, signs fixed) and s² log-uniform in [0.05, 1], so every component is
    anisotropic and non-diagonal; weights w ~ Dirichlet(2, …, 2).
    """
    d = _check_count(dim, "dim")
    k = _check_count(n_components, "n_components")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    rng = np.random.default_rng(int(seed))
    means = 3.0 * rng.standard_normal((k, d))
    covs = np.empty((k, d, d))
    for j in range(k):
        q, r = np.linalg.qr(rng.standard_normal((d, d)))
        q = q * np.sign(np.diag(r))
        variances = np.exp(rng.uniform(np.log(0.05), 0.0, size=d))
        covs[j] = (q * variances) @ q.T
    w = rng.dirichlet(np.full(k, 2.0))
    return GaussianMixture(w, means, covs, name="gmm16" if (d, k) == (16, 16) else f"gmm{d}d{k}")


def separated_mixture() -> GaussianMixture:
    """2-D, three equally weighted anisotropic modes more than 18 standard deviations apart."""
    means = [[-6.0, -3.0], [6.0, -3.0], [0.0, 7.0]]
    covs = [[[0.30, 0.10], [0.10, 0.20]],
            [[0.20, -0.08], [-0.08, 0.25]],
            [[0.15, 0.0], [0.0, 0.30]]]
    return GaussianMixture([1 / 3, 1 / 3, 1 / 3], means, covs, name="gmm_separated")


def unequal_mixture() -> GaussianMixture:
    """2-D, a dominant mode (weight 0.9) and a rare one (0.1), five to ten standard deviations apart."""
    means = [[-1.5, 0.0], [2.5, 1.5]]
    covs = [[[0.50, 0.20], [0.20, 0.40]],
            [[0.10, 0.0], [0.0, 0.15]]]
    return GaussianMixture([0.9, 0.1], means, covs, name="gmm_unequal")


def bimodal_1d() -> GaussianMixture:
    """1-D 0.3 N(−2, 0.25) + 0.7 N(1.5, 0.5): the smallest nonlinear problem."""
    return GaussianMixture([0.3, 0.7], [[-2.0], [1.5]], [[[0.25]], [[0.5]]], name="bimodal1d")
