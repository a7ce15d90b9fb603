"""Weak errors from the exact conditional law: the sum of a sampler's local weak errors.

For the exact η = 1 reverse process of a Gaussian mixture (or a Gaussian), the law of the end
state given the state at noise level σ̃ is known in closed form (:class:`ConditionalLaw`), so
u(σ̃, y) = E[φ(Y_end) | Y_σ̃ = y] is known for the weak statistics φ of the studies (y, the upper
triangle of y yᵀ and, for a mixture, the responsibilities at σ̃_end). For a one-step sampler on a
grid σ̃_0 > … > σ̃_N started from the exact marginal at σ̃_0, telescoping u over its states gives

    E φ(Y_N) − E φ(Y_end) = Σ_n E[ Q_n(Y_n) − u(σ̃_n, Y_n) ],   Q_n(y) = E[u(σ̃_{n+1}, Y_{n+1}) | Y_n = y],

the sum of its local weak errors along its own paths (docs/weak_mixture.md §3b). The estimate
per path, e = Σ_n [Q̂_n(Y_n) − u(σ̃_n, Y_n)], needs no reference solve; its spread is that of the
local errors, so its standard error shrinks with the weak error itself instead of staying at the
size of the mode changes of a coupled difference.

Q̂_n: the step's Gaussian increments z_c (one per cell between the points its noise queries
name, all of one weight exponent k, independent standard normal) are written as the step's
whole increment e₁ = Σ_c v_c z_c (z_k over the step; v the weights of
:func:`~seeds_verify.noise.coarsen_increments`, |v| = 1) plus the part orthogonal to it,
Σ_m B_cm η_m with B an orthonormal basis of v⊥ and η independent of e₁. The step is re-run from
Y_n at the nodes of a tensor Gauss–Hermite rule in (e₁, η), z_c = v_c g + Σ_m B_cm o_m, and
u(σ̃_{n+1}, ·) averaged with the rule's weights. e₁ carries the step's noise (``nodes`` per
axis); η only moves the stage points at which a multi-stage step evaluates the denoiser, an O(h)
share of the step (``orthogonal_nodes`` per axis; SEEDS-1 and Euler–Maruyama have none). Q̂_n is
then a function of Y_n alone: what varies from path to path is the local error itself.

Where Q̂_n is re-run from: a *one-step* sampler (a run equals its steps run one by one, checked
on every run to rounding) from Y_n over the step alone. A sampler with memory between steps (a
multistep sampler such as DPM-Solver++(2M) SDE) from Y_0 over the first n + 1 steps, its noise
before λ_n replayed from the path: the telescoping above holds for the states Y_m of the runs of
the first m steps whatever the sampler carries from step to step, since Y_m depends on the noise
before λ_m alone (docs/weak_mixture.md §3b); such a study costs about N/2 times more. Either way
the noise queries inside a step must share one weight exponent, no query may straddle a step
boundary, and the problem must have Gaussian components in α = 1 coordinates (``problem._components``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from ..noise import coarsen_increments

__all__ = ["ConditionalLaw", "gauss_hermite", "local_weak_errors", "NODES", "ORTHOGONAL_NODES", "COARSER", "RESTARTS",
           "Rules", "RULES"]

#: Relative difference allowed between a run and the same steps run one at a time (float64).
ONE_STEP_RTOL = 1e-9
#: Gauss–Hermite nodes per axis for a step's whole increment and for the rest of its noise (the
#: change to 20 and to 3 nodes is below 1e-3 of the weak error on the ring, docs/weak_mixture.md §3b).
NODES, ORTHOGONAL_NODES = 12, 3
#: Most re-runs of one step per path (the tensor rules grow as nodes^dimension).
MAX_NODES = 2 ** 16


@dataclass(frozen=True)
class Rules:
    """How a step's noise is integrated: ``nodes`` Gauss–Hermite nodes per axis for its whole
    increment; the rest either by ``orthogonal_nodes`` per axis (a tensor rule) or, with
    ``orthogonal_draws`` = M (even), by M antithetic draws per path and step (unbiased, no rule
    error; docs/weak_mixture.md §5b). :meth:`coarser` is the rule whose change bounds the error:
    4 fewer increment nodes, and one fewer orthogonal node or the same draws."""

    nodes: int = NODES
    orthogonal_nodes: int = ORTHOGONAL_NODES
    orthogonal_draws: int | None = None

    def __post_init__(self):
        for name in ("nodes", "orthogonal_nodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        m = self.orthogonal_draws
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 2 or m % 2):
            raise ValueError(f"orthogonal_draws must be None or an even int >= 2, got {m!r}")

    def coarser(self) -> "Rules":
        if self.nodes <= 4:
            raise ValueError(f"nodes must exceed 4 for a coarser rule, got {self.nodes}")
        return Rules(self.nodes - 4, max(1, self.orthogonal_nodes - 1), self.orthogonal_draws)

    def describe(self) -> str:
        rest = (f"{self.orthogonal_draws} antithetic draws per path and step" if self.orthogonal_draws
                else f"{self.orthogonal_nodes} nodes per axis")
        return f"Gauss-Hermite, {self.nodes} nodes per axis for a step's increment, {rest} for the rest"


RULES = Rules()
"""The default rules (12 increment nodes, a 3-node tensor rule for the rest)."""

#: The coarser rules whose change of the estimate a study records as the rules' error.
COARSER = {"nodes": RULES.coarser().nodes, "orthogonal_nodes": RULES.coarser().orthogonal_nodes}


def _check_rule_size(size: int, what: str) -> None:
    if size > MAX_NODES:
        raise ValueError(f"the conditional estimate's tensor rules would re-run each step {size:.3g} times per "
                         f"path ({what}; at most {MAX_NODES}): they are for low-dimensional problems such as "
                         f"the 2-D ring")


class ConditionalLaw:
    """u(σ̃, y) = E[φ(Y_end) | Y_σ̃ = y] for a Gaussian mixture (α = 1 coordinates).

    Given component k, Y_end ~ N(μ_k, S_k), S_k = Σ_k + σ̃_end² I, and Y_σ̃ = Y_end + τ ε with
    τ² = σ̃² − σ̃_end²; so Y_end | (Y_σ̃ = y, k) is Gaussian with mean μ_k + S_k(S_k + τ² I)⁻¹(y − μ_k)
    and covariance τ² S_k(S_k + τ² I)⁻¹, and P(k | Y_σ̃ = y) is the responsibility r_k(y, σ̃). The
    responsibilities at σ̃_end average to r_k(y, σ̃) (the component is the same latent variable).
    φ is ordered as ``shards.weak_statistics``: y, the upper triangle of y yᵀ, then the
    responsibilities when ``responsibilities``.
    """

    def __init__(self, problem, sigma_end: float, responsibilities: bool | None = None):
        comp = getattr(problem, "_components", None)
        if comp is None:
            raise TypeError(f"the conditional law needs a problem with Gaussian components, got "
                            f"{type(problem).__name__}")
        self.mu = torch.as_tensor(comp.means, dtype=torch.float64)
        self.ev = torch.as_tensor(comp.variances, dtype=torch.float64)
        self.vec = torch.as_tensor(comp.eigenvectors, dtype=torch.float64)
        weights = getattr(problem, "weights", None)
        self.log_w = torch.as_tensor(np.log(np.ones(1) if weights is None else weights), dtype=torch.float64)
        self.sigma_end = float(sigma_end)
        self.responsibilities = hasattr(problem, "responsibilities") if responsibilities is None else responsibilities
        d = self.mu.shape[1]
        self.iu = torch.triu_indices(d, d)

    def __call__(self, y: torch.Tensor, sigma: float) -> torch.Tensor:
        """u(σ̃, y) for a batch y (..., d), float64 (..., q)."""
        sigma = float(sigma)
        if not sigma >= self.sigma_end:
            raise ValueError(f"sigma must be >= sigma_end={self.sigma_end!r}, got {sigma!r}")
        y = y.to(torch.float64)
        if self.mu.device != y.device:  # the law follows the states' device
            self.mu, self.ev, self.vec, self.log_w, self.iu = (
                t.to(y.device) for t in (self.mu, self.ev, self.vec, self.log_w, self.iu))
        zeta = torch.einsum("kji,...kj->...ki", self.vec, y[..., None, :] - self.mu)
        total = self.ev + sigma * sigma
        log_n = -0.5 * ((zeta * zeta / total).sum(-1) + torch.log(total).sum(-1))
        r = torch.softmax(self.log_w + log_n, dim=-1)
        shrink = (self.ev + self.sigma_end ** 2) / total
        means = self.mu + torch.einsum("kij,...kj->...ki", self.vec, shrink * zeta)
        covs = torch.einsum("kij,kj,klj->kil", self.vec, (sigma * sigma - self.sigma_end ** 2) * shrink, self.vec)
        first = (r[..., None] * means).sum(-2)
        second = torch.einsum("...k,kil->...il", r, covs) + torch.einsum("...k,...ki,...kl->...il", r, means, means)
        parts = [first, second[..., self.iu[0], self.iu[1]]] + ([r] if self.responsibilities else [])
        return torch.cat(parts, dim=-1)


def gauss_hermite(nodes: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensor Gauss–Hermite rule for N(0, I_dim): (points (nodes^dim, dim), weights summing to 1)."""
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise ValueError(f"nodes must be a positive int, got {nodes!r}")
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    weights = np.prod(np.stack(np.meshgrid(*([w] * dim), indexing="ij"), -1).reshape(-1, dim), axis=-1)
    return torch.as_tensor(np.stack(grids, -1).reshape(-1, dim)), torch.as_tensor(weights)


