package dev.vmm.chipset.q35;

import dev.vmm.chipset.pci.PciBridge;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;

/**
 * A PCI Express root port with QEMU's {@code pcie-root-port} identity (1b36:000c, class 0x0604):
 * a {@link PciBridge} (type 1 header, guest-programmed bus numbers and windows) with a 4 KiB config
 * space carrying
 *
 * <ul>
 *   <li>the PCI Express capability (id 0x10) version 2, device/port type Root Port, slot
 *       implemented; link advertised as x32 at 16 GT/s (as QEMU) with Data Link Layer Link Active
 *       reporting; slot
 *       capabilities: attention button, power controller, attention and power indicators,
 *       <b>hot-plug surprise and hot-plug capable</b> (native PCIe hot-plug advertised), command
 *       completed supported (as QEMU: a slot control write completes at once and sets Command
 *       Completed), physical slot number = {@code slot}; slot control/status with presence detect and link active reflecting the
 *       device attached below; root control/status;</li>
 *   <li>Advanced Error Reporting (extended capability 0x0001 v2 at 0x100) with its status registers
 *       write-1-to-clear, masks/severity writable, root error command/status.</li>
 * </ul>
 *
 * Attach {@link #bridge()} to a root bus slot and a cold-plugged endpoint with {@link #plug}, which
 * sets the slot's presence and link state.
 *
 * <p>Native hot-plug (PCIe base spec, slot capabilities/control/status; what Linux's pciehp drives):
 * {@link #hotPlug} sets Presence Detect State plus the Presence Detect Changed and Data Link Layer
 * State Changed events; {@link #pressAttentionButton} (the host side of {@code device_del}) sets
 * Attention Button Pressed; the OS acknowledges each event by writing 1 to its status bit. When the
 * OS turns the slot's power controller off with the power indicator off, the device is detached and
 * the {@link SlotListener} told, so the VMM can release its resources. The hot-plug interrupt (the
 * port's INTx) is asserted while Hot-Plug Interrupt Enable is set and an enabled event is pending.
 */
public final class PcieRootPort {
    public static final int VENDOR_ID = 0x1b36, DEVICE_ID = 0x000c, CLASS_CODE = 0x060400;
    public static final int PCIE_CAP_ID = 0x10, AER_CAP_ID = 0x0001;
    // Offsets inside the PCI Express capability.
    public static final int EXP_FLAGS = 0x02, EXP_DEVCAP = 0x04, EXP_DEVCTL = 0x08, EXP_DEVSTA = 0x0a,
            EXP_LNKCAP = 0x0c, EXP_LNKCTL = 0x10, EXP_LNKSTA = 0x12, EXP_SLTCAP = 0x14, EXP_SLTCTL = 0x18,
            EXP_SLTSTA = 0x1a, EXP_RTCTL = 0x1c, EXP_RTCAP = 0x1e, EXP_RTSTA = 0x20, EXP_DEVCAP2 = 0x24,
            EXP_DEVCTL2 = 0x28, EXP_LNKCAP2 = 0x2c, EXP_LNKCTL2 = 0x30, EXP_LNKSTA2 = 0x32;
    public static final int EXP_CAP_SIZE = 0x3c;
    public static final int PORT_TYPE_ROOT_PORT = 4;
    // Slot capability bits.
    public static final int SLTCAP_ABP = 1, SLTCAP_PCP = 1 << 1, SLTCAP_AIP = 1 << 3, SLTCAP_PIP = 1 << 4,
            SLTCAP_HPS = 1 << 5, SLTCAP_HPC = 1 << 6, SLTCAP_NCCS = 1 << 18;
    public static final int SLTSTA_PDS = 1 << 6, LNKSTA_DLLLA = 1 << 13, LNKCAP_DLLLARC = 1 << 20;
    // Slot status events (write 1 to clear) and the matching slot control enables.
    public static final int SLTSTA_ABP = 1, SLTSTA_PFD = 1 << 1, SLTSTA_MRLSC = 1 << 2, SLTSTA_PDC = 1 << 3,
            SLTSTA_CC = 1 << 4, SLTSTA_DLLSC = 1 << 8;
    public static final int SLTCTL_ABPE = 1, SLTCTL_PFDE = 1 << 1, SLTCTL_MRLSCE = 1 << 2, SLTCTL_PDCE = 1 << 3,
            SLTCTL_CCIE = 1 << 4, SLTCTL_HPIE = 1 << 5, SLTCTL_AIC = 3 << 6, SLTCTL_PIC = 3 << 8,
            SLTCTL_PCC = 1 << 10, SLTCTL_DLLSCE = 1 << 12;
    /** Indicator control values (2-bit fields: bits 6-7 attention, 8-9 power). */
    public static final int INDICATOR_ON = 1, INDICATOR_BLINK = 2, INDICATOR_OFF = 3;
    /** Status events that can raise the hot-plug interrupt, each enabled by the same bit in slot control. */
    static final int HOTPLUG_EVENTS = SLTSTA_ABP | SLTSTA_PFD | SLTSTA_MRLSC | SLTSTA_PDC | SLTSTA_CC;

