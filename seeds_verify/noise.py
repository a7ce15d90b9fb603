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
and any smooth weight, e.g. the exact-solution kernel of a linear test problem.

The numbers. ξ_{c,m} is a function of ``(seed, c, m)`` alone (for a given sample shape, dtype and
device): cells are grouped in fixed blocks of :data:`BLOCK_CELLS`, and the moment-m values of one
block are one ``torch.randn`` draw from a generator seeded by a hash of ``(seed, block, m)``.
Hence the path does not depend on how it is cached (``chunk_cells``, ``cache_bytes``), nor on the
order of the queries, and a path with more moments has the same first moments — a study can be
sharded over workers that each rebuild the path from its seed. Every block is drawn whole, so the
values of a cell do not depend on how many cells the grid has either. Memory stays bounded by the
cache budget whatever the fine-grid size or the number of step grids read from the path.

Wide cells. A weighted increment whose variance defect exceeds ``defect_tol`` (default
:data:`DEFECT_TOL`) is refused with a ValueError naming the grid and k rather than returned with
too little variance; :meth:`BrownianPath.moments_needed` gives the moments a grid needs.

Whole chains. The queries of one solve are consecutive intervals (a chain of stage points), so
:meth:`BrownianPath.increments` answers all of them in one pass over the path — the same numbers
as one call per interval, up to floating rounding — and :func:`coarsen_increments` gives those of
a coarser chain with the same points (a nested step grid) from a finer chain's, by the additivity
of the weighted integral. Solvers read a path this way (``seeds_verify.solvers.base``).
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections import OrderedDict
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch

from .coefficients import phi
from .devices import check_device

__all__ = [
    "NoiseSource",
    "GaussianNoise",
    "BrownianPath",
    "coarsen_increments",
    "legendre_cell_basis",
    "BLOCK_CELLS",
    "DEFECT_TOL",
]

BLOCK_CELLS = 16
"""Cells drawn together from one random stream per moment. Part of the definition of every
path (changing it changes the numbers); small enough that drawing whole blocks wastes at most
15 cells at the end of a grid, large enough that the per-stream set-up is negligible."""

DEFECT_TOL = 1e-8
"""Default largest relative variance defect of a weighted increment. A variance off by a relative
δ is detectable by a Monte Carlo variance estimate from n samples only when δ ≳ sqrt(2/n), i.e.
never below n ≈ 2/δ² = 2e16 samples at δ = 1e-8; grids chosen by :meth:`BrownianPath.moments_needed`
(default tol 1e-14) stay far below it."""

_WINDOW_CELLS = 4096  # cells whose coefficients BrownianPath.increments forms at a time
_SEED_RANGE = (-(2 ** 63), 2 ** 64 - 1)  # what torch.Generator.manual_seed accepts
_DEFECT_FLOOR = 2e-15  # the float64 rounding of a computed per-cell defect reaches ≈ 1e-15
_MIN_DEFECT_TOL = 1e-12  # a long interval sums ~1e5 cells; rounding must not trip the check


class NoiseSource(Protocol):
    """What a solver calls: ``noise(lam_a, lam_b, k)`` → z_k(a, b), a standard-normal tensor."""

    def __call__(self, lam_a: float, lam_b: float, k: float) -> torch.Tensor:  # pragma: no cover
        ...


# --------------------------------------------------------------------------------------------
# Argument checks (each error names the argument)
# --------------------------------------------------------------------------------------------


def _check_shape(shape: Any, name: str = "shape") -> tuple[int, ...]:
    """A tuple of positive ints (bools, floats and strings rejected)."""
    if isinstance(shape, (str, bytes, torch.Tensor, np.ndarray)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"{name} must be a sequence of ints, got {type(shape).__name__}")
    entries = tuple(shape)
    for s in entries:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{name} must be a sequence of ints, got {shape!r}")
    if any(s <= 0 for s in entries):
        raise ValueError(f"{name} must have positive entries, got {entries}")
    return tuple(int(s) for s in entries)


def _check_float_dtype(dtype: Any) -> torch.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    return dtype


def _check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    """An int (bool rejected) in [low, high]; TypeError/ValueError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def _check_real(value: Any, name: str) -> float:
    """A finite float from a real number (or a one-element real tensor); bool rejected."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must be a real number, got a tensor of shape {tuple(value.shape)} "
                            f"and dtype {value.dtype}")
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _check_interval(lam_a: Any, lam_b: Any) -> tuple[float, float]:
    a, b = _check_real(lam_a, "lam_a"), _check_real(lam_b, "lam_b")
    if not b > a:
        raise ValueError(f"lam_b must be greater than lam_a, got lam_a={a!r}, lam_b={b!r}")
    return a, b


