"""Third-party sampler packages, loaded on demand (never a dependency of the package).

k-diffusion (PyPI ``k-diffusion``) is the reference collection of samplers in the convention
``sampler(model, x, sigmas, ...)`` that :func:`seeds_verify.convergence.verify_sampler` speaks.
Its samplers live in ``k_diffusion/sampling.py``, which needs only torch, scipy, torchsde,
torchdiffeq, tqdm and ``k_diffusion/utils.py``. The package's ``__init__`` however imports its
whole training stack (models, evaluation and augmentation code: clean-fid, clip, kornia,
scikit-image, jsonmerge, torchvision, ...), which the samplers never touch and which is usually
not installed next to a pinned torch.

:func:`k_diffusion_sampling` therefore imports ``k_diffusion.sampling`` (and, through it,
``k_diffusion.utils``) from the installed files, unmodified, under a bare parent package whose
``__init__`` is not executed. ``utils.py`` imports ``torchvision.transforms.functional`` at
module level for its image helpers only; when torchvision cannot be imported (e.g. a CUDA wheel
whose C operators do not register against a CPU-only torch) an empty stand-in is placed under
that name *for the duration of the import* and removed afterwards, so that later imports of
torchvision elsewhere still see the real error. :func:`k_diffusion_load_info` says whether the
stand-in was needed.

Install (see ``benchmarks/README.md``)::

    pip install -c constraints.txt -r requirements-bench.txt
    pip install -c constraints.txt --no-deps k-diffusion==0.1.1.post1
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["PeerUnavailable", "k_diffusion_sampling", "k_diffusion_load_info", "INSTALL_HINT"]

INSTALL_HINT = ("install it with `pip install -c constraints.txt -r requirements-bench.txt` and "
                "`pip install -c constraints.txt --no-deps k-diffusion==0.1.1.post1` "
                "(see benchmarks/README.md)")

_TORCHVISION_NAMES = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")


class PeerUnavailable(ImportError, ValueError):
    """A peer package is missing or cannot be imported; the message says why and how to install.

    An :class:`ImportError` (it is one), and a :class:`ValueError` so that callers that report a
    bad sampler specification (``load_sampler`` of the convergence CLI) report this one too.
    """


class _Loader:
    """Loads ``k_diffusion.sampling`` once and remembers the module or the reason it failed."""

    def __init__(self):
        self.module = None
        self.error: str | None = None
        self.info: dict = {}

    def load(self):
        if self.module is not None:
            return self.module
        if self.error is not None:
            raise PeerUnavailable(self.error)
        try:
            self.module = self._import()
        except PeerUnavailable as exc:
            self.error = str(exc)
            raise
        return self.module

    def _import(self):
        already = sys.modules.get("k_diffusion.sampling")
        if already is not None:
            self.info = {"source": "already imported", "torchvision_placeholder": False}
            return already
        try:
            spec = importlib.util.find_spec("k_diffusion")
        except (ImportError, ValueError) as exc:
            raise PeerUnavailable(f"k-diffusion cannot be located ({exc}); {INSTALL_HINT}") from exc
        if spec is None or not spec.submodule_search_locations:
            raise PeerUnavailable(f"k-diffusion is not installed; {INSTALL_HINT}")
        stub = None
        if "k_diffusion" not in sys.modules:
            stub = types.ModuleType("k_diffusion", "bare parent of k_diffusion.sampling "
                                                   "(the package __init__ is not run)")
            stub.__path__ = list(spec.submodule_search_locations)
            stub.__file__ = spec.origin
            stub.__package__ = "k_diffusion"
            sys.modules["k_diffusion"] = stub
        placeholders = _torchvision_stand_in()
        try:
            module = importlib.import_module("k_diffusion.sampling")
        except Exception as exc:  # torchsde, torchdiffeq, safetensors, ... missing or broken
            for name in ("k_diffusion.sampling", "k_diffusion.utils"):
                sys.modules.pop(name, None)
            if stub is not None and sys.modules.get("k_diffusion") is stub:
                del sys.modules["k_diffusion"]
            raise PeerUnavailable(f"k_diffusion.sampling cannot be imported: {type(exc).__name__}: "
                                  f"{exc}; {INSTALL_HINT}") from exc
        finally:
            for name, mod in placeholders.items():
                if sys.modules.get(name) is mod:
                    del sys.modules[name]
        self.info = {"source": module.__file__, "bare_parent": stub is not None,
                     "torchvision_placeholder": bool(placeholders)}
        return module


def _torchvision_stand_in() -> dict:
    """Register empty torchvision modules if the real ones cannot be imported; returns them."""
    try:
        importlib.import_module("torchvision.transforms.functional")
        return {}
    except Exception:
        pass
    for name in list(sys.modules):  # drop whatever the failed import left half-initialised
        if name == "torchvision" or name.startswith("torchvision."):
            del sys.modules[name]
    mods = {name: types.ModuleType(name, "empty stand-in: torchvision is not importable")
            for name in _TORCHVISION_NAMES}
    mods["torchvision"].transforms = mods["torchvision.transforms"]
    mods["torchvision.transforms"].functional = mods["torchvision.transforms.functional"]
    sys.modules.update(mods)
    return mods


_K_DIFFUSION = _Loader()


def k_diffusion_sampling():
    """The ``k_diffusion.sampling`` module, imported without k-diffusion's training stack.

    Loaded once per process (module docstring). Raises :class:`PeerUnavailable` (an ImportError)
    saying why and how to install it when k-diffusion or one of its sampling dependencies is
    missing; the failure is remembered, so later calls raise the same error at once.
    """
    return _K_DIFFUSION.load()


def k_diffusion_load_info() -> dict:
    """How k_diffusion.sampling was loaded: ``source`` (its file), ``bare_parent`` (whether the
    package __init__ was skipped), ``torchvision_placeholder`` (whether the stand-in was needed);
    empty before the first successful :func:`k_diffusion_sampling`."""
    return dict(_K_DIFFUSION.info)
