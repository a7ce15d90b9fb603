"""The verification report: one PDF (and a PNG per page) built from a convergence study.

``build_report(out_dir)`` reads ``out_dir/results.json`` (written by
``python -m seeds_verify.convergence``; every record is read back as a
:class:`~seeds_verify.convergence.records.RegimeResult`) and writes ``out_dir/verification.pdf``
with, in order:

1. summary — the verdict table of every sampler × prediction × regime × problem × schedule, with
   declared, predicted and measured orders, the paths and finest step count of the final round,
   the verdict (pass, pass (>), FAIL, inconclusive, measured) with a note on every check that did
   not pass, and the run's metadata;
2. convergence — log–log error against step size per regime and problem × schedule, re-plotted
   from the results;
3. coefficient accuracy — φ_k and noise factors in ulps against mpmath, stable against naive
   (computed fresh);
4. derivations — ``analytic.latex_summary()`` typeset by mathtext, and the table of
   ``analytic.predicted_orders()``;
5. samples — SEEDS-1/2/3 and Euler–Maruyama on the 2-D ring mixture at a few NFE budgets;
6. mutation check — the defective variants and the engine's verdict on each in every regime and
   in the point-mass exactness check;
7. quality against NFE — only when ``benchmarks/results/quality*.json`` exists.
8. the audit of k-diffusion's samplers — only when ``benchmarks/results/audit.json`` exists,
   followed by the weak orders on the mixtures — only when ``benchmarks/results/weak_mixture.json``
   exists — and on the ring from the sum of local weak errors — only when
   ``benchmarks/results/weak_mixture_conditional.json`` exists;
9. the audit of diffusers' schedulers — only when ``benchmarks/results/audit_diffusers.json``
   exists;
10. how many steps are worth it in bf16/fp16 — the useful-steps limits of SEEDS-1/2/3 with a
    half-precision denoiser, only when ``benchmarks/results/useful_steps.json`` exists.

Only matplotlib is needed (no LaTeX). Fonts are embedded as TrueType, so the text can be searched
and extracted. The PDF and the PNGs are drawn in memory and written only when every page has been
drawn, each with ``seeds_verify.files.atomic_write_bytes`` (temporary file + ``os.replace``, ordinary
permissions): an interrupted build leaves the previous report (or nothing) behind, never a
truncated file. The output is deterministic for a given results file.
"""

from __future__ import annotations

import io
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator

from ..files import atomic_write_bytes

__all__ = ["build_report", "report_sections", "DEFAULT_PDF_NAME", "DEFAULT_BENCHMARKS_DIR"]

DEFAULT_PDF_NAME = "verification.pdf"
# The benchmark scripts write next to the package in a source checkout.
DEFAULT_BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
PNG_DPI = 100

_log = logging.getLogger(__name__)


def _check_pdf_name(pdf_name: Any) -> str:
    if not isinstance(pdf_name, str):
        raise TypeError(f"pdf_name must be a str, got {type(pdf_name).__name__}")
    if (not pdf_name.lower().endswith(".pdf") or len(pdf_name) <= 4 or "/" in pdf_name
            or "\\" in pdf_name or pdf_name.startswith(".") or pdf_name != pdf_name.strip()):
        raise ValueError(f"pdf_name must be a plain file name ending in .pdf, got {pdf_name!r}")
    return pdf_name


