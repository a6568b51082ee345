"""The ``special`` suite: fastspectral's Bessel functions against ``scipy.special``.

What SciPy users write today is the competitor: ``log(ive(v, x)) + x`` for ``log_iv``,
``log(kve(v, x)) - x`` for ``log_kv``, ``ive``/``kve`` themselves, and
``ive(v+1, x)/ive(v, x) + v/x`` for ``log_iv_dx`` (d/dx log I_v). Inputs:

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

Torch autograd cases (only with ``FASTSPECTRAL_BENCH_TORCH=1`` in the environment, see
:data:`TORCH_ENV`, or through :func:`torch_cases`; none when torch does not import): forward
and backward (``torch.autograd.grad`` of ``y.sum()`` with respect to x) of
``fastspectral.torch.log_iv`` / ``ive`` on every input set and of
``fastspectral.torch.vmf_log_normalizer(p, kappa)`` on the ``vmf-p<P>`` sets, against what torch
users write today: an autograd Function around ``scipy.special.ive`` (forward on the tensor's
NumPy view, backward ``ive(v-1, x) - ive(v, x) (v + x) / x``, as in hyperspherical-VAE code),
composed into ``log(Ive(v, x)) + x`` and ``(p/2-1) log k - p/2 log 2 pi - log Ive(p/2-1, k) - k``.
Both sides run torch on the case's thread count (``torch.set_num_threads`` around each timed
call, restored after it); SciPy itself stays single-threaded. Besides ``scipy_bad_fraction`` of
the forward values they report ``grad_bad_fraction`` (the competitor's gradient is inf/nan
where ours is finite), ``fs_grad_nonfinite_fraction`` and the max / median relative difference
of the two gradients where both are finite and at least one is a normal number (not 0 or
subnormal).
"""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import BenchConfig
from ._harness import Case, Prepared, cpu_timer, cupy_timer, gpu_available, torch_threads

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
    # d/dx log I_v (vMF kappa solves, log I_v's gradient): SciPy users divide two ive calls
    Kernel("log_iv_dx", "ive(v+1)/ive(v)+v/x",
           lambda sc, v, x: sc.ive(v + 1, x) / sc.ive(v, x) + v / x, "log_iv", False),
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
    if os.environ.get(TORCH_ENV, "0") not in ("", "0", "false", "False"):
        out += torch_cases(config)
    return out


# --------------------------------------------------------------------------- torch autograd

#: Set to 1 to add the torch autograd cases to :func:`cases` (off by default: they need torch
#: and are a different question from the NumPy-ufunc cases: what an autograd user pays).
TORCH_ENV = "FASTSPECTRAL_BENCH_TORCH"

#: kernel name -> (the competitor's description, input sets it runs on: None = all).
TORCH_KERNELS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "torch.log_iv fwd+bwd": ("torch Function(scipy ive): log(Ive)+x", None),
    "torch.ive fwd+bwd": ("torch Function(scipy ive): Ive", None),
    "torch.vmf_log_normalizer fwd+bwd": (
        "torch Function(scipy ive): (p/2-1)log k-p/2 log 2pi-log Ive-k",
        tuple(f"vmf-p{p}" for p in VMF_DIMS)),
}


def torch_unavailable() -> str | None:
    """Why the torch cases cannot run here (None when they can)."""
    try:
        import torch  # noqa: F401

        import fastspectral.torch as fst
    except Exception as e:  # ImportError, or a torch build that fails to load
        return f"torch does not import ({e.__class__.__name__}: {e})"
    missing = [f for f in ("log_iv", "ive", "vmf_log_normalizer") if not hasattr(fst, f)]
    if missing:
        return f"fastspectral.torch has no {', '.join(missing)} (an older fastspectral)"
    return None


@functools.lru_cache(maxsize=1)
def scipy_ive_function() -> Any:
    """The competitor: a ``torch.autograd.Function`` around ``scipy.special.ive``.

    ``apply(v, x)`` with x a CPU tensor (n,) and v a tensor broadcasting with it or a Python
    number returns ``ive(v, x)`` as a tensor of x's dtype. The backward is
    d/dx [e^{-x} I_v(x)] = ive(v-1, x) - ive(v, x) (v + x) / x, the formula of the
    hyperspherical-VAE implementations; it reuses the saved forward value instead of calling
    scipy again for ive(v, x), which only makes the competitor faster. v gets no gradient.
    """
    import scipy.special as sc
    import torch

    def host(a: Any) -> Any:
        return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a

    class ScipyIve(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, v: Any, x: Any) -> Any:
            out = torch.from_numpy(np.asarray(sc.ive(host(v), host(x))))
            out = out.to(device=x.device, dtype=x.dtype)
            ctx.v = v
            ctx.save_for_backward(x, out)
            return out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple[None, Any]:
            x, out = ctx.saved_tensors
            v = ctx.v
            return None, grad * (ScipyIve.apply(v - 1, x) - out * (v + x) / x)

    return ScipyIve


def scipy_log_iv(v: Any, x: Any) -> Any:
    """The competitor's log I_v(x) = log(Ive(v, x)) + x."""
    import torch

    return torch.log(scipy_ive_function().apply(v, x)) + x


