/*
 * badqueue: a misbehaving virtio-blk driver.  With two virtio-blk disks, for each case it puts one
 * malformed descriptor chain (or ring index) on disk 0 and checks what a virtio 1.x device must do
 * (2.1.2 "Device Status Field", 2.7 "Split Virtqueues"):
 *   - disk 0's status gains DEVICE_NEEDS_RESET (0x40) and the device raises a configuration change
 *     (ISR bit 1: the kit runs without MSI-X, so the change shows in the ISR);
 *   - disk 1, another device of the same VMM, still reads and writes correctly;
 *   - after a reset (status 0) and a fresh initialisation, disk 0 works again.
 *
 * cmdline:  case=all|loop|too-long|outside-ram|wrong-direction|bad-indirect|avail-idx-jump|
 *                head-out-of-range|next-out-of-range|no-status     (default all: every case in turn)
 *           timeout_ms=N (5000)
 * Output: "badqueue: case NAME ok" per case, "badqueue: all N cases ok" at the end; exit 0, or a
 * "badqueue: FAIL: ..." line and exit 1.
 */
#include "kit.h"

#define SECTOR      512u
#define QSIZE       8          /* small ring: a chain through every descriptor is cheap to build */
#define ST_NEEDS_RESET 0x40
#define ISR_CONFIG  0x02
#define DESC_F_INDIRECT 4

static struct kit_vblk disk0, disk1;
static uint64_t tsc_khz;
static uint64_t timeout_ms;

struct hdr { uint32_t type, reserved; uint64_t sector; };

/* DMA scratch, one page each: request header, status byte, data, an indirect table. */
static struct hdr *hdr;
static volatile uint8_t *status;
static uint8_t *data;
static struct kit_vring_desc *itable;

static uint64_t cycles_for_ms(uint64_t ms) { return ms * (tsc_khz ? tsc_khz : 3000000); }

static void desc(struct kit_virtq *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    q->desc[i] = (struct kit_vring_desc){ addr, len, flags, next };
}

/* Publishes head as the next available entry and rings the doorbell, bypassing the kit's free list
 * (the ring is thrown away by the reset that follows). */
static void publish(struct kit_virtq *q, uint16_t head)
{
    q->avail[2 + (q->avail_idx & (q->size - 1))] = head;
    q->avail_idx++;
    __asm__ volatile("mfence" ::: "memory");
    q->avail[1] = q->avail_idx;
    __asm__ volatile("mfence" ::: "memory");
    *q->notify = q->index;
}

/* Writes one malformed submission for case `name` onto disk 0's queue 0; false for an unknown name. */
static bool submit_bad(const char *name)
{
    struct kit_virtq *q = &disk0.q[0].vq;
    uint64_t h = (uint64_t)hdr, s = (uint64_t)status, d = (uint64_t)data;
    const uint16_t N = KIT_VRING_DESC_F_NEXT, W = KIT_VRING_DESC_F_WRITE;
    *hdr = (struct hdr){ KIT_VBLK_T_IN, 0, 0 };
    *status = 0xff;
    if (!strcmp(name, "loop")) {
        /* header -> data -> status -> back to data: a cycle */
        desc(q, 0, h, 16, N, 1);
        desc(q, 1, d, SECTOR, N | W, 2);
        desc(q, 2, s, 1, N | W, 1);
        publish(q, 0);
    } else if (!strcmp(name, "too-long")) {
        /* every descriptor of the ring once, then the last one's next goes round again */
        desc(q, 0, h, 16, N, 1);
        for (uint16_t i = 1; i < q->size; i++)
            desc(q, i, d + (i - 1) * 8, 8, N | W, (uint16_t)((i + 1) % q->size));
        publish(q, 0);
    } else if (!strcmp(name, "outside-ram")) {
        /* a data buffer far above the end of RAM (but below the MMIO hole's devices: nothing is there) */
        desc(q, 0, h, 16, N, 1);
        desc(q, 1, 0x7000000000ull, SECTOR, N | W, 2);
        desc(q, 2, s, 1, W, 0);
        publish(q, 0);
    } else if (!strcmp(name, "wrong-direction")) {
        /* a device-readable buffer after a device-writable one */
        *hdr = (struct hdr){ KIT_VBLK_T_OUT, 0, 0 };
        desc(q, 0, h, 16, N, 1);
        desc(q, 1, s, 1, N | W, 2);
        desc(q, 2, d, SECTOR, 0, 0);
        publish(q, 0);
    } else if (!strcmp(name, "bad-indirect")) {
        /* an indirect table whose length is not a multiple of the 16-byte descriptor */
        itable[0] = (struct kit_vring_desc){ h, 16, N, 1 };
        itable[1] = (struct kit_vring_desc){ s, 1, W, 0 };
        desc(q, 0, (uint64_t)itable, 24, DESC_F_INDIRECT, 0);
        publish(q, 0);
    } else if (!strcmp(name, "avail-idx-jump")) {
        /* avail->idx moved by more than the queue size */
        q->avail[1] = (uint16_t)(q->avail_idx + q->size + 1);
        __asm__ volatile("mfence" ::: "memory");
        *q->notify = q->index;
    } else if (!strcmp(name, "head-out-of-range")) {
        publish(q, (uint16_t)(q->size + 3));
    } else if (!strcmp(name, "next-out-of-range")) {
        desc(q, 0, h, 16, N, (uint16_t)(q->size + 1));
        publish(q, 0);
    } else if (!strcmp(name, "no-status")) {
        /* a well-formed chain with no device-writable byte for the status */
        desc(q, 0, h, 16, N, 1);
        desc(q, 1, d, SECTOR, 0, 0);
        *hdr = (struct hdr){ KIT_VBLK_T_OUT, 0, 0 };
        publish(q, 0);
    } else {
        return false;
    }
    return true;
}

