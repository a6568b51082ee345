#!/usr/bin/env python3
"""Arbitrary-precision reference for x-derivatives of the Bessel family (python-flint / Arb).

Writes tests/data/bessel_grad_reference.npz, used by tests/test_torch_bessel_accuracy.py to check
the autograd derivatives of fastspectral.torch.  Per point (v, x), both float64-exact (x > 0):

  d1_iv, d1_ive, d1_kv, d1_kve   d/dx of I_v(x), I_v(x) e^{-x}, K_v(x), K_v(x) e^{x}, correctly
                                 rounded to float64 (0 / inf where the true value under/overflows)
  d1_logiv, d1_logkv             d/dx log|I_v(x)|, d/dx log K_v(x)
  d1_logive, d1_logkve           d/dx log(I_v e^{-x}) = d1_logiv - 1,
                                 d/dx log(K_v e^x) = d1_logkv + 1
                                 (the cancellation near x -> inf is resolved in Arb)
  d2_logiv, d2_logkv             d^2/dx^2 log|I_v(x)|, d^2/dx^2 log K_v(x)
                                 (the same for log_ive / log_kve)
  ivratio, d1_ivratio            A = I_v/I_{v-1} and dA/dx  (nan where v < 0.5)
  cond_*                         condition number sum|terms| / |result| of the formula the torch
                                 backward uses for that quantity (see below), to 2-3 digits; the
                                 test scales tolerances of cancelling formulas by it
  osens_{iv,ive,kv,kve}_{m,p}    sensitivity of iv', ive', kv', kve' to rounding the orders v -+ 1
                                 (the backward evaluates I/K at fl(v - 1), fl(v + 1)): relative
                                 change of q' per unit absolute change of the order of the v-1 (m)
                                 or v+1 (p) term; large at tiny x (~ log(2/x)) and near negative
                                 integer orders (~ pi cot(pi v))
  group                          regime: ordinary, ordinary_f32 (v, x exact in float32), small_x,
                                 large_x, large_order, negative, halfint, v0v1, vmf (small_x
                                 also holds points x ~ 1e-154..1e-151 where (v/x)^2 overflows
                                 float64 but d2 log I_v ~ -v/x^2 does not)
  prec                           bits of working precision Arb needed

vmf points (group "vmf", p = 2 v exact): v = p/2, x = kappa, so ivratio is the mean resultant length
A_p(kappa) = I_{p/2}/I_{p/2-1}, d/dkappa log C_p(kappa) = -A_p(kappa) (stored as vmf_dlogc, computed
from its definition (p/2-1)/kappa - I'_{p/2-1}/I_{p/2-1}, not from A_p) and d1_ivratio =
dA_p/dkappa.

The derivatives are formed from the recurrences I_v' = (I_{v-1} + I_{v+1})/2,
K_v' = -(K_{v-1} + K_{v+1})/2 and their second forms I_v'' = (I_{v-2} + 2 I_v + I_{v+2})/4,
K_v'' = (K_{v-2} + 2 K_v + K_{v+2})/4 (quotient rule for ratios, I''/I - (I'/I)^2 for log second
derivatives), deliberately NOT from the Bessel-ODE / Riccati identities the torch backward uses, so
that the reference does not share a formula with the code it checks.  The cond_* columns are
computed for those identities instead:
  cond_iv  = (|I_{v-1}| + |I_{v+1}|) / |I_{v-1} + I_{v+1}|        (> 1 only for negative orders)
  cond_ive = ((|I_{v-1}| + |I_{v+1}|)/2 + |I_v|) / |(I_{v-1} + I_{v+1})/2 - I_v|  (~4x, x >> v^2)
  cond_kve = (K_v + (K_{v-1} + K_{v+1})/2) / |K_v - (K_{v-1} + K_{v+1})/2|  (~4x, x >> v^2)
  cond_logive = (|r| + 1) / |r - 1|,  cond_logkve = (|s| + 1) / |s + 1|   (r = I'/I, s = K'/K)
  cond_d2iv = (1 + v^2/x^2 + |r|/x + r^2) / |d2_logiv|,  cond_d2kv likewise with s
  cond_ivratio = (1 + |2v-1| |A|/x + A^2) / |A'|

Every stored number comes from an Arb ball whose radius is below 1e-20 relative to its midpoint, or
whose whole ball rounds to 0 in float64 (|value| < 2^-1075, e.g. dA/dx = sech^2 x at v = 1/2, large
x); precision is raised until that holds.  A quantity not certified within MAX_PREC bits or
MAX_SECONDS is stored as nan and counted as dropped (printed, and listed in the file).

Usage:  python tests/tools/make_bessel_grad_reference.py [--smoke] [--procs 2]
"""
from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import time

