"""The ``spectral`` suite: the FNO spectral convolution (float32, dense weights, CPU).

Shapes (issue 4's standard shapes; ``--quick`` in brackets)
----------------------------------------------------------
1D  B=32, C=64, n=1024, m=16            [B=4, C=16, n=256, m=16]
2D  B=8, C=32, 64^2, m=12               [B=2, C=16, 32^2, m=8]
2D  B=8, C=64, 128^2, m=32              [B=2, C=16, 64^2, m=16]
3D  B=4, C=32, 64^3, m=16               [B=1, C=8, 16^3, m=8]

Kernels: ``forward`` (spectral_conv) and ``fwd+bwd`` (the forward, then grad_x and grad_weight
from the saved input spectrum, as the autograd Function does).  Competitors, same process, same
inputs: the NumPy reference pipeline (rfftn, fftshift, slice, einsum, zero spectrum, scatter,
ifftshift, irfftn; forward only) and, when torch imports, neuraloperator's algorithm written in
torch (rfftn, fftshift, slice, einsum, scatter, fftshift, irfftn; backward by autograd) run with
torch.set_num_threads equal to fastspectral's thread count.

Memory (CPU cases): metrics ``peak_MiB_ours`` / ``peak_MiB_competitor``, the peak resident-set
increase of one call (the kernel's: forward, or forward+backward), measured after the timing
warm-up: free heap memory handed back (glibc ``malloc_trim``), the resident set read, the
high-water mark reset (``5`` written to ``/proc/self/clear_refs``), one call, ``VmHWM`` read
from ``/proc/self/status``; the difference in MiB (what the call's result keeps alive counts
too).  Where that interface is missing (not Linux, no permission) the columns are left out.

GPU cases (only with a CUDA build, a visible device and cupy; same shapes): fastspectral on cupy
arrays (cuFFT transforms + the CUDA contraction kernels) against neuraloperator's algorithm in
torch on the GPU (forward, and forward+backward by autograd) when torch sees a CUDA device,
otherwise against the same pipeline written in cupy (forward only).  Both are timed with CUDA
events on the legacy default stream, which torch and cupy both use by default.
"""
from __future__ import annotations

import ctypes
import gc
import sys
from typing import Any, Callable

import numpy as np

from . import BenchConfig
from ._harness import Case, Prepared, cupy_timer, gpu_available

NAME = "spectral"
DESCRIPTION = "FNO spectral convolution forward and forward+backward vs NumPy and torch pipelines"
NOTE = ("float32. Competitors: NumPy reference (forward only), torch implementation of "
        "neuraloperator's SpectralConv forward with autograd backward (torch threads = ours). "
        "ratio = competitor time / fastspectral time. peak MiB: peak resident-memory increase "
        "of one call (Linux VmHWM after a reset), CPU cases only.")

#: (label, batch, channels, spatial shape, n_modes) for full runs and for --quick
SHAPES = [
    ("1d", (32, 64, (1024,), (16,)), (4, 16, (256,), (16,))),
    ("2d-64", (8, 32, (64, 64), (12, 12)), (2, 16, (32, 32), (8, 8))),
    ("2d-128", (8, 64, (128, 128), (32, 32)), (2, 16, (64, 64), (16, 16))),
    ("3d", (4, 32, (64, 64, 64), (16, 16, 16)), (1, 8, (16, 16, 16), (8, 8, 8))),
]


