"""What every solver shares: argument checks, the step loop, declared orders (diffrax style).

A step is written once, as a coroutine (:meth:`Solver._stages`) that yields ``(state, λ)`` for
every model prediction it needs and receives the prediction back. :meth:`Solver.solve` answers
each request with one model call; :meth:`Solver.solve_ladder` runs the steps of several grids
side by side and answers the requests of all grids at one λ with one model call on their
stacked states.

Noise. A noise source that also offers ``increments(points, k)`` — the increments over every
interval of a chain of λ points at once, as :meth:`seeds_verify.noise.BrownianPath.increments`
does — is read a window of the grid at a time instead of once per sub-interval: the noise
queries of a whole solve are consecutive intervals (MATH §4, §7), one chain per grid
(:meth:`Solver._noise_chain`). The step still asks for each increment in order and gets the
same numbers up to floating rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import trange

from ..coefficients import check_form
from ..noise import GaussianNoise, coarsen_increments
from ..schemes import REGIMES, check_eta  # check_eta re-exported for the solvers' callers

__all__ = ["Solver", "OneStagePlan", "check_eta", "check_lambdas", "check_s_noise", "working_dtype", "ChainReader",
           "split_linear", "scale_state",
           "INCREMENT_WINDOW_BYTES", "LADDER_INCREMENT_BYTES"]

INCREMENT_WINDOW_BYTES = 32 * 2 ** 20
"""Memory for the increments a :class:`ChainReader` holds at a time (at least one interval's)."""

LADDER_INCREMENT_BYTES = 128 * 2 ** 20
"""Memory up to which :meth:`Solver.solve_ladder` holds the increments of all its grids at once
(and combines those of nested grids from the finer ones); beyond it each grid reads windows."""


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


def split_linear(linear):
    """x·L written as keep·x + rest·x with keep ∈ {0, 1} (docs/precision.md §"The update").

    A step that changes x little (L > 1/2) is computed in increment form, x + ((L − 1) x + …):
    the rounding of L to the working dtype then costs u|L − 1||x| ≈ u h |x| per step instead of
    u|x| (the same error in every sample, which no average over paths removes), and the sum is
    formed small terms first. Otherwise (L ≤ 1/2, e.g. one huge step) x·L is kept as it is.
    ``linear`` is a float or a float64 array; returns (keep, rest) alike, computed in float64
    (L − 1 there is exact to 1e-16 absolute, far below any working dtype's rounding of it).
    """
    lin = np.asarray(linear, dtype=np.float64)
    keep = (lin > 0.5).astype(np.float64)
    rest = lin - keep
    if np.ndim(linear) == 0:
        return float(keep), float(rest)
    return keep, rest


def scale_state(x: torch.Tensor, linear: float) -> tuple[torch.Tensor, bool]:
    """(rest·x as a fresh tensor, keep) of :func:`split_linear`: the caller adds the step's other
    terms to the first and then, when ``keep``, x itself."""
    keep, rest = split_linear(linear)
    return x * rest, bool(keep)


@dataclass(frozen=True)
class OneStagePlan:
    """Per-step coefficients of a one-stage scheme on one grid (Python floats per step):
    x_{n+1} = linear[n] x_n + model[n] F_n + noise[n] z_k(λ_n, λ_{n+1}), k = ``weight_exponent``.
    ``alpha_start``/``sigma_start`` are α, σ at λ_n where the step needs them."""

    lam: list
    linear: list
    model: list
    noise: list
    weight_exponent: float
    stochastic: bool
    alpha_start: list | None = None
    sigma_start: list | None = None

    @property
    def model_lambdas(self) -> np.ndarray:
        """λ of every model evaluation: each step's start."""
        return np.asarray(self.lam[:-1], dtype=np.float64)

    @property
    def noise_chain(self) -> tuple[np.ndarray, float]:
        """(λ-grid, k): step n reads z_k(λ_n, λ_{n+1}), so the grid is the chain of its noise queries."""
        return np.asarray(self.lam, dtype=np.float64), self.weight_exponent


class ChainReader:
    """A noise source answering a solve's queries from whole-chain increments.

    ``source.increments(points, k)`` gives z_k over every interval of ``chain[w0:w1 + 1]`` at
    once (MATH §4); the reader takes a window of at most ``window`` intervals at a time, when the
    first of them is asked for, and hands the rows out in order. A query that is not the next
    interval of the chain with exponent ``k`` (exact float equality: the steps pass the very
    floats the chain was built from) goes to ``source(lam_a, lam_b, k)`` unchanged, so a step that
    asks for something else still gets the path's increment. ``taken`` counts the rows handed out.
    """

    def __init__(self, source, chain: np.ndarray, k: float, window: int):
        self.source, self.k = source, k
        self.chain = np.asarray(chain, dtype=np.float64)
        self._points = self.chain.tolist()
        self.window = max(int(window), 1)
        self.taken = 0
        self._w0 = self._w1 = 0
        self._rows = None

    def __call__(self, lam_a, lam_b, k):
        i = self.taken
        points = self._points
        if i + 1 < len(points) and k == self.k and lam_a == points[i] and lam_b == points[i + 1]:
            if i >= self._w1:
                self._w0, self._w1 = i, min(i + self.window, len(points) - 1)
                self._rows = self.source.increments(self.chain[self._w0:self._w1 + 1], k)
            self.taken = i + 1
            return self._rows[i - self._w0]
        return self.source(lam_a, lam_b, k)

    @property
    def rows(self) -> torch.Tensor | None:
        """The increments of the whole chain when they are held at once (:meth:`preload`)."""
        whole = self._rows is not None and self._w0 == 0 and self._w1 == self.chain.size - 1
        return self._rows if whole else None

    def preload(self, rows: torch.Tensor) -> None:
        """Hold the increments of the whole chain (one row per interval) instead of reading windows."""
        if rows.shape[0] != self.chain.size - 1:
            raise ValueError(f"rows must hold one increment per interval of the chain ({self.chain.size - 1}), "
                             f"got {rows.shape[0]}")
        self._w0, self._w1, self._rows = 0, self.chain.size - 1, rows


def _whole_chain(noise) -> bool:
    return callable(getattr(noise, "increments", None))


class Solver:
    """Base class of the reference solvers.

    Subclasses declare (diffrax style) the orders the convergence engine holds them to:
    ``order`` (deterministic, η = 0), ``strong_order`` and ``weak_order`` (η > 0), and
    ``nfe_per_step``. They implement :meth:`_prepare` (a plan: the coefficients for the whole
    grid), :meth:`_stages` (one step in torch, as a coroutine) and, to be read whole-chain from
    a Brownian path, :meth:`_noise_chain`. A subclass may override :meth:`_step` instead of
    :meth:`_stages`; :meth:`solve_ladder` then solves grid by grid.

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

    def _stages(self, n: int, x: torch.Tensor, plan, noise, form: str, s_noise: float):  # pragma: no cover
        """Step n from x as a generator: ``f = yield (state, λ)`` for every model prediction (in
        ``form``) it needs; returns ``(x_next, prediction at the step's start)``."""
        raise NotImplementedError

    def _one_stage(self, plan, form: str) -> OneStagePlan | None:
        """The plan as a :class:`OneStagePlan` when every step of this solver is
        x_{n+1} = linear[n] x_n + model[n] F(x_n, λ_n) + noise[n] z_k(λ_n, λ_{n+1}) with F the
        ``form`` prediction (what :meth:`solve_ladder` can advance for all grids at once); None
        otherwise."""
        return None

    def _noise_chain(self, plan) -> tuple[np.ndarray, float] | None:
        """(chain, k): the λ points of a solve's noise queries, in order, the i-th query being
        z_k(chain[i], chain[i+1]); None when the queries do not form one chain (then every query
        goes to the noise source)."""
        return None

    def _step(self, n: int, x: torch.Tensor, model, plan, noise, form: str, s_noise: float):
        """One step: :meth:`_stages` with each request answered by ``model.predict``."""
        stages = self._stages(n, x, plan, noise, form, s_noise)
        try:
            state, lam = next(stages)
            while True:
                state, lam = stages.send(model.predict(state, lam, form))
        except StopIteration as done:
            return done.value

    @staticmethod
    def _precompute(model, plan) -> None:
        """Let a model that can (``DiffusionModel.precompute``) evaluate its schedule at every
        λ of the plan's model calls at once."""
        precompute = getattr(model, "precompute", None)
        lams = getattr(plan, "model_lambdas", None)
        if callable(precompute) and lams is not None:
            precompute(lams)

    def _reader(self, noise, plan, x: torch.Tensor, s_noise: float):
        """``noise`` itself, or a :class:`ChainReader` over it when it offers whole-chain
        increments and the solve draws noise along one chain."""
        if s_noise <= 0.0 or not getattr(plan, "stochastic", False) or not _whole_chain(noise):
            return noise
        chained = self._noise_chain(plan)
        if chained is None:
            return noise
        chain, k = chained
        row_bytes = max(x.numel() * x.element_size(), 1)
        return ChainReader(noise, chain, k, INCREMENT_WINDOW_BYTES // row_bytes)

    # -- the loop -------------------------------------------------------------------------

    def solve(self, model, x: torch.Tensor, lambdas: Sequence[float], *, schedule,
              noise: Callable | None = None, eta: float = 1.0, prediction: str = "data",
              s_noise: float = 1.0, callback: Callable | None = None,
              disable: bool | None = True) -> torch.Tensor:
        """Integrate the reverse SDE of MATH §3 over the λ-grid and return x at ``lambdas[-1]``.

        ``noise(lam_a, lam_b, k)`` supplies the normalised weighted increments (MATH §4); the
        default is fresh Gaussian noise. A source with whole-chain ``increments`` (a
        :class:`~seeds_verify.noise.BrownianPath`) is read a window of the grid at a time (module
        docstring): the same result up to floating rounding, without a path query per step.
        x may be float32 or float64 (half precision is computed in float32 and cast back); all
        leading dimensions are batch dimensions.
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
        self._precompute(model, plan)
        noise = self._reader(noise, plan, x, float(s_noise))
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

    def solve_ladder(self, model, x: torch.Tensor, grids: Sequence[Sequence[float]], *, schedule,
                     noise: Callable | None = None, eta: float = 1.0, prediction: str = "data",
                     s_noise: float = 1.0) -> list[torch.Tensor]:
        """:meth:`solve` on several λ-grids from the same x and noise: the final states, in the
        order of ``grids``, equal to ``[self.solve(model, x, g, ...) for g in grids]`` up to
        floating rounding (a strong-order ladder on one Brownian path, MATH §9).

        The grids advance together in λ. Whenever the earliest pending model request of some
        grids is at the same λ — every node of a coarse grid of a nested ladder (N, 2N, 4N, …
        uniform steps) is a node of the finer ones — their states are stacked along the batch
        dimension and answered by one model call, so a ladder of 2^j … 2^J steps costs 2^J model
        calls instead of 2^j + … + 2^J. For a one-stage scheme (:meth:`_one_stage`: EM, SEEDS-1,
        DDPM in the data form) on grids whose step starts nest (a λ that starts a step of a grid
        starts one of every grid with more steps) the states live in one ``(grids,) + x.shape``
        tensor, and the steps of all grids at one λ are one model call and three tensor
        operations (:meth:`_stacked_ladder`).

        Noise: each grid reads the increments :meth:`solve` reads. With a whole-chain source (a
        :class:`~seeds_verify.noise.BrownianPath`) the finest grid's are read from the path in one
        pass and a nested coarser grid's are combined from them (:meth:`_ladder_readers`). Any
        other source would be asked in another order than by grid-by-grid solves, so a
        stochastic ladder without one is solved grid by grid, as is a solver whose step
        overrides :meth:`_step`. No ``callback``. Memory: the states of all grids and their
        increments (at most :data:`LADDER_INCREMENT_BYTES` at once, else one window each).
        """
        eta = check_eta(eta)
        form = check_form(prediction)
        s_noise = float(check_s_noise(s_noise))
        if isinstance(grids, (str, bytes, np.ndarray, torch.Tensor)) or not hasattr(grids, "__iter__"):
            raise TypeError(f"grids must be a sequence of λ-grids, got {type(grids).__name__}")
        lams = [check_lambdas(g, f"grids[{i}]") for i, g in enumerate(grids)]
        work = working_dtype(x)
        out_dtype = x.dtype
        x = x.to(work)
        if not torch.isfinite(x).all():
            raise ValueError("x must be finite (no NaN or inf)")
        plans = [self._prepare(lam, schedule, eta, form) for lam in lams]
        for plan in plans:
            self._precompute(model, plan)
        draws = s_noise > 0.0 and any(getattr(plan, "stochastic", False) for plan in plans)
        if type(self)._step is not Solver._step or x.ndim == 0 or (draws and not _whole_chain(noise)):
            return [self.solve(model, x, lam, schedule=schedule, noise=noise, eta=eta, prediction=prediction,
                               s_noise=s_noise).to(out_dtype) for lam in lams]
        readers = self._ladder_readers(noise, plans, x, s_noise)
        stacked = self._stacked_ladder(model, x, plans, readers, form, s_noise)
        if stacked is not None:
            return [state.to(out_dtype) for state in stacked]
        steps = [lam.size - 1 for lam in lams]
        finals: list = [None] * len(lams)
        index = [0] * len(lams)
        coroutines: list = [None] * len(lams)
        pending: dict = {}  # grid → (state, λ) of its next model request

        def advance(i: int, answer) -> None:
            # Run grid i until it asks for its next prediction (or has finished its last step).
            while True:
                try:
                    pending[i] = coroutines[i].send(answer)
                    return
                except StopIteration as done:
                    state = done.value[0]
                    index[i] += 1
                    if index[i] == steps[i]:
                        finals[i] = state
                        pending.pop(i, None)
                        return
                    coroutines[i] = self._stages(index[i], state, plans[i], readers[i], form, s_noise)
                    answer = None

        for i in range(len(lams)):
            coroutines[i] = self._stages(0, x, plans[i], readers[i], form, s_noise)
            advance(i, None)
        while pending:
            lam = min(request[1] for request in pending.values())
            group = [i for i, request in pending.items() if request[1] == lam]
            if len(group) == 1:
                answers = (model.predict(pending[group[0]][0], lam, form),)
            else:
                states = [pending[i][0] for i in group]
                stacked = model.predict(torch.cat(states), lam, form)
                ends = np.cumsum([0] + [s.shape[0] for s in states]).tolist()
                answers = [stacked[a:b] for a, b in zip(ends[:-1], ends[1:])]
            for i, answer in zip(group, answers):
                advance(i, answer)
        return [state.to(out_dtype) for state in finals]

    def _ladder_readers(self, noise, plans, x: torch.Tensor, s_noise: float) -> list:
        """Each grid's noise source for :meth:`solve_ladder` (:meth:`_reader`). When the chains'
        increments fit in :data:`LADDER_INCREMENT_BYTES` they are read at once, longest chain
        first: a chain whose points are all points of a longer one is combined from that one's
        increments (:func:`~seeds_verify.noise.coarsen_increments`, exact up to rounding), any
        other read from the source — one pass over the path for a nested ladder."""
        readers = [self._reader(noise, plan, x, s_noise) for plan in plans]
        chained = sorted((r for r in readers if isinstance(r, ChainReader)), key=lambda r: -r.chain.size)
        rows_total = sum(r.chain.size - 1 for r in chained)
        if not chained or rows_total * x.numel() * x.element_size() > LADDER_INCREMENT_BYTES:
            return readers
        done: list = []  # (chain, k, increments), longest first
        for reader in chained:
            rows = None
            for chain, k, finer in reversed(done):  # the shortest longer chain first
                if k == reader.k and np.isin(reader.chain, chain).all():
                    rows = coarsen_increments(finer, chain, reader.chain, k)
                    break
            if rows is None:
                rows = noise.increments(reader.chain, reader.k)
            reader.preload(rows)
            done.append((reader.chain, reader.k, rows))
        return readers

    def _stacked_ladder(self, model, x: torch.Tensor, plans, readers, form: str, s_noise: float):
        """A ladder of one-stage steps on nesting grids as one stacked tensor (see
        :meth:`solve_ladder`); the final state of every grid, or None when it does not apply.

        Grids ordered by their number of steps, most first; U the sorted λ that start a step of
        some grid. Nesting means that the grids stepping from u ∈ U are the first a(u) of that
        order, so with X the stacked states, per u

            X[:a] ← K_u ⊙ X[:a] + (R_u ⊙ X[:a] + A_u ⊙ F(X[:a], u) + B_u ⊙ Z_u),

        L_u = K_u + R_u (:func:`split_linear`), A_u, B_u the (a,) coefficients of the steps
        starting at u and Z_u their increments: the same arithmetic as :meth:`_stages` of every
        grid, in another grouping (K = 0 multiplies exactly).
        """
        one = [self._one_stage(plan, form) for plan in plans]
        if any(p is None for p in one):
            return None
        draws = s_noise > 0.0 and any(p.stochastic for p in one)
        if draws and any(not isinstance(r, ChainReader) or r.rows is None for r in readers):
            return None
        order = sorted(range(len(one)), key=lambda i: -len(one[i].lam))
        starts = [np.asarray(one[i].lam[:-1], dtype=np.float64) for i in order]
        nodes = np.unique(np.concatenate(starts))
        member = np.zeros((len(order), nodes.size), dtype=bool)
        where = [np.searchsorted(nodes, st) for st in starts]
        for row, idx in enumerate(where):
            member[row, idx] = True
        if not np.all(member[1:] <= member[:-1]):  # the grids stepping from some u are not a prefix
            return None
        active = member.sum(axis=0).tolist()
        # keep and rest from the float64 factors, before any rounding to x's dtype.
        columns = {i: dict(zip(("keep", "rest"), split_linear(one[i].linear)), model=one[i].model,
                           noise=one[i].noise) for i in order}
        # Per node j, the coefficients of the grids stepping from it: packed node by node (rows
        # offset[j] … offset[j] + a(j) of a table, grids in order), one view each.
        packed_rows = member.T  # (nodes, grids), True where the grid steps from the node
        at = {}
        for name in ("keep", "rest", "model", "noise"):
            table = np.zeros((nodes.size, len(order)))
            for row, i in enumerate(order):
                values = np.asarray(columns[i][name], dtype=np.float64)
                if name == "noise":
                    values = values * s_noise if one[i].stochastic else np.zeros_like(values)
                table[where[row], row] = values
            if name == "keep":  # K = 1 for every grid stepping from node j: K ⊙ X is X
                every_kept = [bool(np.all(table[j, :a] == 1.0)) for j, a in enumerate(active)]
            packed = torch.as_tensor(table[packed_rows].reshape((-1,) + (1,) * x.ndim), device=x.device,
                                     dtype=x.dtype)
            at[name] = torch.split(packed, active)
        if draws:  # per node, each stepping grid's increment: (grid's rows, step index)
            rows = [readers[i].rows.to(x.dtype) for i in order]
            step = np.zeros((nodes.size, len(order)), dtype=np.int64)
            for row, idx in enumerate(where):
                step[idx, row] = np.arange(idx.size)
            step = step.tolist()
        states = x.unsqueeze(0).repeat((len(order),) + (1,) * x.ndim)
        storage = states.untyped_storage().data_ptr()
        flat = states.view((-1,) + tuple(x.shape[1:]))
        views = {a: (states[:a], flat[:a * x.shape[0]]) for a in set(active)}
        keep_at, rest_at, weight_at, scale_at = (at[name] for name in ("keep", "rest", "model", "noise"))
        for j, u in enumerate(nodes.tolist()):
            current, stacked = views[active[j]]
            f = model.predict(stacked, u, form).reshape(current.shape)
            if f.untyped_storage().data_ptr() == storage:  # a model answering with a view of its input
                f = f.clone()
            change = (current * rest_at[j]).addcmul_(f, weight_at[j])
            if draws:
                n, a = step[j], active[j]
                z = rows[0][n[0]].unsqueeze(0) if a == 1 else torch.stack([rows[r][n[r]] for r in range(a)])
                change.addcmul_(z, scale_at[j])
            if not every_kept[j]:
                current.mul_(keep_at[j])
            current.add_(change)
        finals = [None] * len(order)
        for row, i in enumerate(order):
            finals[i] = states[row]
        return finals
