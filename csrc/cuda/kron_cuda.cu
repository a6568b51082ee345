// One kernel per factor: each thread owns output elements and writes them straight to their
// final place (no transpose pass). Consecutive threads take consecutive r, so loads of src and
// stores of dst are coalesced whenever R is large; the factor sits in shared memory when it
// fits. Simple on purpose: it is the reference the fused kernels will be checked against.
#include "cuda/kron_cuda.cuh"

#include <cuda_runtime.h>

#include <algorithm>

namespace fs {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kSharedBytes = 32 * 1024;

template <class T, bool SHARED>
__global__ void kron_mode_product_kernel(const T* __restrict__ A, std::int64_t m, std::int64_t n,
                                         std::int64_t rs, std::int64_t cs,
                                         const T* __restrict__ src, T* __restrict__ dst,
                                         std::int64_t L, std::int64_t R) {
  extern __shared__ unsigned char smem_raw[];
  T* As = reinterpret_cast<T*>(smem_raw);
  if (SHARED) {
    for (std::int64_t k = threadIdx.x; k < m * n; k += blockDim.x) {
      const std::int64_t i = k / n, b = k % n;
      As[k] = A[i * rs + b * cs];
    }
    __syncthreads();
  }
  const std::int64_t total = L * m * R;
  const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  for (std::int64_t e = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const std::int64_t r = e % R;
    const std::int64_t li = e / R;
    const std::int64_t i = li % m;
    const std::int64_t l = li / m;
    const T* s = src + l * n * R + r;
    T acc = T(0);
    if (SHARED) {
      const T* a = As + i * n;
      for (std::int64_t b = 0; b < n; ++b) acc += a[b] * s[b * R];
    } else {
      const T* a = A + i * rs;
      for (std::int64_t b = 0; b < n; ++b) acc += __ldg(a + b * cs) * __ldg(s + b * R);
    }
    dst[e] = acc;
  }
}

template <class T>
cudaError_t launch(const T* A, std::int64_t m, std::int64_t n, std::int64_t rs, std::int64_t cs,
                   const T* src, T* dst, std::int64_t L, std::int64_t R, cudaStream_t stream) {
  const std::int64_t total = L * m * R;
  if (total == 0) return cudaSuccess;
  const std::int64_t blocks = std::min<std::int64_t>((total + kThreads - 1) / kThreads, 65535);
  const std::int64_t abytes = m * n * std::int64_t(sizeof(T));
  if (abytes <= kSharedBytes)
    kron_mode_product_kernel<T, true><<<unsigned(blocks), kThreads, size_t(abytes), stream>>>(
        A, m, n, rs, cs, src, dst, L, R);
  else
    kron_mode_product_kernel<T, false><<<unsigned(blocks), kThreads, 0, stream>>>(
        A, m, n, rs, cs, src, dst, L, R);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_kron_mode_product(bool f32, const void* A, std::int64_t m, std::int64_t n,
                                     std::int64_t rs, std::int64_t cs, const void* src, void* dst,
                                     std::int64_t L, std::int64_t R, cudaStream_t stream) {
  if (f32)
    return launch<float>(static_cast<const float*>(A), m, n, rs, cs,
                         static_cast<const float*>(src), static_cast<float*>(dst), L, R, stream);
  return launch<double>(static_cast<const double*>(A), m, n, rs, cs,
                        static_cast<const double*>(src), static_cast<double*>(dst), L, R, stream);
}

}  // namespace cuda
}  // namespace fs
