"""Where the GP solver's grid-sized arrays live: the array module and host <-> device moves.

The solver reaches the device only through this module (``get_xp``, ``to_device``,
``to_host``, ``is_device_array``), so one code path serves numpy and cupy: with numpy every
move is the identity (the CPU results stay bit-for-bit those of the numpy-only solver), and
the tests swap ``get_xp`` for a strict numpy-backed stand-in to exercise the device path on a
machine without a GPU (tests/test_gp_device.py).
"""
from __future__ import annotations

import contextlib

from typing import Any

import numpy as np

from .. import _dispatch
from .._dispatch import _cupy, is_cupy_array

__all__ = ["DEVICES", "resolve_device", "get_xp", "to_device", "to_host", "is_device_array"]

DEVICES = ("cpu", "cuda")


def is_device_array(a: Any) -> bool:
    """True for a device (cupy, or the tests' stand-in) array: not a numpy array, but has
    ``shape`` and a ``get()`` that copies it to the host (cupy's interface)."""
    return (not isinstance(a, np.ndarray) and hasattr(a, "shape")
            and callable(getattr(a, "get", None)))


def to_host(a: Any) -> Any:
    """numpy copy of a device array; numpy arrays and other objects are returned as they are."""
    if is_device_array(a):
        return a.get()
    return a


def device_of(a: Any) -> Any:
    """A context making a's GPU current (cupy's ``a.device``); a no-op for arrays without one
    (numpy, the tests' stand-in)."""
    dev = getattr(a, "device", None)
    return dev if hasattr(dev, "__enter__") else contextlib.nullcontext()


def to_device(a: Any, xp: Any) -> Any:
    """``a`` on the device of array module ``xp`` (the identity for numpy: no copy)."""
    if xp is np:
        return a
    return xp.asarray(a)


def get_xp(device: str):
    """The array module of ``device`` ('cpu': numpy, 'cuda': cupy); RuntimeError when cupy or
    a CUDA device is missing."""
    if device == "cpu":
        return np
    if device != "cuda":
        raise ValueError(f"device must be 'cpu', 'cuda' or None, got {device!r}")
    cp = _cupy()
    if cp is None:
        raise RuntimeError("device='cuda' needs cupy, which cannot be imported here "
                           "(pip install cupy-cuda12x)")
    if _dispatch._cuda is None:
        # checked here, not at the first Kronecker product deep inside a U solve
        raise RuntimeError("device='cuda' needs fastspectral's CUDA module, and this build has "
                           "none (nvcc was not found at build time, or FASTSPECTRAL_ENABLE_CUDA="
                           "OFF)")
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as e:  # a cupy without a driver raises its own CUDA errors
        raise RuntimeError(f"device='cuda' but no CUDA device is usable ({type(e).__name__}: "
                           f"{e})") from e
    if n == 0:
        raise RuntimeError("device='cuda' but no CUDA device is visible")
    return cp


def _array_data(problem) -> list:
    """The problem's array-valued data (source / boundary given as arrays, not callables)."""
    return [v for v in (problem.source, problem.boundary)
            if not callable(v) and hasattr(v, "shape") and not isinstance(v, np.generic)]


def resolve_device(problem, device: str | None) -> str:
    """The device a solve runs on: ``device`` when given ('cpu' or 'cuda'); None picks 'cuda'
    when the problem's array data (source / boundary arrays) are cupy arrays, else 'cpu'.
    Mixing cupy and numpy arrays in one problem is a ValueError (say which device to use by
    passing arrays of one kind)."""
    if device is not None and device not in DEVICES:
        raise ValueError(f"device must be 'cpu', 'cuda' or None, got {device!r}")
    data = _array_data(problem)
    kinds = {"cupy" if is_cupy_array(a) else "numpy" for a in data}
    if len(kinds) > 1:
        names = [f"{n}: {'cupy' if is_cupy_array(a) else type(a).__name__}"
                 for n, a in zip(("source", "boundary"), (problem.source, problem.boundary))
                 if any(a is v for v in data)]
        raise ValueError("the problem mixes cupy and numpy arrays (" + ", ".join(names) +
                         "); give all array data on one device")
    if device is not None:
        return device
    return "cuda" if kinds == {"cupy"} else "cpu"

