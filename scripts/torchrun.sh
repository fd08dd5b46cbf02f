#!/bin/bash
# lit_translate under torchrun: run this same script on every node (here 2 nodes x 8 GPUs).
#   NODE_RANK=0 MASTER_ADDR=node0.cluster ./scripts/torchrun.sh      # on node 0
#   NODE_RANK=1 MASTER_ADDR=node0.cluster ./scripts/torchrun.sh      # on node 1
# Lightning detects torchrun (TorchElasticEnvironment) and takes ranks and world size from it; the trainer's
# devices x num_nodes must match nproc_per_node x nnodes. If any process fails, torchrun stops the others and
# exits non-zero; rerun the same command (it ends in --ckpt_path last) to resume exactly.
set -euo pipefail
NNODES=${NNODES:-2}
NPROC=${NPROC:-8}
torchrun \
  --nnodes "${NNODES}" --nproc_per_node "${NPROC}" \
  --node_rank "${NODE_RANK:?set NODE_RANK}" \
  --rdzv_backend c10d --rdzv_endpoint "${MASTER_ADDR:?set MASTER_ADDR}:${MASTER_PORT:-29500}" \
  -m lit_translate fit \
  -c configs/trainer/ddp.yaml \
  -c configs/cyclegan/horse2zebra.yaml \
  --data.root "${DATA_ROOT:-datasets/horse2zebra}" \
  --trainer.accelerator gpu \
  --trainer.devices "${NPROC}" \
  --trainer.num_nodes "${NNODES}" \
  --trainer.default_root_dir runs/horse2zebra \
  --ckpt_path last
