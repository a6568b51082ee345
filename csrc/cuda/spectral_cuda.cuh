// Launchers for the spectral-convolution (FNO layer) CUDA kernels: the per-mode complex channel
// contraction and its weight gradient, gathering the kept modes straight from one half-spectrum
// and scattering them into another (the transforms themselves are cuFFT, called from Python).
// Plain C++ interface (only the stream is a CUDA type), so the binding is compiled by the host
// compiler.
//
// Spectra are C-contiguous complex arrays (interleaved re, im; complex64 when f32, else
// complex128) viewed as (B, C, N1, N2, N3): d < 3 spatial dims are padded in front with size-1
// dims.  In the two leading mode dims the kept modes are a run of weight indices w0 .. w0+r-1;
// weight index w multiplies the frequency f = w - off (off = m // 2, the centred block), which
// every spectrum stores at index f mod (its own extent), so one description serves the input
// grid, the output grid and the weight.  In the last dim the kept modes are 0 .. L-1 everywhere.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fs {
namespace cuda {

struct SpectralLeadModes {
  std::int64_t w0[2];   // first kept weight index per leading mode dim
  std::int64_t r[2];    // kept count per leading mode dim
  std::int64_t off[2];  // weight index of frequency 0 (m // 2)
};

// dst[b, p, f1, f2, a] = scale[a] * sum_q src[b, q, f1, f2, a] * op(W[q, p, w1, w2, a]) over the
// kept modes, op = conj when conj_w.  W is addressed as W + q*wq + p*wp + ((w1*M2 + w2)*M3 + a)
// (complex elements), so the forward (q = in, p = out) and the data adjoint (q = out, p = in,
// conj) share the kernel.  dst entries outside the kept modes are not touched; scale is a device
// array of at least L doubles or null (all ones).  dst must not overlap src or W.
// Asynchronous on `stream`; returns the launch status (never synchronizes).
cudaError_t launch_spectral_mix(bool f32, const SpectralLeadModes& m, std::int64_t L,
                                const void* src, std::int64_t B, std::int64_t Q,
                                const std::int64_t src_shape[3], const void* W, std::int64_t wq,
                                std::int64_t wp, const std::int64_t w_shape[3], bool conj_w,
                                void* dst, std::int64_t P, const std::int64_t dst_shape[3],
                                const double* scale, cudaStream_t stream);

// gw[i, o, w1, w2, a] = scale[a] * sum_b conj(x[b, i, f1, f2, a]) * g[b, o, f1, f2, a] over the
// kept modes (the weight gradient); gw of shape (I, O, M1, M2, M3), entries outside the kept
// modes not touched; scale as above.  Asynchronous on `stream`.
cudaError_t launch_spectral_weight_grad(bool f32, const SpectralLeadModes& m, std::int64_t L,
                                        const void* x, std::int64_t B, std::int64_t I,
                                        const std::int64_t x_shape[3], const void* g,
                                        std::int64_t O, const std::int64_t g_shape[3], void* gw,
                                        const std::int64_t w_shape[3], const double* scale,
                                        cudaStream_t stream);

}  // namespace cuda
}  // namespace fs
