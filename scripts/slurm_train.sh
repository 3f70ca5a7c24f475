#!/usr/bin/env bash
# Train one method data-parallel on Slurm: one torchrun per node, one process per GPU.
#   sbatch --nodes 2 scripts/slurm_train.sh --method irgen --dataset imagenet --data-root /data \
#          --weights /weights --set preset=paper --set decoder.depth=24
# The trained model lands in cache/ (a shared file system), where `python -m bench.run` with the
# same --method / --dataset / --set finds it. Resubmitting resumes from the last checkpoint.
#SBATCH --job-name=irgen-train
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=48:00:00
#SBATCH --output=logs/%x-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
GPUS_PER_NODE=${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-8}}
HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
srun .venv/bin/python -m torch.distributed.run \
    --nnodes "$SLURM_NNODES" --nproc_per_node "$GPUS_PER_NODE" \
    --rdzv_id "$SLURM_JOB_ID" --rdzv_backend c10d --rdzv_endpoint "$HEAD_NODE:29500" \
    -m bench.train --device cuda --no-progress "$@"
