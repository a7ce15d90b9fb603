"""``python -m seeds_verify.audit``: convergence orders of every sampler in ``k_diffusion.sampling``
next to this package's SEEDS samplers, against the orders their papers state (MATH §9).

Every public ``sample_*`` function of k-diffusion (loaded by :mod:`seeds_verify.peers`) and
``sample_seeds_1/2/3`` (data form, default options) go through the convergence engine
(:func:`seeds_verify.convergence.verify_subject`, the layer under ``verify_sampler``):

* a sampler with a ``noise_sampler`` parameter is stochastic: the strong and weak regimes run at
  η = 1 with ``noise_sampler(σ_a, σ_b)`` reading the weighted increment of exponent k = η = 1
  (the exact noise term of every k-diffusion sampler at η = 1 and of the data-form SEEDS
  samplers), the deterministic regime with ``eta=0``;
* a sampler without one is run in the deterministic regime only;
* a sampler not in the ``sampler(model, x, sigmas, ...)`` convention (``sample_dpm_fast``,
  ``sample_dpm_adaptive``: they build their own λ-grid from ``sigma_min``, ``sigma_max``) is
  reported as not applicable, with the reason.

Declared orders are those a source states, kept with the source in :data:`CLAIMS`; a regime
without one is only measured (verdict ``measured``). The verdicts are the engine's (a fit through
fewer than three ladder points is ``inconclusive`` there). :data:`NOTES` records
nominal orders that no source states (e.g. the Adams–Bashforth order of ``sample_lms``), which
are not declared.

The samplers of one (problem, schedule) share one :class:`~seeds_verify.convergence.SetupCache`:
start draws, Brownian paths and references are built once, not once per sampler (each setup is
seeded as in ``verify_sampler``, so the numbers are those ``verify_sampler`` gives one sampler at a
time). Evidence budgets per problem are :data:`FULL_BUDGETS` / :data:`QUICK_BUDGETS`.

Writes ``OUT/audit.json`` (``{"meta", "records"}``, one record per sampler × regime × problem ×
schedule, not-applicable ones included) and ``OUT/audit.png`` atomically and prints a table.
Exit status: 0 done, 1 one of this package's own samplers fails an order it declares, 2 bad
arguments, 130 interrupted (nothing written).
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

from .arguments import comma_list, positive_int
from .runs import check_seed_and_paths, make_out_dir, recorded_run, write_records
from .convergence import statistics as S

__all__ = ["Budget", "AuditSampler", "AuditConfig", "CLAIMS", "NOTES", "SOURCES", "FULL_BUDGETS",
           "QUICK_BUDGETS", "RECORD_KEYS", "NOT_APPLICABLE", "audit_samplers",
           "run_audit", "plot_audit", "write_audit", "markdown_table", "main"]

NOT_APPLICABLE = "not applicable"
#: A verdict (or a ``measured`` order) needs a fit through at least this many ladder points; the
#: engine also fits two, which on Monte Carlo ladders are the coarsest ones (see run_audit).
REGIME_ETA = {"strong": 1.0, "weak": 1.0, "deterministic": 0.0}

# --------------------------------------------------------------------------------------------
# Published orders
# --------------------------------------------------------------------------------------------

SOURCES = {
    "edm": ("Karras, Aittala, Aila, Laine, 'Elucidating the Design Space of Diffusion-Based "
            "Generative Models', NeurIPS 2022, arXiv:2206.00364"),
    "dpm_solver": ("Lu, Zhou, Bao, Chen, Li, Zhu, 'DPM-Solver: A Fast ODE Solver for Diffusion "
                   "Probabilistic Model Sampling in Around 10 Steps', NeurIPS 2022, arXiv:2206.00927"),
    "dpm_solver_pp": ("Lu, Zhou, Bao, Chen, Li, Zhu, 'DPM-Solver++: Fast Solver for Guided Sampling "
                      "of Diffusion Probabilistic Models', 2022, arXiv:2211.01095"),
    "seeds": ("Gonzalez, Fernandez, Tran, Gherbi, Hajri, Masmoudi, 'SEEDS: Exponential SDE Solvers "
              "for Fast High-Quality Sampling from Diffusion Models', NeurIPS 2023, arXiv:2305.14267"),
}


def _seeds_claims(spec) -> dict:
    """Declared orders of a SEEDS sampler from :mod:`seeds_verify.schemes` (data form)."""
    name = spec.name.split("_")[0].upper().replace("SEEDS", "SEEDS-")
    weak_note = ("; weak order 2 rather than 3 is this package's analysis (local second-moment "
                 "error O(h^3) on the linear test problem, seeds_verify.schemes.seeds3_spec)"
                 if spec.name.startswith("seeds3") else "")
    return {
        "strong": (spec.strong_order, f"{SOURCES['seeds']} (strong convergence of {name}); "
                                      "docs/MATH.md §9"),
        "weak": (float(spec.weak_order), f"seeds_verify.schemes ({name} weak order, predicted by "
                                         f"seeds_verify.analytic.predicted_orders){weak_note}"),
        "deterministic": (float(spec.deterministic_order),
                          f"seeds_verify.schemes: {name} at eta = 0 is an exponential integrator of "
                          f"order {spec.deterministic_order} (docs/MATH.md §9)"),
    }


def _claims() -> dict:
    from .schemes import seeds1_spec, seeds2_spec, seeds3_spec

    edm, dpm, dpp = SOURCES["edm"], SOURCES["dpm_solver"], SOURCES["dpm_solver_pp"]
    return {
        # ODE samplers: the orders their papers state for the probability-flow ODE.
        "sample_euler": {"deterministic": (1.0, f"{edm} (Euler's method, first order, Sec. 3)")},
        "sample_heun": {"deterministic": (2.0, f"{edm} (Algorithm 1, Heun's second-order method)")},
        "sample_dpm_2": {"deterministic": (2.0, f"{dpm} (DPM-Solver-2: the step in VE form with the "
                                                "stage at the log-sigma midpoint)")},
        "sample_dpmpp_2m": {"deterministic": (2.0, f"{dpp} (DPM-Solver++(2M), second order)")},
        # Stochastic samplers: no source states a strong or weak order at eta = 1; at eta = 0
        # each one's step is a published ODE scheme.
        "sample_euler_ancestral": {"deterministic": (1.0, f"{dpm} (at eta = 0 the step is DDIM = "
                                                          "DPM-Solver-1, first order)")},
        "sample_dpm_2_ancestral": {"deterministic": (2.0, f"{dpm} (at eta = 0 the step is DPM-Solver-2)")},
        "sample_dpmpp_2s_ancestral": {"deterministic": (2.0, f"{dpp} (at eta = 0 the step is "
                                                             "DPM-Solver++(2S), second order)")},
        "sample_dpmpp_sde": {"deterministic": (2.0, f"{dpp} (at eta = 0 the step is DPM-Solver++(2S) "
                                                    "with r = 1/2, second order)")},
        "sample_dpmpp_2m_sde": {"deterministic": (2.0, f"{dpp} (at eta = 0 the step is "
                                                       "DPM-Solver++(2M), second order)")},
        "sample_seeds_1": _seeds_claims(seeds1_spec()),
        "sample_seeds_2": _seeds_claims(seeds2_spec()),
        "sample_seeds_3": _seeds_claims(seeds3_spec()),
    }


#: sampler name → regime → (declared order, source). Regimes not listed are measured only.
CLAIMS: dict = _claims()

#: Orders that no source states, recorded (not declared) so the table can show them.
NOTES = {
    "sample_lms": ("nominal order 4 (variable-step Adams-Bashforth of order 4 in sigma; no paper is "
                   "cited); started with orders 1, 2, 3, whose first step limits the global error "
                   "to O(h^2) in general"),
    "sample_dpmpp_3m_sde": ("nominal order 3 at eta = 0 (k-diffusion's third-order multistep "
                            "DPM-Solver++; no published order); its first step is first order"),
    "sample_euler_ancestral": "at eta = 1 the step is the exponential Euler-Maruyama step (DDPM ancestral)",
    "sample_dpm_2_ancestral": ("at eta = 1 the second stage sits at sigma_{i+1} and sees no noise: an "
                               "ODE correction over [lambda_i, lambda_i + 2h] plus fresh noise"),
    "sample_dpmpp_sde": ("its two noise calls per step, (sigma_i, sigma_mid) and (sigma_i, sigma_i+1), "
                         "overlap; read here as nested increments of one path"),
    "sample_dpm_fast": ("DPM-Solver-fast (DPM-Solver-3 steps, order 3 per "
                        "arXiv:2206.00927) on its own uniform lambda-grid"),
    "sample_dpm_adaptive": "DPM-Solver-12/23 with adaptive steps (arXiv:2206.00927)",
    "sample_seeds_3": "SEEDS-3 (3a, r_1 = 1/3, r_2 = 2/3), data form",
    "sample_seeds_2": "SEEDS-2 (phi_1, r = 1/2), data form",
    "sample_seeds_1": "SEEDS-1, data form",
}

# --------------------------------------------------------------------------------------------
# Evidence budgets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """The ladder of one problem: starting step counts and paths, and the most the engine may buy
    while a declared order stays inconclusive (``max_paths``, ``max_steps``; see studies.settle).

    ``max_steps_deterministic`` (default ``max_steps``) replaces ``max_steps`` in the
    deterministic regime, whose references (exact flow or ``solve_ivp``) stay cheap on any ladder.
    """

    steps: tuple[int, ...]
    paths: int
    max_paths: int
    max_steps: int
    max_steps_deterministic: int | None = None

    def ladder(self, regime: str = "strong"):
        """The engine's :class:`~seeds_verify.convergence.Ladder` for ``regime``."""
        from .convergence import Ladder

        top = self.max_steps
        if regime == "deterministic" and self.max_steps_deterministic is not None:
            top = self.max_steps_deterministic
        return Ladder(tuple(self.steps), int(self.paths), int(self.max_paths), int(top))

    def with_paths(self, paths: int) -> "Budget":
        """The same budget started from ``paths`` samples (escalation scaled alike)."""
        factor = self.max_paths // self.paths
        return replace(self, paths=paths, max_paths=paths * factor)

    def as_dict(self) -> dict:
        return {"steps": list(self.steps), "paths": self.paths, "max_paths": self.max_paths,
                "max_steps": self.max_steps,
                "max_steps_deterministic": self.max_steps_deterministic or self.max_steps}


