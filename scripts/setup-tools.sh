#!/usr/bin/env bash
# Provides the real components the tests and the local quick start need, built from the
# package registries (Go module proxy, Debian) and cached per user outside the checkout,
# keyed by version, so a fresh clone on the same machine reuses them.
#
# Usage: scripts/setup-tools.sh            # everything
#        scripts/setup-tools.sh --check    # only report what is missing (exit 1 if any)
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.4}"     # the etcd this Kubernetes release pins in its go.mod
HELM_VERSION="${HELM_VERSION:-v3.19.0}"
TRIVY_VERSION="${TRIVY_VERSION:-v0.74.0}" # config audit runs this binary's embedded checks (see Dockerfile)
# The ServiceMonitor and PrometheusRule CRDs kube-prometheus-stack installs, for the chart's
# `helm install` test (the newest prometheus-operator release the Go module proxy serves here).
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
# Prometheus 3.16.0 (its Go module is versioned v0.316.0) with Kubernetes service discovery, which
# Debian's build leaves out: the chart test finds the operator's pods as kube-prometheus-stack does.
PROMETHEUS_K8S_VERSION="${PROMETHEUS_K8S_VERSION:-v0.316.0}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${TRIVY_LOOKOUT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trivy-lookout}"
LINK_DIR="$ROOT/.tools/bin"
CHECK_ONLY=0
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=1

