"""φ-functions and noise factors in the precisions samplers run in (float32, float16, bfloat16).

A float32 (or half-precision) run uses two kinds of coefficient: the solvers' float64 numbers
rounded once to the state's dtype when they multiply a tensor, and ``coefficients.phi`` on a
tensor of that dtype. Both are compared with mpmath rounded to the dtype, over a sweep that
includes z (or h) down to 1e-30, where the naive formulas lose every digit.
"""

import math

import mpmath as mp
import numpy as np
import pytest
import torch

from seeds_verify import coefficients as C

LOW = (torch.float32, torch.float16, torch.bfloat16)
SWEEP = np.concatenate([-np.logspace(-30, math.log10(60.0), 121), np.logspace(-30, math.log10(60.0), 121),
                        [0.0]])
_INT = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}


def ulps(actual: torch.Tensor, desired: torch.Tensor) -> torch.Tensor:
    """Representable floats of the tensors' dtype from ``desired`` to ``actual``: the bit patterns
    as integers in the order of the floats (sign-magnitude mapped so ±0 meet)."""
    assert actual.dtype == desired.dtype and actual.shape == desired.shape

    def ordered(x):
        bits = x.contiguous().view(_INT[x.dtype]).to(torch.int64)
        width = 8 * x.element_size()
        magnitude = bits & ((1 << (width - 1)) - 1)
        return torch.where(bits < 0, -magnitude, magnitude)

    return (ordered(actual) - ordered(desired)).abs()


def phi_exact(k: int, z: float) -> mp.mpf:
    """φ_k(z) = Σ_n zⁿ/(n+k)! for |z| < 1 (no cancellation at any z), the closed form of MATH §5
    with 60 digits beyond."""
    with mp.workdps(60):
        zz = mp.mpf(z)
        if abs(zz) < 1:
            return mp.nsum(lambda n: zz ** n / mp.factorial(n + k), [0, mp.inf])
        return (mp.e ** zz - sum(zz ** n / mp.factorial(n) for n in range(k))) / zz ** k


def rounded(values, dtype) -> torch.Tensor:
    """mpmath values → float64 (exact to ~1e-16 relative) → ``dtype``: correctly rounded except
    where the float64 value sits within 1e-16 of a tie of ``dtype`` (never in these sweeps)."""
    return torch.tensor([float(v) for v in values], dtype=torch.float64).to(dtype)


@pytest.mark.parametrize("dtype", LOW, ids=str)
@pytest.mark.parametrize("k", range(5))
def test_phi_on_low_precision_tensors(k, dtype):
    z = torch.tensor(SWEEP, dtype=torch.float64).to(dtype)  # the arguments as the dtype holds them
    ref = rounded([phi_exact(k, float(v)) for v in z.double()], dtype)
    got = C.phi(k, z)
    assert got.dtype == dtype
    ok = torch.isfinite(ref)
    assert torch.equal(torch.isfinite(got), ok)
    # float32: the float64 bound of 4 ulp carried over; half precision is evaluated in float32
    # and rounded once, so it is within 1 ulp of the correctly rounded value.
    bound = 4 if dtype == torch.float32 else 1
    err = ulps(got[ok], ref[ok])
    assert int(err.max()) <= bound, f"{int(err.max())} ulp at z={float(z[ok][int(err.argmax())])}"


@pytest.mark.parametrize("dtype", LOW, ids=str)
@pytest.mark.parametrize("k", range(1, 5))
def test_float64_phi_rounded_once_is_the_rounded_truth(k, dtype):
    """What a low-precision run multiplies by: the float64 φ rounded to the dtype (≤ 1 ulp)."""
    ref = rounded([phi_exact(k, z) for z in SWEEP], dtype)
    got = torch.tensor(C.phi(k, SWEEP), dtype=torch.float64).to(dtype)
    assert int(ulps(got, ref).max()) <= 1


def test_naive_phi1_in_float32_loses_every_digit_at_tiny_z():
    """(e^z − 1)/z in float32 is 0 or 2^k-garbage below z ~ 1e-7; φ_1 stays at 1 ulp."""
    z = torch.tensor([1e-8, 1e-12, 1e-20, -1e-9], dtype=torch.float32)
    naive = (torch.exp(z) - 1) / z
    ref = rounded([phi_exact(1, float(v)) for v in z.double()], torch.float32)
    assert int(ulps(naive, ref).max()) > 1_000_000
    assert int(ulps(C.phi(1, z), ref).max()) <= 1


def noise_factor_exact(fractions, h, eta, form):
    """Square roots of the differences of exponentials of MATH §7 in 120 digits (h ≥ 1e-30
    keeps > 80 of them after the cancellation)."""
    with mp.workdps(120):
        c = [mp.mpf(0)] + [mp.mpf(f) for f in fractions]
        h, eta = mp.mpf(h), mp.mpf(eta)
        m = len(fractions)
        out = [[mp.mpf(0)] * m for _ in range(m)]
        for i in range(1, m + 1):
            for j in range(1, i + 1):
                if form == "data":
                    v = mp.e ** (-2 * eta * (c[i] - c[j]) * h) - mp.e ** (-2 * eta * (c[i] - c[j - 1]) * h)
                else:
                    v = eta * (mp.e ** (2 * (c[i] - c[j - 1]) * h) - mp.e ** (2 * (c[i] - c[j]) * h))
                out[i - 1][j - 1] = mp.sqrt(v)
        return out


@pytest.mark.parametrize("dtype", LOW, ids=str)
@pytest.mark.parametrize("form", C.FORMS)
def test_noise_factor_rounded_to_low_precision(form, dtype):
    """The noise factors a low-precision run multiplies its increments by: float64 values rounded
    once, ≤ 1 ulp of the dtype from mpmath rounded to it, h from 1e-30 to 3."""
    fractions = [1 / 3, 2 / 3, 1.0]
    for h in np.logspace(-30, math.log10(3.0), 25):
        for eta in (1e-3, 0.5, 1.0):
            got64 = C.noise_factor(fractions, h, eta, form)
            exact = noise_factor_exact(fractions, h, eta, form)
            mask = np.tril(np.ones((3, 3), dtype=bool))
            ref = rounded([exact[i][j] for i, j in zip(*np.nonzero(mask))], dtype)
            got = torch.tensor(got64[mask], dtype=torch.float64).to(dtype)
            err = ulps(got, ref)
            assert int(err.max()) <= 1, f"h={h:g} eta={eta}: {int(err.max())} ulp"


def test_naive_noise_factor_in_float32_loses_every_digit_at_tiny_h():
    """sqrt(1 − e^{−2ηh}) in float32 is 0 for h below ~3e-8; the stable factor is not."""
    h = torch.tensor([1e-9, 1e-15, 1e-30], dtype=torch.float32)
    naive = torch.sqrt(1 - torch.exp(-2 * h))
    assert bool((naive == 0).all())
    stable = torch.tensor([C.noise_factor([1.0], float(v), 1.0, "data")[0, 0] for v in h.double()],
                          dtype=torch.float64).to(torch.float32)
    ref = rounded([noise_factor_exact([1.0], float(v), 1.0, "data")[0][0] for v in h.double()], torch.float32)
    assert int(ulps(stable, ref).max()) <= 1
