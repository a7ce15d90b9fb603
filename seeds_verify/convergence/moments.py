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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["AffineStep", "NotAffineError", "probe_step", "propagate_moments", "MAX_NOISE_CALLS"]

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
