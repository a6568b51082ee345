// Strided element-wise maps on raw pointers, parallel with OpenMP for long inputs.
#pragma once

#include <cstddef>

#if defined(FS_HAVE_OPENMP)
#include <omp.h>
#endif

namespace fs {
namespace cpu {

struct Strided1 {
  const char* a; std::ptrdiff_t sa;
  char* out; std::ptrdiff_t so;
  std::ptrdiff_t n;
};

struct Strided2 {
  const char* a; std::ptrdiff_t sa;
  const char* b; std::ptrdiff_t sb;
  char* out; std::ptrdiff_t so;
  std::ptrdiff_t n;
};

// Below this many elements a parallel region costs more than it saves (a Bessel value
// costs 20-200 ns; an OpenMP fork/join a few microseconds).
constexpr std::ptrdiff_t kParallelThreshold = 2048;
// Work is handed out in chunks: the cost per element varies by an order of magnitude
// between regions of (v, x), so static partitions would leave threads idle.  The chunk is also
// the block of the region-batched loops (bessel_cpu.cpp), whose per-region vectors get longer
// (less padding) with larger blocks.
constexpr std::ptrdiff_t kChunk = 512;

// One out-of-line loop serves both the serial and the parallel path, so every element is
// computed by the same machine code whatever the thread count (two inlined copies could be
// contracted into FMAs differently and differ in the last bit).
template <class T, class F>
__attribute__((noinline)) void map1_range(const Strided1& s, F f, std::ptrdiff_t lo, std::ptrdiff_t hi) {
  for (std::ptrdiff_t i = lo; i < hi; ++i) {
    const T a = *reinterpret_cast<const T*>(s.a + i * s.sa);
    *reinterpret_cast<T*>(s.out + i * s.so) = f(a);
  }
}

template <class T, class F>
__attribute__((noinline)) void map2_range(const Strided2& s, F f, std::ptrdiff_t lo, std::ptrdiff_t hi) {
  for (std::ptrdiff_t i = lo; i < hi; ++i) {
    const T a = *reinterpret_cast<const T*>(s.a + i * s.sa);
    const T b = *reinterpret_cast<const T*>(s.b + i * s.sb);
    *reinterpret_cast<T*>(s.out + i * s.so) = f(a, b);
  }
}

// Blocked two-input map for loops that evaluate a whole block at once (region-batched kernels):
// the block function gets contiguous copies of up to kChunk inputs and fills contiguous outputs.
// Blocks start at multiples of kChunk in both the serial and the parallel path, and the block
// functions compute every element independently of its neighbours, so results do not depend on
// the thread count.
template <class T, class B>
__attribute__((noinline)) void map2_block_range(const Strided2& s, B block, std::ptrdiff_t lo, std::ptrdiff_t hi) {
  alignas(64) T a[kChunk], b[kChunk], o[kChunk];
  for (std::ptrdiff_t c = lo; c < hi; c += kChunk) {
    const int m = int(hi - c < kChunk ? hi - c : kChunk);
    for (int i = 0; i < m; ++i) {
      a[i] = *reinterpret_cast<const T*>(s.a + (c + i) * s.sa);
      b[i] = *reinterpret_cast<const T*>(s.b + (c + i) * s.sb);
    }
    block(a, b, o, m);
    for (int i = 0; i < m; ++i) *reinterpret_cast<T*>(s.out + (c + i) * s.so) = o[i];
  }
}

template <class S, class Range>
void run_chunked(const S& s, Range range) {
#if defined(FS_HAVE_OPENMP)
  if (s.n >= kParallelThreshold && omp_get_max_threads() > 1) {
    const std::ptrdiff_t chunks = (s.n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(dynamic, 1)
    for (std::ptrdiff_t c = 0; c < chunks; ++c) {
      const std::ptrdiff_t lo = c * kChunk;
      range(lo, lo + kChunk < s.n ? lo + kChunk : s.n);
    }
    return;
  }
#endif
  range(0, s.n);
}

template <class T, class F>
void map1(const Strided1& s, F f) {
  run_chunked(s, [&](std::ptrdiff_t lo, std::ptrdiff_t hi) { map1_range<T>(s, f, lo, hi); });
}

template <class T, class F>
void map2(const Strided2& s, F f) {
  run_chunked(s, [&](std::ptrdiff_t lo, std::ptrdiff_t hi) { map2_range<T>(s, f, lo, hi); });
}

template <class T, class B>
void map2_blocked(const Strided2& s, B block) {
  run_chunked(s, [&](std::ptrdiff_t lo, std::ptrdiff_t hi) { map2_block_range<T>(s, block, lo, hi); });
}

}  // namespace cpu
}  // namespace fs
