"""Kronecker products of tensors with autograd (exported by :mod:`fastspectral.torch`).

``kron_matvec(factors, x, transpose=False)`` and ``kron_mode_product(factors, X, ...)`` are
:mod:`fastspectral.kron`'s functions on torch tensors, differentiable with respect to x and
every factor (to any order: the backward passes are themselves Kronecker products and an
einsum).  For y = (A_1 ⊗ ... ⊗ A_d) x and an upstream gradient G = dL/dy:

    dL/dx   = (A_1^H ⊗ ... ⊗ A_d^H) G
    dL/dA_k = S_(k) P_(k)^H,  S = G with A_j^H applied for j > k,  P = x with A_j for j < k,

where M_(k) is the mode-k unfolding (rows: axis k; columns: the batch and the other axes).  The
backward is one reverse sweep over the factors (S updated by one single-factor product per
step; the last step is dL/dx), one fused product for each P and one GEMM-shaped contraction
per factor.  (With H the
conjugate transpose this is torch's convention for complex tensors too.)  The Function has
torch.func's form, so torch.func.grad / jacrev / jacfwd / hessian / vmap work (vmap over a
factor loops over the batch; forward mode is one product per tangent).  An int n among the
factors is the n x n identity, as in fastspectral.kron.

CPU tensors run the C++ kernels on the tensors' memory; CUDA tensors run the CUDA kernels
through cupy on torch's current stream (not yet run on a GPU).  All tensors are promoted to one
dtype (float32, float64, complex64 or complex128; integers to the default float dtype) before
the product; the conversions are differentiable, so gradients reach the original leaves.

Example
-------
>>> import torch
>>> from fastspectral.torch import kron_matvec
>>> A = torch.randn(8, 8, requires_grad=True)
>>> B = torch.randn(16, 16, requires_grad=True)
>>> x = torch.randn(4, 128)
>>> kron_matvec([A, B], x).square().sum().backward()
>>> A.grad.shape, B.grad.shape
(torch.Size([8, 8]), torch.Size([16, 16]))
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np
import torch

from . import kron as _kron
from ._torch_device import check_device, cupy_on_torch_stream, device_view, fast_apply

__all__ = ["kron_matvec", "kron_mode_product"]


def _is_int(f: Any) -> bool:
    """An int (Python or NumPy) standing for an identity factor; bools are not sizes."""
    return isinstance(f, numbers.Integral) and not isinstance(f, (bool, np.bool_))


def _prepare(name: str, factors: Sequence[Any], x: Any) -> tuple[list[Any], torch.Tensor]:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"fastspectral.torch.{name}: x must be a tensor, got {type(x).__name__}")
    if isinstance(factors, torch.Tensor) or not isinstance(factors, (list, tuple)):
        raise TypeError(f"fastspectral.torch.{name}: factors must be a list or tuple of 2-D "
                        "tensors and ints")
    if len(factors) == 0:
        raise ValueError(f"fastspectral.torch.{name}: factors is empty")
    check_device(name, x.device)
    tensors = []
    for i, f in enumerate(factors):
        if _is_int(f):
            continue
        if not isinstance(f, torch.Tensor):
            raise TypeError(f"fastspectral.torch.{name}: factors[{i}] must be a 2-D tensor or an "
                            f"int (an identity), got {type(f).__name__}")
        if f.dim() != 2:
            raise ValueError(f"fastspectral.torch.{name}: factors[{i}] must be 2-D, got shape "
                             f"{tuple(f.shape)}")
        if f.device != x.device:
            raise TypeError(f"fastspectral.torch.{name}: factors[{i}] is on {f.device} but x is "
                            f"on {x.device}; pass all tensors on one device")
        tensors.append(f)
    dtype = x.dtype
    for f in tensors:
        dtype = torch.promote_types(dtype, f.dtype)
    if not (dtype.is_floating_point or dtype.is_complex):
        dtype = torch.get_default_dtype()
    if dtype in (torch.float16, torch.bfloat16):
        raise TypeError(f"fastspectral.torch.{name}: {dtype} is not supported (float32, float64, "
                        "complex64, complex128)")
    out = [f if _is_int(f) else f.to(dtype) for f in factors]
    return out, x.to(dtype)


def _run(factors: list[Any], x: torch.Tensor, transpose: bool) -> torch.Tensor:
    """fastspectral.kron.kron_matvec on the tensors' device; a new tensor."""
    if x.is_cuda:
        # the result is allocated by torch (its caching allocator counts and frees it)
        rows = math.prod((n if transpose else m) for m, n in _sides(factors))
        out = torch.empty(*x.shape[:-1], rows, dtype=x.dtype, device=x.device)
        with cupy_on_torch_stream(x.device) as cp:
            fac = [f if _is_int(f) else device_view(cp, f) for f in factors]
            _kron.kron_matvec(fac, device_view(cp, x), transpose=transpose,
                              out=device_view(cp, out))
        return out
    fac = [f if _is_int(f) else f.detach().resolve_conj().resolve_neg().numpy() for f in factors]
    xn = x.detach().resolve_conj().resolve_neg().numpy()
    return torch.from_numpy(np.asarray(_kron.kron_matvec(fac, xn, transpose=transpose)))


