"""Accuracy of fastspectral.special against certified Arb references.

References: tests/data/bessel_reference_{float64,float32}.npz, made by
tests/tools/make_bessel_reference.py (every number certified to 1e-20 relative; float32 inputs
were rounded to float32 before the reference was computed, so they are exact for those inputs).

Tests are parametrized by dtype, function and point group, so a failure names the combination;
its message lists the worst 10 points (group/label, v, x, ref, got, err).

The ufuncs are evaluated in a forked child process: if the implementation aborts the process
(e.g. an uncaught C++ exception), the offending points are isolated and reported as CRASH
failures instead of killing the whole test session.
"""
from __future__ import annotations

import functools
import mmap
import os
from pathlib import Path

import numpy as np
import pytest

from fastspectral import _core, special

DATA = Path(__file__).parent / "data"
GROUPS = ["loguniform", "extreme", "turning", "orders", "sweeps", "boundaries", "vmf", "negative",
          "nearzero"]
DTYPES = ["float64", "float32"]

# ufunc name -> reference field
LOG_FUNCS = {"log_iv": "logiv", "log_ive": "logive", "log_kv": "logkv", "log_kve": "logkve",
             # the scalar per-element path (what the CUDA kernels run) of the functions whose
             # CPU ufunc loops are batched rewrites: both must meet the same bounds
             "_scalar_log_iv": "logiv", "_scalar_log_ive": "logive",
             "_scalar_log_kv": "logkv", "_scalar_log_kve": "logkve"}
RATIO_FUNCS = {"iv_ratio": "ivratio", "log_iv_dx": "logiv_dx", "log_kv_dx": "logkv_dx",
               # the scalar path of the two whose float64 loops batch the Debye region
               "_scalar_iv_ratio": "ivratio", "_scalar_log_iv_dx": "logiv_dx"}
VALUE_FUNCS = {"iv": ("iv", "logiv"), "ive": ("ive", "logive"), "kv": ("kv", "logkv"),
               "kve": ("kve", "logkve")}

EPS = {"float64": 2.0 ** -52, "float32": 2.0 ** -23}
# Log functions: |err| / max(1, |ref|).  float64: 1e-14 (~45 ulp of the result; the issue asks
# for machine precision on the log scale).  float32: 4 float32 ulp.
LOG_TOL = {"float64": 1e-14, "float32": 4 * 2.0 ** -23}
# iv_ratio, log_iv_dx, log_kv_dx: plain relative error.  float64: 1e-13 -- the issue asks for
# ~machine precision; these are ratios of two Bessel functions (or exp of a log difference), so
# we allow a few hundred ulp rather than a few.  float32: 4 float32 ulp.
RATIO_TOL = {"float64": 1e-13, "float32": 4 * 2.0 ** -23}
# Plain values iv/ive/kv/kve: relative error <= VALUE_EPS * eps wherever the reference is a normal
# number.  The values are formed directly (power series, Temme/Miller recurrences on unscaled
# values, Debye expansion with a double-double exponent; see bessel_values.hpp), not as exp(log).
# float64: measured max 18 ulp (kv near x = 1.5, the Temme series / Miller switch, and forward
# recurrences up to v ~ 21), p99 <= 4 ulp.  float32 (computed in double, rounded once): max 0.75 ulp.
VALUE_EPS = {"float64": 20, "float32": 1}
# Under/overflow limits on the log scale: below LOG_ZERO the correctly rounded value is exactly 0,
# above LOG_INF it is inf (float64: ln(DBL_MAX) = 709.7827; ln(min subnormal / 2) = -745.13).
LOG_ZERO = {"float64": -745.2, "float32": -104.0}
LOG_INF = {"float64": 709.79, "float32": 88.73}
TINY = {"float64": np.finfo(np.float64).tiny, "float32": float(np.finfo(np.float32).tiny)}
HUGE = {"float64": np.finfo(np.float64).max, "float32": float(np.finfo(np.float32).max)}


# ---------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=None)
def load(dtype):
    path = DATA / ("bessel_reference_%s.npz" % dtype)
    if not path.exists():
        pytest.fail("missing %s: run tests/tools/make_bessel_reference.py" % path)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


# ---------------------------------------------------------------------------- crash-isolated evaluation
_BLOCK = 512


