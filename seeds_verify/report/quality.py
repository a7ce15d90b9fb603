"""Quality-vs-NFE page, drawn from the benchmark results when they exist.

``benchmarks/results/quality*.json`` is written by the benchmark scripts. The page reads it
defensively: a file may hold a list of records or an object with a "records" list, and each
record is expected to name a sampler, a problem, a schedule, an NFE count, a metric and its value,
with optional confidence interval and noise floor. Records the page cannot use are counted and
reported on the page rather than dropped silently.
"""

from __future__ import annotations

import json
import math
from itertools import cycle
from pathlib import Path
from typing import Iterator

import numpy as np

from .layout import LEFT, MUTED_COLOUR, Page, new_page, page_title, paragraph

__all__ = ["quality_files", "read_quality", "quality_pages"]

_PANELS_PER_PAGE = 6
_COLOURS = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#0a3069", "#bc4c00", "#57606a")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<")


def quality_files(benchmarks_dir: Path | None) -> list[Path]:
    """The ``quality*.json`` files of ``benchmarks_dir``, sorted by name ([] when there are none)."""
    if benchmarks_dir is None or not Path(benchmarks_dir).is_dir():
        return []
    return sorted(Path(benchmarks_dir).glob("quality*.json"))


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _first(record: dict, *keys):
    for key in keys:
        if key in record and record[key] is not None:
            return record[key]
    return None


def _normalise(record: dict, meta: dict) -> dict | None:
    """A record in the page's terms, or None when it lacks a sampler, an NFE or a value."""
    sampler = _first(record, "sampler", "solver", "method")
    nfe = _number(_first(record, "nfe", "NFE", "n_fe"))
    value = _number(_first(record, "value", "metric_value", "score"))
    if sampler is None or nfe is None or value is None:
        return None
    ci = _first(record, "ci", "ci95", "interval")
    lo = hi = None
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        lo, hi = _number(ci[0]), _number(ci[1])
    elif _number(ci) is not None:  # a half width
        lo, hi = value - _number(ci), value + _number(ci)
    lo = lo if lo is not None else _number(record.get("ci_low"))
    hi = hi if hi is not None else _number(record.get("ci_high"))
    metric = _first(record, "metric", "metric_name", "name") or meta.get("metric") or "quality"
    return {
        "sampler": str(sampler),
        "problem": str(_first(record, "problem") or meta.get("problem") or "n/a"),
        "schedule": str(_first(record, "schedule") or meta.get("schedule") or "n/a"),
        "metric": str(metric),
        "nfe": nfe,
        "value": value,
        "lo": lo,
        "hi": hi,
        "floor": _number(_first(record, "noise_floor", "floor")),
    }


def read_quality(files: list[Path]) -> tuple[list[dict], list[str]]:
    """Usable records from all files, and notes on what could not be read."""
    records, notes = [], []
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            notes.append(f"{path.name}: not readable JSON ({exc})")
            continue
        meta = data.get("meta", {}) if isinstance(data, dict) else {}
        raw = data.get("records", data.get("results")) if isinstance(data, dict) else data
        if not isinstance(raw, list):
            notes.append(f"{path.name}: no list of records found")
            continue
        usable = [_normalise(r, meta if isinstance(meta, dict) else {}) for r in raw if isinstance(r, dict)]
        skipped = sum(1 for r in usable if r is None) + sum(1 for r in raw if not isinstance(r, dict))
        records.extend(r for r in usable if r is not None)
        if skipped:
            notes.append(f"{path.name}: {skipped} of {len(raw)} records lack a sampler, NFE or value")
    return records, notes


def quality_pages(benchmarks_dir: Path | None) -> Iterator[Page]:
    """Quality against NFE, one panel per problem × schedule × metric; nothing without results."""
    files = quality_files(benchmarks_dir)
    if not files:
        return
    records, notes = read_quality(files)
    keys = sorted({(r["problem"], r["schedule"], r["metric"]) for r in records})
    samplers = sorted({r["sampler"] for r in records})
    style = dict(zip(samplers, cycle(zip(_COLOURS, _MARKERS))))
    n_pages = max(1, math.ceil(len(keys) / _PANELS_PER_PAGE))
    for page_no in range(n_pages):
        fig = new_page()
        suffix = f" ({page_no + 1}/{n_pages})" if n_pages > 1 else ""
        y = page_title(fig, "Sample quality against NFE" + suffix,
                       "From " + ", ".join(p.name for p in files) + " (benchmarks/results).")
        text = ("Each panel: a sample-quality metric of each sampler against the number of model "
                "evaluations, with its confidence interval as error bars. The dashed grey line is the "
                "metric's noise floor (the value exact samples of the same size reach): below it, "
                "differences are sampling noise.")
        y = paragraph(fig, y, text, width=135) - 0.01
        for note in notes:
            y = paragraph(fig, y, note, colour=MUTED_COLOUR)
        chunk = keys[page_no * _PANELS_PER_PAGE:(page_no + 1) * _PANELS_PER_PAGE]
        if not chunk:
            paragraph(fig, y - 0.01, "No usable records.", colour=MUTED_COLOUR)
        height = (y - 0.05) / 3.0
        for i, key in enumerate(chunk):
            row, col = divmod(i, 2)
            ax = fig.add_axes([LEFT + 0.04 + col * 0.45, y - (row + 1) * height + 0.045, 0.37, height - 0.075])
            panel = [r for r in records if (r["problem"], r["schedule"], r["metric"]) == key]
            positive = all(r["value"] > 0 for r in panel)
            for sampler in samplers:
                rows = sorted((r for r in panel if r["sampler"] == sampler), key=lambda r: r["nfe"])
                if not rows:
                    continue
                nfe = np.array([r["nfe"] for r in rows])
                val = np.array([r["value"] for r in rows])
                lo = np.array([r["lo"] if r["lo"] is not None else r["value"] for r in rows])
                hi = np.array([r["hi"] if r["hi"] is not None else r["value"] for r in rows])
                colour, marker = style[sampler]
                ax.errorbar(nfe, val, yerr=np.vstack([np.clip(val - lo, 0, None), np.clip(hi - val, 0, None)]),
                            color=colour, marker=marker, capsize=1.8, elinewidth=0.7, label=sampler)
            floors = [r["floor"] for r in panel if r["floor"] is not None]
            if floors:
                ax.axhline(float(np.median(floors)), color=MUTED_COLOUR, linestyle="--", linewidth=0.8,
                           label="noise floor")
            ax.set_xscale("log")
            if positive:
                ax.set_yscale("log")
            ax.set_xlabel("NFE (model evaluations)")
            ax.set_ylabel(key[2])
            ax.set_title(f"{key[0]} · {key[1]}", fontsize=7.5)
            ax.legend(fontsize=5.5, loc="best")
        yield Page("quality" + (f"_{page_no + 1}" if page_no else ""), fig)
