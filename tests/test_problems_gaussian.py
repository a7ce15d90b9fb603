"""Gaussian data and the point mass: denoiser, density, moments and the exact reverse-SDE solution (MATH §3, §4, §8)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from seeds_verify.noise import BrownianPath
from seeds_verify.problems import (PROBLEMS, GaussianMixture, GaussianProblem, PointMass,
                                   anisotropic_gaussian, get_problem)
from seeds_verify.schedules import get_schedule
from seeds_verify.solvers import SEEDS1, SEEDS2, SEEDS3, DiffusionModel


class UnitAlphaSchedule:
    """α = 1, σ = e^{−λ}: the convention the problems are stated in (MATH §1)."""

    def alpha_of_lam(self, lam):
        return np.ones_like(np.asarray(lam, dtype=np.float64))[()]

    def sigma_of_lam(self, lam):
        return np.exp(-np.asarray(lam, dtype=np.float64))[()]

    def dlog_alpha_dlam(self, lam):
        return np.zeros_like(np.asarray(lam, dtype=np.float64))[()]


def rotated_gaussian_3d():
    """3-D, one zero eigenvalue (singular Σ), non-zero mean."""
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    return GaussianProblem([0.3, -1.0, 2.0], (q * [1.5, 0.4, 0.0]) @ q.T, name="singular3d")


def gen(seed):
    return torch.Generator().manual_seed(seed)


def check_moments(samples, mean, cov, k=5.0):
    """Sample mean and covariance within k standard errors of the exact moments, entry by entry.

    SE(mean_i) = sqrt(Σ_ii/n); SE(cov_ij) = std of the centred products / sqrt(n).
    """
    x = samples.double().numpy()
    n = x.shape[0]
    err_mean = np.abs(x.mean(0) - mean)
    assert np.all(err_mean <= k * np.sqrt(np.diag(cov) / n)), (x.mean(0), mean)
    c = x - mean
    products = c[:, :, None] * c[:, None, :]
    err_cov = np.abs(products.mean(0) - cov)
    assert np.all(err_cov <= k * products.std(0) / math.sqrt(n) + 1e-12), (products.mean(0), cov)


# -- denoiser ------------------------------------------------------------------------------


@settings(deadline=None, max_examples=25)
@given(sigma=st.one_of(st.just(0.0), st.floats(1e-8, 1e3)))
def test_denoiser_affine_matches_denoiser(sigma):
    for problem in (anisotropic_gaussian(), rotated_gaussian_3d(), PointMass([0.5, -1.0])):
        x = problem.sample(16, 2.0, generator=gen(0))
        g, c = problem.denoiser_affine(sigma)
        expected = x.numpy() @ g.T + c
        got = problem.denoiser(x, sigma).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * (1 + np.abs(x.numpy()).max()))
        # G = Σ(Σ + σ̃²I)^{-1} directly, where that inverse exists.
        if sigma > 1e-3:
            direct = problem.cov(0.0) @ np.linalg.inv(problem.cov(sigma))
            np.testing.assert_allclose(g, direct, atol=1e-12)


@pytest.mark.parametrize("problem", [anisotropic_gaussian(), rotated_gaussian_3d(), PointMass([0.5, -1.0])],
                         ids=lambda p: p.name)
@pytest.mark.parametrize("sigma", [0.05, 0.7, 5.0])
def test_denoiser_is_tweedie(problem, sigma):
    """D(x, σ̃) = x + σ̃² ∇ log p_σ̃(x) (MATH §2), the gradient by autograd on log_density."""
    x = problem.sample(64, sigma, generator=gen(1)).requires_grad_(True)
    (grad,) = torch.autograd.grad(problem.log_density(x, sigma).sum(), x)
    tweedie = (x + sigma * sigma * grad).detach()
    np.testing.assert_allclose(problem.denoiser(x.detach(), sigma).numpy(), tweedie.numpy(),
                               rtol=1e-11, atol=1e-11)


def test_point_mass_denoiser_is_constant():
    pm = PointMass([0.5, -1.0])
    x = torch.randn(10, 2, generator=gen(2), dtype=torch.float64) * 100
    for sigma in (0.0, 1e-12, 1.0, 1e6):
        np.testing.assert_array_equal(pm.denoiser(x, sigma).numpy(), np.tile([0.5, -1.0], (10, 1)))


def test_sigma_per_sample_matches_scalar_calls():
    g = anisotropic_gaussian()
    x = g.sample(6, 1.0, generator=gen(3))
    sigmas = torch.tensor([0.0, 1e-6, 0.1, 1.0, 10.0, 1e4], dtype=torch.float64)
    batched = g.denoiser(x, sigmas)
    for i in range(6):
        torch.testing.assert_close(batched[i], g.denoiser(x[i:i + 1], float(sigmas[i]))[0], rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(g.denoiser(x, torch.tensor(0.3, dtype=torch.float64)), g.denoiser(x, 0.3), rtol=0, atol=0)


def test_float32_input_gives_float32_output():
    g = anisotropic_gaussian()
    x = g.sample(50, 0.5, generator=gen(4))
    out32 = g.denoiser(x.float(), 0.5)
    assert out32.dtype == torch.float32
    # Computed in float64 from the float32 input, so only the output rounding differs.
    ref = g.denoiser(x.float().double(), 0.5)
    torch.testing.assert_close(out32.double(), ref, rtol=2 ** -23, atol=2 ** -23 * float(ref.abs().max()))


@pytest.mark.parametrize("schedule_name", ["vp_linear", "edm", "rectified_flow"])
def test_model_on_a_schedule_rescales_by_alpha(schedule_name):
    """D(x, λ) = denoiser(x/α_λ, e^{−λ}) (MATH §1, §2)."""
    sched = get_schedule(schedule_name)
    g = anisotropic_gaussian()
    lam = 0.8
    alpha = float(sched.alpha_of_lam(lam))
    x = alpha * g.sample(8, math.exp(-lam), generator=gen(5))
    model = DiffusionModel(g.denoiser, "denoiser", sched)
    torch.testing.assert_close(model.data(x, lam), g.denoiser(x / alpha, math.exp(-lam)), rtol=1e-13, atol=1e-13)


# -- density and moments -------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.0, 0.3, 2.0])
def test_log_density_matches_scipy(sigma):
    for problem in (anisotropic_gaussian(), rotated_gaussian_3d()):
        if sigma == 0.0 and problem.name == "singular3d":
            continue
        x = problem.sample(20, sigma + 0.5, generator=gen(6))
        ref = stats.multivariate_normal(problem.mean(sigma), problem.cov(sigma)).logpdf(x.numpy())
        np.testing.assert_allclose(problem.log_density(x, sigma).numpy(), ref, rtol=1e-12, atol=1e-12)


def test_log_density_normalises_in_1d():
    g = GaussianProblem([0.7], [[0.3]])
    for sigma in (0.0, 0.5):
        f = lambda t: math.exp(float(g.log_density(torch.tensor([[t]], dtype=torch.float64), sigma)))  # noqa: E731
        total, _ = integrate.quad(f, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-13)
        assert abs(total - 1.0) < 1e-10


@pytest.mark.parametrize("sigma", [0.0, 0.8])
def test_sample_moments(sigma):
    for problem in (anisotropic_gaussian(), rotated_gaussian_3d(), PointMass([0.5, -1.0])):
        x = problem.sample(20000, sigma, generator=gen(8))
        if problem.name == "point_mass" and sigma == 0.0:
            np.testing.assert_array_equal(x.numpy(), np.tile(problem.mean(), (20000, 1)))
            continue
        check_moments(x, problem.mean(sigma), problem.cov(sigma))


def test_sample_dtype_and_reproducibility():
    g = anisotropic_gaussian()
    a = g.sample(5, 0.2, generator=gen(9), dtype=torch.float32)
    b = g.sample(5, 0.2, generator=gen(9), dtype=torch.float32)
    assert a.dtype == torch.float32 and a.shape == (5, 2)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- the exact solution --------------------------------------------------------------------


@pytest.mark.parametrize("problem", [anisotropic_gaussian(), rotated_gaussian_3d()], ids=lambda p: p.name)
def test_exact_solution_eta0_matches_dop853(problem):
    """η = 0: the probability-flow ODE dy/dλ = D(y, λ) − y (MATH §3, α = 1) solved by DOP853."""
    lam0, lam1 = -2.0, 3.0
    y0 = problem.sample(4, math.exp(-lam0), generator=gen(10))
    exact = problem.exact_solution(y0, lam0, lam1, 0.0).numpy()

    def rhs(lam, y):
        g, c = problem.denoiser_affine(math.exp(-lam))
        return g @ y + c - y

    for i in range(4):
        sol = solve = integrate.solve_ivp(rhs, (lam0, lam1), y0[i].numpy(), method="DOP853",
                                          rtol=1e-12, atol=1e-13)
        assert solve.success
        np.testing.assert_allclose(exact[i], sol.y[:, -1], rtol=1e-10, atol=1e-10)


@settings(deadline=None, max_examples=40)
@given(eta=st.floats(0.0, 1.0), log_s2=st.floats(-8.0, 3.0), lam0=st.floats(-4.0, 2.0),
       width=st.floats(0.01, 6.0))
def test_exact_solution_preserves_the_marginal_variance(eta, log_s2, lam0, width):
    """Φ² u_start + ∫ kernel² dλ = u_T with u = s² + σ̃²: every η keeps N(μ, Σ + σ̃² I) (MATH §3)."""
    s2 = math.exp(log_s2)
    g = GaussianProblem([0.0], [[s2]])
    lam1 = lam0 + width
    phi = float(g.transition_factor(lam1, lam0, eta)[0])
    noise_var, _ = integrate.quad(lambda lam: float(g.solution_kernel(lam1, lam, eta)[0]) ** 2, lam0, lam1,
                                  epsabs=0.0, epsrel=1e-12, limit=200)
    u0, u1 = s2 + math.exp(-2 * lam0), s2 + math.exp(-2 * lam1)
    assert phi ** 2 * u0 + noise_var == pytest.approx(u1, rel=1e-9)


@pytest.mark.parametrize("eta", [1.0, 0.5])
def test_exact_solution_from_exact_start_has_the_exact_marginal(eta):
    """Start from p at λ_start; the end samples follow N(μ, Σ + σ̃_end² I) within 5 standard errors."""
    g = anisotropic_gaussian()
    lam0, lam1, n = -1.5, 2.0, 20000
    path = BrownianPath(np.linspace(lam0, lam1, 65), (n, 2), seed=12)
    y0 = g.sample(n, math.exp(-lam0), generator=gen(13))
    y1 = g.exact_solution(y0, lam0, lam1, eta, path)
    check_moments(y1, g.mean(), g.cov(math.exp(-lam1)))
    # The noise is really there: end points are not a deterministic function of the start.
    det = g.exact_solution(y0, lam0, lam1, 0.0)
    assert float((y1 - det).std()) > 0.1


@pytest.mark.parametrize("problem", [anisotropic_gaussian(), rotated_gaussian_3d()], ids=lambda p: p.name)
def test_seeds1_converges_to_the_exact_solution_on_the_same_path(problem):
    """SEEDS-1 (data form, VP-linear so α ≠ 1) on one BrownianPath approaches exact_solution.

    A qualitative check: the mean pathwise error decreases over 8, 16, 32, 64 steps and the
    64-step error is below a quarter of the 8-step error (strong order ≈ 1 predicts 1/8).
    Only a pathwise check sees the rotation of W into the eigenbasis (W' = UᵀW): any other
    orthogonal mixing of W keeps every marginal; the 3-D problem has a non-symmetric U.
    """
    g = problem
    sched = get_schedule("vp_linear")
    lam0, lam1, n = -2.0, 3.0, 500
    path = BrownianPath(np.linspace(lam0, lam1, 64 * 4 + 1), (n, g.dim), seed=14)
    y0 = g.sample(n, math.exp(-lam0), generator=gen(15))
    exact = g.exact_solution(y0, lam0, lam1, 1.0, path)
    a0, a1 = float(sched.alpha_of_lam(lam0)), float(sched.alpha_of_lam(lam1))
    errors = []
    for steps in (8, 16, 32, 64):
        x = SEEDS1().solve(DiffusionModel(g.denoiser, "denoiser", sched), a0 * y0, np.linspace(lam0, lam1, steps + 1), schedule=sched,
                           noise=path, eta=1.0, prediction="data")
        errors.append(float((x / a1 - exact).norm(dim=-1).mean()))
    assert all(e2 < e1 for e1, e2 in zip(errors, errors[1:])), errors
    assert errors[-1] < errors[0] / 4, errors


@pytest.mark.parametrize("solver", [SEEDS1(), SEEDS2(0.5, "phi_1"), SEEDS2(1 / 3, "phi_2"), SEEDS3(variant="3b")],
                         ids=lambda s: s.name)
def test_data_form_seeds_is_exact_on_the_point_mass(solver):
    """D ≡ x0 makes every data-form SEEDS scheme exact (MATH §8): any step count equals exact_solution."""
    pm = PointMass([0.5, -1.0])
    lam0, lam1, eta = -2.0, 2.5, 0.7
    path = BrownianPath(np.linspace(lam0, lam1, 96 + 1), (8, 2), seed=16)
    y0 = pm.sample(8, math.exp(-lam0), generator=gen(17))
    exact = pm.exact_solution(y0, lam0, lam1, eta, path)
    for steps in (4, 16):
        x = solver.solve(DiffusionModel(pm.denoiser, "denoiser", UnitAlphaSchedule()), y0, np.linspace(lam0, lam1, steps + 1),
                         schedule=UnitAlphaSchedule(), noise=path, eta=eta, prediction="data")
        torch.testing.assert_close(x, exact, rtol=1e-10, atol=1e-10)


def test_exact_solution_dtype_and_zero_interval():
    g = anisotropic_gaussian()
    y0 = g.sample(3, 1.0, generator=gen(18), dtype=torch.float32)
    out = g.exact_solution(y0, 0.0, 1.0, 0.0)
    assert out.dtype == torch.float32
    torch.testing.assert_close(g.exact_solution(y0, 0.5, 0.5, 1.0), y0, rtol=0, atol=1e-6)


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("mean, cov, match", [
    ([0.0, 0.0], [[1.0, 0.0], [0.0, -0.5]], "cov"),
    ([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]], "cov"),
    ([0.0, 0.0], [[1.0, 0.0, 0.0]], "cov"),
    ([0.0, float("nan")], np.eye(2), "mean"),
    ([0.0, 0.0], [[1.0, float("nan")], [float("nan"), 1.0]], "cov"),
    ([[0.0, 0.0]], np.eye(2), "mean"),
])
def test_gaussian_rejects_bad_parameters(mean, cov, match):
    with pytest.raises(ValueError, match=match):
        GaussianProblem(mean, cov)


def test_bad_sigma_x_and_path_are_rejected():
    g = anisotropic_gaussian()
    x = torch.zeros(4, 2, dtype=torch.float64)
    for sigma in (-0.1, float("nan"), float("inf"), torch.tensor([0.1, -0.1, 0.2, 0.3])):
        with pytest.raises(ValueError, match="sigma"):
            g.denoiser(x, sigma)
    for shape in ((3,), (4, 1), (2, 4)):
        with pytest.raises(ValueError, match="sigma"):
            g.denoiser(x, torch.ones(shape))
    assert g.denoiser(x, torch.ones(1)).shape == x.shape
    with pytest.raises(ValueError, match="sigma"):
        g.cov(-1.0)
    with pytest.raises(ValueError, match="x"):
        g.denoiser(torch.zeros(4, 3, dtype=torch.float64), 0.1)
    with pytest.raises(ValueError, match="x"):
        g.log_density(torch.full((4, 2), float("nan")), 0.1)
    with pytest.raises(TypeError, match="x"):
        g.denoiser(np.zeros((4, 2)), 0.1)
    with pytest.raises(ValueError, match="sigma"):
        PointMass([0.0, 1.0]).log_density(x, 0.0)
    with pytest.raises(ValueError, match="n"):
        g.sample(0, 0.1)
    path = BrownianPath(np.linspace(0.0, 1.0, 5), (3, 2), seed=0)
    with pytest.raises(TypeError, match="path"):
        g.exact_solution(x, 0.0, 1.0, 1.0, None)
    with pytest.raises(ValueError, match="path"):
        g.exact_solution(x, 0.0, 1.0, 1.0, path)
    with pytest.raises(ValueError, match="lam_end"):
        g.exact_solution(x, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="eta"):
        g.exact_solution(x, 0.0, 1.0, 1.5)
    with pytest.raises(ValueError, match="x0"):
        PointMass([0.0, float("inf")])


def test_get_problem_knows_every_name():
    for name in PROBLEMS:
        problem = get_problem(name)
        assert problem.name == name
        x = problem.sample(3, 1.0, generator=gen(19))
        assert problem.denoiser(x, 1.0).shape == x.shape
        assert problem.is_linear == (name in ("gaussian", "point_mass"))
        assert isinstance(problem, (GaussianProblem, GaussianMixture))
    assert get_problem("gaussian", mean=[1.0], cov=[[2.0]]).dim == 1
    assert np.array_equal(get_problem("point_mass", x0=[1.0, 2.0, 3.0]).mean(), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="problem"):
        get_problem("nope")