def _evaluate_isolated(func, v, x):
    """func(v, x) as float64, plus a mask of points whose evaluation aborted the process.

    The child evaluates vectorized blocks; when a block kills it, the block is retried point by
    point, so exactly the crashing points are marked."""
    n = len(v)
    if not hasattr(os, "fork"):
        return np.asarray(func(v, x), dtype=np.float64), np.zeros(n, bool)
    buf = mmap.mmap(-1, 8 * n + 16)
    res = np.frombuffer(buf, dtype=np.float64, count=n)
    ctl = np.frombuffer(buf, dtype=np.int64, count=2, offset=8 * n)  # [next index, slow_until]
    res[:] = np.nan
    crashed = np.zeros(n, bool)
    start, ctl[1] = 0, 0
    while start < n:
        ctl[0] = start
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                import faulthandler
                faulthandler.disable()  # pytest enables it; a traceback per crash is noise here
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)  # C++ terminate() messages would flood the test log
                i, slow_until = start, int(ctl[1])
                while i < n:
                    j = i + 1 if i < slow_until else min(n, i + _BLOCK)
                    res[i:j] = func(v[i:j], x[i:j])
                    i = j
                    ctl[0] = i
            except BaseException:
                code = 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            break
        i = int(ctl[0])
        if i < int(ctl[1]):  # died on a single point
            crashed[i] = True
            res[i] = np.nan
            start = i + 1
        else:  # died inside a block: redo it point by point
            ctl[1] = min(n, i + _BLOCK)
            start = i
    out = res.copy()
    del res, ctl  # the mmap is released once no array views it
    return out, crashed


@functools.lru_cache(maxsize=None)
def evaluate(fname, dtype):
    d = load(dtype)
    dt = np.dtype(dtype)
    v = d["v"].astype(dt)
    x = d["x"].astype(dt)
    assert np.array_equal(v.astype(np.float64), d["v"]) and np.array_equal(x.astype(np.float64), d["x"])
    func = getattr(special, fname) if not fname.startswith("_scalar_") else getattr(_core, fname)
    got, crashed = _evaluate_isolated(lambda a, b: func(a, b), v, x)
    return got, crashed


