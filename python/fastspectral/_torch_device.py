"""torch <-> cupy plumbing shared by the torch front ends (fastspectral.torch and its Bessel
functions): CUDA tensors are handed to cupy code without copies, on torch's current stream."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

from ._dispatch import _cupy


@contextlib.contextmanager
def cupy_on_torch_stream(device: torch.device) -> Iterator[Any]:
    """cupy, with `device` current and torch's current stream there as cupy's stream."""
    cp = _cupy()
    if cp is None:
        raise RuntimeError("fastspectral.torch: CUDA tensors need cupy (pip install "
                           "'fastspectral[gpu]'), which cannot be imported")
    stream = torch.cuda.current_stream(device)
    # (the device id lets cupy check the stream's use; the Device context makes it current)
    with cp.cuda.Device(device.index), \
            cp.cuda.ExternalStream(stream.cuda_stream, device.index):
        yield cp


def check_device(name: str, device: torch.device) -> None:
    """Only CPU tensors (NumPy kernels) and CUDA tensors (CUDA kernels through cupy) run."""
    if device.type not in ("cpu", "cuda"):
        raise TypeError(f"fastspectral.torch.{name}: tensors on {device} are not supported "
                        "(CPU and CUDA tensors are); move them with .cpu() or .cuda()")


def device_view(cp: Any, t: torch.Tensor) -> Any:
    """A zero-copy cupy view of CUDA tensor t (torch's __cuda_array_interface__ refuses tensors
    needing grad, hence the detach).  resolve_neg: the interface ignores torch's lazy negation
    bit, so a negated view would otherwise be read with the wrong sign."""
    return cp.asarray(t.detach().resolve_conj().resolve_neg())


# what Function.apply does to the arguments before its C++ entry point (torch internals: where a
# torch version lacks it, fast_apply is plain cls.apply)
_UNWRAP = getattr(getattr(getattr(torch, "_functorch", None), "utils", None),
                  "unwrap_dead_wrappers", None)


def fast_apply(cls: type, *args: Any) -> Any:
    """cls.apply(*args) for an autograd.Function in torch.func form, without torch's per-call
    ``inspect.signature`` binding of the arguments (about 20 us per call, half the cost of a
    Bessel call on a small tensor) when neither a torch.func transform nor torch.compile is
    active; the Functions here take positional arguments without defaults, so that binding
    changes nothing.  (An overridden ``apply`` did the same but made torch.compile fail
    instead of falling back to a graph break.)"""
    if _UNWRAP is None or torch._C._are_functorch_transforms_active() \
            or torch.compiler.is_compiling():
        return cls.apply(*args)
    # the C++ entry point that Function.apply itself ends in
    return super(torch.autograd.Function, cls).apply(*_UNWRAP(args))
