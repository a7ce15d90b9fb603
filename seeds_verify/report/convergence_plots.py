"""Convergence pages: log–log error against step size, re-plotted from ``results.json``.

One page (or more) per regime, one panel per problem × schedule. Every series is one sampler ×
prediction × η: its errors with their 95 % intervals over its own ladder (ladders differ where
the engine escalated an inconclusive check to finer steps), the line fitted over the range the
engine used (``fit_steps``), and, as dotted black lines, the slopes the samplers declare. A failing
series is drawn dashed red and an inconclusive one dashed orange, and their legend entries say so,
so a broken order is seen before it is read.
"""

from __future__ import annotations

import math
import re
from itertools import cycle
from typing import Iterator

import numpy as np
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from ..convergence import statistics as S
from ..convergence.plots import draw_rounding_band, rounding_band
from ..convergence.records import RegimeResult
from .layout import FAIL_COLOUR, INCONCLUSIVE_COLOUR, LEFT, MUTED_COLOUR, Page, new_page, page_title, paragraph
from .results import VERDICT_LABELS, StudyResults

__all__ = ["convergence_pages", "short_name", "fit_mask", "series_points", "PANELS_PER_PAGE"]

PANELS_PER_PAGE = 3  # full-width panels with the legend on their right, on A4 portrait

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

_COLOURS = ("#0969da", "#bf3989", "#1a7f37", "#8250df", "#0a3069", "#57606a", "#1b7c83", "#6e7000",
            "#24292f", "#116329")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_PREDICTION = {"data": "D", "noise": "ε̂"}
_STYLE = {S.FAIL: FAIL_COLOUR, S.INCONCLUSIVE: INCONCLUSIVE_COLOUR}


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def series_points(record: RegimeResult) -> tuple[np.ndarray, ...] | None:
    """(n, h, err, lo, hi) as arrays, coarse to fine, keeping points with a positive finite step and
    error; missing interval ends fall back to the error itself. None without such a point."""
    n = min(len(record.step_sizes), len(record.errors))
    counts = [_number(c) for c in record.step_counts] if len(record.step_counts) == n else [math.nan] * n
    h = np.array([_number(v) for v in record.step_sizes[:n]])
    e = np.array([_number(v) for v in record.errors[:n]])
    lo = np.array([_number(v) for v in record.errors_ci_low[:n]]) if len(record.errors_ci_low) >= n else e.copy()
    hi = np.array([_number(v) for v in record.errors_ci_high[:n]]) if len(record.errors_ci_high) >= n else e.copy()
    lo = np.where(np.isfinite(lo), lo, e)
    hi = np.where(np.isfinite(hi), hi, e)
    ok = np.isfinite(h) & np.isfinite(e) & (h > 0) & (e > 0)
    if not ok.any():
        return None
    order = np.argsort(-h[ok])
    return tuple(a[ok][order] for a in (np.array(counts), h, e, lo, hi))


def fit_mask(record: RegimeResult, counts: np.ndarray) -> np.ndarray:
    """Which of ``counts`` (step counts) lie in the fitted range ``record.fit_steps`` (coarsest,
    finest step count fitted); none without a fit."""
    if not record.fit_steps or len(record.fit_steps) != 2:
        return np.zeros(np.shape(counts), dtype=bool)
    first, last = sorted(record.fit_steps)
    return (counts >= first) & (counts <= last)


def short_name(sampler: str) -> str:
    """A sampler name without its parameter names: ``seeds3(r_1=1/3,r_2=2/3,3a)`` → ``seeds3(1/3,2/3,3a)``."""
    return re.sub(r"\b[a-z](_\d)?=", "", sampler)


def _label(record: RegimeResult, with_eta: bool) -> str:
    name = short_name(record.sampler)
    if record.prediction:
        name += " " + _PREDICTION.get(record.prediction, record.prediction)
    if with_eta:
        name += f", η={record.eta:g}"
    slope = record.measured_order
    name += f": {slope:.2f}" if slope is not None else ": no fit"
    if record.declared is not None:
        name += f" (decl. {record.declared:g})"
    if record.verdict not in (S.PASS,):
        name += "  " + VERDICT_LABELS[record.verdict]
    if len(record.rounds) > 1:
        name += f", {len(record.rounds)} rounds"
    return name


