"""Half-precision models: how many steps are worth paying for (docs/precision.md).

A pipeline that runs its network in bfloat16 or float16 keeps the sampler's state and
coefficients in float32: the network sees its input rounded to the half dtype and hands back an
output in the half dtype. :class:`HalfPrecisionDenoiser` models exactly these two roundings
around an analytic denoiser. On the Gaussian problem, whose pathwise solution is exact, every
SEEDS scheme then runs a doubling ladder of step counts twice from the same start and Brownian
path, with the half-precision model and with the exact (float32-output) model, and per ladder
point

    E(N) = mean_s ‖Y_full − Y_ref‖      (discretisation error of the float32 pipeline),
    R(N) = mean_s ‖Y_half − Y_full‖     (what the model's rounding adds),
    E_half(N) = mean_s ‖Y_half − Y_ref‖ (the error a user of the half model sees).

The *useful-steps limit* N* is the step count at which the falling E meets R (the first
ladder point with E ≤ R, log–log interpolated with its predecessor); beyond it the rounding, not
the step size, sets the error, and E_half cannot fall by more than a factor of about 2 whatever
the steps (docs/precision.md derives this from the triangle inequality). Its 95 % interval is a
percentile bootstrap over paths with the same resampled paths for every step count
(:mod:`.statistics`' convention). A limit outside the ladder is reported as such ("> 1024",
"< 2"), never extrapolated.

``python -m seeds_verify.convergence.precision [--quick] [--out DIR] [--seed S] [--paths P]``
writes ``DIR/useful_steps.json`` (``{"meta", "records"}``, keys :data:`RECORD_KEYS`) and
``DIR/useful_steps.png`` atomically (``useful_steps_quick.*`` with ``--quick``) and prints a
Markdown table. Exit status 0 done, 2 bad arguments, 130 interrupted (nothing written).
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from ..arguments import comma_list, positive_int
from ..runs import check_seed_and_paths, make_out_dir, recorded_run, write_records
from ..solvers import DiffusionModel
from . import statistics as S
from .studies import StudySetup, check_steps, single_thread
from .subjects import parse_solver

__all__ = [
    "HalfPrecisionDenoiser", "MODEL_DTYPES", "HALF_DTYPES", "STATE_DTYPE", "SCHEMES", "SCHEDULES",
    "REGIME_ETA", "DEFAULT_STEPS", "QUICK_STEPS", "DEFAULT_PATHS", "QUICK_PATHS", "RECORD_KEYS",
    "UsefulStepsLimit", "crossing", "useful_steps_limit", "record_limit", "ladder_runs", "useful_steps_study",
    "draw_panel", "plot_useful_steps", "write_useful_steps", "markdown_table", "main",
]

#: The dtypes a model may be evaluated in, by name; float32 adds no rounding to a float32 pipeline.
MODEL_DTYPES: dict[str, torch.dtype] = {"bfloat16": torch.bfloat16, "float16": torch.float16,
                                         "float32": torch.float32}
HALF_DTYPES = ("bfloat16", "float16")
STATE_DTYPE = torch.float32  # the sampler's state, as in half-precision pipelines
SCHEMES = ("seeds1", "seeds2", "seeds3")  # data form, default stage fractions and variants
SCHEDULES = ("vp_linear", "edm")
#: The regimes studied and their η: the probability-flow ODE, and the reverse SDE on one
#: Brownian path per sample shared by every step count (the strong study's setting).
REGIME_ETA = {"deterministic": 0.0, "strong": 1.0}
# 2 … 2048: one doubling past the strong (η = 1) bfloat16 limits, which lie near 1000 steps
DEFAULT_STEPS = tuple(2 ** k for k in range(1, 12))
QUICK_STEPS = tuple(2 ** k for k in range(1, 9))  # 2 … 256
DEFAULT_PATHS, QUICK_PATHS = 400, 64
REPLICATES = 1000
PROBLEM = "gaussian"
RESULT_STEM, QUICK_STEM = "useful_steps", "useful_steps_quick"

#: Keys of one record of ``useful_steps.json`` (one scheme × schedule × dtype × regime).
RECORD_KEYS = ("scheme", "solver", "schedule", "dtype", "regime", "eta", "problem", "steps", "errors",
               "rounding", "rounding_ci_low", "rounding_ci_high", "half_errors", "limit",
               "limit_ci_low", "limit_ci_high", "limit_outside", "limit_text", "paths", "seed",
               "replicates")


def _model_dtype(dtype, name: str = "dtype") -> torch.dtype:
    if isinstance(dtype, str):
        if dtype not in MODEL_DTYPES:
            raise ValueError(f"{name} must be one of {tuple(MODEL_DTYPES)}, got {dtype!r}")
        return MODEL_DTYPES[dtype]
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"{name} must be a torch.dtype or one of {tuple(MODEL_DTYPES)}, got "
                        f"{type(dtype).__name__}")
    if dtype not in MODEL_DTYPES.values():
        raise ValueError(f"{name} must be one of torch.bfloat16, torch.float16, torch.float32, got {dtype}")
    return dtype


def _dtype_name(dtype: torch.dtype) -> str:
    return next(k for k, v in MODEL_DTYPES.items() if v == dtype)


class HalfPrecisionDenoiser:
    """A denoiser ``fn(x, σ̃)`` evaluated as a half-precision network is, inside a float32 pipeline.

    A call rounds the input x to ``dtype`` (round to nearest even, ``Tensor.to``), evaluates the
    wrapped denoiser on that half-precision tensor, rounds its output to ``dtype`` and returns it
    in x's dtype (exactly: every half value is a float32 value). These two roundings, of the
    network's input and of its output, are all it models. A real network also rounds its weights,
    activations and sums inside; its error is at least this one, so a useful-steps limit measured
    with this wrapper is an upper bound on the useful steps of a real half-precision network.

    σ̃ (and any keyword argument) is passed on unchanged, not rounded to ``dtype``: in the studies
    of this module it is the float32 tensor of shape ``(batch,)`` that
    :class:`~seeds_verify.solvers.DiffusionModel` builds from e^{−λ} in the state's dtype, and the
    analytic denoisers evaluate their σ̃-dependent factors from it in float64. The exact model of
    the comparison receives the same σ̃, so the measured rounding holds no rounding of σ̃.

    Args:
        denoiser: the model in the k-diffusion convention, ``denoiser(x, sigma, **kw)`` → D.
        dtype: ``torch.bfloat16``, ``torch.float16`` or ``torch.float32`` (or their names); with
            float32 a float32 pipeline gains no rounding at all.
    """

    def __init__(self, denoiser: Callable, dtype):
        if not callable(denoiser):
            raise TypeError(f"denoiser must be callable, got {type(denoiser).__name__}")
        self.denoiser = denoiser
        self.dtype = _model_dtype(dtype)

    def __repr__(self) -> str:
        return f"HalfPrecisionDenoiser({self.denoiser!r}, {self.dtype})"

    def __call__(self, x: torch.Tensor, sigma, **kwargs) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
            raise TypeError(f"x must be a floating-point torch.Tensor, got "
                            f"{getattr(x, 'dtype', type(x).__name__)}")
        out = self.denoiser(x.to(self.dtype), sigma, **kwargs)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"denoiser must return a torch.Tensor, got {type(out).__name__}")
        return out.to(self.dtype).to(x.dtype)


# --------------------------------------------------------------------------------------------
# The limit: where the falling discretisation error meets the rounding
# --------------------------------------------------------------------------------------------


def crossing(steps, errors, rounding):
    """N* of one ladder (a float), or of each row of 2-D ``errors`` and ``rounding`` (an array),
    docs/precision.md.

    The first ladder point i with E_i ≤ R_i; N* interpolates log E − log R linearly in log N
    between it and point i − 1 (the meeting point of the two log–log segments). +inf when E > R at
    every point (the limit lies beyond the ladder), −inf when already E_0 ≤ R_0 (before it).
    """
    n = np.log(np.asarray(steps, dtype=np.float64))
    e = np.atleast_2d(np.asarray(errors, dtype=np.float64))
    r = np.atleast_2d(np.asarray(rounding, dtype=np.float64))
    if e.shape != r.shape or e.shape[-1] != n.size:
        raise ValueError(f"errors and rounding must both have {n.size} entries per row, got shapes "
                         f"{np.shape(errors)} and {np.shape(rounding)}")
    below = e <= r
    first = np.argmax(below, axis=-1)
    out = np.full(e.shape[0], np.inf)
    hit = below.any(axis=-1)
    out[hit & (first == 0)] = -np.inf
    rows = np.nonzero(hit & (first > 0))[0]
    if rows.size:
        i = first[rows]
        with np.errstate(divide="ignore"):
            d0 = np.log(e[rows, i - 1]) - np.log(r[rows, i - 1])  # > 0 (R = 0 gives +inf)
            d1 = np.log(e[rows, i]) - np.log(r[rows, i])  # ≤ 0 (E = 0 gives −inf)
        with np.errstate(invalid="ignore"):
            t = np.where(np.isinf(d0), 1.0, np.where(np.isinf(d1), 0.0, d0 / (d0 - d1)))
        out[rows] = np.exp(n[i - 1] + t * (n[i] - n[i - 1]))
    return out if np.ndim(errors) == 2 else float(out[0])


@dataclass(frozen=True)
class UsefulStepsLimit:
    """N* and its interval; ±inf where a value lies beyond the ladder's ends ``first``, ``last``."""

    value: float
    ci_low: float
    ci_high: float
    first: int
    last: int

    @staticmethod
    def _side(v: float) -> str | None:
        return None if math.isfinite(v) else ("above" if v > 0 else "below")

    def number(self, v: float) -> float | None:
        """``v`` for the JSON record: None outside the ladder."""
        return float(v) if math.isfinite(v) else None

    def outside(self) -> dict:
        """{field: "above" | "below"} for the values outside the ladder (the record's
        ``limit_outside``)."""
        sides = {"limit": self._side(self.value), "limit_ci_low": self._side(self.ci_low),
                 "limit_ci_high": self._side(self.ci_high)}
        return {k: v for k, v in sides.items() if v is not None}

    def format(self, v: float) -> str:
        if v == math.inf:
            return f"> {self.last}"
        if v == -math.inf:
            return f"< {self.first}"
        return f"{v:.1f}" if round(v, 1) < 10 else f"{v:.0f}"  # two or more significant digits

    def text(self) -> str:
        """e.g. ``"181 [150, 220]"``, ``"> 1024 [870, > 1024]"``; ``"> 1024"`` alone when the
        interval too lies wholly beyond the ladder."""
        if not math.isfinite(self.value) and self.value == self.ci_low == self.ci_high:
            return self.format(self.value)
        return f"{self.format(self.value)} [{self.format(self.ci_low)}, {self.format(self.ci_high)}]"


