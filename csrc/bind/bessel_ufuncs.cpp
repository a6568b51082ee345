// Real NumPy ufuncs for the Bessel family: broadcasting, out=, where=, casting and
// __array_ufunc__ dispatch (dask, xarray) come from NumPy itself.  NumPy releases the GIL
// around these loops (they touch no Python objects).
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_2_0_API_VERSION
#include <numpy/ndarraytypes.h>
#include <numpy/ufuncobject.h>

#include <nanobind/nanobind.h>

#include "bind/ufuncs.hpp"
#include "cpu/bessel_cpu.hpp"

namespace nb = nanobind;

namespace {

template <void (*K)(const fs::cpu::Strided2&)>
void loop2(char** args, const npy_intp* dims, const npy_intp* steps, void*) {
  K({args[0], steps[0], args[1], steps[1], args[2], steps[2], dims[0]});
}

template <void (*K)(const fs::cpu::Strided1&)>
void loop1(char** args, const npy_intp* dims, const npy_intp* steps, void*) {
  K({args[0], steps[0], args[1], steps[1], dims[0]});
}

// NumPy keeps these pointers for the lifetime of the ufunc: static storage.
char types2[] = {NPY_FLOAT, NPY_FLOAT, NPY_FLOAT, NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE};
char types1[] = {NPY_FLOAT, NPY_FLOAT, NPY_DOUBLE, NPY_DOUBLE};
void* no_data[2] = {nullptr, nullptr};

#define FS_LOOPS_BINARY(name, doc) \
  PyUFuncGenericFunction name##_loops[2] = {&loop2<fs::cpu::name##_f32>, &loop2<fs::cpu::name##_f64>};
#define FS_LOOPS_UNARY(name, doc) \
  PyUFuncGenericFunction name##_loops[2] = {&loop1<fs::cpu::name##_f32>, &loop1<fs::cpu::name##_f64>};
FS_BESSEL_BINARY_FUNCTIONS(FS_LOOPS_BINARY)
FS_BESSEL_UNARY_FUNCTIONS(FS_LOOPS_UNARY)
#define FS_LOOPS_SCALAR(name, doc)                                                   \
  PyUFuncGenericFunction scalar_##name##_loops[2] = {&loop2<fs::cpu::scalar_##name##_f32>, \
                                                     &loop2<fs::cpu::scalar_##name##_f64>};
FS_BESSEL_BATCHED_FUNCTIONS(FS_LOOPS_SCALAR)
#undef FS_LOOPS_SCALAR
#undef FS_LOOPS_BINARY
#undef FS_LOOPS_UNARY

void add_ufunc(nb::module_& m, const char* name, PyUFuncGenericFunction* loops, char* types,
               int nin, const char* doc) {
  PyObject* uf = PyUFunc_FromFuncAndData(loops, no_data, types, 2, nin, 1, PyUFunc_None, name,
                                         doc, 0);
  if (!uf) throw nb::python_error();
  m.attr(name) = nb::steal(uf);
}

}  // namespace

namespace fs {
namespace bind {

void register_bessel_ufuncs(nb::module_& m) {
  if (_import_array() < 0 || _import_umath() < 0) throw nb::python_error();
#define FS_ADD_BINARY(name, doc) add_ufunc(m, #name, name##_loops, types2, 2, doc);
#define FS_ADD_UNARY(name, doc) add_ufunc(m, #name, name##_loops, types1, 1, doc);
  FS_BESSEL_BINARY_FUNCTIONS(FS_ADD_BINARY)
  FS_BESSEL_UNARY_FUNCTIONS(FS_ADD_UNARY)
#define FS_ADD_SCALAR(name, doc) add_ufunc(m, "_scalar_" #name, scalar_##name##_loops, types2, 2, doc);
  FS_BESSEL_BATCHED_FUNCTIONS(FS_ADD_SCALAR)
#undef FS_ADD_SCALAR
#undef FS_ADD_BINARY
#undef FS_ADD_UNARY
}

}  // namespace bind
}  // namespace fs
