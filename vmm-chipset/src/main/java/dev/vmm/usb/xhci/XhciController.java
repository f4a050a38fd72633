package dev.vmm.usb.xhci;

import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.pci.MsiSink;
import dev.vmm.chipset.pci.MsixCapability;
import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.chipset.pci.MsixTable;
import dev.vmm.chipset.pci.PciBar;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.memory.GuestMemory;
import dev.vmm.usb.SaveableUsbDevice;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbHub;
import dev.vmm.usb.UsbStateException;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

import java.util.ArrayList;
import java.util.List;

/**
 * QEMU's {@code qemu-xhci} USB 3 host controller (PCI 1b36:000d, class 0c/03/30, xHCI 1.0) with a
 * root hub of 4 USB 3 ports (1-4) and 4 USB 2 ports (5-8), 64 device slots, 16 interrupters
 * (one MSI-X vector each; INTA# for interrupter 0 while MSI-X is off).
 *
 * <p>BAR0 (64-bit memory, 16 KiB) holds, as QEMU lays it out: capability registers at 0, the
 * operational registers at 0x40 (port register sets at 0x440), runtime registers at 0x1000,
 * doorbells at 0x2000, the MSI-X table at 0x3000 and its PBA at 0x3800. Contexts are 32 bytes as
 * in QEMU (HCCPARAMS1.CSZ=0); the 64-byte variant exists for tests and drivers that want it.
 *
 * <p>The pieces: {@link CapabilityRegisters}, {@link RootHubPort} (PORTSC), {@link Interrupter}
 * (IMAN/IMOD/ERST/ERDP and the event ring), {@link CommandRunner} (the command ring),
 * {@link TransferRunner} (transfer rings and the devices' packets). All of them run under this
 * object's lock: vCPU threads (register accesses), I/O threads (a device completing a packet),
 * the moderation timer, and the machine or QMP plugging devices ({@link UsbHub}).
 *
 * <p>Guest mistakes never throw: they become completion codes, an endpoint in the Halted or Error
 * state, or — for an event ring or command ring the controller cannot use — USBSTS.HCE / HSE
 * with the controller halted until the driver resets it.
 */
public final class XhciController implements PciDevice, UsbHub {
    private static final System.Logger LOG = System.getLogger(XhciController.class.getName());

    public static final int VENDOR_ID = 0x1B36, DEVICE_ID = 0x000D, CLASS_CODE = 0x0C0330, REVISION = 0x01;
    public static final int BAR = 0;
    public static final int BAR_SIZE = 0x4000;
    static final int MSIX_TABLE = 0x3000, MSIX_PBA = 0x3800;
    /** Serial Bus Release Number register in config space: USB 3.0. */
    static final int SBRN = 0x60;

    // Operational registers (offsets from 0x40).
    static final int OP = CapabilityRegisters.CAP_LENGTH;
    static final int USBCMD = 0x00, USBSTS = 0x04, PAGESIZE = 0x08, DNCTRL = 0x14, CRCR_LO = 0x18, CRCR_HI = 0x1C,
            DCBAAP_LO = 0x30, DCBAAP_HI = 0x34, CONFIG = 0x38, PORT_REGS = 0x400;
    static final int CMD_RS = 1, CMD_HCRST = 1 << 1, CMD_INTE = 1 << 2, CMD_STORED = CMD_RS | CMD_INTE | 1 << 3 | 1 << 10 | 1 << 11;
    static final int STS_HCH = 1, STS_HSE = 1 << 2, STS_EINT = 1 << 3, STS_PCD = 1 << 4, STS_HCE = 1 << 12;
    static final int STS_W1C = STS_HSE | STS_EINT | STS_PCD | 1 << 10;

