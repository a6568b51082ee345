// The public per-element Bessel family: SciPy's domain rules (negative orders, negative
// arguments, 0, inf, nan) on top of the v >= 0, x >= 0 cores in bessel_i.hpp / bessel_k.hpp.
// Every CPU ufunc loop and every CUDA kernel calls exactly these functions.
//
// Where SciPy returns nan for a limit that exists (iv(1, inf), kve(1, inf), kv(inf, 1), ...)
// we return the limit; elsewhere special values follow SciPy.
#pragma once

#include "fastspectral/bessel_fixed.hpp"
#include "fastspectral/bessel_i.hpp"
#include "fastspectral/bessel_k.hpp"
#include "fastspectral/bessel_values.hpp"
#include "fastspectral/config.hpp"

namespace fs {

namespace detail {

template <class T>
FS_HOST_DEVICE FS_INLINE bool is_integer(T v) { return math::floor(v) == v; }

template <class T>
FS_HOST_DEVICE FS_INLINE bool is_odd_integer(T v) {
  return is_integer(v) && math::floor(v / T(2)) * T(2) != v;
}

// log|I_v(x)| and its sign for any real v, x >= 0.  For negative non-integer orders
// I_{-a}(x) = I_a(x) + (2/pi) sin(pi a) K_a(x)  (DLMF 10.27.2), summed in log space.
template <class T>
FS_HOST_DEVICE T log_abs_iv_signed(T v, T x, T* sign) {
  *sign = T(1);
  if (v >= T(0) || is_integer(v)) return log_iv_nonneg(math::fabs(v), x);
  const T a = -v;
  const T s = T(0.63661977236758134307553505349005745L) * math::sinpi(a);  // (2/pi) sin(pi a)
  if (x == T(0)) {  // K_a(0) = inf dominates
    *sign = s > T(0) ? T(1) : T(-1);
    return math::infinity<T>();
  }
  const T li = log_iv_nonneg(a, x);
  const T lk = log_kv_nonneg(a, x);
  if (lk <= li) {
    // I_a + s K_a = I_a (1 + s K_a/I_a), |s K_a / I_a| <= 2/pi < 1: never cancels to zero.
    return li + math::log1p(s * math::exp(lk - li));
  }
  const T t = s + math::exp(li - lk);  // K_a (s + I_a/K_a)
  if (t < T(0)) *sign = T(-1);
  return lk + math::log(math::fabs(t));
}

// Negative non-integer order -a, x > 0 finite, in double (float callers round once): the pieces
// of I_{-a} = I_a + s K_a in scaled form.  li = log(I_a e^{-x}), lk = log(K_a e^{x}),
// d = log(K_a / I_a) = lk - li - 2x.  Every piece stays O(log x) for large x; the unscaled logs
// (~ +-x) cost |x| eps absolute, i.e. relative error x eps in ive (1e-7 at x = 2^31, total loss at
// x = 1e300) before these were used.
struct NegOrderParts {
  double s, li, lk, d;
};

FS_HOST_DEVICE FS_INLINE NegOrderParts neg_order_parts(double a, double x) {
  NegOrderParts p;
  p.s = 0.63661977236758134307553505349005745 * math::sinpi(a);  // (2/pi) sin(pi a)
  p.li = log_ive_nonneg(a, x);
  p.lk = log_kve_nonneg(a, x);
  p.d = (p.lk - p.li) - 2.0 * x;  // 2x = inf beyond DBL_MAX/2 gives d = -inf: K is negligible
  return p;
}

// log(|I_{-a}(x)| e^{-x}) and its sign from the parts.
FS_HOST_DEVICE FS_INLINE double log_abs_ive_neg(const NegOrderParts& p, double x, double* sign) {
  if (p.d <= 0.0) {
    // I_a (1 + s K_a/I_a), |s K_a/I_a| <= 2/pi < 1: positive, and log1p keeps the small
    // correction exact to first order.
    *sign = 1.0;
    return p.li + math::log1p(p.s * math::exp(p.d));
  }
  const double t = p.s + math::exp(-p.d);  // K_a (s + I_a/K_a); cancels only at a zero of I_{-a}
  *sign = t < 0.0 ? -1.0 : 1.0;
  return (p.lk - 2.0 * x) + math::log(math::fabs(t));
}

// I_{-a}(x) (scaled: times e^{-x}) as a value, a > 0 non-integer, x > 0 finite: I_a + s K_a from
// the direct values of bessel_values.hpp (exp of a log would turn the log's absolute rounding into
// relative error).  Returns false where the value paths do not apply or K's value overflows.
template <class T, bool scaled>
FS_HOST_DEVICE FS_INLINE bool neg_order_iv_value(double a, double x, double* out) {
  double vi, vk;
  if (!iv_value_nonneg<T, scaled>(a, x, &vi) || !kv_value_nonneg<T, scaled>(a, x, &vk)) return false;
  if (!(vk < math::infinity<double>())) return false;
  const double s = 0.63661977236758134307553505349005745 * math::sinpi(a);
  *out = vi + (s * vk) * (scaled ? math::exp(-2.0 * x) : 1.0);
  return true;
}

// d/dx log I_{-a}(x) = I_{1-a}/I_{-a} - a/x for a > 0 non-integer, x > 0 finite (double).
FS_HOST_DEVICE FS_INLINE double neg_order_log_iv_dx(double a, double x) {
  const double v = -a, nu = 1.0 - a;  // orders v and v + 1
  double ratio;                       // I_{v+1}/I_v
  if (nu >= 0.5) {
    // iv_ratio(nu) is I_nu / I_{nu-1} for every real nu-1 (the Gauss CF and the Debye difference
    // only use the three-term recurrence, which I_{-a} satisfies).  Here sin(pi a) > 0: I_v > 0.
    ratio = iv_ratio_nonneg(nu, x);
  } else if (nu > 0.0) {
    // I_{nu-1}/I_nu = I_{nu+1}/I_nu + 2 nu/x: two positive terms.
    ratio = 1.0 / (iv_ratio_nonneg(nu + 1.0, x) + 2.0 * nu / x);
  } else {
    // both orders negative: I_{1-a}/I_{-a} = (I_{a-1}/I_a) (1 + c1)/(1 + c0), c = s K/I, where
    // I dominates both (no cancellation, the ratio from iv_ratio); else the scaled logs.
    const NegOrderParts p0 = neg_order_parts(a, x), p1 = neg_order_parts(a - 1.0, x);
    if (p0.d <= 0.0 && p1.d <= 0.0) {
      const double c0 = p0.s * math::exp(p0.d), c1 = p1.s * math::exp(p1.d);
      ratio = (1.0 + c1) / ((1.0 + c0) * iv_ratio_nonneg(a, x));
    } else {
      double s0, s1;
      const double l0 = log_abs_ive_neg(p0, x, &s0), l1 = log_abs_ive_neg(p1, x, &s1);
      ratio = s0 * s1 * math::exp(l1 - l0);
    }
  }
  return ratio + v / x;
}

// Largest |y| for which exp(y) is comfortably finite and normal in T.
template <class T> struct ExpSafe;
template <> struct ExpSafe<double> { static constexpr double value = 700.0; };
template <> struct ExpSafe<float> { static constexpr float value = 85.0f; };

// f = exp(ls + s) given ls = log(f e^{-s}) (the scaled log, e.g. log ive with s = x) and a way
// to compute log f directly.  exp() turns the absolute error of its argument into relative
// error, so use whichever log is smaller in magnitude, and multiply by exp(s) of the exact s
// (correctly rounded) rather than adding s to the log first.
template <class T, class DirectLog>
FS_HOST_DEVICE FS_INLINE T exp_of_scaled_log(T ls, T s, DirectLog direct_log) {
  const T E = ExpSafe<T>::value;
  const T l = ls + s;
  if (math::fabs(l) < T(0.5) * math::fabs(ls)) return math::exp(direct_log());
  if (math::fabs(ls) > E) return math::exp(l);  // exp(ls) alone would under/overflow
  if (math::fabs(s) <= E) return math::exp(ls) * math::exp(s);
  if (math::fabs(s) <= T(2) * E) {
    const T eh = math::exp(s / T(2));  // s/2 is exact
    return (math::exp(ls) * eh) * eh;
  }
  return math::exp(l);  // at the range edges: only the exponent range matters
}

}  // namespace detail

// ------------------------------------------------------------------ log-domain functions

// log I_v(x).  Real wherever I_v(x) > 0; nan where I_v(x) is negative or not real
// (x < 0 with non-integer v, odd integer v with x < 0).
template <class T>
FS_HOST_DEVICE T log_iv(T v, T x) {
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  if (v == -math::infinity<T>()) return math::quiet_nan<T>();
  if (x < T(0)) {
    if (!detail::is_integer(v) || detail::is_odd_integer(v)) return math::quiet_nan<T>();
    x = -x;  // I_n(-x) = (-1)^n I_n(x), n even
  }
  if (v == math::infinity<T>()) return x == math::infinity<T>() ? math::quiet_nan<T>() : -math::infinity<T>();
  T sign;
  const T l = detail::log_abs_iv_signed(v, x, &sign);
  return sign > T(0) ? l : math::quiet_nan<T>();
}

// log(I_v(x) e^{-|x|}).
template <class T>
FS_HOST_DEVICE T log_ive(T v, T x) {
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  if (x < T(0)) {
    if (!detail::is_integer(v) || detail::is_odd_integer(v)) return math::quiet_nan<T>();
    x = -x;
  }
  if (v >= T(0) || detail::is_integer(v)) {
    if (math::isinf(v)) return v > T(0) && x != math::infinity<T>() ? -math::infinity<T>() : math::quiet_nan<T>();
    return detail::log_ive_nonneg(math::fabs(v), x);
  }
  if (x == math::infinity<T>()) return math::quiet_nan<T>();
  const T a = -v;
  if (x == T(0)) return math::sinpi(a) > T(0) ? math::infinity<T>() : math::quiet_nan<T>();
  double sign;
  const double l = detail::log_abs_ive_neg(detail::neg_order_parts(double(a), double(x)), double(x), &sign);
  return sign > 0.0 ? T(l) : math::quiet_nan<T>();
}

// log K_v(x), v real (K_{-v} = K_v), x >= 0; nan for x < 0.
template <class T>
FS_HOST_DEVICE T log_kv(T v, T x) {
  if (math::isnan(v) || math::isnan(x) || x < T(0)) return math::quiet_nan<T>();
  v = math::fabs(v);
  if (v == math::infinity<T>()) return x == math::infinity<T>() ? math::quiet_nan<T>() : math::infinity<T>();
  return detail::log_kv_nonneg(v, x);
}

// log(K_v(x) e^{x}).
template <class T>
FS_HOST_DEVICE T log_kve(T v, T x) {
  if (math::isnan(v) || math::isnan(x) || x < T(0)) return math::quiet_nan<T>();
  v = math::fabs(v);
  if (v == math::infinity<T>()) return x == math::infinity<T>() ? math::quiet_nan<T>() : math::infinity<T>();
  return detail::log_kve_nonneg(v, x);
}

// I_v(x) / I_{v-1}(x) for v >= 0.5 and x >= 0 (SciPy's private _iv_ratio semantics).
template <class T>
FS_HOST_DEVICE T iv_ratio(T v, T x) {
  if (math::isnan(v) || math::isnan(x) || v < T(0.5) || x < T(0)) return math::quiet_nan<T>();
  if (v == math::infinity<T>()) return x == math::infinity<T>() ? math::quiet_nan<T>() : T(0);
  if (x == math::infinity<T>()) return T(1);
  if (x == T(0)) return T(0);
  return detail::iv_ratio_nonneg(v, x);
}

// d/dx log I_v(x).
template <class T>
FS_HOST_DEVICE T log_iv_dx(T v, T x) {
  if (math::isnan(v) || math::isnan(x) || math::isinf(v)) return math::quiet_nan<T>();
  if (x < T(0)) {
    // I_n(-x) = (-1)^n I_n(x): the log-derivative is odd in x for integer n.
    if (!detail::is_integer(v)) return math::quiet_nan<T>();
    return -log_iv_dx(v, -x);
  }
  if (v >= T(0) || detail::is_integer(v)) return detail::log_iv_dx_nonneg(math::fabs(v), x);
  // Negative non-integer order: I'_v / I_v = I_{v+1}/I_v + v/x with reflected values.
  if (x == T(0)) return math::quiet_nan<T>();
  if (x == math::infinity<T>()) return T(1);
  return T(detail::neg_order_log_iv_dx(-double(v), double(x)));
}

// d/dx log K_v(x), x > 0.
template <class T>
FS_HOST_DEVICE T log_kv_dx(T v, T x) {
  if (math::isnan(v) || math::isnan(x) || x < T(0) || math::isinf(v)) return math::quiet_nan<T>();
  return detail::log_kv_dx_nonneg(math::fabs(v), x);
}

// ------------------------------------------------------------------ SciPy-compatible values

template <class T>
FS_HOST_DEVICE T iv(T v, T x) {
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  T sign = T(1);
  if (x < T(0)) {
    if (!detail::is_integer(v)) return math::quiet_nan<T>();
    if (detail::is_odd_integer(v)) sign = T(-1);
    x = -x;
  }
  if (math::isinf(v)) {
    // SciPy returns 0 for v = -inf too (the limit does not exist there; we follow SciPy).
    return x == math::infinity<T>() ? math::quiet_nan<T>() : T(0);
  }
  if (v >= T(0) || detail::is_integer(v)) {
    const T a = math::fabs(v);
    if (x == math::infinity<T>()) return sign * x;
    double out;
    if (x > T(0) && detail::iv_value_nonneg<T, false>(double(a), double(x), &out)) return sign * T(out);
    return sign * detail::exp_of_scaled_log(detail::log_ive_nonneg(a, x), x,
                                            [a, x]() { return detail::log_iv_nonneg(a, x); });
  }
  const T a = -v;
  if (x == T(0) || x == math::infinity<T>()) {
    // one-sided limits: (2/pi) sin(pi a) K_a(0+) = +-inf (iv(-1.5, 0) = -inf, SciPy: +inf);
    // I_a(x) dominates at x = inf
    if (x == math::infinity<T>()) return sign * x;
    return sign * (math::sinpi(a) > T(0) ? math::infinity<T>() : -math::infinity<T>());
  }
  double out;
  if (detail::neg_order_iv_value<T, false>(double(a), double(x), &out)) return sign * T(out);
  const detail::NegOrderParts p = detail::neg_order_parts(double(a), double(x));
  double s;
  const double ls = detail::log_abs_ive_neg(p, double(x), &s);
  return sign * T(s * detail::exp_of_scaled_log(ls, double(x), [v, x]() {
    double s2;
    return double(detail::log_abs_iv_signed(double(v), double(x), &s2));
  }));
}

template <class T>
FS_HOST_DEVICE T ive(T v, T x) {
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  T sign = T(1);
  if (x < T(0)) {
    if (!detail::is_integer(v)) return math::quiet_nan<T>();
    if (detail::is_odd_integer(v)) sign = T(-1);
    x = -x;
  }
  if (math::isinf(v)) {
    if (v < T(0) || x == math::infinity<T>()) return math::quiet_nan<T>();
    return T(0);
  }
  if (x == math::infinity<T>()) return sign * T(0);  // I_v(x) e^{-x} ~ 1/sqrt(2 pi x) for any v
  if (v >= T(0) || detail::is_integer(v)) {
    double out;
    if (x > T(0) && detail::iv_value_nonneg<T, true>(double(math::fabs(v)), double(x), &out))
      return sign * T(out);
    return sign * math::exp(detail::log_ive_nonneg(math::fabs(v), x));
  }
  const T a = -v;
  if (x == T(0)) return sign * (math::sinpi(a) > T(0) ? math::infinity<T>() : -math::infinity<T>());
  double out;
  if (detail::neg_order_iv_value<T, true>(double(a), double(x), &out)) return sign * T(out);
  double s;
  const double l = detail::log_abs_ive_neg(detail::neg_order_parts(double(a), double(x)), double(x), &s);
  return sign * T(s * math::exp(l));
}

template <class T>
FS_HOST_DEVICE T kv(T v, T x) {
  if (x == T(0)) return math::infinity<T>();  // for any order, nan included (as SciPy)
  if (math::isnan(v) || math::isnan(x) || x < T(0)) return math::quiet_nan<T>();
  if (math::isinf(v) || x == math::infinity<T>()) return math::exp(log_kv(v, x));
  const T a = math::fabs(v);
  double out;
  if (detail::kv_value_nonneg<T, false>(double(a), double(x), &out)) return T(out);
  return detail::exp_of_scaled_log(detail::log_kve_nonneg(a, x), -x,
                                   [a, x]() { return detail::log_kv_nonneg(a, x); });
}

template <class T>
FS_HOST_DEVICE T kve(T v, T x) {
  if (x == T(0)) return math::infinity<T>();
  if (math::isnan(v) || math::isnan(x) || x < T(0)) return math::quiet_nan<T>();
  if (math::isinf(v) || x == math::infinity<T>()) return math::exp(log_kve(v, x));
  double out;
  if (detail::kv_value_nonneg<T, true>(double(math::fabs(v)), double(x), &out)) return T(out);
  return math::exp(log_kve(v, x));
}

// Fixed orders 0 and 1 (scipy.special.i0, i0e, i1, i1e, k0, k0e, k1, k1e): dedicated short
// polynomial forms (bessel_fixed.hpp) instead of the branchy general-order code.
template <class T> FS_HOST_DEVICE T i0(T x) { return fixed_i0(x); }
template <class T> FS_HOST_DEVICE T i0e(T x) { return fixed_i0e(x); }
template <class T> FS_HOST_DEVICE T i1(T x) { return fixed_i1(x); }
template <class T> FS_HOST_DEVICE T i1e(T x) { return fixed_i1e(x); }
template <class T> FS_HOST_DEVICE T k0(T x) { return fixed_k0(x); }
template <class T> FS_HOST_DEVICE T k0e(T x) { return fixed_k0e(x); }
template <class T> FS_HOST_DEVICE T k1(T x) { return fixed_k1(x); }
template <class T> FS_HOST_DEVICE T k1e(T x) { return fixed_k1e(x); }

}  // namespace fs
