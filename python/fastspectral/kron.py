"""Kronecker algebra: products of small matrices applied to long vectors, never formed.

``kron_matvec(factors, x)`` computes ``y = (A_1 ⊗ A_2 ⊗ ... ⊗ A_d) x`` along the last axis of
``x`` (leading axes are a batch), for factors of any rectangular shapes ``(m_i, n_i)``.  An
integer ``n`` in place of a factor is the ``n x n`` identity: it is never materialised and costs
nothing, so an operator can act along one axis of a grid only.  ``kron_mode_product`` does the
same on tensors shaped ``(..., n_1, ..., n_d)`` (how grids are stored).

On NumPy arrays the work runs in C++ (one cache-blocked pass per factor with results written
straight to their final place, consecutive small factors fused while the working set stays in
cache, OpenMP across the batch; the GIL is released).  On cupy arrays it runs as CUDA kernels on
the current stream.  float32 and float64 run in the kernels; integer inputs become float64;
a complex x with real factors runs in the real kernels (real and imaginary parts as one more
axis); complex factors use a ``tensordot`` fallback (correct, not tuned).

``KroneckerOperator`` and ``KroneckerSum`` add the structured linear algebra: eigendecompositions
per factor, solves and log-determinants of ``K + shift*I`` in O(N sum n_i) (Saatci 2011).

Example
-------
>>> import numpy as np
>>> from fastspectral.kron import kron_matvec, KroneckerOperator
>>> A, B = np.random.rand(3, 3), np.random.rand(4, 4)
>>> x = np.random.rand(12)
>>> np.allclose(kron_matvec([A, B], x), np.kron(A, B) @ x)
True
>>> K = KroneckerOperator([A @ A.T + np.eye(3), B @ B.T + np.eye(4)])
>>> np.allclose(K.solve(x, shift=0.5), np.linalg.solve(K.to_dense() + 0.5 * np.eye(12), x))
True
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import Any, Sequence

import numpy as np

from . import _core
from ._dispatch import _cupy, get_cuda_module, is_cupy_array
from ._outpool import output_pool

__all__ = ["kron_matvec", "kron_mode_product", "KroneckerOperator", "KroneckerSum",
           "KroneckerVector"]

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# --------------------------------------------------------------------------- validation

def _normalize(factors: Sequence[Any], x: Any, name: str):
    """Check factors and x; return (xp, factors as arrays/ints, dtype, shapes)."""
    if isinstance(factors, (np.ndarray,)) or is_cupy_array(factors):
        raise TypeError(f"fastspectral.{name}: factors must be a list of 2-D arrays or ints, "
                        "not a single array")
    try:
        factors = list(factors)
    except TypeError:
        raise TypeError(f"fastspectral.{name}: factors must be a list of 2-D arrays or ints")
    if not factors:
        raise ValueError(f"fastspectral.{name}: the factor list is empty")
    gpu = is_cupy_array(x) or any(is_cupy_array(f) for f in factors)
    if gpu:
        cp = _cupy()
        if cp is None:
            raise RuntimeError("fastspectral: cupy arrays were given but cupy cannot be imported")
        xp = cp
        if not is_cupy_array(x) and hasattr(x, "__array__") and not np.isscalar(x):
            raise TypeError(f"fastspectral.{name}: x is a numpy array while a factor is a cupy "
                            "array; pass all arrays on one device")
    else:
        xp = np
    arrays = []
    dtypes = []
    for i, f in enumerate(factors):
        if isinstance(f, numbers.Integral) and not isinstance(f, bool):
            if f < 0:
                raise ValueError(f"fastspectral.{name}: identity size must be >= 0, got {f}")
            arrays.append(int(f))
            continue
        if gpu and isinstance(f, np.ndarray):
            raise TypeError(f"fastspectral.{name}: factor {i} is a numpy array while x is a "
                            "cupy array; pass all arrays on one device")
        if not gpu and is_cupy_array(f):
            raise TypeError(f"fastspectral.{name}: factor {i} is a cupy array while x is not")
        a = xp.asarray(f)
        if a.ndim != 2:
            raise ValueError(f"fastspectral.{name}: factor {i} must be 2-D (or an int for an "
                             f"identity), got shape {a.shape}")
        if not (a.dtype.kind in "fciub"):
            raise TypeError(f"fastspectral.{name}: factor {i} has unsupported dtype {a.dtype}")
        arrays.append(a)
        dtypes.append(a.dtype)
    x = xp.asarray(x)
    if x.dtype.kind not in "fciub":
        raise TypeError(f"fastspectral.{name}: x has unsupported dtype {x.dtype}")
    dtype = np.result_type(*dtypes, x.dtype)
    if dtype.kind in "iub":
        dtype = np.dtype(np.float64)
    if dtype == np.float16:
        dtype = np.dtype(np.float32)
    shapes = [(f, f) if isinstance(f, int) else tuple(f.shape) for f in arrays]
    return xp, arrays, x, np.dtype(dtype), shapes


def _order(shapes: list[tuple[int, int]]) -> list[int]:
    """Application order: shrinking factors first, growing last, square right to left."""
    act = list(range(len(shapes)))

    def key(i):
        m, n = shapes[i]
        cls = 0 if m < n else (1 if m == n else 2)
        return (cls, m / n if n else 0.0, -i)
    return sorted(act, key=key)


def _fallback(xp, factors, X, ndim_batch, transpose):
    """Mode products with tensordot (complex dtypes, and the reference for tests)."""
    for i in _order([(f, f) if isinstance(f, int) else
                     ((f.shape[1], f.shape[0]) if transpose else f.shape) for f in factors]):
        f = factors[i]
        if isinstance(f, int):
            continue
        A = f.T if transpose else f
        ax = ndim_batch + i
        X = xp.moveaxis(xp.tensordot(A, X, axes=([1], [ax])), 0, ax)
    return X


# --------------------------------------------------------------------------- kernels

# GPU plan limits; they mirror csrc/cuda/kron_cuda.cuh (48 KiB of shared memory per block, 16 KiB
# tiles).  A factor with a side over _FUSE_MAX_SIDE goes to cuBLAS (cupy.matmul): its dot products
# are long enough for GEMM tiling, and its matrix would crowd the shared memory.
_FUSE_MAX_SIDE = 64
_FUSE_MAX_AREA_BYTES = 16 * 1024  # all factor matrices of one fused group (shared memory)
_FUSE_MAX_AXES = 8
_FUSE_TILE = {4: 4096, 8: 2048}  # tile elements by itemsize
_FUSE_MIN_ROW_BYTES = 32  # contiguous bytes per tile row when R > 1: one full memory sector


def gpu_plan(shapes: Sequence[tuple[int, int]], identity: Sequence[bool], itemsize: int
             ) -> list[tuple[str, list[int]]]:
    """Cached: see _gpu_plan (planning costs ~10 us of Python, as much as a kernel launch)."""
    steps = _gpu_plan_cached(tuple(tuple(s) for s in shapes), tuple(bool(i) for i in identity),
                             int(itemsize))
    return [(kind, list(axes)) for kind, axes in steps]


@functools.lru_cache(maxsize=256)
def _gpu_plan_cached(shapes, identity, itemsize):
    return tuple((kind, tuple(axes)) for kind, axes in _gpu_plan(shapes, identity, itemsize))


def _gpu_plan(shapes: Sequence[tuple[int, int]], identity: Sequence[bool], itemsize: int
              ) -> list[tuple[str, list[int]]]:
    """Steps of the GPU product, applied in order: ("fused", axes j..k) or ("gemm", [axis]).

    Right to left, consecutive small factors are grouped while the group's largest intermediate
    tile row (max(prod n, prod m)) fits a 16 KiB tile with at least min(R, one 32-byte sector)
    contiguous elements per row; each group is one kernel launch and one pass over the data.  Identity axes cost
    nothing: they join a group only when they sit between two of its factors.
    """
    tile = _FUSE_TILE[itemsize]
    min_row = _FUSE_MIN_ROW_BYTES // itemsize
    d = len(shapes)
    steps: list[tuple[str, list[int]]] = []
    out_dims = [m for m, _ in shapes]
    group: list[int] = []

    def close():
        while group and identity[group[0]]:
            group.pop(0)
        while group and identity[group[-1]]:
            group.pop()
        if group:
            steps.append(("fused", sorted(group)))
        group.clear()

    for a in range(d - 1, -1, -1):
        m, n = shapes[a]
        if not identity[a] and (m > _FUSE_MAX_SIDE or n > _FUSE_MAX_SIDE or
                                m * n * itemsize > _FUSE_MAX_AREA_BYTES):
            close()
            steps.append(("gemm", [a]))
            continue
        if identity[a] and not group:
            continue
        cand = [a] + group
        R = math.prod(out_dims[max(cand) + 1:])
        p = max(math.prod(shapes[i][1] for i in cand), math.prod(shapes[i][0] for i in cand))
        area = sum(shapes[i][0] * shapes[i][1] for i in cand if not identity[i]) * itemsize
        if len(cand) <= _FUSE_MAX_AXES and area <= _FUSE_MAX_AREA_BYTES and \
                p * min(R, min_row) <= tile:
            group.insert(0, a)
        else:
            close()
            if not identity[a]:
                group.append(a)
    close()
    return steps


def _run_plan(xp, factors, x2, dtype, transpose, fused):
    """Run gpu_plan's steps on x2 (B, N) contiguous.  `fused(factors, transpose, src, dst, L, R)`
    applies one group; on the GPU it is the CUDA kernel, in the tests its sequential CPU twin."""
    B = x2.shape[0]
    shapes = [(f, f) if isinstance(f, int) else
              ((f.shape[1], f.shape[0]) if transpose else tuple(f.shape)) for f in factors]
    identity = [isinstance(f, int) for f in factors]
    dims = [n for _, n in shapes]
    if x2.size == 0 or any(m == 0 or n == 0 for m, n in shapes):
        return xp.zeros((B, math.prod(m for m, _ in shapes)), dtype=dtype)
    cur = x2
    for kind, axes in gpu_plan(shapes, identity, np.dtype(dtype).itemsize):
        j, k = axes[0], axes[-1]
        L = B * math.prod(dims[:j])
        R = math.prod(dims[k + 1:])
        if kind == "fused":
            p_out = math.prod(shapes[a][0] for a in axes)
            out = xp.empty((L * p_out * R,), dtype=dtype)
            fused([factors[a] for a in axes], bool(transpose), cur.reshape(-1), out, int(L), int(R))
        else:
            f = factors[j]
            A = f.T if transpose else f
            n = dims[j]
            if R == 1:
                out = cur.reshape(L, n) @ A.T
            else:
                out = xp.matmul(A, cur.reshape(L, n, R))
        for a in axes:
            dims[a] = shapes[a][0]
        cur = out
    if cur is x2:
        cur = x2.copy()
    return cur.reshape(B, -1)


def _gpu_apply(factors, x2, dtype, transpose):
    """x2: (B, N) contiguous cupy array; the plan's steps on the current cupy stream."""
    cp = _cupy()
    mod = get_cuda_module()
    stream = cp.cuda.get_current_stream().ptr

    def fused(fac, tr, src, dst, L, R):
        mod.kron_fused(fac, tr, src, dst, L, R, stream)
    return _run_plan(cp, factors, x2, dtype, transpose, fused)


