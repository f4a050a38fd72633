#!/usr/bin/env bash
# virtio-blk device side without KVM (issue #19, target 2's KVM-free part): 4 KiB requests at depth 32
# on a raw image in /dev/shm, requests per second:
#   vmm    JMH DevicePathBenchmark.blkRequests: a driver thread posts 32 chains, the device's queue worker parses
#          them on its I/O thread and submits them through io_uring (random offsets)
#   qemu   qemu-img bench -i io_uring -d 32 -s 4096 on the same file: QEMU's block layer alone, no
#          device emulation (sequential offsets) — a comparison that flatters QEMU
#   benchmarks/blk/device-side.sh          COUNT=400000 benchmarks/blk/device-side.sh
# Not run in CI. The host's load is printed with the figures.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COUNT=${COUNT:-200000}
FILE=${BLK_BENCH_FILE:-/dev/shm/vmm-blk-bench.img}
. "$ROOT/vmm/src/main/launcher/find-jdk.sh"
vmm_find_jdk
JAR=$ROOT/benchmarks/target/benchmarks.jar
[[ -f $JAR ]] || (cd "$ROOT" && ./mvnw -q -o package -DskipTests -pl benchmarks -am)
[[ -f $FILE ]] || head -c $((256 << 20)) /dev/urandom > "$FILE"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
qemu_rate() {  # $@: extra qemu-img bench options
  local s
  s=$(qemu-img bench -f raw -t writeback -i io_uring -c "$COUNT" -d 32 -s 4096 "$@" "$FILE" | sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p')
  echo "$COUNT / $s" | bc -l
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
qr=$(qemu_rate); qw=$(qemu_rate -w)
BLK_BENCH_FILE=$FILE "$VMM_JDK/bin/java" -jar "$JAR" DevicePathBenchmark.blkRequests -f 1 -wi 3 -i 5 -w 2 -r 2 \
  -rf json -rff "$OUT/jmh.json" > "$OUT/jmh.log" 2>&1 || { cat "$OUT/jmh.log"; exit 1; }
vr=$(python3 -c "import json;d=json.load(open('$OUT/jmh.json'));print([b['primaryMetric']['score'] for b in d if b['params']['op']=='read'][0])")
vw=$(python3 -c "import json;d=json.load(open('$OUT/jmh.json'));print([b['primaryMetric']['score'] for b in d if b['params']['op']=='write'][0])")
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s %14s %14s %8s\n' "4 KiB, depth 32" "vmm req/s" "qemu req/s" "ratio"
printf '%-18s %14.0f %14.0f %8.2f\n' read "$vr" "$qr" "$(echo "$vr / $qr" | bc -l)"
printf '%-18s %14.0f %14.0f %8.2f\n' write "$vw" "$qw" "$(echo "$vw / $qw" | bc -l)"
