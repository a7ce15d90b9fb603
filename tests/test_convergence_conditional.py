"""The weak error as the sum of local weak errors from the exact conditional law
(seeds_verify.convergence.conditional, docs/weak_mixture.md §3b).

Statistical thresholds: 5 standard errors of the Monte Carlo side, plus the quadrature's own
error bounded by its change under the coarser rules."""

import math

import numpy as np
import pytest
import torch

from seeds_verify import samplers
from seeds_verify.convergence import sampler_subject, verify_sampler
from seeds_verify.convergence import conditional as C
from seeds_verify.convergence.shards import StudySpec, check_variance_reduction, weak_statistics
from seeds_verify.noise import BrownianPath

Z = 5.0


def _setup(paths, steps=(4, 8, 16), schedule="vp_linear"):
    spec = StudySpec("gmm", schedule, 1.0, steps, paths, 0, "cpu", torch.float64, (2,), path_block=paths)
    setup = spec.setup(0)
    return setup, setup.path(), setup.start_points()


@pytest.fixture(scope="module")
def seeds2():
    return sampler_subject(samplers.sample_seeds_2, eta=1.0)


@pytest.fixture(scope="module")
def seeds1():
    return sampler_subject(samplers.sample_seeds_1, eta=1.0)


def test_one_step_rule_matches_monte_carlo_over_the_steps_noise(seeds2):
    """Q̂_n(y) of a SEEDS-2 step (two noise cells: increment and orthogonal part) against the mean
    of u over fresh draws of the step's noise from the same states."""
    setup, path, y0 = _setup(2)
    lam = np.asarray(setup.grids[16])
    y = seeds2.run(setup, y0, lam[:6], path, 1.0).double()
    pair, s_next = lam[5:7], math.exp(-lam[6])
    law = C.ConditionalLaw(setup.problem, setup.sigma_end)
    recorder = C._Recorder(path)
    seeds2.run(setup, y, pair, recorder, 1.0)
    assert len(recorder.queries) == 2

    def rule(nodes, orthogonal):
        rules = (*C.gauss_hermite(nodes, 2), orthogonal)
        return C._conditional_step(seeds2, setup, y, pair, recorder.queries, law, s_next, rules, 8)

    q = rule(C.NODES, C.ORTHOGONAL_NODES)
    change = (q - rule(C.COARSER["nodes"], C.COARSER["orthogonal_nodes"])).abs()
    m = 100_000
    cells = np.unique(np.array([qq[:2] for qq in recorder.queries]))
    fresh = BrownianPath(cells, (2 * m, 2), seed=123, moments=4)
    out = seeds2.run(setup, y.repeat_interleave(m, 0), pair, fresh, 1.0)
    u = law(out.double(), s_next).reshape(2, m, -1)
    mean, se = u.mean(1), u.std(1) / math.sqrt(m)
    assert torch.all((q - mean).abs() <= Z * se + change), (q - mean) / se


def _remembering(model, x, sigmas, noise_sampler=None, eta=1.0, **_):
    """A two-step sampler: it extrapolates the denoiser from its previous step (memory)."""
    previous = None
    for i in range(len(sigmas) - 1):
        d = model(x, sigmas[i] * x.new_ones(x.shape[0]))
        used = d if previous is None else 1.5 * d - 0.5 * previous
        previous = d
        s, t = sigmas[i], sigmas[i + 1]
        x = used + (t / s) * (x - used) + (t * (1 - (t / s) ** 2).sqrt()) * noise_sampler(s, t)
    return x


@pytest.fixture(scope="module")
def remembering():
    return sampler_subject(_remembering, eta=1.0)


@pytest.mark.parametrize("name, paths", [("seeds1", 1024), ("seeds2", 256), ("remembering", 512)])
def test_sum_of_local_errors_is_an_unbiased_weak_error(request, name, paths):
    """Against φ(Y_N) − u(σ̃_0, Y_0) on the same paths, the plain unbiased estimate (no quadrature);
    the sampler with memory is re-run from the start with its earlier noise replayed."""
    subject = request.getfixturevalue(name)
    setup, path, y0 = _setup(paths)
    law = C.ConditionalLaw(setup.problem, setup.sigma_end)
    for n in (4, 8):
        e = C.local_weak_errors(subject, setup, y0, n, path)
        coarse = C.local_weak_errors(subject, setup, y0, n, path, **C.COARSER)
        out = subject.run(setup, y0, setup.grids[n], path, 1.0)
        plain = weak_statistics(setup.problem, out, setup.sigma_end) - law(y0, setup.sigma_start).numpy()
        d = e - plain
        se = d.std(0, ddof=1) / math.sqrt(paths)
        bound = Z * se + np.abs((e - coarse).mean(0))
        assert np.all(np.abs(d.mean(0)) <= bound), (n, d.mean(0) / se)
        # and it is a weak error that is there to find: larger than its own noise
        assert np.abs(e.mean(0)).sum() > Z * (e.std(0, ddof=1) / math.sqrt(paths)).sum()


