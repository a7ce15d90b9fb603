"""Noise sources: exact weighted increments on one Brownian path (MATH §4, §7)."""

import math

import numpy as np
import pytest
import torch

from seeds_verify.noise import BLOCK_CELLS, DEFECT_TOL, BrownianPath, GaussianNoise

N = 20000  # samples per statistical check; standard errors below follow from it
GRID = np.linspace(-3.0, 4.0, 7 * 24 + 1)


def norm(a, b, k):
    """sqrt(∫_a^b e^{2kλ} dλ)."""
    return math.sqrt((b - a) if k == 0 else (math.exp(2 * k * b) - math.exp(2 * k * a)) / (2 * k))


@pytest.fixture(scope="module")
def path():
    return BrownianPath(GRID, (N,), seed=7)


@pytest.mark.parametrize("k", [-1.0, 0.0, 0.5, 1.0])
def test_increments_are_standard_normal(path, k):
    z = path(GRID[3], GRID[150], k)
    se_mean, se_var = 1 / math.sqrt(N), math.sqrt(2 / N)
    assert abs(z.mean().item()) < 5 * se_mean
    assert abs(z.var().item() - 1) < 5 * se_var


@pytest.mark.parametrize("k", [-1.0, 0.0, 1.0])
def test_increments_add_up_on_the_same_path(path, k):
    """∫_a^c = ∫_a^b + ∫_b^c exactly (to rounding): one path for every grid."""
    a, b, c = GRID[0], GRID[61], GRID[-1]
    whole = path(a, c, k) * norm(a, c, k)
    parts = path(a, b, k) * norm(a, b, k) + path(b, c, k) * norm(b, c, k)
    assert torch.allclose(whole, parts, rtol=0, atol=1e-12 * max(1.0, norm(a, c, k)))


def test_weights_are_jointly_gaussian_with_the_right_correlation(path):
    """corr(z_{k1}, z_{k2}) over one interval = ∫e^{(k1+k2)λ} / (norm_k1 · norm_k2) (Itô isometry)."""
    a, b = GRID[10], GRID[40]
    z1, z2 = path(a, b, 1.0), path(a, b, -1.0)
    exact = (b - a) / (norm(a, b, 1.0) * norm(a, b, -1.0))
    est = (z1 * z2).mean().item()
    se = math.sqrt((1 + exact ** 2) / N)
    assert abs(est - exact) < 5 * se


def test_disjoint_intervals_are_independent(path):
    z1, z2 = path(GRID[0], GRID[50], 0.5), path(GRID[50], GRID[90], 0.5)
    assert abs((z1 * z2).mean().item()) < 5 / math.sqrt(N)


def test_reproducible_and_order_independent():
    p1 = BrownianPath(GRID, (5, 2), seed=3, chunk_cells=16)
    p2 = BrownianPath(GRID, (5, 2), seed=3, chunk_cells=16)
    late_first = p2(GRID[100], GRID[120], 1.0)
    early = p1(GRID[0], GRID[30], 1.0)
    assert torch.equal(p1(GRID[100], GRID[120], 1.0), late_first)
    assert torch.equal(p2(GRID[0], GRID[30], 1.0), early)
    p3 = BrownianPath(GRID, (5, 2), seed=4, chunk_cells=16)
    assert not torch.equal(p3(GRID[0], GRID[30], 1.0), early)


@pytest.mark.parametrize("k", [-1.0, 0.0, 0.5, 1.0])
def test_projection_defect_is_below_rounding(path, k):
    assert path.variance_defect(k) < 1e-15


def test_off_grid_and_bad_arguments():
    p = BrownianPath(GRID, (3,), seed=0)
    with pytest.raises(ValueError, match="lam_a"):
        p(GRID[0] + 1e-3, GRID[5], 1.0)
    with pytest.raises(ValueError, match="lam_b"):
        p(GRID[5], GRID[2], 1.0)
    with pytest.raises(ValueError, match="finite"):
        p(float("nan"), GRID[2], 1.0)
    with pytest.raises(ValueError, match="grid"):
        BrownianPath([0.0, 1.0, 0.5], (3,))
    with pytest.raises(ValueError, match="shape"):
        BrownianPath(GRID, (0,))
    with pytest.raises(TypeError, match="dtype"):
        BrownianPath(GRID, (3,), dtype=torch.float16)
    with pytest.raises(ValueError, match="moments"):
        BrownianPath(GRID, (3,), moments=0)
    with pytest.raises(ValueError, match="positive sigmas"):
        p.noise_sampler(1.0)(1.0, 0.0)
    with pytest.raises(ValueError, match="seed"):
        BrownianPath(GRID, (3,), seed=-1)  # at construction, not at the first draw