def _check_grid(grid: Any, name: str = "grid") -> np.ndarray:
    try:
        g = np.asarray(grid, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 1-D sequence of real λ values, got {type(grid).__name__}") from exc
    if g.ndim != 1 or g.size < 2:
        raise ValueError(f"{name} must be a 1-D sequence of at least two λ values, got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError(f"{name} must be finite")
    with np.errstate(over="ignore"):
        widths = np.diff(g)
    if not np.all(widths > 0):
        raise ValueError(f"{name} must be strictly increasing")
    if not np.all(np.isfinite(widths)):
        raise ValueError(f"{name} cells must have finite widths in float64 (consecutive values differ by more "
                         "than the largest float)")
    return g


# --------------------------------------------------------------------------------------------
# Fresh normals
# --------------------------------------------------------------------------------------------


class GaussianNoise:
    """Fresh independent standard normals shaped ``shape`` for every call (MATH §4).

    Because the increments of Brownian motion over disjoint intervals are independent and each
    z_k(a, b) is standard normal whatever k is, a fresh draw per call is an exact sample of the
    increments one solve needs. ``seed`` (any int ``torch.Generator.manual_seed`` accepts) makes
    the sequence reproducible on one device; ``generator`` supplies one instead, and then sets the
    device unless ``device`` is given (which must then be of the generator's device type).
    The call checks its arguments like :class:`BrownianPath` does, although k does not change
    the distribution.
    """

    def __init__(self, shape: Sequence[int], *, seed: int | None = None,
                 generator: torch.Generator | None = None, device=None,
                 dtype: torch.dtype = torch.float32):
        self.shape = _check_shape(shape)
        self.dtype = _check_float_dtype(dtype)
        if generator is not None and seed is not None:
            raise ValueError("give either seed or generator, not both")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        if device is None and generator is not None:
            device = generator.device
        self.device = check_device(device)
        if generator is None:
            generator = torch.Generator(device=self.device)
            if seed is not None:
                generator.manual_seed(_check_int(seed, "seed", *_SEED_RANGE))
            else:
                generator.seed()
        elif generator.device.type != self.device.type:
            raise ValueError(f"generator lives on {generator.device} but device is {self.device}")
        self.generator = generator

    @classmethod
    def like(cls, x: torch.Tensor, seed: int | None = None) -> "GaussianNoise":
        """A source shaped, typed and placed like ``x``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        return cls(x.shape, seed=seed, device=x.device, dtype=dtype)

    def __call__(self, lam_a: float, lam_b: float, k: float) -> torch.Tensor:
        _check_interval(lam_a, lam_b)
        _check_real(k, "k")
        return torch.randn(self.shape, generator=self.generator, device=self.device, dtype=self.dtype)


# --------------------------------------------------------------------------------------------
# One Brownian path per sample
# --------------------------------------------------------------------------------------------


def legendre_cell_basis(moments: int, nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes v_q, weights w_q on [0, 1] and the table Q[m, q] = Q_m(v_q).

    Q_m(v) = sqrt(2m+1) P_m(2v − 1) are orthonormal on [0, 1]; ``nodes`` ≥ ``moments`` makes
    the quadrature exact for every product Q_m·(polynomial of degree ≤ 2·nodes − 1 − m).
    """
    moments = _check_int(moments, "moments", 1)
    nodes = _check_int(nodes, "nodes", moments)
    x, w = np.polynomial.legendre.leggauss(nodes)
    v = 0.5 * (x + 1.0)
    w = 0.5 * w
    table = np.stack([math.sqrt(2 * m + 1) * np.polynomial.legendre.Legendre.basis(m)(x)
                      for m in range(moments)])
    return v, w, table


def _stream_seed(seed: int, block: int, moment: int, row_block: int | None = None) -> int:
    """The 64-bit generator seed of the moment-``moment`` values of block ``block`` (and, for a
    path drawn in row blocks, of row block ``row_block``)."""
    key = f"{seed}:{block}:{moment}" if row_block is None else f"{seed}:{block}:{moment}:rows{row_block}"
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"BrownianPath").digest()
    return int.from_bytes(digest, "little")


def _cell_defects(widths: np.ndarray, k: float, moments: int) -> np.ndarray:
    """|Relative variance defect| |1 − Σ_m⟨e^{kλ},Q_m⟩²/∫e^{2kλ}| on cells of the given widths
    (the exact defect is ≥ 0; a computed value far below 0 means unresolved quadrature).

    The weight is taken relative to the cell end where it is largest, e^{−|k| width u} with
    u ∈ [0, 1] (u = 1 − v for k > 0, v for k < 0), so nothing overflows for any finite k·width;
    ∫_0^1 e^{−2|k| width u} du = φ_1(−2|k| width).
    """
    if k == 0.0:
        return np.zeros_like(widths)
    v, w, q = legendre_cell_basis(moments, moments + 4)
    u = 1.0 - v if k > 0 else v
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        s = abs(k) * widths
        gamma = np.einsum("q,mq,cq->cm", w, q, np.exp(-s[:, None] * u[None, :]))
        exact = phi(1, -2.0 * s)
        ratio = np.where(exact > 0, (gamma ** 2).sum(axis=1) / np.where(exact > 0, exact, 1.0), 0.0)
    return np.abs(1.0 - ratio)


class BrownianPath:
    """One Brownian path per sample on a fine λ-grid, queried exactly on any coarser grid.

    Args:
        grid: increasing λ values (float64); cells are the intervals between consecutive values.
            Every end point a query uses must be a grid value (up to 1e-7 of a cell width).
        shape: sample shape of the noise (e.g. ``(paths, dim)``, the shape of the solver state);
            part of the path's definition (a different shape is a different path).
        seed: a non-negative int. The path is a deterministic function of ``seed``, ``grid``,
            ``shape`` and ``dtype`` on one device; ξ_{c,m} depends on (seed, c, m) only, not on
            ``moments``, ``chunk_cells`` or ``cache_bytes`` (module docstring).
        device, dtype: where and in what precision the noise tensors live.
        moments: Legendre moments kept per cell (see the module docstring for the exactness bound).
        chunk_cells: cells generated and cached together, rounded up to whole blocks of
            :data:`BLOCK_CELLS`. Affects memory and speed only, never the numbers.
        cache_bytes: memory kept for generated chunks (at least one chunk is always kept).
            Within the budget every chunk is drawn once and reused by every later query, e.g.
            by all the step grids of a study; beyond it, the oldest chunks are dropped and
            redrawn (bit-identically) when asked for again. Memory is therefore bounded by
            ``max(cache_bytes, chunk size)`` whatever the grid resolution.
        defect_tol: largest relative variance defect a query may have (default :data:`DEFECT_TOL`);
            a query beyond it raises ValueError naming the grid and k.
        row_block, row_offset: draw the rows (the first axis of ``shape``, one per sample) in
            blocks of ``row_block`` rows, each from streams of its own (seeded by (seed, cell block,
            moment, row block)); the path's rows are then the rows ``row_offset`` …
            ``row_offset + shape[0] − 1`` of the path of any larger number of rows with the same
            ``row_block`` and seed. ``row_offset`` must be a multiple of ``row_block``. Default
            (None): all rows from one stream per (cell block, moment), as above. Row blocks let
            a study be split into shards of samples whose numbers do not depend on the split.

    Call it as a :class:`NoiseSource`: ``path(lam_a, lam_b, k)`` returns z_k(a, b).
    """

    def __init__(self, grid: Sequence[float], shape: Sequence[int], *, seed: int = 0,
                 device=None, dtype: torch.dtype = torch.float64, moments: int = 4,
                 chunk_cells: int = 64, cache_bytes: int = 256 * 2 ** 20,
                 defect_tol: float = DEFECT_TOL, row_block: int | None = None, row_offset: int = 0):
        g = _check_grid(grid)
        if isinstance(moments, bool) or not isinstance(moments, (int, np.integer)) or moments < 1:
            raise ValueError(f"moments must be a positive int, got {moments!r}")
        if isinstance(chunk_cells, bool) or not isinstance(chunk_cells, (int, np.integer)) or chunk_cells < 1:
            raise ValueError(f"chunk_cells must be a positive int, got {chunk_cells!r}")
        if isinstance(cache_bytes, bool) or not isinstance(cache_bytes, (int, np.integer)) or cache_bytes < 0:
            raise ValueError(f"cache_bytes must be a non-negative int, got {cache_bytes!r}")
        self.seed = _check_int(seed, "seed", 0)
        defect_tol = _check_real(defect_tol, "defect_tol")
        if not _MIN_DEFECT_TOL <= defect_tol <= 1.0:
            raise ValueError(f"defect_tol must lie in [{_MIN_DEFECT_TOL:g}, 1] (smaller values sit within the "
                             f"float64 rounding of the check), got {defect_tol!r}")
        self.grid = g
        self.widths = np.diff(g)
        self.shape = _check_shape(shape)
        self.dtype = _check_float_dtype(dtype)
        self.device = check_device(device)
        self.moments = int(moments)
        self.chunk_cells = int(chunk_cells)
        self.cache_bytes = int(cache_bytes)
        self.defect_tol = defect_tol
        self._v, self._w, self._q = legendre_cell_basis(self.moments, self.moments + 4)
        self._n_blocks = -(-self.n_cells // BLOCK_CELLS)
        self._blocks_per_chunk = -(-self.chunk_cells // BLOCK_CELLS)
        self._numel = int(np.prod(self.shape, dtype=np.int64))
        self._cache: OrderedDict[int, tuple[torch.Tensor, list[torch.Tensor]]] = OrderedDict()
        self._weights_table = np.ascontiguousarray((self._w[None, :] * self._q).T)  # (q, moments)
        self._cached_bytes = 0
        self._generator = torch.Generator(device=self.device)
        self.row_block = None if row_block is None else _check_int(row_block, "row_block", 1)
        self.row_offset = _check_int(row_offset, "row_offset", 0)
        if self.row_block is None and self.row_offset:
            raise ValueError(f"row_offset needs row_block, got row_offset={self.row_offset}")
        if self.row_block is not None and self.row_offset % self.row_block:
            raise ValueError(f"row_offset must be a multiple of row_block={self.row_block}, got {self.row_offset}")
        self._node_index = {float(v): i for i, v in enumerate(g)}

    @property
    def n_cells(self) -> int:
        return self.widths.size

    # -- the random numbers -----------------------------------------------------------------

    def _chunk(self, j: int) -> list[torch.Tensor]:
        """Moments ξ of the blocks of chunk j: one (BLOCK_CELLS, moments, *shape) view per block.

        Each (block, moment) stream is one ``torch.randn`` draw of shape (BLOCK_CELLS, *shape),
        stored cell-major so that a query reads a range of cells in place.
        """
        hit = self._cache.get(j)
        if hit is not None:
            return hit[1]
        first = j * self._blocks_per_chunk
        blocks = min(self._blocks_per_chunk, self._n_blocks - first)
        xi = torch.empty((blocks, BLOCK_CELLS, self.moments) + self.shape, device=self.device, dtype=self.dtype)
        gen = self._generator
        # One reused buffer per draw: buffer.normal_ gives the numbers torch.randn would.
        buffer = torch.empty((BLOCK_CELLS,) + self.shape, device=self.device, dtype=self.dtype)
        if self.row_block is not None:
            self._draw_row_blocks(xi, first, blocks)
        else:
            for i in range(blocks):
                for m in range(self.moments):
                    gen.manual_seed(_stream_seed(self.seed, first + i, m))
                    xi[i, :, m] = buffer.normal_(generator=gen)
        size = xi.numel() * xi.element_size()
        while self._cache and self._cached_bytes + size > self.cache_bytes:
            _, (old, _) = self._cache.popitem(last=False)
            self._cached_bytes -= old.numel() * old.element_size()
        views = [xi[i].reshape(BLOCK_CELLS, self.moments, self._numel) for i in range(blocks)]
        self._cache[j] = (xi, views)
        self._cached_bytes += size
        return views

    def _draw_row_blocks(self, xi: torch.Tensor, first: int, blocks: int) -> None:
        """Fill xi (blocks, BLOCK_CELLS, moments, rows, ...) from one stream per (cell block, moment,
        row block); each row block is drawn whole (``row_block`` rows) and cut to the rows held."""
        gen, rb, rows = self._generator, self.row_block, self.shape[0]
        first_rb = self.row_offset // rb
        buffer = torch.empty((BLOCK_CELLS, rb) + self.shape[1:], device=self.device, dtype=self.dtype)
        for r in range(-(-rows // rb)):
            lo, hi = r * rb, min(rows, (r + 1) * rb)
            for i in range(blocks):
                for m in range(self.moments):
                    gen.manual_seed(_stream_seed(self.seed, first + i, m, first_rb + r))
                    xi[i, :, m, lo:hi] = buffer.normal_(generator=gen)[:, :hi - lo]

    def _block(self, block: int) -> torch.Tensor:
        """ξ of one block, shape (BLOCK_CELLS, moments, numel)."""
        j, i = divmod(block, self._blocks_per_chunk)
        return self._chunk(j)[i]

    def _contract(self, i0: int, i1: int, coef: np.ndarray) -> torch.Tensor:
        """Σ_{c ∈ [i0, i1), m < M} coef[c − i0, m, w] ξ_{c,m}, shape (W, numel).

        The sum is accumulated block by block in increasing order, so the result depends only
        on the query and the random numbers, not on how chunks are cached. With M = 1 or
        M = ``moments`` the block's cells are read in place (a strided view, no copy).
        """
        _, n_m, n_w = coef.shape
        coef_t = torch.as_tensor(coef, device=self.device, dtype=self.dtype)
        out = None
        for block in range(i0 // BLOCK_CELLS, (i1 - 1) // BLOCK_CELLS + 1):
            start = block * BLOCK_CELLS
            lo, hi = max(i0, start), min(i1, start + BLOCK_CELLS)
            cells = self._block(block)[lo - start:hi - start]
            xi = (cells[:, 0] if n_m == 1 else cells[:, :n_m]).reshape((hi - lo) * n_m, self._numel)
            c = coef_t[lo - i0:hi - i0].reshape((hi - lo) * n_m, n_w).T
            out = c @ xi if out is None else out.addmm_(c, xi)
        return out

    # -- queries ----------------------------------------------------------------------------

    def index(self, lam: float, name: str = "lam") -> int:
        """Index of the grid value equal to ``lam`` (ValueError if it is not on the grid)."""
        return self._index(_check_real(lam, name), name)

    def _index(self, lam: float, name: str) -> int:
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

    def _unit_projections(self, i0: int, i1: int, weight: Callable[[np.ndarray], np.ndarray],
                          nodes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(Σ_q w_q Q_m(v_q) w(λ_cq) per cell, the weight values), shapes (cells, moments, *wshape)
        and (cells, q, *wshape); ``nodes`` (default: the cell's Gauss nodes) in [0, 1]."""
        v = self._v if nodes is None else nodes
        lam = self.grid[i0:i1, None] + self.widths[i0:i1, None] * v[None, :]
        with np.errstate(over="ignore", under="ignore"):
            values = np.asarray(weight(lam), dtype=np.float64)
        if values.shape[:2] != lam.shape:
            raise ValueError("weight must map an array of λ values to an array of the same leading shape")
        if not np.all(np.isfinite(values)):
            raise ValueError("weight returned NaN or inf on the grid's cells")
        if nodes is not None:
            return None, values
        return np.einsum("q,mq,cq...->cm...", self._w, self._q, values), values

    def projections(self, i0: int, i1: int, weight: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """⟨w, Q_m⟩ on cells i0..i1−1, shape (cells, moments, *wshape) — float64."""
        gamma, _ = self._unit_projections(i0, i1, weight)
        root = np.sqrt(self.widths[i0:i1]).reshape((-1, 1) + (1,) * (gamma.ndim - 2))
        return gamma * root

    def _raise_defect(self, defect: float, a: float, b: float, what: str) -> None:
        i0, i1 = self._index(a, "lam_a"), self._index(b, "lam_b")
        raise ValueError(
            f"{what}: variance defect {defect:.3g} over [{a!r}, {b!r}] exceeds defect_tol={self.defect_tol:g}; "
            f"the grid's cells there (widest {float(np.max(self.widths[i0:i1])):.3g}) are too wide for "
            f"{self.moments} Legendre moments — refine the grid or raise moments (BrownianPath.moments_needed)")

    def weighted_integral(self, lam_a: float, lam_b: float,
                          weight: Callable[[np.ndarray], np.ndarray]) -> torch.Tensor:
        """∫_a^b w(λ) dW_λ for a smooth weight; shape ``wshape + shape``.

        ``weight`` maps a float64 array of λ values (shape S) to an array of shape S + wshape,
        finite on [a, b]. The variance defect of every component is estimated with ∫w² from a
        (moments + 4)-point Gauss rule on each half cell; ValueError when that estimate and the
        one-rule-per-cell estimate disagree by more than ``defect_tol`` (the cells do not
        resolve the weight) or when the defect exceeds ``defect_tol``.
        """
        a, b = _check_interval(lam_a, lam_b)
        if not callable(weight):
            raise TypeError(f"weight must be a callable, got {type(weight).__name__}")
        i0, i1 = self._index(a, "lam_a"), self._index(b, "lam_b")
        gamma, values = self._unit_projections(i0, i1, weight)  # (cells, moments, *wshape)
        wshape = gamma.shape[2:]
        n_w = int(np.prod(wshape, dtype=np.int64))
        gamma = gamma.reshape(gamma.shape[0], self.moments, n_w)
        values = values.reshape(values.shape[0], values.shape[1], n_w)
        # Variance check, in units of the interval length so that nothing underflows.
        frac = self.widths[i0:i1] / (b - a)
        _, low = self._unit_projections(i0, i1, weight, 0.5 * self._v)
        _, high = self._unit_projections(i0, i1, weight, 0.5 + 0.5 * self._v)
        one_rule = np.einsum("c,q,cqw->w", frac, self._w, values ** 2)
        two_rule = 0.5 * np.einsum("c,q,cqw->w", frac, self._w,
                                   low.reshape(values.shape) ** 2 + high.reshape(values.shape) ** 2)
        captured = np.einsum("c,cmw->w", frac, gamma ** 2)
        nonzero = two_rule > 0
        if np.any(nonzero):
            spread = float(np.max(np.abs(one_rule - two_rule)[nonzero] / two_rule[nonzero]))
            if not spread <= self.defect_tol:
                i_a, i_b = self._index(a, "lam_a"), self._index(b, "lam_b")
                raise ValueError(
                    f"weight is not resolved by the grid's cells over [{a!r}, {b!r}] (widest "
                    f"{float(np.max(self.widths[i_a:i_b])):.3g}): two quadratures of ∫w² differ by a "
                    f"relative {spread:.3g} > defect_tol={self.defect_tol:g}; refine the grid")
            defect = float(np.max(np.abs(1.0 - captured[nonzero] / two_rule[nonzero])))
            if not defect <= self.defect_tol:
                self._raise_defect(defect, a, b, "weight")
        beta = gamma * np.sqrt(self.widths[i0:i1])[:, None, None]
        out = self._contract(i0, i1, beta)
        return out.reshape(tuple(wshape) + self.shape)

    def __call__(self, lam_a: float, lam_b: float, k: float) -> torch.Tensor:
        """z_k(a, b): the normalised weighted increment of MATH §4 on this path."""
        a, b = _check_interval(lam_a, lam_b)
        k = _check_real(k, "k")
        i0, i1 = self._index(a, "lam_a"), self._index(b, "lam_b")
        length = b - a
        frac = self.widths[i0:i1] / length
        if k == 0.0:
            # Plain increment: only moment 0 carries weight, ⟨1, Q_0⟩ = sqrt(width) exactly.
            coef = np.sqrt(frac).reshape(-1, 1, 1)
        else:
            # Weights relative to the end where e^{kλ} is largest stay in (0, 1]; then
            # ∫_a^b e^{2k(λ−ref)} dλ = (b−a) φ_1(−2|k|(b−a)) and z = Σ sqrt(width/(b−a)/φ_1) γ ξ,
            # whose variance Σ coef² is 1 − (the variance defect).
            ref = b if k > 0 else a
            lam = self.grid[i0:i1, None] + self.widths[i0:i1, None] * self._v[None, :]
            with np.errstate(over="ignore", under="ignore"):
                # min(·, 0): a node may pass ref by a rounding, which must not turn into e^{huge k·ulp}.
                gamma = np.exp(np.minimum(k * (lam - ref), 0.0)) @ self._weights_table  # (cells, moments)
            norm_sq = phi(1, -2.0 * abs(k) * length)
            coef = gamma * np.sqrt(frac / norm_sq)[:, None] if norm_sq > 0 else np.zeros_like(gamma)
            # The exact defect is ≥ 0; a computed one below −defect_tol means the quadrature does
            # not resolve the weight on these cells — refused as well.
            defect = 1.0 - float(np.vdot(coef, coef))
            if not abs(defect) <= self.defect_tol:
                self._raise_defect(defect, a, b, f"k={k!r}")
            coef = coef[:, :, None]
        return self._contract(i0, i1, coef).reshape(self.shape)

    # -- whole chains of intervals ----------------------------------------------------------

    def _indices(self, lam: np.ndarray, name: str) -> np.ndarray:
        """:meth:`index` of every entry of a float64 array (the same nearest-node rule and tolerance)."""
        i = np.minimum(np.searchsorted(self.grid, lam, side="left"), self.grid.size - 1)
        prev = np.maximum(i - 1, 0)
        i = np.where((i > 0) & (np.abs(self.grid[prev] - lam) < np.abs(self.grid[i] - lam)), prev, i)
        off = ~(np.abs(self.grid[i] - lam) <= 1e-7 * self.widths[np.minimum(i, self.n_cells - 1)])
        if off.any():
            j = int(np.flatnonzero(off)[0])
            raise ValueError(f"{name}[{j}]={float(lam[j])!r} is not a node of the BrownianPath grid")
        return i

    def increments(self, points: Sequence[float], k: float) -> torch.Tensor:
        """z_k over every interval of a chain at once: row s is z_k(p_s, p_{s+1}) (MATH §4).

        ``points`` p_0 < p_1 < … are nodes of the grid (up to 1e-7 of a cell width, as for a
        call); returns a tensor of shape ``(len(points) − 1,) + shape``. The rows are what
        ``path(p_s, p_{s+1}, k)`` returns, up to floating rounding (the same coefficients and
        random numbers, summed in another grouping), read in one pass over the path instead
        of one query per interval — a solver's whole grid (every stage sub-interval of every
        step, in order) is one chain.

        Every cell c of [p_0, p_last) lies in exactly one interval s(c) of length L_s, so with
        the module docstring's moments ξ_{c,m}

            z_k(p_s, p_{s+1}) = Σ_{c ∈ s} Σ_m β_{c,m} ξ_{c,m},
            β_{c,m} = sqrt(width_c / (L_s φ_1(−2|k| L_s))) ∫_0^1 e^{k(λ_c + width_c v − r_s)} Q_m(v) dv,

        r_s = p_{s+1} for k > 0 and p_s for k < 0 (the weight relative to the end where it is
        largest, MATH §5 for φ_1), the integral by the cell's Gauss rule; for k = 0 only
        β_{c,0} = sqrt(width_c / L_s) is non-zero. The coefficients are formed for a window
        of cells at a time and contracted block by block, each block's (intervals × cells·moments)
        coefficient matrix times its moments added to the rows of the intervals it touches:
        memory is the output plus one window's coefficients, whatever the grid's resolution.

        Errors as for single queries: ValueError naming ``points`` for a point off the grid or
        two points on the same node, and naming the interval and k when its variance defect
        1 − Σ β² exceeds ``defect_tol``.
        """
        pts = _check_grid(points, "points")
        k = _check_real(k, "k")
        idx = self._indices(pts, "points")
        if not np.all(np.diff(idx) > 0):
            j = int(np.flatnonzero(np.diff(idx) <= 0)[0])
            raise ValueError(f"points[{j}] and points[{j + 1}] fall on the same node of the BrownianPath grid")
        n_int = pts.size - 1
        lengths = np.diff(pts)
        out = torch.zeros((n_int, self._numel), device=self.device, dtype=self.dtype)
        if k != 0.0:
            ref = pts[1:] if k > 0 else pts[:-1]
            norm_sq = phi(1, -2.0 * abs(k) * lengths)
            captured = np.zeros(n_int)
        first, last = int(idx[0]), int(idx[-1])
        for w0 in range(first, last, _WINDOW_CELLS):
            w1 = min(w0 + _WINDOW_CELLS, last)
            seg = np.searchsorted(idx, np.arange(w0, w1), side="right") - 1  # s(c) of each cell
            frac = self.widths[w0:w1] / lengths[seg]
            if k == 0.0:
                coef = np.sqrt(frac)[:, None]
            else:
                lam = self.grid[w0:w1, None] + self.widths[w0:w1, None] * self._v[None, :]
                with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
                    # min(·, 0) as in a single query: a node past r_s by a rounding stays at weight 1.
                    gamma = np.exp(np.minimum(k * (lam - ref[seg, None]), 0.0)) @ self._weights_table
                    ns = norm_sq[seg]
                    coef = np.where((ns > 0)[:, None], gamma * np.sqrt(frac / np.where(ns > 0, ns, 1.0))[:, None],
                                    0.0)
                captured += np.bincount(seg, weights=(coef * coef).sum(axis=1), minlength=n_int)
            self._accumulate(out, w0, w1, seg, coef)
        if k != 0.0:
            defect = 1.0 - captured
            bad = np.flatnonzero(~(np.abs(defect) <= self.defect_tol))
            if bad.size:
                s = int(bad[0])
                self._raise_defect(float(defect[s]), float(pts[s]), float(pts[s + 1]), f"k={k!r}")
        return out.reshape((n_int,) + self.shape)

    def _accumulate(self, out: torch.Tensor, c0: int, c1: int, seg: np.ndarray, coef: np.ndarray) -> None:
        """out[s] += Σ_{c ∈ [c0, c1), s(c) = s} Σ_m coef[c − c0, m] ξ_{c,m}, one block at a time
        (``seg`` the interval of each cell, non-decreasing; ``coef`` (cells, M), M ≤ ``moments``).

        A block inside one interval is one row times the block's moments, as in a single query;
        a block spread over several intervals is weighted cell by cell and summed per interval.
        """
        n_m = coef.shape[1]
        for block in range(c0 // BLOCK_CELLS, (c1 - 1) // BLOCK_CELLS + 1):
            start = block * BLOCK_CELLS
            lo, hi = max(c0, start), min(c1, start + BLOCK_CELLS)
            rows = seg[lo - c0:hi - c0]
            s0, s1 = int(rows[0]), int(rows[-1]) + 1
            cells = self._block(block)[lo - start:hi - start]
            c = torch.as_tensor(coef[lo - c0:hi - c0], device=self.device, dtype=self.dtype)
            if s1 - s0 == 1:
                xi = (cells[:, 0] if n_m == 1 else cells[:, :n_m]).reshape((hi - lo) * n_m, self._numel)
                out[s0:s1].addmm_(c.reshape(1, -1), xi)
                continue
            if n_m == 1:
                weighted = cells[:, 0] * c
            else:
                weighted = torch.bmm(c.unsqueeze(1), cells[:, :n_m]).squeeze(1)
            if s1 - s0 == hi - lo:  # one cell per interval
                out[s0:s1].add_(weighted)
            else:
                out.index_add_(0, torch.as_tensor(rows, device=self.device), weighted)

    def variance_defect(self, k: float) -> float:
        """Largest relative variance defect |1 − Σ_m⟨e^{kλ},Q_m⟩²/∫e^{2kλ}| over the cells (float64,
        so ≈ 1e-16 at best); finite for every finite k and cell width."""
        k = _check_real(k, "k")
        return float(np.max(_cell_defects(self.widths, k, self.moments)))

    @staticmethod
    def moments_needed(grid: Sequence[float], exponents: Sequence[float], tol: float = 1e-14,
                       max_moments: int = 8) -> int:
        """Fewest Legendre moments per cell whose variance defect (:meth:`variance_defect`) is
        below ``tol`` for every weight exponent in ``exponents`` on this grid.

        The defect is itself computed in float64, with rounding errors up to about 1e-15, so
        ``tol`` must be at least 2e-15 (ValueError naming tol otherwise); the default sits just
        above that floor.

        Plain increments (k = 0) need one moment; e^{kλ} weights need more the wider the cells.
        Fewer moments mean proportionally fewer normals to draw. ValueError (naming ``tol`` and
        the grid) when even ``max_moments`` moments leave a defect of at least ``tol``.
        """
        g = _check_grid(grid)
        if isinstance(exponents, (str, bytes)) or not hasattr(exponents, "__iter__"):
            raise TypeError(f"exponents must be a sequence of real numbers, got {type(exponents).__name__}")
        ks = [_check_real(k, "exponents") for k in exponents]
        if not ks:
            raise ValueError("exponents must name at least one weight exponent")
        tol = _check_real(tol, "tol")
        if not tol >= _DEFECT_FLOOR:
            raise ValueError(f"tol must be >= {_DEFECT_FLOOR:g}: the defect is computed in float64 with "
                             f"rounding errors up to about 1e-15, so a smaller tol is out of reach on any grid; "
                             f"got tol={tol!r}")
        max_moments = _check_int(max_moments, "max_moments", 1)
        widths = np.diff(g)
        worst = math.inf
        for m in range(1, max_moments + 1):
            worst = max(float(np.max(_cell_defects(widths, k, m))) for k in ks)
            if worst < tol:
                return m
        raise ValueError(
            f"tol={tol:g} is out of reach on this grid: with max_moments={max_moments} Legendre moments "
            f"the variance defect is still {worst:.3g} for exponents {ks} (widest grid cell "
            f"{float(np.max(widths)):.3g}); refine the grid, raise max_moments or raise tol")

    def noise_sampler(self, k: float) -> Callable:
        """A k-diffusion ``noise_sampler(sigma_a, sigma_b)`` reading z_k(λ(σ_a), λ(σ_b)), λ = −log σ."""
        k = _check_real(k, "k")

        def sampler(sigma_a, sigma_b):
            sa, sb = _check_real(sigma_a, "sigma_a"), _check_real(sigma_b, "sigma_b")
            if not (sa > 0 and sb > 0):
                raise ValueError(f"noise_sampler needs positive sigmas, got sigma_a={sa!r}, sigma_b={sb!r}")
            if not sb < sa:
                raise ValueError(f"sigma_b must be smaller than sigma_a (λ increases), got "
                                 f"sigma_a={sa!r}, sigma_b={sb!r}")
            return self(-math.log(sa), -math.log(sb), k)

        return sampler


# --------------------------------------------------------------------------------------------
# Increments over a coarser chain from those over a finer one
# --------------------------------------------------------------------------------------------


def coarsen_increments(fine: torch.Tensor, fine_points: Sequence[float], coarse_points: Sequence[float],
                       k: float) -> torch.Tensor:
    """z_k over a coarser chain from z_k over a finer chain of the same Brownian path (MATH §4).

    ``fine`` has one row per interval of ``fine_points`` (as :meth:`BrownianPath.increments`
    returns them); every point of ``coarse_points`` must be a point of ``fine_points`` (exact
    float equality: nested grids, e.g. uniform grids of N and 2N steps over one range, built
    the same way). A weighted integral is additive over sub-intervals, so with
    N(a, b) = ∫_a^b e^{2k(λ−r)} dλ = L φ_1(−2|k| L) (L = b − a, r the end where e^{kλ} is
    largest: b for k > 0, a for k < 0; MATH §5 for φ_1) a coarse interval C made of fine
    intervals f has

        z_k(C) = Σ_{f ⊂ C} e^{k(r_f − r_C)} sqrt(N_f / N_C) z_k(f),

    exactly: the same increments a query over C returns, up to floating rounding (the weights,
    at most 1 and with squares summing to 1, are computed in float64). Reads ``fine`` once;
    returns a tensor of shape ``(len(coarse_points) − 1,) + fine.shape[1:]``.
    """
    f_pts = _check_grid(fine_points, "fine_points")
    c_pts = _check_grid(coarse_points, "coarse_points")
    k = _check_real(k, "k")
    if not isinstance(fine, torch.Tensor) or fine.ndim < 1 or fine.shape[0] != f_pts.size - 1:
        raise ValueError(f"fine must be a tensor with one row per interval of fine_points "
                         f"({f_pts.size - 1}), got {getattr(fine, 'shape', type(fine).__name__)}")
    at = np.minimum(np.searchsorted(f_pts, c_pts), f_pts.size - 1)
    if not np.array_equal(f_pts[at], c_pts):
        j = int(np.flatnonzero(f_pts[at] != c_pts)[0])
        raise ValueError(f"coarse_points[{j}]={float(c_pts[j])!r} is not one of fine_points")
    first, last = int(at[0]), int(at[-1])
    seg = np.searchsorted(at, np.arange(first, last), side="right") - 1  # coarse interval of each fine one
    f_len = np.diff(f_pts)[first:last]
    c_len = np.diff(c_pts)
    if k == 0.0:
        weights = np.sqrt(f_len / c_len[seg])
    else:
        if k > 0:
            f_ref, c_ref = f_pts[first + 1:last + 1], c_pts[1:][seg]
        else:
            f_ref, c_ref = f_pts[first:last], c_pts[:-1][seg]
        with np.errstate(under="ignore"):
            weights = np.exp(k * (f_ref - c_ref)) * np.sqrt(
                f_len * phi(1, -2.0 * abs(k) * f_len) / (c_len[seg] * phi(1, -2.0 * abs(k) * c_len[seg])))
    rows = fine[first:last].reshape(last - first, -1)
    w = torch.as_tensor(weights, device=fine.device, dtype=fine.dtype)
    counts = np.diff(at)
    if np.all(counts == counts[0]):  # every coarse interval holds the same number of fine ones
        n_c, per = counts.size, int(counts[0])
        out = torch.bmm(w.reshape(n_c, 1, per), rows.reshape(n_c, per, -1)).squeeze(1)
    else:
        out = torch.zeros((c_pts.size - 1, rows.shape[1]), device=fine.device, dtype=fine.dtype)
        out.index_add_(0, torch.as_tensor(seg, device=fine.device), rows * w[:, None])
    return out.reshape((c_pts.size - 1,) + tuple(fine.shape[1:]))
