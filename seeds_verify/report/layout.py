"""Page furniture shared by every report page: A4 figures, titles, captions and tables.

Everything is drawn with plain matplotlib (no LaTeX installation), in figure coordinates
(0..1 on both axes of an A4 portrait page), so that each page module only decides *what*
goes where. Fonts are embedded as TrueType (``pdf.fonttype`` 42), which keeps the text of the
PDF searchable and extractable.
"""

from __future__ import annotations

import textwrap
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

__all__ = [
    "A4_PORTRAIT",
    "PASS_COLOUR",
    "FAIL_COLOUR",
    "INCONCLUSIVE_COLOUR",
    "MUTED_COLOUR",
    "Page",
    "report_style",
    "new_page",
    "page_title",
    "paragraph",
    "Table",
    "draw_table",
    "rows_per_page",
    "row_lines",
    "text_width",
]

A4_PORTRAIT = (8.27, 11.69)  # inches
PASS_COLOUR = "#1a7f37"
FAIL_COLOUR = "#cf222e"
INCONCLUSIVE_COLOUR = "#c75300"  # orange: the evidence could not decide
MUTED_COLOUR = "#6e7781"
_SHADE = "#f3f4f6"
_HEADER_SHADE = "#d0d7de"

# Left and right page margins in figure coordinates (about 15 mm on A4).
LEFT, RIGHT = 0.07, 0.93

_STYLE = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 7.5,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.1,
    "lines.markersize": 3.5,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "path.simplify": False,
}


@contextmanager
def report_style():
    """Matplotlib settings of the report, restored on exit (the caller's own style is untouched)."""
    with matplotlib.rc_context(_STYLE):
        yield


@dataclass
class Page:
    """One finished page: the figure and the slug its PNG copy is named after."""

    slug: str
    figure: Figure
    notes: list[str] = field(default_factory=list)


def new_page() -> Figure:
    """An empty A4 portrait figure.

    Built without pyplot: no GUI backend is touched and nothing stays registered between builds.
    """
    return Figure(figsize=A4_PORTRAIT)


def page_title(fig: Figure, title: str, subtitle: str | None = None, *, top: float = 0.965) -> float:
    """Draw the page title (and an optional muted subtitle); return the y below them."""
    fig.text(LEFT, top, title, fontsize=13, fontweight="bold", va="top")
    y = top - 0.028
    if subtitle:
        for line in _wrap(subtitle, 120):
            fig.text(LEFT, y, line, fontsize=7.5, color=MUTED_COLOUR, va="top")
            y -= 0.014
    return y - 0.006


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for block in str(text).split("\n"):
        lines.extend(textwrap.wrap(block, width, break_long_words=True, break_on_hyphens=False) or [""])
    return lines


def paragraph(fig: Figure, y: float, text: str, *, fontsize: float = 7.0, width: int = 125,
              x: float = LEFT, colour: str = "black", family: str | None = None,
              line_height: float | None = None) -> float:
    """Word-wrapped text starting at height ``y`` (figure coordinates); return the y below it."""
    step = line_height if line_height is not None else fontsize * 1.45 / 72.0 / A4_PORTRAIT[1]
    kwargs = {"family": family} if family else {}
    for line in _wrap(text, width):
        fig.text(x, y, line, fontsize=fontsize, va="top", color=colour, **kwargs)
        y -= step
    return y


@dataclass
class Table:
    """Cells of a table as strings, with an optional text colour per cell.

    ``widths`` are relative column widths; by default they follow the longest entry of each
    column (the report font is proportional, so this is an estimate with generous padding).
    """

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    colours: Sequence[Sequence[str | None]] | None = None
    widths: Sequence[float] | None = None
    bold_columns: Sequence[int] = ()

    def column_widths(self) -> list[float]:
        if self.widths is not None:
            return list(self.widths)
        widths = []
        for j, head in enumerate(self.headers):
            cells = [str(r[j]) for r in self.rows] + [str(head)]
            longest = max(len(line) for cell in cells for line in cell.split("\n"))
            widths.append(longest + 2.5)
        return widths


