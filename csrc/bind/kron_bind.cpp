// Bindings for the Kronecker kernels. Compiled into both modules: the CPU part into _core,
// the CUDA part (guarded by FS_CUDA_ARCHS, which only the _cuda target defines) into _cuda.
#include "bind/kron_bind.hpp"

#include <nanobind/ndarray.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nb = nanobind;

#include "fastspectral/kron_tile.hpp"

namespace fs {
namespace bind {
namespace {

// Fill the factor fields of a fused-tile group from a list of 2-D arrays (or ints: identities)
// living on `device` (nb::device::cpu::value or nb::device::cuda::value).  Returns the dtype code.
template <class T>
void fill_tile_group(nb::list factors, bool transpose, int device, int device_id,
                     kron_tile::Group<T>& g) {
  const std::size_t k = nb::len(factors);
  if (k == 0 || k > std::size_t(kron_tile::kMaxAxes))
    throw nb::value_error(("fastspectral.kron: a fused group takes 1 to " +
                           std::to_string(kron_tile::kMaxAxes) + " factors").c_str());
  g.k = int(k);
  for (std::size_t a = 0; a < k; ++a) {
    nb::handle h = factors[a];
    if (PyLong_Check(h.ptr())) {
      const std::int64_t n = nb::cast<std::int64_t>(h);
      if (n < 1) throw nb::value_error("fastspectral.kron: identity size must be >= 1 here");
      g.A[a] = nullptr;
      g.m[a] = g.n[a] = int(n);
      g.rs[a] = g.cs[a] = 0;
      continue;
    }
    // nb::ro: factors are only read, so read-only arrays (np.load(mmap_mode='r'),
    // np.frombuffer, np.asarray of a JAX array) must bind without a copy
    nb::ndarray<nb::ro> arr;
    if (!nb::try_cast(h, arr, false) || arr.ndim() != 2)
      throw nb::type_error("fastspectral.kron: fused factors must be 2-D arrays or ints");
    if (arr.device_type() != device || (device != nb::device::cpu::value &&
                                        arr.device_id() != device_id))
      throw nb::value_error("fastspectral.kron: a factor is on another device than x");
    if (arr.dtype() != nb::dtype<T>())
      throw nb::type_error("fastspectral.kron: factors must have the dtype of x");
    std::int64_t m = arr.shape(0), n = arr.shape(1), rs = arr.stride(0), cs = arr.stride(1);
    if (transpose) {
      std::swap(m, n);
      std::swap(rs, cs);
    }
    g.A[a] = static_cast<const T*>(arr.data());
    g.m[a] = int(m);
    g.n[a] = int(n);
    g.rs[a] = rs;
    g.cs[a] = cs;
  }
}

}  // namespace
}  // namespace bind
}  // namespace fs

#if !defined(FS_CUDA_ARCHS)
#include "cpu/kron_cpu.hpp"

