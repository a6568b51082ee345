"""The Bessel family as a drop-in for scipy.special: ufunc behaviour, SciPy's special values,
bad input, threads, and the cupy path.  Accuracy against Arb lives in test_special_accuracy.py."""
from __future__ import annotations

import itertools
import threading
import warnings

import numpy as np
import pytest
import scipy.special as sc

import fastspectral
from fastspectral import special

from conftest import to_numpy

ALL = special.BINARY + special.UNARY
SCIPY_NAMES = ("iv", "ive", "kv", "kve", "i0", "i0e", "i1", "i1e", "k0", "k0e", "k1", "k1e")


def _args(name, v, x):
    return (v, x) if name in special.BINARY else (x,)


# ------------------------------------------------------------------ ufunc behaviour

@pytest.mark.parametrize("name", ALL)
def test_every_function_is_a_numpy_ufunc(name):
    f = getattr(special, name)
    assert isinstance(f, np.ufunc)
    assert f.__name__ == name
    assert f.nin == (2 if name in special.BINARY else 1) and f.nout == 1
    assert f.types == (["ff->f", "dd->d"] if f.nin == 2 else ["f->f", "d->d"])


def test_broadcasting_matches_elementwise_calls():
    v = np.array([[0.0], [1.5], [30.0]])
    x = np.array([0.5, 2.0, 40.0, 700.0])
    got = special.log_kv(v, x)
    assert got.shape == (3, 4)
    want = np.array([[special.log_kv(a, b) for b in x] for a in v[:, 0]])
    np.testing.assert_array_equal(got, want)


def test_out_and_where():
    v = np.full(6, 2.5)
    x = np.linspace(0.5, 3.0, 6)
    out = np.full(6, -7.0)
    mask = np.array([True, False, True, False, True, False])
    res = special.ive(v, x, out=out, where=mask)
    assert res is out
    np.testing.assert_array_equal(out[~mask], -7.0)
    np.testing.assert_array_equal(out[mask], special.ive(v[mask], x[mask]))


def test_dtype_rules_follow_scipy():
    f32 = np.float32
    assert special.iv(f32(2.5), np.array([1, 2], f32)).dtype == np.float32
    assert special.iv(2.5, np.array([1.0], f32)).dtype == np.float32  # Python float is weak
    assert special.iv(np.arange(3), np.arange(3)).dtype == np.float64  # int64 -> float64
    for dt in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_):
        a = np.ones(2, dtype=dt)
        assert special.kv(a, a).dtype == sc.kv(a, a).dtype, dt
    # integer orders computed as doubles
    np.testing.assert_array_equal(special.kv(np.arange(1, 4), 2), special.kv(np.arange(1.0, 4.0), 2.0))


def test_non_contiguous_inputs_and_outputs():
    rng = np.random.default_rng(0)
    base_v = rng.uniform(0, 50, size=(40, 30))
    base_x = rng.uniform(0.01, 80, size=(30, 40)).T
    v, x = base_v[::2, ::3], base_x[::2, ::3]
    assert not v.flags.c_contiguous and not x.flags.c_contiguous
    want = special.log_iv(np.ascontiguousarray(v), np.ascontiguousarray(x))
    np.testing.assert_array_equal(special.log_iv(v, x), want)
    out = np.empty((want.shape[0], 2 * want.shape[1]))[:, ::2]
    special.log_iv(v, x, out=out)
    np.testing.assert_array_equal(out, want)


def test_bad_input_raises_clear_python_exceptions():
    with pytest.raises(TypeError):
        special.log_iv(np.array([1, 2], dtype=object), 1.0)
    with pytest.raises(TypeError):
        special.log_iv("a", 1.0)
    with pytest.raises(TypeError):  # no complex loops (scipy has complex iv; we do not)
        special.iv(1.0, np.array([1j]))
    with pytest.raises(ValueError):
        special.kv(np.ones(3), np.ones(4))
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        special.kv(np.ones(3), np.ones(3), out=ro)
    with pytest.raises(TypeError):
        special.kv(np.ones(3), np.ones(3), out=np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError):
        fastspectral.log_iv(1.0)  # wrong arity of the generic form


def test_generic_form_on_numpy_is_the_ufunc():
    v = np.array([0.5, 3.0, 100.0])
    x = np.array([1e-3, 5.0, 250.0])
    for name in special.BINARY:
        np.testing.assert_array_equal(getattr(fastspectral, name)(v, x), getattr(special, name)(v, x))
    out = np.empty(3)
    assert fastspectral.kve(v, x, out=out) is out


def test_dask_arrays_through_array_ufunc():
    da = pytest.importorskip("dask.array")
    v = np.linspace(0, 40, 1000)
    x = np.geomspace(1e-3, 1e3, 1000)
    res = special.log_kv(da.from_array(v, chunks=250), da.from_array(x, chunks=250))
    assert isinstance(res, da.Array)
    np.testing.assert_array_equal(res.compute(), special.log_kv(v, x))


# ------------------------------------------------------------------ threads

