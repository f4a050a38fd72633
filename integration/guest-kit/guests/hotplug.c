/*
 * hotplug: a virtio-blk disk plugged while the guest runs (issue 15), driven without an ACPI
 * interpreter or pciehp: the guest polls for the function to appear (bus 0 on pc, behind a
 * pcie-root-port on q35), reads sector 0, then waits until the host asks for the device back and
 * ejects it the way the OS would:
 *   hp=acpi  its slot bit in PCID (0xae04) → writes it to B0EJ (0xae08), what _EJ0 does
 *   hp=pcie  Attention Button Pressed in the root port's slot status → slot control: power
 *            controller off, power indicator off, what pciehp does
 * dev=scsi: the function is a virtio-scsi controller instead; the guest polls REPORT LUNS (what a
 * rescan does) until a disk appears, reads its sector 0, then polls until the host has taken the
 * disk away again (scsi-hd device_del needs no guest action), then waits for the controller's unplug.
 * cmdline: hp=acpi|pcie (acpi)  dev=blk|scsi (blk)  timeout_ms=N (120000)  io=1 (blk only): while
 *          waiting for the unplug request, read sector 0 again every 100 ms and check it is
 *          unchanged, printing "hotplug: io N" every 10 reads (a migration test watches them
 *          continue on the destination)
 * Prints "hotplug: waiting", "hotplug: found BB:DD.F", ["hotplug: lun N"], "hotplug: sector0 %016lx",
 * ["hotplug: lun gone"], "hotplug: ejected"; exits 0, or 1 with "hotplug: FAIL ..." on a timeout or an error.
 */
#include "kit.h"

#define PIIX_PCID 0xae04
#define PIIX_B0EJ 0xae08
#define EXP_SLTCTL 0x18
#define EXP_SLTSTA 0x1a

static uint64_t timeout_ms;

/* The bridge whose secondary bus is `bus`, or false. */
static bool upstream_port(uint8_t bus, struct kit_pci_dev *port)
{
    static struct kit_pci_dev devs[KIT_PCI_MAX_DEVS];
    unsigned n = kit_pci_enumerate(devs, KIT_PCI_MAX_DEVS);
    for (unsigned i = 0; i < n && i < KIT_PCI_MAX_DEVS; i++) {
        if ((devs[i].header_type & 0x7f) == 1 && kit_pci_read8(&devs[i], 0x19) == bus) {
            *port = devs[i];
            return true;
        }
    }
    return false;
}

static int fail(const char *why)
{
    kit_printf("hotplug: FAIL %s\n", why);
    return KIT_EXIT_FAIL;
}

/* REPORT LUNS through LUN 0 of target 0: the first LUN listed, -1 for none, -2 on an error. */
static int first_lun(struct kit_vscsi *s)
{
    static uint8_t list[64];
    static struct kit_vscsi_result r;
    const uint8_t cdb[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, sizeof(list), 0, 0 };
    kit_vscsi_cmd(&s->q[0], 0, 0, cdb, sizeof(cdb), 0, 0, list, sizeof(list), 10000, &r);
    if (r.response != KIT_VSCSI_S_OK || r.status != 0)
        return -2;
    uint32_t bytes = (uint32_t)list[0] << 24 | (uint32_t)list[1] << 16 | (uint32_t)list[2] << 8 | list[3];
    if (bytes < 8)
        return -1;
    return (list[10] & 0x3f) << 8 | list[11];
}

/* Polls (1 ms) until REPORT LUNS shows a disk (want_disk) or none; the LUN, or -1 on a timeout. */
static int await_lun(struct kit_vscsi *s, bool want_disk)
{
    for (uint64_t waited = 0; waited < timeout_ms; waited++) {
        int lun = first_lun(s);
        if (lun == -2)
            return -1;
        if (want_disk ? lun >= 0 : lun == -1)
            return want_disk ? lun : 0;
        kit_udelay(1000);
    }
    return -1;
}

