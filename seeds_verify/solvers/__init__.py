"""Reference solvers: SEEDS-1/2/3 and baselines, in torch (MATH §6–§7)."""

from .base import Solver, check_eta, check_lambdas
from .baselines import DDPMAncestral, EulerMaruyama
from .model import MODEL_KINDS, DiffusionModel
from .seeds import SEEDS1, SEEDS2, SEEDS3, ExponentialSolver, StepCoefficients

__all__ = [
    "Solver", "ExponentialSolver", "StepCoefficients", "SEEDS1", "SEEDS2", "SEEDS3",
    "EulerMaruyama", "DDPMAncestral", "DiffusionModel", "MODEL_KINDS", "check_eta", "check_lambdas",
    "make_solver", "SOLVER_NAMES",
]

SOLVER_NAMES = ("seeds1", "seeds2", "seeds3", "em", "ddpm")


def make_solver(name: str, **options) -> Solver:
    """A solver by short name: seeds1, seeds2 (r, variant), seeds3 (r_1, r_2, variant), em, ddpm."""
    factories = {"seeds1": SEEDS1, "seeds2": SEEDS2, "seeds3": SEEDS3,
                 "em": EulerMaruyama, "ddpm": DDPMAncestral}
    if name not in factories:
        raise ValueError(f"solver must be one of {SOLVER_NAMES}, got {name!r}")
    return factories[name](**options)
