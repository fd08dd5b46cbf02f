# CUDA runtime image with lit_translate installed; entrypoint `lit-translate`.
#   docker build -t lit_translate .
#   docker run --gpus all --ipc=host -v $PWD/data:/data -v $PWD/runs:/workspace/runs lit_translate \
#       fit -c configs/pix2pix/facades.yaml --data.root /data/facades
# The torch wheels bring their own CUDA libraries; the base image provides the runtime environment.
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
RUN pip install -c constraints.txt . && lit-translate --help > /dev/null
COPY configs ./configs
COPY docs ./docs

ENTRYPOINT ["lit-translate"]
CMD ["--help"]
