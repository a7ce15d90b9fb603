"""The two table pages of the report: the verdict summary and the mutation check."""

from __future__ import annotations

import shlex
import textwrap
from typing import Iterator

import numpy as np
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from ..convergence import statistics as S
from ..convergence.records import RegimeResult
from .layout import (A4_PORTRAIT, FAIL_COLOUR, INCONCLUSIVE_COLOUR, LEFT, MUTED_COLOUR, PASS_COLOUR, RIGHT,
                     Page, Table, draw_table, new_page, page_title, paragraph, row_lines, rows_per_page, text_width)
from .results import REGIME_ORDER, VERDICT_LABELS, StudyResults

__all__ = ["summary_pages", "summary_rows", "mutation_pages", "format_order", "verdict_colour",
           "SUMMARY_HEADERS"]

SUMMARY_HEADERS = ("sampler", "pred.", "η", "regime", "problem", "schedule", "declared\norder",
                   "predicted\norder (constant)", "measured order\n[95 % CI]", "paths", "finest\nsteps",
                   "verdict")

_LEGEND = (
    "How to read this table. Each row is one convergence check: a sampler driven by a data (D) or "
    "noise (ε̂) prediction with stochasticity η, on a closed-form problem and schedule, in one regime "
    "(deterministic: η = 0, error of the ODE solution; strong: pathwise error on one shared Brownian "
    "path, MATH §9; weak: error of expectations of smooth test functions). 'declared' is the order the "
    "sampler is held to; 'predicted' is the order and leading error constant derived symbolically by "
    "seeds_verify.analytic (n/a where no prediction exists); 'measured' is the least-squares slope of "
    "log error against log step size over the fitted range, with its 95 % interval. 'paths' and "
    "'finest steps' are those of the final round: an inconclusive check is repeated with more paths "
    "(Monte Carlo; '–' marks an exact moment study without paths) and finer steps before the engine "
    "settles. 'verdict' follows the rule above: pass, 'pass (>)' when the order is clearly above the "
    "declared one, FAIL (red) when it is clearly below, inconclusive (orange) when the interval cannot "
    "decide, measured (grey) when nothing was declared. Numbered notes under the table say why a "
    "check did not pass. The plots on the next pages show the errors behind every number."
)


_ROW_HEIGHT = 0.0135
_FONT_SIZE = 6.0
_MIN_FONT_SIZE = 4.5
_BOLD = (PASS_COLOUR, FAIL_COLOUR, INCONCLUSIVE_COLOUR)


def format_order(value: float | None, digits: int = 2) -> str:
    """A number for the table: fixed decimals, "n/a" when missing."""
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}"


def verdict_colour(verdict: str) -> str:
    """Text colour of a verdict: green pass, red fail, orange inconclusive, grey measured."""
    return {S.PASS: PASS_COLOUR, S.PASS_ABOVE: PASS_COLOUR, S.FAIL: FAIL_COLOUR,
            S.INCONCLUSIVE: INCONCLUSIVE_COLOUR}.get(verdict, MUTED_COLOUR)


