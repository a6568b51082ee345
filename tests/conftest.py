"""Shared fixtures: the `gpu` marker and the `xp` fixture (numpy, and cupy when a GPU exists).

GPU tests skip without a device, and fail instead when FASTSPECTRAL_REQUIRE_GPU=1 (the GPU check
script sets it, so a GPU run can never pass by skipping)."""
from __future__ import annotations

import os

import numpy as np
import pytest

import fastspectral


def _require_gpu() -> bool:
    return os.environ.get("FASTSPECTRAL_REQUIRE_GPU", "0") not in ("", "0", "false", "False")


def _gpu_status() -> tuple[bool, str]:
    try:
        import cupy  # noqa: F401
    except Exception as e:  # pragma: no cover - depends on the machine
        return False, f"cupy not importable ({type(e).__name__}: {e})"
    if not fastspectral.build_info()["cuda_compiled"]:
        return False, "fastspectral was built without CUDA"
    if not fastspectral.has_cuda():
        return False, "no CUDA device visible"
    return True, ""


GPU_AVAILABLE, GPU_REASON = _gpu_status()


def pytest_runtest_setup(item):
    if "gpu" in item.keywords and not GPU_AVAILABLE:
        if _require_gpu():
            pytest.fail(f"FASTSPECTRAL_REQUIRE_GPU=1 but {GPU_REASON}", pytrace=False)
        pytest.skip(GPU_REASON)


_XP_PARAMS = [pytest.param("numpy", id="numpy"),
              pytest.param("cupy", id="cupy", marks=pytest.mark.gpu)]


@pytest.fixture(params=_XP_PARAMS)
def xp(request):
    """The array module under test: numpy always, cupy when a GPU is present."""
    if request.param == "numpy":
        return np
    import cupy
    return cupy


def to_numpy(a):
    """Host copy of a numpy or cupy array."""
    if hasattr(a, "get"):
        return a.get()
    return np.asarray(a)
