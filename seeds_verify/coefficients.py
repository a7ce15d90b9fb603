"""Stable float64 numerics for every SEEDS coefficient (MATH §4–§7).

The symbolic module ``seeds_verify.analytic`` derives the coefficients; this module evaluates the
same constructions in float64 without losing digits, and the solvers use only these numbers.
``tests/test_coefficients_vs_analytic.py`` holds the two together.

One construction covers every scheme and both parametrisations. Over a step s → t with
h = λ_t − λ_s > 0, the model term of the exact solution at the point λ_s + c·h is
``∫_0^{ch} A_c e^{κ(ch−u)} F(λ_s + u) du`` with (MATH §4)

* data form  (F = D):  A_c = (1+η) α_c,   κ = −(1+η);
* noise form (F = ε̂):  A_c = −(1+η) σ_c,  κ = +1.

Replacing F by its polynomial interpolant ``Σ_n p_n vⁿ`` in v = u/(ch) gives
``A_c · ch · Σ_n p_n μ_n(κ ch)`` with the kernel moments ``μ_n(z) = ∫_0^1 e^{z(1−v)} vⁿ dv
= n! φ_{n+1}(z)`` (MATH §5). The noise of the exact solution at λ_b over a segment
[a, a'] ⊂ [λ_s, λ_b] is ``σ_b sqrt(2η ∫_a^{a'} e^{2k(λ−λ_b)} dλ) · z`` with weight exponent
k = η (data) or k = −1 (noise) and z the normalised weighted increment of MATH §4; written as
``σ_b sqrt(2η Δ φ_1(−2kΔ)) e^{−k(λ_b − a')}`` (Δ = a' − a) it never subtracts nearly equal
numbers (MATH §7).

In the noise form both the kernel e^{+(ch−u)} and the noise weights grow like e^{ch}: for a step
from σ = 1e100 to 1e-100 (h ≈ 460) e^{2h} overflows float64, for h ≳ 709 e^{h} does, although
the coefficients themselves are bounded (σ_c e^{ch} = α_c σ_s/α_s). ``discounted=True`` in
:func:`stage_kernel_weights` and :func:`noise_factor` returns the weights with that growth taken
out, for the solver to multiply by the bounded product.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

import torch

from .array_backends import NumpyOps, TorchOps
from .schemes import FORMS, check_form  # re-exported: the solvers validate their form here

__all__ = [
    "FORMS",
    "phi",
    "kernel_moments",
    "discounted_kernel_moments",
    "interpolation_matrix",
    "stage_kernel_weights",
    "model_scale",
    "kernel_rate",
    "linear_factor",
    "weight_exponent",
    "noise_factor",
    "check_form",
]

# Largest k for which the coefficient tables below are laid out; phi(k, z) works for any k >= 0.
_TAYLOR_TERMS = 40  # |z| <= 8 (positive side): terms z^n/(n+k)! are below 1e-17 of the sum by n = 40
_POSITIVE_SERIES_TERMS = 40  # 1 <= -z <= 4: terms (-z)^n/(n! (n+k)) are below 1e-17 of the sum by n = 40


# --------------------------------------------------------------------------------------------
# φ-functions
# --------------------------------------------------------------------------------------------


def _phi_core(k: int, z, ops):
    """φ_k on an array, picking per element the evaluation that keeps full precision.

    Regions (chosen by measuring every candidate against mpmath, see tests/test_coefficients.py):
    * z < −4:       upward recurrence φ_{j+1} = (φ_j − 1/j!)/z from φ_1 = expm1(z)/z — each step
                    shrinks earlier errors because |φ_j| < |z φ_{j+1}| there;
    * −4 ≤ z < −1:  φ_k(z) = e^z/(k−1)! Σ_n (−z)ⁿ/(n!(n+k)), a sum of positive terms
                    (from φ_k(z) = e^z ∫_0^1 e^{−τz} τ^{k−1}/(k−1)! dτ, MATH §5);
    * −1 ≤ z < 8:   Taylor series Σ_n zⁿ/(n+k)! by Horner (no cancellation for these z);
    * z ≥ 8:        upward recurrence (e^z dominates the subtracted 1/j!).
    """
    if k == 0:
        return ops.exp(z)
    zero = ops.zeros_like(z)
    one = zero + 1.0
    # Each branch is evaluated on inputs clamped into its own region so that no branch overflows
    # or divides by zero on elements it does not own.
    neg_far = ops.where(z < -4.0, z, -4.0 * one)
    pos_far = ops.where(z >= 8.0, z, 8.0 * one)
    mid_neg = ops.where((z >= -4.0) & (z < -1.0), z, -2.0 * one)
    near = ops.where((z >= -1.0) & (z < 8.0), z, zero)

    def recurrence(w):
        p = ops.expm1(w) / w
        for j in range(1, k):
            p = (p - 1.0 / math.factorial(j)) / w
        return p

    taylor = zero
    for n in range(_TAYLOR_TERMS, -1, -1):
        taylor = 1.0 / math.factorial(n + k) + near * taylor
    positive = zero
    for n in range(_POSITIVE_SERIES_TERMS, -1, -1):
        positive = 1.0 / (math.factorial(n) * (n + k)) - mid_neg * positive
    positive = ops.exp(mid_neg) * positive / math.factorial(k - 1)

    out = ops.where(z < -4.0, recurrence(neg_far), taylor)
    out = ops.where((z >= -4.0) & (z < -1.0), positive, out)
    out = ops.where(z >= 8.0, recurrence(pos_far), out)
    return out


def phi(k: int, z: Any):
    """φ_k(z) (MATH §5): φ_0 = e^z, φ_{k+1}(z) = (φ_k(z) − 1/k!)/z, φ_k(0) = 1/k!.

    Accepts a Python float (returns float), a numpy array or scalar (returns float64 numpy) or a
    torch tensor (returns a tensor of the same dtype and device; computed in float64 when the
    input is float64, in float32 otherwise, then rounded to the input's dtype). Relative error ≤ 4 ulp in float64
    for k ≤ 4 over z ∈ [−60, 60] (measured against mpmath in the test suite).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    k = int(k)
    if isinstance(z, (bool, np.bool_)):
        raise TypeError("z must be a real number, array or tensor, got bool")
    if isinstance(z, (int, float, np.floating, np.integer)):
        z = float(z)
        # Scalar fast paths with the same accuracy as the array branches (≤ 1 ulp measured).
        if k <= 1 and z < 700.0:
            if k == 0:
                return math.exp(z)
            return 1.0 if z == 0.0 else math.expm1(z) / z
        with np.errstate(all="ignore"):
            return float(_phi_core(k, np.asarray(float(z), dtype=np.float64), NumpyOps))
    if isinstance(z, np.ndarray):
        if not np.issubdtype(z.dtype, np.number) or np.iscomplexobj(z):
            raise TypeError(f"z must be a real array, got dtype {z.dtype}")
        with np.errstate(all="ignore"):
            return _phi_core(k, z.astype(np.float64), NumpyOps)
    if isinstance(z, torch.Tensor):
        if not torch.is_floating_point(z):
            z = z.to(torch.float64)
        if z.dtype in (torch.float16, torch.bfloat16):
            # Half precision has too few bits for the recurrences and Taylor sums themselves
            # (thousands of ulp near z = 18 in float16): evaluate in float32, round once.
            return _phi_core(k, z.to(torch.float32), TorchOps).to(z.dtype)
        return _phi_core(k, z, TorchOps)
    raise TypeError(f"z must be a float, numpy array or torch tensor, got {type(z).__name__}")


def kernel_moments(z: Any, n: int) -> list:
    """Kernel moments μ_j(z) = ∫_0^1 e^{z(1−v)} v^j dv = j! φ_{j+1}(z) for j = 0..n (MATH §5)."""
    return [math.factorial(j) * phi(j + 1, z) for j in range(n + 1)]


# Above this z the discounted moments e^{−z} μ_j(z) are j!/z^{j+1}: the neglected part,
# e^{−z} Σ_{i≤j} z^i/i! relative, is below 1e-250 for j ≤ 3; below it e^{z} stays under 1e261.
_DISCOUNT_ASYMPTOTIC = 600.0


def discounted_kernel_moments(z: Any, n: int) -> list:
    """ν_j(z) = e^{−z} μ_j(z) = ∫_0^1 e^{−zv} vʲ dv for j = 0..n, finite for every z ≥ 0.

    For z ≤ 600 the product e^{−z}·j! φ_{j+1}(z) (a few ulp); beyond, μ_j(z) would overflow
    and ν_j(z) = j!/z^{j+1} (1 − e^{−z} Σ_{i≤j} zⁱ/i!) equals j!/z^{j+1} to float64 precision.
    Floats give floats, arrays float64 arrays.
    """
    scalar = isinstance(z, (int, float, np.floating, np.integer)) and not isinstance(z, (bool, np.bool_))
    zz = np.asarray(z, dtype=np.float64)
    near = np.minimum(zz, _DISCOUNT_ASYMPTOTIC)
    far = np.maximum(zz, _DISCOUNT_ASYMPTOTIC)
    decay = np.exp(-near)
    out = []
    for j, mu in enumerate(kernel_moments(near, n)):
        nu = np.where(zz <= _DISCOUNT_ASYMPTOTIC, decay * mu, math.factorial(j) / far ** (j + 1))
        out.append(float(nu) if scalar else nu)
    return out


# --------------------------------------------------------------------------------------------
# Model weights
# --------------------------------------------------------------------------------------------


def interpolation_matrix(node_positions: Sequence[float]) -> np.ndarray:
    """Matrix P with p = P @ values: monomial coefficients of the interpolant through the nodes.

    The interpolating polynomial Σ_n p_n vⁿ through (v_j, values_j) has p = V⁻¹ values with the
    Vandermonde matrix V_{jn} = v_jⁿ. Nodes must be distinct.
    """
    v = np.asarray(node_positions, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError("node_positions must be a non-empty 1-D sequence")
    if np.unique(v).size != v.size:
        raise ValueError(f"node_positions must be distinct, got {v.tolist()}")
    vander = np.vander(v, increasing=True)
    return np.linalg.inv(vander)


def kernel_rate(form: str, eta: float) -> float:
    """κ of the model kernel e^{κ(ch−u)}: −(1+η) in the data form, +1 in the noise form (MATH §4)."""
    return -(1.0 + eta) if check_form(form) == "data" else 1.0


def model_scale(form: str, alpha_c, sigma_c, eta: float):
    """A_c of the model kernel: (1+η)α_c in the data form, −(1+η)σ_c in the noise form (MATH §4)."""
    return (1.0 + eta) * alpha_c if check_form(form) == "data" else -(1.0 + eta) * sigma_c


def stage_kernel_weights(c: float, h, eta: float, form: str, node_fractions: Sequence[float],
                         averaged: bool = False, *, discounted: bool = False) -> np.ndarray:
    """ω_j with model term at stage c equal to A_c · Σ_j ω_j F_j (MATH §6 derivation rule).

    ω_j = c h Σ_n μ_n(κ c h) P_{nj}, where P is the interpolation matrix for node positions
    v_j = c_j / c and μ_n the kernel moments; ``averaged=True`` uses μ_n ≈ μ_0/(n+1) (the
    "phi_1" variant: kernel mass times the mean of vⁿ). ``h`` may be a float or a 1-D array of
    step sizes; the result has shape (..., n_nodes).

    ``discounted=True`` returns e^{−κ⁺ c h} ω_j with κ⁺ = max(κ, 0): in the noise form
    (κ = +1) the moments are replaced by ν_n = e^{−ch} μ_n (:func:`discounted_kernel_moments`),
    so the weights stay finite however large ch is; the data form (κ < 0) is unchanged.
    """
    h_arr = np.asarray(h, dtype=np.float64)
    ch = c * h_arr
    z = kernel_rate(form, eta) * ch
    nodes = np.asarray(node_fractions, dtype=np.float64) / c
    p = interpolation_matrix(nodes)
    n = len(nodes) - 1
    discount = discounted and kernel_rate(form, eta) > 0.0
    if averaged:
        mu0 = discounted_kernel_moments(z, 0)[0] if discount else phi(1, z)
        moments = [mu0 / (j + 1) for j in range(n + 1)]
    elif discount:
        moments = discounted_kernel_moments(z, n)
    else:
        moments = kernel_moments(z, n)
    mu = np.stack([np.asarray(m, dtype=np.float64) for m in moments], axis=-1)  # (..., n+1)
    return ch[..., None] * (mu @ p)


# --------------------------------------------------------------------------------------------
# Linear factors and noise
# --------------------------------------------------------------------------------------------


def linear_factor(form: str, alpha_s, sigma_s, alpha_c, sigma_c, eta: float, ch):
    """Transition of the linear part from λ_s to λ_s + ch (MATH §4, §6).

    data: (σ_c/σ_s) e^{−η c h};  noise: α_c/α_s.
    """
    if check_form(form) == "data":
        return (sigma_c / sigma_s) * np.exp(-eta * np.asarray(ch, dtype=np.float64))
    return alpha_c / alpha_s


def weight_exponent(form: str, eta: float) -> float:
    """Weight exponent k of the stochastic integral ∫ e^{kλ} dW (MATH §4): η (data), −1 (noise)."""
    return float(eta) if check_form(form) == "data" else -1.0


def noise_factor(fractions: Sequence[float], h, eta: float, form: str, *,
                 discounted: bool = False) -> np.ndarray:
    """Lower-triangular factor F with N_i = σ_i Σ_{j≤i} F_ij z_j (MATH §7).

    ``fractions`` are the points c_1 ≤ … ≤ c_m (end point included) and segment j is
    [c_{j−1}h, c_j h] with c_0 = 0; z_j is the normalised weighted increment over segment j
    with weight exponent k = ``weight_exponent(form, eta)``. Each entry depends on both c_i and
    c_j: F_ij = sqrt(2η Δ_j h φ_1(−2kΔ_j h)) · e^{−k(c_i − c_j)h}, Δ_j = c_j − c_{j−1}.
    Squared, this is e^{−2η(c_i−c_j)h} − e^{−2η(c_i−c_{j−1})h} (data) and
    η(e^{2(c_i−c_{j−1})h} − e^{2(c_i−c_j)h}) (noise), as in MATH §7. Two equal consecutive
    fractions give a segment of zero length, whose column is exactly 0 (Δ_j = 0). ``h`` may be
    a float or a 1-D array; the result has shape (..., m, m).

    ``discounted=True`` returns e^{k⁻ c_i h} F_ij with k⁻ = min(k, 0): in the noise form
    (k = −1) that is sqrt(2η Δ_j h φ_1(−2Δ_j h)) e^{−c_{j−1} h} for j ≤ i — no e^{2Δh} that
    could overflow (φ_1(2x) = e^{2x} φ_1(−2x)); the data form (k ≥ 0) is unchanged.
    """
    c = np.asarray(fractions, dtype=np.float64)
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)) or np.any(np.diff(c) < 0) \
            or c[0] <= 0 or c[-1] > 1:
        raise ValueError(f"fractions must be non-decreasing in (0, 1], got {list(fractions)}")
    k = weight_exponent(form, eta)
    h_arr = np.asarray(h, dtype=np.float64)[..., None]
    delta = np.diff(np.concatenate([[0.0], c]))  # (m,)
    gap = c[:, None] - c[None, :]  # (i, j): c_i − c_j
    lower = gap >= 0
    if discounted and k < 0.0:
        start = np.concatenate([[0.0], c[:-1]])  # c_{j−1}
        seg = np.sqrt(2.0 * eta * delta * h_arr * phi(1, 2.0 * k * delta * h_arr)) \
            * np.exp(k * start * h_arr)  # (..., m)
        return np.where(lower, seg[..., None, :], 0.0) * np.ones_like(h_arr)[..., None]
    seg = np.sqrt(2.0 * eta * delta * h_arr * phi(1, -2.0 * k * delta * h_arr))  # (..., m)
    decay = np.exp(-k * np.where(lower, gap, 0.0) * h_arr[..., None])  # (..., m, m)
    return np.where(lower, seg[..., None, :] * decay, 0.0)
