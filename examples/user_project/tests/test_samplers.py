"""Tests of my_sampler with seeds_verify: orders, point-mass exactness, properties, fixtures.

With MY_SAMPLER_BROKEN=1 the same tests run against my_sampler.broken, whose samplers carry one
defect each; the order and exactness checks must then fail.
"""

import importlib
import math
import os

import pytest
import torch
from hypothesis import given, settings

from seeds_verify.strategies import etas, gaussian_problems, sigma_grids
from seeds_verify.testing import assert_convergence_order, assert_exact_on_point_mass

impl = importlib.import_module("my_sampler.broken" if os.environ.get("MY_SAMPLER_BROKEN") else "my_sampler.samplers")
sample_exp_euler_sde = impl.sample_exp_euler_sde
sample_multistep_2m = impl.sample_multistep_2m

LADDER = (8, 16, 32, 64)  # small ladder: about a second per order check


# Convergence orders (slow; leave them out with -m "not seeds_convergence").

@pytest.mark.seeds_convergence
def test_multistep_2m_is_second_order():
    assert_convergence_order(sample_multistep_2m, regime="deterministic", order=2, steps=LADDER)


@pytest.mark.seeds_convergence
def test_exp_euler_sde_has_strong_order_one():
    assert_convergence_order(sample_exp_euler_sde, regime="strong", order=1, eta=1.0, steps=LADDER)


# Exactness on a point mass (fast, no statistics).

@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_exp_euler_sde_is_exact_on_a_point_mass(eta):
    assert_exact_on_point_mass(sample_exp_euler_sde, eta=eta)


def test_multistep_2m_is_exact_on_a_point_mass():
    assert_exact_on_point_mass(sample_multistep_2m)


# A property over drawn grids, eta values and Gaussian data.

@settings(max_examples=20, deadline=None, derandomize=True)
@given(sigmas=sigma_grids(max_steps=24), eta=etas(), problem=gaussian_problems())
def test_exp_euler_sde_stays_finite(sigmas, eta, problem):
    gen = torch.Generator().manual_seed(0)
    x = problem.sample(8, float(sigmas[0]), generator=gen, dtype=torch.float64)
    out = sample_exp_euler_sde(problem.denoiser, x, sigmas, eta=eta,
                               noise_sampler=lambda a, b: torch.randn(x.shape, generator=gen, dtype=x.dtype))
    assert out.shape == x.shape and torch.isfinite(out).all()


# The plugin's fixtures.

def test_one_brownian_path_gives_one_sample(gaussian_problem, brownian_path):
    lam0, lam1 = -math.log(80.0), -math.log(0.01)
    sigmas = torch.exp(-torch.linspace(lam0, lam1, 17, dtype=torch.float64))
    path = brownian_path(lam0, lam1, paths=16, cells=16 * 6)
    x = gaussian_problem.sample(16, 80.0, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    a = sample_exp_euler_sde(gaussian_problem.denoiser, x, sigmas, noise_sampler=path.noise_sampler(1.0))
    b = sample_exp_euler_sde(gaussian_problem.denoiser, x, sigmas, noise_sampler=path.noise_sampler(1.0))
    assert torch.equal(a, b)


def test_multistep_2m_is_finite_on_a_mixture(mixture_problem):
    sigmas = torch.cat([torch.exp(-torch.linspace(-math.log(80.0), -math.log(0.01), 21, dtype=torch.float64)),
                        torch.zeros(1, dtype=torch.float64)])
    x = mixture_problem.sample(32, 80.0, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    out = sample_multistep_2m(mixture_problem.denoiser, x, sigmas)
    assert out.shape == x.shape and torch.isfinite(out).all()
