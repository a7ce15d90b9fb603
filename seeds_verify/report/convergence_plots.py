"""Convergence pages: log–log error against step size, re-plotted from ``results.json``.

One page per regime, one panel per problem × schedule × prediction. Every series is one solver
(and η): its errors with their bootstrap 95 % intervals, the line fitted over the range the engine
used, and, as dotted grey lines, the slopes the solvers declare. A failing series is drawn dashed
with open markers and its legend entry says FAIL, so a broken order is seen before it is read.
"""

from __future__ import annotations

import math
import re
from itertools import cycle
from typing import Iterator

import numpy as np
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from .layout import FAIL_COLOUR, LEFT, MUTED_COLOUR, Page, new_page, page_title, paragraph
from .results import StudyResults

__all__ = ["convergence_pages", "short_name", "PANELS_PER_PAGE"]

PANELS_PER_PAGE = 8  # 4 rows × 2 columns on A4 portrait

_YLABEL = {
    "strong": "strong error  E‖X_h − X(T)‖",
    "weak": "weak error  |E φ(X_h) − E φ(X(T))|",
    "deterministic": "global error  ‖x_h − x(T)‖",
}

_CAPTION = {
    "strong": "Pathwise error against the exact solution on the same Brownian path (MATH §9). SEEDS "
              "schemes see the path only through finitely many weighted increments per step, so for "
              "η > 0 the declared strong order is 1.",
    "weak": "Error of expectations of smooth test functions against their exact values (MATH §8–§9).",
    "deterministic": "η = 0: the probability-flow ODE; SEEDS-k reduce to exponential Runge–Kutta "
                     "schemes of order k (MATH §9).",
}

_COLOURS = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#0a3069", "#bc4c00", "#57606a",
            "#116329", "#6639ba")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def _series_points(record: dict):
    """(h, err, lo, hi) as arrays, keeping only points with a finite positive step and error."""
    h = record["step_sizes"]
    e = record["errors"]
    n = min(len(h), len(e))
    lo = record["errors_ci_low"] if len(record["errors_ci_low"]) >= n else [None] * n
    hi = record["errors_ci_high"] if len(record["errors_ci_high"]) >= n else [None] * n
    rows = [(h[i], e[i], lo[i], hi[i]) for i in range(n)
            if h[i] is not None and e[i] is not None and h[i] > 0 and e[i] > 0]
    if not rows:
        return None
    arr = np.array([[a, b, c if c is not None else b, d if d is not None else b] for a, b, c, d in rows])
    order = np.argsort(arr[:, 0])
    return arr[order].T


def _fit_mask(record: dict, h: np.ndarray) -> np.ndarray:
    """Points the engine fitted. ``fit_range`` is [first, last] step count of the fit (as the
    convergence CLI writes it); a pair of indices into the step sizes or a pair of step sizes is
    read too. All points when it is missing."""
    fr = record.get("fit_range")
    if not (isinstance(fr, (list, tuple)) and len(fr) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in fr)):
        return np.ones_like(h, dtype=bool)
    steps, counts = record["step_sizes"], record["step_counts"]
    if all(isinstance(v, int) for v in fr):
        if fr[0] in counts and fr[1] in counts and len(counts) == len(steps):
            lo, hi = sorted((counts.index(fr[0]), counts.index(fr[1])))
            chosen = [steps[i] for i in range(lo, hi + 1) if steps[i] is not None]
            return np.isin(h, chosen)
        if 0 <= fr[0] <= fr[1] < len(steps):
            chosen = [steps[i] for i in range(fr[0], fr[1] + 1) if steps[i] is not None]
            return np.isin(h, chosen)
    lo, hi = sorted(float(v) for v in fr)
    return (h >= lo * (1 - 1e-9)) & (h <= hi * (1 + 1e-9))


def short_name(solver: str) -> str:
    """A solver name without its parameter names: ``seeds3(r_1=1/3,r_2=2/3,3a)`` → ``seeds3(1/3,2/3,3a)``."""
    return re.sub(r"\b[a-z](_\d)?=", "", solver)


def _label(record: dict, with_eta: bool) -> str:
    name = short_name(record["solver"])
    if with_eta and record["eta"] is not None:
        name += f", η={record['eta']:g}"
    slope = record["measured_order"]
    name += f": {slope:.2f}" if slope is not None else ": no fit"
    if record["passed"] is False:
        name += "  FAIL"
    return name


