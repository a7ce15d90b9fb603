"""Whole-chain reads of a Brownian path and the solves built on them (MATH §4, §7, §9).

``BrownianPath.increments`` and ``coarsen_increments`` must give the increments of one query per
interval, ``Solver.solve`` on a path must give what it gives with one query per step, and
``Solver.solve_ladder`` what grid-by-grid solves give: the same numbers up to floating rounding,
compared in ulps of the result's scale (different groupings of the same sums).
"""

import math

import numpy as np
import pytest
import torch

from seeds_verify.convergence import solver_subject
from seeds_verify.convergence.mutants import FrozenUpdate, IndependentEndNoise
from seeds_verify.convergence.studies import StudySetup
from seeds_verify.noise import BrownianPath, coarsen_increments
from seeds_verify.problems import GaussianProblem, anisotropic_gaussian, get_problem
from seeds_verify.problems.base import shared_sigma
from seeds_verify.schedules import SCHEDULES, get_schedule
from seeds_verify.solvers import (SEEDS1, SEEDS2, SEEDS3, DDPMAncestral, DiffusionModel, EulerMaruyama)
from seeds_verify.solvers.base import ChainReader

LAM0, LAM1 = -math.log(80.0), -math.log(0.002)  # EDM's σ̃ range
FINE = np.linspace(LAM0, LAM1, 6 * 32 + 1)  # stage points at 1/2, 1/3, 2/3 of 32 steps are nodes
EPS64 = float(np.finfo(np.float64).eps)
ULPS = 256  # "a few hundred ulps" of the result's scale


def per_call(path, points, k):
    """The reference: one query per interval."""
    return torch.stack([path(points[i], points[i + 1], k) for i in range(len(points) - 1)])


def assert_ulps(actual, expected, ulps=ULPS, eps=EPS64):
    scale = max(float(expected.abs().max()), 1.0)
    worst = float((actual - expected).abs().max())
    assert worst <= ulps * eps * scale, f"differs by {worst / (eps * scale):.1f} ulps of {scale:.3g}"


def slow(path):
    """The same path, answering one call at a time (no whole-chain reads)."""
    return lambda a, b, k: path(a, b, k)


@pytest.fixture(scope="module")
def path():
    return BrownianPath(FINE, (64, 2), seed=11, moments=4)


# --------------------------------------------------------------------------------------------
# BrownianPath.increments
# --------------------------------------------------------------------------------------------

CHAINS = {
    "fine": FINE,
    "coarse": FINE[::6],
    "stages of 1/3, 2/3": np.sort(np.concatenate([FINE[::6], FINE[2::6], FINE[4::6]])),
    "irregular": np.unique(np.concatenate([FINE[3:20:4], FINE[20:120:9], FINE[150::21]])),
    "one interval": FINE[[5, 170]],
}


@pytest.mark.parametrize("k", [0.0, 1.0, -1.0, -2.0, 0.3])
@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_whole_chain_increments_equal_one_query_per_interval(path, chain, k):
    points = CHAINS[chain]
    z = path.increments(points, k)
    assert z.shape == (points.size - 1, 64, 2) and z.dtype == torch.float64
    assert_ulps(z, per_call(path, points, k), ulps=16)


def test_points_that_differ_from_nodes_by_rounding_are_read_like_single_queries(path):
    """Stage points computed as λ_s + c h may miss the node by an ulp; the lengths used are the
    given points', as in a single query."""
    points = FINE[::3] + np.where(np.arange(FINE[::3].size) % 2, 4e-16, -4e-16)
    assert_ulps(path.increments(points, 1.0), per_call(path, points, 1.0), ulps=16)


def test_window_and_cache_sizes_do_not_change_the_increments(monkeypatch):
    """Coefficients formed a few cells at a time (blocks split between windows) and chunks
    redrawn from a tiny cache give the same increments (memory bounded whatever the grid)."""
    import seeds_verify.noise as noise

    points = CHAINS["stages of 1/3, 2/3"]
    big = BrownianPath(FINE, (32, 2), seed=5, moments=3).increments(points, 1.0)
    monkeypatch.setattr(noise, "_WINDOW_CELLS", 7)
    small = BrownianPath(FINE, (32, 2), seed=5, moments=3, chunk_cells=16, cache_bytes=0)
    assert_ulps(small.increments(points, 1.0), big, ulps=16)