import numpy as np

SCRIPT_VERSION = "1"
REL_TOL = 1e-20
START_PREC = 128
MAX_PREC = 1 << 17
MAX_SECONDS = 60.0
SEED = 20261125

VMF_P = [3, 10, 100, 1000, 10000]

I_FIELDS = ["d1_iv", "d1_ive", "d1_logiv", "d1_logive", "d2_logiv", "ivratio", "d1_ivratio",
            "vmf_dlogc"]
K_FIELDS = ["d1_kv", "d1_kve", "d1_logkv", "d1_logkve", "d2_logkv"]
COND_FIELDS = ["cond_iv", "cond_ive", "cond_kve", "cond_logive", "cond_logkve", "cond_d2iv",
               "cond_d2kv", "cond_ivratio"]
OSENS_FIELDS = ["osens_%s_%s" % (q, s) for q in ("iv", "ive", "kv", "kve") for s in ("m", "p")]
FIELDS = I_FIELDS + K_FIELDS + COND_FIELDS + OSENS_FIELDS


# ---------------------------------------------------------------------------- point sets
def _logu(rng, lo, hi, n):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def point_sets(rng, scale=1.0):
    """List of (group, v array, x array), inputs as float64 (float32-exact for ordinary_f32)."""
    def n(k):
        return max(12, int(round(k * scale)))

    sets = []
    # Orders: half log-uniform (small v matters), half uniform on [0, 50].
    m = n(160)
    v = np.concatenate([_logu(rng, 1e-3, 50.0, m // 2), rng.uniform(0.0, 50.0, m - m // 2)])
    sets.append(("ordinary", v, _logu(rng, 1e-3, 1e3, m)))

    m = n(80)
    v = np.concatenate([_logu(rng, 1e-3, 20.0, m // 2), rng.uniform(0.0, 20.0, m - m // 2)])
    x = _logu(rng, 1e-2, 80.0, m)
    sets.append(("ordinary_f32", v.astype(np.float32), x.astype(np.float32)))

    m = n(70)
    v = np.concatenate([[0.0, 0.5, 1.0, 2.0, 50.0], _logu(rng, 1e-3, 50.0, m - 5)])
    x = np.concatenate([[1e-300, 1e-300, 1e-300, 1e-200, 1e-10], _logu(rng, 1e-300, 1e-3, m - 5)])
    # Window where (v/x)^2 overflows float64 but d2 log I_v ~ -v/x^2 does not (v > 1).
    v = np.concatenate([v, [2.0, 10.0, 50.0, 50.0, 1e3, 1e5, 1e5]])
    x = np.concatenate([x, [1.2e-154, 3e-154, 1e-153, 3e-153, 1e-152, 1e-151, 1e-152]])
    sets.append(("small_x", v, x))

    m = n(70)
    v = np.concatenate([[0.0, 0.5, 1.0, 50.0], _logu(rng, 1e-3, 50.0, m - 4)])
    x = np.concatenate([[1e7, 1e7, 1e7, 1e7], _logu(rng, 1e3, 1e7, m - 4)])
    sets.append(("large_x", v, x))

    # Large orders: near the turning point x ~ v (relative offsets down to 1e-12) and far from it.
    m = n(100)
    v = _logu(rng, 1e2, 1e5, m)
    k = m // 2
    mag = 10.0 ** rng.uniform(-12, np.log10(0.3), k)
    near = v[:k] * (1.0 + rng.choice([-1.0, 1.0], k) * mag)
    far = v[k:] * 10.0 ** (rng.choice([-1.0, 1.0], m - k) * rng.uniform(1.0, 3.0, m - k))
    sets.append(("large_order", v, np.concatenate([near, far])))

    # Negative non-integer orders at moderate x: I_v changes sign in x for some of them (log|I_v|
    # derivatives are still defined); keep fractional parts away from integers by >= 0.02.
    m = n(70)
    base = -rng.integers(0, 25, m).astype(np.float64)
    frac = rng.uniform(0.02, 0.98, m)
    sets.append(("negative", base - frac, _logu(rng, 0.05, 100.0, m)))

    m = n(60)
    v = np.concatenate([rng.integers(0, 21, m - 10) + 0.5, [-0.5, -1.5, -2.5, -3.5, -5.5] * 2])
    sets.append(("halfint", v, _logu(rng, 1e-3, 1e4, m)))

    m = n(50)
    v = np.repeat([0.0, 1.0], m // 2)
    x = np.concatenate([_logu(rng, 1e-300, 1e7, m // 2), _logu(rng, 1e-300, 1e7, m // 2)])
    sets.append(("v0v1", v, x))

    nk = n(26)
    for p in VMF_P:
        kap = np.geomspace(1e-6, 1e6, nk)
        sets.append(("vmf", np.full(nk, p / 2.0), kap))

    out = []
    for g, v, x in sets:
        pts = np.unique(np.stack([np.asarray(v, np.float64), np.asarray(x, np.float64)]), axis=1)
        out.append((g, pts[0], pts[1]))
    return out


# ---------------------------------------------------------------------------- Arb evaluation
def _to_float(a):
    """Nearest float64 to the ball midpoint; 0 / inf outside the range (Python's float())."""
    return float(a.mid().str(32, radius=False))


def _certified(a):
    from flint import arb
    if not a.is_finite():
        return False
    r = a.rad()
    m = abs(a.mid())
    # Whole ball below 2^-1075: it rounds to 0 whatever the true value is.
    return r <= arb(REL_TOL) * m or m + r < arb(2) ** -1075


def _cond(num, den):
    """|mid(num)| / |mid(den)| to a few digits (not certified: it only scales tolerances)."""
    from flint import arb
    q = arb(abs(num.mid())) / arb(abs(den.mid()))
    return _to_float(q) if q.is_finite() else math.nan


def _compute(v, x, kind, vmf):
    """Candidate balls of one family at the current precision: dict name -> arb."""
    from flint import arb
    X = arb(x)
    V = arb(v)
    c = {}
    if kind == "i":
        # Scaled I (e^{-x} I_v) keeps large-x cases at modest exponents; e^{x} put back only in
        # the unscaled first derivative.
        e = {k: X.bessel_i(V + k, scaled=True) for k in (-2, -1, 0, 1, 2)}
        ip = (e[-1] + e[1]) / 2            # e^{-x} I_v'
        ipp = (e[-2] + 2 * e[0] + e[2]) / 4  # e^{-x} I_v''
        ipm = (e[-2] + e[0]) / 2           # e^{-x} I_{v-1}'
        r = ip / e[0]
        if vmf:
            c["vmf_dlogc"] = (V - 1) / X - ((e[-2] + e[0]) / 2) / e[-1]
        else:
            c["d1_iv"] = ip * X.exp()
            c["d1_ive"] = ip - e[0]
            c["d1_logiv"] = r
            c["d1_logive"] = r - 1
            c["d2_logiv"] = ipp / e[0] - r * r
        if v >= 0.5:
            c["ivratio"] = e[0] / e[-1]
            c["d1_ivratio"] = (ip * e[-1] - e[0] * ipm) / (e[-1] * e[-1])
        cond = {}
        if not vmf:
            cond["cond_iv"] = (abs(e[-1]) + abs(e[1]), e[-1] + e[1])
            cond["cond_ive"] = ((abs(e[-1]) + abs(e[1])) / 2 + abs(e[0]), c["d1_ive"])
            cond["cond_logive"] = (abs(r) + 1, c["d1_logive"])
            cond["cond_d2iv"] = (1 + V * V / (X * X) + abs(r) / X + r * r, c["d2_logiv"])
        if v >= 0.5:
            A = c["ivratio"]
            cond["cond_ivratio"] = (1 + abs(2 * V - 1) * abs(A) / X + A * A, c["d1_ivratio"])
        return c, cond
    e = {k: X.bessel_k(V + k, scaled=True) for k in (-2, -1, 0, 1, 2)}
    kp = -(e[-1] + e[1]) / 2
    kpp = (e[-2] + 2 * e[0] + e[2]) / 4
    s = kp / e[0]
    c["d1_kv"] = kp * (-X).exp()
    c["d1_kve"] = kp + e[0]
    c["d1_logkv"] = s
    c["d1_logkve"] = s + 1
    c["d2_logkv"] = kpp / e[0] - s * s
    cond = {"cond_kve": (e[0] + (e[-1] + e[1]) / 2, c["d1_kve"]),
            "cond_logkve": (abs(s) + 1, c["d1_logkve"]),
            "cond_d2kv": (1 + V * V / (X * X) + abs(s) / X + s * s, c["d2_logkv"])}
    return c, cond


def _family(v, x, kind, vmf):
    """Certified quantities of one family.

    Returns (dict name -> float, dict cond name -> float, precision, list of dropped names)."""
    from flint import ctx
    got, conds = {}, {}
    prec = START_PREC
    t0 = time.time()
    need = None
    while True:
        ctx.prec = prec
        cand, cond = _compute(v, x, kind, vmf)
        if need is None:
            need = list(cand)
        for q in need:
            if q not in got and _certified(cand[q]):
                got[q] = _to_float(cand[q])
        for cn, (num, den) in cond.items():
            if cn not in conds and num.is_finite() and den.is_finite():
                conds[cn] = (num, den)
        if all(q in got for q in need) or prec >= MAX_PREC or time.time() - t0 > MAX_SECONDS:
            break
        prec *= 4
    cf = {}
    for cn, (num, den) in cond.items():
        cf[cn] = _cond(num, den)
    return got, cf, prec, [q for q in need if q not in got]


def _order_sens(v, x):
    """osens_<q>_m / _p: |T_-+| |d/dnu log|T_-+|| / |q'| for the two terms T_-+ (order v -+ 1)
    of q' = iv', ive', kv', kve' (see the module docstring), so that rounding the orders v -+ 1
    by d_-+ (as the torch backward does when it forms v - 1 and v + 1) changes q' by about
    osens_m d_- + osens_p d_+ relative.  d/dnu by a central difference at step 2^-30 (truncation
    ~1e-18 relative); precision raised until each ball is within 1e-3 of its midpoint (Arb's K
    at moderate x loses ~2x/log 2 bits to cancellation); nan if that fails."""
    from flint import arb, ctx
    out = dict.fromkeys(OSENS_FIELDS, math.nan)
    prec = 192
    t0 = time.time()
    while True:
        ctx.prec = prec
        X = arb(x)
        V = arb(v)
        h = arb(2) ** -30
        for fam, fn in (("i", lambda nu: X.bessel_i(nu, scaled=True)),
                        ("k", lambda nu: X.bessel_k(nu, scaled=True))):
            t = {k: fn(V + k) for k in (-1, 0, 1)}
            sens = {k: (abs(fn(V + k + h)).log() - abs(fn(V + k - h)).log()) / (2 * h)
                    for k in (-1, 1)}
            if fam == "i":
                results = {"iv": (t[-1] + t[1]) / 2, "ive": (t[-1] + t[1]) / 2 - t[0]}
            else:
                results = {"kv": (t[-1] + t[1]) / 2, "kve": t[0] - (t[-1] + t[1]) / 2}
            for q, res in results.items():
                for k, side in ((-1, "m"), (1, "p")):
                    name = "osens_%s_%s" % (q, side)
                    if not math.isnan(out[name]):
                        continue
                    a = abs(t[k]) / 2 * abs(sens[k]) / abs(res)
                    if a.is_finite() and a.rad() <= arb(1e-3) * abs(a.mid()) + arb(2) ** -200:
                        out[name] = _to_float(a)
        if not any(math.isnan(o) for o in out.values()) or prec >= 1 << 14 \
                or time.time() - t0 > MAX_SECONDS:
            return out
        prec *= 4


def evaluate(args):
    v, x, vmf = args
    res = dict.fromkeys(FIELDS, math.nan)
    gi, ci, pi, di = _family(v, x, "i", vmf)
    res.update(gi)
    res.update(ci)
    pk, dk = 0, []
    if not vmf:
        gk, ck, pk, dk = _family(v, x, "k", vmf)
        res.update(gk)
        res.update(ck)
        res.update(_order_sens(v, x))
    return res, max(pi, pk), di + dk


def run(procs, scale, out_path):
    rng = np.random.default_rng(SEED)
    sets = point_sets(rng, scale)
    groups, vs, xs = [], [], []
    for g, v, x in sets:
        groups += [g] * len(v)
        vs.append(v)
        xs.append(x)
    v = np.concatenate(vs)
    x = np.concatenate(xs)
    npts = len(v)
    print("%d points" % npts, flush=True)
    order = np.random.default_rng(1).permutation(npts)  # spread expensive (large v) points
    data = {f: np.full(npts, np.nan) for f in FIELDS}
    prec = np.zeros(npts, np.int32)
    dropped = []
    t0 = time.time()
    work = [(float(v[i]), float(x[i]), groups[i] == "vmf") for i in order]
    with mp.Pool(procs) as pool:
        for done, (res, pr, dr) in enumerate(pool.imap(evaluate, work, chunksize=4), 1):
            i = order[done - 1]
            for f in FIELDS:
                data[f][i] = res[f]
            prec[i] = pr
            for q in dr:
                dropped.append((groups[i], v[i], x[i], q))
            if done % 200 == 0 or done == npts:
                print("%d/%d  %.0fs  dropped so far: %d" % (done, npts, time.time() - t0,
                                                            len(dropped)), flush=True)
    elapsed = time.time() - t0
    counts = {g: groups.count(g) for g in dict.fromkeys(groups)}
    print("done in %.0fs; per group: %s" % (elapsed, counts), flush=True)
    print("dropped (uncertifiable) quantities: %d" % len(dropped), flush=True)
    for d in dropped[:30]:
        print("    dropped %s v=%r x=%r %s" % d)
    print("max precision used: %d bits" % prec.max())
    import flint
    info = ("script_version=%s python-flint=%s rel_tol=%g start_prec=%d max_prec=%d "
            "max_seconds=%g seed=%d scale=%g procs=%d elapsed_s=%.0f dropped=%d max_prec_used=%d"
            % (SCRIPT_VERSION, flint.__version__, REL_TOL, START_PREC, MAX_PREC, MAX_SECONDS,
               SEED, scale, procs, elapsed, len(dropped), int(prec.max())))
    # cond_* / osens_* as float32: they only scale tolerances, and this keeps the file small.
    for f in COND_FIELDS + OSENS_FIELDS:
        data[f] = data[f].astype(np.float32)
    np.savez_compressed(
        out_path, v=v, x=x, group=np.array(groups), prec=prec, info=np.array(info),
        dropped=np.array(["%s v=%r x=%r %s" % d for d in dropped], dtype=str), **data)
    print("wrote %s (%.0f KB)" % (out_path, os.path.getsize(out_path) / 1e3), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies point counts")
    ap.add_argument("--smoke", action="store_true", help="tiny run into /tmp")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                  "data", "bessel_grad_reference.npz"))
    a = ap.parse_args()
    procs = max(1, min(2, a.procs))  # the machine is shared
    if a.smoke:
        a.scale = 0.05
        a.out = "/tmp/bessel_grad_reference_smoke.npz"
    run(procs, a.scale, a.out)


if __name__ == "__main__":
    sys.exit(main())
