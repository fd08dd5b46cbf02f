# CUDA runtime image with lit_translate installed; entrypoint `lit-translate`.
#   docker build -t lit_translate .
#   docker run --gpus all --ipc=host \
#       -v $PWD/data:/data -v $PWD/runs:/workspace/runs -v $HOME/.cache/torch:/cache/torch \
#       lit_translate fit -c configs/pix2pix/facades.yaml --data.root /data/facades
# Host requirements: an NVIDIA driver >= 580 (Linux) and the NVIDIA Container Toolkit (for --gpus). Both the base
# image (CUDA 13.0) and the torch 2.14.1 wheels (built with CUDA 13.0: torch.version.cuda == "13.0"; they bring
# their own CUDA, cuDNN and NCCL libraries and use only the host driver) need the R580 driver branch or newer; an
# older driver makes `docker run` fail with "unsatisfied condition: cuda>=13.0". Those wheels run on GPUs of
# compute capability 7.5 and newer (Turing T4 / RTX 20xx, A100, L4, H100, ...), not on V100 or P100.
# --ipc=host: DataLoader workers share batches through /dev/shm, which is 64 MB in a container by default.
# /workspace/runs: the run directories (checkpoints, logs) outlive the container; /cache/torch: TORCH_HOME, where
# the FID/KID/LPIPS weights are cached (pre-fetch: docs/evaluation.md). Files are written as root unless you add
# --user "$(id -u):$(id -g)". Without --gpus (or with no GPU visible) `accelerator: auto` falls back to CPU, and
# the paper recipes warn loudly (environment.expect_gpu).
FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    TORCH_HOME=/cache/torch \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

WORKDIR /workspace
COPY pyproject.toml constraints.txt README.md ./
COPY lit_translate ./lit_translate
RUN pip install -c constraints.txt ".[export]" && lit-translate --help > /dev/null
COPY configs ./configs
COPY docs ./docs

ENTRYPOINT ["lit-translate"]
CMD ["--help"]
