"""Fast checks of the benchmark harness and the ``fastspectral`` command: tiny --quick runs,
the JSON schema, the tables, plots and usage errors. Timings are not judged, only their
consistency (the numbers come from whatever kernels are built)."""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("scipy")

import fastspectral
from fastspectral import bench
from fastspectral.bench import _harness
from fastspectral.cli import SIZE_SCALE_ENV, build_parser, main

#: Keeps every run to a few hundred elements: the harness is under test, not the kernels.
TINY = ["--quick", "--size-scale", "0.01"]
KERNELS = {"log_iv", "log_kv", "ive", "kve", "log_ive", "log_kve", "log_iv_dx"}
#: Fixed-order functions: CPU cases on the loguniform input set only.
FIXED = {"i0", "i0e", "i1", "i1e", "k0", "k0e", "k1", "k1e"}


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """Run the command in-process; returns (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as e:  # argparse usage errors
            status = int(e.code or 0)
    return status, out.getvalue(), err.getvalue()


def _strict_json(path: Path) -> Any:
    def reject(token: str) -> None:
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(path.read_text(), parse_constant=reject)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One tiny run of the special suite on 1 and all threads, shared by the checks below."""
    tmp = tmp_path_factory.mktemp("bench")
    path, md = tmp / "special.json", tmp / "special.md"
    status, out, err = run_main(["bench", "special", *TINY, "--threads", "1", "all",
                                 "--device", "cpu", "--json", str(path), "--markdown", str(md)])
    return {"status": status, "stdout": out, "stderr": err, "json": _strict_json(path),
            "markdown": md.read_text()}


def test_quick_run_succeeds(quick_run: dict[str, Any]) -> None:
    assert quick_run["status"] == 0, quick_run["stderr"]


def test_json_top_level(quick_run: dict[str, Any]) -> None:
    doc = quick_run["json"]
    assert doc["schema"] == _harness.SCHEMA
    assert doc["created"] and doc["command"][:2] == ["fastspectral", "bench"]
    m = doc["machine"]
    for key in ("cpu_model", "logical_cpus", "usable_cpus", "numpy", "scipy", "python",
                "fastspectral", "build_info"):
        assert key in m, key
    assert m["numpy"] == np.__version__ and m["build_info"]["openmp"] in (True, False)
    cfg = doc["config"]
    assert cfg["quick"] is True and cfg["size_scale"] == 0.01 and cfg["suites"] == ["special"]
    all_threads = fastspectral.build_info()["omp_max_threads"]
    assert cfg["threads"] == sorted({1, all_threads})
    assert doc["threading"]["omp_max_threads"] == all_threads


def test_json_cases(quick_run: dict[str, Any]) -> None:
    doc = quick_run["json"]
    cases = doc["cases"]
    threads = doc["config"]["threads"]
    # (7 kernels x 5 input sets + 8 fixed-order functions) x 2 dtypes x each thread count
    assert len(cases) == (len(KERNELS) * 5 + len(FIXED)) * 2 * len(threads)
    assert {c["kernel"] for c in cases} == KERNELS | FIXED
    assert {c["input"] for c in cases if c["kernel"] in FIXED} == {"loguniform"}
    assert {c["input"] for c in cases} == {"loguniform", "vmf-p512", "vmf-p2048", "vmf-p8192",
                                           "vmf-p32768"}
    assert {c["dtype"] for c in cases} == {"f32", "f64"}
    assert {c["threads"] for c in cases} == set(threads)
    for c in cases:
        ours, theirs = c["timings"]["fastspectral"], c["timings"]["competitor"]
        assert c["suite"] == "special" and c["competitor"].startswith("scipy")
        assert c["device"] == "cpu" and c["competitor_threads"] == 1 and c["n"] >= 16
        assert ours["median_s"] > 0 and theirs["median_s"] > 0
        assert c["ratio"] == pytest.approx(theirs["median_s"] / ours["median_s"], rel=1e-12)
        for side in (ours, theirs):
            assert side["min_s"] <= side["q25_s"] <= side["median_s"]
            assert side["median_s"] <= side["q75_s"] <= side["max_s"]
            assert side["repeats"] == len(side["samples_s"]) >= 3
            assert side["ns_per_element"] == pytest.approx(side["median_s"] / c["n"] * 1e9)
        if doc["threading"]["limit_reaches_fastspectral"]:
            assert c["threads_observed"] == c["threads"]
        bad = c["metrics"]["scipy_bad_fraction"]
        assert bad is None or 0.0 <= bad <= 1.0
        assert 0.0 <= c["metrics"]["fs_nonfinite_fraction"] <= 1.0
    if "vmf-p512" in {c["input"] for c in cases}:
        vmf = next(c for c in cases if c["input"] == "vmf-p512")
        assert vmf["params"]["p"] == 512 and vmf["params"]["v"] == 255


