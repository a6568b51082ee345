"""Optional torch front end: ``SpectralConv`` (nn.Module) and its autograd Function.

Needs torch (``pip install 'fastspectral[torch]'``); the rest of fastspectral does not.  The
Function hands the tensors to :mod:`fastspectral.spectral` without copies: CPU tensors as NumPy
arrays (``Tensor.numpy()`` / ``torch.from_numpy``), CUDA tensors as cupy arrays (through
``__cuda_array_interface__``; needs cupy, ``pip install 'fastspectral[gpu]'``), with cupy's
current stream set to torch's current stream of the tensor's device, so the work is ordered
with torch's own.  The forward saves the input's half-spectrum, so the backward costs one
forward and one inverse transform.

``SpectralConv(in_channels, out_channels, n_modes, bias=True, fft_norm="forward")`` keeps the
dense layout of neuraloperator's ``SpectralConv``: parameter ``weight`` of shape
``(in, out, m_1, ..., m_{d-1}, m_d // 2 + 1)`` complex64 and ``bias`` of shape
``(out, 1, ..., 1)``.  ``load_state_dict`` also accepts neuraloperator's own key names:
``weight.tensor`` (current neuraloperator: tensorly-torch's ``DenseTensor`` keeps the dense
weight as its parameter ``tensor``; complex, or real with a trailing (re, im) dim as the
``ComplexDense`` tensors store it) and the older corner layout ``weight.0.tensor``,
``weight.1.tensor``, ... (converted with :func:`fastspectral.spectral.weight_from_corners`;
build the module with the old layer's ``n_modes`` and ``fft_norm``, which was "backward" in
those versions), and a bias with a leading ``n_layers = 1`` dim.
:meth:`SpectralConv.neuraloperator_state_dict` writes ``weight.tensor`` / ``bias`` for loading
back into neuraloperator.

``separable=True`` (weight ``(C, *modes)``) and ``factorization="cp"`` with ``rank`` (a
:class:`CPWeight` holding tensorly-torch's ``weights`` / ``factors.factor_k``, contracted from
the factors by :func:`fastspectral.spectral.spectral_conv_cp`) use a second autograd Function
whose backward returns the gradient of x, the bias and every factor.  CP state dicts load from
and write to tensorly-torch's ``(re, im)`` views.  On CUDA tensors these variants run plain
cupy array code (the numpy path's mirror) that has not been run on a GPU yet.

Frequency-domain models (Transform Once, Poli et al. 2022): :class:`RFFTModes` (transform once
to the compact kept-mode spectrum), any number of :class:`ModeMix` layers (a complex per-mode
channel mixing weight each) with whatever pointwise torch ops on the complex modes in between,
and :class:`IRFFTModes` (transform back once); functional forms :func:`rfft_modes`,
:func:`mode_mix`, :func:`irfft_modes`.  Their autograd Functions call the exact backward passes
of :mod:`fastspectral.spectral` (complex gradients in torch's convention); those backward
passes are numpy/cupy code, so second derivatives raise (``once_differentiable``).  One
RFFTModes -> ModeMix -> IRFFTModes is exactly :class:`SpectralConv` (no bias); several ModeMix
layers in a row are a different model from several SpectralConv layers in a row: nothing
between them forces the zero column of the last mode dim back to a real signal's (Hermitian)
spectrum (see the transform-once notes in :mod:`fastspectral.spectral`).

Bessel functions: ``log_iv, log_ive, log_kv, log_kve, iv, ive, kv, kve, log_iv_dx, log_kv_dx,
iv_ratio`` and ``vmf_log_normalizer`` / ``vmf_mean_resultant_length`` take tensors and are
differentiable in their argument to any order (see :mod:`fastspectral._torch_bessel`).
``kron_matvec`` / ``kron_mode_product``: Kronecker products differentiable in x and every
factor (see :mod:`fastspectral._torch_kron`).

Example
-------
>>> import torch
>>> from fastspectral.torch import SpectralConv
>>> conv = SpectralConv(3, 4, (8, 8))
>>> conv(torch.randn(2, 3, 16, 16)).shape
torch.Size([2, 4, 16, 16])
"""
from __future__ import annotations

