/* virtio-scsi commands, task management and events over the polled virtqueues of rt/virtio.c. */
#include "kit.h"

/* device configuration (virtio 1.x, 5.6.4) */
#define CFG_NUM_QUEUES      0
#define CFG_SEG_MAX         4
#define CFG_MAX_SECTORS     8
#define CFG_CMD_PER_LUN     12
#define CFG_EVENT_INFO_SIZE 16
#define CFG_SENSE_SIZE      20
#define CFG_CDB_SIZE        24
#define CFG_MAX_CHANNEL     28
#define CFG_MAX_TARGET      30
#define CFG_MAX_LUN         32

#define CONTROL_QUEUE 0
#define EVENT_QUEUE   1
#define FIRST_REQUEST_QUEUE 2
#define EVENT_SIZE 16

/* control queue layouts (5.6.6.2) */
struct tmf_req {
    uint32_t type, subtype;
    uint8_t lun[8];
    uint64_t id;
} __attribute__((packed));

static uint64_t tsc_khz_cached;

static uint32_t cfg32(struct kit_vscsi *s, unsigned off) { return *(volatile uint32_t *)(s->v.device_cfg + off); }
static uint16_t cfg16(struct kit_vscsi *s, unsigned off) { return *(volatile uint16_t *)(s->v.device_cfg + off); }

static void put_lun(uint8_t lun[8], unsigned target, unsigned l)
{
    /* Single-level LUN structure as Linux sends it: flat space addressing (01b) for every LUN. */
    memset(lun, 0, 8);
    lun[0] = 1;
    lun[1] = (uint8_t)target;
    lun[2] = (uint8_t)(0x40 | ((l >> 8) & 0x3f));
    lun[3] = (uint8_t)l;
}

static void post_event(struct kit_vscsi *s, unsigned i)
{
    struct kit_vbuf b = { (uint64_t)(s->event_bufs + (uint64_t)i * EVENT_SIZE), EVENT_SIZE, true };
    kit_virtq_add(&s->event, &b, 1);
}

bool kit_vscsi_init(struct kit_vscsi *s, unsigned index, unsigned queues, uint16_t qsize, bool event_idx)
{
    memset(s, 0, sizeof(*s));
    tsc_khz_cached = kit_tsc_khz();
    if (!tsc_khz_cached)
        tsc_khz_cached = 3000000;
    if (!kit_virtio_find(KIT_VSCSI_TYPE, index, &s->v)) {
        kit_printf("vscsi: no virtio-scsi device #%u\n", index);
        return false;
    }
    if (!s->v.device_cfg) {
        kit_printf("vscsi: no device configuration capability\n");
        return false;
    }
    if (!kit_virtio_negotiate(&s->v, event_idx ? 1ull << KIT_VIRTIO_F_EVENT_IDX : 0, 0))
        return false;
    s->num_queues = cfg32(s, CFG_NUM_QUEUES);
    s->seg_max = cfg32(s, CFG_SEG_MAX);
    s->max_sectors = cfg32(s, CFG_MAX_SECTORS);
    s->cmd_per_lun = cfg32(s, CFG_CMD_PER_LUN);
    s->event_info_size = cfg32(s, CFG_EVENT_INFO_SIZE);
    s->max_channel = cfg16(s, CFG_MAX_CHANNEL);
    s->max_target = cfg16(s, CFG_MAX_TARGET);
    s->max_lun = cfg32(s, CFG_MAX_LUN);
    /* The request and response layouts depend on these two: set them to what this driver sends. */
    *(volatile uint32_t *)(s->v.device_cfg + CFG_SENSE_SIZE) = KIT_VSCSI_SENSE_SIZE;
    *(volatile uint32_t *)(s->v.device_cfg + CFG_CDB_SIZE) = KIT_VSCSI_CDB_SIZE;
    s->sense_size = cfg32(s, CFG_SENSE_SIZE);
    s->cdb_size = cfg32(s, CFG_CDB_SIZE);
    if (s->sense_size != KIT_VSCSI_SENSE_SIZE || s->cdb_size != KIT_VSCSI_CDB_SIZE) {
        kit_printf("vscsi: device keeps sense_size %u / cdb_size %u, this driver needs %u / %u\n", s->sense_size,
                   s->cdb_size, KIT_VSCSI_SENSE_SIZE, KIT_VSCSI_CDB_SIZE);
        return false;
    }
    if (s->num_queues == 0 || s->v.num_queues < FIRST_REQUEST_QUEUE + 1) {
        kit_printf("vscsi: num_queues %u, %u virtqueues: no request queue\n", s->num_queues, s->v.num_queues);
        return false;
    }
    unsigned devq = s->num_queues;
    if (devq > (unsigned)s->v.num_queues - FIRST_REQUEST_QUEUE)
        devq = s->v.num_queues - FIRST_REQUEST_QUEUE;
    if (queues == 0)
        queues = 1;
    if (queues > devq)
        queues = devq;
    if (queues > KIT_VSCSI_MAX_QUEUES)
        queues = KIT_VSCSI_MAX_QUEUES;
    if (!kit_virtio_setup_queue(&s->v, CONTROL_QUEUE, 16, &s->ctrl) ||
        !kit_virtio_setup_queue(&s->v, EVENT_QUEUE, KIT_VSCSI_EVENTS, &s->event))
        return false;
    s->ctrl_buf = kit_alloc_page();
    s->event_bufs = kit_alloc_page();
    for (unsigned i = 0; i < KIT_VSCSI_EVENTS && i < s->event.size; i++)
        post_event(s, i);
    for (unsigned i = 0; i < queues; i++) {
        struct kit_vscsi_queue *q = &s->q[i];
        if (!kit_virtio_setup_queue(&s->v, (uint16_t)(FIRST_REQUEST_QUEUE + i), qsize, &q->vq))
            return false;
        q->slots = kit_alloc_raw(sizeof(struct kit_vscsi_slot) * q->vq.size, 4096);
    }
    s->nqueues = (uint16_t)queues;
    kit_virtio_driver_ok(&s->v);
    if (kit_virtio_status(&s->v) & 0xc0) {
        kit_printf("vscsi: device failed after DRIVER_OK (status 0x%x)\n", kit_virtio_status(&s->v));
        return false;
    }
    kit_virtq_kick(&s->event);
    return true;
}

