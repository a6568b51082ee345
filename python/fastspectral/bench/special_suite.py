"""The ``special`` suite: fastspectral's Bessel functions against ``scipy.special``.

What SciPy users write today is the competitor: ``log(ive(v, x)) + x`` for ``log_iv``,
``log(kve(v, x)) - x`` for ``log_kv``, and ``ive``/``kve`` themselves. Inputs:

``loguniform``  v log-uniform in [1e-3, 1e5], x log-uniform in [1e-8, 1e6] (fixed seed)
``vmf-p<P>``    the von Mises-Fisher regime: v = P/2 - 1, x log-uniform in [P/20, 20 P],
                P in {512, 2048, 8192, 32768}

each in float64 and float32, fastspectral on 1 thread and on all threads (SciPy's special
functions are single-threaded). The fixed-order functions i0, i0e, i1, i1e, k0, k0e, k1, k1e
run against ``scipy.special.<same name>`` on the ``loguniform`` x (the same x as the GPU
cases against cupyx). Besides the times, every case reports
``scipy_bad_fraction``: among the elements where our log is finite, the fraction where SciPy's
result is 0, inf or nan (its log is then useless) -- this, not only speed, is the point.

With a CUDA build, a visible GPU and cupy, GPU cases are added: the general-order functions
on the GPU against SciPy on one CPU thread (there is no GPU competitor), and i0/i0e/i1/i1e/
k0/k0e/k1/k1e against ``cupyx.scipy.special``.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import BenchConfig
from ._harness import Case, Prepared, cpu_timer, cupy_timer, gpu_available

NAME = "special"
DESCRIPTION = "Bessel family (log_iv, log_kv, ive, kve, ...) vs scipy.special"
NOTE = ("scipy.special is single-threaded: its column always ran on 1 thread "
        "(threads column: fastspectral/competitor). ratio = competitor time / fastspectral time.")

VMF_DIMS = (512, 2048, 8192, 32768)
DTYPES = {"f64": np.float64, "f32": np.float32}


@dataclass(frozen=True)
class Kernel:
    """A fastspectral function and the SciPy expression it replaces."""

    name: str
    competitor: str
    #: scipy.special module, v, x -> the competitor's result.
    scipy: Callable[[Any, Any, Any], Any]
    #: Our log-domain function whose finiteness says whether a finite answer exists.
    log_ref: str
    #: The result is a log (bad = not finite) rather than a value (bad = 0, inf or nan).
    log_output: bool


KERNELS = (
    Kernel("log_iv", "log(ive)+x", lambda sc, v, x: np.log(sc.ive(v, x)) + x, "log_iv", True),
    Kernel("log_kv", "log(kve)-x", lambda sc, v, x: np.log(sc.kve(v, x)) - x, "log_kv", True),
    Kernel("ive", "ive", lambda sc, v, x: sc.ive(v, x), "log_ive", False),
    Kernel("kve", "kve", lambda sc, v, x: sc.kve(v, x), "log_kve", False),
    Kernel("log_ive", "log(ive)", lambda sc, v, x: np.log(sc.ive(v, x)), "log_ive", True),
    Kernel("log_kve", "log(kve)", lambda sc, v, x: np.log(sc.kve(v, x)), "log_kve", True),
)

#: Fixed-order functions cupyx.scipy.special has: name -> (order, our log_ref).
ORDER01 = {"i0": (0, "log_iv"), "i0e": (0, "log_ive"), "i1": (1, "log_iv"),
           "i1e": (1, "log_ive"), "k0": (0, "log_kv"), "k0e": (0, "log_kve"),
           "k1": (1, "log_kv"), "k1e": (1, "log_kve")}


def unavailable() -> str | None:
    """SciPy is the competitor; without it there is nothing to compare against."""
    try:
        import scipy.special  # noqa: F401
    except ImportError:
        return "scipy is not installed (pip install 'fastspectral[bench]')"
    return None


# --------------------------------------------------------------------------- inputs

def input_sets(config: BenchConfig, gpu: bool = False) -> list[tuple[str, int, dict[str, Any]]]:
    """(label, n, params) of every input set; GPU sets are larger to fill the device."""
    if gpu:  # the CPU competitor of most GPU cases bounds the size, not the GPU
        n_grid, n_vmf = config.size(1_000_000, 100_000), config.size(250_000, 25_000)
    else:
        n_grid, n_vmf = config.size(100_000, 20_000), config.size(50_000, 5_000)
    sets = [("loguniform", n_grid, {"v": [1e-3, 1e5], "x": [1e-8, 1e6], "seed": config.seed})]
    sets += [(f"vmf-p{p}", n_vmf, {"p": p, "v": p / 2 - 1, "x": [p / 20, 20 * p],
                                   "seed": config.seed}) for p in VMF_DIMS]
    return sets


@functools.lru_cache(maxsize=4)
def make_inputs(label: str, n: int, dtype: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (v, x) arrays of an input set; identical for both sides and across thread counts."""
    rng = np.random.default_rng([seed, n, sum(map(ord, label))])
    if label == "loguniform":
        v = 10.0 ** rng.uniform(-3, 5, n)
        x = 10.0 ** rng.uniform(-8, 6, n)
    else:
        p = int(label.removeprefix("vmf-p"))
        v = np.full(n, p / 2 - 1)
        x = 10.0 ** rng.uniform(np.log10(p / 20), np.log10(20 * p), n)
    t = DTYPES[dtype]
    v, x = v.astype(t), x.astype(t)
    v.flags.writeable = x.flags.writeable = False  # shared between cases: nobody may change them
    return v, x


