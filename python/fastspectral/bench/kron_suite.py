"""Benchmark suite for fastspectral.kron: (A_1 ⊗ ... ⊗ A_d) x for a batch of M vectors.

Competitors, all in this process on identical inputs (float64):
  numpy_shuffle   GPyTorch/linear_operator's algorithm: per factor a reshape, one GEMM and a
                  transpose copy
  tensordot       a chain of numpy.tensordot contractions on the (M, n_1, ..., n_d) tensor
  gemm_equivalent numpy matmul of two s x s matrices with about the same flop count (the
                  machine's BLAS rate: a ceiling for "GEMM-class" code)

and, when torch imports, fastspectral.torch.kron_matvec against the same shuffle algorithm written
in torch with autograd for the backward (kernels "torch kron <shape> fwd+bwd" and "... forward";
see torch_cases).

Rates are GFLOP/s with flops = 2 M N sum(n_i) for square factors (for rectangular ones the flops
of the cheapest factor order).  Shapes follow the literature (FastKron, PPoPP 2024) scaled to a
2-core machine: M in {1, 16, 256} with 8^6, 16^4, 32^3, 64^3, 128^2 and rectangular 16 x 8
factors; M is cut so that one array stays <= 32 MiB (4 MiB with quick=True).

``cases_dicts(quick)`` returns dicts (name, params, flops, and zero-argument callables fastspectral,
numpy_shuffle, tensordot, gemm_equivalent); ``run_standalone()`` times them (median of
interleaved repeats) and prints a table.  For a fair NumPy rate run with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset (see the env notes): ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
python -m fastspectral.bench.kron_suite``.

On a machine shared with other busy processes, libgomp's default wait policy (spin, then
sleep) made parallel regions stall for whole 4 ms scheduler ticks; OMP_WAIT_POLICY=passive (or
active) removed the stalls.  Record which was used with the numbers.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np

from fastspectral.kron import kron_matvec

from ._harness import cpu_timer, torch_threads

SHAPES: list[tuple[str, list[tuple[int, int]]]] = [
    ("8^6", [(8, 8)] * 6),
    ("16^4", [(16, 16)] * 4),
    ("32^3", [(32, 32)] * 3),
    ("64^3", [(64, 64)] * 3),
    ("128^2", [(128, 128)] * 2),
    ("(16x8)^4", [(16, 8)] * 4),
]
BATCHES = (1, 16, 256)


def numpy_shuffle(factors: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The shuffle algorithm: last factor first, each a GEMM on (rest, n) then a transpose copy
    that rotates the new axis to the front."""
    B = x.shape[0]
    y = x
    for A in factors[::-1]:
        m, n = A.shape
        y = (y.reshape(-1, n) @ A.T).reshape(B, -1, m).transpose(0, 2, 1).copy()
    return y.reshape(B, -1)


