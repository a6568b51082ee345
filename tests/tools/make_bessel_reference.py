#!/usr/bin/env python3
"""Arbitrary-precision reference tables for the log-Bessel family (python-flint / Arb).

Writes tests/data/bessel_reference_float64.npz and tests/data/bessel_reference_float32.npz.
Each file holds, per point (v, x):

  logiv, logive, logkv, logkve       log I_v(x), log I_v(x) - x, log K_v(x), log K_v(x) + x
  ivratio                            I_v(x) / I_{v-1}(x)           (nan where v < 0.5)
  logiv_dx, logkv_dx                 d/dx log I_v(x), d/dx log K_v(x)
  iv, ive, kv, kve                   the plain values, correctly rounded to float64
                                     (0 / inf where the true value under/overflows float64)
  group, label                       point-set name and a finer description (threshold name...);
                                     groups "negative" (negative orders, large x) and "nearzero"
                                     (log I_v(x) ~ 0) were added in script version 2 after the
                                     existing sets, so the earlier points are unchanged
  prec_i, prec_k                     bits of working precision Arb needed for the I / K family

Every stored number comes from an Arb ball whose radius is below 1e-20 relative to its
midpoint (for logs: or below 1e-40 absolute, so that logs passing through 0 can be certified;
not in the group "nearzero", whose tiny logs are compared in relative terms);
precision is raised until that holds. A quantity that cannot be certified within MAX_PREC bits
or MAX_SECONDS is stored as nan and counted as dropped (reported at the end and in the file).

The float32 file uses inputs rounded to float32 *before* the reference is computed, so the
reference is exact for the inputs the float32 ufunc loops actually see.

Usage:  python tests/tools/make_bessel_reference.py [--smoke] [--procs 2] [--scale 1.0]
"""
from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import time

import numpy as np

SCRIPT_VERSION = "2"
REL_TOL = 1e-20
ABS_TOL_LOG = 1e-40
START_PREC = 128
MAX_PREC = 1 << 17
MAX_SECONDS = 60.0  # per point and family; only pathological points come near this
SEED = 20240914

FLOAT64_MAX_LOG = 709.782712893384   # log(DBL_MAX)
FLOAT64_MIN_LOG = -745.2             # below this exp() is 0 in float64 (half the smallest subnormal ~ -745.13)

# ---------------------------------------------------------------------------- region switches
# Places where a log-Bessel implementation typically changes algorithm. Points are put densely on
# both sides of each. Extend these lists when the implementations report their own thresholds.
# Sources: Plesner et al. 2024 region map (see /work/shared/papers.md section 1) and the
# v^2 = c x fixes measured there.
THRESHOLDS_V = [
    ("v=0.3", 0.3), ("v=0.46", 0.46), ("v=0.5", 0.5), ("v=0.6", 0.6), ("v=0.7", 0.7),
    ("v=3.05", 3.05), ("v=3.1", 3.1), ("v=12.70", 12.70), ("v=15.39", 15.39), ("v=20.15", 20.15),
    ("v=50", 50.0), ("v=57.0", 57.0), ("v=163.7", 163.7),
]
THRESHOLDS_X = [
    ("x=2", 2.0), ("x=19.69", 19.69), ("x=30", 30.0), ("x=35.9", 35.9), ("x=59.69", 59.69),
    ("x=84.4", 84.4), ("x=274.2", 274.2), ("x=1400", 1400.0),
]
# Curves v = f(x) (callables on numpy arrays), sampled over x in CURVE_X_RANGE.
THRESHOLD_CURVES = [
    ("ln v=0.6229 ln x-3.2318", lambda x: np.exp(0.6229 * np.log(x) - 3.2318)),
    ("ln v=0.5113 ln x+0.7939", lambda x: np.exp(0.5113 * np.log(x) + 0.7939)),
    ("v^2=2x", lambda x: np.sqrt(2.0 * x)),
    ("v^2=0.002x", lambda x: np.sqrt(0.002 * x)),
    ("x=v", lambda x: x.copy()),
]
CURVE_X_RANGE = (1e-1, 1e8)
# Relative offsets applied to the threshold (to the v of a curve) to sit on both sides of it.
BOUNDARY_OFFSETS = [-1e-3, -1e-7, -1e-13, 0.0, 1e-13, 1e-7, 1e-3]

SWEEP_V = [0.0, 1e-3, 0.01, 0.1, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.7, 15.4, 20.0,
           30.0, 57.0, 100.0, 164.0, 245.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 0.25]
