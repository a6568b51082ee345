// Fixed-order modified Bessel functions: I_0, I_1, K_0, K_1 and their exponentially scaled forms,
// with the semantics of scipy.special.i0, i0e, i1, i1e, k0, k0e, k1, k1e.
//
// Why not iv(0, x) etc.: the general-order code branches on many regions, which on a GPU means
// warp divergence (measured 4-10x slower than cupyx on an H100). Here every function is one
// or two short polynomial evaluations (tables fitted by tests/tools/gen_fixed_order_coeffs.py,
// where the forms are documented) plus at most one exp, log and sqrt:
//
//   I_n, x <= 12 : I_0 = P(x^2), I_1 = x P(x^2)          (times e^-x for the scaled form)
//   I_n, x >  12 : e^x Q(1/x) / sqrt(x)                   (without e^x for the scaled form)
//   K_n, x <= 1  : K_0 = R(x^2) - log(x) I_0(x), K_1 = 1/x + x (log(x) P(x^2) + R(x^2))
//   K_n, x >  1  : e^-x S(1/x) / sqrt(x), two tables (x <= 4 and x > 4) of one code path
//
// float uses its own, shorter tables and float arithmetic throughout.
#pragma once

#include "fastspectral/bessel_fixed_coeffs.hpp"
#include "fastspectral/config.hpp"

