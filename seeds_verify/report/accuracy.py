"""Coefficient accuracy: float64 coefficients against mpmath, stable against naive.

Two pictures, computed fresh on every build:

* φ_k(z), k = 1..4 (MATH §5): ``coefficients.phi`` against the textbook formula
  ``(e^z − Σ_{n<k} zⁿ/n!)/z^k`` evaluated in float64;
* the noise factors F_ij of MATH §7: ``coefficients.noise_factor`` against the square root of
  the difference of exponentials, ``sqrt(e^{−a} − e^{−b})``, evaluated in float64.

Both are measured in ulps of the float64 reference value, ``|x − x_ref| / ulp(x_ref)``, with
the reference computed in mpmath at 50 significant digits *after* cancellation (the working
precision is raised by the number of digits the difference cancels). The inputs are the very
float64 numbers both implementations see, so only evaluation error is measured.
"""

from __future__ import annotations

import math
from typing import Iterator

import mpmath as mp
import numpy as np

from .. import coefficients as C
from .layout import LEFT, MUTED_COLOUR, Page, Table, draw_table, new_page, page_title, paragraph

__all__ = ["phi_reference", "naive_phi", "noise_factor_reference", "naive_noise_factor", "ulp_error",
           "accuracy_pages", "NO_DIGITS_ULPS", "SEEDS3_FRACTIONS"]

REFERENCE_DIGITS = 50
NO_DIGITS_ULPS = 2.0 ** 52  # relative error 1: not one correct digit
_FLOOR = 0.05  # errors below this many ulps (exact results included) are drawn here
_TOP = 1e17
SEEDS3_FRACTIONS = (1.0 / 3.0, 2.0 / 3.0, 1.0)  # stage points of SEEDS-3 with its default c2, c3


def _extra_digits(scale: float) -> int:
    """Digits lost to cancellation when a difference is ~``scale`` times its terms (scale ≤ 1)."""
    return int(math.ceil(max(0.0, -math.log10(scale)))) if scale > 0 else 0


def phi_reference(k: int, z: float) -> mp.mpf:
    """φ_k(z) = (e^z − Σ_{n<k} zⁿ/n!)/z^k (MATH §5) with 50 digits left after the cancellation."""
    extra = k * _extra_digits(min(1.0, abs(z))) + 10
    with mp.workdps(REFERENCE_DIGITS + extra):
        zz = mp.mpf(z)
        if zz == 0:
            return mp.mpf(1) / mp.factorial(k)
        head = mp.fsum(zz ** n / mp.factorial(n) for n in range(k))
        return (mp.exp(zz) - head) / zz ** k


def naive_phi(k: int, z: np.ndarray) -> np.ndarray:
    """The textbook formula (e^z − Σ_{n<k} zⁿ/n!)/z^k in float64: what the stable version replaces."""
    z = np.asarray(z, dtype=np.float64)
    head = sum(z ** n / math.factorial(n) for n in range(k))
    return (np.exp(z) - head) / z ** k


def _entry_exponents(c: list, i: int, j: int, h, eta: float, form: str):
    """(a, b, scale) with F_ij² = scale·(e^{−a} − e^{−b}), a < b (MATH §7)."""
    if form == "data":
        return 2 * eta * (c[i] - c[j]) * h, 2 * eta * (c[i] - c[j - 1]) * h, 1
    return -2 * (c[i] - c[j - 1]) * h, -2 * (c[i] - c[j]) * h, eta


def noise_factor_reference(fractions, h: float, eta: float, form: str) -> list[list[mp.mpf]]:
    """F_ij of MATH §7 as square roots of differences of exponentials, 50 digits after cancellation."""
    m = len(fractions)
    smallest = min(b - a for a, b in zip((0.0,) + tuple(fractions), fractions))
    rate = 2.0 * eta if form == "data" else 2.0  # b − a = rate·Δ·h
    extra = _extra_digits(min(1.0, rate * smallest * h)) + 10
    out = [[mp.mpf(0)] * m for _ in range(m)]
    with mp.workdps(REFERENCE_DIGITS + extra):
        c = [mp.mpf(0)] + [mp.mpf(f) for f in fractions]
        hh, ee = mp.mpf(h), mp.mpf(eta)
        for i in range(1, m + 1):
            for j in range(1, i + 1):
                a, b, scale = _entry_exponents(c, i, j, hh, ee, form)
                out[i - 1][j - 1] = mp.sqrt(scale * (mp.exp(-a) - mp.exp(-b)))
    return out