/* dev=scsi: the LUN's sector 0 in `sector` (READ(10)), then waits until the disk is gone. */
static int scsi_disk(struct kit_vscsi *s, uint64_t *sector, unsigned bytes)
{
    int lun = await_lun(s, true);
    if (lun < 0)
        return fail("no disk appeared on the controller");
    kit_printf("hotplug: lun %d\n", lun);
    static struct kit_vscsi_result r;
    const uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
    kit_vscsi_cmd(&s->q[0], 0, (unsigned)lun, cdb, sizeof(cdb), 0, 0, sector, bytes, 10000, &r);
    if (r.response != KIT_VSCSI_S_OK || r.status != 0)
        return fail("READ(10) of sector 0");
    kit_printf("hotplug: sector0 %016lx\n", (unsigned long)sector[0]);
    if (await_lun(s, false) < 0)
        return fail("the disk was not taken away");
    kit_printf("hotplug: lun gone\n");
    return 0;
}

int main(void)
{
    char hp[8] = "acpi";
    kit_cmdline_str("hp", hp, sizeof(hp));
    bool pcie = hp[0] == 'p';
    timeout_ms = kit_cmdline_u64("timeout_ms", 120000);
    bool io = kit_cmdline_u64("io", 0) != 0;
    char dev[8] = "blk";
    kit_cmdline_str("dev", dev, sizeof(dev));
    bool scsi = dev[0] == 's';

    kit_printf("hotplug: waiting\n");
    static struct kit_vblk blk;
    static struct kit_vscsi ctrl;
    struct kit_virtio_dev probe;
    uint64_t waited = 0;
    while (!kit_virtio_find(scsi ? KIT_VSCSI_TYPE : 2, 0, &probe)) {
        if (waited++ >= timeout_ms)
            return fail(scsi ? "no virtio-scsi function appeared" : "no virtio-blk function appeared");
        kit_udelay(1000);
    }
    struct kit_pci_dev d = probe.pci;
    kit_printf("hotplug: found %02x:%02x.%x\n", d.bus, d.dev, d.fn);
    static uint64_t sector[64];
    struct kit_virtio_dev *v;
    if (scsi) {
        if (!kit_vscsi_init(&ctrl, 0, 1, 64, false))
            return fail("virtio-scsi initialisation");
        int st = scsi_disk(&ctrl, sector, sizeof(sector));
        if (st)
            return st;
        v = &ctrl.v;
    } else {
        if (!kit_vblk_init(&blk, 0, 1, 64, false))
            return fail("virtio-blk initialisation");
        int st = kit_vblk_sync(&blk.q[0], KIT_VBLK_T_IN, 0, sector, sizeof(sector), 10000);
        if (st != KIT_VBLK_S_OK)
            return fail("read of sector 0");
        kit_printf("hotplug: sector0 %016lx\n", (unsigned long)sector[0]);
        v = &blk.v;
    }

    struct kit_pci_dev port;
    uint8_t exp = 0;
    if (pcie) {
        if (!upstream_port(d.bus, &port) || !(exp = kit_pci_find_cap(&port, 0x10, 0)))
            return fail("no PCI Express port above the device");
    }
    for (waited = 0;; waited++) {
        if (waited >= timeout_ms)
            return fail("no unplug request");
        if (!pcie && (inl(PIIX_PCID) & (1u << d.dev)))
            break;
        if (pcie && (kit_pci_read16(&port, exp + EXP_SLTSTA) & 1))
            break;
        if (io && !scsi && waited % 100 == 99) {
            static uint64_t again[64];
            uint64_t reads = waited / 100 + 1;
            if (kit_vblk_sync(&blk.q[0], KIT_VBLK_T_IN, 0, again, sizeof(again), 10000) != KIT_VBLK_S_OK)
                return fail("read of sector 0 while waiting");
            if (again[0] != sector[0])
                return fail("sector 0 changed");
            if (reads % 10 == 0)
                kit_printf("hotplug: io %lu\n", (unsigned long)reads);
        }
        kit_udelay(1000);
    }
    kit_virtio_reset(v);
    if (pcie) {
        kit_pci_write16(&port, exp + EXP_SLTSTA, 1);                       /* acknowledge ABP */
        uint16_t ctl = kit_pci_read16(&port, exp + EXP_SLTCTL);
        kit_pci_write16(&port, exp + EXP_SLTCTL, (ctl & ~(3u << 8)) | 3u << 8 | 1u << 10);
    } else {
        outl(PIIX_B0EJ, 1u << d.dev);
    }
    if (kit_pci_read16(&d, 0) != 0xffff)
        return fail("the function is still there after the eject");
    kit_printf("hotplug: ejected\n");
    return 0;
}
