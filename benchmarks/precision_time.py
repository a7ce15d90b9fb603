"""Wall time of the verification study in float32 against the same study in float64.

``python -m benchmarks.precision_time [--quick] [--repeats N]`` runs the study of
``python -m seeds_verify.convergence`` (every reference solver, both prediction forms, Gaussian
problem, VP-linear and EDM, three regimes, the mutation and exactness checks) in float64 and in
float32, alternating within ONE process, and prints each wall time, the ratio float32/float64 per
repeat (target ≤ 1.2) and the verdict counts of each precision. A float32 study runs every
ladder point a second time in float64 to measure its rounding (docs/precision.md), and buys
coarser and denser ladders where its finer points lie at that floor.
Writes ``results/precision_time_cpu.json``.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

import torch

from seeds_verify.convergence.__main__ import QUICK
from seeds_verify.convergence.suite import SuiteConfig, run_suite, single_thread

from .common import RESULTS_DIR, environment, write_json

TARGET_RATIO = 1.2


def _study(dtype: torch.dtype, quick: bool) -> tuple[float, dict]:
    config = SuiteConfig(dtype=dtype, **(QUICK if quick else {}))
    t0 = time.perf_counter()
    out = run_suite(config, progress=False)
    seconds = time.perf_counter() - t0
    counts = collections.Counter(r.verdict for r in out["records"])
    caught = sum(bool(m["caught"]) for m in out["mutations"])
    return seconds, {"verdicts": dict(counts), "mutants_caught": caught, "mutants": len(out["mutations"]),
                     "rounds": sum(len(r.rounds) for r in out["records"])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.precision_time", description=__doc__)
    p.add_argument("--quick", action="store_true", help="the --quick study of the convergence CLI")
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"argument --repeats: must be >= 1, got {args.repeats}")
    rows = []
    with single_thread("cpu"):
        for _ in range(args.repeats):
            t64, s64 = _study(torch.float64, args.quick)
            t32, s32 = _study(torch.float32, args.quick)
            rows.append({"float64_s": t64, "float32_s": t32, "ratio": t32 / t64, "float64": s64, "float32": s32})
            print(f"float64 {t64:.1f} s {s64}\nfloat32 {t32:.1f} s {s32}\nratio float32/float64 {t32 / t64:.2f}")
    ratios = [r["ratio"] for r in rows]
    median = statistics.median(ratios)
    print(f"median ratio {median:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}) over {len(rows)} "
          f"repeat(s); target <= {TARGET_RATIO}")
    write_json(RESULTS_DIR / f"precision_time{'_quick' if args.quick else ''}_cpu.json", {
        "quick": args.quick, "repeats": rows, "median_ratio": median, "target_ratio": TARGET_RATIO,
        "environment": environment(torch.device("cpu"))})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
