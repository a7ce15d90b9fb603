"""diffusers integration: a SEEDS scheduler for diffusers pipelines and an adapter that runs any
diffusers scheduler on the closed-form problems of :mod:`seeds_verify.convergence`.

Optional: needs ``pip install seeds_verify[diffusers]``. Importing :mod:`seeds_verify` never
imports diffusers; this subpackage imports it only when one of its names is used.
"""

from __future__ import annotations

import importlib

__all__ = ["SEEDSScheduler"]

_LAZY = {"SEEDSScheduler": ".scheduler"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