def test_results_do_not_depend_on_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(1)
    v = 10 ** rng.uniform(-3, 4, 50_000)
    x = 10 ** rng.uniform(-6, 5, 50_000)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        one = special.log_kv(v, x), special.log_iv(v, x)
    many = special.log_kv(v, x), special.log_iv(v, x)
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a, b)


def test_concurrent_python_threads_get_correct_results():
    rng = np.random.default_rng(2)
    v = 10 ** rng.uniform(-3, 3, 20_000)
    x = 10 ** rng.uniform(-3, 3, 20_000)
    want = special.log_ive(v, x)
    results = [None] * 4

    def work(i):
        results[i] = special.log_ive(v, x)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, want)


# ------------------------------------------------------------------ SciPy special values

SPECIAL_V = [0.0, 1.0, 2.0, 0.5, 2.5, -1.0, -2.0, -0.5, -1.5, -2.5, 10.3, -10.3, np.inf, -np.inf, np.nan]
SPECIAL_X = [0.0, -0.0, 1.0, -1.0, 2.5, -2.5, np.inf, -np.inf, np.nan, 1e-300, 50.0, -50.0]

def _limit(name: str, v: float, x: float) -> float:
    """The value of iv/ive/kv/kve at infinite arguments or x = 0 (as a limit from the right).
    Used only where we differ from SciPy, which returns nan (or an unsigned inf at x = 0)."""
    import mpmath

    neg_int_free = float(v).is_integer() or v >= 0
    if name in ("kv", "kve"):
        if x == 0:
            return np.inf
        if np.isinf(v):
            return np.nan if np.isinf(x) else np.inf
        if x == np.inf:
            return 0.0
    if name in ("iv", "ive"):
        if np.isinf(v):
            return np.nan if np.isinf(x) else 0.0
        if np.isinf(x):
            if x < 0 and not float(v).is_integer():
                return np.nan
            sign = -1.0 if (x < 0 and int(v) % 2) else 1.0
            return sign * (np.inf if name == "iv" else 0.0)
        if x == 0 and not neg_int_free:
            sign = 1.0 if mpmath.besseli(v, mpmath.mpf("1e-30")) > 0 else -1.0
            return sign * np.inf
    raise KeyError((name, v, x))


def _true_value(name: str, v: float, x: float) -> float:
    """mpmath value (rounded to double, overflow -> inf, underflow -> 0) for finite inputs."""
    import mpmath

    if float(v).is_integer():
        v = abs(v)  # I_{-n} = I_n, K_{-n} = K_n; mpmath struggles with negative integer orders
    with mpmath.workdps(40):
        if name in ("iv", "ive"):
            val = mpmath.besseli(v, x)
            if name == "ive":
                val *= mpmath.exp(-abs(mpmath.mpf(x)))
        else:
            val = mpmath.besselk(v, x)
            if name == "kve":
                val *= mpmath.exp(x)
        val = mpmath.re(val)
        if abs(val) > mpmath.mpf(np.finfo(float).max):
            return float(mpmath.sign(val)) * np.inf
        return float(val)


