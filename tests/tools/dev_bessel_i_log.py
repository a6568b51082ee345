"""Dev checks for the region-batched CPU loops of log_iv / log_ive (csrc/cpu/bessel_cpu.cpp).

1. log_pos (the branch-free log) against long double logl on 4e6 random normal doubles:
   max error in ulps (compiles a tiny harness with g++ that includes bessel_cpu.cpp).
2. Batched results do not depend on the neighbours: the same points shuffled, strided, one at a
   time (tiny blocks) give bit-identical values.
Run after a dev build: PYTHONPATH=python python3 tests/tools/dev_bessel_i_log.py"""
import os
import subprocess
import tempfile

import numpy as np

import fastspectral._core as core

HARNESS = r"""
#include "cpu/bessel_cpu.cpp"
#include <cmath>
#include <cstdio>
#include <random>
int main() {
  std::mt19937_64 g(1);
  std::uniform_real_distribution<double> e(-1020.0, 1020.0), u(0.5, 2.0);
  double worst = 0, at = 0;
  static double ys[1 << 16], ls[1 << 16];
  for (int rep = 0; rep < 64; ++rep) {
    for (int i = 0; i < (1 << 16); ++i) ys[i] = rep < 8 ? u(g) : std::exp2(e(g));
    for (int i = 0; i < (1 << 16); ++i) ls[i] = fs::cpu::log_pos(ys[i]);
    for (int i = 0; i < (1 << 16); ++i) {
      const long double ref = logl((long double)ys[i]);
      if (ref == 0) continue;
      const double ulp = std::nextafter(std::fabs((double)ref), INFINITY) - std::fabs((double)ref);
      const double err = (double)std::fabs((long double)ls[i] - ref) / ulp;
      if (err > worst) { worst = err; at = ys[i]; }
    }
  }
  std::printf("log_pos: max error %.3f ulp at %.17g\n", worst, at);
}
"""

root = os.path.join(os.path.dirname(__file__), "..", "..")
with tempfile.TemporaryDirectory() as d:
    src, exe = os.path.join(d, "h.cpp"), os.path.join(d, "h")
    open(src, "w").write(HARNESS)
    # log_pos sits in an anonymous namespace of the included .cpp: visible in this translation unit
    subprocess.run(["g++", "-std=c++20", "-O2", "-march=native", "-fno-math-errno",
                    "-I", os.path.join(root, "csrc/include"), "-I", os.path.join(root, "csrc"),
                    src, "-o", exe], check=True)
    print(subprocess.run([exe], capture_output=True, text=True, check=True).stdout.strip())

rng = np.random.default_rng(3)
n = 100_003
v = 10 ** rng.uniform(-3, 5, n)
x = 10 ** rng.uniform(-8, 6, n)
v[::97] = -v[::97]  # negative orders (scalar fallback) mixed in
for name in ["log_iv", "log_ive"]:
    f = getattr(core, name)
    with np.errstate(all="ignore"):
        base = f(v, x)
        p = rng.permutation(n)
        shuffled = np.empty(n)
        shuffled[p] = f(v[p], x[p])
        vs, xs = np.repeat(v, 2)[::2], np.repeat(x, 3)[::3]
        strided = f(vs, xs)
        one = np.array([f(v[i], x[i]) for i in range(0, n, 101)])
    same = lambda a, b: np.array_equal(a, b, equal_nan=True)
    print(f"{name}: shuffled {same(base, shuffled)}  strided {same(base, strided)}"
          f"  one-at-a-time {same(base[::101], one)}")
