#!/usr/bin/env python3
"""Reads an `strace -f` trace and prints, per thread name (the JVM names each thread with
prctl(PR_SET_NAME) on its own thread, which the trace shows), the system calls it made and how
often. Thread names are grouped into the VMM's thread kinds; JVM-internal threads are shown as such."""
import re, sys, collections

KINDS = [  # (regex on the 15-character comm name, kind)
    (r'^qmp-', 'CONTROL'), (r'^(dump|panic-pause)', 'CONTROL'),
    (r'^(io-|blk-io|fuzz-io|scsi-io|net-io|vmm-io)', 'IO'),
    (r'^(blk-worker|scsi-worker)', 'BLOCK_WORKER'),
    (r'^(console-|serial-stdin|vport)', 'CONSOLE'),
    (r'^(migration)', 'MIGRATION'),
    (r'^(virtio-timer|vcpu-throttle)', 'TIMER'),
    (r'^vcpu-', 'VCPU'),
    (r'^(nbd-|ForkJoinPool)', 'NBD (virtual threads on ForkJoinPool carriers)'),
    (r'^(main|java)$', 'main'),
]
line_re = re.compile(r'^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()')
name_re = re.compile(r'prctl\(PR_SET_NAME, "([^"]*)"')
names, calls = {}, collections.defaultdict(collections.Counter)
for line in open(sys.argv[1], errors='replace'):
    m = line_re.match(line)
    if not m: continue
    tid, resumed, call = m.group(1), m.group(2), m.group(3)
    if resumed: continue  # counted when it started
    n = name_re.search(line)
    if n: names[tid] = n.group(1)
    calls[tid][call] += 1
def kind(name):
    for rx, k in KINDS:
        if re.search(rx, name): return k
    return 'JVM-internal'
groups = collections.defaultdict(collections.Counter)
members = collections.defaultdict(set)
for tid, c in calls.items():
    name = names.get(tid, '(unnamed: before PR_SET_NAME)')
    k = kind(name)
    groups[k].update(c)
    members[k].add(re.sub(r'\d+$', 'N', name))
for k in sorted(groups):
    print(f'## {k}  threads: {", ".join(sorted(members[k]))}')
    print('   ' + ' '.join(f'{s}:{n}' for s, n in sorted(groups[k].items())))
