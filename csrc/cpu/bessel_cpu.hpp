// CPU loops for the Bessel family: one function per (name, dtype), declared from the list.
#pragma once

#include "cpu/elementwise.hpp"
#include "fastspectral/bessel_list.hpp"

namespace fs {
namespace cpu {

#define FS_DECLARE_BINARY(name, doc)   \
  void name##_f32(const Strided2& s); \
  void name##_f64(const Strided2& s);
#define FS_DECLARE_UNARY(name, doc)    \
  void name##_f32(const Strided1& s); \
  void name##_f64(const Strided1& s);
FS_BESSEL_BINARY_FUNCTIONS(FS_DECLARE_BINARY)
FS_BESSEL_UNARY_FUNCTIONS(FS_DECLARE_UNARY)
#define FS_DECLARE_SCALAR(name, doc)          \
  void scalar_##name##_f32(const Strided2& s); \
  void scalar_##name##_f64(const Strided2& s);
FS_BESSEL_BATCHED_FUNCTIONS(FS_DECLARE_SCALAR)
#undef FS_DECLARE_SCALAR
#undef FS_DECLARE_BINARY
#undef FS_DECLARE_UNARY

}  // namespace cpu
}  // namespace fs