def _format_eta(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _format_constant(value: float | None) -> str:
    return "" if value is None else f" ({value:.3g})"


def _format_declared(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _sort_key(record: RegimeResult):
    rank = REGIME_ORDER.index(record.regime)
    return (rank, record.problem, record.schedule, record.sampler, record.prediction or "", record.eta)


def _needs_note(record: RegimeResult) -> bool:
    return not record.passed and (record.verdict != S.MEASURED or bool(record.reason))


def _note_text(record: RegimeResult) -> str:
    what = " · ".join(x for x in (record.sampler, record.prediction, f"η={record.eta:g}", record.regime,
                                  record.problem, record.schedule) if x)
    why = record.reason or "no reason recorded"
    return f"{what}: {VERDICT_LABELS[record.verdict]}, {why}"


def summary_rows(results: StudyResults) -> tuple[list[list[str]], list[list[str | None]], list[str]]:
    """Table cells, text colours and notes of the summary, one row per record, in reading order.

    A row that did not pass (and a measured one with a reason) carries a note number ``[k]`` in its
    verdict cell; ``notes[k - 1]`` says which check it is and why.
    """
    rows, colours, notes = [], [], []
    for r in sorted(results.records, key=_sort_key):
        order, constant = r.predicted_order, r.predicted_constant
        predicted = "n/a" if order is None else format_order(order) + _format_constant(constant)
        measured = format_order(r.measured_order)
        if r.ci_low is not None and r.ci_high is not None:
            measured += f" [{r.ci_low:.2f}, {r.ci_high:.2f}]"
        verdict = VERDICT_LABELS[r.verdict]
        if _needs_note(r):
            notes.append(_note_text(r))
            verdict += f" [{len(notes)}]"
        finest = str(r.step_counts[-1]) if r.step_counts else "n/a"
        rows.append([r.sampler, r.prediction or "–", _format_eta(r.eta), r.regime, r.problem, r.schedule,
                     _format_declared(r.declared), predicted, measured, str(r.paths) if r.paths else "–",
                     finest, verdict])
        colours.append([None] * 6 + [MUTED_COLOUR if r.declared is None else None,
                                     MUTED_COLOUR if order is None else None, None, None, None,
                                     verdict_colour(r.verdict)])
    return rows, colours, notes


def _summary_widths(rows: list[list[str]], colours: list[list[str | None]],
                    fontsize: float) -> list[float]:
    """Column widths (points) from the widest entry of each column over the whole table, so that
    continuation pages line up with the first."""
    widths = []
    for j, head in enumerate(SUMMARY_HEADERS):
        widest = text_width(head, fontsize, bold=True)
        for row, colour in zip(rows, colours):
            widest = max(widest, text_width(row[j], fontsize, bold=colour[j] in _BOLD))
        widths.append(widest + fontsize)
    return widths


def _summary_font(rows: list[list[str]], colours: list[list[str | None]]) -> tuple[float, list[float]]:
    """The table's font size (smaller than the default only when long names need it) and widths."""
    available = (RIGHT - LEFT) * A4_PORTRAIT[0] * 72.0
    size = _FONT_SIZE
    widths = _summary_widths(rows, colours, size)
    while sum(widths) > available and size > _MIN_FONT_SIZE:
        size = max(_MIN_FONT_SIZE, round(size * available / sum(widths) - 0.05, 1))
        widths = _summary_widths(rows, colours, size)
    return size, widths


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


def _ladder(meta: dict) -> str:
    steps = meta.get("steps")
    text = "steps " + (", ".join(str(s) for s in steps) if isinstance(steps, list) and steps else "n/a")
    if meta.get("max_steps") is not None:
        text += f" (extended up to {meta['max_steps']} while inconclusive)"
    text += f"; paths {meta.get('paths', 'n/a')}"
    if meta.get("max_paths") is not None:
        text += f" (doubled up to {meta['max_paths']} while inconclusive)"
    return text


def headline(results: StudyResults) -> tuple[str, str]:
    """The overall line and its colour: counts of pass / fail / inconclusive (and measured)."""
    counts = results.counts()
    n = len(results.records)
    passed = counts[S.PASS] + counts[S.PASS_ABOVE]
    text = f"{n} checks: {passed} pass"
    if counts[S.PASS_ABOVE]:
        text += f" ({counts[S.PASS_ABOVE]} above the declared order)"
    text += f", {counts[S.FAIL]} fail, {counts[S.INCONCLUSIVE]} inconclusive"
    if counts[S.MEASURED]:
        text += f", {counts[S.MEASURED]} measured only"
    caught = sum(1 for m in results.mutations if m.get("caught") is True)
    if results.mutations:
        text += f"; {caught} of {len(results.mutations)} defective variants caught"
    worst = results.verdict
    if worst == S.FAIL or caught < len(results.mutations):
        colour = FAIL_COLOUR
    elif worst == S.INCONCLUSIVE:
        colour = INCONCLUSIVE_COLOUR
    elif worst == S.MEASURED:
        colour = MUTED_COLOUR
    else:
        colour = PASS_COLOUR
    return text, colour


def _run_lines(results: StudyResults) -> list[tuple[str, str]]:
    meta = results.meta
    wall = meta.get("wall_time_s")
    wall = f"{float(wall):.1f} s" if isinstance(wall, (int, float)) and not isinstance(wall, bool) else "n/a"
    lines = [
        ("command", _command(meta)),
        ("seed", str(meta.get("seed", "n/a"))),
        ("device / dtype", f"{meta.get('device', 'n/a')} / {meta.get('dtype', 'n/a')}"),
        ("versions", _versions(meta)),
        ("wall time", wall),
        ("ladder", _ladder(meta)),
        ("tolerance", str(meta.get("tolerance", "n/a"))),
        ("results", str(results.path)),
    ]
    exactness = _exactness(meta)
    if exactness:
        lines.append(("exactness", exactness))
    lines.append(("verdict rule", str(meta.get("fit_rule", "n/a"))))
    lines.append(("overall", headline(results)[0]))
    return lines


_NOTE_SIZE = 6.0
_NOTE_STEP = _NOTE_SIZE * 1.4 / 72.0 / 11.69
_NOTE_WIDTH = 165


def _note_lines(number: int, note: str) -> list[str]:
    return textwrap.wrap(f"[{number}] {note}", _NOTE_WIDTH, subsequent_indent="      ") or [""]


def summary_pages(results: StudyResults) -> Iterator[Page]:
    """The summary: run information, a legend and the verdict table with its notes (continued
    over pages; each page lists the notes of its own rows under its table)."""
    rows, colours, notes = summary_rows(results)
    note_of_row: list[int | None] = []
    for row in rows:
        number = row[-1].rsplit("[", 1)[-1].rstrip("]") if row[-1].endswith("]") else None
        note_of_row.append(int(number) if number else None)
    fontsize, widths = _summary_font(rows, colours)
    bottom = 0.05
    fig = new_page()
    y = page_title(fig, "SEEDS verification report: summary",
                   "Every sampler × prediction × regime × problem × schedule checked by the convergence study.")
    overall_colour = headline(results)[1]
    for label, value in _run_lines(results):
        fig.text(LEFT, y, label, fontsize=7, fontweight="bold", va="top")
        y = paragraph(fig, y, value, x=LEFT + 0.13, width=105,
                      colour=overall_colour if label == "overall" else "black",
                      family="DejaVu Sans Mono" if label == "command" else None)
        y -= 0.002
    y = paragraph(fig, y - 0.006, _LEGEND, fontsize=6.5, width=140, colour="#24292f") - 0.008
    page_no, start = 1, 0
    while True:
        # Rows and the notes they carry share the space between the table's top and the bottom.
        budget = y - bottom - (0.35 + 0.85 * 2) * _ROW_HEIGHT
        end, used, any_note = start, 0.0, False
        while end < len(rows):
            extra = _ROW_HEIGHT
            n = note_of_row[end]
            if n is not None:
                extra += len(_note_lines(n, notes[n - 1])) * _NOTE_STEP + (0.0 if any_note else 0.008)
            if used + extra > budget and end > start:
                break
            used += extra
            any_note = any_note or n is not None
            end += 1
        table = Table(SUMMARY_HEADERS, rows[start:end], colours[start:end], widths=widths)
        y_note = draw_table(fig, table, top=y, row_height=_ROW_HEIGHT, fontsize=fontsize) - 0.006
        if not rows:
            paragraph(fig, y - 0.03, "results.json holds no records.", colour=MUTED_COLOUR)
        for n in (n for n in note_of_row[start:end] if n is not None):
            for line in _note_lines(n, notes[n - 1]):
                fig.text(LEFT, y_note, line, fontsize=_NOTE_SIZE, va="top", color="#24292f")
                y_note -= _NOTE_STEP
        yield Page("summary" if page_no == 1 else f"summary_{page_no}", fig)
        start = end
        if start >= len(rows):
            return
        page_no += 1
        fig = new_page()
        y = page_title(fig, "Summary (continued)")


_MUTATION_TEXT = (
    "A mutant is a deliberately defective copy of a solver that keeps the declared orders of the "
    "scheme it breaks. The convergence engine runs each one through the same checks as the real "
    "solvers, and through the point-mass exactness check (MATH §8), and must reject it in at least one "
    "of them; a mutant that passes everywhere would show that the checks cannot see that kind of "
    "defect. Each column is the engine's verdict on the mutant: 'fail' means the defect was detected "
    "there, 'inconclusive' (orange) that the evidence could not decide, 'pass' (grey) that the check "
    "did not see the defect."
)


_MUTATION_FONT_SIZE = 6.5


def _mutation_regimes(results: StudyResults) -> list[str]:
    """Regimes with a verdict for some mutant, in report order, then the exactness check."""
    present = {k for m in results.mutations for k in (m.get("regimes") or {})}
    return [r for r in REGIME_ORDER if r in present] + (["exactness"] if "exactness" in present else [])


def mutation_rows(results: StudyResults) -> tuple[list[str], list[list[str]], list[list[str | None]], list[float]]:
    """Headers, cells, colours and column widths (points) of the mutation table."""
    regimes = _mutation_regimes(results)
    headers = ["mutant", "what is wrong"] + regimes + ["caught"]
    names = [str(m.get("mutant", "?")) for m in results.mutations]
    pad = _MUTATION_FONT_SIZE * 1.2

    def width(cells: list[str], head: str) -> float:
        return max([text_width(head, _MUTATION_FONT_SIZE, bold=True)]
                   + [text_width(c, _MUTATION_FONT_SIZE, bold=True) for c in cells]) + pad

    name_width = width(names, "mutant")
    regime_widths = [width([S.INCONCLUSIVE], r) for r in regimes]
    caught_width = width(["yes", "NO"], "caught")
    available = (RIGHT - LEFT) * A4_PORTRAIT[0] * 72.0
    text_points = max(120.0, available - name_width - sum(regime_widths) - caught_width)
    # Characters per line of the description: the width over a generous average glyph width.
    chars = max(20, int(text_points / (0.56 * _MUTATION_FONT_SIZE)))
    rows, colours = [], []
    for name, m in zip(names, results.mutations):
        verdicts = m.get("regimes") if isinstance(m.get("regimes"), dict) else {}
        description = "\n".join(textwrap.wrap(str(m.get("description", "")), chars)) or " "
        cells = [name, description]
        cell_colours: list[str | None] = [None, None]
        for regime in regimes:
            verdict = verdicts.get(regime)
            cells.append("—" if verdict is None else str(verdict))
            cell_colours.append(None if verdict == S.FAIL
                                else INCONCLUSIVE_COLOUR if verdict == S.INCONCLUSIVE else MUTED_COLOUR)
        caught = m.get("caught")
        cells.append({True: "yes", False: "NO"}.get(caught, "n/a"))
        cell_colours.append({True: PASS_COLOUR, False: FAIL_COLOUR}.get(caught, MUTED_COLOUR))
        rows.append(cells)
        colours.append(cell_colours)
    return headers, rows, colours, [name_width, text_points] + regime_widths + [caught_width]


def _mutation_setting(results: StudyResults) -> str | None:
    """Where the mutants were run (problem, schedule, prediction, η), when the entries say."""
    settings = []
    for m in results.mutations:
        eta = m.get("eta")
        text = ", ".join(x for x in (
            f"problem {m['problem']}" if m.get("problem") else None,
            f"schedule {m['schedule']}" if m.get("schedule") else None,
            f"{m['prediction']} prediction" if m.get("prediction") else None,
            f"η = {eta:g}" if isinstance(eta, (int, float)) and not isinstance(eta, bool) else None) if x)
        if text and text not in settings:
            settings.append(text)
    return ("Every mutant was run on " + "; ".join(settings) + ".") if settings else None


def _mutation_errors(fig, results: StudyResults, top: float) -> None:
    """Per regime, each mutant's errors against the number of steps (from its "details")."""
    regimes = [r for r in REGIME_ORDER
               if any(isinstance((m.get("details") or {}).get(r), dict) for m in results.mutations)]
    if not regimes or top < 0.3:
        return
    fig.text(LEFT, top, "Errors of each mutant against the number of steps (legend: measured order; "
             "dashed: rejected in that regime, dotted orange: inconclusive).", fontsize=7, va="top")
    width = (0.86 - 0.08 * (len(regimes) - 1)) / len(regimes)
    height = min(0.28, top - 0.12)
    palette = ("#0969da", "#bf3989", "#1a7f37", "#8250df", "#0a3069", "#57606a", "#1b7c83", "#6639ba")
    for k, regime in enumerate(regimes):
        ax = fig.add_axes([LEFT + 0.04 + k * (width + 0.08), top - 0.035 - height, width, height])
        ticks: set[float] = set()
        for i, m in enumerate(results.mutations):
            detail = (m.get("details") or {}).get(regime)
            if not isinstance(detail, dict) or not isinstance(detail.get("errors"), list):
                continue
            errors = np.array([v if isinstance(v, (int, float)) else np.nan for v in detail["errors"]], float)
            counts = detail.get("step_counts")
            xs = np.array(counts if isinstance(counts, list) and len(counts) == len(errors)
                          else range(1, len(errors) + 1), dtype=float)
            ok = np.isfinite(errors) & (errors > 0)
            if ok.sum() < 1:
                continue
            ticks.update(xs[ok].tolist())
            order = detail.get("measured_order")
            verdict = (m.get("regimes") or {}).get(regime)
            label = f"{m.get('mutant', '?')}: " + (f"{order:.2f}" if isinstance(order, (int, float)) else "n/a")
            style = {S.FAIL: "--", S.INCONCLUSIVE: ":"}.get(verdict, "-")
            colour = INCONCLUSIVE_COLOUR if verdict == S.INCONCLUSIVE else palette[i % len(palette)]
            ax.plot(xs[ok], errors[ok], marker="o", markersize=2.5, color=colour, linestyle=style, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        if ticks:
            shown = sorted(ticks)[::max(1, int(np.ceil(len(ticks) / 6)))]
            ax.xaxis.set_major_locator(FixedLocator(shown))
            ax.xaxis.set_major_formatter(FixedFormatter([f"{v:g}" for v in shown]))
            ax.xaxis.set_minor_locator(NullLocator())
        ax.set_title(f"{regime} regime", fontsize=7.5, pad=3)
        ax.set_xlabel("number of steps", labelpad=1)
        ax.set_ylabel("error", labelpad=1)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=5, loc="upper left", bbox_to_anchor=(0.0, -0.13), frameon=False,
                      borderaxespad=0.0)
    _unplotted_reasons(fig, results, top - 0.035 - height - 0.11)


def _unplotted_reasons(fig, results: StudyResults, top: float) -> None:
    """Why a mutant has no error curve in a regime (no ladder was measured), one line each."""
    lines = []
    for m in results.mutations:
        for regime, detail in (m.get("details") or {}).items():
            if (regime in REGIME_ORDER and isinstance(detail, dict) and not detail.get("errors")
                    and detail.get("reason")):
                verdict = (m.get("regimes") or {}).get(regime, "n/a")
                lines.append(f"{m.get('mutant', '?')} · {regime}: {verdict}, {detail['reason']}")
    if not lines or top < 0.08:
        return
    y = paragraph(fig, top, "Not plotted (no error ladder was measured):", fontsize=6.5)
    for line in lines:
        y = paragraph(fig, y, line, fontsize=6, width=165, colour="#24292f")


def mutation_pages(results: StudyResults) -> Iterator[Page]:
    """The mutation check: each defective variant, the verdict the engine gave it and its errors."""
    headers, rows, colours, widths = mutation_rows(results)
    row_height, bottom = 0.0135, 0.05
    fig = new_page()
    y = page_title(fig, "Mutation check", "Can the checks tell a broken solver from a working one?")
    y = paragraph(fig, y, _MUTATION_TEXT, width=130) - 0.004
    setting = _mutation_setting(results)
    if setting:
        y = paragraph(fig, y, setting, width=130, colour=MUTED_COLOUR)
    y -= 0.008
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
                       top=y, row_height=row_height, fontsize=_MUTATION_FONT_SIZE)
        start = end
        if start < len(rows):
            yield Page("mutations" if page_no == 1 else f"mutations_{page_no}", fig)
            page_no += 1
            fig = new_page()
            y = page_title(fig, "Mutation check (continued)")
    _mutation_errors(fig, results, y - 0.02)
    yield Page("mutations" if page_no == 1 else f"mutations_{page_no}", fig)
