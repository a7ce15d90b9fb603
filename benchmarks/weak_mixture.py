"""The weak order on the Gaussian mixtures, settled (docs/weak_mixture.md).

``python -m benchmarks.weak_mixture [--workers 2] [--paths 8192] [--quick]``

The weak regime (η = 1) of SEEDS-1/2/3 (data form), Euler–Maruyama and k-diffusion's DPM++ SDE
samplers (``sample_dpmpp_sde``, ``sample_dpmpp_2m_sde``, ``sample_dpmpp_3m_sde``) on the 2-D ring
(``gmm``) and the 16-D mixture (``gmm16``) under VP-linear and EDM, through the convergence
engine's weak Monte Carlo study in shards on a Dask ``LocalCluster`` (``--workers``) or an
existing cluster (``--scheduler``), with the antithetic reference (``--variance-reduction``).
The samplers of one (problem, schedule) share one setup: each block's reference is computed
once. Each study is one round at a fixed number of paths (no escalation): the budget is stated,
and a verdict that it cannot settle stays ``inconclusive`` with its numbers.

Writes ``benchmarks/results/weak_mixture.json`` atomically: ``meta`` (paths, workers, wall time,
paths per second per worker, the declared orders and their sources) and ``records``
(:class:`~seeds_verify.convergence.RegimeResult` records); prints the verdict table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from seeds_verify.convergence.shards import PATH_BLOCK

from .common import RESULTS_DIR, environment, write_json

PROBLEMS = ("gmm", "gmm16")
SCHEDULES = ("vp_linear", "edm")
STEPS = (4, 8, 16, 32, 64)
PATHS = 8192
QUICK = {"steps": (4, 8, 16), "paths": 512}

KD_SOURCE = ("no published weak order: declared as the weak order the exact Gaussian study "
             "measures for it (benchmarks/results/audit.json, weak regime on gaussian: 1.9-2.1)")
#: (name, declared weak order, source)
SAMPLERS = (
    ("sample_seeds_1", 1.0, "seeds_verify.schemes (SEEDS-1 weak order)"),
    ("sample_seeds_2", 2.0, "seeds_verify.schemes (SEEDS-2 weak order)"),
    ("sample_seeds_3", 2.0, "seeds_verify.schemes (SEEDS-3 weak order 2, this package's analysis)"),
    ("em", 1.0, "Euler-Maruyama: weak order 1"),
    ("sample_dpmpp_sde", 2.0, KD_SOURCE),
    ("sample_dpmpp_2m_sde", 2.0, KD_SOURCE),
    ("sample_dpmpp_3m_sde", 2.0, KD_SOURCE),
)


def subjects(names=None):
    """(subject, source) per sampler of :data:`SAMPLERS` (``names``: a subset)."""
    from seeds_verify import samplers as ours
    from seeds_verify.convergence import sampler_subject
    from seeds_verify.convergence.subjects import parse_solver, solver_subject
    from seeds_verify.peers import k_diffusion_sampling

    out = []
    for name, order, source in SAMPLERS:
        if names is not None and name not in names:
            continue
        if name == "em":
            base = solver_subject(parse_solver("em"), "data", 1.0)
            from dataclasses import replace

            out.append((replace(base, declared={**base.declared, "weak": order}), source))
            continue
        if name.startswith("sample_seeds"):
            fn, label = getattr(ours, name), f"seeds_verify.samplers:{name}"
        else:
            fn, label = getattr(k_diffusion_sampling(), name), f"k_diffusion.sampling:{name}"
        out.append((sampler_subject(fn, eta=1.0, declared={"weak": order}, label=label), source))
    return out


def _rules(args):
    """The conditional study's rules from --conditional-nodes / --orthogonal-draws (None: the defaults)."""
    if args.conditional_nodes is None and args.orthogonal_draws is None:
        return None
    from seeds_verify.convergence.conditional import RULES, Rules

    return Rules(args.conditional_nodes or RULES.nodes, RULES.orthogonal_nodes, args.orthogonal_draws)