def test_table_and_progress(quick_run: dict[str, Any]) -> None:
    out, err = quick_run["stdout"], quick_run["stderr"]
    n = len(quick_run["json"]["cases"])
    assert "== special:" in out and "single-threaded" in out
    header = next(line for line in out.splitlines() if line.startswith("kernel "))
    for col in ("competitor", "input", "dtype", "threads", "fastspectral", "ns/el", "ratio",
                "scipy bad %"):
        assert col in header
    rows = [line for line in out.splitlines() if line.split()[:1]
            and line.split()[0] in KERNELS | FIXED and "scipy" in line]
    assert len(rows) == n
    assert all(line.split()[-3].endswith("x") for line in rows)  # the ratio column
    assert "median ratio over input sets" in out
    assert f"[1/{n}] special log_iv f64 loguniform 1-thread ..." in err
    assert f"[{n}/{n}] special" in err
    assert "threadpoolctl limits reach fastspectral" in out


def test_markdown_tables(quick_run: dict[str, Any]) -> None:
    md = quick_run["markdown"]
    assert md.startswith("Generated by `fastspectral bench special")
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    # one summary row per kernel, one detailed row per case (+ headers and alignment rows)
    n_cases = len(quick_run["json"]["cases"])
    assert len(rows) == (len(KERNELS | FIXED) + 2) + (n_cases + 2)  # one competitor per kernel
    for kernel in KERNELS | FIXED:
        assert any(r.startswith(f"| {kernel} |") for r in rows)


def test_unknown_suite_is_a_usage_error() -> None:
    status, _, err = run_main(["bench", "special", "no-such-suite"])
    assert status == 2
    assert "unknown suite(s): no-such-suite" in err and "available: special" in err


def test_python_dash_m_unknown_suite() -> None:
    """`python -m fastspectral` works and exits with 2 on a bad suite name."""
    env = dict(os.environ)
    pkg_parent = str(Path(fastspectral.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "fastspectral", "bench", "nope"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "unknown suite" in proc.stderr


def test_list_and_registry() -> None:
    assert bench.suite_names()[0] == "special"
    status, out, _ = run_main(["bench", "--list"])
    assert status == 0 and out.startswith("special")
    with pytest.raises(KeyError):
        bench.load_suite("nope")


def test_bad_thread_count() -> None:
    status, _, err = run_main(["bench", "--threads", "0"])
    assert status == 2 and "--threads" in err


def test_size_scale_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SIZE_SCALE_ENV, "0.01")
    path = tmp_path / "r.json"
    status, _, err = run_main(["bench", "special", "--quick", "--threads", "1", "--device", "cpu",
                               "--repeats", "1", "--json", str(path)])
    assert status == 0, err
    assert _strict_json(path)["config"]["size_scale"] == 0.01
    cfg = bench.BenchConfig(quick=True, size_scale=1e-9)
    assert cfg.size(100_000, 20_000) == 16
    assert bench.BenchConfig(size_scale=0.5).size(100_000, 20_000) == 50_000


def test_bad_size_scale_env_is_a_usage_error_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIZE_SCALE_ENV, "big")
    build_parser().parse_args(["info"])   # building the parser works
    assert run_main(["info"])[0] == 0
    status, out, err = run_main(["bench", "special", "--quick"])
    assert status == 2 and SIZE_SCALE_ENV in err and "positive number" in err and not out


