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
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import BenchConfig
from ._harness import Case, Prepared

NAME = "spectral"
DESCRIPTION = "FNO spectral convolution forward and forward+backward vs NumPy and torch pipelines"
NOTE = ("float32. Competitors: NumPy reference (forward only), torch implementation of "
        "neuraloperator's SpectralConv forward with autograd backward (torch threads = ours). "
        "ratio = competitor time / fastspectral time.")

#: (label, batch, channels, spatial shape, n_modes) for full runs and for --quick
SHAPES = [
    ("1d", (32, 64, (1024,), (16,)), (4, 16, (256,), (16,))),
    ("2d-64", (8, 32, (64, 64), (12, 12)), (2, 16, (32, 32), (8, 8))),
    ("2d-128", (8, 64, (128, 128), (32, 32)), (2, 16, (64, 64), (16, 16))),
    ("3d", (4, 32, (64, 64, 64), (16, 16, 16)), (1, 8, (16, 16, 16), (8, 8, 8))),
]


def numpy_reference(x: np.ndarray, w: np.ndarray, modes: tuple[int, ...]) -> np.ndarray:
    d = x.ndim - 2
    axes = tuple(range(2, 2 + d))
    X = np.fft.rfftn(x, axes=axes, norm="forward")
    if d > 1:
        X = np.fft.fftshift(X, axes=axes[:-1])
    sl = [slice(None), slice(None)]
    for j in range(d - 1):
        c = x.shape[2 + j] // 2
        sl.append(slice(c - modes[j] // 2, c + modes[j] - modes[j] // 2))
    sl.append(slice(0, w.shape[-1]))
    Y = np.zeros((x.shape[0], w.shape[1]) + X.shape[2:], X.dtype)
    Y[tuple(sl)] = np.einsum("bi...,io...->bo...", X[tuple(sl)], w)
    if d > 1:
        Y = np.fft.ifftshift(Y, axes=axes[:-1])
    return np.fft.irfftn(Y, s=x.shape[2:], axes=axes, norm="forward")


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
    out = torch.zeros((x.shape[0], w.shape[1]) + tuple(X.shape[2:]), dtype=X.dtype)
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


def _ours_fwd_bwd(x, w, g, modes):
    from fastspectral import spectral as S

    xx, ww, p = S._prepare(x, w, modes, None, "forward")
    y, X = S._forward(xx, ww, p)
    return y, S._backward(g, X, ww, p)


def _rel(a: Any, b: Any) -> float:
    # complex128 keeps the imaginary parts of weight gradients (float64 would drop them)
    a, b = np.asarray(a, np.complex128), np.asarray(b, np.complex128)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def cases(config: BenchConfig) -> list[Case]:
    if config.device == "gpu":
        return []
    torch = _torch()
    quick = config.quick or config.size_scale < 1
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
                return Prepared(ours=lambda: spectral_conv(x, w, modes),
                                theirs=lambda: numpy_reference(x, w, modes),
                                metrics=lambda a, b: {"rel_diff": _rel(a, b)})

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

                return Prepared(ours=lambda: spectral_conv(x, w, modes),
                                theirs=lambda: theirs().numpy(),
                                metrics=lambda a, b: {"rel_diff": _rel(a, b)})

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

                def metrics(a, b) -> dict[str, float]:
                    return {"rel_diff_grad_x": _rel(a[1][0], b[0]),
                            "rel_diff_grad_w": _rel(a[1][1], b[1])}

                return Prepared(ours=lambda: _ours_fwd_bwd(x, w, g, modes), theirs=theirs,
                                metrics=metrics)

            for kernel, prep in (("forward", prep_torch_fwd), ("fwd+bwd", prep_torch_bwd)):
                out.append(Case(suite=NAME, kernel=kernel,
                                competitor=f"torch {torch.__version__.split('+')[0]} "
                                           "neuraloperator algorithm",
                                input=inp, n=n, dtype="f32", threads=threads,
                                competitor_threads=threads, prepare=prep, params=params))
    return out
