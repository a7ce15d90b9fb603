"""Deliberately broken SEEDS solvers: the convergence engine must flag every one of them.

Each mutant changes one thing in a correct :class:`~seeds_verify.solvers.ExponentialSolver` and
keeps the declared orders of the scheme it breaks, so a study holds it to the correct scheme's
claims. They illustrate defects that produce plausible samples yet are wrong:

1. ``swapped_noise`` — SEEDS-2 (r = 1/3): the end point's noise coefficients computed with the
   stage fraction c replaced by 1 − c. Every variance stays right (the squares still sum to the
   end point's variance) but the end point no longer sees the *same* path as the stage (MATH §7).
2. ``independent_end_noise`` — SEEDS-2 (r = 1/3): the end point's noise is a fresh N(0, 1) from a
   generator of the solver's own, scaled to the exact total variance; the stage noise is the
   path's. Every variance right, no shared path.
3. ``stage_correction_over_h`` — SEEDS-2 (r = 1/2, phi_2): the weight of (D_u − D_s) at the end
   point divided by h, so an O(h) correction becomes O(1) (the weight of D_s is unchanged).
4. ``missing_eta_decay`` — SEEDS-2 (r = 1/2, phi_1): the end point's linear factor
   (σ_t/σ_s) e^{−ηh} loses its e^{−ηh} (data form; the noise-form factor α_t/α_s has none, so
   there the mutant equals the correct scheme). Invisible at η = 0.
5. ``frozen_update`` — SEEDS-1 whose step returns its input unchanged.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch

from .. import coefficients as C
from ..solvers import SEEDS1, SEEDS2

__all__ = [
    "SwappedNoiseCorrelation",
    "IndependentEndNoise",
    "StageCorrectionOverH",
    "MissingEtaDecay",
    "FrozenUpdate",
    "MUTANTS",
    "make_mutant",
]


class SwappedNoiseCorrelation(SEEDS2):
    """SEEDS-2 whose end-point noise row uses 1 − c for the stage fraction c (mutant 1).

    Correct (MATH §7, data form): N_t = σ_t [sqrt(e^{−2η(1−c)h} − e^{−2ηh}) z_1 + sqrt(1 − e^{−2η(1−c)h}) z_2].
    Mutant: the same with c ↔ 1 − c; the two squares still sum to 1 − e^{−2ηh}.
    """

    def __init__(self, r: float = 1 / 3, variant: str = "phi_1"):
        super().__init__(r, variant)
        self.name = f"swapped_noise({self.spec.name})"

    def coefficients(self, lam, schedule, eta, form):
        coeffs = super().coefficients(lam, schedule, eta, form)
        h = np.diff(lam)
        swapped = C.noise_factor([1.0 - self.r, 1.0], h, eta, form)
        sigma_t = np.asarray(schedule.sigma_of_lam(lam[1:]), dtype=np.float64)
        coeffs.noise[:, -1, :] = sigma_t[:, None] * swapped[:, -1, :]
        return coeffs


class IndependentEndNoise(SEEDS2):
    """SEEDS-2 whose end-point noise is independent of the stage noise (mutant 2).

    The step runs as the correct scheme, recording the increments z_j it reads from the path; the
    end point's path noise Σ_j σ_t F_mj z_j is then replaced by σ_t sqrt(Σ_j F_mj²) ξ with ξ a
    fresh standard normal from the solver's own generator (seeded by ``seed``).
    """

    def __init__(self, r: float = 1 / 3, variant: str = "phi_1", seed: int = 12345):
        super().__init__(r, variant)
        self.name = f"independent_end_noise({self.spec.name})"
        self.seed = int(seed)
        self._generators: dict = {}

    def _fresh(self, like: torch.Tensor) -> torch.Tensor:
        gen = self._generators.get(like.device)
        if gen is None:
            gen = torch.Generator(device=like.device).manual_seed(self.seed)
            self._generators[like.device] = gen
        return torch.randn(like.shape, generator=gen, device=like.device, dtype=like.dtype)

    def _step(self, n, x, model, plan, noise, form, s_noise):
        seen = []

        def recording(lam_a, lam_b, k):
            z = noise(lam_a, lam_b, k)
            seen.append(z)
            return z

        out, f0 = super()._step(n, x, model, plan, recording, form, s_noise)
        if seen:
            row = plan.noise[n][-1]
            for j, z in enumerate(seen):
                out = out.add(z.to(out.dtype), alpha=-s_noise * row[j])
            total = float(np.sqrt(np.sum(np.square(row))))
            out = out.add(self._fresh(out), alpha=s_noise * total)
        return out, f0


class StageCorrectionOverH(SEEDS2):
    """SEEDS-2 (phi_2) whose end-point weight of (D_u − D_s) is divided by h (mutant 3).

    Correct: w_0 D_s + w_1 D_u = (w_0 + w_1) D_s + w_1 (D_u − D_s) with w_1 = O(h).
    Mutant: (w_0 + w_1) D_s + (w_1/h)(D_u − D_s).
    """

    def __init__(self, r: float = 0.5, variant: str = "phi_2"):
        super().__init__(r, variant)
        self.name = f"stage_correction_over_h({self.spec.name})"

    def coefficients(self, lam, schedule, eta, form):
        coeffs = super().coefficients(lam, schedule, eta, form)
        h = np.diff(lam)
        w = coeffs.model[-1]
        total = w[:, 0] + w[:, 1]
        w1 = w[:, 1] / h
        coeffs.model[-1] = np.stack([total - w1, w1], axis=1)
        return coeffs


class MissingEtaDecay(SEEDS2):
    """SEEDS-2 whose end-point linear factor lacks e^{−ηh} (mutant 4, data form)."""

    def __init__(self, r: float = 0.5, variant: str = "phi_1"):
        super().__init__(r, variant)
        self.name = f"missing_eta_decay({self.spec.name})"

    def coefficients(self, lam, schedule, eta, form):
        coeffs = super().coefficients(lam, schedule, eta, form)
        if form == "data":
            coeffs.linear[:, -1] = coeffs.linear[:, -1] * np.exp(eta * np.diff(lam))
        return coeffs


class FrozenUpdate(SEEDS1):
    """SEEDS-1 whose step returns its input unchanged (mutant 5)."""

    def __init__(self):
        super().__init__()
        self.name = "frozen_update(seeds1)"

    def _step(self, n, x, model, plan, noise, form, s_noise):
        return x, model.predict(x, plan.lam_start[n], form)


# name → (factory, one-line description, stage fractions for the path grid)
MUTANTS = {
    "swapped_noise": (SwappedNoiseCorrelation,
                      "SEEDS-2 (r=1/3): end-point noise coefficients with c and 1-c swapped",
                      (Fraction(1, 3), Fraction(1))),
    "independent_end_noise": (IndependentEndNoise,
                              "SEEDS-2 (r=1/3): end-point noise a fresh N(0,1) of exact variance, "
                              "independent of the stage noise",
                              (Fraction(1, 3), Fraction(1))),
    "stage_correction_over_h": (StageCorrectionOverH,
                                "SEEDS-2 (r=1/2, phi_2): (D_u - D_s) weight divided by h (O(1) for O(h))",
                                (Fraction(1, 2), Fraction(1))),
    "missing_eta_decay": (MissingEtaDecay,
                          "SEEDS-2 (r=1/2, phi_1): end-point linear factor without e^{-eta h}",
                          (Fraction(1, 2), Fraction(1))),
    "frozen_update": (FrozenUpdate, "SEEDS-1 whose update returns its input unchanged",
                      (Fraction(1),)),
}


def make_mutant(name: str):
    """A fresh mutant solver by name (one of :data:`MUTANTS`)."""
    if name not in MUTANTS:
        raise ValueError(f"mutant must be one of {tuple(MUTANTS)}, got {name!r}")
    return MUTANTS[name][0]()