# --------------------------------------------------------------------------- metrics

def _to_numpy(a: Any) -> np.ndarray:
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def _bad_fraction(ours_log: np.ndarray, theirs: Any, log_output: bool) -> dict[str, float]:
    """Share of SciPy results that are 0/inf/nan where our log is finite, and our own
    share of non-finite logs (0 for v >= 0, x > 0 once the real kernels are in)."""
    theirs = _to_numpy(theirs)
    good = np.isfinite(ours_log)
    bad = ~np.isfinite(theirs) if log_output else (~np.isfinite(theirs) | (theirs == 0))
    n_good = int(good.sum())
    return {"scipy_bad_fraction": float((bad & good).sum() / n_good) if n_good else float("nan"),
            "fs_nonfinite_fraction": float(1.0 - n_good / max(ours_log.size, 1))}


def _kernel_metrics(kernel: Kernel, v: np.ndarray, x: np.ndarray
                    ) -> Callable[[Any, Any], dict[str, float]]:
    from fastspectral import special

    def metrics(ours: Any, theirs: Any) -> dict[str, float]:
        if kernel.name == kernel.log_ref:
            ref = _to_numpy(ours)
        else:
            ref = np.asarray(getattr(special, kernel.log_ref)(v, x))
        return _bad_fraction(ref, theirs, kernel.log_output)

    return metrics


def _fixed_metrics(ours: Any, theirs: Any) -> dict[str, float]:
    """For i0 ... k1e: the share of SciPy results that are 0/inf/nan where ours is finite and
    nonzero, and our own share of 0/inf/nan (true over/underflow: i0(800) is inf for both)."""
    ours, theirs = _to_numpy(ours), _to_numpy(theirs)
    good = np.isfinite(ours) & (ours != 0)
    bad = ~np.isfinite(theirs) | (theirs == 0)
    n_good = int(good.sum())
    return {"scipy_bad_fraction": float((bad & good).sum() / n_good) if n_good else float("nan"),
            "fs_nonfinite_fraction": float(1.0 - n_good / max(ours.size, 1))}


# --------------------------------------------------------------------------- cases

def _cpu_case(kernel: Kernel, label: str, n: int, params: dict[str, Any], dtype: str,
              threads: int, seed: int) -> Case:
    def prepare() -> Prepared:
        import scipy.special as sc

        from fastspectral import special

        v, x = make_inputs(label, n, dtype, seed)
        f = getattr(special, kernel.name)
        return Prepared(ours=lambda: f(v, x), theirs=lambda: kernel.scipy(sc, v, x),
                        metrics=_kernel_metrics(kernel, v, x))

    return Case(suite=NAME, kernel=kernel.name, competitor=f"scipy {kernel.competitor}",
                input=label, n=n, dtype=dtype, threads=threads, competitor_threads=1,
                prepare=prepare, params=params)


