"""Exact mean and covariance of any solver on a linear problem, by affine probes (MATH §8).

On a problem with an affine denoiser (Gaussian data, a point mass) one step of every solver here
is affine in its state x and in the normalised increments z_1, …, z_J it draws:

    x' = M x + c + Σ_j B_j z_j.

The maps are read off by running the solver for ONE step (the two-point grid [λ_n, λ_{n+1}]) on a
batch of probe rows, without looking at its coefficients:

* row ``0``: x = 0 with every z = 0                           → c;
* rows ``1 + i``: x = e_i, z = 0                               → M e_i + c;
* rows ``1 + d + j·d + i``: x = 0, call j returns e_i there     → c + B_j e_i;
* the last row: x and every z random                           → checks the affine model.

The z_j of one step are independent standard normals (increments over disjoint segments, MATH §4)
and independent of x, so the law N(m, P) of x goes to

    m' = M m + c,    P' = M P Mᵀ + Σ_j B_j B_jᵀ

exactly: no Monte Carlo noise. A solver whose output is not such a function of (x, its noise
source) — e.g. one that draws numbers from a generator of its own — fails the check row and is
reported through :class:`NotAffineError`.

Whole runs (:func:`probe_trajectory`, what the weak study uses for every sampler). A multistep
sampler's step depends on earlier model outputs, so it cannot be probed one step at a time; but
its whole run is still affine in (y_0, z_1, …, z_J), with J the noise calls of the run:

    y_N = M y_0 + c + Σ_j B_j z_j,   m' = M m + c,   P' = M P Mᵀ + Σ_ij C_ij B_i B_jᵀ,

read off one run on 2 + d + J·d probe rows. C is the correlation of the increments on one
Brownian path (:func:`increment_correlation`): the identity for calls on disjoint intervals, and
exact for nested or overlapping ones (k-diffusion's ``sample_dpmpp_sde`` asks for z over
(σ_i, σ_s) and over (σ_i, σ_{i+1})).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

__all__ = ["AffineStep", "NotAffineError", "probe_step", "propagate_moments", "MAX_NOISE_CALLS",
           "AffineTrajectory", "probe_trajectory", "increment_correlation"]

MAX_NOISE_CALLS = 8  # noise calls per step the probe batch has rows for (SEEDS-3 makes 3)


class NotAffineError(RuntimeError):
    """The solver's step is not an affine function of (x, the increments of its noise source)."""


@dataclass(frozen=True)
class AffineStep:
    """x' = M x + c + Σ_j B_j z_j for one step (float64 numpy arrays)."""

    M: np.ndarray
    c: np.ndarray
    B: tuple[np.ndarray, ...]
    check_residual: float


