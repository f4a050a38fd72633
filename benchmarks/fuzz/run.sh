#!/usr/bin/env bash
# Coverage-guided fuzzing run of every Jazzer target (not part of CI; CI replays the seed corpora).
#
#   benchmarks/fuzz/run.sh                   # every target, RUNS executions each, one after another
#   benchmarks/fuzz/run.sh 'VirtqueueFuzzTest#chains' ...   # only targets whose name contains a word
#
# A target may end in :N, libFuzzer's -max_len for it (default: the largest seed, at least 4096).
# Environment: RUNS (executions per target, default 1000000), MAX_TIME (libFuzzer time cap per target,
# default 1200s: a slow target stops there and the table says how far it got).
# Per target the log is target/fuzz/<Class>_<method>.log; one summary line per target is appended to
# target/fuzz/summary.tsv: target, executions, cov, ft, corpus, seconds, exit status, findings.
# Findings (crash-*, timeout-*, oom-* inputs) are written by Jazzer under the module's test resources
# directory of the target (<Class>Inputs/<method>) and must become regression tests.
set -u
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-1000000}
MAX_TIME=${MAX_TIME:-1200s}
# Jazzer takes a duration with a unit ("1500s"); a bare number failed every target (DateTimeParseException): seconds.
case $MAX_TIME in *[0-9]) MAX_TIME=${MAX_TIME}s ;; esac
TARGETS=(
  vmm-virtio:dev.vmm.virtio.queue.VirtqueueFuzzTest#chains
  vmm-virtio:dev.vmm.virtio.blk.VirtioBlkFuzzTest#requests
  vmm-virtio:dev.vmm.virtio.scsi.VirtioScsiFuzzTest#requests
  vmm-virtio:dev.vmm.virtio.net.NetControlFuzzTest#commands
  vmm-virtio:dev.vmm.virtio.pci.VirtioPciFuzzTest#accesses
  vmm-migration:dev.vmm.migration.MigrationStreamFuzzTest#incoming
  vmm:dev.vmm.snapshot.SnapshotReaderFuzzTest#sections
  vmm:dev.vmm.control.QmpDispatchFuzzTest#requests
  vmm-virtio:dev.vmm.block.nbd.NbdFuzzTest#clientReplies
  vmm-virtio:dev.vmm.block.nbd.NbdFuzzTest#clientHandshake
  vmm-virtio:dev.vmm.block.nbd.NbdFuzzTest#serverSession
  vmm-chipset:dev.vmm.chipset.fwcfg.fuzz.FwCfgDmaFuzzTest#dma
  vmm-virtio:dev.vmm.ahci.AhciFuzzTest#commands
  vmm-virtio:dev.vmm.block.fuzz.ImageParserFuzzTest#qcow2:65536
  vmm-virtio:dev.vmm.block.fuzz.ImageParserFuzzTest#vhdx:16384
  vmm-virtio:dev.vmm.block.fuzz.ImageParserFuzzTest#vpc:65536
  vmm-virtio:dev.vmm.block.fuzz.ImageParserFuzzTest#vpcSparse:16384
  vmm-virtio:dev.vmm.block.fuzz.ImageParserFuzzTest#probe
  vmm-chipset:dev.vmm.chipset.acpi.fuzz.HotplugRegistersFuzzTest#registers
  vmm:dev.vmm.cpu.CpuStateFuzzTest#section
  vmm:dev.vmm.dump.DumpRequestFuzzTest#arguments
  vmm-virtio:dev.vmm.block.nbd.NbdFuzzTest#clientHandshakeTls
  vmm-virtio:dev.vmm.block.nbd.NbdFuzzTest#serverSessionTlsRequired
  vmm-chipset:dev.vmm.chipset.acpi.fuzz.HotplugRegistersFuzzTest#piix4PciHotplug
  vmm-chipset:dev.vmm.chipset.bios.fuzz.ShadowAccessFuzzTest#accesses
  vmm-chipset:dev.vmm.chipset.legacy.fuzz.CmosRtcFuzzTest#registers
  vmm:dev.vmm.cpuhotplug.CpuHotplugFuzzTest#ops
  vmm-chipset:dev.vmm.usb.fuzz.UsbControlFuzzTest#control
  vmm-virtio:dev.vmm.usb.storage.fuzz.BotFuzzTest#bot
  vmm-chipset:dev.vmm.usb.xhci.XhciRingsFuzzTest#rings
  vmm-chipset:dev.vmm.usb.xhci.XhciStateFuzzTest#state
  vmm-virtio:dev.vmm.virtio.balloon.BalloonQueueFuzzTest#queues
  vmm-chipset:dev.vmm.usb.fuzz.UsbControlFuzzTest#idle
  vmm:dev.vmm.snapshot.devices.HotplugStateFuzzTest#sections
  vmm:dev.vmm.control.scsi.ScsiHotplugFuzzTest#ops
  vmm:dev.vmm.control.incoming.IncomingUriFuzzTest#uris
  vmm-chipset:dev.vmm.usb.fuzz.DescriptorParserFuzzTest#parse
  vmm:dev.vmm.config.scsi.ScsiLayoutFuzzTest#layouts
)
mkdir -p target/fuzz
for t in "${TARGETS[@]}"; do
  if [ $# -gt 0 ]; then
    keep=0
    for w in "$@"; do case "$t" in *"$w"*) keep=1 ;; esac; done
    [ $keep = 1 ] || continue
  fi
  module=${t%%:*}; test=${t#*:}; maxlen=()
  case "$test" in *:*) maxlen=(-Djazzer.internal.arg.0=fuzz -Djazzer.internal.arg.1=-max_len="${test##*:}"); test=${test%:*} ;; esac
  cls=${test%%#*}; name="${cls##*.}_${test#*#}"
  log=target/fuzz/$name.log
  echo "== $test ($module): $RUNS executions, at most $MAX_TIME ${maxlen[*]}" >&2
  start=$(date +%s)
  JAZZER_FUZZ=1 ./mvnw -B -o -pl "$module" -am test -Dtest="$test" -Dsurefire.failIfNoSpecifiedTests=false \
    -Djazzer.max_executions="$RUNS" -Djazzer.max_duration="$MAX_TIME" "${maxlen[@]}" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  # libFuzzer's last status line: "#N <event> cov: C ft: F corp: K/..."
  last=$(grep -aE '^#[0-9]+' "$log" | tail -1)
  execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.*corp: ([0-9]+).*/\1/p' <<<"$last")
  findings=$(grep -acE '== Java Exception|ERROR: libFuzzer|Jazzer.*finding|crash-[0-9a-f]{8}' "$log")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$test" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$secs" "$rc" "$findings" \
    | tee -a target/fuzz/summary.tsv
done