def tensordot_chain(factors: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    B = x.shape[0]
    X = x.reshape((B,) + tuple(A.shape[1] for A in factors))
    for A in factors:
        # contract the oldest factor axis (always axis 1); its output axis goes last, so after
        # d steps the axes are back in order
        X = np.tensordot(X, A, axes=([1], [1]))
    return X.reshape(B, -1)


def kron_flops(M: int, shapes: list[tuple[int, int]]) -> int:
    if all(m == n for m, n in shapes):
        N = math.prod(n for _, n in shapes)
        return 2 * M * N * sum(n for _, n in shapes)
    # cheapest order: shrinking factors first, growing last
    dims = [n for _, n in shapes]
    order = sorted(range(len(shapes)), key=lambda i: shapes[i][0] / shapes[i][1])
    total = 0
    for i in order:
        m, n = shapes[i]
        total += 2 * M * m * math.prod(dims)
        dims[i] = m
    return total


def cases_dicts(quick: bool) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    cap = (1 << 19) if quick else (1 << 22)  # elements per array: 4 MiB / 32 MiB of float64
    batches = (1, 16) if quick else BATCHES
    out = []
    for label, shapes in SHAPES:
        N_in = math.prod(n for _, n in shapes)
        N_out = math.prod(m for m, _ in shapes)
        seen = set()
        for M0 in batches:
            M = max(1, min(M0, cap // max(N_in, N_out)))
            if M in seen:
                continue
            seen.add(M)
            factors = [rng.standard_normal(s) for s in shapes]
            x = rng.standard_normal((M, N_in))
            flops = kron_flops(M, shapes)
            s = max(32, int(round((flops / 2) ** (1 / 3))))
            ga, gb = rng.standard_normal((s, s)), rng.standard_normal((s, s))
            out.append({
                "name": f"kron {label} M={M}",
                "params": {"shape": label, "M": M, "requested_M": M0, "N": N_in,
                           "dtype": "float64", "gemm_size": s},
                "flops": flops,
                "gemm_flops": 2 * s ** 3,
                "fastspectral": (lambda f=factors, x=x: kron_matvec(f, x)),
                "numpy_shuffle": (lambda f=factors, x=x: numpy_shuffle(f, x)),
                "tensordot": (lambda f=factors, x=x: tensordot_chain(f, x)),
                "gemm_equivalent": (lambda a=ga, b=gb: a @ b),
            })
    return out


COMPETITORS = ("numpy_shuffle", "tensordot", "gemm_equivalent")


def time_case(case: dict[str, Any], repeats: int = 7, budget_s: float = 20.0) -> dict[str, Any]:
    """Median (and min) seconds of interleaved repeats for every implementation of a case."""
    names = ("fastspectral",) + COMPETITORS
    fns: dict[str, Callable[[], Any]] = {k: case[k] for k in names}
    ref = fns["numpy_shuffle"]()
    got = fns["fastspectral"]()
    err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-300))
    for k in names:  # warm up (thread pools, page faults)
        fns[k]()
    times: dict[str, list[float]] = {k: [] for k in names}
    t_start = time.perf_counter()
    for r in range(repeats):
        for k in names:
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
        if r >= 2 and time.perf_counter() - t_start > budget_s:
            break
    res = {"name": case["name"], "params": case["params"], "rel_err_vs_shuffle": err}
    for k in names:
        fl = case["gemm_flops"] if k == "gemm_equivalent" else case["flops"]
        med, mn = float(np.median(times[k])), float(np.min(times[k]))
        res[k] = {"median_s": med, "min_s": mn, "gflops": fl / med / 1e9,
                  "gflops_best": fl / mn / 1e9, "repeats": len(times[k])}
    fs = res["fastspectral"]["gflops"]
    res["ratio_vs_shuffle"] = fs / res["numpy_shuffle"]["gflops"]
    res["ratio_vs_tensordot"] = fs / res["tensordot"]["gflops"]
    res["fraction_of_gemm_rate"] = fs / res["gemm_equivalent"]["gflops"]
    return res


def run_standalone(quick: bool = False) -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
        blas = [(i.get("internal_api"), i.get("architecture"), i.get("num_threads"))
                for i in threadpool_info()]
    except Exception:  # pragma: no cover
        blas = []
    import os
    print(f"# fastspectral kron bench (float64), BLAS: {blas}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print(f"{'case':24s} {'fs GF/s':>9s} {'shuffle':>9s} {'tensordot':>9s} {'gemm':>9s}"
          f" {'x shuffle':>9s} {'x tdot':>7s} {'%gemm':>6s} {'fs best':>8s}  err")
    results = []
    for case in cases_dicts(quick):
        r = time_case(case, repeats=5 if quick else 7)
        results.append(r)
        print(f"{r['name']:24s} {r['fastspectral']['gflops']:9.2f} "
              f"{r['numpy_shuffle']['gflops']:9.2f} {r['tensordot']['gflops']:9.2f} "
              f"{r['gemm_equivalent']['gflops']:9.2f} {r['ratio_vs_shuffle']:9.1f} "
              f"{r['ratio_vs_tensordot']:7.1f} {100 * r['fraction_of_gemm_rate']:5.0f}% "
              f"{r['fastspectral']['gflops_best']:8.2f}  {r['rel_err_vs_shuffle']:.0e}",
              flush=True)
    return results


# --------------------------------------------------------------------------- harness interface
NAME = "kron"
DESCRIPTION = "Kronecker matrix-vector products (A_1 x ... x A_d) x vs NumPy shuffle, tensordot, GEMM"
NOTE = ("Competitors use NumPy's BLAS limited to the same thread count as fastspectral. "
        "ratio = competitor time / fastspectral time; for 'gemm rate' the competitor is a square "
        "matmul of about the same flop count, so the ratio is our rate / the BLAS rate. "
        "flops = 2 M N sum(n_i) (square factors). GPU cases: the shuffle and tensordot on cupy "
        "(cuBLAS), and a device copy of one read of x plus one write of y (ratio = our fraction "
        "of the memory-bandwidth bound). 'torch kron' cases: fastspectral.torch.kron_matvec vs the "
        "shuffle in torch (backward by autograd), torch threads = ours; fwd+bwd = y, dL/dx and "
        "dL/dA_k for every factor from a fixed upstream gradient, nominal flops 3x the "
        "product's; rel_* = max relative difference of y and of each gradient.")

_COMPETITOR_LABELS = {"numpy_shuffle": "numpy shuffle", "tensordot": "numpy tensordot",
                      "gemm_equivalent": "gemm rate"}


def _harness_cases(dcase: dict[str, Any], threads: int, n_cases: list[Any]) -> None:
    from . import Case, Prepared

    def metrics(ours: Any, theirs: Any) -> dict[str, float]:
        return {}

    for comp in COMPETITORS:
        params = dict(dcase["params"], flops=dcase["flops"])
        if comp == "gemm_equivalent":
            params["competitor_flops"] = dcase["gemm_flops"]

        def prepare(d=dcase, comp=comp) -> Prepared:
            ours, theirs = d["fastspectral"], d[comp]
            if comp == "gemm_equivalent":
                # same amount of work: scale the GEMM time to our flop count
                scale = d["flops"] / d["gemm_flops"]
                return Prepared(ours=ours, theirs=theirs,
                                theirs_timer=lambda fn, number, s=scale: cpu_timer(fn, number) * s)
            return Prepared(ours=ours, theirs=theirs)

        if comp == "gemm_equivalent":
            params["competitor_flops"] = dcase["flops"]  # time already scaled to our flops
        n_cases.append(Case(suite=NAME, kernel=f"kron {dcase['params']['shape']}",
                            competitor=_COMPETITOR_LABELS[comp],
                            input=f"M={dcase['params']['M']}", n=dcase["params"]["M"] * dcase["params"]["N"],
                            dtype="f64", threads=threads, competitor_threads=threads,
                            prepare=prepare, params=params))


# GPU: the same shapes with the batch up to 256 and arrays up to 2^26 elements (512 MiB of f64).
_GPU_COMPETITORS = ("cupy shuffle", "cupy tensordot", "one-pass copy")


def _gpu_cases(quick: bool, dtype: str, seed: int) -> list[Any]:
    """fastspectral on cupy vs the shuffle algorithm and a tensordot chain on cupy (cuBLAS), and
    vs a device copy moving the bytes of one read of x plus one write of y: the least time of any
    algorithm, so that ratio is our fraction of the memory-bandwidth bound (it can pass 1 only
    when the data stay in the 50 MB L2 cache between repeats)."""
    from . import Case, Prepared
    from ._harness import cupy_timer

    cap = (1 << 20) if quick else (1 << 26)
    batches = (1, 16) if quick else BATCHES
    out: list[Any] = []
    for label, shapes in SHAPES:
        N_in = math.prod(n for _, n in shapes)
        N_out = math.prod(m for m, _ in shapes)
        seen: set[int] = set()
        for M0 in batches:
            M = max(1, min(M0, cap // max(N_in, N_out)))
            if M in seen:
                continue
            seen.add(M)
            flops = kron_flops(M, shapes)
            params = {"shape": label, "M": M, "requested_M": M0, "N": N_in, "flops": flops,
                      "bytes_one_pass": (M * (N_in + N_out)) * np.dtype(dtype).itemsize}
            for comp in _GPU_COMPETITORS:
                def prepare(shapes=shapes, M=M, comp=comp, N_in=N_in, N_out=N_out) -> Prepared:
                    import cupy

                    rng = np.random.default_rng(seed)
                    fac = [cupy.asarray(rng.standard_normal(s).astype(dtype)) for s in shapes]
                    x = cupy.asarray(rng.standard_normal((M, N_in)).astype(dtype))
                    if comp == "cupy shuffle":
                        theirs = lambda: numpy_shuffle(fac, x)  # noqa: E731 (same code, cupy arrays)
                    elif comp == "cupy tensordot":
                        theirs = lambda: tensordot_chain(fac, x)  # noqa: E731
                    else:
                        src = cupy.asarray(rng.standard_normal(M * max(N_in, N_out)).astype(dtype))
                        dst = cupy.empty_like(src)
                        half = (M * (N_in + N_out) + 1) // 2  # elements read = elements written

                        def theirs(src=src[:half], dst=dst[:half]):
                            dst[...] = src

                    def metrics(ours_out: Any, theirs_out: Any, comp=comp) -> dict[str, float]:
                        if comp == "one-pass copy":
                            return {}
                        ref = cupy.asnumpy(theirs_out).astype(np.float64)
                        got = cupy.asnumpy(ours_out).astype(np.float64)
                        return {"rel_err_vs_competitor":
                                float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-300))}

                    return Prepared(ours=lambda: kron_matvec(fac, x), theirs=theirs,
                                    ours_timer=cupy_timer, theirs_timer=cupy_timer, metrics=metrics)

                out.append(Case(suite=NAME, kernel=f"kron {label}", competitor=comp,
                                input=f"M={M}", n=M * N_in, dtype="f64" if dtype == "float64" else "f32",
                                threads=None, competitor_threads=None, prepare=prepare,
                                device="gpu", competitor_device="gpu", params=dict(params)))
    return out


def cases(config: Any) -> list[Any]:
    """Harness entry point: every shape x batch x competitor, for each thread count; GPU cases
    (float64 and float32) when a device and cupy are present; then the torch front-end cases
    (:func:`torch_cases`) when torch imports."""
    out: list[Any] = []
    if config.device in ("cpu", "all"):
        dcases = cases_dicts(config.quick or config.size_scale < 1)
        for threads in config.threads:
            for d in dcases:
                _harness_cases(d, threads, out)
    if config.device in ("gpu", "all"):
        from ._harness import gpu_available
        if gpu_available():
            for dtype in ("float64", "float32"):
                out += _gpu_cases(config.quick or config.size_scale < 1, dtype, config.seed)
    out += torch_cases(config)
    return out


# --------------------------------------------------------------------------- torch front end
# fastspectral.torch.kron_matvec (C++ kernels on the tensors' memory, backward = Kronecker
# products + one contraction per factor) against what torch users run today: the shuffle
# algorithm written in torch, as linear_operator's KroneckerProductLinearOperator._matmul does
# it (vectors as columns), with torch autograd for the backward.  Each side gets the same
# vectors in its own layout: ours x (M, N), theirs x^T (N, M), made before timing.  Two kernels
# per input:
#   "fwd+bwd"  y = kron(factors) x, then dL/dx and dL/dA_k for every factor from a fixed
#              upstream gradient g (torch.autograd.grad(y, [x, A_1, ..., A_d], g)): x and all
#              factors require grad
#   "forward"  the product alone under torch.no_grad()
# torch's intra-op threads = fastspectral's thread count, set around each timed block and
# restored after it.  Metrics: max |ours - theirs| / max |theirs| of y and of every gradient.
# The nominal flop count of fwd+bwd is 3 x the product's (forward, dx, and the factor
# gradients each cost about one product in the shuffle algorithm).

TORCH_KINDS = ("fwd+bwd", "forward")


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_shuffle(factors: list[Any], xc: Any) -> Any:
    """The shuffle algorithm on torch tensors in linear_operator's orientation: xc holds the
    vectors as columns, (prod n_i, t) -> (prod m_i, t); first factor first, per factor a
    reshape to (n, rest), A @ that, and a transpose of (m, rest / t, t) to (rest / t, m, t)
    made contiguous.  Differentiable through torch autograd."""
    t = xc.shape[-1]
    res = xc
    for A in factors:
        m, n = A.shape
        res = (A @ res.reshape(n, -1)).reshape(m, -1, t).transpose(0, 1).reshape(-1, t)
    return res


def _torch_cpu_timer(torch: Any, threads: int) -> Any:
    """cpu_timer with torch's thread count set (outside the timed loop) and restored."""
    def timer(fn: Callable[[], Any], number: int) -> float:
        with torch_threads(threads):
            return cpu_timer(fn, number)
    return timer


def _torch_cuda_timer(fn: Callable[[], Any], number: int) -> float:
    """Device time per call, from CUDA events on torch's current stream (the stream
    fastspectral.torch launches its kernels on)."""
    import torch

    stream = torch.cuda.current_stream()
    stream.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record(stream)
    for _ in range(number):
        fn()
    end.record(stream)
    end.synchronize()
    return start.elapsed_time(end) * 1e-3 / number


def _torch_rel(a: Any, b: Any) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).abs().max() / max(float(b.abs().max()), 1e-300))


