"""pytest plugin of seeds_verify: fixtures, a marker and two options for sampler test suites.

Installed with the package (entry point ``pytest11``), so it is active in every pytest run once
seeds_verify is installed; importing it loads neither torch nor the convergence engine.

Fixtures:

* ``gaussian_problem`` — the 2-D Gaussian data of ``get_problem("gaussian")``
  (μ = (1, −0.5), Σ = [[2, 0.9], [0.9, 0.6]]); ``.denoiser(x, sigma)`` is a k-diffusion model.
* ``mixture_problem`` — the 2-D ring of eight Gaussians of ``get_problem("gmm")``.
* ``brownian_path`` — a factory ``brownian_path(lam0, lam1, paths, seed=0, cells=384, dim=2,
  **kwargs)`` of :class:`~seeds_verify.noise.BrownianPath` objects: one path per sample, shape
  ``(paths, dim)``, on the uniform λ-grid ``lam0 + (lam1 − lam0) i/cells``; ``kwargs`` go to
  ``BrownianPath`` (``moments``, ``dtype``, ``device``). 384 = 6 × 64 cells resolve the stage
  points at 1/2, 1/3 and 2/3 of every step of uniform grids of up to 64 steps, and of any step
  count dividing 64. Use ``path.noise_sampler(k)`` as a sampler's ``noise_sampler``.

Options:

* ``--seeds-paths N`` — checks of :func:`seeds_verify.testing.assert_convergence_order` that do
  not pass ``paths=`` start from N Monte Carlo paths instead of the default 1000
  (it sets ``seeds_verify.testing.PATHS_SCALE = N / 1000``). Checks with explicit ``paths=``
  keep theirs.
* ``--seeds-plots DIR`` — every convergence check writes its log-log error plot under
  ``DIR/<test>/<sampler>/`` and a failure message names the file
  (``seeds_verify.testing.PLOT_DIR``).

Marker: ``@pytest.mark.seeds_convergence`` for the slow order checks, so that a quick run can
leave them out (``-m "not seeds_convergence"``) and a thorough one select them
(``-m seeds_convergence``).
"""

from __future__ import annotations

import pytest

__all__ = ["gaussian_problem", "mixture_problem", "brownian_path", "DEFAULT_CELLS"]

#: Cells of a ``brownian_path`` grid by default: 6 per step of a 64-step uniform grid.
DEFAULT_CELLS = 384

_MARKER = ("seeds_convergence: a slow convergence-order check of seeds_verify "
           "(select with -m seeds_convergence, leave out with -m 'not seeds_convergence')")

# What pytest_configure changed in seeds_verify.testing, restored by pytest_unconfigure (an
# in-process pytest run inside another one must leave the outer run's settings as they were).
_SAVED_KEY = pytest.StashKey[dict]()


def pytest_addoption(parser):
    group = parser.getgroup("seeds_verify", "seeds_verify convergence checks")
    group.addoption("--seeds-paths", action="store", type=int, default=None, metavar="N",
                    help="Monte Carlo paths that seeds_verify.testing.assert_convergence_order starts from "
                         "when a check does not pass paths= (default 1000)")
    group.addoption("--seeds-plots", action="store", default=None, metavar="DIR",
                    help="write the log-log error plot of every seeds_verify convergence check under DIR")


def pytest_configure(config):
    config.addinivalue_line("markers", _MARKER)
    paths = config.getoption("seeds_paths", None)
    plots = config.getoption("seeds_plots", None)
    if paths is None and plots is None:
        return
    if paths is not None and paths < 2:
        raise pytest.UsageError(f"--seeds-paths must be at least 2, got {paths}")
    import os

    from . import testing

    config.stash[_SAVED_KEY] = {"PATHS_SCALE": testing.PATHS_SCALE, "PLOT_DIR": testing.PLOT_DIR}
    if paths is not None:
        from .convergence.verify import DEFAULT_PATHS

        testing.PATHS_SCALE = paths / DEFAULT_PATHS
    if plots is not None:
        testing.PLOT_DIR = os.path.abspath(plots)


def pytest_unconfigure(config):
    saved = config.stash.get(_SAVED_KEY, None)
    if saved is None:
        return
    from . import testing

    for name, value in saved.items():
        setattr(testing, name, value)


def pytest_report_header(config):
    paths = config.getoption("seeds_paths", None)
    plots = config.getoption("seeds_plots", None)
    if paths is None and plots is None:
        return None
    parts = []
    if paths is not None:
        parts.append(f"{paths} paths per convergence check")
    if plots is not None:
        parts.append(f"plots in {plots}")
    return "seeds_verify: " + ", ".join(parts)


@pytest.fixture
def gaussian_problem():
    """The 2-D Gaussian test problem ``get_problem("gaussian")`` (exact pathwise solutions)."""
    from .problems import get_problem

    return get_problem("gaussian")


@pytest.fixture
def mixture_problem():
    """The 2-D ring mixture of eight Gaussians ``get_problem("gmm")`` (a nonlinear denoiser)."""
    from .problems import get_problem

    return get_problem("gmm")


@pytest.fixture
def brownian_path():
    """A factory ``brownian_path(lam0, lam1, paths, seed=0, cells=384, dim=2, **kwargs)``
    returning a :class:`~seeds_verify.noise.BrownianPath` of shape ``(paths, dim)`` on the
    uniform λ-grid from ``lam0`` to ``lam1`` with ``cells`` cells (float64 by default)."""

    def make(lam0, lam1, paths, seed=0, cells=DEFAULT_CELLS, dim=2, **kwargs):
        import numpy as np

        from .noise import BrownianPath

        lam0, lam1 = float(lam0), float(lam1)
        if not lam1 > lam0:
            raise ValueError(f"brownian_path: need lam0 < lam1 (λ increases while sampling), got {lam0}, {lam1}")
        if isinstance(cells, bool) or not isinstance(cells, int) or cells < 1:
            raise ValueError(f"brownian_path: cells must be an int >= 1, got {cells!r}")
        grid = lam0 + (lam1 - lam0) * (np.arange(cells + 1, dtype=np.float64) / cells)
        grid[0], grid[-1] = lam0, lam1
        return BrownianPath(grid, (paths, dim), seed=seed, **kwargs)

    return make
