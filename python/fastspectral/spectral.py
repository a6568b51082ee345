"""Spectral convolution: the Fourier Neural Operator layer as one library call.

For ``x`` of shape ``(batch, in_channels, n_1, ..., n_d)`` (d = 1, 2, 3)::

    X = rfftn(x)                                     # over the d spatial dims
    Y[b, o, k] = sum_i X[b, i, k] W[i, o, k]         # for every kept mode k
    y = irfftn(Y, s=output_shape) (+ bias)           # Y zero outside the kept modes

Mode layout (neuraloperator's current ``SpectralConv``, dense weights)
---------------------------------------------------------------------
``weight`` has shape ``(in_channels, out_channels, m_1, ..., m_{d-1}, m_d // 2 + 1)`` for
``n_modes = (m_1, ..., m_d)``.  Along every spatial dim but the last, weight index ``a``
(``0 <= a < m_j``) multiplies the frequency ``a - m_j // 2``: the centred block of the
fftshifted spectrum, i.e. frequencies ``-(m_j//2) .. m_j - m_j//2 - 1``.  Along the last dim,
weight index ``a`` multiplies frequency ``a`` (the first ``m_d//2 + 1`` half-spectrum entries).

On even grid sizes this is exactly what neuraloperator computes.  On odd sizes
neuraloperator (2.0.0) applies ``fftshift`` a second time instead of ``ifftshift`` when
putting the modes back, which moves every mode by one frequency; here every mode goes back
to its own frequency (the ``ifftshift``), so all-modes-kept identity weights reproduce the
input on odd grids too.

Checkpoints in neuraloperator's older per-corner layout (2**(d-1) weights of shape
``(in, out, m_1//2, ..., m_d//2)``) convert with :func:`weight_from_corners`.

Weight variants (neuraloperator's ``separable=True`` and ``factorization="cp"``):
:func:`spectral_conv_separable` (weight ``(C, *modes)``, one complex weight per channel and
mode) and :func:`spectral_conv_cp` (tensorly-torch's CP layout: ``weights (R,)`` and factors
``[U_in (in, R), U_out (out, R), F_1 (m_1, R), ..., F_d (m_d//2+1, R)]``, contracted from the
factors without building the dense weight), each with its ``*_backward``.  Same transforms as
the dense path; only the per-mode mixing differs (numpy/BLAS on the CPU).

Frequency-domain models (Transform Once, Poli et al. 2022): :func:`rfft_modes` (transform once
to a compact kept-mode spectrum in the weight layout), :func:`mode_mix` (a per-mode layer, any
number of times), :func:`irfft_modes` (transform back once), each with its exact
``*_backward`` (torch autograd wrappers in :mod:`fastspectral.torch`).

``output_shape`` resamples: each kept frequency is written at its own place in the output
spectrum (frequencies the output grid cannot hold are dropped; with ``norm="forward"`` the
result is the same trigonometric polynomial sampled on the new grid).  This differs from
``irfftn(..., s=output_shape)`` on an input-sized spectrum (what neuraloperator does), which
crops or pads at the end of the array and so misplaces negative frequencies in every dim but
the last whenever the size changes.

Implementation: the transforms are pruned to the kept modes.  Along the last dim, a small real
DFT matrix applied by one BLAS gemm when few modes are kept (2-3x faster than the full real
FFT there), else scipy.fft's real FFT (pocketfft, ``workers`` = the OpenMP thread count) cut
to the kept columns; along the other dims a complex FFT over the kept columns only, from
which the kept rows are taken (inverse: the kept rows placed in a zero array of the output
grid's length, then the FFT).  NumPy's FFT stands in when SciPy is absent.  The kept-mode
spectra are compact ``(B, C, r1, r2, L)`` arrays; one C++/OpenMP pass (GIL released)
contracts the channels per mode (over one contiguous mode axis when every weight entry is
used).  The backward pass (``spectral_conv_backward``) is the exact adjoint: one pruned
forward transform of ``grad_y``, two contraction kernels, one pruned inverse transform.

GPU: cupy arrays in, cupy out (all array arguments on one device; the work is queued on the
current cupy stream of that device).  The transforms are cuFFT (``cupy.fft``) over the full
grid; two CUDA kernels do the per-mode channel contraction (forward and data adjoint) and the
weight gradient, gathering the kept modes directly from one full half-spectrum and scattering
them into another.  Same layout, results and gradients as the CPU path.

Example
-------
>>> import numpy as np
>>> from fastspectral.spectral import spectral_conv
>>> x = np.random.default_rng(0).standard_normal((2, 3, 16, 16))
>>> w = np.zeros((3, 3, 16, 9), complex); w[np.arange(3), np.arange(3)] = 1  # identity
>>> bool(np.allclose(spectral_conv(x, w, (16, 16)), x))
True
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from . import _core
from ._dispatch import _cupy, get_cuda_module, is_cupy_array

__all__ = ["spectral_conv", "spectral_conv_backward", "weight_shape", "weight_from_corners",
           "corner_slices", "rfft_modes", "irfft_modes", "mode_mix", "rfft_modes_backward",
           "irfft_modes_backward", "mode_mix_backward", "spectral_conv_separable",
           "spectral_conv_separable_backward", "spectral_conv_cp", "spectral_conv_cp_backward",
           "cp_rank"]

_NORMS = ("forward", "backward", "ortho")
_DUAL = {"forward": "backward", "backward": "forward", "ortho": "ortho"}
_COMPLEX_OF = {np.dtype(np.float32): np.dtype(np.complex64),
               np.dtype(np.float64): np.dtype(np.complex128)}


def weight_shape(in_channels: int, out_channels: int, n_modes: Sequence[int]) -> tuple[int, ...]:
    """Shape of the dense weight for ``n_modes``: ``(in, out, m_1, ..., m_{d-1}, m_d//2 + 1)``.

    >>> weight_shape(4, 8, (12, 12))
    (4, 8, 12, 7)
    """
    m = tuple(int(v) for v in n_modes)
    return (int(in_channels), int(out_channels)) + m[:-1] + (m[-1] // 2 + 1,)


def corner_slices(n_modes: Sequence[int]) -> list[tuple[slice, ...]]:
    """Where each corner block of neuraloperator's older weight layout goes in ours.

    Before the centred layout (neuraloperator 0.2/0.3 and the original FNO code), a dense
    ``SpectralConv`` of ``n_modes = (m_1, ..., m_d)`` held ``2**(d-1)`` weights of shape
    ``(in, out, h_1, ..., h_d)``, ``h_j = m_j // 2``, one per corner of the half-spectrum: along
    each non-last dim the low frequencies ``0 .. h_j-1`` (``[:h_j]``) or the negative ones
    ``-h_j .. -1`` (``[-h_j:]``), along the last dim the first ``h_d`` entries; the corners are
    enumerated as ``itertools.product`` over the non-last dims of (low, high), the first dim
    slowest (``weight.0`` = all low).  Entry ``k`` of the returned list is the index (after the
    two channel dims) of corner ``k`` inside our weight for the same ``n_modes``, whose
    centred block holds all those frequencies (and, for odd ``m_j`` or the last dim's entry
    ``h_d``, one more, which the old model never used: leave it zero).

    >>> corner_slices((8, 6))
    [(slice(4, 8, None), slice(0, 3, None)), (slice(0, 4, None), slice(0, 3, None))]
    """
    m = tuple(int(v) for v in n_modes)
    h = [v // 2 for v in m]
    out: list[tuple[slice, ...]] = []
    for bits in itertools.product((0, 1), repeat=len(m) - 1):
        # centred index of frequency f is f + m//2: low corner 0..h-1, high corner -h..-1
        sl = [slice(mj // 2, mj // 2 + hj) if b == 0 else slice(mj // 2 - hj, mj // 2)
              for b, mj, hj in zip(bits, m[:-1], h[:-1])]
        out.append(tuple(sl) + (slice(0, h[-1]),))
    return out


def weight_from_corners(corners: Sequence[Any], n_modes: Sequence[int]) -> Any:
    """Our dense weight from the ``2**(d-1)`` corner weights of neuraloperator's older layout.

    corners : sequence of ``2**(d-1)`` complex arrays ``(in, out, m_1//2, ..., m_d//2)`` (numpy or
        cupy), in neuraloperator's order (``weight.0``, ``weight.1``, ...; see
        :func:`corner_slices`).
    n_modes : the ``n_modes`` the old layer was built with, ``(m_1, ..., m_d)``.

    Returns the weight ``(in, out, m_1, ..., m_{d-1}, m_d//2 + 1)`` for :func:`spectral_conv`
    with the same ``n_modes``: the old layer's output is reproduced exactly (same ``norm``,
    on every grid the old layer accepted), the entries it had no weight for are zero.

    >>> import numpy as np
    >>> c = [np.ones((2, 3, 4, 3), complex), 2 * np.ones((2, 3, 4, 3), complex)]
    >>> weight_from_corners(c, (8, 6))[0, 0, :, :].real
    array([[2., 2., 2., 0.],
           [2., 2., 2., 0.],
           [2., 2., 2., 0.],
           [2., 2., 2., 0.],
           [1., 1., 1., 0.],
           [1., 1., 1., 0.],
           [1., 1., 1., 0.],
           [1., 1., 1., 0.]])
    """
    m = tuple(int(v) for v in n_modes)
    d = len(m)
    corners = list(corners)
    if not 1 <= d <= 3:
        raise ValueError(f"fastspectral.spectral: n_modes must have 1 to 3 entries, got {m}")
    if len(corners) != 2 ** (d - 1):
        raise ValueError(f"fastspectral.spectral: {d}-D weights have 2**(d-1) = {2 ** (d - 1)} "
                         f"corners, got {len(corners)}")
    first = corners[0]
    xp = _array_module(**{f"corners[{k}]": c for k, c in enumerate(corners)})
    expect = tuple(first.shape[:2]) + tuple(v // 2 for v in m)
    for k, c in enumerate(corners):
        if tuple(c.shape) != expect:
            raise ValueError(f"fastspectral.spectral: corners[{k}] has shape {tuple(c.shape)}, "
                             f"expected {expect} (in, out, *[m // 2 for m in n_modes])")
        if not xp.iscomplexobj(c):
            raise TypeError(f"fastspectral.spectral: corners[{k}] must be complex, got {c.dtype}")
    dtype = xp.result_type(*corners)
    w = xp.zeros(weight_shape(first.shape[0], first.shape[1], m), dtype=dtype)
    for c, sl in zip(corners, corner_slices(m)):
        w[(slice(None), slice(None)) + sl] = c
    return w


# --------------------------------------------------------------------------- transforms

@functools.lru_cache(maxsize=1)
def _scipy_fft() -> Any:
    """scipy.fft (its pocketfft runs batched transforms on several threads; numpy's on one),
    or None; imported on first use: it is most of `import fastspectral`'s time otherwise."""
    try:
        import scipy.fft
        return scipy.fft
    except ImportError:  # pragma: no cover - scipy is a dependency, numpy.fft the fallback
        return None


def _workers() -> int:
    return int(_core.build_info()["max_threads"])


def _irfft(a: np.ndarray, n: int, norm: str) -> np.ndarray:
    sfft = _scipy_fft()
    if sfft is not None:
        return sfft.irfft(a, n=n, axis=-1, norm=norm, workers=_workers())
    return np.fft.irfft(a, n=n, axis=-1, norm=norm)


def _rfft(a: np.ndarray, norm: str) -> np.ndarray:
    sfft = _scipy_fft()
    if sfft is not None:
        return sfft.rfft(a, axis=-1, norm=norm, workers=_workers())
    return np.fft.rfft(a, axis=-1, norm=norm)


def _fft(a: np.ndarray, axis: int, norm: str, inverse: bool) -> np.ndarray:
    sfft = _scipy_fft()
    if sfft is not None:
        f = sfft.ifft if inverse else sfft.fft
        return f(a, axis=axis, norm=norm, workers=_workers())
    return (np.fft.ifft if inverse else np.fft.fft)(a, axis=axis, norm=norm)


# Only the kept modes are ever needed, so the transforms are pruned: along the last axis a
# small real DFT matrix applied with one BLAS gemm (for few kept modes this beats the full
# real FFT by 2-3x and needs no zeroed half-spectrum), or the full real FFT cut to the kept
# columns when many modes are kept; along the other axes a complex FFT over the kept columns
# only, of which the kept rows are taken.  The inverse runs the same steps backwards.

def _gemm_last_axis(n: int, L: int) -> bool:
    # gemm costs ~2L flops a sample against the FFT's ~log2(n); past ~4 log2(n) the FFT wins
    # (measured at n = 64, 128, 1024); large n is left to the FFT for its error growth
    return n <= 4096 and 2 * L <= 4 * max(n.bit_length() - 1, 1)


def _norm_factor(n: int, norm: str, inverse: bool) -> float:
    if norm == "ortho":
        return 1.0 / np.sqrt(n)
    return 1.0 / n if (norm == "forward") != inverse else 1.0


@functools.lru_cache(maxsize=64)
def _dft_matrix(n: int, L: int, norm: str, rdtype: np.dtype, inverse: bool) -> np.ndarray:
    """Real matrix of the pruned real DFT along the last axis, read-only (shared by threads).

    forward: (n, 2L), x_row @ M = the first L half-spectrum entries interleaved (re, im).
    inverse: (2L, n), Y_row viewed as interleaved reals @ M = the real signal, each entry
    counted as often as it appears in the full spectrum (DC and Nyquist once, their imaginary
    parts ignored, as pocketfft's c2r does)."""
    k = np.outer(np.arange(n), np.arange(L)) % n        # exact phase index before scaling
    ang = (2.0 * np.pi / n) * k
    c, s = np.cos(ang), np.sin(ang)
    edge = (k == 0) | (2 * k == n)
    s[edge] = 0.0
    c[edge] = np.where(k[edge] == 0, 1.0, -1.0)
    f = _norm_factor(n, norm, inverse)
    if not inverse:
        M = np.empty((n, 2 * L))
        M[:, 0::2], M[:, 1::2] = c * f, -s * f
    else:
        cnt = np.full(L, 2.0)
        cnt[0] = 1.0
        if n % 2 == 0 and n // 2 < L:
            cnt[n // 2] = 1.0
        M = np.empty((2 * L, n))
        M[0::2], M[1::2] = (c * (f * cnt)).T, (-s * (f * cnt)).T
    M = np.ascontiguousarray(M, dtype=rdtype)
    M.setflags(write=False)
    return M


def _kept_rfftn(x: np.ndarray, shape: tuple[int, ...], lead_idx: tuple[np.ndarray, ...],
                L: int, norm: str, cdtype: np.dtype) -> np.ndarray:
    """rfftn(x) over the spatial dims at the kept modes only: (B, C, r1, r2, L) contiguous,
    r_j = len(lead_idx[j]) (the two leading mode dims, padded ones of length 1)."""
    B, C, d, n = x.shape[0], x.shape[1], len(shape), shape[-1]
    rdtype = np.dtype(x.dtype)
    if _gemm_last_axis(n, L):
        Z = np.ascontiguousarray(x).reshape(-1, n) @ _dft_matrix(n, L, norm, rdtype, False)
        Z = Z.view(cdtype).reshape(B, C, *shape[:-1], L)
    else:
        Z = _rfft(x, norm)[..., :L]
    idx = lead_idx[2 - (d - 1):] if d > 1 else ()
    for j in reversed(range(d - 1)):
        Z = np.take(_fft(Z, 2 + j, norm, False), idx[j], axis=2 + j)
    r = [len(i) for i in lead_idx]
    return np.ascontiguousarray(Z, dtype=cdtype).reshape(B, C, r[0], r[1], L)


def _kept_irfftn(Y: np.ndarray, BC: tuple[int, int], shape: tuple[int, ...],
                 lead_idx: tuple[np.ndarray, ...], norm: str, rdtype: np.dtype) -> np.ndarray:
    """irfftn onto the grid `shape` of the spectrum that is Y (B, C, r1, r2, L) at the kept
    modes (lead_idx in the leading dims, 0 .. L-1 in the last) and zero elsewhere."""
    d, n, L = len(shape), shape[-1], Y.shape[-1]
    idx = lead_idx[2 - (d - 1):] if d > 1 else ()
    Z = Y.reshape(*BC, *[len(i) for i in idx], L)
    for j in range(d - 1):
        full = np.zeros(Z.shape[:2 + j] + (shape[j],) + Z.shape[3 + j:], dtype=Z.dtype)
        sl = [slice(None)] * Z.ndim
        sl[2 + j] = idx[j]
        full[tuple(sl)] = Z
        Z = _fft(full, 2 + j, norm, True)
    if _gemm_last_axis(n, L):
        Z = np.ascontiguousarray(Z).view(rdtype).reshape(-1, 2 * L)
        M = _dft_matrix(n, L, norm, rdtype, True)
        rowbytes = n * rdtype.itemsize
        if rowbytes % 4096 == 0:
            # Output rows a multiple of 4 KiB apart alias in the L1 sets, which nearly doubled
            # the gemm's time (n = 1024 float32: 1.6 -> 0.9 ms for B*C = 2048 rows); writing
            # into rows padded by 64 bytes avoids it, and y stays a (row-strided) view.
            pad = 64 // rdtype.itemsize
            y = np.empty((Z.shape[0], n + pad), dtype=rdtype)[:, :n]
            np.matmul(Z, M, out=y)
        else:
            y = Z @ M
        y = y.reshape(*BC, *shape)
    else:
        y = _irfft(Z, n, norm)
    return y.astype(rdtype, copy=False)


# --------------------------------------------------------------------------- planning

@dataclass
class _Plan:
    d: int
    axes: tuple[int, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    n_modes: tuple[int, ...]
    rdtype: np.dtype
    cdtype: np.dtype
    norm: str
    # kernel index lists for the two leading (padded) mode dims: weight, input, output index
    idx: tuple[np.ndarray, ...]
    L: int
    w5: tuple[int, ...]        # weight viewed as 5-D


def _half(n: int) -> int:
    return n // 2 + 1


def _hermitian_count(n: int, L: int) -> np.ndarray:
    """How often each of the first L half-spectrum entries counts in a length-n real signal:
    2, except the zero frequency and (even n) the Nyquist frequency, which count once."""
    c = np.full(L, 2.0)
    c[0] = 1.0
    if n % 2 == 0 and n // 2 < L:
        c[n // 2] = 1.0
    return c


def _as_int_tuple(v: Any, d: int, name: str) -> tuple[int, ...]:
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = (int(v),) * d
    try:
        t = tuple(v)
    except TypeError:
        raise TypeError(f"fastspectral.spectral: {name} must be an int or a sequence of {d} "
                        f"ints, got {type(v).__name__}") from None
    if len(t) != d:
        raise ValueError(f"fastspectral.spectral: {name} has {len(t)} entries but x has {d} "
                         f"spatial dims")
    out = []
    for e in t:
        if not isinstance(e, numbers.Integral) or isinstance(e, bool) or int(e) < 1:
            raise ValueError(f"fastspectral.spectral: {name} must hold positive ints, got {t}")
        out.append(int(e))
    return tuple(out)


def _check_array(a: Any, name: str) -> np.ndarray:
    # cupy arrays pass through: _array_module has already checked that all arrays agree
    if not isinstance(a, np.ndarray) and not is_cupy_array(a):
        a = np.asarray(a)
    return a


def _check_spatial_ndim(x: Any) -> None:
    if x.ndim < 3 or x.ndim > 5:
        raise ValueError(f"fastspectral.spectral: x must have shape (batch, channels, *spatial) "
                         f"with 1 to 3 spatial dims, got shape {x.shape}")


def _check_signal(x: Any) -> Any:
    """x as an array (integers become float64) of shape (batch, channels, *spatial) with 1 to 3
    spatial dims."""
    x = _check_array(x, "x")
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    _check_spatial_ndim(x)
    return x


def _array_module(**arrays: Any) -> Any:
    """numpy when the call runs on the CPU, cupy when every array given (None = not given) is a
    cupy array on one device; TypeError for a mix of cupy and host arrays, ValueError for
    arrays on different GPUs."""
    given = {k: a for k, a in arrays.items() if a is not None}
    gpu = [k for k, a in given.items() if is_cupy_array(a)]
    if not gpu:
        return np
    host = [k for k in given if k not in gpu]
    if host:
        raise TypeError(f"fastspectral.spectral: {gpu[0]} is a cupy array but {host[0]} is "
                        f"{type(given[host[0]]).__name__}; pass all arrays on one device")
    first = gpu[0]
    for k in gpu[1:]:
        if given[k].device.id != given[first].device.id:
            raise ValueError(f"fastspectral.spectral: {k} is on GPU {given[k].device.id} but "
                             f"{first} is on GPU {given[first].device.id}")
    cp = _cupy()
    if cp is None:  # pragma: no cover - a cupy array implies an importable cupy
        raise RuntimeError("fastspectral.spectral: cupy arrays were given but cupy cannot be "
                           "imported")
    return cp


def _plan(x: np.ndarray, weight: np.ndarray, n_modes: Any, output_shape: Any, norm: str,
          ) -> _Plan:
    _check_spatial_ndim(x)
    d = x.ndim - 2
    if norm not in _NORMS:
        raise ValueError(f"fastspectral.spectral: norm must be one of {_NORMS}, got {norm!r}")
    modes = _as_int_tuple(n_modes, d, "n_modes")
    in_shape = tuple(int(s) for s in x.shape[2:])
    out_shape = in_shape if output_shape is None else _as_int_tuple(output_shape, d,
                                                                   "output_shape")
    for j in range(d - 1):
        if modes[j] > in_shape[j]:
            raise ValueError(f"fastspectral.spectral: n_modes[{j}] = {modes[j]} exceeds the "
                             f"grid size {in_shape[j]} of x along spatial dim {j}")
    if _half(modes[-1]) > _half(in_shape[-1]):
        raise ValueError(f"fastspectral.spectral: n_modes[{d - 1}] = {modes[-1]} keeps "
                         f"{_half(modes[-1])} half-spectrum modes but the grid size "
                         f"{in_shape[-1]} of x along its last spatial dim has only "
                         f"{_half(in_shape[-1])}")
    if x.dtype not in _COMPLEX_OF:
        raise TypeError(f"fastspectral.spectral: x must be float32 or float64, got {x.dtype}")
    cdtype = _COMPLEX_OF[x.dtype]
    if not np.iscomplexobj(weight):
        raise TypeError(f"fastspectral.spectral: weight must be complex ({cdtype} for {x.dtype} "
                        f"x), got {weight.dtype}")
    if weight.dtype != cdtype:
        raise TypeError(f"fastspectral.spectral: weight is {weight.dtype} but x is {x.dtype}; "
                        f"expected a {cdtype} weight")
    if weight.ndim != d + 2:
        raise ValueError(f"fastspectral.spectral: weight must have shape (in_channels, "
                         f"out_channels, *modes) with {d} mode dims, got shape {weight.shape}")
    if weight.shape[0] != x.shape[1]:
        raise ValueError(f"fastspectral.spectral: x has {x.shape[1]} channels but weight has "
                         f"in_channels = weight.shape[0] = {weight.shape[0]}")
    expect = weight_shape(weight.shape[0], weight.shape[1], modes)
    if tuple(weight.shape) != expect:
        raise ValueError(f"fastspectral.spectral: weight has shape {tuple(weight.shape)}, "
                         f"expected {expect} for n_modes = {modes} (the last dim keeps "
                         f"n_modes[-1] // 2 + 1 modes)")
    # Leading mode dims (padded to two): frequency a - m//2 for weight index a.
    idx: list[np.ndarray] = []
    w5: list[int] = []
    for j in range(d - 1):
        m, n_in, n_out = modes[j], in_shape[j], out_shape[j]
        f = np.arange(m, dtype=np.int64) - m // 2
        keep = (f >= -(n_out // 2)) & (f <= (n_out - 1) // 2)
        idx += [np.nonzero(keep)[0].astype(np.int64), f[keep] % n_in, f[keep] % n_out]
        w5.append(m)
    while len(w5) < 2:
        zero = np.zeros(1, np.int64)
        idx = [zero, zero, zero] + idx
        w5.insert(0, 1)
    w5.append(_half(modes[-1]))
    L = min(_half(modes[-1]), _half(out_shape[-1]))
    return _Plan(d=d, axes=tuple(range(2, 2 + d)), in_shape=in_shape, out_shape=out_shape,
                 n_modes=modes, rdtype=x.dtype, cdtype=cdtype, norm=norm, idx=tuple(idx), L=L,
                 w5=(weight.shape[0], weight.shape[1], *w5))


def _iota(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64)


def _check_bias(bias: Any, out_channels: int, d: int, rdtype: np.dtype) -> np.ndarray | None:
    if bias is None:
        return None
    bias = _check_array(bias, "bias")
    if np.iscomplexobj(bias):
        raise TypeError(f"fastspectral.spectral: bias must be real, got {bias.dtype}")
    shp = tuple(bias.shape)
    if shp not in ((out_channels,), (out_channels,) + (1,) * d):
        raise ValueError(f"fastspectral.spectral: bias must have shape ({out_channels},) or "
                         f"{(out_channels,) + (1,) * d}, got {shp}")
    return bias


def _prepare(x: Any, weight: Any, n_modes: Any, output_shape: Any, norm: str, xp: Any = np):
    """Validated (x, weight, plan); xp is numpy or cupy (from _array_module)."""
    x = _check_array(x, "x")
    weight = _check_array(weight, "weight")
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    p = _plan(x, weight, n_modes, output_shape, norm)
    if xp is not np:
        x = xp.ascontiguousarray(x)
    return x, xp.ascontiguousarray(weight), p


_ZERO6 = (np.zeros(1, np.int64),) * 6


def _flat_modes(p: _Plan) -> bool:
    """Whether every weight entry is used (no mode dropped for a small output grid): then the
    compact spectra and the weight list the modes in the same order, contiguous, and the
    contraction runs as one long vectorised mode axis instead of r1*r2 runs of L."""
    w1, _, _, w2, _, _ = p.idx
    return len(w1) * len(w2) == p.w5[2] * p.w5[3] and p.L == p.w5[4]


def _flat(a: np.ndarray, K: int) -> np.ndarray:
    return a.reshape(a.shape[0], a.shape[1], 1, 1, K)


# With few modes (1-D layers) the C++ kernel's vector loop over modes is too short to pay; one
# BLAS complex gemm per mode on mode-major copies is then faster (f32, 1 thread, K = 9 modes,
# B32 C64: contraction 0.57 -> 0.15 ms, whole forward 1.15x, fwd+bwd 1.18x).  At K = 84
# (2-D 12x7, B8 C32) the whole pipeline was 6-11% slower this way, so only small K uses it.
_MODE_GEMM_MAX_K = 32


def _mode_major(a: np.ndarray, K: int) -> np.ndarray:
    """(n0, n1, ..., K modes) -> contiguous (K, n0, n1)."""
    return np.ascontiguousarray(a.reshape(a.shape[0], a.shape[1], K).transpose(2, 0, 1))


def _mix(src: np.ndarray, weight: np.ndarray, dst: np.ndarray, p: _Plan, adjoint: bool,
         scale: np.ndarray | None) -> None:
    w1, _, _, w2, _, _ = p.idx
    r1, r2 = len(w1), len(w2)
    if _flat_modes(p):
        K = r1 * r2 * p.L
        sc = None if scale is None else np.ascontiguousarray(np.tile(scale, r1 * r2))
        if K <= _MODE_GEMM_MAX_K:
            W = _mode_major(weight, K)                         # (K, I, O)
            if adjoint:
                W = W.conj().transpose(0, 2, 1)                # (K, O, I)
            R = np.matmul(_mode_major(src, K), W)             # (K, B, P)
            if sc is not None:
                R *= sc.astype(R.real.dtype)[:, None, None]
            dst.reshape(dst.shape[0], dst.shape[1], K)[...] = R.transpose(1, 2, 0)
            return
        _core.spectral_mix(_flat(src, K), _flat(weight, K), _flat(dst, K), *_ZERO6, K,
                           adjoint, sc)
    else:
        i1, i2 = _iota(r1), _iota(r2)
        sc = None if scale is None else np.ascontiguousarray(scale)
        _core.spectral_mix(src, weight.reshape(p.w5), dst, w1, i1, i1, w2, i2, i2, p.L,
                           adjoint, sc)


def _forward(x: np.ndarray, weight: np.ndarray, p: _Plan) -> tuple[np.ndarray, np.ndarray]:
    """y and the compact kept-mode input spectrum X (what _backward needs)."""
    B, O = x.shape[0], weight.shape[1]
    w1, s1, d1, w2, s2, d2 = p.idx
    X = _kept_rfftn(x, p.in_shape, (s1, s2), p.L, p.norm, p.cdtype)
    Y = np.empty((B, O, len(w1), len(w2), p.L), dtype=p.cdtype)
    _mix(X, weight, Y, p, False, None)
    y = _kept_irfftn(Y, (B, O), p.out_shape, (d1, d2), p.norm, p.rdtype)
    return y, X


# --------------------------------------------------------------------------- GPU (cupy)
#
# cupy in, cupy out.  The transforms are cuFFT through cupy.fft over the full grid (a full
# transform is cheap on the GPU; pruned ones are future work); the CUDA kernels gather the kept
# modes from one full half-spectrum and scatter them into another, so the per-mode contraction
# never materialises a compact copy.  Everything runs on the current cupy stream of x's device.

def _lead(p: _Plan) -> tuple[int, ...]:
    """(w0_1, r1, off1, w0_2, r2, off2): per leading (padded) mode dim the first kept weight
    index, the kept count and the weight index of frequency 0 (the kernels' mode description;
    the kept weight indices of _plan are always one contiguous run)."""
    out: list[int] = []
    for j in range(2):
        w = p.idx[3 * j]
        out += [int(w[0]), len(w), p.w5[2 + j] // 2]
    return tuple(out)


def _spec5(a: Any) -> Any:
    """A (B, C, *spatial_half) spectrum viewed as the kernels' 5-D (B, C, N1, N2, N3)."""
    return a.reshape(a.shape[:2] + (1,) * (5 - a.ndim) + a.shape[2:])


def _gpu_irfftn(Y: Any, shape: tuple[int, ...], norm: str, xp: Any, rdtype: np.dtype) -> Any:
    """irfftn of a half-spectrum Y (B, C, *shape[:-1], shape[-1]//2 + 1) as numpy/pocketfft
    define it for non-Hermitian input: complex inverse FFTs over the leading dims, then a real
    inverse along the last dim that ignores the imaginary parts of its zero and Nyquist
    frequencies.  cuFFT leaves non-Hermitian c2r input undefined, so those imaginary parts are
    zeroed explicitly (the CPU path and the backward's adjoint rely on this convention).
    Overwrites Y.

    The last axis runs in double precision even for float32 data: on an H100 (cuFFT of CUDA
    13.0) the single-precision C2R transform was off by 0.1-0.17 (relative to the largest
    value) on two of the bench's shapes (1-D n = 1024 with a batch of 2048; 2-D 128^2), seen
    in torch-CUDA's and our forward alike, while torch's float64 path (Z2D) and its
    single-precision C2C backward matched the CPU.  The complex128 round trip costs a wider
    copy of the half spectrum; tests/tools/dev_cufft_c2r_check.py probes C2R on a device."""
    d = len(shape)
    for j in range(d - 1):
        Y = xp.fft.ifft(Y, axis=2 + j, norm=norm)
    n = shape[-1]
    Y[..., 0] = Y[..., 0].real
    if n % 2 == 0:
        Y[..., n // 2] = Y[..., n // 2].real
    y = xp.fft.irfft(Y.astype(np.complex128, copy=False), n=n, axis=-1, norm=norm)
    return xp.ascontiguousarray(y.astype(rdtype, copy=False))


def _gpu_spectrum(x: Any, p: _Plan, xp: Any) -> Any:
    """The full input half-spectrum rfftn(x), contiguous, of the plan's complex dtype."""
    X = xp.fft.rfftn(x, axes=p.axes, norm=p.norm)
    return xp.ascontiguousarray(X.astype(p.cdtype, copy=False))


def _on_device(a: Any) -> Any:
    """Context making a's GPU current (cupy); a no-op for NumPy arrays."""
    return a.device if is_cupy_array(a) else contextlib.nullcontext()


def _gpu_stream(xp: Any) -> int:
    return xp.cuda.get_current_stream().ptr


def _gpu_forward(x: Any, weight: Any, p: _Plan, xp: Any, mod: Any = None) -> tuple[Any, Any]:
    """y and the full input half-spectrum X (what _gpu_backward needs); x, weight contiguous
    cupy arrays on the current device.  `mod` is the kernel module (default _cuda)."""
    mod = get_cuda_module() if mod is None else mod
    B, O = x.shape[0], weight.shape[1]
    X = _gpu_spectrum(x, p, xp)
    Y = xp.zeros((B, O) + p.out_shape[:-1] + (_half(p.out_shape[-1]),), dtype=p.cdtype)
    mod.spectral_mix(_spec5(X), weight.reshape(p.w5), _spec5(Y), *_lead(p), p.L, False, None,
                     _gpu_stream(xp))
    return _gpu_irfftn(Y, p.out_shape, p.norm, xp, p.rdtype), X


def _gpu_backward(grad_y: Any, X: Any, weight: Any, p: _Plan, xp: Any, need_x: bool = True,
                  need_w: bool = True, mod: Any = None) -> tuple[Any, Any]:
    """The CPU _backward's steps on full half-spectra: X from _gpu_forward, grad_y contiguous
    of the output shape and x's dtype."""
    mod = get_cuda_module() if mod is None else mod
    B, I, O = grad_y.shape[0], weight.shape[0], weight.shape[1]
    stream = _gpu_stream(xp)
    G = xp.ascontiguousarray(xp.fft.rfftn(grad_y, axes=p.axes, norm=_DUAL[p.norm]).astype(
        p.cdtype, copy=False))
    c_out = _hermitian_count(p.out_shape[-1], p.L)
    c_in = _hermitian_count(p.in_shape[-1], p.L)
    grad_x = grad_w = None
    if need_x:
        GX = xp.zeros((B, I) + p.in_shape[:-1] + (_half(p.in_shape[-1]),), dtype=p.cdtype)
        mod.spectral_mix(_spec5(G), weight.reshape(p.w5), _spec5(GX), *_lead(p), p.L, True,
                         xp.asarray(c_out / c_in), stream)
        grad_x = _gpu_irfftn(GX, p.in_shape, _DUAL[p.norm], xp, p.rdtype)
    if need_w:
        # weight entries outside the kept modes (output grid too small) get zero gradient
        grad_w = xp.zeros(weight.shape, dtype=p.cdtype)
        mod.spectral_weight_grad(_spec5(X), _spec5(G), grad_w.reshape(p.w5), *_lead(p), p.L,
                                 xp.asarray(c_out), stream)
    return grad_x, grad_w


def spectral_conv(x: Any, weight: Any, n_modes: int | Sequence[int], *,
                  output_shape: Sequence[int] | None = None, norm: str = "forward",
                  bias: Any = None) -> np.ndarray:
    """The FNO spectral convolution ``y = irfftn(W . rfftn(x)[kept modes]) + bias``.

    Parameters
    ----------
    x : (batch, in_channels, n_1, ..., n_d) float32 or float64, d = 1, 2 or 3
        (integers become float64).  NumPy arrays run on the CPU, cupy arrays on their GPU
        (then weight, bias and the result are cupy arrays on the same device).
    weight : (in_channels, out_channels, m_1, ..., m_{d-1}, m_d // 2 + 1) complex64 (float32
        x) or complex128 (float64 x); see the module docstring for which frequency each weight
        entry multiplies (neuraloperator's layout).
    n_modes : int or d ints ``(m_1, ..., m_d)``; ``m_j <= n_j`` and ``m_d // 2 <= n_d // 2``.
    output_shape : d ints, optional. Spatial shape of ``y`` (spectral resampling); default the
        input's.
    norm : "forward" (default, as neuraloperator), "backward" or "ortho": numpy.fft's norm,
        used by both transforms.
    bias : (out_channels,) or (out_channels, 1, ..., 1) real, optional; added to ``y``.

    Returns
    -------
    y : (batch, out_channels, *output_shape), the dtype of x.  On the CPU, when a row of the
        last dim is a multiple of 4 KiB (e.g. 1024 float32), y is a view with padded rows (not
        C-contiguous): writing such rows back to back costs a cache-aliasing penalty.

    Example
    -------
    >>> import numpy as np
    >>> x = np.ones((1, 2, 8))
    >>> w = np.ones((2, 3, 3), np.complex128)
    >>> spectral_conv(x, w, 4, output_shape=(5,))[0, :, 0]
    array([2., 2., 2.])
    """
    xp = _array_module(x=x, weight=weight, bias=bias)
    x, weight, p = _prepare(x, weight, n_modes, output_shape, norm, xp)
    b = _check_bias(bias, weight.shape[1], p.d, p.rdtype)
    if xp is np:
        y, _ = _forward(x, weight, p)
    else:
        with _on_device(x):
            y, _ = _gpu_forward(x, weight, p, xp)
    if b is not None:
        with _on_device(x):
            y += b.reshape((weight.shape[1],) + (1,) * p.d).astype(p.rdtype, copy=False)
    return y


def _backward(grad_y: np.ndarray, X: np.ndarray, weight: np.ndarray, p: _Plan,
              need_x: bool = True, need_w: bool = True):
    """Gradients from grad_y and the compact input spectrum X returned by _forward."""
    B, I, O = grad_y.shape[0], weight.shape[0], weight.shape[1]
    w1, s1, d1, w2, s2, d2 = p.idx
    r1, r2 = len(w1), len(w2)
    # Adjoint of the inverse real transform: the dual-norm forward transform, with every
    # half-spectrum entry weighted by how often it counts in the real output.
    G = _kept_rfftn(np.asarray(grad_y, dtype=p.rdtype), p.out_shape, (d1, d2), p.L,
                    _DUAL[p.norm], p.cdtype)
    c_out = _hermitian_count(p.out_shape[-1], p.L)
    c_in = _hermitian_count(p.in_shape[-1], p.L)
    i1, i2 = _iota(r1), _iota(r2)
    grad_x = grad_w = None
    if need_x:
        GX = np.empty((B, I, r1, r2, p.L), dtype=p.cdtype)
        # source = output spectrum, destination = input spectrum; the adjoint of the forward
        # real transform divides each entry by its count again
        _mix(G, weight, GX, p, True, c_out / c_in)
        grad_x = _kept_irfftn(GX, (B, I), p.in_shape, (s1, s2), _DUAL[p.norm], p.rdtype)
    if need_w:
        # every weight entry outside the kept modes (output grid too small) has zero gradient
        grad_w = (np.empty if r1 * r2 == int(np.prod(p.w5[2:4])) else np.zeros)(
            weight.shape, dtype=p.cdtype)
        if p.L < p.w5[4]:
            grad_w.reshape(p.w5)[..., p.L:] = 0
        if _flat_modes(p) and r1 * r2 * p.L <= _MODE_GEMM_MAX_K:
            K = r1 * r2 * p.L
            R = np.matmul(_mode_major(X, K).conj().transpose(0, 2, 1), _mode_major(G, K))
            R *= np.tile(c_out, r1 * r2).astype(R.real.dtype)[:, None, None]   # (K, I, O)
            grad_w.reshape(I, O, K)[...] = R.transpose(1, 2, 0)
        elif _flat_modes(p):
            K = r1 * r2 * p.L
            _core.spectral_weight_grad(_flat(X, K), _flat(G, K), grad_w.reshape(I, O, 1, 1, K),
                                       *_ZERO6, K, np.tile(c_out, r1 * r2))
        else:
            _core.spectral_weight_grad(X, G, grad_w.reshape(p.w5), w1, i1, i1, w2, i2, i2, p.L,
                                       c_out)
    return grad_x, grad_w


def spectral_conv_backward(grad_y: Any, x: Any, weight: Any, n_modes: int | Sequence[int], *,
                           output_shape: Sequence[int] | None = None, norm: str = "forward",
                           bias: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of a real loss through :func:`spectral_conv`.

    Takes the forward call's arguments plus ``grad_y = dL/dy`` (shape of ``y``) and returns
    ``(grad_x, grad_weight, grad_bias)``: ``grad_x`` like x; ``grad_weight`` like weight, in
    the convention ``dL/dRe(W) + i dL/dIm(W)`` (what torch autograd returns for complex
    parameters); ``grad_bias`` like bias, or None without a bias.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.standard_normal((2, 3, 10))
    >>> w = rng.standard_normal((3, 4, 4)) + 1j * rng.standard_normal((3, 4, 4))
    >>> g = rng.standard_normal((2, 4, 10))
    >>> gx, gw, gb = spectral_conv_backward(g, x, w, 6)
    >>> gx.shape, gw.shape, gb
    ((2, 3, 10), (3, 4, 4), None)
    """
    xp = _array_module(grad_y=grad_y, x=x, weight=weight, bias=bias)
    x, weight, p = _prepare(x, weight, n_modes, output_shape, norm, xp)
    b = _check_bias(bias, weight.shape[1], p.d, p.rdtype)
    grad_y = _check_array(grad_y, "grad_y")
    expect = (x.shape[0], weight.shape[1], *p.out_shape)
    if tuple(grad_y.shape) != expect:
        raise ValueError(f"fastspectral.spectral: grad_y has shape {tuple(grad_y.shape)}, "
                         f"expected the output shape {expect}")
    if grad_y.dtype.kind not in "biuf":
        raise TypeError(f"fastspectral.spectral: grad_y must be real, got {grad_y.dtype}")
    with _on_device(x):
        grad_y = xp.ascontiguousarray(grad_y.astype(p.rdtype, copy=False))
        if xp is np:
            w1, s1, d1, w2, s2, d2 = p.idx
            X = _kept_rfftn(x, p.in_shape, (s1, s2), p.L, p.norm, p.cdtype)
            grad_x, grad_w = _backward(grad_y, X, weight, p)
        else:
            grad_x, grad_w = _gpu_backward(grad_y, _gpu_spectrum(x, p, xp), weight, p, xp)
        grad_b = None
        if b is not None:
            grad_b = grad_y.sum(axis=(0,) + p.axes).reshape(b.shape).astype(b.dtype, copy=False)
    return grad_x, grad_w, grad_b


# --------------------------------------------------------------------------- transform once (T1)
#
# Frequency-domain models (Poli et al., "Transform Once", 2022) transform once, apply several
# per-mode layers to the kept modes, and transform back once.  The three pieces below are the
# pieces of spectral_conv, exposed on compact kept-mode spectra in the weight layout, so
#     spectral_conv(x, w, m, output_shape=s) == irfft_modes(mode_mix(rfft_modes(x, m), w), m, s)
# Several mode_mix layers in a row are NOT several spectral_convs in a row in general: between
# two convolutions the signal is real, which makes the zero column of the last mode dim
# Hermitian again (Y(-f, 0) = conj Y(f, 0), the unpaired frequency -m/2 there halved, the
# imaginary part at frequency 0 dropped), while a T1 stack carries whatever the layers produce
# to the end.  They agree when every weight is Hermitian in that column (W(-f, 0) = conj
# W(f, 0), zero without a partner): the T1 family of fastspectral.bench.spectral_suite uses that.

def _modes_plan(B: int, C: int, grid: tuple[int, ...], rdtype: np.dtype, n_modes: Any,
                output_shape: Any, norm: str) -> _Plan:
    # _plan reads only shapes and dtypes: zero-stride stand-ins for x and the weight
    x = np.broadcast_to(np.zeros((), rdtype), (B, C) + grid)
    d = len(grid)
    modes = _as_int_tuple(n_modes, d, "n_modes")
    w = np.broadcast_to(np.zeros((), _COMPLEX_OF[np.dtype(rdtype)]), weight_shape(C, 1, modes))
    return _plan(x, w, modes, output_shape, norm)


def rfft_modes(x: Any, n_modes: int | Sequence[int], *, norm: str = "forward") -> Any:
    """The kept modes of ``rfftn(x)`` as a compact spectrum in the weight layout.

    x : (batch, channels, n_1, ..., n_d) float32/float64, numpy or cupy, d = 1, 2, 3.
    Returns ``X`` of shape ``(batch, channels, m_1, ..., m_{d-1}, m_d // 2 + 1)``, complex64 /
    complex128: entry ``[..., a_1, ..., a_d]`` is the frequency ``(a_1 - m_1//2, ...,
    a_{d-1} - m_{d-1}//2, a_d)`` (the module docstring's layout), so :func:`mode_mix` applies a
    dense weight to it directly.

    >>> import numpy as np
    >>> x = np.cos(2 * np.pi * np.arange(8) / 8)[None, None]   # frequency 1, norm="forward"
    >>> np.abs(rfft_modes(x, 4)[0, 0]).round(12)
    array([0. , 0.5, 0. ])
    """
    xp = _array_module(x=x)
    x = _check_signal(x)
    B, C, grid = x.shape[0], x.shape[1], tuple(int(s) for s in x.shape[2:])
    if x.dtype not in _COMPLEX_OF:
        raise TypeError(f"fastspectral.spectral: x must be float32 or float64, got {x.dtype}")
    p = _modes_plan(B, C, grid, x.dtype, n_modes, None, norm)
    w1, s1, d1, w2, s2, d2 = p.idx
    if xp is np:
        X = _kept_rfftn(np.ascontiguousarray(x), p.in_shape, (s1, s2), p.L, norm, p.cdtype)
    else:
        with _on_device(x):
            X = _spec5(_gpu_spectrum(xp.ascontiguousarray(x), p, xp))
            X = xp.take(xp.take(X, xp.asarray(s1), axis=2), xp.asarray(s2), axis=3)
            X = xp.ascontiguousarray(X[..., :p.L])
    return X.reshape((B, C) + weight_shape(1, 1, p.n_modes)[2:])


def _check_modes_spectrum(X: Any, name: str) -> Any:
    X = _check_array(X, name)
    if X.ndim < 3 or X.ndim > 5 or not np.iscomplexobj(X) or X.dtype not in (
            np.complex64, np.complex128):
        raise TypeError(f"fastspectral.spectral: {name} must be a complex64/complex128 array "
                        f"(batch, channels, *modes) with 1 to 3 mode dims, got {X.dtype} "
                        f"{tuple(X.shape)}")
    return X


def irfft_modes(X: Any, n_modes: int | Sequence[int], output_shape: Sequence[int], *,
                norm: str = "forward") -> Any:
    """Inverse of :func:`rfft_modes`: the real signal on the grid ``output_shape`` whose
    half-spectrum is ``X`` at the kept modes and zero elsewhere (frequencies the grid cannot
    hold are dropped, as :func:`spectral_conv` does).

    X : (batch, channels, m_1, ..., m_{d-1}, m_d // 2 + 1) complex, numpy or cupy.
    Returns (batch, channels, *output_shape), float32 for complex64 X, else float64.
    """
    xp = _array_module(X=X)
    X = _check_modes_spectrum(X, "X")
    d = X.ndim - 2
    modes = _as_int_tuple(n_modes, d, "n_modes")
    if tuple(X.shape[2:]) != weight_shape(1, 1, modes)[2:]:
        raise ValueError(f"fastspectral.spectral: X has mode dims {tuple(X.shape[2:])}, expected "
                         f"{weight_shape(1, 1, modes)[2:]} for n_modes = {modes}")
    rdtype = np.dtype(np.float32 if X.dtype == np.complex64 else np.float64)
    B, C = X.shape[0], X.shape[1]
    # the mode grid itself is the smallest input grid holding every kept mode
    p = _modes_plan(B, C, modes, rdtype, modes, output_shape, norm)
    w1, s1, d1, w2, s2, d2 = p.idx
    with _on_device(X):
        X5 = X.reshape((B, C) + tuple(p.w5[2:]))
        Y = xp.take(xp.take(X5, xp.asarray(w1), axis=2), xp.asarray(w2), axis=3)
        Y = xp.ascontiguousarray(Y[..., :p.L])
        if xp is np:
            return _kept_irfftn(Y, (B, C), p.out_shape, (d1, d2), norm, rdtype)
        full = xp.zeros((B, C) + p.out_shape[:-1] + (_half(p.out_shape[-1]),), dtype=p.cdtype)
        f5 = _spec5(full)
        f5[:, :, xp.asarray(d1)[:, None], xp.asarray(d2)[None, :], :p.L] = Y
        return _gpu_irfftn(full, p.out_shape, norm, xp, rdtype)


def _check_mode_mix(X: Any, weight: Any) -> tuple[Any, Any]:
    X = _check_modes_spectrum(X, "X")
    weight = _check_array(weight, "weight")
    if weight.dtype != X.dtype:
        raise TypeError(f"fastspectral.spectral: weight is {weight.dtype} but X is {X.dtype}")
    if weight.ndim != X.ndim or weight.shape[0] != X.shape[1] or \
            tuple(weight.shape[2:]) != tuple(X.shape[2:]):
        raise ValueError(f"fastspectral.spectral: weight must have shape (in, out, *modes) = "
                         f"({X.shape[1]}, out, {', '.join(map(str, X.shape[2:]))}), got "
                         f"{tuple(weight.shape)}")
    return X, weight


# Below this many complex multiply-adds a CPU mode_mix (forward or backward) runs on one
# thread: the work is tens of microseconds, while an OpenMP fork/join on a busy machine cost
# up to ~10 ms a call here (B2 I2 O3 K15: 12 ms on 2 threads, 10 us on one).
_MIX_SERIAL_WORK = 1 << 16


def _mix_threads(B: int, I: int, O: int, K: int) -> int:
    """OpenMP threads for the CPU mix kernels (0 = the kernel's default)."""
    return 1 if B * I * O * K < _MIX_SERIAL_WORK else 0


def mode_mix(X: Any, weight: Any) -> Any:
    """Per-mode channel contraction on compact spectra: ``Y[b, o, k] = sum_i X[b, i, k]
    W[i, o, k]`` for every mode ``k``.

    X : (batch, in, *modes) complex; weight : (in, out, *modes) of X's dtype; numpy (C++/OpenMP
    kernel) or cupy (CUDA kernel).  Returns (batch, out, *modes).
    """
    xp = _array_module(X=X, weight=weight)
    X, weight = _check_mode_mix(X, weight)
    B, I, O = X.shape[0], X.shape[1], weight.shape[1]
    K = int(np.prod(X.shape[2:]))
    with _on_device(X):
        X5 = xp.ascontiguousarray(X).reshape(B, I, 1, 1, K)
        W5 = xp.ascontiguousarray(weight).reshape(I, O, 1, 1, K)
        Y = xp.empty((B, O, 1, 1, K), dtype=X.dtype)
        if xp is np:
            _core.spectral_mix(X5, W5, Y, *_ZERO6, K, False, None, _mix_threads(B, I, O, K))
        else:
            get_cuda_module().spectral_mix(X5, W5, Y, 0, 1, 0, 0, 1, 0, K, False, None,
                                           _gpu_stream(xp))
    return Y.reshape((B, O) + tuple(X.shape[2:]))


# ---- backward passes of the three pieces
#
# Exact adjoints, with complex gradients of a real loss in torch's convention (dL/dRe + i
# dL/dIm, as spectral_conv_backward's grad_weight).  Let A be the kept-mode forward transform
# (what _compact_spectrum computes) and c the Hermitian counts of the last axis (1 for its zero
# and, even grid, Nyquist columns, 2 elsewhere: _hermitian_count).  The compact inverse on the
# same grid with the dual norm (same scale factor as A) is I(Z) = Re(sum_k c_k Z_k e_k), since
# pocketfft's c2r (and _gpu_irfftn) reads only the real part of the zero/Nyquist columns after
# the leading axes' complex transforms.  Then
#   irfft_modes:  y = I(X)                -> grad_X = c * A_dual(grad_y) on the kept modes
#   rfft_modes:   X = A x                 -> grad_x = Re(A^H grad_X) = I_dual(grad_X / c)
#   mode_mix:     Y = X W (holomorphic)   -> grad_X = grad_Y W^H, grad_W = X^H grad_Y per mode
# Chained, these are spectral_conv_backward's steps (c_out / c_in on the data path, c_out on
# the weight path).  The GPU branches only differ inside _compact_spectrum / _compact_inverse
# and in the kernel module called; `xp` and `mod` are parameters so tests can stand numpy and
# the host-compiled CUDA kernel source in for cupy and the _cuda module.

def _check_real_grad(g: Any, name: str) -> Any:
    g = _check_array(g, name)
    if g.dtype.kind in "biu":
        g = g.astype(np.float64)
    if g.dtype not in _COMPLEX_OF:
        raise TypeError(f"fastspectral.spectral: {name} must be float32 or float64, got "
                        f"{g.dtype}")
    if g.ndim < 3 or g.ndim > 5:
        raise ValueError(f"fastspectral.spectral: {name} must have shape (batch, channels, "
                         f"*spatial) with 1 to 3 spatial dims, got shape {tuple(g.shape)}")
    return g


def _modes_dims(p: _Plan) -> tuple[int, ...]:
    return weight_shape(1, 1, p.n_modes)[2:]


def _rfft_modes_bwd(grad_X: Any, p: _Plan, xp: Any = np) -> Any:
    """grad_x (B, C, *p.in_shape) from grad_X (B, C, *modes) of the plan's complex dtype; p
    from _modes_plan on the input grid (every mode kept, in order)."""
    w1, s1, d1, w2, s2, d2 = p.idx
    B, C = grad_X.shape[0], grad_X.shape[1]
    G = xp.ascontiguousarray(grad_X).reshape((B, C) + tuple(p.w5[2:]))
    _, c_in = _counts(p, xp)
    return _compact_inverse(G / c_in, p.in_shape, (s1, s2), p, _DUAL[p.norm], xp)


def _irfft_modes_bwd(grad_y: Any, p: _Plan, xp: Any = np) -> Any:
    """grad_X (B, C, *modes) from grad_y (B, C, *p.out_shape) of the plan's real dtype; modes
    the output grid cannot hold get zero."""
    w1, s1, d1, w2, s2, d2 = p.idx
    B, C = grad_y.shape[0], grad_y.shape[1]
    G = _compact_spectrum(grad_y, p.out_shape, (d1, d2), p, _DUAL[p.norm], xp)
    c_out, _ = _counts(p, xp)
    G = _scatter_modes(G * c_out, (B, C) + tuple(p.w5[2:]), p, xp)
    return G.reshape((B, C) + _modes_dims(p))


def _mode_mix_bwd(grad_Y: Any, X: Any, weight: Any, xp: Any = np, need_x: bool = True,
                  need_w: bool = True, mod: Any = None) -> tuple[Any, Any]:
    """(grad_X, grad_weight) of mode_mix (None where not needed), arrays already checked."""
    B, I, O = X.shape[0], X.shape[1], weight.shape[1]
    K = int(np.prod(X.shape[2:]))
    G5 = xp.ascontiguousarray(grad_Y).reshape(B, O, 1, 1, K)
    W5 = xp.ascontiguousarray(weight).reshape(I, O, 1, 1, K)
    gpu = xp is not np
    if gpu:
        mod = get_cuda_module() if mod is None else mod
    grad_X = grad_w = None
    if need_x:
        grad_X = xp.empty((B, I, 1, 1, K), dtype=X.dtype)
        if gpu:
            mod.spectral_mix(G5, W5, grad_X, 0, 1, 0, 0, 1, 0, K, True, None, _gpu_stream(xp))
        else:
            _core.spectral_mix(G5, W5, grad_X, *_ZERO6, K, True, None, _mix_threads(B, I, O, K))
        grad_X = grad_X.reshape(X.shape)
    if need_w:
        X5 = xp.ascontiguousarray(X).reshape(B, I, 1, 1, K)
        if gpu:
            grad_w = xp.zeros((I, O, 1, 1, K), dtype=X.dtype)
            mod.spectral_weight_grad(X5, G5, grad_w, 0, 1, 0, 0, 1, 0, K, None, _gpu_stream(xp))
        else:
            grad_w = np.empty((I, O, 1, 1, K), dtype=X.dtype)
            _core.spectral_weight_grad(X5, G5, grad_w, *_ZERO6, K, None,
                                       _mix_threads(B, I, O, K))
        grad_w = grad_w.reshape(weight.shape)
    return grad_X, grad_w


def rfft_modes_backward(grad_X: Any, x_shape: Sequence[int], n_modes: int | Sequence[int], *,
                        norm: str = "forward") -> Any:
    """Gradient of a real loss through :func:`rfft_modes`: ``grad_x`` from ``grad_X``.

    grad_X : (batch, channels, m_1, ..., m_{d-1}, m_d // 2 + 1) complex64/complex128, numpy or
        cupy; ``dL/dRe(X) + i dL/dIm(X)`` (torch's convention for complex tensors).
    x_shape : the forward input's shape ``(batch, channels, n_1, ..., n_d)``.
    n_modes, norm : as in the forward call.
    Returns grad_x of shape ``x_shape``, float32 for complex64 grad_X, else float64.  (On the
    CPU it may be a view with padded rows, as :func:`spectral_conv`'s result.)

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 16))
    >>> G = np.ones((2, 3, 5), complex)
    >>> gx = rfft_modes_backward(G, x.shape, 8)       # d/dx of sum(Re X): the real DFT rows
    >>> bool(np.isclose((gx * x).sum(), rfft_modes(x, 8).real.sum()))
    True
    """
    xp = _array_module(grad_X=grad_X)
    grad_X = _check_modes_spectrum(grad_X, "grad_X")
    try:
        shape = tuple(int(s) for s in x_shape)
    except TypeError:
        raise TypeError(f"fastspectral.spectral: x_shape must be a sequence of ints, got "
                        f"{type(x_shape).__name__}") from None
    if len(shape) != grad_X.ndim or shape[:2] != tuple(grad_X.shape[:2]) or min(shape) < 1:
        raise ValueError(f"fastspectral.spectral: x_shape {shape} does not fit grad_X of shape "
                         f"{tuple(grad_X.shape)}: expected (batch, channels) = "
                         f"{tuple(grad_X.shape[:2])} and {grad_X.ndim - 2} positive grid sizes")
    rdtype = np.dtype(np.float32 if grad_X.dtype == np.complex64 else np.float64)
    p = _modes_plan(shape[0], shape[1], shape[2:], rdtype, n_modes, None, norm)
    if tuple(grad_X.shape[2:]) != _modes_dims(p):
        raise ValueError(f"fastspectral.spectral: grad_X has mode dims {tuple(grad_X.shape[2:])}"
                         f", expected {_modes_dims(p)} for n_modes = {p.n_modes}")
    with _on_device(grad_X):
        return _rfft_modes_bwd(grad_X, p, xp)


def irfft_modes_backward(grad_y: Any, n_modes: int | Sequence[int], *,
                         norm: str = "forward") -> Any:
    """Gradient of a real loss through :func:`irfft_modes`: ``grad_X`` from ``grad_y``.

    grad_y : (batch, channels, *output_shape) float32/float64, numpy or cupy (the forward's
        output shape tells output_shape).
    n_modes, norm : as in the forward call.
    Returns grad_X of shape ``(batch, channels, m_1, ..., m_{d-1}, m_d // 2 + 1)``,
    complex64 for float32 grad_y, else complex128, in torch's ``dL/dRe + i dL/dIm``
    convention; zero at the modes the output grid cannot hold.

    >>> import numpy as np
    >>> X = np.zeros((1, 1, 5), complex); X[0, 0, 1] = 1 - 2j
    >>> g = np.random.default_rng(0).standard_normal((1, 1, 12))
    >>> G = irfft_modes_backward(g, 8)
    >>> bool(np.isclose((g * irfft_modes(X, 8, (12,))).sum(), (G.conj() * X).real.sum()))
    True
    """
    xp = _array_module(grad_y=grad_y)
    grad_y = _check_real_grad(grad_y, "grad_y")
    d = grad_y.ndim - 2
    modes = _as_int_tuple(n_modes, d, "n_modes")
    B, C = grad_y.shape[0], grad_y.shape[1]
    p = _modes_plan(B, C, modes, grad_y.dtype, modes, tuple(grad_y.shape[2:]), norm)
    with _on_device(grad_y):
        return _irfft_modes_bwd(xp.ascontiguousarray(grad_y), p, xp)


def mode_mix_backward(grad_Y: Any, X: Any, weight: Any) -> tuple[Any, Any]:
    """Gradients of a real loss through :func:`mode_mix`: ``(grad_X, grad_weight)``.

    grad_Y : (batch, out, *modes) of X's complex dtype; X : (batch, in, *modes); weight :
        (in, out, *modes); numpy or cupy.  Complex gradients in torch's ``dL/dRe + i dL/dIm``
        convention: ``grad_X[b, i, k] = sum_o grad_Y[b, o, k] conj(W[i, o, k])`` and
        ``grad_weight[i, o, k] = sum_b conj(X[b, i, k]) grad_Y[b, o, k]``.

    >>> import numpy as np
    >>> X = np.ones((2, 1, 3), complex); W = np.full((1, 2, 3), 1j)
    >>> gX, gW = mode_mix_backward(np.ones((2, 2, 3), complex), X, W)
    >>> gX[0, 0], gW[0, 0]
    (array([0.-2.j, 0.-2.j, 0.-2.j]), array([2.+0.j, 2.+0.j, 2.+0.j]))
    """
    xp = _array_module(grad_Y=grad_Y, X=X, weight=weight)
    X, weight = _check_mode_mix(X, weight)
    grad_Y = _check_modes_spectrum(grad_Y, "grad_Y")
    if grad_Y.dtype != X.dtype:
        raise TypeError(f"fastspectral.spectral: grad_Y is {grad_Y.dtype} but X is {X.dtype}")
    expect = (X.shape[0], weight.shape[1]) + tuple(X.shape[2:])
    if tuple(grad_Y.shape) != expect:
        raise ValueError(f"fastspectral.spectral: grad_Y has shape {tuple(grad_Y.shape)}, "
                         f"expected the output shape (batch, out, *modes) = {expect}")
    with _on_device(X):
        return _mode_mix_bwd(grad_Y, X, weight, xp)


# --------------------------------------------------------------------------- weight variants
#
# Separable and CP-factorized weights share the dense path's pruned transforms; only the
# per-mode mixing differs, and it runs as plain array code (numpy/BLAS, or cupy) on the compact
# kept-mode spectra (B, C, r1, r2, L) -- viewed as (B, C, K), K = r1 * r2 * L.
#
# Separable (neuraloperator's separable=True): weight (C, *modes), in == out == C,
#     Y[b, c, k] = W[c, k] X[b, c, k].
# CP (tensorly-torch's CPTensor, neuraloperator's factorization="cp"): the dense weight of
# shape (in, out, *modes) is sum_r weights[r] U_in[:, r] (x) U_out[:, r] (x) F_1[:, r] (x) ...
# (x) F_d[:, r], with factors = [U_in (in, R), U_out (out, R), F_1 (m_1, R), ..., F_d
# (m_d//2 + 1, R)]; separable CP (factors = [U (C, R), F_1, ..., F_d]) factorizes the
# separable weight the same way.  The CP mixing never forms the (in, out, K) tensor:
#     T = U_in^T X  (B, R, K);  T *= Q  with Q[r, k] = weights[r] prod_j F_j[k_j, r];
#     Y = U_out T  (B, O, K)
# which costs 2 R (I + O) K B complex multiply-adds against I O K B for the dense weight.
#
# Gradients follow the dense path's convention (dL/dRe + i dL/dIm, torch's for complex
# leaves): for a weight W that is a polynomial (no conjugates) in a parameter t,
# grad_t = sum conj(dW/dt) grad_W, and grad_W[i, o, k] = sum_b conj(X[b, i, k]) Gc[b, o, k]
# where Gc is the output-gradient spectrum weighted by the Hermitian counts (c_out).

def _compact_spectrum(a: Any, shape: tuple[int, ...], lead: tuple[np.ndarray, np.ndarray],
                      p: _Plan, norm: str, xp: Any) -> Any:
    """(B, C, r1, r2, L) kept modes of rfftn(a) over the grid `shape` (lead: the two leading
    index lists into that grid)."""
    if xp is np:
        return _kept_rfftn(np.ascontiguousarray(a), shape, lead, p.L, norm, p.cdtype)
    # cupy: full cuFFT, then the kept modes gathered (never ran: no GPU in this session)
    F = _spec5(xp.ascontiguousarray(xp.fft.rfftn(a, axes=p.axes, norm=norm).astype(
        p.cdtype, copy=False)))
    F = xp.take(xp.take(F, xp.asarray(lead[0]), axis=2), xp.asarray(lead[1]), axis=3)
    return xp.ascontiguousarray(F[..., :p.L])


def _compact_inverse(Y: Any, shape: tuple[int, ...], lead: tuple[np.ndarray, np.ndarray],
                     p: _Plan, norm: str, xp: Any) -> Any:
    """irfftn onto `shape` of the spectrum equal to Y (B, C, r1, r2, L) at the kept modes."""
    B, C = Y.shape[0], Y.shape[1]
    if xp is np:
        return _kept_irfftn(np.ascontiguousarray(Y), (B, C), shape, lead, norm, p.rdtype)
    # cupy: scattered into a zero half-spectrum, then cuFFT (never ran: no GPU this session)
    full = xp.zeros((B, C) + shape[:-1] + (_half(shape[-1]),), dtype=p.cdtype)
    f5 = _spec5(full)
    f5[:, :, xp.asarray(lead[0])[:, None], xp.asarray(lead[1])[None, :], :p.L] = Y
    return _gpu_irfftn(full, shape, norm, xp, p.rdtype)


def _kept_modes(a: Any, p: _Plan, xp: Any) -> Any:
    """The kept entries of a per-mode array (..., w5[2], w5[3], w5[4]) -> (..., r1, r2, L)."""
    w1, w2 = p.idx[0], p.idx[3]
    a = xp.take(xp.take(a, xp.asarray(w1), axis=-3), xp.asarray(w2), axis=-2)
    return a[..., :p.L]


def _scatter_modes(g: Any, shape: tuple[int, ...], p: _Plan, xp: Any) -> Any:
    """Adjoint of _kept_modes: g (..., r1, r2, L) placed in zeros of `shape` (..., w5[2:])."""
    out = xp.zeros(shape, dtype=g.dtype)
    w1, w2 = xp.asarray(p.idx[0]), xp.asarray(p.idx[3])
    out[..., w1[:, None], w2[None, :], :p.L] = g
    return out


def _counts(p: _Plan, xp: Any) -> tuple[Any, Any]:
    """Hermitian counts of the kept last-dim modes on the output and input grids, as arrays of
    the real dtype broadcasting over (..., r1, r2, L)."""
    c_out = _hermitian_count(p.out_shape[-1], p.L).astype(p.rdtype)
    c_in = _hermitian_count(p.in_shape[-1], p.L).astype(p.rdtype)
    return xp.asarray(c_out), xp.asarray(c_in)


def _variant_setup(x: Any, n_modes: Any, output_shape: Any, norm: str, channels_out: int,
                   cdtype_of: Any, xp: Any) -> tuple[Any, _Plan]:
    """Validated x and the plan, from a zero-stride stand-in dense weight of the variant's
    dtype (so _plan's checks name the dtype mismatch)."""
    x = _check_signal(x)
    d = x.ndim - 2
    modes = _as_int_tuple(n_modes, d, "n_modes")
    fake = np.broadcast_to(np.zeros((), cdtype_of),
                           weight_shape(x.shape[1], channels_out, modes))
    p = _plan(x, fake, modes, output_shape, norm)
    if xp is not np:
        x = xp.ascontiguousarray(x)
    return x, p


def _check_separable(x: Any, weight: Any, n_modes: Any, output_shape: Any, norm: str, xp: Any):
    weight = _check_array(weight, "weight")
    if not np.iscomplexobj(weight):
        raise TypeError(f"fastspectral.spectral: weight must be complex, got {weight.dtype}")
    xx = _check_array(x, "x")
    C = xx.shape[1] if xx.ndim >= 3 else 0
    x, p = _variant_setup(x, n_modes, output_shape, norm, C, weight.dtype, xp)
    expect = (C,) + weight_shape(1, 1, p.n_modes)[2:]
    if tuple(weight.shape) != expect:
        raise ValueError(f"fastspectral.spectral: separable weight has shape "
                         f"{tuple(weight.shape)}, expected (channels, *modes) = {expect} for "
                         f"{C} channels and n_modes = {p.n_modes}")
    return x, xp.ascontiguousarray(weight), p


def spectral_conv_separable(x: Any, weight: Any, n_modes: int | Sequence[int], *,
                            output_shape: Sequence[int] | None = None, norm: str = "forward",
                            bias: Any = None) -> Any:
    """Separable (per-channel) spectral convolution, neuraloperator's ``separable=True``:
    ``Y[b, c, k] = W[c, k] X[b, c, k]`` at every kept mode ``k`` (in == out channels).

    x : (batch, C, n_1, ..., n_d) float32/float64, numpy or cupy.
    weight : (C, m_1, ..., m_{d-1}, m_d // 2 + 1) complex64/complex128 matching x, the dense
        layout's mode dims (same frequencies per entry) without the out-channel dim.
    n_modes, output_shape, norm, bias : as :func:`spectral_conv`.
    Returns y (batch, C, *output_shape), x's dtype.  It equals :func:`spectral_conv` with the
    dense weight ``D[i, o, k] = (i == o) W[i, k]``.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 8))
    >>> bool(np.allclose(spectral_conv_separable(x, np.ones((3, 5), complex), 8), x))
    True
    """
    xp = _array_module(x=x, weight=weight, bias=bias)
    x, weight, p = _check_separable(x, weight, n_modes, output_shape, norm, xp)
    b = _check_bias(bias, weight.shape[0], p.d, p.rdtype)
    with _on_device(x):
        y, _ = _separable_forward(x, weight, p, xp)
        if b is not None:
            y = y + b.reshape((weight.shape[0],) + (1,) * p.d).astype(p.rdtype, copy=False)
    return y


def _separable_forward(x: Any, weight: Any, p: _Plan, xp: Any = np) -> tuple[Any, Any]:
    """y and the compact input spectrum X (B, C, r1, r2, L) for _separable_backward."""
    w1, s1, d1, w2, s2, d2 = p.idx
    X = _compact_spectrum(x, p.in_shape, (s1, s2), p, p.norm, xp)
    Wk = _kept_modes(weight.reshape((weight.shape[0],) + p.w5[2:]), p, xp)
    return _compact_inverse(X * Wk, p.out_shape, (d1, d2), p, p.norm, xp), X


def _separable_backward(grad_y: Any, X: Any, weight: Any, p: _Plan, xp: Any = np,
                        need_x: bool = True, need_w: bool = True) -> tuple[Any, Any]:
    w1, s1, d1, w2, s2, d2 = p.idx
    G = _compact_spectrum(grad_y, p.out_shape, (d1, d2), p, _DUAL[p.norm], xp)
    c_out, c_in = _counts(p, xp)
    grad_x = grad_w = None
    if need_x:
        Wk = _kept_modes(weight.reshape((weight.shape[0],) + p.w5[2:]), p, xp)
        GX = G * xp.conj(Wk) * (c_out / c_in)
        grad_x = _compact_inverse(GX, p.in_shape, (s1, s2), p, _DUAL[p.norm], xp)
    if need_w:
        gk = (xp.conj(X) * G).sum(axis=0) * c_out
        grad_w = _scatter_modes(gk, (weight.shape[0],) + p.w5[2:], p, xp).reshape(
            weight.shape)
    return grad_x, grad_w


def _grad_y_checked(grad_y: Any, x: Any, channels_out: int, p: _Plan, xp: Any) -> Any:
    grad_y = _check_array(grad_y, "grad_y")
    expect = (x.shape[0], channels_out, *p.out_shape)
    if tuple(grad_y.shape) != expect:
        raise ValueError(f"fastspectral.spectral: grad_y has shape {tuple(grad_y.shape)}, "
                         f"expected the output shape {expect}")
    if grad_y.dtype.kind not in "biuf":
        raise TypeError(f"fastspectral.spectral: grad_y must be real, got {grad_y.dtype}")
    return xp.ascontiguousarray(grad_y.astype(p.rdtype, copy=False))


def _bias_grad(grad_y: Any, b: Any, p: _Plan) -> Any:
    if b is None:
        return None
    return grad_y.sum(axis=(0,) + p.axes).reshape(b.shape).astype(b.dtype, copy=False)


def spectral_conv_separable_backward(grad_y: Any, x: Any, weight: Any,
                                     n_modes: int | Sequence[int], *,
                                     output_shape: Sequence[int] | None = None,
                                     norm: str = "forward", bias: Any = None):
    """Gradients through :func:`spectral_conv_separable`: ``(grad_x, grad_weight,
    grad_bias)``, shaped like x, weight and bias (None without one); complex gradients in the
    ``dL/dRe + i dL/dIm`` convention (torch's)."""
    xp = _array_module(grad_y=grad_y, x=x, weight=weight, bias=bias)
    x, weight, p = _check_separable(x, weight, n_modes, output_shape, norm, xp)
    b = _check_bias(bias, weight.shape[0], p.d, p.rdtype)
    with _on_device(x):
        grad_y = _grad_y_checked(grad_y, x, weight.shape[0], p, xp)
        w1, s1, d1, w2, s2, d2 = p.idx
        X = _compact_spectrum(x, p.in_shape, (s1, s2), p, p.norm, xp)
        grad_x, grad_w = _separable_backward(grad_y, X, weight, p, xp)
        return grad_x, grad_w, _bias_grad(grad_y, b, p)


# ---- CP


def cp_rank(shape: Sequence[int], rank: int | float) -> int:
    """CP rank for a weight of ``shape``: an int is taken as is; a float is a fraction of the
    dense parameter count, ``round(rank * prod(shape) / sum(shape))`` (at least 1), the rule
    tensorly's ``validate_cp_rank`` applies to neuraloperator's ``rank=0.5``-style arguments.

    >>> cp_rank((4, 4, 8, 5), 0.5)
    15
    """
    if isinstance(rank, numbers.Integral) and not isinstance(rank, bool):
        if rank < 1:
            raise ValueError(f"fastspectral.spectral: rank must be positive, got {rank}")
        return int(rank)
    if isinstance(rank, numbers.Real) and rank > 0:
        return max(1, int(np.round(np.prod(shape) * float(rank) / np.sum(shape))))
    raise ValueError(f"fastspectral.spectral: rank must be a positive int or float, got {rank!r}")


@dataclass
class _CP:
    separable: bool
    weights: Any                 # (R,)
    factors: list[Any]           # [U_in, U_out, F_1..F_d] or [U, F_1..F_d]
    R: int


def _check_cp(x: Any, weights: Any, factors: Any, n_modes: Any, output_shape: Any, norm: str,
              xp: Any) -> tuple[Any, _CP, _Plan]:
    weights = _check_array(weights, "weights")
    factors = [_check_array(f, f"factors[{j}]") for j, f in enumerate(factors)]
    xx = _check_array(x, "x")
    _check_spatial_ndim(xx)
    d, C = xx.ndim - 2, xx.shape[1]
    mode_names = ", ".join(f"F_{j + 1}" for j in range(d))
    # The count selects the interpretation (d + 2: dense, d + 1: separable), so a dense list
    # missing one factor reads as separable; every count or shape error names both forms.
    forms = (f"{d + 2} arrays for the dense weight [U_in, U_out, {mode_names}] or {d + 1} "
             f"arrays for the separable weight [U, {mode_names}] with {d} spatial dims")
    if len(factors) not in (d + 1, d + 2):
        raise ValueError(f"fastspectral.spectral: factors must hold {forms}, got "
                         f"{len(factors)}")
    separable = len(factors) == d + 1
    if weights.ndim != 1:
        raise ValueError(f"fastspectral.spectral: weights must have shape (rank,), got "
                         f"{tuple(weights.shape)}")
    R = weights.shape[0]
    for name, a in [("weights", weights)] + [(f"factors[{j}]", f) for j, f in enumerate(factors)]:
        if not np.iscomplexobj(a):
            raise TypeError(f"fastspectral.spectral: {name} must be complex, got {a.dtype}")
        if a.dtype != weights.dtype:
            raise TypeError(f"fastspectral.spectral: {name} is {a.dtype} but weights is "
                            f"{weights.dtype}; all CP factors must share one complex dtype")
    O = C if separable else (factors[1].shape[0] if factors[1].ndim == 2 else 1)
    x, p = _variant_setup(x, n_modes, output_shape, norm, O, weights.dtype, xp)
    mode_sizes = list(weight_shape(1, 1, p.n_modes)[2:])
    sizes = ([C] if separable else [C, O]) + mode_sizes
    names = (["U"] if separable else ["U_in", "U_out"]) + [f"F_{j + 1}" for j in range(d)]
    for j, (f, s, nm) in enumerate(zip(factors, sizes, names)):
        if tuple(f.shape) != (s, R):
            raise ValueError(f"fastspectral.spectral: factors[{j}] ({nm}) has shape "
                             f"{tuple(f.shape)}, expected ({s}, rank = {R}); factors holds "
                             f"{len(factors)} arrays, read as the "
                             f"{'separable' if separable else 'dense'} form (factors must hold "
                             f"{forms})")
    cp = _CP(separable=separable, weights=xp.ascontiguousarray(weights),
             factors=[xp.ascontiguousarray(f) for f in factors], R=R)
    return x, cp, p


def _cp_mode_factors(cp: _CP, p: _Plan, xp: Any) -> list[Any]:
    """The three per-(padded)-mode-dim factors at the kept modes, (R, r1), (R, r2), (R, L)."""
    F = cp.factors[-p.d:]
    ones = xp.ones((1, cp.R), dtype=cp.weights.dtype)
    F = [ones] * (3 - p.d) + list(F)
    w1, w2 = xp.asarray(p.idx[0]), xp.asarray(p.idx[3])
    return [F[0][w1].T, F[1][w2].T, F[2][:p.L].T]


def _cp_Q(cp: _CP, Fk: list[Any], xp: Any) -> Any:
    """Q[r, k] = weights[r] prod_j F_j[k_j, r] on the kept modes, (R, r1, r2, L)."""
    return (cp.weights[:, None, None, None] * Fk[0][:, :, None, None]
            * Fk[1][:, None, :, None] * Fk[2][:, None, None, :])


def _cp_saved(x: Any, cp: _CP, p: _Plan, xp: Any = np) -> tuple[Any, Any, Any]:
    """The compact input spectrum X (B, I, K), T = U_in^T X (B, R, K; None when separable) and
    Q (R, K)."""
    w1, s1, d1, w2, s2, d2 = p.idx
    X = _compact_spectrum(x, p.in_shape, (s1, s2), p, p.norm, xp)
    B, I = X.shape[0], X.shape[1]
    K = len(w1) * len(w2) * p.L
    Q = _cp_Q(cp, _cp_mode_factors(cp, p, xp), xp).reshape(cp.R, K)
    X = X.reshape(B, I, K)
    T = None if cp.separable else xp.matmul(cp.factors[0].T, X)
    return X, T, Q


def _cp_forward(x: Any, cp: _CP, p: _Plan, xp: Any = np) -> tuple[Any, tuple[Any, Any]]:
    """y and what _cp_backward needs: the compact input spectrum X (B, I, K) and T = U_in^T X
    (B, R, K) (None for separable CP)."""
    w1, s1, d1, w2, s2, d2 = p.idx
    r1, r2 = len(w1), len(w2)
    X, T, Q = _cp_saved(x, cp, p, xp)
    B = X.shape[0]
    if cp.separable:
        Y = X * (cp.factors[0] @ Q)              # the (C, K) separable weight: no larger than X
    else:
        Y = xp.matmul(cp.factors[1], T * Q)       # (B, O, K)
    y = _compact_inverse(Y.reshape(B, Y.shape[1], r1, r2, p.L), p.out_shape, (d1, d2), p,
                         p.norm, xp)
    return y, (X, T)


def _cp_backward(grad_y: Any, saved: tuple[Any, Any], cp: _CP, p: _Plan, xp: Any = np,
                 need_x: bool = True, need_w: bool = True):
    """(grad_x, grad_weights, grad_factors list) of the CP layer (None where not needed)."""
    X, T = saved
    w1, s1, d1, w2, s2, d2 = p.idx
    r1, r2 = len(w1), len(w2)
    K = r1 * r2 * p.L
    B, I = X.shape[0], X.shape[1]
    Fk = _cp_mode_factors(cp, p, xp)
    Q = _cp_Q(cp, Fk, xp).reshape(cp.R, K)
    G = _compact_spectrum(grad_y, p.out_shape, (d1, d2), p, _DUAL[p.norm], xp)
    O = G.shape[1]
    c_out, c_in = _counts(p, xp)
    G = G.reshape(B, O, r1 * r2, p.L)
    Gc = (G * c_out).reshape(B, O, K)
    # the adjoint of the forward real transform divides by the input grid's counts again
    ratio = xp.broadcast_to(c_out / c_in, (r1 * r2, p.L)).reshape(K)
    inv_cin = xp.broadcast_to(1 / c_in, (r1 * r2, p.L)).reshape(K)
    grad_x = None
    gf: list[Any] = [None] * len(cp.factors)
    grad_l = None
    if cp.separable:
        U = cp.factors[0]
        if need_x:
            GX = G.reshape(B, O, K) * xp.conj(U @ Q) * ratio
            grad_x = _compact_inverse(GX.reshape(B, I, r1, r2, p.L), p.in_shape, (s1, s2), p,
                                      _DUAL[p.norm], xp)
        if need_w:
            gW = (xp.conj(X) * Gc).sum(axis=0)                  # (C, K): grad of U Q
            gf[0] = gW @ xp.conj(Q).T                            # (C, R)
            H = xp.conj(U).T @ gW                                # (R, K): grad of Q
    else:
        U_in, U_out = cp.factors[0], cp.factors[1]
        Bt = xp.matmul(xp.conj(U_out).T, Gc)                     # (B, R, K)
        if need_x:
            Bs = Bt * xp.conj(Q)
            GX = xp.matmul(xp.conj(U_in), Bs) * inv_cin      # Bt already holds c_out
            grad_x = _compact_inverse(GX.reshape(B, I, r1, r2, p.L), p.in_shape, (s1, s2), p,
                                      _DUAL[p.norm], xp)
        if need_w:
            Bs = Bt * xp.conj(Q)
            gf[0] = xp.matmul(xp.conj(X), Bs.transpose(0, 2, 1)).sum(axis=0)        # (I, R)
            gf[1] = xp.matmul(Gc, xp.conj(T * Q).transpose(0, 2, 1)).sum(axis=0)    # (O, R)
            H = (xp.conj(T) * Bt).sum(axis=0)                                        # (R, K)
    if need_w:
        H = H.reshape(cp.R, r1, r2, p.L)
        lam = cp.weights[:, None, None, None]
        F0, F1, F2 = (Fk[0][:, :, None, None], Fk[1][:, None, :, None],
                      Fk[2][:, None, None, :])
        grad_l = (xp.conj(F0 * F1 * F2) * H).sum(axis=(1, 2, 3))
        g0 = (xp.conj(lam * F1 * F2) * H).sum(axis=(2, 3))      # (R, r1)
        g1 = (xp.conj(lam * F0 * F2) * H).sum(axis=(1, 3))      # (R, r2)
        g2 = (xp.conj(lam * F0 * F1) * H).sum(axis=(1, 2))      # (R, L)
        lead = len(cp.factors) - p.d
        sizes = [p.w5[2], p.w5[3], p.w5[4]]
        for j, (g, idx) in enumerate(((g0, p.idx[0]), (g1, p.idx[3]), (g2, None))):
            if j < 3 - p.d:
                continue                                         # padded dim: no factor
            full = xp.zeros((sizes[j], cp.R), dtype=cp.weights.dtype)
            if idx is None:
                full[:p.L] = g.T
            else:
                full[xp.asarray(idx)] = g.T
            gf[lead + j - (3 - p.d)] = full
    return grad_x, grad_l, (gf if need_w else None)


def spectral_conv_cp(x: Any, weights: Any, factors: Sequence[Any], n_modes: int | Sequence[int],
                     *, output_shape: Sequence[int] | None = None, norm: str = "forward",
                     bias: Any = None) -> Any:
    """Spectral convolution with a CP-factorized weight, contracted from its factors.

    x : (batch, in, n_1, ..., n_d) float32/float64, numpy or cupy.
    weights : (R,) complex (tensorly-torch ``CPTensor.weights``).
    factors : tensorly-torch's order for the dense weight shape ``(in, out, *modes)``:
        ``[U_in (in, R), U_out (out, R), F_1 (m_1, R), ..., F_d (m_d // 2 + 1, R)]``; or,
        separable (weight shape ``(C, *modes)``), ``[U (C, R), F_1, ..., F_d]``.  All of the
        weights' complex dtype (complex64 for float32 x, complex128 for float64).
    n_modes, output_shape, norm, bias : as :func:`spectral_conv`.

    The result equals :func:`spectral_conv` (or :func:`spectral_conv_separable`) with the dense
    weight ``sum_r weights[r] U_in[:, r] (x) U_out[:, r] (x) F_1[:, r] (x) ... (x) F_d[:, r]``,
    which is never built: per kept mode the input is projected onto the R components
    (``U_in^T X``), scaled by the per-mode factors and expanded with ``U_out``.
    """
    xp = _array_module(x=x, weights=weights, bias=bias,
                       **{f"factors[{j}]": f for j, f in enumerate(factors)})
    x, cp, p = _check_cp(x, weights, factors, n_modes, output_shape, norm, xp)
    O = x.shape[1] if cp.separable else cp.factors[1].shape[0]
    b = _check_bias(bias, O, p.d, p.rdtype)
    with _on_device(x):
        y, _ = _cp_forward(x, cp, p, xp)
        if b is not None:
            y = y + b.reshape((O,) + (1,) * p.d).astype(p.rdtype, copy=False)
    return y


def spectral_conv_cp_backward(grad_y: Any, x: Any, weights: Any, factors: Sequence[Any],
                              n_modes: int | Sequence[int], *,
                              output_shape: Sequence[int] | None = None, norm: str = "forward",
                              bias: Any = None):
    """Gradients through :func:`spectral_conv_cp`: ``(grad_x, grad_weights, grad_factors,
    grad_bias)``; ``grad_factors`` a list shaped like ``factors`` (entries of mode factors
    outside the kept modes, when the output grid is smaller, get zero), complex gradients in
    the ``dL/dRe + i dL/dIm`` convention (torch's), ``grad_bias`` None without a bias."""
    xp = _array_module(grad_y=grad_y, x=x, weights=weights, bias=bias,
                       **{f"factors[{j}]": f for j, f in enumerate(factors)})
    x, cp, p = _check_cp(x, weights, factors, n_modes, output_shape, norm, xp)
    O = x.shape[1] if cp.separable else cp.factors[1].shape[0]
    b = _check_bias(bias, O, p.d, p.rdtype)
    with _on_device(x):
        grad_y = _grad_y_checked(grad_y, x, O, p, xp)
        X, T, _ = _cp_saved(x, cp, p, xp)
        gx, gl, gf = _cp_backward(grad_y, (X, T), cp, p, xp)
        return gx, gl, gf, _bias_grad(grad_y, b, p)