def test_noise_sampler_reads_lambda_as_minus_log_sigma():
    p = BrownianPath(GRID, (4,), seed=1)
    sa, sb = math.exp(-GRID[10]), math.exp(-GRID[20])
    assert torch.allclose(p.noise_sampler(0.7)(sa, sb), p(GRID[10], GRID[20], 0.7), atol=1e-13)


def test_gaussian_noise_is_seeded_and_shaped():
    a = GaussianNoise((3, 2), seed=5, dtype=torch.float64)
    b = GaussianNoise((3, 2), seed=5, dtype=torch.float64)
    za, zb = a(0.0, 1.0, 1.0), b(0.0, 1.0, 1.0)
    assert za.shape == (3, 2) and za.dtype == torch.float64 and torch.equal(za, zb)
    assert not torch.equal(a(1.0, 2.0, 1.0), za)
    with pytest.raises(ValueError, match="lam_b"):
        a(1.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="seed or generator"):
        GaussianNoise((2,), seed=1, generator=torch.Generator())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_brownian_path_on_cuda_matches_its_own_algebra():
    p = BrownianPath(GRID, (1000,), seed=2, device="cuda")
    a, b, c = GRID[0], GRID[80], GRID[-1]
    whole = p(a, c, 1.0) * norm(a, c, 1.0)
    parts = p(a, b, 1.0) * norm(a, b, 1.0) + p(b, c, 1.0) * norm(b, c, 1.0)
    assert whole.device.type == "cuda"
    assert torch.allclose(whole, parts, atol=1e-10 * norm(a, c, 1.0))


