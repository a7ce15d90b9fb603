"""``python -m seeds_verify.report DIR``: rebuild DIR/verification.pdf from DIR/results.json."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from . import DEFAULT_PDF_NAME, build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seeds_verify.report",
                                     description="Build the verification PDF from a convergence study's results.json.")
    parser.add_argument("out_dir", help="directory holding results.json; the PDF and PNGs are written there")
    parser.add_argument("--pdf-name", default=DEFAULT_PDF_NAME, help="file name of the PDF (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="coarser coefficient sweep and fewer samples")
    parser.add_argument("--benchmarks-dir", default=None,
                        help="directory with quality*.json benchmark results (default: benchmarks/results)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the time spent on each page")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.verbose:  # only this package's timings, not the font subsetter's chatter
        logging.getLogger("seeds_verify.report").setLevel(logging.INFO)
    start = time.perf_counter()
    try:
        path = build_report(args.out_dir, pdf_name=args.pdf_name, quick=args.quick,
                            benchmarks_dir=args.benchmarks_dir)
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{path} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