    private final Object lock = new Object();
    private final PciConfigSpace config;
    private final MsixCapability msix;
    private final Dma dma;
    private final XhciClock clock;
    private final Contexts contexts;
    private final CapabilityRegisters capabilities;
    private final RootHubPort[] ports = new RootHubPort[CapabilityRegisters.PORTS];
    private final Interrupter[] interrupters = new Interrupter[CapabilityRegisters.MAX_INTERRUPTERS];
    private final DeviceSlot[] slots = new DeviceSlot[CapabilityRegisters.MAX_SLOTS + 1];
    private final TransferRunner transfers;
    private final CommandRunner commands;
    private volatile InterruptLine intx = InterruptLine.none();

    private int usbcmd;
    private int usbsts = STS_HCH;
    private int dnctrl;
    private long crcr;
    private long dcbaap;
    private int maxSlotsEnabled;
    private long startNanos;

    /** As QEMU: 32-byte contexts. */
    public XhciController(GuestMemory memory, MsiSink msi, MsixListener msixListener, XhciClock clock) {
        this(memory, msi, msixListener, clock, false);
    }

    /** @param contexts64 64-byte contexts (HCCPARAMS1.CSZ=1) instead of QEMU's 32 */
    public XhciController(GuestMemory memory, MsiSink msi, MsixListener msixListener, XhciClock clock, boolean contexts64) {
        this.dma = new Dma(memory);
        this.clock = clock;
        this.contexts = new Contexts(contexts64 ? 64 : 32);
        this.capabilities = new CapabilityRegisters(contexts64);
        config = PciConfigSpace.endpoint(VENDOR_ID, DEVICE_ID, CLASS_CODE, REVISION);
        config.setSubsystem(0x1AF4, 0x1100);        // QEMU's default subsystem ids
        config.setInterruptPin(1);
        config.addBar(BAR, PciBar.memory64(BAR_SIZE, false));
        config.setByte(SBRN, 0x30);
        MsixTable table = new MsixTable(CapabilityRegisters.MAX_INTERRUPTERS, msi, msixListener);
        msix = MsixCapability.install(config, table, BAR, MSIX_TABLE, BAR, MSIX_PBA);
        config.addWriteListener(msix.offset() + 2, 2, (o, s) -> { synchronized (lock) { refreshIntx(); } });
        config.addWriteListener(PciConfigSpace.COMMAND, 2, (o, s) -> { synchronized (lock) { refreshIntx(); } });
        RootHubPort.Host portHost = new PortHost();
        for (int i = 0; i < ports.length; i++) {
            ports[i] = new RootHubPort(i + 1, CapabilityRegisters.superSpeedPort(i + 1), portHost);
        }
        Interrupter.Host irqHost = new InterrupterHost();
        for (int i = 0; i < interrupters.length; i++) interrupters[i] = new Interrupter(i, dma, irqHost);
        for (int i = 1; i < slots.length; i++) slots[i] = new DeviceSlot(i);
        transfers = new TransferRunner(new TransferHost());
        commands = new CommandRunner(new CommandHost());
    }

    @Override public PciConfigSpace configSpace() { return config; }

    @Override public void attached(PciFunction f) { intx = f.intx(); }

    @Override public String name() { return "qemu-xhci"; }

    /** INTA# for a controller that is not on a PCI bus (tests). */
    void setIntx(InterruptLine line) { intx = line; }

    public MsixTable msixTable() { return msix.table(); }

    // ---------------------------------------------------------------- BAR0

    @Override
    public long barRead(int bar, long offset, int size) {
        if (bar != BAR || offset < 0 || offset >= BAR_SIZE) return 0;
        if (msix.covers(bar, offset)) return msix.barRead(bar, offset, size);
        synchronized (lock) {
            if (size == 8) return (read((int) offset) & 0xFFFF_FFFFL) | (long) read((int) offset + 4) << 32;
            long v = (read((int) offset & ~3) & 0xFFFF_FFFFL) >>> ((offset & 3) * 8);
            return size >= 4 ? v : v & ((1L << (size * 8)) - 1);
        }
    }

