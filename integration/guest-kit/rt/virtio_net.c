/*
 * virtio-net over the polled virtqueues of rt/virtio.c: multi-queue (MQ + control queue), one
 * KIT_VNET_BUF-byte buffer per descriptor for both directions, no offloads.  The data-path
 * functions touch only guest RAM and the notify BAR, so they run at CPL3 too.
 */
#include "kit.h"

/* device configuration (virtio 1.x, 5.1.4) */
#define CFG_MAC       0
#define CFG_STATUS    6
#define CFG_MAX_PAIRS 8
#define CFG_MTU       10

#define CTRL_TIMEOUT_MS 5000

static uint64_t tsc_khz_cached;

static bool has(const struct kit_vnet *n, unsigned f) { return n->v.features & (1ull << f); }
static uint16_t cfg16(const struct kit_vnet *n, unsigned off) { return *(volatile uint16_t *)(n->v.device_cfg + off); }

static uint8_t *buf_of(const struct kit_vnet_queue *q, uint16_t id) { return q->bufs + (uint64_t)id * KIT_VNET_BUF; }


static bool setup_queue(struct kit_vnet *n, uint16_t qidx, uint16_t qsize, struct kit_vnet_queue *q)
{
    memset(q, 0, sizeof(*q));
    if (!kit_virtio_setup_queue(&n->v, qidx, qsize, &q->vq))
        return false;
    q->bufs = kit_alloc_raw((uint64_t)q->vq.size * KIT_VNET_BUF, 4096);
    return true;
}

bool kit_vnet_init(struct kit_vnet *n, unsigned index, unsigned pairs, uint16_t qsize, bool event_idx)
{
    memset(n, 0, sizeof(*n));
    tsc_khz_cached = kit_tsc_khz();
    if (!tsc_khz_cached)
        tsc_khz_cached = 3000000;
    if (!kit_virtio_find(KIT_VNET_TYPE, index, &n->v)) {
        kit_printf("vnet: no virtio-net device #%u\n", index);
        return false;
    }
    if (!n->v.device_cfg) {
        kit_printf("vnet: no device configuration capability\n");
        return false;
    }
    uint64_t wanted = 1ull << KIT_VNET_F_MAC | 1ull << KIT_VNET_F_MTU | 1ull << KIT_VNET_F_STATUS |
                      1ull << KIT_VNET_F_MRG_RXBUF;
    if (pairs > 1)
        wanted |= 1ull << KIT_VNET_F_CTRL_VQ | 1ull << KIT_VNET_F_MQ;
    if (event_idx)
        wanted |= 1ull << KIT_VIRTIO_F_EVENT_IDX;
    if (!kit_virtio_negotiate(&n->v, wanted, 0))
        return false;
    for (int i = 0; i < 6; i++)
        n->mac[i] = has(n, KIT_VNET_F_MAC) ? n->v.device_cfg[CFG_MAC + i] : (uint8_t)(i == 0 ? 0x02 : i);
    n->status = has(n, KIT_VNET_F_STATUS) ? cfg16(n, CFG_STATUS) : 1;
    n->mtu = has(n, KIT_VNET_F_MTU) ? cfg16(n, CFG_MTU) : 0;
    bool mq = has(n, KIT_VNET_F_MQ) && has(n, KIT_VNET_F_CTRL_VQ);
    n->max_pairs = mq ? cfg16(n, CFG_MAX_PAIRS) : 1;
    if (n->max_pairs == 0)
        n->max_pairs = 1;
    if (n->mtu && n->mtu + 14u + 4u + KIT_VNET_HDR_LEN > KIT_VNET_BUF) {
        kit_printf("vnet: MTU %u does not fit %u-byte buffers\n", n->mtu, KIT_VNET_BUF);
        return false;
    }
    unsigned use = pairs ? pairs : 1;
    if (use > n->max_pairs)
        use = n->max_pairs;
    if (use > KIT_VNET_MAX_PAIRS)
        use = KIT_VNET_MAX_PAIRS;
    for (unsigned i = 0; i < use; i++) {
        if (!setup_queue(n, (uint16_t)(2 * i), qsize, &n->rx[i]) ||
            !setup_queue(n, (uint16_t)(2 * i + 1), qsize, &n->tx[i]))
            return false;
    }
    if (has(n, KIT_VNET_F_CTRL_VQ)) {
        uint16_t cq = mq ? (uint16_t)(2 * n->max_pairs) : 2;
        if (!kit_virtio_setup_queue(&n->v, cq, 16, &n->ctrl))
            return false;
        n->ctrl_buf = kit_alloc_page();
        n->has_ctrl = true;
    }
    for (unsigned i = 0; i < use; i++) {
        for (uint16_t b = 0; b < n->rx[i].vq.size; b++)
            kit_vnet_rx_release(&n->rx[i], b);
    }
    kit_virtio_driver_ok(&n->v);
    if (kit_virtio_status(&n->v) & 0xc0) {
        kit_printf("vnet: device failed after DRIVER_OK (status 0x%x)\n", kit_virtio_status(&n->v));
        return false;
    }
    for (unsigned i = 0; i < use; i++)
        kit_virtq_kick(&n->rx[i].vq);
    n->pairs = 1;
    if (use > 1) {
        uint16_t p = (uint16_t)use;
        int ack = kit_vnet_ctrl(n, KIT_VNET_CTRL_MQ, KIT_VNET_CTRL_MQ_VQ_PAIRS_SET, &p, sizeof(p));
        if (ack != KIT_VNET_OK) {
            kit_printf("vnet: VQ_PAIRS_SET %u failed (%d)\n", use, ack);
            return false;
        }
    }
    n->pairs = (uint16_t)use;
    return true;
}