def _apply(factors, x, *, transpose, out, name, tensor):
    xp, factors, x, dtype, shapes = _normalize(factors, x, name)
    d = len(factors)
    if transpose:
        shapes = [(n, m) for (m, n) in shapes]
    n_in = math.prod(s[1] for s in shapes)
    n_out = math.prod(s[0] for s in shapes)
    if tensor:
        want = tuple(s[1] for s in shapes)
        if x.ndim < d or tuple(x.shape[x.ndim - d:]) != want:
            raise ValueError(f"fastspectral.{name}: X must have shape (..., {', '.join(map(str, want))}), "
                             f"got {x.shape}")
        batch_shape = x.shape[:x.ndim - d]
        out_shape = batch_shape + tuple(s[0] for s in shapes)
    else:
        if x.ndim == 0 or x.shape[-1] != n_in:
            raise ValueError(f"fastspectral.{name}: x must have last axis of length prod(n_i) = "
                             f"{n_in} for factor shapes {shapes}, got shape {x.shape}")
        batch_shape = x.shape[:-1]
        out_shape = batch_shape + (n_out,)
    B = math.prod(batch_shape)
    if out is not None:
        if (xp is np) != isinstance(out, np.ndarray):
            raise TypeError(f"fastspectral.{name}: out must be on the same device as x")
        if tuple(out.shape) != out_shape or out.dtype != dtype:
            raise ValueError(f"fastspectral.{name}: out has shape {out.shape} and dtype "
                             f"{out.dtype}; expected {out_shape} and {dtype}")
        if xp is np and not out.flags.writeable:
            raise ValueError(f"fastspectral.{name}: out is read-only")

    real_factors = all(isinstance(f, int) or f.dtype.kind != "c" for f in factors)
    if dtype.kind == "c" and real_factors:
        # real factors on a complex x: the real and imaginary parts are a trailing axis of 2 that
        # an identity factor carries through, so the real kernels do the work on a float view
        rdt = np.dtype(np.float32) if dtype == np.complex64 else np.dtype(np.float64)
        xr = xp.ascontiguousarray(x.astype(dtype, copy=False)).reshape(B, n_in).view(rdt)
        fac = [f if isinstance(f, int) else f.astype(rdt, copy=False) for f in factors] + [2]
        yr = _apply(fac, xr, transpose=transpose, out=None, name=name, tensor=False)
        y = yr.view(dtype).reshape(out_shape)
    elif dtype not in _KERNEL_DTYPES:
        fac = [f if isinstance(f, int) else f.astype(dtype, copy=False) for f in factors]
        X = x.astype(dtype, copy=False).reshape((B,) + tuple(s[1] for s in shapes))
        y = _fallback(xp, fac, X, 1, transpose).reshape(out_shape)
    elif xp is np:
        fac = [f if isinstance(f, int) else f.astype(dtype, copy=False) for f in factors]
        x2 = np.ascontiguousarray(x, dtype=dtype).reshape(B, n_in)
        if out is not None and out.flags.c_contiguous and not np.shares_memory(out, x2):
            y2 = out.reshape(B, n_out)
            _core.kron_apply(fac, x2, y2, bool(transpose))
            return out
        # pooled: repeated calls reuse mapped pages instead of faulting in zeroed ones (_outpool)
        y2 = output_pool.empty((B, n_out), dtype)
        _core.kron_apply(fac, x2, y2, bool(transpose))
        y = y2.reshape(out_shape)
    else:
        cp = xp
        dev = cp.cuda.Device().id
        for f in [x] + [f for f in factors if not isinstance(f, int)]:
            if f.device.id != dev:
                raise ValueError(f"fastspectral.{name}: arrays are on GPU {f.device.id}, the "
                                 f"current device is GPU {dev}")
        fac = [f if isinstance(f, int) else f.astype(dtype, copy=False) for f in factors]
        x2 = cp.ascontiguousarray(x.astype(dtype, copy=False)).reshape(B, n_in)
        y = _gpu_apply(fac, x2, dtype, transpose).reshape(out_shape)
    if out is not None:
        out[...] = y
        return out
    return y


