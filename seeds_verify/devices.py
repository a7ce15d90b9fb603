"""Validation of a ``device`` argument, shared by the noise sources, the schedules and the CLIs.

``torch.device`` accepts many strings that no computation here can run on (``"meta"`` holds no
data, ``"cuda"`` parses on a machine without CUDA, ``"cpu:3"`` names a CPU that does not exist)
and raises a bare ``RuntimeError`` for garbage. :func:`check_device` turns every such case into a
``ValueError`` (``TypeError`` for a non-device type) that names the argument, and returns the
``torch.device`` to use.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["SUPPORTED_DEVICE_TYPES", "check_device"]

SUPPORTED_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def _availability(kind: str) -> tuple[bool, int]:
    """(is this device type usable here, how many devices of it)."""
    if kind == "cpu":
        return True, 1
    if kind == "cuda":
        available = torch.cuda.is_available()
        return available, torch.cuda.device_count() if available else 0
    if kind == "mps":
        backend = getattr(torch.backends, "mps", None)
        available = bool(backend is not None and backend.is_available())
        return available, 1 if available else 0
    if kind == "xpu":
        module = getattr(torch, "xpu", None)
        available = bool(module is not None and module.is_available())
        return available, module.device_count() if available else 0
    return False, 0


def check_device(device: Any, name: str = "device") -> torch.device:
    """The ``torch.device`` for ``device`` (``None`` means the CPU), checked to be usable here.

    Accepts a ``torch.device`` or a string such as ``"cpu"``, ``"cuda"`` or ``"cuda:1"``.
    TypeError (naming ``name``) for any other type; ValueError (naming ``name``) for an
    unparsable string, a device type outside :data:`SUPPORTED_DEVICE_TYPES` (``"meta"`` among
    them: it stores no numbers), a type this machine does not have (``"cuda"`` without CUDA) or
    an index beyond the devices present.
    """
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str):
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"{name}={device!r} is not a device string "
                             f"(expected one of {SUPPORTED_DEVICE_TYPES}, optionally ':index')") from exc
    elif isinstance(device, torch.device):
        dev = device
    else:
        raise TypeError(f"{name} must be a str or torch.device, got {type(device).__name__}")
    if dev.type not in SUPPORTED_DEVICE_TYPES:
        raise ValueError(f"{name}={device!r}: device type {dev.type!r} is not supported "
                         f"(expected one of {SUPPORTED_DEVICE_TYPES})")
    available, count = _availability(dev.type)
    if not available:
        raise ValueError(f"{name}={device!r}: torch sees no {dev.type} device on this machine")
    if dev.index is not None and dev.index >= count:
        raise ValueError(f"{name}={device!r}: index {dev.index} is out of range "
                         f"({count} {dev.type} device{'s' if count != 1 else ''} present)")
    return dev
