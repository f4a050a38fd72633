#!/usr/bin/env bash
# Measures which system calls the VMM's thread kinds that run without /dev/kvm make:
# `vmm nbd` serving qemu-img (io_uring I/O, NBD virtual threads), `vmm img convert/check`, and a QMP
# server with the machine-free commands (CONTROL). Writes OUT/*.trace and OUT/*.txt (per kind).
#   benchmarks/sandbox/measure.sh [OUT]        (needs strace, qemu-img; run as root)
set -eu
cleanup() { [ -s "${W:-/nonexistent}/nbd.pid" ] && kill "$(cat "$W/nbd.pid")" 2>/dev/null; [ -n "${QPID:-}" ] && kill "$QPID" 2>/dev/null; rm -rf "${W:-/nonexistent}"; true; }
cd "$(dirname "$0")/../.."
OUT=${1:-target/syscalls}; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
# the modules' classes (build them first: ./mvnw -o -pl vmm -am compile) and their four libraries from ~/.m2
jar() { ls "$HOME"/.m2/repository/$1/*/*.jar | grep -v -e sources -e javadoc | sort -V | tail -1; }
CP="vmm/target/classes:vmm-virtio/target/classes:vmm-chipset/target/classes:vmm-ffm-bindings/target/classes:vmm-migration/target/classes"
for a in com/fasterxml/jackson/core/jackson-databind com/fasterxml/jackson/core/jackson-core com/fasterxml/jackson/core/jackson-annotations \
         info/picocli/picocli org/hdrhistogram/HdrHistogram org/jctools/jctools-core; do CP="$CP:$(jar $a)"; done
JAVA=("${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Xmx256m -cp "$CP")
W=$(mktemp -d); trap cleanup EXIT
qemu-img create -q -f qcow2 "$W/a.qcow2" 64M
qemu-io -c 'write -P 0x5a 0 8M' -c 'write -P 0x33 32M 4M' "$W/a.qcow2" >/dev/null

# vmm nbd, read by qemu-img
strace -f -qq -o "$OUT/nbd.trace" "${JAVA[@]}" dev.vmm.Main nbd -r -t -f qcow2 -k "$W/nbd.sock" --pid-file "$W/nbd.pid" "$W/a.qcow2" &
SPID=$!
for _ in $(seq 3000); do [ -s "$W/nbd.pid" ] && break; sleep 0.1; done
qemu-img convert -f raw -O raw "nbd+unix:///?socket=$W/nbd.sock" "$W/copy.raw"
kill -TERM "$(cat "$W/nbd.pid")"; wait $SPID || true
qemu-img compare -f raw -F qcow2 "$W/copy.raw" "$W/a.qcow2"   # the export was read right

# vmm img convert and check
strace -f -qq -o "$OUT/img.trace" "${JAVA[@]}" dev.vmm.Main img convert -f qcow2 -O raw "$W/a.qcow2" "$W/b.raw"
strace -f -qq -o "$OUT/img-check.trace" "${JAVA[@]}" dev.vmm.Main img check "$W/a.qcow2" >/dev/null

# QMP (CONTROL): a client negotiates and sends good and bad commands
strace -f -qq -o "$OUT/qmp.trace" "${JAVA[@]}" benchmarks/sandbox/QmpProbe.java "$W/qmp.sock" "$W/stop" &
QPID=$!
for _ in $(seq 3000); do [ -S "$W/qmp.sock" ] && break; sleep 0.1; done
python3 - "$W/qmp.sock" <<'PY'
import socket, sys, json
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rw')
f.readline()
for c in [{"execute": "qmp_capabilities"}, {"execute": "query-commands"}, {"execute": "query-version"},
          {"execute": "migrate-set-parameters", "arguments": {"max-bandwidth": 1000000, "downtime-limit": 100}},
          {"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "xbzrle", "state": True}]}},
          {"execute": "query-migrate-parameters"}, {"execute": "query-migrate"}, {"execute": "nope"}]:
    f.write(json.dumps(c) + "\n"); f.flush(); r = json.loads(f.readline()); assert "return" in r or "error" in r
f.write("{bad json\n"); f.flush(); f.readline(); s.close()
PY
touch "$W/stop"; wait $QPID || true

for t in nbd img img-check qmp; do
  python3 benchmarks/sandbox/syscalls-by-thread.py "$OUT/$t.trace" > "$OUT/$t.txt"
  echo "== $t"; cat "$OUT/$t.txt"
done
