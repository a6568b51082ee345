"""The ``vmf`` suite: fastspectral.vmf against scipy.stats.vonmises_fisher and plain numpy.

Cases (CPU; sizes for a full run, ``--quick`` in brackets)
------------------------------------------------------------
``fit``       vmf.fit vs scipy.stats.vonmises_fisher.fit, p in {3, 66} (SciPy's fit works up to
              p = 66 only), n = 50 000 [5 000]. Metric: relative kappa difference.
``fit-big``   vmf.fit at p = 32768, n = 50 000 [2 000] float32 against ``X.sum(axis=0)``, the
              cost of reading X once (SciPy returns kappa = 1e-8 there, so it is no peer).
              Metric: fit time / read time.
``logpdf``    VonMisesFisher.logpdf vs scipy's, p in {3, 66}, n = 200 000 [20 000].
``kappa``     batched kappa_mle on 1e6 [1e5] uniform rbar, p in {3, 64, 2048, 32768}, against
              the vectorised Newton a SciPy user writes (A_p = ive(p/2, k) / ive(p/2-1, k), 8
              steps from Banerjee's start). Metrics: solves per second, SciPy's non-finite and
              wrong (relative error > 1e-6) fractions.
``em-iter``   one EM iteration (E step + M step) of VonMisesFisherMixture at n = 50 000, p =
              2048, k = 10 [n = 5 000, p = 512, k = 5] against the same iteration in plain
              numpy/scipy as spherecluster does it (full responsibilities matrix,
              scipy.special.logsumexp, Banerjee's kappa approximation, log-normaliser from
              scipy ive). Metric: SciPy's non-finite fraction of log-normalisers.
``rvs``       VonMisesFisher.rvs vs scipy's rvs at p = 2048 [512], 100 samples (SciPy builds
              a p x p rotation per call, so its sample count is kept small).

fastspectral's Bessel kernels run on the requested OpenMP threads; numpy's BLAS (used by both
sides for matrix products) keeps its own thread count.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from . import BenchConfig
from ._harness import Case, Prepared

NAME = "vmf"
DESCRIPTION = "von Mises-Fisher fit, logpdf, kappa solves, mixture EM, sampling vs scipy.stats"
NOTE = ("scipy.stats.vonmises_fisher works up to p = 66 (fit returns kappa = 1e-8 above); the "
        "kappa and em-iter competitors are the numpy/scipy code users write. ratio = competitor "
        "time / fastspectral time.")

KAPPA_DIMS = (3, 64, 2048, 32768)


def unavailable() -> str | None:
    try:
        import scipy.stats  # noqa: F401
        if not hasattr(scipy.stats, "vonmises_fisher"):
            return "scipy >= 1.11 is needed (scipy.stats.vonmises_fisher)"
    except ImportError:
        return "scipy is not installed (pip install 'fastspectral[bench]')"
    return None


# --------------------------------------------------------------------------- inputs

def _unit(rng: np.random.Generator, p: int) -> np.ndarray:
    v = rng.standard_normal(p)
    return v / np.linalg.norm(v)


@functools.lru_cache(maxsize=2)
def _samples(p: int, kappa: float, n: int, seed: int, dtype: str = "f64") -> np.ndarray:
    """n vMF samples (read-only), generated in row chunks so float32 never needs a float64 copy."""
    from fastspectral.vmf import VonMisesFisher

    rng = np.random.default_rng([seed, p, n])
    d = VonMisesFisher(_unit(rng, p), kappa)
    out = np.empty((n, p), dtype=np.float32 if dtype == "f32" else np.float64)
    step = max(1, (32 << 20) // (8 * p))
    for i in range(0, n, step):
        out[i:i + step] = d.rvs(min(step, n - i), random_state=rng)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=1)
def _mixture_data(n: int, p: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from fastspectral.vmf import VonMisesFisher

    rng = np.random.default_rng([seed, n, p, k])
    mus = np.linalg.qr(rng.standard_normal((p, k)))[0].T
    sizes = np.full(k, n // k)
    sizes[: n - sizes.sum()] += 1
    X = np.vstack([VonMisesFisher(m, 0.6 * p).rvs(int(s), random_state=rng)
                   for m, s in zip(mus, sizes)])
    X.flags.writeable = False
    return X, mus


# --------------------------------------------------------------------------- cases

def _case(kernel: str, competitor: str, label: str, n: int, prepare, threads: int,
          params: dict[str, Any], dtype: str = "f64") -> Case:
    return Case(suite=NAME, kernel=kernel, competitor=competitor, input=label, n=n, dtype=dtype,
                threads=threads, competitor_threads=1, prepare=prepare, params=params)


def _fit_case(p: int, n: int, threads: int, seed: int) -> Case:
    kappa = 10.0 * p

    def prepare() -> Prepared:
        from scipy.stats import vonmises_fisher

        from fastspectral import vmf

        X = _samples(p, kappa, n, seed)

        def metrics(ours: Any, theirs: Any) -> dict[str, float]:
            return {"kappa_rel_diff": abs(ours[1] / theirs[1] - 1), "kappa": float(ours[1])}

        return Prepared(ours=lambda: vmf.fit(X), theirs=lambda: vonmises_fisher.fit(X),
                        metrics=metrics)

    return _case("fit", "scipy vonmises_fisher.fit", f"p{p}-kappa{kappa:g}", n, prepare,
                 threads, {"p": p, "kappa": kappa})


def _fit_big_case(p: int, n: int, threads: int, seed: int) -> Case:
    kappa = 0.5 * p

    def prepare() -> Prepared:
        from fastspectral import vmf

        X = _samples(p, kappa, n, seed, "f32")

        def metrics(ours: Any, theirs: Any) -> dict[str, float]:
            return {"kappa": float(ours[1]), "gib": X.nbytes / 2**30}

        return Prepared(ours=lambda: vmf.fit(X),
                        theirs=lambda: X.sum(axis=0, dtype=np.float64), metrics=metrics)

    return _case("fit-big", "numpy X.sum(0) (read X once)", f"p{p}-n{n}", n, prepare, threads,
                 {"p": p, "kappa": kappa}, dtype="f32")


def _logpdf_case(p: int, n: int, threads: int, seed: int) -> Case:
    kappa = 2.0 * p

    def prepare() -> Prepared:
        from scipy.stats import vonmises_fisher

        from fastspectral.vmf import VonMisesFisher

        X = _samples(p, kappa, n, seed)
        mu = _unit(np.random.default_rng([seed, p, n]), p)
        ours, theirs = VonMisesFisher(mu, kappa), vonmises_fisher(mu, kappa)

        def metrics(a: Any, b: Any) -> dict[str, float]:
            return {"max_abs_diff": float(np.max(np.abs(a - b)))}

        return Prepared(ours=lambda: ours.logpdf(X), theirs=lambda: theirs.logpdf(X),
                        metrics=metrics)

    return _case("logpdf", "scipy vonmises_fisher.logpdf", f"p{p}", n, prepare, threads,
                 {"p": p, "kappa": kappa})


def scipy_kappa_newton(rbar: np.ndarray, p: int, steps: int = 8) -> np.ndarray:
    """What a SciPy user writes: Newton on A_p(k) = ive(p/2, k)/ive(p/2-1, k) from Banerjee."""
    from scipy.special import ive

    k = rbar * (p - rbar * rbar) / (1 - rbar * rbar)
    with np.errstate(all="ignore"):
        for _ in range(steps):
            a = ive(p / 2, k) / ive(p / 2 - 1, k)
            k = k - (a - rbar) / (1 - a * a - (p - 1) * a / k)
    return k


def _kappa_case(p: int, n: int, threads: int, seed: int) -> Case:
    def prepare() -> Prepared:
        from fastspectral import vmf

        rng = np.random.default_rng([seed, p, n])
        r = rng.uniform(1e-3, 1 - 1e-3, n)

        def metrics(ours: Any, theirs: Any) -> dict[str, float]:
            bad = ~np.isfinite(theirs)
            with np.errstate(all="ignore"):
                wrong = bad | (np.abs(theirs / ours - 1) > 1e-6)
            return {"scipy_nonfinite_fraction": float(bad.mean()),
                    "scipy_wrong_fraction": float(wrong.mean())}

        return Prepared(ours=lambda: vmf.kappa_mle(r, p), theirs=lambda: scipy_kappa_newton(r, p),
                        metrics=metrics)

    return _case("kappa_mle", "scipy ive-ratio Newton x8", f"p{p}", n, prepare, threads,
                 {"p": p, "rbar": [1e-3, 1 - 1e-3]})


def _banerjee(rbar: np.ndarray, p: int) -> np.ndarray:
    return rbar * (p - rbar ** 2) / (1 - rbar ** 2)


def _scipy_em_step(X: np.ndarray, w: np.ndarray, M: np.ndarray, kap: np.ndarray):
    """One soft-EM iteration as spherecluster / a SciPy user writes it."""
    from scipy.special import ive, logsumexp

    n, p = X.shape
    v = p / 2 - 1
    with np.errstate(all="ignore"):
        logc = v * np.log(kap) - p / 2 * np.log(2 * np.pi) - (np.log(ive(v, kap)) + kap)
    lt = np.log(w) + logc + kap * (X @ M.T)
    resp = np.exp(lt - logsumexp(lt, axis=1, keepdims=True))
    Nk = resp.sum(0)
    S = X.T @ resp
    rn = np.linalg.norm(S, axis=0)
    return Nk / n, (S / rn).T, _banerjee(rn / Nk, p), logc


def _em_case(n: int, p: int, k: int, threads: int, seed: int) -> Case:
    def prepare() -> Prepared:
        from fastspectral.vmf import VonMisesFisherMixture

        X, mus = _mixture_data(n, p, k, seed)
        rng = np.random.default_rng(seed)
        M0 = mus + 0.3 * rng.standard_normal(mus.shape) / math.sqrt(p)
        M0 /= np.linalg.norm(M0, axis=1, keepdims=True)
        w0, kap0 = np.full(k, 1.0 / k), np.full(k, 0.5 * p)
        gm = VonMisesFisherMixture(k)

        def ours():
            Nk, S, ll = gm._estep_stats(X, w0, M0, kap0, hard=False)
            return gm._mstep(Nk, S, n, p, M0, kap0)

        def metrics(a: Any, b: Any) -> dict[str, float]:
            return {"scipy_nonfinite_lognorm_fraction": float(np.mean(~np.isfinite(b[3])))}

        return Prepared(ours=ours, theirs=lambda: _scipy_em_step(X, w0, M0, kap0),
                        metrics=metrics)

    return _case("em-iter", "numpy/scipy EM step (spherecluster style)", f"n{n}-p{p}-k{k}", n,
                 prepare, threads, {"n": n, "p": p, "k": k})


def _rvs_case(p: int, n: int, threads: int, seed: int) -> Case:
    kappa = float(p)

    def prepare() -> Prepared:
        from scipy.stats import vonmises_fisher

        from fastspectral.vmf import VonMisesFisher

        mu = _unit(np.random.default_rng([seed, p]), p)
        ours, theirs = VonMisesFisher(mu, kappa), vonmises_fisher(mu, kappa)
        rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(2)

        def metrics(a: Any, b: Any) -> dict[str, float]:
            return {"mean_w_ours": float(np.mean(a @ mu)), "mean_w_scipy": float(np.mean(b @ mu)),
                    "A_p": ours.mean_resultant_length()}

        return Prepared(ours=lambda: ours.rvs(n, random_state=rng_a),
                        theirs=lambda: theirs.rvs(n, random_state=rng_b), metrics=metrics)

    return _case("rvs", "scipy vonmises_fisher.rvs", f"p{p}", n, prepare, threads,
                 {"p": p, "kappa": kappa})


def _gpu_kappa_case(p: int, n: int, seed: int) -> Case:
    """Batched kappa solves on cupy vs the SciPy Newton a user runs on the CPU."""
    def prepare() -> Prepared:
        import cupy

        from fastspectral import vmf

        from ._harness import cpu_timer, cupy_timer

        rng = np.random.default_rng([seed, p, n])
        r = rng.uniform(1e-3, 1 - 1e-3, n)
        rd = cupy.asarray(r)

        def metrics(ours: Any, theirs: Any) -> dict[str, float]:
            ref = vmf.kappa_mle(r, p)
            return {"max_rel_diff_vs_cpu": float(np.max(np.abs(cupy.asnumpy(ours) / ref - 1)))}

        return Prepared(ours=lambda: vmf.kappa_mle(rd, p), theirs=lambda: scipy_kappa_newton(r, p),
                        ours_timer=cupy_timer, theirs_timer=cpu_timer, metrics=metrics)

    return Case(suite=NAME, kernel="kappa_mle", competitor="scipy-cpu ive-ratio Newton x8",
                input=f"p{p}", n=n, dtype="f64", threads=None, competitor_threads=1,
                prepare=prepare, device="gpu", competitor_device="cpu",
                params={"p": p, "rbar": [1e-3, 1 - 1e-3]})


def _gpu_fit_case(p: int, n: int, seed: int) -> Case:
    """fit on cupy vs fit on the same data in host memory (fastspectral's CPU path, all cores):
    what moving the data to the GPU buys; the host->device copy is not timed."""
    kappa = 0.5 * p

    def prepare() -> Prepared:
        import cupy

        from fastspectral import vmf

        from ._harness import cpu_timer, cupy_timer

        X = _samples(p, kappa, n, seed, "f32")
        Xd = cupy.asarray(X)

        def metrics(ours: Any, theirs: Any) -> dict[str, float]:
            return {"kappa_rel_diff_vs_cpu": abs(float(ours[1]) / float(theirs[1]) - 1),
                    "gib": X.nbytes / 2**30}

        return Prepared(ours=lambda: vmf.fit(Xd), theirs=lambda: vmf.fit(X),
                        ours_timer=cupy_timer, theirs_timer=cpu_timer, metrics=metrics)

    return Case(suite=NAME, kernel="fit-big", competitor="fastspectral-cpu fit (all cores)",
                input=f"p{p}-n{n}", n=n, dtype="f32", threads=None, competitor_threads=None,
                prepare=prepare, device="gpu", competitor_device="cpu",
                params={"p": p, "kappa": kappa})


def cases(config: BenchConfig) -> list[Case]:
    """CPU cases for each thread count; with a GPU and cupy, kappa solves and a large fit on it."""
    out: list[Case] = []
    seed = config.seed
    if config.device in ("gpu", "all"):
        from ._harness import gpu_available
        if gpu_available():
            for p in KAPPA_DIMS:
                out.append(_gpu_kappa_case(p, config.size(1_000_000, 100_000), seed))
            out.append(_gpu_fit_case(32768 if not config.quick else 4096,
                                     config.size(50_000, 2_000), seed))
    if config.device == "gpu":
        return out
    for threads in config.threads:
        for p in (3, 66):
            out.append(_fit_case(p, config.size(50_000, 5_000), threads, seed))
        out.append(_fit_big_case(32768 if not config.quick else 4096,
                                 config.size(50_000, 2_000), threads, seed))
        for p in (3, 66):
            out.append(_logpdf_case(p, config.size(200_000, 20_000), threads, seed))
        for p in KAPPA_DIMS:
            out.append(_kappa_case(p, config.size(1_000_000, 100_000), threads, seed))
        if config.quick:
            out.append(_em_case(config.size(50_000, 5_000) // 10 * 10 or 16, 512, 5, threads,
                                seed))
        else:
            out.append(_em_case(config.size(50_000, 5_000), 2048, 10, threads, seed))
        out.append(_rvs_case(512 if config.quick else 2048, 100 if config.size_scale >= 1
                             else 16, threads, seed))
    return out
