// Double-double ("dd") helpers: just enough to form the exponent of the Debye expansions to
// ~1e-30 relative, so that exp(E) loses nothing to the rounding of E (|E| eps would otherwise
// be a relative error of the value: 700 ulp at |E| = 700).  Error-free transforms after
// Dekker / Knuth; products use fma where it is a hardware instruction (device code, or host
// code built with FMA enabled) and Veltkamp splitting otherwise (the library fma is slow).
#pragma once

#include <string.h>

#include "fastspectral/config.hpp"

namespace fs {
namespace detail {

struct dd_t {
  double hi, lo;
};

// s + e = a + b exactly.
FS_HOST_DEVICE FS_INLINE dd_t dd_two_sum(double a, double b) {
  const double s = a + b;
  const double bb = s - a;
  return {s, (a - (s - bb)) + (b - bb)};
}

// Same for |a| >= |b| (or a = 0).
FS_HOST_DEVICE FS_INLINE dd_t dd_fast_two_sum(double a, double b) {
  const double s = a + b;
  return {s, b - (s - a)};
}

// a * b rounded, never fused into a following add or subtract: the compilers contract
// p = a b; ... s = c + p into s = fma(a, b, c) on their own (GCC in gnu++ mode, nvcc by default),
// and then s and the separately formed error term of p disagree (the error counted twice).
FS_HOST_DEVICE FS_INLINE double dd_mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  double p = a * b;
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
  __asm__("" : "+x"(p));  // opaque to the optimiser: p stays a plain rounded product
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
  __asm__("" : "+w"(p));
#endif
  return p;
#endif
}

// p + e = a * b exactly (no under/overflow).
FS_HOST_DEVICE FS_INLINE dd_t dd_two_prod(double a, double b) {
  const double p = dd_mul_rn(a, b);
#if defined(__CUDA_ARCH__) || defined(__FMA__)
  return {p, math::fma(a, b, -p)};
#else
  const double k = 134217729.0;  // 2^27 + 1
  const double ca = k * a, cb = k * b;
  const double ah = ca - (ca - a), al = a - ah;
  const double bh = cb - (cb - b), bl = b - bh;
  return {p, ((ah * bh - p) + ah * bl + al * bh) + al * bl};
#endif
}

// a - q b (to ~eps^2 |a|) for q b ~ a.  Written with an explicit fma where there is one:
// the compilers contract a - p with p = q b into an fma on their own (GCC in gnu++ mode, nvcc by
// default), and then subtracting the two_prod error of p as well would count it twice.
FS_HOST_DEVICE FS_INLINE double dd_residual(double a, double q, double b) {
#if defined(__CUDA_ARCH__) || defined(__FMA__)
  return math::fma(-q, b, a);
#else
  const dd_t p = dd_two_prod(q, b);
  return (a - p.hi) - p.lo;  // a - p.hi is exact (Sterbenz)
#endif
}

// Accurate sum of two dd numbers (also under cancellation, e.g. r + v log(x/(v+r)) near
// the turning point).
FS_HOST_DEVICE FS_INLINE dd_t dd_add(dd_t a, dd_t b) {
  dd_t s = dd_two_sum(a.hi, b.hi);
  const dd_t t = dd_two_sum(a.lo, b.lo);
  s.lo += t.hi;
  s = dd_fast_two_sum(s.hi, s.lo);
  s.lo += t.lo;
  return dd_fast_two_sum(s.hi, s.lo);
}

FS_HOST_DEVICE FS_INLINE dd_t dd_add_d(dd_t a, double b) {
  dd_t s = dd_two_sum(a.hi, b);
  s.lo += a.lo;
  return dd_fast_two_sum(s.hi, s.lo);
}

FS_HOST_DEVICE FS_INLINE dd_t dd_mul_d(dd_t a, double b) {
  dd_t p = dd_two_prod(a.hi, b);
  p.lo += a.lo * b;
  return dd_fast_two_sum(p.hi, p.lo);
}

FS_HOST_DEVICE FS_INLINE long long dd_bits(double d) {
#if defined(__CUDA_ARCH__)
  return __double_as_longlong(d);
#else
  long long b;
  memcpy(&b, &d, sizeof b);
  return b;
#endif
}

FS_HOST_DEVICE FS_INLINE double dd_from_bits(long long b) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(b);
#else
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
#endif
}

