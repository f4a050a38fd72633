#!/usr/bin/env bash
# virtio-scsi 4 KiB random-read IOPS: the guest kit's `scsi` guest (mode=randread: READ(10) of
# bs bytes at random aligned LBAs, qd commands in flight, submit/poll loop at CPL3) on one vCPU
# with one request queue, against the same raw image under
#   vmm        vmm run --scsi disk=IMG                        (READ via io_uring, cache=writeback: page cache)
#   vmm-none   vmm run --scsi disk=IMG,cache=none             (io_uring, O_DIRECT)
#   vmm-threads vmm run --scsi disk=IMG,aio=threads           (READ on the worker pool, page cache)
#   qemu       qemu -accel kvm, -object iothread + virtio-scsi-pci,iothread=io0 + scsi-hd,
#              -drive aio=io_uring,cache=none                 (O_DIRECT, if the file system allows it)
#   qemu-wb    the same with cache=writeback                  (page cache)
# The like-for-like pairs are vmm-none / qemu and vmm / qemu-wb.
# Runs are interleaved rep by rep, so load from other processes hits every runner alike.
#
#   benchmarks/scsi/run.sh                               # defaults below
#   REPS=5 COUNT=300000 QD=64 RUNNERS="vmm qemu" benchmarks/scsi/run.sh
#
# IOPS = ops * host TSC rate / guest cycles (the guest measures its own loop with rdtsc; the TSC
# is not scaled under KVM), so boot time and firmware do not count.  The table gives the median
# (min-max) over reps and each runner's ratio to vmm.  Record the load printed with the figures.
# Not run in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/vmm-bench-scsi}
REPS=${REPS:-3}
COUNT=${COUNT:-200000}
WARMUP=${WARMUP:-5000}
QD=${QD:-32}
BS=${BS:-4096}
SIZE_MIB=${SIZE_MIB:-1024}
RUNNERS=${RUNNERS:-"vmm-none qemu vmm vmm-threads qemu-wb"}
VMM=${VMM:-$ROOT/vmm/target/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
IMG=${IMG:-$OUT/disk.img}
MEM_MIB=256

mkdir -p "$OUT/logs"
RESULTS=$OUT/results.tsv

# ---- what is needed ----
make -s -C "$ROOT/integration/guest-kit" OUT="$OUT/gk" scsi >/dev/null
GUEST=$OUT/gk/scsi.pvh.elf
if [[ " $RUNNERS " == *" vmm"* && ! -x $VMM ]]; then
    (cd "$ROOT" && ./mvnw -q package -DskipTests -pl vmm -am)
fi
if [[ ! -f $IMG || $(stat -c %s "$IMG") -ne $((SIZE_MIB << 20)) ]]; then
    echo "writing a ${SIZE_MIB} MiB image of random data to $IMG" >&2
    dd if=/dev/urandom of="$IMG" bs=1M count="$SIZE_MIB" status=none
fi
CACHE=none
if ! dd if="$IMG" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null; then
    echo "O_DIRECT does not work on $(dirname "$IMG"): qemu runs with cache=writeback" >&2
    CACHE=writeback
fi
TSC_KHZ=$(awk -F: '/^cpu MHz/ { gsub(/ /, "", $2); printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
APPEND="mode=randread count=$COUNT warmup=$WARMUP qd=$QD bs=$BS"

run_cmd() { # runner -> the command line, one word per line
    local runner=$1 cache=$CACHE
    case $runner in
        vmm | vmm-none | vmm-threads)
            local disk="disk=$IMG,queues=1,cache=$cache"
            [[ $runner == vmm ]] && disk="disk=$IMG,queues=1,cache=writeback"
            [[ $runner == vmm-threads ]] && disk="disk=$IMG,queues=1,aio=threads"
            printf '%s\n' "$VMM" run -q -m ${MEM_MIB}M --cpus 1 --kernel "$GUEST" --cmdline "$APPEND" --scsi "$disk" ;;
        qemu | qemu-wb)
            [[ $runner == qemu-wb ]] && cache=writeback
            printf '%s\n' "$QEMU" -M pc -accel kvm -m ${MEM_MIB}M -smp 1 -display none -nodefaults -serial stdio \
                -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$GUEST" -append "$APPEND" \
                -object iothread,id=io0 \
                -drive "file=$IMG,if=none,id=d0,format=raw,aio=io_uring,cache=$cache" \
                -device virtio-scsi-pci,id=scsi0,iothread=io0,num_queues=1,disable-legacy=on \
                -device scsi-hd,bus=scsi0.0,drive=d0 ;;
        *) echo "unknown runner $runner" >&2; exit 2 ;;
    esac
}

