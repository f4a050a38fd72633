#!/usr/bin/env bash
# virtio-net throughput: the guest kit's `net` guest (integration/guest-kit/guests/net.c, polled
# driver, hot loops at CPL3 on one vCPU) against a tap in a private network namespace, under
#   vmm    vmm run --net tap=T,queues=P                              (user-space virtio-net)
#   qemu   qemu-system-x86_64 -M pc -accel kvm, virtio-net-pci mq=on, -netdev tap,vhost=off,queues=P
#   tx     the guest sends frames of SIZE bytes as fast as it can, round-robin over P transmitqs;
#          nobody reads them on the host (the namespace's stack drops them)
#   rx     integration/net-peer/netpeer floods the tap from the host (AF_PACKET, sendmmsg) with
#          frames whose UDP ports spread them over the P receiveqs; the guest counts what arrives
# Both VMs get P vCPUs (the vmm runs one I/O thread per vCPU, pair i on thread i; QEMU serves every
# queue from its main loop) but only the boot vCPU runs the guest's loop.
# Reported: frames/s and Gbit/s (Ethernet frame bytes, no vnet header), measured by the guest
# over SECS seconds after WARMUP seconds (the VMM's JIT), and vmm/qemu ratios.
#
#   benchmarks/net/run.sh
#   REPS=3 SECS=5 SIZES="64 1514" PAIRS="1 2" DIRS="tx rx" RUNNERS="vmm qemu" benchmarks/net/run.sh
#
# Needs root (namespaces, taps). Runs are interleaved so that load from other processes hits both
# runners alike; the median over REPS is shown. Not run in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/vmm-bench-net}
REPS=${REPS:-1}
SECS=${SECS:-5}
WARMUP=${WARMUP:-3}
SIZES=${SIZES:-"64 1514"}
PAIRS=${PAIRS:-"1 2"}
DIRS=${DIRS:-"tx rx"}
RUNNERS=${RUNNERS:-"vmm qemu"}
VMM=${VMM:-$ROOT/vmm/target/vmm}
QEMU=${QEMU:-qemu-system-x86_64}

mkdir -p "$OUT/logs"
RESULTS=$OUT/results.tsv

gcc -O2 -Wall -o "$OUT/netpeer" "$ROOT/integration/net-peer/netpeer.c"
make -s -C "$ROOT/integration/guest-kit" OUT="$OUT/gk" net >/dev/null
if [[ " $RUNNERS " == *" vmm "* && ! -x $VMM ]]; then
    (cd "$ROOT" && ./mvnw -q package -DskipTests -pl vmm -am)
fi

NS=
cleanup() { [[ -n $NS ]] && ip netns del "$NS" 2>/dev/null; NS=; }
trap cleanup EXIT

# One run; appends "runner dir size pairs rep frames bytes us" to RESULTS.
measure() {
    local runner=$1 dir=$2 size=$3 pairs=$4 rep=$5
    local log=$OUT/logs/$runner-$dir-$size-p$pairs-r$rep
    local tap=nbt$$ peer=
    NS=vmmnb$$x$rep
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    local append="mode=${dir}bench pairs=$pairs size=$size secs=$SECS warmup=$WARMUP"
    local -a cmd
    case $runner in
        vmm) cmd=("$VMM" run -q --cpus "$pairs" --memory 128M --kernel "$OUT/gk/net.pvh.elf" --cmdline "$append"
                  --net "tap=$tap,queues=$pairs") ;;
        qemu)
            local mq="mq=off" q="" mqt=""
            if ((pairs > 1)); then mq="mq=on,vectors=$((2 * pairs + 2))"; q=",queues=$pairs"; mqt=multi_queue; fi
            ip -n "$NS" tuntap add "$tap" mode tap $mqt vnet_hdr
            ip -n "$NS" link set "$tap" up
            cmd=("$QEMU" -M pc -accel kvm -m 128 -smp "$pairs" -display none -nodefaults -no-reboot -monitor none
                 -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$OUT/gk/net.mb.elf"
                 -append "$append" -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off$q"
                 -device "virtio-net-pci,netdev=n0,disable-legacy=on,$mq") ;;
        *) echo "unknown runner $runner" >&2; exit 2 ;;
    esac
    if [[ $dir == rx ]]; then
        ip netns exec "$NS" "$OUT/netpeer" flood "$tap" $((SECS + WARMUP + 120)) "$pairs" >"$log.peer" 2>&1 &
        peer=$!
    fi
    timeout 300 ip netns exec "$NS" "${cmd[@]}" >"$log.out" 2>"$log.err" </dev/null || true
    [[ -n $peer ]] && { kill "$peer" 2>/dev/null || true; wait "$peer" 2>/dev/null || true; }
    cleanup
    local line
    line=$(grep -a "net: ${dir}bench pairs=" "$log.out" || true)
    if [[ -z $line ]]; then
        echo "FAILED: $runner $dir size=$size pairs=$pairs (see $log.out / $log.err)" >&2
        return 1
    fi
    local frames bytes us
    frames=$(sed -n 's/.*frames=\([0-9]*\).*/\1/p' <<<"$line")
    bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$line")
    us=$(sed -n 's/.*us=\([0-9]*\).*/\1/p' <<<"$line")
    echo "$runner $dir $size $pairs $rep $frames $bytes $us" >>"$RESULTS"
}

if [[ ${SUMMARY_ONLY:-0} != 1 ]]; then
    : >"$RESULTS"
    echo "net benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
         "${SECS}s after ${WARMUP}s warm-up, $REPS reps"
    for rep in $(seq 1 "$REPS"); do
        for dir in $DIRS; do
            for size in $SIZES; do
                for pairs in $PAIRS; do
                    for runner in $RUNNERS; do
                        measure "$runner" "$dir" "$size" "$pairs" "$rep" || true
                    done
                done
            done
        done
        echo "  rep $rep/$REPS done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
    echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

awk -v order="$RUNNERS" '
function median(s,    a, k, i, j, t) {
    k = split(s, a, " ")
    if (k == 0) return -1
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
{
    key = $2 SUBSEP $3 SUBSEP $4
    if (!(key in seen)) { seen[key] = 1; keys[++nk] = key }
    pps[$1, key] = pps[$1, key] " " ($8 > 0 ? $6 * 1e6 / $8 : 0)
    gbps[$1, key] = gbps[$1, key] " " ($8 > 0 ? $7 * 8 / $8 / 1e3 : 0)
}
END {
    nr = split(order, r, " ")
    printf "\n%-4s %5s %5s", "dir", "size", "pairs"
    for (i = 1; i <= nr; i++) printf " %12s %8s", r[i] " frames/s", "Gbit/s"
    if (nr == 2) printf " %10s", r[1] "/" r[2]
    printf "\n"
    for (k = 1; k <= nk; k++) {
        split(keys[k], p, SUBSEP)
        printf "%-4s %5s %5s", p[1], p[2], p[3]
        for (i = 1; i <= nr; i++) {
            if ((r[i], keys[k]) in pps) { P[i] = median(pps[r[i], keys[k]]); printf " %12.0f %8.3f", P[i], median(gbps[r[i], keys[k]]) }
            else { P[i] = -1; printf " %12s %8s", "-", "-" }
        }
        if (nr == 2) printf " %10s", (P[1] > 0 && P[2] > 0) ? sprintf("%.2fx", P[1] / P[2]) : "n/a"
        printf "\n"
    }
}' "$RESULTS"
echo
echo "raw results: $RESULTS (runner dir size pairs rep frames bytes us)"
