"""The two table pages of the report: the verdict summary and the mutation check."""

from __future__ import annotations

import shlex
import textwrap
from typing import Callable, Iterator

import numpy as np
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from .layout import (FAIL_COLOUR, LEFT, MUTED_COLOUR, PASS_COLOUR, Page, Table, draw_table, new_page,
                     page_title, paragraph, row_lines, rows_per_page)
from .results import REGIME_ORDER, StudyResults

__all__ = ["summary_pages", "mutation_pages", "predicted_lookup", "format_order", "SUMMARY_HEADERS"]

SUMMARY_HEADERS = ("solver", "pred.", "η", "regime", "problem", "schedule", "declared\norder",
                   "predicted\norder (constant)", "measured order\n[95 % CI]", "verdict")

_LEGEND = (
    "How to read this table. Each row is one convergence check: a solver driven by a data (D) or "
    "noise (ε̂) prediction with stochasticity η, on a closed-form problem and schedule, in one regime "
    "(deterministic: η = 0, error of the ODE solution; strong: pathwise error on one shared Brownian "
    "path, MATH §9; weak: error of expectations of smooth test functions). 'declared' is the order the "
    "solver class claims; 'predicted' is the order and leading error constant derived symbolically by "
    "seeds_verify.analytic (n/a where no prediction exists); 'measured' is the least-squares slope of "
    "log error against log step size over the fitted range, with a 95 % bootstrap interval. "
    "'verdict' is the convergence engine's decision (rule above): pass when the measured order is "
    "consistent with the declared one within the stated tolerance, 'pass (>)' when it is even clearly "
    "higher, FAIL (red) otherwise. The plots on the next pages show the errors behind every number."
)


def format_order(value: float | None, digits: int = 2) -> str:
    """A number for the table: fixed decimals, "n/a" when missing."""
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}"


