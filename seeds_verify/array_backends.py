"""The elementwise functions the numerics need, for numpy arrays and for torch tensors.

``coefficients`` and ``schedules`` write each formula once against these namespaces, so the
same float64 algorithm runs on numpy data and on tensors of any device.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["NumpyOps", "TorchOps"]


class NumpyOps:
    exp = staticmethod(np.exp)
    expm1 = staticmethod(np.expm1)
    log = staticmethod(np.log)
    log1p = staticmethod(np.log1p)
    sqrt = staticmethod(np.sqrt)
    sin = staticmethod(np.sin)
    atan2 = staticmethod(np.arctan2)
    abs = staticmethod(np.abs)
    maximum = staticmethod(np.maximum)
    where = staticmethod(np.where)
    full_like = staticmethod(np.full_like)
    zeros_like = staticmethod(np.zeros_like)


class TorchOps:
    exp = staticmethod(torch.exp)
    expm1 = staticmethod(torch.expm1)
    log = staticmethod(torch.log)
    log1p = staticmethod(torch.log1p)
    sqrt = staticmethod(torch.sqrt)
    sin = staticmethod(torch.sin)
    atan2 = staticmethod(torch.atan2)
    abs = staticmethod(torch.abs)
    where = staticmethod(torch.where)
    full_like = staticmethod(torch.full_like)
    zeros_like = staticmethod(torch.zeros_like)

    @staticmethod
    def maximum(x, c):
        return torch.clamp(x, min=c)