    /** What the guest did to the slot. Called on the vCPU thread: record and return. */
    public interface SlotListener {
        /** The OS powered the slot off with the indicator off: the device has been detached. */
        void ejected(PciDevice device);
    }
    // AER register offsets from the capability.
    public static final int AER_UNCOR_STATUS = 0x04, AER_UNCOR_MASK = 0x08, AER_UNCOR_SEVER = 0x0c,
            AER_COR_STATUS = 0x10, AER_COR_MASK = 0x14, AER_CAP_CTRL = 0x18, AER_HEADER_LOG = 0x1c,
            AER_ROOT_COMMAND = 0x2c, AER_ROOT_STATUS = 0x30, AER_ERROR_SOURCE = 0x34;
    public static final int AER_SIZE = 0x38;

    private final PciConfigSpace config;
    private final PciBridge bridge;
    private final int expCap;
    private final int aerCap;
    private PciDevice occupant;
    private SlotListener slotListener = device -> { };
    private boolean hotplugIrq;
    private int eventShadow;   // the slot status event bits as last resolved (see statusWritten)

    /**
     * @param slot physical slot number (0..8191), shown by the OS as the slot name
     * @param port the link's port number (0..255)
     */
    public PcieRootPort(int slot, int port) {
        if (slot < 0 || slot > 0x1fff || port < 0 || port > 255) throw new IllegalArgumentException("slot 0..8191, port 0..255");
        config = PciConfigSpace.expressBridge(VENDOR_ID, DEVICE_ID, CLASS_CODE, 0);
        config.setInterruptPin(1);                       // INTA# for pciehp/AER without MSI

        // Indexed by offset from the capability's start; trim() drops the 2-byte header the config space writes.
        byte[] body = new byte[EXP_CAP_SIZE];
        byte[] mask = new byte[body.length];
        byte[] w1c = new byte[body.length];
        put16(body, EXP_FLAGS, 2 | PORT_TYPE_ROOT_PORT << 4 | 1 << 8);        // v2, root port, slot implemented
        put32(body, EXP_DEVCAP, 1 << 15);                                     // role-based error reporting, MPS 128
        put16(mask, EXP_DEVCTL, 0x7fff);
        put16(w1c, EXP_DEVSTA, 0x000f);
        // Link: advertised as 16 GT/s x32 like QEMU's pcie-root-port (a virtual link has no speed;
        // the widest value keeps guests from warning about a bandwidth-limited slot).
        put32(body, EXP_LNKCAP, 4 | 32 << 4 | 1 << 10 | LNKCAP_DLLLARC | 1 << 21 | port << 24); // + ASPM L0s
        put16(mask, EXP_LNKCTL, 0x0cfb);
        put16(body, EXP_LNKSTA, 4 | 32 << 4);                                 // negotiated 16 GT/s x32
        put16(w1c, EXP_LNKSTA, 0xc000);
        put32(body, EXP_SLTCAP, SLTCAP_ABP | SLTCAP_PCP | SLTCAP_AIP | SLTCAP_PIP | SLTCAP_HPS | SLTCAP_HPC
                | slot << 19);
        // Empty slot: attention and power indicators off (11b), power controller off (bit 10); plug() powers it on.
        put16(body, EXP_SLTCTL, 3 << 6 | 3 << 8 | 1 << 10);
        // Writable: the enables of the events this slot has, indicators, power controller (QEMU's mask).
        put16(mask, EXP_SLTCTL, SLTCTL_ABPE | SLTCTL_PDCE | SLTCTL_CCIE | SLTCTL_HPIE | SLTCTL_AIC | SLTCTL_PIC | SLTCTL_PCC);
        // The event bits are stored as written and resolved to write-1-to-clear in statusWritten();
        // DLLSC is a plain write-1-to-clear bit.
        put16(mask, EXP_SLTSTA, HOTPLUG_EVENTS);
        put16(w1c, EXP_SLTSTA, SLTSTA_DLLSC);
        put16(mask, EXP_RTCTL, 0x0007);                                       // SERR on correctable/non-fatal/fatal
        put32(w1c, EXP_RTSTA, 1 << 16);
        put32(body, EXP_DEVCAP2, 1 << 5 | 0x1f);                              // ARI forwarding, completion timeout ranges
        put16(mask, EXP_DEVCTL2, 0x043f);
        put32(body, EXP_LNKCAP2, 0x1e);                                       // supported speeds: 2.5-16 GT/s
        put16(body, EXP_LNKCTL2, 4);                                          // target: 16 GT/s
        put16(mask, EXP_LNKCTL2, 0x0fff & ~0x0400);
        expCap = config.addCapability(PCIE_CAP_ID, trim(body), trim(mask), trim(w1c));

        byte[] aer = new byte[AER_SIZE - 4];
        byte[] aerMask = new byte[aer.length];
        put32(aer, AER_UNCOR_SEVER - 4, 0x0046_2030);                         // spec defaults + internal error fatal, as QEMU
        put32(aerMask, AER_UNCOR_MASK - 4, 0x03ff_f030);
        put32(aerMask, AER_UNCOR_SEVER - 4, 0x03ff_f030);
        put32(aer, AER_COR_MASK - 4, 0x0000_e000);                            // advisory non-fatal, internal, header log overflow masked
        put32(aer, AER_CAP_CTRL - 4, 0x0000_02a0);                            // ECRC generation/check, multiple header recording capable
        put32(aerMask, AER_CAP_CTRL - 4, 0x0000_0540);
        put32(aerMask, AER_COR_MASK - 4, 0x0000_f1c1);
        put32(aerMask, AER_ROOT_COMMAND - 4, 0x7);
        aerCap = config.addExtendedCapability(AER_CAP_ID, 2, aer, aerMask);
        config.setWriteOneToClear(aerCap + AER_UNCOR_STATUS, 4, 0x03ff_f030);
        config.setWriteOneToClear(aerCap + AER_COR_STATUS, 4, 0x0000_f1c1);
        config.setWriteOneToClear(aerCap + AER_ROOT_STATUS, 4, 0x7f);

        bridge = new PciBridge(config, "pcie-root-port");
        config.addWriteListener(expCap + EXP_SLTCTL, 2, (o, sz) -> slotControlWritten());
        config.addWriteListener(expCap + EXP_SLTSTA, 2, this::statusWritten);
    }

