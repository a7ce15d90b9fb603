"""seeds_verify: a verification toolkit for SEEDS stochastic exponential diffusion samplers.

Layers, from truth to presentation (nothing imports upward):
``analytic`` (sympy derivations) -> ``coefficients`` (stable float64 numerics) ->
``schedules``, ``noise`` (Brownian path, weighted increments) -> ``solvers`` (torch) ->
``problems`` (closed-form Gaussian / mixture data) -> ``convergence`` -> ``report``.

Importing this package does not run sympy.
"""

__version__ = "0.1.0"

__all__ = ["sample_seeds_1", "sample_seeds_2", "sample_seeds_3", "check_sampler", "verify_sampler",
           "__version__"]

_LAZY = {
    "sample_seeds_1": "seeds_verify.samplers",
    "sample_seeds_2": "seeds_verify.samplers",
    "sample_seeds_3": "seeds_verify.samplers",
    "check_sampler": "seeds_verify.convergence",
    "verify_sampler": "seeds_verify.convergence",
}


def __getattr__(name):
    # Re-exports load on first use so that `import seeds_verify` stays light (no torch, no sympy).
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'seeds_verify' has no attribute {name!r}")


def __dir__():
    # The lazy re-exports are listed before their first use (tab completion, dir()).
    return sorted(set(globals()) | set(__all__))