def useful_steps_limit(steps, per_path_errors, per_path_rounding, *, replicates: int = REPLICATES,
                       seed: int = 0) -> tuple[UsefulStepsLimit, np.ndarray, np.ndarray]:
    """N* from per-path errors e_s(N) = ‖Y_full − Y_ref‖ and roundings r_s(N) = ‖Y_half − Y_full‖
    (shape (paths, steps)), with its 95 % percentile-bootstrap interval.

    Each replicate draws the paths with replacement (``numpy.random.default_rng(seed)``, the same
    draws for every step count, for E and for R: :func:`.statistics.bootstrap_order`'s
    convention) and recomputes N*; the interval ends are the empirical quantiles at
    :func:`.statistics.bootstrap_tail` (2.5 % widened for few paths) and 1 − that (order statistics, so a replicate whose limit lies beyond the ladder counts as
    beyond the end it misses). Also returns the 95 % interval of R(N) per step count.
    """
    steps = check_steps(steps)
    e = np.asarray(per_path_errors, dtype=np.float64)
    r = np.asarray(per_path_rounding, dtype=np.float64)
    if e.ndim != 2 or e.shape != r.shape or e.shape[1] != len(steps) or e.shape[0] < 2:
        raise ValueError(f"per_path_errors and per_path_rounding must have the same shape (paths >= 2, "
                         f"{len(steps)}), got {e.shape} and {r.shape}")
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(r))):
        raise ValueError("per_path_errors and per_path_rounding must be finite")
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 10:
        raise ValueError(f"replicates must be an int >= 10, got {replicates!r}")
    paths = e.shape[0]
    value = crossing(steps, e.mean(axis=0), r.mean(axis=0))
    rng = np.random.default_rng(seed)
    limits = np.empty(replicates)
    boot_r = np.empty((replicates, len(steps)))
    block = max(1, 2_000_000 // e.size)
    for start in range(0, replicates, block):
        stop = min(replicates, start + block)
        idx = rng.integers(0, paths, size=(stop - start, paths))
        be, br = e[idx].mean(axis=1), r[idx].mean(axis=1)
        limits[start:stop] = crossing(steps, be, br)
        boot_r[start:stop] = br
    q = S.bootstrap_tail(paths)
    lo, hi = np.quantile(limits, [q, 1.0 - q], method="inverted_cdf")
    r_lo, r_hi = np.quantile(boot_r, [q, 1.0 - q], axis=0)
    return UsefulStepsLimit(value, float(lo), float(hi), steps[0], steps[-1]), r_lo, r_hi


# --------------------------------------------------------------------------------------------
# The runs
# --------------------------------------------------------------------------------------------


def ladder_runs(scheme: str, setup: StudySetup, models: Mapping[str, Callable]) -> dict[str, list[torch.Tensor]]:
    """End states (α = 1 coordinates, float64) of ``scheme`` (a :func:`.parse_solver` spelling, run
    in the data form) on every grid of ``setup``, one ladder per denoiser of ``models``: all from
    the same float32 start (``setup.start_points()`` rounded to float32) and, for η > 0, the same
    Brownian path (``setup.path()``), with the state and coefficients in float32."""
    choice = parse_solver(scheme)
    y0 = setup.start_points().to(STATE_DTYPE)
    lams = [setup.grids[n] for n in setup.steps]
    a0 = float(setup.schedule.alpha_of_lam(setup.lam_start))
    a1 = float(setup.schedule.alpha_of_lam(setup.lam_end))
    noise = setup.path() if setup.eta > 0 else None
    out = {}
    for name, fn in models.items():
        model = DiffusionModel(fn, "denoiser", setup.schedule)
        ends = choice.build().solve_ladder(model, a0 * y0, lams, schedule=setup.schedule, noise=noise,
                                           eta=setup.eta, prediction="data")
        out[name] = [y.to(torch.float64) / a1 for y in ends]
        bad = [n for n, y in zip(setup.steps, out[name]) if not bool(torch.isfinite(y).all())]
        if bad:
            raise RuntimeError(f"{scheme} with the {name} model gave non-finite states at {bad} steps")
    return out


def _per_path(ends: Sequence[torch.Tensor], other) -> np.ndarray:
    """‖a − b‖ per path and ladder point: shape (paths, steps)."""
    if isinstance(other, torch.Tensor):
        other = [other] * len(ends)
    return torch.stack([(a - b).norm(dim=-1) for a, b in zip(ends, other)], dim=1).cpu().numpy()


def _check_names(values, allowed, name: str) -> tuple[str, ...]:
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence of names, got {type(values).__name__}")
    values = tuple(values)
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise ValueError(f"{name} must be a non-empty sequence from {tuple(allowed)}, got {values!r}")
    return values


def _check_int(value, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an int {bound}, got {value!r}")
    return int(value)


def useful_steps_study(*, schemes: Sequence[str] = SCHEMES, schedules: Sequence[str] = SCHEDULES,
                       dtypes: Sequence[str] = HALF_DTYPES, regimes: Sequence[str] = tuple(REGIME_ETA),
                       steps: Sequence[int] = DEFAULT_STEPS, paths: int = DEFAULT_PATHS, seed: int = 0,
                       replicates: int = REPLICATES, progress: bool = False) -> dict:
    """Useful-steps limits of every scheme × schedule × dtype × regime (module docstring).

    Each (scheme, schedule, regime) gets its own :class:`~.studies.StudySetup` on the Gaussian
    problem (float64 start draws, Brownian path and exact reference, seeded by ``seed``, so a
    record does not depend on the other schemes studied), one ladder with the exact model and one
    per dtype. ``schemes`` are :func:`.parse_solver` spellings of SEEDS schemes; ``dtypes`` names
    from :data:`MODEL_DTYPES`. Returns ``{"records": [...], "timings_s": {...}}``; records are
    dicts with the keys :data:`RECORD_KEYS`, a deterministic function of the arguments.
    """
    schemes = tuple(schemes) if not isinstance(schemes, str) else (schemes,)
    for s in schemes:
        if not isinstance(s, str) or not s.lower().startswith("seeds"):
            raise ValueError(f"schemes must name SEEDS schemes (seeds1, seeds2, seeds3, with options), got {s!r}")
        parse_solver(s)  # ValueError naming the bad option
    if not schemes:
        raise ValueError("schemes must not be empty")
    schedules = _check_names(schedules, SCHEDULES, "schedules")
    dtypes = _check_names(dtypes, tuple(MODEL_DTYPES), "dtypes")
    regimes = _check_names(regimes, tuple(REGIME_ETA), "regimes")
    steps = check_steps(steps)
    paths = _check_int(paths, "paths", 2)
    seed = _check_int(seed, "seed", 0, 2 ** 63 - 2)
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 10:
        raise ValueError(f"replicates must be an int >= 10, got {replicates!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool, got {type(progress).__name__}")
    from tqdm.auto import tqdm

    records, timings = [], {}
    total = len(schemes) * len(schedules) * len(regimes) * len(dtypes)
    with single_thread("cpu"), tqdm(total=total, disable=not progress, desc="useful steps",
                                    unit="curve") as bar:
        for scheme in schemes:
            choice = parse_solver(scheme)
            for schedule in schedules:
                for regime in regimes:
                    t0 = time.perf_counter()
                    bar.set_postfix_str(f"{scheme} {schedule} {regime}")
                    eta = REGIME_ETA[regime]
                    setup = StudySetup(PROBLEM, schedule, eta, steps, paths, seed, "cpu", torch.float64,
                                       tuple(f.denominator for f in choice.fractions))
                    ref = setup.reference()
                    exact = setup.problem.denoiser
                    models = {"exact": exact, **{d: HalfPrecisionDenoiser(exact, d) for d in dtypes}}
                    ends = ladder_runs(scheme, setup, models)
                    e = _per_path(ends["exact"], ref)
                    for d in dtypes:
                        r = _per_path(ends[d], ends["exact"])
                        limit, r_lo, r_hi = useful_steps_limit(steps, e, r, replicates=replicates, seed=seed)
                        records.append({
                            "scheme": scheme, "solver": choice.label, "schedule": schedule, "dtype": d,
                            "regime": regime, "eta": eta, "problem": PROBLEM, "steps": list(steps),
                            "errors": e.mean(axis=0).tolist(), "rounding": r.mean(axis=0).tolist(),
                            "rounding_ci_low": r_lo.tolist(), "rounding_ci_high": r_hi.tolist(),
                            "half_errors": _per_path(ends[d], ref).mean(axis=0).tolist(),
                            "limit": limit.number(limit.value), "limit_ci_low": limit.number(limit.ci_low),
                            "limit_ci_high": limit.number(limit.ci_high), "limit_outside": limit.outside(),
                            "limit_text": limit.text(), "paths": paths, "seed": seed,
                            "replicates": replicates})
                        bar.update()
                    timings[f"{scheme}/{schedule}/{regime}"] = round(time.perf_counter() - t0, 2)
    return {"records": records, "timings_s": timings}


def record_limit(rec: Mapping) -> UsefulStepsLimit:
    """The :class:`UsefulStepsLimit` of a record (±inf restored from ``limit_outside``)."""
    outside = rec.get("limit_outside") or {}

    def value(key):
        side = outside.get(key)
        if side is not None:
            return math.inf if side == "above" else -math.inf
        return float(rec[key])

    return UsefulStepsLimit(value("limit"), value("limit_ci_low"), value("limit_ci_high"),
                            int(rec["steps"][0]), int(rec["steps"][-1]))


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

_DTYPE_COLOURS = {"bfloat16": "#cf222e", "float16": "#0969da", "float32": "#1a7f37"}
_BAND_GREYS = {"bfloat16": "0.62", "float16": "0.82", "float32": "0.9"}
_SHORT = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


def draw_panel(ax, records: Sequence[Mapping]) -> None:
    """One (scheme, schedule, regime) on ``ax``: E(N) in black, per dtype the rounding R(N) as a
    grey band (its 95 % interval) with a coloured line, E_half(N) dotted and N* as a marker on E
    with its interval as a horizontal bar (an arrow where it runs off the ladder)."""
    first = records[0]
    steps = np.asarray(first["steps"], dtype=np.float64)
    errors = np.asarray(first["errors"], dtype=np.float64)
    ax.loglog(steps, errors, color="black", marker="o", ms=2.5, lw=1.2, label="E: float32 model")
    for j, rec in enumerate(records):
        colour = _DTYPE_COLOURS.get(rec["dtype"], "0.3")
        rounding = np.asarray(rec["rounding"], dtype=np.float64)
        ax.fill_between(steps, rec["rounding_ci_low"], rec["rounding_ci_high"],
                        color=_BAND_GREYS.get(rec["dtype"], "0.8"), alpha=0.7, lw=0, zorder=1)
        ax.loglog(steps, np.where(rounding > 0, rounding, np.nan), color=colour, lw=1.0,
                  label=f"R: {rec['dtype']} rounding")
        ax.loglog(steps, rec["half_errors"], color=colour, ls=":", lw=1.0,
                  label=f"E_half: {rec['dtype']} model")
        limit = record_limit(rec)
        if math.isfinite(limit.value):
            y = float(np.exp(np.interp(np.log(limit.value), np.log(steps), np.log(errors))))
            lo = limit.ci_low if math.isfinite(limit.ci_low) else steps[0]
            hi = limit.ci_high if math.isfinite(limit.ci_high) else steps[-1]
            ax.errorbar([limit.value], [y], xerr=[[limit.value - lo], [hi - limit.value]], fmt="D",
                        color=colour, ms=4, capsize=2, zorder=5)
        else:  # beyond the ladder: an arrow off its end, one height per dtype
            end = -1 if limit.value > 0 else 0
            at, y = steps[end], errors[end] * 1.25 ** (j - (len(records) - 1) / 2)
            ax.annotate("", xy=(at * 1.6 ** (1 if end else -1), y), xytext=(at, y),
                        arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.2})
    ax.set_xscale("log", base=2)
    ax.set_xlim(steps[0] / 1.3, steps[-1] * 1.9)
    texts = ", ".join(f"{_SHORT.get(r['dtype'], r['dtype'])} N* {r['limit_text']}" for r in records)
    ax.set_title(f"{first['scheme']} · {first['schedule']} · {first['regime']}\n{texts}", fontsize=6.5)


def _panels(records: Sequence[Mapping]) -> list[tuple[tuple, list]]:
    groups: dict = {}
    for rec in records:
        groups.setdefault((rec["schedule"], rec["regime"], rec["scheme"]), []).append(rec)
    return list(groups.items())


def plot_useful_steps(records: Sequence[Mapping], path: str | os.PathLike) -> None:
    """Every (scheme, schedule, regime) panel of :func:`draw_panel` in one PNG, written atomically;
    rows are schedule × regime, columns schemes."""
    from matplotlib.figure import Figure

    from ..files import atomic_write_bytes

    schemes = list(dict.fromkeys(r["scheme"] for r in records))
    rows = list(dict.fromkeys((r["schedule"], r["regime"]) for r in records))
    fig = Figure(figsize=(3.3 * len(schemes) + 0.4, 2.6 * len(rows) + 0.9))
    axes = fig.subplots(len(rows), len(schemes), squeeze=False)
    for (schedule, regime, scheme), recs in _panels(records):
        ax = axes[rows.index((schedule, regime))][schemes.index(scheme)]
        draw_panel(ax, recs)
        ax.tick_params(labelsize=6.5)
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("steps N", fontsize=7)
    for row in axes:
        row[0].set_ylabel("mean error over paths", fontsize=7)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=7, frameon=False)
    fig.suptitle("Useful steps of a half-precision denoiser: discretisation error E meets rounding R at N* "
                 "(95 % bootstrap interval)", fontsize=9)
    fig.tight_layout(rect=(0, 0.035, 1, 0.97))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())


