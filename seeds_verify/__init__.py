"""seeds_verify: a verification toolkit for SEEDS stochastic exponential diffusion samplers.

Layers, from truth to presentation (nothing imports upward):
``analytic`` (sympy derivations) -> ``coefficients`` (stable float64 numerics) ->
``schedules``, ``noise`` (Brownian path, weighted increments) -> ``solvers`` (torch) ->
``problems`` (closed-form Gaussian / mixture data) -> ``convergence`` -> ``report``.

Importing this package does not run sympy.
"""

__version__ = "0.1.0"