    @Override
    public void barWrite(int bar, long offset, int size, long value) {
        if (bar != BAR || offset < 0 || offset >= BAR_SIZE) return;
        if (msix.covers(bar, offset)) {
            msix.barWrite(bar, offset, size, value);
            return;
        }
        if ((offset & 3) != 0 || size < 4) return;   // the registers are dwords and qwords
        synchronized (lock) {
            write((int) offset, (int) value);
            if (size == 8) write((int) offset + 4, (int) (value >>> 32));
        }
    }

    private int read(int offset) {
        if (offset < OP) return capabilities.read(offset);
        if (offset < CapabilityRegisters.RUNTIME_OFFSET) return readOperational(offset - OP);
        if (offset < CapabilityRegisters.DOORBELL_OFFSET) return readRuntime(offset - CapabilityRegisters.RUNTIME_OFFSET);
        return 0;   // doorbells read 0
    }

    private void write(int offset, int value) {
        if (offset < OP) return;
        if (offset < CapabilityRegisters.RUNTIME_OFFSET) writeOperational(offset - OP, value);
        else if (offset < CapabilityRegisters.DOORBELL_OFFSET) writeRuntime(offset - CapabilityRegisters.RUNTIME_OFFSET, value);
        else doorbell((offset - CapabilityRegisters.DOORBELL_OFFSET) / 4, value);
    }

    private int readOperational(int off) {
        if (off >= PORT_REGS) {
            int n = (off - PORT_REGS) / 16;
            return n < ports.length && (off & 0xF) == 0 ? ports[n].portsc() : 0;
        }
        return switch (off) {
            case USBCMD -> usbcmd;
            case USBSTS -> usbsts;
            case PAGESIZE -> 1;                         // 4 KiB pages
            case DNCTRL -> dnctrl;
            case CRCR_LO -> (int) commands.crcr(crcr);
            case CRCR_HI -> (int) (commands.crcr(crcr) >>> 32);
            case DCBAAP_LO -> (int) dcbaap;
            case DCBAAP_HI -> (int) (dcbaap >>> 32);
            case CONFIG -> maxSlotsEnabled;
            default -> 0;
        };
    }

    private void writeOperational(int off, int value) {
        if (off >= PORT_REGS) {
            int n = (off - PORT_REGS) / 16;
            if (n < ports.length && (off & 0xF) == 0) ports[n].write(value);
            return;
        }
        switch (off) {
            case USBCMD -> writeUsbcmd(value);
            case USBSTS -> usbsts &= ~(value & STS_W1C);
            case DNCTRL -> dnctrl = value & 0xFFFF;
            case CRCR_LO -> { crcr = (crcr & ~0xFFFF_FFFFL) | (value & 0xFFFF_FFFFL); commands.crcrWritten(crcr); }
            case CRCR_HI -> { crcr = (crcr & 0xFFFF_FFFFL) | (long) value << 32; commands.crcrWritten(crcr); }
            case DCBAAP_LO -> dcbaap = (dcbaap & ~0xFFFF_FFFFL) | (value & 0xFFFF_FFC0L);
            case DCBAAP_HI -> dcbaap = (dcbaap & 0xFFFF_FFFFL) | (long) value << 32;
            case CONFIG -> maxSlotsEnabled = value & 0xFF;
            default -> { }
        }
    }

    private void writeUsbcmd(int value) {
        if ((value & CMD_HCRST) != 0) {
            reset();
            return;
        }
        boolean wasRunning = running();
        usbcmd = value & CMD_STORED;
        if (running() && !wasRunning) {
            if ((usbsts & (STS_HCE | STS_HSE)) != 0) {
                usbcmd &= ~CMD_RS;      // a controller in error stays halted until reset
            } else {
                usbsts &= ~STS_HCH;
                startNanos = clock.nanoTime();
            }
        } else if (!running()) {
            usbsts |= STS_HCH;
        }
        refreshIntx();
    }

