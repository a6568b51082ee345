// CPU Kronecker kernels, compiled once per instruction set from kron_cpu_impl.hpp and
// selected at run time: the wheel must run on any x86-64, yet the inner loops are only fast
// with the widest vectors the machine has.
#include "cpu/kron_cpu.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(FS_HAVE_OPENMP)
#include <omp.h>
#endif

namespace fs {
namespace cpu {

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(__clang__)
#define FS_KRON_X86_MULTI 1
#endif

#if defined(FS_KRON_X86_MULTI)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx2,fma")
namespace isa_avx512 {
#define FS_KRON_VBYTES 64
#include "cpu/kron_cpu_impl.hpp"
#undef FS_KRON_VBYTES
template <class T>
void run(const KronFactor* f, int d, const T* x, T* y, std::int64_t B, int nt, std::int64_t bud) {
  kron_apply_t<T, 64 / sizeof(T)>(f, d, x, y, B, nt, bud);
}
}  // namespace isa_avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace isa_avx2 {
#define FS_KRON_VBYTES 32
#include "cpu/kron_cpu_impl.hpp"
#undef FS_KRON_VBYTES
template <class T>
void run(const KronFactor* f, int d, const T* x, T* y, std::int64_t B, int nt, std::int64_t bud) {
  kron_apply_t<T, 32 / sizeof(T)>(f, d, x, y, B, nt, bud);
}
}  // namespace isa_avx2
#pragma GCC pop_options
#endif

namespace isa_generic {
#define FS_KRON_VBYTES 16
#include "cpu/kron_cpu_impl.hpp"
#undef FS_KRON_VBYTES
template <class T>
void run(const KronFactor* f, int d, const T* x, T* y, std::int64_t B, int nt, std::int64_t bud) {
  kron_apply_t<T, 16 / sizeof(T)>(f, d, x, y, B, nt, bud);
}
}  // namespace isa_generic

namespace {

// 512 KiB per working buffer: enough for a whole 16^4 vector (or the 16^4 output of
// (16x8)^4), so every factor fuses into one read of x and one write of y. The two ping-pong
// buffers then fill the 1 MiB L2, yet measured on the 2-core EPYC dev machine (see
// python/fastspectral/bench/kron_suite.py, 1 thread) 16^4 at M = 16 ran 1.15x and (16x8)^4
// 2.5x faster than with 256 KiB (which split them into two passes over memory), and 768 KiB
// or 1 MiB gained nothing more.
std::atomic<std::int64_t> g_fuse_budget{512 * 1024};

enum class Isa { avx512, avx2, generic };

Isa detect() {
#if defined(FS_KRON_X86_MULTI)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::generic;
}

Isa isa() {
  static const Isa v = detect();
  return v;
}

template <class T>
void dispatch(const KronFactor* f, int d, const void* x, void* y, std::int64_t B, int nt) {
  const T* xs = static_cast<const T*>(x);
  T* ys = static_cast<T*>(y);
  const std::int64_t bud = g_fuse_budget.load();
  switch (isa()) {
#if defined(FS_KRON_X86_MULTI)
    case Isa::avx512:
      isa_avx512::run<T>(f, d, xs, ys, B, nt, bud);
      return;
    case Isa::avx2:
      isa_avx2::run<T>(f, d, xs, ys, B, nt, bud);
      return;
#endif
    default:
      isa_generic::run<T>(f, d, xs, ys, B, nt, bud);
  }
}

}  // namespace

void kron_apply(bool f32, const KronFactor* factors, int d, const void* x, void* y,
                std::int64_t batch, int nthreads) {
  if (f32)
    dispatch<float>(factors, d, x, y, batch, nthreads);
  else
    dispatch<double>(factors, d, x, y, batch, nthreads);
}

void kron_set_fuse_budget(std::int64_t bytes) { g_fuse_budget.store(std::max<std::int64_t>(0, bytes)); }
std::int64_t kron_get_fuse_budget() { return g_fuse_budget.load(); }

const char* kron_isa() {
  switch (isa()) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    default:
      return "generic";
  }
}

}  // namespace cpu
}  // namespace fs
