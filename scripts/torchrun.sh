#!/bin/bash
# lit_translate under torchrun: run this same script, from the repository root, on every node (here 2 x 8 GPUs):
#   RUN=runs/horse2zebra-001 NODE_RANK=0 MASTER_ADDR=node0.cluster ./scripts/torchrun.sh      # on node 0
#   RUN=runs/horse2zebra-001 NODE_RANK=1 MASTER_ADDR=node0.cluster ./scripts/torchrun.sh      # on node 1
# Extra arguments go to `lit-translate fit` (e.g. --trainer.max_epochs 300). Checklist: docs/distributed.md.
# Variables: RUN (required; the run directory, the same on every node), NODE_RANK and MASTER_ADDR (required),
# MASTER_PORT, NNODES, NPROC, VENV, RECIPE, DATA_ROOT, TORCH_HOME.
# Lightning detects torchrun (TorchElasticEnvironment) and takes ranks and world size from it; the trainer's
# devices x num_nodes must match nproc_per_node x nnodes. If any process fails, torchrun stops the others and
# exits non-zero; rerun the same command (same RUN) to resume exactly from the run's last checkpoint. A new
# experiment needs a new RUN: there is no default, so a rerun never continues another run by accident.
# RUN, the data, the environment and TORCH_HOME must be on a filesystem shared by all nodes.
set -euo pipefail

# ---- Environment: EDIT if you use conda or modules (e.g. `module load python; conda activate lit`) ------------
VENV=${VENV:-.venv}                  # the virtualenv `make test` / `make demo` creates
# shellcheck source=/dev/null
source "${VENV}/bin/activate"

RUN=${RUN:?set RUN to the run directory, e.g. RUN=runs/horse2zebra-001 (the same on every node; reuse it to resume)}
NNODES=${NNODES:-2}
NPROC=${NPROC:-8}
RECIPE=${RECIPE:-configs/cyclegan/horse2zebra.yaml}
export TORCH_HOME=${TORCH_HOME:-$HOME/.cache/torch}   # pre-fetched metric weights (docs/evaluation.md)
DATA=()                              # no DATA_ROOT: the recipe's data.root (data/horse2zebra)
if [[ -n "${DATA_ROOT:-}" ]]; then DATA=(--data.root "${DATA_ROOT}"); fi

# ---- Resume: continue the run if it has a checkpoint, else start it ----------------------------------------
RESUME=()
if [[ -f "${RUN}/checkpoints/last.ckpt" ]]; then RESUME=(--ckpt_path last); fi

torchrun \
  --nnodes "${NNODES}" --nproc_per_node "${NPROC}" \
  --node_rank "${NODE_RANK:?set NODE_RANK}" \
  --rdzv_backend c10d --rdzv_endpoint "${MASTER_ADDR:?set MASTER_ADDR}:${MASTER_PORT:-29500}" \
  -m lit_translate fit \
  -c configs/trainer/ddp.yaml \
  -c "${RECIPE}" \
  ${DATA[@]+"${DATA[@]}"} \
  --trainer.accelerator gpu \
  --trainer.devices "${NPROC}" \
  --trainer.num_nodes "${NNODES}" \
  --trainer.default_root_dir "${RUN}" \
  ${RESUME[@]+"${RESUME[@]}"} \
  "$@"
