"""The antithetic Brownian path of a weak study: the same coarse increments, the fine detail
reflected (docs/weak_mixture.md §2).

Let P be a partition of the λ range (the cells of ``lcm(step counts) × lcm(stage denominators)``
uniform cells: every stage point of every grid of the study's ladder is a node of P) and let V be
the span of the weights e^{κλ} 1_C over the cells C of P, with κ the weight exponent the study's
samplers read (κ = η in the data form, MATH §4). With Π the L² projection onto V,

    W̃ = 2 Π W − W,      i.e.  ∫ w dW̃ = 2 ∫ (Π w) dW − ∫ w dW  for every weight w,

is again a Brownian motion (Π W and W − Π W are independent Gaussian processes, and the second
changes sign), and a sampler that reads only ∫_C e^{κλ} dW over unions C of cells of P sees
exactly the same numbers on W̃ as on W. A weighted increment of exponent k over [a, b] becomes

    z̃_k(a, b) = 2 Σ_C ρ_C z_κ(C) − z_k(a, b),
    ρ_C = ∫_{[a,b] ∩ C} e^{(k+κ)λ} dλ / sqrt(N_k(a, b) N_κ(C)),   N_k(a, b) = ∫_a^b e^{2kλ} dλ,

with z the normalised increments of MATH §4 (ρ_C is the covariance of z_k(a, b) and z_κ(C), so
Var z̃ = 4 Σ ρ_C² − 4 Σ ρ_C² + 1 = 1).

A fine reference solved on W and on W̃ from the same start gives two draws of the exact law whose
average cancels the part of the reference that is odd in the sub-grid detail W − Π W — the leading
term of every sampler's pathwise error (the part of the path the sampler never sees) — while the
sampler's own output is unchanged: docs/weak_mixture.md derives the variance this removes.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..coefficients import phi

__all__ = ["ReflectedPath"]


def _log_integral(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log ∫_a^b e^{cλ} dλ = c·r + log(L φ_1(−|c| L)) with r the end where e^{cλ} is largest
    (no overflow for any c·λ; MATH §5 for φ_1)."""
    length = b - a
    ref = np.where(c > 0, b, a)
    return c * ref + np.log(length * phi(1, -np.abs(c) * length))


class ReflectedPath:
    """The reflection W̃ = 2ΠW − W of a noise source (module docstring) as a noise source.

    Args:
        path: the source of W (a :class:`~seeds_verify.noise.BrownianPath`); queries of the
            reflected path are answered from queries of ``path``.
        cells: the nodes of P (increasing λ values, nodes of ``path``).
        kappa: the weight exponent κ spanning V.

    Answers ``noise(lam_a, lam_b, k)`` and ``increments(points, k)`` like the path it reflects.
    """

    def __init__(self, path, cells, kappa: float):
        self.path = path
        self.cells = np.asarray(cells, dtype=np.float64)
        if self.cells.ndim != 1 or self.cells.size < 2 or not np.all(np.diff(self.cells) > 0):
            raise ValueError("cells must be an increasing 1-D sequence of at least two λ values")
        if not math.isfinite(float(kappa)):
            raise ValueError(f"kappa must be finite, got {kappa!r}")
        self.kappa = float(kappa)
        self.shape = path.shape
        self.device, self.dtype = path.device, path.dtype
        self._cell_values = None  # z_κ(C) for every cell C of P, read once

    def _cell_increments(self) -> torch.Tensor:
        if self._cell_values is None:
            self._cell_values = self.path.increments(self.cells, self.kappa)
        return self._cell_values

    def _locate(self, lam: np.ndarray) -> np.ndarray:
        """Index of the cell of P holding each λ (an end point on a node goes to either side)."""
        return np.clip(np.searchsorted(self.cells, lam, side="right") - 1, 0, self.cells.size - 2)

    def _coefficients(self, points: np.ndarray, k: float):
        """(interval, cell, ρ) triples of the chain ``points`` (module docstring)."""
        n_int = points.size - 1
        # Pieces: the chain's intervals cut at P's nodes that fall inside them.
        inner = self.cells[(self.cells > points[0]) & (self.cells < points[-1])]
        cuts = np.union1d(points, inner)
        lo, hi = cuts[:-1], cuts[1:]
        mid = 0.5 * (lo + hi)
        interval = np.clip(np.searchsorted(points, mid, side="right") - 1, 0, n_int - 1)
        cell = self._locate(mid)
        keep = hi - lo > 1e-9 * (hi - lo).max()  # pieces between a node and its rounded copy
        lo, hi, interval, cell = lo[keep], hi[keep], interval[keep], cell[keep]
        kk = np.full(lo.shape, k + self.kappa)
        log_cross = _log_integral(kk, lo, hi)
        log_nk = _log_integral(np.full(n_int, 2.0 * k), points[:-1], points[1:])
        log_nc = _log_integral(np.full(self.cells.size - 1, 2.0 * self.kappa), self.cells[:-1], self.cells[1:])
        rho = np.exp(log_cross - 0.5 * log_nk[interval] - 0.5 * log_nc[cell])
        return interval, cell, rho

    def increments(self, points, k: float) -> torch.Tensor:
        """z̃_k over every interval of a chain (rows as :meth:`BrownianPath.increments`)."""
        pts = np.asarray(points, dtype=np.float64)
        k = float(k)
        direct = self.path.increments(pts, k)
        interval, cell, rho = self._coefficients(pts, k)
        z_cells = self._cell_increments().reshape(self.cells.size - 1, -1)
        proj = torch.zeros((pts.size - 1, z_cells.shape[1]), device=self.device, dtype=self.dtype)
        weights = torch.as_tensor(rho, device=self.device, dtype=self.dtype)[:, None]
        proj.index_add_(0, torch.as_tensor(interval, device=self.device),
                        weights * z_cells[torch.as_tensor(cell, device=self.device)])
        return 2.0 * proj.reshape(direct.shape) - direct

    def __call__(self, lam_a: float, lam_b: float, k: float) -> torch.Tensor:
        return self.increments([float(lam_a), float(lam_b)], k)[0]
