"""The machinery shared by every benchmark suite: case description, interleaved timing under
an OpenMP thread limit, machine facts, progress lines, result tables, JSON and plots.

A suite only describes *what* to time (a list of :class:`Case`); this module decides *how*.
Each case times fastspectral ("ours") and a competitor ("theirs") in the same process on
the same input arrays, interleaving the repeats (A B, B A, A B, ...) after a warm-up, so that
a noisy machine slows both sides alike; it reports medians and their ratio.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

SCHEMA = "fastspectral-bench/1"

#: Returns the seconds one call of ``fn`` takes, averaged over ``number`` back-to-back calls.
Timer = Callable[[Callable[[], Any], int], float]


def cpu_timer(fn: Callable[[], Any], number: int) -> float:
    """Wall-clock time per call of a synchronous (CPU) function."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def gpu_available() -> bool:
    """A CUDA build, a visible device and an importable cupy."""
    import fastspectral

    if not fastspectral.has_cuda():
        return False
    try:
        import cupy  # noqa: F401
    except Exception:  # ImportError, or a cupy that cannot find its CUDA libraries
        return False
    return True


def cupy_timer(fn: Callable[[], Any], number: int) -> float:
    """Device time per call of a function that launches work on cupy's current stream.

    Events on the stream measure the GPU work itself; the synchronisations keep earlier work
    out of the measurement and make sure the last launch has finished.
    """
    import cupy

    stream = cupy.cuda.get_current_stream()
    stream.synchronize()
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    start.record(stream)
    for _ in range(number):
        fn()
    end.record(stream)
    end.synchronize()
    return cupy.cuda.get_elapsed_time(start, end) * 1e-3 / number


@dataclass
class Prepared:
    """A case made ready to run: closures over already-built input arrays."""

    ours: Callable[[], Any]
    theirs: Callable[[], Any]
    ours_timer: Timer = cpu_timer
    theirs_timer: Timer = cpu_timer
    #: Quality figures (not timed) from the warm-up outputs ``(ours, theirs)``.
    metrics: Callable[[Any, Any], dict[str, float]] | None = None


@dataclass
class Case:
    """One comparison: a fastspectral kernel against a competitor on one input set."""

    suite: str
    kernel: str
    competitor: str
    input: str
    n: int
    dtype: str
    #: OpenMP threads for fastspectral (None: not a CPU-threaded case, e.g. the GPU).
    threads: int | None
    competitor_threads: int | None
    prepare: Callable[[], Prepared]
    device: str = "cpu"
    competitor_device: str = "cpu"
    params: dict[str, Any] = field(default_factory=dict)
    #: Timed calls per side at most.  1 means single-shot: one timed call per side, whose
    #: outputs also feed the metrics (for cases that run for seconds to minutes, such as whole
    #: PDE solves, where warm-up and calibration calls would multiply the run time).
    max_repeats: int | None = None

    def label(self) -> str:
        """Short human description used in progress lines."""
        where = f"{self.threads}-thread" if self.threads is not None else self.device
        return f"{self.suite} {self.kernel} {self.dtype} {self.input} {where}"


@dataclass
class RunSettings:
    """How hard to time each case."""

    min_repeats: int = 5
    max_repeats: int = 25
    #: Seconds per case after which no repeats beyond ``min_repeats`` are started.
    budget_s: float = 1.0
    #: Shortest sample worth timing; faster calls are looped ``number`` times per sample.
    min_sample_s: float = 2e-4


@dataclass
class SideResult:
    """Timing statistics of one side of a case (seconds per call)."""

    median_s: float
    q25_s: float
    q75_s: float
    min_s: float
    max_s: float
    repeats: int
    number: int
    ns_per_element: float
    samples_s: list[float]

    @classmethod
    def from_samples(cls, samples: Sequence[float], number: int, n: int) -> SideResult:
        a = np.asarray(samples, dtype=float)
        median = float(np.median(a))
        return cls(median_s=median, q25_s=float(np.percentile(a, 25)),
                   q75_s=float(np.percentile(a, 75)), min_s=float(a.min()),
                   max_s=float(a.max()), repeats=len(a), number=number,
                   ns_per_element=median / max(n, 1) * 1e9, samples_s=[float(s) for s in a])


