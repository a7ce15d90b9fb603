"""Noise sources: exact weighted increments on one Brownian path (MATH §4, §7)."""

import math

import numpy as np
import pytest
import torch

from seeds_verify.noise import BrownianPath, GaussianNoise

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
    chunk = 8 * small.moments * 50 * 2 * 8
    assert small._cached_bytes <= chunk  # only the chunk in use is kept
    assert large._cached_bytes == small.n_cells * small.moments * 50 * 2 * 8  # whole path, drawn once
    with pytest.raises(ValueError, match="cache_bytes"):
        BrownianPath(GRID, (3,), cache_bytes=-1)
