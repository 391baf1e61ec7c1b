#!/usr/bin/env bash
# setup.sh: installs what the course needs outside Go's module cache, skipping whatever is
# already there, so `make setup` can run before every `make lessons`.
#
#   bash slowai/tools/setup.sh [all|system|gonb|onnxruntime|katex]...
#
#   system       Debian/Ubuntu: Jupyter (nbconvert, notebook, ipykernel) and Fashion-MNIST from apt.
#                Elsewhere: prints the pip command to run.
#   gonb         the GoNB kernel, goimports and gopls at the versions pinned in slowai/tools/go.mod,
#                installed into $(go env GOBIN) or $(go env GOPATH)/bin, and GoNB's Jupyter kernel spec.
#   onnxruntime  the ONNX Runtime CPU library, taken from the npm package onnxruntime-node
#                (ORT_VERSION, default 1.30.0), into the folder github.com/gomlx/compute-onnx reads:
#                ~/.local/lib/onnxruntime (Linux) or ~/Library/Application Support/onnxruntime (macOS).
#   katex        KaTeX (KATEX_VERSION, default 0.19.1) from npm into slowai/tools/katex/node_modules
#                (ignored by git), which slowai/cmd/lessons runs with node to typeset formulas at build
#                time, so pages show them offline. Node.js and npm come from apt when missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ORT_VERSION="${ORT_VERSION:-1.30.0}"
KATEX_VERSION="${KATEX_VERSION:-0.19.1}"
APT_PACKAGES=(jupyter-client jupyter-core python3-nbconvert jupyter-nbconvert python3-notebook
  jupyter-notebook python3-ipykernel dataset-fashion-mnist)

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $*"
  fi
}

apt_updated=""
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup_system() {
  if command -v dpkg-query >/dev/null && command -v apt-get >/dev/null; then
    apt_install "${APT_PACKAGES[@]}"
    say "system packages: ok (Jupyter: $(/usr/bin/jupyter nbconvert --version 2>/dev/null | tail -1), Fashion-MNIST in /usr/share/datasets/fashion-mnist)"
  elif jupyter nbconvert --version >/dev/null 2>&1 && jupyter notebook --version >/dev/null 2>&1; then
    say "system packages: using $(command -v jupyter) (nbconvert $(jupyter nbconvert --version 2>/dev/null | tail -1))"
  else
    say "not a Debian system: install Jupyter yourself, for example:"
    say "    python3 -m pip install --user jupyter-client jupyter-core nbconvert notebook ipykernel"
    say "(Fashion-MNIST then comes from its canonical download; see data/README.md)"
  fi
}

gobin() {
  local b
  b="$(go env GOBIN)"
  [ -n "$b" ] || b="$(go env GOPATH)/bin"
  printf '%s\n' "$b"
}

# has_version BINARY MODULE VERSION: whether BINARY was built with MODULE at VERSION.
has_version() {
  [ -x "$1" ] && go version -m "$1" 2>/dev/null | grep -Eq "^[[:space:]]+(mod|dep)[[:space:]]+$2[[:space:]]+$3([[:space:]]|$)"
}

setup_gonb() {
  command -v go >/dev/null || die "go not found on PATH (install Go 1.26+; on the course machines it is /usr/local/go/bin)"
  local bin gonb_v gopls_v tools_v
  bin="$(gobin)"
  gonb_v="$(cd "$here" && go list -m -f '{{.Version}}' github.com/janpfeifer/gonb)"
  gopls_v="$(cd "$here" && go list -m -f '{{.Version}}' golang.org/x/tools/gopls)"
  tools_v="$(cd "$here" && go list -m -f '{{.Version}}' golang.org/x/tools)"
  if has_version "$bin/gonb" github.com/janpfeifer/gonb "$gonb_v" &&
    has_version "$bin/gopls" golang.org/x/tools/gopls "$gopls_v" &&
    has_version "$bin/goimports" golang.org/x/tools "$tools_v"; then
    say "gonb $gonb_v, gopls $gopls_v, goimports: already in $bin"
  else
    say "go install gonb $gonb_v, goimports, gopls $gopls_v into $bin (first time: about a minute)"
    (cd "$here" && go install github.com/janpfeifer/gonb golang.org/x/tools/cmd/goimports golang.org/x/tools/gopls)
  fi
  # The kernel spec records the binary's path; rewriting it is instant and keeps it current.
  PATH="$bin:$PATH" "$bin/gonb" --install --logtostderr >/dev/null 2>&1 ||
    PATH="$bin:$PATH" "$bin/gonb" --install --logtostderr
  say "GoNB kernel spec installed (kernel name: gonb)"
}

