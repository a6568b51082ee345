// Launcher for the fused Kronecker group kernel. Plain C++ interface (only the stream is a
// CUDA type), so the nanobind module is compiled by the host compiler.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fs {
namespace cuda {

// A factor of a fused group: A == nullptr is an identity of size m == n.  Strides in elements;
// a transposed factor is passed with m/n and rs/cs swapped.
struct KronFusedFactor {
  const void* A;
  std::int64_t m, n, rs, cs;
};

// Shared memory a fused group may use (no opt-in needed below 48 KiB), and the tile size aimed
// at: enough independent rows per block to hide latency, small enough for several blocks per SM.
constexpr std::int64_t kFusedSharedBytes = 48 * 1024;
constexpr std::int64_t kFusedTileBytes = 16 * 1024;

// dst (L, prod m_a, R) = (A_0 kron ... kron A_{k-1}) applied along the middle axes of
// src (L, prod n_a, R), one read and one write of the data (fastspectral/kron_tile.hpp).
// Returns cudaErrorInvalidValue when the group does not fit the shared-memory budget.
cudaError_t launch_kron_fused(bool f32, const KronFusedFactor* factors, int k, const void* src,
                              void* dst, std::int64_t L, std::int64_t R, cudaStream_t stream);

// Which apply code the fused kernel runs (kron_tile::Group::variant): 1, register-blocked
// (default), or 0, one thread per output element; for benchmarks and A/B checks.
void kron_set_variant(int variant);
int kron_get_variant();

}  // namespace cuda
}  // namespace fs
