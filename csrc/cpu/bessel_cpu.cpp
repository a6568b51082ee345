#include "cpu/bessel_cpu.hpp"

#include "fastspectral/bessel.hpp"

namespace fs {
namespace cpu {

#define FS_DEFINE_BINARY(name, doc)                                                        \
  void name##_f32(const Strided2& s) { map2<float>(s, [](float v, float x) { return fs::name<float>(v, x); }); } \
  void name##_f64(const Strided2& s) { map2<double>(s, [](double v, double x) { return fs::name<double>(v, x); }); }
#define FS_DEFINE_UNARY(name, doc)                                                         \
  void name##_f32(const Strided1& s) { map1<float>(s, [](float x) { return fs::name<float>(x); }); } \
  void name##_f64(const Strided1& s) { map1<double>(s, [](double x) { return fs::name<double>(x); }); }
FS_BESSEL_BINARY_FUNCTIONS(FS_DEFINE_BINARY)
FS_BESSEL_UNARY_FUNCTIONS(FS_DEFINE_UNARY)
#undef FS_DEFINE_BINARY
#undef FS_DEFINE_UNARY

}  // namespace cpu
}  // namespace fs
