"""Sharding a weak study: rows of a Brownian path drawn in row blocks, shard ranges, the
antithetic reflection of a path, and per-block start draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seeds_verify.convergence.antithetic import ReflectedPath
from seeds_verify.convergence.shards import ShardResult, StudySpec, shard_ranges
from seeds_verify.noise import BrownianPath

GRID = np.linspace(-2.0, 3.0, 97)


def test_row_blocks_give_the_rows_of_the_full_path():
    full = BrownianPath(GRID, (11, 2), seed=4, moments=3, row_block=4)
    for offset, rows in ((0, 4), (4, 4), (8, 3), (4, 7)):
        part = BrownianPath(GRID, (rows, 2), seed=4, moments=3, row_block=4, row_offset=offset)
        for k in (1.0, -1.0, 0.0):
            z, zp = full(GRID[5], GRID[60], k), part(GRID[5], GRID[60], k)
            np.testing.assert_allclose(zp.numpy(), z[offset:offset + rows].numpy(), rtol=0, atol=1e-15)
    # Row blocks are a different path from the single-stream default, and each block's numbers
    # are its own: the default path's first rows are not these.
    assert not torch.equal(BrownianPath(GRID, (4, 2), seed=4, moments=3)(GRID[0], GRID[-1], 1.0),
                           full(GRID[0], GRID[-1], 1.0)[:4])


@pytest.mark.parametrize("kwargs, name", [({"row_block": 0}, "row_block"), ({"row_offset": 3}, "row_offset"),
                                          ({"row_block": 4, "row_offset": 6}, "row_offset"),
                                          ({"row_block": 2.0}, "row_block")])
def test_row_block_arguments_are_checked(kwargs, name):
    with pytest.raises((TypeError, ValueError), match=name):
        BrownianPath(GRID, (4, 2), **kwargs)


def test_shard_ranges_tile_the_paths_on_block_boundaries():
    assert shard_ranges(150, 3, 32) == ((0, 64), (64, 96), (96, 150))
    assert shard_ranges(150, 99, 32) == ((0, 32), (32, 64), (64, 96), (96, 128), (128, 150))
    assert shard_ranges(10, 1, 32) == ((0, 10),)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="shards"):
            shard_ranges(10, bad, 32)


def test_merge_refuses_a_gap():
    part = lambda a, b: ShardResult(a, b, np.zeros((b - a, 1, 1)), None, np.zeros((b - a, 1)),  # noqa: E731
                                    np.zeros((b - a, 1)), np.ones(1, dtype=int), 2, 0.0, 0.0)
    assert ShardResult.merge([part(4, 8), part(0, 4)]).diffs.shape[0] == 8
    with pytest.raises(ValueError, match="do not tile"):
        ShardResult.merge([part(0, 4), part(5, 8)])


def test_reflection_keeps_the_coarse_increments_and_the_law():
    path = BrownianPath(GRID, (40000,), seed=1, moments=3)
    cells = GRID[::8]
    reflected = ReflectedPath(path, cells, 1.0)
    # What a sampler on the cells reads is unchanged (unions of cells included) ...
    for pts in (cells, cells[::2], cells[[0, 3, 12]]):
        np.testing.assert_allclose(reflected.increments(pts, 1.0).numpy(), path.increments(pts, 1.0).numpy(),
                                   rtol=0, atol=1e-12)
    # ... while the sub-cell detail changes sign: z̃ is again N(0, 1), with the covariance
    # 2ρ² − 1 against z (ρ² the share of z's variance on the cell's weight).
    for pts, k in ((GRID[:9:2], 1.0), (GRID[3:20:3], -1.0), (GRID[5:30:5], 0.0)):
        z, zr = path.increments(pts, k), reflected.increments(pts, k)
        se = 4.0 / np.sqrt(z.shape[1])
        assert np.all(np.abs(zr.var(dim=1).numpy() - 1.0) < 2 * se)
        assert np.all((z * zr).mean(dim=1).numpy() < 1.0 - 0.05)
    assert reflected(GRID[2], GRID[6], 1.0).shape == (40000,)


def test_block_start_draws_do_not_depend_on_the_number_of_paths():
    a = StudySpec("gmm", "edm", 1.0, (4, 8, 16), 100, 3, "cpu", torch.float64, (1,), 32)
    b = StudySpec("gmm", "edm", 1.0, (4, 8, 16), 70, 3, "cpu", torch.float64, (1,), 32)
    ya, yb = a.setup(2).start_points(), b.setup(2).start_points()
    assert ya.shape == (32, 2) and yb.shape == (6, 2)
    assert torch.equal(ya[:6], yb)
    assert not torch.equal(a.setup(1).start_points(), ya)


# --------------------------------------------------------------------------------------------
# Pathwise (strong and deterministic) studies in shards
# --------------------------------------------------------------------------------------------

def _seeds2():
    from seeds_verify.convergence import sampler_subject
    from seeds_verify.samplers import sample_seeds_2

    return sampler_subject(sample_seeds_2, eta=1.0)


@pytest.mark.parametrize("problem, eta, dtype", [("gmm", 1.0, torch.float64), ("gaussian", 1.0, torch.float32),
                                                 ("gmm", 0.0, torch.float64)])
def test_pathwise_numbers_of_a_path_do_not_depend_on_the_split(problem, eta, dtype):
    """Each path's errors are a function of the seed, its block and the code: one shard, three
    shards, and a study of fewer paths (full blocks) give the same rows, bit for bit (float32 with its float64
    twin, deterministic with its ODE reference)."""
    from seeds_verify.convergence.shards import LocalRunner, PathwiseResult, StudySpec, study_shard

    subject = _seeds2()
    spec = StudySpec(problem, "edm", eta, (4, 8, 16), 100, 3, "cpu", dtype, (2,), 32, regime="pathwise")
    whole = LocalRunner().run(subject, spec, {})
    split = LocalRunner(shards=3).run(subject, spec, {})
    assert isinstance(whole, PathwiseResult) and whole.errors.shape == (100, 3)
    assert np.isfinite(whole.errors).all() and whole.inconsistent is None
    for name in ("errors", "twin_errors", "twin_gaps", "reference_norms", "reference_own"):
        a, b = getattr(whole, name), getattr(split, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert np.array_equal(a, b), name
    assert (whole.twin_errors is not None) == (dtype != torch.float64)
    assert (whole.reference_own is not None) == (problem == "gmm" and eta > 0)
    # A full block is the same in a study of fewer paths (a partial one is solved as a batch of
    # its own rows: the ODE reference's adaptive steps depend on the batch).
    fewer = StudySpec(problem, "edm", eta, (4, 8, 16), 70, 3, "cpu", dtype, (2,), 32, regime="pathwise")
    part = study_shard(subject, fewer, 32, 70, None)
    assert np.array_equal(part.errors[:32], whole.errors[32:64])
    # Only the asked levels are run, with the same numbers.
    finest = LocalRunner().run(subject, spec, {}, levels=(8,))
    assert np.array_equal(finest.errors[:, 0], whole.errors[:, 1])


def test_pathwise_spec_defaults_and_checks():
    from seeds_verify.convergence.shards import PATH_BLOCK, PATHWISE_BLOCK, StudySpec
    from seeds_verify.convergence.studies import StudySetup

    setup = StudySetup("gaussian", "edm", 1.0, (4, 8, 16), 10)
    assert StudySpec.of(setup, "pathwise").path_block == PATHWISE_BLOCK
    assert StudySpec.of(setup).path_block == PATH_BLOCK
    setup.path_block = 16
    assert StudySpec.of(setup, "pathwise").path_block == 16
    with pytest.raises(ValueError, match="regime"):
        StudySpec("gmm", "edm", 1.0, (4, 8, 16), 10, 0, "cpu", torch.float64, (1,), regime="strong")
    # A deterministic reference reads no path: it is shared by ladders; a strong one is not.
    det = StudySpec("gmm", "edm", 0.0, (4, 8, 16), 10, 0, "cpu", torch.float64, (2,), regime="pathwise")
    strong = StudySpec("gmm", "edm", 1.0, (4, 8, 16), 10, 0, "cpu", torch.float64, (2,), regime="pathwise")
    assert det.reference_key(0) == StudySpec("gmm", "edm", 0.0, (4, 8, 16, 32), 10, 0, "cpu", torch.float64, (2,),
                                             regime="pathwise").reference_key(0)
    assert strong.reference_key(0) != StudySpec("gmm", "edm", 1.0, (4, 8, 16, 32), 10, 0, "cpu", torch.float64, (2,),
                                                regime="pathwise").reference_key(0)


def test_pathwise_shard_reports_a_sampler_that_is_not_path_consistent():
    from seeds_verify.convergence import sampler_subject
    from seeds_verify.convergence.shards import LocalRunner, StudySpec

    def own_noise(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0,
                  noise_sampler=None):
        for s, t in zip(sigmas[:-1], sigmas[1:]):
            x = model(x, s * x.new_ones(x.shape[0])) + t * torch.randn_like(x)
        return x

    spec = StudySpec("gaussian", "edm", 1.0, (4, 8, 16), 40, 0, "cpu", torch.float64, (1,), 16, regime="pathwise")
    out = LocalRunner(shards=2).run(sampler_subject(own_noise, eta=1.0), spec, {})
    assert out.inconsistent.startswith("not path-consistent: the sampler never called noise_sampler")
    assert out.errors.shape == (40, 3) and np.isnan(out.errors).all()


def test_block_setups_are_shared_by_the_subjects_that_follow_each_other():
    """The subjects of a study share a block's setup (its path is drawn once); only the last
    BLOCK_SETUPS_KEPT are kept, and a different study gets its own."""
    from seeds_verify.convergence import shards

    a = shards.StudySpec("gaussian", "edm", 1.0, (4, 8, 16), 40, 0, "cpu", torch.float64, (1,), 16, regime="pathwise")
    b = shards.StudySpec("gaussian", "edm", 1.0, (4, 8, 16), 40, 1, "cpu", torch.float64, (1,), 16, regime="pathwise")
    first = a.setup(0)
    assert a.setup(0) is first and a.setup(1) is not first and b.setup(0) is not first
    assert len(shards._BLOCK_SETUPS) <= shards.BLOCK_SETUPS_KEPT
    assert a.setup(0) is not first  # pushed out by the two after it
    assert torch.equal(a.setup(0).start_points(), first.start_points())


def test_in_process_runner_builds_each_block_once_per_subject(monkeypatch):
    """Reference and runs of a block follow each other, so the block's setup (its path) is built
    once for them, however many blocks the study has."""
    from seeds_verify.convergence import shards

    built = []
    original = shards.BlockSetup.__post_init__

    def counting(self):
        built.append(self)
        original(self)

    monkeypatch.setattr(shards.BlockSetup, "__post_init__", counting)
    shards.clear_block_setups()
    spec = shards.StudySpec("gmm", "edm", 1.0, (4, 8, 16), 64, 0, "cpu", torch.float64, (2,), 16, regime="pathwise")
    shards.LocalRunner().run(_seeds2(), spec, {})
    assert len(built) == spec.blocks == 4


def test_a_ladder_too_fine_for_one_path_is_a_value_error_naming_steps():
    from seeds_verify.convergence import verify_sampler
    from seeds_verify.samplers import sample_seeds_1

    for regime, problem in (("strong", "gaussian"), ("weak", "gmm")):
        with pytest.raises(ValueError, match="steps: the Brownian path would need"):
            verify_sampler(sample_seeds_1, regimes=(regime,), problem=problem, steps=(97, 101, 103), paths=8)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("eta", [1.0, 0.0])
def test_pathwise_shards_on_cuda_do_not_depend_on_the_split(eta):
    """On the GPU too a block's numbers are its own: one shard and three agree bit for bit, the
    reference comes back to the host, and the errors are finite."""
    from seeds_verify.convergence.shards import LocalRunner, StudySpec

    spec = StudySpec("gmm", "edm", eta, (4, 8, 16), 100, 3, "cuda", torch.float64, (2,), 32, regime="pathwise")
    whole = LocalRunner().run(_seeds2(), spec, {})
    split = LocalRunner(shards=3).run(_seeds2(), spec, {})
    assert np.isfinite(whole.errors).all() and np.array_equal(whole.errors, split.errors)
    assert isinstance(whole.reference_norms, np.ndarray)
