"""Closed-form test problems: Gaussian data, a point mass and Gaussian mixtures (MATH §8).

Every problem is stated in the k-diffusion / EDM convention α = 1 (MATH §1) and knows its noisy
marginals p_σ̃, its denoiser D(x, σ̃), exact samples, log-densities and moments; the Gaussian
ones also know the pathwise exact solution of the reverse SDE on a Brownian path.
:func:`get_problem` builds one by name.
"""

from __future__ import annotations

import numpy as np

from .base import Problem
from .components import GaussianComponents
from .gaussian import GaussianProblem, PointMass, anisotropic_gaussian
from .mixture import (GaussianMixture, bimodal_1d, high_dim_mixture, ring_mixture,
                      separated_mixture, unequal_mixture)

__all__ = [
    "Problem", "GaussianProblem", "PointMass", "GaussianMixture", "GaussianComponents",
    "anisotropic_gaussian", "ring_mixture", "high_dim_mixture", "separated_mixture",
    "unequal_mixture", "bimodal_1d", "get_problem", "PROBLEMS",
]

PROBLEMS: tuple[str, ...] = ("gaussian", "gmm", "gmm16", "gmm_separated", "gmm_unequal",
                             "point_mass", "bimodal1d")


def _gaussian(**kw) -> GaussianProblem:
    return GaussianProblem(**kw) if kw else anisotropic_gaussian()


def _point_mass(x0=(0.5, -1.0), **kw) -> PointMass:
    return PointMass(np.asarray(x0, dtype=np.float64), **kw)


_FACTORIES = {
    "gaussian": _gaussian,
    "gmm": ring_mixture,
    "gmm16": high_dim_mixture,
    "gmm_separated": separated_mixture,
    "gmm_unequal": unequal_mixture,
    "point_mass": _point_mass,
    "bimodal1d": bimodal_1d,
}


def get_problem(name: str, **kw) -> Problem:
    """The problem called ``name`` (one of :data:`PROBLEMS`), built with keyword arguments ``kw``.

    "gaussian": :func:`anisotropic_gaussian`, or ``GaussianProblem(mean=…, cov=…)`` when given;
    "gmm": :func:`ring_mixture`; "gmm16": :func:`high_dim_mixture`; "gmm_separated",
    "gmm_unequal", "bimodal1d": the fixed mixtures; "point_mass": :class:`PointMass` at
    ``x0`` (default (0.5, −1)).
    """
    if not isinstance(name, str) or name not in _FACTORIES:
        raise ValueError(f"problem must be one of {PROBLEMS}, got {name!r}")
    return _FACTORIES[name](**kw)
