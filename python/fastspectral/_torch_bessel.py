"""Differentiable modified Bessel functions for torch (exported by :mod:`fastspectral.torch`).

``log_iv, log_ive, log_kv, log_kve, iv, ive, kv, kve, log_iv_dx, log_kv_dx, iv_ratio``
``(v, x) -> Tensor`` are :mod:`fastspectral.special`'s functions on tensors: CPU tensors run
the NumPy ufuncs on the tensors' memory (no copies, GIL released, OpenMP), CUDA tensors the
CUDA kernels through cupy on torch's current stream (cupy needed).  ``vmf_log_normalizer``
and ``vmf_mean_resultant_length`` ``(p, kappa)`` are :mod:`fastspectral.vmf`'s log C_p(kappa)
and A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa).

Gradients are with respect to x (kappa) only, of any order: every backward pass is written
with these same differentiable functions, from closed forms (x-derivatives):

=================  ==============================================================
log_iv, log_kv     log_iv_dx, log_kv_dx (the kernels' own ratios, not a difference
                   of two evaluations)
log_ive, log_kve   log_iv_dx - sign(x), log_kv_dx + 1
iv, ive            iv log_iv_dx, ive (log_iv_dx - sign(x)); where the value is 0 or
                   subnormal, (I_{v-1} + I_{v+1}) / 2 (- sign(x) ive_v)
kv, kve            kv log_kv_dx, kve (log_kv_dx + 1); there -(K_{v-1} + K_{v+1}) / 2 (+ kve_v)
log_iv_dx (= r)    1 + (v/x - r)(v/x + r) - r/x (Bessel's equation; log_kv_dx the same;
                   for |x| < 1 as 1 + (v^2/x - r (1 + x r))/x, no overflow)
iv_ratio (= A)     1 - (2v - 1) A / x - A^2 (the ratio's Riccati equation)
vmf                d log C_p / dkappa = -A_p;
                   dA_p / dkappa = (1 - A_p)(1 + A_p) - (p - 1) A_p / kappa
=================  ==============================================================

The ive / kve / log_ive / log_kve derivatives and the second derivatives subtract nearly equal
terms where x is much larger than the order: in float64 their relative error grows like x * eps
(first derivatives) and x^2 * eps (second derivatives of the logs); log_iv and log_kv's first
derivatives are accurate to a few ulp for v >= 0 (at negative orders near a stationary point of
I_v the ratio kernel itself cancels: up to ~600 ulp at v = -0.7).  Small arguments: iv_ratio's
and the vMF A_p's derivatives use a cancellation-free form for x < v, log_iv_dx's for
x < v + 1, and iv / ive's second derivatives the recurrence for |x| < 1.  float32 derivatives are evaluated in float64
and rounded once.  A gradient with respect to the order v (or
p) is not implemented (no closed form; d/dv needs integrals): an order tensor that requires
grad is refused with NotImplementedError when grad mode is on (detach it); in forward mode
(torch.func.jvp / jacfwd, forward AD) a nonzero order tangent makes the result nan.  The
functions also work under torch.func (grad, jacrev, jacfwd, hessian, vmap) and torch.compile
(as a graph break: the kernels are not traceable, so torch.export cannot capture them).

dtypes: torch's promotion of (v, x); float32 and float64 run natively, float16 / bfloat16 are
computed in float32 and returned in their own dtype, integer inputs give the default float dtype,
complex inputs raise TypeError.  Python numbers and 0-d CPU tensors combine with tensors on any
device; other tensors must share one device.

Example
-------
>>> import torch
>>> from fastspectral.torch import log_iv
>>> x = torch.tensor([1.0, 1e4], dtype=torch.float64, requires_grad=True)
>>> y = log_iv(100.0, x)            # log I_100(1e4) ~ 9.5e3: I_100 itself overflows near 710
>>> (g,) = torch.autograd.grad(y.sum(), x)
>>> bool(torch.all(torch.isfinite(g)))
True
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from . import special as _special
from . import vmf as _vmf
from ._torch_device import check_device, cupy_on_torch_stream, device_view, fast_apply

__all__ = ["log_iv", "log_ive", "log_kv", "log_kve", "iv", "ive", "kv", "kve", "log_iv_dx",
           "log_kv_dx", "iv_ratio", "vmf_log_normalizer", "vmf_mean_resultant_length"]

_HALF = (torch.float16, torch.bfloat16)


# --------------------------------------------------------------------------- inputs

def _common_device(name: str, args: dict[str, Any]) -> torch.device:
    """The one device of the tensor arguments (0-d CPU tensors go anywhere, as in torch)."""
    devices = {n: a.device for n, a in args.items()
               if isinstance(a, torch.Tensor) and not (a.dim() == 0 and a.device.type == "cpu")}
    found = set(devices.values())
    if len(found) > 1:
        listing = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise TypeError(f"fastspectral.torch.{name}: the tensors are on different devices "
                        f"({listing}); pass all tensors on one device")
    device = found.pop() if found else torch.device("cpu")
    check_device(name, device)
    return device


def _dtypes(name: str, args: dict[str, Any]) -> tuple[torch.dtype, torch.dtype]:
    """(dtype the kernel runs in, dtype returned)."""
    for n, a in args.items():
        if isinstance(a, torch.Tensor):
            continue
        if isinstance(a, (bool, int, float, np.integer, np.floating)):
            continue
        raise TypeError(f"fastspectral.torch.{name}: {n} must be a tensor or a real number, got "
                        f"{type(a).__name__}")
    a, b = args.values()
    dtype = torch.result_type(a, b)
    if dtype.is_complex:
        raise TypeError(f"fastspectral.torch.{name}: complex inputs are not supported "
                        f"(got {dtype}); the functions are defined for real v and x")
    if not dtype.is_floating_point:  # integers and bools, as torch.special does
        dtype = torch.get_default_dtype()
    return (torch.float32 if dtype in _HALF else dtype), dtype


def _prepare(name: str, **args: Any) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """Both arguments as tensors of the compute dtype on their common device (differentiable
    conversions, so gradients reach float16 or float32 leaves), and the dtype to return."""
    device = _common_device(name, args)
    compute, result = _dtypes(name, args)
    out = []
    for a in args.values():
        if isinstance(a, torch.Tensor):
            out.append(a.to(device=device, dtype=compute))
        else:
            out.append(torch.as_tensor(float(a), dtype=compute, device=device))
    return out[0], out[1], result


# --------------------------------------------------------------------------- kernels

def _evaluate(name: str, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """fastspectral.special.<name>(v, x) on the tensors' device, broadcast, a new tensor."""
    if x.is_cuda:
        # the result is allocated by torch (its caching allocator counts and frees it, and
        # record_stream works), the kernel writes into it through a cupy view
        out = torch.empty(torch.broadcast_shapes(v.shape, x.shape), dtype=x.dtype,
                          device=x.device)
        with cupy_on_torch_stream(x.device) as cp:
            _special.generic[name](device_view(cp, v), device_view(cp, x),
                                   out=device_view(cp, out))
        return out
    ufunc = _special._UFUNCS[name]
    out = ufunc(v.detach().resolve_neg().numpy(), x.detach().resolve_neg().numpy())
    return torch.from_numpy(np.asarray(out))


