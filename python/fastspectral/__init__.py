"""fastspectral: C++/CUDA kernels for spectral and special-function numerics.

Modules
-------
special   log-domain and SciPy-compatible modified Bessel functions (NumPy ufuncs)
kron      Kronecker matrix-vector products and Kronecker algebra
vmf       von Mises-Fisher distributions: fit, sampling, mixtures
spectral  spectral convolution (the FNO layer), forward and backward
bench     the benchmark harness behind ``fastspectral bench``

The Bessel functions are also exported here in array-generic form (``fastspectral.log_iv``
etc.): NumPy arrays run the CPU ufunc, cupy arrays the CUDA kernel.
"""
from __future__ import annotations

from . import _core
from ._dispatch import build_info, has_cuda
from . import special
from . import kron
from . import vmf
from . import spectral
from . import gp

__version__ = "0.1.0"

globals().update(special.generic)

__all__ = ["__version__", "build_info", "has_cuda", "special", "kron", "vmf", "spectral", *special.generic]