import contextlib
import math
import operator
from typing import Any, Sequence

import numpy as np

try:
    import torch
except ImportError as e:  # torch is an optional extra; the rest of the package does not need it
    raise ImportError("fastspectral.torch needs PyTorch: pip install 'fastspectral[torch]' "
                      "(or any torch build)") from e
from torch.autograd.function import once_differentiable

from . import spectral as _S
from ._torch_device import cupy_on_torch_stream, device_view

__all__ = ["SpectralConv", "spectral_conv", "spectral_conv_separable", "spectral_conv_cp",
           "CPWeight", "rfft_modes", "mode_mix", "irfft_modes", "RFFTModes", "ModeMix",
           "IRFFTModes", "log_iv", "log_ive", "log_kv", "log_kve", "iv", "ive", "kv", "kve",
           "log_iv_dx", "log_kv_dx", "iv_ratio", "vmf_log_normalizer",
           "vmf_mean_resultant_length", "kron_matvec", "kron_mode_product"]


def _host(t: torch.Tensor, name: str) -> np.ndarray:
    if t.device.type != "cpu":
        raise TypeError(f"fastspectral.torch: {name} is on {t.device} but x is on the CPU; "
                        "pass all tensors on one device")
    return t.detach().resolve_conj().numpy()


def _check_cuda(x: torch.Tensor, **others: torch.Tensor | None) -> None:
    for name, t in others.items():
        if t is not None and t.device != x.device:
            raise TypeError(f"fastspectral.torch: x is on {x.device} but {name} is on "
                            f"{t.device}; pass all tensors on one device")


# the shared torch <-> cupy plumbing, under the names this module has always used
_cupy_on_torch_stream = cupy_on_torch_stream
_dev = device_view


def _add_bias(ctx: Any, out: torch.Tensor, bias: torch.Tensor | None, p: Any) -> torch.Tensor:
    """out + bias broadcast over the spatial axes (bias (out,) or (out, 1, ..., 1)); records
    the bias shape for _bias_grad."""
    ctx.bias_shape = None if bias is None else bias.shape
    return out if bias is None else out + bias.reshape((-1,) + (1,) * p.d)


def _bias_grad(ctx: Any, grad_y: torch.Tensor, p: Any, need: bool) -> torch.Tensor | None:
    return grad_y.sum(dim=(0,) + p.axes).reshape(ctx.bias_shape) if need else None


class _SpectralConvFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, n_modes, output_shape, norm):
        if x.is_cuda:
            _check_cuda(x, weight=weight, bias=bias)
            with _cupy_on_torch_stream(x.device) as cp:
                xn, wn, p = _S._prepare(_dev(cp, x), _dev(cp, weight), n_modes, output_shape,
                                        norm, cp)
                y, X = _S._gpu_forward(xn, wn, p, cp)
                out = torch.as_tensor(y, device=x.device)
        else:
            xn, wn, p = _S._prepare(_host(x, "x"), _host(weight, "weight"), n_modes,
                                    output_shape, norm)
            if bias is not None:
                _host(bias, "bias")
            y, X = _S._forward(xn, wn, p)
            out = torch.from_numpy(y)
        ctx.plan, ctx.X, ctx.w = p, X, wn
        return _add_bias(ctx, out, bias, p)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        p = ctx.plan
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if grad_y.is_cuda:
            with _cupy_on_torch_stream(grad_y.device) as cp:
                g = cp.ascontiguousarray(_dev(cp, grad_y).astype(p.rdtype, copy=False))
                gx, gw = _S._gpu_backward(g, ctx.X, ctx.w, p, cp, need_x=need_x,
                                          need_w=need_w)
                gx = None if gx is None else torch.as_tensor(gx, device=grad_y.device)
                gw = None if gw is None else torch.as_tensor(gw, device=grad_y.device)
        else:
            g = np.ascontiguousarray(_host(grad_y, "grad_y"), dtype=p.rdtype)
            gx, gw = _S._backward(g, ctx.X, ctx.w, p, need_x=need_x, need_w=need_w)
            gx = None if gx is None else torch.from_numpy(gx)
            gw = None if gw is None else torch.from_numpy(gw)
        return gx, gw, _bias_grad(ctx, grad_y, p, need_b), None, None, None