# Gaussian: the engine's defaults (exact weak moments and exact strong references are cheap).
# Mixture: the strong reference is a fine SEEDS-2 solve on a path of lcm(steps) × 6 × 24 cells
# and the weak regime is Monte Carlo on the same paths, so the stochastic ladder stops at 128
# steps and 500 paths, doubled once (1000) while a declared order is inconclusive; a longer
# ladder would need a new path and a new reference. Its deterministic regime (solve_ivp
# reference) may extend the ladder up to 1024 steps.
FULL_BUDGETS = {
    "gaussian": Budget((4, 8, 16, 32, 64, 128, 256), 1000, 8000, 2048),
    "gmm": Budget((8, 16, 32, 64, 128), 500, 1000, 128, 1024),
}
QUICK_BUDGETS = {
    "gaussian": Budget((16, 32, 64, 128, 256), 200, 200, 256),
    "gmm": Budget((8, 16, 32, 64), 100, 100, 64),
}
DEFAULT_PROBLEMS = ("gaussian", "gmm")
DEFAULT_SCHEDULES = ("vp_linear", "edm")

# --------------------------------------------------------------------------------------------
# The samplers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditSampler:
    """One sampler of the audit.

    Attributes:
        name: its function name (``sample_euler``), the key of :data:`CLAIMS` and :data:`NOTES`.
        label: ``module:function``, the ``sampler`` of its records.
        family: ``k-diffusion`` or ``seeds_verify``.
        fn: the function; None when it cannot be run.
        stochastic: whether it takes a ``noise_sampler``.
        unavailable: why it is not run (all its records are ``not applicable``), or None.
        weight_exponent: the k its ``noise_sampler`` increments are read with (MATH §4); None: η.
    """

    name: str
    label: str
    family: str
    fn: Callable | None
    stochastic: bool
    unavailable: str | None = None
    weight_exponent: float | None = None

    def regimes(self) -> tuple[str, ...]:
        """The regimes it is run in."""
        if self.unavailable:
            return ()
        return ("strong", "weak", "deterministic") if self.stochastic else ("deterministic",)

    def skipped(self) -> dict:
        """regime → why it is not run, for the regimes :meth:`regimes` leaves out."""
        if self.unavailable:
            return {g: self.unavailable for g in REGIME_ETA}
        return {g: "the sampler has no noise_sampler parameter (deterministic): only the "
                   "deterministic regime applies" for g in ("strong", "weak") if not self.stochastic}


