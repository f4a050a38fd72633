#!/usr/bin/env bash
# VM-exit round trip: the guest kit's `exits` guest under
#   c        benchmarks/src/main/c/kvm_exit_loop.c (the lower bound: KVM_RUN + a switch)
#   vmm      vmm run --kernel exits.pvh.elf
#   qemu-pc  qemu-system-x86_64 -M pc -accel kvm (SeaBIOS, PVH via -kernel)
#   microvm  qemu-system-x86_64 -M microvm -accel kvm (qboot, PVH via -kernel)
# each with a large and a small exit count; the difference cancels start-up and shut-down.
#
#   benchmarks/exits/run.sh                      # defaults below
#   REPS=7 N_LARGE=50000 CPLS="3" RUNNERS="c vmm" benchmarks/exits/run.sh
#
# The guest does count=N port writes (port 0x80) and then N MMIO writes (0xfef00000, nothing
# there), so a run with N exits per phase makes 2N exits.  Reported per runner and CPL:
#   wall ns/exit   median over reps of (wall(N_LARGE) - wall(N_SMALL)) / (2 * (N_LARGE - N_SMALL))
#   user ns/exit   the same for the process tree's user CPU time (/usr/bin/time %U)
#   sys ns/exit    the same for system CPU time; cpu = user + sys, the cost of an exit that does
#                  not depend on how many other processes compete for the CPUs (wall does)
#   guest pio/mmio the guest's own TSC measurement of each phase in the N_LARGE run (median),
#                  converted with the host TSC rate from /proc/cpuinfo
# Runs are interleaved (rep by rep, runner by runner) so that load from other processes hits
# every runner alike.  Not run in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/vmm-bench-exits}
REPS=${REPS:-5}
N_LARGE=${N_LARGE:-30000}
N_SMALL=${N_SMALL:-1000}
CPLS=${CPLS:-"3 0"}
RUNNERS=${RUNNERS:-"c vmm qemu-pc microvm"}
VMM=${VMM:-$ROOT/vmm/target/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
MEM_MIB=256

mkdir -p "$OUT/logs"
RESULTS=$OUT/results.tsv

# ---- build what is missing ----
gcc -O2 -Wall -Wextra -o "$OUT/kvm_exit_loop" "$ROOT/benchmarks/src/main/c/kvm_exit_loop.c"
make -s -C "$ROOT/integration/guest-kit" OUT="$OUT/gk" exits >/dev/null
GUEST=$OUT/gk/exits.pvh.elf
if [[ " $RUNNERS " == *" vmm "* && ! -x $VMM ]]; then
    (cd "$ROOT" && ./mvnw -q package -DskipTests -pl vmm -am)
fi
TSC_MHZ=$(awk -F: '/^cpu MHz/ { gsub(/ /, "", $2); print $2; exit }' /proc/cpuinfo)

run_cmd() { # runner cmdline -> the command line, one word per line
    local runner=$1 append=$2
    case $runner in
        c) printf '%s\n' "$OUT/kvm_exit_loop" "$GUEST" "$append" "$MEM_MIB" ;;
        vmm) printf '%s\n' "$VMM" run -q -m ${MEM_MIB}M --kernel "$GUEST" --cmdline "$append" ;;
        qemu-pc | microvm)
            local machine=pc
            [[ $runner == microvm ]] && machine=microvm
            printf '%s\n' "$QEMU" -M $machine -accel kvm -m ${MEM_MIB}M -display none -nodefaults -serial stdio \
                -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$GUEST" -append "$append" ;;
        *) echo "unknown runner $runner" >&2; exit 2 ;;
    esac
}

# One run; appends "runner cpl n rep wall user sys maxrss_kb pio_cycles mmio_cycles" to RESULTS.
measure() {
    local runner=$1 cpl=$2 n=$3 rep=$4
    local log=$OUT/logs/$runner-cpl$cpl-n$n-r$rep
    local -a cmd
    mapfile -t cmd < <(run_cmd "$runner" "count=$n cpl=$cpl")
    /usr/bin/time -f '%e %U %S %M' -o "$log.time" "${cmd[@]}" >"$log.out" 2>"$log.err" </dev/null || true
    if ! grep -q "exits: done pio=$n mmio=$n" "$log.out"; then
        echo "FAILED: $runner cpl=$cpl count=$n (see $log.out / $log.err)" >&2
        return 1
    fi
    local pio mmio
    pio=$(sed -n 's/.*exits: pio: [0-9]* exits, \([0-9]*\) cycles.*/\1/p' "$log.out")
    mmio=$(sed -n 's/.*exits: mmio: [0-9]* exits, \([0-9]*\) cycles.*/\1/p' "$log.out")
    echo "$runner $cpl $n $rep $(tail -n 1 "$log.time") $pio $mmio" >>"$RESULTS"
}

