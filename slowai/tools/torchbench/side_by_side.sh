#!/usr/bin/env bash
# side_by_side.sh runs W2 (forward+backward), W3, W6 and W7 of shared/bench/WORKLOADS.md on the onnx
# engine and in PyTorch, alternating run by run (the order flips each round), so that both see the same
# machine. Prints every run's figure; slowai/backend/PERFORMANCE.md tabulates them.
#
#     bash slowai/tools/torchbench/side_by_side.sh [rounds=3]
#
# Needs Debian's python3-torch and libopenblas0-pthread (/usr/bin/python3) and `make setup`'s ONNX
# Runtime library.
set -euo pipefail
rounds=${1:-3}
root=$(cd "$(dirname "$0")/../../.." && pwd)
py=/usr/bin/python3
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
export LD_LIBRARY_PATH=$HOME/.local/lib/onnxruntime${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
cd "$root"
for p in backend ddpm resnet sd/vae; do
  go test -c -o "$bin/${p//\//_}.test" "./slowai/$p/"
done
tb=$root/slowai/tools/torchbench

ours() { # workload
  case $1 in
  W2) (cd slowai/backend && "$bin/backend.test" -test.run '^$' -test.bench 'W2ConvForwardBackward/onnx' -test.benchtime 20x) |
        grep -o '[0-9.]* GFLOP/s' | head -1 ;;
  W3) (cd slowai/ddpm && SLOWAI_BENCH_BACKENDS=onnx "$bin/ddpm.test" -test.run '^$' -test.bench W3 -test.benchtime 6x) |
        grep -o '[0-9.]* images/s' | head -1 ;;
  W6) (cd slowai/sd/vae && "$bin/sd_vae.test" -test.run '^$' -test.bench SD1Decode -test.benchtime 2x) |
        awk '/^BenchmarkSD1Decode/ {printf "%.2f s\n", $3/1e9}' ;;
  W7) (cd slowai/resnet && "$bin/resnet.test" -test.run '^$' -test.bench W7 -test.benchtime 5x) |
        grep -o '[0-9.]* images/s' | tail -1 ;;
  esac
}

torch() { # workload
  case $1 in
  W2) $py "$tb/w2.py" --runs 1 --iters 20 | grep -E '^(NCHW|channels-last)' | sed 's/ run 1//' | tr '\n' ';' ; echo ;;
  W3) $py "$tb/w3.py" --runs 1 --steps 6 | grep -o '[0-9.]* images/s' ;;
  W6) $py "$tb/w6.py" --runs 2 | grep -o '[0-9.]* s per' | sed 's/ per//' | tr '\n' ' '; echo ;;
  W7) $py "$tb/w7.py" --runs 1 --steps 5 | grep -o '[0-9.]* images/s' ;;
  esac
}

for r in $(seq "$rounds"); do
  for w in W2 W3 W6 W7; do
    if (( r % 2 )); then
      echo "round $r $w ours:  $(ours $w)  [load $(cut -d' ' -f1 /proc/loadavg), $(date +%H:%M:%S)]"
      echo "round $r $w torch: $(torch $w)"
    else
      echo "round $r $w torch: $(torch $w)  [load $(cut -d' ' -f1 /proc/loadavg), $(date +%H:%M:%S)]"
      echo "round $r $w ours:  $(ours $w)"
    fi
  done
done
