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
  return x > T(0) && x <= SmallValueLimits<T>::kMaxX && v >= T(0) && v <= SmallValueLimits<T>::kMaxV;
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

}  // namespace detail
}  // namespace fs
