"""The ``fastspectral`` command.

Usage
-----
``fastspectral bench [SUITE ...] [--quick] [--json PATH] [--markdown PATH] [--plot DIR]
[--threads N|all ...] [--size-scale F] [--repeats N] [--device cpu|gpu|all] [--seed S]``
    Time fastspectral against its peers (all registered suites when none is named); progress
    on stderr, result tables on stdout.  Output paths are checked before the run;
    ``$FASTSPECTRAL_BENCH_SIZE_SCALE`` is the default of --size-scale.
``fastspectral bench --list``
    The registered suites.
``fastspectral info``
    Build facts (CUDA, OpenMP threads) and which OpenMP runtime threadpoolctl controls.

``python -m fastspectral ...`` is the same command.

Example
-------
>>> from fastspectral.cli import main
>>> main(["bench", "--list"])  # doctest: +SKIP
special  Bessel family (log_iv, log_kv, ive, kve, ...) vs scipy.special
0
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

#: Default for --size-scale, so CI and tests can shrink every problem without new flags.
SIZE_SCALE_ENV = "FASTSPECTRAL_BENCH_SIZE_SCALE"


def _thread_count(text: str) -> int | str:
    if text == "all":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}")
    return n


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = 0.0
    if not x > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return x


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastspectral`` command."""
    parser = argparse.ArgumentParser(prog="fastspectral", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("bench", help="time fastspectral against its peers",
                       description="Time fastspectral against its peers in one process on "
                       "identical inputs; print medians and ratios (competitor/fastspectral).")
    b.add_argument("suites", nargs="*", metavar="SUITE",
                   help="suites to run (default: all; see --list)")
    b.add_argument("--list", action="store_true", help="list the registered suites and exit")
    b.add_argument("--quick", action="store_true", help="small sizes and few repeats (CI)")
    b.add_argument("--json", metavar="PATH", help="write every result and the machine facts here")
    b.add_argument("--plot", metavar="DIR", help="write PNG plots here (needs matplotlib)")
    b.add_argument("--markdown", metavar="PATH",
                   help="also write the tables as markdown (what the README shows)")
    b.add_argument("--threads", nargs="+", type=_thread_count, metavar="N",
                   help="OpenMP thread counts for fastspectral's CPU cases, integers or 'all' "
                   "(default: 1 all)")
    b.add_argument("--size-scale", type=_positive_float, metavar="F", default=None,
                   help=f"multiply every problem size by F (default: ${SIZE_SCALE_ENV} or 1)")
    b.add_argument("--repeats", type=int, metavar="N",
                   help="exactly N timed repeats per side (default: adaptive)")
    b.add_argument("--device", choices=("cpu", "gpu", "all"), default="all",
                   help="which cases to run; GPU cases need a CUDA build, a GPU and cupy")
    b.add_argument("--seed", type=int, default=20240601, help="seed of the random inputs")

    sub.add_parser("info", help="build facts and thread control")
    return parser


def _resolve_threads(requested: Sequence[int | str] | None, all_threads: int) -> list[int]:
    wanted: Sequence[int | str] = requested if requested else [1, "all"]
    return list(dict.fromkeys(all_threads if isinstance(t, str) else t for t in wanted))


def _cmd_info() -> int:
    from .bench import _harness

    print(json.dumps({"machine": _harness.machine_info(),
                      "threading": _harness.threading_report()}, indent=1))
    return 0


def _cmd_bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from . import _dispatch, bench
    from .bench import _harness

    names = bench.suite_names()
    if args.list:
        for name in names:
            print(f"{name:10s} {bench.load_suite(name).DESCRIPTION}")
        return 0
    unknown = [s for s in args.suites if s not in names]
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(unknown)}; available: {', '.join(names)}")
    if args.plot and not _harness.have_matplotlib():
        parser.error("--plot needs matplotlib, which is not installed: "
                     "pip install matplotlib (or 'fastspectral[bench]'), or drop --plot")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.size_scale is None:
        # read here, not while building the parser: a bad value must not break --help
        try:
            args.size_scale = _positive_float(os.environ.get(SIZE_SCALE_ENV, "1"))
        except argparse.ArgumentTypeError as e:
            parser.error(f"${SIZE_SCALE_ENV}: {e}")
    # output paths are checked before the (possibly hour-long) run, not after it
    for flag, path in (("--json", args.json), ("--markdown", args.markdown)):
        problem = _unwritable_file(path) if path else None
        if problem:
            parser.error(f"{flag} {path}: {problem}")
    if args.plot:
        problem = _unwritable_dir(args.plot)
        if problem:
            parser.error(f"--plot {args.plot}: {problem}")

    threading = _harness.threading_report()
    all_threads = threading["omp_max_threads"]
    threads = _resolve_threads(args.threads, all_threads)
    if threading["threadpoolctl"] is None and threads != [all_threads]:
        print(f"warning: threadpoolctl is not installed, so thread counts cannot be set; "
              f"running with {all_threads} thread(s) only", file=sys.stderr)
        threads = [all_threads]
    elif threading["threadpoolctl"] and not threading["limit_reaches_fastspectral"]:
        print("warning: threadpoolctl does not control fastspectral's OpenMP runtime; "
              "see threads_observed in the results", file=sys.stderr)

    config = bench.BenchConfig(quick=args.quick, size_scale=args.size_scale, threads=threads,
                               device=args.device, seed=args.seed)
    if args.quick:
        settings = bench.RunSettings(min_repeats=3, max_repeats=7, budget_s=0.1)
    else:
        settings = bench.RunSettings(min_repeats=5, max_repeats=25, budget_s=1.0)
    if args.repeats is not None:
        settings.min_repeats = settings.max_repeats = args.repeats

    machine = _harness.machine_info()
    selected = list(dict.fromkeys(args.suites)) or names   # a suite named twice runs once
    status = 0
    results: list[bench.CaseResult] = []
    sections: list[tuple[Any, list[bench.CaseResult]]] = []
    for name in selected:
        suite = bench.load_suite(name)
        reason = suite.unavailable() if hasattr(suite, "unavailable") else None
        if reason:
            print(f"suite {name} skipped: {reason}", file=sys.stderr)
            status = 1 if args.suites else status  # asked for by name: that is a failure
            continue
        suite_results = _harness.run_cases(suite.cases(config), settings)
        sections.append((suite, suite_results))
        results += suite_results

    print(_header(machine, threading, threads))
    for suite, suite_results in sections:
        print(f"\n== {suite.NAME}: {suite.DESCRIPTION} ==")
        if getattr(suite, "NOTE", ""):
            print(suite.NOTE)
        if not suite_results:
            why = _dispatch.gpu_unavailable_reason() if args.device == "gpu" else None
            print(f"(no cases: {why})" if why else "(no cases)")
            continue
        print(_harness.results_table(suite_results))
        print("\nmedian ratio over input sets:")
        print(_harness.summary_table(suite_results))

    if args.json:
        cfg = {"suites": selected, "quick": args.quick, "size_scale": args.size_scale,
               "threads": threads, "device": args.device, "seed": args.seed,
               "settings": vars(settings)}
        report = _harness.report_json(results, cfg, threading, machine,
                                      command=["fastspectral", *args.argv])
        _harness.write_json(report, args.json)
        print(f"\nresults written to {args.json}", file=sys.stderr)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(_markdown_report(machine, threading, threads, sections, args.argv))
        print(f"markdown tables written to {args.markdown}", file=sys.stderr)
    if args.plot and results:
        for path in _harness.write_plots(results, args.plot):
            print(f"plot written to {path}", file=sys.stderr)
    return status