    public void slotListener(SlotListener listener) {
        this.slotListener = java.util.Objects.requireNonNull(listener, "listener");
    }

    /** The function to attach on the root bus. */
    public PciBridge bridge() { return bridge; }

    public PciConfigSpace configSpace() { return config; }

    /** Offset of the PCI Express capability. */
    public int expressCapability() { return expCap; }

    /** Offset of the AER extended capability (0x100). */
    public int aerCapability() { return aerCap; }

    /**
     * Puts {@code device} in the slot (device 0 of the secondary bus) and reports it present with
     * its link up. Returns its function.
     */
    public synchronized PciFunction plug(PciDevice device) {
        if (occupant != null) throw new IllegalStateException("slot already holds " + occupant.name());
        PciFunction f = bridge.secondaryBus().attach(0, 0, device);
        occupant = device;
        config.updateBits(expCap + EXP_SLTSTA, 2, SLTSTA_PDS, true);
        config.updateBits(expCap + EXP_LNKSTA, 2, LNKSTA_DLLLA, true);
        config.updateBits(expCap + EXP_SLTCTL, 2, SLTCTL_PCC, false);   // power on
        return f;
    }

    /**
     * Host side of {@code device_add} while the guest runs: the device appears in the slot with
     * Presence Detect Changed and Data Link Layer State Changed raised for pciehp.
     */
    public synchronized PciFunction hotPlug(PciDevice device) {
        PciFunction f = plug(device);
        announcePlug();
        return f;
    }

    /**
     * Raises Presence Detect Changed and Data Link Layer State Changed for a device {@link #plug}ged
     * while the guest runs (what {@link #hotPlug} does after plugging; for a device whose placement
     * went through {@link #plug}).
     */
    public synchronized void announcePlug() {
        if (occupant == null) throw new IllegalStateException("the slot is empty");
        setEvents(eventShadow | SLTSTA_PDC);
        config.updateBits(expCap + EXP_SLTSTA, 2, SLTSTA_DLLSC, true);
        refreshHotplugInterrupt();
    }

    /** Host side of {@code device_del}: the attention button, which pciehp answers by powering the slot off. */
    public synchronized void pressAttentionButton() {
        setEvents(eventShadow | SLTSTA_ABP);
        refreshHotplugInterrupt();
    }

