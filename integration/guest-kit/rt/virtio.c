/*
 * virtio 1.x PCI transport (modern, capability based) and polled split virtqueues.
 * No interrupts: every MSI-X vector is NO_VECTOR, INTx is disabled, the driver polls the used
 * ring.  The queue functions touch only guest RAM and the notify BAR, so they run at CPL3 too.
 */
#include "kit.h"

#define PCI_CAP_VENDOR 0x09
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR    3
#define CAP_DEVICE 4

/* common configuration structure (virtio 1.x, 4.1.4.3) */
#define CC_DFSELECT   0x00
#define CC_DF         0x04
#define CC_GFSELECT   0x08
#define CC_GF         0x0c
#define CC_MSIX       0x10
#define CC_NUMQ       0x12
#define CC_STATUS     0x14
#define CC_Q_SELECT   0x16
#define CC_Q_SIZE     0x18
#define CC_Q_MSIX     0x1a
#define CC_Q_ENABLE   0x1c
#define CC_Q_NOFF     0x1e
#define CC_Q_DESC     0x20
#define CC_Q_DRIVER   0x28
#define CC_Q_DEVICE   0x30

#define ST_ACKNOWLEDGE 1
#define ST_DRIVER      2
#define ST_DRIVER_OK   4
#define ST_FEATURES_OK 8
#define ST_FAILED      128

#define VRING_USED_F_NO_NOTIFY 1

static inline void w8(volatile uint8_t *b, unsigned off, uint8_t v) { *(volatile uint8_t *)(b + off) = v; }
static inline void w16(volatile uint8_t *b, unsigned off, uint16_t v) { *(volatile uint16_t *)(b + off) = v; }
static inline void w32(volatile uint8_t *b, unsigned off, uint32_t v) { *(volatile uint32_t *)(b + off) = v; }
static inline uint8_t r8(volatile uint8_t *b, unsigned off) { return *(volatile uint8_t *)(b + off); }
static inline uint16_t r16(volatile uint8_t *b, unsigned off) { return *(volatile uint16_t *)(b + off); }
static inline uint32_t r32(volatile uint8_t *b, unsigned off) { return *(volatile uint32_t *)(b + off); }
static inline void w64(volatile uint8_t *b, unsigned off, uint64_t v)
{
    w32(b, off, (uint32_t)v);
    w32(b, off + 4, (uint32_t)(v >> 32));
}

/* Store-load fence without mfence: a locked read-modify-write of a stack slot. */
static inline void full_barrier(void)
{
    uint32_t dummy = 0, one = 0;
    __asm__ volatile("lock xaddl %0, %1" : "+r"(one), "+m"(dummy) : : "memory");
}

static inline void compiler_barrier(void) { __asm__ volatile("" ::: "memory"); }

bool kit_virtio_find(uint16_t type, unsigned index, struct kit_virtio_dev *v)
{
    static struct kit_pci_dev devs[KIT_PCI_MAX_DEVS];
    unsigned n = kit_pci_enumerate(devs, KIT_PCI_MAX_DEVS);
    if (n > KIT_PCI_MAX_DEVS)
        n = KIT_PCI_MAX_DEVS;
    for (unsigned i = 0; i < n; i++) {
        const struct kit_pci_dev *d = &devs[i];
        /* modern ids are 0x1040 + type; transitional 0x1000-0x103f need the subsystem id */
        bool match = d->vendor == KIT_VIRTIO_VENDOR &&
                     (d->device == 0x1040 + type ||
                      (d->device >= 0x1000 && d->device < 0x1040 && (kit_pci_read32(d, 0x2c) >> 16) == type));
        if (!match || index--)
            continue;
        memset(v, 0, sizeof(*v));
        v->pci = *d;
        v->device_id = type;
        uint64_t notify_len = 0;
        for (uint8_t cap = kit_pci_find_cap(d, PCI_CAP_VENDOR, 0); cap; cap = kit_pci_find_cap(d, PCI_CAP_VENDOR, cap)) {
            uint8_t cfg_type = kit_pci_read8(d, cap + 3), bar = kit_pci_read8(d, cap + 4);
            uint32_t off = kit_pci_read32(d, cap + 8), len = kit_pci_read32(d, cap + 12);
            if (cfg_type < CAP_COMMON || cfg_type > CAP_DEVICE || bar > 5)
                continue;
            bool io;
            uint64_t base = kit_pci_bar(d, bar, &io);
            if (!base || io) {
                kit_printf("virtio: %02x:%02x.%x: capability type %u in BAR%u, which is %s\n", d->bus, d->dev,
                           d->fn, cfg_type, bar, io ? "an I/O BAR" : "unassigned");
                return false;
            }
            uint64_t addr = base + off;
            switch (cfg_type) {
            case CAP_COMMON: if (!v->common) v->common = (volatile uint8_t *)addr; break;
            case CAP_ISR: if (!v->isr) v->isr = (volatile uint8_t *)addr; break;
            case CAP_DEVICE: if (!v->device_cfg) v->device_cfg = (volatile uint8_t *)addr; break;
            case CAP_NOTIFY:
                if (!v->notify_base) {
                    v->notify_base = addr;
                    v->notify_mult = kit_pci_read32(d, cap + 16);
                    notify_len = len;
                }
                break;
            }
        }
        (void)notify_len;
        if (!v->common || !v->notify_base || !v->isr) {
            kit_printf("virtio: %02x:%02x.%x: missing capabilities (common=%p notify=0x%lx isr=%p)\n", d->bus,
                       d->dev, d->fn, (void *)v->common, v->notify_base, (void *)v->isr);
            return false;
        }
        kit_pci_enable(d);
        return true;
    }
    return false;
}