def spectral_conv(x: torch.Tensor, weight: torch.Tensor, n_modes: int | Sequence[int], *,
                  output_shape: Sequence[int] | None = None, norm: str = "forward",
                  bias: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`fastspectral.spectral.spectral_conv` on torch tensors, differentiable."""
    return _SpectralConvFunction.apply(x, weight, bias, n_modes,
                                       None if output_shape is None else tuple(output_shape),
                                       norm)


class _VariantFunction(torch.autograd.Function):
    """Separable or CP weights: the parameters arrive as a flat tuple of tensors (the separable
    weight, or the CP weights followed by the factors) so autograd returns one gradient each."""

    @staticmethod
    def forward(ctx, kind, n_modes, output_shape, norm, x, bias, *params):
        if x.is_cuda:
            # plain cupy array code mirroring the tested numpy path; never ran (no GPU)
            _check_cuda(x, bias=bias, **{f"params[{j}]": t for j, t in enumerate(params)})
            ctx_dev = _cupy_on_torch_stream(x.device)
            conv = lambda a: _dev(cp, a)  # noqa: E731
        else:
            ctx_dev = contextlib.nullcontext(np)
            conv = lambda a, name="weight": _host(a, name)  # noqa: E731
            if bias is not None:
                _host(bias, "bias")
        with ctx_dev as cp:
            xp = np if cp is np else cp
            xn = conv(x) if x.is_cuda else _host(x, "x")
            pn = [conv(t) for t in params]
            if kind == "separable":
                xn, wn, p = _S._check_separable(xn, pn[0], n_modes, output_shape, norm, xp)
                y, saved = _S._separable_forward(xn, wn, p, xp)
                ctx.state = (wn, saved)
            else:
                xn, cpw, p = _S._check_cp(xn, pn[0], pn[1:], n_modes, output_shape, norm, xp)
                y, saved = _S._cp_forward(xn, cpw, p, xp)
                ctx.state = (cpw, saved)
            out = torch.as_tensor(y, device=x.device) if x.is_cuda else torch.from_numpy(y)
        ctx.kind, ctx.plan, ctx.xp_gpu = kind, p, x.is_cuda
        return _add_bias(ctx, out, bias, p)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        p = ctx.plan
        need = ctx.needs_input_grad
        need_x, need_b, need_w = need[4], need[5], any(need[6:])
        if grad_y.is_cuda:
            ctx_dev = _cupy_on_torch_stream(grad_y.device)
        else:
            ctx_dev = contextlib.nullcontext(np)
        with ctx_dev as cp:
            xp = np if cp is np else cp
            if grad_y.is_cuda:
                g = cp.ascontiguousarray(_dev(cp, grad_y).astype(p.rdtype, copy=False))
                back = lambda a: None if a is None else torch.as_tensor(  # noqa: E731
                    a, device=grad_y.device)
            else:
                g = np.ascontiguousarray(_host(grad_y, "grad_y"), dtype=p.rdtype)
                back = lambda a: None if a is None else torch.from_numpy(  # noqa: E731
                    np.ascontiguousarray(a))
            if ctx.kind == "separable":
                wn, X = ctx.state
                gx, gw = _S._separable_backward(g, X, wn, p, xp, need_x=need_x, need_w=need_w)
                gparams = (back(gw),)
            else:
                cpw, saved = ctx.state
                gx, gl, gf = _S._cp_backward(g, saved, cpw, p, xp, need_x=need_x,
                                             need_w=need_w)
                gparams = (back(gl),) + tuple(back(t) for t in gf) if need_w else \
                    (None,) * (1 + len(cpw.factors))
            gx = back(gx)
        return (None, None, None, None, gx, _bias_grad(ctx, grad_y, p, need_b)) + gparams


def spectral_conv_separable(x: torch.Tensor, weight: torch.Tensor,
                            n_modes: int | Sequence[int], *,
                            output_shape: Sequence[int] | None = None, norm: str = "forward",
                            bias: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`fastspectral.spectral.spectral_conv_separable` on torch tensors, differentiable
    (weight ``(C, *modes)``)."""
    return _VariantFunction.apply("separable", n_modes,
                                  None if output_shape is None else tuple(output_shape), norm,
                                  x, bias, weight)


def spectral_conv_cp(x: torch.Tensor, weights: torch.Tensor, factors: Sequence[torch.Tensor],
                     n_modes: int | Sequence[int], *,
                     output_shape: Sequence[int] | None = None, norm: str = "forward",
                     bias: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`fastspectral.spectral.spectral_conv_cp` on torch tensors, differentiable in x,
    bias, ``weights (R,)`` and every factor (tensorly-torch's CP layout)."""
    return _VariantFunction.apply("cp", n_modes,
                                  None if output_shape is None else tuple(output_shape), norm,
                                  x, bias, weights, *factors)


class _FactorList(torch.nn.Module):
    """Factors registered as ``factor_0``, ``factor_1``, ... (tensorly-torch's FactorList key
    names, so state_dict keys read ``weight.factors.factor_k``)."""

    def __init__(self, factors: Sequence[torch.Tensor]):
        super().__init__()
        for k, f in enumerate(factors):
            self.register_parameter(f"factor_{k}", torch.nn.Parameter(f))
        self.n = len(factors)

    def __iter__(self):
        return (getattr(self, f"factor_{k}") for k in range(self.n))

    def __len__(self) -> int:
        return self.n


class CPWeight(torch.nn.Module):
    """A CP-factorized weight with tensorly-torch's parameter names: ``weights`` (rank,) and
    ``factors.factor_k`` (shape[k], rank), complex.  :meth:`to_tensor` builds the dense tensor
    (for inspection; the layer contracts the factors directly)."""

    def __init__(self, shape: Sequence[int], rank: int, std: float, dtype: torch.dtype):
        super().__init__()
        self.shape, self.rank = tuple(shape), int(rank)
        # tensorly-torch's CPTensor.normal_: unit weights, factors N(0, (std/sqrt(R))^(1/order))
        s = (std / math.sqrt(rank)) ** (1.0 / len(shape))
        self.weights = torch.nn.Parameter(torch.ones(rank, dtype=dtype))
        self.factors = _FactorList([s * torch.randn((n, rank), dtype=dtype) for n in shape])

    def to_tensor(self) -> torch.Tensor:
        letters = "abcdefgh"[:len(self.shape)]
        subs = ",".join(["r"] + [c + "r" for c in letters])
        return torch.einsum(f"{subs}->{letters}", self.weights, *self.factors)


class SpectralConv(torch.nn.Module):
    """FNO spectral convolution, a drop-in for neuraloperator's ``SpectralConv`` with
    ``factorization=None`` or ``"cp"`` and ``separable`` False or True (parameter names and
    layouts match: dense ``weight``; separable ``weight`` of shape ``(C, *modes)``; CP
    ``weight.weights`` (rank,) and ``weight.factors.factor_k`` in tensorly-torch's order
    ``(in, [out,] *modes)``).

    Parameters
    ----------
    in_channels, out_channels : int
    n_modes : int or d ints (d = 1, 2, 3); the last dim keeps ``n_modes[-1] // 2 + 1`` modes.
    bias : bool, add a learnable ``(out, 1, ..., 1)`` bias.
    fft_norm : "forward" (default), "backward" or "ortho".
    init_std : float or "auto" (``sqrt(2 / (in + out))``, as neuraloperator).
    factorization : None / "dense" (default) or "cp" ("ComplexCP" also accepted): the CP layer
        contracts its factors directly (:func:`fastspectral.spectral.spectral_conv_cp`).
    separable : per-channel weights (in_channels must equal out_channels).
    rank : CP rank, an int or a float fraction of the dense parameter count (neuraloperator's
        default 0.5; see :func:`fastspectral.spectral.cp_rank`).
    dtype : torch.float32 (complex64 weight) or torch.float64 (complex128).
    Other neuraloperator arguments (tucker/tt factorizations, ...) are not supported.

    ``forward(x, output_shape=None)``: x of shape ``(batch, in_channels, *spatial)``.
    """

    def __init__(self, in_channels: int, out_channels: int, n_modes: int | Sequence[int],
                 bias: bool = True, fft_norm: str = "forward", init_std: Any = "auto",
                 factorization: Any = None, separable: bool = False, rank: int | float = 0.5,
                 dtype: torch.dtype = torch.float32, **unsupported: Any):
        super().__init__()
        fact = None if factorization is None else str(factorization).lower()
        if fact in ("dense", "complexdense"):
            fact = None
        if fact not in (None, "cp", "complexcp"):
            raise NotImplementedError(f"fastspectral.torch.SpectralConv: factorization="
                                      f"{factorization!r} is not supported (None/'dense' or "
                                      f"'cp')")
        if unsupported:
            raise TypeError(f"fastspectral.torch.SpectralConv: unsupported arguments "
                            f"{sorted(unsupported)}")
        if separable and in_channels != out_channels:
            raise ValueError(f"fastspectral.torch.SpectralConv: separable=True needs "
                             f"in_channels == out_channels, got {in_channels} and "
                             f"{out_channels}")
        cdtype = _complex_dtype(dtype, "SpectralConv")
        self.in_channels, self.out_channels = _check_channels(in_channels, out_channels,
                                                              "SpectralConv")
        self.n_modes = _check_modes(n_modes, "SpectralConv")
        self.fft_norm = _check_norm(fft_norm, "SpectralConv")
        self.separable, self.factorization = bool(separable), ("cp" if fact else None)
        std = math.sqrt(2.0 / (in_channels + out_channels)) if init_std == "auto" else init_std
        shape = _S.weight_shape(in_channels, out_channels, self.n_modes)
        if separable:
            shape = shape[:1] + shape[2:]
        if self.factorization == "cp":
            self.rank = _S.cp_rank(shape, rank)
            self.weight = CPWeight(shape, self.rank, std, cdtype)
        else:
            self.rank = None
            self.weight = torch.nn.Parameter(std * torch.randn(shape, dtype=cdtype))
        if bias:
            self.bias = torch.nn.Parameter(
                std * torch.randn((out_channels,) + (1,) * len(self.n_modes), dtype=dtype))
        else:
            self.bias = None

    def forward(self, x: torch.Tensor, output_shape: Sequence[int] | None = None):
        kw = dict(output_shape=output_shape, norm=self.fft_norm, bias=self.bias)
        if self.factorization == "cp":
            return spectral_conv_cp(x, self.weight.weights, list(self.weight.factors),
                                    self.n_modes, **kw)
        if self.separable:
            return spectral_conv_separable(x, self.weight, self.n_modes, **kw)
        return spectral_conv(x, self.weight, self.n_modes, **kw)

    def neuraloperator_state_dict(self) -> dict[str, torch.Tensor]:
        """This layer's parameters under neuraloperator's key names (``weight.tensor``,
        ``bias``), for ``neuralop.layers.spectral_convolution.SpectralConv.load_state_dict``."""
        if self.factorization == "cp":
            # tensorly-torch's Complex* tensors store view_as_real of each parameter
            out = {"weight.weights": torch.view_as_real(self.weight.weights.detach()).clone()}
            for k, f in enumerate(self.weight.factors):
                out[f"weight.factors.factor_{k}"] = torch.view_as_real(f.detach()).clone()
        else:
            out = {"weight.tensor": self.weight.detach().clone()}
        if self.bias is not None:
            out["bias"] = self.bias.detach().clone()
        return out

    def _complex_weight(self, t: torch.Tensor, key: str) -> torch.Tensor:
        # tensorly-torch's Complex* tensors store view_as_real(weight): a trailing (re, im) dim
        if not t.is_complex():
            if t.shape[-1:] != (2,):
                raise ValueError(f"fastspectral.torch.SpectralConv: {key} is real with shape "
                                 f"{tuple(t.shape)}; expected complex or (..., 2) (re, im)")
            t = torch.view_as_complex(t.contiguous())
        w = self.weight.weights if self.factorization == "cp" else self.weight
        return t.to(w.dtype)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # Map neuraloperator's key names onto ours before the standard loading.
        d = len(self.n_modes)
        if self.factorization == "cp":
            for key in [prefix + "weight.weights"] + [
                    f"{prefix}weight.factors.factor_{k}" for k in range(len(self.weight.factors))]:
                if key in state_dict and not state_dict[key].is_complex():
                    state_dict[key] = self._complex_weight(state_dict[key], key)
        dense, corners = prefix + "weight.tensor", [
            f"{prefix}weight.{k}.tensor" for k in range(2 ** (d - 1))]
        if self.factorization == "cp":
            pass
        elif dense in state_dict and prefix + "weight" not in state_dict:
            state_dict[prefix + "weight"] = self._complex_weight(state_dict.pop(dense), dense)
        elif (not self.separable and all(k in state_dict for k in corners)
              and prefix + "weight" not in state_dict):
            parts = [self._complex_weight(state_dict.pop(k), k) for k in corners]
            w = torch.zeros(self.weight.shape, dtype=self.weight.dtype, device=parts[0].device)
            for part, sl in zip(parts, _S.corner_slices(self.n_modes)):
                if tuple(part.shape) != tuple(w[(slice(None), slice(None)) + sl].shape):
                    raise ValueError(
                        f"fastspectral.torch.SpectralConv: corner weight of shape "
                        f"{tuple(part.shape)} does not fit n_modes={self.n_modes} "
                        f"(expected (in, out, *[m // 2 for m in n_modes]))")
                w[(slice(None), slice(None)) + sl] = part
            state_dict[prefix + "weight"] = w
        b = state_dict.get(prefix + "bias")
        if (self.bias is not None and b is not None and b.dim() == self.bias.dim() + 1
                and b.shape[0] == 1):
            state_dict[prefix + "bias"] = b[0]      # older versions: (n_layers, out, 1, ...)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        extra = (", separable=True" if self.separable else "") + (
            f", factorization='cp', rank={self.rank}" if self.factorization else "")
        return (f"{self.in_channels}, {self.out_channels}, n_modes={self.n_modes}, "
                f"fft_norm={self.fft_norm!r}{extra}")


# --------------------------------------------------------------------------- transform once (T1)

def _same_device(first: str, t0: torch.Tensor, **others: torch.Tensor) -> None:
    for name, t in others.items():
        if t.device != t0.device:
            raise TypeError(f"fastspectral.torch: {first} is on {t0.device} but {name} is on "
                            f"{t.device}; pass all tensors on one device")


def _run(names: str, fn: Any, *arrays: torch.Tensor) -> Any:
    """fn(*arrays as numpy/cupy, xp) on the first array's device (names: the arrays' names,
    comma-separated, for errors); results (an array, or a tuple of arrays/None) come back as
    tensors on that device, without copies."""
    t = arrays[0]

    def back(a):
        if a is None:
            return None
        return torch.as_tensor(a, device=t.device) if t.is_cuda else torch.from_numpy(a)

    if t.is_cuda:
        with _cupy_on_torch_stream(t.device) as cp:
            out = fn(*[_dev(cp, a) for a in arrays], cp)
            return tuple(back(a) for a in out) if isinstance(out, tuple) else back(out)
    out = fn(*[_host(a, nm) for a, nm in zip(arrays, names.split(","))], np)
    return tuple(back(a) for a in out) if isinstance(out, tuple) else back(out)


class _RFFTModesFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, n_modes, norm):
        X = _run("x", lambda a, xp: _S.rfft_modes(a, n_modes, norm=norm), x)
        ctx.x_shape, ctx.n_modes, ctx.norm = tuple(x.shape), n_modes, norm
        return X

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_X):
        gx = _run("grad_X", lambda g, xp: _S.rfft_modes_backward(
            g, ctx.x_shape, ctx.n_modes, norm=ctx.norm), grad_X)
        return gx, None, None


