"""The diffusers audit page: measured orders of diffusers' schedulers and of SEEDSScheduler, from
``benchmarks/results/audit_diffusers.json`` (``python -m seeds_verify.diffusers.audit``) when it
exists; drawn like the k-diffusion audit page (:mod:`.audit`)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .audit import audit_pages
from .layout import Page

__all__ = ["diffusers_audit_pages", "DIFFUSERS_AUDIT_FILE"]

DIFFUSERS_AUDIT_FILE = "audit_diffusers.json"

_SUBTITLE = ("Each scheduler on its own set_timesteps grid through verify_subject; measured order [95 % CI]; "
             "(>) faster than stated, FAIL below it, ? inconclusive, n/a not applicable.")
_INTRO = ("The exact denoiser is handed to each scheduler as its prediction_type at the timestep it asks "
          "for; its training table is uniform in λ over the study's range, so its own grid is the study's "
          "uniform λ-grid (checked on every run), and it runs in float64. Its Gaussian draws are read from "
          "the study's Brownian path (weighted increment k = η = 1 over the step). Stochastic schedulers at "
          "η = 1 (strong, weak) and, where η can be set, η = 0 (deterministic). 'published order' is the "
          "order a paper or the scheduler's documentation states (sources in "
          "benchmarks/results/audit_diffusers.json and benchmarks/README.md); '–': measured only.")


def diffusers_audit_pages(benchmarks_dir: Path | None) -> Iterator[Page]:
    """The diffusers audit table (nothing when ``audit_diffusers.json`` is absent)."""
    yield from audit_pages(benchmarks_dir, file_name=DIFFUSERS_AUDIT_FILE, slug="audit_diffusers",
                           title="Audit of diffusers' schedulers", subtitle=_SUBTITLE, intro=_INTRO)
