"""Reference solvers: exactness, path consistency, marginals, dtypes, bad input (MATH §6–§8)."""

import math

import numpy as np
import pytest
import torch

from seeds_verify.convergence.mutants import SwappedNoiseCorrelation
from seeds_verify.noise import BrownianPath, GaussianNoise
from seeds_verify.problems import GaussianProblem
from seeds_verify.schedules import get_schedule
from seeds_verify.schemes import SchemeSpec, Stage
from seeds_verify.solvers import (SEEDS1, SEEDS2, SEEDS3, DDPMAncestral, DiffusionModel,
                                  EulerMaruyama, ExponentialSolver, make_solver)

LAM0, LAM1 = -3.0, 4.0
X0 = torch.tensor([1.5, -0.7], dtype=torch.float64)


def point_mass_model(schedule):
    return DiffusionModel(lambda x, s: X0.to(x.dtype).expand_as(x), "denoiser", schedule)


def exact_start(schedule, n, seed, cov=None, mu=None):
    """A sample of the exact p at LAM0 (α·(x0 + σ̃ ε))."""
    g = torch.Generator().manual_seed(seed)
    alpha = float(schedule.alpha_of_lam(LAM0))
    mu = X0 if mu is None else torch.as_tensor(mu, dtype=torch.float64)
    d = mu.numel()
    cov = torch.zeros(d, d, dtype=torch.float64) if cov is None else torch.as_tensor(cov, dtype=torch.float64)
    var = cov + math.exp(-2 * LAM0) * torch.eye(d, dtype=torch.float64)
    y = mu + torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(var).T
    return alpha * y


DATA_SCHEMES = [SEEDS1(), SEEDS2(0.5, "phi_1"), SEEDS2(1 / 3, "phi_1"), SEEDS2(1 / 3, "phi_2"),
                SEEDS2(1.0, "phi_1"), SEEDS2(1.0, "phi_2"), SEEDS3(variant="3a"), SEEDS3(variant="3b")]


def multi_grid_results(solver, schedule, eta=1.0, steps=(3, 6, 12, 24)):
    fine = np.linspace(LAM0, LAM1, max(steps) * 6 + 1)
    x = exact_start(schedule, 8, seed=11)
    out = []
    for n in steps:
        path = BrownianPath(fine, x.shape, seed=5)
        out.append(solver.solve(point_mass_model(schedule), x, np.linspace(LAM0, LAM1, n + 1),
                                schedule=schedule, noise=path, eta=eta, prediction="data"))
    return out


@pytest.mark.parametrize("schedule_name", ["vp_linear", "edm"])
@pytest.mark.parametrize("solver", DATA_SCHEMES, ids=lambda s: f"{s.name}-r{s._fractions[0]:.3f}")
def test_point_mass_data_form_is_exact_on_one_path(solver, schedule_name):
    """MATH §8: D ≡ x0 makes every data-form SEEDS exact, so 3, 6, 12, 24 steps agree."""
    results = multi_grid_results(solver, get_schedule(schedule_name))
    scale = results[-1].abs().max()
    for r in results[:-1]:
        assert (r - results[-1]).abs().max() <= 1e-10 * scale


def test_swapped_noise_keeps_variances_but_breaks_the_path():
    schedule = get_schedule("edm")
    right, wrong = SEEDS2(1 / 3), SwappedNoiseCorrelation(1 / 3)
    lam = np.linspace(LAM0, LAM1, 5)
    cr = right.coefficients(lam, schedule, 1.0, "data").noise
    cw = wrong.coefficients(lam, schedule, 1.0, "data").noise
    np.testing.assert_allclose((cr ** 2).sum(-1), (cw ** 2).sum(-1), rtol=1e-13)  # variances equal
    assert not np.allclose(cr, cw)
    results = multi_grid_results(wrong, schedule)
    spread = max((r - results[-1]).abs().max().item() for r in results[:-1])
    assert spread > 1e-3 * results[-1].abs().max().item()
    # at c = 1/2 the swap changes nothing
    half = multi_grid_results(SwappedNoiseCorrelation(0.5), schedule)
    assert max((r - half[-1]).abs().max().item() for r in half[:-1]) <= 1e-10 * half[-1].abs().max()


# Step counts keep the weak (discretisation) bias below one standard error of the check:
# SEEDS-1's variance bias is ≈ 6/N here (weak order 1), SEEDS-2/3's is below 0.01 at N = 60.
@pytest.mark.parametrize("solver,prediction,steps", [(SEEDS3(), "data", 60), (SEEDS2(1 / 3, "phi_2"), "noise", 60),
                                                     (SEEDS1(), "data", 600)])