SWEEP_X = [1e-6, 1e-3, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 19.7, 30.0, 59.7, 100.0, 274.2,
           1e3, 1400.0, 1e4, 1e5, 1e6, 1e7]

EXTREME_V = [0.0, 1e-10, 0.5, 1.0, 2.5, 10.0, 100.0, 1e3, 1e4, 1e5]
EXTREME_X64 = [5e-324, 1e-310, 1e-300, 1e-200, 1e-100, 1e-50, 1e-20, 1e-10, 1e-5, 1e-3, 0.1, 1.0,
               10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e8, 2.0 ** 30 + 1, 1e10, 1e15, 1e20, 1e50, 1e100,
               1e200, 1e300]
EXTREME_X32 = [1.401298464324817e-45, 1e-40, 1e-38, 1e-30, 1e-20, 1e-10, 1e-5, 1e-3, 0.1, 1.0,
               10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e8, 1e10, 1e15, 1e20, 1e30, 3e38]

VMF_P = [3, 64, 512, 2048, 8192, 32768, 65536]

# Negative non-integer orders at large x (audit5 item 2: ive/log_ive/log_iv_dx lost x*eps there).
# Only x >= 1e4 with |v| <= 120, where I_{-a} = I_a + (2/pi) sin(pi a) K_a is positive (K_a/I_a ~
# e^{-2x}), so that every log is defined.
NEG_V = [-1e-3, -0.062412391266736075, -0.3, -0.5, -0.7, -1.5, -2.5, -3.3, -7.25, -20.5, -55.5,
         -119.9]
NEG_X64 = [1e4, 27966.116062444722, 1e5, 1e6, 2.0 ** 31, 1e7, 1e10, 1e15, 1e20, 1e30, 1e50,
           1e100, 1e200, 1e300]
NEG_X32 = [1e4, 27966.116, 1e5, 1e6, 2.0 ** 31, 1e7, 1e10, 1e15, 1e20, 1e30, 1e36, 3e38]
# Near the zero of log I_v(x) at v ~ 0, small x (audit5 item 10: relative accuracy of log_iv).
NEARZERO_V = [0.0, 1e-300, 1e-20, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 0.01, 0.1, 0.3, 0.49]
NEARZERO_X = [1e-30, 1e-12, 1e-10, 1e-8, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.3]


# ---------------------------------------------------------------------------- point sets
def loguniform(rng, lo, hi, n):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def point_sets(dtype, scale, rng):
    """Return a list of (group, label, v array, x array). `scale` multiplies point counts."""
    def n(k):
        return max(2, int(round(k * scale)))

    sets = []
    m = n(5000)
    sets.append(("loguniform", "", loguniform(rng, 1e-3, 1e5, m), loguniform(rng, 1e-8, 1e6, m)))

    ex = EXTREME_X64 if dtype == np.float64 else EXTREME_X32
    vv, xx = np.meshgrid(np.array(EXTREME_V), np.array(ex), indexing="ij")
    sets.append(("extreme", "", vv.ravel(), xx.ravel()))

    m = n(3000)
    v = loguniform(rng, 1.0, 1e5, m)
    k = m // 2
    mag = 10.0 ** rng.uniform(-14, np.log10(0.2), m - k)
    delta = np.concatenate([rng.uniform(-0.2, 0.2, k), rng.choice([-1.0, 1.0], m - k) * mag])
    sets.append(("turning", "", v, v * (1.0 + delta)))

    orders = [0.0, 1e-12, 1e-6] + [float(i) for i in range(1, 51)] + [i + 0.5 for i in range(0, 50)]
    nx = n(20)
    vs, xs = [], []
    for o in orders:
        vs.append(np.full(nx, o))
        xs.append(loguniform(rng, 1e-6, 1e4, nx))
    sets.append(("orders", "", np.concatenate(vs), np.concatenate(xs)))

    nx = n(150)
    for v0 in SWEEP_V:
        xg = np.geomspace(1e-3, 1e5, nx)
        sets.append(("sweeps", "v=%g" % v0, np.full(nx, v0), xg))
    for x0 in SWEEP_X:
        vg = np.concatenate([[0.0], np.geomspace(1e-3, 1e5, nx - 1)])
        sets.append(("sweeps", "x=%g" % x0, vg, np.full(nx, x0)))

    nb = n(25)
    for name, t in THRESHOLDS_V:
        xg = np.geomspace(1e-3, 1e6, nb)
        for off in BOUNDARY_OFFSETS:
            sets.append(("boundaries", name, np.full(nb, t * (1 + off)), xg))
    for name, t in THRESHOLDS_X:
        vg = np.geomspace(1e-3, 1e5, nb)
        for off in BOUNDARY_OFFSETS:
            sets.append(("boundaries", name, vg, np.full(nb, t * (1 + off))))
    for name, f in THRESHOLD_CURVES:
        xg = np.geomspace(*CURVE_X_RANGE, nb)
        vc = f(xg)
        keep = (vc >= 1e-3) & (vc <= 2e5)
        for off in BOUNDARY_OFFSETS:
            sets.append(("boundaries", name, vc[keep] * (1 + off), xg[keep]))

    nx = n(150)
    for p in VMF_P:
        for v0, nm in ((p / 2 - 1, "p/2-1"), (p / 2, "p/2")):
            sets.append(("vmf", "p=%d %s" % (p, nm), np.full(nx, float(v0)), np.geomspace(1e-6, 1e8, nx)))

    neg_x = NEG_X64 if dtype == np.float64 else NEG_X32
    vv, xx = np.meshgrid(np.array(NEG_V), np.array(neg_x), indexing="ij")
    sets.append(("negative", "", vv.ravel(), xx.ravel()))
    vv, xx = np.meshgrid(np.array(NEARZERO_V), np.array(NEARZERO_X), indexing="ij")
    sets.append(("nearzero", "", vv.ravel(), xx.ravel()))

    out = []
    for g, lab, v, x in sets:
        v = np.asarray(v, dtype=np.float64).astype(dtype)
        x = np.asarray(x, dtype=np.float64).astype(dtype)
        # float32 rounding may turn tiny/huge x into 0/inf: those are special values, not references.
        ok = np.isfinite(v) & np.isfinite(x) & (x > 0) & ((v >= 0) | (g == "negative"))
        pts = np.unique(np.stack([v[ok].astype(np.float64), x[ok].astype(np.float64)]), axis=1)
        out.append((g, lab, pts[0], pts[1]))
    return out