def _draw_panel(ax, records: list[RegimeResult], colours: dict) -> None:
    with_eta = len({r.eta for r in records}) > 1
    all_h, all_e = [], []
    declared: dict[float, float] = {}  # declared slope → smallest error at the finest step
    for r in records:
        pts = series_points(r)
        colour, marker = colours[r.sampler]
        flagged = _STYLE.get(r.verdict)
        line_colour = flagged or colour
        face = "white" if r.prediction == "noise" else line_colour
        if pts is None:
            ax.plot([], [], color=line_colour, marker=marker, label=_label(r, with_eta) + " (no data)")
            continue
        n, h, e, lo, hi = pts
        all_h.extend(h)
        all_e.extend(e)
        yerr = np.vstack([np.clip(e - lo, 0, None), np.clip(hi - e, 0, None)])
        ax.errorbar(h, e, yerr=yerr, color=line_colour, marker=marker, markerfacecolor=face,
                    markeredgecolor=line_colour, linestyle="--" if flagged else "-",
                    linewidth=1.4 if flagged else 0.9, capsize=1.8, elinewidth=0.7,
                    label=_label(r, with_eta), zorder=3 if flagged else 2)
        mask = fit_mask(r, n)
        if r.measured_order is not None and mask.sum() >= 2:
            hf, ef = h[mask], e[mask]
            if r.constant is not None and r.constant > 0:
                intercept = math.log(r.constant)
            else:
                intercept = float(np.mean(np.log(ef) - r.measured_order * np.log(hf)))
            xs = np.array([hf.min(), hf.max()])
            ax.plot(xs, np.exp(intercept) * xs ** r.measured_order, color=line_colour, linewidth=3.0,
                    alpha=0.2, zorder=1)
        if r.declared is not None:
            declared[r.declared] = min(declared.get(r.declared, math.inf), float(e[-1]))
        ref = _number((r.details or {}).get("reference_error"))
        if math.isfinite(ref) and ref > 0:
            ax.axhline(ref, color=MUTED_COLOUR, linestyle=":", linewidth=0.7)
    if not all_h:
        ax.text(0.5, 0.5, "no error data", transform=ax.transAxes, ha="center", va="center",
                color=MUTED_COLOUR)
        return
    h_lo, h_hi = min(all_h), max(all_h)
    # Every declared slope starts from one point below the smallest error at the finest step, so
    # the lines fan out and their labels, at the coarse end, stand apart.
    e0 = 0.5 * min(declared.values()) if declared else None
    for p in sorted(declared):
        xs = np.geomspace(h_lo, h_hi, 2)
        ys = e0 * (xs / h_lo) ** p
        ax.plot(xs, ys, color="black", linestyle=":", linewidth=0.9, zorder=0)
        ax.annotate(f"slope {p:g}", (xs[-1], ys[-1]), fontsize=6, color="#24292f",
                    xytext=(3, 0), textcoords="offset points", va="center", ha="left")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(h_lo / 1.4, h_hi * 1.6)
    # Ticks at the step sizes actually run (a study rarely spans many decades of h).
    ticks = sorted(set(round(v, 12) for v in all_h))
    if len(ticks) > 8:
        ticks = ticks[::math.ceil(len(ticks) / 8)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{v:.3g}" for v in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())
    lowest = min([min(all_e)] + ([e0] if e0 is not None else []))
    ax.set_ylim(lowest / 3.0, max(all_e) * 3.0)
    draw_rounding_band(ax, [rounding_band(r.step_sizes, r.details) for r in records])


def _panel_key(record: RegimeResult) -> tuple[str, str]:
    return (record.problem, record.schedule)


def convergence_pages(results: StudyResults) -> Iterator[Page]:
    """One page (or more) per regime present in the study, one panel per problem × schedule."""
    samplers = sorted({r.sampler for r in results.records})
    colour_cycle = cycle(zip(_COLOURS, _MARKERS))
    colours = {name: next(colour_cycle) for name in samplers}
    for regime in results.regimes():
        records = [r for r in results.records if r.regime == regime]
        keys = sorted({_panel_key(r) for r in records})
        n_pages = max(1, math.ceil(len(keys) / PANELS_PER_PAGE))
        per_page = max(1, math.ceil(len(keys) / n_pages))  # balanced pages, not a full one and a stub
        for page_no in range(n_pages):
            chunk = keys[page_no * per_page:(page_no + 1) * per_page]
            fig = new_page()
            title = f"Convergence: {regime} regime" + (f" ({page_no + 1}/{n_pages})" if n_pages > 1 else "")
            y = page_title(fig, title, "log–log error against step size h; legend: sampler (stage fractions, "
                                       "variant), prediction (D data, ε̂ noise; open markers for ε̂): "
                                       "measured slope (declared order), verdict when not a plain pass.")
            y = paragraph(fig, y, _CAPTION.get(regime, "") + " Error bars: 95 % intervals (bootstrap over "
                          "paths; none for exact studies). Dotted black: declared slopes. Faint thick "
                          "line: the fit over the range the engine used. Dashed red: a failing series; "
                          "dashed orange: an inconclusive one. A series escalated to finer steps "
                          "reaches further left and says how many rounds it took.", width=135) - 0.01
            bottom = 0.04
            height = min(0.42, (y - bottom) / max(1, len(chunk)))
            for i, key in enumerate(chunk):
                ax = fig.add_axes([LEFT + 0.06, y - (i + 1) * height + 0.045, 0.47, height - 0.075])
                panel = sorted((r for r in records if _panel_key(r) == key),
                               key=lambda r: (r.sampler, r.prediction or "", r.eta))
                _draw_panel(ax, panel, colours)
                ax.set_title(f"{regime} · {key[0]} · {key[1]}", fontsize=7.5, pad=3)
                ax.set_xlabel("step size h (λ units)", labelpad=1)
                ax.set_ylabel(_YLABEL.get(regime, "error"), fontsize=6.5)
                handles, labels = ax.get_legend_handles_labels()
                if handles:
                    fig.legend(handles, labels, loc="upper left", fontsize=5.5, frameon=False,
                               handlelength=2.4, bbox_to_anchor=(LEFT + 0.55, y - i * height - 0.02),
                               bbox_transform=fig.transFigure, borderaxespad=0.0)
            yield Page(f"convergence_{regime}" + (f"_{page_no + 1}" if page_no else ""), fig)
