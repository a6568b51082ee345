// Direct values of I_v(x), K_v(x) and their scaled forms for v >= 0, x > 0 (iv/ive/kv/kve).
//
// exp(log f) carries the absolute error of the log as a relative error of f: up to |log f| eps,
// i.e. thousands of ulp.  So the values are formed without a rounded log in between.  Everything
// runs in double, also for float results, which are rounded once at the end.  Regions
// (r = hypot(v, x), kValueDebyeMinR = 22, the K core's Debye threshold):
//  * I, r < 22 or (x <= 2, v <= 150): power series (x/2)^v / Gamma(v+1) sum_k (x^2/4)^k/(k!(v+1)_k),
//    all terms positive.  No pow or tgamma (together ~60 ns): 1/Gamma(v+1) from a fit and an
//    exact-factor product (v < 7) or Stirling (v >= 7), and exp of one double-double exponent
//    v log(x/2) [- mu] [- x]; ~1 ulp each, the sum a few roundings.
//  * K, r < 22: Temme series / Miller recurrence and the forward recurrence of bessel_k.hpp on
//    unscaled values (bk_small_value), no log.
//  * r >= 22, both: Debye value exp(E) M.  M = S / sqrt(2 pi r) (I) or sqrt(pi/(2r)) S (K), S the
//    Debye sum of bessel_k.hpp (w = +1/r for I, -1/r for K) -- relative error ~1 ulp.
//    E = +-(r + v log(x/(v+r))), scaled: +-((r - x) + v log(x/(v+r))), formed in double-double
//    (bessel_dd.hpp) so that its absolute error is ~1e-30 |components| and exp(E_hi)(1 + E_lo)
//    is within ~1 ulp.  This also covers the turning point x ~ 0.66 v, where E cancels.
//    Scaled values with r - x = v^2/(r+x) < 1/4 (x >> v) take E in plain double: its components are
//    then < ~1/2, so their rounding is < 1 ulp of the value.
//  * Anything else (r >= 1e150 outside the plain scaled branch, x/(v+r) < 1e-280) goes back to the log path in
//    bessel.hpp: the results there are 0, inf or within a few ulp of the underflow edge.
#pragma once

#include "fastspectral/bessel_dd.hpp"
#include "fastspectral/bessel_k.hpp"
#include "fastspectral/config.hpp"

