#!/usr/bin/env bash
# vmm nbd vs qemu-nbd serving the same raw image to `qemu-img bench` (4 KiB, depth 32, reads then
# writes; plain NBD only: qemu-img bench has no --object for TLS credentials) and to `qemu-img
# convert` reading the whole image and writing it back; and `vmm img convert` vs `qemu-img convert`
# reading from the same qemu-nbd. Plain, then with TLS (both servers requiring it with the same
# X.509 credentials, made here by openssl; QEMU's clients use --object tls-creds-x509). One run
# each; prints a Markdown table with the ratios (> 1 means vmm is faster).
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
tls="$dir/tls"
[ -d "$tls/server" ] || bash "$root/vmm-virtio/src/test/resources/dev/vmm/block/nbd/make-tls-certs.sh" "$tls"
tls_object="tls-creds-x509,id=tls0,dir=$tls/client,endpoint=client"
tls_opts="driver=nbd,server.type=unix,server.path=$sock,tls-creds=tls0,tls-hostname=localhost"
tls_uri="nbds+unix:///?socket=$sock&tls-hostname=localhost&tls-creds=$tls/client"

server_pid=
start() { rm -f "$sock"; "$@" & server_pid=$!; for _ in $(seq 1 300); do [ -S "$sock" ] && return; sleep 0.1; done; echo "server did not start: $*" >&2; exit 1; }
stop() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
trap stop EXIT

# "Run completed in 3.456 seconds." -> IOPS
iops() { awk -v n="$count" '/Run completed in/ { printf "%.0f", n / $4 }'; }
bench() { qemu-img bench -f raw -c "$count" -d 32 -s 4096 -S 1052672 "$@" "$uri" | iops; }
# qemu-img convert from / to the served image (MODE: plain or tls)
convert_from() { if [ "$1" = tls ]; then qemu-img convert --object "$tls_object" --image-opts -O raw "$tls_opts" "$2"; else qemu-img convert -f raw -O raw "$uri" "$2"; fi; }
convert_to() { if [ "$1" = tls ]; then qemu-img convert --object "$tls_object" -n -f raw --target-image-opts "$2" "$tls_opts"; else qemu-img convert -n -f raw -O raw "$2" "$uri"; fi; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }

declare -A r
for mode in plain tls; do
  for server in vmm qemu; do
    if [ $mode = plain ]; then vtls=() qtls=(); else vtls=(--tls-creds "$tls/server") qtls=(--object "tls-creds-x509,id=tls0,dir=$tls/server,endpoint=server" --tls-creds tls0); fi
    if [ $server = vmm ]; then start "$vmm" nbd -t -e 4 -f raw "${vtls[@]}" --socket "$sock" "$img"
    else start qemu-nbd -t -e 4 -f raw "${qtls[@]}" -k "$sock" "$img"; fi
    if [ $mode = plain ]; then
      r[$mode-$server-read]=$(bench)
      r[$mode-$server-write]=$(bench -w)
    fi
    rm -f "$dir/out.raw"; r[$mode-$server-cread]=$(secs convert_from $mode "$dir/out.raw")
    r[$mode-$server-cwrite]=$(secs convert_to $mode "$dir/out.raw")
    if [ $server = qemu ]; then
      # Both NBD clients reading from the same server (qemu-nbd).
      if [ $mode = plain ]; then
        rm -f "$dir/out.raw"; r[$mode-vmm-convert]=$(secs "$vmm" img convert -O raw "$uri" "$dir/out.raw")
        rm -f "$dir/out.raw"; r[$mode-qemu-convert]=$(secs qemu-img convert -f raw -O raw "$uri" "$dir/out.raw")
      else
        rm -f "$dir/out.raw"; r[$mode-vmm-convert]=$(secs "$vmm" img convert -O raw "$tls_uri" "$dir/out.raw")
        rm -f "$dir/out.raw"; r[$mode-qemu-convert]=$(secs qemu-img convert --object "$tls_object" --image-opts -O raw "$tls_opts" "$dir/out.raw")
      fi
    fi
    stop
  done
done
rm -f "$dir/out.raw"
ratio() { echo "scale=2; $1 / $2" | bc; }
echo "| test | vmm | qemu | ratio (vmm/qemu, >1 = vmm faster) |"
echo "| --- | ---: | ---: | ---: |"
for mode in plain tls; do
  m=$([ $mode = tls ] && echo ", TLS" || true)
  if [ $mode = plain ]; then
    echo "| qemu-img bench read IOPS (4 KiB, depth 32), vmm nbd vs qemu-nbd | ${r[$mode-vmm-read]} | ${r[$mode-qemu-read]} | $(ratio "${r[$mode-vmm-read]}" "${r[$mode-qemu-read]}") |"
    echo "| qemu-img bench write IOPS (4 KiB, depth 32), vmm nbd vs qemu-nbd | ${r[$mode-vmm-write]} | ${r[$mode-qemu-write]} | $(ratio "${r[$mode-vmm-write]}" "${r[$mode-qemu-write]}") |"
  fi
  echo "| qemu-img convert $size out of the server$m, seconds, vmm nbd vs qemu-nbd | ${r[$mode-vmm-cread]} | ${r[$mode-qemu-cread]} | $(ratio "${r[$mode-qemu-cread]}" "${r[$mode-vmm-cread]}") |"
  echo "| qemu-img convert $size into the server$m, seconds, vmm nbd vs qemu-nbd | ${r[$mode-vmm-cwrite]} | ${r[$mode-qemu-cwrite]} | $(ratio "${r[$mode-qemu-cwrite]}" "${r[$mode-vmm-cwrite]}") |"
  echo "| convert $size from qemu-nbd to a file$m, seconds (vmm img vs qemu-img) | ${r[$mode-vmm-convert]} | ${r[$mode-qemu-convert]} | $(ratio "${r[$mode-qemu-convert]}" "${r[$mode-vmm-convert]}") |"
done
