"""Array-module dispatch: which backend runs a call (NumPy ufunc or CUDA kernel), device
checks and input validation shared by the public wrappers."""
from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from . import _core

try:  # the CUDA module exists only when the package was built with nvcc
    from . import _cuda  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the build
    _cuda = None

try:
    from . import _build_config
except ImportError:  # pragma: no cover
    _build_config = None


def has_cuda() -> bool:
    """True when the CUDA module was compiled in and at least one device is visible."""
    return _cuda is not None and _cuda.device_count() > 0


def gpu_unavailable_reason() -> str | None:
    """Why GPU work cannot run here (None when a CUDA build, a visible device and cupy are
    all present)."""
    if _cuda is None:
        return ("fastspectral was built without its CUDA module (nvcc not found at build time, "
                "or FASTSPECTRAL_ENABLE_CUDA=OFF)")
    if _cuda.device_count() == 0:
        return "no CUDA device is visible"
    if _cupy() is None:
        return "cupy is not installed (pip install 'fastspectral[gpu]')"
    return None


def build_info() -> dict[str, Any]:
    """Facts about this build: CUDA compiled in (and for which architectures), visible
    devices, OpenMP and its thread count."""
    core = _core.build_info()
    info: dict[str, Any] = {
        "cuda_compiled": _cuda is not None,
        "cuda_architectures": tuple(_cuda.architectures.split(",")) if _cuda is not None else (),
        "cuda_runtime_version": _cuda.runtime_version() if _cuda is not None else None,
        "cuda_device_count": _cuda.device_count() if _cuda is not None else 0,
        "openmp": core["openmp"],
        "omp_max_threads": core["max_threads"],
        "compiler": core["compiler"],
    }
    if _build_config is not None:
        info["build_type"] = _build_config.BUILD_TYPE
    return info


@functools.lru_cache(maxsize=1)
def _cupy():
    try:
        import cupy  # noqa: F401
        return cupy
    except Exception:  # ImportError, or a broken CUDA install
        return None


def is_cupy_array(a: Any) -> bool:
    """True for a cupy.ndarray, without importing cupy when it is not already loaded."""
    mod = type(a).__module__
    return mod.startswith("cupy") and hasattr(a, "__cuda_array_interface__")


def any_cupy(*arrays: Any) -> bool:
    return any(is_cupy_array(a) for a in arrays)


def require_gpu_env() -> bool:
    """FASTSPECTRAL_REQUIRE_GPU=1 turns every GPU skip into a failure."""
    return os.environ.get("FASTSPECTRAL_REQUIRE_GPU", "0") not in ("", "0", "false", "False")


def get_cuda_module():
    if _cuda is None:
        raise RuntimeError(
            "fastspectral was built without CUDA (nvcc was not found at build time, or "
            "FASTSPECTRAL_ENABLE_CUDA=OFF); rebuild with FASTSPECTRAL_ENABLE_CUDA=ON to use "
            "cupy arrays")
    if _cuda.device_count() == 0:
        raise RuntimeError("fastspectral: no CUDA device is visible")
    return _cuda