def _format_eta(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _format_constant(value: float | None) -> str:
    return "" if value is None else f" ({value:.3g})"


def _default_fractions() -> dict[str, tuple]:
    """Stage fractions (end point excluded) of each scheme as the solvers build it by default."""
    from ..schemes import SEEDS2_VARIANTS, SEEDS3_VARIANTS, seeds2_spec, seeds3_spec

    out = {f"seeds2_{v}": seeds2_spec(variant=v).fractions[:-1] for v in SEEDS2_VARIANTS}
    out.update({f"seeds3_{v}": seeds3_spec(variant=v).fractions[:-1] for v in SEEDS3_VARIANTS})
    return out


def _row_fields(row) -> tuple | None:
    """(scheme, prediction, regime, order, constant, fractions, label) of a prediction row.

    Rows are objects with those attributes (``analytic.OrderPrediction``), dicts with those
    keys, or tuples ``(scheme, prediction, regime, order, constant)``.
    """
    names = ("scheme", "prediction", "regime", "order", "constant")
    if isinstance(row, dict):
        values = [row.get(n) for n in names]
        fractions, label = tuple(row.get("fractions") or ()), row.get("label")
    elif all(hasattr(row, n) for n in names):
        values = [getattr(row, n) for n in names]
        fractions, label = tuple(getattr(row, "fractions", ()) or ()), getattr(row, "label", None)
    else:
        try:
            values = list(row)[:5]
        except TypeError:
            return None
        if len(values) < 5:
            return None
        fractions, label = (), None
    return (*(str(v) for v in values[:3]), _as_float(values[3]), _as_float(values[4]), fractions, label)


def predicted_lookup() -> Callable[[str, str, str], tuple[float | None, float | None]]:
    """A function (solver, prediction, regime) → (order, constant) from ``analytic.predicted_orders()``.

    A solver matches a row by its label (e.g. ``seeds2_phi_1(r=1/3)``) or by its scheme name; a
    scheme predicted for several stage fractions answers with the solvers' default fractions.
    When the analytic module is not importable every lookup answers (None, None).
    """
    try:
        from ..analytic import predicted_orders
    except ImportError:
        return lambda solver, prediction, regime: (None, None)
    defaults = _default_fractions()
    table: dict[tuple[str, str, str], tuple[float | None, float | None]] = {}
    by_scheme: dict[tuple[str, str, str], tuple[bool, tuple[float | None, float | None]]] = {}
    for row in predicted_orders():
        fields = _row_fields(row)
        if fields is None:
            continue
        scheme, prediction, regime, order, constant, fractions, label = fields
        value = (order, constant)
        if label:
            table[(str(label), prediction, regime)] = value
        is_default = tuple(fractions) == tuple(defaults.get(scheme, ()))
        key = (scheme, prediction, regime)
        if key not in by_scheme or (is_default and not by_scheme[key][0]):
            by_scheme[key] = (is_default, value)
    for key, (_, value) in by_scheme.items():
        table.setdefault(key, value)
    return lambda solver, prediction, regime: table.get((solver, prediction, regime), (None, None))


def _as_float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _sort_key(record: dict):
    regime = record["regime"]
    rank = REGIME_ORDER.index(regime) if regime in REGIME_ORDER else len(REGIME_ORDER)
    return (rank, regime, record["problem"], record["schedule"], record["solver"], record["prediction"],
            record["eta"] if record["eta"] is not None else -1.0)


def summary_rows(results: StudyResults, lookup=None) -> tuple[list[list[str]], list[list[str | None]]]:
    """Table cells and text colours of the summary, one row per record, in reading order."""
    records = sorted(results.records, key=_sort_key)
    need_lookup = any(r["predicted_order"] is None for r in records)
    if lookup is None and need_lookup:
        lookup = predicted_lookup()
    rows, colours = [], []
    for r in records:
        order, constant = r["predicted_order"], r["predicted_constant"]
        if order is None and lookup is not None:
            order, constant = lookup(r["solver"], r["prediction"], r["regime"])
        predicted = "n/a" if order is None else format_order(order) + _format_constant(constant)
        measured = format_order(r["measured_order"])
        if r["ci_low"] is not None and r["ci_high"] is not None:
            measured += f" [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
        verdict = {True: "pass", False: "FAIL", None: "n/a"}[r["passed"]]
        if r["passed"] and r.get("above_expected") is True:
            verdict = "pass (>)"
        colour = {True: PASS_COLOUR, False: FAIL_COLOUR, None: MUTED_COLOUR}[r["passed"]]
        rows.append([r["solver"], r["prediction"], _format_eta(r["eta"]), r["regime"], r["problem"],
                     r["schedule"], format_order(r["expected_order"], 1), predicted, measured, verdict])
        colours.append([None] * 7 + [None if order is not None else MUTED_COLOUR, None, colour])
    return rows, colours


def _summary_widths(rows: list[list[str]]) -> list[float]:
    """Relative column widths from the longest entry of each column over the whole table, so
    that continuation pages line up with the first."""
    widths = []
    for j, head in enumerate(SUMMARY_HEADERS):
        longest = max([len(line) for line in head.split("\n")] + [len(r[j]) for r in rows])
        widths.append(longest + 2.5)
    return widths


def _command(meta: dict) -> str:
    command = meta.get("command", "n/a")
    if isinstance(command, (list, tuple)):
        return shlex.join(str(c) for c in command)
    return str(command)


def _exactness(meta: dict) -> str | None:
    checks = meta.get("exactness")
    if not isinstance(checks, dict) or not checks:
        return None
    passed = [k for k, v in checks.items() if isinstance(v, dict) and v.get("passed") is True]
    spreads = [v.get("spread") for v in checks.values() if isinstance(v, dict)]
    spreads = [float(s) for s in spreads if isinstance(s, (int, float)) and not isinstance(s, bool)]
    text = f"{len(passed)} of {len(checks)} schemes exact on a point mass (MATH §8)"
    if spreads:
        text += f", largest spread over step counts {max(spreads):.1e}"
    failed = [k for k in checks if k not in passed]
    if failed:
        text += "; NOT exact: " + ", ".join(failed)
    return text


def _versions(meta: dict) -> str:
    versions = meta.get("versions")
    if isinstance(versions, dict) and versions:
        return ", ".join(f"{k} {v}" for k, v in versions.items())
    return "n/a"


def _run_lines(results: StudyResults) -> list[tuple[str, str]]:
    meta = results.meta
    n = len(results.records)
    passed = sum(1 for r in results.records if r["passed"] is True)
    failed = sum(1 for r in results.records if r["passed"] is False)
    caught = sum(1 for m in results.mutations if m.get("caught") is True)
    wall = meta.get("wall_time_s")
    wall = f"{float(wall):.1f} s" if isinstance(wall, (int, float)) and not isinstance(wall, bool) else "n/a"
    verdict = f"{passed} of {n} checks passed, {failed} failed"
    if results.mutations:
        verdict += f"; {caught} of {len(results.mutations)} defective variants caught"
    lines = [
        ("command", _command(meta)),
        ("seed", str(meta.get("seed", "n/a"))),
        ("device / dtype", f"{meta.get('device', 'n/a')} / {meta.get('dtype', 'n/a')}"),
        ("versions", _versions(meta)),
        ("wall time", wall),
        ("tolerance", str(meta.get("tolerance", "n/a"))),
        ("results", str(results.path)),
    ]
    exactness = _exactness(meta)
    if exactness:
        lines.append(("exactness", exactness))
    if isinstance(meta.get("fit_rule"), str):
        lines.append(("verdict rule", meta["fit_rule"]))
    lines.append(("overall", verdict))
    return lines


def summary_pages(results: StudyResults, lookup=None) -> Iterator[Page]:
    """The summary: run information, a legend and the verdict table (continued over pages)."""
    rows, colours = summary_rows(results, lookup)
    row_height, bottom = 0.0135, 0.05
    fig = new_page()
    y = page_title(fig, "SEEDS verification report: summary",
                   "Every solver × prediction × regime × problem × schedule checked by the convergence study.")
    for label, value in _run_lines(results):
        fig.text(LEFT, y, label, fontsize=7, fontweight="bold", va="top")
        colour = "black"
        if label == "overall":
            colour = PASS_COLOUR if all(r["passed"] is not False for r in results.records) else FAIL_COLOUR
        y = paragraph(fig, y, value, x=LEFT + 0.13, width=105, colour=colour,
                      family="DejaVu Sans Mono" if label == "command" else None)
        y -= 0.002
    y = paragraph(fig, y - 0.006, _LEGEND, fontsize=6.5, width=140, colour="#24292f") - 0.008
    page_no = 1
    start = 0
    while True:
        fit = rows_per_page(y, bottom, row_height)
        chunk = slice(start, start + fit)
        table = Table(SUMMARY_HEADERS, rows[chunk], colours[chunk],
                      widths=_summary_widths(rows))
        draw_table(fig, table, top=y, row_height=row_height)
        if not rows:
            paragraph(fig, y - 0.03, "results.json holds no records.", colour=MUTED_COLOUR)
        yield Page("summary" if page_no == 1 else f"summary_{page_no}", fig)
        start += fit
        if start >= len(rows):
            return
        page_no += 1
        fig = new_page()
        y = page_title(fig, "Summary (continued)")


_MUTATION_TEXT = (
    "A mutant is a deliberately defective copy of a solver. The convergence engine runs each one "
    "through the same checks as the real solvers and must reject it in at least one regime; a mutant "
    "that passes everywhere would show that the checks cannot see that kind of defect. The column per "
    "regime is the engine's verdict on the mutant ('failed' means the defect was detected there). "
    "The swapped noise coefficients of MATH §7 keep every variance right, so only the strong "
    "(pathwise) regime can detect them."
)


_MUTATION_CHARS = 138  # characters of the table font across the text width (measured)


def mutation_rows(results: StudyResults) -> tuple[list[str], list[list[str]], list[list[str | None]], list[float]]:
    """Headers, cells, colours and relative column widths of the mutation table."""
    regimes: list[str] = []
    for m in results.mutations:
        for regime in (m.get("regimes") or {}):
            if regime not in regimes:
                regimes.append(regime)
    regimes.sort(key=lambda r: (REGIME_ORDER.index(r) if r in REGIME_ORDER else len(REGIME_ORDER), r))
    headers = ["mutant", "what is wrong"] + regimes + ["caught"]
    names = [str(m.get("mutant", "?")) for m in results.mutations]
    name_width = max([len(n) for n in names] + [6]) + 2
    regime_widths = [max(len(r), 6) + 2 for r in regimes]
    text_width = max(30, _MUTATION_CHARS - name_width - sum(regime_widths) - 8)
    rows, colours = [], []
    for name, m in zip(names, results.mutations):
        verdicts = m.get("regimes") if isinstance(m.get("regimes"), dict) else {}
        description = "\n".join(textwrap.wrap(str(m.get("description", "")), text_width - 2)) or " "
        cells = [name, description]
        cell_colours: list[str | None] = [None, None]
        for regime in regimes:
            verdict = verdicts.get(regime)
            cells.append("—" if verdict is None else str(verdict))
            cell_colours.append(MUTED_COLOUR if verdict in (None, "passed") else None)
        caught = m.get("caught")
        cells.append({True: "yes", False: "NO"}.get(caught, "n/a"))
        cell_colours.append({True: PASS_COLOUR, False: FAIL_COLOUR}.get(caught, MUTED_COLOUR))
        rows.append(cells)
        colours.append(cell_colours)
    return headers, rows, colours, [name_width, text_width] + regime_widths + [8]


def _mutation_errors(fig, results: StudyResults, top: float) -> None:
    """Per regime, each mutant's errors against the number of steps (from its "details")."""
    steps = results.meta.get("steps")
    regimes = [r for r in REGIME_ORDER
               if any(isinstance((m.get("details") or {}).get(r), dict) for m in results.mutations)]
    if not regimes or top < 0.3:
        return
    fig.text(LEFT, top, "Errors of each mutant against the number of steps (legend: measured order; "
             "dashed: rejected in that regime).", fontsize=7, va="top")
    width = (0.86 - 0.08 * (len(regimes) - 1)) / len(regimes)
    height = min(0.28, top - 0.12)
    palette = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#0a3069", "#bc4c00", "#57606a")
    for k, regime in enumerate(regimes):
        ax = fig.add_axes([LEFT + 0.04 + k * (width + 0.08), top - 0.035 - height, width, height])
        for i, m in enumerate(results.mutations):
            detail = (m.get("details") or {}).get(regime)
            if not isinstance(detail, dict) or not isinstance(detail.get("errors"), list):
                continue
            errors = np.array([v if isinstance(v, (int, float)) else np.nan for v in detail["errors"]], float)
            xs = np.array(steps if isinstance(steps, list) and len(steps) == len(errors)
                          else range(1, len(errors) + 1), dtype=float)
            ok = np.isfinite(errors) & (errors > 0)
            if ok.sum() < 1:
                continue
            order = detail.get("measured_order")
            label = f"{m.get('mutant', '?')}: " + (f"{order:.2f}" if isinstance(order, (int, float)) else "n/a")
            rejected = (m.get("regimes") or {}).get(regime) == "failed"
            ax.plot(xs[ok], errors[ok], marker="o", markersize=2.5, color=palette[i % len(palette)],
                    linestyle="--" if rejected else "-", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        if isinstance(steps, list) and steps:
            ax.xaxis.set_major_locator(FixedLocator([float(v) for v in steps]))
            ax.xaxis.set_major_formatter(FixedFormatter([f"{v:g}" for v in steps]))
            ax.xaxis.set_minor_locator(NullLocator())
        ax.set_title(f"{regime} regime", fontsize=7.5, pad=3)
        ax.set_xlabel("number of steps" if isinstance(steps, list) else "step index", labelpad=1)
        ax.set_ylabel("error", labelpad=1)
        ax.legend(fontsize=5, loc="lower left")


def mutation_pages(results: StudyResults) -> Iterator[Page]:
    """The mutation check: each defective variant, the verdict the engine gave it and its errors."""
    headers, rows, colours, widths = mutation_rows(results)
    row_height, bottom = 0.0135, 0.05
    fig = new_page()
    y = page_title(fig, "Mutation check", "Can the checks tell a broken solver from a working one?")
    y = paragraph(fig, y, _MUTATION_TEXT, width=130) - 0.01
    if not rows:
        paragraph(fig, y, "results.json records no mutants: the study ran without the mutation check.",
                  colour=MUTED_COLOUR)
        yield Page("mutations", fig)
        return
    page_no, start = 1, 0
    while start < len(rows):
        budget = rows_per_page(y, bottom, row_height)
        end, used = start, 0.0
        while end < len(rows) and used + row_lines(rows[end]) * 0.85 + 0.15 <= budget:
            used += row_lines(rows[end]) * 0.85 + 0.15
            end += 1
        end = max(end, start + 1)
        y = draw_table(fig, Table(headers, rows[start:end], colours[start:end], widths=widths),
                       top=y, row_height=row_height)
        start = end
        if start < len(rows):
            yield Page("mutations" if page_no == 1 else f"mutations_{page_no}", fig)
            page_no += 1
            fig = new_page()
            y = page_title(fig, "Mutation check (continued)")
    _mutation_errors(fig, results, y - 0.02)
    yield Page("mutations" if page_no == 1 else f"mutations_{page_no}", fig)