@dataclass
class CaseResult:
    """A timed case, as it appears in the JSON output."""

    case: Case
    ours: SideResult
    theirs: SideResult
    #: Threads OpenMP reported inside the limit (what fastspectral really used).
    threads_observed: int | None
    metrics: dict[str, float]

    @property
    def ratio(self) -> float:
        """Competitor time / fastspectral time: above 1 means fastspectral is faster."""
        return self.theirs.median_s / self.ours.median_s

    def to_json(self) -> dict[str, Any]:
        c = self.case
        return {
            "suite": c.suite, "kernel": c.kernel, "competitor": c.competitor,
            "input": c.input, "params": c.params, "n": c.n, "dtype": c.dtype,
            "device": c.device, "competitor_device": c.competitor_device,
            "threads": c.threads, "threads_observed": self.threads_observed,
            "competitor_threads": c.competitor_threads,
            "timings": {"fastspectral": _side_json(self.ours),
                        "competitor": _side_json(self.theirs)},
            "ratio": self.ratio, "metrics": self.metrics,
        }


def _side_json(s: SideResult) -> dict[str, Any]:
    return {"median_s": s.median_s, "q25_s": s.q25_s, "q75_s": s.q75_s, "iqr_s": s.q75_s - s.q25_s,
            "min_s": s.min_s, "max_s": s.max_s, "repeats": s.repeats, "number": s.number,
            "ns_per_element": s.ns_per_element, "samples_s": s.samples_s}


# --------------------------------------------------------------------------- threads

def openmp_threads() -> int:
    """The OpenMP thread count fastspectral would use right now."""
    import fastspectral

    return int(fastspectral.build_info()["omp_max_threads"])


@contextlib.contextmanager
def _pool_limit(threads: int | None, user_api: str) -> Iterator[None]:
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=threads, user_api=user_api):
        yield


def openmp_limit(threads: int | None) -> contextlib.AbstractContextManager[None]:
    """Limit OpenMP (hence fastspectral's CPU kernels) to ``threads`` inside the block."""
    return _pool_limit(threads, "openmp")


def blas_limit(threads: int | None) -> contextlib.AbstractContextManager[None]:
    """Limit the BLAS thread pool (NumPy's matmul: a competitor's threads) inside the block."""
    return _pool_limit(threads, "blas")


def threading_report() -> dict[str, Any]:
    """Which OpenMP runtimes threadpoolctl sees, and whether limiting them reaches ours.

    The check is behavioural: inside ``threadpool_limits(1)`` fastspectral's own
    ``omp_get_max_threads()`` must read 1, otherwise the "1 thread" rows would be a lie.
    """
    report: dict[str, Any] = {"omp_max_threads": openmp_threads(), "threadpoolctl": None,
                              "openmp_libraries": [], "limit_reaches_fastspectral": False}
    try:
        import threadpoolctl
    except ImportError:
        return report
    report["threadpoolctl"] = threadpoolctl.__version__
    report["openmp_libraries"] = [
        {k: d.get(k) for k in ("prefix", "filepath", "version", "num_threads")}
        for d in threadpoolctl.threadpool_info() if d.get("user_api") == "openmp"]
    with openmp_limit(1):
        report["limit_reaches_fastspectral"] = openmp_threads() == 1
    return report


# --------------------------------------------------------------------------- machine

