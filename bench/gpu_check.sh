#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build fastspectral with CUDA for that GPU, run the whole test
# suite with FASTSPECTRAL_REQUIRE_GPU=1 (GPU tests may not skip), then the benchmarks (which add
# GPU cases when a device is visible).  Leaves logs and JSON in $1 (default: $OUT or
# bench-results/gpu).  Works offline: builds without isolation from the installed toolchain
# (scikit-build-core, nanobind, numpy, cupy must already be installed).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-bench-results/gpu}}"
mkdir -p "$out"

nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || { echo "no nvidia-smi: not a GPU machine" >&2; exit 1; }
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d '. ')
echo "GPU compute capability: $arch" | tee "$out/summary.txt"

export FASTSPECTRAL_ENABLE_CUDA=ON FASTSPECTRAL_CUDA_ARCHITECTURES="$arch"
python3 -m pip install --no-build-isolation --no-deps . > "$out/build.log" 2>&1 \
  || { echo "build failed; see $out/build.log" | tee -a "$out/summary.txt"; tail -n 40 "$out/build.log"; exit 1; }
python3 -c "import fastspectral, json; print(json.dumps(fastspectral.build_info(), indent=1))" | tee -a "$out/summary.txt"

FASTSPECTRAL_REQUIRE_GPU=1 python3 -m pytest tests -q -rfE -p no:cacheprovider 2>&1 | tee "$out/tests.log"
tests_rc=${PIPESTATUS[0]}
echo "tests exit code: $tests_rc" | tee -a "$out/summary.txt"

# device probes whose output the notes ask for: cuFFT single-precision C2R on the spectral
# bench's shapes (spectral._gpu_irfftn works around a suspected error there), torch CPU vs CUDA
python3 tests/tools/dev_cufft_c2r_check.py > "$out/cufft_c2r_check.log" 2>&1
python3 tests/tools/dev_torch_cuda_grad_check.py > "$out/torch_cuda_grad_check.log" 2>&1

# GPU cases only (the CPU cases are the dev VM's job); suites without GPU cases print none
fastspectral bench special kron spectral vmf --device gpu --json "$out/bench.json" \
  --markdown "$out/bench.md" 2>&1 | tee "$out/bench.log"
bench_rc=${PIPESTATUS[0]}
# the GP solver's cupy path (never run on a GPU before): the --quick grids only, whole solves
fastspectral bench gp --device gpu --quick --json "$out/bench-gp.json" \
  --markdown "$out/bench-gp.md" 2>&1 | tee "$out/bench-gp.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || bench_rc=1
echo "bench exit code: $bench_rc" | tee -a "$out/summary.txt"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
