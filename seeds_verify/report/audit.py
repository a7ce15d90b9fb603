"""The audit page: measured orders of k-diffusion's samplers and of ours, from
``benchmarks/results/audit.json`` (``python -m seeds_verify.audit``) when it exists.

One row per sampler × regime; one column per problem × schedule holding the measured order with
its 95 % interval and the verdict against the published order (declared, with its source), or
the reason the regime does not apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .layout import (FAIL_COLOUR, INCONCLUSIVE_COLOUR, MUTED_COLOUR, PASS_COLOUR, Page, Table,
                     draw_table, new_page, page_title, paragraph, rows_per_page)
from .results import read_committed_results

__all__ = ["audit_pages", "read_audit", "AUDIT_FILE"]

AUDIT_FILE = "audit.json"
_REGIME_ORDER = {"deterministic": 0, "strong": 1, "weak": 2}
_COLOURS = {"pass": PASS_COLOUR, "pass (>)": PASS_COLOUR, "fail": FAIL_COLOUR,
            "inconclusive": INCONCLUSIVE_COLOUR}


def read_audit(benchmarks_dir: Path | None, file_name: str = AUDIT_FILE) -> dict | None:
    """The audit results in ``benchmarks_dir/file_name``, or None when the file is absent
    (ValueError when it is unreadable)."""
    return read_committed_results(benchmarks_dir, file_name, "audit")


def _short(sampler: str) -> str:
    return sampler.split(":", 1)[-1]


def _cell(rec: dict) -> tuple[str, str | None]:
    verdict = rec.get("verdict")
    if verdict == "not applicable":
        return "n/a", MUTED_COLOUR
    order, lo, hi = rec.get("measured_order"), rec.get("ci_low"), rec.get("ci_high")
    if order is None:
        return verdict or "–", _COLOURS.get(verdict)
    text = f"{order:.2f} [{lo:.2f}, {hi:.2f}]"
    mark = {"pass": "", "pass (>)": " (>)", "fail": " FAIL", "inconclusive": " ?", "measured": ""}.get(verdict, "")
    return text + mark, _COLOURS.get(verdict)


_TITLE = "Audit of the samplers people run"
_SUBTITLE = ("Every sampler of k_diffusion.sampling and ours through verify_sampler; measured order "
             "[95 % CI]; (>) faster than published, FAIL below it, ? inconclusive, n/a not applicable.")
_INTRO = ("Stochastic samplers at η = 1 (strong: one Brownian path per sample; weak: exact moments "
          "on the Gaussian problem, Monte Carlo on the ring mixture) and η = 0 (deterministic); "
          "deterministic samplers in the deterministic regime. 'published order' is the order a "
          "paper states for the sampler (sources in benchmarks/results/audit.json and "
          "benchmarks/README.md); '–' means none is claimed and the order is only measured.")


def audit_pages(benchmarks_dir: Path | None, *, file_name: str = AUDIT_FILE, slug: str = "audit",
                title: str = _TITLE, subtitle: str = _SUBTITLE, intro: str = _INTRO) -> Iterator[Page]:
    """The audit table of ``benchmarks_dir/file_name`` (nothing when the file is absent); the
    defaults draw the k-diffusion audit page (``benchmarks/results/audit.json``)."""
    data = read_audit(benchmarks_dir, file_name)
    if data is None:
        return
    records = data["records"]
    cases = sorted({(r["problem"], r["schedule"]) for r in records})
    keys = sorted({(r["sampler"], r["regime"]) for r in records},
                  key=lambda k: (k[0], _REGIME_ORDER.get(k[1], 9)))
    by_key = {(r["sampler"], r["regime"], r["problem"], r["schedule"]): r for r in records}
    rows, colours, reasons = [], [], {}
    for sampler, regime in keys:
        cells = [by_key.get((sampler, regime, p, s)) for p, s in cases]
        present = [c for c in cells if c is not None]
        if present and all(c.get("verdict") == "not applicable" for c in present):
            reasons.setdefault(str(present[0].get("reason")), []).append(f"{_short(sampler)} {regime}")
            continue
        declared = next((c.get("declared") for c in present if c.get("declared") is not None), None)
        row = [_short(sampler), regime, "–" if declared is None else f"{declared:g}"]
        colour = [None, None, None]
        for c in cells:
            text, col = ("–", MUTED_COLOUR) if c is None else _cell(c)
            row.append(text)
            colour.append(col)
        rows.append(row)
        colours.append(colour)
    meta = data.get("meta", {})
    headers = ["sampler", "regime", "published\norder"] + [f"{p}\n{s}" for p, s in cases]
    top_room = 0.80
    per_page = max(1, rows_per_page(top_room, 0.20, 0.0135))
    for start in range(0, max(len(rows), 1), per_page):
        fig = new_page()
        y = page_title(fig, title, subtitle)
        if start == 0:
            wall = meta.get("wall_time_s")
            y = paragraph(fig, y, intro + (f" Wall time {wall:.0f} s." if isinstance(wall, (int, float)) else ""))
        table = Table(headers, rows[start:start + per_page], colours[start:start + per_page])
        y = draw_table(fig, table, top=y - 0.01)
        if start + per_page >= len(rows) and reasons:
            text = "; ".join(f"{', '.join(who)}: {why}" for why, who in reasons.items())
            paragraph(fig, y - 0.015, "Not applicable — " + text, colour=MUTED_COLOUR, fontsize=6.0)
        yield Page(slug, fig)
