#!/usr/bin/env bash
# Smoke test after a deploy (source S1): is the service alive, ready, and does OCR work?
#
#   scripts/smoke_test.sh [BASE_URL]        (default http://127.0.0.1:8000)
#
# Checks, in order, each with its own exit code so a pipeline says what failed:
#   10  health     GET /livez answers 200
#   11  readiness  GET /readyz answers 200 (else its reasons name each dependency down)
#   12  OCR now    POST /api/v1/ocr reads the PNG carried below ("Inferline smoke test 42")
#   13  OCR job    POST /api/v1/ocr/jobs answers 202 with a job id
#   14  job done   GET /api/v1/jobs/{id} reaches "succeeded" with the text within
#                  SMOKE_JOB_TIMEOUT seconds (default 60)
#    2  usage      bad arguments, or curl/base64 missing
# Needs only bash, curl and base64. SMOKE_MODEL picks the OCR model (ocr-tesseract).
set -uo pipefail

BASE_URL="${1:-http://127.0.0.1:8000}"
BASE_URL="${BASE_URL%/}"
MODEL="${SMOKE_MODEL:-ocr-tesseract}"
JOB_TIMEOUT="${SMOKE_JOB_TIMEOUT:-60}"
EXPECTED="smoke test 42"

if [ $# -gt 1 ] || [[ "$BASE_URL" != http://* && "$BASE_URL" != https://* ]]; then
  echo "usage: $0 [BASE_URL]   (http:// or https://)" >&2
  exit 2
fi
for tool in curl base64; do
  command -v "$tool" >/dev/null 2>&1 || { echo "smoke: $tool is required" >&2; exit 2; }
done

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
image="$workdir/smoke.png"

# "Inferline smoke test 42", DejaVu Sans 24 px, 1-bit PNG (531 bytes)
base64 -d > "$image" <<'PNG'
iVBORw0KGgoAAAANSUhEUgAAASwAAABDAQAAAAAO0wXjAAAB2klEQVR42u2UwWpTURCGv3NyMFco
yRVcRAgk4MJnEKS5C/f2EQp9AMW6qELqCeQ1hDyCyy5EgxTM0q0Q4YYUbnfeNCmeGyZ3XPQKQRC6
cCX5Vz8zHzMwM4xRbqGF5VbaYTvsH2Ebz6YL69VW9HLLTxYJWPAIoOUfBTYVL/lXsFiPScH8rf15
8wwsv6vsbaUEwN+YUdwGVFQXqlroljJVlco81LnmFvtm+COJVvEqi4uEz+vhucZczJBoxvBbok9x
gMqJGT8xebRI62lTOTEm1LMvvpfX/T7jnmQ619yB5/EHwmJtpu6MfQ/FlEkn3QujtP9ovBEcOKwf
Xkc1AzaedtXg3c/G9Xs8jE7nsHGkLSylIQILDjAYRx5JUs1eCMIEUHktRc5xscyWvqbNQuS4SEua
ckqjk+ky047mFgsBvJaA4yXCKwViPPcuYIV2q/FGd7U0Fp4FnnuHGDfopZhe+h2KB+XNTt8SAhaE
MTQUYuwnQKENIB4sdkAUATgSwAg+mBkwAIROVlA1DbU+APcv9SOO/hUvDkaWg3cSg1wBqBRSCMuw
yJZpvaQQCfUs852y7tsm72mW1jS3WE+o1TAWWi0zQLgTIYeHhsMjG1UnY3ZPdYftsB32n2K/ACcm
9Imh6vF5AAAAAElFTkSuQmCC
PNG

fail() {  # code, check, message
  echo "smoke: FAIL [$2] $3" >&2
  exit "$1"
}
ok() { echo "smoke: ok   [$1] $2"; }

# body to $workdir/body, HTTP status on stdout ("000" when nothing answered)
call() {
  curl -sS -o "$workdir/body" -w '%{http_code}' --max-time 30 "$@" 2>"$workdir/curl-error" || true
}
body() { cat "$workdir/body" 2>/dev/null; }
field() {  # the first string value of a JSON field in the body
  sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$workdir/body" | head -n 1
}

status="$(call "$BASE_URL/livez")"
[ "$status" = "200" ] || fail 10 health "GET $BASE_URL/livez answered ${status} $(cat "$workdir/curl-error") $(body)"
ok health "GET /livez 200"

status="$(call "$BASE_URL/readyz")"
if [ "$status" != "200" ]; then
  fail 11 readiness "GET /readyz answered ${status}: $(body) $(cat "$workdir/curl-error")"
fi
call "$BASE_URL/health" >/dev/null
ok readiness "GET /readyz 200; components: $(tr -d '\n' < "$workdir/body" | head -c 600)"

status="$(call -F "file=@$image;type=image/png" -F "model=$MODEL" -F "lang=eng" "$BASE_URL/api/v1/ocr")"
if [ "$status" != "200" ] || ! grep -qi "$EXPECTED" "$workdir/body"; then
  fail 12 "ocr now" "POST /api/v1/ocr answered ${status}: $(body)"
fi
ok "ocr now" "POST /api/v1/ocr read \"$(field text)\" in $(sed -n 's/.*"timing_ms":\([0-9.]*\).*/\1/p' "$workdir/body") ms"

status="$(call -F "file=@$image;type=image/png" -F "model=$MODEL" -F "lang=eng" "$BASE_URL/api/v1/ocr/jobs")"
job_id="$(field job_id)"
if [ "$status" != "202" ] || [ -z "$job_id" ]; then
  fail 13 "ocr job" "POST /api/v1/ocr/jobs answered ${status}: $(body)"
fi
ok "ocr job" "queued job $job_id"

deadline=$((SECONDS + JOB_TIMEOUT))
while :; do
  status="$(call "$BASE_URL/api/v1/jobs/$job_id")"
  job_status="$(field status)"
  case "$job_status" in
    succeeded)
      grep -qi "$EXPECTED" "$workdir/body" || fail 14 "job done" "job $job_id succeeded without the text: $(body)"
      ok "job done" "job $job_id succeeded"
      break ;;
    dead|cancelled|expired)
      fail 14 "job done" "job $job_id ended $job_status: $(body)" ;;
  esac
  if [ "$SECONDS" -ge "$deadline" ]; then
    fail 14 "job done" "job $job_id still ${job_status:-unknown} (HTTP $status) after ${JOB_TIMEOUT}s: is a worker running?"
  fi
  sleep 0.5
done
echo "smoke: all checks passed against $BASE_URL"
