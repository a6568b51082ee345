#!/usr/bin/env python3
"""Fit the polynomial approximations behind fs::i0, i0e, i1, i1e, k0, k0e, k1, k1e.

Writes csrc/include/fastspectral/bessel_fixed_coeffs.hpp (and prints the fit report).

Forms (x = |argument|, y = x^2, u = 1/x; every table is a polynomial in one variable):

  I_0(x)  = P0(y)                          x <= A        P0(y) = I_0(sqrt y)
  I_1(x)  = x P1(y)                        x <= A        P1(y) = I_1(sqrt y) / sqrt y
  I_n(x)  = e^x Qn(u) / sqrt(x)            x >  A        Qn(u) = sqrt(x) e^-x I_n(x)
  K_0(x)  = R0(y) - log(x) P0s(y)          x <= 1        R0(y) = K_0(x) + log(x) I_0(x)
  K_1(x)  = 1/x + x (log(x) P1s(y) + R1(y)) x <= 1       R1(y) = (K_1 - 1/x - log(x) I_1) / x
  K_n(x)  = e^-x Sn(u) / sqrt(x)           x >  1        Sn(u) = sqrt(x) e^x K_n(x),
                                                         one table on [1, 4], one on (4, inf)

All small-x tables (P, R in y) have coefficients of one sign and the 1/x tables are dominated
by their constant term, so Horner in FMA form loses well under an ulp; on x <= 1 neither K
form cancels (log x <= 0 there, which is why the K split is at 1 rather than 2: with log(x/2)
or a split at 2 the terms cancel by up to 6x near x = 2). The middle K table is centred
(a polynomial in u - 5/8) because the monomial form in u on [1/4, 1] is ill-conditioned
(one table in u on [0, 1] would need degree ~30 with Horner condition ~1e6).

The I split A = 10 was chosen by experiment: at 12 the small-x P is steeper (3.7 ulp measured
near x = 12), at 8 the large-x Q needs degree 24 and its monomial form has condition ~15. Every
table's constant term is also written as a low part (kFixed<Table>Lo) that the header adds
last, so the constant's rounding does not show where it dominates.

Fit: weighted (relative-error) least squares in the Chebyshev basis at Chebyshev nodes,
refined by Lawson iterations towards minimax, done in mpmath at 60 digits with Arb (python-flint)
values; the degree is the smallest whose fit error is below TARGET[dtype], then the
coefficients are converted to the monomial basis and rounded to double. Tables ending in D
serve float64, those ending in F (lower degree) float32, evaluated in double arithmetic.
Nothing is copied from Cephes/Boost: the tables come out of this script.

Usage:  python tests/tools/gen_fixed_order_coeffs.py [--out PATH]
"""
from __future__ import annotations

import argparse
import functools
import os
import sys

import mpmath as mp
from flint import arb, ctx

mp.mp.dps = 60

#: The I split: small-x series form up to A, asymptotic form above.
SPLIT_I = 10
#: The K splits: series form up to 1, then [1, 4] and (4, inf).
SPLIT_K = (1, 4)
#: Relative fit error targets (before coefficient rounding): 1/16 ulp for float64. The float32
#: functions evaluate their (shorter) tables in double arithmetic and round once at the end, so
#: 2^-30 keeps them within 0.52 float32 ulp.
TARGET = {"D": 2.0 ** -57, "F": 2.0 ** -30}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "csrc", "include", "fastspectral", "bessel_fixed_coeffs.hpp")


# ----------------------------------------------------------------------------- reference values

def _certified(fn) -> mp.mpf:
    """Arb value with relative radius below 1e-35. Precision is tried in steps because some
    python-flint/Arb builds return a uselessly wide ball for K_0 at particular precisions
    (e.g. K_0(100) at 256 bits) while neighbouring precisions are fine."""
    for prec in (128, 192, 256, 384, 512, 1024, 2048):
        ctx.prec = prec
        r = fn()
        if r.mid() != 0 and r.rad() < abs(r.mid()) * arb("1e-35"):
            return mp.mpf(r.mid().str(70, radius=False))
    raise ValueError("could not certify an Arb value")


def _arb(x: mp.mpf) -> arb:
    return arb(mp.nstr(x, 70))


@functools.lru_cache(maxsize=None)
def bessel_i(n: int, x: mp.mpf, scaled: bool = False) -> mp.mpf:
    return _certified(lambda: _arb(x).bessel_i(n, scaled=scaled))


@functools.lru_cache(maxsize=None)
def bessel_k(n: int, x: mp.mpf, scaled: bool = False) -> mp.mpf:
    return _certified(lambda: _arb(x).bessel_k(n, scaled=scaled))


def _x(y):
    return mp.sqrt(y)


