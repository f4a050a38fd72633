/* virtio-blk requests over the polled virtqueues of rt/virtio.c. */
#include "kit.h"

#define VBLK_TYPE 2
#define SECTOR 512u

/* device configuration (virtio 1.x, 5.2.4) */
#define CFG_CAPACITY       0
#define CFG_SIZE_MAX       8
#define CFG_SEG_MAX        12
#define CFG_BLK_SIZE       20
#define CFG_NUM_QUEUES     34
#define CFG_MAX_DISCARD    36
#define CFG_MAX_DISCARD_SEG 40
#define CFG_DISCARD_ALIGN  44
#define CFG_MAX_WZ         48
#define CFG_MAX_WZ_SEG     52
#define CFG_WZ_MAY_UNMAP   56

static uint64_t tsc_khz_cached;

static uint32_t cfg32(struct kit_vblk *b, unsigned off) { return *(volatile uint32_t *)(b->v.device_cfg + off); }

bool kit_vblk_has(const struct kit_vblk *b, unsigned feature) { return b->v.features & (1ull << feature); }

bool kit_vblk_init(struct kit_vblk *b, unsigned index, unsigned queues, uint16_t qsize, bool event_idx)
{
    memset(b, 0, sizeof(*b));
    tsc_khz_cached = kit_tsc_khz();
    if (!tsc_khz_cached)
        tsc_khz_cached = 3000000;
    if (!kit_virtio_find(VBLK_TYPE, index, &b->v)) {
        kit_printf("vblk: no virtio-blk device #%u\n", index);
        return false;
    }
    if (!b->v.device_cfg) {
        kit_printf("vblk: no device configuration capability\n");
        return false;
    }
    uint64_t wanted = 1ull << KIT_VBLK_F_SIZE_MAX | 1ull << KIT_VBLK_F_SEG_MAX | 1ull << KIT_VBLK_F_BLK_SIZE |
                      1ull << KIT_VBLK_F_FLUSH | 1ull << KIT_VBLK_F_MQ | 1ull << KIT_VBLK_F_DISCARD |
                      1ull << KIT_VBLK_F_WRITE_ZEROES | 1ull << KIT_VBLK_F_RO;
    if (event_idx)
        wanted |= 1ull << KIT_VIRTIO_F_EVENT_IDX;
    if (!kit_virtio_negotiate(&b->v, wanted, 0))
        return false;
    /* 64-bit capacity read as two halves; retry on a config generation change. */
    uint8_t gen;
    do {
        gen = *(volatile uint8_t *)(b->v.common + 0x15);
        b->capacity = cfg32(b, CFG_CAPACITY) | (uint64_t)cfg32(b, CFG_CAPACITY + 4) << 32;
    } while (gen != *(volatile uint8_t *)(b->v.common + 0x15));
    b->size_max = kit_vblk_has(b, KIT_VBLK_F_SIZE_MAX) ? cfg32(b, CFG_SIZE_MAX) : 0;
    b->seg_max = kit_vblk_has(b, KIT_VBLK_F_SEG_MAX) ? cfg32(b, CFG_SEG_MAX) : 0;
    b->blk_size = kit_vblk_has(b, KIT_VBLK_F_BLK_SIZE) ? cfg32(b, CFG_BLK_SIZE) : SECTOR;
    if (kit_vblk_has(b, KIT_VBLK_F_DISCARD)) {
        b->max_discard_sectors = cfg32(b, CFG_MAX_DISCARD);
        b->max_discard_seg = cfg32(b, CFG_MAX_DISCARD_SEG);
        b->discard_align = cfg32(b, CFG_DISCARD_ALIGN);
    }
    if (kit_vblk_has(b, KIT_VBLK_F_WRITE_ZEROES)) {
        b->max_write_zeroes_sectors = cfg32(b, CFG_MAX_WZ);
        b->max_write_zeroes_seg = cfg32(b, CFG_MAX_WZ_SEG);
        b->write_zeroes_may_unmap = *(volatile uint8_t *)(b->v.device_cfg + CFG_WZ_MAY_UNMAP);
    }
    unsigned devq = kit_vblk_has(b, KIT_VBLK_F_MQ) ? *(volatile uint16_t *)(b->v.device_cfg + CFG_NUM_QUEUES) : 1;
    if (devq == 0)
        devq = 1;
    if (devq > b->v.num_queues)
        devq = b->v.num_queues;
    if (queues == 0)
        queues = 1;
    if (queues > devq)
        queues = devq;
    if (queues > KIT_VBLK_MAX_QUEUES)
        queues = KIT_VBLK_MAX_QUEUES;
    for (unsigned i = 0; i < queues; i++) {
        struct kit_vblk_queue *q = &b->q[i];
        if (!kit_virtio_setup_queue(&b->v, (uint16_t)i, qsize, &q->vq))
            return false;
        q->slots = kit_alloc_raw(sizeof(struct kit_vblk_slot) * q->vq.size, 4096);
        q->max_seg = b->size_max ? b->size_max & ~(SECTOR - 1) : 0;
        if (b->size_max && q->max_seg == 0)
            q->max_seg = SECTOR;
    }
    b->nqueues = (uint16_t)queues;
    kit_virtio_driver_ok(&b->v);
    if (kit_virtio_status(&b->v) & 0xc0) {
        kit_printf("vblk: device failed after DRIVER_OK (status 0x%x)\n", kit_virtio_status(&b->v));
        return false;
    }
    return true;
}