# ---------------------------------------------------------------------------- reporting
def _report(title, d, idx, ref, got, err, crashed, k=10):
    """Message with the worst k failing points, then up to 5 points that crashed the process."""
    def line(i):
        g = "%s/%s" % (d["group"][i], d["label"][i])
        gs = "CRASH" if crashed[i] else repr(float(got[i]))
        return ("  %-34s %-24r %-24r %-24r %-24s %.3g"
                % (g, float(d["v"][i]), float(d["x"][i]), float(ref[i]), gs, err[i]))

    lines = [title, "  %-34s %-24s %-24s %-24s %-24s %s" % ("group/label", "v", "x", "ref", "got", "err")]
    num = idx[~crashed[idx]]
    key = np.where(np.isnan(err[num]), np.inf, err[num])  # non-finite results rank as worst
    lines += [line(i) for i in num[np.argsort(-key, kind="stable")[:k]]]
    cr = idx[crashed[idx]]
    if len(cr):
        lines.append("  ... and %d points that aborted the process, e.g.:" % len(cr))
        lines += [line(i) for i in cr[:: max(1, len(cr) // 5)][:5]]
    return "\n".join(lines)


def _check(title, d, sel, ref, got, err, bad, crashed):
    """Fail with a report if any selected point is bad."""
    idx = np.nonzero(sel & bad)[0]
    if len(idx):
        n = int(sel.sum())
        msg = _report("%s: %d of %d points fail (%d crashed, %d non-finite where reference finite)"
                      % (title, len(idx), n, int((sel & crashed).sum()),
                         int((sel & ~crashed & ~np.isfinite(got) & np.isfinite(ref)).sum())),
                      d, idx, ref, got, err, crashed)
        pytest.fail(msg, pytrace=False)


def _group_mask(d, group):
    m = d["group"] == group
    if not m.any():
        pytest.skip("no points in group %s" % group)
    return m


# ---------------------------------------------------------------------------- tests
def test_reference_files_sane():
    for dtype in DTYPES:
        d = load(dtype)
        assert str(d["info"]).startswith("script_version="), d["info"]
        present = set(np.unique(d["group"]))
        assert present == set(GROUPS), present
        for f in list(LOG_FUNCS.values()) + list(RATIO_FUNCS.values()):
            assert len(d[f]) == len(d["v"])
        # The references themselves: a log reference is finite for every stored point unless it
        # was dropped as uncertifiable (listed in d["dropped"]).
        nlog = sum(int(np.isnan(d[f]).sum()) for f in LOG_FUNCS.values())
        assert nlog <= len(d["dropped"]), (nlog, len(d["dropped"]))


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("fname", list(LOG_FUNCS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_log_functions(dtype, fname, group):
    d = load(dtype)
    sel = _group_mask(d, group)
    ref = d[LOG_FUNCS[fname]]
    got, crashed = evaluate(fname, dtype)
    sel = sel & np.isfinite(ref)
    with np.errstate(invalid="ignore"):
        err = np.abs(got - ref) / np.maximum(1.0, np.abs(ref))
    err = np.where(np.isfinite(got), err, np.inf)
    tol = LOG_TOL[dtype]
    bad = crashed | ~np.isfinite(got) | ~(err <= tol)
    _check("%s[%s] group=%s: |err|/max(1,|ref|) <= %.3g" % (fname, dtype, group, tol),
           d, sel, ref, got, err, bad, crashed)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("fname", list(RATIO_FUNCS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_ratio_and_log_derivatives(dtype, fname, group):
    d = load(dtype)
    sel = _group_mask(d, group)
    ref = d[RATIO_FUNCS[fname]]
    got, crashed = evaluate(fname, dtype)
    tol = RATIO_TOL[dtype]
    huge, tiny = HUGE[dtype], TINY[dtype]
    if fname == "iv_ratio":
        # Defined for v >= 0.5 only (SciPy's _iv_ratio); nan below.
        undef = sel & (d["v"] < 0.5)
        bad_undef = undef & (crashed | ~np.isnan(got))
        if bad_undef.any():
            _check("%s[%s] group=%s: nan expected for v < 0.5" % (fname, dtype, group),
                   d, undef, ref, got, np.zeros_like(got), bad_undef, crashed)
        sel = sel & (d["v"] >= 0.5)
    sel = sel & ~np.isnan(ref)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        err = np.abs(got - ref) / np.abs(ref)
        signed_inf = np.sign(ref) * np.inf
    # Reference beyond the dtype's range (e.g. v/x with x subnormal): the result must overflow to
    # an infinity of the right sign.  References below the normal range are compared only for
    # being finite (their relative precision is not defined by the format).
    over = np.abs(ref) > huge
    under = np.abs(ref) < tiny
    err = np.where(over, np.where(got == signed_inf, 0.0, np.inf), err)
    err = np.where(under & ~over, np.where(np.isfinite(got), 0.0, np.inf), err)
    err = np.where(np.isfinite(got) | over, err, np.inf)
    bad = crashed | ~(err <= tol)
    _check("%s[%s] group=%s: relative error <= %.3g" % (fname, dtype, group, tol),
           d, sel, ref, got, err, bad, crashed)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("fname", list(VALUE_FUNCS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_values(dtype, fname, group):
    d = load(dtype)
    sel = _group_mask(d, group)
    vfield, lfield = VALUE_FUNCS[fname]
    ref = d[vfield]
    logref = d[lfield]
    got, crashed = evaluate(fname, dtype)
    sel = sel & np.isfinite(logref)
    eps = EPS[dtype]
    # Representable: a normal number of the dtype.  Between LOG_ZERO and the normal range
    # (subnormal results) and within rounding of the overflow edge nothing is asserted.
    rep = (np.abs(ref) >= TINY[dtype]) & (np.abs(ref) <= HUGE[dtype])
    zero = logref < LOG_ZERO[dtype]
    inf = logref > LOG_INF[dtype]
    tolv = VALUE_EPS[dtype] * eps
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        rel = np.abs(got - ref) / np.abs(ref)
    err = np.full(len(ref), np.nan)  # reported: multiples of the allowed tolerance
    err = np.where(rep, rel / tolv, err)
    err = np.where(zero, np.where(got == 0.0, 0.0, np.inf), err)
    err = np.where(inf, np.where(got == np.inf, 0.0, np.inf), err)
    checked = sel & (rep | zero | inf)
    bad = crashed | ~(err <= 1.0)
    _check("%s[%s] group=%s: rel err <= %d eps (err shown in units of that tolerance); exact 0 "
           "below log %g and inf above log %g"
           % (fname, dtype, group, VALUE_EPS[dtype], LOG_ZERO[dtype], LOG_INF[dtype]),
           d, checked, ref, got, err, bad, crashed)
