#!/usr/bin/env bash
# Remakes the seeds of ImageParserFuzzTest#vhdx and #vpcSparse (SparseImageInput form) with qemu-img/qemu-io.
# Needs qemu-utils, python3 and the vmm-virtio test classes (./mvnw -o -pl vmm-virtio -am test-compile).
#   benchmarks/fuzz/make-image-seeds.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. vmm/src/main/launcher/find-jdk.sh
vmm_find_jdk
out=${OUT:-vmm-virtio/src/test/resources/dev/vmm/block/fuzz/ImageParserFuzzTestInputs}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
encode() { "$VMM_JDK/bin/java" -cp vmm-virtio/target/test-classes dev.vmm.block.fuzz.SparseImageInput "$1" "$2"; }

vhdx() { qemu-img create -q -f vhdx -o subformat="$1",block_size=1M,log_size=1M "$2" 4M; }
vhdx dynamic "$work/dynamic.vhdx"
vhdx fixed "$work/fixed.vhdx"
vhdx dynamic "$work/data.vhdx"
qemu-io -f vhdx -c 'write -P 0x5a 0 512' -c 'write -P 0xa5 2M 512' "$work/data.vhdx" >/dev/null
# A log entry: qemu-io aborts right after a write, so the entry stays in the log. QEMU has already
# cleared the header's log GUID by then, so the current header gets the entry's GUID (and a new
# CRC-32C): QEMU then says the log needs replaying (SparseSeedsQemuTest checks it).
vhdx dynamic "$work/log.vhdx"
qemu-io -f vhdx -c 'write -P 0x5a 1M 4k' -c abort "$work/log.vhdx" >/dev/null 2>&1 || true
python3 - "$work/log.vhdx" <<'EOF'
import struct, sys
def crc32c(b):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    c = 0xffffffff
    for x in b:
        c = table[(c ^ x) & 0xff] ^ (c >> 8)
    return c ^ 0xffffffff
d = bytearray(open(sys.argv[1], 'rb').read())
log = struct.unpack_from('<Q', d, 0x10000 + 72)[0]
assert d[log:log + 4] == b'loge', 'no log entry at the log offset'
h = max((0x10000, 0x20000), key=lambda h: struct.unpack_from('<Q', d, h + 8)[0])
d[h + 48:h + 64] = d[log + 32:log + 48]
struct.pack_into('<I', d, h + 4, 0)
struct.pack_into('<I', d, h + 4, crc32c(bytes(d[h:h + 4096])))
open(sys.argv[1], 'wb').write(d)
EOF
for n in dynamic fixed data log; do encode "$work/$n.vhdx" "$out/vhdx/qemu-$n"; done

qemu-img create -q -f vpc -o subformat=fixed "$work/fixed.vpc" 4M
qemu-img create -q -f vpc -o subformat=dynamic "$work/dynamic.vpc" 4M
cp "$work/dynamic.vpc" "$work/data.vpc"
qemu-io -f vpc -c 'write -P 0x33 1M 512' "$work/data.vpc" >/dev/null
encode "$work/fixed.vpc" "$out/vpcSparse/qemu-fixed"
encode "$work/dynamic.vpc" "$out/vpcSparse/qemu-dynamic"
encode "$work/data.vpc" "$out/vpcSparse/qemu-dynamic-data"
ls -l "$out/vhdx" "$out/vpcSparse"
