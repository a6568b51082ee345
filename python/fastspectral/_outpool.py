"""A small reuse pool for large CPU output arrays.

Why: a fresh multi-MiB NumPy array is backed by pages the kernel must fault in and zero on first
write.  On this project's 2-core VM that costs ~1 ms per 8 MiB (~8 GB/s), a quarter of a
16^4 x 16 Kronecker product (4 ms), and glibc hands such blocks back to the OS whenever the
top of its heap is freed (any library that frees a few large temporaries triggers it).  Code
that calls a kernel in a loop (CG iterations, a benchmark) then pays for zeroed pages on every
call.  Like cupy's memory pool on the GPU, this keeps a few blocks whose arrays the caller has
dropped and hands them out again, so repeated calls write to pages that are already mapped.

A block is free again exactly when no array refers to it: every array returned is a view whose
``base`` chain ends at the pool's block, so the block's reference count says whether the caller
still holds any array (or view, or memoryview) of it.  Only blocks of at least ``min_bytes``
are pooled, and idle blocks never exceed ``max_bytes`` in total (environment variable
``FASTSPECTRAL_OUTPUT_POOL_MB``, default 64; 0 disables the pool).

The arrays are ordinary writeable C-contiguous arrays; they do not own their data
(``flags.owndata`` is False), so ``ndarray.resize`` refuses them, as for any view.
"""
from __future__ import annotations

import math
import os
import sys
import threading

import numpy as np

__all__ = ["OutputPool", "output_pool"]


def _env_limit() -> int:
    raw = os.environ.get("FASTSPECTRAL_OUTPUT_POOL_MB", "64")
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"FASTSPECTRAL_OUTPUT_POOL_MB must be a number of MiB, got {raw!r}") from None
    return max(0, int(mb * (1 << 20)))


def _idle(blocks: list, i: int) -> bool:
    # references: the pool's list and getrefcount's own argument; any array of the block adds one
    return sys.getrefcount(blocks[i]) <= 2


class OutputPool:
    """Hands out C-contiguous arrays, reusing large blocks nobody refers to any more."""

    def __init__(self, max_bytes: int | None = None, min_bytes: int = 1 << 20):
        self.max_bytes = _env_limit() if max_bytes is None else int(max_bytes)
        self.min_bytes = int(min_bytes)
        self._blocks: dict[int, list[np.ndarray]] = {}
        self._lock = threading.Lock()

    @property
    def pooled_bytes(self) -> int:
        """Bytes held by the pool's blocks, in use or idle."""
        with self._lock:
            return sum(n * len(v) for n, v in self._blocks.items())

    def clear(self) -> None:
        """Forget every block (arrays the caller holds stay valid: they keep their block alive)."""
        with self._lock:
            self._blocks.clear()

    def empty(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """Like ``numpy.empty(shape, dtype)`` (contents undefined)."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < self.min_bytes or nbytes > self.max_bytes:
            return np.empty(shape, dtype)
        with self._lock:
            same = self._blocks.setdefault(nbytes, [])
            for i in range(len(same)):
                if _idle(same, i):
                    return same[i].view(dtype).reshape(shape)
            if not self._make_room(nbytes):
                return np.empty(shape, dtype)
            block = np.empty(nbytes, np.uint8)
            same.append(block)
            return block.view(dtype).reshape(shape)

    def _make_room(self, nbytes: int) -> bool:
        """Drop idle blocks until nbytes more fit under max_bytes; False if they cannot."""
        total = sum(n * len(v) for n, v in self._blocks.items())
        if total + nbytes <= self.max_bytes:
            return True
        for n in sorted(self._blocks, reverse=True):
            v = self._blocks[n]
            i = 0
            while i < len(v) and total + nbytes > self.max_bytes:
                if _idle(v, i):
                    v.pop(i)
                    total -= n
                else:
                    i += 1
        return total + nbytes <= self.max_bytes


#: The pool used by fastspectral's CPU kernels for outputs they allocate.
output_pool = OutputPool()