// For c = 1 + i/64, i = 0..64: 1/c rounded to double (ic), and -log(ic) = lh + ll with lh a
// multiple of 2^-42 (mpmath, 300 bits).  The log below uses ic itself, so no error of 1/c enters;
// lh a multiple of 2^-42 makes k*ln2_hi + lh exact for |k| < 2^11.  Row 64 equals ln2 (hi, lo).
FS_CONSTANT double kLogTable64[65][3] = {
    {1.0, 0.0, 0.0},
    {0.9846153846153847, 0.015504186535963527, 1.6719455987393528e-15},
    {0.9696969696969697, 0.03077165866670839, 4.527038700229366e-14},
    {0.9552238805970149, 0.0458095360313564, -6.217926003652218e-14},
    {0.9411764705882353, 0.06062462181648698, -5.2122328603557226e-14},
    {0.927536231884058, 0.07522342123752424, 6.32785165229136e-14},
    {0.9142857142857143, 0.08961215868976069, -7.35264771717827e-14},
    {0.9014084507042254, 0.10379679368156758, 7.596381456675372e-14},
    {0.8888888888888888, 0.11778303565643, -4.649178632475319e-14},
    {0.8767123287671232, 0.13157635778861732, 1.0201286338831599e-13},
    {0.8648648648648649, 0.14518200984457508, -7.723552451951224e-14},
    {0.8533333333333334, 0.15860503017665906, -2.0536542569073097e-14},
    {0.8421052631578947, 0.17185025692674571, -8.643688492088945e-14},
    {0.8311688311688312, 0.18492233849406148, -4.9551087153338115e-14},
    {0.8205128205128205, 0.19782574332998593, -6.60107543013043e-14},
    {0.810126582278481, 0.21056476910735, -3.494593770341145e-16},
    {0.8, 0.22314355131425145, -4.175347699650321e-14},
    {0.7901234567901234, 0.23556607131286, -9.303908380073764e-14},
    {0.7804878048780488, 0.2478361639045943, -1.30644916428282e-14},
    {0.7710843373493976, 0.25995752443691345, 1.2569687694606012e-14},
    {0.7619047619047619, 0.2719337154835557, 8.609857887931859e-14},
    {0.7529411764705882, 0.28376817313073843, -9.382029444882919e-14},
    {0.7441860465116279, 0.2954642128938758, -3.9920286056070625e-14},
    {0.735632183908046, 0.30702503529482783, 8.404544083573206e-14},
    {0.7272727272727273, 0.31845373111855224, -1.765318688778829e-14},
    {0.7191011235955056, 0.32975328637257917, -1.111589583199776e-13},
    {0.7111111111111111, 0.34092658697068146, -8.828342723772789e-14},
    {0.7032967032967034, 0.35197642315711164, 6.646685387682899e-14},
    {0.6956521739130435, 0.3629054936893681, 3.9484127277912274e-16},
    {0.6881720430107527, 0.37371640979358745, -3.4441412937204622e-15},
    {0.6808510638297872, 0.3844116989102986, 3.34813888241045e-14},
    {0.6736842105263158, 0.3949938082407698, 9.92058649310271e-14},
    {0.6666666666666666, 0.40546510810827385, -1.0941536021483514e-13},
    {0.6597938144329897, 0.41582789514382057, -1.0958480597130416e-13},
    {0.6530612244897959, 0.4260843953109088, -8.66044523117802e-15},
    {0.6464646464646465, 0.43623676677498224, -6.425773023847997e-14},
    {0.64, 0.4462871026285029, -8.341674837225563e-14},
    {0.6336633663366337, 0.4562374334816468, -5.922131920024331e-14},
    {0.6274509803921569, 0.46608972992453346, 6.578047547360843e-14},
    {0.6213592233009708, 0.4758459048698569, 1.0710605379494139e-13},
    {0.6153846153846154, 0.4855078157816024, 9.834914163109501e-14},
    {0.6095238095238096, 0.49507726679780717, 4.425489626206458e-14},
    {0.6037735849056604, 0.504556010752367, 2.8323962525539384e-14},
    {0.5981308411214953, 0.5139457511022556, -2.120771347774268e-14},
    {0.5925925925925926, 0.5232481437644765, 7.141101775241247e-14},
    {0.5871559633027523, 0.5324647988695688, -9.697889612493154e-14},
    {0.5818181818181818, 0.5415972824328037, -5.927482490011726e-14},
    {0.5765765765765766, 0.5506471179526216, 4.073146432626456e-14},
    {0.5714285714285714, 0.5596157879353996, 2.3175004989236635e-14},
    {0.5663716814159292, 0.5685047353526897, -2.1023604723637128e-14},
    {0.5614035087719298, 0.5773153650347922, 3.146591915627622e-14},
    {0.5565217391304348, 0.5860490450036195, -4.1343023212440294e-14},
    {0.5517241379310345, 0.5947071077466717, 2.1121866945650113e-14},
    {0.5470085470085471, 0.6032908514380324, 5.1756741344735174e-14},
    {0.5423728813559322, 0.6118015411059332, 5.969607041233665e-14},
    {0.5378151260504201, 0.6202404097518865, -2.897334446646024e-14},
    {0.5333333333333333, 0.6286086594222979, 7.621871601970152e-14},
    {0.5289256198347108, 0.6369074622371045, -3.527861819996095e-14},
    {0.5245901639344263, 0.6451379613736208, -3.613335530850488e-14},
    {0.5203252032520326, 0.6533012720126408, 1.0476718877182241e-13},
    {0.5161290322580645, 0.6613984822454313, -6.626016232829185e-14},
    {0.512, 0.669430653942527, 1.0225896122570448e-13},
    {0.5079365079365079, 0.6773988235918296, -2.3372292486747812e-14},
    {0.5039370078740157, 0.6853040030989632, -4.379099683542317e-14},
    {0.5, 0.6931471805598903, 5.497923018708371e-14},
};

