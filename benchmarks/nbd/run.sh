#!/usr/bin/env bash
# vmm nbd vs qemu-nbd serving the same raw image to `qemu-img bench` (4 KiB, depth 32, reads then
# writes), and `vmm img convert` vs `qemu-img convert` reading from the same qemu-nbd. One run each; prints a
# Markdown table with the ratios (vmm / qemu: > 1 means vmm is faster).
# Usage: benchmarks/nbd/run.sh [dir] [count] [image-size]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${1:-/tmp/vmm-nbd-bench}"
count="${2:-200000}"
size="${3:-1G}"
vmm="$root/vmm/target/vmm"
[ -x "$vmm" ] || "$root/mvnw" -q -pl vmm -am package -DskipTests
for t in qemu-img qemu-nbd; do command -v "$t" >/dev/null || { echo "$t not installed (apt-get install qemu-utils)" >&2; exit 1; }; done
mkdir -p "$dir"
img="$dir/disk.raw" sock="$dir/nbd.sock"
# Fully allocated, so that neither server reports holes.
[ -f "$img" ] || { qemu-img create -f raw "$img" "$size" >/dev/null; qemu-io -f raw -c "write -P 0x5a 0 $size" "$img" >/dev/null; }
uri="nbd+unix:///?socket=$sock"

server_pid=
start() { rm -f "$sock"; "$@" & server_pid=$!; for _ in $(seq 1 300); do [ -S "$sock" ] && return; sleep 0.1; done; echo "server did not start: $*" >&2; exit 1; }
stop() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
trap stop EXIT

# "Run completed in 3.456 seconds." -> IOPS
iops() { awk -v n="$count" '/Run completed in/ { printf "%.0f", n / $4 }'; }
bench() { qemu-img bench -f raw -c "$count" -d 32 -s 4096 -S 1052672 "$@" "$uri" | iops; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }

declare -A r
for server in vmm qemu; do
  if [ $server = vmm ]; then start "$vmm" nbd -t -e 4 -f raw --socket "$sock" "$img"
  else start qemu-nbd -t -e 4 -f raw -k "$sock" "$img"; fi
  r[$server-read]=$(bench)
  r[$server-write]=$(bench -w)
  if [ $server = qemu ]; then
    # Both NBD clients reading from the same server (qemu-nbd).
    rm -f "$dir/out.raw"; r[vmm-convert]=$(secs "$vmm" img convert -O raw "$uri" "$dir/out.raw")
    rm -f "$dir/out.raw"; r[qemu-convert]=$(secs qemu-img convert -f raw -O raw "$uri" "$dir/out.raw")
  fi
  stop
done
rm -f "$dir/out.raw"
ratio() { echo "scale=2; $1 / $2" | bc; }
echo "| test | vmm | qemu | ratio (vmm/qemu, >1 = vmm faster) |"
echo "| --- | ---: | ---: | ---: |"
echo "| qemu-img bench read IOPS (4 KiB, depth 32) | ${r[vmm-read]} | ${r[qemu-read]} | $(ratio "${r[vmm-read]}" "${r[qemu-read]}") |"
echo "| qemu-img bench write IOPS (4 KiB, depth 32) | ${r[vmm-write]} | ${r[qemu-write]} | $(ratio "${r[vmm-write]}" "${r[qemu-write]}") |"
echo "| convert $size from qemu-nbd to a file, seconds (vmm img vs qemu-img) | ${r[vmm-convert]} | ${r[qemu-convert]} | $(ratio "${r[qemu-convert]}" "${r[vmm-convert]}") |"
