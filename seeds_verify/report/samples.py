"""Samples page: what SEEDS and Euler–Maruyama draw from the 2-D ring mixture at small budgets.

Every panel starts from the same exact draw from p_T and uses the same seeded noise stream, so the
panels of one column differ only in the solver. The exact density (MATH §8) is drawn underneath,
and each panel states two numbers a reader can compare with exact samples of the same size:
the total-variation distance between the fraction of samples claimed by each mode and the mode
weights, and the mean log-density of the samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ..solvers import DiffusionModel
from .layout import LEFT, Page, new_page, page_title, paragraph

__all__ = ["SamplePanel", "draw_samples", "samples_pages", "NFE_BUDGETS", "SAMPLERS"]

NFE_BUDGETS = (10, 20, 50)
# (label, solver factory name, options); SEEDS-2/3 with their default stage fractions and variants.
SAMPLERS = (("SEEDS-1", "seeds1", {}), ("SEEDS-2", "seeds2", {}), ("SEEDS-3", "seeds3", {}),
            ("Euler–Maruyama", "em", {}))
ETA = 1.0
_LIMIT = 6.8


@dataclass
class SamplePanel:
    """One panel: the final samples of one solver at one budget and their summary numbers."""

    label: str
    nfe: int
    steps: int
    samples: np.ndarray
    mode_tv: float
    mean_log_density: float


def _mode_tv(problem, x: torch.Tensor, sigma: float) -> float:
    """½ Σ_k |fraction of samples nearest mode k − w_k| (mode coverage; 0 is perfect)."""
    return 0.5 * float(np.abs(problem.component_weights(x, sigma) - problem.weights).sum())


def draw_samples(n: int, seed: int, budgets=NFE_BUDGETS):
    """Run every sampler of :data:`SAMPLERS` at every NFE budget on the ring mixture.

    EDM schedule (α = 1, σ = t, MATH §1) on a Karras ρ = 7 grid from σ_max to σ_min, η = 1,
    data prediction, starting from an exact draw from p_{σ_max}. Returns (problem, schedule,
    exact samples at σ_min, panels).
    """
    from ..problems import get_problem
    from ..schedules import EDM, lambda_grid
    from ..noise import GaussianNoise
    from ..solvers import make_solver

    problem = get_problem("gmm")
    schedule = EDM()
    sigma_min, sigma_max = schedule.sigma_min, schedule.sigma_max
    model = DiffusionModel(problem.denoiser, "denoiser", schedule)
    start = problem.sample(n, sigma_max, generator=torch.Generator().manual_seed(seed))
    exact = problem.sample(n, sigma_min, generator=torch.Generator().manual_seed(seed + 1))
    panels = []
    for label, name, options in SAMPLERS:
        solver = make_solver(name, **options)
        for budget in budgets:
            steps = max(1, budget // solver.nfe_per_step)
            lam = lambda_grid(schedule, steps, "karras")
            noise = GaussianNoise(start.shape, seed=seed + 2, dtype=torch.float64)
            x = solver.solve(model, start.clone(), lam, schedule=schedule, noise=noise, eta=ETA,
                             prediction="data")
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"{label} produced non-finite samples at {budget} NFE")
            panels.append(SamplePanel(label, steps * solver.nfe_per_step, steps, x.numpy(),
                                      _mode_tv(problem, x, sigma_min),
                                      float(problem.log_density(x, sigma_min).mean())))
    return problem, schedule, exact, panels


def _density_grid(problem, sigma: float, points: int = 160):
    axis = np.linspace(-_LIMIT, _LIMIT, points)
    gx, gy = np.meshgrid(axis, axis)
    grid = torch.from_numpy(np.stack([gx, gy], axis=-1))
    logp = problem.log_density(grid, sigma).numpy()
    return gx, gy, logp


_TEXT = (
    "The 2-D ring mixture ({k} Gaussian components of std {std:g} on a circle of radius {radius:g}, "
    "weights from {wmin:.3f} to {wmax:.3f}, so rare and common modes coexist) sampled with η = 1 (the reverse SDE), data prediction, the EDM "
    "schedule on a Karras ρ = 7 grid from σ = {smax:g} to σ = {smin:g}, each run starting from the "
    "same exact draw from p_T and the same seeded noise stream. Rows: solvers; columns: NFE budgets "
    "(SEEDS-k takes k model evaluations per step, so a budget buys ⌊NFE/k⌋ whole steps). Grey: contours of "
    "the exact log-density at σ = {smin:g}. In each panel, TV = ½ Σ_k |share of samples nearest "
    "mode k − w_k| (mode coverage, 0 is perfect) and the mean log-density of the samples. Exact "
    "samples of the same size give TV = {tv:.3f} and mean log p = {lp:.2f}, the level that sampling "
    "noise alone reaches."
)


def samples_pages(seed: int, quick: bool = False) -> Iterator[Page]:
    """One page: a grid of scatter plots, samplers × NFE budgets."""
    n = 1000 if quick else 2000
    problem, schedule, exact, panels = draw_samples(n, seed)
    sigma_min, sigma_max = schedule.sigma_min, schedule.sigma_max
    exact_tv = _mode_tv(problem, exact, sigma_min)
    exact_lp = float(problem.log_density(exact, sigma_min).mean())
    fig = new_page()
    y = page_title(fig, "Samples: ring mixture at small budgets",
                   f"{n} samples per panel, seed {seed}. Where a reader would rather look than read.")
    text = _TEXT.format(k=problem.n_components, std=float(np.sqrt(problem.covs[0, 0, 0])),
                        radius=float(np.linalg.norm(problem.means[0])), wmin=float(problem.weights.min()),
                        wmax=float(problem.weights.max()), smax=sigma_max, smin=sigma_min, tv=exact_tv,
                        lp=exact_lp)
    y = paragraph(fig, y, text, width=135) - 0.008
    gx, gy, logp = _density_grid(problem, sigma_min)
    levels = np.max(logp) - np.array([10.0, 6.0, 3.5, 2.0, 0.8])  # increasing, as contour wants
    rows, cols = len(SAMPLERS), len(NFE_BUDGETS)
    title_gap, bottom = 0.024, 0.045
    height = min(8.27 * 0.25 / 11.69, (y - bottom) / rows - title_gap)
    width = height * 11.69 / 8.27  # square panels: the ring must look round
    for index, panel in enumerate(panels):
        row, col = divmod(index, cols)
        top = y - title_gap - row * (height + title_gap)
        ax = fig.add_axes([LEFT + 0.04 + col * (width + 0.035), top - height, width, height])
        ax.contour(gx, gy, logp, levels=levels, colors="#8c959f", linewidths=0.5, linestyles="solid")
        ax.scatter(panel.samples[:, 0], panel.samples[:, 1], s=1.2, color="#0969da", alpha=0.55,
                   linewidths=0)
        ax.set_xlim(-_LIMIT, _LIMIT)
        ax.set_ylim(-_LIMIT, _LIMIT)
        ax.set_aspect("equal")
        ax.set_xticks([-4, 0, 4])
        ax.set_yticks([-4, 0, 4])
        ax.tick_params(labelbottom=row == rows - 1, labelleft=col == 0)
        ax.grid(False)
        ax.set_title(f"{panel.label}, NFE {panel.nfe} ({panel.steps} steps)", fontsize=7, pad=3)
        ax.text(0.03, 0.03, f"TV {panel.mode_tv:.3f}\nlog p {panel.mean_log_density:.2f}",
                transform=ax.transAxes, fontsize=6, va="bottom", ha="left",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.0})
    yield Page("samples", fig)