def test_gaussian_data_final_marginal_within_five_standard_errors(solver, prediction, steps):
    """MATH §8: started from the exact p_T, the samples at λ_end follow N(α μ, α²(Σ + σ̃² I))."""
    schedule = get_schedule("vp_linear")
    mu, cov = [1.0, -2.0], [[1.0, 0.6], [0.6, 0.5]]
    data = GaussianProblem(mu, cov)
    model = DiffusionModel(data.denoiser, "denoiser", schedule)
    n = 20000
    x = exact_start(schedule, n, seed=3, cov=cov, mu=mu)
    out = solver.solve(model, x, np.linspace(LAM0, LAM1, steps + 1), schedule=schedule,
                       noise=GaussianNoise(x.shape, seed=9, dtype=torch.float64), eta=1.0,
                       prediction=prediction)
    alpha = float(schedule.alpha_of_lam(LAM1))
    exact_cov = alpha ** 2 * (np.array(cov) + math.exp(-2 * LAM1) * np.eye(2))
    exact_mean = alpha * np.array(mu)
    mean = out.mean(0).numpy()
    se_mean = np.sqrt(np.diag(exact_cov) / n)
    assert np.all(np.abs(mean - exact_mean) < 5 * se_mean)
    emp = np.cov(out.numpy().T)
    # var of a sample covariance entry: (Σ_ij² + Σ_ii Σ_jj)/n
    se_cov = np.sqrt((exact_cov ** 2 + np.outer(np.diag(exact_cov), np.diag(exact_cov))) / n)
    assert np.all(np.abs(emp - exact_cov) < 5 * se_cov)


def test_eta_zero_is_deterministic_and_draws_no_noise():
    schedule = get_schedule("edm")
    data = GaussianProblem([0.5, 0.0], [[1.0, 0.0], [0.0, 2.0]])
    model = DiffusionModel(data.denoiser, "denoiser", schedule)
    x = exact_start(schedule, 4, seed=1, mu=[0.5, 0.0])

    def forbidden(a, b, k):
        raise AssertionError("noise drawn at eta = 0")

    for solver in DATA_SCHEMES + [EulerMaruyama(), DDPMAncestral()]:
        a = solver.solve(model, x, np.linspace(LAM0, LAM1, 9), schedule=schedule, noise=forbidden, eta=0.0)
        b = solver.solve(model, x, np.linspace(LAM0, LAM1, 9), schedule=schedule, eta=0.0)
        assert torch.equal(a, b)


def test_em_data_and_noise_forms_agree():
    schedule = get_schedule("vp_linear")
    data = GaussianProblem([0.5, 0.0], [[1.0, 0.3], [0.3, 2.0]])
    model = DiffusionModel(data.denoiser, "denoiser", schedule)
    x = exact_start(schedule, 6, seed=2, mu=[0.5, 0.0])
    lam = np.linspace(LAM0, LAM1, 40)
    a = EulerMaruyama().solve(model, x, lam, schedule=schedule, noise=GaussianNoise(x.shape, seed=1, dtype=torch.float64))
    b = EulerMaruyama().solve(model, x, lam, schedule=schedule, prediction="noise",
                              noise=GaussianNoise(x.shape, seed=1, dtype=torch.float64))
    assert torch.allclose(a, b, rtol=1e-10, atol=1e-10)


def test_ddpm_at_eta_one_is_seeds1_data_form():
    schedule = get_schedule("vp_linear")
    data = GaussianProblem([0.5, 0.0], [[1.0, 0.3], [0.3, 2.0]])
    model = DiffusionModel(data.denoiser, "denoiser", schedule)
    x = exact_start(schedule, 6, seed=2, mu=[0.5, 0.0])
    lam = np.linspace(LAM0, LAM1, 25)
    fine = np.linspace(LAM0, LAM1, 25)
    a = DDPMAncestral().solve(model, x, lam, schedule=schedule, noise=BrownianPath(fine, x.shape, seed=4))
    b = SEEDS1().solve(model, x, lam, schedule=schedule, noise=BrownianPath(fine, x.shape, seed=4))
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_dtypes_and_batch_dimensions():
    schedule = get_schedule("edm")
    model = point_mass_model(schedule)
    x = torch.randn(2, 3, 2, dtype=torch.float64)
    lam = np.linspace(LAM0, LAM1, 5)
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        out = SEEDS2().solve(model, x.to(dtype), lam, schedule=schedule,
                             noise=GaussianNoise((2, 3, 2), seed=0))
        assert out.dtype == dtype and out.shape == x.shape and torch.isfinite(out.float()).all()


