"""Derivations pages: the symbolic results of ``seeds_verify.analytic``, typeset by mathtext.

Nothing here is retyped: the page shows exactly the LaTeX that ``analytic.latex_summary()``
returns, so that what the reader sees is what sympy derived. Matplotlib's mathtext covers a
subset of LaTeX; an expression too wide for the page is broken at its top-level relation and
operator signs, then shrunk, and one that mathtext cannot parse is shown as LaTeX source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.mathtext import MathTextParser

from .layout import A4_PORTRAIT, LEFT, MUTED_COLOUR, RIGHT, Page, new_page, page_title, paragraph

__all__ = ["derivation_pages", "predicted_order_pages", "split_top_level", "mathtext_ok", "display_fractions"]

_PARSER = MathTextParser("path")
_MAX_FONT, _MIN_FONT = 11.0, 6.0
_BREAK_AT = ("=", "+", "-")
_BOTTOM = 0.05

_INTRO = (
    "The coefficients every solver uses are derived, for symbolic stage fractions, by the sympy module "
    "seeds_verify.analytic: the polynomial interpolant of the model output integrated against the "
    "exact kernel of the variation-of-constants formula (MATH §4–§7), and the local error expansions "
    "that predict orders and constants (MATH §9). The expressions below are its own output, typeset "
    "without retyping; coefficients.py evaluates the same constructions in float64 and the test suite "
    "holds the two together."
)


def mathtext_ok(latex: str) -> bool:
    """Whether matplotlib's mathtext can typeset ``$latex$``."""
    try:
        _PARSER.parse(f"${latex}$", dpi=72)
    except (ValueError, RuntimeError):
        return False
    return True


def display_fractions(latex: str) -> str:
    """``\\frac`` → ``\\dfrac`` outside sub- and superscripts: full-size fractions on the line,
    compact ones in exponents (how LaTeX's display style would set them)."""
    out, i, stack = [], 0, []  # stack: for each open brace, whether it opened a script
    script_depth = 0
    while i < len(latex):
        if latex.startswith("\\frac", i) and not latex[i + 5:i + 6].isalpha():
            out.append("\\frac" if script_depth else "\\dfrac")
            i += 5
            continue
        ch = latex[i]
        if ch == "\\":
            out.append(latex[i:i + 2])
            i += 2
            continue
        if ch == "{":
            is_script = bool(out) and out[-1] in ("^", "_")
            stack.append(is_script)
            script_depth += is_script
        elif ch == "}" and stack:
            script_depth -= stack.pop()
        out.append(ch)
        i += 1
    return "".join(out)


def split_top_level(latex: str) -> list[str]:
    """Cut ``latex`` before every '=', '+', '-' that is outside braces and \\left…\\right pairs.

    Each piece but the first starts with its operator, so the pieces read as continuation lines.
    """
    pieces, depth, start, i = [], 0, 0, 0
    while i < len(latex):
        ch = latex[i]
        if latex.startswith("\\left", i) and not latex[i + 5:i + 6].isalpha():
            depth += 1
            i += 5
            continue
        if latex.startswith("\\right", i) and not latex[i + 6:i + 7].isalpha():
            depth -= 1
            i += 6
            continue
        if ch == "\\":  # skip a command name or an escaped character
            i += 2
            while i < len(latex) and latex[i].isalpha() and latex[i - 1].isalpha():
                i += 1
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch in _BREAK_AT and depth == 0 and i > start and latex[start:i].strip():
            previous = latex[:i].rstrip()
            # A sign right after an operator, '(' or '^' is unary, not a place to break.
            if previous and previous[-1] not in "=+-(^_,{[":
                pieces.append(latex[start:i].strip())
                start = i
        i += 1
    pieces.append(latex[start:].strip())
    return [p for p in pieces if p]


def _extent(fig, renderer, latex: str, fontsize: float) -> tuple[float, float]:
    """(width, height) of ``$latex$`` typeset at ``fontsize``, in figure coordinates."""
    text = fig.text(0, 0, f"${latex}$", fontsize=fontsize)
    box = text.get_window_extent(renderer)
    text.remove()
    return box.width / (fig.dpi * A4_PORTRAIT[0]), box.height / (fig.dpi * A4_PORTRAIT[1])


def _width(fig, renderer, latex: str, fontsize: float) -> float:
    return _extent(fig, renderer, latex, fontsize)[0]


def _layout(fig, renderer, latex: str, available: float) -> tuple[list[str], float]:
    """Lines and font size that fit ``latex`` into ``available`` (figure width fraction)."""
    if _width(fig, renderer, latex, _MAX_FONT) <= available:
        return [latex], _MAX_FONT
    pieces = split_top_level(latex)
    for size in (_MAX_FONT, 10.0, 9.0, 8.0, 7.0, _MIN_FONT):
        lines: list[str] = []
        for piece in pieces:
            if lines and _width(fig, renderer, lines[-1] + " " + piece, size) <= available:
                lines[-1] = lines[-1] + " " + piece
            else:
                lines.append(piece)
        indented = [lines[0]] + [r"\quad " + line for line in lines[1:]]
        if all(_width(fig, renderer, line, size) <= available for line in indented):
            return indented, size
    return indented, _MIN_FONT


def _entries() -> list[tuple[str, str]]:
    from ..analytic import latex_summary

    return [(str(title), display_fractions(str(latex).strip().strip("$"))) for title, latex in latex_summary()]


@dataclass
class _Block:
    title: str
    lines: list[str]
    heights: list[float]
    size: float
    raw: bool

    @property
    def height(self) -> float:
        return 0.018 + sum(self.heights) + (0.012 if self.raw else 0.0) + 0.012


