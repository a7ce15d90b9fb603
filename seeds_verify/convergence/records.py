"""What a convergence measurement produces: one type, used by the engine, the CLI, the report
and the tests (MATH §9).

* :class:`RegimeResult` — one sampler through one regime on one problem and schedule: the error
  ladder, the fitted order with its 95 % interval, the verdict and why. Its fields are the keys
  of a record in ``results.json`` (:meth:`RegimeResult.to_record`, :meth:`RegimeResult.from_record`).
* :class:`VerificationResult` — every regime of one sampler (what ``verify_sampler`` returns).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..schemes import REGIMES
from . import statistics as S

__all__ = ["RegimeResult", "VerificationResult", "REGIMES", "RECORD_KEYS"]


@dataclass(frozen=True)
class RegimeResult:
    """One measured convergence order (fields are the record keys of ``results.json``).

    Attributes:
        sampler: the label of what was measured (``seeds2(r=1/3,phi_2)``, ``module:function``).
        regime: ``strong``, ``weak`` or ``deterministic`` (:data:`REGIMES`).
        problem, schedule: names of the closed-form problem and the noise schedule.
        prediction: ``data``/``noise`` for the reference solvers, None for a black-box sampler.
        eta: η of the reference SDE (0 in the deterministic regime).
        weight_exponent: k of the noise increments fed to the sampler (MATH §4), None without noise.
        declared: the order the sampler is held to, None when it is only measured.
        verdict: one of :data:`.statistics.VERDICTS`; ``reason`` says why when it is not a pass.
        measured_order, constant, ci_low, ci_high, ci_method: the fit (:mod:`.statistics`).
        fit_steps: (coarsest, finest) step count of the fitted range.
        step_counts, step_sizes, errors, errors_ci_low, errors_ci_high: the ladder (h in λ);
            error intervals are bootstrap percentiles (equal to the errors for exact ladders).
        paths: samples (Brownian paths and starts) of the final round; 0 for exact moment studies.
        rounds: one entry per round of the escalation (paths, finest step count, verdict).
        predicted_order, predicted_constant: ``analytic.predicted_orders`` for the scheme, if any.
        reference: how the reference solution was obtained; ``details`` extra per-regime data
            (e.g. mean and second-moment errors, the reference's own error estimate).
        mutant: the mutant's name for deliberately broken solvers.
        seconds: wall time of all rounds.
    """

    sampler: str
    regime: str
    problem: str
    schedule: str
    eta: float
    verdict: str
    reason: str | None = None
    prediction: str | None = None
    weight_exponent: float | None = None
    declared: float | None = None
    measured_order: float | None = None
    constant: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_method: str | None = None
    fit_steps: tuple[int, int] | None = None
    step_counts: tuple[int, ...] = ()
    step_sizes: tuple[float, ...] = ()
    errors: tuple[float, ...] = ()
    errors_ci_low: tuple[float, ...] = ()
    errors_ci_high: tuple[float, ...] = ()
    paths: int = 0
    rounds: tuple[dict, ...] = ()
    predicted_order: float | None = None
    predicted_constant: float | None = None
    reference: str | None = None
    details: dict = field(default_factory=dict)
    mutant: str | None = None
    tolerance: float = S.DEFAULT_TOLERANCE
    seconds: float = 0.0

    def __post_init__(self):
        if self.regime not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {self.regime!r}")
        if self.verdict not in S.VERDICTS:
            raise ValueError(f"verdict must be one of {S.VERDICTS}, got {self.verdict!r}")

    @property
    def ci(self) -> tuple[float, float] | None:
        """(ci_low, ci_high), or None without a fit."""
        return None if self.ci_low is None else (self.ci_low, self.ci_high)

    @property
    def passed(self) -> bool:
        """Whether the verdict is ``pass`` or ``pass (>)``."""
        return self.verdict in (S.PASS, S.PASS_ABOVE)

    @property
    def conclusive(self) -> bool:
        return self.verdict != S.INCONCLUSIVE

    def to_record(self) -> dict:
        """A JSON-able dict whose keys are the field names (tuples become lists)."""
        out = dataclasses.asdict(self)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out

    @classmethod
    def from_record(cls, record: dict) -> "RegimeResult":
        """The inverse of :meth:`to_record`; unknown keys are ignored, lists become tuples."""
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in record:
                continue
            v = record[f.name]
            if isinstance(v, list) and f.name not in ("details",):
                v = tuple(tuple(x) if isinstance(x, list) else x for x in v) if f.name != "rounds" \
                    else tuple(v)
            kwargs[f.name] = v
        return cls(**kwargs)

    def summary(self) -> str:
        """One line: regime, order [interval], declared, verdict, reason."""
        order = "n/a" if self.measured_order is None else f"{self.measured_order:.2f}"
        ci = "" if self.ci_low is None else f" [{self.ci_low:.2f}, {self.ci_high:.2f}]"
        dec = "" if self.declared is None else f", declared {self.declared:g}"
        why = f" ({self.reason})" if self.reason and not self.passed else ""
        return f"{self.regime}: order {order}{ci}{dec} -> {self.verdict}{why}"


RECORD_KEYS = tuple(f.name for f in dataclasses.fields(RegimeResult))


@dataclass(frozen=True)
class VerificationResult:
    """Every regime of one sampler (:func:`~seeds_verify.convergence.verify_sampler`).

    Attributes:
        sampler: its label.
        regimes: regime name → :class:`RegimeResult`, for the regimes that were run.
        not_applicable: regime name → why it was not run (e.g. a sampler without noise_sampler).
    """

    sampler: str
    regimes: dict
    not_applicable: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """The worst verdict over the regimes run (:func:`.statistics.worst_verdict`)."""
        return S.worst_verdict(r.verdict for r in self.regimes.values())

    @property
    def passed(self) -> bool:
        return self.verdict == S.PASS

    def __str__(self) -> str:
        lines = [f"{self.sampler}: {self.verdict}"]
        lines += ["  " + r.summary() for r in self.regimes.values()]
        lines += [f"  {k}: not applicable ({v})" for k, v in self.not_applicable.items()]
        return "\n".join(lines)


def finite_or_none(value) -> float | None:
    """A float for JSON, or None for a missing / non-finite value."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
