#pragma once

#include <nanobind/nanobind.h>

namespace fs {
namespace bind {

// fastspectral._core: spectral_mix / spectral_weight_grad (CPU contraction kernels).
void register_spectral_core(nanobind::module_& m);

// fastspectral._cuda: the same two kernels on device arrays (spectral_cuda_bind.cpp).
void register_spectral_cuda(nanobind::module_& m);

}  // namespace bind
}  // namespace fs