namespace fs {
namespace bind {
namespace {

using HostArray = nb::ndarray<nb::device::cpu, nb::c_contig, nb::ndim<2>>;
// Inputs are declared read-only so that read-only NumPy arrays bind as they are (nanobind
// rejects them for a writable signature, with an "incompatible function arguments" error).
using HostInput = nb::ndarray<nb::ro, nb::device::cpu, nb::c_contig, nb::ndim<2>>;

// 0: float32, 1: float64
int dtype_code(nb::dlpack::dtype dt, const char* what) {
  if (dt == nb::dtype<float>()) return 0;
  if (dt == nb::dtype<double>()) return 1;
  throw nb::type_error((std::string("fastspectral.kron: ") + what +
                        " must be float32 or float64").c_str());
}

void kron_apply_py(nb::list factors, HostInput x, HostArray out, bool transpose, int nthreads) {
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
      nb::ndarray<nb::ro, nb::device::cpu> a;
      if (!nb::try_cast(h, a, false))
        throw nb::type_error(("fastspectral.kron: factor " + std::to_string(i) +
                              " must be a CPU (NumPy) array or an int").c_str());
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


// The fused-tile algorithm run sequentially on the CPU (tid 0 of 1): the same code the CUDA
// kernel runs per block, so the tests can check its indexing and planning without a GPU.
template <class T>
void tile_emulate_t(nb::list factors, bool transpose, const T* src, T* dst, std::int64_t n_src,
                    std::int64_t n_dst, std::int64_t L, std::int64_t R, std::int64_t budget,
                    std::int64_t target, int nthreads, int variant) {
  if (nthreads < 1) throw nb::value_error("fastspectral.kron: nthreads must be >= 1");
  kron_tile::Group<T> g{};
  fill_tile_group<T>(factors, transpose, nb::device::cpu::value, 0, g);
  g.L = L;
  g.R = R;
  g.variant = variant;
  if (!kron_tile::plan(g, budget, target))
    throw nb::value_error("fastspectral.kron: the group does not fit the tile budget");
  if (L * g.p_in * R != n_src || L * g.p_out * R != n_dst)
    throw nb::value_error("fastspectral.kron: sizes do not match (L, prod n, R) / (L, prod m, R)");
  std::vector<T> smem(std::size_t(kron_tile::shared_elems(g)));
  const std::int64_t tiles = kron_tile::tile_count(g);
  nb::gil_scoped_release release;
  // threads of a block run one after another within each phase (they are independent there)
  for (std::int64_t t = 0; t < tiles; ++t) {
    for (int tid = 0; tid < nthreads; ++tid) kron_tile::load(g, smem.data(), src, t, tid, nthreads);
    for (int s = 0; s < g.steps; ++s)
      for (int tid = 0; tid < nthreads; ++tid) kron_tile::apply(g, smem.data(), s, tid, nthreads);
    for (int tid = 0; tid < nthreads; ++tid) kron_tile::store(g, smem.data(), dst, t, tid, nthreads);
  }
}

using HostVector = nb::ndarray<nb::device::cpu, nb::c_contig>;
using HostVectorInput = nb::ndarray<nb::ro, nb::device::cpu, nb::c_contig>;

void tile_emulate_py(nb::list factors, HostVectorInput x, HostVector out, std::int64_t L,
                     std::int64_t R, bool transpose, std::int64_t budget, std::int64_t target,
                     int nthreads, int variant) {
  const int code = dtype_code(x.dtype(), "x");
  if (dtype_code(out.dtype(), "out") != code)
    throw nb::type_error("fastspectral.kron: out must have the dtype of x");
  if (code == 0)
    tile_emulate_t<float>(factors, transpose, static_cast<const float*>(x.data()),
                          static_cast<float*>(out.data()), x.size(), out.size(), L, R, budget,
                          target, nthreads, variant);
  else
    tile_emulate_t<double>(factors, transpose, static_cast<const double*>(x.data()),
                           static_cast<double*>(out.data()), x.size(), out.size(), L, R, budget,
                           target, nthreads, variant);
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
  m.def("_kron_tile_emulate", &tile_emulate_py, nb::arg("factors"), nb::arg("x"),
        nb::arg("out").noconvert(), nb::arg("L"), nb::arg("R"), nb::arg("transpose"),
        nb::arg("budget"), nb::arg("target"), nb::arg("nthreads") = 1, nb::arg("variant") = 1,
        "Test hook: the GPU fused-tile algorithm (fastspectral/kron_tile.hpp) run sequentially.");
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

// dst (L, prod m, R) = group of factors applied along the middle axes of src (L, prod n, R).
void kron_fused_py(nb::list factors, bool transpose, DeviceArray src, DeviceArray dst,
                   std::int64_t L, std::int64_t R, std::uintptr_t stream) {
  bool f32;
  if (src.dtype() == nb::dtype<float>())
    f32 = true;
  else if (src.dtype() == nb::dtype<double>())
    f32 = false;
  else
    throw nb::type_error("fastspectral.kron: x must be float32 or float64");
  if (dst.dtype() != src.dtype())
    throw nb::type_error("fastspectral.kron: x and out must share one dtype");
  if (src.device_id() != dst.device_id())
    throw nb::value_error("fastspectral.kron: x and out are on different GPUs");
  std::vector<fs::cuda::KronFusedFactor> fac;
  std::int64_t p_in = 1, p_out = 1;
  // parse through the shared filler (checks device and dtype), then hand plain structs over
  auto parse = [&](auto tag) {
    using T = decltype(tag);
    kron_tile::Group<T> g{};
    fill_tile_group<T>(factors, transpose, nb::device::cuda::value, src.device_id(), g);
    for (int a = 0; a < g.k; ++a) {
      fac.push_back({g.A[a], g.m[a], g.n[a], g.rs[a], g.cs[a]});
      p_in *= g.n[a];
      p_out *= g.m[a];
    }
  };
  if (f32) parse(float{}); else parse(double{});
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
  if (std::int64_t(src.size()) != L * p_in * R || std::int64_t(dst.size()) != L * p_out * R)
    throw nb::value_error("fastspectral.kron: array sizes do not match (L, prod n, R) / (L, prod m, R)");
  cudaError_t err;
  {
    nb::gil_scoped_release release;
    err = fs::cuda::launch_kron_fused(f32, fac.data(), int(fac.size()), src.data(), dst.data(), L,
                                      R, reinterpret_cast<cudaStream_t>(stream));
  }
  if (err == cudaErrorInvalidValue)
    throw nb::value_error("fastspectral.kron: this factor group does not fit the fused kernel's "
                          "shared memory");
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("fastspectral: CUDA error in kron_fused: ") +
                             cudaGetErrorString(err));
}

}  // namespace

void register_kron_cuda(nb::module_& m) {
  m.def("kron_fused", &kron_fused_py, nb::arg("factors"), nb::arg("transpose"), nb::arg("src"),
        nb::arg("dst"), nb::arg("L"), nb::arg("R"), nb::arg("stream"),
        "dst(L, prod m, R) = a group of small factors (ints: identities) applied along the middle "
        "axes of src(L, prod n, R) in one pass through shared memory, on `stream`.");
  m.def("kron_set_variant", &fs::cuda::kron_set_variant, nb::arg("variant"),
        "Fused kernel's apply code: 1 register-blocked (default), 0 one thread per element.");
  m.def("kron_get_variant", &fs::cuda::kron_get_variant);
}

}  // namespace bind
}  // namespace fs
#endif