def weight_integral(a, b, k):
    """∫_a^b e^{2kλ} dλ."""
    return (b - a) if k == 0 else (math.exp(2 * k * b) - math.exp(2 * k * a)) / (2 * k)


@pytest.mark.parametrize("k", [0.0, 1.0, -1.0])
def test_whole_chain_increments_keep_the_law(k):
    """Rows of a chain are independent standard normals, and the correlation of row i with one
    query over the whole chain is sqrt(∫_i e^{2kλ} / ∫ e^{2kλ}) (Itô isometry, MATH §4)."""
    n = 20000
    p = BrownianPath(FINE, (n,), seed=3, moments=4)
    points = FINE[10:100:15]
    z = p.increments(points, k)
    se = 1 / math.sqrt(n)
    assert float(z.mean(dim=1).abs().max()) < 5 * se
    assert float((z.var(dim=1) - 1).abs().max()) < 5 * math.sqrt(2 / n)
    corr = torch.corrcoef(z)
    assert float((corr - torch.eye(z.shape[0], dtype=corr.dtype)).abs().max()) < 5 * se
    whole = p(points[0], points[-1], k)
    for i in range(points.size - 1):
        exact = math.sqrt(weight_integral(points[i], points[i + 1], k) / weight_integral(points[0], points[-1], k))
        assert abs(float((whole * z[i]).mean()) - exact) < 5 * math.sqrt((1 + exact ** 2) / n)


def test_whole_chain_errors_name_the_argument(path):
    with pytest.raises(ValueError, match=r"points\[1\]=.* is not a node"):
        path.increments([FINE[0], FINE[0] + 1e-3, FINE[5]], 1.0)
    with pytest.raises(ValueError, match="points must be strictly increasing"):
        path.increments([FINE[5], FINE[2]], 1.0)
    with pytest.raises(ValueError, match="points must be a 1-D sequence of at least two"):
        path.increments([FINE[5]], 1.0)
    with pytest.raises(ValueError, match="same node"):
        path.increments([FINE[0], FINE[1], FINE[1] + 1e-12], 1.0)
    with pytest.raises(TypeError, match="k must be a real number"):
        path.increments(FINE[:3], "1")
    wide = BrownianPath(np.linspace(0.0, 4.0, 3), (4,), moments=2)
    with pytest.raises(ValueError, match="k=3.0.*defect_tol"):
        wide.increments([0.0, 2.0, 4.0], 3.0)
    with pytest.raises(ValueError, match="k=3.0.*defect_tol"):
        wide(2.0, 4.0, 3.0)


# --------------------------------------------------------------------------------------------
# coarsen_increments
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [0.0, 1.0, -1.0, 2.5])
@pytest.mark.parametrize("coarse", ["coarse", "irregular", "one interval"])
def test_coarser_chain_from_a_finer_one_equals_its_queries(path, coarse, k):
    points = CHAINS[coarse]
    combined = coarsen_increments(path.increments(FINE, k), FINE, points, k)
    assert_ulps(combined, per_call(path, points, k), ulps=64)


def test_coarsening_a_part_of_the_chain_and_bad_points(path):
    part = FINE[40:161]
    rows = path.increments(part, -1.0)
    assert_ulps(coarsen_increments(rows, part, part[::20], -1.0), per_call(path, part[::20], -1.0), ulps=64)
    with pytest.raises(ValueError, match=r"coarse_points\[1\]=.* is not one of fine_points"):
        coarsen_increments(rows, part, [part[0], part[1] + 1e-9, part[5]], -1.0)
    with pytest.raises(ValueError, match="one row per interval"):
        coarsen_increments(rows[1:], part, part[::20], -1.0)


# --------------------------------------------------------------------------------------------
# Solver.solve reading a path whole-chain
# --------------------------------------------------------------------------------------------

SOLVERS = [EulerMaruyama(), SEEDS1(), SEEDS2(), SEEDS2(1 / 3, "phi_2"), SEEDS2(1.0, "phi_2"), SEEDS3(),
           SEEDS3(variant="3b"), DDPMAncestral()]
