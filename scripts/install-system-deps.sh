#!/usr/bin/env bash
# Install the system programs the end-to-end tests drive, if they are missing:
#   chromium (browser tests, driven by Playwright; never a downloaded browser),
#   promtool + prometheus (metrics and alert-rule checks), nginx (reverse-proxy test),
#   tesseract-ocr with English and Korean data (the OCR models read Debian's tessdata),
#   kubectl (renders the Kubernetes manifests offline with its built-in kustomize),
#   fonts-nanum (Hangul glyphs: the OCR tests and benchmark render Korean text),
#   docker-compose (validates deploy/compose.yaml with `docker-compose config`; no engine).
# Idempotent: does nothing when everything is present. Debian/Ubuntu (apt-get) only.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

have chromium || have chromium-browser || missing+=(chromium)
{ have promtool && have prometheus; } || missing+=(prometheus)
have nginx || missing+=(nginx)
have tesseract || missing+=(tesseract-ocr)
for lang in eng kor; do
  ls /usr/share/tesseract-ocr/*/tessdata/"$lang".traineddata >/dev/null 2>&1 || missing+=("tesseract-ocr-$lang")
done
have kubectl || missing+=(kubectl)
ls /usr/share/fonts/truetype/nanum/NanumGothic.ttf >/dev/null 2>&1 || missing+=(fonts-nanum)
have docker-compose || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)

if [ ${#missing[@]} -eq 0 ]; then
  echo "system dependencies present: chromium, promtool, prometheus, nginx, tesseract (eng, kor), kubectl, fonts-nanum, docker compose"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing ${missing[*]} and apt-get is not available: install them by hand" >&2
  exit 0  # the tests that need them fail in CI and skip locally
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
  else
    echo "missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 0
  fi
fi

echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
# The tests start their own nginx and Prometheus on free ports; services the packages
# may start on 80/9090 do not disturb them.
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
