#!/usr/bin/env bash
# virtio-blk data plane: the guest kit's `blk` guest (polled virtio-pci driver, hot loop at CPL3,
# which runs natively on a PVM host) against the same raw image under
#   vmm       vmm run --kernel blk.pvh.elf --disk path=IMG,cache=none      (io_uring, O_DIRECT)
#   vmm-poll  the same with the I/O thread polling 50 µs before it sleeps (-Dvmm.io.pollMicros=50)
#   vmm-thp   the same with guest RAM madvise(MADV_HUGEPAGE), as QEMU does (the default now; the
#             other vmm runners pass --memory SIZE,thp=off to keep the comparison)
#   vmm-kick  the same with kicks re-enabled after every pop loop, not kept off while requests are
#             in flight (-Dvmm.virtio.pickUpOnCompletion=false: the behaviour before that change)
#   (not in the default RUNNERS: RUNNERS="vmm vmm-poll vmm-thp vmm-kick qemu")
#   qemu  qemu-system-x86_64 -M pc -accel kvm -object iothread,id=io0
#         -drive file=IMG,if=none,id=d0,format=raw,cache=none,aio=io_uring
#         -device virtio-blk-pci,drive=d0,iothread=io0,disable-legacy=on
# Workloads:
#   randread  4 KiB random reads, queue depth QD (default 32), COUNT requests (default 100000)
#   seqread   1 MiB sequential reads, queue depth SEQ_QD (default 8), SEQ_SECS seconds (default 5)
# The guest times its own loop with the TSC (cycles converted with the host's TSC rate, TSC_MHZ from
# /proc/cpuinfo); the table shows medians over REPS, runs interleaved runner by runner so that load
# from other processes hits both alike.
#
#   benchmarks/blk/run.sh
#   REPS=5 QD=64 CACHE=writeback RUNNERS="vmm" benchmarks/blk/run.sh
#   VMM_JAVA_OPTS="-XX:+FlightRecorder -XX:StartFlightRecording=filename=/tmp/blk.jfr" RUNNERS=vmm REPS=1 benchmarks/blk/run.sh
# Not run in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/vmm-bench-blk}
REPS=${REPS:-3}
QD=${QD:-32}
SEQ_QD=${SEQ_QD:-8}
COUNT=${COUNT:-100000}
SEQ_SECS=${SEQ_SECS:-5}
CACHE=${CACHE:-none}
IMG_MIB=${IMG_MIB:-1024}
RUNNERS=${RUNNERS:-"vmm vmm-poll qemu"}
WORKLOADS=${WORKLOADS:-"randread seqread"}
VMM=${VMM:-$ROOT/vmm/target/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
MEM_MIB=512
TSC_MHZ=${TSC_MHZ:-$(awk -F: '/^cpu MHz/ { gsub(/ /, "", $2); print $2; exit }' /proc/cpuinfo)}

mkdir -p "$OUT/logs"
RESULTS=$OUT/results.tsv
make -s -C "$ROOT/integration/guest-kit" OUT="$OUT/gk" blk >/dev/null
GUEST=$OUT/gk/blk.pvh.elf
if [[ " $RUNNERS " == *" vmm"* && ! -x $VMM ]]; then
    (cd "$ROOT" && ./mvnw -q package -DskipTests -pl vmm -am)
fi
# A fully allocated image (random data), so that reads hit the host file system, not holes.
IMG=$OUT/disk.raw
if [[ ! -f $IMG || $(stat -c %s "$IMG") -ne $((IMG_MIB << 20)) ]]; then
    echo "creating $IMG ($IMG_MIB MiB)" >&2
    head -c $((IMG_MIB << 20)) /dev/urandom >"$IMG.tmp" && mv "$IMG.tmp" "$IMG"
fi

cmdline_for() { # workload -> guest command line
    case $1 in
        randread) echo "mode=randread bs=4K qd=$QD count=$COUNT" ;;
        seqread) echo "mode=seqread bs=1M qd=$SEQ_QD secs=$SEQ_SECS" ;;
    esac
}

run_cmd() { # runner workload -> the command line, one word per line
    local runner=$1 append
    append=$(cmdline_for "$2")
    case $runner in
        vmm | vmm-poll | vmm-thp | vmm-kick) printf '%s\n' "$VMM" run -q -m "${MEM_MIB}M$([[ $runner == vmm-thp ]] || echo ,thp=off)" --kernel "$GUEST" --cmdline "$append" \
                 --disk "path=$IMG,cache=$CACHE,queues=1" ;;
        qemu)
            local qcache=$CACHE
            printf '%s\n' "$QEMU" -M pc -accel kvm -m ${MEM_MIB}M -display none -nodefaults -serial stdio -no-reboot \
                -device isa-debug-exit,iobase=0xf4,iosize=0x04 -object iothread,id=io0 \
                -drive "file=$IMG,if=none,id=d0,format=raw,cache=$qcache,aio=io_uring" \
                -device virtio-blk-pci,drive=d0,iothread=io0,num-queues=1,disable-legacy=on \
                -kernel "$GUEST" -append "$append" ;;
        *) echo "unknown runner $runner" >&2; exit 2 ;;
    esac
}

