// log I_v(x) and friends for v >= 0, x >= 0 (the core the SciPy-semantics layer builds on).
//
// Regions (r = sqrt(v^2 + x^2); thresholds measured against Arb, see tests/tools/dev_bessel_i_check.py):
//
//  log_iv / log_ive
//   * r <  R0 (24.2 double, 10.1 float): power series (x/2)^v/Gamma(v+1) sum (x^2/4)^k/(k!(v+1)_k) in
//     log form.  All terms positive: no cancellation; at most ~60 terms (double) at x = R0.
//     R0 is where the 20-term (double) / 13-term (float) Debye sum first reaches 2e-17 / 3e-9 for
//     every p = v/r in [0, 1]; the worst p is 0 (the Hankel limit), so R0 does not depend on v.
//   * r >= R0: Debye expansion in the r-form (valid uniformly down to v = 0, where it is the Hankel
//     expansion):  log I = r - v log((v+r)/x) - log(2 pi r)/2 + log(sum_k P_k(p^2) / r^k).
//     Number of terms: the table kDebyeMinR* gives the smallest N whose first omitted term is below
//     tolerance at every p (double: 19 at R0, 6 from r = 553, 4 from 8654); debye_tail rounds it up
//     to one of a few unrolled counts (double 6/10/14/19, float 4/6/12) because on mixed inputs
//     each extra class is a mispredicted branch that costs more than the extra (parallel) FMAs.
//     log_iv takes log((v+r)/x) as a plain log for all x (its error ~eps*v is small against
//     log I >= 0.5 v where x >= v); log_ive needs the log1p form there.
//     The exponentially small second solution (relative e^{-2x}) is below 1e-20 for x >= R0.
//   * Inside the Debye region, for log_iv only, the band |x - z0 v| <= kBand * v around the zero z0 =
//     0.66274... of eta(z) = sqrt(1+z^2) + log(z/(1+sqrt(1+z^2))) (where r and v log(...) cancel
//     to ~0 and an O(eps v) absolute error would dominate the O(1) result) evaluates
//     v eta = u P(u/v) with u = x - z0 v formed with an FMA and a split z0: a Taylor series of
//     eta about z0 (radius 0.66; band 0.06 double with 18 terms, 0.2 float with 15 terms).
//   * log_ive uses (r - x) = v * v/(r+x) and log((v+r)/x) = log1p((v/x)(1 + v/(r+x))) for x >= v, so
//     v eta - x never cancels (it has no zero).
//  iv_ratio I_v/I_{v-1}
//   * x <= max(R0, kCfFrac * v): Gauss continued fraction x/(2v + x^2/(2(v+1) + ...)) by the
//     convergents' forward recurrences; a few terms for x << v, <= ~80 terms at x ~ R0, v small.
//   * otherwise: exp of the difference of the two Debye expressions, every piece rewritten as a
//     difference that is formed without cancellation (r_a - r_b = (a-b)(a+b)/(r_a+r_b), ...).
//  log_iv_dx = iv_ratio(v+1, x) + v/x (both positive).
//  Series lead v log(x/2) - lgamma(v+1): Stirling form for v >= 8 (lgamma's rounding near log I = 0
//  cost 1.4e-14 at v ~ 19.5, x ~ 14), with its -log(v+1)/2 folded into log(sum); plain lgamma below,
//  and for v < 1/2 log1p of (1/Gamma(1+v) - 1 from its Taylor series) and of the sum's tail, so that
//  log I_v(x) keeps its relative accuracy where it is tiny (v ~ 0, small x: log I_0(x) ~ x^2/4).
//  v or x beyond kHugeArg: the Debye exponent at (v/4, x/4), times 4 (log_i_huge).
//  Float: log_iv with r < 64 or |x - z0 v| <= 0.35 v, and log_ive with r < R0, are evaluated in
//  double and rounded once (pure-float cancellation of O(r) terms gave up to 2e-6 there).
//  iv_ratio (and log_iv_dx) in float run the continued fraction in double (float CF: 5.7e-7).
//  Everything else runs in float arithmetic.
//  The float64 CPU ufunc loops of log_iv / log_ive do not call log_iv_nonneg / log_ive_nonneg per
//  element: csrc/cpu/bessel_cpu.cpp re-implements these regions as vectorized per-region loops
//  (same thresholds and formulas, its own log).  A change to the math here must be made there too.
#pragma once

