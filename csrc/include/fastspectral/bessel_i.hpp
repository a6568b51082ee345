// log I_v(x) and friends for v >= 0, x >= 0 (the core the SciPy-semantics layer builds on).
// PLACEHOLDER: to be replaced by the real log-domain algorithm.
#pragma once

#include "fastspectral/config.hpp"

namespace fs {
namespace detail {

// log I_v(x) for v >= 0 and x >= 0 (x = 0, +inf and nan handled).
template <class T>
FS_HOST_DEVICE T log_iv_nonneg(T v, T x) {
#if defined(__CUDA_ARCH__)
  return math::quiet_nan<T>();
#else
  return T(std::log(std::cyl_bessel_i(double(v), double(x))));
#endif
}

// log(I_v(x) e^{-x}), computed without forming log I_v(x) - x from two large numbers.
template <class T>
FS_HOST_DEVICE T log_ive_nonneg(T v, T x) { return log_iv_nonneg(v, x) - x; }

// I_v(x) / I_{v-1}(x) for v >= 0.5, x >= 0.
template <class T>
FS_HOST_DEVICE T iv_ratio_nonneg(T v, T x) {
  return math::exp(log_iv_nonneg(v, x) - log_iv_nonneg(v - T(1), x));
}

// d/dx log I_v(x) = I_{v+1}(x)/I_v(x) + v/x, for v >= 0, x >= 0.
template <class T>
FS_HOST_DEVICE T log_iv_dx_nonneg(T v, T x) { return iv_ratio_nonneg(v + T(1), x) + v / x; }

}  // namespace detail
}  // namespace fs
