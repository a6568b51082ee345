"""Modified Bessel functions: log-domain versions that never overflow, and a drop-in
replacement for the ``scipy.special`` Bessel family.

Two ways to call each function
------------------------------
``fastspectral.special.<name>``
    A real :class:`numpy.ufunc` (``isinstance(special.iv, numpy.ufunc)`` holds), so it is a
    drop-in for ``scipy.special.<name>``: broadcasting, ``out=``, ``where=``, ``dtype=``,
    casting rules (float32 stays float32, integers become float64 as in SciPy) and
    ``__array_ufunc__`` dispatch (dask, xarray) all come from NumPy.  Long inputs use all
    cores (OpenMP; ``OMP_NUM_THREADS`` and ``threadpoolctl`` are honoured); the GIL is
    released while the loop runs.

``fastspectral.<name>`` (top level, e.g. ``fastspectral.log_iv``)
    Array-generic: NumPy inputs go to the ufunc above, cupy inputs run the same per-element
    code compiled as CUDA kernels, on cupy's current stream, and return cupy arrays.  (A NumPy
    ufunc cannot do this itself: cupy's ``__array_ufunc__`` refuses ufuncs it does not know.)

Functions (v: real order, x: real argument; all element-wise, float32 and float64)
-------------------------------------------------------------------------------------
=============  ===============================================================
log_iv(v, x)   log I_v(x); finite wherever I_v(x) > 0 (v up to 1e5+, x up to 1e300)
log_ive(v, x)  log(I_v(x) e^{-|x|})
log_kv(v, x)   log K_v(x), x > 0
log_kve(v, x)  log(K_v(x) e^{x})
log_iv_dx      d/dx log I_v(x)
log_kv_dx      d/dx log K_v(x)
iv_ratio       I_v(x) / I_{v-1}(x) for v >= 0.5, x >= 0 (SciPy's private ``_iv_ratio``)
iv, ive        as ``scipy.special.iv`` / ``ive``
kv, kve        as ``scipy.special.kv`` / ``kve``
i0 i0e i1 i1e  as ``scipy.special``
k0 k0e k1 k1e  as ``scipy.special``
=============  ===============================================================

Special values follow SciPy (x = 0, x < 0, negative orders, nan).  Where SciPy returns nan for
a limit that exists (``iv(1, inf)``, ``kve(1, inf)``, ``kv(inf, 1)``, ive/kve with x > 2**30)
these return the limit or the correct value.  ``log_iv`` is nan where I_v(x) < 0 (negative
non-integer orders with small x, odd orders with x < 0).

Deliberate departures at x = 0: for a negative non-integer order -a, I_{-a}(x) ~
(2/pi) sin(pi a) K_a(x) as x -> 0+, so ``iv(-a, 0)`` and ``ive(-a, 0)`` are the one-sided limit
+-inf *with the sign of sin(pi a)*: ``iv(-1.5, 0) = -inf`` where SciPy returns +inf
(``ive``: SciPy nan), ``iv(-0.5, 0) = +inf`` as in SciPy.

Orders and arguments up to the largest float are supported (the log functions use the Debye
expansion's homogeneity beyond 2**1020, where v + sqrt(v**2 + x**2) would overflow); a log that
exceeds the float range is +-inf, never a wrong finite number.

Examples
--------
>>> import numpy as np
>>> from fastspectral import special
>>> float(special.log_iv(1000.0, 1.0))      # scipy.special.ive(1000, 1) underflows to 0
-6605.27...
>>> special.ive(np.float32(2.5), np.float32([1.0, 10.0])).dtype
dtype('float32')
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _core
from ._dispatch import _cupy, get_cuda_module, is_cupy_array

BINARY = ("log_iv", "log_ive", "log_kv", "log_kve", "log_iv_dx", "log_kv_dx", "iv_ratio",
          "iv", "ive", "kv", "kve")
UNARY = ("i0", "i0e", "i1", "i1e", "k0", "k0e", "k1", "k1e")

log_iv: np.ufunc = _core.log_iv
log_ive: np.ufunc = _core.log_ive
log_kv: np.ufunc = _core.log_kv
log_kve: np.ufunc = _core.log_kve
log_iv_dx: np.ufunc = _core.log_iv_dx
log_kv_dx: np.ufunc = _core.log_kv_dx
iv_ratio: np.ufunc = _core.iv_ratio
iv: np.ufunc = _core.iv
ive: np.ufunc = _core.ive
kv: np.ufunc = _core.kv
kve: np.ufunc = _core.kve
i0: np.ufunc = _core.i0
i0e: np.ufunc = _core.i0e
i1: np.ufunc = _core.i1
i1e: np.ufunc = _core.i1e
k0: np.ufunc = _core.k0
k0e: np.ufunc = _core.k0e
k1: np.ufunc = _core.k1
k1e: np.ufunc = _core.k1e

_UFUNCS: dict[str, np.ufunc] = {name: getattr(_core, name) for name in BINARY + UNARY}


def _operand_dtype(a: Any) -> Any:
    """What ufunc.resolve_dtypes expects: a dtype for arrays, the Python type for scalars
    (so they promote weakly, as in a NumPy call)."""
    if isinstance(a, (bool, int, float)):
        return type(a)
    if hasattr(a, "dtype"):
        return np.dtype(a.dtype)
    raise TypeError(f"fastspectral: unsupported argument of type {type(a).__name__}")


def _call_cuda(name: str, args: tuple[Any, ...], out: Any) -> Any:
    """Run the CUDA kernel for `name` on cupy arrays (broadcast, cast, contiguous)."""
    cp = _cupy()
    if cp is None:
        raise RuntimeError("fastspectral: cupy arrays were given but cupy cannot be imported")
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            raise TypeError(
                f"fastspectral.{name}: argument {i} is a numpy array while another is a cupy "
                "array; pass all arrays on one device")
    ufunc = _UFUNCS[name]
    try:
        dtypes = ufunc.resolve_dtypes(tuple(_operand_dtype(a) for a in args) + (None,))
    except TypeError as e:
        raise TypeError(f"fastspectral.{name}: unsupported input dtypes: {e}") from None
    dtype = dtypes[-1]
    arrays = [cp.asarray(a, dtype=dtype) for a in args]
    arrays = cp.broadcast_arrays(*arrays)
    arrays = [cp.ascontiguousarray(a) for a in arrays]
    shape = arrays[0].shape
    device = cp.cuda.Device()
    for i, a in enumerate(arrays):
        if a.device.id != device.id:
            raise ValueError(f"fastspectral.{name}: argument {i} is on GPU {a.device.id}, "
                             f"the current device is GPU {device.id}")
    if out is None:
        result = cp.empty(shape, dtype=dtype)
    else:
        if not is_cupy_array(out):
            raise TypeError(f"fastspectral.{name}: out must be a cupy array for cupy inputs")
        if out.shape != shape or out.dtype != dtype:
            raise ValueError(f"fastspectral.{name}: out has shape {out.shape} and dtype "
                             f"{out.dtype}; expected {shape} and {dtype}")
        result = out if out.flags.c_contiguous else cp.empty(shape, dtype=dtype)
    mod = get_cuda_module()
    stream = cp.cuda.get_current_stream().ptr
    if len(arrays) == 2:
        mod.bessel_binary(name, arrays[0], arrays[1], result, stream)
    else:
        mod.bessel_unary(name, arrays[0], result, stream)
    if out is not None and result is not out:
        out[...] = result
        return out
    return result


def _make_generic(name: str) -> Callable[..., Any]:
    ufunc = _UFUNCS[name]

    def generic(*args: Any, out: Any = None) -> Any:
        if len(args) != ufunc.nin:
            raise TypeError(f"fastspectral.{name} takes {ufunc.nin} arguments ({len(args)} given)")
        if any(is_cupy_array(a) for a in args) or is_cupy_array(out):
            return _call_cuda(name, args, out)
        return ufunc(*args) if out is None else ufunc(*args, out=out)

    generic.__name__ = name
    generic.__qualname__ = name
    # Exported as fastspectral.<name>: pickle (multiprocessing, dask) finds functions by
    # module + qualname, and fastspectral.special.<name> is the ufunc, not this function.
    generic.__module__ = "fastspectral"
    generic.__doc__ = (f"{ufunc.__doc__}\n\nArray-generic form of fastspectral.special.{name}: "
                       "NumPy inputs run the CPU ufunc, cupy inputs the CUDA kernel on the "
                       "current cupy stream (cupy in, cupy out).")
    return generic


#: Array-generic (NumPy or cupy) versions, exported at the package top level.
generic: dict[str, Callable[..., Any]] = {name: _make_generic(name) for name in BINARY + UNARY}

__all__ = list(BINARY + UNARY)
