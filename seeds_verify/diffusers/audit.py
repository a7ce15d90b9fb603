"""``python -m seeds_verify.diffusers.audit``: convergence orders of diffusers' schedulers and of
:class:`~seeds_verify.diffusers.SEEDSScheduler`, against the orders their papers and documentation
state (MATH §9).

Every scheduler configuration of :data:`SPECS` runs through
:func:`seeds_verify.diffusers.adapter.scheduler_sampler` (its own ``set_timesteps`` grid on a
training table uniform in λ over the study's range, the exact denoiser turned into its
``prediction_type``, its normals read from the study's Brownian path) and then through the same
engine and records as ``python -m seeds_verify.audit`` (:func:`seeds_verify.audit.run_audit`):

* a stochastic scheduler runs the strong and weak regimes at η = 1, its noise over each step
  being the weighted increment of exponent k = η = 1 (the exact-variance noise term of DDPM,
  DDIM at η = 1, the ancestral and SDE schedulers and data-form SEEDS); when its η can be set
  (DDIM's ``eta``, SA-Solver's ``tau_func`` ≡ √η, SEEDS' ``eta``) its deterministic regime runs
  at η = 0, otherwise that regime is not applicable;
* a deterministic scheduler runs the deterministic regime only.

Declared orders are those a paper or the scheduler's documentation states, each with its source
(:data:`CLAIMS`); a regime without one is measured only. :data:`NOTES` says what each scheduler
is and what the adapter set. Ladders are multiples of 3 (3·2^k) so that a third-order singlestep
DPM-Solver fills the grid with whole third-order blocks, and divide the table's 6144 intervals.

Writes ``OUT/audit_diffusers.json`` (``{"meta", "records"}``, records as in ``audit.json``) and
``OUT/audit_diffusers.png`` atomically and prints a table. Exit status: 0 done, 1 SEEDSScheduler
fails an order it declares, 2 bad arguments, 130 interrupted (nothing written).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from typing import Sequence

from ..arguments import comma_list, positive_int
from ..audit import (Budget, AuditConfig, AuditSampler, REGIME_ETA, SOURCES as KD_SOURCES, KD_DISTS,
                     _seeds_claims, markdown_table, print_table, run_audit, write_audit)
from ..convergence import statistics as S
from ..runs import check_seed_and_paths, make_out_dir, recorded_run
from .adapter import TABLE_INTERVALS, SchedulerSpec, scheduler_sampler

__all__ = ["SPECS", "CLAIMS", "NOTES", "SOURCES", "SOURCE_TAGS", "FULL_BUDGETS", "QUICK_BUDGETS",
           "STEM", "diffusers_samplers", "main"]

STEM = "audit_diffusers"
DEFAULT_PROBLEMS = ("gaussian", "gmm")
DEFAULT_SCHEDULES = ("vp_linear",)

SOURCES = {
    "ddim": ("Song, Meng, Ermon, 'Denoising Diffusion Implicit Models', ICLR 2021, arXiv:2010.02502"),
    "edm": KD_SOURCES["edm"],
    "dpm_solver": KD_SOURCES["dpm_solver"],
    "dpm_solver_pp": KD_SOURCES["dpm_solver_pp"],
    "unipc": ("Zhao, Bai, Rao, Zhou, Lu, 'UniPC: A Unified Predictor-Corrector Framework for Fast "
              "Sampling of Diffusion Models', NeurIPS 2023, arXiv:2302.04867"),
    "deis_docs": ("diffusers DEISMultistepScheduler documentation (solver_order: 'The DEIS order which "
                  "can be 1 or 2 or 3'); Zhang, Chen, 'Fast Sampling of Diffusion Models with "
                  "Exponential Integrator', ICLR 2023, arXiv:2204.13902"),
    "sa_solver_docs": ("diffusers SASolverScheduler documentation (predictor_order: 'The predictor order'); "
                       "Xue et al., 'SA-Solver: Stochastic Adams Solver for Fast Sampling of Diffusion "
                       "Models', NeurIPS 2023, arXiv:2309.05019"),
    "dpm_docs": ("diffusers DPMSolverMultistepScheduler documentation (solver_order: 'The DPMSolver order "
                 "which can be 1 or 2 or 3')"),
    "seeds": KD_SOURCES["seeds"],
}
#: Short tags for the Markdown table (source text → tag).
SOURCE_TAGS = {SOURCES["ddim"]: "DDIM", SOURCES["edm"]: "EDM", SOURCES["dpm_solver"]: "DPM-Solver",
               SOURCES["dpm_solver_pp"]: "DPM-Solver++", SOURCES["unipc"]: "UniPC",
               SOURCES["deis_docs"]: "diffusers docs, DEIS", SOURCES["sa_solver_docs"]: "diffusers docs, SA-Solver",
               SOURCES["dpm_docs"]: "diffusers docs", SOURCES["seeds"]: "SEEDS"}

_NO_CLIP = {"clip_sample": False}
_SIGMA_MIN = {"final_sigmas_type": "sigma_min"}
_D = "diffusers:"


def _spec(name, cls, config=None, grid="linspace", **kw) -> SchedulerSpec:
    return SchedulerSpec(name, _D + cls, dict(config or {}), grid, **kw)


def _specs() -> list[SchedulerSpec]:
    randn, hook = {"noise_hook": "randn"}, {"noise_hook": "noise_sampler"}
    out = [
        _spec("DDPMScheduler", "DDPMScheduler", _NO_CLIP, "linspace+1", stochastic=True, **randn),
        _spec("DDIMScheduler", "DDIMScheduler", {**_NO_CLIP, "set_alpha_to_one": False}, "trailing",
              stochastic=True, eta_control="step", **randn),
        _spec("EulerDiscreteScheduler", "EulerDiscreteScheduler", grid="linspace+1"),
        _spec("EulerAncestralDiscreteScheduler", "EulerAncestralDiscreteScheduler", grid="linspace+1",
              stochastic=True, **randn),
        _spec("HeunDiscreteScheduler", "HeunDiscreteScheduler", grid="linspace+1"),
        _spec("LMSDiscreteScheduler", "LMSDiscreteScheduler", grid="linspace+1"),
        _spec("KDPM2DiscreteScheduler", "KDPM2DiscreteScheduler", grid="linspace+1"),
        _spec("KDPM2AncestralDiscreteScheduler", "KDPM2AncestralDiscreteScheduler", grid="linspace+1",
              stochastic=True, **randn),
    ]
    for order in (1, 2, 3):
        out.append(_spec(f"DPMSolverMultistepScheduler(order={order})", "DPMSolverMultistepScheduler",
                         {**_SIGMA_MIN, "solver_order": order}))
    out.append(_spec("DPMSolverMultistepScheduler(sde-dpmsolver++)", "DPMSolverMultistepScheduler",
                     {**_SIGMA_MIN, "algorithm_type": "sde-dpmsolver++"}, stochastic=True, **randn))
    for order in (2, 3):
        out.append(_spec(f"DPMSolverSinglestepScheduler(order={order})", "DPMSolverSinglestepScheduler",
                         {**_SIGMA_MIN, "solver_order": order}))
    out += [
        _spec("DPMSolverSDEScheduler", "DPMSolverSDEScheduler", grid="linspace+1", stochastic=True, **hook),
        _spec("SASolverScheduler", "SASolverScheduler", stochastic=True, eta_control="tau", **randn),
        _spec("UniPCMultistepScheduler", "UniPCMultistepScheduler", _SIGMA_MIN),
        _spec("DEISMultistepScheduler(order=2)", "DEISMultistepScheduler", {"solver_order": 2}),
        _spec("DEISMultistepScheduler(order=3)", "DEISMultistepScheduler", {"solver_order": 3}),
        _spec("EDMDPMSolverMultistepScheduler", "EDMDPMSolverMultistepScheduler", grid="edm+1"),
        _spec("EDMDPMSolverMultistepScheduler(sde-dpmsolver++)", "EDMDPMSolverMultistepScheduler",
              {"algorithm_type": "sde-dpmsolver++"}, "edm+1", stochastic=True, **randn),
    ]
    if importlib.util.find_spec("seeds_verify.diffusers.scheduler") is not None:
        for order in (1, 2, 3):
            out.append(SchedulerSpec(f"SEEDSScheduler(order={order})",
                                     "seeds_verify.diffusers.scheduler:SEEDSScheduler",
                                     {**_SIGMA_MIN, "solver_order": order, "algorithm_type": "data"}, "linspace",
                                     stochastic=True, eta_control="config", **hook))
    return out


def _claims() -> dict:
    from ..schemes import seeds1_spec, seeds2_spec, seeds3_spec

    edm, dpm, dpp = SOURCES["edm"], SOURCES["dpm_solver"], SOURCES["dpm_solver_pp"]
    det = lambda order, source: {"deterministic": (float(order), source)}  # noqa: E731
    return {
        "DDIMScheduler": det(1, f"{SOURCES['ddim']} (eta = 0: the DDIM ODE step); {dpm} (DDIM is "
                                "DPM-Solver-1, first order)"),
        "EulerDiscreteScheduler": det(1, f"{edm} (Euler's method, first order, Sec. 3)"),
        "HeunDiscreteScheduler": det(2, f"{edm} (Algorithm 1, Heun's second-order method)"),
        "KDPM2DiscreteScheduler": det(2, f"{dpm} (DPM-Solver-2: the step in VE form with the stage at the "
                                         "log-sigma midpoint)"),
        "DPMSolverMultistepScheduler(order=1)": det(1, f"{dpp} (DPM-Solver++ of order 1 = DDIM, first order)"),
        "DPMSolverMultistepScheduler(order=2)": det(2, f"{dpp} (DPM-Solver++(2M), second order)"),
        "DPMSolverMultistepScheduler(order=3)": det(3, f"{SOURCES['dpm_docs']}; {dpp} (multistep "
                                                       "DPM-Solver++ of order 3)"),
        "DPMSolverSinglestepScheduler(order=2)": det(2, f"{dpp} (DPM-Solver++(2S), second order)"),
        "DPMSolverSinglestepScheduler(order=3)": det(3, f"{dpm} (DPM-Solver-3, third order); {dpp} "
                                                        "(its data-prediction form)"),
        "SASolverScheduler": det(2, f"{SOURCES['sa_solver_docs']} (tau = 0, predictor_order = 2)"),
        "UniPCMultistepScheduler": det(3, f"{SOURCES['unipc']} (UniPC-p with the corrector UniC has order "
                                          "p + 1; solver_order p = 2)"),
        "DEISMultistepScheduler(order=2)": det(2, SOURCES["deis_docs"]),
        "DEISMultistepScheduler(order=3)": det(3, SOURCES["deis_docs"]),
        "EDMDPMSolverMultistepScheduler": det(2, f"{dpp} (DPM-Solver++(2M) on the EDM sigma-schedule, "
                                                 "second order)"),
        "SEEDSScheduler(order=1)": _seeds_claims(seeds1_spec()),
        "SEEDSScheduler(order=2)": _seeds_claims(seeds2_spec()),
        "SEEDSScheduler(order=3)": _seeds_claims(seeds3_spec()),
    }


#: scheduler name → regime → (declared order, source). Regimes not listed are measured only.
CLAIMS: dict = _claims()

#: What each scheduler is, and what it runs with here (no order is declared by a note).
NOTES = {
    "DDPMScheduler": ("ancestral sampling with the posterior variance (variance_type fixed_small): the "
                      "step is SEEDS-1's at eta = 1 (exponential Euler-Maruyama, exact noise variance); "
                      "no eta to set, so no deterministic regime; clip_sample off"),
    "DDIMScheduler": ("eta = 1 is DDPM's step, eta = 0 the DDIM ODE step; trailing spacing, "
                      "set_alpha_to_one = False (the last step ends at alphas_cumprod[0]); clip_sample off"),
    "EulerAncestralDiscreteScheduler": ("Euler step to sigma_down plus sigma_up noise: SEEDS-1's step at eta = 1; "
                                        "no eta to set"),
    "LMSDiscreteScheduler": ("linear multistep of order 4 in sigma (no order is claimed for the scheme as "
                             "started: orders 1, 2, 3 on its first steps)"),
    "KDPM2AncestralDiscreteScheduler": ("DPM-Solver-2 to sigma_down plus sigma_up noise; no eta to set"),
    "DPMSolverMultistepScheduler(order=3)": ("its first two steps are of orders 1 and 2 (warm-up), "
                                             "final_sigmas_type = sigma_min"),
    "DPMSolverMultistepScheduler(sde-dpmsolver++)": ("SDE-DPM-Solver++(2M): exact noise variance at eta = 1; "
                                                     "no eta to set (its eta = 0 form is dpmsolver++)"),
    "DPMSolverSinglestepScheduler(order=3)": "blocks of orders 1, 2, 3; step counts are multiples of 3",
    "DPMSolverSDEScheduler": ("DPM-Solver++ SDE (k-diffusion's dpmpp_sde, r = 1/2): its noise_sampler is "
                              "called on (sigma_i, sigma_mid) and (sigma_i, sigma_i+1), read as nested "
                              "increments of one path; no eta to set"),
    "SASolverScheduler": ("predictor order 2, corrector order 2, data prediction; tau_func = sqrt(eta) "
                          "(its SDE has eta = tau^2)"),
    "UniPCMultistepScheduler": "solver_order 2, bh2, corrector on; final_sigmas_type = sigma_min",
    "EDMDPMSolverMultistepScheduler": ("DPM-Solver++(2M) with EDM preconditioning (sigma_data = 0.5), "
                                       "exponential sigma schedule"),
    "EDMDPMSolverMultistepScheduler(sde-dpmsolver++)": "SDE-DPM-Solver++(2M), EDM preconditioning; no eta to set",
    "SEEDSScheduler(order=1)": "SEEDS-1, data form, this package's scheduler",
    "SEEDSScheduler(order=2)": "SEEDS-2 (default stage fraction and variant), data form",
    "SEEDSScheduler(order=3)": "SEEDS-3 (default stage fractions and variant), data form",
}

SPECS: list[SchedulerSpec] = _specs()

# Ladders of 3·2^k dividing the table's 6144 intervals. Gaussian: the engine's default evidence
# (1000 paths, escalating to 8000, then to 3072 steps). Mixture: as in the k-diffusion audit,
# the stochastic ladder stops at its finest count (192: the fine reference's path has 27 648
# cells) and 500 paths, doubled once; its deterministic regime may extend to 1536 steps.
FULL_BUDGETS = {
    "gaussian": Budget((6, 12, 24, 48, 96, 192, 384), 1000, 8000, 3072),
    "gmm": Budget((12, 24, 48, 96, 192), 500, 1000, 192, 1536),
}
QUICK_BUDGETS = {
    "gaussian": Budget((24, 48, 96, 192), 200, 200, 192),
    "gmm": Budget((12, 24, 48, 96), 100, 100, 96),
}
assert all(TABLE_INTERVALS % n == 0 for b in (*FULL_BUDGETS.values(), *QUICK_BUDGETS.values())
           for n in (*b.steps, b.max_steps, b.max_steps_deterministic or b.max_steps))


def diffusers_samplers(only: Sequence[str] | None = None) -> list[AuditSampler]:
    """:data:`SPECS` as audit entries; ``only`` keeps the names listed (ValueError for an unknown one)."""
    entries = [AuditSampler(spec.name, f"diffusers:{spec.name}",
                            "seeds_verify" if spec.name.startswith("SEEDSScheduler") else "diffusers",
                            scheduler_sampler(spec), spec.stochastic, unavailable=spec.unavailable())
               for spec in SPECS]
    if only is not None:
        known = [e.name for e in entries]
        unknown = [n for n in dict.fromkeys(only) if n not in known]
        if unknown:
            raise ValueError(f"only: unknown scheduler(s) {', '.join(unknown)}; known: {', '.join(known)}")
        entries = [e for e in entries if e.name in set(only)]
    return entries


def build_parser() -> argparse.ArgumentParser:
    from ..schedules import SCHEDULES

    p = argparse.ArgumentParser(prog="python -m seeds_verify.diffusers.audit",
                                description="Strong, weak and deterministic orders of diffusers' schedulers "
                                            "and of SEEDSScheduler, against their stated orders.")
    p.add_argument("--quick", action="store_true", help="small ladders (a smoke run)")
    p.add_argument("--out", default=os.path.join("benchmarks", "results"),
                   help=f"output folder for {STEM}.json and {STEM}.png (default benchmarks/results)")
    p.add_argument("--problems", type=comma_list(tuple(FULL_BUDGETS)), default=DEFAULT_PROBLEMS,
                   help="comma list from gaussian, gmm (default both)")
    p.add_argument("--schedules", type=comma_list(SCHEDULES), default=DEFAULT_SCHEDULES,
                   help="comma list of schedules whose lambda-range the tables span (default vp_linear)")
    p.add_argument("--schedulers", type=comma_list(None), default=None,
                   help="comma list of names to keep, e.g. EulerDiscreteScheduler,HeunDiscreteScheduler")
    p.add_argument("--paths", type=positive_int, default=None, help="starting paths for every problem")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--table-from", metavar="JSON", default=None,
                   help=f"print the Markdown table of an existing {STEM}.json and exit")
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
        print(markdown_table(records, SOURCE_TAGS))
        return 0
    check_seed_and_paths(parser, args.seed, args.paths)
    try:
        samplers = diffusers_samplers(args.schedulers)
    except ValueError as exc:
        parser.error(f"argument --schedulers: {exc}")
    preset = QUICK_BUDGETS if args.quick else FULL_BUDGETS
    budgets = {p: (b if args.paths is None else b.with_paths(args.paths)) for p, b in preset.items()}
    config = AuditConfig(samplers=samplers, problems=args.problems, schedules=args.schedules,
                         budgets=budgets, seed=args.seed, claims=CLAIMS, notes=NOTES)
    make_out_dir(parser, args.out)
    run = recorded_run(lambda: run_audit(config, progress=not args.no_progress),
                       module="seeds_verify.diffusers.audit", argv=argv, seed=config.seed,
                       dists=(*KD_DISTS, "diffusers"))
    if run is None:
        return 130
    result, meta = run
    result["meta"] = {
        **meta, "timings_s": result.pop("timings"),
        "settings": {
            "preset": "quick" if args.quick else "full", "problems": list(config.problems),
            "schedules": list(config.schedules),
            "budgets": {p: budgets[p].as_dict() for p in config.problems},
            "eta": dict(REGIME_ETA), "weight_exponent": "k = eta = 1 for every scheduler's noise",
            "tolerance": config.tolerance, "bootstrap_replicates": config.replicates, "dtype": "float64",
            "scheduler_precision": "float64 (the scheduler module's float32 read as float64)",
            "table": (f"trained_betas uniform in lambda over the schedule's range, {TABLE_INTERVALS} "
                      "intervals; EDM-type: exponential sigma schedule over the same range"),
            "grids": "the scheduler's own set_timesteps grid, checked equal to the study's uniform lambda-grid",
        },
        "schedulers": {s.name: {"class": s.scheduler.split(":")[-1], "config": dict(s.config), "grid": s.grid,
                                "stochastic": s.stochastic, "eta_control": s.eta_control,
                                "noise_hook": s.noise_hook} for s in SPECS if s.name in {e.name for e in samplers}},
        "claims": {name: {g: {"order": o, "source": src} for g, (o, src) in regs.items()}
                   for name, regs in CLAIMS.items()},
    }
    try:
        paths = write_audit(result, args.out, STEM)
    except KeyboardInterrupt:
        print("interrupted: files already replaced are complete, the rest untouched", file=sys.stderr)
        return 130
    print_table(result["records"])
    print(f"\nwall time {meta['wall_time_s']:.1f} s; wrote {', '.join(paths)}")
    ours_fail = [r for r in result["records"] if r["family"] == "seeds_verify" and r["verdict"] == S.FAIL]
    return 1 if ours_fail else 0


if __name__ == "__main__":
    sys.exit(main())