def test_cache_budget_bounds_memory_and_changes_no_number():
    small = BrownianPath(GRID, (50, 2), seed=8, chunk_cells=8, cache_bytes=0)
    large = BrownianPath(GRID, (50, 2), seed=8, chunk_cells=8)
    for a, b in [(0, 60), (30, 168), (0, 168), (5, 9)]:
        assert torch.equal(small(GRID[a], GRID[b], 1.0), large(GRID[a], GRID[b], 1.0))
    # chunk_cells = 8 rounds up to one block of BLOCK_CELLS cells: the cache unit.
    chunk = BLOCK_CELLS * small.moments * 50 * 2 * 8
    assert small._cached_bytes <= chunk  # only the chunk in use is kept
    blocks = -(-small.n_cells // BLOCK_CELLS)
    assert large._cached_bytes == blocks * chunk  # whole path (in whole blocks), drawn once
    with pytest.raises(ValueError, match="cache_bytes"):
        BrownianPath(GRID, (3,), cache_bytes=-1)


# --------------------------------------------------------------------------------------------
# The path is a function of (seed, cell, moment): chunking, caching and moments do not matter
# --------------------------------------------------------------------------------------------

QUERIES = [(0, 168), (3, 150), (17, 18), (15, 49), (100, 101), (31, 33)]


@pytest.mark.parametrize("k", [0.0, 1.0, -1.0, 0.37])
def test_chunking_and_cache_budget_change_no_number(k):
    """Same seed, grid and shape with chunk_cells 1, 7, 1000 and cache budgets from nothing to
    everything: the same random numbers, contracted block by block in the same order by the
    same code, so the increments are bit-identical (the property itself, not a tolerance)."""
    paths = [BrownianPath(GRID, (40, 3), seed=21, chunk_cells=c, cache_bytes=b)
             for c in (1, 7, 1000) for b in (0, 2 ** 30)]
    for i, j in QUERIES:
        first = paths[0](GRID[i], GRID[j], k)
        for other in paths[1:]:
            assert torch.equal(other(GRID[i], GRID[j], k), first), (i, j, other.chunk_cells)


def test_query_order_and_grid_length_change_no_number():
    """ξ of a cell depends on (seed, cell, moment) only: the same cells on a shorter grid and
    queries in any order give bit-identical increments."""
    full = BrownianPath(GRID, (20,), seed=4)
    short = BrownianPath(GRID[:40], (20,), seed=4)
    backwards = [short(GRID[i], GRID[i + 3], 0.5) for i in range(36, -1, -1)][::-1]
    for i in range(37):
        assert torch.equal(full(GRID[i], GRID[i + 3], 0.5), backwards[i])


def test_plain_increments_use_moment_zero_only():
    """k = 0 reads only ξ_{c,0}, which does not depend on how many moments are kept: the
    increments with 1, 2 and 4 moments are bit-identical (same stream, same code)."""
    zs = {m: BrownianPath(GRID, (30, 2), seed=9, moments=m) for m in (1, 2, 4)}
    for i, j in QUERIES:
        ref = zs[1](GRID[i], GRID[j], 0.0)
        assert torch.equal(zs[2](GRID[i], GRID[j], 0.0), ref)
        assert torch.equal(zs[4](GRID[i], GRID[j], 0.0), ref)


def test_more_moments_only_add_the_higher_moments():
    """With 4 moments instead of 2, z_k changes by exactly the contribution of moments 2 and 3:
    d = Σ_c (β_{c,2} ξ_{c,2} + β_{c,3} ξ_{c,3}) / norm, a centred normal of variance
    v = Σ_c (β_{c,2}² + β_{c,3}²) / norm² (the first two moments' numbers being the same).
    On wide cells (width 0.5, k = 1: v ≈ 8e-5) mean(d²)/v must be within 5 standard errors
    sqrt(2/N) of 1; had the first moments been redrawn, d would have variance ≈ 2."""
    grid = np.linspace(0.0, 8.0, 17)
    n, k = 20000, 1.0
    p2 = BrownianPath(grid, (n,), seed=5, moments=2, defect_tol=1e-3)
    p4 = BrownianPath(grid, (n,), seed=5, moments=4, defect_tol=1e-3)
    a, b = grid[2], grid[13]
    d = (p4(a, b, k) - p2(a, b, k)).numpy()
    beta = p4.projections(2, 13, lambda lam: np.exp(k * (lam - b)))
    norm_sq = -math.expm1(2 * k * (a - b)) / (2 * k)  # ∫_a^b e^{2k(λ−b)} dλ
    v = float((beta[:, 2:] ** 2).sum()) / norm_sq
    assert 1e-5 < v < 1e-3
    assert abs(np.mean(d ** 2) / v - 1.0) < 5 * math.sqrt(2 / n)
    assert abs(np.mean(d)) < 5 * math.sqrt(v / n)


# --------------------------------------------------------------------------------------------
# Wide cells: refused, not silently short of variance
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width, k", [(100.0, -1.0), (400.0, 1.0), (1000.0, 1.0), (0.5, 60.0), (0.01, 1e300)])
def test_wide_cells_raise_naming_grid_and_k(width, k):
    p = BrownianPath([0.0, width], (100,), seed=1)
    assert p.variance_defect(k) > p.defect_tol  # finite (no overflow), and beyond the tolerance
    with pytest.raises(ValueError, match=r"k=.*grid"):
        p(0.0, width, k)


def test_wide_cells_still_serve_plain_increments_and_narrow_queries():
    """k = 0 is exact on any cell (one moment carries it all); a query on narrow cells of a
    grid that also has a wide cell is answered (the defect is the query's own)."""
    n = 20000
    grid = np.concatenate([np.linspace(0.0, 1.0, 21), [1000.0]])
    p = BrownianPath(grid, (n,), seed=2)
    z = p(0.0, 1000.0, 0.0)
    assert abs(z.var().item() - 1) < 5 * math.sqrt(2 / n) and abs(z.mean().item()) < 5 / math.sqrt(n)
    z = p(grid[0], grid[20], 1.0)
    assert abs(z.var().item() - 1) < 5 * math.sqrt(2 / n)
    with pytest.raises(ValueError, match="k=1.0"):
        p(grid[0], grid[21], 1.0)


def test_defect_tolerance_is_the_stated_one():
    """Width 0.5, k = 1 and 3 moments: defect 1.5e-7 (> DEFECT_TOL = 1e-8, < 1e-6)."""
    grid = np.linspace(0.0, 2.0, 5)
    strict = BrownianPath(grid, (10,), moments=3)
    assert DEFECT_TOL < strict.variance_defect(1.0) < 1e-6
    with pytest.raises(ValueError, match="defect_tol=1e-08"):
        strict(0.0, 2.0, 1.0)
    BrownianPath(grid, (10,), moments=3, defect_tol=1e-6)(0.0, 2.0, 1.0)
    for bad in (0.0, 1e-13, 1.5, float("nan")):
        with pytest.raises(ValueError, match="defect_tol"):
            BrownianPath(grid, (10,), defect_tol=bad)


def test_moments_needed_raises_when_tol_is_out_of_reach():
    assert BrownianPath.moments_needed(GRID, [0.0]) == 1
    assert BrownianPath.moments_needed(GRID, [1.0, -2.0]) == 4  # the defect of 4 moments is at rounding
    with pytest.raises(ValueError, match=r"tol=1e-14.*grid"):
        BrownianPath.moments_needed([0.0, 100.0], [1.0])
    with pytest.raises(ValueError, match="tol"):
        BrownianPath.moments_needed(GRID, [1.0], tol=1e-17)  # below the rounding floor
    with pytest.raises(ValueError, match="max_moments"):
        BrownianPath.moments_needed(GRID, [1.0], max_moments=0)
    with pytest.raises(ValueError, match="exponents"):
        BrownianPath.moments_needed(GRID, [float("nan")])
    with pytest.raises(ValueError, match="grid"):
        BrownianPath.moments_needed([0.0], [1.0])


# --------------------------------------------------------------------------------------------
# Every argument checked where it is given, naming it
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_k_is_refused(k):
    p = BrownianPath(GRID, (3,), seed=0)
    with pytest.raises(ValueError, match=r"\bk\b"):
        p(GRID[0], GRID[3], k)
    with pytest.raises(ValueError, match=r"\bk\b"):
        GaussianNoise((3,), seed=0)(0.0, 1.0, k)
    with pytest.raises(ValueError, match=r"\bk\b"):
        p.noise_sampler(k)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"seed": True}, TypeError, "seed"),
        ({"shape": (2.5,)}, TypeError, "shape"),
        ({"shape": (True, 2)}, TypeError, "shape"),
        ({"shape": "12"}, TypeError, "shape"),
        ({"shape": (3, -1)}, ValueError, "shape"),
        ({"device": "meta"}, ValueError, "device"),
        ({"device": "no-such-device"}, ValueError, "device"),
        ({"device": "cpu:1"}, ValueError, "device"),
        ({"device": 3.0}, TypeError, "device"),
        ({"moments": True}, ValueError, "moments"),
        ({"chunk_cells": 0}, ValueError, "chunk_cells"),
    ],
)
def test_bad_construction_is_refused_at_construction(kwargs, exc, name):
    args = {"shape": (3,), **kwargs}
    with pytest.raises(exc, match=name):
        BrownianPath(GRID, **args)
    if set(kwargs) <= {"shape", "device"} or kwargs.get("seed") in (1.5, True):
        with pytest.raises(exc, match=name):
            GaussianNoise(**args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of CUDA where there is none")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(ValueError, match="device='cuda'"):
        BrownianPath(GRID, (3,), device="cuda")
    with pytest.raises(ValueError, match="device='cuda'"):
        GaussianNoise((3,), device="cuda")


def test_noise_sampler_checks_its_sigmas():
    sampler = BrownianPath(GRID, (2,), seed=0).noise_sampler(1.0)
    sa, sb = math.exp(-GRID[3]), math.exp(-GRID[9])
    for bad_a, bad_b, name in [(0.0, sb, "positive sigmas"), (sa, -1.0, "positive sigmas"),
                               (float("nan"), sb, "sigma_a"), (sa, float("inf"), "sigma_b"),
                               (sb, sa, "sigma_b must be smaller"), (True, sb, "sigma_a")]:
        with pytest.raises((ValueError, TypeError), match=name):
            sampler(bad_a, bad_b)
