"""seeds_verify.strategies: every draw is valid, draws shrink to the simplest case, and a property
test built from them (MATH §1, §6, §8).

Hypothesis runs derandomized (a fixed seed) without an example database, so every run draws the
same examples.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import find, given, settings
from hypothesis import strategies as st

from seeds_verify import strategies as S
from seeds_verify.problems import GaussianMixture, GaussianProblem, PointMass
from seeds_verify.samplers import sample_seeds_2, sample_seeds_3
from seeds_verify.schedules import EDM, VE, RectifiedFlow, Schedule, VPCosine, VPLinear
from seeds_verify.schemes import check_eta, seeds2_spec, seeds3_spec

FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None)
EPS = float(np.finfo(np.float64).eps)


def _find(strategy, condition=lambda v: True):
    return find(strategy, condition, settings=settings(derandomize=True, database=None, max_examples=200))


# --------------------------------------------------------------------------------------------
# Schedules and grids
# --------------------------------------------------------------------------------------------


@FAST
@given(schedule=S.schedules())
def test_drawn_schedules_round_trip_in_float64(schedule):
    assert isinstance(schedule, Schedule)
    lam0, lam1 = schedule.lam_range()
    assert math.isfinite(lam0) and math.isfinite(lam1) and lam0 < lam1
    assert max(abs(lam0), abs(lam1)) < 13.0  # the moderate range the docstring states
    t = np.linspace(schedule.t_min, schedule.t_max, 33)
    lam_t = schedule.lam(t)
    assert np.all(np.isfinite(lam_t)) and np.all(np.diff(lam_t) < 0)  # λ decreasing in t
    lam = np.linspace(lam0, lam1, 33)
    t_back = schedule.t_of_lam(lam)
    assert np.all(np.isfinite(t_back)) and np.all(np.diff(t_back) < 0)
    # λ(t(λ)) = λ up to the rounding of t: a relative change δ of t moves λ by κδ with the
    # condition number κ = |t dλ/dt| (large where t nears an end of its domain, e.g. 1/(1 − t)
    # for rectified flow), estimated by a one-sided difference; u = 2⁻⁵³ per operation on t and
    # on λ itself gives the tolerance 16 u (1 + |λ| + κ).
    delta = 1e-7
    kappa = np.abs(schedule.lam(t_back) - schedule.lam(t_back * (1 - delta))) / delta
    assert np.all(np.abs(schedule.lam(t_back) - lam) <= 16 * EPS * (1 + np.abs(lam) + kappa))
    alpha, sigma = schedule.alpha_of_lam(lam), schedule.sigma_of_lam(lam)
    assert np.all(np.isfinite(alpha)) and np.all(alpha > 0) and np.all(sigma > 0)
    assert np.all(np.abs(np.log(alpha / sigma) - lam) <= 64 * EPS * (1 + np.abs(lam)))


def test_schedules_cover_every_kind_and_shrink_to_the_default_vp_linear():
    simplest = _find(S.schedules())
    assert type(simplest) is VPLinear and repr(simplest) == repr(VPLinear())
    for cls in (VPLinear, VPCosine, VE, EDM, RectifiedFlow):
        assert isinstance(_find(S.schedules(), lambda s, cls=cls: isinstance(s, cls)), cls)
    custom = _find(S.schedules(), lambda s: isinstance(s, VE) and s.sigma_max != VE().sigma_max)
    assert custom.sigma_max > custom.sigma_min > 0


def test_schedules_accept_a_subset_of_kinds_and_reject_unknown_ones():
    assert isinstance(_find(S.schedules("edm")), EDM)
    with pytest.raises(ValueError, match="kinds"):
        S.schedules(("vp_linear", "cosine"))


@FAST
@given(data=st.data(), schedule=S.schedules())
def test_lambda_grids_are_strictly_increasing_over_the_schedule_range(data, schedule):
    grid = data.draw(S.lambda_grids(schedule, min_steps=2, max_steps=40))
    assert isinstance(grid, np.ndarray) and grid.dtype == np.float64
    assert 3 <= grid.size <= 41
    assert np.all(np.isfinite(grid)) and np.all(np.diff(grid) > 0)
    lam0, lam1 = schedule.lam_range()
    assert grid[0] == lam0 and grid[-1] == lam1  # end points returned exactly


def test_lambda_grids_shrink_to_the_fewest_uniform_steps():
    grid = _find(S.lambda_grids(min_steps=3))
    lam0, lam1 = VPLinear().lam_range()
    np.testing.assert_allclose(grid, np.linspace(lam0, lam1, 4), rtol=4 * EPS)
    karras = _find(S.lambda_grids(spacings="karras", min_steps=8))
    assert not np.allclose(np.diff(karras), np.diff(karras)[0])  # not uniform in λ


def test_grid_arguments_are_checked():
    with pytest.raises(ValueError, match="max_steps"):
        S.lambda_grids(min_steps=5, max_steps=4)
    with pytest.raises(ValueError, match="spacings"):
        S.sigma_grids(spacings=("log",))
    with pytest.raises(TypeError, match="schedule"):
        S.lambda_grids(schedule=3.0)


@FAST
@given(sigmas=S.sigma_grids(max_steps=40))
def test_sigma_grids_are_k_diffusion_sigmas(sigmas):
    assert isinstance(sigmas, torch.Tensor) and sigmas.dtype == torch.float64 and sigmas.ndim == 1
    assert sigmas.numel() >= 2 and bool(torch.isfinite(sigmas).all())
    assert bool((sigmas[1:] < sigmas[:-1]).all())
    positive = sigmas[sigmas > 0]
    assert positive.numel() >= sigmas.numel() - 1  # only a final 0 may be zero
    assert bool((torch.diff(-torch.log(positive)) > 0).all())  # distinct λ = −log σ


def test_sigma_grids_end_in_zero_on_request_and_shrink_without_it():
    assert float(_find(S.sigma_grids())[-1]) > 0
    assert float(_find(S.sigma_grids(append_zero=True))[-1]) == 0.0
    assert float(_find(S.sigma_grids(), lambda s: float(s[-1]) == 0.0)[-1]) == 0.0


# --------------------------------------------------------------------------------------------
# η and stage fractions
# --------------------------------------------------------------------------------------------


@FAST
@given(eta=S.etas())
def test_etas_lie_in_the_unit_interval(eta):
    assert check_eta(eta) == eta and 0.0 <= eta <= 1.0


def test_etas_shrink_to_zero_and_reach_one_and_the_interior():
    assert _find(S.etas()) == 0.0
    assert _find(S.etas(), lambda e: e == 1.0) == 1.0
    assert 0.0 < _find(S.etas(), lambda e: 0.0 < e < 1.0) < 1.0


@pytest.mark.parametrize("stages", [1, 2, 3])
def test_stage_fractions_are_sorted_separated_and_accepted_by_the_schemes(stages):
    @FAST
    @given(c=S.stage_fractions(stages))
    def check(c):
        assert len(c) == stages and all(isinstance(v, float) for v in c)
        gaps = np.diff([0.0, *c, 1.0])
        assert np.all(gaps >= 0.05 - 4 * EPS)
        if stages == 1:
            for variant in ("phi_1", "phi_2"):
                seeds2_spec(c[0], variant)
        if stages == 2:
            for variant in ("3a", "3b"):
                seeds3_spec(c[0], c[1], variant)

    check()


def test_stage_fractions_shrink_to_equal_gaps():
    assert _find(S.stage_fractions(1)) == pytest.approx((0.5,), rel=4 * EPS)
    assert _find(S.stage_fractions(2)) == pytest.approx((1 / 3, 2 / 3), rel=4 * EPS)


def test_the_tightest_allowed_fractions_are_still_accepted():
    # Draws approach the corner c = (min_gap, 2 min_gap), where the 3b interpolant through
    # 0, c_1, c_2 has its largest Lebesgue constant over the allowed region (721 at 0.05).
    seeds3_spec(0.05, 0.1, "3b")
    seeds2_spec(0.05, "phi_1")
    near = _find(S.stage_fractions(2), lambda c: c[0] < 0.1 and c[1] - c[0] < 0.1)
    seeds3_spec(near[0], near[1], "3b")
    with pytest.raises(ValueError, match="min_gap"):
        S.stage_fractions(2, min_gap=0.4)


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


def _assert_spd(cov):
    assert np.all(np.isfinite(cov))
    np.testing.assert_array_equal(cov, cov.T)
    assert float(np.linalg.eigvalsh(cov).min()) > 0


@FAST
@given(problem=S.gaussian_problems())
def test_gaussian_problems_have_spd_covariances_and_finite_denoisers(problem):
    assert isinstance(problem, GaussianProblem) and 1 <= problem.dim <= 4
    _assert_spd(problem.cov())
    assert float(problem.variances.min()) >= 0.05 * (1 - 1e-12)  # Σ ⪰ δ I with δ ≥ 0.05
    x = problem.sample(5, 1.0, generator=torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(problem.denoiser(x, 1.0)).all())


def test_gaussian_problems_take_a_dimension_and_shrink_to_a_standard_normal():
    assert _find(S.gaussian_problems(dim=3)).dim == 3
    simplest = _find(S.gaussian_problems())
    assert simplest.dim == 1
    np.testing.assert_array_equal(simplest.mean(), [0.0])
    np.testing.assert_array_equal(simplest.cov(), [[1.0]])


@FAST
@given(problem=S.mixtures(dim=2))
def test_mixtures_are_valid(problem):
    assert isinstance(problem, GaussianMixture) and problem.dim == 2
    assert 1 <= problem.n_components <= 4
    assert math.isclose(float(problem.weights.sum()), 1.0, rel_tol=8 * EPS)
    assert np.all(problem.weights > 0)
    for cov in problem.covs:
        _assert_spd(cov)
    x = problem.sample(5, 0.5, generator=torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(problem.denoiser(x, 0.5)).all())


def test_mixtures_shrink_to_one_standard_component_and_take_a_count():
    simplest = _find(S.mixtures())
    assert simplest.n_components == 1 and simplest.dim == 1
    assert _find(S.mixtures(components=3)).n_components == 3
    with pytest.raises(ValueError, match="components"):
        S.mixtures(components=0)
    with pytest.raises(ValueError, match="dim"):
        S.gaussian_problems(dim=0)


# --------------------------------------------------------------------------------------------
# A property test built from the strategies
# --------------------------------------------------------------------------------------------


def _point_mass_ode_error(sampler, sigmas, x0, **kw):
    """(max |output − exact|, rounding bound) for the probability-flow ODE on a point mass.

    D ≡ x0, so the exact solution is x0 + (σ_N/σ_0)(x − x0) (x0 itself after a final σ = 0).
    Rounding bound: each of the n steps rounds the state by a few ulp of the largest value
    involved, and the factors e^{−h} built from λ = −log σ carry a relative error of about
    ulp·|λ|; so n · (1 + max|λ|) · u · scale bounds the error, and a factor 4 covers the few
    operations per step (measured: at most 0.11 of this bound over 300 draws).
    """
    pm = PointMass(x0)
    gen = torch.Generator().manual_seed(0)
    x0t = torch.as_tensor(x0, dtype=torch.float64)
    x = x0t + float(sigmas[0]) * torch.randn((3, x0t.numel()), generator=gen, dtype=torch.float64)
    out = sampler(lambda y, s: pm.denoiser(y, s), x, sigmas, eta=0.0, **kw)
    want = x0t + (float(sigmas[-1]) / float(sigmas[0])) * (x - x0t)
    positive = sigmas[sigmas > 0]
    n = sigmas.numel() - 1
    scale = max(float(x.abs().max()), float(x0t.abs().max()))
    bound = 4 * n * (1 + float(torch.log(positive).abs().max())) * EPS * scale
    return float((out - want).abs().max()), bound


@FAST
@given(sigmas=S.sigma_grids(max_steps=32), x0=st.lists(st.floats(-3.0, 3.0), min_size=2, max_size=2))
def test_seeds2_on_any_sigma_grid_returns_the_point_of_a_point_mass_at_eta_zero(sigmas, x0):
    err, bound = _point_mass_ode_error(sample_seeds_2, sigmas, x0)
    assert err <= bound


@FAST
@given(sigmas=S.sigma_grids(max_steps=16), c=S.stage_fractions(2))
def test_seeds3_with_any_fractions_is_exact_on_a_point_mass(sigmas, c):
    err, bound = _point_mass_ode_error(sample_seeds_3, sigmas, [0.5, -1.0], r_1=c[0], r_2=c[1], solver_type="3b")
    assert err <= bound
