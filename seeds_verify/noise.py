"""Sources of the Brownian noise a SEEDS solver consumes (MATH §4, §7).

A solver never draws Gaussian numbers itself. Over each sub-interval [a, b] between consecutive
stage points, in order, it asks its noise source for the *normalised weighted increment*

    z_k(a, b) = ∫_a^b e^{kλ} dW_λ / sqrt(∫_a^b e^{2kλ} dλ)  ~  N(0, I),

with weight exponent k = η (data form) or k = −1 (noise form). Two sources answer that call:

* :class:`GaussianNoise` — fresh independent standard normals from a seeded ``torch.Generator``.
  Increments over disjoint intervals are independent, so this is exact for a single solve and is
  the production fast path.
* :class:`BrownianPath` — one Brownian path per sample, fixed once and for all, so that solves on
  different step grids see the *same* path (strong-error studies, MATH §9).

``BrownianPath`` represents the path on a fine λ-grid by the first ``moments`` Legendre moments of
dW on every cell, ``ξ_{c,m} = ∫_cell Q_m dW`` with Q_m the orthonormal shifted Legendre
polynomials of the cell. By Itô isometry these are independent standard normals, and any weighted
integral over a union of cells is ``∫ w dW = Σ_{c,m} ⟨w, Q_m⟩ ξ_{c,m}``: exact for weights that are
polynomials of degree < ``moments`` on each cell, and otherwise exact up to the projection defect
``1 − Σ_m ⟨w,Q_m⟩² / ∫ w²`` of the variance (≈ 1e-22 for e^{kλ} with |k|·cell width ≤ 0.01 and 4
moments; see :meth:`BrownianPath.variance_defect`). One set of moments serves every weight exponent
and any smooth weight, e.g. the exact-solution kernel of a linear test problem. The moments are
generated chunk by chunk from per-chunk seeds, so memory does not grow with the fine-grid size or
with the number of step grids a study runs on the same path.
"""

from __future__ import annotations

import bisect
import math
from typing import Callable, Protocol, Sequence

import numpy as np
import torch

from .coefficients import phi

__all__ = [
    "NoiseSource",
    "GaussianNoise",
    "BrownianPath",
    "legendre_cell_basis",
]


class NoiseSource(Protocol):
    """What a solver calls: ``noise(lam_a, lam_b, k)`` → z_k(a, b), a standard-normal tensor."""

    def __call__(self, lam_a: float, lam_b: float, k: float) -> torch.Tensor:  # pragma: no cover
        ...


def _check_shape(shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError as exc:
        raise TypeError(f"shape must be a sequence of ints, got {shape!r}") from exc
    if any(s <= 0 for s in shape):
        raise ValueError(f"shape must have positive entries, got {shape}")
    return shape


def _check_float_dtype(dtype) -> torch.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    return dtype


def _check_interval(lam_a: float, lam_b: float) -> tuple[float, float]:
    a, b = float(lam_a), float(lam_b)
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"lam_a and lam_b must be finite, got {lam_a!r}, {lam_b!r}")
    if not b > a:
        raise ValueError(f"lam_b must be greater than lam_a, got lam_a={a!r}, lam_b={b!r}")
    return a, b


class GaussianNoise:
    """Fresh independent standard normals shaped ``shape`` for every call (MATH §4).

    Because the increments of Brownian motion over disjoint intervals are independent and each
    z_k(a, b) is standard normal whatever k is, a fresh draw per call is an exact sample of the
    increments one solve needs. ``seed`` makes the sequence reproducible on one device.
    """

    def __init__(self, shape: Sequence[int], *, seed: int | None = None,
                 generator: torch.Generator | None = None, device=None,
                 dtype: torch.dtype = torch.float32):
        self.shape = _check_shape(shape)
        self.dtype = _check_float_dtype(dtype)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        if generator is not None and seed is not None:
            raise ValueError("give either seed or generator, not both")
        if generator is None:
            generator = torch.Generator(device=self.device)
            if seed is not None:
                generator.manual_seed(int(seed))
            else:
                generator.seed()
        self.generator = generator

    @classmethod
    def like(cls, x: torch.Tensor, seed: int | None = None) -> "GaussianNoise":
        """A source shaped, typed and placed like ``x``."""
        dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        return cls(x.shape, seed=seed, device=x.device, dtype=dtype)

    def __call__(self, lam_a: float, lam_b: float, k: float) -> torch.Tensor:
        _check_interval(lam_a, lam_b)
        return torch.randn(self.shape, generator=self.generator, device=self.device, dtype=self.dtype)


