// fastspectral._cuda: the GPU extension module (built only when nvcc is found).
// Arrays arrive through DLPack (cupy, torch); the caller passes its stream explicitly.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <cuda_runtime_api.h>

#include <cstring>
#include <string>

#include "bind/kron_bind.hpp"
#include "bind/spectral_bind.hpp"
#include "cuda/bessel_cuda.cuh"

namespace nb = nanobind;
using fs::cuda::BesselOp;

namespace {

using DeviceArray = nb::ndarray<nb::device::cuda, nb::c_contig>;

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("fastspectral: CUDA error in ") + what + ": " +
                             cudaGetErrorString(err));
}

BesselOp op_from_name(const std::string& name, bool unary) {
#define FS_MATCH(fname, doc) if (name == #fname) return BesselOp::fname;
  if (unary) {
    FS_BESSEL_UNARY_FUNCTIONS(FS_MATCH)
  } else {
    FS_BESSEL_BINARY_FUNCTIONS(FS_MATCH)
  }
#undef FS_MATCH
  throw nb::value_error(("fastspectral: unknown Bessel function '" + name + "'").c_str());
}

bool is_f32(const DeviceArray& a, const char* arg) {
  if (a.dtype() == nb::dtype<float>()) return true;
  if (a.dtype() == nb::dtype<double>()) return false;
  throw nb::type_error((std::string("fastspectral: ") + arg + " must be float32 or float64").c_str());
}

void same_device(const DeviceArray& a, const DeviceArray& b, const char* what) {
  if (a.device_id() != b.device_id())
    throw nb::value_error((std::string("fastspectral: ") + what + " are on different GPUs").c_str());
}

void bessel_binary(const std::string& name, DeviceArray v, DeviceArray x, DeviceArray out,
                   std::uintptr_t stream) {
  const BesselOp op = op_from_name(name, false);
  const bool f32 = is_f32(out, "out");
  if (is_f32(v, "v") != f32 || is_f32(x, "x") != f32)
    throw nb::type_error("fastspectral: v, x and out must share one dtype");
  if (v.size() != out.size() || x.size() != out.size())
    throw nb::value_error("fastspectral: v, x and out must have the same number of elements");
  same_device(v, out, "v and out");
  same_device(x, out, "x and out");
  cudaError_t err;
  {
    nb::gil_scoped_release release;
    err = fs::cuda::launch_bessel_binary(op, f32, v.data(), x.data(), out.data(),
                                         std::int64_t(out.size()),
                                         reinterpret_cast<cudaStream_t>(stream));
  }
  check(err, name.c_str());
}

void bessel_unary(const std::string& name, DeviceArray x, DeviceArray out, std::uintptr_t stream) {
  const BesselOp op = op_from_name(name, true);
  const bool f32 = is_f32(out, "out");
  if (is_f32(x, "x") != f32) throw nb::type_error("fastspectral: x and out must share one dtype");
  if (x.size() != out.size())
    throw nb::value_error("fastspectral: x and out must have the same number of elements");
  same_device(x, out, "x and out");
  cudaError_t err;
  {
    nb::gil_scoped_release release;
    err = fs::cuda::launch_bessel_unary(op, f32, x.data(), out.data(), std::int64_t(out.size()),
                                        reinterpret_cast<cudaStream_t>(stream));
  }
  check(err, name.c_str());
}

int device_count() {
  int n = 0;
  // No driver or no device: report zero rather than raise, so build_info() always works.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

}  // namespace

NB_MODULE(_cuda, m) {
  m.doc() = "fastspectral GPU kernels (CUDA)";
  m.def("device_count", &device_count, "Number of visible CUDA devices (0 without a driver).");
  m.def("runtime_version", []() {
    int v = 0;
    cudaRuntimeGetVersion(&v);
    return v;
  });
  m.attr("architectures") = FS_CUDA_ARCHS;
  m.def("bessel_binary", &bessel_binary, nb::arg("name"), nb::arg("v"), nb::arg("x"),
        nb::arg("out"), nb::arg("stream"),
        "out = f(v, x) element-wise on the GPU; contiguous arrays of equal size, one dtype.");
  m.def("bessel_unary", &bessel_unary, nb::arg("name"), nb::arg("x"), nb::arg("out"),
        nb::arg("stream"), "out = f(x) element-wise on the GPU.");
  fs::bind::register_kron_cuda(m);
  fs::bind::register_spectral_cuda(m);
}
