#!/usr/bin/env bash
# Validates the manifests against the Kubernetes OpenAPI schemas, offline: the PyPI package
# kubernetes-validate ships the schemas (kubectl --dry-run needs an API server, and
# kubeconform downloads its schemas from GitHub).
# Usage: deploy/k8s/validate.sh [KUBERNETES_VERSION]   (default: the newest it knows)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${KUBE_VALIDATE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sealboost-kubernetes-validate}"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'kubernetes-validate==1.37.0'
fi
args=(--strict)
[ $# -gt 0 ] && args+=(-k "$1")
exec "$venv/bin/kubernetes-validate" "${args[@]}" "$here"/*.yaml
