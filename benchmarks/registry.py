"""The samplers compared, all called in the k-diffusion convention, with honest NFE accounting.

Every sampler here receives ``sigmas = [σ_1 > … > σ_M > 0, 0]`` and a denoiser
``model(x, sigma)``. Each of the M − 1 steps between positive sigmas costs ``nfe_per_step``
model calls; the last step, to σ = 0, costs one call for every sampler (ours and k-diffusion's
return the denoised value there; DPM-2, DPM++ SDE and Heun fall back to one Euler step, which
at σ = 0 is the same thing). Hence

    NFE = nfe_per_step · (M − 1) + 1,

which :func:`positive_sigmas` inverts; the benchmarks count the calls and check it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from seeds_verify.samplers import run_karras_sampler, sample_seeds_1, sample_seeds_2, sample_seeds_3
from seeds_verify.solvers import DDPMAncestral, EulerMaruyama

from .peers import PeerUnavailable, k_diffusion_sampling

__all__ = ["SamplerEntry", "ours", "k_diffusion_peers", "all_samplers", "positive_sigmas",
           "nfe_of", "CountingModel", "EDM_CHURN"]

# Stochastic EDM sampler settings of Karras et al. (2022), ImageNet-64 column, with s_noise = 1
# because the denoiser here is exact (s_noise > 1 compensates for a learned denoiser).
EDM_CHURN = {"s_churn": 40.0, "s_tmin": 0.05, "s_tmax": 50.0, "s_noise": 1.0}


@dataclass
class SamplerEntry:
    """A sampler under a short name, with its family, cost per step and how to call it."""

    name: str
    family: str  # "ours" or "k-diffusion"
    nfe_per_step: int
    run: Callable  # run(model, x, sigmas) -> tensor
    note: str = ""
    options: dict = field(default_factory=dict)


def positive_sigmas(nfe: int, nfe_per_step: int) -> int:
    """M, the number of positive sigmas, for which a sampler spends exactly ``nfe`` calls."""
    if nfe < 2 or (nfe - 1) % nfe_per_step:
        raise ValueError(f"nfe={nfe} is not 1 + a multiple of {nfe_per_step} (with at least one step)")
    return (nfe - 1) // nfe_per_step + 1


def nfe_of(n_positive: int, nfe_per_step: int) -> int:
    """Model calls for ``n_positive`` positive sigmas plus the final 0 (see the module docstring)."""
    return nfe_per_step * (n_positive - 1) + 1


class CountingModel:
    """A k-diffusion denoiser ``fn(x, sigma)`` that counts its calls."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.calls = 0

    def __call__(self, x, sigma, **kwargs):
        self.calls += 1
        return self.fn(x, sigma)


def _ours_entry(name, nfe, fn, **options):
    def run(model, x, sigmas):
        return fn(model, x, sigmas, disable=True, **options)

    return SamplerEntry(name, "ours", nfe, run, options=options)


def ours(include_noise_form: bool = True) -> list[SamplerEntry]:
    """SEEDS-1/2/3 (η = 1, data and noise form), Euler–Maruyama and DDPM ancestral."""
    entries = [_ours_entry("seeds1", 1, sample_seeds_1, eta=1.0, prediction="data"),
               _ours_entry("seeds2", 2, sample_seeds_2, eta=1.0, prediction="data"),
               _ours_entry("seeds3", 3, sample_seeds_3, eta=1.0, prediction="data")]
    if include_noise_form:
        entries += [_ours_entry("seeds1-noise", 1, sample_seeds_1, eta=1.0, prediction="noise"),
                    _ours_entry("seeds2-noise", 2, sample_seeds_2, eta=1.0, prediction="noise"),
                    _ours_entry("seeds3-noise", 3, sample_seeds_3, eta=1.0, prediction="noise")]

    def em(model, x, sigmas):
        return run_karras_sampler(EulerMaruyama(), model, x, sigmas, eta=1.0, disable=True)

    def ddpm(model, x, sigmas):
        return run_karras_sampler(DDPMAncestral(), model, x, sigmas, eta=1.0, disable=True)

    entries += [SamplerEntry("euler-maruyama", "ours", 1, em), SamplerEntry("ddpm-ancestral", "ours", 1, ddpm)]
    return entries


def k_diffusion_peers(plain_noise_2m: bool = False) -> tuple[list[SamplerEntry], str | None]:
    """The k-diffusion samplers (unmodified, default options), or ([], reason) when absent.

    With ``plain_noise_2m`` an extra entry runs ``sample_dpmpp_2m_sde`` with k-diffusion's own
    ``default_noise_sampler`` (fresh Gaussian draws) instead of its default Brownian tree.
    """
    try:
        ks = k_diffusion_sampling()
    except PeerUnavailable as exc:
        return [], str(exc)

    def plain(fn, **kw):
        def run(model, x, sigmas):
            return fn(model, x, sigmas, disable=True, **kw)
        return run

    entries = [
        SamplerEntry("kd-euler-ancestral", "k-diffusion", 1, plain(ks.sample_euler_ancestral)),
        SamplerEntry("kd-dpm-2-ancestral", "k-diffusion", 2, plain(ks.sample_dpm_2_ancestral)),
        SamplerEntry("kd-dpmpp-sde", "k-diffusion", 2, plain(ks.sample_dpmpp_sde),
                     note="default noise: BrownianTreeNoiseSampler (torchsde)"),
        SamplerEntry("kd-dpmpp-2m-sde", "k-diffusion", 1, plain(ks.sample_dpmpp_2m_sde),
                     note="default noise: BrownianTreeNoiseSampler (torchsde)"),
        SamplerEntry("kd-dpmpp-3m-sde", "k-diffusion", 1, plain(ks.sample_dpmpp_3m_sde),
                     note="default noise: BrownianTreeNoiseSampler (torchsde)"),
        SamplerEntry("kd-edm-euler-churn", "k-diffusion", 1, plain(ks.sample_euler, **EDM_CHURN),
                     options=dict(EDM_CHURN)),
        SamplerEntry("kd-edm-heun-churn", "k-diffusion", 2, plain(ks.sample_heun, **EDM_CHURN),
                     options=dict(EDM_CHURN)),
    ]
    if plain_noise_2m:
        def run_plain_noise(model, x, sigmas):
            return ks.sample_dpmpp_2m_sde(model, x, sigmas, disable=True,
                                          noise_sampler=ks.default_noise_sampler(x))
        entries.append(SamplerEntry("kd-dpmpp-2m-sde-randn", "k-diffusion", 1, run_plain_noise,
                                    note="noise_sampler=default_noise_sampler (fresh randn)"))
    return entries, None


def all_samplers(include_noise_form: bool = True, plain_noise_2m: bool = False):
    """Ours followed by the peers; the second value is why the peers are missing (or None)."""
    peers, reason = k_diffusion_peers(plain_noise_2m)
    return ours(include_noise_form) + peers, reason