@pytest.mark.parametrize("name", ["iv", "ive", "kv", "kve"])
def test_special_values_match_scipy(name):
    """Same as SciPy, except where SciPy is wrong: then the true value (mpmath) or limit."""
    ours_f, theirs_f = getattr(special, name), getattr(sc, name)
    bad = []
    for v, x in itertools.product(SPECIAL_V, SPECIAL_X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = float(theirs_f(v, x))
            ours = float(ours_f(v, x))
        if ours == theirs or (np.isnan(ours) and np.isnan(theirs)):
            continue
        if np.isfinite(theirs) and np.isfinite(ours) and np.isclose(ours, theirs, rtol=1e-13, atol=0):
            continue
        # We differ from SciPy: only allowed where SciPy is wrong.
        if np.isnan(v) or np.isnan(x):
            bad.append((name, v, x, ours, theirs, "nan input"))
            continue
        if np.isinf(v) or np.isinf(x) or x == 0:
            want = _limit(name, v, x)
        else:
            want = _true_value(name, v, x)
            assert not np.isclose(theirs, want, rtol=1e-13, atol=0), (name, v, x, theirs, want)
        if not (ours == want or (np.isnan(ours) and np.isnan(want))
                or np.isclose(ours, want, rtol=1e-14, atol=0)):
            bad.append((name, v, x, ours, theirs, want))
    assert not bad, "differences from SciPy where SciPy is right:\n" + "\n".join(map(str, bad))


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e", "k0", "k0e", "k1", "k1e"])
def test_fixed_order_functions_match_scipy(name):
    x = np.concatenate([[0.0, -0.0, np.nan, 1e-300, -1e-300],
                        np.geomspace(1e-6, 700, 200), -np.geomspace(1e-6, 700, 50)])
    with np.errstate(all="ignore"):
        theirs = getattr(sc, name)(x)
        ours = getattr(special, name)(x)
    np.testing.assert_allclose(ours, theirs, rtol=2e-14, atol=0, equal_nan=True)
    # infinite arguments: the limits (SciPy returns nan for some of them)
    order, kind = int(name[1]), name[0]
    scaled = name.endswith("e")
    for xi in (np.inf, -np.inf):
        general = ("i" if kind == "i" else "k") + "v" + ("e" if scaled else "")
        with np.errstate(all="ignore"):
            got = float(getattr(special, name)(xi))
        want = _limit(general, float(order), xi) if not (kind == "k" and xi < 0) else np.nan
        assert got == want or (np.isnan(got) and np.isnan(want)), (name, xi, got, want)


@pytest.mark.parametrize("name", ["iv", "ive", "kv", "kve"])
def test_agrees_with_scipy_where_scipy_is_accurate(name):
    # A moderate box where SciPy (AMOS/cephes) is accurate to ~1e-14; the real accuracy test is
    # against Arb (test_special_accuracy.py).
    rng = np.random.default_rng(3)
    v = rng.uniform(-20, 60, 4000)
    x = 10 ** rng.uniform(-2, 2.3, 4000)
    theirs = getattr(sc, name)(v, x)
    ours = getattr(special, name)(v, x)
    ok = np.isfinite(theirs) & (np.abs(theirs) > 1e-290) & (np.abs(theirs) < 1e290)
    # near zeros of I_{-v} (negative non-integer orders) both sides lose relative accuracy
    if name in ("iv", "ive"):
        with np.errstate(all="ignore"):
            scale = np.abs(sc.iv(np.abs(v), x)) + np.abs(sc.kv(np.abs(v), x))
        ok &= np.abs(sc.iv(v, x)) > 1e-8 * scale
    np.testing.assert_allclose(ours[ok], theirs[ok], rtol=1e-12, atol=0)


def test_where_scipy_fails_we_are_finite():
    # SciPy: ive(1000, 1) = 0 and kve(1000, 1) = inf; the true logs are finite.
    assert np.isclose(special.log_ive(1000.0, 1.0), -6606.28, rtol=0, atol=0.01)
    assert np.isclose(special.log_kve(1000.0, 1.0), 6598.67, rtol=0, atol=0.01)
    # ive/kve for x > 2**30: SciPy gives nan
    assert np.isclose(special.ive(0.0, 2.0**31), 1 / np.sqrt(2 * np.pi * 2.0**31), rtol=1e-9)
    assert np.isclose(special.kve(0.0, 2.0**31), np.sqrt(np.pi / (2 * 2.0**31)), rtol=1e-9)


# ------------------------------------------------------------------ GPU (cupy)

@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_matches_cpu(xp, dtype):
    rng = np.random.default_rng(4)
    v = (10 ** rng.uniform(-3, 5, 20_000)).astype(dtype)
    x = (10 ** rng.uniform(-8, 6, 20_000)).astype(dtype)
    for name in ALL:
        args = _args(name, v, x)
        cpu = getattr(special, name)(*args)
        gpu = getattr(fastspectral, name)(*[xp.asarray(a) for a in args])
        assert type(gpu).__module__.startswith(xp.__name__)
        assert gpu.dtype == cpu.dtype
        # Device exp/log differ from glibc by ulps, and the CPU log_iv/log_ive loops are batched
        # rewrites: compare on the accuracy metric of each family (logs: |d| / max(1, |ref|)).
        g = to_numpy(gpu).astype(np.float64)
        c = cpu.astype(np.float64)
        assert np.array_equal(np.isnan(g), np.isnan(c)), name
        assert np.array_equal(np.isinf(g), np.isinf(c)), name
        fin = np.isfinite(c)
        tol = 3e-14 if dtype == np.float64 else 1e-6
        scale = np.maximum(1.0, np.abs(c[fin])) if name.startswith("log_") else np.abs(c[fin])
        with np.errstate(invalid="ignore", divide="ignore"):
            err = np.abs(g[fin] - c[fin]) / scale
        assert np.all((err <= tol) | (g[fin] == c[fin])), (name, float(np.nanmax(err)))


@pytest.mark.gpu
def test_cupy_broadcasting_out_and_errors(xp):
    v = xp.asarray([[0.5], [2.0]])
    x = xp.asarray([1.0, 2.0, 3.0])
    out = xp.empty((2, 3))
    res = fastspectral.log_kv(v, x, out=out)
    assert res is out
    np.testing.assert_allclose(to_numpy(out), special.log_kv(to_numpy(v), to_numpy(x)), rtol=1e-14)
    if xp is not np:
        with pytest.raises(TypeError):
            fastspectral.log_kv(v, np.ones(3))
        with pytest.raises(ValueError):
            fastspectral.log_kv(v, x, out=xp.empty((3, 3)))


def test_build_info_reports_the_build():
    info = fastspectral.build_info()
    for key in ("cuda_compiled", "cuda_architectures", "cuda_device_count", "openmp",
                "omp_max_threads"):
        assert key in info
    assert info["omp_max_threads"] >= 1
    if info["cuda_compiled"]:
        assert info["cuda_architectures"] and all(a.isdigit() for a in info["cuda_architectures"])
    assert fastspectral.has_cuda() == (info["cuda_device_count"] > 0)