class _IRFFTModesFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X, n_modes, output_shape, norm):
        y = _run("X", lambda a, xp: _S.irfft_modes(a, n_modes, output_shape, norm=norm), X)
        ctx.n_modes, ctx.norm = n_modes, norm
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        gX = _run("grad_y", lambda g, xp: _S.irfft_modes_backward(
            g, ctx.n_modes, norm=ctx.norm), grad_y)
        return gX, None, None, None


class _ModeMixFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X, weight):
        _same_device("X", X, weight=weight)
        Y = _run("X,weight", lambda a, w, xp: _S.mode_mix(a, w), X, weight)
        ctx.save_for_backward(X, weight)
        return Y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_Y):
        X, weight = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[:2]

        def bwd(g, a, w, xp):
            g = xp.ascontiguousarray(g.astype(a.dtype, copy=False))
            with _S._on_device(a):
                return _S._mode_mix_bwd(g, a, w, xp, need_x=need_x, need_w=need_w)

        return _run("grad_Y,X,weight", bwd, grad_Y, X, weight)


def _modes_tuple(n_modes: int | Sequence[int]) -> int | tuple[int, ...]:
    return int(n_modes) if isinstance(n_modes, int) else tuple(int(m) for m in n_modes)


def rfft_modes(x: torch.Tensor, n_modes: int | Sequence[int], *,
               norm: str = "forward") -> torch.Tensor:
    """:func:`fastspectral.spectral.rfft_modes` on torch tensors, differentiable: x (batch, C,
    *grid) float32/float64 -> (batch, C, m_1, ..., m_{d-1}, m_d // 2 + 1) complex."""
    return _RFFTModesFunction.apply(x, _modes_tuple(n_modes), norm)