def text_width(text: str, fontsize: float, bold: bool = False, dpi: float = 100.0) -> float:
    """Width in points of the widest line of ``text`` in the report font (DejaVu Sans), as the
    Agg renderer lays it out at ``dpi`` (hinting widens text at the PNG copies' resolution; the
    PDF's own text is narrower, so a column sized by this fits both)."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    renderer = RendererAgg(10, 10, dpi)
    prop = FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal", size=fontsize)
    widths = [renderer.get_text_width_height_descent(line, prop, ismath=False)[0] if line.strip() else 0.0
              for line in str(text).split("\n")]
    return max(widths) * 72.0 / dpi


def rows_per_page(top: float, bottom: float, row_height: float, header_lines: int = 2) -> int:
    """How many one-line body rows fit between ``top`` and ``bottom`` under a header."""
    return max(1, int((top - bottom - (0.35 + 0.85 * header_lines) * row_height) / row_height))


def row_lines(row: Sequence[str]) -> int:
    """Text lines a table row occupies (cells may hold line breaks)."""
    return max(str(cell).count("\n") + 1 for cell in row)


def draw_table(fig: Figure, table: Table, *, top: float, left: float = LEFT, right: float = RIGHT,
               row_height: float = 0.0135, fontsize: float = 6.5) -> float:
    """Draw ``table`` from ``top`` downwards between ``left`` and ``right``; return the y below it.

    Cells may contain line breaks; a row is as tall as its tallest cell. Body rows are shaded
    alternately so that a long row can be followed by eye; a cell colour, when given, colours
    (and emboldens, for the pass, fail and inconclusive colours) the text of that cell.
    """
    widths = table.column_widths()
    total = float(sum(widths))
    xs = [left]
    for w in widths:
        xs.append(xs[-1] + (right - left) * w / total)
    line_step = 0.85 * row_height
    header_lines = max(str(h).count("\n") + 1 for h in table.headers)
    header_height = row_height + (header_lines - 1) * line_step + 0.35 * row_height
    y = top
    fig.patches.append(Rectangle((left, y - header_height), right - left, header_height,
                                 transform=fig.transFigure, facecolor=_HEADER_SHADE, edgecolor="none",
                                 zorder=0))
    for j, head in enumerate(table.headers):
        fig.text(xs[j] + 0.004, y - header_height / 2, str(head), fontsize=fontsize, fontweight="bold",
                 va="center", ha="left", linespacing=1.05)
    y -= header_height
    for i, row in enumerate(table.rows):
        height = row_height + (row_lines(row) - 1) * line_step
        if i % 2 == 1:
            fig.patches.append(Rectangle((left, y - height), right - left, height,
                                         transform=fig.transFigure, facecolor=_SHADE, edgecolor="none",
                                         zorder=0))
        # One baseline per row: a multi-line row hangs every cell from the top.
        if row_lines(row) > 1:
            y_text, va = y - 0.18 * row_height, "top"
        else:
            y_text, va = y - row_height / 2, "center_baseline"
        for j, cell in enumerate(row):
            colour = table.colours[i][j] if table.colours is not None else None
            emphasised = colour in (PASS_COLOUR, FAIL_COLOUR, INCONCLUSIVE_COLOUR)
            weight = "bold" if (j in table.bold_columns or emphasised) else "normal"
            fig.text(xs[j] + 0.004, y_text, str(cell), fontsize=fontsize, va=va, ha="left",
                     color=colour or "black", fontweight=weight, linespacing=1.05)
        y -= height
    fig.add_artist(Line2D([left, right], [y, y], transform=fig.transFigure, color=_HEADER_SHADE,
                          linewidth=0.8))
    return y - 0.004
