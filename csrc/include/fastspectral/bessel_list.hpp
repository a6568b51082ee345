// The list of element-wise Bessel functions exported as NumPy ufuncs and CUDA kernels.
// X(name, doc) -- adding a function here (and defining fs::name in bessel.hpp) is all it takes.
#pragma once

#define FS_BESSEL_BINARY_FUNCTIONS(X)                                                        \
  X(log_iv, "log_iv(v, x)\n\nlog I_v(x), the log of the modified Bessel function of the first kind.\nFinite wherever I_v(x) > 0 is; never overflows.")     \
  X(log_ive, "log_ive(v, x)\n\nlog(I_v(x) exp(-|x|)), computed without cancellation.")                                         \
  X(log_kv, "log_kv(v, x)\n\nlog K_v(x), the log of the modified Bessel function of the second kind.\nFinite for x > 0; never overflows.")  \
  X(log_kve, "log_kve(v, x)\n\nlog(K_v(x) exp(x)), computed without cancellation.")                                             \
  X(log_iv_dx, "log_iv_dx(v, x)\n\nd/dx log I_v(x) = I_v'(x) / I_v(x).")                                                         \
  X(log_kv_dx, "log_kv_dx(v, x)\n\nd/dx log K_v(x) = K_v'(x) / K_v(x).")                                                         \
  X(iv_ratio, "iv_ratio(v, x)\n\nI_v(x) / I_{v-1}(x) for v >= 0.5 and x >= 0 (semantics of scipy.special._iv_ratio).")     \
  X(iv, "iv(v, x)\n\nModified Bessel function of the first kind of real order (scipy.special.iv).\nAt x = 0 a negative non-integer order gives the one-sided limit +-inf with its sign,\ne.g. iv(-1.5, 0) = -inf (SciPy: +inf).")                         \
  X(ive, "ive(v, x)\n\nExponentially scaled I_v(x) exp(-|x|) (scipy.special.ive).\nAt x = 0 a negative non-integer order gives the one-sided limit +-inf with its sign,\ne.g. ive(-1.5, 0) = -inf (SciPy: nan).")                                           \
  X(kv, "kv(v, x)\n\nModified Bessel function of the second kind of real order (scipy.special.kv).")                        \
  X(kve, "kve(v, x)\n\nExponentially scaled K_v(x) exp(x) (scipy.special.kve).")

#define FS_BESSEL_UNARY_FUNCTIONS(X)                                          \
  X(i0, "i0(x)\n\nModified Bessel function of order 0 (scipy.special.i0).")    \
  X(i0e, "i0e(x)\n\nExponentially scaled I_0(x) exp(-|x|) (scipy.special.i0e).") \
  X(i1, "i1(x)\n\nModified Bessel function of order 1 (scipy.special.i1).")    \
  X(i1e, "i1e(x)\n\nExponentially scaled I_1(x) exp(-|x|) (scipy.special.i1e).") \
  X(k0, "k0(x)\n\nModified Bessel function K_0(x) (scipy.special.k0).")        \
  X(k0e, "k0e(x)\n\nExponentially scaled K_0(x) exp(x) (scipy.special.k0e).")  \
  X(k1, "k1(x)\n\nModified Bessel function K_1(x) (scipy.special.k1).")        \
  X(k1e, "k1e(x)\n\nExponentially scaled K_1(x) exp(x) (scipy.special.k1e).")

// CPU-only batched rewrites exist for these (csrc/cpu/bessel_cpu.cpp); the scalar per-element
// path -- what the CUDA kernels run -- is also exported as `_scalar_<name>` ufuncs so the tests
// check both against Arb.
#define FS_BESSEL_BATCHED_FUNCTIONS(X) \
  X(log_iv, "scalar path of log_iv (tests only)") \
  X(log_ive, "scalar path of log_ive (tests only)") \
  X(log_kv, "scalar path of log_kv (tests only)") \
  X(log_kve, "scalar path of log_kve (tests only)") \
  X(iv_ratio, "scalar path of iv_ratio (tests only)") \
  X(log_iv_dx, "scalar path of log_iv_dx (tests only)")
