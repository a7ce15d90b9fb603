"""Loading the peer packages the benchmarks compare against, or saying why they are absent.

Peers are installed from PyPI (``requirements-bench.txt``); nothing here re-implements them.

k-diffusion: its top-level ``k_diffusion/__init__.py`` imports the whole training stack
(models, evaluation, augmentation: clean-fid, clip, dctorch, kornia, scikit-image, jsonmerge,
torchvision, ...), none of which the samplers use. :func:`k_diffusion_sampling` therefore
registers an empty package object for ``k_diffusion`` whose search path is the installed
directory, so that ``import k_diffusion.sampling`` runs only ``sampling.py`` and ``utils.py``,
unmodified. ``utils.py`` imports ``torchvision.transforms.functional`` at module level for its
image helpers only; when torchvision is not importable (PyPI's torchvision wheels for torch 2.13
are CUDA builds whose C operators do not register against a CPU-only torch) an empty placeholder
module is registered under that name, which the sampling code never touches.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["k_diffusion_sampling", "torchsde_module", "peer_versions", "PeerUnavailable"]


class PeerUnavailable(RuntimeError):
    """A peer package is not installed or cannot be imported; the message says why."""


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def _placeholder_torchvision() -> bool:
    try:
        importlib.import_module("torchvision.transforms.functional")
        return False
    except Exception:
        for name in list(sys.modules):
            if name == "torchvision" or name.startswith("torchvision."):
                del sys.modules[name]
        names = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
        mods = [types.ModuleType(n) for n in names]
        mods[0].transforms = mods[1]
        mods[1].functional = mods[2]
        for n, m in zip(names, mods):
            sys.modules[n] = m
        return True


_KDIFF: dict = {}


def k_diffusion_sampling():
    """The ``k_diffusion.sampling`` module, loaded without the package's training stack.

    Raises :class:`PeerUnavailable` with the reason when it cannot be loaded.
    """
    if "module" in _KDIFF:
        return _KDIFF["module"]
    if "error" in _KDIFF:
        raise PeerUnavailable(_KDIFF["error"])
    try:
        spec = importlib.util.find_spec("k_diffusion")
        if spec is None or not spec.submodule_search_locations:
            raise PeerUnavailable("k-diffusion is not installed (pip install -r requirements-bench.txt)")
        loaded = sys.modules.get("k_diffusion")
        if loaded is None or not hasattr(loaded, "sampling"):
            pkg = types.ModuleType("k_diffusion")
            pkg.__path__ = list(spec.submodule_search_locations)
            pkg.__spec__ = spec
            pkg.__file__ = spec.origin
            sys.modules["k_diffusion"] = pkg
        _KDIFF["torchvision_placeholder"] = _placeholder_torchvision()
        module = importlib.import_module("k_diffusion.sampling")
    except PeerUnavailable as exc:
        _KDIFF["error"] = str(exc)
        raise
    except Exception as exc:  # missing torchsde / torchdiffeq / safetensors, ...
        _KDIFF["error"] = f"k_diffusion.sampling cannot be imported: {type(exc).__name__}: {exc}"
        raise PeerUnavailable(_KDIFF["error"]) from exc
    _KDIFF["module"] = module
    return module


def torchsde_module():
    """The ``torchsde`` module, or :class:`PeerUnavailable` with the reason."""
    try:
        return importlib.import_module("torchsde")
    except Exception as exc:
        raise PeerUnavailable(f"torchsde cannot be imported: {type(exc).__name__}: {exc}") from exc


def peer_versions() -> dict:
    """Installed versions of the peers and of torch (None where absent)."""
    out = {d: _version(d) for d in ("torch", "k-diffusion", "torchsde", "torchdiffeq", "diffusers", "pot")}
    if "torchvision_placeholder" in _KDIFF:
        out["k_diffusion_torchvision_placeholder"] = _KDIFF["torchvision_placeholder"]
    return out