@pytest.mark.parametrize("flag", ["--json", "--markdown", "--plot"])
def test_unwritable_output_paths_fail_before_the_run(flag: str, tmp_path: Path) -> None:
    # used to fail with a traceback after the whole run, losing its results
    a_file = tmp_path / "f"
    a_file.write_text("x")
    bad = {"--json": [tmp_path / "missing" / "r.json", tmp_path],
           "--markdown": [tmp_path / "missing" / "r.md", tmp_path],
           "--plot": [a_file]}[flag]
    for path in bad:
        status, out, err = run_main(["bench", "special", *TINY, "--threads", "1",
                                     "--device", "cpu", flag, str(path)])
        assert status == 2 and flag in err and not out, (path, err)


def test_suite_named_twice_runs_once(tmp_path: Path) -> None:
    counts = []
    for suites in (["special"], ["special", "special"]):
        path = tmp_path / f"r{len(suites)}.json"
        status, _, err = run_main(["bench", *suites, *TINY, "--threads", "1", "--device", "cpu",
                                   "--repeats", "1", "--json", str(path)])
        assert status == 0, err
        counts.append(len(_strict_json(path)["cases"]))
    assert counts[0] == counts[1] > 0


def test_gpu_device_without_gpu_says_why() -> None:
    from fastspectral import _dispatch
    why = _dispatch.gpu_unavailable_reason()
    if why is None:
        pytest.skip("a GPU is usable here")
    status, out, _ = run_main(["bench", "kron", *TINY, "--device", "gpu"])
    assert status == 0 and f"(no cases: {why})" in out


def test_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    plots = tmp_path / "plots"
    status, _, err = run_main(["bench", "special", *TINY, "--threads", "1", "--device", "cpu",
                               "--repeats", "1", "--plot", str(plots)])
    assert status == 0, err
    png = plots / "special_ratios.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_harness, "have_matplotlib", lambda: False)
    status, _, err = run_main(["bench", "special", "--plot", str(tmp_path)])
    assert status == 2 and "matplotlib" in err


def test_time_case_interleaves_and_is_consistent() -> None:
    calls: list[str] = []
    a = np.arange(1000.0)

    def prepare() -> _harness.Prepared:
        return _harness.Prepared(ours=lambda: calls.append("A") or a.sum(),
                                 theirs=lambda: calls.append("B") or np.sort(a))

    case = _harness.Case(suite="t", kernel="k", competitor="c", input="i", n=a.size,
                         dtype="f64", threads=1, competitor_threads=1, prepare=prepare)
    settings = _harness.RunSettings(min_repeats=4, max_repeats=4, budget_s=0.0, min_sample_s=0.0)
    res = _harness.time_case(case, settings)
    # warm-up + calibration call per side, then pairs in alternating order
    assert calls == ["A", "A", "B", "B", "A", "B", "B", "A", "A", "B", "B", "A"]
    assert res.ours.repeats == res.theirs.repeats == 4
    assert res.ratio == res.theirs.median_s / res.ours.median_s
    assert res.to_json()["ratio"] == res.ratio


def test_single_shot_and_capped_cases() -> None:
    """max_repeats=1: exactly one call per side, whose outputs reach the metrics; a larger cap
    limits the interleaved repeats."""
    calls: list[str] = []
    seen: list[tuple] = []

    def prepare() -> _harness.Prepared:
        return _harness.Prepared(ours=lambda: calls.append("A") or "a",
                                 theirs=lambda: calls.append("B") or "b",
                                 metrics=lambda x, y: seen.append((x, y)) or {"m": 1.0})

    kw = dict(suite="t", kernel="k", competitor="c", input="i", n=10, dtype="f64", threads=1,
              competitor_threads=1, prepare=prepare)
    settings = _harness.RunSettings(min_repeats=5, max_repeats=9, budget_s=0.0, min_sample_s=0.0)
    res = _harness.time_case(_harness.Case(**kw, max_repeats=1), settings)
    assert calls == ["A", "B"] and seen == [("a", "b")]
    assert res.ours.repeats == res.theirs.repeats == 1 and res.metrics == {"m": 1.0}
    assert res.ours.median_s > 0 and res.theirs.median_s > 0
    calls.clear()
    res = _harness.time_case(_harness.Case(**kw, max_repeats=2), settings)
    assert res.ours.repeats == res.theirs.repeats == 2
    assert calls.count("A") == calls.count("B") == 4   # warm-up, calibration, 2 timed