namespace fs {
namespace detail {

// Horner, written a*b + c rather than math::fma: nvcc contracts it to FMA, and so does the host
// compiler with FMA hardware enabled, whereas an explicit fma() without -mfma is a library call.
template <class T, class C, int N>
FS_HOST_DEVICE FS_INLINE T fixed_poly(const C (&c)[N], T s) {
  T acc = T(c[0]);
#if defined(__CUDACC__)
#pragma unroll
#else
#pragma GCC unroll 32
#endif
  for (int k = 1; k < N; ++k) acc = acc * s + T(c[k]);
  return acc;
}

// Horner over one of two tables chosen per element, as selects rather than a branch so that a
// warp whose lanes straddle the split still runs one polynomial. The shorter table is padded
// with leading zeros.
template <class T, class C, int NA, int NB>
FS_HOST_DEVICE FS_INLINE T fixed_poly_select(bool use_a, const C (&a)[NA], const C (&b)[NB], T s) {
  constexpr int N = NA > NB ? NA : NB;
  T acc = T(0);
#if defined(__CUDACC__)
#pragma unroll
#else
#pragma GCC unroll 32
#endif
  for (int k = 0; k < N; ++k) {
    const int ka = k - (N - NA), kb = k - (N - NB);
    const T ca = ka >= 0 ? T(a[ka]) : T(0);
    const T cb = kb >= 0 ? T(b[kb]) : T(0);
    acc = acc * s + (use_a ? ca : cb);
  }
  return acc;
}

// P(y) for y = yh + yl, a double-length square: P(yh) + P'(yh) yl. The small-x I tables are
// steep (d log P / d log y ~ x/2 = 6 at x = 12), so rounding x^2 alone would cost ~3 ulp there.
template <class T, class C, int N>
FS_HOST_DEVICE FS_INLINE T fixed_poly_dd(const C (&c)[N], T yh, T yl) {
  T acc = T(c[0]), d = T(0);
#if defined(__CUDACC__)
#pragma unroll
#else
#pragma GCC unroll 32
#endif
  for (int k = 1; k < N; ++k) {
    d = d * yh + acc;
    acc = acc * yh + T(c[k]);
  }
  return acc + d * yl;
}

template <class T> struct FixedTables;

#define FS_FIXED_TABLES(T, S)                                                                      \
  FS_HOST_DEVICE static FS_INLINE T i0_small(T yh, T yl) {                                       \
    return fixed_poly_dd(kFixedI0Small##S, yh, yl);                                               \
  }                                                                                                \
  FS_HOST_DEVICE static FS_INLINE T i1_small(T yh, T yl) {                                       \
    return fixed_poly_dd(kFixedI1Small##S, yh, yl);                                               \
  }                                                                                                \
  FS_HOST_DEVICE static FS_INLINE T i0_large(T u) { return fixed_poly(kFixedI0Large##S, u); }     \
  FS_HOST_DEVICE static FS_INLINE T i1_large(T u) { return fixed_poly(kFixedI1Large##S, u); }     \
  FS_HOST_DEVICE static FS_INLINE T i0_unit(T y) { return fixed_poly(kFixedI0Unit##S, y); }       \
  FS_HOST_DEVICE static FS_INLINE T i1_unit(T y) { return fixed_poly(kFixedI1Unit##S, y); }       \
  FS_HOST_DEVICE static FS_INLINE T k0_small(T y) { return fixed_poly(kFixedK0Small##S, y); }     \
  FS_HOST_DEVICE static FS_INLINE T k1_small(T y) { return fixed_poly(kFixedK1Small##S, y); }     \
  FS_HOST_DEVICE static FS_INLINE T k0_large(bool far, T s) {                                     \
    return fixed_poly_select(far, kFixedK0Large##S, kFixedK0Mid##S, s);                           \
  }                                                                                                \
  FS_HOST_DEVICE static FS_INLINE T k1_large(bool far, T s) {                                     \
    return fixed_poly_select(far, kFixedK1Large##S, kFixedK1Mid##S, s);                           \
  }

template <>
struct FixedTables<double> {
  FS_FIXED_TABLES(double, D)
  // Beyond this |exponent| e^x overflows (or e^-x goes subnormal and loses bits) before the
  // Bessel value does, so the factor is applied in two halves.
  static constexpr double kExpSplit = 700.0;
};
template <>
struct FixedTables<float> {
  FS_FIXED_TABLES(float, F)
  static constexpr float kExpSplit = 80.0f;
};
#undef FS_FIXED_TABLES

// m * e^e without spurious overflow/underflow of the exponential alone.
template <class T>
FS_HOST_DEVICE FS_INLINE T fixed_times_exp(T m, T e) {
  if (math::fabs(e) > FixedTables<T>::kExpSplit) {
    const T h = math::exp(T(0.5) * e);  // e/2 is exact
    return (m * h) * h;
  }
  return m * math::exp(e);
}

// I_n(|x|) (scaled: times e^-|x|) for x not nan; n = 0 or 1.
template <class T, int n, bool scaled>
FS_HOST_DEVICE FS_INLINE T fixed_i_abs(T t) {
  using Tab = FixedTables<T>;
  if (t <= T(kFixedSplitI)) {
    const T yh = t * t, yl = math::fma(t, t, -yh);
    const T p = n == 0 ? Tab::i0_small(yh, yl) : t * Tab::i1_small(yh, yl);
    return scaled ? p * math::exp(-t) : p;
  }
  if (t == math::infinity<T>()) return scaled ? T(0) : t;
  const T q = n == 0 ? Tab::i0_large(T(1) / t) : Tab::i1_large(T(1) / t);
  const T m = q / math::sqrt(t);
  return scaled ? m : fixed_times_exp(m, t);
}

// K_n(x) (scaled: times e^x) for x > 0 (inf included); n = 0 or 1.
template <class T, int n, bool scaled>
FS_HOST_DEVICE FS_INLINE T fixed_k_pos(T x) {
  using Tab = FixedTables<T>;
  if (x <= T(kFixedSplitK1)) {
    // log(x) <= 0 here, so neither sum below cancels (see the generator).
    const T y = x * x, l = math::log(x);
    const T k = n == 0 ? Tab::k0_small(y) - l * Tab::i0_unit(y)
                       : T(1) / x + x * (l * Tab::i1_unit(y) + Tab::k1_small(y));
    return scaled ? k * math::exp(x) : k;
  }
  const bool far = x > T(kFixedSplitK2);
  const T u = T(1) / x;
  const T s = far ? u : u - T(kFixedKMidCentre);
  const T m = (n == 0 ? Tab::k0_large(far, s) : Tab::k1_large(far, s)) / math::sqrt(x);
  return scaled ? m : fixed_times_exp(m, -x);  // x = inf: m = 0, exp(-inf) = 0
}

}  // namespace detail

template <class T>
FS_HOST_DEVICE T fixed_i0(T x) {
  if (math::isnan(x)) return x;
  return detail::fixed_i_abs<T, 0, false>(math::fabs(x));
}
template <class T>
FS_HOST_DEVICE T fixed_i0e(T x) {
  if (math::isnan(x)) return x;
  return detail::fixed_i_abs<T, 0, true>(math::fabs(x));
}
// I_1 is odd: i1(-x) = -i1(x), and the scaled form uses e^-|x|.
template <class T>
FS_HOST_DEVICE T fixed_i1(T x) {
  if (math::isnan(x)) return x;
  return math::copysign(detail::fixed_i_abs<T, 1, false>(math::fabs(x)), x);
}
template <class T>
FS_HOST_DEVICE T fixed_i1e(T x) {
  if (math::isnan(x)) return x;
  return math::copysign(detail::fixed_i_abs<T, 1, true>(math::fabs(x)), x);
}
// K_n(0) = inf, K_n(x < 0) = nan (real-valued semantics, as scipy.special.k0 etc.).
template <class T>
FS_HOST_DEVICE T fixed_k0(T x) {
  if (x == T(0)) return math::infinity<T>();
  if (!(x > T(0))) return math::quiet_nan<T>();
  return detail::fixed_k_pos<T, 0, false>(x);
}
template <class T>
FS_HOST_DEVICE T fixed_k0e(T x) {
  if (x == T(0)) return math::infinity<T>();
  if (!(x > T(0))) return math::quiet_nan<T>();
  return detail::fixed_k_pos<T, 0, true>(x);
}
template <class T>
FS_HOST_DEVICE T fixed_k1(T x) {
  if (x == T(0)) return math::infinity<T>();
  if (!(x > T(0))) return math::quiet_nan<T>();
  return detail::fixed_k_pos<T, 1, false>(x);
}
template <class T>
FS_HOST_DEVICE T fixed_k1e(T x) {
  if (x == T(0)) return math::infinity<T>();
  if (!(x > T(0))) return math::quiet_nan<T>();
  return detail::fixed_k_pos<T, 1, true>(x);
}

}  // namespace fs