    /** The power indicator as the OS last set it ({@link #INDICATOR_ON}, {@code _BLINK}, {@code _OFF}). */
    public int powerIndicator() {
        return (config.read(expCap + EXP_SLTCTL, 2) & SLTCTL_PIC) >>> 8;
    }

    public int attentionIndicator() {
        return (config.read(expCap + EXP_SLTCTL, 2) & SLTCTL_AIC) >>> 6;
    }

    /** Whether the slot's hot-plug interrupt is being asserted. */
    public synchronized boolean hotplugInterrupt() {
        return hotplugIrq;
    }

    /**
     * Write 1 to clear for the event bits, with QEMU's guard: guests clear all status bits while
     * initialising, and a write that has 1s for events that were not pending is taken as such a
     * blanket clear and leaves the events as they were, so none raised meanwhile is lost.
     */
    private synchronized void statusWritten(int offset, int size) {
        int at = expCap + EXP_SLTSTA;
        if (offset <= at && offset + size > at) {
            int written = config.read(at, 2) & HOTPLUG_EVENTS;   // stored as written (mask bits)
            int next = (written & ~eventShadow) != 0 ? eventShadow : eventShadow & ~written;
            setEvents(next);
        } else {
            setEvents(eventShadow);
        }
        refreshHotplugInterrupt();
    }

    private void setEvents(int events) {
        eventShadow = events & HOTPLUG_EVENTS;
        config.updateBits(expCap + EXP_SLTSTA, 2, HOTPLUG_EVENTS, false);
        config.updateBits(expCap + EXP_SLTSTA, 2, eventShadow, true);
    }

    private synchronized void slotControlWritten() {
        int ctl = config.read(expCap + EXP_SLTCTL, 2);
        // The command completes at once (no real power controller to wait for).
        setEvents(eventShadow | SLTSTA_CC);
        if (occupant != null && (ctl & SLTCTL_PCC) != 0 && (ctl & SLTCTL_PIC) >>> 8 == INDICATOR_OFF) {
            PciDevice gone = occupant;
            occupant = null;
            bridge.secondaryBus().detach(0, 0);
            config.updateBits(expCap + EXP_SLTSTA, 2, SLTSTA_PDS, false);
            config.updateBits(expCap + EXP_LNKSTA, 2, LNKSTA_DLLLA, false);
            setEvents(eventShadow | SLTSTA_PDC);
            config.updateBits(expCap + EXP_SLTSTA, 2, SLTSTA_DLLSC, true);
            slotListener.ejected(gone);
        }
        refreshHotplugInterrupt();
    }

    private synchronized void refreshHotplugInterrupt() {
        int ctl = config.read(expCap + EXP_SLTCTL, 2);
        int sta = config.read(expCap + EXP_SLTSTA, 2);
        boolean pending = (sta & ctl & HOTPLUG_EVENTS) != 0
                || ((sta & SLTSTA_DLLSC) != 0 && (ctl & SLTCTL_DLLSCE) != 0);
        boolean level = (ctl & SLTCTL_HPIE) != 0 && pending;
        if (level == hotplugIrq) return;
        hotplugIrq = level;
        PciFunction f = bridge.function();
        if (f != null) f.intx().set(level);
    }

    /**
     * The config space was loaded from a saved state (snapshot, migration): slot status and control
     * came with it; the pending-event shadow and the hot-plug interrupt level follow from them.
     * Refused (IllegalStateException) when the saved slot says a device is present and this slot is
     * empty or the other way round (the destination was not started with the same devices).
     */
    public synchronized void configRestored() {
        int sta = config.read(expCap + EXP_SLTSTA, 2);
        boolean savedPresent = (sta & SLTSTA_PDS) != 0;
        if (savedPresent != (occupant != null)) {
            throw new IllegalStateException("root port slot " + (savedPresent ? "held a device in the state but is empty here"
                    : "was empty in the state but holds " + occupant.name() + " here"));
        }
        eventShadow = sta & HOTPLUG_EVENTS;
        refreshHotplugInterrupt();
    }

    /** Whether the slot reports a device present. */
    public boolean occupied() {
        return (config.read(expCap + EXP_SLTSTA, 2) & SLTSTA_PDS) != 0;
    }

    private static byte[] trim(byte[] capRelative) {
        return java.util.Arrays.copyOfRange(capRelative, 2, capRelative.length);
    }

    private static void put16(byte[] b, int at, int v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >>> 8);
    }

    private static void put32(byte[] b, int at, int v) {
        for (int i = 0; i < 4; i++) b[at + i] = (byte) (v >>> (8 * i));
    }
}