def test_side_result_statistics() -> None:
    s = _harness.SideResult.from_samples([3.0, 1.0, 2.0, 4.0, 100.0], number=2, n=10)
    assert (s.median_s, s.min_s, s.max_s, s.q25_s, s.q75_s) == (3.0, 1.0, 100.0, 2.0, 4.0)
    assert s.ns_per_element == pytest.approx(3e8)


def test_format_helpers() -> None:
    assert _harness.format_seconds(1.5e-3) == "1.5 ms"
    assert _harness.format_seconds(2e-8) == "20 ns"
    assert _harness.format_ratio(12.345) == "12.3x"
    table = _harness.format_table(["a", "num"], [["x", "1"], ["long", "22"]], [False, True])
    assert table.splitlines() == ["a     num", "----  ---", "x       1", "long   22"]


def test_threading_report() -> None:
    rep = _harness.threading_report()
    assert rep["omp_max_threads"] >= 1
    if rep["threadpoolctl"] is not None and fastspectral.build_info()["openmp"]:
        assert any(lib["prefix"] in ("libgomp", "libomp", "libiomp")
                   for lib in rep["openmp_libraries"])
        assert rep["limit_reaches_fastspectral"] is True


def test_info_command() -> None:
    status, out, _ = run_main(["info"])
    assert status == 0
    doc = json.loads(out)
    assert doc["machine"]["cpu_model"] and "omp_max_threads" in doc["threading"]


def _gpu_ready() -> bool:
    from fastspectral.bench import special_suite

    return special_suite.gpu_available()


@pytest.mark.gpu
def test_gpu_cases(tmp_path: Path) -> None:
    if not _gpu_ready():
        if os.environ.get("FASTSPECTRAL_REQUIRE_GPU", "0") not in ("", "0", "false", "False"):
            pytest.fail("FASTSPECTRAL_REQUIRE_GPU=1 but no CUDA build/device/cupy")
        pytest.skip("needs a CUDA build, a visible GPU and cupy")
    path = tmp_path / "gpu.json"
    status, out, err = run_main(["bench", "special", *TINY, "--device", "gpu",
                                 "--json", str(path)])
    assert status == 0, err
    cases = _strict_json(path)["cases"]
    assert cases and all(c["device"] == "gpu" and c["threads"] is None for c in cases)
    assert {c["kernel"] for c in cases} >= KERNELS
    for c in cases:
        ours, theirs = c["timings"]["fastspectral"], c["timings"]["competitor"]
        assert ours["median_s"] > 0 and theirs["median_s"] > 0
        assert math.isclose(c["ratio"], theirs["median_s"] / ours["median_s"], rel_tol=1e-12)
    assert any(c["competitor"].startswith("cupyx") for c in cases)


# --------------------------------------------------------------------------- torch cases

def _torch_suite() -> Any:
    """special_suite with its torch cases runnable, else skip."""
    pytest.importorskip("torch")
    from fastspectral.bench import special_suite

    reason = special_suite.torch_unavailable()
    if reason:
        pytest.skip(reason)
    return special_suite