bool kit_vscsi_submit(struct kit_vscsi_queue *q, unsigned target, unsigned lun, const uint8_t *cdb, unsigned cdb_len,
                      const void *out, uint32_t out_len, void *in, uint32_t in_len, uint64_t tag)
{
    unsigned n = 2 + (out_len ? 1 : 0) + (in_len ? 1 : 0);
    if (cdb_len > KIT_VSCSI_CDB_SIZE || q->vq.num_free < n)
        return false;
    /* The head id is the next free descriptor: it names the slot that holds header and response. */
    struct kit_vscsi_slot *s = &q->slots[q->vq.free_head];
    put_lun(s->req.lun, target, lun);
    s->req.id = tag;
    s->req.task_attr = 0; /* SIMPLE */
    s->req.prio = 0;
    s->req.crn = 0;
    memset(s->req.cdb, 0, sizeof(s->req.cdb));
    memcpy(s->req.cdb, cdb, cdb_len);
    s->resp.response = 0xff;
    s->resp.status = 0xff;
    s->resp.sense_len = 0;
    s->resp.residual = 0xffffffffu;
    s->tag = tag;
    s->used_len = 0;
    s->data_in_len = in_len;
    s->data_out_len = out_len;
    struct kit_vbuf bufs[4];
    unsigned k = 0;
    bufs[k++] = (struct kit_vbuf){ (uint64_t)&s->req, sizeof(s->req), false };
    if (out_len)
        bufs[k++] = (struct kit_vbuf){ (uint64_t)out, out_len, false };
    bufs[k++] = (struct kit_vbuf){ (uint64_t)&s->resp, sizeof(s->resp), true };
    if (in_len)
        bufs[k++] = (struct kit_vbuf){ (uint64_t)in, in_len, true };
    if (kit_virtq_add(&q->vq, bufs, k) < 0)
        return false;
    q->inflight++;
    return true;
}

const struct kit_vscsi_slot *kit_vscsi_poll(struct kit_vscsi_queue *q)
{
    uint16_t head;
    uint32_t len;
    if (!kit_virtq_poll(&q->vq, &head, &len))
        return NULL;
    q->inflight--;
    q->slots[head].used_len = len;
    return &q->slots[head];
}

