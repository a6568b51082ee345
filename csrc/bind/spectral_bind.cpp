// Bindings for the spectral-convolution kernels (CPU).  Low level: the public API, with the
// user-facing validation, is fastspectral.spectral.  The checks here only keep the kernels
// inside their arrays.
#include "bind/spectral_bind.hpp"

#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>

#include "bind/spectral_check.hpp"

#include <complex>
#include <cstdint>
#include <optional>
#include <string>

#include "cpu/spectral_cpu.hpp"

namespace nb = nanobind;

namespace fs {
namespace bind {
namespace {

using Spec = nb::ndarray<nb::device::cpu, nb::c_contig, nb::ndim<5>>;
// The kernels only read their inputs: a read-only signature lets read-only NumPy arrays bind
// without a copy (a writable one makes nanobind reject them with a bare overload error).
using SpecIn = nb::ndarray<nb::ro, nb::device::cpu, nb::c_contig, nb::ndim<5>>;
using Index = nb::ndarray<const std::int64_t, nb::device::cpu, nb::c_contig, nb::ndim<1>>;
using Scale = nb::ndarray<const double, nb::device::cpu, nb::c_contig, nb::ndim<1>>;

using spectral_check::common_f32;
using spectral_check::fail;
using spectral_check::overlaps;
using spectral_check::shape3;

void check_index(const Index& idx, std::int64_t count, std::int64_t bound, const char* what) {
  if (std::int64_t(idx.shape(0)) != count) fail(std::string(what) + ": wrong length");
  const std::int64_t* p = idx.data();
  for (std::int64_t k = 0; k < count; ++k)
    if (p[k] < 0 || p[k] >= bound) fail(std::string(what) + ": index out of range");
}

struct Modes {
  fs::cpu::SpectralModes m;
  void check(const Index& w1, const Index& s1, const Index& d1, const Index& w2, const Index& s2,
             const Index& d2, std::int64_t L, const std::int64_t* ws, const std::int64_t* ss,
             const std::int64_t* ds) {
    m.r1 = std::int64_t(w1.shape(0));
    m.r2 = std::int64_t(w2.shape(0));
    check_index(w1, m.r1, ws[0], "w1");
    check_index(s1, m.r1, ss[0], "s1");
    check_index(d1, m.r1, ds[0], "d1");
    check_index(w2, m.r2, ws[1], "w2");
    check_index(s2, m.r2, ss[1], "s2");
    check_index(d2, m.r2, ds[1], "d2");
    if (L < 0 || L > ws[2] || L > ss[2] || L > ds[2]) fail("L exceeds a last mode dim");
    m.w1 = w1.data();
    m.s1 = s1.data();
    m.d1 = d1.data();
    m.w2 = w2.data();
    m.s2 = s2.data();
    m.d2 = d2.data();
    m.L = L;
  }
};

// adjoint = false: dst[b, o] = sum_i src[b, i] W[i, o];  adjoint = true: dst[b, i] = sum_o
// src[b, o] conj(W[i, o]).
void spectral_mix_py(SpecIn src, SpecIn W, Spec dst, Index w1, Index s1, Index d1, Index w2, Index s2,
                     Index d2, std::int64_t L, bool adjoint, std::optional<Scale> scale,
                     int nthreads) {
  const bool f32 = common_f32(src, W, dst, "src", "weight", "dst");
  std::int64_t ss[3], ws[3], ds[3];
  shape3(src, ss);
  shape3(W, ws);
  shape3(dst, ds);
  const auto ch = spectral_check::mix_channels(src, W, dst, adjoint);
  const std::int64_t O = ch.O, B = ch.B, Q = ch.Q, P = ch.P;
  Modes md;
  md.check(w1, s1, d1, w2, s2, d2, L, ws, ss, ds);
  if (scale && std::int64_t(scale->shape(0)) < L) fail("scale is shorter than L");
  const std::size_t es = f32 ? 8 : 16;
  if (overlaps(dst, src, es) || overlaps(dst, W, es)) fail("dst must not overlap the inputs");
  const std::int64_t msz = ws[0] * ws[1] * ws[2];
  const std::int64_t wq = adjoint ? msz : O * msz, wp = adjoint ? O * msz : msz;
  const double* sc = scale ? scale->data() : nullptr;
  nb::gil_scoped_release release;
  fs::cpu::spectral_mix(f32, md.m, src.data(), B, Q, ss, W.data(), wq, wp, ws, adjoint, dst.data(),
                        P, ds, sc, nthreads);
}

void spectral_weight_grad_py(SpecIn x, SpecIn g, Spec gw, Index w1, Index s1, Index d1, Index w2,
                             Index s2, Index d2, std::int64_t L, std::optional<Scale> scale,
                             int nthreads) {
  const bool f32 = common_f32(x, g, gw, "x", "g", "gw");
  std::int64_t xs[3], gs[3], ws[3];
  shape3(x, xs);
  shape3(g, gs);
  shape3(gw, ws);
  spectral_check::check_weight_grad_shapes(x, g, gw);
  const std::int64_t B = x.shape(0), I = x.shape(1), O = g.shape(1);
  Modes md;
  md.check(w1, s1, d1, w2, s2, d2, L, ws, xs, gs);
  if (scale && std::int64_t(scale->shape(0)) < L) fail("scale is shorter than L");
  const std::size_t es = f32 ? 8 : 16;
  if (overlaps(gw, x, es) || overlaps(gw, g, es)) fail("gw must not overlap the inputs");
  const double* sc = scale ? scale->data() : nullptr;
  nb::gil_scoped_release release;
  fs::cpu::spectral_weight_grad(f32, md.m, x.data(), B, I, xs, g.data(), O, gs, gw.data(), ws, sc,
                                nthreads);
}

}  // namespace

void register_spectral_core(nb::module_& m) {
  m.def("spectral_mix", &spectral_mix_py, nb::arg("src"), nb::arg("weight"),
        nb::arg("dst").noconvert(), nb::arg("w1"), nb::arg("s1"), nb::arg("d1"), nb::arg("w2"),
        nb::arg("s2"), nb::arg("d2"), nb::arg("L"), nb::arg("adjoint") = false,
        nb::arg("scale") = nb::none(), nb::arg("nthreads") = 0,
        "Per-mode channel contraction between 5-D half-spectra (B, C, N1, N2, N3h), gathering "
        "kept modes by index and scattering into dst. Low level: use "
        "fastspectral.spectral.spectral_conv.");
  m.def("spectral_weight_grad", &spectral_weight_grad_py, nb::arg("x"), nb::arg("g"),
        nb::arg("gw").noconvert(), nb::arg("w1"), nb::arg("s1"), nb::arg("d1"), nb::arg("w2"),
        nb::arg("s2"), nb::arg("d2"), nb::arg("L"), nb::arg("scale") = nb::none(),
        nb::arg("nthreads") = 0,
        "gw[i, o, kept] = scale * sum_b conj(x[b, i, kept]) g[b, o, kept]. Low level.");
}

}  // namespace bind
}  // namespace fs
