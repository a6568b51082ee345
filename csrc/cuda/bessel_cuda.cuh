// Launchers for the element-wise Bessel kernels.  Plain C++ interface (no CUDA types beyond
// the stream), so the nanobind module is compiled by the host compiler.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "fastspectral/bessel_list.hpp"

namespace fs {
namespace cuda {

enum class BesselOp : int {
#define FS_ENUM(name, doc) name,
  FS_BESSEL_BINARY_FUNCTIONS(FS_ENUM) FS_BESSEL_UNARY_FUNCTIONS(FS_ENUM)
#undef FS_ENUM
  count
};

// out[i] = f(a[i], b[i]) for contiguous arrays of n elements of float (f32 = true) or double.
// Asynchronous on `stream`; returns the launch status (never synchronizes).
cudaError_t launch_bessel_binary(BesselOp op, bool f32, const void* a, const void* b, void* out,
                                 std::int64_t n, cudaStream_t stream);
// out[i] = f(a[i]).
cudaError_t launch_bessel_unary(BesselOp op, bool f32, const void* a, void* out, std::int64_t n,
                                cudaStream_t stream);

}  // namespace cuda
}  // namespace fs