namespace fs {
namespace detail {

FS_HOST_DEVICE FS_INLINE float tgamma_t(float x) { return ::tgammaf(x); }
FS_HOST_DEVICE FS_INLINE double tgamma_t(double x) { return ::tgamma(x); }

FS_CONSTANT double kValueDebyeMinR = 22.0;
FS_CONSTANT double kDblMin2 = 4.4501477170144028e-308;  // 2 DBL_MIN: x/2 is exact above

// exp(E) M for E = E.hi + E.lo, M > 0 (1e-76 < M < 1 here): exp of the rounded E.hi is within
// ~0.5 ulp and E.lo enters to first order.  Near the exponent range's ends write E = k ln2 + e
// (in dd) so that neither exp(E.hi) nor M 2^k under/overflows before the final ldexp, which
// rounds once into the subnormal range.  Beyond |E| = 2000 the value is 0 or inf (and E.lo is
// no longer small).
FS_HOST_DEVICE FS_INLINE double exp_dd_times(dd_t E, double M) {
  if (math::fabs(E.hi) <= 700.0) return math::exp(E.hi) * (M + M * E.lo);
  if (E.hi > 2000.0) return math::infinity<double>();
  if (E.hi < -2000.0) return 0.0;
  const double k = math::floor(E.hi * 1.4426950408889634 + 0.5);
  dd_t kl = dd_two_prod(k, 0.6931471805599453);
  kl.lo += k * 2.3190468138462996e-17;
  const dd_t e = dd_add(E, {-kl.hi, -kl.lo});
  return ::ldexp(math::exp(e.hi) * (M + M * e.lo), int(k));
}

// 1/Gamma(v + 1) for 0 <= v < 7.  glibc's tgamma costs ~47 ns; this ~10.  With n = floor(v),
// f = v - n (exact), each k + f = v - (n - k) is exact too, so Gamma(v+1) = Gamma(1+f)
// prod_{k<=n} (k+f) has only the product's roundings (<= 6) and the fit's.  1/Gamma(1.5 + z),
// |z| <= 1/2: Chebyshev fit of degree 15 (truncation 5e-19 relative, 1.3 ulp as evaluated),
// split into even and odd parts in z^2 to halve the dependency chain.  z = f - 0.5 rounds for
// f < 1/4, by < 2^-55 absolute, which |psi| < 0.6 keeps below 0.1 ulp.
FS_HOST_DEVICE FS_INLINE double rgamma1p_small(double v) {
  const double n = math::floor(v);
  const double f = v - n;
  const double z = f - 0.5, z2 = z * z;
  double e = -9.002261834603835e-08;
  e = e * z2 + 2.1565577829270528e-06;
  e = e * z2 + 2.5355130539175535e-05;
  e = e * z2 + -0.001110730245918119;
  e = e * z2 + 0.006612897826273515;
  e = e * z2 + 0.050966860247723254;
  e = e * z2 + -0.5266544355255447;
  e = e * z2 + 1.1283791670955126;
  double o = 1.6830710938973937e-08;
  o = o * z2 + 5.80540732549556e-08;
  o = o * z2 + -1.3896829354060864e-05;
  o = o * z2 + 0.00015235762354157663;
  o = o * z2 + 0.002120731442396242;
  o = o * z2 + -0.042155169368530074;
  o = o * z2 + 0.1751020260439345;
  o = o * z2 + -0.0411745264452831;
  const double rg = o * z + e;
  double p = 1.0;
  for (int k = 1; k <= 6; ++k) p *= double(k) <= n ? double(k) + f : 1.0;
  return rg / p;
}

// log((x/2)^v / Gamma(v+1)) + 0.5 log(2 pi v) for v >= 7 (x > 0), by Stirling:
// Gamma(v+1) = sqrt(2 pi v) (v/e)^v exp(mu(v)), mu = sum_k B_2k/(2k(2k-1) v^(2k-1)), 12 terms
// (< 2e-18 left at v = 7).  So it is v log(x e/(2v)) - mu; the base is formed as bh (1 + d) in
// double-double (its rounding alone would cost v/2 ulp), and log_plus takes d.
template <class P = double>
FS_HOST_DEVICE FS_INLINE dd_t iv_series_log_lead_stirling(P v, P x) {
  const double hx = 0.5 * x;
  const dd_t p = dd_two_prod(hx, 2.718281828459045);
  const double plo = p.lo + hx * 1.4456468917292502e-16;
  const double bh = p.hi / v;
  const double d = (dd_residual(p.hi, bh, v) + plo) / p.hi;
  const double w = 1.0 / v, w2 = w * w;
  double mu = -156.84828462600203;
  mu = mu * w2 + 13.402864044168393;
  mu = mu * w2 + -1.3924322169059011;
  mu = mu * w2 + 0.17964437236883057;
  mu = mu * w2 + -0.029550653594771242;
  mu = mu * w2 + 0.00641025641025641;
  mu = mu * w2 + -0.0019175269175269176;
  mu = mu * w2 + 0.0008417508417508417;
  mu = mu * w2 + -0.0005952380952380953;
  mu = mu * w2 + 0.0007936507936507937;
  mu = mu * w2 + -0.002777777777777778;
  mu = mu * w2 + 0.08333333333333333;
  const dd_t L = log_plus<P>(bh, d);
  dd_t E = dd_two_prod(v, L.hi);
  const dd_t s = dd_two_sum(E.hi, -mu * w);
  return {s.hi, s.lo + (E.lo + v * L.lo)};
}

// I_v(x) (times e^-x if scaled) by the power series; x > 0, and r < 22 or (x <= 2, v <= 150):
// (x^2/4)^k/(k!(v+1)_k) falls below 1e-17 of the sum after at most ~55 terms.  The power, the
// Stirling correction and e^-x go into one exponent E (double-double) and one exp: glibc's pow
// alone costs about what log_plus and exp do together.
template <bool scaled, class P = double>
FS_HOST_DEVICE FS_INLINE double iv_series_value(P v, P x) {
  if (v >= 7.0) {
    // Underflow, common for v > 22 and tiny x: the value is below (x e/(2v))^v S with the sum
    // S < e^(q/(v+1)) < 2^20 here, and log2(x e/(2v)) < ex - ev + 1.45 from the binary exponents.
    const long long ex = dd_bits(x) >> 52, ev = dd_bits(v) >> 52;
    if (v * (double(ex - ev) + 1.5) < -1100.0) return 0.0;
  }
  // The rounding of q = (x/2)^2 would enter term k k times (5 ulp near x = 20, where the
  // largest terms have k ~ 10): with q = qh + ql exactly, term_k(q) = term_k(qh) (1 + k ql/qh),
  // so add (ql/qh) sum k term_k.
  const dd_t q = dd_two_prod(0.5 * x, 0.5 * x);
  // Two terms per step: the chain through `term` is then one multiply per two terms, and one
  // division serves both ratios.
  double term = 1.0, sum = 1.0, ksum = 0.0;
  for (int k = 1; k < 200; k += 2) {
    const double k1 = double(k), k2 = k1 + 1.0;
    const double d1 = k1 * (v + k1), d2 = k2 * (v + k2);
    const double c = q.hi / (d1 * d2);
    const double a1 = c * d2, a12 = c * q.hi;
    const double t1 = term * a1;
    term *= a12;
    sum += t1 + term;
    ksum += k1 * t1 + k2 * term;
    if (term <= 1e-17 * sum) break;
  }
  if (q.hi > 0.0) sum += (q.lo / q.hi) * ksum;
  dd_t E;
  double M;
  if (v >= 7.0) {
    E = iv_series_log_lead_stirling<P>(v, x);
    M = sum / math::sqrt(6.283185307179586 * v);
  } else {
    // log(x/2) = log(x') - c ln2 with x' = x (c = 1) or, x subnormal, x 2^54 (c = 55); c ln2_hi
    // is exact (ln2_hi has 42 bits).
    const bool sub = x < 1e-300;
    const double c = sub ? 55.0 : 1.0;
    const dd_t L = log_plus<P>(sub ? x * 18014398509481984.0 : x, 0.0);
    const dd_t Lc = dd_two_sum(L.hi, -c * kLn2Hi42);
    const double llo = Lc.lo + (L.lo - c * kLn2Lo42);
    const dd_t B = dd_two_prod(v, Lc.hi);
    E = {B.hi, B.lo + v * llo};
    M = sum * rgamma1p_small(v);
  }
  if (scaled) {
    const dd_t s = dd_two_sum(E.hi, -x);
    E = {s.hi, s.lo + E.lo};
  }
  // log_plus's lo part is unnormalised (up to ~1e-7 |hi|); exp_dd_times wants it < ~1e-13.
  return exp_dd_times(dd_two_sum(E.hi, E.lo), M);
}

// Exponent E = r + v log(x/(v+r)) (I; minus it for K), less x if scaled, for r = hypot(v, x)
// in [22, 1e150), x > 1e-280 r, as E.hi + E.lo with absolute error ~1e-20 max(1, components).
// r = rh + rl: rl from v^2 + x^2 - rh^2 (two_prods; one fma is exact there).  y = x/(v+r) is
// taken as yh (1 + d): one division, d from the residual, and log_plus adds d to log yh.
template <bool is_k, bool scaled>
FS_HOST_DEVICE FS_INLINE dd_t debye_exponent(double v, double x, double r, double rinv) {
  const dd_t pv = dd_two_prod(v, v), px = dd_two_prod(x, x);
  const dd_t ss = dd_two_sum(pv.hi, px.hi);
  const double rl = (dd_residual(ss.hi, r, r) + (ss.lo + (pv.lo + px.lo))) * (0.5 * rinv);
  const dd_t dv = dd_two_sum(v, r);
  const double dl = dv.lo + rl;
  const double yh = x / dv.hi;
  const double d = (dd_residual(x, yh, dv.hi) - yh * dl) / x;
  const dd_t L = log_plus(yh, d);
  const dd_t B = dd_two_prod(v, L.hi);
  const dd_t A = scaled ? dd_two_sum(r, -x) : dd_t{r, 0.0};
  const dd_t s = dd_two_sum(A.hi, B.hi);
  const double lo = s.lo + ((A.lo + rl) + (B.lo + v * L.lo));
  const dd_t E = dd_fast_two_sum(s.hi, lo);
  return is_k ? dd_t{-E.hi, -E.lo} : E;
}

// Debye value of I (is_k false) or K, r = hypot(v, x) in [22, 1e150), x > 1e-280 r.
template <class T, bool is_k, bool scaled>
FS_HOST_DEVICE FS_INLINE double debye_value(double v, double x, double r) {
  const double rmx = v * (v / (r + x));  // r - x
  {
    // Cheap bound first (a third of a log-uniform grid lies there): log(x/(v+r)) < (ex - ed + 1)
    // ln 2 from the binary exponents, so E(I) < bound; below -2100 the value is 0 (I) or inf (K).
    const long long ex = dd_bits(x) >> 52, ed = dd_bits(v + r) >> 52;
    // (the margin term covers the rounding of the sum where its parts cancel, huge v)
    const double a = scaled ? rmx : r;
    if (a + v * (double(ex - ed + 1) * 0.6931471805599453) < -2100.0 - 1e-14 * a)
      return is_k ? math::infinity<double>() : 0.0;
  }
  const double rinv = 1.0 / r;
  dd_t E;
  if (scaled && rmx < 0.25) {
    E = {rmx - v * math::log1p((v + rmx) / x), 0.0};  // here x > v
    if (is_k) E.hi = -E.hi;
  } else if (bk_is_float<T>()) {
    // a float result needs E only to ~2^-40 relative: plain double
    const double lg = x >= v ? -math::log1p((v + rmx) / x) : math::log(x / (v + r));
    E = {(scaled ? rmx : r) + v * lg, 0.0};
    if (is_k) E.hi = -E.hi;
  } else {
    E = debye_exponent<is_k, scaled>(v, x, r, rinv);
  }
  // Far outside the range (|E| > 2000) the value is 0 or inf whatever M (1e-76 < M < 1): skip M.
  if (E.hi < -2000.0) return 0.0;
  if (E.hi > 2000.0) return math::infinity<double>();
  const double p = v * rinv;
  double sm1, unused;
  bk_debye_sum<T, false>(p * p, is_k ? -rinv : rinv, bk_debye_terms<T>(r), sm1, unused);
  const double M = (1.0 + sm1) * math::sqrt((is_k ? 1.5707963267948966 : 0.15915494309189535) * rinv);
  return exp_dd_times(E, M);
}

// I_v(x) (times e^-x if scaled) for v >= 0, x > 0 finite.  Returns false where the log path
// must be used.
template <class T, bool scaled>
FS_HOST_DEVICE FS_INLINE bool iv_value_nonneg(double v, double x, double* out) {
  const double r = bk_hypot(v, x);
  if (r < kValueDebyeMinR || (x <= 2.0 && v <= 150.0)) {
    *out = iv_series_value<scaled>(v, x);
    return true;
  }
  if (x <= 1e-280 * r) return false;
  // the squares in the exponent would overflow; only the plain-double scaled branch (x >> v) works there
  if (r >= 1e150 && !(scaled && v * (v / (r + x)) < 0.25)) return false;
  *out = debye_value<T, false, scaled>(v, x, r);
  return true;
}

// K_v(x) (times e^x if scaled) for v >= 0, x > 0 finite.
template <class T, bool scaled>
FS_HOST_DEVICE FS_INLINE bool kv_value_nonneg(double v, double x, double* out) {
  const double r = bk_hypot(v, x);
  if (r < kValueDebyeMinR) {
    *out = bk_small_value<T, scaled>(v, x);
    return true;
  }
  if (x <= 1e-280 * r) return false;
  if (r >= 1e150 && !(scaled && v * (v / (r + x)) < 0.25)) return false;
  *out = debye_value<T, true, scaled>(v, x, r);
  return true;
}

// K_v(x) for tiny x: 0.5 Gamma(v) (2/x)^v.  For 1 <= v <= 170 and x <= 1e-9 the neglected
// terms are O((x/2)^2 |log x|) ~ 1e-17 relative.  Split the power so that it cannot overflow
// before the Gamma factor (< 1 for 1 < v < 2) is applied.
template <class T>
FS_HOST_DEVICE FS_INLINE bool use_tiny_x_kv_value(T v, T x) {
  return sizeof(T) == sizeof(double) && x >= T(2) * std::numeric_limits<T>::min() &&
         x <= T(1e-9) && v >= T(1) && v <= T(170);
}

template <class T>
FS_HOST_DEVICE T kv_tiny_x_value(T v, T x) {
  const T p = math::pow(T(2) / x, v / T(2));
  return (p * (T(0.5) * tgamma_t(v))) * p;
}

}  // namespace detail
}  // namespace fs
