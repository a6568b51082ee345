"""Regenerate tests/data/vmf_reference.npz: von Mises-Fisher reference values from Arb.

Everything is computed with python-flint (Arb ball arithmetic); the working precision is raised
until each ball's radius is below 1e-30 of its midpoint, so the stored doubles are correctly
rounded to well below the 1e-12 tolerances the tests use.

Tables
------
``lognorm_p, lognorm_kappa, lognorm``
    log C_p(kappa) = (p/2-1) log kappa - (p/2) log 2pi - log I_{p/2-1}(kappa)
``entropy``
    -log C_p(kappa) - kappa A_p(kappa), on the same grid
``ap``, ``one_minus_ap``
    A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa) and 1 - A_p(kappa) on the same grid
``mle_p, mle_rbar, mle_kappa``
    the root kappa of A_p(kappa) = R_bar, R_bar taken as the exact double stored in mle_rbar

Run: ``python3 tests/tools/make_vmf_reference.py`` (a few seconds).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from flint import arb, ctx

DIMS = (3, 64, 512, 2048, 8192, 32768, 65536)
KAPPAS = (1e-6, 1e-3, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)
RBARS = (1e-3, 1e-2, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999, 1 - 1e-5, 1 - 1e-7, 1 - 1e-9)
OUT = Path(__file__).resolve().parents[1] / "data" / "vmf_reference.npz"


def _tight(fn, rel: float = 1e-30):
    """Evaluate fn() (an arb or tuple of arbs) at rising precision until every ball is tight."""
    prec = 128
    while True:
        ctx.prec = prec
        vals = fn()
        vals_t = vals if isinstance(vals, tuple) else (vals,)
        if all(v.is_finite() and (v.rad() <= abs(v.mid()) * rel or v.rad() < arb(10) ** -300)
               for v in vals_t):
            return vals
        prec *= 2
        if prec > 1 << 16:
            raise RuntimeError("precision escalation failed")


def log_i_scaled(v: arb, x: arb) -> arb:
    """log(I_v(x) e^{-x})."""
    return x.bessel_i(v, scaled=True).log()


def lognorm_entropy_ap(p: int, kappa: float):
    def f():
        k = arb(kappa)
        v = arb(p) / 2 - 1
        li_v = log_i_scaled(v, k)
        li_v1 = log_i_scaled(v + 1, k)
        ap = (li_v1 - li_v).exp()
        logc = v * k.log() - arb(p) / 2 * (2 * arb.pi()).log() - li_v - k
        ent = -logc - k * ap
        return logc, ent, ap, 1 - ap
    return tuple(float(a.mid()) for a in _tight(f))


def mle_kappa(p: int, rbar: float) -> float:
    """Newton on A_p(kappa) = rbar at 256 bits, started from Banerjee's approximation."""
    r = float(rbar)
    k0 = r * (p - r * r) / ((1 - r) * (1 + r))
    ctx.prec = 256
    R = arb(r)
    k = arb(k0)
    v = arb(p) / 2 - 1
    for _ in range(200):
        li_v = log_i_scaled(v, k)
        a = (log_i_scaled(v + 1, k) - li_v).exp()
        da = 1 - a * a - (p - 1) * a / k
        step = (a - R) / da
        k = arb((k - step).mid())  # drop the radius: Newton self-corrects
        if abs(float(step.mid())) <= 1e-40 * float(k.mid()):
            break
    else:
        raise RuntimeError(f"reference Newton did not converge at p={p}, rbar={rbar}")
    # check the residual at a higher precision
    ctx.prec = 512
    kk = arb(k.mid())
    a = (log_i_scaled(v + 1, kk) - log_i_scaled(v, kk)).exp()
    da = 1 - a * a - (p - 1) * a / kk
    rel = abs(float(((a - R) / da / kk).mid()))
    assert rel < 1e-25, (p, rbar, rel)
    return float(kk.mid())


def main() -> None:
    lp, lk, ln, ent, ap, omap = [], [], [], [], [], []
    for p in DIMS:
        for kappa in KAPPAS:
            c, e, a, g = lognorm_entropy_ap(p, kappa)
            lp.append(p); lk.append(kappa); ln.append(c); ent.append(e); ap.append(a)
            omap.append(g)
    mp_, mr, mk = [], [], []
    for p in DIMS:
        for r in RBARS:
            mp_.append(p); mr.append(r); mk.append(mle_kappa(p, r))
    np.savez_compressed(
        OUT, lognorm_p=np.array(lp, dtype=np.int64), lognorm_kappa=np.array(lk),
        lognorm=np.array(ln), entropy=np.array(ent), ap=np.array(ap),
        one_minus_ap=np.array(omap), mle_p=np.array(mp_, dtype=np.int64),
        mle_rbar=np.array(mr), mle_kappa=np.array(mk))
    print(f"wrote {OUT}: {len(ln)} normaliser rows, {len(mk)} MLE rows")
    for p, r, k in zip(mp_, mr, mk):
        if r in (RBARS[0], RBARS[-1]):
            print(f"  p={p:6d} rbar={r:.12g} kappa={k:.17g}")
    assert all(math.isfinite(x) for x in ln + ent + mk)


if __name__ == "__main__":
    main()