    private int readRuntime(int off) {
        if (off == 0) {
            // MFINDEX: 125 µs microframes since Run, 14 bits.
            return running() ? (int) (((clock.nanoTime() - startNanos) / 125_000) & 0x3FFF) : 0;
        }
        int i = (off - 0x20) / 32;
        return off >= 0x20 && i < interrupters.length ? interrupters[i].read((off - 0x20) % 32) : 0;
    }

    private void writeRuntime(int off, int value) {
        int i = (off - 0x20) / 32;
        if (off < 0x20 || i >= interrupters.length) return;
        if (interrupters[i].write((off - 0x20) % 32, value)) refreshIntx();
    }

    private void doorbell(int index, int value) {
        if (index == 0) {
            if ((value & 0xFF) == 0) commands.doorbell();
            return;
        }
        if (index > CapabilityRegisters.MAX_SLOTS || !running()) return;
        DeviceSlot s = slotIfEnabled(index);
        Endpoint ep = s == null ? null : s.endpoint(value & 0xFF);
        if (ep == null) return;            // no such endpoint: nothing to ring (§4.7)
        if (ep.state == Endpoint.STOPPED) {
            ep.state = Endpoint.RUNNING;
            saveEndpointContext(s, ep);
        }
        transfers.ring(s, ep);
    }

    boolean running() { return (usbcmd & CMD_RS) != 0; }

    // ---------------------------------------------------------------- reset, errors, interrupts

    private void reset() {
        for (int i = 1; i < slots.length; i++) disableSlot(slots[i]);
        commands.reset();
        for (Interrupter it : interrupters) it.reset();
        usbcmd = 0;
        usbsts = STS_HCH;
        dnctrl = 0;
        crcr = 0;
        dcbaap = 0;
        maxSlotsEnabled = 0;
        for (RootHubPort p : ports) {
            if (p.device() != null) p.device().reset();
            p.reset();
        }
        refreshIntx();
    }

    private void hostControllerError(String why) {
        if ((usbsts & STS_HCE) == 0) LOG.log(System.Logger.Level.WARNING, "xHCI host controller error: {0}", why);
        usbsts |= STS_HCE | STS_HCH;
        usbcmd &= ~CMD_RS;
    }

    private void hostSystemError(String why) {
        if ((usbsts & STS_HSE) == 0) LOG.log(System.Logger.Level.WARNING, "xHCI host system error: {0}", why);
        usbsts |= STS_HSE | STS_HCH;
        usbcmd &= ~CMD_RS;
    }

    private void postEvent(int interrupter, Trb event, boolean blockInterrupt) {
        Interrupter it = interrupters[interrupter < interrupters.length ? interrupter : 0];
        try {
            it.post(event, blockInterrupt);
        } catch (Dma.Fault f) {
            hostSystemError("event ring: " + f.getMessage());
        }
    }

    private void assertInterrupt(int index) {
        usbsts |= STS_EINT;
        if ((usbcmd & CMD_INTE) == 0 || (interrupters[index].read(0) & Interrupter.IMAN_IE) == 0) return;
        if (msix.isEnabled()) {
            msix.table().trigger(index);
            interrupters[index].messageSent();
        } else {
            refreshIntx();
        }
    }

    private void refreshIntx() {
        intx.set(!msix.isEnabled() && (usbcmd & CMD_INTE) != 0 && interrupters[0].interruptAsserted());
    }

    // ---------------------------------------------------------------- slots and contexts

    private DeviceSlot slotIfEnabled(int id) {
        if (id < 1 || id > Math.min(maxSlotsEnabled, CapabilityRegisters.MAX_SLOTS)) return null;
        DeviceSlot s = slots[id];
        return s.enabled ? s : null;
    }