# ---------------------------------------------------------------------------- Arb evaluation
def _to_float(a):
    """Nearest float64 to the ball midpoint (inf/0 outside the range, handled by Python)."""
    return float(a.mid().str(32, radius=False))


def _certified(a, is_log, strict=False):
    """strict: relative certification also for logs (group "nearzero", where the logs are tiny
    and are compared in relative terms)."""
    from flint import arb
    if not a.is_finite():
        return False
    r = a.rad()
    m = abs(a.mid())
    return r <= arb(REL_TOL) * m or (is_log and not strict and r <= arb(ABS_TOL_LOG))


def _family(v, x, kind, strict=False):
    """All quantities of the I (kind 'i') or K (kind 'k') family at one point.

    Returns (dict name -> arb or None, precision used)."""
    from flint import arb, ctx
    need = (["logive", "logiv", "logiv_dx"] + (["ivratio"] if v >= 0.5 else [])) if kind == "i" \
        else ["logkve", "logkv", "logkv_dx"]
    got = {}
    prec = START_PREC
    t0 = time.time()
    while True:
        ctx.prec = prec
        X = arb(x)  # exact: doubles are dyadic
        V = arb(v)
        todo = [q for q in need if q not in got]
        if kind == "i":
            b0 = X.bessel_i(V, scaled=True)  # e^{-x} I_v(x): keeps huge-x cases at modest exponents
            cand = {}
            l0 = b0.log()
            cand["logive"] = l0
            cand["logiv"] = l0 + X
            if "logiv_dx" in todo:
                b1 = X.bessel_i(V + 1, scaled=True)
                cand["logiv_dx"] = b1 / b0 + V / X
            if "ivratio" in todo:
                bm = X.bessel_i(V - 1, scaled=True)
                cand["ivratio"] = b0 / bm
        else:
            b0 = X.bessel_k(V, scaled=True)  # e^{x} K_v(x)
            cand = {}
            l0 = b0.log()
            cand["logkve"] = l0
            cand["logkv"] = l0 - X
            if "logkv_dx" in todo:
                b1 = X.bessel_k(V + 1, scaled=True)
                cand["logkv_dx"] = V / X - b1 / b0
        for q in todo:
            if _certified(cand[q], q.startswith("log") and not q.endswith("_dx"), strict):
                got[q] = cand[q]
        if all(q in got for q in need):
            return got, prec
        if prec >= MAX_PREC or time.time() - t0 > MAX_SECONDS:
            return got, prec
        prec *= 4


