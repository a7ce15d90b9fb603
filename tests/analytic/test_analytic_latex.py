"""The LaTeX summary renders with matplotlib mathtext (the report's renderer)."""

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib import mathtext  # noqa: E402

from seeds_verify.analytic import latex_summary  # noqa: E402


def test_every_entry_renders():
    items = latex_summary()
    assert len(items) >= 10
    for title, tex in items:
        assert title and tex
        buf = io.BytesIO()
        mathtext.math_to_image(f"${tex}$", buf, format="png")
        assert buf.getvalue().startswith(b"\x89PNG"), title


def test_expected_content():
    text = dict(latex_summary())
    assert text["phi_1 closed form (MATH §5)"] == r"\varphi_1(z) = \frac{e^{z} - 1}{z}"
    assert any("F_{21}" in tex for tex in text.values())
    assert any(title.startswith("SEEDS-2 (2b)") for title in text)


def test_mathtext_would_reject_unsupported_markup():
    """The render check can fail: mathtext does not know \\begin{matrix}."""
    import pytest

    with pytest.raises(ValueError):
        mathtext.math_to_image(r"$\begin{matrix} a \end{matrix}$", io.BytesIO(), format="png")