#define MAX_BUFS 34

bool kit_vblk_submit(struct kit_vblk_queue *q, uint32_t type, uint64_t sector, void *buf, uint32_t len,
                     uint64_t tag)
{
    struct kit_vbuf bufs[MAX_BUFS];
    unsigned n = 1;
    uint32_t seg = q->max_seg ? q->max_seg : len;
    if (len && (len + seg - 1) / seg > MAX_BUFS - 2)
        return false;
    if (q->vq.num_free < 2 + (len ? (len + seg - 1) / seg : 0))
        return false;
    /* The header is filled once the head (which names the slot) is known: reserve it first. */
    bufs[0] = (struct kit_vbuf){ 0, 16, false };
    bool writes = type == KIT_VBLK_T_IN || type == KIT_VBLK_T_GET_ID;
    for (uint32_t off = 0; off < len; off += seg) {
        uint32_t l = len - off < seg ? len - off : seg;
        bufs[n++] = (struct kit_vbuf){ (uint64_t)buf + off, l, writes };
    }
    bufs[n++] = (struct kit_vbuf){ 0, 1, true };
    /* The head id is q->vq.free_head: point header/status at that slot before adding. */
    struct kit_vblk_slot *s = &q->slots[q->vq.free_head];
    s->type = type;
    s->reserved = 0;
    s->sector = sector;
    s->status = 0xff;
    s->tag = tag;
    bufs[0].addr = (uint64_t)s;
    bufs[n - 1].addr = (uint64_t)&s->status;
    if (kit_virtq_add(&q->vq, bufs, n) < 0)
        return false;
    q->inflight++;
    return true;
}

bool kit_vblk_submit_range(struct kit_vblk_queue *q, uint32_t type, uint64_t sector, uint32_t sectors,
                           uint32_t flags, uint64_t tag)
{
    if (q->vq.num_free < 3)
        return false;
    struct kit_vblk_slot *s = &q->slots[q->vq.free_head];
    s->type = type;
    s->reserved = 0;
    s->sector = 0;
    s->status = 0xff;
    s->tag = tag;
    s->seg[0] = sector;
    s->seg[1] = sectors | (uint64_t)flags << 32;
    struct kit_vbuf bufs[3] = {
        { (uint64_t)s, 16, false },
        { (uint64_t)s->seg, 16, false },
        { (uint64_t)&s->status, 1, true },
    };
    if (kit_virtq_add(&q->vq, bufs, 3) < 0)
        return false;
    q->inflight++;
    return true;
}

bool kit_vblk_poll(struct kit_vblk_queue *q, uint64_t *tag, uint8_t *status)
{
    uint16_t head;
    uint32_t len;
    if (!kit_virtq_poll(&q->vq, &head, &len))
        return false;
    q->inflight--;
    *tag = q->slots[head].tag;
    *status = q->slots[head].status;
    return true;
}

static int wait_one(struct kit_vblk_queue *q, uint64_t timeout_ms)
{
    kit_vblk_kick(q);
    uint64_t start = rdtsc(), limit = timeout_ms * tsc_khz_cached;
    uint64_t tag;
    uint8_t st;
    while (!kit_vblk_poll(q, &tag, &st)) {
        if (rdtsc() - start > limit)
            return -1;
        cpu_relax();
    }
    return st;
}

int kit_vblk_sync(struct kit_vblk_queue *q, uint32_t type, uint64_t sector, void *buf, uint32_t len,
                  uint64_t timeout_ms)
{
    if (!kit_vblk_submit(q, type, sector, buf, len, 0))
        return -1;
    return wait_one(q, timeout_ms);
}

int kit_vblk_sync_range(struct kit_vblk_queue *q, uint32_t type, uint64_t sector, uint32_t sectors,
                        uint32_t flags, uint64_t timeout_ms)
{
    if (!kit_vblk_submit_range(q, type, sector, sectors, flags, 0))
        return -1;
    return wait_one(q, timeout_ms);
}
