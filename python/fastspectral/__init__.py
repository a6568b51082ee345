"""fastspectral: C++/CUDA kernels for spectral and special-function numerics.

Subpackages
-----------
special   log-domain and SciPy-compatible modified Bessel functions (NumPy ufuncs; cupy on GPU)
bench     the benchmark harness behind ``fastspectral bench``
"""
from __future__ import annotations

from . import _core
from ._dispatch import build_info, has_cuda
from . import special
from .special import (
    log_iv, log_ive, log_kv, log_kve, log_iv_dx, log_kv_dx, iv_ratio,
)

__version__ = "0.1.0"

__all__ = [
    "__version__", "build_info", "has_cuda", "special",
    "log_iv", "log_ive", "log_kv", "log_kve", "log_iv_dx", "log_kv_dx", "iv_ratio",
]