def report_sections(results, *, quick: bool, benchmarks_dir: Path | None) -> Iterator:
    """Every page of the report, in order, drawn lazily (one figure alive at a time)."""
    from .accuracy import accuracy_pages
    from .audit import audit_pages
    from .audit_diffusers import diffusers_audit_pages
    from .convergence_plots import convergence_pages
    from .derivations import derivation_pages, predicted_order_pages
    from .quality import quality_pages
    from .samples import samples_pages
    from .tables import mutation_pages, summary_pages
    from .useful_steps import useful_steps_pages
    from .weak_mixture import weak_mixture_pages

    yield from summary_pages(results)
    yield from convergence_pages(results)
    yield from accuracy_pages(quick)
    yield from derivation_pages()
    yield from predicted_order_pages()
    yield from samples_pages(results.seed, quick)
    yield from mutation_pages(results)
    yield from quality_pages(benchmarks_dir)
    yield from audit_pages(benchmarks_dir)
    yield from weak_mixture_pages(benchmarks_dir)
    yield from diffusers_audit_pages(benchmarks_dir)
    yield from useful_steps_pages(benchmarks_dir)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def build_report(out_dir: str | os.PathLike, *, pdf_name: str = DEFAULT_PDF_NAME, quick: bool = False,
                 benchmarks_dir: str | os.PathLike | None = None) -> Path:
    """Build ``out_dir/pdf_name`` (and ``out_dir/report_<page>.png``) from ``out_dir/results.json``.

    Args:
        out_dir: directory of a convergence study (must hold ``results.json``).
        pdf_name: file name of the PDF inside ``out_dir``.
        quick: coarser coefficient sweep and fewer samples (for the quick study and tests).
        benchmarks_dir: where ``quality*.json`` benchmark results live; default
            ``benchmarks/results`` of the source checkout. No file there: no quality page.

    Returns the path of the PDF. Raises TypeError/ValueError naming the argument on bad input.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    from .layout import MUTED_COLOUR, report_style
    from .results import check_out_dir, load_results

    out = check_out_dir(out_dir)
    pdf_name = _check_pdf_name(pdf_name)
    if not isinstance(quick, bool):
        raise TypeError(f"quick must be a bool, got {type(quick).__name__}")
    if benchmarks_dir is None:
        bench = DEFAULT_BENCHMARKS_DIR
    elif isinstance(benchmarks_dir, (str, os.PathLike)):
        bench = Path(benchmarks_dir)
    else:
        raise TypeError(f"benchmarks_dir must be a str, os.PathLike or None, got {type(benchmarks_dir).__name__}")
    results = load_results(out)

    from .. import __version__

    target = out / pdf_name
    pdf_buffer = io.BytesIO()
    pngs: list[tuple[Path, bytes]] = []  # (final path, content)
    started = time.perf_counter()
    # The PDF backend's font subsetter warns about the timestamps inside the bundled fonts.
    font_log = logging.getLogger("fontTools")
    font_level = font_log.level
    font_log.setLevel(logging.ERROR)
    try:
        with report_style():
            metadata = {"Title": "SEEDS verification report", "Creator": f"seeds_verify {__version__}",
                        "CreationDate": None}
            with PdfPages(pdf_buffer, metadata=metadata) as pdf:
                slugs: set[str] = set()
                clock = time.perf_counter()
                for number, page in enumerate(report_sections(results, quick=quick, benchmarks_dir=bench), 1):
                    slug = page.slug
                    while slug in slugs:
                        slug += "_"
                    slugs.add(slug)
                    page.figure.text(0.5, 0.018, f"seeds_verify {__version__} · verification report · page {number}",
                                     ha="center", fontsize=6, color=MUTED_COLOUR)
                    pdf.savefig(page.figure)
                    png = io.BytesIO()
                    page.figure.savefig(png, format="png", dpi=PNG_DPI)
                    pngs.append((out / f"report_{slug}.png", png.getvalue()))
                    page.figure.clear()
                    now = time.perf_counter()
                    _log.info("page %d (%s): %.1f s", number, slug, now - clock)
                    clock = now
    finally:
        font_log.setLevel(font_level)
    # Every page is drawn: only now is anything in out_dir replaced (the PDF last).
    for final_png, content in pngs:
        atomic_write_bytes(final_png, content)
    atomic_write_bytes(target, pdf_buffer.getvalue())
    keep = {final.name for final, _ in pngs}
    for stale in out.glob("report_*.png"):
        if stale.name not in keep:
            _remove(stale)
    _log.info("report written to %s in %.1f s", target, time.perf_counter() - started)
    return target
