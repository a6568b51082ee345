#pragma once

#include <nanobind/nanobind.h>

namespace fs {
namespace bind {

// Adds one NumPy ufunc per Bessel function (see fastspectral/bessel_list.hpp) to `m`.
void register_bessel_ufuncs(nanobind::module_& m);

}  // namespace bind
}  // namespace fs
