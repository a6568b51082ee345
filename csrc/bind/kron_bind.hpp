#pragma once

#include <nanobind/nanobind.h>

namespace fs {
namespace bind {

// fastspectral._core: kron_apply (CPU) and its tuning hooks.
void register_kron_core(nanobind::module_& m);
// fastspectral._cuda: kron_fused (GPU); defined only in the CUDA module's build.
void register_kron_cuda(nanobind::module_& m);

}  // namespace bind
}  // namespace fs
