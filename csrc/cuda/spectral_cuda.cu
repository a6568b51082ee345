// One thread per output entry, looping over the contracted axis: simple on purpose (it has to be
// right before it is fast).  The mode index a varies fastest across threads, so loads of the
// spectra and the weight and the stores are coalesced along the contiguous last mode dim.
// tests/test_spectral.py compiles the kernel text (from the start of the anonymous namespace up
// to the host helper to_lead) with the host compiler and runs it as loops (there may be no GPU):
// keep the kernels free of CUDA built-ins other than blockIdx/threadIdx/blockDim/gridDim.
#include "cuda/spectral_cuda.cuh"

#include <cuda_runtime.h>

#include <algorithm>

namespace fs {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 65535;

struct Extents {
  std::int64_t n[3];
};

struct Lead {
  std::int64_t w0[2], r[2], off[2];
};

// Index of frequency f in a spectrum dim of extent n (negative frequencies wrap around).
__device__ __forceinline__ std::int64_t wrap(std::int64_t f, std::int64_t n) {
  const std::int64_t k = f % n;
  return k < 0 ? k + n : k;
}

// Offsets (complex elements, inside one (b, c) plane) of kept mode (k1, k2, a) in a spectrum of
// extents e, and in the weight of extents we.
__device__ __forceinline__ std::int64_t spec_offset(const Lead& m, const Extents& e,
                                                    std::int64_t k1, std::int64_t k2,
                                                    std::int64_t a) {
  const std::int64_t f1 = m.w0[0] + k1 - m.off[0], f2 = m.w0[1] + k2 - m.off[1];
  return (wrap(f1, e.n[0]) * e.n[1] + wrap(f2, e.n[1])) * e.n[2] + a;
}

__device__ __forceinline__ std::int64_t weight_offset(const Lead& m, const Extents& we,
                                                      std::int64_t k1, std::int64_t k2,
                                                      std::int64_t a) {
  return ((m.w0[0] + k1) * we.n[1] + (m.w0[1] + k2)) * we.n[2] + a;
}

// A grid-stride index e over the (outer, k1, k2, a) iteration space of the kept modes, split
// into its coordinates; each kernel splits `outer` into its own pair of channel indices.
struct ModePos {
  std::int64_t outer, k1, k2, a;
};

__device__ __forceinline__ ModePos mode_position(std::int64_t e, const Lead& m, std::int64_t L) {
  ModePos q;
  q.a = e % L;
  e /= L;
  q.k2 = e % m.r[1];
  e /= m.r[1];
  q.k1 = e % m.r[0];
  q.outer = e / m.r[0];
  return q;
}

__device__ __forceinline__ std::int64_t plane_size(const Extents& x) {
  return x.n[0] * x.n[1] * x.n[2];
}

template <class T>
__global__ void spectral_mix_kernel(Lead m, std::int64_t L, const T* __restrict__ src,
                                    std::int64_t B, std::int64_t Q, Extents se,
                                    const T* __restrict__ W, std::int64_t wq, std::int64_t wp,
                                    Extents we, T wsign, T* __restrict__ dst, std::int64_t P,
                                    Extents de, const double* __restrict__ scale) {
  const std::int64_t total = B * P * m.r[0] * m.r[1] * L;
  const std::int64_t splane = plane_size(se), dplane = plane_size(de);
  const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  for (std::int64_t e = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const ModePos q = mode_position(e, m, L);
    const std::int64_t a = q.a, k1 = q.k1, k2 = q.k2;
    const std::int64_t p = q.outer % P;
    const std::int64_t b = q.outer / P;
    const T* s = src + 2 * (b * Q * splane + spec_offset(m, se, k1, k2, a));
    const T* w = W + 2 * (p * wp + weight_offset(m, we, k1, k2, a));
    T acc_r = T(0), acc_i = T(0);
    for (std::int64_t q = 0; q < Q; ++q) {
      const T xr = s[2 * q * splane], xi = s[2 * q * splane + 1];
      const T wr = w[2 * q * wq], wi = wsign * w[2 * q * wq + 1];
      acc_r += xr * wr - xi * wi;
      acc_i += xr * wi + xi * wr;
    }
    const T sc = scale ? T(scale[a]) : T(1);
    T* y = dst + 2 * ((b * P + p) * dplane + spec_offset(m, de, k1, k2, a));
    y[0] = sc * acc_r;
    y[1] = sc * acc_i;
  }
}

template <class T>
__global__ void spectral_wgrad_kernel(Lead m, std::int64_t L, const T* __restrict__ x,
                                      std::int64_t B, std::int64_t I, Extents xe,
                                      const T* __restrict__ g, std::int64_t O, Extents ge,
                                      T* __restrict__ gw, Extents we,
                                      const double* __restrict__ scale) {
  const std::int64_t total = I * O * m.r[0] * m.r[1] * L;
  const std::int64_t xplane = plane_size(xe), gplane = plane_size(ge), wplane = plane_size(we);
  const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  for (std::int64_t e = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const ModePos q = mode_position(e, m, L);
    const std::int64_t a = q.a, k1 = q.k1, k2 = q.k2;
    const std::int64_t o = q.outer % O;
    const std::int64_t i = q.outer / O;
    const T* xv = x + 2 * (i * xplane + spec_offset(m, xe, k1, k2, a));
    const T* gv = g + 2 * (o * gplane + spec_offset(m, ge, k1, k2, a));
    T acc_r = T(0), acc_i = T(0);
    for (std::int64_t b = 0; b < B; ++b) {
      const T xr = xv[2 * b * I * xplane], xi = xv[2 * b * I * xplane + 1];
      const T gr = gv[2 * b * O * gplane], gi = gv[2 * b * O * gplane + 1];
      // conj(x) * g
      acc_r += xr * gr + xi * gi;
      acc_i += xr * gi - xi * gr;
    }
    const T sc = scale ? T(scale[a]) : T(1);
    T* w = gw + 2 * ((i * O + o) * wplane + weight_offset(m, we, k1, k2, a));
    w[0] = sc * acc_r;
    w[1] = sc * acc_i;
  }
}

Lead to_lead(const SpectralLeadModes& m) {
  Lead l;
  for (int j = 0; j < 2; ++j) {
    l.w0[j] = m.w0[j];
    l.r[j] = m.r[j];
    l.off[j] = m.off[j];
  }
  return l;
}

Extents to_extents(const std::int64_t s[3]) { return Extents{{s[0], s[1], s[2]}}; }

unsigned blocks_for(std::int64_t total) {
  return unsigned(std::min<std::int64_t>((total + kThreads - 1) / kThreads, kMaxBlocks));
}

template <class T>
cudaError_t mix(const SpectralLeadModes& m, std::int64_t L, const void* src, std::int64_t B,
                std::int64_t Q, const std::int64_t* ss, const void* W, std::int64_t wq,
                std::int64_t wp, const std::int64_t* ws, bool conj_w, void* dst, std::int64_t P,
                const std::int64_t* ds, const double* scale, cudaStream_t stream) {
  const std::int64_t total = B * P * m.r[0] * m.r[1] * L;
  if (total == 0) return cudaSuccess;
  spectral_mix_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(
      to_lead(m), L, static_cast<const T*>(src), B, Q, to_extents(ss), static_cast<const T*>(W),
      wq, wp, to_extents(ws), conj_w ? T(-1) : T(1), static_cast<T*>(dst), P, to_extents(ds),
      scale);
  return cudaGetLastError();
}

template <class T>
cudaError_t wgrad(const SpectralLeadModes& m, std::int64_t L, const void* x, std::int64_t B,
                  std::int64_t I, const std::int64_t* xs, const void* g, std::int64_t O,
                  const std::int64_t* gs, void* gw, const std::int64_t* ws, const double* scale,
                  cudaStream_t stream) {
  const std::int64_t total = I * O * m.r[0] * m.r[1] * L;
  if (total == 0) return cudaSuccess;
  spectral_wgrad_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(
      to_lead(m), L, static_cast<const T*>(x), B, I, to_extents(xs), static_cast<const T*>(g), O,
      to_extents(gs), static_cast<T*>(gw), to_extents(ws), scale);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_spectral_mix(bool f32, const SpectralLeadModes& m, std::int64_t L,
                                const void* src, std::int64_t B, std::int64_t Q,
                                const std::int64_t src_shape[3], const void* W, std::int64_t wq,
                                std::int64_t wp, const std::int64_t w_shape[3], bool conj_w,
                                void* dst, std::int64_t P, const std::int64_t dst_shape[3],
                                const double* scale, cudaStream_t stream) {
  if (f32)
    return mix<float>(m, L, src, B, Q, src_shape, W, wq, wp, w_shape, conj_w, dst, P, dst_shape,
                      scale, stream);
  return mix<double>(m, L, src, B, Q, src_shape, W, wq, wp, w_shape, conj_w, dst, P, dst_shape,
                     scale, stream);
}

cudaError_t launch_spectral_weight_grad(bool f32, const SpectralLeadModes& m, std::int64_t L,
                                        const void* x, std::int64_t B, std::int64_t I,
                                        const std::int64_t x_shape[3], const void* g,
                                        std::int64_t O, const std::int64_t g_shape[3], void* gw,
                                        const std::int64_t w_shape[3], const double* scale,
                                        cudaStream_t stream) {
  if (f32)
    return wgrad<float>(m, L, x, B, I, x_shape, g, O, g_shape, gw, w_shape, scale, stream);
  return wgrad<double>(m, L, x, B, I, x_shape, g, O, g_shape, gw, w_shape, scale, stream);
}

}  // namespace cuda
}  // namespace fs