class _Recorder:
    """A noise source that answers from ``path`` and records the queries (λ_a, λ_b, k) in order."""

    def __init__(self, path):
        self.path, self.queries = path, []

    def __call__(self, lam_a, lam_b, k):
        self.queries.append((float(lam_a), float(lam_b), float(k)))
        return self.path(lam_a, lam_b, k)


class _NodeSource:
    """The noise of a re-run at the rules' nodes: the queries of the step (keyed (λ_a, λ_b, k)) get
    their values at the nodes; queries ending by ``before`` (a replay from the start) get the
    path's values, each path's repeated for its ``repeat`` nodes."""

    def __init__(self, values, path=None, before=None, rows=slice(None), repeat=1):
        self.values, self.path, self.before, self.rows, self.repeat = values, path, before, rows, repeat

    def __call__(self, lam_a, lam_b, k):
        key = (float(lam_a), float(lam_b), float(k))
        if key in self.values:
            return self.values[key]
        if self.path is not None and _ends_by(key[1], self.before):
            return self.path(lam_a, lam_b, k)[self.rows].repeat_interleave(self.repeat, dim=0)
        raise ValueError(f"the sampler asked for noise over λ in ({key[0]:.6g}, {key[1]:.6g}) when its step was "
                         "re-run, which its recorded run of the step did not ask for: its noise reads depend on "
                         "its state")


