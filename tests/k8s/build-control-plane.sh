#!/usr/bin/env bash
# Builds a real Kubernetes control plane for radfleet's cluster tests from Go modules
# (see shared/K8S-TEST-CONTROL-PLANE.md): kube-apiserver, kube-controller-manager and
# kube-scheduler through a wrapper module (k8s.io/kubernetes ignores its own replace lines when
# used as a dependency), etcd through a wrapper main, helm and kwok with `go install`.
# Binaries land in ~/.cache/radfleet/k8s-<version>/ and are built only when missing, so a second
# run returns at once. Go modules and build work stay under the cache directory, never the repo.
#
# Environment: K8S_VERSION (default 1.34.4), ETCD_VERSION, HELM_VERSION, KWOK_VERSION,
# RADFLEET_K8S_CACHE (default ~/.cache/radfleet), GOFLAGS (default -p=1 to leave CPU to others).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
HELM_VERSION="${HELM_VERSION:-3.19.5}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
PROM_OPERATOR_VERSION="${PROM_OPERATOR_VERSION:-0.85.0}"
CACHE_ROOT="${RADFLEET_K8S_CACHE:-$HOME/.cache/radfleet}"
OUT="$CACHE_ROOT/k8s-$K8S_VERSION"
WORK="$CACHE_ROOT/build-$K8S_VERSION"
export GOFLAGS="${GOFLAGS:--p=1}"
export CGO_ENABLED=0

# The official Go tarball installs to /usr/local/go, which a non-login shell may not have on PATH.
command -v go >/dev/null || [ ! -x /usr/local/go/bin/go ] || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "build-control-plane: 'go' is not on PATH; install Go >= 1.26" >&2; exit 2; }
mkdir -p "$OUT" "$WORK"
minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
staging_version="v0.${K8S_VERSION#1.}"

log() { echo "build-control-plane: $*" >&2; }
have() { [ -x "$OUT/$1" ]; }

build_kube() {
  if have kube-apiserver && have kube-controller-manager && have kube-scheduler; then return; fi
  local mod="$WORK/kube"
  mkdir -p "$mod"
  log "resolving k8s.io/kubernetes@v$K8S_VERSION"
  local gomod
  gomod="$(cd "$mod" && GOFLAGS= go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  [ -f "$gomod" ] || { log "could not locate go.mod of k8s.io/kubernetes@v$K8S_VERSION"; exit 1; }
  # The staging modules are exactly the k8s.io/* modules required at v0.0.0.
  mapfile -t staging < <(grep -E '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0(\s|$)' "$gomod" | awk '{print $1}' | sort -u)
  log "${#staging[@]} staging modules, replaced with $staging_version"
  {
    echo "module radfleet.local/kube-wrapper"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    for m in "${staging[@]}"; do echo "replace $m => $m $staging_version"; done
  } > "$mod/go.mod"
  cat > "$mod/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
  (cd "$mod" && GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>"$WORK/tidy.log" || true)
  (cd "$mod" && GOFLAGS=-mod=mod go get "k8s.io/kubernetes@v$K8S_VERSION" >/dev/null)
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  for bin in kube-apiserver kube-controller-manager kube-scheduler; do
    have "$bin" && continue
    log "building $bin"
    (cd "$mod" && go build -mod=mod -trimpath -ldflags "$ldflags" -o "$OUT/$bin.tmp" "k8s.io/kubernetes/cmd/$bin")
    mv "$OUT/$bin.tmp" "$OUT/$bin"
  done
}

build_etcd() {
  have etcd && return
  local mod="$WORK/etcd"
  mkdir -p "$mod"
  cat > "$mod/go.mod" <<GO
module radfleet.local/etcd-wrapper

go 1.24
GO
  cat > "$mod/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "building etcd v$ETCD_VERSION"
  (cd "$mod" && GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null && GOFLAGS=-mod=mod go mod tidy >/dev/null)
  (cd "$mod" && go build -mod=mod -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" .)
  mv "$OUT/etcd.tmp" "$OUT/etcd"
}

build_install() { # name module@version
  have "$1" && return
  log "building $1 ($2)"
  GOBIN="$WORK/bin" go install -trimpath -ldflags "-s -w" "$2"
  mv "$WORK/bin/$1" "$OUT/$1"
}

# kwok needs Stage definitions; take upstream's from the module just built (node and pod "fast"
# lifecycles, node heartbeat, and the chaos stage that fails a labelled running pod).
copy_kwok_stages() {
  [ -f "$OUT/kwok-stages/done" ] && return
  local dir
  dir="$(cd "$WORK" && GOFLAGS= go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
  mkdir -p "$OUT/kwok-stages"
  for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml \
           pod/fast/pod-delete.yaml pod/chaos/pod-container-running-failed.yaml; do
    cp "$dir/kustomize/stage/$f" "$OUT/kwok-stages/$(basename "$f")"
  done
  chmod -R u+w "$OUT/kwok-stages"
  touch "$OUT/kwok-stages/done"
}

# The Prometheus Operator CRDs, so the chart's ServiceMonitor, PodMonitor and PrometheusRule are
# checked by a real API server (they ship in the operator's Go module under example/).
copy_prometheus_crds() {
  [ -f "$OUT/prometheus-operator-crds/done" ] && return
  local dir
  dir="$(cd "$WORK" && GOFLAGS= go mod download -json "github.com/prometheus-operator/prometheus-operator@v$PROM_OPERATOR_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
  mkdir -p "$OUT/prometheus-operator-crds"
  for k in servicemonitors podmonitors prometheusrules; do
    cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$k.yaml" "$OUT/prometheus-operator-crds/"
  done
  chmod -R u+w "$OUT/prometheus-operator-crds"
  touch "$OUT/prometheus-operator-crds/done"
}

start=$(date +%s)
build_etcd
build_install helm "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
build_install kwok "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
copy_kwok_stages
copy_prometheus_crds
build_kube
echo "$K8S_VERSION" > "$OUT/VERSION"
log "done in $(( $(date +%s) - start ))s: $OUT"
echo "$OUT"
