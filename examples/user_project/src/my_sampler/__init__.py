"""my_sampler: k-diffusion-style samplers (see samplers.py; broken.py is a defective copy)."""

from .samplers import sample_exp_euler_sde, sample_multistep_2m

__all__ = ["sample_exp_euler_sde", "sample_multistep_2m"]
