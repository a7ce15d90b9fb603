"""seeds_verify.pytest_plugin: fixtures, the seeds_convergence marker and the --seeds-paths and
--seeds-plots options, exercised by running users' test files with pytester (in process), and
the test file of docs/testing.md run as written."""

import os
import re
import subprocess
import sys

import pytest

from seeds_verify import testing

pytest_plugins = ["pytester"]

# In-process runs restore sys.modules afterwards, and an extension module imported for the first
# time inside one cannot be imported again in the next ("cannot load module more than once").
# What the users' files and the checks load is therefore imported here, once, up front.
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402,F401
import numpy.fft  # noqa: E402,F401
import scipy.integrate  # noqa: E402,F401
import scipy.stats  # noqa: E402,F401

import seeds_verify.convergence.plots  # noqa: E402,F401
import seeds_verify.strategies  # noqa: E402,F401

DOC = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "testing.md")


def _run(pytester, *args):
    """An in-process pytest run; the plugin comes from its entry point unless autoloading is off."""
    extra = ["-p", "seeds_verify.pytest_plugin"] if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") else []
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *extra, *args)


USER_FILE = '''
import math

import numpy as np
import pytest
import torch

from seeds_verify import testing
from seeds_verify.noise import BrownianPath
from seeds_verify.problems import GaussianMixture, GaussianProblem
from seeds_verify.samplers import sample_seeds_1, sample_seeds_2


def test_problem_fixtures(gaussian_problem, mixture_problem):
    assert isinstance(gaussian_problem, GaussianProblem) and gaussian_problem.dim == 2
    assert isinstance(mixture_problem, GaussianMixture) and mixture_problem.dim == 2
    x = torch.zeros(3, 2, dtype=torch.float64)
    assert torch.isfinite(gaussian_problem.denoiser(x, 1.0)).all()


def test_brownian_path_factory(brownian_path):
    path = brownian_path(-2.0, 3.0, paths=5, seed=3, cells=60, dim=3)
    assert isinstance(path, BrownianPath) and path.shape == (5, 3) and path.n_cells == 60
    assert path.grid[0] == -2.0 and path.grid[-1] == 3.0
    np.testing.assert_allclose(np.diff(path.grid), 5.0 / 60, rtol=1e-12)
    again = brownian_path(-2.0, 3.0, paths=5, seed=3, cells=60, dim=3)
    z = path.noise_sampler(1.0)(math.exp(2.0), math.exp(-3.0))
    assert torch.equal(z, again.noise_sampler(1.0)(math.exp(2.0), math.exp(-3.0)))
    default = brownian_path(-1.0, 1.0, paths=2)
    assert default.shape == (2, 2) and default.n_cells == 384


def test_brownian_path_drives_a_sampler(brownian_path):
    sigmas = torch.exp(-torch.linspace(-2.0, 3.0, 9, dtype=torch.float64))
    path = brownian_path(-2.0, 3.0, paths=4, cells=8 * 6)
    x = torch.ones(4, 2, dtype=torch.float64)
    model = lambda x, s: 0.5 * x  # noqa: E731
    a = sample_seeds_2(model, x, sigmas, eta=1.0, noise_sampler=path.noise_sampler(1.0))
    b = sample_seeds_2(model, x, sigmas, eta=1.0, noise_sampler=path.noise_sampler(1.0))
    assert torch.equal(a, b)


def test_options_reach_the_testing_module():
    with open("settings.txt", "w") as fh:
        fh.write(f"{testing.PATHS_SCALE!r} {testing.PLOT_DIR!r}")


@pytest.mark.seeds_convergence
def test_order_with_the_run_paths():
    r = testing.assert_convergence_order(sample_seeds_2, regime="deterministic", order=2,
                                         steps=(8, 16, 32, 64))
    with open("paths.txt", "w") as fh:
        fh.write(str(r.rounds[0]["paths"]))


@pytest.mark.seeds_convergence
def test_order_that_fails():
    testing.assert_convergence_order(sample_seeds_1, regime="deterministic", order=2,
                                     steps=(8, 16, 32, 64))
'''


@pytest.fixture
def user_file(pytester):
    pytester.makepyfile(test_user=USER_FILE)
    return pytester


