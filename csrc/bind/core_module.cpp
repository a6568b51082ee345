// fastspectral._core: the CPU extension module.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#if defined(FS_HAVE_OPENMP)
#include <omp.h>
#endif

#include "bind/kron_bind.hpp"
#include "bind/spectral_bind.hpp"
#include "bind/ufuncs.hpp"

namespace nb = nanobind;

namespace {

nb::dict build_info() {
  nb::dict d;
#if defined(FS_HAVE_OPENMP)
  d["openmp"] = true;
  d["max_threads"] = omp_get_max_threads();
#else
  d["openmp"] = false;
  d["max_threads"] = 1;
#endif
#if defined(__clang__)
  d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  d["compiler"] = std::string("gcc ") + __VERSION__;
#else
  d["compiler"] = std::string("unknown");
#endif
  return d;
}

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "fastspectral CPU kernels (C++/OpenMP)";
  m.def("build_info", &build_info, "Compile-time facts about the CPU module.");
  fs::bind::register_bessel_ufuncs(m);
  fs::bind::register_kron_core(m);
  fs::bind::register_spectral_core(m);
}
