#!/usr/bin/env bash
# Every GPU check in one command, on a machine with a CUDA GPU, from the project root:
#   scripts/gpu_checks.sh                    # a machine set up with ./setup.sh
#   .gpu-kit/run.sh scripts/gpu_checks.sh    # a bare one (the kit: /work/shared/gpu-kit/prepare.sh)
# 1. IRGen's throughput at the paper's size (ViT-B/16 + 12x768 decoder, random weights, bf16):
#    queries/s and ms per query per stage, and the targets at batch 128 (beams 10 and 30) as
#    ratios, printed and written to $OUT/throughput/results.csv;
# 2. the GPU tests (pytest -m gpu: CUDA against the CPU, the compiled decoder step, a search loop
#    that never waits on the host, bench.train under torchrun with nccl), log in $OUT/pytest.log.
# Output goes under $OUT when set, else results/gpu-checks/. About 8 minutes on one H100.
set -uo pipefail
out=${OUT:-results/gpu-checks}
py=${PYTHON:-python3}
cache=$(mktemp -d)
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$py" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
"$py" -m bench.throughput --method irgen --set preset=paper --untrained --device cuda --dtype bf16 \
    --beam 1,10,30 --batch 1,128 --repeats 3 --warmup 1 --results "$out" --cache "$cache" --no-progress
timing=$?
"$py" -m pytest -q -m gpu -rA -p no:cacheprovider tests/gpu 2>&1 | tee "$out/pytest.log"
tests=${PIPESTATUS[0]}
rm -rf "$cache"
echo "throughput exit $timing, GPU tests exit $tests"
exit $((timing || tests))