FS_CONSTANT double kLn2Hi42 = 0.6931471805598903;   // ln 2 rounded to a multiple of 2^-42
FS_CONSTANT double kLn2Lo42 = 5.497923018708371e-14;

// log(y) + d for a normal y > 0 and a small d (|d| < ~1e-15, the relative correction of a y
// given as y(1 + d)), as hi + lo, unnormalised, with absolute error ~2^-72 (1 + |log y|).
// That is all the Debye exponent needs (v log y, v < ~1e5 where the value is representable and
// not in the plain-double branches), and far cheaper than a full double-double log:
// y = 2^k m, m in [1, 2), ic ~ 1/c for the c = 1 + i/64 nearest m; z = m ic - 1 exactly as
// zh + zl (a two_prod; m ic - 1 is exact by Sterbenz), |z| <= 1/128; log1p(z) is z - z^2/2 in
// dd and the tail z^3/3 - ... (< 2^-22) in double.  No division on the critical path.
// (A template, like bk_debye_phase, so that nvcc does not compile it for the host side of .cu
// files, where the __device__ table cannot be read: the reads must depend on P.)
template <class P = double>
FS_HOST_DEVICE FS_INLINE dd_t log_plus(P y, P d) {
  const long long b = dd_bits(y);
  const int k = int((b >> 52) & 0x7ff) - 1023;
  const double m = dd_from_bits((b & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);
  const int i = int((m - 1.0) * 64.0 + 0.5);
  const P ic = P(kLogTable64[i][0]), lh = P(kLogTable64[i][1]), ll = P(kLogTable64[i][2]);
  const dd_t mc = dd_two_prod(m, ic);
  const double zh = mc.hi - 1.0, zl = mc.lo;
  const double kd = double(k);
  const double t1 = kd * kLn2Hi42 + lh;  // exact
  const dd_t p = dd_two_prod(zh, zh);
  // |t1| >= |zh| unless t1 = 0, and |t1 + zh| >= zh^2/2: fast sums suffice.
  const dd_t s1 = dd_fast_two_sum(t1, zh);
  const dd_t s2 = dd_fast_two_sum(s1.hi, -0.5 * p.hi);
  const double z2 = zh * zh;
  // z^3 (1/3 - z/4 + ... + z^6/9), Estrin-ish to keep the chain short; next term < 2^-73
  const double c0 = 1.0 / 3 - zh * 0.25, c1 = 0.2 - zh * (1.0 / 6);
  const double c2 = 1.0 / 7 - zh * 0.125, c3 = 1.0 / 9;
  const double tail = (zh * z2) * ((c0 + z2 * c1) + (z2 * z2) * (c2 + z2 * c3));
  const double lo = ((s1.lo + s2.lo) + (kd * kLn2Lo42 + ll)) + ((zl + d) - (0.5 * p.lo + zh * zl)) + tail;
  return dd_t{s2.hi, lo};
}

}  // namespace detail
}  // namespace fs