def _sides(factors: list[Any]) -> list[tuple[int, int]]:
    return [(int(f), int(f)) if _is_int(f) else tuple(f.shape) for f in factors]


class _KronMatvec(torch.autograd.Function):
    # torch.func form (setup_context, vmap): torch.func.grad / jacrev / vmap work too
    @staticmethod
    def forward(spec: tuple[Any, ...], transpose: bool, x: torch.Tensor,
                *tensors: torch.Tensor) -> torch.Tensor:
        return _run(_merge(spec, tensors), x, transpose)

    @staticmethod
    def setup_context(ctx, inputs, output):
        spec, transpose, x, *tensors = inputs
        ctx.spec, ctx.transpose = spec, transpose
        ctx.save_for_backward(x, *tensors)
        ctx.save_for_forward(x, *tensors)

    @staticmethod
    def jvp(ctx, _spec_t, _transpose_t, x_t, *tensor_ts):
        # the product is linear in x and in each factor: y' = K x' + sum_k K(A_k -> A_k') x
        x, *tensors = ctx.saved_tensors
        factors = _merge(ctx.spec, tensors)
        slots = [k for k, f in enumerate(factors) if not _is_int(f)]
        out = _apply(factors, x_t, ctx.transpose) if x_t is not None else None
        for k, t in zip(slots, tensor_ts):
            if t is None:
                continue
            term = _apply(factors[:k] + [t] + factors[k + 1:], x, ctx.transpose)
            out = term if out is None else out + term
        return out

    @staticmethod
    def vmap(info, in_dims, spec, transpose, x, *tensors):
        xd, fds = in_dims[2], in_dims[3:]
        if all(d is None for d in fds):
            # only x is batched: its batch axes are the product's batch axes already
            x = x.movedim(xd, 0) if xd is not None else x.expand(info.batch_size, *x.shape)
            return _KronMatvec.apply(spec, transpose, x, *tensors), 0
        # batched factors: one product per batch entry
        outs = []
        for b in range(info.batch_size):
            xb = x if xd is None else x.select(xd, b)
            fb = [t if d is None else t.select(d, b) for t, d in zip(tensors, fds)]
            outs.append(_KronMatvec.apply(spec, transpose, xb, *fb))
        return torch.stack(outs), 0

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, *tensors = ctx.saved_tensors
        factors = _merge(ctx.spec, tensors)
        need_x = ctx.needs_input_grad[2]
        need = {k: n for k, n in zip([k for k, f in enumerate(factors) if not _is_int(f)],
                                     ctx.needs_input_grad[3:])}
        gx, gf = _backward(factors, x, grad, ctx.transpose, need_x,
                           {k for k, n in need.items() if n})
        return (None, None, gx, *[gf.get(k) for k in need])


def _contract(s: torch.Tensor, p: torch.Tensor, pre: int, o: int, i: int,
              post: int) -> torch.Tensor:
    """sum over (batch, pre, post) of s[b, p, :, q] p[b, p, :, q]^H: (o, i), as one GEMM on views
    where the layout allows (einsum copied both operands and ran a badly shaped batched matmul:
    76-80 % of the backward at 8^6 and (16x8)^4)."""
    bp = s.numel() // (o * post)
    s3, p3 = s.reshape(bp, o, post), p.reshape(bp, i, post)
    if post == 1:
        return s3.reshape(bp, o).mT @ p3.reshape(bp, i).conj()
    if bp == 1:
        return s3.reshape(o, post) @ p3.reshape(i, post).mH
    if bp * o * i <= s3.numel():
        return torch.bmm(s3, p3.mH).sum(0)
    return s3.movedim(1, 0).reshape(o, -1) @ p3.movedim(1, 0).reshape(i, -1).mH


