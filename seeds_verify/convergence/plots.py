"""Log-log error plots of the studies, one PNG per (regime, problem, schedule), written atomically."""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np

__all__ = ["plot_records", "atomic_write_bytes", "rounding_band", "draw_rounding_band"]


from ..files import atomic_write_bytes  # re-exported: __main__ imports it from here

from .statistics import ROUNDING_MARGIN  # fit points lie this far above their rounding


def rounding_band(step_sizes, details) -> tuple[np.ndarray, np.ndarray] | None:
    """(h, ROUNDING_MARGIN × measured rounding) of a low-precision record, None for float64 ones:
    errors inside the band are left out of the fit (docs/precision.md)."""
    rounding = (details or {}).get("rounding_errors")
    if not rounding or len(rounding) != len(step_sizes):
        return None
    h = np.asarray(step_sizes, dtype=float)
    floor = ROUNDING_MARGIN * np.asarray([np.nan if v is None else v for v in rounding], dtype=float)
    ok = np.isfinite(floor) & (floor > 0)
    return (h[ok], floor[ok]) if ok.sum() >= 2 else None


def draw_rounding_band(ax, bands, label: str = "10 × measured rounding (not fitted)") -> None:
    """Grey band from the bottom of the axes up to the largest rounding floor of the series at each
    h; call it once the axes' limits are set (they are kept)."""
    bands = [b for b in bands if b is not None]
    if not bands:
        return
    table: dict = {}
    for h, floor in bands:
        for x, y in zip(h.tolist(), floor.tolist()):
            table[x] = max(table.get(x, 0.0), y)
    xs = np.array(sorted(table))
    ys = np.array([table[x] for x in xs])
    bottom, top = ax.get_ylim()
    ax.fill_between(xs, np.full_like(ys, bottom), np.maximum(ys, bottom), color="0.85", zorder=0,
                    label=label, linewidth=0)
    ax.set_ylim(bottom, top)


def _group(records):
    groups = defaultdict(list)
    for rec in records:
        groups[(rec["regime"], rec["problem"], rec["schedule"])].append(rec)
    return groups


def plot_records(records, out_dir: str) -> list[str]:
    """One log-log plot of error against h per (regime, problem, schedule); returns the paths.

    ``records`` are :meth:`RegimeResult.to_record` dicts. Each series is a (sampler, prediction, η)
    ladder with its 95 % bootstrap error bars (none for exact ladders); the fitted range is
    over-drawn with a thick translucent line, reference slopes h¹, h², h³ are dotted grey, and
    failing or inconclusive series are red and dashed with ✗ markers and the verdict in the legend.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for (regime, problem, schedule), recs in sorted(_group(records).items()):
        fig, ax = plt.subplots(figsize=(7.5, 5.5))
        all_h, all_e = [], []
        cmap = plt.get_cmap("tab20")
        for i, rec in enumerate(recs):
            h = np.asarray(rec["step_sizes"], dtype=float)
            e = np.asarray([np.nan if v is None else v for v in rec.get("errors") or []], dtype=float)
            if e.size != h.size or not np.any(e > 0):
                continue
            ok = np.isfinite(e) & (e > 0)
            lo = np.asarray([np.nan if v is None else v for v in rec.get("errors_ci_low") or e], dtype=float)
            hi = np.asarray([np.nan if v is None else v for v in rec.get("errors_ci_high") or e], dtype=float)
            yerr = np.vstack([np.clip(e - lo, 0, None), np.clip(hi - e, 0, None)])
            verdict = rec.get("verdict")
            failed = verdict in ("fail", "inconclusive")
            order = rec.get("measured_order")
            declared = rec.get("declared")
            label = (f"{rec['sampler']} {rec.get('prediction') or ''} η={rec['eta']:g}: "
                     f"{'n/a' if order is None else f'{order:.2f}'}"
                     f"{'' if declared is None else f' (declared {declared:g})'}"
                     + (f" {verdict.upper()}" if failed else ""))
            color = "red" if failed else cmap(i % 20)
            ax.errorbar(h[ok], e[ok], yerr=yerr[:, ok], color=color, marker="x" if failed else "o",
                        ms=4, lw=1.0, ls="--" if failed else "-", capsize=2, label=label, alpha=0.9)
            fr = rec.get("fit_steps")
            if fr:
                steps = list(rec["step_counts"])
                sl = slice(steps.index(fr[0]), steps.index(fr[1]) + 1)
                ax.plot(h[sl], e[sl], color=color, lw=3.0, alpha=0.35)
            all_h.extend(h[ok])
            all_e.extend(e[ok])
        if not all_h:
            plt.close(fig)
            continue
        h_ref = np.array([min(all_h), max(all_h)])
        anchor = float(np.exp(np.median(np.log(all_e))))
        for p in (1, 2, 3):
            ax.plot(h_ref, anchor * (h_ref / h_ref[0]) ** p, color="0.6", ls=":", lw=1)
            ax.text(h_ref[1], anchor * (h_ref[1] / h_ref[0]) ** p, f"h^{p}", color="0.4", fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        draw_rounding_band(ax, [rounding_band(r["step_sizes"], r.get("details")) for r in recs])
        ax.set_xlabel("step size h (in λ)")
        ax.set_ylabel("error")
        ax.set_title(f"{regime} error — {problem}, {schedule}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, loc="best")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        path = os.path.join(out_dir, f"{regime}_{problem}_{schedule}.png")
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    return written