#include "fastspectral/bessel_debye_coeffs.hpp"
#include "fastspectral/bessel_k.hpp"  // kRecipGamma1pTaylor
#include "fastspectral/config.hpp"

namespace fs {
namespace detail {

// Taylor coefficients of eta(z0 + d) / d at d = 0, z0 = 0.66274... the zero of eta
// (generated with mpmath at 40 digits).
FS_CONSTANT double kEtaBand[24] = {
    1.81017058069897718e+00,  -9.48886416256837006e-01, 1.10015289485065026e+00,
    -1.29530067798605386e+00, 1.57154556656197242e+00,  -1.97102958013450658e+00,
    2.54422267255020840e+00,  -3.35741768896192827e+00, 4.50363974503915365e+00,
    -6.11691615417085366e+00, 8.39111471209130499e+00,  -1.16060127673206228e+01,
    1.61647254358941908e+01,  -2.26482663911012558e+01, 3.18952684902338177e+01,
    -4.51183158825840991e+01, 6.40735747997522083e+01,  -9.13082455009445084e+01,
    1.30521902384093949e+02,  -1.87094713628130023e+02, 2.68860363382199125e+02,
    -3.87238010087339603e+02, 5.58891376364761527e+02,  -8.08162288658125931e+02,
};

// kDebyeMinR*[N]: smallest r at which N Debye terms (k = 0..N-1) leave a first omitted term
// max_p |u_N(p)| / v^N below 2e-17 (double) / 3e-9 (float).  Zero = never needed.  debye_tail
// repeats the entries it uses as literals (host code cannot read a __device__ table).
FS_CONSTANT double kDebyeMinRD[21] = {0.0,   0.0,   5.929e+07, 1.541e+05, 8654,  1626,  553.1,
                                      262.7, 153.2, 102.2,     74.82,     58.52, 48.06, 40.96,
                                      35.92, 32.21, 29.41,     27.24,     25.53, 24.17, 23.07};
FS_CONSTANT float kDebyeMinRF[21] = {0.0f,   0.0f,   4841.f, 290.1f, 78.19f, 37.65f, 23.99f,
                                     17.84f, 14.56f, 12.62f, 11.39f, 10.57f, 10.01f, 0.0f,
                                     0.0f,   0.0f,   0.0f,   0.0f,   0.0f,   0.0f,   0.0f};

template <class T>
struct BesselITraits;

template <>
struct BesselITraits<double> {
  static constexpr double kSeriesMaxR = 24.2;  // below: power series; above: Debye
  static constexpr double kSeriesTol = 5.6e-17;
  static constexpr double kSeriesTinyX = 1e-140;
  static constexpr double kTinyRatio = 1e-300;
  static constexpr double kBand = 0.06;
  static constexpr int kBandTerms = 18;
  static constexpr double kSquareSafe = 1e150;  // v*v + x*x cannot overflow below this
  static constexpr double kHugeR = 1e300;        // 1/r would be subnormal beyond this
  static constexpr double kHugeArg = 0x1p1020;   // beyond: v + r could overflow (log_i_huge)
  static constexpr double kCfTol = 2.2e-16;
  static constexpr double kCfFrac = 0.5;
  static constexpr double kCfBig = 0x1p300;  // the CF's convergents are rescaled above this
  static constexpr double kZ0Hi = 6.62743419349181573e-01;  // zero of eta, split hi + lo
  static constexpr double kZ0Lo = 8.15532379050126712e-18;
};

template <>
struct BesselITraits<float> {
  static constexpr float kSeriesMaxR = 10.1f;
  static constexpr float kSeriesTol = 3e-8f;
  static constexpr float kSeriesTinyX = 1e-17f;
  static constexpr float kTinyRatio = 1e-37f;
  static constexpr float kBand = 0.2f;
  static constexpr int kBandTerms = 15;
  static constexpr float kSquareSafe = 1e18f;
  static constexpr float kHugeR = 1e36f;
  static constexpr float kHugeArg = 0x1p124f;  // beyond: v + r could overflow (done in double)
  static constexpr float kCfTol = 1.2e-7f;
  static constexpr float kCfFrac = 0.5f;
  static constexpr float kCfBig = 0x1p40f;
  static constexpr float kZ0Hi = 0.6627434f;
  static constexpr float kZ0Lo = 2.9742706e-08f;
};

template <class T>
FS_HOST_DEVICE FS_INLINE T bessel_i_hypot(T v, T x) {
  using Tr = BesselITraits<T>;
  if (v < Tr::kSquareSafe && x < Tr::kSquareSafe) return math::sqrt(v * v + x * x);
  return math::hypot(v, x);
}

#if defined(__CUDACC__)
#define FS_BESSEL_I_UNROLL _Pragma("unroll")
#else
#define FS_BESSEL_I_UNROLL _Pragma("GCC unroll 32")
#endif

// sum_{k=1}^{N-1} P_k(p2) rho^k (the Debye sum minus its leading 1) for a fixed N, so that the
// loops unroll: the P_k are independent chains with immediate coefficients, each split into even
// and odd powers (two chains of half the length), and only the rho-Horner is serial.
// (A loop with a per-point trip count was 25% of log_iv's time, mostly mispredicted exits.)
template <class T, int N>
FS_HOST_DEVICE FS_INLINE T debye_tail_n(T p2, T rho) {
  const T p4 = p2 * p2;
  T acc = T(0);
  FS_BESSEL_I_UNROLL
  for (int k = N - 1; k >= 1; --k) {
    const int je = k & ~1, jo = (k - 1) | 1;  // highest even / odd index <= k
    T e = T(kDebyeCoeffs[k][je]);
    FS_BESSEL_I_UNROLL
    for (int j = je - 2; j >= 0; j -= 2) e = e * p4 + T(kDebyeCoeffs[k][j]);
    T o = T(kDebyeCoeffs[k][jo]);
    FS_BESSEL_I_UNROLL
    for (int j = jo - 2; j >= 1; j -= 2) o = o * p4 + T(kDebyeCoeffs[k][j]);
    acc = acc * rho + (e + p2 * o);
  }
  return acc * rho;
}

// Debye sum minus 1 for r >= kSeriesMaxR with enough terms (kDebyeMinR*), rounded up to one of a
// few unrolled term counts.  Few classes on purpose: on mixed inputs each class switch is a
// mispredicted branch, which costs more than the extra FMAs of a longer (unrolled, parallel) sum.
template <class T>
FS_HOST_DEVICE FS_INLINE T debye_tail(T p2, T rho, T r) {
  if (sizeof(T) == sizeof(double)) {
    const double rd = double(r);
    // literals = kDebyeMinRD[6], [10], [14] (a __device__ table cannot be read by host code)
    if (rd >= 553.1) return debye_tail_n<T, 6>(p2, rho);
    if (rd >= 74.82) return debye_tail_n<T, 10>(p2, rho);
    if (rd >= 35.92) return debye_tail_n<T, 14>(p2, rho);
    return debye_tail_n<T, 19>(p2, rho);  // kDebyeMinRD[19] < kSeriesMaxR
  }
  const float rf = float(r);
  if (rf >= 78.19f) return debye_tail_n<T, 4>(p2, rho);  // kDebyeMinRF[4], [6]
  if (rf >= 23.99f) return debye_tail_n<T, 6>(p2, rho);
  return debye_tail_n<T, 12>(p2, rho);  // kDebyeMinRF[12] < kSeriesMaxR
}

// log((v + r)/x) > 0 without overflow and, for x >= v, without the log of a number near 1.
// t = v/(r + x).
template <class T>
FS_HOST_DEVICE FS_INLINE T debye_log_ratio(T v, T x, T r, T t) {
  if (x >= v) return math::log1p((v / x) * (T(1) + t));
  const T s = v + r;
  // a quotient that would overflow (and raise the FP overflow flag numpy reports) goes by logs
  if (x > s * BesselITraits<T>::kTinyRatio) return math::log(s / x);
  return math::log(s) - math::log(x);
}

// log(sum) - log(2 pi r)/2, folded into one log where 1/r is a normal number.
template <class T>
FS_HOST_DEVICE FS_INLINE T debye_prefactor(T v, T r) {
  const T rho = T(1) / r;
  const T p = v * rho;
  const T tail = debye_tail(p * p, rho, r);
  const T inv_2pi = T(0.159154943091895335768883763372514362L);
  if (r < BesselITraits<T>::kHugeR) {
    const T s = T(1) + tail;
    return T(0.5) * math::log(s * s * (rho * inv_2pi));
  }
  return math::log1p(tail) - T(0.5) * (T(1.83787706640934548356065947281123527L) + math::log(r));
}

// 1/Gamma(1+v) - 1 for 0 <= v < 1/2 from the Taylor series of 1/Gamma(1+z) at 0 (the table of
// bessel_k.hpp; its 22 terms are what Temme's series uses up to |mu| = 1/2): relatively accurate
// as v -> 0, where 1/Gamma(1+v) - 1 ~ 0.577 v.
template <class T>
FS_HOST_DEVICE FS_INLINE T rgamma1p_minus1_small(T v) {
  // sum_{j=1..21} c_j v^(j-1) as four interleaved chains in v^4 (Estrin-like): the serial Horner
  // chain was the latency bound of the CPU's batched series loop (bessel_cpu.cpp).
  const T v2 = v * v, v4 = v2 * v2;
  T q0 = T(kRecipGamma1pTaylor[21]) * v4 + T(kRecipGamma1pTaylor[17]), q1 = T(kRecipGamma1pTaylor[18]);
  T q2 = T(kRecipGamma1pTaylor[19]), q3 = T(kRecipGamma1pTaylor[20]);
  FS_BESSEL_I_UNROLL
  for (int k = 4; k >= 1; --k) {
    q0 = q0 * v4 + T(kRecipGamma1pTaylor[4 * k - 3]);
    q1 = q1 * v4 + T(kRecipGamma1pTaylor[4 * k - 2]);
    q2 = q2 * v4 + T(kRecipGamma1pTaylor[4 * k - 1]);
    q3 = q3 * v4 + T(kRecipGamma1pTaylor[4 * k]);
  }
  // q0 = sum c_{1+4k} v4^k (k <= 5), q1..q3 likewise for c_{2+4k}, c_{3+4k}, c_{4+4k} (k <= 4)
  return v * ((q0 + v * q1) + v2 * (q2 + v * q3));
}

// Power-series log I_v(x) for small r:
//   log I = v log(x/2) - lgamma(v+1) + log(sum),  sum = sum_k (x^2/4)^k/(k!(v+1)_k).
// v < 8:  as written.  (1/Gamma(1+v) from a 19-term polynomial and a product, folded into the log
//   of the sum, saved the lgamma call but measured 5 ns/point slower than glibc's lgamma_r.)
// v >= 8: the v log(x/2) and lgamma(v+1) ~ v log v terms nearly cancel where log I_v ~ 0, and
//   lgamma's own rounding (~1e-14 absolute at v ~ 20) would dominate; use Stirling's series so the
//   largest intermediate is v log(x/(2w)) ~ v (w = v+1), with -log(w)/2 + log(sum) as one log.
template <class T>
FS_HOST_DEVICE T log_iv_series(T v, T x) {
  using Tr = BesselITraits<T>;
  // For tiny x the sum is exactly 1; skipping x*x also avoids slow subnormal arithmetic.
  const T q = x < Tr::kSeriesTinyX ? T(0) : T(0.25) * x * x;
  // tail = sum - 1 accumulated on its own: log(sum) of a rounded 1 + tiny would lose all relative
  // accuracy where log I_v(x) itself is tiny (v ~ 0, small x: log I_0(x) ~ x^2/4).
  T tail = T(0), term = T(1);
  // Two terms per step and one division for both (the divisions bound the loop's speed).
  for (int k = 1; k < 400; k += 2) {
    const T k1 = T(k), k2 = T(k + 1);
    const T d1 = k1 * (v + k1), d2 = k2 * (v + k2);
    const T w = q / (d1 * d2);  // independent of `term`: the divisions pipeline
    const T t1 = term * (w * d2);
    term = term * (w * q);
    tail += t1 + term;
    if (term <= (T(1) + tail) * Tr::kSeriesTol) break;
  }
  const T ln2 = T(0.693147180559945309417232121458176568L);
  if (v < T(0.5)) {
    // -lgamma(1+v) = log(1 + g), g = 1/Gamma(1+v) - 1 from its Taylor series at 0, so that the
    // log of the product rg (1 + tail) is one log1p of small, accurately formed parts.
    const T g = rgamma1p_minus1_small(v);
    return v * (math::log(x) - ln2) + math::log1p(g + tail * (T(1) + g));
  }
  if (v < T(8)) return v * (math::log(x) - ln2) - math::lgamma_pos(v + T(1)) + math::log1p(tail);
  const T sum = T(1) + tail;
  const T w = v + T(1);
  const T iw = T(1) / w, iw2 = iw * iw;
  // sum_k B_2k / (2k (2k-1) w^(2k-1)), k = 1..9 (error < 1e-17 for w >= 9)
  T sig = T(43867.0 / 244188.0);
  sig = sig * iw2 - T(3617.0 / 122400.0);
  sig = sig * iw2 + T(1.0 / 156.0);
  sig = sig * iw2 - T(691.0 / 360360.0);
  sig = sig * iw2 + T(1.0 / 1188.0);
  sig = sig * iw2 - T(1.0 / 1680.0);
  sig = sig * iw2 + T(1.0 / 1260.0);
  sig = sig * iw2 - T(1.0 / 360.0);
  sig = sig * iw2 + T(1.0 / 12.0);
  sig *= iw;
  // the part that cancels; for tiny x (x/(2w) could underflow) nothing cancels
  const T big = (x < Tr::kSeriesTinyX ? v * (math::log(x) - math::log(T(2) * w))
                                      : v * math::log(x / (T(2) * w))) + w;
  return big - (T(0.918938533204672741780329736405617640L) + sig) + T(0.5) * math::log(sum * sum * iw);
}

// v * eta(x/v) for x near z0 v.
template <class T>
FS_HOST_DEVICE FS_INLINE T veta_band(T v, T u) {
  using Tr = BesselITraits<T>;
  const T d = u / v;
  T p = T(kEtaBand[Tr::kBandTerms - 1]);
  for (int j = Tr::kBandTerms - 2; j >= 0; --j) p = p * d + T(kEtaBand[j]);
  return u * p;
}

template <class T>
FS_HOST_DEVICE FS_INLINE T bessel_i_z0_offset(T v, T x) {
  using Tr = BesselITraits<T>;
  return math::fma(-Tr::kZ0Hi, v, x) - Tr::kZ0Lo * v;
}

// log I_v(x), finite positive v, x.
template <class T>
FS_HOST_DEVICE T log_iv_core(T v, T x, T r) {
  using Tr = BesselITraits<T>;
  if (r < Tr::kSeriesMaxR) return log_iv_series(v, x);
  T veta;
  // Cheap test first: the FMA is a library call without -mfma.
  if (math::fabs(x - T(Tr::kZ0Hi) * v) <= Tr::kBand * v) {
    veta = veta_band(v, bessel_i_z0_offset(v, x));
  } else {
    // log((v+r)/x) by a plain log also for x >= v (no branch): its ~eps absolute error times v is
    // small against log I >= 0.5 v there; log_ive, which can be much smaller, needs the log1p form.
    const T s = v + r;
    veta = r - v * (x > s * Tr::kTinyRatio ? math::log(s / x) : math::log(s) - math::log(x));
  }
  return veta + debye_prefactor(v, r);
}

// log(I_v(x) e^{-x}) in the Debye region: r - x = v^2/(r + x) and the log1p form of
// log((v+r)/x), so that v eta - x never cancels (it has no zero).
template <class T>
FS_HOST_DEVICE FS_INLINE T log_ive_debye(T v, T x, T r) {
  const T t = v / (r + x);
  const T e = v * t - v * debye_log_ratio(v, x, r, t);  // r - x = v^2/(r + x)
  return e + debye_prefactor(v, r);
}

// v or x beyond kHugeArg (double): v + r and r + x can overflow, and did (log_iv(1e308, 1e308)
// was -inf, log_kv 35% off).  The Debye exponent r - v log((v+r)/x) (less x if scaled) is
// homogeneous of degree one in (v, x), and the O(1/r) terms of the sum are below 1e-300 here,
// so log I_v(x) = 4 E(v/4, x/4) - log(2 pi r)/2 with r = 4 r_q.  Overflow of the true value
// gives +-inf.
template <class T, bool scaled>
FS_HOST_DEVICE T log_i_huge(T v, T x) {
  const T vq = v * T(0.25), xq = x * T(0.25);
  const T rq = math::hypot(vq, xq);
  const T pre = debye_prefactor(vq, rq);
  const T lq = scaled ? log_ive_debye(vq, xq, rq) : log_iv_core(vq, xq, rq);
  return T(4) * (lq - pre) + (pre - T(0.693147180559945309417232121458176568L));
}

// log I_v(x) for v >= 0 and x >= 0.
template <class T>
FS_HOST_DEVICE T log_iv_nonneg(T v, T x) {
  using Tr = BesselITraits<T>;
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  if (x == T(0)) return v == T(0) ? T(0) : -math::infinity<T>();
  if (x == math::infinity<T>()) return math::infinity<T>();
  if (v == math::infinity<T>()) return -math::infinity<T>();
  if (v > Tr::kHugeArg || x > Tr::kHugeArg) {
    if (sizeof(T) < sizeof(double)) {  // float: nothing overflows in double
      const double vd = double(v), xd = double(x);
      return T(log_iv_core<double>(vd, xd, bessel_i_hypot(vd, xd)));
    }
    return log_i_huge<T, false>(v, x);
  }
  const T r = bessel_i_hypot(v, x);
  if (sizeof(T) < sizeof(double)) {
    // Float: near the curve log I_v(x) = 0 (z ~ z0 for large r, anywhere for small r) the result
    // is a difference of O(r) terms, and one float rounding of those (and lgammaf's own error)
    // already exceeds the 5e-7 absolute target.  There, evaluate in double and round once.
    if (r < T(64) || math::fabs(bessel_i_z0_offset(v, x)) <= T(0.35) * v) {
      const double vd = double(v), xd = double(x);
      return T(log_iv_core<double>(vd, xd, bessel_i_hypot(vd, xd)));
    }
  }
  return log_iv_core<T>(v, x, r);
}

// log(I_v(x) e^{-x}), computed without forming log I_v(x) - x from two large numbers.
template <class T>
FS_HOST_DEVICE T log_ive_nonneg(T v, T x) {
  using Tr = BesselITraits<T>;
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  if (x == T(0)) return v == T(0) ? T(0) : -math::infinity<T>();
  if (x == math::infinity<T>()) return -math::infinity<T>();
  if (v == math::infinity<T>()) return -math::infinity<T>();
  if (v > Tr::kHugeArg || x > Tr::kHugeArg) {
    if (sizeof(T) < sizeof(double)) {
      const double vd = double(v), xd = double(x);
      return T(log_ive_debye<double>(vd, xd, bessel_i_hypot(vd, xd)));
    }
    return log_i_huge<T, true>(v, x);
  }
  const T r = bessel_i_hypot(v, x);
  if (r < Tr::kSeriesMaxR) {
    // Float: log I - x of two O(10) floats leaves ~5e-7 absolute; do the small-r region in double.
    if (sizeof(T) < sizeof(double)) return T(log_iv_series<double>(double(v), double(x)) - double(x));
    return log_iv_series(v, x) - x;
  }
  return log_ive_debye(v, x, r);
}

// Gauss continued fraction for I_v/I_{v-1} = x / f, f = 2v + x^2/(2(v+1) + x^2/(2(v+2) + ...)),
// by the fundamental recurrences of its convergents A_j / B_j (A_j = b_j A_{j-1} + a A_{j-2}, the
// same for B; b_j = 2(v + j), a = x^2): one multiply-add chain per step where the modified Lentz
// form had two dependent divisions (3-4x fewer cycles per term; up to ~80 terms near x = 24).
// Every term is positive, so the recurrences are stable, and A_j B_{j-1} - A_{j-1} B_j = -(-a)^j
// gives the relative change of the convergent, a^j / (A_j B_{j-1}), without a division.  A_j
// (the largest of the four: A_j / B_j >= 2v >= 1) is kept below kCfBig by exact power-of-two
// rescaling; p = a^j is rescaled with A B (by the square), so the test is unchanged by it.
template <class T>
FS_HOST_DEVICE T iv_ratio_cf(T v, T x) {
  using Tr = BesselITraits<T>;
  const T a = x * x;
  const T big = Tr::kCfBig, scale = T(1) / Tr::kCfBig;
  T a_prev = T(1), a_cur = T(2) * v;  // A_{-1}, A_0
  T b_prev = T(0), b_cur = T(1);      // B_{-1}, B_0
  T p = T(1);
  for (int j = 1; j < 500; ++j) {
    const T bj = T(2) * (v + T(j));
    const T a_next = math::fma(bj, a_cur, a * a_prev);
    const T b_next = math::fma(bj, b_cur, a * b_prev);
    a_prev = a_cur;
    a_cur = a_next;
    b_prev = b_cur;
    b_cur = b_next;
    p *= a;
    if (p <= Tr::kCfTol * a_cur * b_prev) break;
    if (a_cur > big) {
      a_prev *= scale;
      a_cur *= scale;
      b_prev *= scale;
      b_cur *= scale;
      p *= scale * scale;
    }
  }
  return x * b_cur / a_cur;
}

// I_v(x)/I_{v-1}(x) for v >= 0.5, x > 0.
template <class T>
FS_HOST_DEVICE T iv_ratio_nonneg(T v, T x) {
  using Tr = BesselITraits<T>;
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  if (x == T(0)) return T(0);
  if (x == math::infinity<T>()) return T(1);
  if (v == math::infinity<T>()) return T(0);
  if (v >= T(0x1p60) || x >= T(0x1p60)) {
    // log(I_v/I_{v-1}) = -log((v+r)/x) + O(1/r) (the second v-derivative of the Debye exponent is
    // 1/r): below 1e-18 relative here.  Quartered so that v + r cannot overflow; the CF's x^2 and
    // the Debye difference's v + r overflowed (iv_ratio(1e308, 5e307) was nan).
    const T vq = v * T(0.25), xq = x * T(0.25);
    return xq / (vq + math::hypot(vq, xq));
  }
  if (x <= Tr::kSeriesMaxR || x <= Tr::kCfFrac * v) {
    // Float: the float CF's rounding reached 5.7e-7 (v ~ 4, x ~ 6); run it in double.
    if (sizeof(T) < sizeof(double)) return T(iv_ratio_cf<double>(double(v), double(x)));
    return iv_ratio_cf(v, x);
  }
  // Difference of the two Debye expressions, orders a = v and b = |v - 1| (the r-form is even
  // in the order; I_{-c} - I_c is O(e^{-2x}) relative, negligible for x >= R0).
  const T a = v;
  const T b = v >= T(1) ? v - T(1) : T(1) - v;
  // a - b exactly: 1 for v >= 1 even where v - 1 rounds (v > 2^53 gave a - b = 0, a ratio of 1)
  const T dab = v >= T(1) ? T(1) : a - b;
  const T ra = bessel_i_hypot(a, x), rb = bessel_i_hypot(b, x);
  const T drr = dab * (a + b) / (ra + rb);  // ra - rb
  const T la = debye_log_ratio(a, x, ra, a / (ra + x));
  const T dl = math::log1p((dab + drr) / (b + rb));  // la - lb
  const T e = drr - dab * la - b * dl;
  const T rhoa = T(1) / ra, rhob = T(1) / rb;
  const T pa = a * rhoa, pb = b * rhob;
  const T ta = debye_tail(pa * pa, rhoa, rb);  // same term count for both (rb <= ra)
  const T tb = debye_tail(pb * pb, rhob, rb);
  const T ls = math::log1p((ta - tb) / (T(1) + tb));
  const T lp = T(-0.5) * math::log1p(drr / rb);
  return math::exp(e + lp + ls);
}

// d/dx log I_v(x) = I_{v+1}(x)/I_v(x) + v/x, for v >= 0, x >= 0.
template <class T>
FS_HOST_DEVICE T log_iv_dx_nonneg(T v, T x) {
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  if (x == T(0)) return v == T(0) ? T(0) : math::infinity<T>();
  if (x == math::infinity<T>()) return T(1);
  return iv_ratio_nonneg(v + T(1), x) + v / x;
}

}  // namespace detail
}  // namespace fs