def naive_noise_factor(fractions, h: np.ndarray, eta: float, form: str) -> np.ndarray:
    """sqrt(e^{−a} − e^{−b}) of MATH §7 evaluated as written, in float64; shape (len(h), m, m)."""
    h = np.asarray(h, dtype=np.float64)
    c = [0.0] + [float(f) for f in fractions]
    m = len(fractions)
    out = np.zeros(h.shape + (m, m))
    with np.errstate(all="ignore"):
        for i in range(1, m + 1):
            for j in range(1, i + 1):
                a, b, scale = _entry_exponents(c, i, j, h, eta, form)
                out[..., i - 1, j - 1] = np.sqrt(scale * (np.exp(-a) - np.exp(-b)))
    return out


def ulp_error(got: float, ref: mp.mpf) -> float:
    """|got − ref| in ulps of the float64 nearest to ref (inf when got is not finite)."""
    if not math.isfinite(got):
        return math.inf
    ref64 = float(ref)
    if ref64 == 0.0:
        return 0.0 if got == 0.0 else math.inf
    return float(abs(mp.mpf(got) - ref)) / float(np.spacing(abs(ref64)))


def _plotted(errors: np.ndarray) -> np.ndarray:
    """Errors clipped into [0.05 ulp, no correct digit]: beyond relative error 1 nothing is left to lose."""
    return np.clip(np.where(np.isfinite(errors), errors, NO_DIGITS_ULPS), _FLOOR, NO_DIGITS_ULPS)


def _magnitudes(quick: bool) -> np.ndarray:
    per_decade = 6 if quick else 12
    return np.logspace(-12, 2, 14 * per_decade + 1)


def phi_errors(quick: bool = False) -> dict:
    """{(k, sign, impl): ulp errors over |z|} for k = 1..4, sign ±1, impl "stable"/"naive"."""
    mags = _magnitudes(quick)
    out = {"abs_z": mags}
    for k in range(1, 5):
        for sign in (1, -1):
            z = sign * mags
            refs = [phi_reference(k, float(v)) for v in z]
            stable = C.phi(k, z)
            with np.errstate(all="ignore"):
                naive = naive_phi(k, z)
            out[(k, sign, "stable")] = np.array([ulp_error(float(g), r) for g, r in zip(stable, refs)])
            out[(k, sign, "naive")] = np.array([ulp_error(float(g), r) for g, r in zip(naive, refs)])
    return out


NOISE_CASES = (("data", 1.0), ("noise", 1.0))


def noise_errors(quick: bool = False) -> dict:
    """{(form, eta, impl): ulp errors, shape (len(h), n_entries)} for the SEEDS-3 stage points."""
    hs = _magnitudes(quick)
    m = len(SEEDS3_FRACTIONS)
    entries = [(i, j) for i in range(m) for j in range(i + 1)]
    out = {"h": hs, "entries": entries}
    for form, eta in NOISE_CASES:
        stable = C.noise_factor(SEEDS3_FRACTIONS, hs, eta, form)
        naive = naive_noise_factor(SEEDS3_FRACTIONS, hs, eta, form)
        err_s = np.zeros((hs.size, len(entries)))
        err_n = np.zeros_like(err_s)
        for n, h in enumerate(hs):
            ref = noise_factor_reference(SEEDS3_FRACTIONS, float(h), eta, form)
            for e, (i, j) in enumerate(entries):
                err_s[n, e] = ulp_error(float(stable[n, i, j]), ref[i][j])
                err_n[n, e] = ulp_error(float(naive[n, i, j]), ref[i][j])
        out[(form, eta, "stable")] = err_s
        out[(form, eta, "naive")] = err_n
    return out