def _convention(fn: Callable) -> tuple[bool, str | None, bool]:
    """(in the (model, x, sigmas, ...) convention, why not, takes a noise_sampler)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError) as exc:
        return False, f"its signature cannot be read ({exc})", False
    names = list(params)
    stochastic = "noise_sampler" in params
    if names[:3] == ["model", "x", "sigmas"]:
        return True, None, stochastic
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    return False, (f"not in the sampler(model, x, sigmas, ...) convention: its signature is "
                   f"({shown}); it builds its own lambda-grid from sigma_min and sigma_max, so it "
                   f"cannot be run on the study's grids"), stochastic


def _entry(name: str, fn: Callable, family: str, module: str) -> AuditSampler:
    ok, why, stochastic = _convention(fn)
    return AuditSampler(name, f"{module}:{name}", family, fn if ok else None, stochastic, why)


def k_diffusion_samplers() -> tuple[list[AuditSampler], str | None]:
    """Every public ``sample_*`` function of ``k_diffusion.sampling``, or ([], why it is absent)."""
    from .peers import PeerUnavailable, k_diffusion_sampling

    try:
        ks = k_diffusion_sampling()
    except PeerUnavailable as exc:
        return [], str(exc)
    names = sorted(n for n in dir(ks) if n.startswith("sample_") and callable(getattr(ks, n)))
    return [_entry(n, getattr(ks, n), "k-diffusion", "k_diffusion.sampling") for n in names], None


def seeds_samplers() -> list[AuditSampler]:
    """``sample_seeds_1/2/3`` of :mod:`seeds_verify.samplers` (data form, default options)."""
    from . import samplers

    return [_entry(n, getattr(samplers, n), "seeds_verify", "seeds_verify.samplers")
            for n in ("sample_seeds_1", "sample_seeds_2", "sample_seeds_3")]


def audit_samplers(include_k_diffusion: bool = True,
                   only: Sequence[str] | None = None) -> tuple[list[AuditSampler], str | None]:
    """k-diffusion's samplers (when wanted and installed) then ours; ``only`` keeps the names listed
    (ValueError for an unknown one). The second value says why k-diffusion is missing, or None."""
    entries, reason = (k_diffusion_samplers() if include_k_diffusion else ([], "not requested"))
    entries = entries + seeds_samplers()
    if only is not None:
        wanted = list(dict.fromkeys(only))
        known = {e.name for e in entries}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            hint = f" (k-diffusion: {reason})" if reason and reason != "not requested" else ""
            raise ValueError(f"unknown sampler(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}{hint}")
        entries = [e for e in entries if e.name in wanted]
    return entries, reason

# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


RECORD_KEYS = ("sampler", "family", "regime", "problem", "schedule", "eta", "measured_order", "ci_low",
               "ci_high", "ci_method", "declared", "source", "verdict", "reason", "note", "paths",
               "finest_steps", "fit_steps", "fitted_points", "step_counts", "errors", "weight_exponent",
               "seconds")


@dataclass
class AuditConfig:
    """What :func:`run_audit` runs: samplers × problems × schedules with per-problem budgets."""

    samplers: Sequence[AuditSampler]
    problems: Sequence[str] = DEFAULT_PROBLEMS
    schedules: Sequence[str] = DEFAULT_SCHEDULES
    budgets: Mapping[str, Budget] = field(default_factory=lambda: dict(FULL_BUDGETS))
    seed: int = 0
    tolerance: float = 0.25
    replicates: int = 1000
    device: str = "cpu"
    claims: Mapping[str, Mapping] = field(default_factory=lambda: CLAIMS)
    notes: Mapping[str, str] = field(default_factory=lambda: NOTES)

    def __post_init__(self):
        missing = [p for p in self.problems if p not in self.budgets]
        if missing:
            raise ValueError(f"no evidence budget for problem(s) {', '.join(missing)}")

    def units(self) -> int:
        """Studies to run (the progress bar's total)."""
        return len(self.problems) * len(self.schedules) * sum(len(s.regimes()) for s in self.samplers)


def _declared(claims: Mapping, name: str, regime: str) -> tuple[float | None, str | None]:
    order, source = claims.get(name, {}).get(regime, (None, None))
    return (None if order is None else float(order)), source


def _base_record(s: AuditSampler, regime: str, problem: str, schedule: str, claims: Mapping,
                 notes: Mapping | None = None) -> dict:
    declared, source = _declared(claims, s.name, regime)
    rec = dict.fromkeys(RECORD_KEYS)
    rec.update(sampler=s.label, family=s.family, regime=regime, problem=problem, schedule=schedule,
               eta=REGIME_ETA[regime], declared=declared, source=source,
               note=(NOTES if notes is None else notes).get(s.name))
    return rec


def _fitted_points(r) -> int:
    """How many ladder points the engine's fit used (0 without a fit)."""
    if not r.fit_steps:
        return 0
    steps = list(r.step_counts)
    return steps.index(r.fit_steps[1]) - steps.index(r.fit_steps[0]) + 1


def _record(s: AuditSampler, r, claims: Mapping, notes: Mapping | None = None) -> dict:
    rec = _base_record(s, r.regime, r.problem, r.schedule, claims, notes)
    rec.update(eta=r.eta, measured_order=r.measured_order, ci_low=r.ci_low, ci_high=r.ci_high,
               ci_method=r.ci_method, verdict=r.verdict, reason=r.reason, paths=r.paths,
               finest_steps=r.step_counts[-1] if r.step_counts else None,
               fit_steps=list(r.fit_steps) if r.fit_steps else None, step_counts=list(r.step_counts),
               errors=list(r.errors), weight_exponent=r.weight_exponent, seconds=round(r.seconds, 3),
               fitted_points=_fitted_points(r))
    return rec


def run_audit(config: AuditConfig, progress: bool = True) -> dict:
    """Run every study of ``config``; returns ``{"records": [...], "timings": {...}}``.

    Records are dicts with the keys :data:`RECORD_KEYS`, in the order sampler, problem, schedule,
    regime (strong, weak, deterministic). ``timings`` gives the seconds per ``problem/schedule``.

    """
    from tqdm.auto import tqdm

    from .convergence import SetupCache, sampler_subject, verify_subject
    from .convergence.suite import single_thread

    by_key: dict = {}
    timings: dict = {}
    with single_thread(config.device), tqdm(total=config.units(), disable=not progress,
                                            desc="audit", unit="study") as bar:
        for problem in config.problems:
            budget = config.budgets[problem]
            for schedule in config.schedules:
                t0 = time.perf_counter()
                setups = SetupCache(seed=config.seed, device=config.device)  # freed after the combo
                for s in config.samplers:
                    for regime, why in s.skipped().items():
                        rec = _base_record(s, regime, problem, schedule, config.claims, config.notes)
                        rec.update(verdict=NOT_APPLICABLE, reason=why)
                        by_key[(s.label, problem, schedule, regime)] = rec
                    if not s.regimes():
                        continue
                    declared = {g: _declared(config.claims, s.name, g)[0] for g in s.regimes()}
                    subject = sampler_subject(s.fn, eta=1.0 if s.stochastic else 0.0,
                                              declared={g: o for g, o in declared.items() if o is not None},
                                              label=s.label, weight_exponent=s.weight_exponent)
                    for regime in s.regimes():
                        bar.set_postfix_str(f"{problem} {schedule} {s.name} {regime}")
                        result = verify_subject(subject, regimes=(regime,), problem=problem,
                                                schedule=schedule, ladder=budget.ladder(regime),
                                                setups=setups, tolerance=config.tolerance,
                                                replicates=config.replicates)
                        if regime in result.regimes:
                            rec = _record(s, result.regimes[regime], config.claims, config.notes)
                        else:  # the engine found it not applicable (e.g. no eta to set to 0)
                            rec = _base_record(s, regime, problem, schedule, config.claims, config.notes)
                            rec.update(verdict=NOT_APPLICABLE, reason=result.not_applicable.get(regime))
                        by_key[(s.label, problem, schedule, regime)] = rec
                        bar.update()
                del setups
                timings[f"{problem}/{schedule}"] = round(time.perf_counter() - t0, 1)
    order = {g: i for i, g in enumerate(REGIME_ETA)}
    labels = {s.label: i for i, s in enumerate(config.samplers)}
    probs = {p: i for i, p in enumerate(config.problems)}
    scheds = {p: i for i, p in enumerate(config.schedules)}
    records = sorted(by_key.values(), key=lambda r: (labels[r["sampler"]], probs[r["problem"]],
                                                     scheds[r["schedule"]], order[r["regime"]]))
    return {"records": records, "timings": timings}

# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def plot_audit(records: Sequence[Mapping], path: str) -> None:
    """Measured order with its 95 % interval per sampler, one panel per regime; one marker per
    (problem, schedule); the declared order as a black bar; failing or inconclusive verdicts against
    a declared order edged in red; slopes through fewer than :data:`S.MIN_FIT_POINTS` points hollow,
    without interval; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .files import atomic_write_bytes

    samplers = list(dict.fromkeys(r["sampler"] for r in records))
    combos = list(dict.fromkeys((r["problem"], r["schedule"]) for r in records))
    regimes = [g for g in REGIME_ETA if any(r["regime"] == g for r in records)]
    markers = {"gaussian": "o", "gmm": "s"}
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(regimes), figsize=(4.2 * len(regimes) + 2.5, 0.42 * len(samplers) + 1.8),
                             sharey=True, squeeze=False)
    axes = axes[0]
    offsets = {c: (i - (len(combos) - 1) / 2) * 0.16 for i, c in enumerate(combos)}
    ypos = {s: len(samplers) - 1 - i for i, s in enumerate(samplers)}
    for ax, regime in zip(axes, regimes):
        for rec in (r for r in records if r["regime"] == regime):
            y = ypos[rec["sampler"]]
            if rec["verdict"] == NOT_APPLICABLE:
                continue
            if rec.get("declared") is not None:
                ax.plot([rec["declared"]] * 2, [y - 0.38, y + 0.38], color="black", lw=2.2, zorder=1)
            order = rec.get("measured_order")
            if order is None:
                continue
            c = (rec["problem"], rec["schedule"])
            lo = rec["ci_low"] if rec.get("ci_low") is not None else order
            hi = rec["ci_high"] if rec.get("ci_high") is not None else order
            bad = rec["verdict"] in (S.FAIL, S.INCONCLUSIVE) and rec.get("declared") is not None
            color = colors(combos.index(c) % 10)
            if (rec.get("fitted_points") or S.MIN_FIT_POINTS) < S.MIN_FIT_POINTS:  # a slope, not an order
                ax.plot([order], [y + offsets[c]], ls="", marker=markers.get(c[0], "D"), ms=5, mfc="none",
                        mec=color, mew=1.0, zorder=3)
                continue
            ax.errorbar([order], [y + offsets[c]], xerr=[[max(order - lo, 0)], [max(hi - order, 0)]],
                        fmt=markers.get(c[0], "D"), ms=5, capsize=2, zorder=3, color=color,
                        mec="red" if bad else None, mew=1.6 if bad else 0.5)
        for s in samplers:
            if all(r["verdict"] == NOT_APPLICABLE for r in records if r["sampler"] == s and r["regime"] == regime):
                ax.text(0.02, ypos[s], "n/a", transform=ax.get_yaxis_transform(), va="center",
                        fontsize=7, color="0.5")
        ax.set_title(f"{regime} (eta = {REGIME_ETA[regime]:g})")
        ax.set_xlabel("order")
        ax.set_xlim(0, 4.4)
        ax.set_xticks([0, 1, 2, 3, 4])
        ax.grid(True, axis="x", alpha=0.3)
        for y in range(len(samplers)):
            ax.axhline(y - 0.5, color="0.9", lw=0.6, zorder=0)
    axes[0].set_yticks([ypos[s] for s in samplers])
    axes[0].set_yticklabels([s.split(":")[-1] for s in samplers], fontsize=8)
    axes[0].set_ylim(-0.6, len(samplers) - 0.4)
    handles = [plt.Line2D([], [], ls="", marker=markers.get(p, "D"), color=colors(i % 10), label=f"{p}, {s}")
               for i, (p, s) in enumerate(combos)]
    handles += [plt.Line2D([], [], color="black", lw=2.2, label="declared order"),
                plt.Line2D([], [], ls="", marker="o", mfc="white", mec="red", mew=1.6,
                           label="fail / inconclusive vs declared"),
                plt.Line2D([], [], ls="", marker="o", mfc="none", mec="0.4",
                           label=f"slope of < {S.MIN_FIT_POINTS} points (no verdict)")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.suptitle("Measured convergence orders (95% intervals)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _json_default(obj):
    import numpy as np

    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, (np.ndarray, tuple)):
        return list(obj)
    return str(obj)


def write_audit(result: dict, out_dir: str, stem: str = "audit") -> list[str]:
    """``{stem}.json`` and ``{stem}.png`` in ``out_dir``, each written atomically; returns the paths."""
    return write_records(result, out_dir, stem, plot_audit, json_default=_json_default)


def _fmt(v, spec=".2f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(records: Sequence[Mapping], stream=None) -> None:
    """One line per record: sampler, regime, problem, schedule, order [CI], declared, verdict."""
    stream = sys.stdout if stream is None else stream
    head = (f"{'sampler':27s} {'regime':13s} {'problem':8s} {'schedule':9s} {'order':>6s} "
            f"{'95% CI':>13s} {'decl':>4s} {'verdict':14s}")
    print(head, file=stream)
    print("-" * len(head), file=stream)
    for r in records:
        ci = "" if r.get("ci_low") is None else f"[{r['ci_low']:.2f},{r['ci_high']:.2f}]"
        print(f"{r['sampler'].split(':')[-1]:27s} {r['regime']:13s} {r['problem']:8s} {r['schedule']:9s} "
              f"{_fmt(r.get('measured_order')):>6s} {ci:>13s} {_fmt(r.get('declared'), 'g'):>4s} "
              f"{r['verdict']:14s}", file=stream)


SOURCE_TAGS = {"edm": "EDM", "dpm_solver": "DPM-Solver", "dpm_solver_pp": "DPM-Solver++", "seeds": "SEEDS"}


def _source_tag(source: str | None, tags_by_source: Mapping[str, str] | None = None) -> str:
    if not source:
        return ""
    known = tags_by_source if tags_by_source is not None else {SOURCES[k]: t for k, t in SOURCE_TAGS.items()}
    tags = [tag for text, tag in known.items() if text in source]
    if source.startswith("seeds_verify."):
        tags.append("seeds_verify")
    return ", ".join(tags) or "see audit.json"


def markdown_table(records: Sequence[Mapping], source_tags: Mapping[str, str] | None = None) -> str:
    """The records as a Markdown table: one row per sampler and regime, one column per
    (problem, schedule) with ``order [95% CI] verdict``; the declared order with a short source tag
    (full sources in the records; ``source_tags`` maps a source text to its tag, default
    :data:`SOURCES` → :data:`SOURCE_TAGS`). Rows whose every cell is not applicable are left out."""
    combos = list(dict.fromkeys((r["problem"], r["schedule"]) for r in records))
    rows: dict = {}
    for r in records:
        rows.setdefault((r["sampler"], r["regime"]), {})[(r["problem"], r["schedule"])] = r
    head = ["sampler", "regime", "declared (source)"] + [f"{p} · {s}" for p, s in combos]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for (sampler, regime), cells in rows.items():
        if all(c["verdict"] == NOT_APPLICABLE for c in cells.values()):
            continue
        first = next(iter(cells.values()))
        declared = ("–" if first["declared"] is None
                    else f"{first['declared']:g} ({_source_tag(first['source'], source_tags)})")
        out = []
        for combo in combos:
            c = cells.get(combo)
            if c is None or c["verdict"] == NOT_APPLICABLE:
                out.append("n/a")
                continue
            order = "–" if c["measured_order"] is None else f"{c['measured_order']:.2f}"
            ci = "" if c["ci_low"] is None else f" [{c['ci_low']:.2f}, {c['ci_high']:.2f}]"
            if c["measured_order"] is not None and (c.get("fitted_points") or S.MIN_FIT_POINTS) < S.MIN_FIT_POINTS:
                out.append(f"– ({c['fitted_points']}-point slope {order}) {c['verdict']}")
                continue
            verdict = c["verdict"] if c["verdict"] != S.FAIL else "**fail**"
            out.append(f"{order}{ci} {verdict}")
        lines.append(f"| `{sampler.split(':')[-1]}` | {regime} | {declared} | " + " | ".join(out) + " |")
    return "\n".join(lines)


KD_DISTS = ("k-diffusion", "torch", "torchsde", "numpy", "scipy")


def build_parser() -> argparse.ArgumentParser:
    from .schedules import SCHEDULES

    p = argparse.ArgumentParser(prog="python -m seeds_verify.audit",
                                description="Strong, weak and deterministic orders of every sampler in "
                                            "k_diffusion.sampling and of sample_seeds_1/2/3, against "
                                            "their published orders.")
    p.add_argument("--quick", action="store_true", help="small ladders (a smoke run of a few minutes)")
    p.add_argument("--out", default=os.path.join("benchmarks", "results"),
                   help="output folder for audit.json and audit.png (default benchmarks/results)")
    p.add_argument("--problems", type=comma_list(tuple(FULL_BUDGETS)), default=DEFAULT_PROBLEMS,
                   help="comma list from gaussian, gmm (default both)")
    p.add_argument("--schedules", type=comma_list(SCHEDULES), default=DEFAULT_SCHEDULES,
                   help="comma list of schedules (default vp_linear,edm)")
    p.add_argument("--samplers", type=comma_list(None), default=None,
                   help="comma list of function names to keep, e.g. sample_euler,sample_seeds_2")
    p.add_argument("--no-k-diffusion", action="store_true", help="only this package's samplers")
    p.add_argument("--paths", type=positive_int, default=None,
                   help="starting paths for every problem (default: gaussian 1000, gmm 500; quick 200, 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--table-from", metavar="AUDIT_JSON", default=None,
                   help="print the Markdown table of an existing audit.json and exit (runs nothing)")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.table_from is not None:
        try:
            with open(args.table_from, encoding="utf-8") as fh:
                records = json.load(fh)["records"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error(f"argument --table-from: cannot read records from {args.table_from!r}: {exc}")
        print(markdown_table(records))
        return 0
    check_seed_and_paths(parser, args.seed, args.paths)
    try:
        samplers, kd_reason = audit_samplers(not args.no_k_diffusion, args.samplers)
    except ValueError as exc:
        parser.error(f"argument --samplers: {exc}")
    if kd_reason and not args.no_k_diffusion:
        print(f"k-diffusion is skipped: {kd_reason}", file=sys.stderr)
    preset = QUICK_BUDGETS if args.quick else FULL_BUDGETS
    budgets = {p: (b if args.paths is None else b.with_paths(args.paths)) for p, b in preset.items()}
    config = AuditConfig(samplers=samplers, problems=args.problems, schedules=args.schedules,
                         budgets=budgets, seed=args.seed)
    make_out_dir(parser, args.out)
    run = recorded_run(lambda: run_audit(config, progress=not args.no_progress), module="seeds_verify.audit",
                       argv=argv, seed=config.seed, dists=KD_DISTS)
    if run is None:
        return 130
    result, meta = run
    from .peers import k_diffusion_load_info

    result["meta"] = {
        **meta,
        "timings_s": result.pop("timings"),
        "settings": {
            "preset": "quick" if args.quick else "full", "problems": list(config.problems),
            "schedules": list(config.schedules),
            "budgets": {p: budgets[p].as_dict() for p in config.problems},
            "eta": {"strong": 1.0, "weak": 1.0, "deterministic": 0.0},
            "weight_exponent": "k = eta = 1 for the noise_sampler increments",
            "tolerance": config.tolerance, "bootstrap_replicates": config.replicates,
            "dtype": "float64", "device": config.device, "torch_threads": 1,
            "grids": "uniform in lambda = -log sigma over the schedule's range, no trailing zero",
        },
        "k_diffusion": ({"loaded": True, **k_diffusion_load_info()} if not kd_reason
                        else {"loaded": False, "reason": kd_reason}),
        "claims": {name: {g: {"order": o, "source": src} for g, (o, src) in regs.items()}
                   for name, regs in CLAIMS.items()},
    }
    try:
        paths = write_audit(result, args.out)
    except KeyboardInterrupt:
        print("interrupted: files already replaced are complete, the rest untouched", file=sys.stderr)
        return 130
    print_table(result["records"])
    print(f"\nwall time {meta['wall_time_s']:.1f} s; wrote {', '.join(paths)}")
    ours_fail = [r for r in result["records"] if r["family"] == "seeds_verify" and r["verdict"] == S.FAIL]
    return 1 if ours_fail else 0


if __name__ == "__main__":
    sys.exit(main())
