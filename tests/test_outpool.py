"""The CPU output pool (fastspectral._outpool): a block is handed out again only when no array,
view or buffer of it is alive, the idle total stays under its cap, and kernels using it never
let a later call overwrite an earlier result."""
import threading

import numpy as np
import pytest

from fastspectral._outpool import OutputPool
from fastspectral.kron import kron_matvec

MiB = 1 << 20


def _ptr(a):
    return a.__array_interface__["data"][0]


def test_dropped_block_is_reused():
    pool = OutputPool(max_bytes=16 * MiB)
    a = pool.empty((512, 512), np.float64)          # 2 MiB
    p = _ptr(a)
    del a
    b = pool.empty((512, 512), np.float64)
    assert _ptr(b) == p
    assert b.shape == (512, 512) and b.dtype == np.float64 and b.flags.c_contiguous
    assert b.flags.writeable


def test_live_arrays_and_views_keep_their_block():
    pool = OutputPool(max_bytes=16 * MiB)
    a = pool.empty((MiB // 8,), np.float64)
    a[:] = 1.0
    b = pool.empty((MiB // 8,), np.float64)         # a is alive: a new block
    assert not np.shares_memory(a, b)
    b[:] = 2.0
    assert np.all(a == 1.0)
    view = a[::3]
    pa = _ptr(a)
    del a
    c = pool.empty((MiB // 8,), np.float64)         # the view still holds a's block
    assert _ptr(c) != pa and not np.shares_memory(c, view)
    mv = memoryview(c)
    pc = _ptr(c)
    del c
    d = pool.empty((MiB // 8,), np.float64)         # so does a memoryview
    assert _ptr(d) != pc
    del mv, view
    e = pool.empty((MiB // 8,), np.float64)
    assert _ptr(e) in (pa, pc)


def test_dtype_and_shape_change_on_same_bytes():
    pool = OutputPool(max_bytes=16 * MiB)
    a = pool.empty((256, 1024), np.float64)
    p = _ptr(a)
    del a
    b = pool.empty((1024, 256), np.complex64)       # same 2 MiB
    assert _ptr(b) == p and b.dtype == np.complex64 and b.shape == (1024, 256)


def test_small_and_oversized_requests_are_plain_arrays():
    pool = OutputPool(max_bytes=4 * MiB, min_bytes=MiB)
    small = pool.empty((100,), np.float64)
    big = pool.empty((MiB,), np.float64)            # 8 MiB > cap
    assert small.flags.owndata and big.flags.owndata
    assert pool.pooled_bytes == 0


def test_cap_is_respected_and_idle_blocks_are_evicted():
    pool = OutputPool(max_bytes=6 * MiB)
    held = [pool.empty((MiB // 4,), np.float64) for _ in range(3)]   # 3 x 2 MiB, all alive
    assert pool.pooled_bytes == 6 * MiB
    extra = pool.empty((MiB // 4,), np.float64)     # no room: a plain array
    assert extra.flags.owndata
    del held[0]
    other = pool.empty((3 * MiB // 16,), np.float64)  # 1.5 MiB: evicts the idle 2 MiB block
    assert not other.flags.owndata
    assert pool.pooled_bytes <= 6 * MiB
    for h in held:
        assert not np.shares_memory(h, other)


def test_disabled_pool():
    pool = OutputPool(max_bytes=0)
    assert pool.empty((MiB,), np.float64).flags.owndata


def test_threads_never_share_a_live_block():
    pool = OutputPool(max_bytes=64 * MiB)
    errors = []

    def work(tid):
        for it in range(30):
            a = pool.empty((MiB // 8,), np.float64)
            a.fill(tid * 1000 + it)
            threading.Event().wait(0.0005)
            if not np.all(a == tid * 1000 + it):
                errors.append((tid, it))
    ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_kron_results_survive_later_calls():
    rng = np.random.default_rng(0)
    F = [rng.standard_normal((16, 16)) for _ in range(3)]
    x1, x2 = rng.standard_normal((2, 64, 16 ** 3))  # 2 MiB outputs: pooled
    y1 = kron_matvec(F, x1)
    keep = y1.copy()
    y2 = kron_matvec(F, x2)
    assert not np.shares_memory(y1, y2)
    np.testing.assert_array_equal(y1, keep)
    del y1
    y3 = kron_matvec(F, x1)
    np.testing.assert_array_equal(y3, keep)


def test_env_limit(monkeypatch):
    monkeypatch.setenv("FASTSPECTRAL_OUTPUT_POOL_MB", "3")
    assert OutputPool().max_bytes == 3 * MiB
    monkeypatch.setenv("FASTSPECTRAL_OUTPUT_POOL_MB", "lots")
    with pytest.raises(ValueError, match="FASTSPECTRAL_OUTPUT_POOL_MB"):
        OutputPool()