def numpy_reference(x: np.ndarray, w: np.ndarray, modes: tuple[int, ...],
                    xp: Any = np) -> np.ndarray:
    """The reference pipeline; ``xp=cupy`` runs it on the GPU (cupy in, cupy out)."""
    d = x.ndim - 2
    axes = tuple(range(2, 2 + d))
    X = xp.fft.rfftn(x, axes=axes, norm="forward")
    if d > 1:
        X = xp.fft.fftshift(X, axes=axes[:-1])
    sl = [slice(None), slice(None)]
    for j in range(d - 1):
        c = x.shape[2 + j] // 2
        sl.append(slice(c - modes[j] // 2, c + modes[j] - modes[j] // 2))
    sl.append(slice(0, w.shape[-1]))
    Y = xp.zeros((x.shape[0], w.shape[1]) + X.shape[2:], X.dtype)
    Y[tuple(sl)] = xp.einsum("bi...,io...->bo...", X[tuple(sl)], w)
    if d > 1:
        Y = xp.fft.ifftshift(Y, axes=axes[:-1])
    return xp.fft.irfftn(Y, s=x.shape[2:], axes=axes, norm="forward")


def torch_neuraloperator(torch: Any, x: Any, w: Any, modes: tuple[int, ...]) -> Any:
    d = x.ndim - 2
    dims = tuple(range(2, 2 + d))
    X = torch.fft.rfftn(x, dim=dims, norm="forward")
    if d > 1:
        X = torch.fft.fftshift(X, dim=dims[:-1])
    sl = [slice(None), slice(None)]
    for j in range(d - 1):
        c = x.shape[2 + j] // 2
        sl.append(slice(c - modes[j] // 2, c + modes[j] - modes[j] // 2))
    sl.append(slice(0, w.shape[-1]))
    out = torch.zeros((x.shape[0], w.shape[1]) + tuple(X.shape[2:]), dtype=X.dtype,
                      device=X.device)
    out[tuple(sl)] = torch.einsum("bi...,io...->bo...", X[tuple(sl)], w)
    if d > 1:
        out = torch.fft.fftshift(out, dim=dims[:-1])
    return torch.fft.irfftn(out, s=tuple(x.shape[2:]), dim=dims, norm="forward")


def _torch() -> Any:
    try:
        import torch
    except Exception:
        return None
    return torch


def _inputs(B: int, C: int, shape: tuple[int, ...], modes: tuple[int, ...], seed: int):
    from fastspectral.spectral import weight_shape

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, C, *shape), dtype=np.float32)
    ws = weight_shape(C, C, modes)
    w = ((rng.standard_normal(ws) + 1j * rng.standard_normal(ws)) / C).astype(np.complex64)
    g = rng.standard_normal((B, C, *shape), dtype=np.float32)
    return x, w, g


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _malloc_trim() -> None:
    # freed blocks kept in glibc's heap would let a call reuse them without a visible RSS rise
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_rss_increase_mib(fn: Callable[[], Any]) -> float | None:
    """Peak resident-memory increase (MiB) of one call of ``fn``; None where the Linux
    high-water-mark reset (``/proc/self/clear_refs``) is unavailable."""
    gc.collect()
    _malloc_trim()
    before = _status_kib("VmRSS")
    if before is None:
        return None
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")                      # VmHWM := current RSS
    except OSError:
        return None
    out = fn()
    peak = _status_kib("VmHWM")
    del out
    if peak is None:
        return None
    return max(peak - before, 0) / 1024.0


def _memory_metrics(ours: Callable[[], Any], theirs: Callable[[], Any]) -> dict[str, float]:
    m_ours = peak_rss_increase_mib(ours)
    m_theirs = peak_rss_increase_mib(theirs)
    if m_ours is None or m_theirs is None:
        return {}
    return {"peak_MiB_ours": m_ours, "peak_MiB_competitor": m_theirs}


def _ours_fwd_bwd(x, w, g, modes):
    from fastspectral import spectral as S

    xx, ww, p = S._prepare(x, w, modes, None, "forward")
    y, X = S._forward(xx, ww, p)
    return y, S._backward(g, X, ww, p)


def _host(a: Any) -> np.ndarray:
    if hasattr(a, "get"):                      # cupy
        return a.get()
    if type(a).__module__.startswith("torch"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _rel(a: Any, b: Any) -> float:
    # complex128 keeps the imaginary parts of weight gradients (float64 would drop them)
    a, b = _host(a).astype(np.complex128), _host(b).astype(np.complex128)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def _ours_fwd_bwd_gpu(x, w, g, modes):
    import cupy

    from fastspectral import spectral as S

    xx, ww, p = S._prepare(x, w, modes, None, "forward", cupy)
    y, X = S._gpu_forward(xx, ww, p, cupy)
    return y, S._gpu_backward(g, X, ww, p, cupy)


def _gpu_cases(config: BenchConfig, quick: bool) -> list[Case]:
    torch = _torch()
    if torch is not None and not torch.cuda.is_available():
        torch = None
    out: list[Case] = []
    for label, full, small in SHAPES:
        B, C, shape, modes = small if quick else full
        n = B * C * int(np.prod(shape))
        params = {"B": B, "C": C, "shape": list(shape), "n_modes": list(modes)}
        inp = f"{label} B{B} C{C} {'x'.join(map(str, shape))} m{modes[0]}"

        def prep_fwd(B=B, C=C, shape=shape, modes=modes) -> Prepared:
            import cupy

            from fastspectral.spectral import spectral_conv

            x, w, _ = _inputs(B, C, shape, modes, config.seed)
            xd, wd = cupy.asarray(x), cupy.asarray(w)
            if torch is None:
                theirs = lambda: numpy_reference(xd, wd, modes, cupy)  # noqa: E731
            else:
                xt, wt = torch.as_tensor(xd, device="cuda"), torch.as_tensor(wd, device="cuda")

                def theirs():
                    with torch.no_grad():
                        return torch_neuraloperator(torch, xt, wt, modes)

            return Prepared(ours=lambda: spectral_conv(xd, wd, modes), theirs=theirs,
                            ours_timer=cupy_timer, theirs_timer=cupy_timer,
                            metrics=lambda a, b: {"rel_diff": _rel(a, b)})

        def prep_bwd(B=B, C=C, shape=shape, modes=modes) -> Prepared:
            import cupy

            x, w, g = _inputs(B, C, shape, modes, config.seed)
            xd, wd, gd = cupy.asarray(x), cupy.asarray(w), cupy.asarray(g)
            xt = torch.tensor(x, device="cuda", requires_grad=True)
            wt = torch.tensor(w, device="cuda", requires_grad=True)
            gt = torch.tensor(g, device="cuda")

            def theirs():
                xt.grad = wt.grad = None
                y = torch_neuraloperator(torch, xt, wt, modes)
                y.backward(gt)
                return xt.grad, wt.grad

            def metrics(a, b) -> dict[str, float]:
                return {"rel_diff_grad_x": _rel(a[1][0], b[0]),
                        "rel_diff_grad_w": _rel(a[1][1], b[1])}

            return Prepared(ours=lambda: _ours_fwd_bwd_gpu(xd, wd, gd, modes), theirs=theirs,
                            ours_timer=cupy_timer, theirs_timer=cupy_timer, metrics=metrics)

        if torch is None:
            competitor, kernels = "cupy reference pipeline", (("forward", prep_fwd),)
        else:
            competitor = (f"torch {torch.__version__.split('+')[0]} CUDA neuraloperator "
                          "algorithm")
            kernels = (("forward", prep_fwd), ("fwd+bwd", prep_bwd))
        for kernel, prep in kernels:
            out.append(Case(suite=NAME, kernel=kernel, competitor=competitor, input=inp, n=n,
                            dtype="f32", threads=None, competitor_threads=None, prepare=prep,
                            device="gpu", competitor_device="gpu", params=params))
    return out


def cases(config: BenchConfig) -> list[Case]:
    """CPU cases for every thread count and shape (unless device is "gpu"), then GPU cases."""
    quick = config.quick or config.size_scale < 1
    out = _cpu_cases(config, quick) if config.device in ("cpu", "all") else []
    if config.device in ("cpu", "all"):
        out += _t1_cases(config, quick)
    if config.device == "gpu" and not gpu_available():
        print("spectral: no GPU cases (needs a CUDA build of fastspectral, a visible GPU and "
              "cupy)", file=sys.stderr)
    if config.device in ("gpu", "all") and gpu_available():
        out += _gpu_cases(config, quick)
    return out


def _cpu_cases(config: BenchConfig, quick: bool) -> list[Case]:
    torch = _torch()
    out: list[Case] = []
    for threads in config.threads:
        for label, full, small in SHAPES:
            B, C, shape, modes = small if quick else full
            n = B * C * int(np.prod(shape))
            params = {"B": B, "C": C, "shape": list(shape), "n_modes": list(modes)}
            inp = f"{label} B{B} C{C} {'x'.join(map(str, shape))} m{modes[0]}"

            def prep_numpy(B=B, C=C, shape=shape, modes=modes) -> Prepared:
                from fastspectral.spectral import spectral_conv

                x, w, _ = _inputs(B, C, shape, modes, config.seed)
                ours = lambda: spectral_conv(x, w, modes)  # noqa: E731
                theirs = lambda: numpy_reference(x, w, modes)  # noqa: E731
                return Prepared(ours=ours, theirs=theirs,
                                metrics=lambda a, b: {"rel_diff": _rel(a, b),
                                                      **_memory_metrics(ours, theirs)})

            out.append(Case(suite=NAME, kernel="forward", competitor="numpy reference",
                            input=inp, n=n, dtype="f32", threads=threads,
                            competitor_threads=threads, prepare=prep_numpy, params=params))
            if torch is None:
                continue

            def prep_torch_fwd(B=B, C=C, shape=shape, modes=modes, threads=threads) -> Prepared:
                from fastspectral.spectral import spectral_conv

                torch.set_num_threads(threads)
                x, w, _ = _inputs(B, C, shape, modes, config.seed)
                xt, wt = torch.from_numpy(x), torch.from_numpy(w)

                def theirs():
                    with torch.no_grad():
                        return torch_neuraloperator(torch, xt, wt, modes)

                ours = lambda: spectral_conv(x, w, modes)  # noqa: E731
                return Prepared(ours=ours, theirs=lambda: theirs().numpy(),
                                metrics=lambda a, b: {"rel_diff": _rel(a, b),
                                                      **_memory_metrics(ours, theirs)})

            def prep_torch_bwd(B=B, C=C, shape=shape, modes=modes, threads=threads) -> Prepared:
                torch.set_num_threads(threads)
                x, w, g = _inputs(B, C, shape, modes, config.seed)
                xt = torch.from_numpy(x).requires_grad_(True)
                wt = torch.from_numpy(w).requires_grad_(True)
                gt = torch.from_numpy(g)

                def theirs():
                    xt.grad = wt.grad = None
                    y = torch_neuraloperator(torch, xt, wt, modes)
                    y.backward(gt)
                    return xt.grad.numpy(), wt.grad.numpy()

                ours = lambda: _ours_fwd_bwd(x, w, g, modes)  # noqa: E731

                def metrics(a, b) -> dict[str, float]:
                    out = {"rel_diff_grad_x": _rel(a[1][0], b[0]),
                           "rel_diff_grad_w": _rel(a[1][1], b[1])}
                    return {**out, **_memory_metrics(ours, theirs)}

                return Prepared(ours=ours, theirs=theirs, metrics=metrics)

            for kernel, prep in (("forward", prep_torch_fwd), ("fwd+bwd", prep_torch_bwd)):
                out.append(Case(suite=NAME, kernel=kernel,
                                competitor=f"torch {torch.__version__.split('+')[0]} "
                                           "neuraloperator algorithm",
                                input=inp, n=n, dtype="f32", threads=threads,
                                competitor_threads=threads, prepare=prep, params=params))
            if label == "2d-64":
                out += _variant_cases(torch, B, C, shape, modes, threads, inp, n, params,
                                      config.seed)
    return out


#: CP rank of the factorized-weight case (neuraloperator's default rank=0.5 gives R in the
#: thousands, where CP stops saving work; 16 is a typical trained-model rank).
CP_RANK = 16


def _torch_variant(torch: Any, x: Any, modes: tuple[int, ...], mix: Callable[[Any], Any],
                   out_channels: int) -> Any:
    """neuraloperator's algorithm with the per-mode mixing replaced by `mix` (2-D)."""
    X = torch.fft.fftshift(torch.fft.rfftn(x, dim=(2, 3), norm="forward"), dim=(2,))
    c = x.shape[2] // 2
    sl = (slice(None), slice(None), slice(c - modes[0] // 2, c + modes[0] - modes[0] // 2),
          slice(0, modes[1] // 2 + 1))
    out = torch.zeros((x.shape[0], out_channels) + tuple(X.shape[2:]), dtype=X.dtype)
    out[sl] = mix(X[sl])
    return torch.fft.irfftn(torch.fft.fftshift(out, dim=(2,)), s=tuple(x.shape[2:]), dim=(2, 3),
                            norm="forward")


def _variant_cases(torch: Any, B: int, C: int, shape: tuple[int, ...], modes: tuple[int, ...],
                   threads: int, inp: str, n: int, params: dict[str, Any], seed: int) -> list[Case]:
    """Separable and CP weights (2-D) against the same algorithm in torch: a broadcast product
    for separable, and for CP the factorized einsum neuraloperator runs (implementation=
    'factorized'), both on torch's FFTs."""
    from fastspectral.spectral import (spectral_conv_cp, spectral_conv_separable,
                                       weight_shape)

    ws = weight_shape(C, C, modes)

    def prep_separable() -> Prepared:
        torch.set_num_threads(threads)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((B, C, *shape), dtype=np.float32)
        w = (rng.standard_normal(ws[1:]) + 1j * rng.standard_normal(ws[1:])).astype(np.complex64)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)

        def theirs():
            with torch.no_grad():
                return _torch_variant(torch, xt, modes, lambda Xs: Xs * wt, C).numpy()

        ours = lambda: spectral_conv_separable(x, w, modes)  # noqa: E731
        return Prepared(ours=ours, theirs=theirs,
                        metrics=lambda a, b: {"rel_diff": _rel(a, b),
                                              **_memory_metrics(ours, theirs)})

    def prep_cp() -> Prepared:
        torch.set_num_threads(threads)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((B, C, *shape), dtype=np.float32)

        def cplx(*sh):
            return ((rng.standard_normal(sh) + 1j * rng.standard_normal(sh)) /
                    np.sqrt(sh[0])).astype(np.complex64)
        lam = cplx(CP_RANK)
        factors = [cplx(C, CP_RANK), cplx(C, CP_RANK), cplx(ws[2], CP_RANK), cplx(ws[3], CP_RANK)]
        xt, lt = torch.from_numpy(x), torch.from_numpy(lam)
        ft = [torch.from_numpy(f) for f in factors]

        def mix(Xs):
            return torch.einsum("bixy,r,ir,or,xr,yr->boxy", Xs, lt, *ft)

        def theirs():
            with torch.no_grad():
                return _torch_variant(torch, xt, modes, mix, C).numpy()

        ours = lambda: spectral_conv_cp(x, lam, factors, modes)  # noqa: E731
        return Prepared(ours=ours, theirs=theirs,
                        metrics=lambda a, b: {"rel_diff": _rel(a, b),
                                              **_memory_metrics(ours, theirs)})

    tv = torch.__version__.split("+")[0]
    return [Case(suite=NAME, kernel="forward separable",
                 competitor=f"torch {tv} neuraloperator algorithm, separable weight",
                 input=inp, n=n, dtype="f32", threads=threads, competitor_threads=threads,
                 prepare=prep_separable, params=dict(params, weight="separable")),
            Case(suite=NAME, kernel="forward cp",
                 competitor=f"torch {tv} factorized CP einsum (rank {CP_RANK})",
                 input=inp, n=n, dtype="f32", threads=threads, competitor_threads=threads,
                 prepare=prep_cp, params=dict(params, weight="cp", rank=CP_RANK))]


# --------------------------------------------------------------------------- transform once (T1)
#
# A frequency-domain model that transforms once: rfft_modes, three mode_mix layers, irfft_modes
# (no nonlinearity).  Competitors on identical inputs: three fastspectral spectral_conv calls,
# the same T1 stack in torch (one rfftn, index the kept modes, three einsums, one irfftn;
# backward by autograd), and three of the torch neuraloperator layers above.  2-D shape only.
#
# The T1 stack is not three spectral convolutions in general: between two convolutions the
# spectrum goes through a real signal, which makes the zero column of the last dim Hermitian
# again (Y(-f, 0) = conj Y(f, 0); the unpaired frequency -m/2 there is halved), while T1 keeps
# whatever the layers produce.  The weights here are made Hermitian in that column
# (W(-f, 0) = conj W(f, 0), zero without a partner), where the two agree, so rel_diff checks
# the results; their weight gradients still differ in that column (the models differ off
# such weights), so against the spectral_conv stacks only the columns k_d > 0 are compared
# (metric rel_diff_grad_w_k>0).

T1_LAYERS = 3


def _hermitian_zero_column(w: np.ndarray, modes: tuple[int, ...]) -> np.ndarray:
    """w with its last-dim zero column replaced by its Hermitian part: entry of frequency f
    (non-last dims) := (w(f) + conj w(-f)) / 2, zero where -f is not kept."""
    w = w.copy()
    col = w[..., 0]
    out = np.zeros_like(col)
    lead = [np.arange(m) - m // 2 for m in modes[:-1]]
    for a in np.ndindex(*col.shape[2:]):
        f = [lead[j][a[j]] for j in range(len(a))]
        b = tuple(-fj + m // 2 for fj, m in zip(f, modes[:-1]))
        if all(0 <= bj < m for bj, m in zip(b, modes[:-1])):
            out[(..., *a)] = (col[(..., *a)] + np.conj(col[(..., *b)])) / 2
    w[..., 0] = out
    return w


def _t1_inputs(B: int, C: int, shape: tuple[int, ...], modes: tuple[int, ...], seed: int):
    x, w0, g = _inputs(B, C, shape, modes, seed)
    ws = [w0] + [_inputs(1, C, shape, modes, seed + k)[1] for k in range(1, T1_LAYERS)]
    return x, [_hermitian_zero_column(w, modes) for w in ws], g


def _t1_fwd_bwd(x, ws, g, modes):
    """The T1 stack's forward and backward through fastspectral.spectral's public functions:
    (y, (grad_x, [grad_w per layer]))."""
    from fastspectral import spectral as S

    Xs = [S.rfft_modes(x, modes)]
    for w in ws:
        Xs.append(S.mode_mix(Xs[-1], w))
    y = S.irfft_modes(Xs[-1], modes, x.shape[2:])
    G = S.irfft_modes_backward(g, modes)
    gws = []
    for X, w in zip(reversed(Xs[:-1]), reversed(ws)):
        G, gw = S.mode_mix_backward(G, X, w)
        gws.append(gw)
    return y, (S.rfft_modes_backward(G, x.shape, modes), gws[::-1])


def _t1_forward(x, ws, modes):
    from fastspectral import spectral as S

    X = S.rfft_modes(x, modes)
    for w in ws:
        X = S.mode_mix(X, w)
    return S.irfft_modes(X, modes, x.shape[2:])


def _convs_fwd_bwd(x, ws, g, modes):
    """Three spectral convolutions, forward then backward (saved spectra, as autograd)."""
    from fastspectral import spectral as S

    saved, h = [], x
    for w in ws:
        hh, ww, p = S._prepare(h, w, modes, None, "forward")
        h, X = S._forward(hh, ww, p)
        saved.append((X, ww, p))
    gws, G = [], g
    for X, ww, p in reversed(saved):
        G, gw = S._backward(np.ascontiguousarray(G), X, ww, p)
        gws.append(gw)
    return h, (G, gws[::-1])


def _torch_t1(torch: Any, x: Any, ws: list[Any], modes: tuple[int, ...]) -> Any:
    d = x.ndim - 2
    dims = tuple(range(2, 2 + d))
    idx = [torch.as_tensor((np.arange(modes[j]) - modes[j] // 2) % x.shape[2 + j])
           for j in range(d - 1)]
    X = torch.fft.rfftn(x, dim=dims, norm="forward")
    for j in range(d - 1):
        X = X.index_select(2 + j, idx[j])
    X = X[..., :modes[-1] // 2 + 1]
    for w in ws:
        X = torch.einsum("bi...,io...->bo...", X, w)
    out = torch.zeros((x.shape[0], ws[-1].shape[1]) + tuple(x.shape[2:-1])
                      + (x.shape[-1] // 2 + 1,), dtype=X.dtype)
    grid = tuple(torch.meshgrid(*idx, indexing="ij")) if d > 1 else ()
    out[(slice(None), slice(None)) + grid + (slice(0, X.shape[-1]),)] = X
    return torch.fft.irfftn(out, s=tuple(x.shape[2:]), dim=dims, norm="forward")


def _t1_cases(config: BenchConfig, quick: bool) -> list[Case]:
    torch = _torch()
    out: list[Case] = []
    label, full, small = SHAPES[1]
    B, C, shape, modes = small if quick else full
    n = B * C * int(np.prod(shape))
    params = {"B": B, "C": C, "shape": list(shape), "n_modes": list(modes),
              "layers": T1_LAYERS}
    inp = f"{label} B{B} C{C} {'x'.join(map(str, shape))} m{modes[0]}"
    for threads in config.threads:
        def prep(kind: str, competitor: str, threads: int = threads) -> Callable[[], Prepared]:
            def make() -> Prepared:
                from fastspectral.spectral import spectral_conv

                x, ws, g = _t1_inputs(B, C, shape, modes, config.seed)
                if kind == "forward":
                    ours = lambda: _t1_forward(x, ws, modes)  # noqa: E731
                else:
                    ours = lambda: _t1_fwd_bwd(x, ws, g, modes)  # noqa: E731
                if competitor == "convs":
                    if kind == "forward":
                        def theirs():
                            h = x
                            for w in ws:
                                h = spectral_conv(h, w, modes)
                            return h
                    else:
                        theirs = lambda: _convs_fwd_bwd(x, ws, g, modes)  # noqa: E731
                else:
                    torch.set_num_threads(threads)
                    layer = _torch_t1 if competitor == "torch-t1" else _torch_convs
                    xt = torch.from_numpy(x).requires_grad_(kind != "forward")
                    wts = [torch.from_numpy(w).requires_grad_(kind != "forward") for w in ws]
                    gt = torch.from_numpy(g)
                    if kind == "forward":
                        def theirs():
                            with torch.no_grad():
                                return layer(torch, xt, wts, modes).numpy()
                    else:
                        def theirs():
                            xt.grad = None
                            for w in wts:
                                w.grad = None
                            y = layer(torch, xt, wts, modes)
                            y.backward(gt)
                            return y.detach().numpy(), (xt.grad.numpy(),
                                                        [w.grad.numpy() for w in wts])

                def metrics(a, b) -> dict[str, float]:
                    if kind == "forward":
                        m = {"rel_diff": _rel(a, b)}
                    else:
                        m = {"rel_diff": _rel(a[0], b[0]),
                             "rel_diff_grad_x": _rel(a[1][0], b[1][0])}
                        if competitor == "torch-t1":
                            m["rel_diff_grad_w"] = max(_rel(p, q) for p, q in zip(a[1][1],
                                                                                  b[1][1]))
                        else:
                            m["rel_diff_grad_w_k>0"] = max(
                                _rel(p[..., 1:], q[..., 1:]) for p, q in zip(a[1][1], b[1][1]))
                    return {**m, **_memory_metrics(ours, theirs)}

                return Prepared(ours=ours, theirs=theirs, metrics=metrics)
            return make

        names = {"convs": f"fastspectral spectral_conv x{T1_LAYERS}"}
        if torch is not None:
            tv = torch.__version__.split("+")[0]
            names["torch-t1"] = f"torch {tv} T1 stack (rfftn, {T1_LAYERS} einsums, irfftn)"
            names["torch-convs"] = f"torch {tv} neuraloperator algorithm x{T1_LAYERS}"
        for kind in ("forward", "fwd+bwd"):
            for comp, cname in names.items():
                out.append(Case(suite=NAME, kernel=f"t1 {kind}", competitor=cname, input=inp,
                                n=n, dtype="f32", threads=threads, competitor_threads=threads,
                                prepare=prep(kind, comp), params=dict(params)))
    return out


def _torch_convs(torch: Any, x: Any, ws: list[Any], modes: tuple[int, ...]) -> Any:
    for w in ws:
        x = torch_neuraloperator(torch, x, w, modes)
    return x