def test_a_users_file_gets_fixtures_marker_and_options(user_file, tmp_path):
    plots = tmp_path / "plots"
    before = (testing.PATHS_SCALE, testing.PLOT_DIR)
    result = _run(user_file, "--strict-markers", "--seeds-paths", "150", "--seeds-plots", str(plots), "-rf")
    result.assert_outcomes(passed=5, failed=1)
    assert (user_file.path / "paths.txt").read_text() == "150"
    assert (user_file.path / "settings.txt").read_text() == f"0.15 {str(plots)!r}"
    result.stdout.fnmatch_lines(["seeds_verify: 150 paths per convergence check, plots in *",
                                 "*deterministic order 2 not shown (verdict: fail)*",
                                 "*convergence plot: *deterministic_gaussian_vp_linear.png*"])
    pngs = sorted(p.relative_to(plots).parts for p in plots.rglob("*.png"))
    assert [p[0] for p in pngs] == ["test_user.py_test_order_that_fails", "test_user.py_test_order_with_the_run_paths"]
    # The run's settings are undone when it ends: the outer session keeps its own.
    assert (testing.PATHS_SCALE, testing.PLOT_DIR) == before


def test_the_marker_selects_and_deselects_the_order_checks(user_file):
    quick = _run(user_file, "--strict-markers", "-m", "not seeds_convergence")
    quick.assert_outcomes(passed=4, deselected=2)
    slow = _run(user_file, "--strict-markers", "-m", "seeds_convergence", "-k", "run_paths", "--seeds-paths", "120")
    slow.assert_outcomes(passed=1, deselected=5)
    assert (user_file.path / "paths.txt").read_text() == "120"


def test_without_options_the_defaults_hold(user_file):
    result = _run(user_file, "-k", "options_reach")
    result.assert_outcomes(passed=1)
    assert (user_file.path / "settings.txt").read_text() == "1.0 None"
    assert "seeds_verify:" not in result.stdout.str()


def test_too_few_paths_is_a_usage_error(user_file):
    result = _run(user_file, "--seeds-paths", "1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--seeds-paths must be at least 2, got 1*"])


def test_help_lists_the_options_and_markers_lists_the_marker(pytester):
    _run(pytester, "--help").stdout.fnmatch_lines(["*--seeds-paths=N*", "*--seeds-plots=DIR*"])
    _run(pytester, "--markers").stdout.fnmatch_lines(["@pytest.mark.seeds_convergence:*"])


def test_importing_the_plugin_loads_neither_torch_nor_numpy():
    code = ("import sys, seeds_verify.pytest_plugin; "
            "print(sorted(m for m in ('torch', 'numpy', 'seeds_verify.testing') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_entry_point_is_registered():
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="pytest11") if ep.name == "seeds_verify"]
    assert [ep.value for ep in eps] == ["seeds_verify.pytest_plugin"]


def _doc_test_file() -> str:
    with open(DOC, encoding="utf-8") as fh:
        text = fh.read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    files = [b for b in blocks if b.startswith("# test_my_samplers.py")]
    assert len(files) == 1, "docs/testing.md holds one test file"
    return files[0]


def test_the_documented_test_file_passes_as_written(pytester):
    pytester.makepyfile(test_my_samplers=_doc_test_file())
    result = _run(pytester, "--strict-markers", "--seeds-paths", "200")
    result.assert_outcomes(passed=13)


def test_the_documented_failure_is_what_the_typo_gives(pytester, tmp_path):
    source = _doc_test_file()
    assert "slope = h / (2 * last[1])" in source
    pytester.makepyfile(test_my_samplers=source.replace("slope = h / (2 * last[1])", "slope = h / last[1]"))
    result = _run(pytester, "-k", "multistep_is_second_order", "--seeds-plots", str(tmp_path))
    result.assert_outcomes(failed=1, deselected=12)
    with open(DOC, encoding="utf-8") as fh:
        doc = fh.read()
    documented = re.search(r"```text\n(E       AssertionError: test_my_samplers:sample_multistep_2.*?)```",
                           doc, flags=re.S).group(1)
    got = [ln.rstrip() for ln in result.stdout.lines if ln.startswith("E  ")]
    want = [ln.rstrip() for ln in documented.splitlines()]

    def stable(lines):
        """The lines that depend on the sampler and the problem alone, not on the fitting
        method: the verdict line, the claim, the set-up and the ladder's step counts, step sizes
        and mean errors."""
        out = []
        for ln in lines:
            body = ln[1:].strip()
            if body.startswith(("AssertionError:", "declared order", "problem ")):
                out.append(body)
            tokens = body.replace("*", " ").split()
            if tokens and tokens[0].isdigit():
                out.append(" ".join(tokens[:3]))
        return out

    assert len(stable(want)) == 3 + 4
    assert stable(got) == stable(want)
