"""The conditional law of the mixture's exact reverse process behind benchmarks/weak_control_variate.py
(docs/weak_mixture.md §3): u(σ̃_end, ·) = φ, E u(σ̃, Y_σ̃) = E φ(Y_end) over exact draws, and control
sums of mean zero along a sampler's run. Thresholds: 5 standard errors."""

import math

import numpy as np
import pytest
import torch

from benchmarks.weak_control_variate import control_sums
from seeds_verify.convergence.conditional import ConditionalLaw
from seeds_verify import samplers
from seeds_verify.convergence.shards import StudySpec, weak_statistics
from seeds_verify.problems import get_problem

SIGMA_END = 0.05


@pytest.fixture(scope="module")
def ring():
    return get_problem("gmm")


def test_at_the_end_the_law_is_phi(ring):
    law = ConditionalLaw(ring, SIGMA_END)
    y = ring.sample(64, SIGMA_END, generator=torch.Generator().manual_seed(0))
    got, want = law(y, SIGMA_END), torch.as_tensor(weak_statistics(ring, y, SIGMA_END))
    eps = torch.finfo(torch.float64).eps
    assert torch.all((got - want).abs() <= 64 * eps * (1.0 + want.abs()))


@pytest.mark.parametrize("sigma", [0.3, 2.0, 20.0])
def test_mean_of_the_law_over_exact_draws_is_the_end_moments(ring, sigma):
    law = ConditionalLaw(ring, SIGMA_END)
    n = 20000
    u = law(ring.sample(n, sigma, generator=torch.Generator().manual_seed(1)), sigma).numpy()
    mean, cov = ring.mean(SIGMA_END), ring.cov(SIGMA_END)
    second = cov + np.outer(mean, mean)
    iu = np.triu_indices(ring.dim)
    want = np.concatenate([mean, second[iu], ring.weights])
    se = u.std(axis=0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(u.mean(axis=0) - want) <= 5 * se + 1e-12), (u.mean(axis=0) - want) / se


@pytest.mark.parametrize("sampler", ["sample_seeds_1", "sample_seeds_2"])
def test_control_sums_have_mean_zero(sampler):
    paths, steps = 1024, 16
    spec = StudySpec("gmm", "vp_linear", 1.0, (4, 8, steps), paths, 0, "cpu", torch.float64, (2,), path_block=paths)
    setup = spec.setup(0)
    law = ConditionalLaw(setup.problem, setup.sigma_end)
    sigmas = torch.as_tensor(np.exp(-setup.grids[steps]))
    states = []
    getattr(samplers, sampler)(setup.problem.denoiser, setup.start_points(), sigmas,
                               noise_sampler=setup.path().noise_sampler(1.0), eta=1.0,
                               callback=lambda info: states.append(info["x"].clone()))
    sums = control_sums(law, setup.problem, states[:steps], sigmas, setup.path(), nodes=12)
    for kind in ("first", "second"):
        v = sums[kind]
        se = v.std(axis=0, ddof=1) / math.sqrt(paths)
        assert np.all(np.abs(v.mean(axis=0)) <= 5 * se), (kind, v.mean(axis=0) / se)
    # The quadrature's mean is its rule's error (the change from 12 to 4 nodes per axis bounds it).
    v, rule = sums["quadrature"], np.abs(sums["quadrature"] - sums["quadrature_coarse"]).mean(axis=0)
    se = v.std(axis=0, ddof=1) / math.sqrt(paths)
    assert np.all(np.abs(v.mean(axis=0)) <= 5 * se + rule)
