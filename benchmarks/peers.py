"""The peer packages the benchmarks compare against, or why they are absent.

Peers are installed from PyPI (``requirements-bench.txt``); nothing here re-implements them.
k-diffusion's sampling module is loaded by :func:`seeds_verify.peers.k_diffusion_sampling`
(without the package's training stack; see that module), re-exported here together with
:class:`~seeds_verify.peers.PeerUnavailable`.
"""

from __future__ import annotations

import importlib

from seeds_verify.peers import PeerUnavailable, k_diffusion_load_info, k_diffusion_sampling

__all__ = ["k_diffusion_sampling", "torchsde_module", "peer_versions", "PeerUnavailable"]


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def torchsde_module():
    """The ``torchsde`` module, or :class:`PeerUnavailable` with the reason."""
    try:
        return importlib.import_module("torchsde")
    except Exception as exc:
        raise PeerUnavailable(f"torchsde cannot be imported: {type(exc).__name__}: {exc}") from exc


def peer_versions() -> dict:
    """Installed versions of the peers and of torch (None where absent)."""
    out = {d: _version(d) for d in ("torch", "k-diffusion", "torchsde", "torchdiffeq", "diffusers", "pot")}
    info = k_diffusion_load_info()
    if "torchvision_placeholder" in info:
        out["k_diffusion_torchvision_placeholder"] = info["torchvision_placeholder"]
    return out
