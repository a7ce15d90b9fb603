"""``python -m seeds_verify.convergence``: the verification study from the command line.

Examples::

    python -m seeds_verify.convergence --quick --out reports
    python -m seeds_verify.convergence --solvers seeds1,seeds2:r=1/3:phi_2 --regime strong
    python -m seeds_verify.convergence --solvers mutant:swapped_noise --no-mutations   # exits 1

Solver spelling (``--solvers``, comma separated): ``seeds1``, ``seeds2[:r=P/Q][:phi_1|phi_2]``,
``seeds3[:r_1=P/Q][:r_2=P/Q][:3a|3b]``, ``em``, ``ddpm``, ``mutant:<name>`` with the names of
:mod:`seeds_verify.convergence.mutants`.

Writes ``OUT/results.json`` and ``OUT/<regime>_<problem>_<schedule>.png`` atomically, prints a
table and exits 0 when every study passes (and every mutant is caught), 1 when one fails and 2
on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

from .plots import atomic_write_bytes
from .suite import DEFAULT_STEPS, QUICK_STEPS

QUICK = {"steps": QUICK_STEPS, "paths": 200, "replicates": 400}
FULL = {"steps": DEFAULT_STEPS, "paths": 1000, "replicates": 1000}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an integer") from None


def _steps(text: str) -> tuple:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("must be a comma list of positive integers") from None
    if len(values) < 3 or any(v < 1 for v in values) or list(values) != sorted(set(values)):
        raise argparse.ArgumentTypeError("must be at least three increasing positive integers")
    return values


def _etas(text: str) -> tuple:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("must be a comma list of numbers in [0, 1]") from None
    if not values or any(not (0.0 <= v <= 1.0) or not math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError("must be a comma list of numbers in [0, 1]")
    return values


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a non-negative number") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError("must be a non-negative number")
    return value


def _comma(choices):
    def parse(text: str) -> tuple:
        values = tuple(v.strip() for v in text.split(",") if v.strip())
        bad = [v for v in values if v not in choices]
        if not values or bad:
            raise argparse.ArgumentTypeError(f"invalid choice {', '.join(bad) or text!r} "
                                             f"(choose from {', '.join(choices)})")
        return values
    return parse


def build_parser() -> argparse.ArgumentParser:
    from ..problems import PROBLEMS
    from ..schedules import SCHEDULES

    p = argparse.ArgumentParser(prog="python -m seeds_verify.convergence",
                                description="Strong, weak and deterministic convergence study of the "
                                            "SEEDS solvers and baselines (MATH §9).")
    p.add_argument("--solvers", default=None,
                   help="comma list: seeds1, seeds2[:r=P/Q][:phi_1|phi_2], seeds3[:r_1=..][:r_2=..][:3a|3b], "
                        "em, ddpm, mutant:<name> (default: seeds1, seeds2, seeds2:r=1/3:phi_2, seeds3, "
                        "seeds3:3b, em, ddpm)")
    p.add_argument("--prediction", choices=("data", "noise", "both"), default="both")
    p.add_argument("--eta", type=_etas, default=(1.0,), help="comma list of η in [0, 1] (default 1)")
    p.add_argument("--problem", type=_comma(PROBLEMS), default=("gaussian",),
                   help=f"comma list from {', '.join(PROBLEMS)} (default gaussian)")
    p.add_argument("--schedule", type=_comma(SCHEDULES), default=("vp_linear", "edm"),
                   help="comma list of schedules (default vp_linear,edm)")
    p.add_argument("--regime", choices=("strong", "weak", "deterministic", "all"), default="all")
    p.add_argument("--steps", type=_steps, default=None, help="comma list (default 4,...,256; quick 16,...,256)")
    p.add_argument("--paths", type=_positive_int, default=None, help="samples (default 1000; quick 200)")
    p.add_argument("--seed", type=_int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    p.add_argument("--tolerance", type=_tolerance, default=None,
                   help="widening of the order interval (default 0.25, see statistics.py)")
    p.add_argument("--out", default="reports", help="output folder (default reports)")
    p.add_argument("--quick", action="store_true", help="smoke study: steps 16..256, 200 paths")
    p.add_argument("--report", action=argparse.BooleanOptionalAction, default=None,
                   help="build the PDF report with seeds_verify.report afterwards")
    p.add_argument("--mutations", action=argparse.BooleanOptionalAction, default=True,
                   help="run the mutation checks (default on)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _versions() -> dict:
    import numpy
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    try:
        from importlib.metadata import version
        out["sympy"] = version("sympy")
    except Exception:  # sympy is optional at run time; never import it here
        out["sympy"] = None
    return out


def _fmt(v, spec=".2f"):
    return "n/a" if v is None else format(v, spec)


def print_table(result: dict, stream=None) -> None:
    """The compact table of records, the mutation table and the exactness checks."""
    stream = sys.stdout if stream is None else stream
    head = (f"{'regime':13s} {'schedule':10s} {'solver':28s} {'pred':5s} {'eta':>4s} {'order':>6s} "
            f"{'95% CI':>15s} {'exp':>4s} {'pred.':>6s} {'verdict':>8s}")
    print(head, file=stream)
    print("-" * len(head), file=stream)
    for r in result["records"]:
        ci = "n/a" if r["ci_low"] is None else f"[{r['ci_low']:.2f},{r['ci_high']:.2f}]"
        verdict = "PASS" if r["passed"] else "FAIL"
        if r["passed"] and r.get("above_expected"):
            verdict = "PASS(>)"
        print(f"{r['regime']:13s} {r['schedule']:10s} {r['solver']:28s} {r['prediction']:5s} "
              f"{r['eta']:4.2g} {_fmt(r['measured_order']):>6s} {ci:>15s} {r['expected_order']:4.1f} "
              f"{_fmt(r['predicted_order']):>6s} {verdict:>8s}", file=stream)
    if result["mutations"]:
        regimes = list(result["mutations"][0]["regimes"])
        print("\nmutant                     " + " ".join(f"{g:>13s}" for g in regimes) + "   caught",
              file=stream)
        for m in result["mutations"]:
            print(f"{m['mutant']:26s} " + " ".join(f"{m['regimes'][g]:>13s}" for g in regimes)
                  + f"   {'yes' if m['caught'] else 'NO'}", file=stream)
        caught = sum(m["caught"] for m in result["mutations"])
        print(f"mutation score: {caught}/{len(result['mutations'])}", file=stream)
    if result["exactness"]:
        print("\npoint-mass exactness (data form, one path, steps 3,6,12,24):", file=stream)
        for label, ex in result["exactness"].items():
            print(f"  {label:28s} spread {ex['spread']:.1e}  vs exact {ex['exact_deviation']:.1e}  "
                  f"{'PASS' if ex['passed'] else 'FAIL'}", file=stream)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import torch

    from .studies import DEFAULT_SOLVERS, REGIMES, parse_solver
    from .suite import SuiteConfig, run_suite

    solvers = DEFAULT_SOLVERS if args.solvers is None else tuple(
        s.strip() for s in args.solvers.split(",") if s.strip())
    try:
        choices = [parse_solver(s) for s in solvers]
    except ValueError as exc:
        parser.error(f"argument --solvers: {exc}")
    if not choices:
        parser.error("argument --solvers: name at least one solver")
    try:
        dev = torch.device(args.device)
    except (RuntimeError, ValueError):
        parser.error(f"argument --device: unknown device {args.device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        parser.error("argument --device: CUDA is not available on this machine")
    preset = QUICK if args.quick else FULL
    config = SuiteConfig(
        solvers=choices,
        predictions=("data", "noise") if args.prediction == "both" else (args.prediction,),
        etas=args.eta, problems=args.problem, schedules=args.schedule,
        regimes=REGIMES if args.regime == "all" else (args.regime,),
        steps=args.steps or preset["steps"], paths=args.paths or preset["paths"], seed=args.seed,
        device=str(dev), dtype=torch.float32 if args.dtype == "float32" else torch.float64,
        tolerance=0.25 if args.tolerance is None else args.tolerance,
        replicates=preset["replicates"], mutations=args.mutations)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as exc:
        parser.error(f"argument --out: cannot create {args.out!r}: {exc}")

    start = time.perf_counter()
    try:
        result = run_suite(config, progress=not args.no_progress)
    except ValueError as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    wall = time.perf_counter() - start

    from .plots import plot_records

    meta = {"command": [os.path.basename(sys.executable), "-m", "seeds_verify.convergence",
                        *(sys.argv[1:] if argv is None else list(argv))],
            "seed": config.seed, "versions": _versions(), "device": config.device, "dtype": args.dtype,
            "wall_time_s": wall, "tolerance": config.tolerance, "paths": config.paths,
            "steps": list(config.steps), "bootstrap_replicates": config.replicates,
            "fit_rule": "finest three resolved points, extended coarser while each local slope is within "
                        "0.25 of the finest local slope; pass when ci_high + tolerance >= declared order "
                        "and the interval is at most 2 orders wide",
            "exactness": result["exactness"]}
    summary = [{k: m[k] for k in ("mutant", "description", "regimes", "caught")}
               for m in result["mutations"]]
    records = [dict(r, mutations=summary) for r in result["records"]]
    payload = {"meta": meta, "records": records, "mutations": result["mutations"]}
    try:
        plot_records(result["records"], args.out)
        atomic_write_bytes(os.path.join(args.out, "results.json"),
                           json.dumps(payload, indent=1, default=_json_default).encode())
    except KeyboardInterrupt:
        print("interrupted: files already replaced are complete, the rest untouched", file=sys.stderr)
        return 130
    print_table(result)
    print(f"\nwall time {wall:.1f} s; results in {os.path.join(args.out, 'results.json')}")

    failed = [r for r in result["records"] if not r["passed"]]
    uncaught = [m for m in result["mutations"] if not m["caught"]]
    inexact = [k for k, v in result["exactness"].items() if not v["passed"]]
    status = 1 if failed or uncaught or inexact else 0
    if args.report:
        try:
            from ..report import build_report
        except ImportError:
            print("report module not available", file=sys.stderr)
            return 1
        print(f"report: {build_report(args.out)}")
    return status


def _json_default(obj):
    import numpy as np

    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    return str(obj)


if __name__ == "__main__":
    sys.exit(main())
