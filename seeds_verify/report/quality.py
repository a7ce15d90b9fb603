"""Quality-against-NFE pages, drawn from the benchmark results when they exist.

``python -m benchmarks.quality`` writes ``benchmarks/results/quality*.json``: per problem and
schedule ("cases") the exact-sample noise floor of each metric and, per sampler, the metric at
each NFE budget with a bootstrap 95 % interval, plus a summary of the NFE each sampler needs to
reach the noise floor. The pages read that layout, and a flat list of records (sampler, problem,
schedule, nfe, metric, value, ci, noise_floor) as well, defensively: what cannot be read is
reported on the page instead of being dropped silently. One file is shown: the full run in
preference to a quick one, a finished run in preference to a partial one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterator

import numpy as np
from matplotlib import colormaps
from matplotlib.lines import Line2D

from .layout import LEFT, MUTED_COLOUR, Page, Table, draw_table, new_page, page_title, paragraph
from .results import _finite_or_none

__all__ = ["quality_files", "choose_quality_file", "read_quality", "quality_pages", "PLOTTED_METRICS"]

PLOTTED_METRICS = ("sw2", "tv")  # one page each when present; otherwise the first metric found
_METRIC_NAMES = {
    "sw2": "sliced Wasserstein-2 distance to the exact law",
    "tv": "mode-coverage total variation ½ Σ_k |ŵ_k − w_k|",
    "mean": "mean error ‖m − m*‖ / sqrt(tr C*)",
    "cov": "covariance error ‖C − C*‖_F / ‖C*‖_F",
    "logp": "|mean log p₀ − exact mean log p₀|",
}
_PANELS_PER_PAGE = 8


def quality_files(benchmarks_dir: Path | None) -> list[Path]:
    """The ``quality*.json`` files of ``benchmarks_dir``, sorted by name ([] when there are none)."""
    if benchmarks_dir is None or not Path(benchmarks_dir).is_dir():
        return []
    return sorted(Path(benchmarks_dir).glob("quality*.json"))


def choose_quality_file(files: list[Path]) -> Path | None:
    """The file to show: finished before partial, full before quick, then by name."""
    if not files:
        return None
    return min(files, key=lambda p: ("partial" in p.name, "quick" in p.name, p.name))


def _interval(ci):
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return _finite_or_none(ci[0]), _finite_or_none(ci[1])
    return None, None


def _from_cases(data: dict) -> tuple[list[dict], list[str]]:
    """Records from the ``cases`` layout of ``benchmarks.quality``."""
    records, notes = [], []
    for case in data.get("cases", []):
        if not isinstance(case, dict):
            continue
        problem, schedule = str(case.get("problem", "n/a")), str(case.get("schedule", "n/a"))
        floors = case.get("floor") if isinstance(case.get("floor"), dict) else {}
        curves = case.get("curves") if isinstance(case.get("curves"), dict) else {}
        for sampler, curve in curves.items():
            points = curve.get("points", []) if isinstance(curve, dict) else []
            failed = 0
            for point in points:
                if not isinstance(point, dict):
                    continue
                nfe, metrics = _finite_or_none(point.get("nfe")), point.get("metrics")
                if nfe is None or not isinstance(metrics, dict):
                    failed += 1
                    continue
                cis = point.get("ci95") if isinstance(point.get("ci95"), dict) else {}
                for metric, value in metrics.items():
                    if _finite_or_none(value) is None:
                        continue
                    floor = floors.get(metric) if isinstance(floors.get(metric), dict) else {}
                    lo, hi = _interval(cis.get(metric))
                    records.append({"sampler": str(sampler), "problem": problem, "schedule": schedule,
                                    "metric": str(metric), "nfe": nfe, "value": _finite_or_none(value), "lo": lo,
                                    "hi": hi, "floor": _finite_or_none(floor.get("band")),
                                    "floor_median": _finite_or_none(floor.get("median"))})
            if failed:
                notes.append(f"{sampler} on {problem}/{schedule}: {failed} budget(s) without metrics "
                             "(non-finite output)")
    return records, notes


def _from_flat(raw: list) -> tuple[list[dict], list[str]]:
    """Records from a flat list of dicts (sampler, problem, schedule, nfe, metric, value, ...)."""
    records, skipped = [], 0
    for r in raw:
        if not isinstance(r, dict):
            skipped += 1
            continue
        sampler = r.get("sampler", r.get("solver"))
        nfe, value = _finite_or_none(r.get("nfe")), _finite_or_none(r.get("value"))
        if sampler is None or nfe is None or value is None:
            skipped += 1
            continue
        lo, hi = _interval(r.get("ci"))
        records.append({"sampler": str(sampler), "problem": str(r.get("problem", "n/a")),
                        "schedule": str(r.get("schedule", "n/a")), "metric": str(r.get("metric", "quality")),
                        "nfe": nfe, "value": value, "lo": lo if lo is not None else _finite_or_none(r.get("ci_low")),
                        "hi": hi if hi is not None else _finite_or_none(r.get("ci_high")),
                        "floor": _finite_or_none(r.get("noise_floor")), "floor_median": None})
    notes = [f"{skipped} of {len(raw)} records lack a sampler, NFE or value"] if skipped else []
    return records, notes


def read_quality(path: Path) -> tuple[list[dict], dict, list[str]]:
    """(records, the file's summary or {}, notes on what could not be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], {}, [f"{path.name}: not readable JSON ({exc})"]
    if isinstance(data, dict) and isinstance(data.get("cases"), list):
        records, notes = _from_cases(data)
        summary = data.get("summary") if isinstance(data.get("summary"), dict) else {}
        return records, summary, notes
    raw = data.get("records") if isinstance(data, dict) else data
    if isinstance(raw, list):
        records, notes = _from_flat(raw)
        return records, {}, notes
    return [], {}, [f"{path.name}: neither 'cases' nor a list of records found"]


def _sampler_styles(samplers: list[str]) -> dict:
    """Colour and line style per sampler: SEEDS solid, other samplers of this package dash-dot,
    peers (names with a "kd-" prefix, k-diffusion) dotted."""
    palette = colormaps["tab20"].colors
    styles = {}
    for i, name in enumerate(samplers):
        if name.startswith("seeds"):
            line, width = "-", 1.4
        elif name.startswith("kd-"):
            line, width = ":", 1.0
        else:
            line, width = "-.", 1.0
        styles[name] = {"color": palette[i % len(palette)], "linestyle": line, "linewidth": width,
                        "marker": "o" if name.startswith("seeds") else ".", "markersize": 2.8}
    return styles


def _metric_pages(records, metric, samplers, styles, source: str, notes) -> Iterator[Page]:
    rows = [r for r in records if r["metric"] == metric]
    keys = sorted({(r["problem"], r["schedule"]) for r in rows})
    n_pages = max(1, math.ceil(len(keys) / _PANELS_PER_PAGE))
    for page_no in range(n_pages):
        fig = new_page()
        suffix = f" ({page_no + 1}/{n_pages})" if n_pages > 1 else ""
        y = page_title(fig, f"Sample quality against NFE: {metric}{suffix}", f"From {source}.")
        text = (f"{metric}: {_METRIC_NAMES.get(metric, metric)}, lower is better, against the number of "
                "model evaluations (η = 1, Karras ρ = 7 sigmas, the same exact start for every sampler). "
                "Error bars: bootstrap 95 % intervals. Grey band: the noise floor, i.e. values that "
                "independent exact samples of the same size reach (up to their 99th percentile; dotted: "
                "their median); inside it a sampler is as good as exact sampling can show.")
        y = paragraph(fig, y, text, width=135) - 0.004
        for note in notes:
            y = paragraph(fig, y, note, colour=MUTED_COLOUR, fontsize=6.5)
        legend_rows = math.ceil(len(samplers) / 4)
        legend_height = 0.012 * legend_rows + 0.01
        handles = [Line2D([], [], **styles[s]) for s in samplers]
        fig.legend(handles, samplers, loc="upper left", bbox_to_anchor=(LEFT, y), ncol=4, fontsize=6,
                   frameon=False, handlelength=3.0)
        y -= legend_height + 0.01
        height = (y - 0.04) / 4.0
        for i, key in enumerate(keys[page_no * _PANELS_PER_PAGE:(page_no + 1) * _PANELS_PER_PAGE]):
            row, col = divmod(i, 2)
            ax = fig.add_axes([LEFT + 0.045 + col * 0.45, y - (row + 1) * height + 0.04, 0.38, height - 0.068])
            panel = [r for r in rows if (r["problem"], r["schedule"]) == key]
            for sampler in samplers:
                series = sorted((r for r in panel if r["sampler"] == sampler), key=lambda r: r["nfe"])
                if not series:
                    continue
                nfe = np.array([r["nfe"] for r in series])
                val = np.array([r["value"] for r in series])
                lo = np.array([r["lo"] if r["lo"] is not None else r["value"] for r in series])
                hi = np.array([r["hi"] if r["hi"] is not None else r["value"] for r in series])
                ax.errorbar(nfe, val, yerr=np.vstack([np.clip(val - lo, 0, None), np.clip(hi - val, 0, None)]),
                            capsize=0, elinewidth=0.5, **styles[sampler])
            floors = [r["floor"] for r in panel if r["floor"] is not None]
            medians = [r["floor_median"] for r in panel if r["floor_median"] is not None]
            positive = all(r["value"] > 0 for r in panel)
            if floors:
                band = float(np.median(floors))
                ax.axhspan(min([band / 1e3] + [r["value"] for r in panel]) if positive else 0.0, band,
                           color="#d0d7de", alpha=0.6, zorder=0)
            if medians:
                ax.axhline(float(np.median(medians)), color=MUTED_COLOUR, linestyle=":", linewidth=0.8)
            ax.set_xscale("log")
            if positive:
                ax.set_yscale("log")
            ax.set_xlabel("NFE (model evaluations)", labelpad=1)
            ax.set_ylabel(metric)
            ax.set_title(f"{key[0]} · {key[1]}", fontsize=7.5, pad=3)
            budgets = sorted({r["nfe"] for r in panel})
            ax.set_xticks(budgets)
            ax.set_xticklabels([f"{b:g}" for b in budgets])
            ax.minorticks_off()
            if positive:
                values = [r["value"] for r in panel] + floors
                ax.set_ylim(min(values) / 1.5, max(values) * 1.5)
        yield Page(f"quality_{metric}" + (f"_{page_no + 1}" if page_no else ""), fig)


def _nfe_table_page(summary: dict, source: str) -> Iterator[Page]:
    table = summary.get("nfe_to_quality")
    if not isinstance(table, dict) or not table:
        return
    cases: list[str] = []
    for row in table.values():
        if isinstance(row, dict):
            cases.extend(c for c in row if c not in cases)
    limit = summary.get("max_nfe_tried")
    body, colours = [], []
    for sampler, row in table.items():
        row = row if isinstance(row, dict) else {}
        cells = [str(sampler)]
        for case in cases:
            value = row.get(case)
            cells.append(f"{value:g}" if _finite_or_none(value) is not None else (f"> {limit}" if limit else "not reached"))
        body.append(cells)
        colours.append([None] + [MUTED_COLOUR if not c[0].isdigit() else None for c in cells[1:]])
    fig = new_page()
    y = page_title(fig, "NFE to reach the noise floor", f"From {source}.")
    text = ("The smallest NFE budget at which a sampler's value of every metric lies inside the exact-sample "
            "noise floor (the grey band of the previous pages), per problem and schedule; "
            f"'> {limit}' means it did not within the budgets tried. Smaller is better.")
    y = paragraph(fig, y, text, width=135) - 0.01
    headers = ["sampler"] + [c.replace("/", "\n") for c in cases]
    draw_table(fig, Table(headers, body, colours, widths=[14] + [7] * len(cases)), top=y, fontsize=6.5,
               row_height=0.015)
    yield Page("quality_nfe", fig)


def quality_pages(benchmarks_dir: Path | None) -> Iterator[Page]:
    """Quality against NFE per metric (sw2, tv) and the NFE-to-floor table; nothing without results."""
    path = choose_quality_file(quality_files(benchmarks_dir))
    if path is None:
        return
    records, summary, notes = read_quality(path)
    source = f"benchmarks/results/{path.name}"
    if not records:
        fig = new_page()
        y = page_title(fig, "Sample quality against NFE", f"From {source}.")
        paragraph(fig, y, "No usable records. " + " ".join(notes), colour=MUTED_COLOUR)
        yield Page("quality", fig)
        return
    samplers = list(dict.fromkeys(r["sampler"] for r in records))
    styles = _sampler_styles(samplers)
    metrics = list(dict.fromkeys(r["metric"] for r in records))
    shown = [m for m in PLOTTED_METRICS if m in metrics] or metrics[:1]
    for metric in shown:
        yield from _metric_pages(records, metric, samplers, styles, source, notes)
    yield from _nfe_table_page(summary, source)