def _draw_panel(ax, records: list[dict], regime: str, colours: dict) -> None:
    with_eta = len({r["eta"] for r in records}) > 1
    all_h, all_e = [], []
    anchors: dict[float, list[tuple[float, float]]] = {}
    for r in records:
        pts = _series_points(r)
        colour, marker = colours[r["solver"]]
        failed = r["passed"] is False
        if pts is None:
            ax.plot([], [], color=colour, label=_label(r, with_eta) + " (no data)")
            continue
        h, e, lo, hi = pts
        all_h.extend(h)
        all_e.extend(e)
        yerr = np.vstack([np.clip(e - lo, 0, None), np.clip(hi - e, 0, None)])
        ax.errorbar(h, e, yerr=yerr, color=FAIL_COLOUR if failed else colour, marker=marker,
                    linestyle="--" if failed else "-", linewidth=1.4 if failed else 1.0,
                    markerfacecolor="white" if failed else colour, capsize=1.8, elinewidth=0.7,
                    label=_label(r, with_eta), zorder=3 if failed else 2)
        slope = r["measured_order"]
        mask = _fit_mask(r, h)
        if slope is not None and mask.sum() >= 2:
            hf, ef = h[mask], e[mask]
            intercept = float(np.mean(np.log(ef) - slope * np.log(hf)))
            xs = np.array([hf.min(), hf.max()])
            ax.plot(xs, np.exp(intercept) * xs ** slope, color=colour, linewidth=3.0, alpha=0.18, zorder=1)
        if r["expected_order"] is not None:
            anchors.setdefault(r["expected_order"], []).append((h.min(), e[np.argmin(h)]))
        if r["reference_error"] is not None and r["reference_error"] > 0:
            ax.axhline(r["reference_error"], color=MUTED_COLOUR, linestyle=":", linewidth=0.7)
    if not all_h:
        ax.text(0.5, 0.5, "no error data", transform=ax.transAxes, ha="center", va="center",
                color=MUTED_COLOUR)
        return
    h_lo, h_hi = min(all_h), max(all_h)
    # Every declared slope starts from one point below the smallest error at the finest step, so
    # the lines fan out and their labels, at the coarse end, stand apart.
    finest = [e for pts in anchors.values() for _, e in pts]
    e0 = 0.5 * min(finest) if finest else None
    for p in sorted(anchors):
        xs = np.geomspace(h_lo, h_hi, 2)
        ys = e0 * (xs / h_lo) ** p
        ax.plot(xs, ys, color="black", linestyle=":", linewidth=0.9, zorder=0)
        ax.annotate(f"slope {p:g}", (xs[-1], ys[-1]), fontsize=6, color="#24292f",
                    xytext=(3, 0), textcoords="offset points", va="center", ha="left")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(h_lo / 1.4, h_hi * 1.4)
    # Ticks at the step sizes actually run (a study rarely spans many decades of h).
    ticks = sorted(set(round(v, 12) for v in all_h))
    if len(ticks) > 8:
        ticks = ticks[::math.ceil(len(ticks) / 8)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{v:.3g}" for v in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())
    e_lo, e_hi = min(all_e), max(all_e)
    lowest = min([e_lo] + ([e0] if e0 is not None else []))
    # Head room above the data keeps the legend (upper left) clear of the coarsest errors: the
    # legend takes about 6.5 % of the axes height per row, plus its frame.
    legend_rows = len(records) if len(records) <= 4 else math.ceil(len(records) / 2)
    share = min(0.6, 0.065 * legend_rows + 0.05)
    span = math.log10(e_hi / (lowest / 6.0))
    ax.set_ylim(lowest / 6.0, e_hi * 10 ** (share * span / (1.0 - share)))


def _panel_key(record: dict) -> tuple[str, str, str]:
    return (record["problem"], record["schedule"], record["prediction"])


def convergence_pages(results: StudyResults) -> Iterator[Page]:
    """One page (or more) per regime present in the study."""
    solvers = sorted({r["solver"] for r in results.records})
    colour_cycle = cycle(zip(_COLOURS, _MARKERS))
    colours = {name: next(colour_cycle) for name in solvers}
    for regime in results.regimes():
        records = [r for r in results.records if r["regime"] == regime]
        keys = sorted({_panel_key(r) for r in records})
        n_pages = max(1, math.ceil(len(keys) / PANELS_PER_PAGE))
        per_page = max(1, math.ceil(len(keys) / n_pages))  # balanced pages, not a full one and a stub
        for page_no in range(n_pages):
            chunk = keys[page_no * per_page:(page_no + 1) * per_page]
            fig = new_page()
            title = f"Convergence: {regime} regime" + (f" ({page_no + 1}/{n_pages})" if n_pages > 1 else "")
            y = page_title(fig, title, "log–log error against step size h; legend: solver (stage fractions, "
                                       "variant): measured slope.")
            y = paragraph(fig, y, _CAPTION.get(regime, "") + " Error bars: bootstrap 95 % intervals. Dotted "
                          "black: declared slopes. Faint thick line: the fit over the range the engine "
                          "used. Dashed red with open markers: a failing series. Dotted grey horizontal: "
                          "reference-solution error.", width=135) - 0.008
            bottom = 0.04
            height = min(0.36, (y - bottom) / max(2, math.ceil(len(chunk) / 2)))
            for i, key in enumerate(chunk):
                row, col = divmod(i, 2)
                ax = fig.add_axes([LEFT + 0.045 + col * 0.45, y - (row + 1) * height + 0.04, 0.38,
                                   height - 0.068])
                panel_records = sorted((r for r in records if _panel_key(r) == key),
                                       key=lambda r: (r["solver"], r["eta"] or 0.0))
                _draw_panel(ax, panel_records, regime, colours)
                ax.set_title(f"{key[0]} · {key[1]} · {key[2]} prediction", fontsize=7.5, pad=3)
                ax.set_xlabel("step size h (λ units)", labelpad=1)
                ax.set_ylabel(_YLABEL.get(regime, "error"), fontsize=6.5)
                ax.legend(loc="upper left", fontsize=5.5, frameon=True, framealpha=0.85, handlelength=2.2,
                          ncol=2 if len(panel_records) > 4 else 1)
            yield Page(f"convergence_{regime}" + (f"_{page_no + 1}" if page_no else ""), fig)
