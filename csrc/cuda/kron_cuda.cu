// Kronecker products on the GPU: one launch per group of consecutive small factors, the group
// applied to tiles in shared memory (fastspectral/kron_tile.hpp) and the results written straight
// to their final place (no transpose pass).  Large factors go to cuBLAS from Python.
#include "cuda/kron_cuda.cuh"

#include "fastspectral/kron_tile.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>

namespace fs {
namespace cuda {
namespace {

constexpr int kThreads = 256;
std::atomic<int> g_variant{1};
// Fused group: each block walks tiles; all phases are the shared header's (kron_tile.hpp), which
// the CPU tests run sequentially.  The barriers separate the phases exactly as there.
template <class T>
__global__ void kron_fused_kernel(const kron_tile::Group<T> g, const T* __restrict__ src,
                                  T* __restrict__ dst) {
  extern __shared__ __align__(16) unsigned char fused_smem_raw[];
  T* smem = reinterpret_cast<T*>(fused_smem_raw);
  const std::int64_t tiles = kron_tile::tile_count(g);
  for (std::int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    kron_tile::load(g, smem, src, tile, int(threadIdx.x), int(blockDim.x));
    __syncthreads();
    for (int s = 0; s < g.steps; ++s) {
      kron_tile::apply(g, smem, s, int(threadIdx.x), int(blockDim.x));
      __syncthreads();
    }
    kron_tile::store(g, smem, dst, tile, int(threadIdx.x), int(blockDim.x));
    __syncthreads();  // the next tile's load reuses the buffers
  }
}

template <class T>
cudaError_t launch_fused_t(const KronFusedFactor* f, int k, const void* src, void* dst,
                           std::int64_t L, std::int64_t R, cudaStream_t stream) {
  if (k < 1 || k > kron_tile::kMaxAxes) return cudaErrorInvalidValue;
  kron_tile::Group<T> g{};
  g.k = k;
  for (int a = 0; a < k; ++a) {
    g.A[a] = static_cast<const T*>(f[a].A);
    g.m[a] = int(f[a].m);
    g.n[a] = int(f[a].n);
    g.rs[a] = f[a].rs;
    g.cs[a] = f[a].cs;
  }
  g.L = L;
  g.R = R;
  g.variant = g_variant.load(std::memory_order_relaxed);
  const std::int64_t budget = kFusedSharedBytes / std::int64_t(sizeof(T));
  const std::int64_t target = kFusedTileBytes / std::int64_t(sizeof(T));
  if (!kron_tile::plan(g, budget, target)) return cudaErrorInvalidValue;
  const std::int64_t tiles = kron_tile::tile_count(g);
  if (tiles == 0) return cudaSuccess;
  const unsigned blocks = unsigned(std::min<std::int64_t>(tiles, 1 << 20));
  const size_t bytes = size_t(kron_tile::shared_elems(g)) * sizeof(T);
  kron_fused_kernel<T><<<blocks, kThreads, bytes, stream>>>(g, static_cast<const T*>(src),
                                                           static_cast<T*>(dst));
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_kron_fused(bool f32, const KronFusedFactor* factors, int k, const void* src,
                              void* dst, std::int64_t L, std::int64_t R, cudaStream_t stream) {
  return f32 ? launch_fused_t<float>(factors, k, src, dst, L, R, stream)
             : launch_fused_t<double>(factors, k, src, dst, L, R, stream);
}

void kron_set_variant(int variant) { g_variant.store(variant ? 1 : 0); }
int kron_get_variant() { return g_variant.load(); }

}  // namespace cuda
}  // namespace fs