def kron_matvec(factors: Sequence[Any], x: Any, *, transpose: bool = False, out: Any = None):
    """y = (A_1 ⊗ ... ⊗ A_d) x along the last axis of x.

    Parameters
    ----------
    factors : list of 2-D arrays (m_i, n_i) or ints (an int n is the n x n identity), d >= 1
    x : array (..., prod n_i); leading axes are a batch.  numpy or cupy.
    transpose : apply A_i^T instead (shapes (n_i, m_i)).
    out : optional array (..., prod m_i) of the result dtype.

    Returns an array (..., prod m_i) of the promoted dtype (float32/float64 run in C++/CUDA;
    integers become float64; complex uses a tensordot fallback).  On the CPU a result of 1 MiB
    or more is a view of a block from ``fastspectral._outpool`` (reused once no array refers to
    it, so repeated calls skip the OS's page zeroing); it behaves as a normal array except that
    ``ndarray.resize`` refuses it.

    >>> import numpy as np
    >>> A, B = np.ones((2, 3)), np.eye(4)
    >>> kron_matvec([A, 4], np.ones((5, 12))).shape
    (5, 8)
    """
    return _apply(factors, x, transpose=transpose, out=out, name="kron_matvec", tensor=False)


def kron_mode_product(factors: Sequence[Any], X: Any, *, transpose: bool = False,
                      out: Any = None):
    """Mode products on a tensor: Y[..., a_1..a_d] = sum_b A_1[a_1,b_1]...A_d[a_d,b_d] X[..., b_1..b_d].

    X has shape (..., n_1, ..., n_d); the result (..., m_1, ..., m_d).  Same as
    ``kron_matvec`` on the flattened trailing axes.

    >>> import numpy as np
    >>> kron_mode_product([np.ones((2, 3)), 4], np.ones((7, 3, 4))).shape
    (7, 2, 4)
    """
    return _apply(factors, X, transpose=transpose, out=out, name="kron_mode_product",
                  tensor=True)