def test_sampled_rest_of_the_noise_is_unbiased_and_its_own_per_seed(seeds2):
    """The rest of a SEEDS-2 step's noise at 8 antithetic draws per path (Rules.orthogonal_draws):
    against the plain unbiased estimate on the same paths (5 standard errors plus the change under
    the coarser increment rule, same draws); the draws depend on (seed, steps, step) alone, not
    on how the paths are chunked, and another seed gives other numbers."""
    paths = 256
    setup, path, y0 = _setup(paths)
    law = C.ConditionalLaw(setup.problem, setup.sigma_end)
    kw = dict(orthogonal_draws=8, draw_seed=5)
    for n in (4, 8):
        e = C.local_weak_errors(seeds2, setup, y0, n, path, **kw)
        coarse = C.local_weak_errors(seeds2, setup, y0, n, path, nodes=C.RULES.coarser().nodes, **kw)
        out = seeds2.run(setup, y0, setup.grids[n], path, 1.0)
        plain = weak_statistics(setup.problem, out, setup.sigma_end) - law(y0, setup.sigma_start).numpy()
        d = e - plain
        se = d.std(0, ddof=1) / math.sqrt(paths)
        assert np.all(np.abs(d.mean(0)) <= Z * se + np.abs((e - coarse).mean(0))), (n, d.mean(0) / se)
    few = slice(0, 6)
    a = C.local_weak_errors(seeds2, setup, y0[few], 4, path_rows(path, few), nodes=4, **kw)
    b = C.local_weak_errors(seeds2, setup, y0[few], 4, path_rows(path, few), nodes=4, chunk=4, **kw)
    c = C.local_weak_errors(seeds2, setup, y0[few], 4, path_rows(path, few), nodes=4, orthogonal_draws=8, draw_seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def path_rows(path, rows):
    """The path's answers for some of its rows."""
    return lambda lam_a, lam_b, k: path(lam_a, lam_b, k)[rows]


@pytest.mark.parametrize("draws", [0, 3, True, 2.0])
def test_orthogonal_draws_must_be_even(draws):
    with pytest.raises(ValueError, match="orthogonal_draws"):
        C.Rules(orthogonal_draws=draws)
    with pytest.raises(ValueError, match="nodes"):
        C.Rules(nodes=4).coarser()


def test_a_sampler_with_memory_is_refused_a_restart_from_its_state(remembering):
    subject = remembering
    setup, path, y0 = _setup(8)
    with pytest.raises(ValueError, match="not a one-step sampler"):
        C.local_weak_errors(subject, setup, y0, 4, path, restart="state")
    with pytest.raises(ValueError, match="restart"):
        C.local_weak_errors(subject, setup, y0, 4, path, restart="from the top")


def test_both_restarts_agree_on_a_one_step_sampler(seeds2):
    """A one-step sampler re-run from the start with its earlier noise replayed reaches the same
    states as re-run from them: the two estimates agree to rounding (float64, 1e-9 relative), in
    chunks of 2 paths, so that each chunk's earlier noise must come from its own paths."""
    setup, path, y0 = _setup(5)
    kw = dict(nodes=4, orthogonal_nodes=2, chunk=2)
    by_state = C.local_weak_errors(seeds2, setup, y0, 4, path, restart="state", **kw)
    by_start = C.local_weak_errors(seeds2, setup, y0, 4, path, restart="start", **kw)
    scale = np.abs(by_state).max() + 1.0
    assert np.abs(by_state - by_start).max() <= C.ONE_STEP_RTOL * scale


def test_noise_reads_that_depend_on_the_noise_are_refused():
    """A step that chooses its second noise read from its first: re-run at other nodes it asks for
    noise its recorded run did not."""
    def adaptive(model, x, sigmas, noise_sampler=None, eta=1.0, **_):
        for i in range(len(sigmas) - 1):
            s, t = sigmas[i], sigmas[i + 1]
            mid = (s * t).sqrt()
            first = noise_sampler(s, mid)
            second = noise_sampler(mid, t) if float(first.sum()) > 0 else noise_sampler(s, t)
            x = (t / s) * x + 0.01 * (first + second)
        return x

    subject = sampler_subject(adaptive, eta=1.0)
    setup, path, y0 = _setup(8)
    with pytest.raises(ValueError, match="did not ask for"):
        C.local_weak_errors(subject, setup, y0, 4, path)


def test_noise_read_across_a_step_start_is_refused():
    def straddling(model, x, sigmas, noise_sampler=None, eta=1.0, **_):
        for i in range(len(sigmas) - 1):
            s, t = sigmas[i], sigmas[i + 1]
            x = (t / s) * x + 0.01 * noise_sampler(sigmas[max(i - 1, 0)], t)
        return x

    subject = sampler_subject(straddling, eta=1.0)
    setup, path, y0 = _setup(8)
    with pytest.raises(ValueError, match="across the start"):
        C.local_weak_errors(subject, setup, y0, 4, path)


def test_mixed_weight_exponents_in_a_step_are_refused():
    class Mixed:
        label = "mixed"

        def run(self, setup, y, lambdas, noise, eta):
            lam = np.asarray(lambdas)
            for a, b in zip(lam[:-1], lam[1:]):
                y = y + 0.01 * noise(a, 0.5 * (a + b), 0.0) + 0.01 * noise(0.5 * (a + b), b, 1.0)
            return y

    setup, path, y0 = _setup(8)
    with pytest.raises(ValueError, match="several weight exponents"):
        C.local_weak_errors(Mixed(), setup, y0, 4, path)


@pytest.mark.parametrize("kwargs, name", [({"nodes": 0}, "nodes"), ({"orthogonal_nodes": 1.5}, "orthogonal_nodes"),
                                          ({"chunk": True}, "chunk")])
def test_bad_rule_arguments_are_named(seeds1, kwargs, name):
    setup, path, y0 = _setup(8)
    with pytest.raises(ValueError, match=name):
        C.local_weak_errors(seeds1, setup, y0, 4, path, **kwargs)


def test_rules_too_large_for_the_dimension_are_refused(seeds1):
    spec = StudySpec("gmm16", "edm", 1.0, (4, 8, 16), 4, 0, "cpu", torch.float64, (2,), path_block=4)
    setup = spec.setup(0)
    with pytest.raises(ValueError, match="low-dimensional"):
        C.local_weak_errors(seeds1, setup, setup.start_points(), 4, setup.path())


def test_fit_range_starts_no_coarser_than_asked():
    from seeds_verify.convergence import statistics as S

    h = 2.0 ** -np.arange(2, 8)
    e = h ** 2
    assert S.fit_range(h, e) == (0, 5)
    assert S.fit_range(h, e, coarsest=3) == (3, 5)
    with pytest.raises(ValueError, match="fewer than two"):
        S.fit_range(h, e, coarsest=5)


def test_the_law_needs_gaussian_components():
    with pytest.raises(TypeError, match="Gaussian components"):
        C.ConditionalLaw(object(), 0.1)


def test_variance_reduction_option():
    assert check_variance_reduction("conditional") == "conditional"
    with pytest.raises(ValueError, match="conditional"):
        check_variance_reduction("quadrature")


@pytest.mark.parametrize("sampler", [samplers.sample_seeds_1, _remembering], ids=["one-step", "with-memory"])
def test_engine_records_the_conditional_study_the_same_for_any_split(sampler):
    records = []
    for shards in (1, 2):
        r = verify_sampler(sampler, eta=1.0, regimes=("weak",), problem="gmm", schedule="edm",
                           steps=(4, 8, 16), paths=64, max_paths=64, max_steps=16, path_block=32, shards=shards,
                           variance_reduction="conditional")
        records.append(r.regimes["weak"].to_record())
    a, b = records
    assert a["errors"] == b["errors"] and a["measured_order"] == b["measured_order"]
    assert a["reference"].startswith("none: the sum of the local weak errors")
    assert a["details"]["rules"]["nodes"] == C.RULES.nodes and a["details"]["rules"]["orthogonal_draws"] is None
    vr = a["details"]["variance_reduction"]
    assert vr["method"] == "conditional" and len(vr["factors"]) == 3
    assert len(a["details"]["rule_change"]) == 3


def test_engine_with_sampled_rest_of_the_noise_is_the_same_for_any_split():
    """A SEEDS-2 study whose rest of the noise is drawn (4 draws, 8 increment nodes): the draws are
    each block's own, so one and two shards give the same record; the record names its rules."""
    from seeds_verify.convergence import Ladder, SetupCache, verify_subject
    from seeds_verify.convergence.shards import LocalRunner

    rules = C.Rules(nodes=8, orthogonal_draws=4)
    records = []
    for shards in (1, 2):
        setups = SetupCache(seed=0, runner=LocalRunner(shards), path_block=16, variance_reduction="conditional",
                            conditional_rules=rules, denominators=(2,))
        subject = sampler_subject(samplers.sample_seeds_2, eta=1.0, declared={"weak": 2.0})
        r = verify_subject(subject, regimes=("weak",), problem="gmm", schedule="edm",
                           ladder=Ladder((4, 8, 16), 32, 32, 16), setups=setups).regimes["weak"]
        records.append(r.to_record())
    a, b = records
    assert a["errors"] == b["errors"] and np.all(np.isfinite(a["errors"]))
    assert a["details"]["rules"] == dict(nodes=8, orthogonal_nodes=3, orthogonal_draws=4,
                                         coarser=dict(nodes=4, orthogonal_nodes=2))
    assert "4 antithetic draws per path and step" in a["reference"]
    with pytest.raises(TypeError, match="conditional_rules"):
        SetupCache(conditional_rules={"nodes": 8})


def test_report_draws_one_page_per_weak_file(tmp_path):
    import json

    from seeds_verify.report.weak_mixture import WEAK_CONDITIONAL_FILE, WEAK_MIXTURE_FILE, weak_mixture_pages

    record = {"sampler": "seeds_verify.samplers:sample_seeds_2", "problem": "gmm", "schedule": "edm", "declared": 2.0,
              "measured_order": 2.01, "ci_low": 1.9, "ci_high": 2.1, "verdict": "pass", "fit_steps": [16, 128],
              "details": {"variance_reduction": {"method": "conditional", "factors": [20.0, 400.0]}}}
    meta = {"paths": 1024, "steps": [4, 8], "workers": 2, "wall_time_s": 10.0, "variance_reduction": "conditional"}
    assert list(weak_mixture_pages(tmp_path)) == []
    (tmp_path / WEAK_CONDITIONAL_FILE).write_text(json.dumps({"meta": meta, "records": [record]}))
    pages = list(weak_mixture_pages(tmp_path))
    assert [p.slug for p in pages] == ["weak_mixture_conditional"]
    texts = " ".join(t.get_text() for t in pages[0].figure.findobj(match=lambda o: hasattr(o, "get_text")))
    assert "Sum of local weak errors" in texts and "2.01 [1.90, 2.10]" in texts
    (tmp_path / WEAK_MIXTURE_FILE).write_text(json.dumps({"meta": {**meta, "variance_reduction": "antithetic"},
                                                          "records": [record]}))
    pages = list(weak_mixture_pages(tmp_path))
    assert [p.slug for p in pages] == ["weak_mixture", "weak_mixture_conditional"]
    import matplotlib.pyplot as plt

    for p in pages:
        plt.close(p.figure)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_conditional_estimate_runs_on_cuda_and_matches_cpu(seeds2):
    """The same start points and path values on the GPU (the law follows them there): the same
    estimate as on the CPU, to the rounding of another device (1e-9 relative, float64)."""
    setup, path, y0 = _setup(16)

    def on_gpu(lam_a, lam_b, k):
        return path(lam_a, lam_b, k).cuda()

    kw = dict(nodes=4, orthogonal_nodes=2)
    cpu = C.local_weak_errors(seeds2, setup, y0, 4, path, **kw)
    gpu = C.local_weak_errors(seeds2, setup, y0.cuda(), 4, on_gpu, **kw)
    assert np.abs(cpu - gpu).max() <= 1e-9 * (np.abs(cpu).max() + 1.0)
