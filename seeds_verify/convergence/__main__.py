"""``python -m seeds_verify.convergence``: the verification study from the command line.

Examples::

    python -m seeds_verify.convergence --quick --out reports
    python -m seeds_verify.convergence --solvers seeds1,seeds2:r=1/3:phi_2 --regime strong
    python -m seeds_verify.convergence --solvers mutant:swapped_noise --no-mutations   # exits 1
    python -m seeds_verify.convergence --sampler k_diffusion.sampling:sample_dpmpp_2m \
        --declared deterministic=2 --out reports/dpmpp_2m

Solver spelling (``--solvers``, comma separated): ``seeds1``, ``seeds2[:r=P/Q][:phi_1|phi_2]``,
``seeds3[:r_1=P/Q][:r_2=P/Q][:3a|3b]``, ``em``, ``ddpm``, ``mutant:<name>`` with the names of
:mod:`seeds_verify.convergence.mutants`. ``--sampler MODULE:FUNCTION`` (repeatable) verifies any
importable sampler in the k-diffusion convention through the same engine.

``--workers N`` runs the shards of the Monte Carlo studies (weak on the mixtures, strong,
deterministic) on an embedded Dask ``LocalCluster`` of N worker processes, ``--scheduler
ADDRESS`` on an existing cluster (docs/cluster.md); the records are the same as in this process.

Writes ``OUT/results.json`` and ``OUT/<regime>_<problem>_<schedule>.png`` atomically and prints a
table. Exit status: 0 every check passes (and every mutant is caught), 1 a check fails, 2 bad
arguments, 3 some check stays inconclusive (and none fails). ``--report`` then builds the PDF
with ``python -m seeds_verify.report OUT`` in a separate process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

from ..arguments import comma_list, positive_int
from ..files import atomic_write_bytes
from ..schemes import REGIMES
from . import statistics as S
from .verify import DEFAULT_PATHS, DEFAULT_STEPS, QUICK_STEPS

QUICK = {"steps": QUICK_STEPS, "paths": 200, "replicates": 400}
FULL = {"steps": DEFAULT_STEPS, "paths": DEFAULT_PATHS, "replicates": 1000}
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an integer in [0, 2**63 - 2)") from None
    if not 0 <= value < 2 ** 63 - 2:
        raise argparse.ArgumentTypeError("must be an integer in [0, 2**63 - 2)")
    return value


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object such as '{\"eta\": 1.0}'")
    return value


def _declared(text: str) -> dict:
    out = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in REGIMES:
            raise argparse.ArgumentTypeError(f"write regime=order with regime in {', '.join(REGIMES)}, got {part!r}")
        try:
            order = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"order of {key} must be a number, got {value!r}") from None
        if not (math.isfinite(order) and order > 0):
            raise argparse.ArgumentTypeError(f"order of {key} must be a positive number, got {value!r}")
        out[key] = order
    if not out:
        raise argparse.ArgumentTypeError("name at least one regime=order")
    return out


def _real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a finite number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError("must be a finite number")
    return value


def load_sampler(spec: str):
    """The callable named ``MODULE:FUNCTION`` (ValueError saying what is wrong)."""
    import importlib

    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"write the sampler as MODULE:FUNCTION, got {spec!r}")
    if module in ("k_diffusion.sampling", "k_diffusion"):
        # k-diffusion's package __init__ imports its training stack; its sampling module alone is
        # loaded the way benchmarks/peers.py does (seeds_verify.peers).
        from ..peers import k_diffusion_sampling

        mod = k_diffusion_sampling()
    else:
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"cannot import {module!r}: {exc}") from None
    obj = mod
    for part in name.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{module!r} has no attribute {name!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{spec} is not callable")
    return obj


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
    p.add_argument("--sampler", action="append", default=None, metavar="MODULE:FUNCTION",
                   help="verify a sampler in the k-diffusion convention (repeatable); without "
                        "--solvers only the samplers are studied")
    p.add_argument("--sampler-kwargs", type=_json_object, default=None, metavar="JSON",
                   help="keyword arguments for --sampler, as a JSON object")
    p.add_argument("--declared", type=_declared, default=None, metavar="REGIME=ORDER,...",
                   help="orders --sampler declares, e.g. strong=1,weak=2,deterministic=2 "
                        "(regimes without one are measured only)")
    p.add_argument("--weight-exponent", type=_real, default=None,
                   help="k of the noise increments fed to --sampler (default eta; -1 for a "
                        "noise-prediction SEEDS sampler)")
    p.add_argument("--prediction", choices=("data", "noise", "both"), default="both")
    p.add_argument("--eta", type=_etas, default=None,
                   help="comma list of η in [0, 1] (default 1; for --sampler its own default)")
    p.add_argument("--problem", type=comma_list(PROBLEMS), default=("gaussian",),
                   help=f"comma list from {', '.join(PROBLEMS)} (default gaussian)")
    p.add_argument("--schedule", type=comma_list(SCHEDULES), default=("vp_linear", "edm"),
                   help="comma list of schedules (default vp_linear,edm)")
    p.add_argument("--regime", choices=("strong", "weak", "deterministic", "all"), default="all")
    p.add_argument("--steps", type=_steps, default=None, help="comma list (default 4,...,256; quick 16,...,256)")
    p.add_argument("--paths", type=positive_int, default=None, help="samples (default 1000; quick 200)")
    p.add_argument("--max-paths", type=positive_int, default=None,
                   help="Monte Carlo studies double their paths up to this while a verdict is "
                        "inconclusive (default 8 x paths)")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="the ladder is extended to finer steps up to this while a verdict is "
                        "inconclusive (default 8 x the finest step count)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    p.add_argument("--tolerance", type=_tolerance, default=None,
                   help="widening of the order interval (default 0.25, see statistics.py)")
    p.add_argument("--out", default="reports", help="output folder (default reports)")
    p.add_argument("--quick", action="store_true", help="smoke study: steps 16..256, 200 paths")
    p.add_argument("--report", action=argparse.BooleanOptionalAction, default=None,
                   help="build the PDF report with seeds_verify.report afterwards")
    p.add_argument("--mutations", action=argparse.BooleanOptionalAction, default=None,
                   help="run the mutation checks (default on, off with --sampler)")
    p.add_argument("--workers", type=_workers, default=None, metavar="N",
                   help="run the Monte Carlo studies' shards on an embedded Dask LocalCluster of N "
                        "worker processes, one thread each (needs the cluster extra; docs/cluster.md); "
                        "shards are whole blocks of 128 paths (weak) or 1024 paths (strong, deterministic)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run them on the existing Dask cluster at ADDRESS, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--shards", type=positive_int, default=None,
                   help="shards per Monte Carlo study (default 1 in this process, 4 per worker); "
                        "the records do not depend on it")
    p.add_argument("--variance-reduction", choices=("none", "antithetic", "conditional"), default="none",
                   help="weak Monte Carlo studies: reference averaged over the path and its antithetic "
                        "reflection, or the sum of the local weak errors from the exact conditional law "
                        "of a mixture (built for one-step samplers; docs/weak_mixture.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer in [1, 1024], got {text!r}") from None
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"must be an integer in [1, 1024], got {text!r}")
    return value


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    try:
        out["sympy"] = version("sympy")  # read from the metadata: importing sympy costs seconds
    except PackageNotFoundError:
        out["sympy"] = None
    return out


def _fmt(v, spec=".2f"):
    return "n/a" if v is None else format(v, spec)


def print_table(result: dict, stream=None) -> None:
    """The compact table of records (RegimeResult), the mutation table and the exactness checks."""
    stream = sys.stdout if stream is None else stream
    head = (f"{'regime':13s} {'schedule':10s} {'sampler':30s} {'pred':5s} {'eta':>4s} {'order':>6s} "
            f"{'95% CI':>15s} {'decl':>4s} {'pred.':>6s} {'paths':>5s} {'finest':>6s} {'verdict':>12s}")
    print(head, file=stream)
    print("-" * len(head), file=stream)
    for r in result["records"]:
        ci = "n/a" if r.ci_low is None else f"[{r.ci_low:.2f},{r.ci_high:.2f}]"
        print(f"{r.regime:13s} {r.schedule:10s} {r.sampler[:30]:30s} {r.prediction or '-':5s} "
              f"{r.eta:4.2g} {_fmt(r.measured_order):>6s} {ci:>15s} {_fmt(r.declared, '.1f'):>4s} "
              f"{_fmt(r.predicted_order):>6s} {r.paths or '-':>5} {r.step_counts[-1]:>6d} {r.verdict:>12s}",
              file=stream)
    for r in result["records"]:
        if not r.passed and r.reason:
            print(f"  {r.regime} {r.schedule} {r.sampler} {r.prediction or ''}: {r.reason}", file=stream)
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
    if result.get("not_applicable"):
        print("\nnot applicable:", file=stream)
        for label, why in result["not_applicable"]:
            print(f"  {label}: {why}", file=stream)


def exit_status(result: dict) -> int:
    """0 all pass, 1 any fail (a record, an uncaught mutant, an inexact scheme), 3 inconclusive left."""
    verdict = S.worst_verdict(r.verdict for r in result["records"])
    if (verdict == S.FAIL or any(not m["caught"] for m in result["mutations"])
            or any(not v["passed"] for v in result["exactness"].values())):
        return EXIT_FAIL
    return EXIT_INCONCLUSIVE if verdict == S.INCONCLUSIVE else EXIT_PASS


def _attach_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--steps -1,2,3`` → ``--steps=-1,2,3``: a value that starts with '-' is given to its
    option (argparse would read it as an option and report a missing argument), so that the
    option's own check names what is wrong with it."""
    takes_value = {s for a in parser._actions if a.option_strings and a.nargs is None
                   and not isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                                          argparse.BooleanOptionalAction, argparse._HelpAction))
                   for s in a.option_strings}
    out, i = [], 0
    while i < len(argv):
        tok = argv[i]
        if tok in takes_value and i + 1 < len(argv) and argv[i + 1].startswith("-") \
                and argv[i + 1] not in parser._option_string_actions:
            out.append(f"{tok}={argv[i + 1]}")
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_attach_values(parser, argv))
    args.eta_given = args.eta is not None
    if args.eta is None:
        args.eta = (1.0,)
    import torch

    from .subjects import DEFAULT_SOLVERS, parse_solver, resolve_eta, sampler_subject
    from .suite import SuiteConfig, run_suite

    if args.solvers is not None:
        solvers = tuple(s.strip() for s in args.solvers.split(",") if s.strip())
    else:
        solvers = () if args.sampler else DEFAULT_SOLVERS
    try:
        choices = [parse_solver(s) for s in solvers]
    except ValueError as exc:
        parser.error(f"argument --solvers: {exc}")
    if args.sampler_kwargs is not None and not args.sampler:
        parser.error("argument --sampler-kwargs: needs --sampler")
    if args.declared is not None and not args.sampler:
        parser.error("argument --declared: needs --sampler")
    subjects = []
    for spec in args.sampler or ():
        try:
            fn = load_sampler(spec)
            kwargs = dict(args.sampler_kwargs or {})
            eta = resolve_eta(fn, args.eta[0] if args.eta_given else None, kwargs)
            subjects.append(sampler_subject(fn, eta=eta, weight_exponent=args.weight_exponent,
                                            declared=args.declared, sampler_kwargs=kwargs, label=spec))
        except (ValueError, TypeError) as exc:
            parser.error(f"argument --sampler: {exc}")
    if not choices and not subjects:
        parser.error("argument --solvers: name at least one solver or give --sampler")
    from ..devices import check_device

    try:
        dev = check_device(args.device, "--device")
    except (TypeError, ValueError) as exc:
        parser.error(f"argument --device: {exc}")
    if args.workers is not None and args.scheduler is not None:
        parser.error("argument --scheduler: not allowed with --workers (an embedded cluster or an "
                     "existing one, not both)")
    if args.workers is not None or args.scheduler is not None:
        try:
            from .shards import check_scheduler

            check_scheduler(args.scheduler)
            import distributed  # noqa: F401
        except ValueError as exc:
            parser.error(f"argument --scheduler: {exc}")
        except ImportError as exc:
            parser.error(f"argument --{'workers' if args.workers is not None else 'scheduler'}: Dask is "
                         f"not available ({exc}); install the cluster extra: pip install "
                         f"'seeds-verify[cluster]'")
    preset = QUICK if args.quick else FULL
    paths = args.paths or preset["paths"]
    if paths < 2:
        parser.error("argument --paths: must be at least 2 (intervals resample paths)")
    try:
        config = SuiteConfig(
            solvers=choices,
            predictions=("data", "noise") if args.prediction == "both" else (args.prediction,),
            etas=args.eta, problems=args.problem, schedules=args.schedule,
            regimes=REGIMES if args.regime == "all" else (args.regime,),
            steps=args.steps or preset["steps"], paths=paths, max_paths=args.max_paths,
            max_steps=args.max_steps, seed=args.seed, device=str(dev),
            dtype=torch.float32 if args.dtype == "float32" else torch.float64,
            tolerance=S.DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance,
            replicates=preset["replicates"],
            mutations=(not subjects) if args.mutations is None else args.mutations,
            subjects=subjects, workers=args.workers, scheduler=args.scheduler, shards=args.shards,
            variance_reduction=args.variance_reduction)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as exc:
        parser.error(f"argument --out: cannot create {args.out!r}: {exc}")

    start = time.perf_counter()
    try:
        result = run_suite(config, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    wall = time.perf_counter() - start

    from .plots import plot_records

    meta = {"command": [os.path.basename(sys.executable), "-m", "seeds_verify.convergence", *argv],
            "seed": config.seed, "versions": _versions(), "device": config.device, "dtype": args.dtype,
            "wall_time_s": wall, "tolerance": config.tolerance, "paths": config.paths,
            "max_paths": config.ladder.max_paths, "steps": list(config.steps),
            "max_steps": config.ladder.max_steps, "bootstrap_replicates": config.replicates,
            "fit_rule": S.FIT_RULE, "workers": args.workers, "scheduler": args.scheduler,
            "shards": args.shards, "variance_reduction": args.variance_reduction, "verdict": S.worst_verdict(r.verdict for r in result["records"]),
            "exactness": result["exactness"], "not_applicable": result["not_applicable"]}
    records = [r.to_record() for r in result["records"]]
    payload = {"meta": meta, "records": records, "mutations": result["mutations"]}
    try:
        plot_records(records, args.out)
        atomic_write_bytes(os.path.join(args.out, "results.json"),
                           json.dumps(payload, indent=1, default=_json_default).encode())
    except KeyboardInterrupt:
        print("interrupted: files already replaced are complete, the rest untouched", file=sys.stderr)
        return 130
    print_table(result)
    print(f"\nwall time {wall:.1f} s; results in {os.path.join(args.out, 'results.json')}")
    status = exit_status(result)
    if args.report:
        import subprocess

        done = subprocess.run([sys.executable, "-m", "seeds_verify.report", args.out])
        if done.returncode != 0:
            print("the report could not be built", file=sys.stderr)
            return EXIT_FAIL
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
