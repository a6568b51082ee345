// Launcher for the Kronecker mode-product kernel. Plain C++ interface (only the stream is a
// CUDA type), so the nanobind module is compiled by the host compiler.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fs {
namespace cuda {

// dst[(l*m + i)*R + r] = sum_b A[i*rs + b*cs] * src[(l*n + b)*R + r] for l < L, i < m, r < R.
// src/dst contiguous device arrays of float (f32) or double; dst must not overlap src.
// Asynchronous on `stream`; returns the launch status (never synchronizes).
cudaError_t launch_kron_mode_product(bool f32, const void* A, std::int64_t m, std::int64_t n,
                                     std::int64_t rs, std::int64_t cs, const void* src, void* dst,
                                     std::int64_t L, std::int64_t R, cudaStream_t stream);

}  // namespace cuda
}  // namespace fs
