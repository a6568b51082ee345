// Fused Kronecker tile: apply a group of consecutive small factors to one tile of the tensor in
// on-chip memory, so the group costs one read and one write of the data instead of one per factor
// (the FastKron idea).  The tensor is viewed as (L, n_0, ..., n_{k-1}, R); a tile is G values of l
// times Rt values of r, with every n axis whole, so the mode products never leave the tile.
//
// The phases below are written as strided loops over a "thread id" so that the same code runs
// as a CUDA block (tid = threadIdx.x, separated by __syncthreads) and, for the CPU tests, as a
// plain sequential loop (tid = 0, nthreads = 1).  Each phase only reads what the previous phase
// wrote, so the sequential run computes exactly what the block computes.
#pragma once

#include <cstdint>

#include "fastspectral/config.hpp"

namespace fs {
namespace kron_tile {

constexpr int kMaxAxes = 8;
constexpr int kLoadBatch = 8;

#if defined(__CUDACC__)
#define FS_KRON_UNROLL _Pragma("unroll")
#else
#define FS_KRON_UNROLL
#endif

// Digits (o, i, c) of e = (o * mid + i) * inner + c, stepped by a fixed stride without integer
// division (a division costs tens of instructions on a GPU, more than the arithmetic it indexes).
struct Digits3 {
  int o, i, c;
  int so, si, sc;  // the stride's digits
  int mid, inner;
  FS_HOST_DEVICE Digits3(int start, int stride, int mid_, int inner_) : mid(mid_), inner(inner_) {
    c = start % inner;
    i = (start / inner) % mid;
    o = start / inner / mid;
    sc = stride % inner;
    si = (stride / inner) % mid;
    so = stride / inner / mid;
  }
  FS_HOST_DEVICE void advance() {
    c += sc;
    const int carry_c = c >= inner;
    c -= carry_c * inner;
    i += si + carry_c;
    const int carry_i = i >= mid;
    i -= carry_i * mid;
    o += so + carry_i;
  }
};

// One group of consecutive axes.  A[a] == nullptr marks an identity axis (m == n, skipped).
// Tile buffer layout: (G, d_0, ..., d_{k-1}, Rt), d_a = n_a before its factor is applied, m_a after.
template <class T>
struct Group {
  const T* A[kMaxAxes];
  std::int64_t rs[kMaxAxes], cs[kMaxAxes];  // element strides of A (transpose = swapped)
  int m[kMaxAxes], n[kMaxAxes];
  int a_off[kMaxAxes];   // offset of factor a's copy in the shared factor area
  int order[kMaxAxes];   // application order (shrinking factors first), identities excluded
  int k;                 // number of axes
  int steps;             // number of non-identity factors
  int a_total;           // elements of the shared factor area
  int p_in, p_out;       // prod n, prod m
  int G, Rt;             // tile extent in l and r
  int buf;               // capacity of each of the two tile buffers, in elements
  std::int64_t L, R;     // the tensor's outer and inner extents
  std::int64_t tiles_r;  // number of tiles along r: ceil(R / Rt)
  int variant;           // 0: one thread per output element; 1: register-blocked (default)
};

// Elements of shared memory the group needs: factor area + two buffers.
template <class T>
FS_HOST_DEVICE inline std::int64_t shared_elems(const Group<T>& g) {
  return std::int64_t(g.a_total) + 2 * std::int64_t(g.buf);
}

template <class T>
FS_HOST_DEVICE inline std::int64_t tile_count(const Group<T>& g) {
  return ((g.L + g.G - 1) / g.G) * g.tiles_r;
}

// Phase 1: copy the factors (transposed: n x m) and the input tile into shared memory.  Tile
// elements outside the tensor (a partial last tile) are zero so that no garbage is computed on.
template <class T>
FS_HOST_DEVICE inline void load(const Group<T>& g, T* smem, const T* src, std::int64_t tile,
                                int tid, int nthreads) {
  for (int a = 0; a < g.k; ++a) {
    if (g.A[a] == nullptr) continue;
    const int m = g.m[a], n = g.n[a];
    T* dst = smem + g.a_off[a];
    // stored transposed (b-major): in the apply loop the threads of a warp take consecutive i
    // when the axis is innermost, and then read consecutive words instead of one bank
    for (int e = tid; e < m * n; e += nthreads) {
      const int b = e / m, i = e - b * m;
      dst[e] = g.A[a][i * g.rs[a] + b * g.cs[a]];
    }
  }
  T* buf = smem + g.a_total;
  const std::int64_t l0 = (tile / g.tiles_r) * g.G;
  const std::int64_t r0 = (tile % g.tiles_r) * g.Rt;
  const int size = g.G * g.p_in * g.Rt;
  // kLoadBatch global loads are issued before the first is used, so that a thread has several
  // in flight instead of waiting out the memory latency once per element
  Digits3 d(tid, nthreads, g.p_in, g.Rt);
  for (int e = tid; e < size; e += kLoadBatch * nthreads) {
    T v[kLoadBatch];
    FS_KRON_UNROLL
    for (int u = 0; u < kLoadBatch; ++u) {
      const std::int64_t l = l0 + d.o, rr = r0 + d.c;
      v[u] = (e + u * nthreads < size && l < g.L && rr < g.R)
                 ? src[(l * g.p_in + d.i) * g.R + rr] : T(0);
      d.advance();
    }
    FS_KRON_UNROLL
    for (int u = 0; u < kLoadBatch; ++u)
      if (e + u * nthreads < size) buf[e + u * nthreads] = v[u];
  }
}

// Tile extents (outer, n, inner) around the axis of step s, with the factors of steps < s applied.
template <class T>
FS_HOST_DEVICE inline void step_extents(const Group<T>& g, int s, int& outer, int& inner) {
  const int axis = g.order[s];
  outer = g.G;
  inner = g.Rt;
  for (int a = 0; a < g.k; ++a) {
    if (a == axis) continue;
    bool applied = false;
    for (int q = 0; q < s; ++q) applied = applied || (g.order[q] == a);
    const int d = applied ? g.m[a] : g.n[a];
    if (a < axis) outer *= d; else inner *= d;
  }
}

// Phase 2 (once per step s = 0..steps-1): buffer s%2 -> buffer (s+1)%2, one mode product
// out(outer, m, inner) = A(m, n) applied to in(outer, n, inner).  Three ways to spread it over
// the threads; all read the factor from its transposed copy (a[b * m] = A[i, b]).
//
// Generic: a thread per output element, two shared-memory loads per multiply-add.
template <class T>
FS_HOST_DEVICE inline void apply_elements(const T* A, const T* in, T* out, int outer, int m,
                                          int n, int inner, int tid, int nthreads) {
  const int size = outer * m * inner;
  Digits3 d(tid, nthreads, m, inner);
  for (int e = tid; e < size; e += nthreads, d.advance()) {
    const T* a = A + d.i;
    const T* x = in + d.o * n * inner + d.c;
    T acc = T(0);
    for (int b = 0; b < n; ++b) acc = fs::math::fma(a[b * m], x[b * inner], acc);
    out[e] = acc;
  }
}

// Columns (inner >= a warp): a thread loads one input column into registers and writes all m
// outputs of it; the warp's threads read consecutive words of x, and the same word of A
// (a broadcast), so a multiply-add costs one load instead of two.
template <class T, int NB>
FS_HOST_DEVICE inline void apply_columns(const T* A, const T* in, T* out, int outer, int m,
                                         int n, int inner, int tid, int nthreads) {
  const int cols = outer * inner;
  Digits3 d(tid, nthreads, 1, inner);
  for (int col = tid; col < cols; col += nthreads, d.advance()) {
    const T* x = in + d.o * n * inner + d.c;
    T xv[NB];
    FS_KRON_UNROLL
    for (int b = 0; b < NB; ++b) xv[b] = b < n ? x[b * inner] : T(0);
    T* y = out + d.o * m * inner + d.c;
    for (int i = 0; i < m; ++i) {
      const T* a = A + i;
      T acc = T(0);
      FS_KRON_UNROLL
      for (int b = 0; b < NB; ++b)
        if (b < n) acc = fs::math::fma(a[b * m], xv[b], acc);
      y[i * inner] = acc;
    }
  }
}

// Rows (short inner axis, nthreads a multiple of m): a thread keeps row i of A in registers and
// walks columns; neighbouring threads take neighbouring rows, so they share the x word they read
// (a broadcast) and write consecutive outputs.
template <class T, int NB>
FS_HOST_DEVICE inline void apply_rows(const T* A, const T* in, T* out, int outer, int m, int n,
                                      int inner, int tid, int nthreads) {
  const int i = tid % m;
  const int cstride = nthreads / m;
  T a[NB];
  FS_KRON_UNROLL
  for (int b = 0; b < NB; ++b) a[b] = b < n ? A[b * m + i] : T(0);
  const int cols = outer * inner;
  const int col0 = tid / m;
  if (col0 >= cols) return;
  Digits3 d(col0, cstride, 1, inner);
  for (int col = col0; col < cols; col += cstride, d.advance()) {
    const T* x = in + d.o * n * inner + d.c;
    T acc = T(0);
    FS_KRON_UNROLL
    for (int b = 0; b < NB; ++b)
      if (b < n) acc = fs::math::fma(a[b], x[b * inner], acc);
    out[(d.o * m + i) * inner + d.c] = acc;
  }
}

template <class T, int NB>
FS_HOST_DEVICE inline void apply_blocked(const T* A, const T* in, T* out, int outer, int m, int n,
                                         int inner, int tid, int nthreads) {
  if (inner >= 32)
    apply_columns<T, NB>(A, in, out, outer, m, n, inner, tid, nthreads);
  else if (nthreads % m == 0)
    apply_rows<T, NB>(A, in, out, outer, m, n, inner, tid, nthreads);
  else
    apply_elements(A, in, out, outer, m, n, inner, tid, nthreads);
}

template <class T>
FS_HOST_DEVICE inline void apply(const Group<T>& g, T* smem, int s, int tid, int nthreads) {
  const int axis = g.order[s];
  const int m = g.m[axis], n = g.n[axis];
  const T* A = smem + g.a_off[axis];
  const T* in = smem + g.a_total + (s & 1) * g.buf;
  T* out = smem + g.a_total + ((s + 1) & 1) * g.buf;
  int outer, inner;
  step_extents(g, s, outer, inner);
  if (g.variant == 0 || n > 32)
    apply_elements(A, in, out, outer, m, n, inner, tid, nthreads);
  else if (n <= 4)
    apply_blocked<T, 4>(A, in, out, outer, m, n, inner, tid, nthreads);
  else if (n <= 8)
    apply_blocked<T, 8>(A, in, out, outer, m, n, inner, tid, nthreads);
  else if (n <= 16)
    apply_blocked<T, 16>(A, in, out, outer, m, n, inner, tid, nthreads);
  else
    apply_blocked<T, 32>(A, in, out, outer, m, n, inner, tid, nthreads);
}

// Phase 3: write the finished tile (G, p_out, Rt) to its final place in dst (L, p_out, R).
template <class T>
FS_HOST_DEVICE inline void store(const Group<T>& g, const T* smem, T* dst, std::int64_t tile,
                                 int tid, int nthreads) {
  const T* buf = smem + g.a_total + (g.steps & 1) * g.buf;
  const std::int64_t l0 = (tile / g.tiles_r) * g.G;
  const std::int64_t r0 = (tile % g.tiles_r) * g.Rt;
  const int size = g.G * g.p_out * g.Rt;
  Digits3 d(tid, nthreads, g.p_out, g.Rt);
  for (int e = tid; e < size; e += nthreads, d.advance()) {
    const std::int64_t l = l0 + d.o, rr = r0 + d.c;
    if (l < g.L && rr < g.R) dst[(l * g.p_out + d.i) * g.R + rr] = buf[e];
  }
}

// Host-side planning: fill the derived fields of a group whose A, strides, m, n, k, L and R are
// set, for a shared-memory budget of `budget` elements and a wanted tile size of `target`
// elements.  Returns false when even a one-element-wide tile does not fit (the caller then
// splits the group or uses a GEMM).
template <class T>
inline bool plan(Group<T>& g, std::int64_t budget, std::int64_t target) {
  if (g.k < 1 || g.k > kMaxAxes) return false;
  std::int64_t p_in = 1, p_out = 1, a_total = 0;
  g.steps = 0;
  for (int a = 0; a < g.k; ++a) {
    if (g.m[a] < 1 || g.n[a] < 1) return false;
    p_in *= g.n[a];
    p_out *= g.m[a];
    g.a_off[a] = int(a_total);
    if (g.A[a] != nullptr) {
      a_total += std::int64_t(g.m[a]) * g.n[a];
      g.order[g.steps++] = a;
    }
  }
  // shrinking factors first, then the rest: the largest intermediate is then max(p_in, p_out)
  for (int i = 1; i < g.steps; ++i)
    for (int j = i; j > 0; --j) {
      const int u = g.order[j - 1], v = g.order[j];
      if (double(g.m[v]) / g.n[v] < double(g.m[u]) / g.n[u]) {
        g.order[j - 1] = v;
        g.order[j] = u;
      } else {
        break;
      }
    }
  const std::int64_t pmax = p_in > p_out ? p_in : p_out;
  const std::int64_t room = (budget - a_total) / 2;  // per buffer
  if (room < pmax) return false;
  std::int64_t want = target > pmax ? target : pmax;
  if (want > room) want = room;
  std::int64_t width = want / pmax;  // tile elements per p: G * Rt
  std::int64_t Rt = g.R < width ? g.R : width;
  if (Rt < 1) Rt = 1;
  std::int64_t G = width / Rt;
  if (g.R > Rt) G = 1;  // tiles along r already; keep l whole per tile
  if (G > g.L) G = g.L > 0 ? g.L : 1;
  if (G < 1) G = 1;
  g.p_in = int(p_in);
  g.p_out = int(p_out);
  g.a_total = int(a_total);
  g.Rt = int(Rt);
  g.G = int(G);
  g.buf = int(G * Rt * pmax);
  g.tiles_r = (g.R + Rt - 1) / Rt;
  return true;
}

}  // namespace kron_tile
}  // namespace fs
