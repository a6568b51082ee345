// Direct (not exp-of-log) values of I_v(x) for small x, used by iv/ive/i0/i1.
//
// exp(log I) carries the absolute error of the log as a relative error: |log I| ulp, i.e.
// 1.5e-13 for I_1(1e-300) = 5e-301.  For x <= 2 and moderate v the power series gives the
// value itself to a few ulp: pow and tgamma are each within ~1-2 ulp and the sum has only
// positive terms.
#pragma once

#include "fastspectral/config.hpp"

namespace fs {
namespace detail {

FS_HOST_DEVICE FS_INLINE float tgamma_t(float x) { return ::tgammaf(x); }
FS_HOST_DEVICE FS_INLINE double tgamma_t(double x) { return ::tgamma(x); }

template <class T>
struct SmallValueLimits;
template <>
struct SmallValueLimits<double> {
  static constexpr double kMaxX = 2.0;
  static constexpr double kMaxV = 150.0;  // tgamma(v + 1) < 1e263: no overflow
};
template <>
struct SmallValueLimits<float> {
  static constexpr float kMaxX = 2.0f;
  static constexpr float kMaxV = 30.0f;  // tgammaf(v + 1) < 1e33
};

template <class T>
FS_HOST_DEVICE FS_INLINE bool use_small_x_value(T v, T x) {
  // Normal x only, so that x/2 is exact (the log path handles subnormal x).
  return x >= T(2) * std::numeric_limits<T>::min() && x <= SmallValueLimits<T>::kMaxX && v >= T(0) && v <= SmallValueLimits<T>::kMaxV;
}

// I_v(x) for 0 < x <= 2, 0 <= v <= kMaxV.  Terms shrink at least as 1/(k!)^2, so a fixed
// count suffices: 12 terms leave < 1e-17 relative (t = x^2/4 <= 1; 7 terms for float).
template <class T>
FS_HOST_DEVICE T iv_small_x_value(T v, T x) {
  const T h = x / T(2);
  const T t = h * h;
  T term = T(1), sum = T(1);
  const int n = sizeof(T) == sizeof(float) ? 7 : 12;
  for (int k = 1; k <= n; ++k) {
    term *= t / (T(k) * (v + T(k)));
    sum += term;
  }
  return math::pow(h, v) / tgamma_t(v + T(1)) * sum;
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