def markdown_table(records: Sequence[Mapping]) -> str:
    """N* [95 % CI] per scheme × schedule × regime (rows) and dtype (columns), as Markdown."""
    dtypes = list(dict.fromkeys(r["dtype"] for r in records))
    rows: dict = {}
    for r in records:
        rows.setdefault((r["scheme"], r["schedule"], r["regime"]), {})[r["dtype"]] = r
    head = ["scheme", "schedule", "regime"] + [f"{d} N* [95 % CI]" for d in dtypes]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for (scheme, schedule, regime), cells in rows.items():
        out = [cells[d]["limit_text"] if d in cells else "–" for d in dtypes]
        lines.append(f"| {scheme} | {schedule} | {regime} | " + " | ".join(out) + " |")
    return "\n".join(lines)


def write_useful_steps(result: Mapping, out_dir: str | os.PathLike, stem: str = RESULT_STEM) -> list[str]:
    """``stem.json`` (``{"meta", "records"}``) and ``stem.png`` in ``out_dir``, each atomically."""
    return write_records(result, out_dir, stem, plot_useful_steps)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m seeds_verify.convergence.precision",
                                description="Useful-steps limit of SEEDS-1/2/3 with a bfloat16 or float16 "
                                            "denoiser: the step count beyond which the model's rounding, "
                                            "not the step size, sets the error (docs/precision.md).")
    p.add_argument("--quick", action="store_true",
                   help=f"ladder {QUICK_STEPS[0]}..{QUICK_STEPS[-1]} and {QUICK_PATHS} paths; writes "
                        f"{QUICK_STEM}.json/.png")
    p.add_argument("--out", default=os.path.join("benchmarks", "results"),
                   help=f"output folder (default benchmarks/results): {RESULT_STEM}.json and .png")
    p.add_argument("--seed", type=int, default=0, help="seed of start draws, paths and bootstrap (default 0)")
    p.add_argument("--paths", type=positive_int, default=None,
                   help=f"paths per curve (default {DEFAULT_PATHS}; quick {QUICK_PATHS})")
    p.add_argument("--schemes", type=comma_list(SCHEMES), default=SCHEMES,
                   help="comma list from seeds1, seeds2, seeds3 (default all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_seed_and_paths(parser, args.seed, args.paths)
    steps = QUICK_STEPS if args.quick else DEFAULT_STEPS
    paths = args.paths if args.paths is not None else (QUICK_PATHS if args.quick else DEFAULT_PATHS)
    make_out_dir(parser, args.out)
    run = recorded_run(lambda: useful_steps_study(schemes=args.schemes, steps=steps, paths=paths, seed=args.seed,
                                                  progress=not args.no_progress),
                       module="seeds_verify.convergence.precision", argv=argv, seed=args.seed,
                       dists=("torch", "numpy"))
    if run is None:
        return 130
    result, meta = run
    result["meta"] = {
        **meta, "timings_s": result.pop("timings_s"),
        "settings": {
            "preset": "quick" if args.quick else "full", "problem": PROBLEM, "schemes": list(args.schemes),
            "prediction": "data", "schedules": list(SCHEDULES), "dtypes": list(HALF_DTYPES),
            "regimes": dict(REGIME_ETA), "steps": list(steps), "paths": paths,
            "bootstrap_replicates": REPLICATES, "confidence": S.CONFIDENCE,
            "state_dtype": "float32 (state and solver coefficients)",
            "model": "HalfPrecisionDenoiser: input x rounded to the half dtype, analytic denoiser, output "
                     "rounded to the half dtype, returned as float32; sigma passed unchanged (float32)",
            "exact_model": "the analytic denoiser on the float32 state (float64 inside, float32 output)",
            "reference": "exact pathwise solution (eta = 1, same Brownian path) or exact ODE flow (eta = 0)",
            "limit": "first ladder point with E <= R, log-log interpolated with its predecessor",
            "torch_threads": 1,
        },
    }
    try:
        paths_written = write_useful_steps(result, args.out, QUICK_STEM if args.quick else RESULT_STEM)
    except KeyboardInterrupt:
        print("interrupted: files already replaced are complete, the rest untouched", file=sys.stderr)
        return 130
    print(markdown_table(result["records"]))
    print(f"\nwall time {meta['wall_time_s']:.1f} s; wrote {', '.join(paths_written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
