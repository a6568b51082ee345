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

template <class T, class F>
void map1(const Strided1& s, F f) {
  auto body = [&](std::ptrdiff_t i) {
    const T a = *reinterpret_cast<const T*>(s.a + i * s.sa);
    *reinterpret_cast<T*>(s.out + i * s.so) = f(a);
  };
#if defined(FS_HAVE_OPENMP)
  if (s.n >= kParallelThreshold && omp_get_max_threads() > 1) {
    // dynamic: cost per element varies by an order of magnitude across regions
#pragma omp parallel for schedule(dynamic, 256)
    for (std::ptrdiff_t i = 0; i < s.n; ++i) body(i);
    return;
  }
#endif
  for (std::ptrdiff_t i = 0; i < s.n; ++i) body(i);
}

template <class T, class F>
void map2(const Strided2& s, F f) {
  auto body = [&](std::ptrdiff_t i) {
    const T a = *reinterpret_cast<const T*>(s.a + i * s.sa);
    const T b = *reinterpret_cast<const T*>(s.b + i * s.sb);
    *reinterpret_cast<T*>(s.out + i * s.so) = f(a, b);
  };
#if defined(FS_HAVE_OPENMP)
  if (s.n >= kParallelThreshold && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(dynamic, 256)
    for (std::ptrdiff_t i = 0; i < s.n; ++i) body(i);
    return;
  }
#endif
  for (std::ptrdiff_t i = 0; i < s.n; ++i) body(i);
}

}  // namespace cpu
}  // namespace fs