def _value(logball):
    """Correctly rounded exp(log) for float64, 0 / inf outside the float64 range."""
    from flint import ctx
    m = float(logball.mid().str(20, radius=False))
    if m > FLOAT64_MAX_LOG + 1:
        return math.inf
    if m < FLOAT64_MIN_LOG - 1:
        return 0.0
    ctx.prec = max(ctx.prec, 128)
    return _to_float(logball.exp())


FIELDS = ["logiv", "logive", "logkv", "logkve", "ivratio", "logiv_dx", "logkv_dx", "iv", "ive", "kv", "kve"]


def evaluate(args):
    v, x, strict = args
    res = dict.fromkeys(FIELDS, math.nan)
    gi, pi = _family(v, x, "i", strict)
    gk, pk = _family(v, x, "k", strict)
    for q, a in list(gi.items()) + list(gk.items()):
        res[q] = _to_float(a)
    for vname, lname in (("iv", "logiv"), ("ive", "logive"), ("kv", "logkv"), ("kve", "logkve")):
        src = gi if lname in gi else gk
        if lname in src:
            res[vname] = _value(src[lname])
    dropped = [q for q in (["logive", "logiv", "logiv_dx"] + (["ivratio"] if v >= 0.5 else []))
               if q not in gi] + [q for q in ["logkve", "logkv", "logkv_dx"] if q not in gk]
    return res, pi, pk, dropped


def run(dtype, scale, procs, rng, out_path):
    sets = point_sets(dtype, scale, rng)
    groups, labels, vs, xs = [], [], [], []
    for g, lab, v, x in sets:
        groups += [g] * len(v)
        labels += [lab] * len(v)
        vs.append(v)
        xs.append(x)
    v = np.concatenate(vs)
    x = np.concatenate(xs)
    npts = len(v)
    tname = np.dtype(dtype).name
    print("[%s] %d points" % (tname, npts), flush=True)
    # Interleave expensive points (large v) across the pool by a fixed shuffle; results are put
    # back in order.
    order = np.random.default_rng(1).permutation(npts)
    data = {f: np.full(npts, np.nan) for f in FIELDS}
    prec_i = np.zeros(npts, np.int32)
    prec_k = np.zeros(npts, np.int32)
    dropped = []
    t0 = time.time()
    work = [(float(v[i]), float(x[i]), groups[i] == "nearzero") for i in order]
    with mp.Pool(procs) as pool:
        for done, (res, pi, pk, dr) in enumerate(pool.imap(evaluate, work, chunksize=16), 1):
            i = order[done - 1]
            for f in FIELDS:
                data[f][i] = res[f]
            prec_i[i], prec_k[i] = pi, pk
            for q in dr:
                dropped.append((groups[i], labels[i], v[i], x[i], q))
            if done % 1000 == 0 or done == npts:
                print("[%s] %d/%d  %.0fs  dropped quantities so far: %d"
                      % (tname, done, npts, time.time() - t0, len(dropped)), flush=True)
    elapsed = time.time() - t0
    counts = {g: groups.count(g) for g in dict.fromkeys(groups)}
    print("[%s] done in %.0fs; per group: %s" % (tname, elapsed, counts), flush=True)
    print("[%s] dropped (uncertifiable) quantities: %d" % (tname, len(dropped)), flush=True)
    for d in dropped[:20]:
        print("    dropped %s/%s v=%r x=%r %s" % d)
    import flint
    info = ("script_version=%s python-flint=%s rel_tol=%g abs_tol_log=%g start_prec=%d max_prec=%d "
            "max_seconds=%g seed=%d scale=%g dtype=%s elapsed_s=%.0f dropped=%d max_prec_used=%d"
            % (SCRIPT_VERSION, flint.__version__, REL_TOL, ABS_TOL_LOG, START_PREC, MAX_PREC,
               MAX_SECONDS, SEED, scale, tname, elapsed, len(dropped),
               int(max(prec_i.max(), prec_k.max()))))
    np.savez_compressed(
        out_path, v=v, x=x, group=np.array(groups), label=np.array(labels),
        prec_i=prec_i, prec_k=prec_k, info=np.array(info),
        dropped=np.array(["%s/%s v=%r x=%r %s" % d for d in dropped], dtype=str),
        **data)
    print("[%s] wrote %s (%.2f MB)" % (tname, out_path, os.path.getsize(out_path) / 1e6), flush=True)
    return elapsed