def _sum_to(g: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """g reduced over the axes along which `like` was broadcast."""
    return g if g.shape == like.shape else g.sum_to_size(like.shape)


def _no_order_grad(name: str, what: str = "the order v") -> NotImplementedError:
    return NotImplementedError(f"fastspectral.torch.{name}: the derivative with respect to "
                               f"{what} is not implemented (only with respect to the argument); "
                               "detach it or pass a number")


def _safe_x(x: torch.Tensor) -> torch.Tensor:
    # where x == 0 the closed forms divide by x; those entries take their limits through
    # torch.where, and a finite stand-in keeps nan out of the unused branch's gradient
    return torch.where(x == 0, torch.ones_like(x), x)


def _d_log_dx(r: torch.Tensor, v: torch.Tensor, x: torch.Tensor, family: str) -> torch.Tensor:
    """d/dx of r = d/dx log Z_v(x) for Z = I or K: both solve x^2 Z'' + x Z' = (x^2 + v^2) Z,
    so r' = Z''/Z - r^2 = 1 + v^2/x^2 - r/x - r^2.

    Evaluated as 1 + (v/x - r)(v/x + r) - r/x for |x| >= 1 and as 1 + h/x with
    h = v^2/x - r (1 + x r) for |x| < 1, where the terms v^2/x^2, r^2 and r/x overflow
    separately (x < ~1e-154) while their sum, ~ -+v/x^2 or (K_0) ~1/(x^2 |log x|), may not:
    h keeps log I_0's 1/2 (r = x/2) and log K_0's huge positive value without inf - inf.
    Where even h overflows (v^2/x > DBL_MAX) the true value has long overflowed: the limit
    below.  At x = 0, and there: log I_0 ~ x^2/4 gives 1/2; log I_v ~ v log x gives -inf
    (v > 0; +inf for a non-integer v < 0, I_{-n} = I_n); log K_v's r' -> +inf."""
    small = torch.abs(x) < 1
    # each form sees a harmless argument where the other is selected (no nan through where)
    xs = torch.where(small & (x != 0), x, torch.ones_like(x))
    xl = torch.where(small, torch.ones_like(x), x)
    h = v * v / xs - r * (1 + xs * r)
    q = v / xl
    d = torch.where(small, 1 + h / xs, 1 + (q - r) * (q + r) - r / xl)
    if family == "K":
        limit = torch.full_like(d, math.inf)
    else:
        va = torch.where((v < 0) & (v == torch.round(v)), -v, v)
        limit = torch.where(va == 0, 0.5, torch.where(va > 0, -math.inf, math.inf)).to(d.dtype)
    overflowed = small & torch.isnan(d) & ~torch.isnan(x) & ~torch.isnan(v) & ~torch.isnan(r)
    d = torch.where((x == 0) | overflowed, limit, d)
    if family == "I":
        # 0 < x < v + 1, v >= -1/2: r = v/x + A_1, A_1 = iv_ratio(v + 1, x), so r' = -v/x^2 + A_1'
        # with A_1' from its cancellation-free small-x form (the form above is accurate itself
        # but its derivative, a third derivative of log I, cancelled terms of size 1/x^2)
        near = (x > 0) & (x < v + 1) & (v >= -0.5)
        xn = torch.where(near, x, torch.ones_like(x))
        vn = torch.where(near, v, torch.zeros_like(v))
        a1 = _apply("iv_ratio", vn + 1, xn)
        d = torch.where(near, -vn / xn / xn + _d_iv_ratio(a1, vn + 1, xn), d)
    return d


def _d_iv_ratio(a: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d/dx A, A = I_v / I_{v-1}: from I_v' = I_{v-1} - v I_v / x and
    I_{v-1}' = I_v + (v - 1) I_{v-1} / x, A' = 1 - (2v - 1) A / x - A^2.

    For 0 < x < v that form subtracts (2v - 1) A / x ~ 1 - 1/(2v) from 1, and its own
    derivative cancels terms of size 1/x (second derivatives had no correct digit at x = 1e-8).
    There A = x q with q = 1/(2v + x A_1), A_1 = I_{v+1}/I_v (the first step of A's continued
    fraction), so 1 - 2v q = x A_1 q exactly and A' = q (1 + x (A_1 - x q)): no cancellation,
    and q's derivative comes from A_1's (the same form one order up), not from A / x.
    At x = 0 (A ~ x/(2v)): 1/(2v)."""
    small = (x > 0) & (x < v)
    xs = torch.where(small, x, torch.ones_like(x))
    a1 = _apply("iv_ratio", v + 1, xs)
    q = 1 / (2 * v + xs * a1)
    d_small = q * (1 + xs * (a1 - xs * q))
    xl = _safe_x(x)
    d = torch.where(small, d_small, 1 - (2 * v - 1) * a / xl - a * a)
    return torch.where(x == 0, 1 / (2 * v), d)


def _d_value(name: str, v: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d/dx of y = iv / ive / kv / kve at (v, x).  The value times the log-derivative kernel,
    e.g. ive' = ive (log_iv_dx - sign x): one ratio evaluation at the order v itself (the
    recurrences I' = (I_{v-1} + I_{v+1})/2 evaluate at v -+ 1, whose rounding cost up to ~190
    eps, and kve's gave inf - inf = nan where the true derivative is -inf).  Where the value is
    0 or subnormal (I_v(1e-200) for v = 2: the derivative ~ v I_v / x is still normal) and at
    x = 0 (value 0 or inf, ratio inf) the recurrence gives the derivative; it runs on an
    argument that is nan elsewhere (the kernels return nan at once), and those entries of the
    product run at x = 1, so that no nan reaches a gradient through torch.where."""
    log_dx = "log_kv_dx" if name in ("kv", "kve") else "log_iv_dx"
    tiny = torch.finfo(y.dtype).tiny
    special = (x == 0) | (torch.abs(y) < tiny)
    xs = torch.where(x == 0, torch.ones_like(x), x)
    r = _apply(log_dx, v, xs)  # d/dx log of the unscaled function
    if name == "ive":
        r = r - torch.sign(xs)  # e^{-|x|}
    elif name == "kve":
        r = r + 1  # e^{x}
    # y itself (saved by the forward; its x = 0 entries are replaced below and their
    # gradients dropped by torch.where)
    product = y * r
    x0 = torch.where(special, x, torch.full_like(x, math.nan))
    lo, hi = _apply(name, v - 1, x0), _apply(name, v + 1, x0)
    if name == "iv":
        rec = 0.5 * (lo + hi)
    elif name == "ive":
        rec = 0.5 * (lo + hi) - torch.sign(x0) * _apply(name, v, x0)
    elif name == "kv":
        rec = -0.5 * (lo + hi)
    else:
        # at x = 0, kve = kv (e^0 = 1) and both are inf: kv's -inf, not inf - inf
        rec = torch.where(x0 == 0, -0.5 * (lo + hi), _apply(name, v, x0) - 0.5 * (lo + hi))
    if name in ("iv", "ive") and torch.is_grad_enabled():
        # only where a second derivative is being built: for |x| < 1 the product's own derivative
        # y (r^2 + r') cancels terms of size 1/x^2 (I_1'' at x = 1e-8 came out 0), so there the
        # value stays the product's while the derivative is the recurrence's,
        # (I_{v-2} + 2 I_v + I_{v+2}) / 4 and its scaled form: positive terms for v >= 1
        near = (torch.abs(x) < 1) & ~special
        xn = torch.where(near, x, torch.full_like(x, math.nan))
        alt = 0.5 * (_apply(name, v - 1, xn) + _apply(name, v + 1, xn))
        if name == "ive":
            alt = alt - torch.sign(xn) * _apply(name, v, xn)
        swap = near & torch.isfinite(alt)
        product = torch.where(swap, product.detach() + (alt - alt.detach()), product)
    return torch.where(special, rec, product)


#: name -> (v, x, value) -> d value / dx, written with differentiable functions only.
_DERIVATIVE: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "log_iv": lambda v, x, y: _apply("log_iv_dx", v, x),
    "log_ive": lambda v, x, y: _apply("log_iv_dx", v, x) - torch.sign(x),
    "log_kv": lambda v, x, y: _apply("log_kv_dx", v, x),
    "log_kve": lambda v, x, y: _apply("log_kv_dx", v, x) + 1,
    "iv": lambda v, x, y: _d_value("iv", v, x, y),
    "ive": lambda v, x, y: _d_value("ive", v, x, y),
    "kv": lambda v, x, y: _d_value("kv", v, x, y),
    "kve": lambda v, x, y: _d_value("kve", v, x, y),
    "log_iv_dx": lambda v, x, y: _d_log_dx(y, v, x, "I"),
    "log_kv_dx": lambda v, x, y: _d_log_dx(y, v, x, "K"),
    "iv_ratio": lambda v, x, y: _d_iv_ratio(y, v, x),
}


def _derivative(name: str, v: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d y / dx.  float32 data: evaluated in float64 from float64 values (y recomputed) and
    rounded once -- several of the closed forms subtract nearly equal terms (ive' at x = 7e5
    came out 10x off in float32), and float64 keeps their loss below float32's rounding."""
    if x.dtype == torch.float32:
        v64, x64 = v.to(torch.float64), x.to(torch.float64)
        # (the log functions' derivatives do not use the value: no float64 recomputation)
        y64 = None if name.startswith(("log_iv", "log_kv")) and not name.endswith("_dx") \
            else _apply(name, v64, x64)
        return _DERIVATIVE[name](v64, x64, y64).to(torch.float32)
    return _DERIVATIVE[name](v, x, y)


class _BesselFunction(torch.autograd.Function):
    """One of the binary functions; the backward is differentiable (see _DERIVATIVE).  Written
    in torch.func's form (setup_context, jvp, vmap), so torch.func.grad / jacrev / jacfwd /
    hessian / vmap work as well as .backward()."""

    @staticmethod
    def forward(name: str, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _evaluate(name, v, x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        name, v, x = inputs
        ctx.name = name
        ctx.save_for_backward(v, x, output)
        ctx.save_for_forward(v, x, output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        v, x, y = ctx.saved_tensors
        if ctx.needs_input_grad[1]:
            raise _no_order_grad(ctx.name)
        gx = None
        if ctx.needs_input_grad[2]:
            gx = _sum_to(grad * _derivative(ctx.name, v, x, y), x)
        return None, None, gx

    @staticmethod
    def jvp(ctx, _name_t, v_t, x_t):
        v, x, y = ctx.saved_tensors
        d = _derivative(ctx.name, v, x, y)
        out = d * x_t if x_t is not None else torch.zeros_like(y)
        if v_t is not None:
            # torch.func hands every input a tangent, zeros where it is not differentiated; a
            # nonzero order tangent (not implemented) makes the result nan there, without a
            # data-dependent branch (which vmap / jacfwd would refuse)
            out = out + torch.where(v_t != 0, math.nan, 0.0).to(out.dtype)
        return out

    @staticmethod
    def vmap(info, in_dims, name, v, x):
        # element-wise with broadcasting: batch dims to the front, each argument's own dims
        # right-aligned behind them, then one call on the whole batch
        _, vd, xd = in_dims
        rank = max(v.dim() - (vd is not None), x.dim() - (xd is not None))
        v, x = _batch_front(v, vd, rank, info.batch_size), _batch_front(x, xd, rank,
                                                                         info.batch_size)
        return _BesselFunction.apply(name, v, x), 0


def _batch_front(t: torch.Tensor, dim: int | None, rank: int, size: int) -> torch.Tensor:
    """t as (size, 1, ..., 1, *own shape) with `rank` dims after the batch dim."""
    if dim is None:
        return t.expand(size, *([1] * (rank - t.dim())), *t.shape)
    t = t.movedim(dim, 0)
    return t.reshape(size, *([1] * (rank - (t.dim() - 1))), *t.shape[1:])


def _apply(name: str, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return fast_apply(_BesselFunction, name, v, x)


def _make(name: str) -> Callable[[Any, Any], torch.Tensor]:
    def fn(v: Any, x: Any) -> torch.Tensor:
        if isinstance(v, torch.Tensor) and v.requires_grad and torch.is_grad_enabled():
            # refused here, not in the backward: a custom Function cannot tell which inputs
            # a torch.autograd.grad call asks for, so a later error would also block x's
            raise _no_order_grad(name)
        vt, xt, dtype = _prepare(name, v=v, x=x)
        return _apply(name, vt, xt).to(dtype)

    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = "fastspectral.torch"
    ufunc = _special._UFUNCS[name]
    first = (ufunc.__doc__ or name).strip().splitlines()[0]
    fn.__doc__ = (f"{first}\n\nTorch version of fastspectral.special.{name}: v, x tensors "
                  "(or numbers), broadcast; differentiable in x to any order (not in v); CPU "
                  "and CUDA tensors.  See fastspectral._torch_bessel for the derivative "
                  "formulas and their accuracy.")
    return fn


log_iv = _make("log_iv")
log_ive = _make("log_ive")
log_kv = _make("log_kv")
log_kve = _make("log_kve")
iv = _make("iv")
ive = _make("ive")
kv = _make("kv")
kve = _make("kve")
log_iv_dx = _make("log_iv_dx")
log_kv_dx = _make("log_kv_dx")
iv_ratio = _make("iv_ratio")


# --------------------------------------------------------------------------- von Mises-Fisher

def _vmf_call(fn: Callable[..., Any], p: Any, kappa: torch.Tensor) -> Any:
    """fn(p, kappa) with kappa as a numpy/cupy float64 array, p as an int or an array on the
    same device (fastspectral.vmf validates both)."""
    if kappa.is_cuda:
        with cupy_on_torch_stream(kappa.device) as cp:
            pa = p if not isinstance(p, torch.Tensor) else device_view(cp, p.to(kappa.device))
            out = fn(pa, device_view(cp, kappa.double()))
            return tuple(torch.as_tensor(o, device=kappa.device) for o in out) \
                if isinstance(out, tuple) else torch.as_tensor(out, device=kappa.device)
    pa = p if not isinstance(p, torch.Tensor) else p.detach().cpu().numpy()
    out = fn(pa, kappa.detach().double().numpy())
    if isinstance(out, tuple):
        return tuple(torch.from_numpy(np.asarray(o)) for o in out)
    return torch.from_numpy(np.asarray(out))


def _ap_and_gap(p: Any, kappa: Any) -> tuple[Any, Any]:
    """(A_p(kappa), 1 - A_p(kappa)) for numpy or cupy kappa (validated as the public
    fastspectral.vmf functions do)."""
    xp = _vmf._xp(kappa)
    return _vmf._ap_and_gap(p, _vmf._as_float(xp, kappa), xp)


def _p_tensor(p: Any, kappa: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(p, dtype=kappa.dtype, device=kappa.device)


def _vmf_vmap(cls: type, info: Any, in_dims: tuple, p: Any, kappa: torch.Tensor) -> Any:
    """vmap rule of the element-wise vMF Functions: batch dims to the front (p broadcast
    against kappa as in a plain call), one call on the whole batch."""
    pd, kd = in_dims
    rank = kappa.dim() - (kd is not None)
    if isinstance(p, torch.Tensor):
        rank = max(rank, p.dim() - (pd is not None))
        p = _batch_front(p, pd, rank, info.batch_size)
    out = cls.apply(p, _batch_front(kappa, kd, rank, info.batch_size))
    return out, (tuple(0 for _ in out) if isinstance(out, tuple) else 0)


def _vmf_da(p: Any, kappa: torch.Tensor, a: Any = None, gap: Any = None) -> torch.Tensor:
    """d A_p / d kappa, differentiable, in float64 (float32 data rounded once: the forms
    below cancel terms ~0.5 down to ~1e-4 near kappa ~ p, which cost 5e-4 in float32).

    kappa < v = p/2: iv_ratio's cancellation-free small-argument form (_d_iv_ratio); above,
    (1 - A)(1 + A) - (p - 1) A / kappa with 1 - A from the accurate gap (A rounds to 1 for
    kappa >> p) carrying the derivative of 1 - A, so that higher derivatives stay exact."""
    k = kappa if kappa.dtype == torch.float64 else kappa.to(torch.float64)
    if a is None or a.dtype != torch.float64:  # (float32: A and 1 - A again, in float64)
        a, gap = fast_apply(_VmfMeanResultant, p, k)
    pt = _p_tensor(p, k)
    one_minus = gap.detach() - (a - a.detach())
    d_large = one_minus * (1 + a) - (pt - 1) * a / _safe_x(k)
    d = torch.where(k < pt / 2, _d_iv_ratio(a, pt / 2, k), d_large)  # 1/p at kappa = 0
    return d.to(kappa.dtype)


class _VmfLogNormalizer(torch.autograd.Function):
    @staticmethod
    def forward(p: Any, kappa: torch.Tensor) -> torch.Tensor:
        return _vmf_call(_vmf.log_normalizer, p, kappa).to(kappa.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.p, kappa = inputs
        ctx.save_for_backward(kappa)
        ctx.save_for_forward(kappa)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (kappa,) = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            raise _no_order_grad("vmf_log_normalizer", "the dimension p")
        if not ctx.needs_input_grad[1]:
            return None, None
        # d/dkappa [v log kappa - log I_v(kappa)] = v/kappa - I_v'/I_v = -I_{v+1}/I_v = -A_p
        return None, _sum_to(-grad * fast_apply(_VmfMeanResultant, ctx.p, kappa)[0], kappa)

    @staticmethod
    def jvp(ctx, _p_t, kappa_t):
        (kappa,) = ctx.saved_tensors
        return -fast_apply(_VmfMeanResultant, ctx.p, kappa)[0] * kappa_t

    @staticmethod
    def vmap(info, in_dims, p, kappa):
        return _vmf_vmap(_VmfLogNormalizer, info, in_dims, p, kappa)


class _VmfMeanResultant(torch.autograd.Function):
    @staticmethod
    def forward(p: Any, kappa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, gap = _vmf_call(_ap_and_gap, p, kappa)
        return a.to(kappa.dtype), gap.to(kappa.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.p, kappa = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(kappa, *output)
        ctx.save_for_forward(kappa, *output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor, _grad_gap: Any = None):
        kappa, a, gap = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            raise _no_order_grad("vmf_mean_resultant_length", "the dimension p")
        if not ctx.needs_input_grad[1]:
            return None, None
        return None, _sum_to(grad * _vmf_da(ctx.p, kappa, a, gap), kappa)

    @staticmethod
    def jvp(ctx, _p_t, kappa_t):
        kappa, a, gap = ctx.saved_tensors
        return _vmf_da(ctx.p, kappa, a, gap) * kappa_t, None

    @staticmethod
    def vmap(info, in_dims, p, kappa):
        return _vmf_vmap(_VmfMeanResultant, info, in_dims, p, kappa)


def _vmf_prepare(name: str, p: Any, kappa: Any) -> tuple[Any, torch.Tensor, torch.dtype]:
    if isinstance(p, torch.Tensor) and p.requires_grad and torch.is_grad_enabled():
        raise _no_order_grad(name, "the dimension p")
    if isinstance(p, torch.Tensor) and p.dim() == 0:
        p = p.item()
    pv = p if not isinstance(p, torch.Tensor) else p.detach()
    _vmf._check_dim(pv if not isinstance(pv, torch.Tensor) else pv.cpu().numpy())
    _, kt, dtype = _prepare(name, p=0.0, kappa=kappa)
    # (a data-dependent check: skipped under torch.func transforms, where the kernels'
    # own domain handling gives nan for kappa < 0)
    if not torch._C._are_functorch_transforms_active() and bool((kt < 0).any()):
        raise ValueError(f"fastspectral.torch.{name}: kappa must be >= 0")
    return pv, kt, dtype


def vmf_log_normalizer(p: Any, kappa: Any) -> torch.Tensor:
    """log C_p(kappa), the log normalising constant of the vMF density on S^{p-1}, as
    fastspectral.vmf.log_normalizer (kappa >= 0; at 0 the limit -log|S^{p-1}|); p an int >= 2
    or an integer tensor broadcast against kappa.  d/dkappa = -A_p(kappa), exact at any
    kappa (no difference of large terms), so KL terms of hyperspherical VAEs train at
    p in the thousands."""
    pv, kt, dtype = _vmf_prepare("vmf_log_normalizer", p, kappa)
    return fast_apply(_VmfLogNormalizer, pv, kt).to(dtype)


def vmf_mean_resultant_length(p: Any, kappa: Any) -> torch.Tensor:
    """A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa) = E[mu^T x] under vMF(mu, kappa), as
    fastspectral.vmf.mean_resultant_length; differentiable in kappa to any order."""
    pv, kt, dtype = _vmf_prepare("vmf_mean_resultant_length", p, kappa)
    return fast_apply(_VmfMeanResultant, pv, kt)[0].to(dtype)
