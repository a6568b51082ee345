#include "cpu/spectral_cpu.hpp"

#include <vector>

#if defined(FS_HAVE_OPENMP)
#include <omp.h>
#endif

namespace fs {
namespace cpu {
namespace {

// Complex arithmetic on split accumulators: std::complex's operator* carries NaN/inf recovery
// branches (C99 Annex G) that stop GCC from vectorising the mode loop.
template <typename T>
void mix_impl(const SpectralModes& m, const T* src, std::int64_t B, std::int64_t Q,
              const std::int64_t* ss, const T* W, std::int64_t wq, std::int64_t wp,
              const std::int64_t* ws, bool conj_w, T* dst, std::int64_t P, const std::int64_t* ds,
              const double* scale, int nthreads) {
  const std::int64_t L = m.L, R = m.r1 * m.r2;
  const std::int64_t src_plane = ss[0] * ss[1] * ss[2], dst_plane = ds[0] * ds[1] * ds[2];
  const T sgn = conj_w ? T(-1) : T(1);
  const std::int64_t total = R * P;
#if defined(FS_HAVE_OPENMP)
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
#pragma omp parallel num_threads(nt) if (total > 1)
#endif
  {
    std::vector<T> acc(2 * L);
    T* ar = acc.data();
    T* ai = acc.data() + L;
#if defined(FS_HAVE_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t t = 0; t < total; ++t) {
      // consecutive t share the mode row r, so the gathered src rows stay in cache across p
      const std::int64_t r = t / P, p = t % P;
      const std::int64_t k1 = r / m.r2, k2 = r % m.r2;
      const std::int64_t so = (m.s1[k1] * ss[1] + m.s2[k2]) * ss[2];
      const std::int64_t dof = (m.d1[k1] * ds[1] + m.d2[k2]) * ds[2];
      const std::int64_t wo = (m.w1[k1] * ws[1] + m.w2[k2]) * ws[2] + p * wp;
      for (std::int64_t b = 0; b < B; ++b) {
        for (std::int64_t a = 0; a < L; ++a) ar[a] = ai[a] = T(0);
        for (std::int64_t q = 0; q < Q; ++q) {
          const T* __restrict x = src + 2 * ((b * Q + q) * src_plane + so);
          const T* __restrict w = W + 2 * (wo + q * wq);
#pragma omp simd
          for (std::int64_t a = 0; a < L; ++a) {
            const T xr = x[2 * a], xi = x[2 * a + 1];
            const T wr = w[2 * a], wi = sgn * w[2 * a + 1];
            ar[a] += xr * wr - xi * wi;
            ai[a] += xr * wi + xi * wr;
          }
        }
        T* __restrict y = dst + 2 * ((b * P + p) * dst_plane + dof);
        if (scale) {
          for (std::int64_t a = 0; a < L; ++a) {
            y[2 * a] = T(scale[a]) * ar[a];
            y[2 * a + 1] = T(scale[a]) * ai[a];
          }
        } else {
          for (std::int64_t a = 0; a < L; ++a) {
            y[2 * a] = ar[a];
            y[2 * a + 1] = ai[a];
          }
        }
      }
    }
  }
}

template <typename T>
void wgrad_impl(const SpectralModes& m, const T* x, std::int64_t B, std::int64_t I,
                const std::int64_t* xs, const T* g, std::int64_t O, const std::int64_t* gs, T* gw,
                const std::int64_t* ws, const double* scale, int nthreads) {
  const std::int64_t L = m.L, R = m.r1 * m.r2;
  const std::int64_t x_plane = xs[0] * xs[1] * xs[2], g_plane = gs[0] * gs[1] * gs[2];
  const std::int64_t w_plane = ws[0] * ws[1] * ws[2];
  const std::int64_t total = R * I;
#if defined(FS_HAVE_OPENMP)
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
#pragma omp parallel num_threads(nt) if (total > 1)
#endif
  {
    std::vector<T> acc(2 * L);
    T* ar = acc.data();
    T* ai = acc.data() + L;
#if defined(FS_HAVE_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t t = 0; t < total; ++t) {
      const std::int64_t r = t / I, i = t % I;
      const std::int64_t k1 = r / m.r2, k2 = r % m.r2;
      const std::int64_t xo = (m.s1[k1] * xs[1] + m.s2[k2]) * xs[2];
      const std::int64_t go = (m.d1[k1] * gs[1] + m.d2[k2]) * gs[2];
      const std::int64_t wo = (m.w1[k1] * ws[1] + m.w2[k2]) * ws[2];
      for (std::int64_t o = 0; o < O; ++o) {
        for (std::int64_t a = 0; a < L; ++a) ar[a] = ai[a] = T(0);
        for (std::int64_t b = 0; b < B; ++b) {
          const T* __restrict xv = x + 2 * ((b * I + i) * x_plane + xo);
          const T* __restrict gv = g + 2 * ((b * O + o) * g_plane + go);
#pragma omp simd
          for (std::int64_t a = 0; a < L; ++a) {
            const T xr = xv[2 * a], xi = xv[2 * a + 1];
            const T gr = gv[2 * a], gi = gv[2 * a + 1];
            ar[a] += xr * gr + xi * gi;
            ai[a] += xr * gi - xi * gr;
          }
        }
        T* __restrict w = gw + 2 * ((i * O + o) * w_plane + wo);
        for (std::int64_t a = 0; a < L; ++a) {
          const T s = scale ? T(scale[a]) : T(1);
          w[2 * a] = s * ar[a];
          w[2 * a + 1] = s * ai[a];
        }
      }
    }
  }
}

}  // namespace

void spectral_mix(bool f32, const SpectralModes& m, const void* src, std::int64_t B,
                  std::int64_t Q, const std::int64_t src_shape[3], const void* W, std::int64_t wq,
                  std::int64_t wp, const std::int64_t w_shape[3], bool conj_w, void* dst,
                  std::int64_t P, const std::int64_t dst_shape[3], const double* scale,
                  int nthreads) {
  if (f32)
    mix_impl(m, static_cast<const float*>(src), B, Q, src_shape, static_cast<const float*>(W), wq,
             wp, w_shape, conj_w, static_cast<float*>(dst), P, dst_shape, scale, nthreads);
  else
    mix_impl(m, static_cast<const double*>(src), B, Q, src_shape, static_cast<const double*>(W),
             wq, wp, w_shape, conj_w, static_cast<double*>(dst), P, dst_shape, scale, nthreads);
}

void spectral_weight_grad(bool f32, const SpectralModes& m, const void* x, std::int64_t B,
                          std::int64_t I, const std::int64_t x_shape[3], const void* g,
                          std::int64_t O, const std::int64_t g_shape[3], void* gw,
                          const std::int64_t w_shape[3], const double* scale, int nthreads) {
  if (f32)
    wgrad_impl(m, static_cast<const float*>(x), B, I, x_shape, static_cast<const float*>(g), O,
               g_shape, static_cast<float*>(gw), w_shape, scale, nthreads);
  else
    wgrad_impl(m, static_cast<const double*>(x), B, I, x_shape, static_cast<const double*>(g), O,
               g_shape, static_cast<double*>(gw), w_shape, scale, nthreads);
}

}  // namespace cpu
}  // namespace fs