# ---------------------------------------------------------------------------- huge orders / arguments
# audit5 item 9: v or x near DBL_MAX (v + sqrt(v^2 + x^2) overflows in float64).  Arb does not
# evaluate these (nan balls), so the reference is the Debye expansion in mpmath at 60 digits:
#   log I_v(x) = E - log(2 pi r)/2 + log(1 + c1),  c1 = (3 - 5 p^2) / (24 r),
#   log K_v(x) = -E + log(pi/(2r))/2 + log(1 - c1),  r = hypot(v, x), p = v/r,
#   E = r - v log((v+r)/x), and for the scaled logs E - x = v^2/(r + x) - v log((v+r)/x) (formed
#   without the cancellation of r - x, which 60 digits cannot resolve at x ~ 1e308);
# the next terms are O(1/r^2) < 1e-600 relative here.  Values beyond the dtype's range are +-inf.
HUGE64 = [(1e308, 1e308), (1e308, 5e307), (5e307, 1e308), (1.7976931348623157e308, 1.7976931348623157e308),
          (1.7e308, 1.0), (1.2e307, 1.2e307), (2e307, 3e307), (0.5, 1.5e308), (1e5, 1.7e308),
          (1.7976931348623157e308, 1e308), (1e308, 6.6e307), (1e308, 1e300), (3e307, 1e-300)]
HUGE32 = [(3e38, 3e38), (1e38, 2e38), (3.4e38, 1.0), (1.0, 3.4e38), (2e38, 1e30), (3.4e38, 2.25e38),
          (3e37, 3e37)]


def huge_reference(dtype, out_path):
    import mpmath as mpm
    mpm.mp.dps = 60
    pts = HUGE64 if dtype == np.float64 else HUGE32
    v = np.array([p[0] for p in pts], dtype=dtype).astype(np.float64)
    x = np.array([p[1] for p in pts], dtype=dtype).astype(np.float64)
    big = float(np.finfo(dtype).max)
    res = {f: np.empty(len(v)) for f in ("logiv", "logive", "logkv", "logkve")}

    def fl(a):
        return float(a) if abs(a) <= big else math.copysign(math.inf, float(a))

    for i in range(len(v)):
        V, X = mpm.mpf(v[i]), mpm.mpf(x[i])
        r = mpm.sqrt(V * V + X * X)
        p = V / r
        c1 = (3 - 5 * p * p) / (24 * r)
        lr = V * mpm.log((V + r) / X)
        pi_ = -mpm.log(2 * mpm.pi * r) / 2 + mpm.log1p(c1)
        pk = mpm.log(mpm.pi / (2 * r)) / 2 + mpm.log1p(-c1)
        es = V * V / (r + X) - lr  # E - x
        res["logiv"][i], res["logive"][i] = fl(r - lr + pi_), fl(es + pi_)
        res["logkv"][i], res["logkve"][i] = fl(-(r - lr) + pk), fl(-es + pk)
    info = "script_version=%s mpmath=%s dps=60 Debye leading term + first correction" % (
        SCRIPT_VERSION, mpm.__version__)
    np.savez_compressed(out_path, v=v, x=x, info=np.array(info), **res)
    print("wrote %s (%d points)" % (out_path, len(v)), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies float64 point counts")
    ap.add_argument("--scale32", type=float, default=0.35, help="multiplies float32 point counts")
    ap.add_argument("--smoke", action="store_true", help="tiny run into a temporary directory")
    ap.add_argument("--outdir", default=os.path.join(os.path.dirname(__file__), "..", "data"))
    ap.add_argument("--only", choices=["float64", "float32", "huge"], default=None)
    a = ap.parse_args()
    procs = max(1, min(2, a.procs))  # the machine is shared
    if a.smoke:
        a.scale, a.scale32 = 0.02, 0.02
        a.outdir = "/tmp/bessel_ref_smoke"
    os.makedirs(a.outdir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    t = 0.0
    if a.only in (None, "float64"):
        t += run(np.float64, a.scale, procs, rng, os.path.join(a.outdir, "bessel_reference_float64.npz"))
    rng = np.random.default_rng(SEED + 32)
    if a.only in (None, "float32"):
        t += run(np.float32, a.scale32, procs, rng, os.path.join(a.outdir, "bessel_reference_float32.npz"))
    for dt in (np.float64, np.float32):
        if a.only in (None, "huge"):
            huge_reference(dt, os.path.join(a.outdir, "bessel_huge_reference_%s.npz" % np.dtype(dt).name))
    print("total generation time %.0fs" % t)


if __name__ == "__main__":
    sys.exit(main())
