// CPU Kronecker matrix-vector products: y = (A_1 kron ... kron A_d) x on raw pointers.
#pragma once

#include <cstdint>

namespace fs {
namespace cpu {

// One factor. data == nullptr means the m x m identity (m == n), which costs no pass.
// Element (a, b) of the factor lives at data[a * rs + b * cs] (so a transpose is a stride swap).
struct KronFactor {
  const void* data;
  std::int64_t m, n;
  std::int64_t rs, cs;
};

// x: (batch, prod n_i) contiguous; y: (batch, prod m_i) contiguous; y must not overlap x.
// f32 selects float, otherwise double. nthreads <= 0: OpenMP's default.
void kron_apply(bool f32, const KronFactor* factors, int d, const void* x, void* y,
                std::int64_t batch, int nthreads);

// Cache budget (bytes per working buffer) for fusing consecutive factors; 0 disables fusion.
// Exposed for benchmarking the fusion decision.
void kron_set_fuse_budget(std::int64_t bytes);
std::int64_t kron_get_fuse_budget();

// Which instruction set the runtime dispatch picked ("avx512", "avx2", "generic").
const char* kron_isa();

}  // namespace cpu
}  // namespace fs
