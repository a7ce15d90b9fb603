"""The half-precision page: how many steps are worth paying for with a bfloat16 or float16
denoiser, from ``benchmarks/results/useful_steps.json``
(``python -m seeds_verify.convergence.precision``) when it exists.

A table of the useful-steps limit N* with its 95 % interval per scheme × schedule × regime and
dtype, then the error curves (E, R with its band, E_half, N* marked) of every case, drawn by
:func:`seeds_verify.convergence.precision.draw_panel` as in ``useful_steps.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .layout import LEFT, MUTED_COLOUR, RIGHT, Page, Table, draw_table, new_page, page_title, paragraph
from .results import read_committed_results

__all__ = ["useful_steps_pages", "read_useful_steps", "USEFUL_STEPS_FILE"]

USEFUL_STEPS_FILE = "useful_steps.json"

_TITLE = "How many steps are worth it in bf16/fp16?"
_SUBTITLE = ("Useful-steps limit N* [95 % CI] of SEEDS-1/2/3 (data form) with a bfloat16 or float16 denoiser in "
             "a float32 sampler, on the Gaussian problem; '> N' / '< N': beyond the ladder's ends.")
_INTRO = ("The sampler runs in float32 over a doubling ladder of step counts N, twice from the same start "
          "draws and Brownian path: with the exact denoiser and with one whose input and output are rounded "
          "to the half dtype (sigma is passed unrounded). E(N) = mean ||Y_full - Y_ref|| is the discretisation "
          "error, R(N) = mean ||Y_half - Y_full|| the model's rounding; |E - R| <= E_half <= E + R for the "
          "error E_half the user sees. N* is where the falling E meets R (first ladder point with E <= R, "
          "log-log interpolated): beyond it the rounding, not the step size, sets the error and more steps "
          "gain at most a factor of about 2. Interval: percentile bootstrap over paths (the same paths for "
          "every N). A real network rounds more inside, so N* bounds its useful steps from above. "
          "Derivation: docs/precision.md.")


def read_useful_steps(benchmarks_dir: Path | None, file_name: str = USEFUL_STEPS_FILE) -> dict | None:
    """The records in ``benchmarks_dir/file_name``, or None when the file is absent (ValueError
    when it is unreadable)."""
    return read_committed_results(benchmarks_dir, file_name, "useful-steps")


def _mean_rounding(rec: dict | None) -> str:
    if rec is None:
        return "–"
    return f"{float(np.mean(rec['rounding'])):.1e}"


def useful_steps_pages(benchmarks_dir: Path | None, *, file_name: str = USEFUL_STEPS_FILE) -> Iterator[Page]:
    """The limit table and the curves of ``benchmarks_dir/file_name`` (nothing when it is absent)."""
    data = read_useful_steps(benchmarks_dir, file_name)
    if data is None or not data["records"]:
        return
    from ..convergence.precision import draw_panel

    records = data["records"]
    dtypes = list(dict.fromkeys(r["dtype"] for r in records))
    cases: dict = {}
    for r in records:
        cases.setdefault((r["scheme"], r["schedule"], r["regime"]), {})[r["dtype"]] = r
    rows = []
    for (scheme, schedule, regime), cells in cases.items():
        rows.append([scheme, schedule, regime]
                    + [cells[d]["limit_text"] if d in cells else "–" for d in dtypes]
                    + [" / ".join(_mean_rounding(cells.get(d)) for d in dtypes)])
    headers = (["scheme", "schedule", "regime"] + [f"{d}\nN* [95 % CI]" for d in dtypes]
               + ["mean R over the ladder\n(" + " / ".join(dtypes) + ")"])
    first = records[0]
    meta = data.get("meta", {})
    fig = new_page()
    y = page_title(fig, _TITLE, _SUBTITLE)
    y = paragraph(fig, y, _INTRO)
    y = draw_table(fig, Table(headers, rows), top=y - 0.012)
    wall = meta.get("wall_time_s")
    paragraph(fig, y - 0.012,
              f"{first['paths']} paths per curve, seed {first['seed']}, {first['replicates']} bootstrap "
              f"replicates, ladder {first['steps'][0]} … {first['steps'][-1]} steps, eta = 0 (deterministic) "
              f"and 1 (strong, one Brownian path per sample shared by every N)"
              + (f"; wall time {wall:.0f} s." if isinstance(wall, (int, float)) else "."),
              colour=MUTED_COLOUR, fontsize=6.5)
    yield Page("useful_steps", fig)

    schemes = list(dict.fromkeys(r["scheme"] for r in records))
    panel_rows = list(dict.fromkeys((r["schedule"], r["regime"]) for r in records))
    fig = new_page()
    top = page_title(fig, "Useful steps: the error curves",
                     "Black: E (float32 model); coloured lines: R (rounding, grey band its 95 % interval); "
                     "dotted: E_half; diamond: N* on E with its interval; arrow: N* beyond the ladder.")
    grid = fig.add_gridspec(len(panel_rows), len(schemes), left=LEFT + 0.03, right=RIGHT, top=top - 0.03,
                            bottom=0.09, hspace=0.55, wspace=0.3)
    for i, (schedule, regime) in enumerate(panel_rows):
        for j, scheme in enumerate(schemes):
            recs = [r for r in records if (r["schedule"], r["regime"], r["scheme"]) == (schedule, regime, scheme)]
            if not recs:
                continue
            ax = fig.add_subplot(grid[i, j])
            draw_panel(ax, recs)
            ax.title.set_fontsize(5.5)
            if i == len(panel_rows) - 1:
                ax.set_xlabel("steps N")
            if j == 0:
                ax.set_ylabel("mean error over paths")
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=6, frameon=False,
               bbox_to_anchor=(0.5, 0.035))
    yield Page("useful_steps_curves", fig)