FUNCS = {
    "P0": lambda y: bessel_i(0, _x(y)),
    "P1": lambda y: bessel_i(1, _x(y)) / _x(y),
    "Q0": lambda u: bessel_i(0, 1 / u, True) * mp.sqrt(1 / u),
    "Q1": lambda u: bessel_i(1, 1 / u, True) * mp.sqrt(1 / u),
    "R0": lambda y: bessel_k(0, _x(y)) + mp.log(_x(y)) * bessel_i(0, _x(y)),
    "R1": lambda y: (bessel_k(1, _x(y)) - 1 / _x(y) - mp.log(_x(y)) * bessel_i(1, _x(y))) / _x(y),
    "S0": lambda u: bessel_k(0, 1 / u, True) * mp.sqrt(1 / u),
    "S1": lambda u: bessel_k(1, 1 / u, True) * mp.sqrt(1 / u),
}

A, (K1, K2) = SPLIT_I, SPLIT_K
# (table name, function, variable interval, centre of the monomial form, comment)
TABLES = [
    ("I0Small", "P0", (0, A * A), 0, f"I_0(x) = P(x^2), 0 <= x <= {A}"),
    ("I1Small", "P1", (0, A * A), 0, f"I_1(x) = x P(x^2), 0 <= x <= {A}"),
    ("I0Large", "Q0", (0, mp.mpf(1) / A), 0, f"I_0(x) = e^x P(1/x) / sqrt(x), x > {A}"),
    ("I1Large", "Q1", (0, mp.mpf(1) / A), 0, f"I_1(x) = e^x P(1/x) / sqrt(x), x > {A}"),
    ("I0Unit", "P0", (0, K1 * K1), 0, f"I_0(x) = P(x^2), 0 <= x <= {K1} (for K_0)"),
    ("I1Unit", "P1", (0, K1 * K1), 0, f"I_1(x) = x P(x^2), 0 <= x <= {K1} (for K_1)"),
    ("K0Small", "R0", (0, K1 * K1), 0, f"K_0(x) + log(x) I_0(x) = P(x^2), 0 <= x <= {K1}"),
    ("K1Small", "R1", (0, K1 * K1), 0, f"(K_1(x) - 1/x - log(x) I_1(x)) / x = P(x^2), x <= {K1}"),
    ("K0Mid", "S0", (mp.mpf(1) / K2, mp.mpf(1) / K1), mp.mpf(5) / 8,
     f"K_0(x) = e^-x P(1/x - 5/8) / sqrt(x), {K1} < x <= {K2}"),
    ("K1Mid", "S1", (mp.mpf(1) / K2, mp.mpf(1) / K1), mp.mpf(5) / 8,
     f"K_1(x) = e^-x P(1/x - 5/8) / sqrt(x), {K1} < x <= {K2}"),
    ("K0Large", "S0", (0, mp.mpf(1) / K2), 0, f"K_0(x) = e^-x P(1/x) / sqrt(x), x > {K2}"),
    ("K1Large", "S1", (0, mp.mpf(1) / K2), 0, f"K_1(x) = e^-x P(1/x) / sqrt(x), x > {K2}"),
]


# ----------------------------------------------------------------------------- fitting

def _nodes(lo, hi, n):
    return [(lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (2 * j + 1) / (2 * n)) for j in range(n)]


def _chebyshev_fit(f, lo, hi, deg, lawson):
    """Coefficients in the Chebyshev basis on [lo, hi] and the max relative error at the nodes."""
    n = 3 * (deg + 1) + 12
    s = _nodes(lo, hi, n)
    fv = [f(si) for si in s]
    z = [(2 * si - lo - hi) / (hi - lo) for si in s]
    basis = [[mp.chebyt(k, zi) for k in range(deg + 1)] for zi in z]
    w = [1 / abs(v) for v in fv]
    lam = [mp.mpf(1) / n] * n
    for _ in range(lawson + 1):
        sw = [mp.sqrt(l) * wi for l, wi in zip(lam, w)]
        a = mp.matrix([[sw[i] * basis[i][k] for k in range(deg + 1)] for i in range(n)])
        b = mp.matrix([sw[i] * fv[i] for i in range(n)])
        c, _res = mp.qr_solve(a, b)
        err = [abs((mp.fsum(c[k] * basis[i][k] for k in range(deg + 1)) - fv[i]) * w[i])
               for i in range(n)]
        tot = mp.fsum(l * e for l, e in zip(lam, err))
        lam = [l * e / tot for l, e in zip(lam, err)]
    return [c[k] for k in range(deg + 1)], max(err)