    private void disableSlot(DeviceSlot s) {
        for (int dci = 1; dci < 32; dci++) {
            Endpoint ep = s.endpoints[dci];
            if (ep != null) transfers.cancel(s, ep, false);
            s.endpoints[dci] = null;
        }
        if (s.enabled && s.outputContext != 0) {
            try {
                dma.writeU32(s.outputContext + Contexts.SLOT_DW3, 0);
            } catch (Dma.Fault ignored) {
                // the guest moved its context away; nothing to update
            }
        }
        s.enabled = false;
        s.state = Contexts.SLOT_STATE_DISABLED;
        s.port = null;
        s.outputContext = 0;
    }

    private void saveEndpointContext(DeviceSlot s, Endpoint ep) {
        if (s.outputContext == 0) return;
        long ctx = contexts.deviceEndpoint(s.outputContext, ep.dci);
        try {
            dma.writeU32(ctx + Contexts.EP_DW0, (dma.readU32(ctx + Contexts.EP_DW0) & ~7) | ep.state);
            long dequeue = ep.ring.dequeue() | (ep.ring.cycle() ? 1 : 0);
            dma.writeU32(ctx + Contexts.EP_DEQUEUE, (int) dequeue);
            dma.writeU32(ctx + Contexts.EP_DEQUEUE + 4, (int) (dequeue >>> 32));
        } catch (Dma.Fault ignored) {
            // the guest moved its output context out of RAM; the controller's own state is what counts
        }
    }

    // ---------------------------------------------------------------- state (snapshots, migration)

    /** Version of {@link #saveState}'s format. */
    public static final int STATE_VERSION = 1;
    /** The largest saved state of one device: usb-storage with a whole data phase buffered, and more. */
    static final int MAX_DEVICE_STATE = 40 << 20;

    /** Why the state cannot be saved (a plugged device that cannot save its own), or null. */
    public String unsaveable() {
        synchronized (lock) {
            for (RootHubPort p : ports) {
                if (p.device() != null && !(p.device() instanceof SaveableUsbDevice)) {
                    return "USB device " + p.device().productName() + " on port " + p.number() + " (its state cannot be saved)";
                }
            }
            return null;
        }
    }

    /**
     * Waits until no plugged device has work running on another thread (a disk command), each
     * within {@code timeoutNanos}; with the vCPUs paused nothing starts new work. Returns the name
     * of a device that did not finish, or null.
     */
    public String quiesce(long timeoutNanos) throws InterruptedException {
        List<UsbDevice> devices = new ArrayList<>();
        synchronized (lock) {
            for (RootHubPort p : ports) if (p.device() != null) devices.add(p.device());
        }
        // Outside the lock: the devices' completions take it.
        for (UsbDevice d : devices) {
            if (d instanceof SaveableUsbDevice s && !s.quiesce(timeoutNanos)) return d.productName();
        }
        return null;
    }

    /**
     * Writes the controller's state: operational registers, the command ring's position, per port
     * PORTSC and the plugged device's own state, per interrupter its registers and event ring
     * producer state, per enabled slot its endpoints. Everything else the driver set up is in
     * guest memory (contexts, rings), which is saved with the RAM. Call after {@link #quiesce}.
     *
     * @throws UsbStateException when the state cannot be saved now (an Address Device still
     *                           waiting for its device; a device that cannot save its state)
     */
    public void saveState(DataOutputStream out) throws IOException {
        synchronized (lock) {
            String why = unsaveable();
            if (why != null) throw new UsbStateException("cannot save " + why);
            if (commands.waitingForDevice()) throw new UsbStateException("an Address Device command is waiting for its device");
            out.writeByte(contexts.size());
            out.writeInt(usbcmd);
            out.writeInt(usbsts);
            out.writeInt(dnctrl);
            out.writeLong(crcr);
            out.writeLong(dcbaap);
            out.writeInt(maxSlotsEnabled);
            out.writeShort(readRuntime(0));     // MFINDEX, which goes on counting from there
            commands.save(out);
            out.writeByte(ports.length);
            for (RootHubPort p : ports) {
                p.save(out);
                if (p.device() instanceof SaveableUsbDevice d) {
                    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
                    try (DataOutputStream o = new DataOutputStream(bytes)) {
                        d.saveState(o);
                    }
                    out.writeUTF(d.productName());
                    out.writeInt(d.stateVersion());
                    out.writeInt(bytes.size());
                    bytes.writeTo(out);
                }
            }
            out.writeByte(interrupters.length);
            for (Interrupter it : interrupters) it.save(out);
            int enabled = 0;
            for (int i = 1; i < slots.length; i++) if (slots[i].enabled) enabled++;
            out.writeByte(enabled);
            for (int i = 1; i < slots.length; i++) {
                if (!slots[i].enabled) continue;
                out.writeByte(i);
                slots[i].save(out);
            }
        }
    }

