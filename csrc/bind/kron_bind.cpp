// Bindings for the Kronecker kernels. Compiled into both modules: the CPU part into _core,
// the CUDA part (guarded by FS_CUDA_ARCHS, which only the _cuda target defines) into _cuda.
#include "bind/kron_bind.hpp"

#include <nanobind/ndarray.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nb = nanobind;

#if !defined(FS_CUDA_ARCHS)
#include "cpu/kron_cpu.hpp"

namespace fs {
namespace bind {
namespace {

using HostArray = nb::ndarray<nb::device::cpu, nb::c_contig, nb::ndim<2>>;

// 0: float32, 1: float64
int dtype_code(nb::dlpack::dtype dt, const char* what) {
  if (dt == nb::dtype<float>()) return 0;
  if (dt == nb::dtype<double>()) return 1;
  throw nb::type_error((std::string("fastspectral.kron: ") + what +
                        " must be float32 or float64").c_str());
}

void kron_apply_py(nb::list factors, HostArray x, HostArray out, bool transpose, int nthreads) {
  const std::size_t d = nb::len(factors);
  if (d == 0) throw nb::value_error("fastspectral.kron: the factor list is empty");
  const int code = dtype_code(x.dtype(), "x");
  if (dtype_code(out.dtype(), "out") != code)
    throw nb::type_error("fastspectral.kron: out must have the dtype of x");
  std::vector<fs::cpu::KronFactor> fac(d);
  std::int64_t n_in = 1, n_out = 1;
  for (std::size_t i = 0; i < d; ++i) {
    nb::handle h = factors[i];
    fs::cpu::KronFactor& f = fac[i];
    if (PyLong_Check(h.ptr())) {
      const std::int64_t n = nb::cast<std::int64_t>(h);
      if (n < 0) throw nb::value_error("fastspectral.kron: identity size must be >= 0");
      f = {nullptr, n, n, 0, 0};
    } else {
      nb::ndarray<nb::device::cpu> a;
      if (!nb::try_cast(h, a, false))
        throw nb::type_error(("fastspectral.kron: factor " + std::to_string(i) +
                              " must be a NumPy array or an int").c_str());
      if (a.ndim() != 2)
        throw nb::value_error(("fastspectral.kron: factor " + std::to_string(i) +
                               " must be 2-D, got " + std::to_string(a.ndim()) + "-D").c_str());
      if (dtype_code(a.dtype(), "factors") != code)
        throw nb::type_error("fastspectral.kron: factors must have the dtype of x");
      f = {a.data(), std::int64_t(a.shape(0)), std::int64_t(a.shape(1)), std::int64_t(a.stride(0)),
           std::int64_t(a.stride(1))};
      if (transpose) {
        std::swap(f.m, f.n);
        std::swap(f.rs, f.cs);
      }
    }
    n_in *= f.n;
    n_out *= f.m;
  }
  if (std::int64_t(x.shape(1)) != n_in)
    throw nb::value_error(("fastspectral.kron: x has " + std::to_string(x.shape(1)) +
                           " columns, the factors need prod(n_i) = " + std::to_string(n_in))
                              .c_str());
  if (out.shape(0) != x.shape(0) || std::int64_t(out.shape(1)) != n_out)
    throw nb::value_error("fastspectral.kron: out must have shape (batch, prod(m_i))");
  const char* xp = static_cast<const char*>(x.data());
  const char* op = static_cast<const char*>(out.data());
  const std::size_t es = code == 0 ? 4 : 8;
  if (xp < op + out.size() * es && op < xp + x.size() * es && x.size() && out.size())
    throw nb::value_error("fastspectral.kron: out must not overlap x");
  {
    nb::gil_scoped_release release;
    fs::cpu::kron_apply(code == 0, fac.data(), int(d), x.data(), out.data(),
                        std::int64_t(x.shape(0)), nthreads);
  }
}

}  // namespace

void register_kron_core(nb::module_& m) {
  m.def("kron_apply", &kron_apply_py, nb::arg("factors"), nb::arg("x"), nb::arg("out").noconvert(),
        nb::arg("transpose") = false, nb::arg("nthreads") = 0,
        "out = (A_1 kron ... kron A_d) x for x of shape (batch, prod n_i), C-contiguous; an int "
        "factor n is the n x n identity. Low level: use fastspectral.kron.kron_matvec.");
  m.def("kron_set_fuse_budget", &fs::cpu::kron_set_fuse_budget, nb::arg("bytes"),
        "Bytes per cache buffer for fusing factors (0 disables fusion); for benchmarks.");
  m.def("kron_get_fuse_budget", &fs::cpu::kron_get_fuse_budget);
  m.def("kron_isa", &fs::cpu::kron_isa, "Instruction set chosen for the Kronecker kernels.");
}

}  // namespace bind
}  // namespace fs

