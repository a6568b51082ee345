// Fixed-order modified Bessel functions: I_0, I_1, K_0, K_1 and their exponentially scaled forms,
// with the semantics of scipy.special.i0, i0e, i1, i1e, k0, k0e, k1, k1e.
//
// Why not iv(0, x) etc.: the general-order code branches on many regions, which on a GPU means
// warp divergence (measured 4-10x slower than cupyx on an H100). Here every function is one
// or two short polynomial evaluations (tables fitted by tests/tools/gen_fixed_order_coeffs.py,
// where the forms are documented) plus at most one exp, log and sqrt:
//
//   I_n, x <= 10 : I_0 = P(x^2), I_1 = x P(x^2)          (times e^-x for the scaled form)
//   I_n, x >  10 : e^x Q(1/x) / sqrt(x)                   (without e^x for the scaled form)
//   K_n, x <= 1  : K_0 = R(x^2) - log(x) I_0(x), K_1 = 1/x + x (log(x) P(x^2) + R(x^2))
//   K_n, x >  1  : e^-x S(1/x) / sqrt(x), two tables (x <= 4 and x > 4) in one code path
//
// float32 has its own lower-degree tables but is evaluated in double and rounded once at the
// end: that makes it ~0.5 ulp (float arithmetic measured 2.5-4 ulp: every exp, sqrt, division
// and Horner step costs a float rounding), and the exp split below is never needed for it.
#pragma once

#include "fastspectral/bessel_fixed_coeffs.hpp"
#include "fastspectral/config.hpp"