def test_torch_cases_are_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the environment switch the suite's cases are exactly the ones counted above;
    with it the torch cases follow them (log_iv and ive on 5 input sets, the vmf normalizer on
    the 4 vmf sets, 2 dtypes, each thread count)."""
    from fastspectral.bench import special_suite as ss

    config = bench.BenchConfig(quick=True, size_scale=0.01, threads=[1, 2], device="cpu")
    monkeypatch.delenv(ss.TORCH_ENV, raising=False)
    base = ss.cases(config)
    assert base and not any(c.kernel in ss.TORCH_KERNELS for c in base)
    monkeypatch.setenv(ss.TORCH_ENV, "1")
    both = ss.cases(config)
    assert [c.label() for c in both[:len(base)]] == [c.label() for c in base]
    extra = both[len(base):]
    if ss.torch_unavailable() is not None:
        assert extra == []
        return
    assert len(extra) == (2 * 5 + 4) * 2 * 2
    assert {c.kernel for c in extra} == set(ss.TORCH_KERNELS)
    assert {c.input for c in extra if "vmf" in c.kernel} == {f"vmf-p{p}" for p in ss.VMF_DIMS}
    assert all(c.competitor_threads == c.threads for c in extra)
    monkeypatch.setenv(ss.TORCH_ENV, "0")
    assert len(ss.cases(config)) == len(base)
    assert ss.torch_cases(bench.BenchConfig(device="gpu")) == []


def test_torch_cases_skip_cleanly_without_torch(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from fastspectral.bench import special_suite as ss

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    monkeypatch.setenv(ss.TORCH_ENV, "1")
    assert ss.torch_unavailable() is not None
    config = bench.BenchConfig(quick=True, size_scale=0.01, threads=[1], device="cpu")
    assert ss.torch_cases(config) == []
    assert "no torch cases: torch does not import" in capsys.readouterr().err
    cases = ss.cases(config)
    assert cases and not any(c.kernel in ss.TORCH_KERNELS for c in cases)


def test_torch_competitor_gradient() -> None:
    """The scipy-backed autograd Function differentiates right where ive is representable
    (numerical gradcheck), and its log_iv / vmf normalizer compositions give the textbook
    values."""
    import scipy.special as sc
    import torch

    ss = _torch_suite()
    ive = ss.scipy_ive_function()
    v = torch.tensor([0.25, 2.5, 10.0, 40.0], dtype=torch.float64)
    x = torch.tensor([0.3, 4.0, 30.0, 12.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: ive.apply(v, x), (x,))
    assert torch.autograd.gradcheck(lambda x: ive.apply(3.5, x), (x,))   # scalar order
    np.testing.assert_allclose(ss.scipy_log_iv(v, x).detach().numpy(),
                               np.log(sc.iv(v.numpy(), x.detach().numpy())), rtol=1e-13)
    k = torch.tensor([5.0, 50.0], dtype=torch.float64, requires_grad=True)
    p = 6
    got = ss.scipy_vmf_log_normalizer(p, k)
    kn = k.detach().numpy()
    want = (p / 2 - 1) * np.log(kn) - p / 2 * np.log(2 * np.pi) - np.log(sc.iv(p / 2 - 1, kn))
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-13)
    (g,) = torch.autograd.grad(got.sum(), k)   # d/dk log C_p = -I_{p/2}/I_{p/2-1}
    np.testing.assert_allclose(g.numpy(), -sc.iv(p / 2, kn) / sc.iv(p / 2 - 1, kn), rtol=1e-12)
    x32 = torch.tensor([1.0, 2.0], dtype=torch.float32)
    assert ive.apply(torch.tensor([1.5, 2.5], dtype=torch.float32), x32).dtype == torch.float32


def test_torch_cases_run_tiny() -> None:
    """Every torch case runs on a few hundred elements; torch's thread count is the case's
    during each timed call and comes back after it; the metrics show what the cases are for: the
    competitor's gradient is lost where ive underflows (loguniform, vmf-p32768) and agrees
    with ours where it does not (vmf-p512, float64)."""
    import torch

    ss = _torch_suite()
    config = bench.BenchConfig(quick=True, size_scale=0.01, threads=[1], device="cpu")
    cases = ss.torch_cases(config)
    settings = _harness.RunSettings(min_repeats=2, max_repeats=2, budget_s=0.0,
                                    min_sample_s=0.0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen: list[int] = []
        prep = cases[0].prepare()
        real_grad = torch.autograd.grad

        def spy(*args: Any, **kwargs: Any) -> Any:
            seen.append(torch.get_num_threads())
            return real_grad(*args, **kwargs)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(torch.autograd, "grad", spy)
            prep.ours()
            prep.theirs()
        assert seen == [1, 1] and torch.get_num_threads() == 2
        results = {(r.case.kernel, r.case.dtype, r.case.input): r
                   for r in (_harness.time_case(c, settings) for c in cases)}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    keys = {"scipy_bad_fraction", "fs_nonfinite_fraction", "grad_bad_fraction",
            "fs_grad_nonfinite_fraction", "grad_max_rel_diff", "grad_median_rel_diff"}
    for r in results.values():
        assert set(r.metrics) == keys
        assert r.ours.median_s > 0 and r.theirs.median_s > 0 and r.ours.repeats == 2
        assert r.metrics["fs_grad_nonfinite_fraction"] == 0.0
        assert r.metrics["fs_nonfinite_fraction"] == 0.0
        assert 0.0 <= r.metrics["grad_bad_fraction"] <= 1.0
        json.dumps(r.to_json())
    log_iv = results["torch.log_iv fwd+bwd", "f64", "loguniform"].metrics
    assert 0.05 < log_iv["grad_bad_fraction"] < 0.95
    assert log_iv["grad_max_rel_diff"] < 1e-8    # where both are finite they agree
    vmf = results["torch.vmf_log_normalizer fwd+bwd", "f64", "vmf-p32768"].metrics
    assert vmf["grad_bad_fraction"] > 0.5 and vmf["scipy_bad_fraction"] > 0.5
    for kernel in ss.TORCH_KERNELS:
        small = results[kernel, "f64", "vmf-p512"].metrics
        assert small["grad_bad_fraction"] == 0.0 and small["scipy_bad_fraction"] == 0.0
        assert small["grad_max_rel_diff"] < 1e-6
    # ive itself stays finite (it underflows to 0 on both sides): no lost gradients
    assert results["torch.ive fwd+bwd", "f64", "loguniform"].metrics["grad_bad_fraction"] == 0.0


def test_kron_torch_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kron suite's torch front-end cases: every shape with both kinds, outputs and every
    gradient agreeing with the torch shuffle + autograd, torch's thread count restored, and no
    cases (and no error) when torch cannot be imported."""
    torch = pytest.importorskip("torch")
    from fastspectral.bench import kron_suite

    config = bench.BenchConfig(quick=True, size_scale=0.01, threads=[1], device="cpu")
    cases = kron_suite.torch_cases(config)
    labels = {label for label, _ in kron_suite.SHAPES}
    assert {c.kernel for c in cases} == {f"torch kron {s} {k}" for s in labels
                                        for k in kron_suite.TORCH_KINDS}
    assert all(c.threads == c.competitor_threads == 1 and c.dtype == "f64" for c in cases)
    assert {c.kernel for c in kron_suite.cases(config)} >= {c.kernel for c in cases}

    before = torch.get_num_threads()
    settings = bench.RunSettings(min_repeats=1, max_repeats=1, budget_s=0.0, min_sample_s=0.0)
    # the smallest inputs: one with rectangular factors, one with square ones, both kinds
    small = [c for c in cases if c.params["shape"] in ("(16x8)^4", "128^2") and c.params["M"] == 1]
    assert len(small) == 4
    for case in small:
        res = _harness.time_case(case, settings)
        n_fac = 4 if case.params["shape"] == "(16x8)^4" else 2
        want = {"rel_y"} if case.params["kind"] == "forward" else (
            {"rel_y", "rel_dx"} | {f"rel_dA{k}" for k in range(1, n_fac + 1)})
        assert set(res.metrics) == want
        assert all(0 <= v < 1e-12 for v in res.metrics.values()), res.metrics
        assert res.ours.median_s > 0 and res.theirs.median_s > 0
    assert torch.get_num_threads() == before

    # the competitor itself against a dense Kronecker product (a wrong transpose would show)
    g = torch.Generator().manual_seed(1)
    fac = [torch.randn(3, 2, generator=g, dtype=torch.float64),
           torch.randn(2, 4, generator=g, dtype=torch.float64)]
    x = torch.randn(5, 8, generator=g, dtype=torch.float64)
    torch.testing.assert_close(kron_suite.torch_shuffle(fac, x.mT),
                               torch.kron(*fac) @ x.mT)

    monkeypatch.setitem(sys.modules, "torch", None)   # import torch -> ImportError
    assert kron_suite.torch_cases(config) == []
    assert not any(c.kernel.startswith("torch") for c in kron_suite.cases(config))
