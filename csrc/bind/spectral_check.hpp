// Validation helpers shared by the CPU and CUDA spectral bindings (one wording of each error).
#pragma once

#include <nanobind/ndarray.h>

#include <complex>
#include <cstddef>
#include <cstdint>
#include <string>

namespace fs {
namespace bind {
namespace spectral_check {

[[noreturn]] inline void fail(const std::string& msg) {
  throw nanobind::value_error(("fastspectral.spectral: " + msg).c_str());
}

// true for complex64, false for complex128; TypeError otherwise.  A: any nanobind ndarray type.
template <class A>
bool complex_f32(const A& a, const char* what) {
  if (a.dtype() == nanobind::dtype<std::complex<float>>()) return true;
  if (a.dtype() == nanobind::dtype<std::complex<double>>()) return false;
  throw nanobind::type_error(
      (std::string("fastspectral.spectral: ") + what + " must be complex64 or complex128").c_str());
}

// The three mode extents (N1, N2, N3h) of a 5-D half-spectrum (B, C, N1, N2, N3h).
template <class A>
void shape3(const A& a, std::int64_t* s) {
  for (int k = 0; k < 3; ++k) s[k] = std::int64_t(a.shape(2 + k));
}

// Whether two arrays of es-byte elements share memory (the kernels write dst while reading).
template <class A, class B>
bool overlaps(const A& a, const B& b, std::size_t es) {
  const char* pa = static_cast<const char*>(a.data());
  const char* pb = static_cast<const char*>(b.data());
  return a.size() && b.size() && pa < pb + b.size() * es && pb < pa + a.size() * es;
}

// Precision of three arrays that must agree (complex64: true); TypeError otherwise.  The
// three may be of different nanobind types (read-only inputs, a writable output).
template <class A, class B, class C>
bool common_f32(const A& a, const B& b, const C& c, const char* na, const char* nb,
                const char* nc) {
  const bool f32 = complex_f32(a, na);
  if (complex_f32(b, nb) != f32 || complex_f32(c, nc) != f32)
    throw nanobind::type_error((std::string("fastspectral.spectral: ") + na + ", " + nb +
                                " and " + nc + " must share one precision")
                                   .c_str());
  return f32;
}

// Channel contraction dst[b, p] = sum_q src[b, q] W[..]: W is (I, O, ...); adjoint swaps the
// roles of I and O.  Returns q = channels read, p = channels written.
struct MixChannels {
  std::int64_t B, I, O, Q, P;
};
template <class A, class B, class C>
MixChannels mix_channels(const A& src, const B& W, const C& dst, bool adjoint) {
  MixChannels c;
  c.I = W.shape(0);
  c.O = W.shape(1);
  c.B = src.shape(0);
  c.Q = adjoint ? c.O : c.I;
  c.P = adjoint ? c.I : c.O;
  if (std::int64_t(src.shape(1)) != c.Q) fail("src has the wrong channel count");
  if (std::int64_t(dst.shape(1)) != c.P || std::int64_t(dst.shape(0)) != c.B)
    fail("dst has the wrong batch or channel count");
  return c;
}

// Weight gradient gw[i, o] = sum_b conj(x[b, i]) g[b, o]: gw must be (I, O, ...).
template <class A, class B, class C>
void check_weight_grad_shapes(const A& x, const B& g, const C& gw) {
  if (g.shape(0) != x.shape(0)) fail("g has the wrong batch size");
  if (gw.shape(0) != x.shape(1) || gw.shape(1) != g.shape(1))
    fail("gw must have shape (in, out, ...)");
}

}  // namespace spectral_check
}  // namespace bind
}  // namespace fs