# One run; appends "runner workload rep iops mib_s wall_s kicks_per_request" to RESULTS.
measure() {
    local runner=$1 wl=$2 rep=$3
    local log=$OUT/logs/$runner-$wl-r$rep
    local -a cmd
    mapfile -t cmd < <(run_cmd "$runner" "$wl")
    local opts=${VMM_JAVA_OPTS:-}
    [[ $runner == vmm-poll ]] && opts="$opts -Dvmm.io.pollMicros=${POLL_US:-50}"
    [[ $runner == vmm-kick ]] && opts="$opts -Dvmm.virtio.pickUpOnCompletion=false"
    VMM_JAVA_OPTS=$opts /usr/bin/time -f '%e' -o "$log.time" timeout 300 "${cmd[@]}" >"$log.out" 2>"$log.err" </dev/null || true
    if ! grep -q "blk: $wl ok" "$log.out"; then
        echo "FAILED: $runner $wl rep $rep (see $log.out / $log.err)" >&2
        return 1
    fi
    # The guest's own TSC-rate estimate (PIT calibration) is unreliable on a loaded host: convert
    # its cycle count with the host's TSC rate instead (the guest reads the host TSC).
    local line ops bytes cycles notifies
    line=$(grep "blk: $wl bs=" "$log.out")
    notifies=$(sed -n 's/.* notifies=\([0-9]*\).*/\1/p' <<<"$line")
    ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$line")
    bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$line")
    cycles=$(sed -n 's/.* cycles=\([0-9]*\).*/\1/p' <<<"$line")
    awk -v r="$runner" -v w="$wl" -v k="$rep" -v o="$ops" -v b="$bytes" -v c="$cycles" -v mhz="$TSC_MHZ" -v t="$(tail -n 1 "$log.time")" \
        -v n="${notifies:-0}" \
        'BEGIN { s = c / (mhz * 1e6); printf "%s %s %s %.0f %.1f %s %.3f\n", r, w, k, o / s, b / s / 1048576, t, o ? n / o : 0 }' >>"$RESULTS"
}

if [[ ${SUMMARY_ONLY:-0} != 1 ]]; then
    : >"$RESULTS"
    echo "blk benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
         "TSC ${TSC_MHZ} MHz, image $IMG_MIB MiB raw, cache=$CACHE, randread 4K qd=$QD x$COUNT, seqread 1M qd=$SEQ_QD ${SEQ_SECS}s, $REPS reps"
    for rep in $(seq 1 "$REPS"); do
        for wl in $WORKLOADS; do
            for runner in $RUNNERS; do
                measure "$runner" "$wl" "$rep" || true
            done
        done
        echo "  rep $rep/$REPS done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
    echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

awk -v order="$RUNNERS" -v wls="$WORKLOADS" '
function median(s,    a, k, i, j, t) {
    k = split(s, a, " ")
    if (k == 0) return -1
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
{ iops[$1, $2] = iops[$1, $2] " " $4; mib[$1, $2] = mib[$1, $2] " " $5; kick[$1, $2] = kick[$1, $2] " " ($7 == "" ? 0 : $7) }
END {
    nr = split(order, runners, " "); nw = split(wls, w, " ")
    printf "\n%-9s %-8s %10s %10s %12s %5s\n", "workload", "runner", "IOPS", "MiB/s", "kicks/req", "reps"
    for (i = 1; i <= nw; i++) for (r = 1; r <= nr; r++) {
        k = runners[r] SUBSEP w[i]
        if (!(k in iops)) { printf "%-9s %-8s   (no successful runs)\n", w[i], runners[r]; continue }
        I[k] = median(iops[k]); M[k] = median(mib[k])
        printf "%-9s %-8s %10d %10.1f %12.3f %5d\n", w[i], runners[r], I[k], M[k], median(kick[k]), split(iops[k], t, " ")
    }
    for (i = 1; i <= nw; i++) {
        v = "vmm" SUBSEP w[i]; q = "qemu" SUBSEP w[i]
        if ((v in I) && (q in I) && I[q] > 0) printf "vmm/qemu %-9s %.2fx\n", w[i], I[v] / I[q]
        for (r = 1; r <= nr; r++) {
            p = runners[r] SUBSEP w[i]
            if (runners[r] != "vmm" && runners[r] ~ /^vmm-/ && (p in I) && (q in I) && I[q] > 0)
                printf "%s/qemu %-9s %.2fx\n", runners[r], w[i], I[p] / I[q]
        }
    }
}' "$RESULTS"
echo
echo "raw results: $RESULTS (runner workload rep iops mib_s wall_s kicks_per_request); guest output in $OUT/logs"
