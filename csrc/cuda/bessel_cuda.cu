// Element-wise Bessel kernels: a grid-stride loop around the same per-element functions the
// CPU ufuncs call (fastspectral/bessel.hpp).  Nothing GPU-specific happens per element.
#include "cuda/bessel_cuda.cuh"
#include "fastspectral/bessel.hpp"

namespace fs {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <class T, class F>
__global__ void map2_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                            std::int64_t n, F f) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(blockDim.x) * gridDim.x)
    out[i] = f(a[i], b[i]);
}

template <class T, class F>
__global__ void map1_kernel(const T* __restrict__ a, T* __restrict__ out, std::int64_t n, F f) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(blockDim.x) * gridDim.x)
    out[i] = f(a[i]);
}

unsigned grid_for(std::int64_t n) {
  std::int64_t blocks = (n + kThreads - 1) / kThreads;
  return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

template <class T, class F>
cudaError_t run2(const void* a, const void* b, void* out, std::int64_t n, cudaStream_t s, F f) {
  if (n == 0) return cudaSuccess;
  map2_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(a), static_cast<const T*>(b),
                                                  static_cast<T*>(out), n, f);
  return cudaGetLastError();
}

template <class T, class F>
cudaError_t run1(const void* a, void* out, std::int64_t n, cudaStream_t s, F f) {
  if (n == 0) return cudaSuccess;
  map1_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(a), static_cast<T*>(out), n, f);
  return cudaGetLastError();
}

// Functors (extended lambdas would need --extended-lambda; a struct per function is simpler).
#define FS_FUNCTOR_BINARY(name, doc)                                                 \
  struct name##_fn {                                                                   \
    template <class T>                                                                 \
    __device__ T operator()(T v, T x) const { return fs::name<T>(v, x); }              \
  };
#define FS_FUNCTOR_UNARY(name, doc)                                                  \
  struct name##_fn {                                                                   \
    template <class T>                                                                 \
    __device__ T operator()(T x) const { return fs::name<T>(x); }                      \
  };
FS_BESSEL_BINARY_FUNCTIONS(FS_FUNCTOR_BINARY)
FS_BESSEL_UNARY_FUNCTIONS(FS_FUNCTOR_UNARY)
#undef FS_FUNCTOR_BINARY
#undef FS_FUNCTOR_UNARY

}  // namespace

cudaError_t launch_bessel_binary(BesselOp op, bool f32, const void* a, const void* b, void* out,
                                 std::int64_t n, cudaStream_t stream) {
  switch (op) {
#define FS_CASE(name, doc)                                                                  \
  case BesselOp::name:                                                                      \
    return f32 ? run2<float>(a, b, out, n, stream, name##_fn{})                             \
               : run2<double>(a, b, out, n, stream, name##_fn{});
    FS_BESSEL_BINARY_FUNCTIONS(FS_CASE)
#undef FS_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t launch_bessel_unary(BesselOp op, bool f32, const void* a, void* out, std::int64_t n,
                                cudaStream_t stream) {
  switch (op) {
#define FS_CASE(name, doc)                                                                  \
  case BesselOp::name:                                                                      \
    return f32 ? run1<float>(a, out, n, stream, name##_fn{}) : run1<double>(a, out, n, stream, name##_fn{});
    FS_BESSEL_UNARY_FUNCTIONS(FS_CASE)
#undef FS_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace cuda
}  // namespace fs