# One run; appends "runner rep ops cycles iops" to RESULTS.
measure() {
    local runner=$1 rep=$2
    local log=$OUT/logs/$runner-r$rep
    local -a cmd
    mapfile -t cmd < <(run_cmd "$runner")
    timeout 900 "${cmd[@]}" >"$log.out" 2>"$log.err" </dev/null || true
    local line
    line=$(grep -a -o 'scsi: randread bs=[0-9]* qd=[0-9]* ops=[0-9]* cycles=[0-9]*' "$log.out" || true)
    if [[ -z $line ]] || ! grep -a -q 'scsi: randread ok' "$log.out"; then
        echo "FAILED: $runner rep $rep (see $log.out / $log.err)" >&2
        return 1
    fi
    local ops cycles
    ops=$(sed 's/.*ops=\([0-9]*\).*/\1/' <<<"$line")
    cycles=$(sed 's/.*cycles=\([0-9]*\).*/\1/' <<<"$line")
    echo "$runner $rep $ops $cycles $(awk -v o="$ops" -v c="$cycles" -v k="$TSC_KHZ" 'BEGIN { printf "%d", o * k * 1000 / c }')" >>"$RESULTS"
}

: >"$RESULTS"
echo "virtio-scsi randread: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "TSC $((TSC_KHZ / 1000)) MHz, bs=$BS qd=$QD count=$COUNT (+$WARMUP warm-up), ${SIZE_MIB} MiB raw image," \
     "qemu cache=$CACHE, $REPS reps"
for rep in $(seq 1 "$REPS"); do
    for runner in $RUNNERS; do
        measure "$runner" "$rep" || true
    done
    echo "  rep $rep/$REPS done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- summary ----
awk -v order="$RUNNERS" -v cache="$CACHE" '
function median(s,    a, k, i, j, t) {
    k = split(s, a, " ")
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    lo = a[1]; hi = a[k]
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
{ v[$1] = v[$1] " " $5; n[$1]++ }
END {
    nr = split(order, runners, " ")
    printf "%-12s %-40s %5s %10s %20s %8s\n", "runner", "setup", "runs", "IOPS", "(min-max)", "vs vmm"
    base = (n["vmm"] ? median(v["vmm"]) : 0)
    for (r = 1; r <= nr; r++) {
        name = runners[r]
        if (!n[name]) { printf "%-12s %-40s %5d %10s\n", name, "", 0, "failed"; continue }
        m = median(v[name])
        setup = name == "vmm" ? "io_uring, cache=writeback" : name == "vmm-none" ? "io_uring, cache=" cache \
              : name == "vmm-threads" ? "aio=threads: worker pool, page cache" \
              : name == "qemu" ? "iothread, aio=io_uring, cache=" cache : "iothread, aio=io_uring, cache=writeback"
        printf "%-12s %-40s %5d %10d %20s %8s\n", name, setup, n[name], m, "(" lo "-" hi ")", base ? sprintf("%.2fx", m / base) : "n/a"
    }
    if (n["vmm-none"] && n["qemu"]) printf "vmm-none / qemu (both cache=%s): %.2f\n", cache, median(v["vmm-none"]) / median(v["qemu"])
    if (base && n["qemu-wb"]) printf "vmm / qemu-wb (both page cache): %.2f\n", base / median(v["qemu-wb"])
    if (n["vmm-threads"] && n["qemu-wb"]) printf "vmm-threads / qemu-wb (both page cache): %.2f\n", median(v["vmm-threads"]) / median(v["qemu-wb"])
}' "$RESULTS"