say() { printf '[setup-tools] %s\n' "$*" >&2; }
die() { printf '[setup-tools] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE" "$LINK_DIR"
missing=()

link() { ln -sfn "$1" "$LINK_DIR/$(basename "$1")"; }

need_go() {
  command -v go >/dev/null 2>&1 || die "Go is required to build $1 (https://go.dev/dl or your distribution's golang package)"
}

# --- Kubernetes control plane + kubectl -------------------------------------------------
build_kubernetes() {
  local out="$CACHE/kubernetes-$KUBE_VERSION"
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
  local ok=1
  for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || ok=0; done
  if [[ $ok == 0 ]]; then
    if [[ $CHECK_ONLY == 1 ]]; then missing+=("kubernetes $KUBE_VERSION"); return; fi
    need_go "Kubernetes"
    say "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy $KUBE_VERSION from the k8s.io/kubernetes module (first time only: about 10-20 minutes on 2 cores)"
    local work; work="$(mktemp -d "$CACHE/.build-kubernetes.XXXXXX")"
    local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
    local staging="v0.${KUBE_VERSION#v1.}"
    (
      cd "$work"
      # The k8s.io/kubernetes module lists its staging modules as v0.0.0 and replaces them
      # with local folders; a wrapper module must pin each to its published version instead.
      local modfile
      modfile="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
      [[ -f "$modfile" ]] || die "could not download k8s.io/kubernetes@$KUBE_VERSION from the Go module proxy"
      local gover; gover="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$modfile" | head -1)"
      {
        echo "module trivy-lookout.local/kubernetes-build"
        echo
        echo "go $gover"
        echo
        echo "godebug default=go${gover%.*}"
        echo
        echo "require k8s.io/kubernetes $KUBE_VERSION"
        echo
        echo "replace ("
        grep -E '^\s*k8s.io/[a-z0-9-]+ => ./staging/' "$modfile" | awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
        echo ")"
      } > go.mod
      echo 'package tools' > tools.go
      GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
      GOFLAGS=-mod=mod go get "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
      local pkg="k8s.io/component-base/version"
      local ld="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
      ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
      mkdir -p bin
      CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o bin/ \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
        k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
    ) || { rm -rf "$work"; die "building Kubernetes $KUBE_VERSION failed (see the Go output above)"; }
    rm -rf "$out"; mkdir -p "$out"; mv "$work"/bin/* "$out/"; rm -rf "$work"
    say "built Kubernetes $KUBE_VERSION into $out"
  fi
  for b in "${bins[@]}"; do link "$out/$b"; done
}

# --- etcd --------------------------------------------------------------------------------
build_etcd() {
  local out="$CACHE/etcd-$ETCD_VERSION"
  if [[ ! -x "$out/etcd" ]]; then
    if [[ $CHECK_ONLY == 1 ]]; then missing+=("etcd $ETCD_VERSION"); return; fi
    need_go "etcd"
    say "building etcd $ETCD_VERSION from the go.etcd.io/etcd/server/v3 module (about 1-3 minutes)"
    local work; work="$(mktemp -d "$CACHE/.build-etcd.XXXXXX")"
    (
      cd "$work"
      # `go install …@version` refuses modules with replace directives; a wrapper module does not.
      printf 'module trivy-lookout.local/etcd-build\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > go.mod
      GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null
      CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o etcd go.etcd.io/etcd/server/v3
    ) || { rm -rf "$work"; die "building etcd $ETCD_VERSION failed (see the Go output above)"; }
    mkdir -p "$out"; mv "$work/etcd" "$out/etcd"; rm -rf "$work"
    say "built etcd $ETCD_VERSION into $out"
  fi
  link "$out/etcd"
}

# --- helm --------------------------------------------------------------------------------
build_helm() {
  local out="$CACHE/helm-$HELM_VERSION"
  if [[ ! -x "$out/helm" ]]; then
    if [[ $CHECK_ONLY == 1 ]]; then missing+=("helm $HELM_VERSION"); return; fi
    need_go "helm"
    say "building helm $HELM_VERSION from the helm.sh/helm/v3 module (about 2-4 minutes)"
    mkdir -p "$out"
    GOBIN="$out" CGO_ENABLED=0 go install -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" || { rm -rf "$out"; die "building helm $HELM_VERSION failed"; }
    say "built helm $HELM_VERSION into $out"
  fi
  link "$out/helm"
}

# --- trivy (config audit engine) ----------------------------------------------------------
build_trivy() {
  local out="$CACHE/trivy-$TRIVY_VERSION"
  if [[ ! -x "$out/trivy" ]]; then
    if [[ $CHECK_ONLY == 1 ]]; then missing+=("trivy $TRIVY_VERSION"); return; fi
    need_go "trivy"
    say "building trivy $TRIVY_VERSION from the github.com/aquasecurity/trivy module (first time only: about 6-10 minutes on 2 cores)"
    mkdir -p "$out"
    # The version without "v", as Trivy's own release builds set it: the checks' minimum-version
    # filter needs a plain semantic version. jsonv2 is required by this Trivy release.
    GOBIN="$out" GOEXPERIMENT=jsonv2 CGO_ENABLED=0 go install -trimpath \
      -ldflags "-s -w -X github.com/aquasecurity/trivy/pkg/version/app.ver=${TRIVY_VERSION#v}" \
      "github.com/aquasecurity/trivy/cmd/trivy@$TRIVY_VERSION" || { rm -rf "$out"; die "building trivy $TRIVY_VERSION failed"; }
    say "built trivy $TRIVY_VERSION into $out"
  fi
  link "$out/trivy"
}

# --- Prometheus, promtool, Alertmanager, amtool (Debian packages) ----------------------
# The system's binaries, never our own links: with .tools/bin on PATH (scripts that export it before
# calling this again), `command -v` would find the links and relink them to themselves.
system_path() {
  local dir out=""
  IFS=: read -ra dirs <<<"$PATH"
  for dir in "${dirs[@]}"; do
    [[ -z "$dir" || "$(cd "$dir" 2>/dev/null && pwd -P)" == "$(cd "$LINK_DIR" && pwd -P)" ]] && continue
    out+="${out:+:}$dir"
  done
  printf '%s' "$out"
}
system_command() { PATH="$(system_path)" command -v "$1"; }

# Debian packages, as root or through sudo. Their postinst scripts start services through systemd
# where there is one; nothing here needs them as services: the harness starts its own instances.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "need the Debian packages $* (apt-get not found); install them by hand"
  local sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  say "installing Debian packages: $*"
  $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

install_prometheus() {
  local want=()
  system_command prometheus >/dev/null 2>&1 && system_command promtool >/dev/null 2>&1 || want+=(prometheus)
  system_command prometheus-alertmanager >/dev/null 2>&1 && system_command amtool >/dev/null 2>&1 || want+=(prometheus-alertmanager)
  if [[ ${#want[@]} -gt 0 ]]; then
    if [[ $CHECK_ONLY == 1 ]]; then missing+=("${want[@]}"); return; fi
    apt_install "${want[@]}"
  fi
  local tool bin
  for tool in prometheus promtool prometheus-alertmanager amtool; do
    bin="$(system_command "$tool")" || die "$tool not found after installing it"
    link "$bin"
  done
}

# Only the Kubernetes service discovery is compiled in (Prometheus' remove_all_sd/enable_*_sd tags),
# which keeps the build to a few minutes; no web UI assets (the HTTP API is all tests use).
build_prometheus_k8s() {
  local out="$CACHE/prometheus-k8s-$PROMETHEUS_K8S_VERSION"
  if [[ ! -x "$out/prometheus-k8s" ]]; then
    if [[ $CHECK_ONLY == 1 ]]; then missing+=("prometheus-k8s $PROMETHEUS_K8S_VERSION"); return; fi
    need_go "prometheus-k8s"
    say "building Prometheus ($PROMETHEUS_K8S_VERSION) with Kubernetes service discovery from the Go module proxy (first time only: about 5-10 minutes on 2 cores)"
    local minor="${PROMETHEUS_K8S_VERSION#v0.}"
    mkdir -p "$out"
    (cd "$(mktemp -d)" && GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$out/build" go install -trimpath \
      -tags remove_all_sd,enable_kubernetes_sd \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${minor:0:1}.${minor:1:2}.${minor##*.}" \
      "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_K8S_VERSION") \
      || { rm -rf "$out"; die "building Prometheus $PROMETHEUS_K8S_VERSION failed"; }
    mv "$out/build/prometheus" "$out/prometheus-k8s" && rmdir "$out/build"
    say "built prometheus-k8s into $out"
  fi
  link "$out/prometheus-k8s"
}

# --- A real node and registries: containerd, runc, CNI plugins, distribution (Debian packages)
# test/harness/node runs containerd + the kubelet built above; test/harness/registry runs
# distribution's registry. iptables and conntrack are what the kubelet and kube-proxy call;
# busybox-static is the one binary the harness's own test images are made of.
install_node_packages() {
  local want=() pkg
  local -A probe=(
    [containerd]=containerd [runc]=runc [docker-registry]=docker-registry [iptables]=iptables
    [conntrack]=conntrack [busybox-static]=busybox
  )
  for pkg in "${!probe[@]}"; do system_command "${probe[$pkg]}" >/dev/null 2>&1 || want+=("$pkg"); done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || want+=(containernetworking-plugins)
  if [[ ${#want[@]} -gt 0 ]]; then
    if [[ $CHECK_ONLY == 1 ]]; then missing+=("${want[@]}"); return; fi
    apt_install "${want[@]}"
  fi
  local tool bin
  for tool in containerd containerd-shim-runc-v2 ctr runc docker-registry busybox; do
    bin="$(system_command "$tool")" || die "$tool not found after installing it"
    link "$bin"
  done
}

# --- trivy-test-db: offline Trivy DBs from the test fixtures (our own Go program) ----------
# Keyed by a hash of its sources: an edit rebuilds it, an unchanged checkout reuses it.
build_trivy_test_db() {
  local src="$ROOT/scripts/trivy-test-db"
  local hash; hash="$(cd "$src" && sha256sum go.mod go.sum *.go | sha256sum | cut -c1-16)"
  local out="$CACHE/trivy-test-db-$hash"
  if [[ ! -x "$out/trivy-test-db" ]]; then
    if [[ $CHECK_ONLY == 1 ]]; then missing+=("trivy-test-db"); return; fi
    need_go "trivy-test-db"
    say "building trivy-test-db from scripts/trivy-test-db (first time only: about 1-2 minutes)"
    mkdir -p "$out"
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/trivy-test-db.tmp" .) \
      || { rm -rf "$out"; die "building trivy-test-db failed (see the Go output above)"; }
    mv "$out/trivy-test-db.tmp" "$out/trivy-test-db"
    say "built trivy-test-db into $out"
  fi
  link "$out/trivy-test-db"
}

# --- prometheus-operator CRDs (ServiceMonitor, PrometheusRule) from its Go module -----------
fetch_prometheus_operator_crds() {
  local out="$CACHE/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION"
  if [[ ! -f "$out/monitoring.coreos.com_servicemonitors.yaml" ]]; then
    if [[ $CHECK_ONLY == 1 ]]; then missing+=("prometheus-operator CRDs $PROMETHEUS_OPERATOR_VERSION"); return; fi
    need_go "the prometheus-operator CRDs"
    say "fetching the ServiceMonitor and PrometheusRule CRDs of prometheus-operator $PROMETHEUS_OPERATOR_VERSION (Go module proxy)"
    local dir
    dir="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json \
      "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
    [[ -d "$dir/example/prometheus-operator-crd" ]] || die "prometheus-operator $PROMETHEUS_OPERATOR_VERSION has no CRDs in the module"
    mkdir -p "$out.tmp"
    cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
      "$dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" "$out.tmp/"
    rm -rf "$out" && mv "$out.tmp" "$out"
  fi
  ln -sfn "$out" "$ROOT/.tools/prometheus-operator-crds"
}

build_etcd
build_kubernetes
build_helm
build_trivy
build_trivy_test_db
install_prometheus
build_prometheus_k8s
install_node_packages
fetch_prometheus_operator_crds

if [[ $CHECK_ONLY == 1 && ${#missing[@]} -gt 0 ]]; then
  say "missing: ${missing[*]} (run scripts/setup-tools.sh)"
  exit 1
fi
say "tools ready in $LINK_DIR"
