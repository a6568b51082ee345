"""Regression tests for the special-function defects of audit5 (items 2, 9, 10, 11, 12).

References come from tests/tools/make_bessel_reference.py: the groups "negative" (negative
non-integer orders, x = 1e4 .. 1e300 / 3e38) and "nearzero" (log I_v(x) ~ 0) of
bessel_reference_{float64,float32}.npz (Arb), and bessel_huge_reference_*.npz (orders and
arguments near the largest float; mpmath Debye expansion, see the script).  The generic
|err|/max(1, |ref|) checks of test_special_accuracy.py also run on the new groups; the checks
here are the stricter relative ones the audit asked for.
"""
from __future__ import annotations

import functools
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

import fastspectral
from fastspectral import _core, special

DATA = Path(__file__).parent / "data"
EPS = {"float64": 2.0 ** -52, "float32": 2.0 ** -23}


@functools.lru_cache(maxsize=None)
def _load(name):
    with np.load(DATA / name) as z:
        return {k: z[k] for k in z.files}


def _group(dtype, group):
    d = _load("bessel_reference_%s.npz" % dtype)
    m = d["group"] == group
    assert m.sum() > 100, (dtype, group)  # the generator wrote these sets
    return {k: (d[k][m] if k not in ("info", "dropped") else d[k]) for k in d}


def _func(name):
    return getattr(special, name) if not name.startswith("_scalar_") else getattr(_core, name)


def _rel(got, ref):
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.abs(got - ref) / np.abs(ref)
    return np.where(np.isnan(e), np.inf, e)


def _worst(v, x, ref, got, err, k=5):
    o = np.argsort(-err)[:k]
    return "\n".join("  v=%r x=%r ref=%r got=%r rel=%.3g" % (float(v[i]), float(x[i]), float(ref[i]),
                                                              float(got[i]), err[i]) for i in o)


# ---------------------------------------------------------------------------- item 2
# ive/log_ive/log_iv_dx (and iv) for negative non-integer orders at large x: they subtracted x from
# an unscaled log (|x| eps absolute; ive(-0.5, 1e300) was 1.0, ive(-2.5, 1e15) 6% off).
# (iv itself overflows for all these x; test_special_accuracy checks that it is inf.)
NEG_FUNCS = {"log_ive": "logive", "_scalar_log_ive": "logive", "log_iv": "logiv",
             "_scalar_log_iv": "logiv", "ive": "ive", "log_iv_dx": "logiv_dx"}
# relative error: float64 ~ the family's accuracy elsewhere; float32: 2 ulp (computed in double)
NEG_TOL = {"float64": 1e-14, "float32": 2 * EPS["float32"]}