def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (falls back to platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:  # a broken optional install must not stop the benchmark
        return None
    return str(getattr(mod, "__version__", "unknown"))


def machine_info() -> dict[str, Any]:
    """Facts needed to interpret the numbers later: CPU, cores, library versions, build."""
    import fastspectral

    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), "usable_cpus": usable,
        "platform": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__, "scipy": _version("scipy"), "cupy": _version("cupy"),
        "threadpoolctl": _version("threadpoolctl"),
        "fastspectral": fastspectral.__version__,
        "build_info": _jsonable(fastspectral.build_info()),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
    }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.generic,)):
        return obj.item()
    return obj


# --------------------------------------------------------------------------- timing

def _calibrate(fn: Callable[[], Any], timer: Timer, min_sample_s: float) -> tuple[Any, int]:
    """Warm up ``fn`` (first calls pay for page faults, JIT, thread start) and pick how many
    calls one sample needs so that it lasts at least ``min_sample_s``."""
    out = fn()
    t = timer(fn, 1)
    number = 1 if t >= min_sample_s else min(10_000, math.ceil(min_sample_s / max(t, 1e-9)))
    return out, number


def time_case(case: Case, settings: RunSettings) -> CaseResult:
    """Prepare and time one case: warm-up, then interleaved repeats until the budget is spent."""
    with np.errstate(all="ignore"), openmp_limit(case.threads), blas_limit(case.competitor_threads):
        observed = openmp_threads() if case.threads is not None else None
        prep = case.prepare()
        if case.max_repeats == 1:
            return _time_single_shot(case, prep, observed)
        out_ours, n_ours = _calibrate(prep.ours, prep.ours_timer, settings.min_sample_s)
        out_theirs, n_theirs = _calibrate(prep.theirs, prep.theirs_timer, settings.min_sample_s)
        metrics = prep.metrics(out_ours, out_theirs) if prep.metrics is not None else {}
        del out_ours, out_theirs
        ours: list[float] = []
        theirs: list[float] = []
        t_start = time.perf_counter()
        max_repeats = min(settings.max_repeats, case.max_repeats or settings.max_repeats)
        while len(ours) < max_repeats:
            # Alternate which side goes first so neither always inherits the other's cache state.
            if len(ours) % 2 == 0:
                ours.append(prep.ours_timer(prep.ours, n_ours))
                theirs.append(prep.theirs_timer(prep.theirs, n_theirs))
            else:
                theirs.append(prep.theirs_timer(prep.theirs, n_theirs))
                ours.append(prep.ours_timer(prep.ours, n_ours))
            spent = time.perf_counter() - t_start
            if len(ours) >= settings.min_repeats and spent > settings.budget_s:
                break
    return CaseResult(case=case, ours=SideResult.from_samples(ours, n_ours, case.n),
                      theirs=SideResult.from_samples(theirs, n_theirs, case.n),
                      threads_observed=observed, metrics=metrics)


def _time_single_shot(case: Case, prep: Prepared, observed: int | None) -> CaseResult:
    """One timed call per side (CPU timers only); the outputs feed the metrics."""
    if prep.ours_timer is not cpu_timer or prep.theirs_timer is not cpu_timer:
        raise ValueError(f"{case.label()}: single-shot cases need the CPU timer")
    t0 = time.perf_counter()
    out_ours = prep.ours()
    t1 = time.perf_counter()
    out_theirs = prep.theirs()
    t2 = time.perf_counter()
    metrics = prep.metrics(out_ours, out_theirs) if prep.metrics is not None else {}
    return CaseResult(case=case, ours=SideResult.from_samples([t1 - t0], 1, case.n),
                      theirs=SideResult.from_samples([t2 - t1], 1, case.n),
                      threads_observed=observed, metrics=metrics)