def irfft_modes(X: torch.Tensor, n_modes: int | Sequence[int], output_shape: Sequence[int], *,
                norm: str = "forward") -> torch.Tensor:
    """:func:`fastspectral.spectral.irfft_modes` on torch tensors, differentiable: X (batch, C,
    *modes) complex -> (batch, C, *output_shape) real."""
    return _IRFFTModesFunction.apply(X, _modes_tuple(n_modes), tuple(int(s) for s in output_shape),
                                     norm)


def mode_mix(X: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """:func:`fastspectral.spectral.mode_mix` on torch tensors, differentiable in X and weight:
    X (batch, in, *modes), weight (in, out, *modes) of X's complex dtype -> (batch, out,
    *modes)."""
    return _ModeMixFunction.apply(X, weight)


def _check_norm(norm: str, cls: str) -> str:
    if norm not in _S._NORMS:
        raise ValueError(f"fastspectral.torch.{cls}: norm must be one of {_S._NORMS}, got "
                         f"{norm!r}")
    return norm


def _index(v: Any) -> int | None:
    """v as a Python int if it is an integer (numpy integers too; not bool), else None."""
    if isinstance(v, (bool, np.bool_)):
        return None
    try:
        return operator.index(v)
    except TypeError:
        return None


def _check_modes(n_modes: Any, cls: str) -> tuple[int, ...]:
    """n_modes as a tuple of 1 to 3 positive Python ints."""
    seq = tuple(n_modes) if hasattr(n_modes, "__iter__") else (n_modes,)
    m = tuple(_index(v) for v in seq)
    if not 1 <= len(m) <= 3 or not all(v is not None and v > 0 for v in m):
        raise ValueError(f"fastspectral.torch.{cls}: n_modes must be a positive int or 1 to 3 "
                         f"positive ints, got {n_modes!r}")
    return m


def _check_channels(in_channels: Any, out_channels: Any, cls: str) -> tuple[int, int]:
    c = (_index(in_channels), _index(out_channels))
    if not all(v is not None and v > 0 for v in c):
        raise ValueError(f"fastspectral.torch.{cls}: channel counts must be positive ints, got "
                         f"in_channels={in_channels!r}, out_channels={out_channels!r}")
    return c


def _complex_dtype(dtype: Any, cls: str) -> torch.dtype:
    """The complex weight dtype for a real layer dtype (float32 or float64 only)."""
    cdtype = {torch.float32: torch.complex64, torch.float64: torch.complex128}.get(dtype)
    if cdtype is None:
        raise TypeError(f"fastspectral.torch.{cls}: dtype must be torch.float32 or "
                        f"torch.float64, got {dtype}")
    return cdtype


class RFFTModes(torch.nn.Module):
    """Transform once: ``x (batch, C, n_1, ..., n_d)`` real -> its kept modes ``(batch, C, m_1,
    ..., m_{d-1}, m_d // 2 + 1)`` complex in :class:`SpectralConv`'s weight layout (entry
    ``a_j`` of a non-last mode dim is the frequency ``a_j - m_j // 2``).  No parameters.

    >>> import torch
    >>> from fastspectral.torch import RFFTModes, ModeMix, IRFFTModes
    >>> t1 = torch.nn.Sequential(RFFTModes((8, 8)), ModeMix(3, 4, (8, 8)), ModeMix(4, 2, (8, 8)),
    ...                          IRFFTModes((8, 8), (32, 32)))
    >>> t1(torch.randn(5, 3, 32, 32)).shape
    torch.Size([5, 2, 32, 32])
    """

    def __init__(self, n_modes: int | Sequence[int], norm: str = "forward"):
        super().__init__()
        self.n_modes = _check_modes(n_modes, "RFFTModes")
        self.norm = _check_norm(norm, "RFFTModes")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rfft_modes(x, self.n_modes, norm=self.norm)

    def extra_repr(self) -> str:
        return f"n_modes={self.n_modes}, norm={self.norm!r}"


class ModeMix(torch.nn.Module):
    """A per-mode layer on compact spectra: ``Y[b, o, k] = sum_i X[b, i, k] W[i, o, k]`` with a
    complex parameter ``weight`` of shape ``(in, out, m_1, ..., m_{d-1}, m_d // 2 + 1)`` (the
    dense :class:`SpectralConv` weight for the same ``n_modes``; initialised the same way,
    ``init_std="auto"`` = ``sqrt(2 / (in + out))``).  ``dtype`` torch.float32 gives a complex64
    weight (for float32 inputs), torch.float64 complex128."""

    def __init__(self, in_channels: int, out_channels: int, n_modes: int | Sequence[int],
                 init_std: Any = "auto", dtype: torch.dtype = torch.float32):
        super().__init__()
        self.n_modes = _check_modes(n_modes, "ModeMix")
        cdtype = _complex_dtype(dtype, "ModeMix")
        self.in_channels, self.out_channels = _check_channels(in_channels, out_channels, "ModeMix")
        std = math.sqrt(2.0 / (in_channels + out_channels)) if init_std == "auto" else init_std
        shape = _S.weight_shape(in_channels, out_channels, self.n_modes)
        self.weight = torch.nn.Parameter(std * torch.randn(shape, dtype=cdtype))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return mode_mix(X, self.weight)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, n_modes={self.n_modes}"


class IRFFTModes(torch.nn.Module):
    """Transform back once: compact kept modes ``(batch, C, *modes)`` -> the real signal on the
    grid ``output_shape`` (given here or per call; modes that grid cannot hold are dropped, as
    :class:`SpectralConv` does when resampling)."""

    def __init__(self, n_modes: int | Sequence[int], output_shape: Sequence[int] | None = None,
                 norm: str = "forward"):
        super().__init__()
        self.n_modes = _check_modes(n_modes, "IRFFTModes")
        self.output_shape = None if output_shape is None else tuple(int(s) for s in output_shape)
        self.norm = _check_norm(norm, "IRFFTModes")

    def forward(self, X: torch.Tensor, output_shape: Sequence[int] | None = None):
        shape = self.output_shape if output_shape is None else output_shape
        if shape is None:
            raise ValueError("fastspectral.torch.IRFFTModes: output_shape is needed (give it to "
                             "the constructor or the call)")
        return irfft_modes(X, self.n_modes, shape, norm=self.norm)

    def extra_repr(self) -> str:
        return f"n_modes={self.n_modes}, output_shape={self.output_shape}, norm={self.norm!r}"


# Bessel functions and vMF normalisers with autograd (kept in their own module)
from ._torch_bessel import (iv, iv_ratio, ive, kv, kve, log_iv, log_iv_dx,  # noqa: E402
                            log_ive, log_kv, log_kv_dx, log_kve, vmf_log_normalizer,
                            vmf_mean_resultant_length)
# Kronecker products with autograd in x and the factors
from ._torch_kron import kron_matvec, kron_mode_product  # noqa: E402
