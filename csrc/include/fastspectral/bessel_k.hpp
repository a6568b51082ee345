// log K_v(x), log(K_v(x) e^x) and d/dx log K_v(x) for v >= 0, x >= 0, in float or double.
//
// Regions (r = hypot(v, x); thresholds measured against Arb with tests/tools/dev_bessel_k_check.py).
// All arithmetic is in double, also for float (see below); float only relaxes tolerances.
//
//  1. Debye / uniform expansion, r >= 22 (double), r >= 10 (float).
//       K_v(x) = sqrt(pi/(2r)) exp(-v eta) S,  v eta = r + v log(x/(v+r)),
//       S = sum_k (-1/r)^k P_k(p^2),  p = v/r,  P_k from kDebyeCoeffs (u_k(p)/v^k = r^-k P_k(p^2)).
//     Written in r and p so it is also the large-x Hankel expansion when v -> 0.  The number of
//     terms is picked from r (the largest first omitted term max_p r^-k |P_k| below 1e-16 for
//     double, 2e-8 for float; see bk_debye_terms): double 21 terms at r >= 22 down to 3 at
//     r >= 91000; float 10 terms at r >= 10 down to 3 at r >= 160.  Each term count is its own
//     unrolled instantiation.  0.5 log(pi/(2r)) + log S is one log.
//     Near the zero of eta, x = z0 v (z0 = 0.66274...), v eta cancels; where |x - z0 v| < 0.15 z0 v
//     it comes from a 26-term Taylor series of eta around z0 in d = x - v z0 formed in
//     double-word arithmetic (plain double lost up to 1.2e-14 there).
//  2. r below that: v = mu + n, mu in (-1/2, 1/2].  K_mu and K_{mu+1} from
//       x <= 1.5: Temme's series (it cancels by ~e^(2x): 7.9e-15 at x = 2, 3e-15 at 1.5);
//       x >  1.5: Miller's backward recurrence for Temme's z_k = U(mu+1/2+k, 2mu+1, 2x) with the
//                 start index fitted in x (no divisions in the dependency chain, unlike Steed's
//                 CF2, which was 3x slower).
//     Then the forward recurrence up to v (see bk_small for the scalings that avoid overflow and
//     cancellation) and a single log at the end.
// The float64 log_kv/log_kve ufunc loops on the CPU (csrc/cpu/bessel_cpu.cpp, log_k_block) mirror
// these regions in region-batched, vectorized form (Debye classes, the z0 band); keep the two in
// step when changing thresholds or formulas here.
// log_kv_dx uses the same regions: -K_{v-1}/K_v - v/x from the recurrence (no cancellation), and in
// the Debye region the exact x-derivative of the truncated expansion.
#pragma once

#include "fastspectral/bessel_debye_coeffs.hpp"
#include "fastspectral/config.hpp"