static const char *const CASES[] = {
    "loop", "too-long", "outside-ram", "wrong-direction", "bad-indirect", "avail-idx-jump",
    "head-out-of-range", "next-out-of-range", "no-status",
};
#define NCASES (sizeof(CASES) / sizeof(CASES[0]))

static bool fail(const char *fmt, const char *name, uint64_t a)
{
    kit_printf("badqueue: FAIL: %s: ", name);
    kit_printf(fmt, a);
    kit_printf("\n");
    return false;
}

/* Writes then reads back `sectors` at `sector` through queue 0 of b. */
static bool io_works(struct kit_vblk *b, uint64_t sector, uint8_t seed, const char *name, const char *which)
{
    struct kit_vblk_queue *q = &b->q[0];
    for (unsigned i = 0; i < 4096; i++)
        data[i] = (uint8_t)(seed + i * 7);
    int st = kit_vblk_sync(q, KIT_VBLK_T_OUT, sector, data, 4096, timeout_ms);
    if (st != KIT_VBLK_S_OK) {
        kit_printf("badqueue: FAIL: %s: write on %s: %s %d\n", name, which, st < 0 ? "timeout" : "status", st);
        return false;
    }
    memset(data, 0, 4096);
    st = kit_vblk_sync(q, KIT_VBLK_T_IN, sector, data, 4096, timeout_ms);
    if (st != KIT_VBLK_S_OK) {
        kit_printf("badqueue: FAIL: %s: read on %s: %s %d\n", name, which, st < 0 ? "timeout" : "status", st);
        return false;
    }
    for (unsigned i = 0; i < 4096; i++)
        if (data[i] != (uint8_t)(seed + i * 7)) {
            kit_printf("badqueue: FAIL: %s: %s read back byte %u = 0x%x, wrote 0x%x\n", name, which, i, data[i],
                       (uint8_t)(seed + i * 7));
            return false;
        }
    return true;
}

static bool run_case(const char *name, unsigned n)
{
    /* A fresh disk 0 (reset + init) whose queue is healthy: prove it first. */
    if (!kit_vblk_init(&disk0, 0, 1, QSIZE, false))
        return fail("initialising disk 0 (status 0x%lx)", name, kit_virtio_status(&disk0.v));
    if (!io_works(&disk0, 8 * n, (uint8_t)(0x10 + n), name, "disk 0 before"))
        return false;
    (void)*disk0.v.isr; /* clear any stale ISR bits */
    if (!submit_bad(name))
        return fail("unknown case (%lu)", name, 0);
    uint64_t t0 = rdtsc();
    uint8_t st;
    while (!((st = kit_virtio_status(&disk0.v)) & ST_NEEDS_RESET)) {
        if (rdtsc() - t0 > cycles_for_ms(timeout_ms))
            return fail("disk 0 status stayed 0x%lx: no DEVICE_NEEDS_RESET", name, st);
        cpu_relax();
    }
    /* The interrupt follows the status bit (the device sets the status, then signals): wait for it. */
    uint8_t isr = 0;
    while (!((isr |= *disk0.v.isr) & ISR_CONFIG)) {
        if (rdtsc() - t0 > cycles_for_ms(timeout_ms))
            return fail("DEVICE_NEEDS_RESET but ISR 0x%lx never had the configuration-change bit", name, isr);
        cpu_relax();
    }
    if (*status != 0xff)
        return fail("the device wrote status 0x%lx for a malformed chain", name, *status);
    /* Another device of the VMM is unaffected. */
    if (!io_works(&disk1, 16 * n, (uint8_t)(0x80 + n), name, "disk 1"))
        return false;
    /* Reset and re-initialise disk 0: it works again. */
    kit_virtio_reset(&disk0.v);
    if (kit_virtio_status(&disk0.v) != 0)
        return fail("disk 0 status 0x%lx after reset", name, kit_virtio_status(&disk0.v));
    if (!kit_vblk_init(&disk0, 0, 1, QSIZE, false))
        return fail("re-initialising disk 0 (status 0x%lx)", name, kit_virtio_status(&disk0.v));
    if (!io_works(&disk0, 8 * n + 100, (uint8_t)(0x40 + n), name, "disk 0 after reset"))
        return false;
    kit_printf("badqueue: case %s ok (status 0x%x, isr 0x%x)\n", name, st, isr);
    return true;
}

int main(void)
{
    char which[32] = "all";
    kit_cmdline_str("case", which, sizeof(which));
    timeout_ms = kit_cmdline_u64("timeout_ms", 5000);
    tsc_khz = kit_tsc_khz();
    hdr = kit_alloc_page();
    status = kit_alloc_page();
    data = kit_alloc_page();
    itable = kit_alloc_page();
    if (!kit_vblk_init(&disk1, 1, 1, 64, false)) {
        kit_printf("badqueue: FAIL: needs a second virtio-blk disk\n");
        return KIT_EXIT_FAIL;
    }
    unsigned done = 0;
    for (unsigned i = 0; i < NCASES; i++) {
        if (strcmp(which, "all") && strcmp(which, CASES[i]))
            continue;
        if (!run_case(CASES[i], i + 1))
            return KIT_EXIT_FAIL;
        done++;
    }
    if (!done) {
        kit_printf("badqueue: FAIL: unknown case '%s'\n", which);
        return KIT_EXIT_FAIL;
    }
    kit_printf("badqueue: all %u cases ok\n", done);
    return KIT_EXIT_OK;
}
