#!/bin/bash
# Live migration benchmark: a 1 GiB guest running the guest kit's counter guest (960 MiB of
# counters, RATE % of its pages dirtied per second), migrated over loopback TCP, with and without
# XBZRLE, by vmm and — if qemu-system-x86_64 runs here — by QEMU on the same guest. Prints a table
# of total time, downtime and bytes sent, and the host load (uptime) before and after.
#
#   benchmarks/migration/run.sh            (needs vmm/target/vmm: ./mvnw -q package -DskipTests -pl vmm -am)
#   RATE=5 MIB=960 MEM=1G RUNS=1 QEMU=1 benchmarks/migration/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VMM=${VMM:-$ROOT/vmm/target/vmm}
RATE=${RATE:-5}; MIB=${MIB:-960}; MEM=${MEM:-1G}; RUNS=${RUNS:-1}; QEMU=${QEMU:-1}
NOVERIFY=${NOVERIFY:-1}           # also run vmm with x-dirty-log-verify=off ("vmm-nv": trusts KVM's log like
                                  # QEMU; right for this CPL3 workload, wrong for guest-kernel writes on PVM)
BW=${BW:-0}                       # max-bandwidth for both (0: vmm unlimited; QEMU gets 10 GiB/s)
XCACHE=${XCACHE:-1073741824}      # xbzrle-cache-size with XBZRLE on (both); QEMU's 64 MiB default
                                  # misses on a workload walking 960 MiB round-robin
KIT=$ROOT/integration/target/guest-kit
make -s -C integration/guest-kit OUT="$KIT"
KERNEL=$KIT/counter.pvh.elf
[ -x "$VMM" ] || { echo "build vmm first: ./mvnw -q package -DskipTests -pl vmm -am" >&2; exit 2; }
TMP=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
CMDLINE="mib=$MIB rate=$RATE secs=0 mark_ms=1000"
PY="python3 $ROOT/benchmarks/migration/qmp_migrate.py"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() { # file pattern
    for _ in $(seq 1 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "timeout waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

row() { # impl xbzrle json
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
impl, x, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ram = r.get("ram", {})
xb = r.get("xbzrle-cache", {})
print(f"| {impl:6} | {'on' if x == '1' else 'off':6} | {r.get('status'):9} | {r.get('total-time', 0):8} | "
      f"{r.get('downtime', 0):8} | {ram.get('transferred', 0) / 2**20:9.1f} | {ram.get('dirty-sync-count', 0):5} | "
      f"{xb.get('pages', 0):7} | {r.get('x-dirty-log-mode', '-'):8} | "
      f"{' '.join(f'{k} {v}' for k, v in r.get('x-downtime-breakdown', {}).items()) or '-'} |")
PY
}

vmm_run() { # xbzrle [label verify-mode]
    local label=${2:-vmm}
    local port; port=$(free_port)
    rm -f "$TMP/src.txt" "$TMP/dst.txt"
    "$VMM" run -q --incoming "tcp:127.0.0.1:$port" --memory "$MEM" --qmp "unix:$TMP/dst.qmp" > "$TMP/dst.txt" 2>&1 &
    local dst=$!
    for _ in $(seq 1 600); do ss -ltn | grep -q ":$port " && break; sleep 0.1; done
    "$VMM" run --kernel "$KERNEL" --memory "$MEM" --cmdline "$CMDLINE" --qmp "unix:$TMP/src.qmp" > "$TMP/src.txt" 2>&1 &
    local src=$!
    wait_for "$TMP/src.txt" "counter: mark 3 "
    local extra=(); [ "$BW" != 0 ] && extra=("max-bandwidth=$BW")
    [ "$1" = 1 ] && extra+=("xbzrle-cache-size=$XCACHE")
    [ -n "${3:-}" ] && extra+=("x-dirty-log-verify=$3")
    local r; r=$($PY "$TMP/src.qmp" "tcp:127.0.0.1:$port" "$1" "${extra[@]}")
    wait "$src" || true
    $PY "$TMP/dst.qmp" quit >/dev/null 2>&1 || true
    kill "$dst" 2>/dev/null || true; wait "$dst" 2>/dev/null || true
    rm -f "$TMP"/*.qmp
    row "$label" "$1" "$r"
}

qemu_run() { # xbzrle
    local port; port=$(free_port)
    rm -f "$TMP/qsrc.txt" "$TMP/qdst.txt"
    local common=(-M pc -accel kvm -m "$MEM" -display none -nodefaults -monitor none -no-reboot
                  -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$KERNEL" -append "$CMDLINE")
    qemu-system-x86_64 "${common[@]}" -serial "file:$TMP/qdst.txt" -incoming "tcp:127.0.0.1:$port" \
        -qmp "unix:$TMP/qdst.qmp,server=on,wait=off" 2> "$TMP/qdst.err" &
    local dst=$!
    qemu-system-x86_64 "${common[@]}" -serial "file:$TMP/qsrc.txt" -qmp "unix:$TMP/qsrc.qmp,server=on,wait=off" 2> "$TMP/qsrc.err" &
    local src=$!
    wait_for "$TMP/qsrc.txt" "counter: mark 3 "
    local bw=$BW; [ "$bw" = 0 ] && bw=$((10 << 30))
    local extra=("max-bandwidth=$bw"); [ "$1" = 1 ] && extra+=("xbzrle-cache-size=$XCACHE")
    local r; r=$($PY "$TMP/qsrc.qmp" "tcp:127.0.0.1:$port" "$1" "${extra[@]}")
    wait "$src" || true
    kill "$dst" 2>/dev/null || true; wait "$dst" 2>/dev/null || true
    rm -f "$TMP"/*.qmp
    row qemu "$1" "$r"
}

echo "load before: $(uptime)"
echo "guest: counter $CMDLINE, --memory $MEM; max-bandwidth ${BW} (0 = unlimited); xbzrle-cache-size $XCACHE when on"
echo "| impl   | xbzrle | status    | total ms | down ms  | MiB sent  | syncs | xb pages| log mode | downtime ms by step |"
echo "|--------|--------|-----------|----------|----------|-----------|-------|---------|----------|---------------------|"
for _ in $(seq 1 "$RUNS"); do
    for x in 0 1; do vmm_run $x; done
    if [ "$NOVERIFY" = 1 ]; then for x in 0 1; do vmm_run $x vmm-nv off; done; fi
    if [ "$QEMU" = 1 ] && command -v qemu-system-x86_64 >/dev/null; then
        for x in 0 1; do qemu_run $x || echo "| qemu  | $x | (failed: see stderr) |"; done
    fi
done
echo "load after: $(uptime)"