def _to_monomial(cheb, lo, hi, centre):
    """Chebyshev coefficients on [lo, hi] -> monomial coefficients in (s - centre)."""
    deg = len(cheb) - 1
    t = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    for k in range(2, deg + 1):
        a = [mp.mpf(0)] + [2 * v for v in t[k - 1]]
        b = t[k - 2] + [mp.mpf(0)] * (len(a) - len(t[k - 2]))
        t.append([p - q for p, q in zip(a, b)])
    pz = [mp.mpf(0)] * (deg + 1)
    for k in range(deg + 1):
        for j, v in enumerate(t[k]):
            pz[j] += cheb[k] * v
    # z = alpha (s - centre) + beta'
    alpha = 2 / (hi - lo)
    beta = (2 * centre - lo - hi) / (hi - lo)
    out = [mp.mpf(0)] * (deg + 1)
    for j in range(deg + 1):
        for i in range(j + 1):
            out[i] += pz[j] * mp.binomial(j, i) * alpha ** i * beta ** (j - i)
    return out


def _round(c, kind):
    return float(c)  # both sets are stored as double (see TARGET)


def _audit(coef, f, lo, hi, centre, kind, m=400):
    """Max relative error of the rounded polynomial (exact arithmetic; the constant term as the
    double-length c0 + c0lo that the header uses) and the Horner condition number
    sum |c_k s^k| / |p| on a fine grid."""
    cr = [mp.mpf(_round(c, kind)) for c in coef]
    c0 = mp.mpf(float(coef[0]))
    cr[0] = c0 + mp.mpf(float(coef[0] - c0))
    worst = cond = mp.mpf(0)
    for j in range(m + 1):
        s = lo + (hi - lo) * j / m
        if s == 0:
            s = (hi - lo) * mp.mpf("1e-9")
        v = f(s)
        d = s - centre
        worst = max(worst, abs(mp.polyval(cr[::-1], d) / v - 1))
        cond = max(cond, mp.fsum(abs(c) * abs(d) ** i for i, c in enumerate(cr)) / abs(v))
    return worst, cond


def fit_table(name, fname, interval, centre, kind):
    lo, hi = mp.mpf(interval[0]), mp.mpf(interval[1])
    f = FUNCS[fname]
    deg = 3
    while True:
        cheb, err = _chebyshev_fit(f, lo, hi, deg, lawson=0)
        if err < TARGET[kind] * 4:  # close: refine towards minimax before deciding
            cheb, err = _chebyshev_fit(f, lo, hi, deg, lawson=12)
            if err < TARGET[kind]:
                break
        deg += 1
        if deg > 40:
            raise RuntimeError(f"{name}{kind}: no degree <= 40 reaches the target")
    coef = _to_monomial(cheb, lo, hi, mp.mpf(centre))
    worst, cond = _audit(coef, f, lo, hi, mp.mpf(centre), kind)
    print(f"{name}{kind}: degree {deg}, fit error {mp.nstr(err, 3)}, after rounding "
          f"{mp.nstr(worst, 3)}, Horner condition {mp.nstr(cond, 3)}", flush=True)
    return deg, coef, err, worst, cond


# ----------------------------------------------------------------------------- output

def _fmt(c, kind):
    return repr(float(c))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    lines = [
        "// Generated by tests/tools/gen_fixed_order_coeffs.py -- do not edit.",
        "// Polynomial tables for the fixed-order Bessel functions (fastspectral/bessel_fixed.hpp).",
        "// Coefficients are stored highest degree first (Horner order); the comment above each",
        "// table gives the approximated form, the fit error and the rounded-coefficient error.",
        "#pragma once",
        "",
        '#include "fastspectral/config.hpp"',
        "",
        "namespace fs {",
        "namespace detail {",
        "",
        f"constexpr double kFixedSplitI = {float(SPLIT_I)!r};",
        f"constexpr double kFixedSplitK1 = {float(K1)!r};",
        f"constexpr double kFixedSplitK2 = {float(K2)!r};",
        "constexpr double kFixedKMidCentre = 0.625;",
        "",
    ]
    for kind, ctype in (("D", "double"), ("F", "double")):
        for name, fname, interval, centre, comment in TABLES:
            deg, coef, err, worst, cond = fit_table(name, fname, interval, centre, kind)
            lines.append(f"// {comment}: degree {deg}, fit {mp.nstr(err, 2)}, "
                         f"rounded {mp.nstr(worst, 2)}, condition {mp.nstr(cond, 3)}")
            body = ",\n    ".join(_fmt(c, kind) for c in coef[::-1])
            lines.append(f"FS_CONSTANT {ctype} kFixed{name}{kind}[{deg + 1}] = {{\n    {body}}};")
            # the constant term's rounding error: it would otherwise be a fixed bias of up to
            # half an ulp wherever the constant dominates (large x, the centre of a table)
            c0lo = float(coef[0] - mp.mpf(float(coef[0])))
            lines.append(f"FS_CONSTANT {ctype} kFixed{name}{kind}Lo = {c0lo!r};")
        lines.append("")
    lines += ["}  // namespace detail", "}  // namespace fs", ""]
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines))
    print("wrote", args.out)


if __name__ == "__main__":
    sys.exit(main())