# --------------------------------------------------------------------------- algebra

def _xp_of(factors):
    return _cupy() if any(is_cupy_array(f) for f in factors) else np


class KroneckerVector:
    """A vector v_1 ⊗ v_2 ⊗ ... (e.g. the eigenvalues of a Kronecker product), kept per factor.

    ``to_dense()`` forms it (length prod len(v_i)); ``np.asarray(kv)`` does too.
    """

    def __init__(self, vectors, combine: str = "product"):
        self.vectors = list(vectors)
        self.combine = combine  # "product": kron product; "sum": kron sum (eigenvalues of ⊕)

    def __len__(self):
        return math.prod(len(v) for v in self.vectors)

    def to_dense(self):
        xp = _xp_of(self.vectors)
        if not self.vectors:
            return xp.ones(1) if self.combine == "product" else xp.zeros(1)
        # start from the first vector, not a float64 ones(1): float32 eigenvalues stay float32
        out = xp.asarray(self.vectors[0]).reshape(-1)
        for v in self.vectors[1:]:
            if self.combine == "product":
                out = (out[:, None] * v[None, :]).reshape(-1)
            else:
                out = (out[:, None] + v[None, :]).reshape(-1)
        return out

    def __array__(self, dtype=None, copy=None):
        a = self.to_dense()
        # cupy refuses implicit device -> host conversion; np.asarray(kv) copies explicitly
        a = np.asarray(a.get() if is_cupy_array(a) else a)
        return a if dtype is None else a.astype(dtype)

    def __repr__(self):
        return f"KroneckerVector({self.combine}, lengths={[len(v) for v in self.vectors]})"


