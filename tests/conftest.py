"""Shared test helpers.

Floats that come from different libraries or code paths (torch vs numpy kernels, a scalar fast
path vs the array path, two functions for the same quantity) may differ in the last bits, and by
how much depends on the CPU. Such values are compared with :func:`assert_close_ulps` at a stated
number of units in the last place; bit identity is asserted only where it is the property itself
(the same code on the same device with the same seed, an exact constant, a byte-identical file).

Use it through the fixture of the same name (fixtures reach every test directory whatever the
import mode): ``def test_x(assert_close_ulps): assert_close_ulps(got, want, 2)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

_ORDERED_INT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _as_float_array(value, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must hold floats, got dtype {arr.dtype}")
    return arr


def ulp_distance(actual, desired) -> np.ndarray:
    """Elementwise number of representable floats from ``desired`` to ``actual`` (same dtype).

    Exact: the bit patterns are mapped to unsigned integers in the order of the floats they
    encode, so a step across a power of two or across zero counts the same as any other step
    (+0.0 and -0.0 are one point). Equal values (the same infinity, say) are 0 apart, two NaNs
    too; a NaN on one side only is the largest distance.
    """
    a, b = _as_float_array(actual, "actual"), _as_float_array(desired, "desired")
    if a.dtype != b.dtype:
        raise TypeError(f"compare floats of one dtype, got {a.dtype} and {b.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    uint = _ORDERED_INT[a.dtype.itemsize]
    sign = uint(1) << uint(8 * a.dtype.itemsize - 1)

    def ordered(x):
        # Sign-magnitude bits to integers in the order of the floats: +m -> sign + m, -m -> sign - m,
        # so +0.0 and -0.0 meet at one key. np.array makes a C-contiguous copy of any shape (0-d
        # included) that can be viewed as integers.
        bits = np.array(x, order="C").view(uint)
        magnitude = bits & ~sign
        return np.where(bits & sign, sign - magnitude, sign + magnitude)

    ka, kb = ordered(a), ordered(b)
    dist = np.maximum(ka, kb) - np.minimum(ka, kb)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    one_nan = np.isnan(a) ^ np.isnan(b)
    dist = np.where(same, uint(0), dist)
    return np.where(one_nan, np.iinfo(uint).max, dist)


def assert_close_ulps(actual, desired, ulps: int, what: str = "") -> None:
    """Assert that ``actual`` and ``desired`` (arrays, tensors or floats of one dtype and shape)
    are at most ``ulps`` representable floats apart, element by element."""
    dist = ulp_distance(actual, desired)
    if dist.size and int(dist.max()) > ulps:
        a, b = _as_float_array(actual, "actual"), _as_float_array(desired, "desired")
        worst = np.unravel_index(int(np.argmax(dist)), dist.shape)
        bad = int(np.count_nonzero(dist > ulps))
        label = f"{what}: " if what else ""
        raise AssertionError(
            f"{label}{bad} of {dist.size} elements more than {ulps} ulp apart; worst {int(dist[worst])} ulp "
            f"at index {tuple(int(i) for i in worst)}: {a[worst]!r} vs {b[worst]!r}"
        )


@pytest.fixture(name="assert_close_ulps")
def assert_close_ulps_fixture():
    """:func:`assert_close_ulps` for a test."""
    return assert_close_ulps