class _Replay:
    """The path's answers to the queries of a replay, kept by (λ_a, λ_b, k) for the chunks of one
    step (the path answers for all its rows; each chunk takes its own)."""

    def __init__(self, path):
        self.path, self.values = path, {}

    def __call__(self, lam_a, lam_b, k):
        key = (float(lam_a), float(lam_b), float(k))
        if key not in self.values:
            self.values[key] = self.path(lam_a, lam_b, k)
        return self.values[key]


def _ends_by(lam: float, edge: float) -> bool:
    """Whether λ lies at or before the grid point ``edge`` (to the rounding of σ = e^{−λ} round trips)."""
    return lam <= edge + 1e-9 * max(1.0, abs(edge))


def _unit_weights(cells: np.ndarray, a: float, b: float, k: float) -> np.ndarray:
    """w with z_k(a, b) = Σ_c w_c z_c over the cells of ``cells`` (a, b among its points)."""
    eye = torch.eye(cells.size - 1, dtype=torch.float64)
    return coarsen_increments(eye, cells, [a, b], k)[0].numpy()


def _orthonormal_complement(v: torch.Tensor) -> torch.Tensor:
    """(C, C − 1): an orthonormal basis of the vectors orthogonal to the unit vector v."""
    c = v.shape[0]
    q, _ = torch.linalg.qr(torch.cat([v[:, None], torch.eye(c, dtype=v.dtype)], dim=1))
    return q[:, 1:c]


def _draws(seed: int, steps: int, n: int, shape) -> torch.Tensor:
    """Standard normals for the rest of step ``n``'s noise on the grid of ``steps`` steps, from a
    generator seeded by (seed, steps, n) alone (float64, on the CPU)."""
    digest = hashlib.blake2b(f"{seed}:{steps}:{n}".encode(), digest_size=8, person=b"RestDraws").digest()
    gen = torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)
    return torch.randn(shape, generator=gen, dtype=torch.float64)