def run(args) -> dict:
    from seeds_verify.convergence import Ladder, SetupCache, verify_subject
    from seeds_verify.convergence.shards import open_runner
    from seeds_verify.convergence.suite import single_thread

    steps = tuple(args.steps)
    ladder = Ladder(steps, args.paths, args.paths, steps[-1])
    chosen = subjects(args.samplers)
    dens = tuple(sorted({d for s, _ in chosen for d in s.denominators}))
    records, sources, timings = [], {}, {}
    t0 = time.perf_counter()
    with open_runner(args.workers, args.scheduler, shards=args.shards, progress=not args.no_progress,
                     device=args.device) as runner:
        workers = runner.workers
        with single_thread(args.device):
            for problem in args.problems:
                for schedule in args.schedules:
                    t1 = time.perf_counter()
                    setups = SetupCache(seed=args.seed, device=args.device, denominators=dens, runner=runner,
                                        variance_reduction=args.variance_reduction, path_block=args.path_block,
                                        conditional_rules=_rules(args))
                    for subject, source in chosen:
                        result = verify_subject(subject, regimes=("weak",), problem=problem, schedule=schedule,
                                                ladder=ladder, setups=setups, tolerance=args.tolerance,
                                                replicates=args.replicates)
                        r = result.regimes["weak"]
                        records.append(r.to_record())
                        sources[r.sampler] = source
                        print(f"{problem:6s} {schedule:9s} {r.sampler[-22:]:22s} {r.summary()}", flush=True)
                    timings[f"{problem}/{schedule}"] = round(time.perf_counter() - t1, 1)
                    del setups
    wall = time.perf_counter() - t0
    studies = len(records)
    meta = {
        "command": ["python", "-m", "benchmarks.weak_mixture", *sys.argv[1:]],
        "paths": args.paths, "steps": list(steps), "workers": workers, "scheduler": args.scheduler,
        "shards": args.shards, "variance_reduction": args.variance_reduction, "seed": args.seed,
        "conditional_rules": None if _rules(args) is None else vars(_rules(args)),
        "path_block": args.path_block or PATH_BLOCK, "device": args.device,
        "tolerance": args.tolerance, "bootstrap_replicates": args.replicates,
        "wall_time_s": round(wall, 1), "timings_s": timings,
        "paths_per_second_per_worker": round(studies * args.paths / wall / max(workers, 1), 1),
        "paths_per_second_per_worker_counts": "sampler runs of the whole ladder (one path through every "
                                              "step count) per second per worker, references included",
        "declared_sources": sources, "environment": environment(__import__("torch").device(args.device)),
    }
    return {"meta": meta, "records": records}


