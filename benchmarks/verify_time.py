"""Wall time of ``verify_sampler`` on one black-box sampler, all three regimes, Gaussian problem.

``python -m benchmarks.verify_time [--sampler MODULE:FUNCTION] [--repeats N]`` runs
``verify_sampler`` (default ``seeds_verify.samplers:sample_seeds_2``, declared strong 1, weak 2,
deterministic 2) with its default ladder (4…256 steps, 1000 paths, escalation on) ``N`` times in
one process and prints each wall time, the rounds each regime needed, and the ratio of the
median to the 30 s target. Writes ``results/verify_time_<device>.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from seeds_verify.convergence import verify_sampler
from seeds_verify.convergence.__main__ import load_sampler
from seeds_verify.convergence.suite import single_thread

from .common import RESULTS_DIR, environment, write_json

TARGET_S = 30.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.verify_time", description=__doc__)
    p.add_argument("--sampler", default="seeds_verify.samplers:sample_seeds_2")
    p.add_argument("--declared", default="strong=1,weak=2,deterministic=2")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    sampler = load_sampler(args.sampler)
    declared = {k: float(v) for k, v in (part.split("=") for part in args.declared.split(","))}
    times, last = [], None
    with single_thread("cpu"):
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            last = verify_sampler(sampler, declared=declared)
            times.append(time.perf_counter() - t0)
            print(f"{times[-1]:.1f} s  verdict {last.verdict}")
    print(last)
    for regime, r in last.regimes.items():
        print(f"  {regime}: {len(r.rounds)} round(s), paths {r.paths}, finest {r.step_counts[-1]} steps, "
              f"{r.seconds:.1f} s")
    median = statistics.median(times)
    print(f"median {median:.1f} s over {len(times)} runs; ratio to the {TARGET_S:.0f} s target: "
          f"{median / TARGET_S:.2f}")
    write_json(RESULTS_DIR / "verify_time_cpu.json", {
        "sampler": args.sampler, "declared": declared, "times_s": times, "median_s": median,
        "target_s": TARGET_S, "ratio_to_target": median / TARGET_S, "verdict": last.verdict,
        "regimes": {k: {"rounds": len(r.rounds), "paths": r.paths, "finest_steps": r.step_counts[-1],
                        "seconds": r.seconds, "verdict": r.verdict} for k, r in last.regimes.items()},
        "environment": environment(torch.device("cpu"))})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
