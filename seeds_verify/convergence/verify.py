"""Verify any sampler: the public entry points of the convergence engine (MATH §9).

* :func:`verify_sampler` — strong, weak and deterministic orders of any function in the
  k-diffusion convention, with verdicts (``pass`` / ``fail`` / ``inconclusive``) that buy more
  evidence before they settle for ``inconclusive``.
* :func:`check_sampler` — the strong regime alone (a shortcut).
* :func:`verify_subject` — the layer under both, shared with the built-in study of the reference
  solvers (:mod:`.suite`).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from ..devices import check_device
from ..schedules import EDM
from ..schemes import REGIMES
from . import statistics as S
from .records import RegimeResult, VerificationResult
from .shards import check_path_block, check_variance_reduction, open_runner
from .studies import Ladder, SetupCache, check_steps, settle, single_thread
from .subjects import SamplerSignature, Subject, resolve_eta, sampler_subject

__all__ = ["verify_sampler", "check_sampler", "verify_subject", "DEFAULT_STEPS", "QUICK_STEPS",
           "DEFAULT_PATHS", "ESCALATION"]

DEFAULT_STEPS = (4, 8, 16, 32, 64, 128, 256)
# The smoke ladder starts at 16 steps: below that the noise form is pre-asymptotic at η = 1
# (errors of 1e3–1e7 at 4–8 steps); five points keep the exact weak fits' intervals informative.
QUICK_STEPS = (16, 32, 64, 128, 256)
DEFAULT_PATHS = 1000
STUDY_DTYPES = ("float32", "float64")
ESCALATION = 8  # default budget: max_paths = 8 × paths, max_steps = 8 × the finest step count
MAX_PATHS = 10 ** 7  # a study holds paths × dim states and their path moments in memory
MAX_STEPS = 10 ** 6  # finest step count: the Brownian path needs a multiple of it in cells


def _count(value, name: str, minimum: int = 1, maximum: int = MAX_PATHS) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be an int in [{minimum}, {maximum}], got {value!r}")
    return int(value)


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 63 - 2:
        raise ValueError(f"seed must be an int in [0, 2**63 - 2), got {seed!r}")
    return int(seed)


def _regimes(regimes) -> tuple[str, ...]:
    """A tuple of regime names from a name or an iterable of names (errors name ``regimes``)."""
    if isinstance(regimes, str):
        regimes = (regimes,)
    try:
        regimes = tuple(regimes)
    except TypeError:
        raise TypeError(f"regimes must be a regime name or a sequence of them, got "
                        f"{type(regimes).__name__}") from None
    for regime in regimes:
        if not isinstance(regime, str) or regime not in REGIMES:
            raise ValueError(f"regimes: unknown regime {regime!r} (choose from {REGIMES})")
    if not regimes:
        raise ValueError("regimes: name at least one regime")
    return regimes


def check_study_dtype(dtype) -> torch.dtype:
    """float32 or float64 (a torch dtype or its name); ValueError/TypeError naming ``dtype``."""
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None) if dtype in STUDY_DTYPES else dtype
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch dtype (torch.float32 or torch.float64), got {dtype!r}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype} (half-precision "
                         f"networks under a float32 state: seeds_verify.convergence.precision)")
    return dtype


def make_ladder(steps, paths, max_paths, max_steps) -> Ladder:
    """The evidence budget from user arguments (None → the defaults of this module)."""
    steps = DEFAULT_STEPS if steps is None else check_steps(steps)
    paths = DEFAULT_PATHS if paths is None else _count(paths, "paths", 2)
    max_paths = ESCALATION * paths if max_paths is None else _count(max_paths, "max_paths", paths)
    max_steps = (ESCALATION * steps[-1] if max_steps is None
                 else _count(max_steps, "max_steps", steps[-1], MAX_STEPS))
    return Ladder(tuple(steps), paths, max_paths, max_steps)


def verify_subject(subject: Subject, *, regimes: Sequence[str] = REGIMES, problem="gaussian",
                   schedule="vp_linear", ladder: Ladder, setups: SetupCache,
                   tolerance: float = S.DEFAULT_TOLERANCE, replicates: int = 1000,
                   on_regime: Callable | None = None) -> VerificationResult:
    """Every requested regime of one subject, each settled by :func:`.studies.settle`."""
    results, not_applicable = {}, {}
    for regime in regimes:
        if regime not in REGIMES:
            raise ValueError(f"regimes: unknown regime {regime!r} (choose from {REGIMES})")
        if regime in subject.not_applicable:
            not_applicable[regime] = subject.not_applicable[regime]
            continue
        results[regime] = settle(subject, regime, problem, schedule, ladder, setups,
                                 tolerance=tolerance, replicates=replicates)
        if on_regime is not None:
            on_regime(results[regime])
    return VerificationResult(subject.label, results, not_applicable)


def verify_sampler(sampler: Callable, *, eta: float | None = None, regimes: Sequence[str] = REGIMES,
                   declared: Mapping[str, float] | None = None, problem="gaussian",
                   schedule="vp_linear", weight_exponent: float | None = None,
                   steps: Sequence[int] | None = None, paths: int | None = None,
                   max_paths: int | None = None, max_steps: int | None = None, seed: int = 0,
                   sampler_kwargs: Mapping | None = None, tolerance: float = S.DEFAULT_TOLERANCE,
                   device="cpu", dtype: torch.dtype = torch.float64,
                   label: str | None = None, workers: int | None = None,
                   scheduler: str | None = None, shards: int | None = None,
                   variance_reduction: str | None = None, path_block: int | None = None,
                   progress: bool = False) -> VerificationResult:
    """Strong, weak and deterministic orders of ``sampler`` with verdicts (MATH §9).

    ``sampler(model, x, sigmas, extra_args=None, callback=None, disable=None, **kw)`` is any
    function in the k-diffusion convention (``model(x, σ̃)`` returns the denoised x_0, α = 1). It
    runs on ``sigmas = e^{−λ}`` of uniform λ-grids over the ``schedule``'s range (no trailing
    zero), in float64, from exact draws of the ``problem``'s p_T.

    Regimes. A sampler with a ``noise_sampler`` parameter is stochastic: strong and weak regimes
    run at η > 0 with ``noise_sampler(σ_a, σ_b)`` reading the normalised weighted increment
    z_k(−log σ_a, −log σ_b) of one Brownian path per sample (MATH §4; k = ``weight_exponent``,
    default η, the data-prediction convention; pass −1 for a noise-prediction SEEDS sampler);
    the deterministic regime runs it with ``eta=0``. A sampler without ``noise_sampler`` is run in
    the deterministic regime only, without those keywords; regimes that do not apply are listed
    in ``result.not_applicable``.

    η of the reference SDE: ``eta``; else ``sampler_kwargs["eta"]``; else the sampler's own default
    (a partial's bound keyword included); else 0 when it has no ``noise_sampler``; else ValueError.

    Weak regime on the Gaussian problem: exact moments of the output from affine probes of whole
    runs, no Monte Carlo noise; on mixtures, Monte Carlo. A sampler whose output does not come from
    the noise it is given is reported as not path-consistent (verdict ``fail``).

    ``declared`` maps regime → order; regimes without one get the verdict ``measured``.
    Evidence: ``steps`` (default 4…256), ``paths`` (default 1000); while a verdict is
    ``inconclusive`` Monte Carlo studies double their paths up to ``max_paths`` (default 8 ×
    paths) and the ladder is extended to finer steps up to ``max_steps`` (default 8 × the finest).
    Each :class:`RegimeResult` states the paths and steps actually used.

    ``dtype`` is the precision of the state (start draws, noise) the sampler runs in: float64, or
    float32 as pipelines run. A float32 study runs every ladder point a second time in float64
    from the same start, path and grid, measures its rounding error, and fits only points whose
    error is at least 10 times it; when finer points lie at that floor the ladder is made
    coarser and denser instead of finer (``studies.settle``, docs/precision.md).

    Monte Carlo studies (weak on a mixture, strong, deterministic) run in shards of whole blocks
    of ``path_block`` paths (default :data:`.shards.PATH_BLOCK` for weak, :data:`.shards.PATHWISE_BLOCK`
    for strong and deterministic studies), each block drawing its start points and Brownian path
    from its own seed, so the records do not depend on how the paths are split: ``shards`` per
    study (default one in this process, four per worker on a cluster), on an embedded Dask
    ``LocalCluster`` of ``workers`` processes or on the cluster at ``scheduler`` (an address;
    docs/cluster.md), else in this process. ``variance_reduction="antithetic"`` averages the
    reference over the path and its antithetic reflection; ``"conditional"`` replaces the
    difference to the reference by the sum of the sampler's local weak errors from the exact
    conditional law of a mixture (one-step samplers re-run step by step, samplers with memory from
    the start at about steps/2 times the cost; :mod:`.conditional`, docs/weak_mixture.md §3b).
    ``progress``
    shows a bar over the shards.
    """
    if not callable(sampler):
        raise TypeError(f"sampler must be callable, got {type(sampler).__name__}")
    if sampler_kwargs is not None and not isinstance(sampler_kwargs, Mapping):
        raise TypeError(f"sampler_kwargs must be a dict, got {type(sampler_kwargs).__name__}")
    sampler_kwargs = dict(sampler_kwargs or {})
    regimes = _regimes(regimes)
    if declared is not None and not isinstance(declared, Mapping):
        raise TypeError(f"declared must be a dict of regime -> order, got {type(declared).__name__}")
    if problem == "point_mass" or getattr(problem, "name", None) == "point_mass":
        raise ValueError("problem: on a point mass every exponential scheme is exact (MATH §8), so there "
                         "is no order to measure; check exactness instead (studies.exactness_check)")
    eta = resolve_eta(sampler, eta, sampler_kwargs)
    tolerance = _real(tolerance, "tolerance")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if weight_exponent is not None:
        weight_exponent = _real(weight_exponent, "weight_exponent")
    ladder = make_ladder(steps, paths, max_paths, max_steps)
    device = str(check_device(device))
    subject = sampler_subject(sampler, eta=eta, weight_exponent=weight_exponent, declared=declared,
                              sampler_kwargs=sampler_kwargs, label=label)
    dtype = check_study_dtype(dtype)
    variance_reduction = check_variance_reduction(variance_reduction)
    path_block = check_path_block(path_block)
    with open_runner(workers, scheduler, shards=shards, progress=progress, device=device) as runner:
        setups = SetupCache(seed=_seed(seed), device=device, dtype=dtype, runner=runner,
                            variance_reduction=variance_reduction, path_block=path_block)
        with single_thread(device):
            return verify_subject(subject, regimes=regimes, problem=problem, schedule=schedule,
                                  ladder=ladder, setups=setups, tolerance=tolerance)


def check_sampler(sampler: Callable, *, problem="gaussian", weight_exponent: float | None = None,
                  steps: Sequence[int] | None = None, paths: int | None = None, seed: int = 0,
                  expected_strong_order: float | None = None, sigma_max: float = 80.0,
                  sigma_min: float = 0.002, tolerance: float = S.DEFAULT_TOLERANCE, device=None,
                  eta: float | None = None, **sampler_kwargs) -> RegimeResult:
    """The strong order of ``sampler`` alone: :func:`verify_sampler` with ``regimes=("strong",)``
    on uniform λ-grids between ``sigma_max`` and ``sigma_min`` (the EDM range by default).

    Defaults: ``steps`` (8, 16, 32, 64, 128), ``paths`` 400 (escalated up to 8× while the verdict
    against ``expected_strong_order`` is inconclusive). Extra keywords go to the sampler.
    """
    s_max, s_min = _real(sigma_max, "sigma_max"), _real(sigma_min, "sigma_min")
    if not 0 < s_min < s_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got sigma_min={s_min}, sigma_max={s_max}")
    declared = None
    if expected_strong_order is not None:
        declared = {"strong": _real(expected_strong_order, "expected_strong_order")}
    if not callable(sampler):
        raise TypeError(f"sampler must be callable, got {type(sampler).__name__}")
    if not SamplerSignature.of(sampler).has_noise_sampler:
        raise ValueError("sampler: the strong regime is not applicable: the sampler has no noise_sampler "
                         "parameter (a deterministic sampler; use verify_sampler for its deterministic order)")
    eta = resolve_eta(sampler, eta, sampler_kwargs)
    if eta == 0:
        raise ValueError("eta: the strong regime needs a stochastic sampler with eta > 0")
    result = verify_sampler(sampler, eta=eta, regimes=("strong",), declared=declared, problem=problem,
                            schedule=EDM(sigma_min=s_min, sigma_max=s_max), weight_exponent=weight_exponent,
                            steps=(8, 16, 32, 64, 128) if steps is None else steps,
                            paths=400 if paths is None else paths, seed=seed,
                            sampler_kwargs=sampler_kwargs, tolerance=tolerance,
                            device="cpu" if device is None else device)
    if "strong" not in result.regimes:
        raise ValueError(f"sampler: the strong regime does not apply ({result.not_applicable.get('strong')})")
    return result.regimes["strong"]