def test_declared_orders():
    for solver, det in [(SEEDS1(), 1), (SEEDS2(), 2), (SEEDS3(), 3), (EulerMaruyama(), 1)]:
        assert solver.expected_order("deterministic", 1.0) == det
        assert solver.expected_order("strong", 0.0) == det  # η = 0: the ODE solver
        assert solver.expected_order("strong", 1.0) == 1.0
    with pytest.raises(ValueError, match="regime"):
        SEEDS1().expected_order("fast", 1.0)


def test_bad_input_names_the_argument():
    schedule = get_schedule("edm")
    model = point_mass_model(schedule)
    x = torch.zeros(2, 2)
    lam = np.linspace(LAM0, LAM1, 4)
    cases = [
        (dict(lambdas=lam[::-1]), ValueError, "lambdas"),
        (dict(lambdas=[0.0, float("nan"), 1.0]), ValueError, "lambdas"),
        (dict(eta=1.5), ValueError, "eta"),
        (dict(eta=-0.1), ValueError, "eta"),
        (dict(eta="1"), TypeError, "eta"),
        (dict(prediction="score"), ValueError, "prediction"),
        (dict(s_noise=-1.0), ValueError, "s_noise"),
        (dict(x=torch.zeros(2, 2, dtype=torch.int64)), TypeError, "x"),
        (dict(x=torch.tensor([[float("nan"), 0.0]])), ValueError, "x"),
    ]
    for kwargs, err, name in cases:
        args = dict(x=x, lambdas=lam, eta=1.0, prediction="data", s_noise=1.0)
        args.update(kwargs)
        with pytest.raises(err, match=name):
            SEEDS1().solve(model, args["x"], args["lambdas"], schedule=schedule, eta=args["eta"],
                           prediction=args["prediction"], s_noise=args["s_noise"])
    for bad_r in (0.0, 1.0000001, -0.5, float("nan")):
        with pytest.raises(ValueError, match="r must lie in"):
            SEEDS2(r=bad_r)
    with pytest.raises(ValueError, match="r_1"):
        SEEDS3(r_1=0.7, r_2=0.5)
    with pytest.raises(ValueError, match="solver_type"):
        SEEDS2(variant="phi_3")
    with pytest.raises(ValueError, match="solver_type"):
        SEEDS3(variant="3c")
    with pytest.raises(ValueError, match="solver"):
        make_solver("heun")
    with pytest.raises(ValueError, match="kind"):
        DiffusionModel(lambda x, t: x, "score", schedule)


# --------------------------------------------------------------------------------------------
# SEEDS-2 at r = 1: the stage sits at the end point, the second sub-interval has zero length
# --------------------------------------------------------------------------------------------


class CountingNoise:
    """Gaussian increments that record the sub-intervals they were asked for."""

    def __init__(self, shape, seed=0):
        self.calls = []
        self.source = GaussianNoise(shape, seed=seed, dtype=torch.float64)

    def __call__(self, lam_a, lam_b, k):
        self.calls.append((lam_a, lam_b))
        return self.source(lam_a, lam_b, k)


@pytest.mark.parametrize("variant", ["phi_1", "phi_2"])
def test_seeds2_at_r_one_draws_once_per_step(variant):
    schedule = get_schedule("vp_linear")
    solver = SEEDS2(1.0, variant)
    assert solver.nfe_per_step == 2
    lam = np.linspace(LAM0, LAM1, 7)
    noise = CountingNoise((4, 2))
    out = solver.solve(point_mass_model(schedule), exact_start(schedule, 4, seed=3), lam,
                       schedule=schedule, noise=noise, eta=1.0)
    assert torch.isfinite(out).all()
    assert noise.calls == [(lam[n], lam[n + 1]) for n in range(lam.size - 1)]


