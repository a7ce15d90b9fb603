"""Monte Carlo studies in shards of paths (MATH §9; docs/cluster.md, docs/weak_mixture.md).

The paths of a weak study on a nonlinear problem, and of a strong or deterministic (*pathwise*)
study, are independent given their random inputs, so the study is split by path index. The
unit is a *block* of ``path_block`` consecutive paths:

* block b's start draws y_T come from a generator seeded by (seed, b) (``path_block`` draws,
  cut to the paths the study holds), and its Brownian path from streams seeded by (seed + 1,
  cell block, moment, b) (:class:`~seeds_verify.noise.BrownianPath` with ``row_block``);
* the reference (weak: a fine SEEDS-2 solve on the block's path, and on its antithetic
  reflection when the study asks for one, :mod:`.antithetic`; pathwise: the exact solution, or a
  fine SEEDS-2 solve on the path, or the probability-flow ODE to 1e-12), the sampler's ladder and
  the per-path numbers (weak statistics, or errors ‖Y_h − Y_ref‖) are computed for the block
  alone, always on a batch of exactly that block's paths.

A *shard* is a run of whole blocks. Every number of a path is therefore a function of the seed,
the block and the code alone — the same computation on the same inputs whatever the number of
shards or workers and wherever it runs — and the merged per-path arrays (concatenated in path
order) are bit-identical for any split. The bootstrap then sees the same rows.

A block holds ``path_block`` paths: by default :data:`PATH_BLOCK` in a weak study and
:data:`PATHWISE_BLOCK` in a pathwise one (whose 1000-path default then stays one batch, as fast
as before sharding), or the study's ``path_block`` for both.

A :class:`ShardRunner` runs the shards: :class:`LocalRunner` one after the other in this process
(the default; imports nothing beyond torch), :class:`seeds_verify.convergence.cluster.DaskRunner`
on a Dask cluster. References are kept per block and reused by every subject of a study setup
(in this process, or as futures held on the cluster).

Memory of one shard: its start draws and outputs (paths × dim per ladder level and reference),
the weak statistics ((paths × levels × q) float64, q = dim + dim(dim+1)/2 + components) or the
pathwise errors ((paths × levels) float64; three such arrays with a float64 twin) and the block's Brownian
path moments, bounded by the path's cache (docs/cluster.md states the bound).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..noise import BrownianPath
from ..schedules import lambda_grid
from .studies import StudySetup, choose_moments, single_thread

__all__ = ["PATH_BLOCK", "PATHWISE_BLOCK", "ShardError", "StudySpec", "BlockReference",
           "PathwiseReference", "ShardResult", "PathwiseResult", "shard_ranges", "ShardRunner", "LocalRunner",
           "study_shard", "block_reference", "VARIANCE_REDUCTIONS", "SHARDED_REGIMES",
           "shard_label", "open_runner", "check_workers", "check_scheduler", "check_shards",
           "check_path_block", "BlockSetup", "WEAK_REFINE", "reference_refine", "BLOCK_SETUPS_KEPT",
           "clear_block_setups"]

PATH_BLOCK = 128
"""Paths drawn and computed together in a weak study (part of the definition of its numbers)."""

PATHWISE_BLOCK = 1024
"""The same for a strong or deterministic study: its errors ‖Y_h − Y_ref‖ settle with about a
thousand paths, which then run as one batch."""

SHARDED_REGIMES = ("weak", "pathwise")
"""What a :class:`StudySpec` describes: a weak Monte Carlo study, or a strong (η > 0) or
deterministic (η = 0) study of per-path errors."""

VARIANCE_REDUCTIONS = (None, "antithetic", "conditional")
"""Options of the weak Monte Carlo study: plain differences against the reference; against the
mean of the reference on the path and on its antithetic reflection; or the sum of the sampler's
local weak errors from the exact conditional law (:mod:`.conditional`), which needs no reference
(docs/weak_mixture.md §2, §3b)."""

WEAK_REFINE = 8
"""Reference steps per step of the finest ladder grid (at least; see reference_refine)."""

_BLOCK_CACHE_BYTES = 256 * 2 ** 20  # Brownian-path moments kept per block (redrawn beyond it)

BLOCK_SETUPS_KEPT = 2
"""Block setups (with their paths, at most ``_BLOCK_CACHE_BYTES`` of moments each) kept per process."""
_BLOCK_SETUPS: dict = {}
_BLOCK_SETUPS_LOCK = threading.Lock()  # a Dask worker may run tasks in several threads


def clear_block_setups() -> None:
    """Drop the block setups kept in this process (their paths and references; done when a
    runner of :func:`open_runner` closes)."""
    with _BLOCK_SETUPS_LOCK:
        _BLOCK_SETUPS.clear()


class ShardError(RuntimeError):
    """A shard of a study failed; the message names its path range and the cause."""


def shard_label(start: int, stop: int) -> str:
    return f"paths {start}..{stop - 1}"


def shard_ranges(paths: int, shards: int, block: int = PATH_BLOCK) -> tuple[tuple[int, int], ...]:
    """``shards`` (at most one per block) runs of whole blocks covering paths 0 … paths − 1,
    as even as the blocks allow; (start, stop) pairs in path order."""
    for name, v in (("paths", paths), ("shards", shards), ("block", block)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    blocks = -(-paths // block)
    shards = min(int(shards), blocks)
    edges = [round(i * blocks / shards) for i in range(shards + 1)]
    return tuple((edges[i] * block, min(paths, edges[i + 1] * block)) for i in range(shards))


def _named(value):
    """A problem or schedule in a cache key: its name, or its instance's identity."""
    return value if isinstance(value, str) else ("instance", id(value))