def _cpu_fixed_case(name: str, label: str, n: int, params: dict[str, Any], dtype: str,
                    threads: int, seed: int) -> Case:
    def prepare() -> Prepared:
        import scipy.special as sc

        from fastspectral import special

        _, x = make_inputs(label, n, dtype, seed)
        ours, theirs = getattr(special, name), getattr(sc, name)
        return Prepared(ours=lambda: ours(x), theirs=lambda: theirs(x), metrics=_fixed_metrics)

    return Case(suite=NAME, kernel=name, competitor=f"scipy {name}", input=label, n=n,
                dtype=dtype, threads=threads, competitor_threads=1, prepare=prepare,
                params=params)


def gpu_function(name: str) -> Callable[..., Any]:
    """Our function that accepts cupy arrays.

    ``fastspectral.<name>`` (the array-generic dispatcher) when the package exports one,
    else ``fastspectral.special.<name>``: a bare NumPy ufunc cannot take cupy arrays, so the
    dispatcher is preferred wherever both exist.
    """
    import fastspectral
    from fastspectral import special

    f = getattr(fastspectral, name, None)
    return f if f is not None and not isinstance(f, np.ufunc) else getattr(special, name)


def _gpu_vs_scipy_case(kernel: Kernel, label: str, n: int, params: dict[str, Any],
                       dtype: str, seed: int) -> Case:
    def prepare() -> Prepared:
        import cupy
        import scipy.special as sc

        v, x = make_inputs(label, n, dtype, seed)
        vd, xd = cupy.asarray(v), cupy.asarray(x)
        f = gpu_function(kernel.name)
        return Prepared(ours=lambda: f(vd, xd), theirs=lambda: kernel.scipy(sc, v, x),
                        ours_timer=cupy_timer, theirs_timer=cpu_timer,
                        metrics=_kernel_metrics(kernel, v, x))

    return Case(suite=NAME, kernel=kernel.name, competitor=f"scipy-cpu {kernel.competitor}",
                input=label, n=n, dtype=dtype, threads=None, competitor_threads=1,
                prepare=prepare, device="gpu", competitor_device="cpu", params=params)


def _gpu_vs_cupyx_case(name: str, label: str, n: int, params: dict[str, Any], dtype: str,
                       seed: int) -> Case:
    order, log_ref = ORDER01[name]

    def prepare() -> Prepared:
        import cupy
        import cupyx.scipy.special as csc

        from fastspectral import special

        _, x = make_inputs(label, n, dtype, seed)
        xd = cupy.asarray(x)
        ours, theirs = gpu_function(name), getattr(csc, name)

        def metrics(_: Any, theirs_out: Any) -> dict[str, float]:
            ref = getattr(special, log_ref)(np.asarray(order, dtype=x.dtype), x)
            return _bad_fraction(ref, theirs_out, log_output=False)

        return Prepared(ours=lambda: ours(xd), theirs=lambda: theirs(xd),
                        ours_timer=cupy_timer, theirs_timer=cupy_timer, metrics=metrics)

    return Case(suite=NAME, kernel=name, competitor=f"cupyx {name}", input=label, n=n,
                dtype=dtype, threads=None, competitor_threads=None, prepare=prepare,
                device="gpu", competitor_device="gpu", params=params)


def cases(config: BenchConfig) -> list[Case]:
    """CPU cases for every thread count, dtype, input set and kernel; then GPU cases."""
    out: list[Case] = []
    if config.device in ("cpu", "all"):
        for threads in config.threads:
            for dtype in DTYPES:
                for label, n, params in input_sets(config):
                    out += [_cpu_case(k, label, n, params, dtype, threads, config.seed)
                            for k in KERNELS]
                    if label == "loguniform":
                        out += [_cpu_fixed_case(name, label, n, params, dtype, threads,
                                                config.seed) for name in ORDER01]
    if config.device == "gpu" and not gpu_available():
        print("special: no GPU cases (needs a CUDA build of fastspectral, a visible GPU and "
              "cupy)", file=sys.stderr)
    if config.device in ("gpu", "all") and gpu_available():
        import cupyx.scipy.special as csc

        for dtype in DTYPES:
            for label, n, params in input_sets(config, gpu=True):
                out += [_gpu_vs_scipy_case(k, label, n, params, dtype, config.seed)
                        for k in KERNELS]
                if label == "loguniform":
                    out += [_gpu_vs_cupyx_case(name, label, n, params, dtype, config.seed)
                            for name in ORDER01 if hasattr(csc, name)]
    return out