if [[ ${SUMMARY_ONLY:-0} == 1 ]]; then # re-print the table of an earlier run in $OUT
    :
else
: >"$RESULTS"
echo "exits benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "TSC ${TSC_MHZ} MHz, N=$N_LARGE/$N_SMALL per phase, $REPS reps"
for rep in $(seq 1 "$REPS"); do
    for cpl in $CPLS; do
        for runner in $RUNNERS; do
            measure "$runner" "$cpl" "$N_SMALL" "$rep" || continue
            measure "$runner" "$cpl" "$N_LARGE" "$rep" || true
        done
    done
    echo "  rep $rep/$REPS done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

# ---- summary ----
awk -v nl="$N_LARGE" -v ns="$N_SMALL" -v mhz="$TSC_MHZ" -v order="$RUNNERS" -v cpls="$CPLS" '
function median(s,    a, k, i, j, t) {
    k = split(s, a, " ")
    if (k == 0) return -1
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "n/a" }
{
    key = $1 SUBSEP $2 SUBSEP $4
    if ($3 == ns) { sw[key] = $5; su[key] = $6; ss[key] = $7 }
    else if ($3 == nl) { lw[key] = $5; lu[key] = $6; ls[key] = $7; lpio[$1, $2] = lpio[$1, $2] " " $9; lmmio[$1, $2] = lmmio[$1, $2] " " $10 }
}
END {
    exits = 2 * (nl - ns)
    for (key in lw) {
        if (!(key in sw)) continue
        split(key, p, SUBSEP); rc = p[1] SUBSEP p[2]
        dw[rc] = dw[rc] " " (lw[key] - sw[key]) * 1e9 / exits
        du[rc] = du[rc] " " (lu[key] - su[key]) * 1e9 / exits
        ds[rc] = ds[rc] " " (ls[key] - ss[key]) * 1e9 / exits
        dc[rc] = dc[rc] " " (lu[key] + ls[key] - su[key] - ss[key]) * 1e9 / exits
    }
    nr = split(order, runners, " "); nc = split(cpls, cl, " ")
    for (c = 1; c <= nc; c++) {
        cpl = cl[c]
        printf "\nCPL%s exits, ns per exit (medians; wall/user/sys/cpu from %d-exit differences, guest from its TSC)\n", cpl, exits
        printf "%-8s %9s %9s %9s %9s %10s %10s %5s\n", "runner", "wall", "user", "sys", "cpu", "guest pio", "guest mmio", "reps"
        for (r = 1; r <= nr; r++) {
            rc = runners[r] SUBSEP cpl
            if (!(rc in dw)) { printf "%-8s   (no successful runs)\n", runners[r]; continue }
            W[rc] = median(dw[rc]); U[rc] = median(du[rc]); C[rc] = median(dc[rc]); P[rc] = median(lpio[rc]) * 1000 / mhz
            printf "%-8s %9.0f %9.0f %9.0f %9.0f %10.0f %10.0f %5d\n", runners[r], W[rc], U[rc], median(ds[rc]), C[rc],
                   P[rc], median(lmmio[rc]) * 1000 / mhz, split(dw[rc], tmp, " ")
        }
        v = "vmm" SUBSEP cpl
        if (!(v in W)) continue
        for (r = 1; r <= nr; r++) {
            rc = runners[r] SUBSEP cpl
            if (runners[r] == "vmm" || !(rc in W)) continue
            printf "vmm/%-8s wall %s, cpu %s, guest pio %s; user CPU %+.0f ns/exit\n", runners[r], ratio(W[v], W[rc]),
                   ratio(C[v], C[rc]), ratio(P[v], P[rc]), U[v] - U[rc]
        }
    }
}' "$RESULTS"
echo
echo "raw results: $RESULTS (runner cpl count rep wall_s user_s sys_s maxrss_kb guest_pio_cycles guest_mmio_cycles)"