namespace fs {
namespace detail {

// Horner, written a*b + c rather than math::fma: nvcc contracts it to FMA, and so does the host
// compiler with FMA hardware enabled, whereas an explicit fma() without -mfma is a library call.
// The constant term is double-length (c[N-1] + c0lo) and added last, so that where it
// dominates (large x, a table's centre) the result is rounded once instead of inheriting the
// constant's own rounding as well.
template <class W, int N>
FS_HOST_DEVICE FS_INLINE W fixed_poly(const double (&c)[N], double c0lo, W s) {
  static_assert(N >= 2, "tables have at least a linear term");
  W acc = W(c[0]);
#if defined(__CUDACC__)
#pragma unroll
#else
#pragma GCC unroll 32
#endif
  for (int k = 1; k < N - 1; ++k) acc = acc * s + W(c[k]);
  return (acc * s + W(c0lo)) + W(c[N - 1]);
}

// P(y) for y = yh + yl, a double-length square: P(yh) + P'(yh) yl. The small-x I tables are
// steep (d log P / d log y ~ x/2 = 5 at x = 10), so rounding x^2 alone would cost ~2.5 ulp there.
template <class W, int N>
FS_HOST_DEVICE FS_INLINE W fixed_poly_dd(const double (&c)[N], double c0lo, W yh, W yl) {
  static_assert(N >= 2, "tables have at least a linear term");
  W acc = W(c[0]), d = W(0);
#if defined(__CUDACC__)
#pragma unroll
#else
#pragma GCC unroll 32
#endif
  for (int k = 1; k < N - 1; ++k) {
    d = d * yh + acc;
    acc = acc * yh + W(c[k]);
  }
  d = d * yh + acc;
  return (acc * yh + (d * yl + W(c0lo))) + W(c[N - 1]);
}

// Horner over one of two tables chosen per element, as selects rather than a branch so that a
// warp whose lanes straddle the split still runs one polynomial. The shorter table is padded
// with leading zeros.
template <class W, int NA, int NB>
FS_HOST_DEVICE FS_INLINE W fixed_poly_select(bool use_a, const double (&a)[NA], double alo,
                                             const double (&b)[NB], double blo, W s) {
  constexpr int N = NA > NB ? NA : NB;
  W acc = W(0);
#if defined(__CUDACC__)
#pragma unroll
#else
#pragma GCC unroll 32
#endif
  for (int k = 0; k < N - 1; ++k) {
    const int ka = k - (N - NA), kb = k - (N - NB);
    const W ca = ka >= 0 ? W(a[ka]) : W(0);
    const W cb = kb >= 0 ? W(b[kb]) : W(0);
    acc = acc * s + (use_a ? ca : cb);
  }
  return (acc * s + W(use_a ? alo : blo)) + W(use_a ? a[NA - 1] : b[NB - 1]);
}

// Tables and working type per result type.
template <class T> struct FixedTables;

// T##S names a table, T##S##Lo the low part of its constant term.
#define FS_FIXED_POLY(T, S, v) fixed_poly(kFixed##T##S, kFixed##T##S##Lo, v)
#define FS_FIXED_TABLES(S)                                                                     \
  using W = double;                                                                            \
  FS_HOST_DEVICE static FS_INLINE W i0_small(W yh, W yl) {                                     \
    return fixed_poly_dd(kFixedI0Small##S, kFixedI0Small##S##Lo, yh, yl);                      \
  }                                                                                            \
  FS_HOST_DEVICE static FS_INLINE W i1_small(W yh, W yl) {                                     \
    return fixed_poly_dd(kFixedI1Small##S, kFixedI1Small##S##Lo, yh, yl);                      \
  }                                                                                            \
  FS_HOST_DEVICE static FS_INLINE W i0_large(W u) { return FS_FIXED_POLY(I0Large, S, u); }    \
  FS_HOST_DEVICE static FS_INLINE W i1_large(W u) { return FS_FIXED_POLY(I1Large, S, u); }    \
  FS_HOST_DEVICE static FS_INLINE W i0_unit(W y) { return FS_FIXED_POLY(I0Unit, S, y); }      \
  FS_HOST_DEVICE static FS_INLINE W i1_unit(W y) { return FS_FIXED_POLY(I1Unit, S, y); }      \
  FS_HOST_DEVICE static FS_INLINE W k0_small(W y) { return FS_FIXED_POLY(K0Small, S, y); }    \
  FS_HOST_DEVICE static FS_INLINE W k1_small(W y) { return FS_FIXED_POLY(K1Small, S, y); }    \
  FS_HOST_DEVICE static FS_INLINE W k0_large(bool far, W s) {                                 \
    return fixed_poly_select(far, kFixedK0Large##S, kFixedK0Large##S##Lo, kFixedK0Mid##S,     \
                             kFixedK0Mid##S##Lo, s);                                           \
  }                                                                                            \
  FS_HOST_DEVICE static FS_INLINE W k1_large(bool far, W s) {                                 \
    return fixed_poly_select(far, kFixedK1Large##S, kFixedK1Large##S##Lo, kFixedK1Mid##S,     \
                             kFixedK1Mid##S##Lo, s);                                           \
  }

template <>
struct FixedTables<double> {
  FS_FIXED_TABLES(D)
  // e^x overflows (e^-x goes subnormal and loses bits) before I (K) does: split the factor.
  static constexpr bool kSplitExp = true;
  // I_0(x) > I_1(x) > DBL_MAX beyond this (I_1(714) = 1.01 DBL_MAX): +inf without computing.
  static constexpr double kIOverflow = 715.0;
  // K_0(x) < K_1(x) < 2^-1075 (half the smallest subnormal) beyond this: +0 without computing.
  static constexpr double kKUnderflow = 746.0;
  // x <= 10: the I tables take x^2 as a double-length square (see fixed_poly_dd).
  static constexpr bool kExactSquare = true;
};
template <>
struct FixedTables<float> {
  FS_FIXED_TABLES(F)
  // In double, float's whole range of I and K is far from over/underflow, and the rounding of
  // x^2 is below float's resolution.
  static constexpr bool kSplitExp = false;
  static constexpr double kIOverflow = 100.0;  // I_1(100) = 1e42 > FLT_MAX; exp(100) is finite
  static constexpr double kKUnderflow = 110.0;  // K_1(110) = 2e-49, below float's 2^-150
  static constexpr bool kExactSquare = false;
};
#undef FS_FIXED_TABLES
#undef FS_FIXED_POLY

// ln 2 = kFixedLn2Hi + kFixedLn2Lo, kFixedLn2Hi a multiple of 2^-42 (1000 kFixedLn2Hi is exact).
constexpr double kFixedLn2Hi = 0.6931471805598903;
constexpr double kFixedLn2Lo = 5.497923018708371e-14;

// m * e^e. With split, for |e| > 700: e^e = 2^k e^(e - k ln 2), k = +-1000, with e - k ln2_hi
// exact (Sterbenz) and the ln2_lo part applied as the factor 1 - k ln2_lo, so the result rounds
// once more than m e^e would and overflows/underflows (gradually) only when the value does.
// Callers keep e <= 715 (beyond it the value is +inf for every I here), so e - k ln2_hi stays
// far from exp's overflow and an overflowing result is returned as inf without raising the
// overflow flag (NumPy would turn the flag into a RuntimeWarning; SciPy's ufuncs are silent).
template <bool split>
FS_HOST_DEVICE FS_INLINE double fixed_times_exp(double m, double e) {
  if (split && math::fabs(e) > 700.0) {
    const double k = e > 0.0 ? 1000.0 : -1000.0;
    const double mc = m + m * (-k * kFixedLn2Lo);  // m is finite: no inf - inf
    const double p = mc * math::exp(e - k * kFixedLn2Hi);
    // p 2^1000 is exact unless it overflows, i.e. unless p > DBL_MAX 2^-1000
    if (e > 0.0 && p > 0x1.fffffffffffffp23) return math::infinity<double>();
    return p * (e > 0.0 ? 0x1p1000 : 0x1p-1000);
  }
  return m * math::exp(e);
}

// The working-type result rounded to T, with overflow to +-inf returned directly (no flag).
template <class T>
FS_HOST_DEVICE FS_INLINE T fixed_round(double w) {
  if (sizeof(T) < sizeof(double) && math::fabs(w) >= 0x1.ffffffp127)  // FLT_MAX + half an ulp
    return w > 0 ? math::infinity<T>() : -math::infinity<T>();
  return T(w);
}

// I_n(t) (scaled: times e^-t) for t = |x| >= 0, not nan; n = 0 or 1; in the working type.
template <class T, int n, bool scaled>
FS_HOST_DEVICE FS_INLINE typename FixedTables<T>::W fixed_i_abs(typename FixedTables<T>::W t) {
  using Tab = FixedTables<T>;
  using W = typename Tab::W;
  if (t <= W(kFixedSplitI)) {
    const W yh = t * t, yl = Tab::kExactSquare ? math::fma(t, t, -yh) : W(0);
    if (n == 0) {
      const W p = Tab::i0_small(yh, yl);
      return scaled ? p * math::exp(-t) : p;
    }
    const W p1 = Tab::i1_small(yh, yl), p = t * p1;
    if (!scaled) return p;
    // t p1 e^-t rounded once: t p1 = p + pl exactly (pl by FMA), then (p + pl) e^-t.
    const W pl = math::fma(t, p1, -p), e = math::exp(-t);
    return math::fma(p, e, pl * e);
  }
  if (t == math::infinity<W>()) return scaled ? W(0) : t;
  if (!scaled && t > W(Tab::kIOverflow)) return math::infinity<W>();
  const W q = n == 0 ? Tab::i0_large(W(1) / t) : Tab::i1_large(W(1) / t);
  const W m = q / math::sqrt(t);
  return scaled ? m : fixed_times_exp<Tab::kSplitExp>(m, t);
}

// K_n(x) (scaled: times e^x) for x > 0 (inf included); n = 0 or 1; in the working type.
template <class T, int n, bool scaled>
FS_HOST_DEVICE FS_INLINE typename FixedTables<T>::W fixed_k_pos(typename FixedTables<T>::W x) {
  using Tab = FixedTables<T>;
  using W = typename Tab::W;
  if (x <= W(kFixedSplitK1)) {
    // log(x) <= 0 here, so neither sum below cancels (see the generator).
    const W y = x * x, l = math::log(x);
    // K_1 ~ 1/x (scaled too) overflows exactly when 1/x does: for x <= 2^-1024 (returned
    // without raising the flag)
    if (n == 1 && x <= W(0x1p-1024)) return math::infinity<W>();
    const W k = n == 0 ? Tab::k0_small(y) - l * Tab::i0_unit(y)
                       : W(1) / x + x * (l * Tab::i1_unit(y) + Tab::k1_small(y));
    return scaled ? k * math::exp(x) : k;
  }
  if (!scaled && x > W(Tab::kKUnderflow)) return W(0);  // also spares exp's slow underflow path
  const bool far = x > W(kFixedSplitK2);
  const W u = W(1) / x;
  const W s = far ? u : u - W(kFixedKMidCentre);
  const W m = (n == 0 ? Tab::k0_large(far, s) : Tab::k1_large(far, s)) / math::sqrt(x);
  return scaled ? m : fixed_times_exp<Tab::kSplitExp>(m, -x);  // x = inf: m = 0, e^-inf = 0
}

}  // namespace detail

template <class T>
FS_HOST_DEVICE T fixed_i0(T x) {
  if (math::isnan(x)) return x;
  return detail::fixed_round<T>(detail::fixed_i_abs<T, 0, false>(math::fabs(x)));
}
template <class T>
FS_HOST_DEVICE T fixed_i0e(T x) {
  if (math::isnan(x)) return x;
  return detail::fixed_round<T>(detail::fixed_i_abs<T, 0, true>(math::fabs(x)));
}
// I_1 is odd: i1(-x) = -i1(x), and the scaled form uses e^-|x|.
template <class T>
FS_HOST_DEVICE T fixed_i1(T x) {
  if (math::isnan(x)) return x;
  const auto w = detail::fixed_i_abs<T, 1, false>(math::fabs(x));
  return math::copysign(detail::fixed_round<T>(w), x);
}
template <class T>
FS_HOST_DEVICE T fixed_i1e(T x) {
  if (math::isnan(x)) return x;
  const auto w = detail::fixed_i_abs<T, 1, true>(math::fabs(x));
  return math::copysign(detail::fixed_round<T>(w), x);
}
// K_n(0) = inf, K_n(x < 0) = nan (real-valued semantics, as scipy.special.k0 etc.).
template <class T>
FS_HOST_DEVICE T fixed_k0(T x) {
  if (math::isnan(x)) return x;  // before any ordered comparison, which would raise 'invalid'
  if (x <= T(0)) return x == T(0) ? math::infinity<T>() : math::quiet_nan<T>();
  return detail::fixed_round<T>(detail::fixed_k_pos<T, 0, false>(x));
}
template <class T>
FS_HOST_DEVICE T fixed_k0e(T x) {
  if (math::isnan(x)) return x;  // before any ordered comparison, which would raise 'invalid'
  if (x <= T(0)) return x == T(0) ? math::infinity<T>() : math::quiet_nan<T>();
  return detail::fixed_round<T>(detail::fixed_k_pos<T, 0, true>(x));
}
template <class T>
FS_HOST_DEVICE T fixed_k1(T x) {
  if (math::isnan(x)) return x;  // before any ordered comparison, which would raise 'invalid'
  if (x <= T(0)) return x == T(0) ? math::infinity<T>() : math::quiet_nan<T>();
  return detail::fixed_round<T>(detail::fixed_k_pos<T, 1, false>(x));
}
template <class T>
FS_HOST_DEVICE T fixed_k1e(T x) {
  if (math::isnan(x)) return x;  // before any ordered comparison, which would raise 'invalid'
  if (x <= T(0)) return x == T(0) ? math::infinity<T>() : math::quiet_nan<T>();
  return detail::fixed_round<T>(detail::fixed_k_pos<T, 1, true>(x));
}

}  // namespace fs