def _style_axis(ax, xlabel: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(_FLOOR / 1.5, _TOP)
    ax.set_xlim(1e-12 / 2, 1e2 * 2)
    ax.set_xticks([1e-12, 1e-9, 1e-6, 1e-3, 1e0])
    ax.set_yticks([1e0, 1e4, 1e8, 1e12, 1e16])
    ax.axhline(NO_DIGITS_ULPS, color="#cf222e", linewidth=0.6, linestyle="--")
    ax.axhline(4.0, color="#1a7f37", linewidth=0.6, linestyle=":")
    ax.set_xlabel(xlabel)


def _worst(errors: np.ndarray) -> str:
    worst = float(np.max(errors))
    if not math.isfinite(worst) or worst >= NO_DIGITS_ULPS:
        return "no correct digit"
    return f"{worst:.3g} ulp"


_PHI_TEXT = (
    "Relative error of φ_k(z) in units in the last place (ulp) of the float64 value, against mpmath "
    "with 50 correct digits, over |z| from 1e-12 to 100 for both signs of z (the data form evaluates "
    "φ_k at z = −(1+η)ch < 0, the noise form at z = ch > 0). Left: seeds_verify.coefficients.phi "
    "(series, a positive-term sum and recurrences, each used where it keeps full precision). Right: "
    "the definition (e^z − Σ_{n<k} zⁿ/n!)/z^k typed into float64. The naive formula cancels: for "
    "|z| = 1e-4 and k = 2 it already has no correct digit, and SEEDS evaluates φ_k at z ∝ h, which "
    "shrinks with the step size — exactly where convergence studies look. Dotted green: 4 ulp, the "
    "bound the solvers rely on. Dashed red: relative error 1 (no correct digit); larger errors are "
    "drawn on it. Errors below 0.05 ulp, exact results included, are drawn at 0.05."
)

_NOISE_TEXT = (
    "The noise factors F_ij of MATH §7 (N_i = σ_i Σ_j F_ij z_j) for the SEEDS-3 stage points c = 1/3, "
    "2/3, 1 at η = 1, over the step size h in λ, one line per entry (i, j) of the lower triangle. "
    "Left: seeds_verify.coefficients.noise_factor, which writes each entry as "
    "sqrt(2ηΔh φ_1(−2kΔh))·e^{−k(c_i−c_j)h} and never subtracts nearly equal numbers. Right: the square "
    "root of the difference of exponentials, sqrt(e^{−a} − e^{−b}), as MATH §7 states it. For small h "
    "the two exponentials agree in almost every digit; the naive entries lose digits in proportion "
    "to log(1/h): at h = 1e-12 about four correct digits remain, and below h ≈ 1e-16 the difference "
    "is exactly 0 — a sampler would then inject no noise at all. Reference: mpmath, 50 digits after "
    "cancellation."
)

_CONDITIONING_TEXT = (
    "For large h the stable entries drift above a few ulp along the dash-dotted line |k|(c₃−c₁)h: "
    "that is the conditioning of the factor e^{−k(c_i−c_j)h} itself: one ulp of relative change in h "
    "changes it by |k(c_i−c_j)h| ulp, so any evaluation that rounds the exponent to float64 does the "
    "same. Steps that long (h > 10 in λ) do not occur in sampling, where the whole λ range of a "
    "schedule spans 9 to 14."
)


def accuracy_pages(quick: bool = False) -> Iterator[Page]:
    """Two pages: φ_k accuracy and noise-factor accuracy, stable next to naive."""
    phi_err = phi_errors(quick)
    fig = new_page()
    y = page_title(fig, "Coefficient accuracy: φ-functions",
                   "Why coefficients.phi exists: the naive formula loses every digit as h → 0.")
    y = paragraph(fig, y, _PHI_TEXT, width=135) - 0.012
    bottom = 0.045
    height = (y - bottom) / 4.0
    mags = phi_err["abs_z"]
    for k in range(1, 5):
        for col, impl in enumerate(("stable", "naive")):
            ax = fig.add_axes([LEFT + 0.03 + col * 0.45, y - k * height + 0.04, 0.38, height - 0.062])
            for sign, colour, name in ((1, "#0969da", "z > 0"), (-1, "#bc4c00", "z < 0")):
                ax.plot(mags, _plotted(phi_err[(k, sign, impl)]), color=colour, label=name, linewidth=1.0)
            _style_axis(ax, "|z|")
            ax.set_ylabel("error [ulp]")
            worst = np.concatenate([phi_err[(k, 1, impl)], phi_err[(k, -1, impl)]])
            label = "coefficients.phi" if impl == "stable" else r"naive $(e^z - \Sigma_{n<k}\, z^n/n!)/z^k$"
            ax.set_title(rf"$\varphi_{k}$: {label}   (worst: {_worst(worst)})", fontsize=7)
            ax.legend(loc="upper right" if impl == "stable" else "lower left", fontsize=5.5)
    yield Page("coefficients_phi", fig)

    noise_err = noise_errors(quick)
    fig = new_page()
    y = page_title(fig, "Coefficient accuracy: noise coefficients",
                   "Pathwise-consistent noise (MATH §7) evaluated without cancellation.")
    y = paragraph(fig, y, _NOISE_TEXT, width=135) - 0.012
    height = 0.25
    hs, entries = noise_err["h"], noise_err["entries"]
    palette = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#57606a")
    spread = SEEDS3_FRACTIONS[-1] - SEEDS3_FRACTIONS[0]
    for row, (form, eta) in enumerate(NOISE_CASES):
        k = C.weight_exponent(form, eta)
        for col, impl in enumerate(("stable", "naive")):
            ax = fig.add_axes([LEFT + 0.03 + col * 0.45, y - (row + 1) * height + 0.045, 0.38, height - 0.075])
            errors = noise_err[(form, eta, impl)]
            for e, (i, j) in enumerate(entries):
                ax.plot(hs, _plotted(errors[:, e]), color=palette[e % len(palette)], linewidth=0.9,
                        label=f"F[{i + 1},{j + 1}]")
            if impl == "stable":
                ax.plot(hs, np.maximum(abs(k) * spread * hs, _FLOOR), color="black", linewidth=0.8,
                        linestyle="-.", label="|k|(c₃−c₁)h")
            _style_axis(ax, "step size h")
            ax.set_ylabel("error [ulp]")
            k_text = "k = η" if form == "data" else "k = −1"
            label = "noise_factor" if impl == "stable" else r"naive $\sqrt{e^{-a} - e^{-b}}$"
            ax.set_title(f"{form} form, η = {eta:g} ({k_text}): {label}\n(worst: {_worst(errors)})", fontsize=7)
            ax.legend(loc="upper left" if impl == "stable" else "lower left", fontsize=5.5, ncol=2)
    y = y - 2 * height - 0.005
    y = paragraph(fig, y, _CONDITIONING_TEXT, width=135) - 0.01
    rows = []
    for k in range(1, 5):
        small = np.abs(phi_err["abs_z"]) <= 1.0
        pos, neg = phi_err[(k, 1, "stable")], phi_err[(k, -1, "stable")]
        naive = np.concatenate([phi_err[(k, 1, "naive")], phi_err[(k, -1, "naive")]])
        rows.append([f"φ{'₁₂₃₄'[k - 1]}(z)", _worst(np.concatenate([pos[small], neg[small]])),
                     _worst(np.concatenate([pos, neg])), _worst(naive)])
    small_h = hs <= 1.0
    for form, eta in NOISE_CASES:
        stable = noise_err[(form, eta, "stable")]
        rows.append([f"F_ij, {form} form, η = {eta:g}", _worst(stable[small_h]), _worst(stable),
                     _worst(noise_err[(form, eta, "naive")])])
    headers = ("coefficient", "stable, |z| or h ≤ 1", "stable, whole sweep", "naive, whole sweep")
    y = paragraph(fig, y, "Worst error in ulp:", fontsize=7.5) - 0.004
    draw_table(fig, Table(headers, rows, widths=(14, 10, 10, 10)), top=y, right=0.8, fontsize=7,
               row_height=0.016)
    paragraph(fig, 0.045, f"Sweep: {hs.size} log-spaced values of |z| (each sign) and of h over [1e-12, 100].",
              fontsize=6.5, colour=MUTED_COLOUR)
    yield Page("coefficients_noise", fig)