def _unwritable_file(path: str) -> str | None:
    """Why `path` cannot be written (None when it can): a directory, a missing or read-only
    parent, a read-only file."""
    if os.path.isdir(path):
        return "is a directory"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"directory {parent} does not exist"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "file is not writable"
    if not os.access(parent, os.W_OK):
        return f"directory {parent} is not writable"
    return None


def _unwritable_dir(path: str) -> str | None:
    """Why plots cannot be written under `path` (created if missing; None when they can)."""
    if os.path.exists(path) and not os.path.isdir(path):
        return "exists and is not a directory"
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        return f"cannot create it ({e.strerror})"
    if not os.access(path, os.W_OK):
        return "directory is not writable"
    return None


def _markdown_report(machine: dict[str, Any], threading: dict[str, Any], threads: list[int],
                     sections: list[tuple[Any, list[Any]]], argv: Sequence[str]) -> str:
    from .bench import _harness

    out = [f"Generated by `fastspectral {' '.join(argv)}`.", "",
           "```", _header(machine, threading, threads), "```", ""]
    for suite, suite_results in sections:
        out += [f"#### {suite.NAME}: {suite.DESCRIPTION}", ""]
        if getattr(suite, "NOTE", ""):
            out += [suite.NOTE, ""]
        if suite_results:
            out += ["Median ratio (competitor time / fastspectral time) over input sets:", "",
                    _harness.summary_table(suite_results, markdown=True), "",
                    "<details><summary>all cases</summary>", "",
                    _harness.results_table(suite_results, markdown=True), "", "</details>", ""]
    return "\n".join(out)


def _header(machine: dict[str, Any], threading: dict[str, Any], threads: list[int]) -> str:
    libs = ", ".join(f"{d['prefix']} ({d['filepath']})" for d in threading["openmp_libraries"])
    control = "yes" if threading["limit_reaches_fastspectral"] else "NO"
    return (f"machine: {machine['cpu_model']}; {machine['usable_cpus']} usable CPUs; "
            f"numpy {machine['numpy']}, scipy {machine['scipy']}, "
            f"fastspectral {machine['fastspectral']}\n"
            f"OpenMP: {libs or 'no runtime seen by threadpoolctl'}; fastspectral threads run: "
            f"{', '.join(map(str, threads))}; threadpoolctl limits reach fastspectral: {control}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastspectral`` command with ``argv`` (default: ``sys.argv[1:]``); returns
    the exit status (2 for usage errors such as an unknown suite)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command == "info":
        return _cmd_info()
    return _cmd_bench(args, parser)


if __name__ == "__main__":
    sys.exit(main())