def table(payload: dict) -> str:
    """The verdict table as Markdown (sampler × problem × schedule)."""
    lines = ["| sampler | problem | schedule | declared | weak order | 95 % interval | fitted steps | verdict |",
             "| --- | --- | --- | ---: | ---: | --- | --- | --- |"]
    for r in payload["records"]:
        order = "n/a" if r["measured_order"] is None else f"{r['measured_order']:.2f}"
        ci = "n/a" if r["ci_low"] is None else f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
        fit = "n/a" if not r.get("fit_steps") else f"{r['fit_steps'][0]}-{r['fit_steps'][1]}"
        lines.append(f"| {r['sampler'].split(':')[-1]} | {r['problem']} | {r['schedule']} | {r['declared']:g} | "
                     f"{order} | {ci} | {fit} | {r['verdict']} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from seeds_verify.arguments import positive_int

    p = argparse.ArgumentParser(prog="python -m benchmarks.weak_mixture", description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=positive_int, default=2)
    p.add_argument("--scheduler", default=None, help="an existing Dask scheduler instead of --workers")
    p.add_argument("--shards", type=positive_int, default=None)
    p.add_argument("--paths", type=positive_int, default=None)
    p.add_argument("--steps", type=lambda t: tuple(int(v) for v in t.split(",")), default=None)
    p.add_argument("--problems", type=lambda t: tuple(t.split(",")), default=PROBLEMS)
    p.add_argument("--schedules", type=lambda t: tuple(t.split(",")), default=SCHEDULES)
    p.add_argument("--samplers", type=lambda t: tuple(t.split(",")), default=None)
    p.add_argument("--variance-reduction", choices=("none", "antithetic", "conditional"), default="antithetic")
    p.add_argument("--conditional-nodes", type=positive_int, default=None,
                   help="conditional: Gauss-Hermite nodes per axis for a step's increment (default 12; "
                        "the coarser rule has 4 fewer)")
    p.add_argument("--orthogonal-draws", type=positive_int, default=None,
                   help="conditional: the rest of a step's noise by this many antithetic draws per path "
                        "and step (even) instead of the 3-node rule (docs/weak_mixture.md §5b)")
    p.add_argument("--tolerance", type=float, default=0.25)
    p.add_argument("--replicates", type=positive_int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu",
                   help="cpu or cuda (one GPU per worker: the tasks ask for the Dask resource GPU)")
    p.add_argument("--path-block", type=positive_int, default=None,
                   help="paths per block (default 128; a GPU wants thousands)")
    p.add_argument("--quick", action="store_true", help=f"smoke run: steps {QUICK['steps']}, {QUICK['paths']} paths")
    p.add_argument("--out", default=str(RESULTS_DIR / "weak_mixture.json"))
    p.add_argument("--merge", action="store_true",
                   help="replace the records of the same sampler, problem and schedule in --out (and list "
                        "this run in its meta.runs) instead of overwriting it")
    p.add_argument("--no-progress", action="store_true")
    return p


RUNS_NOTE = ("studies run in several invocations (meta.runs); a record's own 'paths' and 'step_counts' "
             "say how it was run")


def merge(old: dict, new: dict) -> dict:
    """``old`` with ``new``'s records in place of those of the same (sampler, problem, schedule),
    the others kept in order and new ones appended; ``meta.runs`` lists every run's command,
    paths, steps, variance reduction, wall time and samplers; the meta is ``old``'s."""
    key = lambda r: (r["sampler"], r["problem"], r["schedule"])  # noqa: E731
    fresh = {key(r): r for r in new["records"]}
    records = [fresh.pop(key(r), r) for r in old["records"]] + list(fresh.values())

    def run_of(payload):
        m = payload["meta"]
        return {"command": m.get("command"), "paths": m.get("paths"), "steps": m.get("steps"),
                "variance_reduction": m.get("variance_reduction"), "conditional_rules": m.get("conditional_rules"),
                "wall_time_s": m.get("wall_time_s"),
                "workers": m.get("workers"), "paths_per_second_per_worker": m.get("paths_per_second_per_worker"),
                "samplers": [f"{r['sampler']} {r['problem']} {r['schedule']}" for r in payload["records"]]}

    meta = dict(old["meta"])
    meta["runs"] = list(meta.get("runs") or [run_of(old)]) + [run_of(new)]
    meta["runs_note"] = RUNS_NOTE
    return {"meta": meta, "records": records}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.scheduler is not None:
        args.workers = None
    args.steps = args.steps or (QUICK["steps"] if args.quick else STEPS)
    args.paths = args.paths or (QUICK["paths"] if args.quick else PATHS)
    try:
        if _rules(args) is not None:
            _rules(args).coarser()
    except ValueError as exc:
        parser.error(f"argument --conditional-nodes/--orthogonal-draws: {exc}")
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: the GPU study is skipped", file=sys.stderr)
        return 0
    payload = run(args)
    if args.merge and os.path.exists(args.out):
        import json

        with open(args.out) as f:
            write_json(args.out, merge(json.load(f), payload))
    else:
        write_json(args.out, payload)
    print()
    print(table(payload))
    m = payload["meta"]
    print(f"\n{len(payload['records'])} studies, {m['paths']} paths each, {m['workers']} workers: wall time "
          f"{m['wall_time_s']:.0f} s, {m['paths_per_second_per_worker']} paths/s per worker; {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