def scipy_vmf_log_normalizer(p: int, kappa: Any) -> Any:
    """The competitor's log C_p(kappa) = (p/2-1) log kappa - p/2 log(2 pi) - log I_{p/2-1}(kappa)
    with log I from the scipy Function (log Ive + kappa)."""
    import torch

    nu = p / 2 - 1
    return (nu * torch.log(kappa) - p / 2 * float(np.log(2 * np.pi))
            - torch.log(scipy_ive_function().apply(nu, kappa)) - kappa)


def _grad_metrics(log_output: bool, log_ref: Callable[[], np.ndarray] | None
                  ) -> Callable[[Any, Any], dict[str, float]]:
    """Metrics of (value, gradient) pairs: the forward value's scipy_bad_fraction (against
    ``log_ref()``, our log-domain value, or our own value when that is a log), and how the
    gradients compare."""
    def metrics(ours: Any, theirs: Any) -> dict[str, float]:
        (y_ours, g_ours), (y_theirs, g_theirs) = ours, theirs
        y_ours, g_ours = y_ours.numpy(), g_ours.numpy()
        y_theirs, g_theirs = y_theirs.numpy(), g_theirs.numpy()
        ref = y_ours if log_ref is None else log_ref()
        out = _bad_fraction(ref, y_theirs, log_output)
        good = np.isfinite(g_ours)
        bad = ~np.isfinite(g_theirs)
        n_good = int(good.sum())
        a, b = g_ours.astype(np.float64), g_theirs.astype(np.float64)
        scale = np.maximum(np.abs(a), np.abs(b))
        # Pairs where both are subnormal or zero (ive's gradient at its underflow edge: 5e-322
        # against 0) would read as 100% apart; they say nothing about either formula.
        compare = good & ~bad & (scale >= np.finfo(g_ours.dtype).tiny)
        rel = np.abs(a[compare] - b[compare]) / scale[compare]
        out.update({
            "grad_bad_fraction": float((bad & good).sum() / n_good) if n_good else float("nan"),
            "fs_grad_nonfinite_fraction": float(1.0 - n_good / max(g_ours.size, 1)),
            "grad_max_rel_diff": float(rel.max()) if rel.size else float("nan"),
            "grad_median_rel_diff": float(np.median(rel)) if rel.size else float("nan"),
        })
        return out

    return metrics


def _torch_case(kernel: str, label: str, n: int, params: dict[str, Any], dtype: str,
                threads: int, seed: int) -> Case:
    competitor = TORCH_KERNELS[kernel][0]

    def prepare() -> Prepared:
        import torch

        import fastspectral.torch as fst
        from fastspectral import special

        v, x = make_inputs(label, n, dtype, seed)
        # copies: torch.from_numpy warns on the shared read-only arrays
        vt, xt = torch.tensor(v), torch.tensor(x).requires_grad_(True)
        log_ref: Callable[[], np.ndarray] | None = None
        if kernel == "torch.log_iv fwd+bwd":
            ours_f, theirs_f = fst.log_iv, scipy_log_iv
            log_output = True
        elif kernel == "torch.ive fwd+bwd":
            ours_f, theirs_f = fst.ive, scipy_ive_function().apply
            log_output = False
            log_ref = lambda: np.asarray(special.log_ive(v, x))  # noqa: E731
        else:
            p = int(params["p"])
            ours_f = lambda _, k: fst.vmf_log_normalizer(p, k)  # noqa: E731
            theirs_f = lambda _, k: scipy_vmf_log_normalizer(p, k)  # noqa: E731
            log_output = True

        def fwd_bwd(f: Callable[[Any, Any], Any]) -> Callable[[], tuple[Any, Any]]:
            def run() -> tuple[Any, Any]:
                with torch_threads(threads):
                    y = f(vt, xt)
                    (g,) = torch.autograd.grad(y.sum(), xt)
                return y.detach(), g
            return run

        return Prepared(ours=fwd_bwd(ours_f), theirs=fwd_bwd(theirs_f),
                        metrics=_grad_metrics(log_output, log_ref))

    return Case(suite=NAME, kernel=kernel, competitor=competitor, input=label, n=n,
                dtype=dtype, threads=threads, competitor_threads=threads, prepare=prepare,
                params=params)


def torch_cases(config: BenchConfig) -> list[Case]:
    """The torch autograd cases (CPU) for every thread count, dtype and input set; [] with a
    note on stderr when torch or fastspectral.torch's Bessel functions are missing."""
    if config.device not in ("cpu", "all"):
        return []
    reason = torch_unavailable()
    if reason:
        print(f"special: no torch cases: {reason}", file=sys.stderr)
        return []
    out: list[Case] = []
    for threads in config.threads:
        for dtype in DTYPES:
            for label, n, params in input_sets(config):
                out += [_torch_case(k, label, n, params, dtype, threads, config.seed)
                        for k, (_, inputs) in TORCH_KERNELS.items()
                        if inputs is None or label in inputs]
    return out
