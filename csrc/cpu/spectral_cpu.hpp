// CPU kernels of the spectral convolution (FNO layer): the per-mode complex channel contraction
// fused with gathering the kept modes from one half-spectrum and scattering them into another.
//
// Spectra are C-contiguous complex arrays (interleaved re, im) of shape (B, C, N1, N2, N3):
// d < 3 spatial dims are padded in front with size-1 dims by the caller.  The two leading mode
// dims are addressed through index lists (the centred block lives at scattered indices after
// the wrap-around); the last mode dim is always the contiguous run 0 .. L-1 of the half-spectrum,
// so it is the vectorised axis.
#pragma once

#include <cstdint>

namespace fs {
namespace cpu {

struct SpectralModes {
  // kept modes in the two leading mode dims: count, and for each kept mode its index into the
  // weight, the source spectrum and the destination spectrum
  std::int64_t r1, r2;
  const std::int64_t* w1;
  const std::int64_t* s1;
  const std::int64_t* d1;
  const std::int64_t* w2;
  const std::int64_t* s2;
  const std::int64_t* d2;
  std::int64_t L;  // kept modes in the last dim (0 .. L-1 everywhere)
};

// dst[b, p, d1, d2, a] = scale[a] * sum_q src[b, q, s1, s2, a] * op(W[q, p, w1, w2, a])
// with op = conj when conj_w.  W is addressed as W + q*wq + p*wp + ((w1*M2 + w2)*M3 + a)
// (complex elements), so the forward (q = in, p = out) and the data adjoint (q = out, p = in,
// conj) share this kernel.  Entries of dst outside the kept modes are not touched.
// scale may be null (all ones).  f32: complex64, otherwise complex128.
void spectral_mix(bool f32, const SpectralModes& m, const void* src, std::int64_t B,
                  std::int64_t Q, const std::int64_t src_shape[3], const void* W, std::int64_t wq,
                  std::int64_t wp, const std::int64_t w_shape[3], bool conj_w, void* dst,
                  std::int64_t P, const std::int64_t dst_shape[3], const double* scale,
                  int nthreads);

// gw[i, o, w1, w2, a] = scale[a] * sum_b conj(x[b, i, s1, s2, a]) * g[b, o, d1, d2, a]
// (the weight gradient); gw has shape (I, O, M1, M2, M3), entries outside the kept modes are
// not touched.
void spectral_weight_grad(bool f32, const SpectralModes& m, const void* x, std::int64_t B,
                          std::int64_t I, const std::int64_t x_shape[3], const void* g,
                          std::int64_t O, const std::int64_t g_shape[3], void* gw,
                          const std::int64_t w_shape[3], const double* scale, int nthreads);

}  // namespace cpu
}  // namespace fs