def _start_seed(seed: int, block: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{block}".encode(), digest_size=8, person=b"StartDraws").digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass(frozen=True)
class StudySpec:
    """What a shard needs to rebuild one study (picklable; problem and schedule by name or as
    instances); ``regime`` one of :data:`SHARDED_REGIMES`."""

    problem: object
    schedule: object
    eta: float
    steps: tuple[int, ...]
    paths: int
    seed: int
    device: str
    dtype: torch.dtype
    denominators: tuple[int, ...]
    path_block: int = PATH_BLOCK
    variance_reduction: str | None = None
    regime: str = "weak"
    rules: object = None  # conditional.Rules of a "conditional" weak study (None: conditional.RULES)

    def __post_init__(self):
        if self.regime not in SHARDED_REGIMES:
            raise ValueError(f"regime must be one of {SHARDED_REGIMES}, got {self.regime!r}")

    @classmethod
    def of(cls, setup, regime: str = "weak") -> "StudySpec":
        """The spec of ``setup``'s study in ``regime``; its block is the setup's ``path_block``,
        or the regime's default (:data:`PATH_BLOCK`, :data:`PATHWISE_BLOCK`) when that is None."""
        problem, schedule = setup.problem_arg, setup.schedule_arg
        block = getattr(setup, "path_block", None)
        if block is None:
            block = PATH_BLOCK if regime == "weak" else PATHWISE_BLOCK
        return cls(problem, schedule, float(setup.eta), tuple(setup.steps), int(setup.paths), int(setup.seed),
                   str(setup.device), setup.dtype, tuple(setup.denominators), int(block),
                   getattr(setup, "variance_reduction", None) if regime == "weak" else None, regime,
                   getattr(setup, "conditional_rules", None) if regime == "weak" else None)

    @property
    def blocks(self) -> int:
        return -(-self.paths // self.path_block)

    def block_rows(self, block: int) -> tuple[int, int]:
        start = block * self.path_block
        return start, min(self.paths, start + self.path_block)

    def reference_key(self, block: int) -> tuple:
        """What a block's reference depends on (the same for every subject and for any number of
        paths that fills the block alike; a deterministic reference reads no path, so not the
        ladder either)."""
        ladder = None if (self.regime == "pathwise" and self.eta == 0.0) else (self.steps, self.denominators)
        return (self.regime, _named(self.problem), _named(self.schedule), self.eta, ladder, self.seed, self.device,
                str(self.dtype), self.path_block, self.variance_reduction, block,
                self.block_rows(block)[1] - block * self.path_block)

    def setup(self, block: int) -> "BlockSetup":
        """The :class:`BlockSetup` of one block. The last :data:`BLOCK_SETUPS_KEPT` are kept in
        this process, so that the subjects of a study that run one after the other share the
        block's start draws, path and reference instead of drawing them again."""
        key = (self.regime, _named(self.problem), _named(self.schedule), self.eta, self.steps, self.paths,
               self.seed, self.device, str(self.dtype), self.denominators, self.path_block, block)
        with _BLOCK_SETUPS_LOCK:
            hit = _BLOCK_SETUPS.pop(key, None)
        if hit is None:
            # (A kept setup holds its problem and schedule, so an id in a kept key is not reused.)
            start, stop = self.block_rows(block)
            hit = BlockSetup(self.problem, self.schedule, self.eta, self.steps, stop - start, self.seed,
                             self.device, self.dtype, self.denominators)
            hit.rows, hit.block, hit.path_block, hit.regime = (start, stop), block, self.path_block, self.regime
        with _BLOCK_SETUPS_LOCK:
            _BLOCK_SETUPS[key] = hit  # most recent last
            while len(_BLOCK_SETUPS) > BLOCK_SETUPS_KEPT:
                _BLOCK_SETUPS.pop(next(iter(_BLOCK_SETUPS)), None)
        return hit


class BlockSetup(StudySetup):
    """The setup of one block of a study's paths: its start draws and Brownian path are the
    block's own (module docstring); ``rows`` = (first path, last path + 1) of the study."""

    rows: tuple[int, int] = (0, 0)
    block: int = 0
    path_block: int = PATH_BLOCK
    regime: str = "weak"

    def start_points(self) -> torch.Tensor:
        gen = torch.Generator(device=self.device).manual_seed(_start_seed(self.seed, self.block))
        y = self.problem.sample(self.path_block, self.sigma_start, generator=gen, device=self.device,
                                dtype=torch.float64)[:self.paths]
        return y.to(self.dtype)

    def fresh_noise(self):
        """The block's seeded fresh normals (the deterministic regime's noise, multiplied by zero by
        a correct sampler)."""
        from ..noise import GaussianNoise

        return GaussianNoise((self.paths, self.problem.dim), seed=_start_seed(self.seed + 2, self.block),
                             device=self.device, dtype=self.dtype)

    def path(self) -> BrownianPath:
        if self._path is None:
            refine = reference_refine(self.denominators) if self.regime == "weak" else self._refine()
            grid = lambda_grid(self.schedule, self.path_cells(refine))
            exps = sorted({self.eta, -1.0, 0.0, -(1.0 + self.eta), 1.0 + self.eta})
            self._path = BrownianPath(grid, (self.paths, self.problem.dim), seed=self.seed + 1,
                                      device=self.device, dtype=self.dtype, moments=choose_moments(grid, exps),
                                      row_block=self.path_block, row_offset=self.block * self.path_block,
                                      cache_bytes=_BLOCK_CACHE_BYTES)
        return self._path


def reference_refine(denominators: Sequence[int]) -> int:
    """Path cells per cell of lcm(step counts) × lcm(denominators): the weak reference takes one
    SEEDS-2 step per two path cells, i.e. at least ``WEAK_REFINE`` steps per step of the finest
    ladder grid (a multiple of 4 keeps the half-step reference's stages on the path's nodes)."""
    den = math.lcm(*denominators) if denominators else 1
    return 4 * math.ceil(2 * WEAK_REFINE / (4 * den))


# --------------------------------------------------------------------------------------------
# One block: reference and errors
# --------------------------------------------------------------------------------------------


def weak_statistics(problem, y: torch.Tensor, sigma_end: float) -> np.ndarray:
    """Per-sample φ(y): y, the upper triangle of y yᵀ and the component responsibilities."""
    d = y.shape[-1]
    iu = torch.triu_indices(d, d)
    outer = (y[:, :, None] * y[:, None, :])[:, iu[0], iu[1]]
    parts = [y, outer]
    if hasattr(problem, "responsibilities"):
        parts.append(problem.responsibilities(y, sigma_end).to(torch.float64))
    return torch.cat(parts, dim=-1).cpu().numpy()


@dataclass
class BlockReference:
    """The reference statistics of one block: φ of the fine solve on the path (``phi``), on its
    antithetic reflection (``phi_reflected``, or None) and of the same solve with half the steps
    (``phi_half``, for the reference's own weak error)."""

    phi: np.ndarray
    phi_reflected: np.ndarray | None
    phi_half: np.ndarray
    steps: int
    seconds: float


@dataclass
class PathwiseReference:
    """The reference of one block of a pathwise study: Y_ref at λ_end (``y``, float64, α = 1
    coordinates), per path ‖Y_ref‖ (``norms``) and, for a fine solve, ‖Y_ref − the same solve
    with half its steps‖ (``own``, its own error; else None); ``kind`` says how it was made."""

    y: np.ndarray
    norms: np.ndarray
    own: np.ndarray | None
    kind: str
    seconds: float


def block_reference(spec: StudySpec, block: int) -> BlockReference | PathwiseReference:
    """The reference of one block: a :class:`BlockReference` for a weak study, a
    :class:`PathwiseReference` for a pathwise one."""
    return _weak_reference(spec, block) if spec.regime == "weak" else _pathwise_reference(spec, block)


def _pathwise_reference(spec: StudySpec, block: int) -> PathwiseReference:
    """The exact pathwise (or ODE) solution where the problem has one, else a fine SEEDS-2 solve on
    the block's path (η > 0) or the probability-flow ODE to 1e-12 (η = 0): what
    :meth:`StudySetup.reference` computes, for the block's start draws and path."""
    import time

    t0 = time.perf_counter()
    setup = spec.setup(block)
    y = setup.reference()
    own = setup.reference_own_errors
    return PathwiseReference(y.cpu().numpy(), y.norm(dim=-1).cpu().numpy(),
                             None if own is None else own.cpu().numpy(), str(setup.reference_info["kind"]),
                             time.perf_counter() - t0)


def _weak_reference(spec: StudySpec, block: int) -> BlockReference:
    """SEEDS-2 (r = 1/2, phi_2) with one step per two path cells on the block's path (and on its
    reflection), and with half as many steps; α = 1 coordinates, float64 statistics."""
    import time

    from ..schedules import lambda_grid
    from ..solvers import SEEDS2
    from .antithetic import ReflectedPath

    t0 = time.perf_counter()
    setup = spec.setup(block)
    path = setup.path()
    y0 = setup.start_points().to(torch.float64)
    solver = SEEDS2(0.5, "phi_2")
    n_ref = path.n_cells // 2  # stage points at half steps fall on the grid
    a0 = float(setup.schedule.alpha_of_lam(setup.lam_start))
    a1 = float(setup.schedule.alpha_of_lam(setup.lam_end))

    def solve(n, noise):
        y = solver.solve(setup.model, a0 * y0, lambda_grid(setup.schedule, n), schedule=setup.schedule,
                         noise=noise, eta=setup.eta, prediction="data")
        return weak_statistics(setup.problem, y.to(torch.float64) / a1, setup.sigma_end)

    phi_fine = solve(n_ref, path)
    phi_half = solve(n_ref // 2, path)
    reflected = None
    if spec.variance_reduction == "antithetic":
        cells = lambda_grid(setup.schedule, setup.path_cells(1))
        reflected = solve(n_ref, ReflectedPath(path, cells, setup.eta))
    return BlockReference(phi_fine, reflected, phi_half, n_ref, time.perf_counter() - t0)


def _tiled(parts):
    parts = sorted(parts, key=lambda p: p.start)
    for a, b in zip(parts, parts[1:]):
        if a.stop != b.start:
            raise ValueError(f"shards do not tile the paths: {shard_label(a.start, a.stop)} then "
                             f"{shard_label(b.start, b.stop)}")
    return parts


@dataclass
class ShardResult:
    """Merged per-path arrays of a run of blocks of a weak study, in path order.

    ``diffs`` (paths, levels, q): φ(Y_h) minus the reference statistics the study uses (the mean of
    the two antithetic references with ``variance_reduction="antithetic"``), or with
    ``"conditional"`` the path's sum of local weak errors; ``plain`` φ(Y_h) against the reference
    on the path alone (None without variance reduction); ``rule_change`` with ``"conditional"``
    the change of that sum under coarser quadrature rules (else None); ``phi_ref``
    (paths, q) and ``phi_half``: the reference's statistics with all and half its steps;
    ``calls`` noise calls per level; ``reference_steps``, ``reference_seconds``.
    """

    start: int
    stop: int
    diffs: np.ndarray
    plain: np.ndarray | None
    phi_ref: np.ndarray
    phi_half: np.ndarray
    calls: np.ndarray
    reference_steps: int
    reference_seconds: float
    seconds: float
    rule_change: np.ndarray | None = None

    @staticmethod
    def merge(parts: Sequence["ShardResult"]) -> "ShardResult":
        parts = _tiled(parts)
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        return ShardResult(parts[0].start, parts[-1].stop, cat("diffs"),
                           None if parts[0].plain is None else cat("plain"), cat("phi_ref"),
                           cat("phi_half"), np.sum([p.calls for p in parts], axis=0),
                           parts[0].reference_steps, sum(p.reference_seconds for p in parts),
                           sum(p.seconds for p in parts),
                           None if parts[0].rule_change is None else cat("rule_change"))


@dataclass
class PathwiseResult:
    """Merged per-path arrays of a run of blocks of a pathwise study, in path order.

    ``errors`` (paths, levels): ‖Y_h − Y_ref‖ on the levels the shard ran; for a study in a
    precision below float64 ``twin_errors`` (the same runs in float64) and ``twin_gaps``
    (‖Y_h − Y_h in float64‖), else None; ``reference_norms`` ‖Y_ref‖ and ``reference_own`` its own
    error per path (None for an exact reference); ``calls`` noise calls per level;
    ``inconsistent`` the first block's reason when the subject is not path-consistent (its rows
    then hold NaN from the failing level on), else None.
    """

    start: int
    stop: int
    errors: np.ndarray
    twin_errors: np.ndarray | None
    twin_gaps: np.ndarray | None
    reference_norms: np.ndarray
    reference_own: np.ndarray | None
    calls: np.ndarray
    reference: str
    reference_seconds: float
    seconds: float
    inconsistent: str | None = None

    @staticmethod
    def merge(parts: Sequence["PathwiseResult"]) -> "PathwiseResult":
        parts = _tiled(parts)
        cat = lambda name: (None if getattr(parts[0], name) is None  # noqa: E731
                            else np.concatenate([getattr(p, name) for p in parts]))
        return PathwiseResult(parts[0].start, parts[-1].stop, cat("errors"), cat("twin_errors"), cat("twin_gaps"),
                              cat("reference_norms"), cat("reference_own"), np.sum([p.calls for p in parts], axis=0),
                              parts[0].reference, sum(p.reference_seconds for p in parts),
                              sum(p.seconds for p in parts),
                              next((p.inconsistent for p in parts if p.inconsistent is not None), None))


def _block_pathwise(subject, spec: StudySpec, block: int, ref: PathwiseReference, levels) -> PathwiseResult:
    """One block of a pathwise study: the subject on each level's grid from the block's start
    draws, on its Brownian path (η > 0) or its fresh normals (η = 0); a float64 twin of each run
    below float64. At η > 0 the first level is run twice: a subject that never reads the path, or
    whose two runs differ, is not path-consistent (the block stops there)."""
    from .studies import _CountingNoise, _Float64Noise, _run

    setup = spec.setup(block)
    y0 = setup.start_points()
    stochastic = spec.eta > 0
    base = setup.path() if stochastic else setup.fresh_noise()
    target = torch.from_numpy(ref.y).to(y0.device)
    shape = (setup.paths, len(levels))
    errors = np.full(shape, np.nan)
    twin = np.full(shape, np.nan) if setup.low_precision else None
    gaps = np.full(shape, np.nan) if setup.low_precision else None
    calls = np.zeros(len(levels), dtype=np.int64)
    inconsistent = None
    for i, n in enumerate(levels):
        noise = _CountingNoise(base)
        y = _run(subject, setup, y0, n, noise, spec.eta)
        errors[:, i] = (y - target).norm(dim=-1).cpu().numpy()
        calls[i] = noise.calls
        if twin is not None:
            exact = _run(subject, setup, y0.to(torch.float64), n, _Float64Noise(base), spec.eta)
            twin[:, i] = (exact - target).norm(dim=-1).cpu().numpy()
            gaps[:, i] = (y - exact).norm(dim=-1).cpu().numpy()
        if stochastic and i == 0:
            if noise.calls == 0:
                inconsistent = (f"not path-consistent: the sampler never called noise_sampler at eta = "
                                f"{spec.eta:g}, so its noise is not the study's Brownian path")
            else:
                again = _run(subject, setup, y0, n, base, spec.eta)
                if not torch.equal(again, y):  # same code, same inputs: bit identity is the property
                    diff = float((again - y).norm(dim=-1).max())
                    inconsistent = (f"not path-consistent: two runs on the same Brownian path and start differ "
                                    f"(by up to {diff:.3g}); the sampler draws noise of its own")
            if inconsistent is not None:
                for values in (errors, twin, gaps):
                    if values is not None:
                        values[:, i] = np.nan
                break
    lo, hi = spec.block_rows(block)
    return PathwiseResult(lo, hi, errors, twin, gaps, ref.norms, ref.own, calls, ref.kind, ref.seconds, 0.0,
                          inconsistent)


def _block_errors(subject, spec: StudySpec, block: int, ref: BlockReference):
    from .conditional import RULES, local_weak_errors
    from .studies import _CountingNoise, _run

    setup = spec.setup(block)
    y0 = setup.start_points()
    path = setup.path()
    base = ref.phi if ref.phi_reflected is None else 0.5 * (ref.phi + ref.phi_reflected)
    rows = setup.paths
    conditional = spec.variance_reduction == "conditional"
    diffs = np.empty((rows, len(spec.steps), base.shape[-1]))
    plain = None if ref.phi_reflected is None and not conditional else np.empty_like(diffs)
    rule_change = np.empty_like(diffs) if conditional else None
    calls = np.zeros(len(spec.steps), dtype=np.int64)
    for i, n in enumerate(spec.steps):
        noise = _CountingNoise(path)
        phi = weak_statistics(setup.problem, _run(subject, setup, y0, n, noise, spec.eta), setup.sigma_end)
        calls[i] = noise.calls
        if conditional:
            rules = spec.rules or RULES
            draw_seed = _start_seed(spec.seed + 3, block)  # the rest's draws: the block's own

            def estimate(r):
                return local_weak_errors(subject, setup, y0, n, path, nodes=r.nodes,
                                         orthogonal_nodes=r.orthogonal_nodes, orthogonal_draws=r.orthogonal_draws,
                                         draw_seed=draw_seed)

            diffs[:, i] = estimate(rules)
            rule_change[:, i] = diffs[:, i] - estimate(rules.coarser())
        else:
            diffs[:, i] = phi - base
        if plain is not None:
            plain[:, i] = phi - ref.phi
    return diffs, plain, calls, rule_change


def study_shard(subject, spec: StudySpec, start: int, stop: int, references: Sequence,
                levels: Sequence[int] | None = None) -> ShardResult | PathwiseResult:
    """The blocks of paths start … stop − 1 of one subject's study (``references``: the reference
    of each block, in order, or None to compute them here): a :class:`ShardResult` for a weak
    study, a :class:`PathwiseResult` on ``levels`` (default: the whole ladder) for a pathwise one.

    A :class:`~.subjects.SamplerError` comes back as one naming the path range; any other error
    as a :class:`ShardError` naming it and the cause.
    """
    import time

    from .subjects import SamplerError

    t0 = time.perf_counter()
    label = shard_label(start, stop)
    levels = tuple(spec.steps if levels is None else levels)
    try:
        if start % spec.path_block or not 0 <= start < stop <= spec.paths:
            raise ValueError(f"a shard must start on a block boundary (block {spec.path_block}) and lie "
                             f"within 0..{spec.paths - 1}, got {label}")
        blocks = range(start // spec.path_block, -(-stop // spec.path_block))
        if references is None:
            references = [None] * len(blocks)
        parts = []
        with single_thread(spec.device):
            for b, ref in zip(blocks, references):
                ref = block_reference(spec, b) if ref is None else ref
                if spec.regime == "pathwise":
                    parts.append(_block_pathwise(subject, spec, b, ref, levels))
                    continue
                diffs, plain, calls, rule_change = _block_errors(subject, spec, b, ref)
                lo, hi = spec.block_rows(b)
                parts.append(ShardResult(lo, hi, diffs, plain, ref.phi, ref.phi_half, calls, ref.steps,
                                         ref.seconds, 0.0, rule_change))
    except SamplerError as exc:
        raise SamplerError(f"{label}: {exc}") from None
    except (ShardError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise ShardError(f"the shard of {label} failed: {type(exc).__name__}: {exc}") from exc
    out = type(parts[0]).merge(parts)
    out.seconds = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------------------------
# Running the shards
# --------------------------------------------------------------------------------------------


class ShardRunner:
    """Runs the shards of a study and returns the merged result (:meth:`run`).

    Attributes:
        workers: how many shards can run at once (sets the default number of shards).
        shards: shards per study (None: :meth:`default_shards`).
        progress: show a progress bar over the shards.
    """

    workers: int = 1
    shards: int | None = None
    progress: bool = False

    def default_shards(self, spec: StudySpec) -> int:
        """Four shards per worker (so that a slow or restarted worker does not leave the others
        idle), at most one per block."""
        return self.shards if self.shards is not None else 4 * self.workers

    def ranges(self, spec: StudySpec) -> tuple[tuple[int, int], ...]:
        return shard_ranges(spec.paths, self.default_shards(spec), spec.path_block)

    def run(self, subject, spec: StudySpec, cache: dict,
            levels: Sequence[int] | None = None) -> ShardResult | PathwiseResult:  # pragma: no cover
        """The merged result of ``subject``'s study ``spec`` (``levels``: :func:`study_shard`);
        block references are taken from, and added to, ``cache``."""
        raise NotImplementedError

    def _bar(self, total: int, spec: StudySpec, subject):
        from tqdm.auto import tqdm

        name = "weak" if spec.regime == "weak" else ("strong" if spec.eta > 0 else "deterministic")
        return tqdm(total=total, disable=not self.progress, leave=False, unit="shard",
                    desc=f"{name} {subject.label[:24]} {spec.paths} paths")


class LocalRunner(ShardRunner):
    """The shards one after the other in this process (``shards`` default 1 per study)."""

    def __init__(self, shards: int | None = None, progress: bool = False):
        self.shards, self.progress = shards, progress

    def default_shards(self, spec: StudySpec) -> int:
        return 1 if self.shards is None else self.shards

    def run(self, subject, spec: StudySpec, cache: dict,
            levels: Sequence[int] | None = None) -> ShardResult | PathwiseResult:
        # Block by block, its reference just before its runs: the block's setup (start draws,
        # path) is then still kept for them (StudySpec.setup). A shard's numbers are those of
        # its blocks, so running them one at a time changes nothing but the order.
        parts = []
        with self._bar(len(self.ranges(spec)), spec, subject) as bar:
            for start, stop in self.ranges(spec):
                for b in range(start // spec.path_block, -(-stop // spec.path_block)):
                    key = spec.reference_key(b)
                    if key not in cache:
                        try:
                            with single_thread(spec.device):
                                cache[key] = block_reference(spec, b)
                        except Exception as exc:
                            lo, hi = spec.block_rows(b)
                            raise ShardError(f"the reference of {shard_label(lo, hi)} failed: "
                                             f"{type(exc).__name__}: {exc}") from exc
                    lo, hi = spec.block_rows(b)
                    parts.append(study_shard(subject, spec, lo, hi, [cache[key]], levels))
                bar.update()
        return type(parts[0]).merge(parts)


def check_workers(workers) -> int | None:
    """None, or an int in [1, 1024] (ValueError naming ``workers`` otherwise)."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or not 1 <= workers <= 1024:
        raise ValueError(f"workers must be an int in [1, 1024], got {workers!r}")
    return int(workers)


def check_scheduler(scheduler) -> str | None:
    """None, or a scheduler address such as ``tcp://10.0.0.5:8786`` (ValueError naming it)."""
    if scheduler is None:
        return None
    if not isinstance(scheduler, str) or not scheduler.strip() or any(c.isspace() for c in scheduler.strip()):
        raise ValueError(f"scheduler must be an address such as tcp://host:8786, got {scheduler!r}")
    return scheduler.strip()


def check_shards(shards) -> int | None:
    """None, or a positive int (ValueError naming ``shards``)."""
    if shards is None:
        return None
    if isinstance(shards, bool) or not isinstance(shards, (int, np.integer)) or shards < 1:
        raise ValueError(f"shards must be a positive int, got {shards!r}")
    return int(shards)


def check_path_block(path_block) -> int | None:
    """None (the regime's default: :data:`PATH_BLOCK`, :data:`PATHWISE_BLOCK`) or a positive int
    (ValueError naming ``path_block``)."""
    if path_block is None:
        return None
    if isinstance(path_block, bool) or not isinstance(path_block, (int, np.integer)) or path_block < 1:
        raise ValueError(f"path_block must be a positive int, got {path_block!r}")
    return int(path_block)


@contextlib.contextmanager
def open_runner(workers=None, scheduler=None, *, shards=None, progress: bool = False, device: str = "cpu"):
    """The runner of a study's shards: on a Dask cluster for ``workers`` (embedded) or
    ``scheduler`` (existing; :mod:`.cluster`, which imports Dask), else in this process
    (:class:`LocalRunner`; Dask is not imported). Arguments are checked first (ValueError
    naming the argument)."""
    workers, scheduler, shards = check_workers(workers), check_scheduler(scheduler), check_shards(shards)
    if workers is not None and scheduler is not None:
        raise ValueError("give workers (an embedded cluster) or scheduler (an existing one), not both")
    try:
        if workers is None and scheduler is None:
            yield LocalRunner(shards, progress)
            return
        from .cluster import cluster_runner

        with cluster_runner(workers, scheduler, shards=shards, progress=progress, device=device) as runner:
            yield runner
    finally:
        clear_block_setups()


def check_variance_reduction(value) -> str | None:
    """None, ``"antithetic"`` or ``"conditional"`` (None also spelt ``"none"``); ValueError naming
    the argument otherwise."""
    if value in (None, "none"):
        return None
    if not isinstance(value, str) or value not in VARIANCE_REDUCTIONS:
        raise ValueError(f"variance_reduction must be None, 'none', 'antithetic' or 'conditional', got {value!r}")
    return value


def delta_variance(values: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Per ladder level, the variance over paths of Σ_j s_j v_j: n × the delta-method variance of
    the weak error Σ_j |mean_j| (values (paths, levels, q), signs (levels, q))."""
    return np.var((values * signs[None]).sum(axis=-1), axis=0, ddof=1)


def reduction_factors(plain: np.ndarray, reduced: np.ndarray) -> list[float]:
    """Variance of the weak-error estimate without / with the variance reduction, per level."""
    signs = np.sign(reduced.mean(axis=0))
    a, b = delta_variance(plain, signs), delta_variance(reduced, signs)
    return [float(x / y) if y > 0 else math.inf for x, y in zip(a, b)]