namespace fs {
namespace detail {

// Taylor coefficients of 1/Gamma(1+z) at 0 (mpmath, 40 digits): gives Gamma(1 +- mu) and Temme's
// Gamma1/Gamma2 without cancellation near mu = 0.
FS_CONSTANT double kRecipGamma1pTaylor[22] = {
    1.0,
    0.57721566490153286061,
    -0.65587807152025388108,
    -0.042002635034095235529,
    0.1665386113822914895,
    -0.042197734555544336748,
    -0.0096219715278769735621,
    0.0072189432466630995424,
    -0.0011651675918590651121,
    -0.00021524167411495097282,
    0.00012805028238811618615,
    -0.000020134854780788238656,
    -1.2504934821426706573e-6,
    1.1330272319816958824e-6,
    -2.0563384169776071035e-7,
    6.1160951044814158179e-9,
    5.0020076444692229301e-9,
    -1.1812745704870201446e-9,
    1.0434267116911005105e-10,
    7.782263439905071254e-12,
    -3.6968056186422057082e-12,
    5.100370287454475979e-13,
};

// eta(z) = sqrt(1+z^2) + log(z/(1+sqrt(1+z^2))) vanishes at z0; coefficients eta^(m)(z0)/m!
// for m = 1..28 (mpmath, 50 digits).  Radius of convergence ~0.7.
FS_CONSTANT double kEtaZ0Hi = 0.6627434193491816;
FS_CONSTANT double kEtaZ0Lo = 8.155323790501267e-18;
FS_CONSTANT double kEtaZ0Taylor[28] = {
    1.81017058069897727451, -0.948886416256837051498, 1.10015289485065031794,
    -1.29530067798605382641, 1.57154556656197249594, -1.97102958013450656569,
    2.54422267255020849013, -3.35741768896192810238, 4.50363974503915321521,
    -6.11691615417085361954, 8.39111471209130435607, -11.6060127673206223185,
    16.1647254358941906743, -22.6482663911012555292, 31.8952684902338191337,
    -45.1183158825840961766, 64.073574799752204257, -91.3082455009445018453,
    130.521902384093945246, -187.09471362813002477, 268.860363382199108981,
    -387.238010087339606403, 558.891376364761499073, -808.16228865812587638,
    1170.64277512202376531, -1698.42206993804244895, 2467.79899962318209099,
    -3590.62534901916441051,
};

// Everything below works in double, also for float results: double costs the CPU nothing extra
// for scalar code, and float arithmetic lost up to 7e-7 in the Temme/CF2 region and several ulp
// in the Debye phase.  The f32 flag only relaxes tolerances and term counts.

template <class T>
FS_HOST_DEVICE FS_INLINE constexpr bool bk_is_float() { return sizeof(T) == sizeof(float); }

// Number of Debye terms (k = 0..N-1): the first omitted term max_p r^-k |P_k(p^2)| is below 1e-16
// (double) or 2e-8 (float).  Thresholds are the measured ones rounded up.
template <class T>
FS_HOST_DEVICE FS_INLINE int bk_debye_terms(double r) {
  if (bk_is_float<T>()) {
    return r >= 160 ? 3 : r >= 50 ? 4 : r >= 26 ? 5 : r >= 18 ? 6 : r >= 12 ? 8 : 10;
  }
  return r >= 91000  ? 3
         : r >= 5800 ? 4
         : r >= 1180 ? 5
         : r >= 424  ? 6
         : r >= 210  ? 7
         : r >= 126  ? 8
         : r >= 86   ? 9
         : r >= 64   ? 10
         : r >= 51   ? 11
         : r >= 42.1 ? 12
         : r >= 32.1 ? 14
         : r >= 26.6 ? 16
         : r >= 23.4 ? 18
                     : 21;
}

FS_HOST_DEVICE FS_INLINE constexpr double bk_debye_min_r(bool f32) { return f32 ? 10.0 : 22.0; }

// Debye sum minus one, S - 1 = w * R with w = -1/r, for a fixed number of terms N so that the
// loops unroll into independent Horner chains (one per k) with the coefficients as immediates.
// With want_d, also D = sum_k w^k sum_j (k+2j) c_kj q^j, so that dS/dx = -(x/r^2) D.
// Horner steps are written a*b + c, not math::fma: without -mfma the host's fma() is a library
// call (measured 3x slower overall); with FMA hardware enabled the compiler contracts them.
template <class T, int N, bool want_d>
FS_HOST_DEVICE FS_INLINE void bk_debye_sum_n(double q, double w, double& s_minus_1, double& dsum) {
  double acc = 0.0, dacc = 0.0;
#if defined(__CUDACC__)
#pragma unroll
#else
#pragma GCC unroll 32
#endif
  for (int k = N - 1; k >= 1; --k) {
    double pk = 0.0, dk = 0.0;
#if defined(__CUDACC__)
#pragma unroll
#else
#pragma GCC unroll 32
#endif
    for (int j = k; j >= 0; --j) {
      const double c = double(kDebyeCoeffs[k][j]);
      pk = pk * q + c;
      if (want_d) dk = dk * q + double(k + 2 * j) * c;
    }
    acc = acc * w + pk;
    if (want_d) dacc = dacc * w + dk;
  }
  s_minus_1 = w * acc;
  dsum = w * dacc;  // the k = 0 term of D is zero
}

template <class T, bool want_d>
FS_HOST_DEVICE FS_INLINE void bk_debye_sum(double q, double w, int nterms, double& sm1, double& ds) {
  switch (nterms) {
    case 3: bk_debye_sum_n<T, 3, want_d>(q, w, sm1, ds); return;
    case 4: bk_debye_sum_n<T, 4, want_d>(q, w, sm1, ds); return;
    case 5: bk_debye_sum_n<T, 5, want_d>(q, w, sm1, ds); return;
    case 6: bk_debye_sum_n<T, 6, want_d>(q, w, sm1, ds); return;
    case 7: bk_debye_sum_n<T, 7, want_d>(q, w, sm1, ds); return;
    case 8: bk_debye_sum_n<T, 8, want_d>(q, w, sm1, ds); return;
    case 9: bk_debye_sum_n<T, 9, want_d>(q, w, sm1, ds); return;
    case 10: bk_debye_sum_n<T, 10, want_d>(q, w, sm1, ds); return;
    case 11: bk_debye_sum_n<T, 11, want_d>(q, w, sm1, ds); return;
    case 12: bk_debye_sum_n<T, 12, want_d>(q, w, sm1, ds); return;
    case 14: bk_debye_sum_n<T, 14, want_d>(q, w, sm1, ds); return;
    case 16: bk_debye_sum_n<T, 16, want_d>(q, w, sm1, ds); return;
    case 18: bk_debye_sum_n<T, 18, want_d>(q, w, sm1, ds); return;
    default: bk_debye_sum_n<T, 21, want_d>(q, w, sm1, ds); return;
  }
}

// The window |x - z0 v| < 0.15 z0 v where v*eta comes from bk_veta_band (see bk_debye_phase).
FS_HOST_DEVICE FS_INLINE bool bk_in_band(double v, double x) {
  const double ph = v * kEtaZ0Hi;
  return math::fabs(x - ph) < 0.15 * ph;
}

// v*eta inside that window: Taylor series of eta around z0 in d = x - v z0, d in double-word
// arithmetic.  Branch-free, so the CPU's batched loop (bessel_cpu.cpp) vectorizes it too.
template <class P>  // P = double
FS_HOST_DEVICE FS_INLINE P bk_veta_band(P v, P x) {
  const double ph = v * kEtaZ0Hi;
  const double pl = math::fma(v, kEtaZ0Hi, -ph);
  const double d = ((x - ph) - pl) - v * kEtaZ0Lo;  // x - ph is exact (Sterbenz)
  const double t = d / v;                           // |t| < 0.1, terms fall like (1.43 t)^m
  double s = 0.0;
#if defined(__CUDACC__)
#pragma unroll
#else
#pragma GCC unroll 32
#endif
  for (int i = 25; i >= 0; --i) s = s * t + double(kEtaZ0Taylor[i]);
  return d * s;
}

// v*eta(x/v) = r + v log(x/(v+r)) (the exponent of K_v in the Debye form), and v*eta - x.
// v*eta is a difference of numbers of size r and v|log(x/(v+r))| and cancels by a factor ~5 in
// the turning region and completely near x = z0 v.
template <class P>  // P = double; a template so nvcc does not compile it for the host side of .cu files
FS_HOST_DEVICE FS_INLINE void bk_debye_phase(P v, P x, P r, P& veta, P& veta_minus_x) {
  // log(x/(v+r)) <= 0; for x >= v use (v+r)/x - 1 = (v + v^2/(r+x))/x, which never overflows there.
  const double v2rx = v * (v / (r + x));  // r - x without cancellation
  double lg;
  if (x >= v) {
    lg = -math::log1p((v + v2rx) / x);
  } else {
    lg = (x > 1e-290) ? math::log(x / (v + r)) : math::log(x) - math::log(v + r);
  }
  veta_minus_x = v2rx + v * lg;
  veta = r + v * lg;
  // Near x = z0 v, v*eta cancels to a small number while the rounding errors above are ~eps*2.4v.
  // There take v*eta from the Taylor series of eta around z0 in d = x - v z0, formed in
  // double-word arithmetic; outside |d| < 0.15 v z0 the cancellation costs < ~10x eps.
  // (In the Debye region r >= 10 this window has v >= 8.)
  if (bk_in_band(v, x)) veta = bk_veta_band<P>(v, x);
}

// hypot without the library call's cost where v^2 + x^2 cannot overflow or lose to underflow.
FS_HOST_DEVICE FS_INLINE double bk_hypot(double v, double x) {
  const double m = math::fmax(v, x);
  if (m < 1e150 && math::fmin(v, x) > 1e-150) return math::sqrt(v * v + x * x);
  return math::hypot(v, x);
}

// Debye region: log K_v(x) (+x if scaled).
template <class T, bool scaled>
FS_HOST_DEVICE FS_INLINE double bk_debye_log(double v, double x, double r) {
  const double rinv = 1.0 / r;
  const double p = v * rinv;
  double sm1, dsum;
  bk_debye_sum<T, false>(p * p, -rinv, bk_debye_terms<T>(r), sm1, dsum);
  double veta, vetax;
  bk_debye_phase<double>(v, x, r, veta, vetax);
  // 0.5 log(pi/(2r)) + log S in one log: S^2 rounds to ~2 eps relative, i.e. ~1e-16 absolute.
  const double s = 1.0 + sm1;
  return 0.5 * math::log((1.5707963267948966 * rinv) * (s * s)) - (scaled ? vetax : veta);
}

// ---- small r: Temme series / CF2 for K_mu, then forward recurrence ----
// Both return t0 = c K_mu(x) and t1 = c (x/2) K_{mu+1}(x) for a positive scale c (see callers).

// Temme's series, x <= 1.5: c = 1.  lx = log(x).
// (x/2)^a from pow of an exact base, also for subnormal x (where x/2 would round).
FS_HOST_DEVICE FS_INLINE double bk_pow_half(double x, double a) {
  if (x >= 4.4501477170144028e-308) return math::pow(0.5 * x, a);
  return math::pow(x * 18014398509481984.0, a) * math::pow(2.7755575615628914e-17, a);  // 2^54, 2^-55
}

// exact_pow (value path): for |sigma| > 1 take (x/2)^(-+mu) from pow of the exact x/2 (needs
// x >= 2 DBL_MIN) instead of exp(-+mu log(x/2)), whose rounded argument costs |sigma| eps relative
// (345 eps at x = 1e-300); the log path only needs that to |sigma| eps absolute.  Any x > 0.
template <class T, bool exact_pow = false>
FS_HOST_DEVICE FS_INLINE void bk_temme_series(double mu, double x, double lx, double& t0, double& t1) {
  const double eps = bk_is_float<T>() ? 1e-10 : 5e-17;
  const double lx2 = lx - 0.69314718055994530942;  // log(x/2) without underflow of x/2
  // 1/Gamma(1 +- mu) = E +- mu*O; the polynomials in m2 = mu^2 are split in even/odd powers of
  // m2 (Estrin) to halve the dependency chain, which sits on this path's critical latency.
  const double m2 = mu * mu;
  const double m4 = m2 * m2;
  double Ea = 0.0, Eb = 0.0, Oa = 0.0, Ob = 0.0;
  for (int i = 20; i >= 0; i -= 4) Ea = Ea * m4 + double(kRecipGamma1pTaylor[i]);
  for (int i = 18; i >= 2; i -= 4) Eb = Eb * m4 + double(kRecipGamma1pTaylor[i]);
  for (int i = 21; i >= 1; i -= 4) Oa = Oa * m4 + double(kRecipGamma1pTaylor[i]);
  for (int i = 19; i >= 3; i -= 4) Ob = Ob * m4 + double(kRecipGamma1pTaylor[i]);
  const double E = Ea + m2 * Eb, O = Oa + m2 * Ob;
  const double gp = E + mu * O;  // 1/Gamma(1+mu)
  const double gm = E - mu * O;  // 1/Gamma(1-mu)
  // gp*gm = 1/(Gamma(1+mu) Gamma(1-mu)) = sin(pi mu)/(pi mu): Temme's fact without a sin call.
  // exp(-sigma) is a second exp rather than 1/e so that it runs beside the first.
  const double sigma = -mu * lx2;
  double e, ei;
  if (exact_pow && math::fabs(sigma) > 1.0) {
    e = bk_pow_half(x, -mu);
    ei = bk_pow_half(x, mu);
  } else {
    e = math::exp(sigma);    // (x/2)^(-mu), at most ~1e162
    ei = math::exp(-sigma);  // 1/e
  }
  const double fact = 1.0 / (gp * gm);  // pi mu / sin(pi mu)
  const double ch = 0.5 * (e + ei);
  double shs;  // sinh(sigma)/sigma
  if (math::fabs(sigma) < 0.5) {
    const double s2 = sigma * sigma;
    shs = 1.0 + s2 * (1.0 / 6 + s2 * (1.0 / 120 + s2 * (1.0 / 5040 + s2 * (1.0 / 362880 +
          s2 * (1.0 / 39916800 + s2 * (1.0 / 6227020800.0 + s2 * (1.0 / 1307674368000.0 +
          s2 * (1.0 / 355687428096000.0))))))));
  } else {
    shs = 0.5 * (e - ei) / sigma;
  }
  // gam1 = (1/Gamma(1-mu) - 1/Gamma(1+mu)) / (2 mu) = -O, gam2 = E
  double f = fact * (-O * ch - E * shs * lx2);
  double p = 0.5 * e * gm * fact;   // 0.5 (x/2)^-mu Gamma(1+mu)
  double q = 0.5 * ei * gp * fact;  // 0.5 (x/2)^mu Gamma(1-mu)
  const double d = 0.25 * x * x;
  double c = 1.0;
  double sum = f, sum1 = p;
  for (int k = 1; k < 40; ++k) {
    const double kk = double(k);
    const double ik = 1.0 / (kk * kk - m2);  // p/(k-mu) = p (k+mu)/(k^2-mu^2): one division
    f = (kk * f + p + q) * ik;
    p *= (kk + mu) * ik;
    q *= (kk - mu) * ik;
    c *= d / kk;
    const double del = c * f;
    sum += del;
    sum1 += c * (p - kk * f);
    if (math::fabs(del) < eps * sum) break;
  }
  t0 = sum;
  t1 = sum1;
}

// x > 1.5: Temme's z_k = U(mu+1/2+k, 2mu+1, 2x) by Miller's backward recurrence
//   z_k = 2(k+1+x) z_{k+1} - ((k+3/2)^2 - mu^2) z_{k+2},   sum_k C_k z_k = (2x)^(-mu-1/2),
//   C_k/C_{k-1} = ((k-1/2)^2 - mu^2)/k,   K_mu = sqrt(pi/(2x)) e^-x z_0/sum,
//   K_{mu+1}/K_mu = (mu + x + 1/2 + (mu^2 - 1/4) z_1/z_0)/x.
// Same term count as Steed's forward evaluation of CF2 (106 at x = 1.5, 84 at x = 2, 15 at x = 20) but without a
// division in the dependency chain (Steed's 1/(b + a d) per term made this 3-4x slower).  The start
// index is a fit above the measured need (2.5e-16 double, 1e-9 float, all mu); the values grow by
// at most ~1e145 from z_N = 1, so nothing overflows.  c = 1/(sqrt(pi/(2x)) e^-x).
FS_CONSTANT double kRecipInt[128] = {
    0.0, 1.0, 1.0 / 2, 1.0 / 3, 1.0 / 4, 1.0 / 5, 1.0 / 6, 1.0 / 7, 1.0 / 8, 1.0 / 9,
    1.0 / 10, 1.0 / 11, 1.0 / 12, 1.0 / 13, 1.0 / 14, 1.0 / 15, 1.0 / 16, 1.0 / 17, 1.0 / 18, 1.0 / 19,
    1.0 / 20, 1.0 / 21, 1.0 / 22, 1.0 / 23, 1.0 / 24, 1.0 / 25, 1.0 / 26, 1.0 / 27, 1.0 / 28, 1.0 / 29,
    1.0 / 30, 1.0 / 31, 1.0 / 32, 1.0 / 33, 1.0 / 34, 1.0 / 35, 1.0 / 36, 1.0 / 37, 1.0 / 38, 1.0 / 39,
    1.0 / 40, 1.0 / 41, 1.0 / 42, 1.0 / 43, 1.0 / 44, 1.0 / 45, 1.0 / 46, 1.0 / 47, 1.0 / 48, 1.0 / 49,
    1.0 / 50, 1.0 / 51, 1.0 / 52, 1.0 / 53, 1.0 / 54, 1.0 / 55, 1.0 / 56, 1.0 / 57, 1.0 / 58, 1.0 / 59,
    1.0 / 60, 1.0 / 61, 1.0 / 62, 1.0 / 63, 1.0 / 64, 1.0 / 65, 1.0 / 66, 1.0 / 67, 1.0 / 68, 1.0 / 69,
    1.0 / 70, 1.0 / 71, 1.0 / 72, 1.0 / 73, 1.0 / 74, 1.0 / 75, 1.0 / 76, 1.0 / 77, 1.0 / 78, 1.0 / 79,
    1.0 / 80, 1.0 / 81, 1.0 / 82, 1.0 / 83, 1.0 / 84, 1.0 / 85, 1.0 / 86, 1.0 / 87, 1.0 / 88, 1.0 / 89,
    1.0 / 90, 1.0 / 91, 1.0 / 92, 1.0 / 93, 1.0 / 94, 1.0 / 95, 1.0 / 96, 1.0 / 97, 1.0 / 98, 1.0 / 99,
    1.0 / 100, 1.0 / 101, 1.0 / 102, 1.0 / 103, 1.0 / 104, 1.0 / 105, 1.0 / 106, 1.0 / 107, 1.0 / 108, 1.0 / 109,
    1.0 / 110, 1.0 / 111, 1.0 / 112, 1.0 / 113, 1.0 / 114, 1.0 / 115, 1.0 / 116, 1.0 / 117, 1.0 / 118, 1.0 / 119,
    1.0 / 120, 1.0 / 121, 1.0 / 122, 1.0 / 123, 1.0 / 124, 1.0 / 125, 1.0 / 126, 1.0 / 127,
};

template <class T>
FS_HOST_DEVICE FS_INLINE void bk_miller(double mu, double x, double& t0, double& t1) {
  const double sx = math::sqrt(x);
  const double nf = bk_is_float<T>() ? 4.0 + 12.0 / sx + 40.0 / x : 18.0 + 40.0 / sx + 100.0 / x;
  const int N = int(nf) < 127 ? int(nf) : 127;  // x > 1.5: at most 117
  const double m2 = mu * mu;
  double z2 = 0.0, z1 = 1.0, sum = 1.0;  // z_{k+2}, z_{k+1}, sum_{j>k} (C_j/C_{k+1}) z_j
  for (int k = N - 1; k >= 0; --k) {
    const double kh = double(k) + 0.5;
    const double z0 = 2.0 * (kh + 0.5 + x) * z1 - ((kh + 1.0) * (kh + 1.0) - m2) * z2;
    sum = z0 + ((kh * kh - m2) * double(kRecipInt[k + 1])) * sum;
    z2 = z1;
    z1 = z0;
  }
  t0 = z1 / sum;
  t1 = t0 * 0.5 * (mu + x + 0.5 + (m2 - 0.25) * (z2 / z1));
}

// Small-r core: log K_v(x) (+x if scaled) and, with want_d, dlog = d/dx log K_v(x).
// v = mu + n, mu in (-1/2, 1/2]; forward recurrence from K_mu, K_{mu+1} (all terms positive: stable
// for K).
// x <= 1.5: t_k = K_{mu+k}(x) (x/2)^k obeys t_{k+1} = (mu+k) t_k + (x^2/4) t_{k-1} and
//   log K_v = log t_n + n log(2/x), two terms of the same sign (no cancellation); no t_k over- or
//   underflows: t_0 <= ~(x/2)^(-1/2) <= 1e162, the growth is < 30^22.
// x > 1.5: recur on u_k = K_{mu+k}(x) (times e^x if scaled) itself, K_v <= K_22(1.5) ~ 1e22, and
//   take one log at the end: adding log(2/x) terms there cancelled against log t_n (5.6e-15
//   absolute error at v = 18.5, x = 11.3, where log K_v = 0.46).
template <class T, bool scaled, bool want_d>
FS_HOST_DEVICE FS_INLINE double bk_small(double v, double x, double& dlog) {
  const double ln2 = 0.69314718055994530942;
  // n = ceil(v - 1/2) without the libm call (v < 22 here)
  const double vh = v - 0.5;
  int n = int(vh);
  if (double(n) < vh) ++n;
  const double mu = v - double(n);
  double t0, t1;
  if (x <= 1.5) {
    const double lx = math::log(x);
    bk_temme_series<T>(mu, x, lx, t0, t1);
    const double base = scaled ? x : 0.0;
    if (n == 0) {
      if (want_d) dlog = (mu - 2.0 * t1 / t0) / x;
      return base + math::log(t0);
    }
    const double x2 = 0.25 * x * x;
    double tp = t0, tc = t1;
    for (int k = 1; k < n; ++k) {
      const double tn = (mu + double(k)) * tc + x2 * tp;
      tp = tc;
      tc = tn;
    }
    if (want_d) dlog = -v / x - 0.5 * x * tp / tc;
    return base + math::log(tc) + double(n) * (ln2 - lx);
  }
  bk_miller<T>(mu, x, t0, t1);
  const double xi = 1.0 / x;
  const double g = math::sqrt(1.5707963267948966 * xi) * (scaled ? 1.0 : math::exp(-x));
  double up = t0 * g;               // K_mu
  double uc = up * (2.0 * xi) * (t1 / t0);  // K_{mu+1}
  if (n == 0) {
    if (want_d) dlog = (mu - 2.0 * t1 / t0) * xi;
    return math::log(up);
  }
  for (int k = 1; k < n; ++k) {
    const double un = (2.0 * (mu + double(k)) * xi) * uc + up;
    up = uc;
    uc = un;
  }
  if (want_d) dlog = -v * xi - up / uc;
  return math::log(uc);
}

// K_v(x) (times e^x if scaled) itself, for r below the Debye region: the same Temme / Miller
// start and forward recurrence as bk_small, without the final log (exp(log K) would turn the
// log's absolute rounding, up to |log K| eps, into relative error of the value).
template <class T, bool scaled>
FS_HOST_DEVICE FS_INLINE double bk_small_value(double v, double x) {
  const double vh = v - 0.5;
  int n = int(vh);
  if (double(n) < vh) ++n;
  const double mu = v - double(n);
  double t0, t1;
  if (x <= 1.5) {
    bk_temme_series<T, true>(mu, x, math::log(x), t0, t1);
    double val = t0;
    if (n > 0) {
      const double x2 = 0.25 * x * x;
      double tp = t0, tc = t1;
      for (int k = 1; k < n; ++k) {
        const double tn = (mu + double(k)) * tc + x2 * tp;
        tp = tc;
        tc = tn;
      }
      // K_v = t_n (x/2)^-n; pow of the exact x/2 is correctly rounded (2/x would be rounded
      // first and carry n times its error).  Split the power where it would overflow alone.
      double p = bk_pow_half(x, -double(n));
      if (p < 1e290) {
        val = tc * p;
      } else {
        p = bk_pow_half(x, -0.5 * double(n));
        val = (tc * p) * p;
      }
    }
    return scaled ? val * math::exp(x) : val;
  }
  bk_miller<T>(mu, x, t0, t1);
  const double xi = 1.0 / x;
  const double g = math::sqrt(1.5707963267948966 * xi) * (scaled ? 1.0 : math::exp(-x));
  double up = t0 * g;
  double uc = up * (2.0 * xi) * (t1 / t0);
  if (n == 0) return up;
  for (int k = 1; k < n; ++k) {
    const double un = (2.0 * (mu + double(k)) * xi) * uc + up;
    up = uc;
    uc = un;
  }
  return uc;
}

// v or x beyond 2^1020 (double inputs only): v + r and r + x can overflow (log_kv(1e308, 1e308)
// came out 35% off).  The phase v eta is homogeneous of degree one in (v, x) and the O(1/r) terms
// are below 1e-300: log K_v(x) = -4 (v eta)(v/4, x/4) + log(pi/(2r))/2 with r = 4 r_q.
// Not inlined into the hot path on purpose (it made the float loops 10% slower).
template <bool scaled>
FS_HOST_DEVICE double bk_log_kv_huge(double v, double x) {
  const double vq = 0.25 * v, xq = 0.25 * x, rq = math::hypot(vq, xq);
  double veta, vetax;
  bk_debye_phase<double>(vq, xq, rq, veta, vetax);
  return 0.5 * math::log(1.5707963267948966 / rq) - 0.6931471805599453 - 4.0 * (scaled ? vetax : veta);
}

template <class T, bool scaled>
FS_HOST_DEVICE FS_INLINE double bk_log_kv_core(double v, double x) {
  if (!bk_is_float<T>() && (v > 0x1p1020 || x > 0x1p1020)) return bk_log_kv_huge<scaled>(v, x);
  const double r = bk_hypot(v, x);
  if (r >= bk_debye_min_r(bk_is_float<T>())) return bk_debye_log<T, scaled>(v, x, r);
  double dummy;
  return bk_small<T, scaled, false>(v, x, dummy);
}

template <class T>
FS_HOST_DEVICE FS_INLINE double bk_log_kv_dx_core(double v, double x) {
  const double r = bk_hypot(v, x);
  if (r >= bk_debye_min_r(bk_is_float<T>())) {
    const double rinv = 1.0 / r;
    const double p = v * rinv;
    double sm1, dsum;
    bk_debye_sum<T, true>(p * p, -rinv, bk_debye_terms<T>(r), sm1, dsum);
    // d/dx [0.5 log(pi/2r) - v eta + log S] = -x/(2 r^2) - r/x - (x/r^2) D/S
    const double xr2 = (x * rinv) * rinv;
    return -r / x - xr2 * (0.5 + dsum / (1.0 + sm1));
  }
  double dl;
  bk_small<T, false, true>(v, x, dl);
  return dl;
}

template <class T, bool scaled>
FS_HOST_DEVICE FS_INLINE T bk_log_kv_impl(T v, T x) {
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  if (x == T(0)) return math::infinity<T>();
  if (math::isinf(x)) return -math::infinity<T>();
  return T(bk_log_kv_core<T, scaled>(double(v), double(x)));
}

// log K_v(x) for v >= 0 and x >= 0 (x = 0 gives +inf, x = +inf gives -inf).
template <class T>
FS_HOST_DEVICE T log_kv_nonneg(T v, T x) {
  return bk_log_kv_impl<T, false>(v, x);
}

// log(K_v(x) e^{x}).
template <class T>
FS_HOST_DEVICE T log_kve_nonneg(T v, T x) {
  return bk_log_kv_impl<T, true>(v, x);
}

// d/dx log K_v(x) = -(K_{v-1}(x) + K_{v+1}(x)) / (2 K_v(x)), for v >= 0, x >= 0.
template <class T>
FS_HOST_DEVICE T log_kv_dx_nonneg(T v, T x) {
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  if (x == T(0)) return -math::infinity<T>();
  if (math::isinf(x)) return T(-1);
  return T(bk_log_kv_dx_core<T>(double(v), double(x)));
}

}  // namespace detail
}  // namespace fs
