"""The weak order on the mixtures: the verdicts of ``benchmarks/results/weak_mixture.json`` (the
coupled reference, both mixtures) and of ``weak_mixture_conditional.json`` (the sum of local weak
errors on the ring, docs/weak_mixture.md §3b), both from ``python -m benchmarks.weak_mixture``,
drawn from the files without recomputing anything, when they exist.

One page per file. One row per sampler; one column per problem × schedule holding the measured
weak order with its 95 % interval and the verdict against the declared order; below, the budget,
the wall time and the measured variance reduction against the coupled difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .audit import read_audit
from .layout import (FAIL_COLOUR, INCONCLUSIVE_COLOUR, MUTED_COLOUR, PASS_COLOUR, Page, Table,
                     draw_table, new_page, page_title, paragraph)

__all__ = ["weak_mixture_pages", "WEAK_MIXTURE_FILE", "WEAK_CONDITIONAL_FILE"]

WEAK_MIXTURE_FILE = "weak_mixture.json"
WEAK_CONDITIONAL_FILE = "weak_mixture_conditional.json"
_ESTIMATES = {
    "antithetic": "Antithetic reference",
    "conditional": "Sum of local weak errors (conditional law, no reference)",
}
_COLOURS = {"pass": PASS_COLOUR, "pass (>)": PASS_COLOUR, "fail": FAIL_COLOUR,
            "inconclusive": INCONCLUSIVE_COLOUR}
_MARKS = {"pass": "", "pass (>)": " (>)", "fail": " FAIL", "inconclusive": " ?", "measured": ""}


def _cell(rec: dict) -> tuple[str, str | None]:
    verdict = rec.get("verdict")
    order, lo, hi = rec.get("measured_order"), rec.get("ci_low"), rec.get("ci_high")
    if order is None:
        return verdict or "–", _COLOURS.get(verdict)
    return f"{order:.2f} [{lo:.2f}, {hi:.2f}]" + _MARKS.get(verdict, ""), _COLOURS.get(verdict)


def _error_panels(fig, records: list, cases: list, top: float) -> None:
    """Per problem × schedule, the weak errors against the step count (log–log) with their 95 %
    intervals; the fitted range of each study drawn solid, the rest dotted."""
    from .layout import LEFT

    if top < 0.2:
        return
    height = min(0.3, top - 0.09)
    width = 0.8 / max(len(cases), 1) - 0.06
    for col, case in enumerate(cases):
        ax = fig.add_axes([LEFT + 0.05 + col * (width + 0.06), top - height, width, height])
        finite = []
        for r in records:
            if (r["problem"], r["schedule"]) != case or not r.get("errors"):
                continue
            n, e = np.asarray(r["step_counts"], dtype=float), np.asarray(r["errors"], dtype=float)
            lo, hi = r.get("errors_ci_low"), r.get("errors_ci_high")
            line, = ax.plot(n, e, ":", marker="o", markersize=2.5, linewidth=0.8,
                            label=r["sampler"].split(":", 1)[-1])
            if lo and hi:
                ax.fill_between(n, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
            fit = r.get("fit_steps")
            if fit:
                keep = (n >= fit[0]) & (n <= fit[1])
                ax.plot(n[keep], e[keep], "-", color=line.get_color(), linewidth=1.4)
            finite.extend(e[np.isfinite(e) & (e > 0)].tolist())
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        if finite:
            typical = float(np.median(finite))
            ax.set_ylim(min(finite) / 2, min(max(finite) * 2, typical * 1e3))
        ax.set_title(f"{case[0]}, {case[1]}", fontsize=7)
        ax.set_xlabel("steps", fontsize=6.5)
        ax.set_ylabel("weak error Σ_j |mean d_j|", fontsize=6.5)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5, frameon=False)


def weak_mixture_pages(benchmarks_dir: Path | None) -> Iterator[Page]:
    """The verdict tables of the weak studies on the mixtures (one page per file present)."""
    for name, file_name, title in (
            ("weak_mixture", WEAK_MIXTURE_FILE, "Weak order on the Gaussian mixtures"),
            ("weak_mixture_conditional", WEAK_CONDITIONAL_FILE,
             "Weak order on the ring: the sum of local weak errors")):
        data = read_audit(benchmarks_dir, file_name)
        if data is not None:
            yield _page(name, title, data, file_name)


def _budget(records: list, meta: dict) -> str:
    """Paths and step counts per study: one phrase, or one per group of studies run alike."""
    groups: dict = {}
    for r in records:
        key = (r.get("paths", meta.get("paths")), tuple(r.get("step_counts") or meta.get("steps") or ()))
        groups.setdefault(key, []).append(f"{r['sampler'].split(':', 1)[-1]} {r['schedule']}")
    phrase = lambda key: f"{key[0]} paths per study, steps {list(key[1])}"  # noqa: E731
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    text = phrase(ordered[0][0])
    for key, members in ordered[1:]:
        text += "; " + ", ".join(dict.fromkeys(members)) + ": " + phrase(key)
    return text


def _page(name: str, title: str, data: dict, file_name: str) -> Page:
    records = data["records"]
    meta = data.get("meta", {})
    cases = list(dict.fromkeys((r["problem"], r["schedule"]) for r in records))
    samplers = list(dict.fromkeys(r["sampler"] for r in records))
    by_key = {(r["sampler"], r["problem"], r["schedule"]): r for r in records}
    rows, colours = [], []
    for s in samplers:
        cells = [by_key.get((s, p, c)) for p, c in cases]
        declared = next((c.get("declared") for c in cells if c and c.get("declared") is not None), None)
        row, colour = [s.split(":", 1)[-1], "–" if declared is None else f"{declared:g}"], [None, None]
        for c in cells:
            text, col = ("–", MUTED_COLOUR) if c is None else _cell(c)
            row.append(text)
            colour.append(col)
        rows.append(row)
        colours.append(colour)
    factors = [f for r in records for f in (r.get("details", {}).get("variance_reduction") or {}).get("factors", [])
               if f is not None and np.isfinite(f)]
    fig = new_page()
    y = page_title(fig, title,
                   "Measured weak order [95 % CI] at η = 1 against the declared order, tolerance "
                   f"{meta.get('tolerance', 0.25)}; (>) faster, FAIL below, ? inconclusive.")
    vr = ""
    method = meta.get("variance_reduction")
    if factors:
        vr = (f" {_ESTIMATES.get(method, str(method))}: variance of the weak-error estimate reduced by a "
              f"factor {np.median(factors):.3g} against the coupled difference (median over ladder points; "
              f"{min(factors):.3g}–{max(factors):.3g}).")
    runs = meta.get("runs") or [meta]
    walls = [r.get("wall_time_s") for r in runs]
    wall = sum(walls) if all(isinstance(w, (int, float)) for w in walls) else None
    rates = [r.get("paths_per_second_per_worker") for r in runs]
    if len(runs) > 1 and all(isinstance(x, (int, float)) for x in rates):
        rate = ", " + ", ".join(f"{x:g}" for x in rates) + " paths/s per worker (by run)."
    else:
        rate = (f", {meta.get('paths_per_second_per_worker', '?')} paths/s per worker"
                + (" (first run)." if len(runs) > 1 else "."))
    y = paragraph(fig, y, (
        _budget(records, meta) + ", one round (no escalation); "
        f"shards on {meta.get('workers', '?')} Dask workers"
        + (f", wall time {wall:.0f} s" if wall is not None else "")
        + (f" over {len(runs)} runs" if len(runs) > 1 else "")
        + rate + vr
        + f" Declared orders and their sources: benchmarks/results/{file_name}; analysis in "
          "docs/weak_mixture.md. Below the table: the errors (95 % bands), fitted ranges solid."))
    headers = ["sampler", "declared"] + [f"{p}\n{s}" for p, s in cases]
    y = draw_table(fig, Table(headers, rows, colours), top=y - 0.01)
    fails = [f"{r['sampler'].split(':', 1)[-1]} {r['problem']} {r['schedule']} ({r['fit_steps'][0]}–"
             f"{r['fit_steps'][1]} steps)" for r in records if r.get("verdict") == "fail" and r.get("fit_steps")]
    if fails:
        y = paragraph(fig, y - 0.015, "FAIL verdicts and the step counts their fits rest on: " + "; ".join(fails)
                      + ". Whether these ranges are asymptotic is discussed in docs/weak_mixture.md §6.",
                      fontsize=6.5)
    reasons = [f"{r['sampler'].split(':', 1)[-1]} {r['problem']} {r['schedule']}: {r['reason']}"
               for r in records if r.get("verdict") == "inconclusive" and r.get("reason")]
    if reasons:
        y = paragraph(fig, y - 0.015, "Inconclusive — " + "; ".join(reasons), colour=MUTED_COLOUR, fontsize=5.5)
    _error_panels(fig, records, cases, y - 0.04)
    return Page(name, fig)