def run_cases(cases: Sequence[Case], settings: RunSettings,
              progress: TextIO | None = None) -> list[CaseResult]:
    """Time every case, writing one progress line per case to ``progress`` (default: the
    current ``sys.stderr``)."""
    progress = sys.stderr if progress is None else progress
    results: list[CaseResult] = []
    total = len(cases)
    for i, case in enumerate(cases, 1):
        # The line is finished only when the case is, so a slow case shows what it is.
        progress.write(f"[{i}/{total}] {case.label()} ...")
        progress.flush()
        res = time_case(case, settings)
        results.append(res)
        progress.write(f" {format_seconds(res.ours.median_s)} vs "
                       f"{format_seconds(res.theirs.median_s)} ({format_ratio(res.ratio)})\n")
        progress.flush()
    return results


# --------------------------------------------------------------------------- output

def format_seconds(s: float) -> str:
    """Seconds with a unit that keeps three significant digits readable (ASCII only)."""
    if not math.isfinite(s):
        return str(s)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                 right: Sequence[bool] | None = None) -> str:
    """A plain-text table; columns flagged in ``right`` are right-aligned (numbers)."""
    right = right if right is not None else [False] * len(headers)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w)
                         for c, w, r in zip(cells, widths, right, strict=True)).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def format_markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                          right: Sequence[bool] | None = None) -> str:
    """The same table as GitHub-flavoured markdown (for the README)."""
    right = right if right is not None else [False] * len(headers)
    align = ["---:" if r else "---" for r in right]
    lines = [headers, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _metric_header(key: str) -> str:
    name = key.removesuffix("_fraction").replace("_", " ")
    return f"{name} %" if key.endswith("_fraction") else name


def _metric_cell(key: str, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{100 * value:.1f}" if key.endswith("_fraction") else f"{value:.3g}"


def _ns(x: float) -> str:
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def format_ratio(r: float) -> str:
    """A speed-up with three significant digits (0.00123x and 1234x alike)."""
    return f"{r:.3g}x" if math.isfinite(r) else str(r)


def results_table(results: Sequence[CaseResult], markdown: bool = False) -> str:
    """The main table: one row per case, medians, ns/element, ratio and quality metrics."""
    metric_keys: list[str] = []
    for r in results:
        metric_keys += [k for k in r.metrics if k not in metric_keys]
    # Suites whose cases carry a flop count (params["flops"], and params["competitor_flops"]
    # when the competitor does different work) get GFLOP/s columns instead of ns/element.
    flops = any("flops" in r.case.params for r in results)
    rate = "GF/s" if flops else "ns/el"
    headers = ["kernel", "competitor", "input", "dtype", "threads", "n",
               "fastspectral", rate, "competitor", rate, "ratio",
               *map(_metric_header, metric_keys)]
    rows = []
    for r in results:
        c = r.case
        thr = c.device if c.threads is None else str(c.threads)
        cthr = c.competitor_device if c.competitor_threads is None else str(c.competitor_threads)
        if flops:
            f_ours = c.params.get("flops", math.nan)
            f_theirs = c.params.get("competitor_flops", f_ours)
            rate_ours = f"{f_ours / r.ours.median_s / 1e9:.3g}"
            rate_theirs = f"{f_theirs / r.theirs.median_s / 1e9:.3g}"
        else:
            rate_ours, rate_theirs = _ns(r.ours.ns_per_element), _ns(r.theirs.ns_per_element)
        rows.append([c.kernel, c.competitor, c.input, c.dtype, f"{thr}/{cthr}", str(c.n),
                     format_seconds(r.ours.median_s), rate_ours,
                     format_seconds(r.theirs.median_s), rate_theirs,
                     format_ratio(r.ratio),
                     *(_metric_cell(k, r.metrics[k]) if k in r.metrics else ""
                       for k in metric_keys)])
    right = [False] * 4 + [True] * (len(headers) - 4)
    return (format_markdown_table if markdown else format_table)(headers, rows, right)


def summary_table(results: Sequence[CaseResult], markdown: bool = False) -> str:
    """Median ratio over input sets, per kernel (rows) and dtype/threads (columns)."""
    groups: dict[str, dict[str, list[float]]] = {}
    columns: list[str] = []
    competitors: dict[str, set[str]] = {}
    for r in results:
        competitors.setdefault(r.case.kernel, set()).add(r.case.competitor)
    several = any(len(v) > 1 for v in competitors.values())
    for r in results:
        c = r.case
        col = f"{c.dtype} {c.device if c.threads is None else f'{c.threads}thr'}"
        if col not in columns:
            columns.append(col)
        # never pool ratios against different competitors
        row = f"{c.kernel} vs {c.competitor}" if several else c.kernel
        groups.setdefault(row, {}).setdefault(col, []).append(r.ratio)
    rows = [[k, *(format_ratio(float(np.median(v[col]))) if col in v else "" for col in columns)]
            for k, v in groups.items()]
    fmt = format_markdown_table if markdown else format_table
    return fmt(["kernel", *columns], rows, [False] + [True] * len(columns))


def report_json(results: Sequence[CaseResult], config: dict[str, Any],
                threading: dict[str, Any], machine: dict[str, Any],
                command: Sequence[str] | None = None) -> dict[str, Any]:
    """Everything a later reader needs, in one JSON-serialisable dict (schema SCHEMA)."""
    return {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": list(command) if command is not None else sys.argv,
        "config": _jsonable(config),
        "machine": machine,
        "threading": threading,
        "cases": [r.to_json() for r in results],
    }


def write_json(report: dict[str, Any], path: str) -> None:
    """Write the report; non-finite metrics become null so the file is strict JSON."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_finite(report), f, indent=1, allow_nan=False)
        f.write("\n")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def have_matplotlib() -> bool:
    """Whether plots can be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _where(c: Case) -> str:
    return c.device if c.threads is None else f"{c.threads} thr"


def write_plots(results: Sequence[CaseResult], directory: str) -> list[str]:
    """One PNG per suite: speed-up (competitor/fastspectral, log scale) as grouped bars, one
    panel per dtype and thread count, input sets along x, one bar per kernel."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    written: list[str] = []
    for suite in dict.fromkeys(r.case.suite for r in results):
        rs = [r for r in results if r.case.suite == suite]
        panels = list(dict.fromkeys((r.case.dtype, _where(r.case)) for r in rs))
        inputs = list(dict.fromkeys(r.case.input for r in rs))
        kernels = list(dict.fromkeys(r.case.kernel for r in rs))
        ratio = {(r.case.dtype, _where(r.case), r.case.input, r.case.kernel): r.ratio for r in rs}
        ncols = min(2, len(panels))
        nrows = math.ceil(len(panels) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 3.6 * nrows),
                                 squeeze=False, sharey=True)
        width = 0.8 / len(kernels)
        for ax, (dtype, where) in zip(axes.flat, panels, strict=False):
            for k, kernel in enumerate(kernels):
                xs = [i + (k - (len(kernels) - 1) / 2) * width for i in range(len(inputs))]
                ys = [ratio.get((dtype, where, inp, kernel), float("nan")) for inp in inputs]
                ax.bar(xs, ys, width, label=kernel)
            ax.set_xticks(range(len(inputs)), inputs, fontsize=8, rotation=20)
            ax.set_yscale("log")
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_title(f"{dtype}, fastspectral on {where}", fontsize=10)
            ax.set_ylabel("competitor time / fastspectral time")
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        axes.flat[0].legend(fontsize=7, ncol=2)
        fig.suptitle(f"fastspectral bench {suite}: speed-up over the competitor (>1: faster)")
        fig.tight_layout()
        path = os.path.join(directory, f"{suite}_ratios.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch on ``threads`` threads inside the block (None: unchanged), the previous count after.

    The torch cases enter it around every timed call (get + 2 sets cost under 1 us, against calls
    of milliseconds) rather than once in ``prepare``: Prepared has no teardown hook, and a restore
    run after the harness's OpenMP limit is lifted would put back the limit's value (torch and
    fastspectral can share one libgomp, which that limit also sets)."""
    if threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