int kit_vnet_ctrl(struct kit_vnet *n, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
    if (!n->has_ctrl || len > 2048)
        return -1;
    uint8_t *hdr = n->ctrl_buf, *body = n->ctrl_buf + 16;
    volatile uint8_t *ack = n->ctrl_buf + 4095;
    hdr[0] = cls;
    hdr[1] = cmd;
    memcpy(body, data, len);
    *ack = 0xff;
    struct kit_vbuf b[3] = {
        { (uint64_t)hdr, 2, false },
        { (uint64_t)body, len, false },
        { (uint64_t)ack, 1, true },
    };
    if (kit_virtq_add(&n->ctrl, b, 3) < 0)
        return -1;
    kit_virtq_kick(&n->ctrl);
    uint64_t start = rdtsc(), limit = CTRL_TIMEOUT_MS * tsc_khz_cached;
    uint16_t head;
    uint32_t used;
    while (!kit_virtq_poll(&n->ctrl, &head, &used)) {
        if (rdtsc() - start > limit)
            return -1;
        cpu_relax();
    }
    return *ack;
}

/* ---- data path (CPL3-safe) ---- */

unsigned kit_vnet_tx_reclaim(struct kit_vnet_queue *q)
{
    unsigned k = 0;
    uint16_t head;
    uint32_t len;
    while (kit_virtq_poll(&q->vq, &head, &len))
        k++;
    q->frames += k;
    return k;
}

uint8_t *kit_vnet_tx_frame(struct kit_vnet_queue *q)
{
    if (q->vq.num_free == 0)
        kit_vnet_tx_reclaim(q);
    if (q->vq.num_free == 0)
        return NULL;
    uint8_t *b = buf_of(q, q->vq.free_head);
    memset(b, 0, KIT_VNET_HDR_LEN); /* no checksum offload, no GSO; num_buffers is 0 on TX */
    return b + KIT_VNET_HDR_LEN;
}

void kit_vnet_tx_commit(struct kit_vnet_queue *q, uint32_t len)
{
    struct kit_vbuf b = { (uint64_t)buf_of(q, q->vq.free_head), KIT_VNET_HDR_LEN + len, false };
    kit_virtq_add(&q->vq, &b, 1);
    q->bytes += len;
}

uint8_t *kit_vnet_rx_poll(struct kit_vnet_queue *q, uint32_t *len, uint16_t *id)
{
    uint16_t head;
    uint32_t used;
    while (kit_virtq_poll(&q->vq, &head, &used)) {
        /* The descriptor still names its buffer (nothing reuses it before the next add). */
        uint64_t off = q->vq.desc[head].addr - (uint64_t)q->bufs;
        uint16_t buf = (uint16_t)(off / KIT_VNET_BUF);
        const struct kit_vnet_hdr *h = (const struct kit_vnet_hdr *)buf_of(q, buf);
        if (used < KIT_VNET_HDR_LEN + 14 || used > KIT_VNET_BUF || h->num_buffers != 1) {
            q->bad++;
            kit_vnet_rx_release(q, buf);
            continue;
        }
        q->frames++;
        q->bytes += used - KIT_VNET_HDR_LEN;
        *len = used - KIT_VNET_HDR_LEN;
        *id = buf;
        return buf_of(q, buf) + KIT_VNET_HDR_LEN;
    }
    return NULL;
}

void kit_vnet_rx_release(struct kit_vnet_queue *q, uint16_t id)
{
    /* Any free descriptor will do: buffers and descriptors are only paired while posted. */
    struct kit_vbuf b = { (uint64_t)buf_of(q, id), KIT_VNET_BUF, true };
    kit_virtq_add(&q->vq, &b, 1);
}