def _backward(factors: list[Any], x: torch.Tensor, grad: torch.Tensor, tr: bool, need_x: bool,
              need_f: set[int]) -> tuple[Any, dict[int, torch.Tensor]]:
    """dL/dx and dL/dA_k (k in need_f) for y = (A_1 ⊗ ... ⊗ A_d) x (A^T when tr), G = grad.

    One reverse sweep: S_k = G with the adjoints of the factors after k applied (one
    single-factor product per step; the last step gives dL/dx), and for each wanted factor the
    prefix P_k = x with the factors before k applied (one fused product), so that
    dA_k = contraction of S_k with P_k over everything but axis k.  Under create_graph the
    products are the differentiable Function; otherwise the kernels are called directly."""
    prod = _apply if torch.is_grad_enabled() else _run
    sides = _sides(factors)
    d = len(factors)
    ins = [m if tr else n for m, n in sides]  # the axes of x
    outs = [n if tr else m for m, n in sides]  # the axes of y
    gf: dict[int, torch.Tensor] = {}
    if not need_f:
        adjoint = [f if _is_int(f) else f.conj() for f in factors]
        return (prod(adjoint, grad, not tr) if need_x else None), gf
    s = grad
    first = 0 if need_x else min(need_f)
    for k in range(d - 1, first - 1, -1):
        if k in need_f:
            p = x if k == 0 else prod(factors[:k] + ins[k:], x, tr)
            dk = _contract(s, p, math.prod(outs[:k]), outs[k], ins[k], math.prod(ins[k + 1:]))
            gf[k] = dk.mT if tr else dk
        if k > first or need_x:
            if not _is_int(factors[k]):  # an identity factor leaves S as it is
                s = prod(outs[:k] + [factors[k].conj()] + ins[k + 1:], s, not tr)
    return (s if need_x else None), gf


def _merge(spec: tuple[Any, ...], tensors: Sequence[torch.Tensor]) -> list[Any]:
    """The factor list from spec (ints, and None where a tensor goes) and the tensors."""
    it = iter(tensors)
    return [s if s is not None else next(it) for s in spec]


def _apply(factors: list[Any], x: torch.Tensor, transpose: bool) -> torch.Tensor:
    spec = tuple(int(f) if _is_int(f) else None for f in factors)
    tensors = [f for f in factors if not _is_int(f)]
    return fast_apply(_KronMatvec, spec, transpose, x, *tensors)


def kron_matvec(factors: Sequence[Any], x: torch.Tensor, *,
                transpose: bool = False) -> torch.Tensor:
    """y = (A_1 ⊗ ... ⊗ A_d) x along the last axis of x (..., prod n_i) -> (..., prod m_i);
    factors: 2-D tensors (m_i, n_i) or ints (identities); transpose applies A_i^T.
    Differentiable in x and every factor."""
    fac, xt = _prepare("kron_matvec", factors, x)
    sides = _sides(fac)
    want = math.prod((m if transpose else n) for m, n in sides)
    if xt.dim() == 0 or xt.shape[-1] != want:
        counts = [s[0] if transpose else s[1] for s in sides]
        raise ValueError(f"fastspectral.torch.kron_matvec: x has shape {tuple(xt.shape)}; its "
                         f"last axis must have length {want} (the product of the factors' "
                         f"{'row' if transpose else 'column'} counts {counts})")
    return _apply(fac, xt, bool(transpose))


def kron_mode_product(factors: Sequence[Any], X: torch.Tensor, *,
                      transpose: bool = False) -> torch.Tensor:
    """Mode products on a grid X (..., n_1, ..., n_d) -> (..., m_1, ..., m_d); as kron_matvec
    on the flattened trailing axes, differentiable in X and every factor."""
    fac, xt = _prepare("kron_mode_product", factors, X)
    sides = _sides(fac)
    d = len(sides)
    ins = [m if transpose else n for m, n in sides]
    outs = [n if transpose else m for m, n in sides]
    if xt.dim() < d or list(xt.shape[xt.dim() - d:]) != ins:
        raise ValueError(f"fastspectral.torch.kron_mode_product: X has shape {tuple(xt.shape)}; "
                         f"its last {d} axes must be {tuple(ins)}")
    batch = xt.shape[:xt.dim() - d]
    y = _apply(fac, xt.reshape(*batch, math.prod(ins)), bool(transpose))
    return y.reshape(*batch, *outs)
