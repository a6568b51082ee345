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
  T sign;
  const T l = detail::log_abs_iv_signed(v, x, &sign);
  return sign > T(0) ? l - x : math::quiet_nan<T>();
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
  T s0, s1;
  const T l0 = detail::log_abs_iv_signed(v, x, &s0);
  const T l1 = detail::log_abs_iv_signed(v + T(1), x, &s1);
  return s0 * s1 * math::exp(l1 - l0) + v / x;
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
  T s;
  const T l = detail::log_abs_iv_signed(v, x, &s);
  return sign * s * math::exp(l);
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
  T s;
  const T l = detail::log_abs_iv_signed(v, x, &s);
  return sign * s * math::exp(l - x);
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