def probe_step(solver, model, lam_pair, *, schedule, eta: float, prediction: str, dim: int,
               dtype: torch.dtype = torch.float64, device=None, seed: int = 0) -> AffineStep:
    """The affine map of one step of ``solver`` over ``lam_pair`` = (λ_n, λ_{n+1}) (module docstring)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    d = dim
    noise_rows = MAX_NOISE_CALLS * d
    rows = 2 + d + noise_rows
    check = rows - 1
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    x = torch.zeros((rows, d), dtype=dtype)
    x[1:1 + d] = torch.eye(d, dtype=dtype)
    x[check] = torch.randn(d, generator=gen, dtype=torch.float64).to(dtype)
    check_noise = torch.randn((MAX_NOISE_CALLS, d), generator=gen, dtype=torch.float64).to(dtype)
    x = x.to(device)
    calls = []

    def probe(lam_a, lam_b, k):
        j = len(calls)
        if j >= MAX_NOISE_CALLS:
            raise NotAffineError(f"more than {MAX_NOISE_CALLS} noise calls in one step")
        calls.append((lam_a, lam_b, k))
        z = torch.zeros((rows, d), dtype=dtype)
        start = 1 + d + j * d
        z[start:start + d] = torch.eye(d, dtype=dtype)
        z[check] = check_noise[j]
        return z.to(device)

    out = solver.solve(model, x, list(lam_pair), schedule=schedule, noise=probe, eta=eta,
                       prediction=prediction).to(torch.float64).cpu().numpy()
    c = out[0]
    M = (out[1:1 + d] - c).T
    B = tuple((out[1 + d + j * d: 1 + d + (j + 1) * d] - c).T for j in range(len(calls)))
    predicted = M @ x[check].double().cpu().numpy() + c
    for j, b in enumerate(B):
        predicted = predicted + b @ check_noise[j].double().numpy()
    scale = 1.0 + np.abs(out).max()
    residual = float(np.abs(predicted - out[check]).max() / scale)
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    if not residual <= tol:
        raise NotAffineError(
            f"{getattr(solver, 'name', solver)}: the step is not an affine function of (x, z) from its "
            f"noise source (relative residual {residual:.2e} > {tol:.0e}); its law cannot be propagated")
    return AffineStep(M, c, B, residual)


def propagate_moments(solver, model, lambdas, mean, cov, *, schedule, eta: float, prediction: str,
                      dtype: torch.dtype = torch.float64, device=None, seed: int = 0):
    """Exact (mean, covariance) of the solver's output on the grid, from x ~ N(mean, cov).

    Returns float64 numpy arrays; see the module docstring for the recursion.
    """
    m = np.asarray(mean, dtype=np.float64).copy()
    P = np.asarray(cov, dtype=np.float64).copy()
    dim = m.size
    lam = np.asarray(lambdas, dtype=np.float64)
    for n in range(lam.size - 1):
        step = probe_step(solver, model, (lam[n], lam[n + 1]), schedule=schedule, eta=eta,
                          prediction=prediction, dim=dim, dtype=dtype, device=device, seed=seed + n)
        m = step.M @ m + step.c
        P = step.M @ P @ step.M.T
        for b in step.B:
            P = P + b @ b.T
        P = 0.5 * (P + P.T)
    return m, P


# --------------------------------------------------------------------------------------------
# Whole trajectories: any sampler, single-step or multistep, as a black box
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AffineTrajectory:
    """y_N = M y_0 + c + Σ_j B_j z_j over a whole grid, with the noise calls that made the z_j.

    ``calls`` holds (λ_a, λ_b, k) of every noise call, in order; ``noise_cov`` is the correlation
    matrix of the z_j on one Brownian path (identity when the intervals are disjoint).
    """

    M: np.ndarray
    c: np.ndarray
    B: tuple[np.ndarray, ...]
    calls: tuple[tuple[float, float, float], ...]
    noise_cov: np.ndarray
    check_residual: float

    def moments(self, mean, cov) -> tuple[np.ndarray, np.ndarray]:
        """(mean, covariance) of y_N for y_0 ~ N(mean, cov) independent of the path:
        m' = M m + c, P' = M P Mᵀ + Σ_ij C_ij B_i B_jᵀ."""
        m = self.M @ np.asarray(mean, dtype=np.float64) + self.c
        P = self.M @ np.asarray(cov, dtype=np.float64) @ self.M.T
        C = self.noise_cov
        for i, bi in enumerate(self.B):
            P = P + bi @ bi.T
            for j in np.nonzero(C[i, i + 1:])[0] + i + 1:
                cross = C[i, j] * (bi @ self.B[j].T)
                P = P + cross + cross.T
        return m, 0.5 * (P + P.T)


def increment_correlation(calls) -> np.ndarray:
    """Correlation of the normalised weighted increments z_{k_i}(a_i, b_i) of one Brownian path
    (MATH §4): ∫_{overlap} e^{(k_i+k_j)λ} dλ / sqrt(∫_i e^{2k_iλ} ∫_j e^{2k_jλ}); 0 for disjoint
    intervals, 1 on the diagonal."""
    from ..coefficients import phi

    n = len(calls)
    C = np.eye(n)
    if n < 2:
        return C
    order = sorted(range(n), key=lambda i: calls[i][0])
    for pos, i in enumerate(order):
        a_i, b_i, k_i = calls[i]
        for j in order[pos + 1:]:
            a_j, b_j, k_j = calls[j]
            if a_j >= b_i:
                break
            lo, hi = max(a_i, a_j), min(b_i, b_j)
            if hi <= lo:
                continue

            def integral(a, b, k, ref):  # ∫_a^b e^{2k(λ−ref)} dλ, stable for small k(b−a)
                return (b - a) * math.exp(2 * k * (a - ref)) * float(phi(1, 2 * k * (b - a)))

            ref = lo
            cross = (hi - lo) * math.exp((k_i + k_j) * (lo - ref)) * float(phi(1, (k_i + k_j) * (hi - lo)))
            C[i, j] = C[j, i] = cross / math.sqrt(integral(a_i, b_i, k_i, ref) * integral(a_j, b_j, k_j, ref))
    return C


def probe_scales(twin: "AffineTrajectory") -> tuple[np.ndarray, np.ndarray]:
    """Probe sizes for a low-precision run, from its float64 twin: (per basis start, per call).

    A probe row's output is c + s·(its column of M or B_j); the column is read back as
    (output − c)/s. In a precision with unit roundoff u the output is rounded to ~u(|c| + s|col|),
    so a unit probe (s = 1) reads a small column to a relative error u|c|/|col|: the increments of a
    fine grid are O(√h) and their covariance, a sum over J calls, loses digits as J grows. Sizing
    each probe so that s|col| ≈ 1 + |c| reads every column to ~u relative, the rounding of the
    sampler itself. Sizes are powers of two (exact scaling) in [1, 2^20].
    """
    top = 1.0 + float(np.abs(twin.c).max())

    def size(col):
        m = float(np.abs(col).max())
        s = top / m if m > 0 else 1.0
        return float(2.0 ** np.clip(np.round(np.log2(s)), 0, 20))

    return (np.array([size(twin.M[:, i]) for i in range(twin.M.shape[1])]),
            np.array([size(b) for b in twin.B]))


def probe_trajectory(run: Callable, lambdas, *, dim: int, dtype: torch.dtype = torch.float64,
                     device=None, seed: int = 0, check_affine: bool = True,
                     scales: tuple[np.ndarray, np.ndarray] | None = None) -> AffineTrajectory:
    """The affine map of a whole run of any sampler on a problem with an affine denoiser.

    ``run(y, lambdas, noise)`` integrates a batch of starts y (rows) over the grid, calling
    ``noise(lam_a, lam_b, k)`` for its increments. A first run on two rows counts the noise calls
    J; the second runs the probe batch of the module docstring with 2 + d + J·d rows (basis starts,
    basis increments for every call, one random check row). A sampler whose output is not an
    affine function of (y, its noise) — one that draws numbers of its own, or changes its calls
    between runs — raises :class:`NotAffineError` (``check_affine=False`` skips the residual test: a
    low-precision run is affine only up to its rounding, and is checked through a float64 twin).
    ``scales`` (from :func:`probe_scales`) sizes the basis probes of a low-precision run.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    d = int(dim)
    counted: list = []

    def counting(lam_a, lam_b, k):
        counted.append((float(lam_a), float(lam_b), float(k)))
        return torch.zeros((2, d), dtype=dtype, device=device)

    run(torch.zeros((2, d), dtype=dtype, device=device), lambdas, counting)
    J = len(counted)
    rows = 2 + d + J * d
    check = rows - 1
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    start_scale, call_scale = (np.ones(d), None) if scales is None else scales
    if call_scale is not None and len(call_scale) != J:
        raise NotAffineError(f"the sampler made {J} noise calls, its float64 twin {len(call_scale)}")
    y = torch.zeros((rows, d), dtype=torch.float64)
    y[1:1 + d] = torch.diag(torch.as_tensor(start_scale, dtype=torch.float64))
    y[check] = torch.randn(d, generator=gen, dtype=torch.float64)
    check_noise = torch.randn((max(J, 1), d), generator=gen, dtype=torch.float64)
    calls: list = []

    def probe(lam_a, lam_b, k):
        j = len(calls)
        if j >= J:
            raise NotAffineError(f"the sampler made more noise calls ({j + 1}) than in an identical run ({J})")
        calls.append((float(lam_a), float(lam_b), float(k)))
        z = torch.zeros((rows, d), dtype=torch.float64)
        start = 1 + d + j * d
        z[start:start + d] = torch.eye(d, dtype=torch.float64) * (1.0 if call_scale is None else call_scale[j])
        z[check] = check_noise[j]
        return z.to(device=device, dtype=dtype)

    out = run(y.to(device=device, dtype=dtype), lambdas, probe).to(torch.float64).cpu().numpy()
    if not np.all(np.isfinite(out)):
        raise NotAffineError("non-finite output of the probe run: the sampler's output is not finite")
    if len(calls) != J or any(abs(a - b) > 0 for c1, c2 in zip(calls, counted) for a, b in zip(c1, c2)):
        raise NotAffineError("the sampler's noise calls differ between two runs on the same grid")
    c = out[0]
    M = (out[1:1 + d] - c).T / start_scale
    B = tuple((out[1 + d + j * d: 1 + d + (j + 1) * d] - c).T / (1.0 if call_scale is None else call_scale[j])
              for j in range(J))
    predicted = M @ y[check].numpy() + c
    for j, b in enumerate(B):
        predicted = predicted + b @ check_noise[j].numpy()
    scale = 1.0 + np.abs(out).max()
    residual = float(np.abs(predicted - out[check]).max() / scale)
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    if check_affine and not residual <= tol:
        raise NotAffineError(
            f"the output is not an affine function of (x, the noise_sampler values) (relative residual "
            f"{residual:.2e} > {tol:.0e}): the sampler draws noise of its own, so it is not path-consistent")
    return AffineTrajectory(M, c, B, tuple(calls), increment_correlation(calls), residual)
