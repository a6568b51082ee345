// Shared configuration for the header-only math: compiled by both the host compiler and nvcc.
// Everything here is a pure function of scalars: no allocation, no exceptions, no I/O.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__CUDACC__)
#define FS_HOST_DEVICE __host__ __device__
#define FS_INLINE __forceinline__
#else
#define FS_HOST_DEVICE
#define FS_INLINE inline
#endif

// Constant tables readable from host and device code.
#if defined(__CUDACC__)
#define FS_CONSTANT __device__ constexpr
#else
#define FS_CONSTANT constexpr
#endif

namespace fs {
namespace math {

// Thin overload sets so templated code calls the float or double routine explicitly on both
// host and device (no silent promotion of float math to double).
#define FS_UNARY(name)                                                   \
  FS_HOST_DEVICE FS_INLINE float name(float x) { return ::name##f(x); } \
  FS_HOST_DEVICE FS_INLINE double name(double x) { return ::name(x); }
FS_UNARY(exp)
FS_UNARY(expm1)
FS_UNARY(log)
FS_UNARY(log1p)
FS_UNARY(sqrt)
FS_UNARY(sin)
FS_UNARY(cos)
FS_UNARY(sinh)
FS_UNARY(cosh)
FS_UNARY(tanh)
FS_UNARY(asinh)
FS_UNARY(fabs)
FS_UNARY(floor)
FS_UNARY(ceil)
FS_UNARY(round)
FS_UNARY(trunc)
#undef FS_UNARY

FS_HOST_DEVICE FS_INLINE float pow(float x, float y) { return ::powf(x, y); }
FS_HOST_DEVICE FS_INLINE double pow(double x, double y) { return ::pow(x, y); }
FS_HOST_DEVICE FS_INLINE float hypot(float x, float y) { return ::hypotf(x, y); }
FS_HOST_DEVICE FS_INLINE double hypot(double x, double y) { return ::hypot(x, y); }
FS_HOST_DEVICE FS_INLINE float fma(float x, float y, float z) { return ::fmaf(x, y, z); }
FS_HOST_DEVICE FS_INLINE double fma(double x, double y, double z) { return ::fma(x, y, z); }
FS_HOST_DEVICE FS_INLINE float fmin(float x, float y) { return ::fminf(x, y); }
FS_HOST_DEVICE FS_INLINE double fmin(double x, double y) { return ::fmin(x, y); }
FS_HOST_DEVICE FS_INLINE float fmax(float x, float y) { return ::fmaxf(x, y); }
FS_HOST_DEVICE FS_INLINE double fmax(double x, double y) { return ::fmax(x, y); }
FS_HOST_DEVICE FS_INLINE float copysign(float x, float y) { return ::copysignf(x, y); }
FS_HOST_DEVICE FS_INLINE double copysign(double x, double y) { return ::copysign(x, y); }
// sin(pi x), exact at integers and half-integers (no rounding of pi * x for large x).
template <class T>
FS_HOST_DEVICE FS_INLINE T sinpi_host(T x) {
  T r = x - T(2) * math::floor(x / T(2));  // r in [0, 2), exact
  T sign = T(1);
  if (r >= T(1)) { r -= T(1); sign = T(-1); }  // sin(pi (r + 1)) = -sin(pi r)
  if (r > T(0.5)) r = T(1) - r;                  // sin(pi (1 - r)) = sin(pi r)
  if (r == T(0)) return sign * T(0);
  return sign * math::sin(T(3.141592653589793238462643383279502884L) * r);
}
FS_HOST_DEVICE FS_INLINE float sinpi(float x) {
#if defined(__CUDA_ARCH__)
  return ::sinpif(x);
#else
  return sinpi_host(x);
#endif
}
FS_HOST_DEVICE FS_INLINE double sinpi(double x) {
#if defined(__CUDA_ARCH__)
  return ::sinpi(x);
#else
  return sinpi_host(x);
#endif
}

// log Gamma for x > 0.  The host's lgamma() writes the global `signgam` (a data race across
// threads), so use the reentrant form there.
FS_HOST_DEVICE FS_INLINE double lgamma_pos(double x) {
#if defined(__CUDA_ARCH__)
  return ::lgamma(x);
#else
  int sign;
  return ::lgamma_r(x, &sign);
#endif
}
FS_HOST_DEVICE FS_INLINE float lgamma_pos(float x) {
#if defined(__CUDA_ARCH__)
  return ::lgammaf(x);
#else
  int sign;
  return ::lgammaf_r(x, &sign);
#endif
}

template <class T>
FS_HOST_DEVICE FS_INLINE bool isnan(T x) { return x != x; }
template <class T>
FS_HOST_DEVICE FS_INLINE bool isinf(T x) { return x == std::numeric_limits<T>::infinity() || x == -std::numeric_limits<T>::infinity(); }

template <class T>
FS_HOST_DEVICE FS_INLINE T quiet_nan() { return std::numeric_limits<T>::quiet_NaN(); }
template <class T>
FS_HOST_DEVICE FS_INLINE T infinity() { return std::numeric_limits<T>::infinity(); }

}  // namespace math
}  // namespace fs
