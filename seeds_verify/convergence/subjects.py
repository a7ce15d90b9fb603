"""What a convergence study measures: a *subject*, one mechanism for the reference solvers and for
any third-party sampler (MATH §1, §4, §9).

A :class:`Subject` is a map from a start point y (in α = 1 coordinates, y = x/α, σ̃ = e^{−λ}), an
increasing λ-grid and a noise source to the state at the grid's end, together with the orders it
declares. Two builders make one:

* :func:`solver_subject` — a solver of :mod:`seeds_verify.solvers` (a :class:`SolverChoice`, spelt
  on the command line as ``seeds2:r=1/3:phi_2``) in one prediction form, run on the study's
  schedule (x = α y).
* :func:`sampler_subject` — any function in the k-diffusion convention
  ``sampler(model, x, sigmas, extra_args=None, callback=None, disable=None, **kw)``, run on
  ``sigmas = e^{−λ}`` with ``model(x, σ̃)`` the problem's denoiser. Its noise reaches it through
  ``noise_sampler(σ_a, σ_b)``, read as the normalised weighted increment z_k(λ(σ_a), λ(σ_b)) of
  MATH §4 with k = ``weight_exponent``.

The noise source handed to :attr:`Subject.run` answers ``noise(lam_a, lam_b, k)`` (MATH §4).
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Mapping

import numpy as np
import torch

from ..coefficients import check_form, weight_exponent as form_weight_exponent
from ..noise import BrownianPath
from ..problems.base import all_finite
from ..schemes import REGIMES
from ..solvers import SEEDS1, SEEDS2, SEEDS3, DDPMAncestral, EulerMaruyama, Solver
from ..solvers.base import check_eta

__all__ = [
    "Subject", "SolverChoice", "parse_solver", "solver_subject", "sampler_subject",
    "SamplerSignature", "resolve_eta", "DEFAULT_SOLVERS", "SAMPLER_DENOMINATORS", "SamplerError",
]

DEFAULT_SOLVERS = ("seeds1", "seeds2", "seeds2:r=1/3:phi_2", "seeds3", "seeds3:3b", "em", "ddpm")
MAX_DENOMINATOR = 1000
# A black-box sampler's stage points are not known in advance: its Brownian path has 6 cells per
# step, so stage points at fractions 1/2, 1/3 and 2/3 of a step (every SEEDS and DPM-Solver
# default, k-diffusion's λ-midpoints) are nodes of the path.
SAMPLER_DENOMINATORS = (6,)


class SamplerError(ValueError):
    """A sampler broke the calling convention (shape, dtype, non-finite values, bad noise calls)."""


@dataclass(frozen=True)
class Subject:
    """One thing to measure (module docstring).

    Attributes:
        label: its name in tables and plots.
        run: ``run(setup, y, lambdas, noise, eta)`` → y at ``lambdas[-1]`` (α = 1 coordinates);
            ``noise`` is a noise source or None (η = 0 with a solver that then draws nothing).
        declared: regime → declared order (None: measured only).
        stochastic: whether it reads noise (the strong and weak regimes apply).
        eta: η of the reference SDE in the strong and weak regimes.
        weight_exponent: the k it reads its increments as (MATH §4).
        denominators: denominators of its stage fractions (the Brownian path must resolve them).
        prediction: ``data``/``noise`` for the reference solvers; None for black boxes.
        scheme, fractions: key and stage fractions of the symbolic predictions, if any.
        mutant, description: for deliberately broken solvers.
        not_applicable: regime → why it cannot be run.
    """

    label: str
    run: Callable
    declared: Mapping[str, float | None]
    stochastic: bool
    eta: float
    weight_exponent: float | None
    denominators: tuple[int, ...] = (1,)
    prediction: str | None = None
    scheme: str | None = None
    fractions: tuple = ()
    mutant: str | None = None
    description: str = ""
    not_applicable: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The reference solvers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SolverChoice:
    """A solver of the package to study, built fresh for every run.

    Attributes:
        label: what tables and plots call it, e.g. ``"seeds2(r=1/3,phi_2)"``.
        factory: builds the solver.
        fractions: stage fractions of one step (end point included), as exact rationals.
        scheme: key of the symbolic predictions (``analytic.predicted_orders``), or None.
        mutant, description: the mutant's name and one line for deliberately broken solvers.
    """

    label: str
    factory: Callable[[], Solver]
    fractions: tuple
    scheme: str | None = None
    mutant: str | None = None
    description: str = ""

    def build(self) -> Solver:
        return self.factory()


def _fraction(text: str, name: str, *, closed: bool = False) -> Fraction:
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"{name} must be a number such as 1/3 or 0.5, got {text!r}") from exc
    if not (0 < value < 1 or (closed and value == 1)):
        raise ValueError(f"{name} must lie in (0, {'1]' if closed else '1)'}, got {text!r}")
    if value.denominator > MAX_DENOMINATOR:
        raise ValueError(f"{name}={text} has denominator {value.denominator} > {MAX_DENOMINATOR}; "
                         "write stage fractions as p/q (e.g. 1/3) so stage points fall on the path grid")
    return value


def _frac_text(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def parse_solver(text: str) -> SolverChoice:
    """A solver from its command-line spelling ``name[:option[:option…]]``.

    Names: ``seeds1``, ``seeds2``, ``seeds3``, ``em``, ``ddpm`` and ``mutant:<mutant name>``.
    Options are ``key=value`` or a bare variant:

    * ``seeds2:r=1/3:phi_2`` — stage fraction r ∈ (0, 1] (default 1/2), variant phi_1 (default)
      or phi_2;
    * ``seeds3:r_1=1/4:r_2=3/4:3b`` — fractions (default 1/3, 2/3), variant 3a (default) or 3b;
    * ``mutant:swapped_noise`` — see :mod:`.mutants` for the names.

    Fractions must be rationals p/q with q ≤ 1000. Bad spellings raise ValueError.
    """
    from .mutants import MUTANTS

    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"solver must be a non-empty string, got {text!r}")
    parts = [p.strip() for p in text.strip().split(":")]
    name, opts = parts[0].lower(), parts[1:]
    keyed, bare = {}, []
    for opt in opts:
        if "=" in opt:
            k, v = opt.split("=", 1)
            if k.strip() in keyed:
                raise ValueError(f"option {k.strip()!r} is given twice in {text!r}")
            keyed[k.strip()] = v.strip()
        elif opt:
            bare.append(opt)

    def reject_extra(allowed_keys, allowed_bare):
        for k in keyed:
            if k not in allowed_keys:
                raise ValueError(f"unknown option {k!r} for solver {name!r} in {text!r}")
        for b in bare:
            if b not in allowed_bare:
                raise ValueError(f"unknown option {b!r} for solver {name!r} in {text!r}")
        if len(bare) > 1:
            raise ValueError(f"solver {text!r} names more than one variant")

    one = (Fraction(1),)
    if name == "seeds1":
        reject_extra((), ())
        return SolverChoice("seeds1", SEEDS1, one, "seeds1")
    if name == "seeds2":
        reject_extra(("r", "variant"), ("phi_1", "phi_2"))
        r = _fraction(keyed.get("r", "1/2"), "r", closed=True)
        variant = keyed.get("variant", bare[0] if bare else "phi_1")
        if variant not in ("phi_1", "phi_2"):
            raise ValueError(f"variant of seeds2 must be phi_1 or phi_2, got {variant!r}")
        return SolverChoice(f"seeds2(r={_frac_text(r)},{variant})",
                            lambda: SEEDS2(float(r), variant), (r, Fraction(1)), f"seeds2_{variant}")
    if name == "seeds3":
        reject_extra(("r_1", "r_2", "variant"), ("3a", "3b"))
        r1 = _fraction(keyed.get("r_1", "1/3"), "r_1")
        r2 = _fraction(keyed.get("r_2", "2/3"), "r_2")
        if not r1 < r2:
            raise ValueError(f"r_1 must be smaller than r_2 in {text!r}")
        variant = keyed.get("variant", bare[0] if bare else "3a")
        if variant not in ("3a", "3b"):
            raise ValueError(f"variant of seeds3 must be 3a or 3b, got {variant!r}")
        return SolverChoice(f"seeds3(r_1={_frac_text(r1)},r_2={_frac_text(r2)},{variant})",
                            lambda: SEEDS3(float(r1), float(r2), variant), (r1, r2, Fraction(1)),
                            f"seeds3_{variant}")
    if name == "em":
        reject_extra((), ())
        return SolverChoice("em", EulerMaruyama, one, "em")
    if name == "ddpm":
        reject_extra((), ())
        return SolverChoice("ddpm", DDPMAncestral, one, "ddpm")
    if name == "mutant":
        if len(bare) != 1 or keyed:
            raise ValueError(f"write a mutant as mutant:<name> with name in {tuple(MUTANTS)}, got {text!r}")
        if bare[0] not in MUTANTS:
            raise ValueError(f"unknown mutant {bare[0]!r}; choose from {tuple(MUTANTS)}")
        factory, description, fractions = MUTANTS[bare[0]]
        scheme = "seeds2_phi_1_swapped" if bare[0] == "swapped_noise" else None
        return SolverChoice(f"mutant:{bare[0]}", factory, fractions, scheme, bare[0], description)
    raise ValueError(f"unknown solver {name!r}; choose from seeds1, seeds2, seeds3, em, ddpm, mutant:<name>")


def solver_subject(choice: SolverChoice | str, prediction: str, eta: float = 1.0) -> Subject:
    """A reference solver in one prediction form as a :class:`Subject`.

    It runs on the study's schedule: x = α_start y in, y = x/α_end out. It declares the orders of
    its class (``Solver.expected_order``) and reads its noise as z_η (data form) or z_{−1} (noise
    form), MATH §4.
    """
    if isinstance(choice, str):
        choice = parse_solver(choice)
    form = check_form(prediction)
    eta = check_eta(eta)
    solver = choice.build()

    def run(setup, y, lambdas, noise, eta_run):
        lam = np.asarray(lambdas, dtype=np.float64)
        a0 = float(setup.schedule.alpha_of_lam(lam[0]))
        a1 = float(setup.schedule.alpha_of_lam(lam[-1]))
        x = choice.build().solve(setup.model, a0 * y, lam, schedule=setup.schedule,
                                 noise=_whole_chain_source(noise), eta=eta_run, prediction=form)
        return x / a1

    declared = {regime: solver.expected_order(regime, eta if regime != "deterministic" else 0.0)
                for regime in REGIMES}
    return Subject(label=choice.label, run=run, declared=declared, stochastic=True, eta=eta,
                   weight_exponent=form_weight_exponent(form, eta),
                   denominators=tuple(f.denominator for f in choice.fractions), prediction=form,
                   scheme=choice.scheme, fractions=tuple(choice.fractions), mutant=choice.mutant,
                   description=choice.description)


class _PathBehindWrapper:
    """The Brownian path behind a study's noise wrapper, read whole-chain by a reference solver.

    Calls go to the wrapper as before; ``increments`` (the solver's window reads, MATH §4) go to
    the path, and a ``calls`` counter on the wrapper advances by the increments read, so that
    it still tells whether the solver asked for noise at all.
    """

    def __init__(self, wrapper, path: BrownianPath):
        self.wrapper, self.path = wrapper, path

    def __call__(self, lam_a, lam_b, k):
        return self.wrapper(lam_a, lam_b, k)

    def increments(self, points, k):
        rows = self.path.increments(points, k)
        calls = getattr(self.wrapper, "calls", None)
        if isinstance(calls, int) and not isinstance(calls, bool):
            self.wrapper.calls = calls + rows.shape[0]
        return rows


def _whole_chain_source(noise):
    """What a reference solver reads: ``noise`` itself, or — for a wrapper that forwards each call
    unchanged (up to a dtype cast, which the solver applies anyway) to a
    :class:`~seeds_verify.noise.BrownianPath` held as ``noise.noise``, as the studies count or
    cast calls — that path read whole-chain (``Solver.solve``), the wrapper's ``calls`` kept.
    A run with the bare path and one through such a wrapper then take the same code."""
    if noise is None or callable(getattr(noise, "increments", None)):
        return noise
    inner = getattr(noise, "noise", None)
    return _PathBehindWrapper(noise, inner) if isinstance(inner, BrownianPath) else noise


# --------------------------------------------------------------------------------------------
# Any sampler in the k-diffusion convention
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplerSignature:
    """What a sampler's signature says (``functools.partial`` bound keywords included).

    Attributes:
        has_noise_sampler, has_eta, has_callback: whether it takes these keywords (or ``**kwargs``
            for the last one only if named).
        eta_default: the default of ``eta`` (a bound partial keyword counts), or None.
    """

    has_noise_sampler: bool
    has_eta: bool
    has_callback: bool
    eta_default: float | None

    @classmethod
    def of(cls, sampler: Callable) -> "SamplerSignature":
        try:
            params = inspect.signature(sampler).parameters
        except (TypeError, ValueError) as exc:
            raise TypeError(f"sampler: cannot read the signature of {sampler!r}: {exc}") from exc
        eta = params.get("eta")
        default = None
        if eta is not None and eta.default is not inspect.Parameter.empty:
            default = eta.default
        return cls("noise_sampler" in params, eta is not None, "callback" in params,
                   None if default is None else float(default))


def resolve_eta(sampler: Callable, eta, sampler_kwargs: Mapping) -> float:
    """η of the reference SDE for ``sampler`` (the first that applies):

    the ``eta`` argument; ``sampler_kwargs["eta"]``; the sampler's own default for ``eta`` as its
    signature shows it (a ``functools.partial``'s bound keywords included); 0 when it has no
    ``noise_sampler`` parameter; otherwise a ValueError asking for ``eta``.
    """
    sig = SamplerSignature.of(sampler)
    if eta is not None:
        return check_eta(eta)
    if "eta" in sampler_kwargs:
        return check_eta(sampler_kwargs["eta"])
    if sig.eta_default is not None:
        return check_eta(sig.eta_default)
    if not sig.has_noise_sampler:
        return 0.0
    raise ValueError("eta: the sampler takes a noise_sampler but states no default eta; pass eta= "
                     "(the η of the reverse SDE it solves, MATH §3)")


def sampler_label(sampler: Callable) -> str:
    """``module:function`` (with the bound keywords of a partial)."""
    base = sampler.func if isinstance(sampler, functools.partial) else sampler
    name = f"{getattr(base, '__module__', '?')}:{getattr(base, '__qualname__', type(base).__name__)}"
    if isinstance(sampler, functools.partial) and sampler.keywords:
        name += "(" + ",".join(f"{k}={v!r}" for k, v in sampler.keywords.items()) + ")"
    return name


class _NoiseSamplerAdapter:
    """``noise_sampler(σ_a, σ_b)`` for a sampler, reading z_k(−log σ_a, −log σ_b) from ``noise``."""

    def __init__(self, noise, k: float, like: torch.Tensor):
        self.noise, self.k, self.like = noise, float(k), like

    def __call__(self, sigma_a, sigma_b):
        try:
            sa, sb = float(sigma_a), float(sigma_b)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise SamplerError(f"noise_sampler was called with non-scalar sigmas {sigma_a!r}, {sigma_b!r}") from exc
        if not (sa > 0 and sb > 0 and math.isfinite(sa) and math.isfinite(sb)):
            raise SamplerError(f"noise_sampler was called with sigmas {sa!r}, {sb!r}: both must be "
                               "positive and finite")
        if not sb < sa:
            raise SamplerError(f"noise_sampler was called with sigma_b={sb!r} not below sigma_a={sa!r}")
        try:
            z = self.noise(-math.log(sa), -math.log(sb), self.k)
        except ValueError as exc:
            raise SamplerError(f"noise_sampler({sa!r}, {sb!r}): {exc} (the Brownian path has nodes at "
                               f"fractions 1/2, 1/3 and 2/3 of every step)") from exc
        return z.to(self.like.dtype)


def sampler_subject(sampler: Callable, *, eta: float, weight_exponent: float | None = None,
                    declared: Mapping[str, float] | None = None, sampler_kwargs: Mapping | None = None,
                    label: str | None = None) -> Subject:
    """Any sampler in the k-diffusion convention as a :class:`Subject` (module docstring).

    A sampler without a ``noise_sampler`` parameter is deterministic: only the deterministic regime
    applies and it is run without ``noise_sampler`` and ``eta``. A stochastic sampler is run with
    ``eta`` (when it takes one) set to the regime's η; its deterministic regime needs an ``eta``
    parameter. ``weight_exponent`` defaults to η (the data-prediction convention of SEEDS and
    DPM-Solver++ SDE samplers, MATH §4).
    """
    if not callable(sampler):
        raise TypeError(f"sampler must be callable, got {type(sampler).__name__}")
    kwargs = dict(sampler_kwargs or {})
    for reserved in ("noise_sampler", "callback", "disable", "extra_args"):
        if reserved in kwargs:
            raise ValueError(f"sampler_kwargs: {reserved!r} is set by the study and may not be given")
    sig = SamplerSignature.of(sampler)
    eta = check_eta(eta)
    kwargs.pop("eta", None)
    k = eta if weight_exponent is None else float(weight_exponent)
    if not math.isfinite(k):
        raise ValueError(f"weight_exponent must be finite, got {weight_exponent!r}")
    declared = dict(declared or {})
    for regime, order in declared.items():
        if regime not in REGIMES:
            raise ValueError(f"declared: unknown regime {regime!r} (choose from {REGIMES})")
        if order is not None and not (isinstance(order, (int, float)) and math.isfinite(order) and order > 0):
            raise ValueError(f"declared: order of {regime!r} must be a positive number, got {order!r}")
    not_applicable = {}
    if not sig.has_noise_sampler:
        for regime in ("strong", "weak"):
            not_applicable[regime] = "the sampler has no noise_sampler parameter (deterministic)"
    elif eta == 0.0:
        for regime in ("strong", "weak"):
            not_applicable[regime] = "eta = 0: the strong and weak regimes need a stochastic sampler (eta > 0)"
    if sig.has_noise_sampler and not sig.has_eta:
        not_applicable["deterministic"] = "the sampler has a noise_sampler but no eta parameter to set to 0"

    def run(setup, y, lambdas, noise, eta_run):
        lam = np.asarray(lambdas, dtype=np.float64)
        # σ̃ in float64 whatever the state's dtype, so that noise calls land on the path's nodes.
        sigmas = torch.as_tensor(np.exp(-lam), dtype=torch.float64, device=y.device)
        problem = setup.problem

        def model(x, sigma, **extra):
            if not isinstance(x, torch.Tensor) or x.shape[-1:] != y.shape[-1:]:
                raise SamplerError(f"the sampler called the model with x of shape "
                                   f"{tuple(getattr(x, 'shape', ()))}, not (..., {y.shape[-1]})")
            if not all_finite(x):
                s = sigma.reshape(-1)[0] if isinstance(sigma, torch.Tensor) else sigma
                raise SamplerError(f"a non-finite state reached the model at sigma={float(s):.4g}")
            return problem.denoiser(x, sigma)

        kw = dict(kwargs)
        kw["disable"] = True
        if sig.has_eta:
            kw["eta"] = eta_run
        if sig.has_noise_sampler:
            if noise is None:
                raise SamplerError("a stochastic sampler needs a noise source")
            kw["noise_sampler"] = _NoiseSamplerAdapter(noise, k, y)
        watch = _StepWatch()
        if sig.has_callback:
            kw["callback"] = watch
        out = sampler(model, y.clone(), sigmas, **kw)
        if not isinstance(out, torch.Tensor):
            raise SamplerError(f"the sampler returned {type(out).__name__}, not a torch.Tensor")
        if out.shape != y.shape:
            raise SamplerError(f"the sampler returned shape {tuple(out.shape)} for x of shape {tuple(y.shape)}")
        if not torch.is_floating_point(out):
            raise SamplerError(f"the sampler returned dtype {out.dtype}, not a floating-point tensor")
        if not torch.isfinite(out).all() and watch.first_bad is not None:
            i, s = watch.first_bad
            raise SamplerError(f"non-finite state first at step i={i} (sigma={s:.4g}) of {lam.size - 1}")
        return out

    return Subject(label=label or sampler_label(sampler), run=run, declared=declared,
                   stochastic=sig.has_noise_sampler, eta=eta,
                   weight_exponent=k if sig.has_noise_sampler else None,
                   denominators=SAMPLER_DENOMINATORS, not_applicable=not_applicable)


class _StepWatch:
    """A k-diffusion ``callback`` remembering the first step whose state or denoised is non-finite."""

    def __init__(self):
        self.first_bad = None

    def __call__(self, info):
        if self.first_bad is not None or not isinstance(info, dict):
            return
        for key in ("x", "denoised"):
            v = info.get(key)
            if isinstance(v, torch.Tensor) and not torch.isfinite(v).all():
                sigma = info.get("sigma")
                try:
                    sigma = float(sigma)
                except (TypeError, ValueError, RuntimeError):
                    sigma = math.nan
                self.first_bad = (info.get("i"), sigma)
                return