IDS = ["em", "seeds1", "seeds2", "seeds2-1/3-phi2", "seeds2-r1", "seeds3", "seeds3b", "ddpm"]


@pytest.fixture(scope="module")
def gaussian_setup():
    problem = anisotropic_gaussian()
    schedule = get_schedule("edm")
    model = DiffusionModel(problem.denoiser, "denoiser", schedule)
    y0 = problem.sample(64, 80.0, generator=torch.Generator().manual_seed(0))
    return problem, schedule, model, y0


@pytest.mark.parametrize("prediction", ["data", "noise"])
@pytest.mark.parametrize("solver", SOLVERS, ids=IDS)
def test_solve_on_a_path_equals_one_query_per_step(gaussian_setup, path, solver, prediction):
    _, schedule, model, y0 = gaussian_setup
    for steps in (4, 32):
        grid = FINE[::FINE.size // steps]
        fast = solver.solve(model, y0, grid, schedule=schedule, noise=path, eta=1.0, prediction=prediction)
        ref = solver.solve(model, y0, grid, schedule=schedule, noise=slow(path), eta=1.0, prediction=prediction)
        assert_ulps(fast, ref)


def test_solve_reads_the_path_in_windows_and_counts_them(gaussian_setup, path, monkeypatch):
    import seeds_verify.solvers.base as base

    _, schedule, model, y0 = gaussian_setup
    reads = []
    real = BrownianPath.increments
    monkeypatch.setattr(BrownianPath, "increments", lambda self, p, k: reads.append(len(p) - 1) or real(self, p, k))
    monkeypatch.setattr(BrownianPath, "__call__", lambda *a: pytest.fail("a per-step query"))
    monkeypatch.setattr(base, "INCREMENT_WINDOW_BYTES", 10 * y0.numel() * 8)  # 10 intervals a window
    out = SEEDS3().solve(model, y0, FINE[::6], schedule=schedule, noise=path, eta=1.0)
    assert reads == [10] * 9 + [6]  # 32 steps × 3 sub-intervals
    monkeypatch.undo()
    assert_ulps(out, SEEDS3().solve(model, y0, FINE[::6], schedule=schedule, noise=slow(path), eta=1.0))


def test_float32_solve_on_a_path(gaussian_setup):
    _, schedule, model, y0 = gaussian_setup
    p32 = BrownianPath(FINE, (64, 2), seed=11, moments=4, dtype=torch.float32)
    x = y0.to(torch.float32)
    fast = SEEDS2().solve(model, x, FINE[::6], schedule=schedule, noise=p32, eta=1.0)
    ref = SEEDS2().solve(model, x, FINE[::6], schedule=schedule, noise=slow(p32), eta=1.0)
    assert fast.dtype == torch.float32
    assert_ulps(fast, ref, eps=float(np.finfo(np.float32).eps))


def test_a_query_off_the_chain_goes_to_the_source(path):
    reader = ChainReader(path, FINE[:4], 1.0, window=2)
    assert torch.equal(reader(FINE[0], FINE[2], 1.0), path(FINE[0], FINE[2], 1.0))  # not the next interval
    assert torch.equal(reader(FINE[0], FINE[1], -1.0), path(FINE[0], FINE[1], -1.0))  # another k
    assert reader.taken == 0
    assert_ulps(reader(FINE[0], FINE[1], 1.0), path(FINE[0], FINE[1], 1.0), ulps=16)
    assert reader.taken == 1


def test_mutants_read_the_path_as_before(gaussian_setup, path):
    """A step that wraps its noise source (recording it) or never calls it keeps its behaviour."""
    _, schedule, model, y0 = gaussian_setup
    grid = FINE[::6]
    for solver in (IndependentEndNoise(), FrozenUpdate()):
        fast = solver.solve(model, y0, grid, schedule=schedule, noise=path, eta=1.0)
        ref = type(solver)().solve(model, y0, grid, schedule=schedule, noise=slow(path), eta=1.0)
        assert_ulps(fast, ref)


# --------------------------------------------------------------------------------------------
# Solver.solve_ladder
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prediction", ["data", "noise"])
@pytest.mark.parametrize("solver", SOLVERS, ids=IDS)
def test_ladder_equals_grid_by_grid_solves(gaussian_setup, path, solver, prediction):
    _, schedule, model, y0 = gaussian_setup
    grids = [FINE[::FINE.size // n] for n in (16, 4, 8)]  # any order
    finals = solver.solve_ladder(model, y0, grids, schedule=schedule, noise=path, eta=1.0, prediction=prediction)
    assert len(finals) == len(grids)
    for grid, final in zip(grids, finals):
        ref = solver.solve(model, y0, grid, schedule=schedule, noise=slow(path), eta=1.0, prediction=prediction)
        assert final.shape == y0.shape and final.dtype == y0.dtype
        assert_ulps(final, ref)


@pytest.mark.parametrize("solver", [EulerMaruyama(), SEEDS1(), SEEDS3()], ids=["em", "seeds1", "seeds3"])
def test_ladder_on_grids_that_do_not_nest(gaussian_setup, path, solver):
    """Grids sharing only some nodes (8 and 5 steps, a part of the range) and η = 0."""
    _, schedule, model, y0 = gaussian_setup
    grids = [FINE[::24], FINE[::36], FINE[96::12], FINE[::6]]
    for eta, noise in ((1.0, path), (0.0, None)):
        finals = solver.solve_ladder(model, y0, grids, schedule=schedule, noise=noise, eta=eta)
        for grid, final in zip(grids, finals):
            ref = solver.solve(model, y0, grid, schedule=schedule, noise=slow(path), eta=eta)
            assert_ulps(final, ref)


def test_ladder_batches_model_calls(gaussian_setup, path):
    """A nested ladder of 4 … 32 steps costs EM 32 model calls (not 60); SEEDS-2 one call per
    step start of the finest grid and one per stage point (the stage points of different grids
    are merged only where they are the same float)."""
    problem, schedule, _, y0 = gaussian_setup
    grids = [FINE[::FINE.size // n] for n in (4, 8, 16, 32)]
    model = DiffusionModel(problem.denoiser, "denoiser", schedule)
    EulerMaruyama().solve_ladder(model, y0, grids, schedule=schedule, noise=path, eta=1.0)
    assert model.calls == 32
    model = DiffusionModel(problem.denoiser, "denoiser", schedule)
    SEEDS2().solve_ladder(model, y0, grids, schedule=schedule, noise=path, eta=1.0)
    assert 32 + 32 <= model.calls <= 32 + 60


def test_ladder_without_a_whole_chain_source_solves_grid_by_grid(gaussian_setup, path):
    _, schedule, model, y0 = gaussian_setup
    grids = [FINE[::24], FINE[::12]]
    finals = SEEDS1().solve_ladder(model, y0, grids, schedule=schedule, noise=slow(path), eta=1.0)
    for grid, final in zip(grids, finals):
        assert torch.equal(final, SEEDS1().solve(model, y0, grid, schedule=schedule, noise=slow(path), eta=1.0))
    with pytest.raises(TypeError, match="grids must be a sequence"):
        SEEDS1().solve_ladder(model, y0, FINE, schedule=schedule, noise=path)
    with pytest.raises(ValueError, match=r"grids\[1\] must be strictly increasing"):
        SEEDS1().solve_ladder(model, y0, [FINE, FINE[::-1]], schedule=schedule, noise=path)


def test_ladder_float32_state(gaussian_setup, path):
    _, schedule, model, y0 = gaussian_setup
    grids = [FINE[::24], FINE[::12], FINE[::6]]
    x = y0.to(torch.float32)
    finals = EulerMaruyama().solve_ladder(model, x, grids, schedule=schedule, noise=path, eta=1.0)
    for grid, final in zip(grids, finals):
        ref = EulerMaruyama().solve(model, x, grid, schedule=schedule, noise=slow(path), eta=1.0)
        assert final.dtype == torch.float32
        assert_ulps(final, ref, eps=float(np.finfo(np.float32).eps))


# --------------------------------------------------------------------------------------------
# The convergence engine's subjects, the model's precomputed schedule, the problems' shared σ̃
# --------------------------------------------------------------------------------------------

class _Counting:
    def __init__(self, noise):
        self.noise, self.calls = noise, 0

    def __call__(self, lam_a, lam_b, k):
        self.calls += 1
        return self.noise(lam_a, lam_b, k)


@pytest.mark.parametrize("choice", ["seeds2", "em", "mutant:frozen_update"])
def test_subject_reads_a_wrapped_path_whole_chain(choice):
    """Through a counting wrapper and with the bare path the run is bit-identical (the engine's
    path-consistency check), the wrapper's count says whether noise was read at all, and the
    result equals one query per step."""
    setup = StudySetup("gaussian", "vp_linear", 1.0, (4, 8, 16), 32, denominators=(2, 3))
    subject = solver_subject(choice, "data", 1.0)
    y0, grid, path = setup.start_points(), setup.grids[16], setup.path()
    counted = _Counting(path)
    a = subject.run(setup, y0, grid, counted, 1.0)
    b = subject.run(setup, y0, grid, path, 1.0)
    assert torch.equal(a, b)
    assert (counted.calls > 0) == (choice != "mutant:frozen_update")
    assert_ulps(a, subject.run(setup, y0, grid, slow(path), 1.0))


@pytest.mark.parametrize("name", SCHEDULES)
def test_precomputed_schedule_values_are_the_schedules(name):
    schedule = get_schedule(name)
    lo, hi = schedule.lam_range()
    lams = np.concatenate([np.linspace(lo, hi, 257), np.random.default_rng(1).uniform(lo, hi, 100)])
    model = DiffusionModel(lambda x, s: x, "denoiser", schedule)
    model.precompute(lams)
    for lam in lams.tolist():
        assert model._coeff_cache[lam] == (float(schedule.alpha_of_lam(lam)), float(schedule.sigma_of_lam(lam)))


def test_shared_sigma():
    x = torch.zeros(5, 3, 2, dtype=torch.float64)
    assert shared_sigma(0.5, x) == 0.5
    assert shared_sigma(torch.tensor(0.25), x) == 0.25
    assert shared_sigma(torch.full((5, 3), 0.3, dtype=torch.float32), x) == float(torch.tensor(0.3, dtype=torch.float32))
    assert shared_sigma(torch.full((5, 1), 2.0), x) == 2.0
    assert shared_sigma(torch.tensor([0.3, 0.3, 0.4, 0.3, 0.3])[:, None], x) is None
    assert shared_sigma(torch.tensor([math.nan] * 5)[:, None], x) is None
    assert shared_sigma(torch.full((5, 3), -1.0), x) is None
    with pytest.raises(ValueError, match="does not broadcast"):
        shared_sigma(torch.full((4,), 0.3), x)
    with pytest.raises(TypeError, match="real tensor"):
        shared_sigma(torch.ones(5, 3, dtype=torch.bool), x)
    with pytest.raises(ValueError, match="finite and >= 0"):
        shared_sigma(-0.5, x)


@pytest.mark.parametrize("name", ["gaussian", "gmm", "point_mass"])
def test_one_sigma_as_a_tensor_is_the_float(name):
    """A (batch,) tensor of one σ̃ gives bit for bit what the float gives; a NaN or a negative
    entry is still refused."""
    problem = get_problem(name)
    x = problem.sample(50, 1.0, generator=torch.Generator().manual_seed(2))
    for s in (0.0, 0.37, 12.0):
        if s == 0.0 and name == "point_mass":
            continue
        assert torch.equal(problem.denoiser(x, torch.full((50,), s, dtype=torch.float64)), problem.denoiser(x, s))
    varying = torch.linspace(0.1, 2.0, 50, dtype=torch.float64)
    expect = torch.stack([problem.denoiser(x[i:i + 1], float(varying[i]))[0] for i in range(50)])
    assert torch.allclose(problem.denoiser(x, varying), expect, rtol=1e-12, atol=1e-12)
    for bad in (math.nan, -1.0):
        with pytest.raises(ValueError, match="sigma must be finite and >= 0"):
            problem.denoiser(x, torch.full((50,), bad, dtype=torch.float64))


def test_gaussian_problem_denoiser_keeps_its_affine_form():
    problem = GaussianProblem([0.5, -1.0], [[1.0, 0.3], [0.3, 0.5]])
    x = torch.randn(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    g, c = problem.denoiser_affine(0.8)
    assert_ulps(problem.denoiser(x, torch.full((7,), 0.8, dtype=torch.float64)),
                x @ torch.as_tensor(g).T + torch.as_tensor(c), ulps=8)