def legendre_cell_basis(moments: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes v_q, weights w_q on [0, 1] and the table Q[m, q] = Q_m(v_q).

    Q_m(v) = sqrt(2m+1) P_m(2v − 1) are orthonormal on [0, 1]; ``nodes`` ≥ ``moments`` makes
    the quadrature exact for every product Q_m·(polynomial of degree ≤ 2·nodes − 1 − m).
    """
    x, w = np.polynomial.legendre.leggauss(nodes)
    v = 0.5 * (x + 1.0)
    w = 0.5 * w
    table = np.stack([math.sqrt(2 * m + 1) * np.polynomial.legendre.Legendre.basis(m)(x)
                      for m in range(moments)])
    return v, w, table


class BrownianPath:
    """One Brownian path per sample on a fine λ-grid, queried exactly on any coarser grid.

    Args:
        grid: increasing λ values (float64); cells are the intervals between consecutive values.
            Every end point a query uses must be a grid value (up to 1e-7 of a cell width).
        shape: sample shape of the noise (e.g. ``(paths, dim)``, the shape of the solver state).
        seed: the path is a deterministic function of ``seed`` and ``grid`` on one device.
        device, dtype: where and in what precision the noise tensors live.
        moments: Legendre moments kept per cell (see the module docstring for the exactness bound).
        chunk_cells: cells generated together (one seed per chunk).
        cache_bytes: memory kept for generated chunks (at least one chunk is always kept).
            Within the budget every chunk is drawn once and reused by every later query, e.g.
            by all the step grids of a study; beyond it, the oldest chunks are dropped and
            redrawn (bit-identically) when asked for again. Memory is therefore bounded by
            ``max(cache_bytes, chunk size)`` whatever the grid resolution.

    Call it as a :class:`NoiseSource`: ``path(lam_a, lam_b, k)`` returns z_k(a, b).
    """

    def __init__(self, grid: Sequence[float], shape: Sequence[int], *, seed: int = 0,
                 device=None, dtype: torch.dtype = torch.float64, moments: int = 4,
                 chunk_cells: int = 64, cache_bytes: int = 256 * 2 ** 20):
        g = np.asarray(grid, dtype=np.float64)
        if g.ndim != 1 or g.size < 2:
            raise ValueError("grid must be a 1-D sequence of at least two λ values")
        if not np.all(np.isfinite(g)):
            raise ValueError("grid must be finite")
        if not np.all(np.diff(g) > 0):
            raise ValueError("grid must be strictly increasing")
        if isinstance(moments, bool) or not isinstance(moments, int) or moments < 1:
            raise ValueError(f"moments must be a positive int, got {moments!r}")
        if isinstance(chunk_cells, bool) or not isinstance(chunk_cells, int) or chunk_cells < 1:
            raise ValueError(f"chunk_cells must be a positive int, got {chunk_cells!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.grid = g
        self.widths = np.diff(g)
        self.shape = _check_shape(shape)
        self.dtype = _check_float_dtype(dtype)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.seed = int(seed)
        self.moments = moments
        self.chunk_cells = chunk_cells
        self._v, self._w, self._q = legendre_cell_basis(moments, moments + 4)
        if isinstance(cache_bytes, bool) or not isinstance(cache_bytes, int) or cache_bytes < 0:
            raise ValueError(f"cache_bytes must be a non-negative int, got {cache_bytes!r}")
        self.cache_bytes = cache_bytes
        self._cache: dict[int, torch.Tensor] = {}
        self._cached_bytes = 0
        self._node_index = {float(v): i for i, v in enumerate(g)}

    @property
    def n_cells(self) -> int:
        return self.widths.size

    # -- the random numbers -----------------------------------------------------------------

    def _chunk(self, j: int) -> torch.Tensor:
        """Moments ξ of cells [j·C, (j+1)·C), shape (cells, moments, *shape)."""
        hit = self._cache.get(j)
        if hit is not None:
            return hit
        state = np.random.SeedSequence([self.seed, j]).generate_state(2, np.uint32)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(state[0]) << 31 ^ int(state[1]))
        cells = min(self.chunk_cells, self.n_cells - j * self.chunk_cells)
        xi = torch.randn((cells, self.moments) + self.shape, generator=gen,
                         device=self.device, dtype=self.dtype)
        size = xi.numel() * xi.element_size()
        while self._cache and self._cached_bytes + size > self.cache_bytes:
            old = self._cache.pop(next(iter(self._cache)))
            self._cached_bytes -= old.numel() * old.element_size()
        self._cache[j] = xi
        self._cached_bytes += size
        return xi

    # -- queries ----------------------------------------------------------------------------

    def index(self, lam: float, name: str = "lam") -> int:
        """Index of the grid value equal to ``lam`` (ValueError if it is not on the grid)."""
        lam = float(lam)
        hit = self._node_index.get(lam)
        if hit is not None:
            return hit
        # Stage points are computed as λ_s + c·h and may differ from the grid value by rounding.
        i = min(max(bisect.bisect_left(self.grid, lam), 0), self.grid.size - 1)
        if i > 0 and abs(self.grid[i - 1] - lam) < abs(self.grid[i] - lam):
            i -= 1
        scale = self.widths[min(i, self.n_cells - 1)]
        if not abs(self.grid[i] - lam) <= 1e-7 * scale:
            raise ValueError(f"{name}={lam!r} is not a node of the BrownianPath grid")
        return i

    def projections(self, i0: int, i1: int, weight: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """⟨w, Q_m⟩ on cells i0..i1−1, shape (cells, moments, *wshape) — float64."""
        left = self.grid[i0:i1]
        width = self.widths[i0:i1]
        lam = left[:, None] + width[:, None] * self._v[None, :]  # (cells, q)
        values = np.asarray(weight(lam), dtype=np.float64)
        if values.shape[:2] != lam.shape:
            raise ValueError("weight must map an array of λ values to an array of the same leading shape")
        wq = self._w[None, :] * np.sqrt(width)[:, None]  # quadrature weights times cell scaling
        return np.einsum("cq,mq,cq...->cm...", wq, self._q, values)

    def weighted_integral(self, lam_a: float, lam_b: float,
                          weight: Callable[[np.ndarray], np.ndarray]) -> torch.Tensor:
        """∫_a^b w(λ) dW_λ for a smooth weight; shape ``wshape + shape``.

        ``weight`` maps a float64 array of λ values (shape S) to an array of shape S + wshape.
        """
        a, b = _check_interval(lam_a, lam_b)
        i0, i1 = self.index(a, "lam_a"), self.index(b, "lam_b")
        beta = self.projections(i0, i1, weight)  # (cells, moments, *wshape)
        wshape = beta.shape[2:]
        beta = beta.reshape(beta.shape[0], self.moments, -1)
        n_w = beta.shape[-1]
        out = torch.zeros((n_w, int(np.prod(self.shape))), device=self.device, dtype=self.dtype)
        c = i0
        while c < i1:
            j = c // self.chunk_cells
            start = j * self.chunk_cells
            stop = min(start + self.chunk_cells, i1)
            xi = self._chunk(j)[c - start: stop - start]  # (cells, moments, *shape)
            coef = torch.as_tensor(beta[c - i0: stop - i0], device=self.device, dtype=self.dtype)
            out += coef.reshape(-1, n_w).T @ xi.reshape(-1, out.shape[1])
            c = stop
        return out.reshape(tuple(wshape) + self.shape)

    def __call__(self, lam_a: float, lam_b: float, k: float) -> torch.Tensor:
        """z_k(a, b): the normalised weighted increment of MATH §4 on this path."""
        a, b = _check_interval(lam_a, lam_b)
        k = float(k)
        # Weights relative to a keep e^{k(λ−a)} of order one; the normalisation is
        # sqrt(∫_a^b e^{2k(λ−a)} dλ) = sqrt((b−a) φ_1(2k(b−a))).
        integral = self.weighted_integral(a, b, lambda lam: np.exp(k * (lam - a)))
        return integral / math.sqrt((b - a) * phi(1, 2.0 * k * (b - a)))

    def variance_defect(self, k: float) -> float:
        """Largest relative variance defect 1 − Σ_m⟨e^{kλ},Q_m⟩²/∫e^{2kλ} over the cells."""
        beta = self.projections(0, self.n_cells, lambda lam: np.exp(k * (lam - self.grid[:-1, None])))
        exact = self.widths * phi(1, 2.0 * k * self.widths)
        return float(np.max(1.0 - (beta ** 2).sum(axis=1) / exact))

    @staticmethod
    def moments_needed(grid: Sequence[float], exponents: Sequence[float], tol: float = 1e-14,
                       max_moments: int = 8) -> int:
        """Fewest Legendre moments per cell whose variance defect (:meth:`variance_defect`) is
        below ``tol`` for every weight exponent in ``exponents`` on this grid.

        The defect is itself computed in float64, with a rounding floor of a few 1e-16, so the
        default ``tol`` sits just above that floor.

        Plain increments (k = 0) need one moment; e^{kλ} weights need more the wider the cells.
        Fewer moments mean proportionally fewer normals to draw.
        """
        for m in range(1, max_moments + 1):
            probe = BrownianPath(grid, (1,), moments=m)
            if max(probe.variance_defect(k) for k in exponents) < tol:
                return m
        return max_moments

    def noise_sampler(self, k: float) -> Callable:
        """A k-diffusion ``noise_sampler(sigma_a, sigma_b)`` reading z_k(λ(σ_a), λ(σ_b)), λ = −log σ."""

        def sampler(sigma_a, sigma_b):
            sa, sb = float(sigma_a), float(sigma_b)
            if not (sa > 0 and sb > 0):
                raise ValueError(f"noise_sampler needs positive sigmas, got {sa!r}, {sb!r}")
            return self(-math.log(sa), -math.log(sb), k)

        return sampler
