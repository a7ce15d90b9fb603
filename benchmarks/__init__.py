"""Benchmarks of seeds_verify against peer samplers (quality per NFE, overhead, throughput).

Scripts, run from the repository root: ``python -m benchmarks.quality``, ``python -m
benchmarks.overhead``, ``python -m benchmarks.throughput`` (each takes ``--quick``, ``--device``
and ``--out``). The package never imports this directory.
"""
