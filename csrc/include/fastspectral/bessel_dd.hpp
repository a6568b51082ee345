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

// p + e = a * b exactly (no under/overflow).
FS_HOST_DEVICE FS_INLINE dd_t dd_two_prod(double a, double b) {
  const double p = a * b;
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

// a / b, one correction step; one division (q needs only to be close: the step fixes it).
FS_HOST_DEVICE FS_INLINE dd_t dd_div(dd_t a, dd_t b) {
  const double inv = 1.0 / b.hi;
  const double q = a.hi * inv;
  return dd_fast_two_sum(q, dd_residual(a.hi, q, b.hi) * inv + (a.lo - q * b.lo) * inv);
}

// sqrt(a^2 + b^2) for 0 <= a, b < ~1e150 (no overflow of the squares), given h ~ the rounded
// root and hinv ~ 1/h (the correction needs them only to a few ulp).
FS_HOST_DEVICE FS_INLINE dd_t dd_hypot(double a, double b, double h, double hinv) {
  const dd_t s = dd_add(dd_two_prod(a, a), dd_two_prod(b, b));
  return dd_fast_two_sum(h, (dd_residual(s.hi, h, h) + s.lo) * (0.5 * hinv));
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

// log(1 + i/64), i = 0..64, as hi + lo (mpmath, 200 bits).
FS_CONSTANT double kLogTable64[65][2] = {
    {0.0, 0.0},
    {0.015504186535965254, -3.278321022892429e-19},
    {0.030771658666753687, 1.0431732029005968e-18},
    {0.0458095360312942, 1.902959866474257e-18},
    {0.06062462181643484, 2.6424025938726934e-18},
    {0.07522342123758753, -5.930604196293241e-18},
    {0.08961215868968714, -5.4268129336647135e-18},
    {0.10379679368164356, 5.47772415726659e-18},
    {0.11778303565638346, -1.1971685747593677e-18},
    {0.13157635778871926, 1.1123000879729588e-17},
    {0.1451820098444979, 8.242418783022475e-18},
    {0.15860503017663857, 1.1257003872182592e-17},
    {0.17185025692665923, -6.0224538210113705e-18},
    {0.184922338494012, 3.0236614153574064e-18},
    {0.19782574332991987, 1.2821194372980142e-17},
    {0.21056476910734964, -4.249405314729895e-18},
    {0.22314355131420976, -9.091270597324799e-18},
    {0.2355660713127669, -2.3943371495187355e-18},
    {0.24783616390458127, -1.2432209578702523e-17},
    {0.25995752443692605, 2.069806938978935e-17},
    {0.27193371548364176, 7.83319637697442e-19},
    {0.2837681731306446, -2.032665581126656e-17},
    {0.2954642128938359, -2.16461086040599e-17},
    {0.3070250352949119, -1.2319916200101964e-17},
    {0.3184537311185346, 2.7114779367326236e-17},
    {0.329753286372468, 2.122020616196946e-18},
    {0.3409265869705932, 1.7467136443544747e-17},
    {0.3519764231571782, -1.2953893030191963e-17},
    {0.3629054936893685, -2.1492361455310972e-17},
    {0.37371640979358406, 2.1836211281198184e-17},
    {0.38441169891033206, -1.612149700764673e-17},
    {0.394993808240869, -1.5113724418336168e-17},
    {0.4054651081081644, -2.8811380259626426e-18},
    {0.415827895143711, -2.48753990369597e-17},
    {0.4260843953109001, -2.499176776547466e-17},
    {0.43623676677491807, -1.8379648230620457e-18},
    {0.44628710262841953, -1.8182541194649598e-17},
    {0.4562374334815876, 2.122222784062318e-17},
    {0.46608972992459924, -1.4116523239904406e-17},
    {0.4758459048699639, -6.181952722542219e-18},
    {0.4855078157817008, -1.6618350693852048e-17},
    {0.4950772667978515, -8.307950959627356e-18},
    {0.5045560107523953, -2.4888518873597905e-17},
    {0.5139457511022343, 3.397548559332142e-17},
    {0.5232481437645479, -3.1833882216350925e-17},
    {0.5324647988694718, -9.149239241180804e-19},
    {0.5415972824327444, -3.748764246125639e-17},
    {0.5506471179526623, -2.239429485856908e-17},
    {0.5596157879354227, 2.685492580212308e-17},
    {0.5685047353526688, -5.4267346029482773e-17},
    {0.5773153650348236, -8.903591846974013e-18},
    {0.5860490450035782, -3.058363205263577e-17},
    {0.5947071077466928, 1.3751689964323675e-17},
    {0.6032908514380843, 9.9400563470175e-18},
    {0.6118015411059929, -3.7397759448726e-17},
    {0.6202404097518576, -3.989161064307651e-17},
    {0.6286086594223741, 4.3538742607970387e-17},
    {0.6369074622370692, 5.422955873465247e-17},
    {0.6451379613735847, 9.346960920120906e-19},
    {0.6533012720127457, -4.306892322029408e-17},
    {0.661398482245365, -7.603333785634003e-18},
    {0.6694306539426292, 2.823733943928343e-17},
    {0.6773988235918061, -2.0978183882652005e-18},
    {0.6853040030989194, 4.893484946270261e-17},
    {0.6931471805599453, 2.3190468138462996e-17},
};

// log(y) for a normal positive dd y, to ~1e-31 relative (absolute near y = 1).
// y = 2^k m, m in [1, 2); c = 1 + i/64 nearest m; log m = log c + 2 atanh(s), s = (m-c)/(m+c),
// |s| <= 1/256, so after 2s (in dd) the series tail 2s^3/3 + ... (< 2e-8) needs only double.
// (A template, like bk_debye_phase, so that nvcc does not compile it for the host side of .cu
// files, where the __device__ table cannot be read.)
template <class D = dd_t>
FS_HOST_DEVICE FS_INLINE D dd_log(D y) {
  // y.hi = 2^k mh, mh in [1, 2), from the bits (frexp is a library call on the host)
  const long long b = dd_bits(y.hi);
  const int k = int((b >> 52) & 0x7ff) - 1023;
  const double mh = dd_from_bits((b & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);
  const double ml = y.lo * dd_from_bits((long long)(1023 - k) << 52);  // exact power of two
  const int i = int((mh - 1.0) * 64.0 + 0.5);
  const double c = 1.0 + double(i) * 0.015625;
  const dd_t num = dd_two_sum(mh - c, ml);  // mh - c is exact (Sterbenz)
  const dd_t den = dd_add_d(dd_two_sum(mh, c), ml);
  const dd_t s = dd_div(num, den);
  const double s2 = s.hi * s.hi;
  const double tail =
      2.0 * s.hi * s2 *
      (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 * (1.0 / 11 + s2 * (1.0 / 13))))));
  D r = dd_add_d({2.0 * s.hi, 2.0 * s.lo}, tail);
  r = dd_add(r, {kLogTable64[i][0], kLogTable64[i][1]});
  if (k != 0) {
    const double kd = double(k);
    r = dd_add(r, dd_add_d(dd_two_prod(kd, 0.6931471805599453), kd * 2.3190468138462996e-17));
  }
  return r;
}

}  // namespace detail
}  // namespace fs
