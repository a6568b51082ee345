// log K_v(x) and friends for v >= 0, x >= 0.
// PLACEHOLDER: to be replaced by the real log-domain algorithm.
#pragma once

#include "fastspectral/config.hpp"

namespace fs {
namespace detail {

// log K_v(x) for v >= 0 and x >= 0 (x = 0 gives +inf, x = +inf gives -inf).
template <class T>
FS_HOST_DEVICE T log_kv_nonneg(T v, T x) {
#if defined(__CUDA_ARCH__)
  return math::quiet_nan<T>();
#else
  return T(std::log(std::cyl_bessel_k(double(v), double(x))));
#endif
}

// log(K_v(x) e^{x}).
template <class T>
FS_HOST_DEVICE T log_kve_nonneg(T v, T x) { return log_kv_nonneg(v, x) + x; }

// d/dx log K_v(x) = -(K_{v-1}(x) + K_{v+1}(x)) / (2 K_v(x)), for v >= 0, x >= 0.
template <class T>
FS_HOST_DEVICE T log_kv_dx_nonneg(T v, T x) {
  T l = log_kv_nonneg(v, x);
  return -(math::exp(log_kv_nonneg(math::fabs(v - T(1)), x) - l) +
           math::exp(log_kv_nonneg(v + T(1), x) - l)) / T(2);
}

}  // namespace detail
}  // namespace fs