#else  // the CUDA module
#include <cuda_runtime_api.h>

#include "cuda/kron_cuda.cuh"

namespace fs {
namespace bind {
namespace {

using DeviceArray = nb::ndarray<nb::device::cuda>;

// dst (L, m, R) = A (m, n) applied to src (L, n, R); src and dst contiguous, A with any
// strides (transpose = stride swap, done by the caller).
void kron_mode_product_py(DeviceArray A, bool transpose, DeviceArray src, DeviceArray dst,
                          std::int64_t L, std::int64_t R, std::uintptr_t stream) {
  if (A.ndim() != 2) throw nb::value_error("fastspectral.kron: factors must be 2-D");
  bool f32;
  if (A.dtype() == nb::dtype<float>())
    f32 = true;
  else if (A.dtype() == nb::dtype<double>())
    f32 = false;
  else
    throw nb::type_error("fastspectral.kron: factors must be float32 or float64");
  if (src.dtype() != A.dtype() || dst.dtype() != A.dtype())
    throw nb::type_error("fastspectral.kron: factors, x and out must share one dtype");
  if (A.device_id() != src.device_id() || A.device_id() != dst.device_id())
    throw nb::value_error("fastspectral.kron: factors and x are on different GPUs");
  std::int64_t m = A.shape(0), n = A.shape(1), rs = A.stride(0), cs = A.stride(1);
  if (transpose) {
    std::swap(m, n);
    std::swap(rs, cs);
  }
  auto contiguous = [](const DeviceArray& a) {
    std::int64_t s = 1;
    for (std::size_t i = a.ndim(); i-- > 0;) {
      if (a.shape(i) != 1 && a.stride(i) != s) return false;
      s *= a.shape(i);
    }
    return true;
  };
  if (!contiguous(src) || !contiguous(dst))
    throw nb::value_error("fastspectral.kron: x and out must be C-contiguous on the GPU");
  if (std::int64_t(src.size()) != L * n * R || std::int64_t(dst.size()) != L * m * R)
    throw nb::value_error("fastspectral.kron: array sizes do not match (L, n, R) / (L, m, R)");
  cudaError_t err;
  {
    nb::gil_scoped_release release;
    err = fs::cuda::launch_kron_mode_product(f32, A.data(), m, n, rs, cs, src.data(), dst.data(),
                                             L, R, reinterpret_cast<cudaStream_t>(stream));
  }
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("fastspectral: CUDA error in kron_mode_product: ") +
                             cudaGetErrorString(err));
}

}  // namespace

void register_kron_cuda(nb::module_& m) {
  m.def("kron_mode_product", &kron_mode_product_py, nb::arg("A"), nb::arg("transpose"),
        nb::arg("src"), nb::arg("dst"), nb::arg("L"), nb::arg("R"), nb::arg("stream"),
        "dst(L, m, R) = A applied along the middle axis of src(L, n, R), on `stream`.");
}

}  // namespace bind
}  // namespace fs
#endif