uint8_t kit_virtio_status(struct kit_virtio_dev *v) { return r8(v->common, CC_STATUS); }

void kit_virtio_reset(struct kit_virtio_dev *v)
{
    w8(v->common, CC_STATUS, 0);
    /* The device reports the reset done by reading back 0. */
    for (int i = 0; i < 1000000 && r8(v->common, CC_STATUS) != 0; i++)
        cpu_relax();
}

bool kit_virtio_negotiate(struct kit_virtio_dev *v, uint64_t wanted, uint64_t required)
{
    kit_virtio_reset(v);
    if (r8(v->common, CC_STATUS) != 0) {
        kit_printf("virtio: device did not reset (status 0x%x)\n", r8(v->common, CC_STATUS));
        return false;
    }
    w8(v->common, CC_STATUS, ST_ACKNOWLEDGE);
    w8(v->common, CC_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);
    w32(v->common, CC_DFSELECT, 0);
    uint64_t offered = r32(v->common, CC_DF);
    w32(v->common, CC_DFSELECT, 1);
    offered |= (uint64_t)r32(v->common, CC_DF) << 32;
    required |= 1ull << KIT_VIRTIO_F_VERSION_1;
    if ((offered & required) != required) {
        kit_printf("virtio: device offers features 0x%lx, lacks required 0x%lx\n", offered,
                   required & ~offered);
        w8(v->common, CC_STATUS, r8(v->common, CC_STATUS) | ST_FAILED);
        return false;
    }
    uint64_t f = offered & (wanted | required);
    w32(v->common, CC_GFSELECT, 0);
    w32(v->common, CC_GF, (uint32_t)f);
    w32(v->common, CC_GFSELECT, 1);
    w32(v->common, CC_GF, (uint32_t)(f >> 32));
    w8(v->common, CC_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
    if (!(r8(v->common, CC_STATUS) & ST_FEATURES_OK)) {
        kit_printf("virtio: FEATURES_OK not accepted for features 0x%lx (offered 0x%lx)\n", f, offered);
        w8(v->common, CC_STATUS, r8(v->common, CC_STATUS) | ST_FAILED);
        return false;
    }
    v->features = f;
    v->num_queues = r16(v->common, CC_NUMQ);
    w16(v->common, CC_MSIX, KIT_VIRTIO_NO_VECTOR);
    return true;
}

bool kit_virtio_setup_queue(struct kit_virtio_dev *v, uint16_t qidx, uint16_t max_size, struct kit_virtq *q)
{
    if (qidx >= v->num_queues) {
        kit_printf("virtio: queue %u does not exist (device has %u)\n", qidx, v->num_queues);
        return false;
    }
    w16(v->common, CC_Q_SELECT, qidx);
    uint16_t dev_max = r16(v->common, CC_Q_SIZE);
    if (dev_max == 0) {
        kit_printf("virtio: queue %u unavailable (size 0)\n", qidx);
        return false;
    }
    if (max_size > 256)
        max_size = 256; /* each ring fits one page */
    uint16_t size = 1;
    while ((uint32_t)size * 2 <= max_size && (uint32_t)size * 2 <= dev_max)
        size *= 2;
    memset(q, 0, sizeof(*q));
    q->index = qidx;
    q->size = size;
    q->desc = kit_alloc_page();
    q->avail = kit_alloc_page();
    q->used = kit_alloc_page();
    q->event_idx = v->features & (1ull << KIT_VIRTIO_F_EVENT_IDX);
    for (uint16_t i = 0; i < size; i++)
        q->desc[i].next = (uint16_t)(i + 1);
    q->free_head = 0;
    q->num_free = size;
    /* Never ask for interrupts; used_event stays far behind. */
    q->avail[0] = 1; /* VRING_AVAIL_F_NO_INTERRUPT */

    w16(v->common, CC_Q_SIZE, size);
    w16(v->common, CC_Q_MSIX, KIT_VIRTIO_NO_VECTOR);
    w64(v->common, CC_Q_DESC, (uint64_t)q->desc);
    w64(v->common, CC_Q_DRIVER, (uint64_t)q->avail);
    w64(v->common, CC_Q_DEVICE, (uint64_t)q->used);
    uint16_t noff = r16(v->common, CC_Q_NOFF);
    q->notify = (volatile uint16_t *)(v->notify_base + (uint64_t)noff * v->notify_mult);
    w16(v->common, CC_Q_ENABLE, 1);
    if (r16(v->common, CC_Q_ENABLE) != 1) {
        kit_printf("virtio: queue %u did not enable\n", qidx);
        return false;
    }
    return true;
}

void kit_virtio_driver_ok(struct kit_virtio_dev *v)
{
    w8(v->common, CC_STATUS, r8(v->common, CC_STATUS) | ST_DRIVER_OK);
}

int kit_virtq_add(struct kit_virtq *q, const struct kit_vbuf *bufs, unsigned n)
{
    if (n == 0 || n > q->num_free)
        return -1;
    uint16_t head = q->free_head, i = head, last = head;
    for (unsigned k = 0; k < n; k++) {
        struct kit_vring_desc *d = &q->desc[i];
        d->addr = bufs[k].addr;
        d->len = bufs[k].len;
        d->flags = (uint16_t)((bufs[k].device_writes ? KIT_VRING_DESC_F_WRITE : 0) |
                              (k + 1 < n ? KIT_VRING_DESC_F_NEXT : 0));
        last = i;
        i = d->next;
    }
    q->free_head = q->desc[last].next;
    q->num_free = (uint16_t)(q->num_free - n);
    q->avail[2 + (q->avail_idx & (q->size - 1))] = head;
    q->avail_idx++;
    return head;
}

void kit_virtq_kick(struct kit_virtq *q)
{
    uint16_t old = q->kicked_idx, now = q->avail_idx;
    if (old == now)
        return;
    compiler_barrier(); /* descriptors and ring entries before the index (x86 keeps store order) */
    q->avail[1] = now;
    full_barrier();     /* the index store before reading the device's suppression state */
    q->kicked_idx = now;
    q->kicks++;
    bool need;
    if (q->event_idx) {
        uint16_t evt = ((volatile uint16_t *)q->used)[2 + 4 * q->size];
        need = (uint16_t)(now - evt - 1) < (uint16_t)(now - old);
    } else {
        need = !(((volatile uint16_t *)q->used)[0] & VRING_USED_F_NO_NOTIFY);
    }
    if (need) {
        *q->notify = q->index;
        q->notifies++;
    }
}

bool kit_virtq_poll(struct kit_virtq *q, uint16_t *head, uint32_t *len)
{
    uint16_t used_idx = ((volatile uint16_t *)q->used)[1];
    if (used_idx == q->last_used)
        return false;
    compiler_barrier(); /* the element after the index (x86 keeps load order) */
    unsigned slot = q->last_used & (q->size - 1);
    uint32_t id = q->used[1 + 2 * slot], l = q->used[2 + 2 * slot];
    q->last_used++;
    if (id >= q->size)
        return false; /* device bug: a bad id; leave its descriptors leaked */
    /* Free the chain. */
    uint16_t i = (uint16_t)id, n = 1;
    while ((q->desc[i].flags & KIT_VRING_DESC_F_NEXT) && n < q->size) {
        i = q->desc[i].next;
        n++;
    }
    q->desc[i].next = q->free_head;
    q->free_head = (uint16_t)id;
    q->num_free = (uint16_t)(q->num_free + n);
    *head = (uint16_t)id;
    *len = l;
    return true;
}
