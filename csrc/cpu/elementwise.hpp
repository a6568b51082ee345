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
// between regions of (v, x), so static partitions would leave threads idle.
constexpr std::ptrdiff_t kChunk = 256;

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

}  // namespace cpu
}  // namespace fs
