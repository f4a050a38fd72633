/* PCI configuration mechanism #1 (0xcf8/0xcfc), bus walk, BARs, capabilities. */
#include "kit.h"

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

#define PCI_VENDOR_ID     0x00
#define PCI_COMMAND       0x04
#define PCI_STATUS        0x06
#define PCI_CLASS_REV     0x08
#define PCI_HEADER_TYPE   0x0e
#define PCI_BAR0          0x10
#define PCI_SECONDARY_BUS 0x19
#define PCI_CAP_PTR       0x34

#define PCI_CMD_MEM        0x0002
#define PCI_CMD_MASTER     0x0004
#define PCI_CMD_INTX_OFF   0x0400
#define PCI_STATUS_CAPLIST 0x0010

static uint32_t cfg_addr(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off)
{
    return 0x80000000u | (uint32_t)bus << 16 | (uint32_t)(dev & 31) << 11 | (uint32_t)(fn & 7) << 8 |
           (off & 0xfc);
}

static uint32_t raw_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off)
{
    outl(PCI_ADDR, cfg_addr(bus, dev, fn, off));
    return inl(PCI_DATA);
}

uint32_t kit_pci_read32(const struct kit_pci_dev *d, uint16_t off)
{
    return raw_read32(d->bus, d->dev, d->fn, off);
}

uint16_t kit_pci_read16(const struct kit_pci_dev *d, uint16_t off)
{
    outl(PCI_ADDR, cfg_addr(d->bus, d->dev, d->fn, off));
    return inw(PCI_DATA + (off & 2));
}

uint8_t kit_pci_read8(const struct kit_pci_dev *d, uint16_t off)
{
    outl(PCI_ADDR, cfg_addr(d->bus, d->dev, d->fn, off));
    return inb(PCI_DATA + (off & 3));
}

void kit_pci_write32(const struct kit_pci_dev *d, uint16_t off, uint32_t v)
{
    outl(PCI_ADDR, cfg_addr(d->bus, d->dev, d->fn, off));
    outl(PCI_DATA, v);
}

void kit_pci_write16(const struct kit_pci_dev *d, uint16_t off, uint16_t v)
{
    outl(PCI_ADDR, cfg_addr(d->bus, d->dev, d->fn, off));
    outw(PCI_DATA + (off & 2), v);
}

struct walk {
    struct kit_pci_dev *out;
    unsigned max, count;
    uint8_t seen[32];  /* bitmap of buses already scanned (guards against bridge loops) */
};

static void scan_bus(struct walk *w, uint8_t bus, unsigned depth)
{
    if (w->seen[bus >> 3] & (1u << (bus & 7)) || depth > 8)
        return;
    w->seen[bus >> 3] |= 1u << (bus & 7);
    for (uint8_t dev = 0; dev < 32; dev++) {
        for (uint8_t fn = 0; fn < 8; fn++) {
            uint32_t id = raw_read32(bus, dev, fn, PCI_VENDOR_ID);
            if ((id & 0xffff) == 0xffff) {
                if (fn == 0)
                    break;
                continue;
            }
            uint32_t cr = raw_read32(bus, dev, fn, PCI_CLASS_REV);
            uint8_t ht = (uint8_t)(raw_read32(bus, dev, fn, PCI_HEADER_TYPE & 0xfc) >> 16);
            struct kit_pci_dev d = {
                .bus = bus, .dev = dev, .fn = fn, .header_type = ht,
                .vendor = (uint16_t)id, .device = (uint16_t)(id >> 16),
                .class_code = (uint8_t)(cr >> 24), .subclass = (uint8_t)(cr >> 16),
                .prog_if = (uint8_t)(cr >> 8), .revision = (uint8_t)cr,
            };
            if (w->count < w->max)
                w->out[w->count] = d;
            w->count++;
            if ((ht & 0x7f) == 1) {
                uint8_t sec = kit_pci_read8(&d, PCI_SECONDARY_BUS);
                if (sec != 0)
                    scan_bus(w, sec, depth + 1);
            }
            if (fn == 0 && !(ht & 0x80))
                break; /* single-function device */
        }
    }
}

unsigned kit_pci_enumerate(struct kit_pci_dev *out, unsigned max)
{
    struct walk w = { .out = out, .max = max };
    scan_bus(&w, 0, 0);
    return w.count;
}

uint64_t kit_pci_bar(const struct kit_pci_dev *d, unsigned bar, bool *is_io)
{
    unsigned nbars = (d->header_type & 0x7f) == 1 ? 2 : 6;
    if (bar >= nbars)
        return 0;
    uint32_t lo = kit_pci_read32(d, PCI_BAR0 + 4 * bar);
    if (is_io)
        *is_io = lo & 1;
    if (lo & 1)
        return lo & ~3u;
    uint64_t addr = lo & ~0xfu;
    if (((lo >> 1) & 3) == 2 && bar + 1 < nbars) /* 64-bit memory BAR */
        addr |= (uint64_t)kit_pci_read32(d, PCI_BAR0 + 4 * (bar + 1)) << 32;
    return addr;
}

uint8_t kit_pci_find_cap(const struct kit_pci_dev *d, uint8_t cap_id, uint8_t after)
{
    if (!(kit_pci_read16(d, PCI_STATUS) & PCI_STATUS_CAPLIST))
        return 0;
    uint8_t p = after ? kit_pci_read8(d, after + 1) : kit_pci_read8(d, PCI_CAP_PTR);
    for (int guard = 0; guard < 48 && p >= 0x40; guard++) {
        p &= 0xfc;
        if (kit_pci_read8(d, p) == cap_id)
            return p;
        p = kit_pci_read8(d, p + 1);
    }
    return 0;
}

void kit_pci_enable(const struct kit_pci_dev *d)
{
    uint16_t cmd = kit_pci_read16(d, PCI_COMMAND);
    kit_pci_write16(d, PCI_COMMAND, cmd | PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);
}