def _blocks(entries: Sequence[tuple[str, str]], available: float) -> list[_Block]:
    """Typeset sizes of every entry, measured on a scratch figure."""
    scratch = new_page()
    renderer = FigureCanvasAgg(scratch).get_renderer()
    blocks = []
    for title, latex in entries:
        if mathtext_ok(latex):
            lines, size = _layout(scratch, renderer, latex, available)
            heights = [_extent(scratch, renderer, line, size)[1] + 0.006 for line in lines]
            blocks.append(_Block(title, lines, heights, size, False))
        else:
            lines = [latex[i:i + 52] for i in range(0, len(latex), 52)] or [""]
            blocks.append(_Block(title, lines, [0.011] * len(lines), 6.5, True))
    return blocks


def _columns(blocks: list[_Block], height: float) -> tuple[list[_Block], list[_Block], list[_Block]]:
    """(left column, right column, rest): as many blocks as two columns of ``height`` hold, split so
    that the columns end at about the same height."""
    taken, used, column = [], [0.0, 0.0], 0
    for block in blocks:
        if used[column] + block.height > height:
            if column == 1 or not taken:
                break
            column = 1
            if block.height > height:
                break
        used[column] += block.height
        taken.append(block)
    if not taken:  # a block taller than a page still gets a page of its own
        return blocks[:1], [], blocks[1:]
    heights = [b.height for b in taken]
    total = sum(heights)
    # The smallest left column that leaves the right one within the page, then grown towards half.
    split = 0
    while sum(heights[split:]) > height:
        split += 1
    while split < len(taken) and sum(heights[:split + 1]) <= height \
            and sum(heights[:split]) + heights[split] / 2 <= total / 2:
        split += 1
    return taken[:split], taken[split:], blocks[len(taken):]


def derivation_pages(entries: Sequence[tuple[str, str]] | None = None) -> Iterator[Page]:
    """Pages of (title, formula) blocks in two balanced columns; ``entries`` defaults to
    ``analytic.latex_summary()``."""
    if entries is None:
        entries = _entries()
    column_width = (RIGHT - LEFT) / 2.0
    blocks = _blocks(entries, column_width - 0.035)
    page_no = 1
    while True:
        fig = new_page()
        if page_no == 1:
            top = page_title(fig, "Derivations",
                             "Symbolic results of seeds_verify.analytic (sympy), typeset by mathtext.")
            top = paragraph(fig, top, _INTRO, width=135) - 0.012
        else:
            top = page_title(fig, "Derivations (continued)")
        left, right, blocks = _columns(blocks, top - _BOTTOM)
        for column, chunk in enumerate((left, right)):
            x, y = LEFT + column * column_width, top
            for block in chunk:
                fig.text(x, y, block.title, fontsize=7.5, fontweight="bold", va="top")
                y -= 0.018
                for line, height in zip(block.lines, block.heights):
                    if block.raw:
                        fig.text(x + 0.015, y, line, fontsize=block.size, family="DejaVu Sans Mono", va="top")
                    else:
                        fig.text(x + 0.015, y - 0.003, f"${line}$", fontsize=block.size, va="top")
                    y -= height
                if block.raw:
                    fig.text(x + 0.015, y, "(LaTeX source: mathtext cannot typeset it)", fontsize=6,
                             color=MUTED_COLOUR, va="top")
                    y -= 0.012
                y -= 0.012
        yield Page("derivations" if page_no == 1 else f"derivations_{page_no}", fig)
        if not blocks:
            return
        page_no += 1


_ORDERS_TEXT = (
    "Orders predicted by seeds_verify.analytic.predicted_orders() from local error expansions on the "
    "linear test problem D(x, λ) = a x + b(λ) with a quadratic b (MATH §9): the local mean error and "
    "mean-square error of one step, expanded in h, give the global strong order by Milstein's "
    "theorem, the weak order from the moments, and the deterministic order (η = 0) from the local "
    "error. A general nonlinear denoiser can only lower these orders. In brackets: the leading "
    "constant at the module's reference point (strong: local RMS error coefficient; weak: coefficient "
    "of the second-moment error; deterministic: coefficient of the local error). These are the "
    "'predicted' column of the summary."
)


def _order_cell(value) -> str:
    if value is None:
        return "n/a"
    order, constant = value
    if order is None:
        return "n/a"
    text = f"{order:g}"
    return text + (f"  ({constant:.3g})" if constant is not None else "")


def predicted_order_pages(rows=None) -> Iterator[Page]:
    """A table of every predicted order and constant (``analytic.predicted_orders()``)."""
    from .layout import Table, draw_table

    if rows is None:
        from ..analytic import predicted_orders

        rows = predicted_orders()
    cells: dict[tuple[str, str], dict[str, tuple]] = {}
    order_of_keys: list[tuple[str, str]] = []
    for row in rows:
        key = (row.label, row.prediction)
        if key not in cells:
            cells[key] = {}
            order_of_keys.append(key)
        cells[key][row.regime] = (row.order, row.constant)
    fig = new_page()
    y = page_title(fig, "Predicted orders", "Symbolic local-error expansions (MATH §9), computed by sympy.")
    y = paragraph(fig, y, _ORDERS_TEXT, width=135) - 0.012
    headers = ("scheme", "prediction", "deterministic\norder (constant)", "strong\norder (constant)",
               "weak\norder (constant)")
    body = [[name, prediction] + [_order_cell(cells[(name, prediction)].get(regime))
                                  for regime in ("deterministic", "strong", "weak")]
            for name, prediction in order_of_keys]
    draw_table(fig, Table(headers, body, widths=(16, 7, 12, 12, 12)), top=y, fontsize=7, row_height=0.0155)
    yield Page("predicted_orders", fig)