@pytest.mark.parametrize("fname", list(NEG_FUNCS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_negative_order_large_x_relative(dtype, fname):
    d = _group(dtype, "negative")
    v, x, ref = d["v"].astype(dtype), d["x"].astype(dtype), d[NEG_FUNCS[fname]]
    assert (d["v"] < 0).all() and d["x"].min() >= 1e4
    got = np.asarray(_func(fname)(v, x), dtype=np.float64)
    fi = np.finfo(dtype)
    rep = np.isfinite(ref) & (np.abs(ref) >= fi.tiny) & (np.abs(ref) <= fi.max)
    if fname == "ive":  # beyond the range the value must be exactly 0
        assert np.all(got[ref == 0] == 0)
    assert rep.sum() >= 50
    err = _rel(got[rep], ref[rep])
    assert err.max() <= NEG_TOL[dtype], "%s[%s]:\n%s" % (
        fname, dtype, _worst(v[rep], x[rep], ref[rep], got[rep], err))


def _ref_at(dtype, group, field, v, x):
    d = _group(dtype, group)
    v, x = float(np.asarray(v, dtype)), float(np.asarray(x, dtype))
    i = np.nonzero((d["v"] == v) & (d["x"] == x))[0]
    assert len(i) == 1, (group, v, x)
    return float(d[field][i[0]])


def test_negative_order_audit_repros():
    # the audit's own examples, against the stored Arb references
    assert special.ive(-0.5, 1e300) == pytest.approx(_ref_at("float64", "negative", "ive", -0.5, 1e300), rel=1e-14)
    assert special.log_ive(-2.5, 1e15) == pytest.approx(
        _ref_at("float64", "negative", "logive", -2.5, 1e15), rel=1e-14)
    with np.errstate(over="raise", invalid="raise"):  # no spurious overflow warning any more
        assert special.log_ive(-0.5, 1e300) == pytest.approx(
            _ref_at("float64", "negative", "logive", -0.5, 1e300), rel=1e-14)
    xs = [1e4, 1e7, 1e30]
    got = special.ive(np.float32(-0.5), np.float32(xs))
    assert got.dtype == np.float32
    want = [_ref_at("float32", "negative", "ive", -0.5, x) for x in xs]
    np.testing.assert_allclose(got, want, rtol=2 * EPS["float32"])
    assert special.log_iv_dx(-0.062412391266736075, 27966.116062444722) == pytest.approx(
        _ref_at("float64", "negative", "logiv_dx", -0.062412391266736075, 27966.116062444722), rel=1e-15)
    # signs: I_{-a} = I_a + (2/pi) sin(pi a) K_a is negative for small x when sin(pi a) < 0
    assert special.iv(-1.5, 0.1) < 0 and np.isnan(special.log_ive(-1.5, 0.1))
    assert special.ive(-1.5, 0.1) == pytest.approx(special.iv(-1.5, 0.1) * math.exp(-0.1), rel=1e-14)


# ---------------------------------------------------------------------------- item 10
# log_iv/log_ive near their zero (v ~ 0, small x): log(I_0(x)) of a rounded 1 + x^2/4 lost the
# relative accuracy (log_iv(0, 1e-5) was off by 8e-8).  The result is the sum
# v log(x/2) - lgamma(1+v) + log(sum); the bound is eps times that sum's condition number.
@pytest.mark.parametrize("fname", ["log_iv", "_scalar_log_iv", "log_ive", "_scalar_log_ive"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_near_zero_relative(dtype, fname):
    d = _group(dtype, "nearzero")
    scaled = "ive" in fname
    v, x = d["v"].astype(dtype), d["x"].astype(dtype)
    ref = d["logive" if scaled else "logiv"]
    got = np.asarray(_func(fname)(v, x), dtype=np.float64)
    vd, xd, lref = d["v"], d["x"], d["logiv"]
    lead = vd * np.log(xd / 2)
    lg = np.array([math.lgamma(1 + t) for t in vd])
    parts = np.abs(lead) + np.abs(lg) + np.abs(lref - lead + lg) + (xd if scaled else 0.0)
    cond = parts / np.abs(ref)
    # below the dtype's normal range (float32: log I_0(1e-30) = 2.5e-61) relative error is undefined
    ok = np.abs(ref) >= np.finfo(dtype).tiny
    assert np.all(np.abs(got[~ok]) <= np.finfo(dtype).tiny)
    err = _rel(got[ok], ref[ok])
    if dtype == "float64":
        tol = 8 * EPS[dtype] * np.maximum(cond[ok], 1.0)
    else:
        tol = np.full(ok.sum(), 2 * EPS[dtype])  # evaluated in double, rounded once
    bad = ~(err <= tol)
    assert not bad.any(), "%s[%s]:\n%s" % (fname, dtype, _worst(v[ok][bad], x[ok][bad], ref[ok][bad],
                                                                 got[ok][bad], err[bad]))
    # the grid must contain well-conditioned points that the old log(1 + tiny) got wrong
    assert (cond[ok] < 2).sum() > 40


def test_near_zero_audit_repros():
    for x in (1e-5, 1e-3):
        assert special.log_iv(0.0, x) == pytest.approx(_ref_at("float64", "nearzero", "logiv", 0.0, x), rel=1e-15)
    assert special.log_iv(1e-10, 1e-10) == pytest.approx(
        _ref_at("float64", "nearzero", "logiv", 1e-10, 1e-10), rel=1e-15)
    assert special.log_ive(0.0, 1e-8) == pytest.approx(
        _ref_at("float64", "nearzero", "logive", 0.0, 1e-8), rel=1e-15)


# ---------------------------------------------------------------------------- item 9
# orders/arguments near the largest float: v + sqrt(v^2 + x^2) overflowed, giving -inf or a wrong
# finite value (log_kv(1e308, 1e308) 35% off).  Now correct, or +-inf where the log itself overflows.
@pytest.mark.parametrize("fname", ["log_iv", "log_ive", "log_kv", "log_kve",
                                   "_scalar_log_iv", "_scalar_log_ive", "_scalar_log_kv", "_scalar_log_kve"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_huge_orders(dtype, fname):
    d = _load("bessel_huge_reference_%s.npz" % dtype)
    v, x = d["v"].astype(dtype), d["x"].astype(dtype)
    ref = d[fname.replace("_scalar_", "").replace("_", "")]
    got = np.asarray(_func(fname)(v, x), dtype=np.float64)
    fin = np.isfinite(ref)
    assert np.array_equal(got[~fin], ref[~fin]), (got[~fin], ref[~fin])
    assert fin.sum() >= 5
    err = _rel(got[fin], ref[fin])
    tol = 1e-14 if dtype == "float64" else 2 * EPS[dtype]
    assert err.max() <= tol, _worst(v[fin], x[fin], ref[fin], got[fin], err)


def test_huge_orders_ratios():
    # iv_ratio / log_iv_dx at huge orders: I_v/I_{v-1} -> x/(v + r) (relative O(1/r)); before,
    # v - 1 == v in float64 gave 1.0, and v + r overflowed to nan
    for v, x in [(1e308, 1e308), (1e308, 5e307), (5e307, 1e308), (1e300, 1e300), (1e20, 1e20),
                 (1e200, 1e160)]:
        r = math.hypot(v / 4, x / 4) * 4
        want = x / (v + r) if v + r < math.inf else (x / 4) / (v / 4 + r / 4)
        assert special.iv_ratio(v, x) == pytest.approx(want, rel=1e-15), (v, x)
        assert special.log_iv_dx(v, x) == pytest.approx(r / x, rel=1e-15), (v, x)
        assert special.iv_ratio(np.float32(3e38), np.float32(3e38)) == pytest.approx(math.sqrt(2) - 1, rel=1e-7)


# ---------------------------------------------------------------------------- item 11
def test_negative_order_at_zero_is_the_signed_limit():
    # I_{-a}(x) ~ (2/pi) sin(pi a) K_a(x) as x -> 0+: -inf for a = 1.5 (SciPy: +inf; ive nan)
    assert special.iv(-1.5, 0.0) == -np.inf
    assert special.ive(-1.5, 0.0) == -np.inf
    assert special.iv(-0.5, 0.0) == np.inf and special.ive(-2.5, 0.0) == np.inf
    assert special.iv(np.float32(-1.5), np.float32(0.0)) == -np.inf
    assert special.iv(-1.5, 1e-300) < 0  # the limit is approached from the same side
    doc = special.__doc__
    assert "iv(-1.5, 0) = -inf" in doc and "SciPy returns +inf" in doc
    assert "iv(-1.5, 0) = -inf" in special.iv.__doc__


# ---------------------------------------------------------------------------- item 12
@pytest.mark.parametrize("name", list(special.generic))
def test_top_level_generics_pickle(name):
    f = getattr(fastspectral, name)
    g = pickle.loads(pickle.dumps(f))
    assert g is f
    args = (2.5, 3.0) if getattr(special, name).nin == 2 else (3.0,)
    assert g(*args) == getattr(special, name)(*args)
