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
    with cp.cuda.Device(device.index), cp.cuda.ExternalStream(stream.cuda_stream):
        yield cp


def device_view(cp: Any, t: torch.Tensor) -> Any:
    """A zero-copy cupy view of CUDA tensor t (torch's __cuda_array_interface__ refuses tensors
    needing grad, hence the detach).  resolve_neg: the interface ignores torch's lazy negation
    bit, so a negated view would otherwise be read with the wrong sign."""
    return cp.asarray(t.detach().resolve_conj().resolve_neg())