@pytest.mark.parametrize("prediction", ["data", "noise"])
def test_repeated_stage_fraction_skips_the_empty_sub_interval(prediction):
    """Generic ExponentialSolver: two equal consecutive fractions give a zero-length sub-interval
    that is never handed to the noise source. Repeating SEEDS-2's stage (same nodes) leaves the
    scheme unchanged, so the result equals SEEDS-2 with the same draws."""
    spec = SchemeSpec("seeds2_repeated_stage", (Stage(0.5, (0,)), Stage(0.5, (0,)), Stage(1, (0, 1))), 2, 1.0, 2)
    schedule = get_schedule("vp_linear")
    data = GaussianProblem([0.5, -1.0], [[1.0, 0.2], [0.2, 0.4]])
    model = DiffusionModel(data.denoiser, "denoiser", schedule)
    x = exact_start(schedule, 4, seed=5, cov=[[1.0, 0.2], [0.2, 0.4]], mu=[0.5, -1.0])
    lam = np.linspace(LAM0, LAM1, 6)
    repeated, plain = CountingNoise((4, 2), seed=8), CountingNoise((4, 2), seed=8)
    a = ExponentialSolver(spec).solve(model, x, lam, schedule=schedule, noise=repeated, prediction=prediction)
    b = SEEDS2(0.5, "phi_2").solve(model, x, lam, schedule=schedule, noise=plain, prediction=prediction)
    assert repeated.calls == plain.calls and len(plain.calls) == 2 * (lam.size - 1)
    assert all(hi > lo for lo, hi in repeated.calls)
    torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("prediction", ["data", "noise"])
@pytest.mark.parametrize("variant", ["phi_1", "phi_2"])
def test_seeds2_at_r_one_is_second_order_at_eta_zero(variant, prediction):
    """η = 0 on a Gaussian problem, against its exact flow (MATH §8): the error of a
    deterministic order-2 scheme falls by about 4 when the step count doubles; ≥ 2^1.75 is
    required (measured: 2^1.9 to 2^2.1 from 16 to 32 steps; SEEDS-1 would give about 2)."""
    schedule = get_schedule("vp_linear")
    data = GaussianProblem([1.0, -2.0], [[1.0, 0.6], [0.6, 0.5]])
    model = DiffusionModel(data.denoiser, "denoiser", schedule)
    start = exact_start(schedule, 16, seed=4, cov=[[1.0, 0.6], [0.6, 0.5]], mu=[1.0, -2.0])
    y_start = start / float(schedule.alpha_of_lam(LAM0))
    exact = data.exact_solution(y_start, LAM0, LAM1, 0.0) * float(schedule.alpha_of_lam(LAM1))
    errors = []
    for n in (16, 32):
        out = SEEDS2(1.0, variant).solve(model, start, np.linspace(LAM0, LAM1, n + 1), schedule=schedule,
                                         eta=0.0, prediction=prediction)
        errors.append((out - exact).abs().max().item())
    assert 2 ** 1.75 <= errors[0] / errors[1] <= 2 ** 2.25, errors


@pytest.mark.parametrize("kind", ["data", "noise", "v"])
def test_model_wrapper_parametrisations_agree(kind):
    """A denoiser, and the same model as ε-, x0- or v-prediction, give the same D and ε̂ (MATH §2)."""
    schedule = get_schedule("vp_linear")
    data = GaussianProblem([0.5, -1.0], [[1.0, 0.2], [0.2, 0.4]])

    def as_kind(x, t):
        t0 = float(t[0])
        alpha, sigma = float(schedule.alpha(t0)), float(schedule.sigma(t0))
        d = data.denoiser(x / alpha, sigma / alpha)
        eps = (x - alpha * d) / sigma
        return {"data": d, "noise": eps, "v": alpha * eps - sigma * d}[kind]

    ref = DiffusionModel(data.denoiser, "denoiser", schedule)
    other = DiffusionModel(as_kind, kind, schedule)
    x = torch.randn(5, 2, dtype=torch.float64)
    for lam in (-2.0, 0.3, 3.0):
        assert torch.allclose(ref.data(x, lam), other.data(x, lam), rtol=1e-9, atol=1e-9)
        assert torch.allclose(ref.noise(x, lam), other.noise(x, lam), rtol=1e-9, atol=1e-9)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    schedule = get_schedule("vp_linear")
    model_cpu = point_mass_model(schedule)
    x = exact_start(schedule, 16, seed=1)
    draws = [torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(i)) for i in range(64)]

    def replay(device):
        it = iter(draws)
        return lambda a, b, k: next(it).to(device)

    lam = np.linspace(LAM0, LAM1, 9)
    cpu = SEEDS3().solve(model_cpu, x, lam, schedule=schedule, noise=replay("cpu"))
    model_cuda = DiffusionModel(lambda y, s: X0.to(y.device).expand_as(y), "denoiser", schedule)
    gpu = SEEDS3().solve(model_cuda, x.cuda(), lam, schedule=schedule, noise=replay("cuda"))
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Fraction types, s_noise types, the noise form over very large steps, the rounding gain
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make,err,name", [
    (lambda: SEEDS3(r_1=None), TypeError, "r_1"), (lambda: SEEDS3(r_2=None), TypeError, "r_2"),
    (lambda: SEEDS2(r=None), TypeError, "r"), (lambda: SEEDS2(r="0.5"), TypeError, "r"),
    (lambda: SEEDS2(r=True), TypeError, "r"), (lambda: SEEDS2(r=torch.tensor(0.5)), TypeError, "r"),
    (lambda: SEEDS2(r=1e-5), ValueError, "r=1e-05"),
    (lambda: SEEDS3(0.5, 0.5001, "3b"), ValueError, "r_1=0.5, r_2=0.5001"),
])
def test_solver_fractions_are_checked(make, err, name):
    with pytest.raises(err, match=rf"^{name}"):
        make()