def _torch_prepare(shapes: list[tuple[int, int]], M: int, kind: str, device: str, dtype: str,
                   seed: int, threads: int | None) -> Any:
    """Inputs on `device` and the two closures of one torch case (see the block comment)."""
    from . import Prepared

    torch = _torch()
    import fastspectral.torch as ft

    rng = np.random.default_rng(seed)
    grad = kind == "fwd+bwd"
    tdtype = getattr(torch, dtype)

    def tensor(shape: tuple[int, ...], leaf: bool) -> Any:
        return torch.tensor(rng.standard_normal(shape), dtype=tdtype, device=device,
                            requires_grad=leaf)

    fac = [tensor(s, grad) for s in shapes]
    x = tensor((M, math.prod(n for _, n in shapes)), grad)
    # the competitor gets the same vectors as columns, its native layout (no transpose timed)
    xc = x.detach().mT.contiguous().requires_grad_(grad)
    if grad:
        g = tensor((M, math.prod(m for m, _ in shapes)), False)
        gc = g.mT.contiguous()

        def ours() -> tuple[Any, ...]:
            y = ft.kron_matvec(fac, x)
            return (y.detach(), *torch.autograd.grad(y, [x, *fac], g))

        def theirs() -> tuple[Any, ...]:
            y = torch_shuffle(fac, xc)
            dxc, *dfac = torch.autograd.grad(y, [xc, *fac], gc)
            return (y.detach().mT, dxc.mT, *dfac)
        names = ["y", "dx"] + [f"dA{k + 1}" for k in range(len(fac))]
    else:
        def ours() -> tuple[Any, ...]:
            with torch.no_grad():
                return (ft.kron_matvec(fac, x),)

        def theirs() -> tuple[Any, ...]:
            with torch.no_grad():
                return (torch_shuffle(fac, xc).mT,)
        names = ["y"]

    def metrics(a: tuple[Any, ...], b: tuple[Any, ...]) -> dict[str, float]:
        return {f"rel_{k}": _torch_rel(p, q) for k, p, q in zip(names, a, b, strict=True)}

    timer = _torch_cuda_timer if device == "cuda" else _torch_cpu_timer(torch, threads)
    return Prepared(ours=ours, theirs=theirs, ours_timer=timer, theirs_timer=timer,
                    metrics=metrics)


