#!/usr/bin/env bash
# Deploys an image to Kubernetes with the prod overlay, waits for the rollout, runs the smoke test, and rolls
# both Deployments back to their previous revision when any of that fails. Used by the GitHub Actions deploy
# job, the Cloud Build GKE step and the Jenkinsfile, so the three do the same thing.
#
#   deploy/scripts/deploy-k8s.sh IMAGE NAMESPACE BASE_URL [OVERLAY]
#   e.g. deploy/scripts/deploy-k8s.sh ghcr.io/acme/segserve:v1.2.0 segserve https://segserve.example.com
set -euo pipefail

image="${1:?usage: deploy-k8s.sh IMAGE NAMESPACE BASE_URL [OVERLAY]}"
namespace="${2:?namespace}"
base_url="${3:?base url}"
overlay="${4:-deploy/k8s/overlays/prod}"
here="$(cd "$(dirname "$0")" && pwd)"
deployments=(deployment/segserve-api deployment/segserve-worker)

rollback() {
  echo "deploy failed: rolling back ${deployments[*]} in $namespace" >&2
  for deployment in "${deployments[@]}"; do
    kubectl -n "$namespace" rollout undo "$deployment" || true
  done
  for deployment in "${deployments[@]}"; do
    kubectl -n "$namespace" rollout status "$deployment" --timeout=10m || true
  done
  exit 1
}

# A first deploy has no revision to go back to: only a Deployment that exists now can be rolled back.
existing="$(kubectl -n "$namespace" get deployment segserve-api -o name 2>/dev/null || true)"

# The container is named segserve in every workload: one `set image` gives the API, the workers (and the
# overlay's other pods) the release image.
kubectl kustomize "$overlay" \
  | kubectl set image --local -f - segserve="$image" -o yaml \
  | kubectl apply -f -

trap '[ -n "$existing" ] && rollback; exit 1' ERR
for deployment in "${deployments[@]}"; do
  kubectl -n "$namespace" rollout status "$deployment" --timeout=15m
done
"$here/smoke-test.sh" "$base_url"
trap - ERR
echo "deployed $image to $namespace"