    /**
     * Loads a state written by {@link #saveState} into this controller, whose ports must hold the
     * same kinds of device (built from the same options). Everything is read and checked first —
     * register values, ring and context pointers inside guest RAM (already restored), port and
     * slot numbers, the devices' own states — and refused with {@link UsbStateException}; then
     * the state is put in place, held-back interrupts are re-armed and every running endpoint's
     * ring is walked again, which hands the devices the TDs they held at the save.
     */
    public void loadState(DataInputStream in, int version) throws IOException {
        if (version != STATE_VERSION) throw new UsbStateException("qemu-xhci state version " + version + " (this VMM reads " + STATE_VERSION + ")");
        synchronized (lock) {
            int size = in.readUnsignedByte();
            if (size != contexts.size()) throw new UsbStateException("the state has " + size + "-byte contexts, this controller " + contexts.size());
            int cmd = in.readInt(), sts = in.readInt(), dn = in.readInt();
            long cr = in.readLong(), dcbaa = in.readLong();
            int maxSlots = (int) UsbStateException.check("MaxSlotsEn", in.readInt(), 0, 0xFF);
            int mfindex = (int) UsbStateException.check("MFINDEX", in.readUnsignedShort(), 0, 0x3FFF);
            if ((cmd & ~CMD_STORED) != 0 || (sts & ~(STS_HCH | STS_HSE | STS_EINT | STS_PCD | STS_HCE | 1 << 10)) != 0
                    || ((cmd & CMD_RS) != 0) == ((sts & STS_HCH) != 0) || (dn & ~0xFFFF) != 0 || (dcbaa & 0x3F) != 0) {
                throw new UsbStateException(String.format("impossible operational registers USBCMD 0x%x USBSTS 0x%x DNCTRL 0x%x DCBAAP 0x%x", cmd, sts, dn, dcbaa));
            }
            List<Runnable> apply = new ArrayList<>();
            apply.add(commands.load(in));
            UsbStateException.check("root hub ports", in.readUnsignedByte(), ports.length, ports.length);
            List<Runnable> devices = new ArrayList<>();
            for (RootHubPort p : ports) {
                apply.add(p.load(in));
                if (p.device() == null) continue;
                String product = in.readUTF();
                if (!(p.device() instanceof SaveableUsbDevice d) || !product.equals(d.productName())) {
                    throw new UsbStateException("USB port " + p.number() + " has " + product + " in the state and " + p.device().productName() + " here");
                }
                int deviceVersion = in.readInt();
                int length = (int) UsbStateException.check(product + " state length", in.readInt(), 0, MAX_DEVICE_STATE);
                byte[] state = in.readNBytes(length);
                if (state.length != length) throw new java.io.EOFException("qemu-xhci state ends inside " + product + "'s");
                devices.add(() -> {
                    try (DataInputStream din = new DataInputStream(new java.io.ByteArrayInputStream(state))) {
                        d.loadState(din, deviceVersion);
                        if (din.read() != -1) throw new UsbStateException(product + ": state longer than its fields");
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
            }
            UsbStateException.check("interrupters", in.readUnsignedByte(), interrupters.length, interrupters.length);
            for (Interrupter it : interrupters) apply.add(it.load(in));
            int enabled = (int) UsbStateException.check("enabled slots", in.readUnsignedByte(), 0, CapabilityRegisters.MAX_SLOTS);
            boolean[] seen = new boolean[slots.length];
            for (int i = 0; i < enabled; i++) {
                int id = (int) UsbStateException.check("slot id", in.readUnsignedByte(), 1, Math.min(maxSlots, CapabilityRegisters.MAX_SLOTS));
                if (seen[id]) throw new UsbStateException("slot " + id + " saved twice");
                seen[id] = true;
                apply.add(slots[id].load(in, dma, contexts, n -> n >= 1 && n <= ports.length ? ports[n - 1] : null));
            }
            try {
                for (Runnable r : devices) r.run();
            } catch (java.io.UncheckedIOException e) {
                throw e.getCause();
            }
            // Everything checked: drop what this controller had (a fresh machine: nothing) and take the state.
            for (int i = 1; i < slots.length; i++) {
                DeviceSlot s = slots[i];
                for (Endpoint ep : s.endpoints) if (ep != null) transfers.cancel(s, ep, false);
                java.util.Arrays.fill(s.endpoints, null);
                s.enabled = false;
                s.state = Contexts.SLOT_STATE_DISABLED;
                s.port = null;
                s.outputContext = 0;
            }
            usbcmd = cmd;
            usbsts = sts;
            dnctrl = dn;
            crcr = cr;
            dcbaap = dcbaa;
            maxSlotsEnabled = maxSlots;
            startNanos = clock.nanoTime() - mfindex * 125_000L;
            apply.forEach(Runnable::run);
            refreshIntx();
            for (Interrupter it : interrupters) it.tryFire();
            for (int i = 1; i < slots.length; i++) {
                DeviceSlot s = slots[i];
                if (!s.enabled) continue;
                for (Endpoint ep : s.endpoints) if (ep != null && ep.state == Endpoint.RUNNING) transfers.ring(s, ep);
            }
        }
    }

    // ---------------------------------------------------------------- UsbHub

    @Override
    public int plug(UsbDevice device, int portOrZero) {
        synchronized (lock) {
            for (RootHubPort p : ports) {
                if (p.device() == device) throw new IllegalArgumentException(device.productName() + " is already plugged into USB port " + p.number());
            }
            boolean superSpeed = device.speed().superSpeed();
            RootHubPort port = null;
            if (portOrZero != 0) {
                if (portOrZero < 1 || portOrZero > ports.length) {
                    throw new IllegalArgumentException("USB port " + portOrZero + ": qemu-xhci has ports 1-" + ports.length);
                }
                port = ports[portOrZero - 1];
                if (port.superSpeed() != superSpeed) {
                    throw new IllegalArgumentException("USB port " + portOrZero + " is a USB " + (port.superSpeed() ? "3" : "2")
                            + " port; " + device.productName() + " needs a USB " + (superSpeed ? "3" : "2") + " port");
                }
                if (port.device() != null) throw new IllegalArgumentException("USB port " + portOrZero + " is in use by " + port.device().productName());
            } else {
                for (RootHubPort p : ports) {
                    if (p.superSpeed() == superSpeed && p.device() == null) {
                        port = p;
                        break;
                    }
                }
                if (port == null) throw new IllegalStateException("no free USB " + (superSpeed ? "3" : "2") + " port for " + device.productName());
            }
            device.attach(port);
            port.plug(device);
            return port.number();
        }
    }

    @Override
    public void unplug(UsbDevice device) {
        synchronized (lock) {
            for (RootHubPort p : ports) {
                if (p.device() != device) continue;
                cancelTransfers(p);
                forgetPort(p);
                p.unplug();
                device.detach();
                return;
            }
        }
    }

    @Override
    public List<Port> ports() {
        synchronized (lock) {
            List<Port> list = new ArrayList<>();
            for (RootHubPort p : ports) list.add(new Port(p.number(), p.superSpeed(), p.device()));
            return List.copyOf(list);
        }
    }

    private void cancelTransfers(RootHubPort port) {
        for (int i = 1; i < slots.length; i++) {
            DeviceSlot s = slots[i];
            if (!s.enabled || s.port != port) continue;
            for (Endpoint ep : s.endpoints) if (ep != null) transfers.cancel(s, ep, false);
        }
    }

    /** The device is gone: its slots no longer reach that port (a device plugged there later needs Address Device). */
    private void forgetPort(RootHubPort port) {
        for (int i = 1; i < slots.length; i++) {
            if (slots[i].port == port) slots[i].port = null;
        }
    }

    // ---------------------------------------------------------------- the pieces' views of the controller

    private final class PortHost implements RootHubPort.Host {
        @Override public void portChanged(RootHubPort port) {
            usbsts |= STS_PCD;
            if (running()) {
                postEvent(0, Trb.event(Trb.PORT_STATUS_CHANGE_EVENT, (long) port.number() << 24, CompletionCode.SUCCESS << 24, 0), false);
            }
        }

        @Override public void portDeviceReset(RootHubPort port) { cancelTransfers(port); }

        @Override public void wakeup(RootHubPort port, int endpoint) {
            synchronized (lock) {
                port.remoteWake();
            }
        }

        @Override public XhciClock clock() { return clock; }

        /** Outside the lock, as a completion from an I/O thread: the device completes packets from {@code poll}. */
        @Override public void pollDevice(RootHubPort port) {
            UsbDevice device;
            synchronized (lock) {
                device = port.device();
            }
            if (device != null) device.poll(clock.nanoTime());
        }
    }

    private final class InterrupterHost implements Interrupter.Host {
        @Override public void assertInterrupt(int index) { XhciController.this.assertInterrupt(index); }
        @Override public void hostControllerError(String why) { XhciController.this.hostControllerError(why); }
        @Override public XhciClock clock() { return clock; }
        @Override public Object lock() { return lock; }
    }

    private final class TransferHost implements TransferRunner.Host {
        @Override public Object lock() { return lock; }
        @Override public boolean running() { return XhciController.this.running(); }
        @Override public Dma dma() { return dma; }
        @Override public void postEvent(int interrupter, Trb event, boolean bei) { XhciController.this.postEvent(interrupter, event, bei); }
        @Override public void saveEndpointContext(DeviceSlot slot, Endpoint ep) { XhciController.this.saveEndpointContext(slot, ep); }
    }

    private final class CommandHost implements CommandRunner.Host {
        @Override public Object lock() { return lock; }
        @Override public boolean running() { return XhciController.this.running(); }
        @Override public Dma dma() { return dma; }
        @Override public Contexts contexts() { return contexts; }
        @Override public DeviceSlot slot(int id) { return slotIfEnabled(id); }

        @Override public DeviceSlot enableSlot() {
            for (int id = 1; id <= Math.min(maxSlotsEnabled, CapabilityRegisters.MAX_SLOTS); id++) {
                if (!slots[id].enabled) {
                    slots[id].enabled = true;
                    slots[id].state = Contexts.SLOT_STATE_DISABLED;
                    return slots[id];
                }
            }
            return null;
        }

        @Override public void disableSlot(DeviceSlot slot) { XhciController.this.disableSlot(slot); }
        @Override public long dcbaap() { return dcbaap; }

        @Override public RootHubPort port(int number) {
            return number >= 1 && number <= ports.length ? ports[number - 1] : null;
        }

        @Override public TransferRunner transfers() { return transfers; }
        @Override public void saveEndpointContext(DeviceSlot slot, Endpoint ep) { XhciController.this.saveEndpointContext(slot, ep); }
        @Override public void postEvent(int interrupter, Trb event, boolean bei) { XhciController.this.postEvent(interrupter, event, bei); }
        @Override public void hostSystemError(String why) { XhciController.this.hostSystemError(why); }
    }
}