@pytest.mark.parametrize("s_noise,err", [("abc", TypeError), (1j, TypeError), (None, TypeError), (True, TypeError),
                                         (float("nan"), ValueError), (-1.0, ValueError)])
def test_solve_s_noise_type_and_value(s_noise, err):
    schedule = get_schedule("edm")
    with pytest.raises(err, match="s_noise"):
        SEEDS1().solve(point_mass_model(schedule), torch.zeros(2, 2), np.linspace(LAM0, LAM1, 3),
                       schedule=schedule, s_noise=s_noise)


@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
def test_noise_form_seeds1_coefficients_are_bounded_for_any_step(eta):
    """EDM (α = 1), noise form, SEEDS-1: model weight −(1+η) σ_t(e^h − 1) = −(1+η) σ_s(1 − e^{−h}) and
    noise weight σ_t sqrt(η(e^{2h} − 1)) = σ_s sqrt(η(1 − e^{−2h})). Both are bounded by σ_s while
    e^{2h} overflows from h ≈ 355 and e^h from h ≈ 710; the coefficients must match the bounded
    forms to a few ulp (φ_1 ≤ 4 ulp, one exp, three products: 8 ulp) for h up to 1400."""
    schedule = get_schedule("edm")
    hs = (-700.0 + np.logspace(-3, math.log10(1400.0), 40)) + 700.0  # steps exact in λ = −700 + h
    coeffs = [SEEDS1().coefficients(np.array([-700.0, -700.0 + h]), schedule, eta, "noise") for h in hs]
    sigma_s = math.exp(700.0)
    model = np.array([c.model[0][0, 0] for c in coeffs])
    noise = np.array([c.noise[0, 0, 0] for c in coeffs])
    assert np.all(np.isfinite(model)) and np.all(np.isfinite(noise))
    want_model = -(1 + eta) * sigma_s * -np.expm1(-hs)
    assert np.max(np.abs(model - want_model) / np.spacing(np.abs(want_model))) <= 8
    if eta > 0:
        want_noise = sigma_s * np.sqrt(eta * -np.expm1(-2 * hs))
        assert np.max(np.abs(noise - want_noise) / np.spacing(want_noise)) <= 8


@pytest.mark.parametrize("solver", [SEEDS2(1 / 3, "phi_2"), SEEDS3(variant="3b")], ids=lambda s: s.name)
def test_noise_form_discounted_coefficients_agree_with_the_direct_ones(solver):
    """For moderate steps the solver's discounted noise-form coefficients (σ_s-scaled weights
    e^{−ch} ω) equal σ_c times the undiscounted weights to a few ulp (each side ≤ 8 ulp from
    exact: 16)."""
    from seeds_verify import coefficients as C
    schedule = get_schedule("vp_linear")
    lam = np.linspace(-4.0, 6.0, 11)
    got = solver.coefficients(lam, schedule, 0.7, "noise")
    h = np.diff(lam)
    sigma_c = np.asarray(schedule.sigma_of_lam(got.lam_points))
    for i, stage in enumerate(solver.spec.stages):
        direct = -(1.7) * sigma_c[:, i, None] * C.stage_kernel_weights(
            solver._fractions[i], h, 0.7, "noise", solver._node_fractions[i], stage.averaged)
        assert np.max(np.abs(got.model[i] - direct) / np.spacing(np.abs(direct))) <= 16
    direct_noise = sigma_c[:, :, None] * C.noise_factor(solver._fractions, h, 0.7, "noise")
    mask = direct_noise != 0
    assert np.array_equal(mask, got.noise != 0)
    assert np.max(np.abs(got.noise - direct_noise)[mask] / np.spacing(np.abs(direct_noise[mask]))) <= 16


