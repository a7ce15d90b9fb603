"""Scaling of a sharded Monte Carlo study with Dask workers (docs/cluster.md).

``python -m benchmarks.cluster_scaling [--regime weak|strong] [--workers 1,2] [--paths 2048] [--device cpu]``

The same mixture study — SEEDS-2 and k-diffusion's ``sample_dpmpp_2m_sde`` on the 2-D ring
(``gmm``) under EDM, steps 4…64, references included; weak (default): antithetic reference in
blocks of 128 paths; strong: errors against the fine same-path reference in blocks of 1024 —
on an embedded ``LocalCluster`` of each number of workers (one thread each; the cluster is
started before the clock starts). Prints and writes the wall time of each, the speed-up of the
most workers over one, and whether the records agree bit for bit;
``benchmarks/results/cluster_scaling[_strong]_<device>.json``. On a CUDA device each worker
gets its own GPU (Dask resource ``GPU``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from .common import RESULTS_DIR, environment, write_json

SAMPLERS = ("sample_seeds_2", "sample_dpmpp_2m_sde")
TARGET = 1.7  # speed-up of two workers over one on two cores


def _study(runner, args):
    from seeds_verify.convergence import Ladder, SetupCache, verify_subject

    from .weak_mixture import subjects

    ladder = Ladder(tuple(args.steps), args.paths, args.paths, args.steps[-1])
    chosen = subjects(SAMPLERS)
    dens = tuple(sorted({d for s, _ in chosen for d in s.denominators}))
    weak = args.regime == "weak"
    setups = SetupCache(seed=0, device=args.device, denominators=dens, runner=runner,
                        variance_reduction="antithetic" if weak else None,
                        path_block=getattr(args, "path_block", None))
    return [verify_subject(s, regimes=(args.regime,), problem=args.problem, schedule=args.schedule, ladder=ladder,
                           setups=setups).regimes[args.regime] for s, _ in chosen]


def main(argv=None) -> int:
    from seeds_verify.arguments import positive_int
    from seeds_verify.convergence.cluster import cluster_runner

    p = argparse.ArgumentParser(prog="python -m benchmarks.cluster_scaling", description=__doc__.split("\n\n")[0])
    p.add_argument("--regime", choices=("weak", "strong"), default="weak")
    p.add_argument("--workers", type=lambda t: tuple(int(v) for v in t.split(",")), default=(1, 2))
    p.add_argument("--paths", type=positive_int, default=2048)
    p.add_argument("--steps", type=lambda t: tuple(int(v) for v in t.split(",")), default=(4, 8, 16, 32, 64))
    p.add_argument("--problem", default="gmm")
    p.add_argument("--schedule", default="edm")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if any(w < 1 for w in args.workers):
        p.error("argument --workers: every count must be a positive integer")
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: nothing to measure", file=sys.stderr)
        return 0
    runs, records = [], {}
    for workers in args.workers:
        with cluster_runner(workers=workers, device=args.device) as runner:
            _study(runner, argparse.Namespace(**{**vars(args), "paths": runner.workers * 128, "path_block": 128,
                                                 "steps": args.steps[:3]}))  # warm the workers
            load = list(os.getloadavg())
            t0 = time.perf_counter()
            results = _study(runner, args)
            wall = time.perf_counter() - t0
        records[workers] = [(r.errors, r.ci_low, r.ci_high) for r in results]
        runs.append({"workers": workers, "wall_time_s": round(wall, 2), "load_average_before": load,
                     "paths_per_second_per_worker": round(len(results) * args.paths / wall / workers, 1)})
        print(f"{workers} worker(s): {wall:.1f} s", flush=True)
    base = runs[0]["wall_time_s"]
    for r in runs:
        r["speedup"] = round(base / r["wall_time_s"], 3)
    identical = all(v == records[args.workers[0]] for v in records.values())
    top = runs[-1]
    payload = {"meta": {"command": ["python", "-m", "benchmarks.cluster_scaling", *(argv or sys.argv[1:])],
                        "problem": args.problem, "schedule": args.schedule, "samplers": list(SAMPLERS),
                        "regime": args.regime, "paths": args.paths, "steps": list(args.steps),
                        "variance_reduction": "antithetic" if args.regime == "weak" else None,
                        "target_speedup": TARGET, "records_identical": identical,
                        "environment": environment(torch.device(args.device))},
               "runs": runs}
    name = "cluster_scaling" + ("" if args.regime == "weak" else f"_{args.regime}")
    out = args.out or RESULTS_DIR / f"{name}_{'cuda' if args.device.startswith('cuda') else 'cpu'}.json"
    write_json(out, payload)
    print(f"speed-up of {top['workers']} workers over {runs[0]['workers']}: {top['speedup']:.2f}x "
          f"(target {TARGET}x); records identical: {identical}; {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
