"""Optional torch front end: ``SpectralConv`` (nn.Module) and its autograd Function.

Needs torch (``pip install 'fastspectral[torch]'``); the rest of fastspectral does not.  CPU
tensors only for now: the Function hands the arrays to :mod:`fastspectral.spectral` without
copies (``Tensor.numpy()``) and wraps the results with ``torch.from_numpy``.  The forward saves
the input's half-spectrum, so the backward costs one forward and one inverse transform.

``SpectralConv(in_channels, out_channels, n_modes, bias=True, fft_norm="forward")`` keeps the
dense layout of neuraloperator's ``SpectralConv``: parameter ``weight`` of shape
``(in, out, m_1, ..., m_{d-1}, m_d // 2 + 1)`` complex64 and ``bias`` of shape
``(out, 1, ..., 1)``, so those two state_dict entries load into it.

Example
-------
>>> import torch
>>> from fastspectral.torch import SpectralConv
>>> conv = SpectralConv(3, 4, (8, 8))
>>> conv(torch.randn(2, 3, 16, 16)).shape
torch.Size([2, 4, 16, 16])
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from . import spectral as _S

__all__ = ["SpectralConv", "spectral_conv"]


def _host(t: torch.Tensor, name: str) -> np.ndarray:
    if t.device.type != "cpu":
        raise TypeError(f"fastspectral.torch: {name} is on {t.device}; only CPU tensors are "
                        "supported so far")
    return t.detach().resolve_conj().numpy()


class _SpectralConvFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, n_modes, output_shape, norm):
        xn, wn, p = _S._prepare(_host(x, "x"), _host(weight, "weight"), n_modes, output_shape,
                                norm)
        y, X = _S._forward(xn, wn, p)
        ctx.plan, ctx.X, ctx.w = p, X, wn
        ctx.bias_shape = None if bias is None else bias.shape
        out = torch.from_numpy(y)
        if bias is not None:
            out = out + bias.reshape((-1,) + (1,) * p.d)
        return out

    @staticmethod
    def backward(ctx, grad_y):
        p = ctx.plan
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g = np.ascontiguousarray(_host(grad_y, "grad_y"), dtype=p.rdtype)
        gx, gw = _S._backward(g, ctx.X, ctx.w, p, need_x=need_x, need_w=need_w)
        gb = None
        if need_b:
            gb = grad_y.sum(dim=(0,) + p.axes).reshape(ctx.bias_shape)
        return (None if gx is None else torch.from_numpy(gx),
                None if gw is None else torch.from_numpy(gw), gb, None, None, None)


def spectral_conv(x: torch.Tensor, weight: torch.Tensor, n_modes: int | Sequence[int], *,
                  output_shape: Sequence[int] | None = None, norm: str = "forward",
                  bias: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`fastspectral.spectral.spectral_conv` on torch tensors, differentiable."""
    return _SpectralConvFunction.apply(x, weight, bias, n_modes,
                                       None if output_shape is None else tuple(output_shape),
                                       norm)


class SpectralConv(torch.nn.Module):
    """Dense FNO spectral convolution, a drop-in for neuraloperator's ``SpectralConv`` with
    ``factorization=None, separable=False`` (weight and bias layouts match).

    Parameters
    ----------
    in_channels, out_channels : int
    n_modes : int or d ints (d = 1, 2, 3); the last dim keeps ``n_modes[-1] // 2 + 1`` modes.
    bias : bool, add a learnable ``(out, 1, ..., 1)`` bias.
    fft_norm : "forward" (default), "backward" or "ortho".
    init_std : float or "auto" (``sqrt(2 / (in + out))``, as neuraloperator).
    dtype : torch.float32 (complex64 weight) or torch.float64 (complex128).
    Other neuraloperator arguments (factorization, separable, ...) are not supported yet.

    ``forward(x, output_shape=None)``: x of shape ``(batch, in_channels, *spatial)``.
    """

    def __init__(self, in_channels: int, out_channels: int, n_modes: int | Sequence[int],
                 bias: bool = True, fft_norm: str = "forward", init_std: Any = "auto",
                 factorization: Any = None, separable: bool = False,
                 dtype: torch.dtype = torch.float32, **unsupported: Any):
        super().__init__()
        if factorization not in (None, "dense", "Dense") or separable:
            raise NotImplementedError("fastspectral.torch.SpectralConv: only dense, "
                                      "non-separable weights are supported so far")
        if unsupported:
            raise TypeError(f"fastspectral.torch.SpectralConv: unsupported arguments "
                            f"{sorted(unsupported)}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.n_modes = (int(n_modes),) if isinstance(n_modes, int) else tuple(map(int, n_modes))
        self.fft_norm = fft_norm
        cdtype = {torch.float32: torch.complex64, torch.float64: torch.complex128}[dtype]
        std = math.sqrt(2.0 / (in_channels + out_channels)) if init_std == "auto" else init_std
        shape = _S.weight_shape(in_channels, out_channels, self.n_modes)
        self.weight = torch.nn.Parameter(std * torch.randn(shape, dtype=cdtype))
        if bias:
            self.bias = torch.nn.Parameter(
                std * torch.randn((out_channels,) + (1,) * len(self.n_modes), dtype=dtype))
        else:
            self.bias = None

    def forward(self, x: torch.Tensor, output_shape: Sequence[int] | None = None):
        return spectral_conv(x, self.weight, self.n_modes, output_shape=output_shape,
                             norm=self.fft_norm, bias=self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, n_modes={self.n_modes}, "
                f"fft_norm={self.fft_norm!r}")
