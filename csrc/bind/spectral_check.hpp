// Validation helpers shared by the CPU and CUDA spectral bindings (one wording of each error).
#pragma once

#include <nanobind/ndarray.h>

#include <complex>
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

}  // namespace spectral_check
}  // namespace bind
}  // namespace fs
