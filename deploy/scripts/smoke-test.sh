#!/usr/bin/env bash
# Smoke test of a deployed segserve, run by every pipeline after a deploy (GitHub Actions, Cloud Build,
# Jenkins): the readiness route answers 200, at least one model is listed, and a real segmentation of a small
# generated image through the default model answers 200. Exits non-zero at the first failure, saying which;
# the pipeline then rolls back. test/deploy/pipelines.test.ts runs it against a local server.
#
#   deploy/scripts/smoke-test.sh https://segserve.example.com [attempts]
set -euo pipefail

base="${1:?usage: smoke-test.sh BASE_URL [attempts]}"
base="${base%/}"
attempts="${2:-30}"

# A 16x16 red PNG: small enough to inline, and every model input size resizes it.
image="$(mktemp)"
trap 'rm -f "$image"' EXIT
printf '%s' 'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAGUlEQVR4nGP4z8BAEmIY1cAwGkr/h2vSAACQ+f8BHMfe7gAAAABJRU5ErkJggg==' \
  | base64 -d > "$image"

# A rollout has just finished: the load balancer may still be adding the new pods.
for ((i = 1; i <= attempts; i++)); do
  status="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/v2/health/ready" || true)"
  [ "$status" = 200 ] && break
  if [ "$i" = "$attempts" ]; then
    echo "smoke test: $base/v2/health/ready answered ${status:-nothing} after $attempts tries" >&2
    exit 1
  fi
  sleep 2
done

models="$(curl -fsS --max-time 10 "$base/v1/models")" || { echo "smoke test: GET /v1/models failed" >&2; exit 1; }
case "$models" in
  *'"name"'*) ;;
  *) echo "smoke test: GET /v1/models lists no model: $models" >&2; exit 1 ;;
esac

status="$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -F "file=@$image;type=image/png" "$base/predict/upload")"
if [ "$status" != 200 ]; then
  echo "smoke test: POST /predict/upload answered $status" >&2
  exit 1
fi
echo "smoke test: $base is ready, lists its models and segments an image"