void kit_scsi_sense_decode(const uint8_t *sense, uint32_t len, uint8_t *key, uint8_t *asc, uint8_t *ascq)
{
    *key = *asc = *ascq = 0;
    if (len < 1)
        return;
    uint8_t code = sense[0] & 0x7f;
    if ((code == 0x70 || code == 0x71) && len >= 3) {
        *key = sense[2] & 0x0f;
        if (len >= 14) {
            *asc = sense[12];
            *ascq = sense[13];
        }
    } else if ((code == 0x72 || code == 0x73) && len >= 4) {
        *key = sense[1] & 0x0f;
        *asc = sense[2];
        *ascq = sense[3];
    }
}

static bool wait_used(struct kit_virtq *vq, uint64_t timeout_ms)
{
    uint64_t start = rdtsc(), limit = timeout_ms * tsc_khz_cached;
    while (((volatile uint16_t *)vq->used)[1] == vq->last_used) {
        if (rdtsc() - start > limit)
            return false;
        cpu_relax();
    }
    return true;
}

void kit_vscsi_cmd(struct kit_vscsi_queue *q, unsigned target, unsigned lun, const uint8_t *cdb, unsigned cdb_len,
                   const void *out, uint32_t out_len, void *in, uint32_t in_len, uint64_t timeout_ms,
                   struct kit_vscsi_result *r)
{
    memset(r, 0, sizeof(*r));
    r->response = -1;
    if (!kit_vscsi_submit(q, target, lun, cdb, cdb_len, out, out_len, in, in_len, 0))
        return;
    kit_vscsi_kick(q);
    if (!wait_used(&q->vq, timeout_ms))
        return;
    const struct kit_vscsi_slot *s = kit_vscsi_poll(q);
    if (!s)
        return;
    r->response = s->resp.response;
    r->status = s->resp.status;
    r->residual = s->resp.residual;
    r->sense_len = s->resp.sense_len;
    /* Bytes moved = buffer - residual (the used length is no measure: QEMU reports the whole
     * writable part there). */
    uint32_t buf = in_len ? in_len : out_len;
    r->transferred = r->residual <= buf ? buf - r->residual : 0;
    r->data_in = in_len ? r->transferred : 0;
    r->used_len = s->used_len;
    uint32_t n = r->sense_len < KIT_VSCSI_SENSE_SIZE ? r->sense_len : KIT_VSCSI_SENSE_SIZE;
    memcpy(r->sense, s->resp.sense, n);
    kit_scsi_sense_decode(r->sense, n, &r->key, &r->asc, &r->ascq);
}

int kit_vscsi_tmf(struct kit_vscsi *s, uint32_t subtype, unsigned target, unsigned lun, uint64_t tag,
                  uint64_t timeout_ms)
{
    struct tmf_req *req = (struct tmf_req *)s->ctrl_buf;
    volatile uint8_t *resp = s->ctrl_buf + 64;
    req->type = 0; /* VIRTIO_SCSI_T_TMF */
    req->subtype = subtype;
    put_lun(req->lun, target, lun);
    req->id = tag;
    *resp = 0xff;
    struct kit_vbuf bufs[2] = {
        { (uint64_t)req, sizeof(*req), false },
        { (uint64_t)resp, 1, true }, /* the response byte (a full response is 1 byte for TMF) */
    };
    if (kit_virtq_add(&s->ctrl, bufs, 2) < 0)
        return -1;
    kit_virtq_kick(&s->ctrl);
    if (!wait_used(&s->ctrl, timeout_ms))
        return -1;
    uint16_t head;
    uint32_t len;
    if (!kit_virtq_poll(&s->ctrl, &head, &len))
        return -1;
    return *resp;
}

unsigned kit_vscsi_events(struct kit_vscsi *s, uint32_t *last)
{
    unsigned n = 0;
    uint16_t head;
    uint32_t len;
    while (kit_virtq_poll(&s->event, &head, &len)) {
        /* One descriptor per event buffer: the descriptor index is the buffer index after the
         * initial posting, so find the buffer from the descriptor's address. */
        uint64_t addr = s->event.desc[head].addr;
        unsigned i = (unsigned)((addr - (uint64_t)s->event_bufs) / EVENT_SIZE);
        if (last)
            *last = *(volatile uint32_t *)(s->event_bufs + (uint64_t)i * EVENT_SIZE);
        n++;
        s->events_seen++;
        post_event(s, i);
    }
    if (n)
        kit_virtq_kick(&s->event);
    return n;
}
