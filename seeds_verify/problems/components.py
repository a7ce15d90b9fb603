"""Gaussian components in their eigenbases: the linear algebra behind every problem (MATH §8).

Each covariance is factored once, in float64, as ``Σ_k = V_k diag(s_k²) V_kᵀ`` with orthogonal
V_k. Adding noise of level σ̃ only shifts the eigenvalues, ``Σ_k + σ̃² I = V_k diag(s_k² + σ̃²) V_kᵀ``,
so every quantity of the noisy component is a diagonal operation in the coordinates
``ζ_k = V_kᵀ (x − μ_k)``:

* log N(x; μ_k, Σ_k + σ̃² I) = −½ [Σ_i ζ_{k,i}²/(s_{k,i}² + σ̃²) + Σ_i log(s_{k,i}² + σ̃²) + d log 2π];
* the component denoiser μ_k + Σ_k(Σ_k + σ̃² I)^{-1}(x − μ_k) = μ_k + V_k diag(s²/(s² + σ̃²)) ζ_k.

One factorisation serves every σ̃, also a different σ̃ per sample, and the shrinkage factors
s²/(s² + σ̃²) lie in [0, 1], so nothing is inverted that could be ill-conditioned: a singular
covariance (s² = 0, e.g. a point mass) is handled by its σ̃ → 0⁺ limit, factor 0.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["GaussianComponents"]

# Relative size (to the largest covariance entry) below which asymmetry or a negative eigenvalue
# counts as rounding of a symmetric positive semi-definite matrix rather than as bad input.
_PSD_RTOL = 1e-10


def _as_float64(value, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


class GaussianComponents:
    """K Gaussian components N(μ_k, Σ_k) in dimension d, factored in their eigenbases.

    Args:
        means: (K, d) component means.
        covs: (K, d, d) symmetric positive semi-definite covariances.
        names: the argument names to use in error messages.

    Attributes (float64 numpy): ``means`` (K, d), ``covs`` (K, d, d) (symmetrised),
    ``variances`` (K, d) the eigenvalues s², ``eigenvectors`` (K, d, d) the columns of V_k.
    """

    def __init__(self, means, covs, names: tuple[str, str] = ("means", "covs")):
        mname, cname = names
        mu = _as_float64(means, mname)
        cov = _as_float64(covs, cname)
        if mu.ndim != 2 or mu.shape[1] < 1:
            raise ValueError(f"{mname} must have shape (K, dim), got {mu.shape}")
        k, d = mu.shape
        if cov.shape != (k, d, d):
            raise ValueError(f"{cname} must have shape ({k}, {d}, {d}) to match {mname}, got {cov.shape}")
        scale = max(float(np.max(np.abs(cov))), 1e-300)
        asym = float(np.max(np.abs(cov - np.swapaxes(cov, 1, 2))))
        if asym > _PSD_RTOL * scale:
            raise ValueError(f"{cname} must be symmetric (largest asymmetry {asym:.3g})")
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        ev, vec = np.linalg.eigh(cov)
        if float(np.min(ev)) < -_PSD_RTOL * scale * d:
            raise ValueError(f"{cname} must be positive semi-definite (smallest eigenvalue {np.min(ev):.3g})")
        # Eigenvalues at rounding level below zero belong to a singular PSD matrix.
        ev = np.maximum(ev, 0.0)
        self.n_components, self.dim = k, d
        self.means = mu
        self.covs = cov
        self.variances = ev
        self.eigenvectors = vec
        self.singular = bool(np.any(ev == 0.0))
        self._log_2pi_d = d * math.log(2.0 * math.pi)
        self._device_cache: dict = {}

    # -- constants on a device ----------------------------------------------------------------

    def tensors(self, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """float64 (μ (K,d), s² (K,d), V_cat (d, K·d), V_kᵀμ_k (K,d)) on ``device``.

        ``V_cat[:, k·d:(k+1)·d] = V_k`` so that one matrix product gives all coordinates ζ_k.
        """
        key = torch.device(device)
        hit = self._device_cache.get(key)
        if hit is None:
            k, d = self.n_components, self.dim
            v_cat = np.transpose(self.eigenvectors, (1, 0, 2)).reshape(d, k * d)
            vt_mu = np.einsum("kji,kj->ki", self.eigenvectors, self.means)
            hit = tuple(torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=key)
                        for a in (self.means, self.variances, v_cat, vt_mu))
            self._device_cache[key] = hit
        return hit

    # -- noisy components ---------------------------------------------------------------------

    def coordinates(self, x64: torch.Tensor) -> torch.Tensor:
        """ζ_k = V_kᵀ(x − μ_k), shape (..., K, d), for float64 x of shape (..., d)."""
        _, _, v_cat, vt_mu = self.tensors(x64.device)
        z = x64 @ v_cat
        return z.reshape(x64.shape[:-1] + (self.n_components, self.dim)) - vt_mu

    @staticmethod
    def _per_component(s2: torch.Tensor) -> torch.Tensor:
        # σ̃² of shape () stays; of shape B + (1,) gains the component axis: B + (1, 1).
        return s2 if s2.ndim == 0 else s2.unsqueeze(-1)

    @staticmethod
    def collapse(s2: torch.Tensor) -> torch.Tensor:
        """One σ̃² shared by the whole batch (how k-diffusion calls a model) as a 0-d tensor.

        Then every per-eigenvalue factor is computed K·d times instead of once per sample.
        """
        if s2.ndim > 0:
            first = s2.reshape(-1)[0]
            if bool((s2 == first).all()):
                return first
        return s2

    def log_normal(self, coords: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        """log N(x; μ_k, Σ_k + σ̃² I) for every component, shape (..., K)."""
        _, ev, _, _ = self.tensors(coords.device)
        total = ev + self._per_component(s2)
        return -0.5 * ((coords * coords / total).sum(-1) + torch.log(total).sum(-1) + self._log_2pi_d)

    def shrinkage(self, s2: torch.Tensor, device) -> torch.Tensor:
        """s²/(s² + σ̃²) per eigen-direction, with the σ̃ → 0⁺ limit 0 where s² = 0; (..., K, d)."""
        _, ev, _, _ = self.tensors(device)
        total = ev + self._per_component(s2)
        return torch.where(total > 0, ev / torch.where(total > 0, total, 1.0), 0.0)

    def combine(self, weights: torch.Tensor, coords: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        """Σ_k r_k [μ_k + V_k diag(s²/(s²+σ̃²)) ζ_k] for weights r of shape (..., K); (..., d)."""
        mu, _, v_cat, _ = self.tensors(coords.device)
        shrunk = weights.unsqueeze(-1) * self.shrinkage(s2, coords.device) * coords
        return weights @ mu + shrunk.reshape(coords.shape[:-2] + (-1,)) @ v_cat.T

    def draw(self, index: torch.Tensor, sigma: float, normals: torch.Tensor) -> torch.Tensor:
        """μ_k + V_k diag(sqrt(s² + σ̃²)) ε for component indices (n,) and standard normals (n, d)."""
        mu, ev, v_cat, _ = self.tensors(normals.device)
        scaled = torch.sqrt(ev[index] + sigma * sigma) * normals
        out = mu[index]
        d = self.dim
        # One product per component rather than an (n, d, d) gather of eigenvector matrices.
        for k in range(self.n_components):
            rows = (index == k).nonzero(as_tuple=True)[0]
            if rows.numel():
                out[rows] += scaled[rows] @ v_cat[:, k * d:(k + 1) * d].T
        return out

    def check_positive_definite(self, sigma_values: torch.Tensor, what: str) -> None:
        """ValueError if some Σ_k + σ̃² I is singular (a singular Σ_k at σ̃ = 0)."""
        if self.singular and bool((sigma_values == 0).any()):
            raise ValueError(f"sigma must be > 0 for {what}: a covariance is singular, so p_0 has no density")