@pytest.mark.parametrize("solver", [SEEDS1(), SEEDS2(0.5), SEEDS2(1.0, "phi_2"), SEEDS3(), SEEDS3(variant="3b")],
                         ids=lambda s: f"{s.name}-{s._fractions[0]:.2f}")
def test_rounding_gain_bounds_the_noise_form_rounding_error(solver):
    """Point mass, noise form, η = 0: exact in exact arithmetic (ε̂ is constant along the flow), so
    the computed step's error is pure rounding. It must stay within 4·G·u·max|x_s| (G the
    step's rounding gain) for ratios σ_s/σ_t from 10 to 1e8 in float64 and float32."""
    schedule = get_schedule("edm")
    for dtype in (torch.float64, torch.float32):
        unit = torch.finfo(dtype).eps / 2
        for rho in (1e1, 1e2, 1e4, 1e6, 1e8):
            lam = np.array([-math.log(100.0), -math.log(100.0 / rho)])
            gain = float(solver.rounding_gain(lam, schedule, 0.0, "noise")[0])
            x = (X0 + 100.0 * torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
            out = solver.solve(point_mass_model(schedule), x.to(dtype), lam, schedule=schedule, eta=0.0,
                               prediction="noise").double()
            exact = X0 + (1.0 / rho) * (x.to(dtype).double() - X0)
            err = float((out - exact).abs().max())
            assert err <= 4 * gain * unit * float(x.abs().max()), (solver.name, dtype, rho, err, gain)


# --------------------------------------------------------------------------------------------
# The linear factor in float32: increment form (base.split_linear)
# --------------------------------------------------------------------------------------------

def _zero_model(schedule):
    return DiffusionModel(lambda x, s: torch.zeros_like(x), "denoiser", schedule)


@pytest.mark.parametrize("solver", [SEEDS1(), SEEDS3(variant="3a"), EulerMaruyama()], ids=lambda s: s.name)
@pytest.mark.parametrize("ladder", [False, True], ids=["solve", "solve_ladder"])
def test_float32_linear_factor_rounding_does_not_accumulate(solver, ladder):
    """With D ≡ 0 a step is x ← L x. Rounding L to float32 errs by up to u/2 relative, the same for
    every sample, so N direct products drift by a random walk of N such errors (≈ √N u/(2√3),
    18 u at N = 4096). In increment form only L − 1 is rounded: the drift is at most
    (u/2) Σ|L_n − 1| ≈ (u/2)(λ range) plus the per-sample rounding of the adds, which averages
    out over samples (5 standard errors allowed)."""
    schedule = get_schedule("edm")
    lam = np.linspace(0.0, 1.1, 4097)  # h = 1.1 · 2⁻¹²: 1 − h is not a float32
    g = torch.Generator().manual_seed(0)
    x = 1.0 + torch.rand(4000, 2, generator=g, dtype=torch.float64)
    runs = {}
    for dtype in (torch.float32, torch.float64):
        start = x.to(torch.float32).to(dtype)
        if ladder:
            runs[dtype] = solver.solve_ladder(_zero_model(schedule), start, [lam[::2], lam], schedule=schedule,
                                              noise=None, eta=0.0, prediction="data")[-1]
        else:
            runs[dtype] = solver.solve(_zero_model(schedule), start, lam, schedule=schedule, noise=None,
                                       eta=0.0, prediction="data")
    rel = (runs[torch.float32].double() / runs[torch.float64] - 1.0).reshape(-1)
    u = float(torch.finfo(torch.float32).eps)
    # Σ_n |L_n − 1| over every stage of every step (EM on EDM: L = 1 − h; a stage of a SEEDS
    # step at fraction c: L = e^{−ch}).
    fractions = solver.spec.fractions if hasattr(solver, "spec") else (1.0,)
    bound = 0.5 * u * float(sum(np.abs(np.expm1(-c * np.diff(lam))).sum() for c in map(float, fractions)))
    se = float(rel.std()) / math.sqrt(rel.numel())
    assert abs(float(rel.mean())) <= bound + 5 * se, (float(rel.mean()) / u, bound / u, se / u)
