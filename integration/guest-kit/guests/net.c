/*
 * net: the guest kit's virtio-net driver (rt/virtio_net.c) against a peer on the host side of
 * the tap (integration/net-peer/netpeer.c).
 *
 * Frames are Ethernet + IPv4 + UDP, guest 192.0.2.2:(40000 + queue) -> peer 192.0.2.1:9999, with a
 * payload of "VMKT", a kind byte, the queue number (le16) and a sequence number (le32):
 *   A  guest announce (queue 0, repeated until the peer answers)
 *   H  peer hello, the answer to A
 *   D  guest data frame, sent on transmitq <queue>
 *   E  peer echo of a D frame (addresses and ports swapped, so a multi-queue tap's flow
 *      steering brings it back to receiveq <queue>)
 *
 * cmdline:
 *   mode=echo|txbench|rxbench   (default echo)
 *   pairs=N        queue pairs to use (default: one per CPU)
 *   count=N        echo: D frames per queue (default 64)
 *   size=N         frame length in bytes, 60..1514 (default 128 for echo, 1514 for the benches)
 *   secs=N         benches: measured duration (default 3)
 *   warmup=N       benches: seconds run before measuring (default 2; the VMM's JIT warms up)
 *   user=0|1       run the BSP's loops at CPL3 (default 1)
 *   timeout_ms=N   echo: peer handshake and echo deadline (default 60000)
 *   gap_us=N       echo: pace each queue's D frames N microseconds apart (default 0: bursts)
 *   max_lost=N     echo: tolerate up to N echoes per queue that never come back (a snapshot or
 *                  migration drops the frames in flight in the old tap); a sequence gap then
 *                  counts as lost, not out of order, and a queue stops after 1 s without traffic
 *
 * echo: every CPU i sends on transmitq i and polls receiveq i (the BSP at CPL3 when user=1, the
 * APs at CPL0); success when every D frame came back as an E frame.
 * txbench: the BSP sends as fast as it can round-robin over the pairs (no peer needed).
 * rxbench: after the handshake the BSP counts frames on every receiveq (the peer floods).
 */
#include "kit.h"

#define MAGIC "VMKT"
#define ETH_HLEN 14
#define IP_HLEN 20
#define UDP_HLEN 8
#define PAYLOAD_OFF (ETH_HLEN + IP_HLEN + UDP_HLEN)
#define GUEST_PORT_BASE 40000
#define PEER_PORT 9999
#define AP_STACK 16384

static struct kit_vnet net;
static uint64_t tsc_khz;
static bool use_cpl3;
static uint32_t frame_len;
static uint32_t count;
static uint64_t deadline;

static const uint8_t guest_ip[4] = { 192, 0, 2, 2 };
static const uint8_t peer_ip[4] = { 192, 0, 2, 1 };

/* Per receiving queue, echoes counted by the queue tag they carry. */
static volatile uint64_t echoes[KIT_VNET_MAX_PAIRS][KIT_VNET_MAX_PAIRS];
static volatile uint64_t echoes_total;
static volatile uint64_t bad_seq[KIT_VNET_MAX_PAIRS];
static volatile uint32_t done[KIT_VNET_MAX_PAIRS];
static volatile uint32_t cpu_queue[256];
static volatile uint64_t tx_done[KIT_VNET_MAX_PAIRS]; /* D frames the device completed */
static volatile uint64_t lost[KIT_VNET_MAX_PAIRS];    /* max_lost: echoes skipped in sequence */
static uint64_t gap_cycles;
static uint32_t max_lost;

static uint64_t ms_to_cycles(uint64_t ms) { return ms * tsc_khz; }

