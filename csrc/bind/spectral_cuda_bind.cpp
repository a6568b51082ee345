// Bindings for the spectral-convolution CUDA kernels (module _cuda).  Low level: the public API,
// with the user-facing validation, is fastspectral.spectral.  The checks here keep the kernels
// inside their arrays whatever Python passes.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>

#include "bind/spectral_check.hpp"

#include <cuda_runtime_api.h>

#include <complex>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "bind/spectral_bind.hpp"
#include "cuda/spectral_cuda.cuh"

namespace nb = nanobind;

namespace fs {
namespace bind {
namespace {

using DevSpec = nb::ndarray<nb::device::cuda, nb::c_contig, nb::ndim<5>>;
using DevScale = nb::ndarray<const double, nb::device::cuda, nb::c_contig, nb::ndim<1>>;

using spectral_check::common_f32;
using spectral_check::fail;
using spectral_check::overlaps;
using spectral_check::shape3;

void same_device(const DevSpec& a, const DevSpec& b, const char* what) {
  if (a.device_id() != b.device_id())
    fail(std::string(what) + " are on different GPUs");
}

// Kept weight indices w0 .. w0+r-1 must lie inside the weight; every spectrum index is a
// frequency wrapped modulo the spectrum's own extent, so it is always in range.
fs::cuda::SpectralLeadModes lead_modes(std::int64_t w0_1, std::int64_t r1, std::int64_t off1,
                                       std::int64_t w0_2, std::int64_t r2, std::int64_t off2,
                                       std::int64_t L, const std::int64_t* ws,
                                       const std::int64_t* as, const std::int64_t* bs) {
  fs::cuda::SpectralLeadModes m;
  const std::int64_t w0[2] = {w0_1, w0_2}, r[2] = {r1, r2}, off[2] = {off1, off2};
  for (int j = 0; j < 2; ++j) {
    if (w0[j] < 0 || r[j] < 0 || w0[j] + r[j] > ws[j])
      fail("kept modes outside the weight along mode dim " + std::to_string(j));
    if (as[j] < 1 || bs[j] < 1) fail("empty spectrum dim");
    m.w0[j] = w0[j];
    m.r[j] = r[j];
    m.off[j] = off[j];
  }
  if (L < 0 || L > ws[2] || L > as[2] || L > bs[2]) fail("L exceeds a last mode dim");
  return m;
}

void check_scale(const std::optional<DevScale>& scale, std::int64_t L, int device) {
  if (!scale) return;
  if (std::int64_t(scale->shape(0)) < L) fail("scale is shorter than L");
  if (scale->device_id() != device) fail("scale is on another GPU");
}

void check_launch(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("fastspectral: CUDA error in ") + what + ": " +
                             cudaGetErrorString(err));
}

// adjoint = false: dst[b, o] = sum_i src[b, i] W[i, o];  adjoint = true: dst[b, i] = sum_o
// src[b, o] conj(W[i, o]).
void spectral_mix_cuda(DevSpec src, DevSpec W, DevSpec dst, std::int64_t w0_1, std::int64_t r1,
                       std::int64_t off1, std::int64_t w0_2, std::int64_t r2, std::int64_t off2,
                       std::int64_t L, bool adjoint, std::optional<DevScale> scale,
                       std::uintptr_t stream) {
  const bool f32 = common_f32(src, W, dst, "src", "weight", "dst");
  same_device(src, dst, "src and dst");
  same_device(W, dst, "weight and dst");
  check_scale(scale, L, dst.device_id());
  std::int64_t ss[3], ws[3], ds[3];
  shape3(src, ss);
  shape3(W, ws);
  shape3(dst, ds);
  const auto ch = spectral_check::mix_channels(src, W, dst, adjoint);
  const std::int64_t O = ch.O, B = ch.B, Q = ch.Q, P = ch.P;
  const auto m = lead_modes(w0_1, r1, off1, w0_2, r2, off2, L, ws, ss, ds);
  const std::size_t es = f32 ? 8 : 16;
  if (overlaps(dst, src, es) || overlaps(dst, W, es)) fail("dst must not overlap the inputs");
  const std::int64_t msz = ws[0] * ws[1] * ws[2];
  const std::int64_t wq = adjoint ? msz : O * msz, wp = adjoint ? O * msz : msz;
  const double* sc = scale ? scale->data() : nullptr;
  cudaError_t err;
  {
    nb::gil_scoped_release release;
    err = fs::cuda::launch_spectral_mix(f32, m, L, src.data(), B, Q, ss, W.data(), wq, wp, ws,
                                        adjoint, dst.data(), P, ds, sc,
                                        reinterpret_cast<cudaStream_t>(stream));
  }
  check_launch(err, "spectral_mix");
}

void spectral_weight_grad_cuda(DevSpec x, DevSpec g, DevSpec gw, std::int64_t w0_1,
                               std::int64_t r1, std::int64_t off1, std::int64_t w0_2,
                               std::int64_t r2, std::int64_t off2, std::int64_t L,
                               std::optional<DevScale> scale, std::uintptr_t stream) {
  const bool f32 = common_f32(x, g, gw, "x", "g", "gw");
  same_device(x, gw, "x and gw");
  same_device(g, gw, "g and gw");
  check_scale(scale, L, gw.device_id());
  std::int64_t xs[3], gs[3], ws[3];
  shape3(x, xs);
  shape3(g, gs);
  shape3(gw, ws);
  spectral_check::check_weight_grad_shapes(x, g, gw);
  const std::int64_t B = x.shape(0), I = x.shape(1), O = g.shape(1);
  const auto m = lead_modes(w0_1, r1, off1, w0_2, r2, off2, L, ws, xs, gs);
  const std::size_t es = f32 ? 8 : 16;
  if (overlaps(gw, x, es) || overlaps(gw, g, es)) fail("gw must not overlap the inputs");
  const double* sc = scale ? scale->data() : nullptr;
  cudaError_t err;
  {
    nb::gil_scoped_release release;
    err = fs::cuda::launch_spectral_weight_grad(f32, m, L, x.data(), B, I, xs, g.data(), O, gs,
                                                gw.data(), ws, sc,
                                                reinterpret_cast<cudaStream_t>(stream));
  }
  check_launch(err, "spectral_weight_grad");
}

}  // namespace

void register_spectral_cuda(nb::module_& m) {
  m.def("spectral_mix", &spectral_mix_cuda, nb::arg("src"), nb::arg("weight"),
        nb::arg("dst").noconvert(), nb::arg("w0_1"), nb::arg("r1"), nb::arg("off1"),
        nb::arg("w0_2"), nb::arg("r2"), nb::arg("off2"), nb::arg("L"), nb::arg("adjoint"),
        nb::arg("scale").none(), nb::arg("stream"),
        "Per-mode channel contraction between 5-D device half-spectra (B, C, N1, N2, N3h) on "
        "`stream`: kept leading modes w0..w0+r-1 (frequency w - off, wrapped per array), last "
        "dim 0..L-1. Low level: use fastspectral.spectral.spectral_conv.");
  m.def("spectral_weight_grad", &spectral_weight_grad_cuda, nb::arg("x"), nb::arg("g"),
        nb::arg("gw").noconvert(), nb::arg("w0_1"), nb::arg("r1"), nb::arg("off1"),
        nb::arg("w0_2"), nb::arg("r2"), nb::arg("off2"), nb::arg("L"), nb::arg("scale").none(),
        nb::arg("stream"),
        "gw[i, o, kept] = scale * sum_b conj(x[b, i, kept]) g[b, o, kept] on the GPU. Low level.");
}

}  // namespace bind
}  // namespace fs
