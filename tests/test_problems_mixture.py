"""Gaussian mixtures: Tweedie denoiser, responsibilities, density, moments, robustness (MATH §2, §8)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from seeds_verify.problems import (GaussianMixture, GaussianProblem, bimodal_1d, high_dim_mixture,
                                   ring_mixture, separated_mixture, unequal_mixture)

MIXTURES = [bimodal_1d(), ring_mixture(), unequal_mixture(), separated_mixture(), high_dim_mixture()]


def gen(seed):
    return torch.Generator().manual_seed(seed)


def ids(p):
    return p.name


def check_moments(samples, mean, cov, k=5.0):
    """Sample mean and covariance within k standard errors of the exact moments, entry by entry.

    SE(mean_i) = sqrt(Σ_ii/n); SE(cov_ij) = std of the centred products / sqrt(n).
    """
    x = samples.double().numpy()
    n = x.shape[0]
    assert np.all(np.abs(x.mean(0) - mean) <= k * np.sqrt(np.diag(cov) / n)), (x.mean(0), mean)
    c = x - mean
    products = c[:, :, None] * c[:, None, :]
    assert np.all(np.abs(products.mean(0) - cov) <= k * products.std(0) / math.sqrt(n)), (products.mean(0), cov)


# -- denoiser ------------------------------------------------------------------------------


@pytest.mark.parametrize("problem", MIXTURES, ids=ids)
@pytest.mark.parametrize("sigma", [0.1, 1.0, 8.0])
def test_denoiser_is_tweedie(problem, sigma):
    """D(x, σ̃) = x + σ̃² ∇ log p_σ̃(x) (MATH §2), the gradient by autograd on log_density."""
    x = problem.sample(64, sigma, generator=gen(1))
    # Points between the modes and far out as well as typical ones.
    x = torch.cat([x, 3.0 * problem.sample(16, sigma, generator=gen(2))]).requires_grad_(True)
    (grad,) = torch.autograd.grad(problem.log_density(x, sigma).sum(), x)
    tweedie = (x + sigma * sigma * grad).detach()
    d = problem.denoiser(x.detach(), sigma)
    scale = 1.0 + float(x.detach().abs().max())
    np.testing.assert_allclose(d.numpy(), tweedie.numpy(), rtol=0, atol=1e-10 * scale * (1 + sigma * sigma))


def test_single_component_matches_gaussian_and_scipy():
    mean, cov = [1.0, -0.5, 0.2], [[2.0, 0.9, 0.1], [0.9, 0.6, 0.0], [0.1, 0.0, 0.3]]
    mix = GaussianMixture([1.0], [mean], [cov])
    gauss = GaussianProblem(mean, cov)
    assert mix.is_linear
    for sigma in (0.0, 0.4, 3.0):
        x = gauss.sample(32, sigma + 0.2, generator=gen(3))
        ref = stats.multivariate_normal(mean, np.asarray(cov) + sigma ** 2 * np.eye(3)).logpdf(x.numpy())
        np.testing.assert_allclose(mix.log_density(x, sigma).numpy(), ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(mix.denoiser(x, sigma).numpy(), gauss.denoiser(x, sigma).numpy(),
                                   rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(mix.cov(sigma), gauss.cov(sigma), rtol=1e-15, atol=1e-15)


def test_log_density_matches_scipy_mixture_sum():
    mix = ring_mixture()
    x = mix.sample(40, 0.5, generator=gen(4))
    sigma = 0.5
    dens = sum(w * stats.multivariate_normal(m, c + sigma ** 2 * np.eye(2)).pdf(x.numpy())
               for w, m, c in zip(mix.weights, mix.means, mix.covs))
    np.testing.assert_allclose(mix.log_density(x, sigma).numpy(), np.log(dens), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("problem", MIXTURES, ids=ids)
def test_responsibilities_are_a_distribution(problem):
    x = problem.sample(50, 0.5, generator=gen(5)).reshape(5, 10, problem.dim)
    r = problem.responsibilities(x, 0.5)
    assert r.shape == (5, 10, problem.n_components)
    assert bool((r >= 0).all())
    torch.testing.assert_close(r.sum(-1), torch.ones(5, 10, dtype=torch.float64), rtol=0, atol=1e-14)


def test_denoiser_at_zero_noise_is_identity():
    for problem in MIXTURES:
        x = problem.sample(20, 1.0, generator=gen(6))
        torch.testing.assert_close(problem.denoiser(x, 0.0), x, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("problem", MIXTURES, ids=ids)
def test_denoiser_stable_far_away_and_at_tiny_sigma(problem):
    """No NaN/inf at 1e6 from every mode nor at σ̃ = 1e-12; float32 equals float64 to rounding.

    All arithmetic is float64 inside, so the float32 result must be the float64 result of the
    same (float32) input, rounded once: relative error 2^-24 of the largest entry, doubled.
    """
    base = problem.sample(32, 1.0, generator=gen(7))
    direction = torch.randn(32, problem.dim, generator=gen(8), dtype=torch.float64)
    far = base + 1e6 * direction / direction.norm(dim=-1, keepdim=True)
    for x, sigma in ((far, 1.0), (far, 1e-12), (base, 1e-12), (base, 1e-6), (far, 1e8)):
        x32 = x.float()
        d32 = problem.denoiser(x32, sigma)
        d64 = problem.denoiser(x32.double(), sigma)
        assert d32.dtype == torch.float32
        assert bool(torch.isfinite(d32).all()) and bool(torch.isfinite(d64).all())
        tol = 2.0 * 2.0 ** -24 * float(d64.abs().max())
        torch.testing.assert_close(d32.double(), d64, rtol=0, atol=tol)
        assert bool(torch.isfinite(problem.log_density(x32, sigma)).all())
    # D is a convex combination of D_k = μ_k + V_k diag(f) V_kᵀ(x − μ_k) with f in [0, 1], and
    # |D_k| ≤ |μ_k| + |x − μ_k| ≤ |x| + 2|μ_k|: far out, D does not run away.
    d = problem.denoiser(far, 1.0)
    bound = far.norm(dim=-1) + 2.0 * float(np.linalg.norm(problem.means, axis=1).max())
    assert bool((d.norm(dim=-1) <= bound * (1 + 1e-12)).all())


def test_sigma_per_sample_matches_scalar_calls():
    mix = ring_mixture()
    x = mix.sample(5, 1.0, generator=gen(9))
    sigmas = torch.tensor([0.0, 1e-4, 0.5, 3.0, 100.0], dtype=torch.float64)
    batched = mix.denoiser(x, sigmas)
    for i in range(5):
        torch.testing.assert_close(batched[i], mix.denoiser(x[i:i + 1], float(sigmas[i]))[0], rtol=1e-14, atol=1e-14)


# -- density and moments -------------------------------------------------------------------


def test_log_density_normalises_and_has_the_stated_moments_in_1d():
    mix = bimodal_1d()
    for sigma in (0.0, 0.6):
        def dens(t, power=0):
            return t ** power * math.exp(float(mix.log_density(torch.tensor([[t]], dtype=torch.float64), sigma)))

        opts = dict(epsabs=1e-13, epsrel=1e-13, limit=200, points=[-2.0, 1.5])
        total = integrate.quad(dens, -30, 30, **opts)[0]
        first = integrate.quad(lambda t: dens(t, 1), -30, 30, **opts)[0]
        second = integrate.quad(lambda t: dens(t, 2), -30, 30, **opts)[0]
        assert abs(total - 1.0) < 1e-10
        assert first == pytest.approx(float(mix.mean(sigma)[0]), abs=1e-10)
        assert second - first ** 2 == pytest.approx(float(mix.cov(sigma)[0, 0]), abs=1e-9)


@pytest.mark.parametrize("problem", MIXTURES, ids=ids)
@pytest.mark.parametrize("sigma", [0.0, 1.5])
def test_sample_moments(problem, sigma):
    x = problem.sample(20000, sigma, generator=gen(10))
    assert x.shape == (20000, problem.dim) and x.dtype == torch.float64
    check_moments(x, problem.mean(sigma), problem.cov(sigma))


def test_component_weights_recover_the_mixture_weights():
    """Argmax responsibility identifies the component; counts are binomial (5 SE).

    The fraction of samples assigned to another component than their own (measured once with
    2·10⁶ samples: 0 separated, 4e-5 unequal, 2e-3 ring) bounds the bias, well inside 5 SE.
    """
    for problem in (separated_mixture(), unequal_mixture(), ring_mixture(weights="unequal")):
        n = 20000
        frac = problem.component_weights(problem.sample(n, 0.0, generator=gen(11)))
        w = problem.weights
        assert frac.shape == (problem.n_components,) and frac.sum() == pytest.approx(1.0)
        assert np.all(np.abs(frac - w) <= 5 * np.sqrt(w * (1 - w) / n)), (frac, w)
    # All samples from one mode: that mode gets everything.
    sep = separated_mixture()
    one = torch.as_tensor(sep.means[1]) + 0.1 * torch.randn(100, 2, generator=gen(12), dtype=torch.float64)
    np.testing.assert_array_equal(sep.component_weights(one), [0.0, 1.0, 0.0])


def test_high_dim_mixture_is_a_function_of_its_seed():
    a, b, c = high_dim_mixture(seed=3), high_dim_mixture(seed=3), high_dim_mixture(seed=4)
    np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(a.covs, b.covs)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.allclose(a.means, c.means)
    small = high_dim_mixture(dim=4, n_components=3, seed=0)
    assert small.dim == 4 and small.n_components == 3
    # Anisotropic, non-diagonal components.
    assert np.abs(a.covs[0] - np.diag(np.diag(a.covs[0]))).max() > 1e-2


def test_ring_mixture_layout():
    ring = ring_mixture(n_components=6, radius=3.0, std=0.2)
    np.testing.assert_allclose(np.linalg.norm(ring.means, axis=1), 3.0, rtol=1e-15)
    np.testing.assert_allclose(ring.weights, np.arange(1, 7) / 21, rtol=1e-15)
    np.testing.assert_allclose(ring_mixture(weights="equal").weights, np.full(8, 1 / 8))


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("weights, means, covs, match", [
    ([0.5, 0.6], [[0.0], [1.0]], [[[1.0]], [[1.0]]], "weights"),
    ([1.2, -0.2], [[0.0], [1.0]], [[[1.0]], [[1.0]]], "weights"),
    ([0.5, float("nan")], [[0.0], [1.0]], [[[1.0]], [[1.0]]], "weights"),
    ([0.5, 0.5, 0.0], [[0.0], [1.0]], [[[1.0]], [[1.0]]], "weights"),
    ([0.5, 0.5], [[0.0], [1.0]], [[[1.0]]], "covs"),
    ([0.5, 0.5], [[0.0], [1.0]], [[[1.0]], [[-1.0]]], "covs"),
    ([0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], [[[1.0, 0.2], [0.3, 1.0]], np.eye(2)], "covs"),
    ([0.5, 0.5], [[0.0], [float("inf")]], [[[1.0]], [[1.0]]], "means"),
    ([0.5, 0.5], [0.0, 1.0], [[[1.0]], [[1.0]]], "means"),
])
def test_mixture_rejects_bad_parameters(weights, means, covs, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(weights, means, covs)


def test_mixture_rejects_bad_calls():
    mix = bimodal_1d()
    x = torch.zeros(4, 1, dtype=torch.float64)
    for sigma in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="sigma"):
            mix.denoiser(x, sigma)
        with pytest.raises(ValueError, match="sigma"):
            mix.sample(3, sigma)
    with pytest.raises(ValueError, match="x"):
        mix.responsibilities(torch.zeros(4, 2, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="x"):
        mix.log_density(torch.tensor([[float("nan")]]), 1.0)
    with pytest.raises(ValueError, match="weights"):
        ring_mixture(weights="lopsided")
    with pytest.raises(ValueError, match="std"):
        ring_mixture(std=0.0)
    with pytest.raises(TypeError, match="dtype"):
        mix.sample(3, 0.0, dtype=torch.int64)
    singular = GaussianMixture([0.5, 0.5], [[0.0], [1.0]], [[[0.0]], [[1.0]]])
    with pytest.raises(ValueError, match="sigma"):
        singular.denoiser(x, 0.0)
    assert bool(torch.isfinite(singular.denoiser(x, 1e-3)).all())


@settings(deadline=None, max_examples=30)
@given(t=st.floats(-50.0, 50.0), log_sigma=st.floats(-10.0, 4.0))
def test_bimodal_denoiser_stays_between_the_component_denoisers(t, log_sigma):
    """D is a convex combination of the component denoisers (MATH §8), at every x and σ̃."""
    mix = bimodal_1d()
    sigma = math.exp(log_sigma)
    x = torch.tensor([[t]], dtype=torch.float64)
    d = float(mix.denoiser(x, sigma))
    parts = [m[0] + c[0, 0] / (c[0, 0] + sigma ** 2) * (t - m[0]) for m, c in zip(mix.means, mix.covs)]
    assert min(parts) - 1e-12 * (1 + abs(t)) <= d <= max(parts) + 1e-12 * (1 + abs(t))