def _real_dtype(dtype) -> np.dtype:
    """Dtype of the eigenvalues of a Hermitian matrix of `dtype` (what eigh returns)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return np.dtype(np.float32) if dtype == np.complex64 else np.dtype(np.float64)
    return dtype if dtype in _KERNEL_DTYPES else np.dtype(np.float64)


def _hermitian_eigh(xp, factors, dtype):
    """Per-factor eigh of Hermitian (real: symmetric) factors; ints stay identities.

    Returns (eigenvalue vectors, Q factors, Q^H factors as transposed by kron_matvec): for a
    complex factor the second list holds conj(Q), so that kron_matvec(.., transpose=True)
    applies Q^H; for real factors it is Q itself (no copy).
    """
    ws, qs, qcs = [], [], []
    for i, f in enumerate(factors):
        if isinstance(f, int):
            ws.append(xp.ones(f, dtype=_real_dtype(dtype)))
            qs.append(f)
            qcs.append(f)
        else:
            # eigh of a matrix with nan/inf returns nan silently (numpy and cupy alike)
            if not bool(xp.all(xp.isfinite(f))):
                raise ValueError(f"fastspectral.kron: factor {i} has non-finite entries")
            w, q = xp.linalg.eigh(f)
            ws.append(w)
            qs.append(q)
            qcs.append(q.conj() if q.dtype.kind == "c" else q)
    return ws, qs, qcs


def _shifted(w, shift):
    """Eigenvalues + shift in the eigenvalues' precision (a NumPy float64 shift must not turn a
    float32 solve into a float64 one)."""
    lam = w.to_dense()
    return (lam + shift).astype(lam.dtype, copy=False)


def _eig_solve(qs, qcs, lam, v):
    """Q diag(1/lam) Q^H v for one vector or a batch of vectors (rows)."""
    t = kron_matvec(qcs, v, transpose=True)
    return kron_matvec(qs, t / lam)


def _factor_shape(f):
    return (f, f) if isinstance(f, int) else tuple(f.shape)


def _check_square(factors, what):
    for i, f in enumerate(factors):
        m, n = _factor_shape(f)
        if m != n:
            raise ValueError(f"fastspectral.kron: {what} needs square factors; factor {i} is "
                             f"{m} x {n}")


def _as_columns(op, b, fn):
    """Matrix semantics for op @ b: b of shape (N,) or (N, k)."""
    if b.ndim == 1:
        return fn(b)
    if b.ndim == 2:
        return fn(b.T).T
    raise ValueError(f"fastspectral.kron: expected a vector (N,) or matrix (N, k), got {b.shape}")


class KroneckerOperator:
    """K = A_1 ⊗ A_2 ⊗ ... ⊗ A_d without forming it.

    factors: 2-D arrays (m_i, n_i) or ints (identities).  ``K @ x`` for x of shape (N,) or
    (N, k) (matrix semantics; use ``kron_matvec`` for batches along leading axes).

    >>> import numpy as np
    >>> K = KroneckerOperator([np.eye(2) * 2, 3])
    >>> K.shape, float(K.logdet())
    ((6, 6), 4.1588830833596715)
    """

    def __init__(self, factors: Sequence[Any]):
        factors = list(factors)
        if not factors:
            raise ValueError("fastspectral.KroneckerOperator: the factor list is empty")
        xp = _xp_of(factors)
        fs = []
        for i, f in enumerate(factors):
            if isinstance(f, numbers.Integral) and not isinstance(f, bool):
                fs.append(int(f))
                continue
            a = xp.asarray(f)
            if a.ndim != 2:
                raise ValueError(f"fastspectral.KroneckerOperator: factor {i} must be 2-D, got "
                                 f"shape {a.shape}")
            fs.append(a)
        self.factors = fs
        self._eig = None

    @property
    def shape(self):
        return (math.prod(_factor_shape(f)[0] for f in self.factors),
                math.prod(_factor_shape(f)[1] for f in self.factors))

    @property
    def dtype(self):
        arrs = [f.dtype for f in self.factors if not isinstance(f, int)]
        return np.result_type(*arrs) if arrs else np.dtype(np.float64)

    @property
    def T(self):
        return KroneckerOperator([f if isinstance(f, int) else f.T for f in self.factors])

    def matvec(self, x):
        return kron_matvec(self.factors, x)

    def __matmul__(self, x):
        if isinstance(x, KroneckerOperator):
            if len(x.factors) != len(self.factors):
                raise ValueError("fastspectral.KroneckerOperator: products need equal factor counts")
            out = []
            for a, b in zip(self.factors, x.factors):
                if isinstance(a, int) and isinstance(b, int):
                    out.append(a)
                elif isinstance(a, int):
                    out.append(b)
                elif isinstance(b, int):
                    out.append(a)
                else:
                    out.append(a @ b)
            return KroneckerOperator(out)
        xp = _cupy() if is_cupy_array(x) else np
        x = xp.asarray(x)
        return _as_columns(self, x, lambda v: kron_matvec(self.factors, v))

    def __repr__(self):
        return f"KroneckerOperator(shape={self.shape}, factors={[_factor_shape(f) for f in self.factors]})"

    def to_dense(self):
        """The dense matrix (small cases only)."""
        xp = _xp_of(self.factors)
        K = xp.ones((1, 1), dtype=self.dtype)
        for f in self.factors:
            K = xp.kron(K, xp.eye(f, dtype=self.dtype) if isinstance(f, int) else f)
        return K

    def diagonal(self):
        """diag(K) = diag(A_1) ⊗ ... (square factors), as a dense vector."""
        _check_square(self.factors, "diagonal()")
        xp = _xp_of(self.factors)
        return KroneckerVector([xp.ones(f, dtype=self.dtype) if isinstance(f, int)
                                else xp.diagonal(f) for f in self.factors]).to_dense()

    def _eigh_parts(self):
        if self._eig is None:
            _check_square(self.factors, "eigh()")
            ws, qs, qcs = _hermitian_eigh(_xp_of(self.factors), self.factors, self.dtype)
            self._eig = (KroneckerVector(ws), KroneckerOperator(qs), qcs)
        return self._eig

    def eigh(self):
        """Per-factor Hermitian eigendecompositions: K = Q diag(w) Q^H (Q^T for real factors).

        Returns (w, Q): w a KroneckerVector of real eigenvalues (``w.to_dense()`` for the N
        eigenvalues, not sorted), Q a KroneckerOperator of the unitary eigenvector matrices.
        Factors must be Hermitian (real: symmetric); only their lower triangles are read.
        """
        w, Q, _ = self._eigh_parts()
        return w, Q

    def solve(self, b, shift: float = 0.0):
        """(K + shift*I)^{-1} b for Hermitian (real: symmetric) factors, b of shape (N,) or
        (N, k); the result has the dtype numpy promotes the factors and b to.

        Two Kronecker products with the eigenvector factors (Q^H, then Q) and a diagonal
        scaling: O(N sum n_i) work after O(sum n_i^3) for the per-factor eigendecompositions.
        """
        w, Q, qcs = self._eigh_parts()
        lam = _shifted(w, shift)
        xp = _cupy() if is_cupy_array(b) else np
        b = xp.asarray(b)
        return _as_columns(self, b, lambda v: _eig_solve(Q.factors, qcs, lam, v))

    def logdet(self, shift: float = 0.0):
        """log det(K + shift*I), a float.  With shift == 0 any square factors work:
        sum_i (N / n_i) log|det A_i| (the sign is ignored); otherwise Hermitian (real:
        symmetric) factors, through their real eigenvalues."""
        _check_square(self.factors, "logdet()")
        N = self.shape[0]
        xp = _xp_of(self.factors)
        if shift == 0.0:
            total = 0.0
            for f in self.factors:
                if isinstance(f, int):
                    continue
                sign, ld = xp.linalg.slogdet(f)
                # sign is complex for complex factors: compare it, never float() it
                if bool(sign == 0):
                    return -math.inf
                total += float(ld) * (N // f.shape[0])
            return total
        w, _ = self.eigh()
        return float(xp.sum(xp.log(w.to_dense() + shift)))

    def inv(self):
        """K^{-1} = A_1^{-1} ⊗ ... as another KroneckerOperator (square factors)."""
        _check_square(self.factors, "inv()")
        xp = _xp_of(self.factors)
        out = []
        for i, f in enumerate(self.factors):
            fi = f if isinstance(f, int) else xp.linalg.inv(f)
            # numpy raises on a singular factor; cupy returns inf/nan instead
            if not isinstance(f, int) and not bool(xp.all(xp.isfinite(fi))):
                raise np.linalg.LinAlgError(f"fastspectral.kron: factor {i} is singular")
            out.append(fi)
        return KroneckerOperator(out)

    def aslinearoperator(self):
        """A scipy.sparse.linalg.LinearOperator (cupyx's for cupy factors)."""
        return _linear_operator(self, self.T)


class KroneckerSum:
    """K = A_1 ⊕ A_2 ⊕ ... = sum_i I ⊗ ... ⊗ A_i ⊗ ... ⊗ I for square factors A_i (n_i x n_i).

    The discrete Laplacian on a grid and separable PDE operators have this form.  ``K @ x``
    costs one mode product per term; solves and log-determinants use the per-factor
    eigendecompositions (symmetric factors): eigenvalues are the sums w_1[i_1] + ... + w_d[i_d].

    >>> import numpy as np
    >>> D = np.diag([2.0] * 4) - np.diag([1.0] * 3, 1) - np.diag([1.0] * 3, -1)
    >>> L = KroneckerSum([D, D])      # 2-D Dirichlet Laplacian on a 4 x 4 grid
    >>> L.shape
    (16, 16)
    """

    def __init__(self, factors: Sequence[Any]):
        factors = list(factors)
        if not factors:
            raise ValueError("fastspectral.KroneckerSum: the factor list is empty")
        xp = _xp_of(factors)
        fs = []
        for i, f in enumerate(factors):
            a = xp.asarray(f)
            if a.ndim != 2 or a.shape[0] != a.shape[1]:
                raise ValueError(f"fastspectral.KroneckerSum: factor {i} must be a square 2-D "
                                 f"array, got shape {a.shape}")
            fs.append(a)
        self.factors = fs
        self._eig = None

    @property
    def sizes(self):
        return [f.shape[0] for f in self.factors]

    @property
    def shape(self):
        N = math.prod(self.sizes)
        return (N, N)

    @property
    def dtype(self):
        return np.result_type(*[f.dtype for f in self.factors])

    @property
    def T(self):
        return KroneckerSum([f.T for f in self.factors])

    def matvec(self, x):
        sizes = self.sizes
        y = None
        for i, f in enumerate(self.factors):
            fac = list(sizes)
            fac[i] = f
            t = kron_matvec(fac, x)
            y = t if y is None else y + t
        return y

    def __matmul__(self, x):
        xp = _cupy() if is_cupy_array(x) else np
        return _as_columns(self, xp.asarray(x), self.matvec)

    def __repr__(self):
        return f"KroneckerSum(sizes={self.sizes})"

    def to_dense(self):
        xp = _xp_of(self.factors)
        N = self.shape[0]
        K = xp.zeros((N, N), dtype=self.dtype)
        sizes = self.sizes
        for i, f in enumerate(self.factors):
            fac = [f if j == i else n for j, n in enumerate(sizes)]
            K += KroneckerOperator(fac).to_dense()
        return K

    def diagonal(self):
        xp = _xp_of(self.factors)
        return KroneckerVector([xp.diagonal(f) for f in self.factors], "sum").to_dense()

    def _eigh_parts(self):
        if self._eig is None:
            ws, qs, qcs = _hermitian_eigh(_xp_of(self.factors), self.factors, self.dtype)
            self._eig = (KroneckerVector(ws, "sum"), KroneckerOperator(qs), qcs)
        return self._eig

    def eigh(self):
        """(w, Q): w a KroneckerVector of kind "sum" (w_1 ⊕ w_2 ...) of real eigenvalues, Q a
        KroneckerOperator of unitary eigenvector matrices: K = Q diag(w) Q^H.  Factors must be
        Hermitian (real: symmetric)."""
        w, Q, _ = self._eigh_parts()
        return w, Q

    def solve(self, b, shift: float = 0.0):
        """(K + shift*I)^{-1} b for Hermitian (real: symmetric) factors, b of shape (N,) or
        (N, k); the result has the dtype numpy promotes the factors and b to."""
        w, Q, qcs = self._eigh_parts()
        lam = _shifted(w, shift)
        xp = _cupy() if is_cupy_array(b) else np
        return _as_columns(self, xp.asarray(b), lambda v: _eig_solve(Q.factors, qcs, lam, v))

    def logdet(self, shift: float = 0.0):
        """log det(K + shift*I) for Hermitian (real: symmetric) factors, a float (nan if an
        eigenvalue is negative)."""
        w, _ = self.eigh()
        xp = _xp_of(self.factors)
        return float(xp.sum(xp.log(w.to_dense() + shift)))

    def aslinearoperator(self):
        return _linear_operator(self, self.T)


def _linear_operator(op, opT):
    if any(is_cupy_array(f) for f in op.factors if not isinstance(f, int)):
        from cupyx.scipy.sparse.linalg import LinearOperator
    else:
        from scipy.sparse.linalg import LinearOperator
    if np.dtype(op.dtype).kind == "c":
        # the adjoint is the conjugate transpose: A^H v = conj(A^T conj(v))
        def adjoint(v):
            return (opT @ v.conj()).conj()
    else:
        def adjoint(v):
            return opT @ v
    return LinearOperator(op.shape, matvec=lambda v: op @ v, rmatvec=adjoint,
                          matmat=lambda V: op @ V, rmatmat=adjoint, dtype=op.dtype)