def _torch_inputs(quick: bool, gpu: bool) -> list[tuple[str, list[tuple[int, int]], int, int]]:
    """(label, shapes, M, requested M) with the CPU (or GPU) cases' size cut."""
    if gpu:
        cap = (1 << 20) if quick else (1 << 26)
    else:
        cap = (1 << 19) if quick else (1 << 22)
    batches = (1, 16) if quick else BATCHES
    out = []
    for label, shapes in SHAPES:
        N = max(math.prod(n for _, n in shapes), math.prod(m for m, _ in shapes))
        seen: set[int] = set()
        for M0 in batches:
            M = max(1, min(M0, cap // N))
            if M not in seen:
                seen.add(M)
                out.append((label, shapes, M, M0))
    return out


def torch_cases(config: Any) -> list[Any]:
    """fastspectral.torch.kron_matvec vs the torch shuffle (forward, and forward + backward by
    autograd), float64 on the CPU for each thread count; float64 and float32 CUDA tensors when
    the GPU cases run and torch sees a CUDA device.  Empty when torch does not import."""
    from . import Case

    torch = _torch()
    if torch is None:
        return []
    quick = config.quick or config.size_scale < 1
    tv = torch.__version__.split("+")[0]
    competitor = {"fwd+bwd": f"torch {tv} shuffle + autograd", "forward": f"torch {tv} shuffle"}
    out: list[Any] = []

    def add(label: str, shapes: list[tuple[int, int]], M: int, M0: int, kind: str, device: str,
            dtype: str, threads: int | None) -> None:
        N_in = math.prod(n for _, n in shapes)
        flops = kron_flops(M, shapes) * (3 if kind == "fwd+bwd" else 1)
        params = {"shape": label, "M": M, "requested_M": M0, "N": N_in, "dtype": dtype,
                  "kind": kind, "flops": flops, "torch": torch.__version__}
        out.append(Case(suite=NAME, kernel=f"torch kron {label} {kind}",
                        competitor=competitor[kind], input=f"M={M}", n=M * N_in,
                        dtype="f64" if dtype == "float64" else "f32", threads=threads,
                        competitor_threads=threads,
                        prepare=lambda: _torch_prepare(shapes, M, kind, device, dtype,
                                                       config.seed, threads),
                        device="gpu" if device == "cuda" else "cpu",
                        competitor_device="gpu" if device == "cuda" else "cpu",
                        params=params))

    if config.device in ("cpu", "all"):
        for threads in config.threads:
            for label, shapes, M, M0 in _torch_inputs(quick, gpu=False):
                for kind in TORCH_KINDS:
                    add(label, shapes, M, M0, kind, "cpu", "float64", threads)
    if config.device in ("gpu", "all"):
        from ._harness import gpu_available
        if gpu_available() and torch.cuda.is_available():
            for dtype in ("float64", "float32"):
                for label, shapes, M, M0 in _torch_inputs(quick, gpu=True):
                    for kind in TORCH_KINDS:
                        add(label, shapes, M, M0, kind, "cuda", dtype, None)
    return out


if __name__ == "__main__":
    import sys
    run_standalone(quick="--quick" in sys.argv)