ort_target() {
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64 | Linux/amd64) echo "linux/x64 libonnxruntime.so.1 libonnxruntime.so $HOME/.local/lib/onnxruntime" ;;
    Linux/aarch64 | Linux/arm64) echo "linux/arm64 libonnxruntime.so.1 libonnxruntime.so $HOME/.local/lib/onnxruntime" ;;
    Darwin/arm64) echo "darwin/arm64 libonnxruntime.1.dylib libonnxruntime.dylib $HOME/Library/Application Support/onnxruntime" ;;
    *) return 1 ;;
  esac
}

setup_onnxruntime() {
  local spec platform file link dir
  if ! spec="$(ort_target)"; then
    say "onnxruntime: onnxruntime-node ships no CPU library for $(uname -s)/$(uname -m); lessons use the pure Go backend"
    return 0
  fi
  read -r platform file link dir <<<"$spec"
  if [ -n "${ONNXRUNTIME_SHARED_LIBRARY_PATH:-}" ] && [ -e "$ONNXRUNTIME_SHARED_LIBRARY_PATH" ]; then
    say "onnxruntime: using ONNXRUNTIME_SHARED_LIBRARY_PATH=$ONNXRUNTIME_SHARED_LIBRARY_PATH"
    return 0
  fi
  if [ -e "$dir/$link" ]; then
    say "onnxruntime: already at $dir/$link"
    return 0
  fi
  command -v npm >/dev/null || {
    if command -v apt-get >/dev/null; then apt_install npm; else die "npm not found: install Node.js/npm, or put libonnxruntime in $dir"; fi
  }
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  say "onnxruntime: npm pack onnxruntime-node@$ORT_VERSION (about 110 MB) for $platform"
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
  tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" "package/bin/napi-v6/$platform/$file" ||
    die "onnxruntime-node@$ORT_VERSION has no package/bin/napi-v6/$platform/$file"
  mkdir -p "$dir"
  cp "$tmp/package/bin/napi-v6/$platform/$file" "$dir/.$file.tmp"
  chmod 0755 "$dir/.$file.tmp"
  mv -f "$dir/.$file.tmp" "$dir/$file"
  ln -sfn "$file" "$dir/$link"
  say "onnxruntime: installed $dir/$link -> $file"
}

need_node() {
  if command -v node >/dev/null && command -v npm >/dev/null; then return 0; fi
  if command -v apt-get >/dev/null; then apt_install nodejs npm; else die "node and npm not found: install Node.js (https://nodejs.org)"; fi
}

setup_katex() {
  local dir="$here/katex" have=""
  if [ -f "$dir/node_modules/katex/package.json" ]; then
    have="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/katex/package.json" | head -1)"
  fi
  need_node
  if [ "$have" = "$KATEX_VERSION" ]; then
    say "katex $KATEX_VERSION: already in $dir/node_modules"
    return 0
  fi
  say "katex: npm install katex@$KATEX_VERSION into $dir/node_modules"
  (cd "$dir" && npm install --silent --no-save --no-audit --no-fund --prefix . "katex@$KATEX_VERSION" >/dev/null)
  [ -f "$dir/node_modules/katex/dist/katex.min.css" ] || die "npm installed no katex into $dir/node_modules"
  say "katex $KATEX_VERSION: installed"
}

[ $# -gt 0 ] || set -- all
for step in "$@"; do
  case "$step" in
    all) setup_system; setup_gonb; setup_onnxruntime; setup_katex ;;
    system) setup_system ;;
    gonb) setup_gonb ;;
    onnxruntime) setup_onnxruntime ;;
    katex) setup_katex ;;
    *) die "unknown step $step (want all, system, gonb, onnxruntime or katex)" ;;
  esac
done