static uint16_t csum16(const uint8_t *p, unsigned len)
{
    uint32_t s = 0;
    for (unsigned i = 0; i + 1 < len; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void put16be(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* Ethernet/IPv4/UDP headers and the payload tag of a guest frame of frame_len bytes. */
static void build(uint8_t *f, uint32_t len, char kind, uint16_t queue, uint32_t seq)
{
    memset(f, 0xff, 6); /* broadcast: the peer has no address the guest could know */
    memcpy(f + 6, net.mac, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t *ip = f + ETH_HLEN;
    memset(ip, 0, IP_HLEN);
    ip[0] = 0x45;
    put16be(ip + 2, (uint16_t)(len - ETH_HLEN));
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, guest_ip, 4);
    memcpy(ip + 16, peer_ip, 4);
    put16be(ip + 10, csum16(ip, IP_HLEN));
    uint8_t *udp = ip + IP_HLEN;
    put16be(udp, (uint16_t)(GUEST_PORT_BASE + queue));
    put16be(udp + 2, PEER_PORT);
    put16be(udp + 4, (uint16_t)(len - ETH_HLEN - IP_HLEN));
    udp[6] = udp[7] = 0; /* no UDP checksum (allowed over IPv4) */
    uint8_t *pl = f + PAYLOAD_OFF;
    memcpy(pl, MAGIC, 4);
    pl[4] = (uint8_t)kind;
    pl[5] = 0;
    pl[6] = (uint8_t)queue;
    pl[7] = (uint8_t)(queue >> 8);
    memcpy(pl + 8, &seq, 4);
}

/* The kind of a peer frame addressed to us (0 when it is not one), its queue tag and sequence. */
static char parse(const uint8_t *f, uint32_t len, uint16_t *queue, uint32_t *seq)
{
    if (len < PAYLOAD_OFF + 12 || f[12] != 0x08 || f[13] != 0x00 || f[ETH_HLEN + 9] != 17)
        return 0;
    const uint8_t *pl = f + PAYLOAD_OFF;
    if (memcmp(pl, MAGIC, 4) != 0)
        return 0;
    *queue = (uint16_t)(pl[6] | pl[7] << 8);
    memcpy(seq, pl + 8, 4);
    return (char)pl[4];
}

static bool send_one(struct kit_vnet_queue *q, char kind, uint16_t queue, uint32_t seq)
{
    uint8_t *f = kit_vnet_tx_frame(q);
    if (!f)
        return false;
    build(f, frame_len, kind, queue, seq);
    kit_vnet_tx_commit(q, frame_len);
    return true;
}

/* ---- handshake: announce on transmitq 0 until the peer says hello on any receiveq ---- */
static uint64_t handshake(uint64_t arg)
{
    (void)arg;
    uint64_t next = 0;
    uint32_t seq = 0;
    while (rdtsc() < deadline) {
        if (rdtsc() >= next) {
            send_one(&net.tx[0], 'A', 0, seq++);
            kit_vnet_kick(&net.tx[0]);
            next = rdtsc() + ms_to_cycles(100);
        }
        for (unsigned i = 0; i < net.pairs; i++) {
            uint32_t len;
            uint16_t id, tag;
            uint32_t s;
            uint8_t *f;
            bool got = false;
            while ((f = kit_vnet_rx_poll(&net.rx[i], &len, &id))) {
                got |= parse(f, len, &tag, &s) == 'H';
                kit_vnet_rx_release(&net.rx[i], id);
            }
            kit_vnet_kick(&net.rx[i]);
            if (got) {
                kit_vnet_tx_reclaim(&net.tx[0]);
                return seq;
            }
        }
        cpu_relax();
    }
    return 0;
}

/* ---- echo: queue i's sender and receiver ---- */
static uint64_t echo_worker(uint64_t i)
{
    struct kit_vnet_queue *tx = &net.tx[i], *rx = &net.rx[i];
    uint64_t want = (uint64_t)count * net.pairs;
    uint32_t sent = 0;
    uint32_t next_seq[KIT_VNET_MAX_PAIRS] = { 0 };
    uint64_t base = tx->frames; /* announces of the handshake */
    uint64_t next_send = 0, last_activity = rdtsc();
    while (rdtsc() < deadline) {
        unsigned batch = 0;
        while (sent < count && batch < 32 && (!gap_cycles || rdtsc() >= next_send) && send_one(tx, 'D', (uint16_t)i, sent)) {
            sent++;
            batch++;
            last_activity = rdtsc();
            next_send = last_activity + gap_cycles;
        }
        if (batch)
            kit_vnet_kick(tx);
        uint32_t len, seq;
        uint16_t id, tag;
        uint8_t *f;
        unsigned got = 0;
        while ((f = kit_vnet_rx_poll(rx, &len, &id))) {
            if (parse(f, len, &tag, &seq) == 'E' && tag < net.pairs) {
                /* tun keeps a flow's order: echoes of one queue arrive in sequence on one receiveq */
                if (seq != next_seq[tag]) {
                    if (max_lost && seq > next_seq[tag])
                        lost[i] += seq - next_seq[tag];
                    else
                        bad_seq[i]++;
                }
                last_activity = rdtsc();
                next_seq[tag] = seq + 1;
                echoes[i][tag]++;
                __atomic_fetch_add(&echoes_total, 1, __ATOMIC_SEQ_CST);
            }
            kit_vnet_rx_release(rx, id);
            got++;
        }
        if (got)
            kit_vnet_kick(rx);
        kit_vnet_tx_reclaim(tx);
        tx_done[i] = tx->frames - base;
        if (sent == count && tx_done[i] == count && __atomic_load_n(&echoes_total, __ATOMIC_SEQ_CST) >= want)
            break;
        /* frames lost at a switch-over never come back: stop once the queue has been quiet for 1 s */
        if (max_lost && sent == count && tx_done[i] == count && rdtsc() - last_activity > ms_to_cycles(1000))
            break;
        cpu_relax();
    }
    return 0;
}

static void ap_entry(uint32_t apic_id)
{
    unsigned i = cpu_queue[apic_id & 0xff];
    echo_worker(i);
    __atomic_store_n(&done[i], 1, __ATOMIC_SEQ_CST);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static uint64_t run(uint64_t (*fn)(uint64_t), uint64_t arg)
{
    return use_cpl3 ? kit_run_user(fn, arg) : fn(arg);
}

static int mode_echo(void)
{
    struct kit_cpus cpus;
    kit_find_cpus(&cpus);
    uint32_t bsp = kit_lapic_id();
    unsigned n = net.pairs;
    if (n > cpus.count) {
        kit_printf("net: FAIL: %u pairs but only %u CPUs\n", n, cpus.count);
        return KIT_EXIT_FAIL;
    }
    if (!run(handshake, 0)) {
        kit_printf("net: FAIL: no hello from the peer\n");
        return KIT_EXIT_FAIL;
    }
    kit_printf("net: peer answered\n");
    kit_smp_prepare();
    unsigned idx = 1;
    for (unsigned c = 0; c < cpus.count && idx < n; c++) {
        uint32_t id = cpus.apic_ids[c];
        if (id == bsp || id > 0xff)
            continue;
        cpu_queue[id] = idx;
        uint8_t *stack = kit_alloc_raw(AP_STACK, 4096);
        if (!kit_start_ap(id, stack + AP_STACK, ap_entry, 5000000)) {
            kit_printf("net: FAIL: APIC id %u did not start\n", id);
            return KIT_EXIT_SMP_TIMEOUT;
        }
        idx++;
    }
    run(echo_worker, 0);
    for (unsigned i = 1; i < n; i++)
        while (!__atomic_load_n(&done[i], __ATOMIC_SEQ_CST))
            cpu_relax(); /* each worker stops at the deadline at the latest */
    bool ok = true;
    for (unsigned i = 0; i < n; i++) {
        kit_printf("net: txq %u: %lu frames sent\n", i, tx_done[i]);
        uint64_t total = 0;
        for (unsigned r = 0; r < n; r++)
            total += echoes[r][i];
        ok &= tx_done[i] == count && total <= count && total + max_lost >= count;
        if (max_lost)
            kit_printf("net: txq %u: %lu echoes lost (%u allowed)\n", i, count - total, max_lost);
    }
    for (unsigned r = 0; r < n; r++) {
        kit_printf("net: rxq %u: %lu frames, echoes by queue tag:", r, net.rx[r].frames);
        for (unsigned i = 0; i < n; i++)
            kit_printf(" %u=%lu", i, echoes[r][i]);
        kit_printf(", out of order %lu, bad %lu\n", bad_seq[r], net.rx[r].bad);
        ok &= bad_seq[r] == 0 && net.rx[r].bad == 0;
    }
    if (!ok) {
        kit_printf("net: FAIL: echo incomplete (%lu of %lu)\n", echoes_total, (uint64_t)count * n);
        return KIT_EXIT_FAIL;
    }
    kit_printf("net: echo ok %u pairs %u frames each\n", n, count);
    return KIT_EXIT_OK;
}

/* ---- benchmarks (BSP only, round-robin over the pairs) ---- */
static uint64_t bench_secs, warmup_secs;

static uint64_t txbench(uint64_t arg)
{
    (void)arg;
    for (unsigned i = 0; i < net.pairs; i++) /* headers once per buffer: the loop only re-tags */
        for (uint16_t k = 0; k < net.tx[i].vq.size; k++) {
            uint8_t *f = net.tx[i].bufs + (uint64_t)k * KIT_VNET_BUF + KIT_VNET_HDR_LEN;
            build(f, frame_len, 'D', (uint16_t)i, 0);
        }
    uint64_t t0 = rdtsc(), end = t0 + warmup_secs * 1000 * tsc_khz;
    bool warm = warmup_secs == 0;
    if (warm)
        end = t0 + bench_secs * 1000 * tsc_khz;
    uint32_t seq = 0;
    for (;;) {
        if (rdtsc() >= end) {
            if (warm)
                break;
            warm = true; /* count from here: frames completed so far do not */
            for (unsigned i = 0; i < net.pairs; i++)
                kit_vnet_tx_reclaim(&net.tx[i]), net.tx[i].frames = net.tx[i].bytes = 0;
            t0 = rdtsc();
            end = t0 + bench_secs * 1000 * tsc_khz;
        }
        for (unsigned i = 0; i < net.pairs; i++) {
            struct kit_vnet_queue *q = &net.tx[i];
            kit_vnet_tx_reclaim(q);
            unsigned batch = 0;
            uint8_t *f;
            while (batch < 64 && (f = kit_vnet_tx_frame(q))) {
                memcpy(f + PAYLOAD_OFF + 8, &seq, 4);
                seq++;
                kit_vnet_tx_commit(q, frame_len);
                batch++;
            }
            if (batch)
                kit_vnet_kick(q);
        }
    }
    uint64_t t1 = rdtsc();
    for (unsigned i = 0; i < net.pairs; i++)
        kit_vnet_tx_reclaim(&net.tx[i]);
    return t1 - t0;
}

static uint64_t rxbench(uint64_t arg)
{
    (void)arg;
    uint64_t first = 0, t0 = 0, end = ~0ull;
    uint64_t idle_deadline = rdtsc() + ms_to_cycles(30000);
    for (;;) {
        uint64_t now = rdtsc();
        if (!first && now >= idle_deadline)
            break;
        if (now >= end) {
            if (t0)
                break;
            t0 = now; /* warm-up over: count from here */
            end = t0 + bench_secs * 1000 * tsc_khz;
            for (unsigned r = 0; r < net.pairs; r++)
                net.rx[r].frames = net.rx[r].bytes = 0;
        }
        for (unsigned i = 0; i < net.pairs; i++) {
            struct kit_vnet_queue *q = &net.rx[i];
            uint32_t len;
            uint16_t id;
            unsigned got = 0;
            while (kit_vnet_rx_poll(q, &len, &id)) {
                kit_vnet_rx_release(q, id);
                got++;
            }
            if (got) {
                kit_vnet_kick(q);
                if (!first) { /* the flood has started: warm up, then measure */
                    first = rdtsc();
                    end = first + warmup_secs * 1000 * tsc_khz;
                }
            }
        }
    }
    return t0 ? rdtsc() - t0 : 0;
}

static int mode_bench(bool tx)
{
    if (!tx) {
        if (!run(handshake, 0)) {
            kit_printf("net: FAIL: no hello from the peer\n");
            return KIT_EXIT_FAIL;
        }
        kit_printf("net: peer answered\n");
        for (unsigned i = 0; i < net.pairs; i++)
            net.rx[i].frames = net.rx[i].bytes = 0;
    }
    uint64_t cycles = run(tx ? txbench : rxbench, 0);
    uint64_t frames = 0, bytes = 0;
    for (unsigned i = 0; i < net.pairs; i++) {
        struct kit_vnet_queue *q = tx ? &net.tx[i] : &net.rx[i];
        kit_printf("net: %s queue %u: %lu frames\n", tx ? "tx" : "rx", i, q->frames);
        frames += q->frames;
        bytes += tx ? q->frames * frame_len : q->bytes;
    }
    uint64_t us = cycles * 1000 / tsc_khz;
    kit_printf("net: %sbench pairs=%u size=%u frames=%lu bytes=%lu us=%lu\n", tx ? "tx" : "rx", net.pairs,
               frame_len, frames, bytes, us);
    return frames ? KIT_EXIT_OK : KIT_EXIT_FAIL;
}

int main(void)
{
    char mode[16] = "echo";
    kit_cmdline_str("mode", mode, sizeof(mode));
    bool echo = !strcmp(mode, "echo"), txb = !strcmp(mode, "txbench"), rxb = !strcmp(mode, "rxbench");
    if (!echo && !txb && !rxb) {
        kit_printf("net: FAIL: unknown mode %s\n", mode);
        return KIT_EXIT_FAIL;
    }
    tsc_khz = kit_tsc_khz();
    if (!tsc_khz)
        tsc_khz = 3000000;
    struct kit_cpus cpus;
    kit_find_cpus(&cpus);
    unsigned pairs = (unsigned)kit_cmdline_u64("pairs", cpus.count);
    count = (uint32_t)kit_cmdline_u64("count", 64);
    frame_len = (uint32_t)kit_cmdline_u64("size", echo ? 128 : 1514);
    bench_secs = kit_cmdline_u64("secs", 3);
    warmup_secs = kit_cmdline_u64("warmup", 2);
    use_cpl3 = kit_cmdline_u64("user", 1) != 0;
    if (frame_len < 60 || frame_len > 1514 || pairs == 0 || pairs > KIT_VNET_MAX_PAIRS) {
        kit_printf("net: FAIL: size must be 60..1514 and pairs 1..%d\n", KIT_VNET_MAX_PAIRS);
        return KIT_EXIT_FAIL;
    }
    if (!kit_vnet_init(&net, 0, pairs, 256, true))
        return KIT_EXIT_FAIL;
    kit_printf("net: mac %02x:%02x:%02x:%02x:%02x:%02x mtu %u link %s, max pairs %u, %u pairs in use, "
               "features 0x%lx\n",
               net.mac[0], net.mac[1], net.mac[2], net.mac[3], net.mac[4], net.mac[5], net.mtu,
               net.status & 1 ? "up" : "down", net.max_pairs, net.pairs, net.v.features);
    if (net.pairs < pairs) {
        kit_printf("net: FAIL: asked for %u pairs, device has %u\n", pairs, net.max_pairs);
        return KIT_EXIT_FAIL;
    }
    deadline = rdtsc() + ms_to_cycles(kit_cmdline_u64("timeout_ms", 60000));
    gap_cycles = kit_cmdline_u64("gap_us", 0) * tsc_khz / 1000;
    max_lost = (uint32_t)kit_cmdline_u64("max_lost", 0);
    if (echo)
        return mode_echo();
    return mode_bench(txb);
}
