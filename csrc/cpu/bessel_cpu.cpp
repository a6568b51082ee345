#include "cpu/bessel_cpu.hpp"

#include <cfenv>
#include <cstdint>

#include "fastspectral/bessel.hpp"

namespace fs {
namespace cpu {

namespace {

// ---------------------------------------------------------------- region-batched log_iv / log_ive
//
// On mixed inputs the per-element code spends a third of its time on mispredicted branches between
// regions (series, Debye term classes), and its glibc log calls cannot be vectorized.  Here each
// block of kChunk elements is first sorted into regions by cheap comparisons (index lists), then
// every region runs a branch-free loop over its gathered elements, which the compiler vectorizes
// (Debye sums, the log below, the series with per-lane stopping).  The math is that of
// bessel_i.hpp region by region (same thresholds, same formulas, the band around the zero of eta
// included); rare cases (special values, negative arguments, extreme magnitudes) go to the scalar
// code.  (A scalar call for the 0.3% band points alone cost 4 ns/element on the bench grid.)
// Each element's result depends only on its own inputs (the series loop masks lanes that have
// converged), so the output does not depend on how elements are grouped or on the thread count.

using u64 = std::uint64_t;
using i64 = std::int64_t;

constexpr double kLn2Hi = 0x1.62e42fefa2000p-1;  // ln 2 to 42 bits: k * kLn2Hi is exact
constexpr double kLn2Lo = 7.371002565167799e-13;

// log(y) for positive normal finite y, without branches or tables so that loops vectorize.
// y = 2^k z with z in [sqrt(2)/2, sqrt(2)), f = z - 1 (exact), s = f/(2+f):
// log z = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R), R = sum_{n>=1} 2 s^{2n}/(2n+1), |s| <= 0.1716
// (11 terms: truncation < 1e-20 relative).  Error below 1 ulp (tests/tools/dev_bessel_i_log.py).
inline double log_pos(double y) {
  const u64 b = __builtin_bit_cast(u64, y);
  const u64 t = b - 0x3fe6a09e667f3bcdULL;  // bits of sqrt(2)/2
  const i64 k = i64(t) >> 52;
  const double z = __builtin_bit_cast(double, b - (t & 0xfff0000000000000ULL));
  const double f = z - 1.0;
  const double s = f / (2.0 + f);
  const double s2 = s * s;
  double R = 2.0 / 23;
  R = R * s2 + 2.0 / 21;
  R = R * s2 + 2.0 / 19;
  R = R * s2 + 2.0 / 17;
  R = R * s2 + 2.0 / 15;
  R = R * s2 + 2.0 / 13;
  R = R * s2 + 2.0 / 11;
  R = R * s2 + 2.0 / 9;
  R = R * s2 + 2.0 / 7;
  R = R * s2 + 2.0 / 5;
  R = R * s2 + 2.0 / 3;
  R *= s2;
  const double hfsq = 0.5 * f * f;
  const double dk = double(k);
  return dk * kLn2Hi - ((hfsq - (s * (hfsq + R) + dk * kLn2Lo)) - f);
}

// Taylor coefficients of 1/Gamma(1+z) at z = 1/2 (mpmath, 40 digits); degree 21 leaves < 1e-20.
constexpr double kRGamma[22] = {
    1.12837916709551256e+00,  -4.11745264452830981e-02, -5.26654435525544473e-01,
    1.75102026043934572e-01,  5.09668602477060736e-02,  -4.21551693685356041e-02,
    6.61289782682412692e-03,  2.12073144257293820e-03,  -1.11073025459489062e-03,
    1.52357620767476883e-04,  2.53552049238141648e-05,  -1.38968057179137562e-05,
    2.15620329051417237e-06,  5.79426405405267258e-08,  -8.91355111831111569e-08,
    1.71034694159153736e-08,  -9.31368644524190122e-10, -2.68047410334966232e-10,
    7.45893223331632581e-11,  -8.01280706141471761e-12, -8.38234303345185532e-14,
    1.69463409043205220e-13};

// 1/Gamma(1+v) for 0 <= v < 8: 1/Gamma(1+f) / ((f+1)...(f+n)), n = floor(v), f = v - n.
// (Branch-free: vectorized it is cheaper than the scalar lgamma call it replaces.)
inline double rgamma1p_small(double v) {
  const double n = double(i64(v));
  const double f = v - n, d = f - 0.5;
  double p = kRGamma[21];
#pragma GCC unroll 32
  for (int j = 20; j >= 0; --j) p = p * d + kRGamma[j];
  double prod = 1.0;
#pragma GCC unroll 8
  for (int k = 1; k <= 7; ++k) prod *= double(k) <= n ? f + double(k) : 1.0;
  return p / prod;
}

using Tr = detail::BesselITraits<double>;
constexpr double kInv2Pi = 0.159154943091895335768883763372514362;
constexpr double kLn2 = 0.693147180559945309417232121458176568;
constexpr int kLanes = 8;  // padding unit of the gathered region vectors

// Gather one region's elements of a block into contiguous vectors, run `kernel` on them and
// scatter the results back.  The vectors are padded with copies of a real element, so every
// lane runs full vectors and no spurious floating-point flags are raised.
template <class Kernel>
inline void run_region(const double* a, const double* b, double* o, const int* ix, int n,
                       Kernel kernel) {
  if (n == 0) return;
  alignas(64) double vg[kChunk + kLanes], xg[kChunk + kLanes], og[kChunk + kLanes];
  for (int j = 0; j < n; ++j) {
    vg[j] = a[ix[j]];
    xg[j] = b[ix[j]];
  }
  const int np = (n + kLanes - 1) / kLanes * kLanes;
  for (int j = n; j < np; ++j) {
    vg[j] = vg[0];
    xg[j] = xg[0];
  }
  kernel(vg, xg, og, np);
  for (int j = 0; j < n; ++j) o[ix[j]] = og[j];
}

// Debye region, N terms: log I_v(x) (Scaled: log I_v(x) - x); see log_iv_core / log_ive_nonneg.
template <bool Scaled, int N>
void debye_kernel(const double* __restrict v_, const double* __restrict x_, double* __restrict o_, int m) {
  const double* v = static_cast<const double*>(__builtin_assume_aligned(v_, 64));
  const double* x = static_cast<const double*>(__builtin_assume_aligned(x_, 64));
  double* o = static_cast<double*>(__builtin_assume_aligned(o_, 64));
  for (int i = 0; i < m; ++i) {
    const double vi = v[i], xi = x[i];
    const double r = __builtin_sqrt(vi * vi + xi * xi);
    const double rho = 1.0 / r;
    const double p = vi * rho;
    // N = 0: the band (log_iv only), with the longest sum (enough for every r >= R0)
    const double s1 = 1.0 + detail::debye_tail_n<double, N == 0 ? 19 : N>(p * p, rho);
    const double pre = 0.5 * log_pos(s1 * s1 * (rho * kInv2Pi));
    const double s = vi + r;
    if (Scaled) {
      // r - x = v t and log((v+r)/x) = log1p((v/x)(1+t)) for x >= v (log1p(u) = log(w) + c,
      // w = 1 + u rounded, c = (u - (w - 1))/w its rounding error), a plain log below.
      const double t = vi / (r + xi);
      const double u = (vi / xi) * (1.0 + t);
      const double w = 1.0 + u;
      const bool big = xi >= vi;
      const double lr = log_pos(big ? w : s / xi) + (big ? (u - (w - 1.0)) / w : 0.0);
      o[i] = (vi * t - vi * lr) + pre;
    } else if (N == 0) {
      // the band |x - z0 v| <= kBand v: v eta by its Taylor series about z0 (veta_band)
      const double u = __builtin_fma(-Tr::kZ0Hi, vi, xi) - Tr::kZ0Lo * vi;
      o[i] = detail::veta_band(vi, u) + pre;
    } else {
      o[i] = (r - vi * log_pos(s / xi)) + pre;
    }
  }
}

// Power-series region: sum_k (x^2/4)^k/(k!(v+1)_k), two terms per step as in log_iv_series, each
// lane stopping at its own convergence; then the lead for v < 8 (1/Gamma folded into the log of
// the sum) or v >= 8 (Stirling form, see log_iv_series).
template <bool Scaled, bool LargeV>
void series_kernel(const double* __restrict v_, const double* __restrict x_, double* __restrict o_, int m) {
  const double* v = static_cast<const double*>(__builtin_assume_aligned(v_, 64));
  const double* x = static_cast<const double*>(__builtin_assume_aligned(x_, 64));
  double* o = static_cast<double*>(__builtin_assume_aligned(o_, 64));
  // sum = sum of the terms after the leading 1 (log1p below: log of a rounded 1 + tiny lost the
  // relative accuracy of log I_v(x) ~ x^2/4 at v ~ 0, small x)
  alignas(64) double sum[kChunk], term[kChunk];
  for (int i = 0; i < m; ++i) {
    sum[i] = 0.0;
    term[i] = 1.0;
  }
  for (int k = 1; k < 400; k += 2) {
    const double k1 = double(k), k2 = double(k + 1);
    i64 active = 0;
    for (int i = 0; i < m; ++i) {
      const double q = 0.25 * x[i] * x[i];
      const double d1 = k1 * (v[i] + k1), d2 = k2 * (v[i] + k2);
      const double w = q / (d1 * d2);
      const double t1 = term[i] * (w * d2);
      const double tn = term[i] * (w * q);
      const double sn = sum[i] + (t1 + tn);
      const double so = sum[i], to = term[i];
      const bool a = to > (1.0 + so) * Tr::kSeriesTol;  // the scalar loop would still be running
      sum[i] = a ? sn : so;
      term[i] = a ? tn : to;
      active += i64(a) & i64(tn > (1.0 + sn) * Tr::kSeriesTol);  // no && (control flow stops vectorization)
    }
    if (active == 0) break;
  }
  for (int i = 0; i < m; ++i) {
    const double vi = v[i], xi = x[i];
    double l;
    if (!LargeV) {
      // log(rg (1 + sum)), rg = 1/Gamma(1+v).  v < 1/2: as log1p(u), u = g + sum (1 + g) with
      // g = rg - 1 from the Taylor series at 0 (relatively accurate as v -> 0, where the result
      // can be tiny); above, rg is far from 1 (down to 2.5e-5) and rg - 1 would lose it, so the
      // plain log of the product.  Both are formed and selected (a branch stops vectorization).
      // (Everything is computed unconditionally: a division under a ?: is kept as a branch.  This
      // costs ~13% on series-only inputs; splitting v < 1/2 into regions of its own was slower.)
      const double g = detail::rgamma1p_minus1_small(vi);
      const double u = g + sum[i] * (1.0 + g);
      const double w1 = 1.0 + u;
      // rounding of w1 = 1 + u, to first order: (u - (w1 - 1))/w1 with 1/w1 ~ 1 - u (that error
      // is u^2 of a correction below 1 ulp); for |u| >= 1/2 the correction is dropped (<= 1.1e-16
      // against log1p(u) >= 0.4).  No division: it dominated this loop's cost.
      const double c1 = __builtin_fabs(u) < 0.5 ? (u - (w1 - 1.0)) * (1.0 - u) : 0.0;
      const double w2 = rgamma1p_small(vi) * (1.0 + sum[i]);
      const bool small = vi < 0.5;
      l = vi * (log_pos(xi) - kLn2) + (log_pos(small ? w1 : w2) + (small ? c1 : 0.0));
    } else {
      const double w = vi + 1.0;
      const double iw = 1.0 / w, iw2 = iw * iw;
      double sig = 43867.0 / 244188.0;
      sig = sig * iw2 - 3617.0 / 122400.0;
      sig = sig * iw2 + 1.0 / 156.0;
      sig = sig * iw2 - 691.0 / 360360.0;
      sig = sig * iw2 + 1.0 / 1188.0;
      sig = sig * iw2 - 1.0 / 1680.0;
      sig = sig * iw2 + 1.0 / 1260.0;
      sig = sig * iw2 - 1.0 / 360.0;
      sig = sig * iw2 + 1.0 / 12.0;
      sig *= iw;
      const double big = vi * log_pos(xi / (2.0 * w)) + w;
      const double s1 = 1.0 + sum[i];
      l = big - (0.918938533204672741780329736405617640 + sig) + 0.5 * log_pos(s1 * s1 * iw);
    }
    o[i] = Scaled ? l - xi : l;
  }
}

// Region ids: 0..3 Debye with 6/10/14/19 terms (debye_tail's classes), 4..7 series with x in
// [0, 0.01), [0.01, 1), [1, 6), [6, R0) (similar stopping points per vector), 8..11 the same for
// v >= 8, 12 the band of log_iv.
constexpr int kBandRegion = 12;
constexpr int kRegions = 13;

template <bool Scaled>
void log_i_block(const double* a, const double* b, double* o, int m) {
  alignas(64) int idx[kRegions + 1][kChunk];  // the last list: scalar fallback
  int cnt[kRegions + 1] = {};
  std::fexcept_t flags;
  std::fegetexceptflag(&flags, FE_OVERFLOW);
  const double r0sq = Tr::kSeriesMaxR * Tr::kSeriesMaxR;
  for (int i = 0; i < m; ++i) {
    const double v = a[i], x = b[i];
    // Magnitudes for which no intermediate (v^2 + x^2, s/x, x^2/4, x/(2(v+1))) leaves the normal range.
    bool fast = v >= 0.0 && v < 1e150 && x >= 1e-100 && x < 1e150;
    const double r2 = v * v + x * x;
    const bool series = r2 < r0sq;
    const bool band = !Scaled && __builtin_fabs(x - Tr::kZ0Hi * v) <= Tr::kBand * v;
    int deb = 3 - int(r2 >= 35.92 * 35.92) - int(r2 >= 74.82 * 74.82) - int(r2 >= 553.1 * 553.1);
    deb = deb ^ ((deb ^ kBandRegion) & -int(band));
    const int ser = 4 + int(x >= 0.01) + int(x >= 1.0) + int(x >= 6.0) + 4 * int(v >= 8.0);
    // selects by masks: as branches they would be the mispredictions this loop exists to avoid
    int g = deb ^ ((deb ^ ser) & -int(series));
    g = g ^ ((g ^ kRegions) & -int(!fast));
    idx[g][cnt[g]++] = i;
  }
  // v*v + x*x of inputs beyond 1e154 (scalar path below) raised the overflow flag, which NumPy
  // reports as a spurious warning; drop what the classification raised.  (Squaring stand-ins
  // selected for those inputs instead made the whole loop 40% slower.)
  if (cnt[kRegions] > 0) std::fesetexceptflag(&flags, FE_OVERFLOW);
  for (int j = 0; j < cnt[kRegions]; ++j) {
    const int i = idx[kRegions][j];
    o[i] = Scaled ? fs::log_ive<double>(a[i], b[i]) : fs::log_iv<double>(a[i], b[i]);
  }
  for (int g = 0; g < kRegions; ++g) {
    run_region(a, b, o, idx[g], cnt[g], [g](const double* vg, const double* xg, double* og, int np) {
      switch (g) {
        case 0: debye_kernel<Scaled, 6>(vg, xg, og, np); break;
        case 1: debye_kernel<Scaled, 10>(vg, xg, og, np); break;
        case 2: debye_kernel<Scaled, 14>(vg, xg, og, np); break;
        case 3: debye_kernel<Scaled, 19>(vg, xg, og, np); break;
        case kBandRegion: debye_kernel<Scaled, 0>(vg, xg, og, np); break;
        default:
          if (g < 8) series_kernel<Scaled, false>(vg, xg, og, np);
          else series_kernel<Scaled, true>(vg, xg, og, np);
      }
    });
  }
}

// ---------------------------------------------------------------- region-batched log_kv / log_kve
//
// The same scheme for K (regions of bessel_k.hpp).  The Debye region r >= 22 runs batched: classes of
// term counts (each class uses the count bessel_k.hpp takes at its lowest r, so every element gets
// at least the terms the scalar code gives it), and for log_kv the band around x = z0 v, where
// v*eta comes from bk_veta_band.  Small r with x <= 1.5 (Temme series, then the forward recurrence)
// runs batched with per-lane stopping; small r with x > 1.5 (Miller's backward recurrence, 5% of
// the bench grid) and rare cases call the scalar code.

// Debye region, N terms: log K_v(x) (Scaled: + x); Band: v*eta from its Taylor series about z0.
template <bool Scaled, int N, bool Band>
__attribute__((flatten)) void k_debye_kernel(const double* __restrict v_, const double* __restrict x_, double* __restrict o_, int m) {
  const double* v = static_cast<const double*>(__builtin_assume_aligned(v_, 64));
  const double* x = static_cast<const double*>(__builtin_assume_aligned(x_, 64));
  double* o = static_cast<double*>(__builtin_assume_aligned(o_, 64));
  for (int i = 0; i < m; ++i) {
    const double vi = v[i], xi = x[i];
    const double r = __builtin_sqrt(vi * vi + xi * xi);
    const double rinv = 1.0 / r;
    const double p = vi * rinv;
    double sm1, dsum;
    detail::bk_debye_sum_n<double, N, false>(p * p, -rinv, sm1, dsum);
    const double s = 1.0 + sm1;
    const double pre = 0.5 * log_pos((1.5707963267948966 * rinv) * (s * s));
    double ph;  // v*eta (Scaled: v*eta - x), as bk_debye_phase
    if (Band) {
      ph = detail::bk_veta_band<double>(vi, xi);
    } else {
      const double v2rx = vi * (vi / (r + xi));  // r - x
      // x >= v: log1p(u), u = (v + v2rx)/x, as log(w) + (u - (w - 1))/w with w = 1 + u rounded;
      // x < v: log(x/(v+r)) (x/(v+r) stays normal in the fast range)
      const double u = (vi + v2rx) / xi;
      const double w = 1.0 + u;
      const bool big = xi >= vi;
      const double l = log_pos(big ? w : xi / (vi + r));
      const double lg = big ? -(l + (u - (w - 1.0)) / w) : l;
      ph = Scaled ? v2rx + vi * lg : r + vi * lg;
    }
    o[i] = pre - ph;
  }
}

// e^y for |y| < 700, branch-free: y = k ln2 + t, |t| <= ln2/2, e^t by its Taylor polynomial of
// degree 13 (truncation < 4e-18 relative), 2^k added to the exponent bits.
inline double exp_mid(double y) {
  constexpr double kShift = 0x1.8p52;  // adding it rounds to an integer in the low bits
  const double kd = y * 1.4426950408889634 + kShift;
  const double k = kd - kShift;
  const double t = (y - k * kLn2Hi) - k * kLn2Lo;
  double p = 1.0 / 6227020800.0;
  p = p * t + 1.0 / 479001600.0;
  p = p * t + 1.0 / 39916800.0;
  p = p * t + 1.0 / 3628800.0;
  p = p * t + 1.0 / 362880.0;
  p = p * t + 1.0 / 40320.0;
  p = p * t + 1.0 / 5040.0;
  p = p * t + 1.0 / 720.0;
  p = p * t + 1.0 / 120.0;
  p = p * t + 1.0 / 24.0;
  p = p * t + 1.0 / 6.0;
  p = p * t + 0.5;
  p = p * t + 1.0;
  p = p * t + 1.0;
  const i64 ki = __builtin_bit_cast(i64, kd) - __builtin_bit_cast(i64, kShift);
  return __builtin_bit_cast(double, __builtin_bit_cast(i64, p) + (ki << 52));
}

// Small r with x <= 1.5: bk_small's Temme-series branch (bk_temme_series, then the forward
// recurrence on t_k = K_{mu+k}(x) (x/2)^k up to v), each lane stopping the series where the scalar
// loop would, the recurrence run to the longest n with finished lanes held.
template <bool Scaled>
__attribute__((flatten)) void k_temme_kernel(const double* __restrict v_, const double* __restrict x_, double* __restrict o_, int m) {
  const double* v = static_cast<const double*>(__builtin_assume_aligned(v_, 64));
  const double* x = static_cast<const double*>(__builtin_assume_aligned(x_, 64));
  double* o = static_cast<double*>(__builtin_assume_aligned(o_, 64));
  constexpr double eps = 5e-17;
  const double* rg = detail::kRecipGamma1pTaylor;
  alignas(64) double F[kChunk], P[kChunk], Q[kChunk], C[kChunk], S0[kChunk], S1[kChunk], MU[kChunk],
      LX[kChunk];
  alignas(64) i64 act[kChunk];
  for (int i = 0; i < m; ++i) {
    const double vh = v[i] - 0.5;
    const double nd = double(i64(vh));
    const double mu = v[i] - (nd + (nd < vh ? 1.0 : 0.0));
    const double lx = log_pos(x[i]);
    const double lx2 = lx - kLn2;
    const double m2 = mu * mu, m4 = m2 * m2;
    double Ea = 0.0, Eb = 0.0, Oa = 0.0, Ob = 0.0;
#pragma GCC unroll 8
    for (int j = 20; j >= 0; j -= 4) Ea = Ea * m4 + rg[j];
#pragma GCC unroll 8
    for (int j = 18; j >= 2; j -= 4) Eb = Eb * m4 + rg[j];
#pragma GCC unroll 8
    for (int j = 21; j >= 1; j -= 4) Oa = Oa * m4 + rg[j];
#pragma GCC unroll 8
    for (int j = 19; j >= 3; j -= 4) Ob = Ob * m4 + rg[j];
    const double E = Ea + m2 * Eb, O = Oa + m2 * Ob;
    const double gp = E + mu * O, gm = E - mu * O;
    const double sigma = -mu * lx2;
    const double e = exp_mid(sigma), ei = exp_mid(-sigma);
    const double fact = 1.0 / (gp * gm);
    const double ch = 0.5 * (e + ei);
    const double s2 = sigma * sigma;
    const double shs_poly = 1.0 + s2 * (1.0 / 6 + s2 * (1.0 / 120 + s2 * (1.0 / 5040 + s2 * (1.0 / 362880 +
          s2 * (1.0 / 39916800 + s2 * (1.0 / 6227020800.0 + s2 * (1.0 / 1307674368000.0 +
          s2 * (1.0 / 355687428096000.0))))))));
    const bool small = __builtin_fabs(sigma) < 0.5;
    const double sig_safe = small ? 1.0 : sigma;  // no division by zero in the unused branch
    const double shs = small ? shs_poly : 0.5 * (e - ei) / sig_safe;
    F[i] = fact * (-O * ch - E * shs * lx2);
    P[i] = 0.5 * e * gm * fact;
    Q[i] = 0.5 * ei * gp * fact;
    C[i] = 1.0;
    S0[i] = F[i];
    S1[i] = P[i];
    MU[i] = mu;
    LX[i] = lx;
    act[i] = 1;
  }
  for (int k = 1; k < 40; ++k) {
    const double kk = double(k);
    i64 any = 0;
    for (int i = 0; i < m; ++i) {
      const double mu = MU[i];
      const double ik = 1.0 / (kk * kk - mu * mu);
      const double f = (kk * F[i] + P[i] + Q[i]) * ik;
      const double p = P[i] * ((kk + mu) * ik);
      const double q = Q[i] * ((kk - mu) * ik);
      const bool a = act[i] != 0;
      // finished lanes keep c (instead of c x^2/4k) so that they raise no underflow the scalar
      // loop, stopped there, would not
      const double c = C[i] * (a ? (0.25 * x[i] * x[i]) / kk : 1.0);
      const double del = c * f;
      const double s0 = S0[i] + del;
      const double s1 = S1[i] + c * (p - kk * f);
      F[i] = a ? f : F[i];
      P[i] = a ? p : P[i];
      Q[i] = a ? q : Q[i];
      C[i] = a ? c : C[i];
      S0[i] = a ? s0 : S0[i];
      S1[i] = a ? s1 : S1[i];
      const i64 na = act[i] & i64(!(__builtin_fabs(del) < eps * s0));
      act[i] = na;
      any |= na;
    }
    if (any == 0) break;
  }
  for (int i = 0; i < m; ++i) {
    const double mu = MU[i];
    const double vh = v[i] - 0.5;
    const double nd0 = double(i64(vh));
    const double n = nd0 + (nd0 < vh ? 1.0 : 0.0);
    const double x2 = 0.25 * x[i] * x[i];
    double tp = S0[i], tc = S1[i];
#pragma GCC unroll 24
    for (int k = 1; k < 22; ++k) {
      const double tn = (mu + double(k)) * tc + x2 * tp;
      const bool go = double(k) < n;
      tp = go ? tc : tp;
      tc = go ? tn : tc;
    }
    const bool n0 = n == 0.0;
    const double base = Scaled ? x[i] : 0.0;
    o[i] = base + log_pos(n0 ? S0[i] : tc) + (n0 ? 0.0 : n * (kLn2 - LX[i]));
  }
}

// Region ids: 0..4 Debye with 4/6/9/14/21 terms (r >= 5800, 424, 86, 32.1, 22: bk_debye_terms's
// thresholds for those counts), 5 the z0 band (log_kv only, 21 terms), 6 small r with x <= 1.5
// (Temme series), 7 scalar (small r with x > 1.5, Miller's recurrence; rare cases).
constexpr int kKBandRegion = 5;
constexpr int kKTemmeRegion = 6;
constexpr int kKRegions = 7;

template <bool Scaled>
void log_k_block(const double* a, const double* b, double* o, int m) {
  alignas(64) int idx[kKRegions + 1][kChunk];
  int cnt[kKRegions + 1] = {};
  std::fexcept_t flags;
  std::fegetexceptflag(&flags, FE_OVERFLOW);
  for (int i = 0; i < m; ++i) {
    const double v = a[i], x = b[i];
    // bk_hypot's plain-sqrt range; x/(v+r) and the band's d/v stay normal there
    const bool fast = v > 1e-150 && v < 1e150 && x > 1e-150 && x < 1e150;
    const double r = __builtin_sqrt(v * v + x * x);
    const bool debye = r >= detail::bk_debye_min_r(false);
    const bool band = !Scaled && detail::bk_in_band(v, x);
    int g = 4 - int(r >= 32.1) - int(r >= 86.0) - int(r >= 424.0) - int(r >= 5800.0);
    g = g ^ ((g ^ kKBandRegion) & -int(band));
    const int gs = x <= 1.5 ? kKTemmeRegion : kKRegions;
    g = g ^ ((g ^ gs) & -int(!debye));
    g = g ^ ((g ^ kKRegions) & -int(!fast));
    idx[g][cnt[g]++] = i;
  }
  if (cnt[kKRegions] > 0) std::fesetexceptflag(&flags, FE_OVERFLOW);  // as in log_i_block
  for (int j = 0; j < cnt[kKRegions]; ++j) {
    const int i = idx[kKRegions][j];
    o[i] = Scaled ? fs::log_kve<double>(a[i], b[i]) : fs::log_kv<double>(a[i], b[i]);
  }
  for (int g = 0; g < kKRegions; ++g) {
    run_region(a, b, o, idx[g], cnt[g], [g](const double* vg, const double* xg, double* og, int np) {
      switch (g) {
        case 0: k_debye_kernel<Scaled, 4, false>(vg, xg, og, np); break;
        case 1: k_debye_kernel<Scaled, 6, false>(vg, xg, og, np); break;
        case 2: k_debye_kernel<Scaled, 9, false>(vg, xg, og, np); break;
        case 3: k_debye_kernel<Scaled, 14, false>(vg, xg, og, np); break;
        case 4: k_debye_kernel<Scaled, 21, false>(vg, xg, og, np); break;
        case kKBandRegion: k_debye_kernel<Scaled, 21, true>(vg, xg, og, np); break;
        default: k_temme_kernel<Scaled>(vg, xg, og, np); break;
      }
    });
  }
}

// ---------------------------------------------------------------- region-batched iv_ratio / log_iv_dx
//
// The same scheme for I_a/I_{a-1} (iv_ratio: a = v; log_iv_dx: a = v + 1, plus v/x) in the
// region where bessel_i.hpp takes the difference of the two Debye expressions (x > R0 and
// x > a/2): per element two square roots, four log1p's, a log and an exp, all branch-free here
// (log_pos, exp_mid, log1p by log_pos plus the rounding correction of 1 + u).  Term classes of
// the Debye tails by r_b = hypot(|a - 1|, x) as in debye_tail.  The continued-fraction region
// (x <= R0 or x <= a/2, now a short multiply-add chain), special values and magnitudes beyond
// 2^60 stay with the scalar code.

// log(1 + u) for u > -1 with 1 + u normal: the log of w = fl(1 + u) plus its rounding error's
// first-order correction (u - (w - 1))/w, so small u keep their relative accuracy.
inline double log1p_pos(double u) {
  const double w = 1.0 + u;
  return log_pos(w) + (u - (w - 1.0)) / w;
}

// I_a(x)/I_{a-1}(x) from the Debye expressions of orders a and b = |a - 1| (iv_ratio_nonneg).
template <int N>
void ratio_debye_kernel(const double* __restrict a_, const double* __restrict x_,
                        double* __restrict o_, int m) {
  const double* av = static_cast<const double*>(__builtin_assume_aligned(a_, 64));
  const double* xv = static_cast<const double*>(__builtin_assume_aligned(x_, 64));
  double* o = static_cast<double*>(__builtin_assume_aligned(o_, 64));
  for (int i = 0; i < m; ++i) {
    const double a = av[i], x = xv[i];
    const bool ge1 = a >= 1.0;
    const double b = ge1 ? a - 1.0 : 1.0 - a;
    const double dab = ge1 ? 1.0 : a - b;
    const double ra = __builtin_sqrt(a * a + x * x), rb = __builtin_sqrt(b * b + x * x);
    const double drr = dab * (a + b) / (ra + rb);
    // debye_log_ratio(a, x, ra, t): log1p((a/x)(1 + t)) for x >= a, else log((a + ra)/x)
    // (one log of a selected argument: a select between two calls kept the loop scalar)
    const double t = a / (ra + x);
    const double u = (a / x) * (1.0 + t);
    const double w = 1.0 + u;
    const bool big = x >= a;
    const double la = log_pos(big ? w : (a + ra) / x) + (big ? (u - (w - 1.0)) / w : 0.0);
    const double dl = log1p_pos((dab + drr) / (b + rb));
    const double e = drr - dab * la - b * dl;
    const double rhoa = 1.0 / ra, rhob = 1.0 / rb;
    const double pa = a * rhoa, pb = b * rhob;
    const double ta = detail::debye_tail_n<double, N>(pa * pa, rhoa);
    const double tb = detail::debye_tail_n<double, N>(pb * pb, rhob);
    const double ls = log1p_pos((ta - tb) / (1.0 + tb));
    const double lp = -0.5 * log1p_pos(drr / rb);
    o[i] = exp_mid(e + lp + ls);
  }
}

constexpr int kRatioRegions = 4;

// LogDx: log_iv_dx (a = v + 1 for v >= 0, result + v/x); else iv_ratio (a = v).
template <bool LogDx>
void ratio_block(const double* a_in, const double* b, double* o, int m) {
  alignas(64) int idx[kRatioRegions + 1][kChunk];
  alignas(64) double av[kChunk];
  int cnt[kRatioRegions + 1] = {};
  for (int i = 0; i < m; ++i) {
    const double v = a_in[i], x = b[i];
    const double a = LogDx ? v + 1.0 : v;
    av[i] = a;
    // the Debye-difference region of iv_ratio_nonneg, at magnitudes where no square overflows
    const bool fast = (LogDx ? v >= 0.0 : a >= 0.5) && a < 0x1p60 && x < 0x1p60 &&
                      x > Tr::kSeriesMaxR && x > Tr::kCfFrac * a;
    // clamped so that the classification itself raises no overflow flag (NumPy would warn)
    const double xc = x < 0x1p60 ? x : 0.0, ac = a < 0x1p60 ? a : 0.0;
    const double bb = ac >= 1.0 ? ac - 1.0 : 1.0 - ac;
    const double rb2 = bb * bb + xc * xc;
    int g = 3 - int(rb2 >= 35.92 * 35.92) - int(rb2 >= 74.82 * 74.82) - int(rb2 >= 553.1 * 553.1);
    g = g ^ ((g ^ kRatioRegions) & -int(!fast));
    idx[g][cnt[g]++] = i;
  }
  for (int j = 0; j < cnt[kRatioRegions]; ++j) {
    const int i = idx[kRatioRegions][j];
    o[i] = LogDx ? fs::log_iv_dx<double>(a_in[i], b[i]) : fs::iv_ratio<double>(a_in[i], b[i]);
  }
  for (int g = 0; g < kRatioRegions; ++g) {
    run_region(av, b, o, idx[g], cnt[g], [g](const double* ag, const double* xg, double* og, int np) {
      switch (g) {
        case 0: ratio_debye_kernel<6>(ag, xg, og, np); break;
        case 1: ratio_debye_kernel<10>(ag, xg, og, np); break;
        case 2: ratio_debye_kernel<14>(ag, xg, og, np); break;
        default: ratio_debye_kernel<19>(ag, xg, og, np); break;
      }
    });
    if (LogDx)
      for (int j = 0; j < cnt[g]; ++j) {
        const int i = idx[g][j];
        o[i] += a_in[i] / b[i];
      }
  }
}

// float32 iv_ratio / log_iv_dx: the float64 block on widened inputs, rounded once (the float
// code ran the continued fraction in double anyway; its Debye region in float was scalar).
template <bool LogDx>
void ratio_block_f32(const float* a, const float* b, float* o, int m) {
  alignas(64) double ad[kChunk], bd[kChunk], od[kChunk];
  for (int i = 0; i < m; ++i) {
    ad[i] = a[i];
    bd[i] = b[i];
  }
  ratio_block<LogDx>(ad, bd, od, m);
  for (int i = 0; i < m; ++i) o[i] = float(od[i]);
}

constexpr bool same_name(const char* p, const char* q) {
  while (*p && *p == *q) ++p, ++q;
  return *p == *q;
}

}  // namespace

#define FS_DEFINE_BINARY(name, doc)                                                        \
  void name##_f32(const Strided2& s) {                                                     \
    if constexpr (same_name(#name, "iv_ratio")) map2_blocked<float>(s, ratio_block_f32<false>); \
    else if constexpr (same_name(#name, "log_iv_dx")) map2_blocked<float>(s, ratio_block_f32<true>); \
    else map2<float>(s, [](float v, float x) { return fs::name<float>(v, x); });           \
  }                                                                                        \
  void name##_f64(const Strided2& s) {                                                     \
    if constexpr (same_name(#name, "log_iv")) map2_blocked<double>(s, log_i_block<false>); \
    else if constexpr (same_name(#name, "log_ive")) map2_blocked<double>(s, log_i_block<true>); \
    else if constexpr (same_name(#name, "log_kv")) map2_blocked<double>(s, log_k_block<false>); \
    else if constexpr (same_name(#name, "log_kve")) map2_blocked<double>(s, log_k_block<true>); \
    else if constexpr (same_name(#name, "iv_ratio")) map2_blocked<double>(s, ratio_block<false>); \
    else if constexpr (same_name(#name, "log_iv_dx")) map2_blocked<double>(s, ratio_block<true>); \
    else map2<double>(s, [](double v, double x) { return fs::name<double>(v, x); });       \
  }
#define FS_DEFINE_UNARY(name, doc)                                                         \
  void name##_f32(const Strided1& s) { map1<float>(s, [](float x) { return fs::name<float>(x); }); } \
  void name##_f64(const Strided1& s) { map1<double>(s, [](double x) { return fs::name<double>(x); }); }
FS_BESSEL_BINARY_FUNCTIONS(FS_DEFINE_BINARY)
FS_BESSEL_UNARY_FUNCTIONS(FS_DEFINE_UNARY)
#define FS_DEFINE_SCALAR(name, doc)                                                          \
  void scalar_##name##_f32(const Strided2& s) { map2<float>(s, [](float v, float x) { return fs::name<float>(v, x); }); } \
  void scalar_##name##_f64(const Strided2& s) { map2<double>(s, [](double v, double x) { return fs::name<double>(v, x); }); }
FS_BESSEL_BATCHED_FUNCTIONS(FS_DEFINE_SCALAR)
#undef FS_DEFINE_SCALAR
#undef FS_DEFINE_BINARY
#undef FS_DEFINE_UNARY

}  // namespace cpu
}  // namespace fs