def _conditional_step(subject, setup, start, grid, queries, law, sigma_next, rules, chunk, path=None, draws=None):
    """Q̂_n for the paths re-run from ``start`` (P, d) over ``grid``: the step that ends it, whose
    recorded noise ``queries`` are increments of one weight exponent, at the nodes of the two rules
    (module docstring); ``path`` answers the queries before the step (a replay from the start).
    ``draws`` = (seed, steps, n, M): the rest of the noise at M antithetic draws per path
    (:func:`_draws`) instead of the orthogonal rule."""
    points, weights, orthogonal = rules
    ks = {q[2] for q in queries}
    if len(ks) != 1:
        raise ValueError(f"a step's noise queries use several weight exponents {sorted(ks)}; the "
                         "conditional estimate needs one")
    k = ks.pop()
    cells = np.unique(np.array([q[:2] for q in queries], dtype=np.float64))
    v = torch.as_tensor(_unit_weights(cells, cells[0], cells[-1], k))  # (C,), |v| = 1
    query_w = torch.as_tensor(np.stack([_unit_weights(cells, a, b, k) for a, b, _ in queries]))  # (J, C)
    c, d = v.shape[0], start.shape[-1]
    if c > 1 and draws is not None:
        # Each path's own M antithetic draws of the rest × the increment's nodes: weights w_q / M.
        seed, steps, n, m_draws = draws
        normals = _draws(seed, steps, n, (start.shape[0], m_draws // 2, (c - 1) * d))
        basis = _orthonormal_complement(v)  # (C, C − 1)
        step = points.to(torch.float64)[:, None, :] * v[None, :, None]  # (Q, C, d)
        node_w = (weights[None, :] / m_draws).expand(m_draws, -1).reshape(-1)

        def chunk_values(lo, hi):  # (J, paths·M·Q, d)
            eta = normals[lo:hi].reshape(hi - lo, -1, c - 1, d)
            rest = torch.einsum("cm,pkmd->pkcd", basis, torch.cat([eta, -eta], dim=1))  # (p, M, C, d)
            at = rest[:, :, None] + step[None, None]  # (p, M, Q, C, d)
            return torch.einsum("jc,pmqcd->jpmqd", query_w, at).reshape(len(queries), -1, d).to(start.device)
    else:
        if c > 1:  # the orthogonal part at the nodes of its rule: (O, C, d) and weights (O,)
            _check_rule_size(points.shape[0] * orthogonal ** ((c - 1) * d),
                             f"{orthogonal} nodes in {(c - 1) * d} more dimensions for {c} noise cells")
            o_points, o_weights = gauss_hermite(orthogonal, (c - 1) * d)
            parts = torch.einsum("cm,omd->ocd", _orthonormal_complement(v), o_points.reshape(-1, c - 1, d))
        else:
            parts, o_weights = torch.zeros((1, 1, d), dtype=torch.float64), torch.ones(1, dtype=torch.float64)
        step = points.to(torch.float64)[None, :, :] * v[:, None, None]  # (C, Q, d)
        nodes = (parts[:, :, None, :] + step[None]).permute(1, 0, 2, 3).reshape(c, -1, d)  # (C, O·Q, d)
        node_w = (o_weights[:, None] * weights[None, :]).reshape(-1)
        values = torch.einsum("jc,cnd->jnd", query_w, nodes).to(start.device)  # each query at each node

        def chunk_values(lo, hi):  # the same nodes for every path
            return values.repeat(1, hi - lo, 1)

    node_w = node_w.to(start.device)
    m = node_w.shape[0]
    if path is not None:  # the replayed noise: each query read once for all paths, sliced per chunk
        path = _Replay(path)
    out = []
    for lo in range(0, start.shape[0], chunk):
        hi = min(start.shape[0], lo + chunk)
        at_nodes = chunk_values(lo, hi)
        source = _NodeSource({q: at_nodes[j] for j, q in enumerate(queries)}, path, float(grid[-2]), slice(lo, hi),
                             m)
        finals = subject.run(setup, start[lo:hi].repeat_interleave(m, dim=0), grid, source, setup.eta)
        u = law(finals.to(torch.float64), sigma_next).reshape(hi - lo, m, -1)
        out.append(torch.einsum("n,pns->ps", node_w, u))
    return torch.cat(out)


def _steps_alone(subject, setup, y0, lam, path):
    """States and per-step noise queries of the run step by step, or None when the run with the
    steps one at a time differs from the whole run by more than :data:`ONE_STEP_RTOL`."""
    states, queries = [y0.to(torch.float64)], []
    for n in range(lam.size - 1):
        recorder = _Recorder(path)
        states.append(subject.run(setup, states[-1], lam[n:n + 2], recorder, setup.eta).to(torch.float64))
        queries.append(recorder.queries)
    whole = subject.run(setup, states[0], lam, path, setup.eta).to(torch.float64)
    gap = float((whole - states[-1]).abs().max())
    return (states, queries) if gap <= ONE_STEP_RTOL * (float(whole.abs().max()) + 1.0) else None


def _runs_from_start(subject, setup, y0, lam, path):
    """States of the runs of the first m steps from ``y0`` and, per step, the noise queries of
    that run that lie inside the step (ValueError for one that straddles the step's start)."""
    states, queries = [y0.to(torch.float64)], []
    for n in range(lam.size - 1):
        recorder = _Recorder(path)
        states.append(subject.run(setup, states[0], lam[:n + 2], recorder, setup.eta).to(torch.float64))
        inside = [q for q in recorder.queries if not _ends_by(q[1], lam[n])]
        for a, b, _ in inside:
            if not _ends_by(lam[n], a):
                raise ValueError(f"the sampler reads noise over λ in ({a:.6g}, {b:.6g}), across the start "
                                 f"{lam[n]:.6g} of step {n}: its local weak errors are not defined")
        queries.append(inside)
    return states, queries


RESTARTS = ("auto", "state", "start")


def local_weak_errors(subject, setup, y0: torch.Tensor, steps: int, path, *, nodes: int = NODES,
                      orthogonal_nodes: int = ORTHOGONAL_NODES, law: ConditionalLaw | None = None,
                      chunk: int = 128, restart: str = "auto", orthogonal_draws: int | None = None,
                      draw_seed: int = 0) -> np.ndarray:
    """Per path the sum of the local weak errors of ``subject`` on the study grid of ``steps``
    steps (module docstring): an array (paths, q) whose mean estimates E φ(Y_N) − E φ(Y_end).

    ``setup`` is a study setup (``setup.grids``, ``sigma_end``, ``eta``, ``problem``), ``y0``
    exact draws at σ̃_start in α = 1 coordinates, ``path`` the study's Brownian path. The step's
    whole increment is integrated with ``nodes`` Gauss–Hermite nodes per axis, the rest with
    ``orthogonal_nodes`` (a step re-runs ``nodes^d · orthogonal_nodes^((C−1)d)`` times per path,
    C the cells of its noise, d the dimension) or, with ``orthogonal_draws`` = M (even), by M
    antithetic draws per path and step, seeded by (``draw_seed``, steps, step index) alone
    (``nodes^d · M`` re-runs; unbiased, :class:`Rules`); ``chunk`` paths are re-run at once.

    ``restart``: ``"state"`` re-runs each step from its state (ValueError when the subject is
    not one-step: its run differs from its steps run one by one by more than
    :data:`ONE_STEP_RTOL`); ``"start"`` re-runs the first n + 1 steps from ``y0`` with the
    earlier noise replayed (any sampler; about steps/2 times the cost); ``"auto"`` the first
    where it applies. ValueError when a step mixes weight exponents, a noise query straddles a
    step's start, or a re-run asks for noise its recorded run did not.
    """
    for value, name in ((nodes, "nodes"), (orthogonal_nodes, "orthogonal_nodes"), (chunk, "chunk")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if restart not in RESTARTS:
        raise ValueError(f"restart must be one of {RESTARTS}, got {restart!r}")
    Rules(nodes, orthogonal_nodes, orthogonal_draws)  # checks orthogonal_draws
    _check_rule_size(nodes ** y0.shape[-1] * (orthogonal_draws or 1),
                     f"{nodes} nodes in {y0.shape[-1]} dimensions" + (f" × {orthogonal_draws} draws"
                                                                      if orthogonal_draws else ""))
    lam = np.asarray(setup.grids[steps], dtype=np.float64)
    law = ConditionalLaw(setup.problem, setup.sigma_end) if law is None else law
    sigmas = np.exp(-lam)
    sigmas[-1] = setup.sigma_end
    alone = None if restart == "start" else _steps_alone(subject, setup, y0, lam, path)
    if alone is None and restart == "state":
        raise ValueError(f"{getattr(subject, 'label', 'the sampler')} is not a one-step sampler: its run of "
                         f"{steps} steps differs from its steps run one at a time by more than "
                         f"{ONE_STEP_RTOL:g} (relative); restart='start' re-runs it from the start")
    states, queries = alone if alone is not None else _runs_from_start(subject, setup, y0, lam, path)
    rules = (*gauss_hermite(nodes, y0.shape[-1]), orthogonal_nodes)
    total = torch.zeros((y0.shape[0], law(states[0][:1], sigmas[0]).shape[-1]), dtype=torch.float64,
                        device=y0.device)
    for n in range(steps):
        if queries[n]:
            start, grid, before = ((states[n], lam[n:n + 2], None) if alone is not None
                                   else (states[0], lam[:n + 2], path))
            draws = None if orthogonal_draws is None else (int(draw_seed), steps, n, orthogonal_draws)
            q = _conditional_step(subject, setup, start, grid, queries[n], law, sigmas[n + 1], rules, chunk, before,
                                  draws)
        else:  # a step that draws no noise: its next state is its conditional mean
            q = law(states[n + 1], sigmas[n + 1])
        total += q - law(states[n], sigmas[n])
    return total.cpu().numpy()
