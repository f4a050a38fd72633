package dev.vmm.virtio.pci;

import dev.vmm.chipset.pci.MsiSink;
import dev.vmm.chipset.pci.MsixCapability;
import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.chipset.pci.MsixTable;
import dev.vmm.chipset.pci.PciBar;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.DeviceStatus;
import dev.vmm.virtio.MigratableDevice;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.queue.SplitQueue;
import dev.vmm.virtio.queue.SplitQueue.Ring;
import dev.vmm.virtio.transport.VirtioCommonConfig;

import java.util.List;
import java.util.Objects;

/**
 * The virtio 1.x modern PCI transport (virtio 1.x §4.1) around any {@link VirtioDevice}: a
 * non-transitional function 1af4:(1040 + device type), revision 1, with one 64-bit memory BAR
 * ({@link #BAR}) holding the common configuration, ISR, device configuration, notify registers and
 * the MSI-X table and PBA (see {@link VirtioPciLayout}), found through vendor-specific capabilities
 * (see {@link VirtioPciCapability}), plus the PCI_CFG access window.
 *
 * <p><b>Parts.</b> This class is the PCI function: config space, the BAR and its decoding, the
 * capabilities and the PCI_CFG window, the notify registers. What the common configuration
 * registers mean — status, feature negotiation, queue configuration, the device's life cycle — is
 * the transport-independent {@link VirtioCommonConfig} (an MMIO transport would reuse it); how the
 * driver is interrupted (MSI-X or INTx + ISR) is {@link VirtioPciInterrupts}; the saved form is
 * {@link VirtioPciState}.
 *
 * <p><b>Register file.</b> On DRIVER_OK the ready queues are activated and the device with them; on
 * a status write of 0 everything returns to power-on (device reset, queues reset, MSI-X vectors
 * NO_VECTOR). A malformed queue or a device refusing activation sets DEVICE_NEEDS_RESET and sends a
 * configuration change interrupt, with one log line: the guest's driver deals with it, the VMM
 * keeps running.
 *
 * <p><b>Guest input.</b> Common configuration fields accept only their natural width at their
 * offset (64-bit fields also as two 32-bit halves, §4.1.3.1); anything else reads 0 and is dropped.
 * queue_select beyond num_queues reads 0 in every queue field and ignores writes. A queue_size
 * that is 0, not a power of two or above the maximum is refused: the register keeps its value and
 * the queue cannot go live (DRIVER_OK with it enabled sets DEVICE_NEEDS_RESET), so the device never
 * runs a ring of a size the driver did not lay out. MSI-X vector numbers beyond the table read
 * back as NO_VECTOR, which is how the spec lets a device refuse a mapping.
 *
 * <p><b>Interrupts.</b> Each activation gives the device its own {@link VirtioInterrupt}, so a
 * late call from a previous activation is dropped. With MSI-X enabled a queue
 * signals its queue_msix_vector through {@link MsixTable#trigger} (which handles masking and the
 * PBA; NO_VECTOR means no interrupt); otherwise it sets ISR bit 0 (bit 1 for configuration
 * changes) and asserts INTx until the driver reads the ISR.
 *
 * <p><b>Notifications.</b> A guest write to queue i's notify register (slow path, an MMIO exit)
 * calls {@link VirtioDevice#queueNotify}. For the fast path the VMM registers an ioeventfd per
 * queue at {@link #notifyAddress}; a {@link NotifyRegistrar} is told whenever the BAR is mapped,
 * moved or unmapped.
 *
 * <p><b>Threads and locks.</b> vCPU threads (BAR and config accesses) serialise on the transport
 * lock, which is also held across calls into the device ({@code readConfig}, {@code activate},
 * {@code queueNotify}, {@code reset}) as {@link VirtioDevice} requires. Device I/O threads only
 * reach the interrupt methods, which never take that lock (a device's {@code reset()} waits for
 * its threads while the lock is held): the status byte has its own small lock, the INTx/ISR pair
 * another, and the MSI-X path reads the vector from an atomic array and calls the table.
 */
public final class VirtioPciDevice implements PciDevice {
    private static final System.Logger LOG = System.getLogger(VirtioPciDevice.class.getName());

    public static final int VENDOR_ID = 0x1af4;
    public static final int DEVICE_ID_BASE = 0x1040;
    /** Non-transitional (modern-only) devices have revision 1 or higher. */
    public static final int REVISION = 1;
    /** The BAR holding every virtio structure and the MSI-X table (BAR 4/5, as QEMU). */
    public static final int BAR = 4;
    /** "No MSI-X vector" in config_msix_vector / queue_msix_vector. */
    public static final int NO_VECTOR = 0xFFFF;
    /** ISR status bits. */
    public static final int ISR_QUEUE = 1;
    public static final int ISR_CONFIG = 2;
    /** Bytes the driver writes to a notify register: the 16-bit queue index. */
    public static final int NOTIFY_ACCESS_LENGTH = 2;

    // Common configuration field offsets (virtio 1.x §4.1.4.3).
    static final int DEVICE_FEATURE_SELECT = 0x00;
    static final int DEVICE_FEATURE = 0x04;
    static final int DRIVER_FEATURE_SELECT = 0x08;
    static final int DRIVER_FEATURE = 0x0C;
    static final int CONFIG_MSIX_VECTOR = 0x10;
    static final int NUM_QUEUES = 0x12;
    static final int DEVICE_STATUS = 0x14;
    static final int CONFIG_GENERATION = 0x15;
    static final int QUEUE_SELECT = 0x16;
    static final int QUEUE_SIZE = 0x18;
    static final int QUEUE_MSIX_VECTOR = 0x1A;
    static final int QUEUE_ENABLE = 0x1C;
    static final int QUEUE_NOTIFY_OFF = 0x1E;
    static final int QUEUE_DESC = 0x20;
    static final int QUEUE_DRIVER = 0x28;
    static final int QUEUE_DEVICE = 0x30;

    private final VirtioDevice device;
    private final int queueCount;
    private final VirtioPciLayout layout;
    private final PciConfigSpace config;
    private final MsixTable msixTable;
    private final MsixCapability msix;
    private final int pciCfgCap;
    private final String kind;
    private final VirtioCommonConfig common;
    private final VirtioPciInterrupts interrupts;

    /** Serialises guest register accesses and every call into the device. */
    private final Object lock = new Object();

    // Guarded by lock.
    private NotifyRegistrar registrar = NotifyRegistrar.NONE;

    // Read without the transport lock.
    private volatile long barAddress = PciBar.UNMAPPED;
    private volatile PciFunction function;

    /** A transport with one MSI-X vector per queue plus one for configuration changes. */
    public VirtioPciDevice(VirtioDevice device, GuestMemory memory, MsiSink msiSink, MsixListener msixListener) {
        this(device, memory, msiSink, msixListener, Math.min(device.queueCount() + 1, MsixTable.MAX_VECTORS));
    }

    /**
     * @param device       the device behind the transport
     * @param memory       guest RAM the queues live in
     * @param msiSink      where MSI-X messages go (the VMM: irqfd of the vector's GSI route, or KVM_SIGNAL_MSI)
     * @param msixListener told when a vector's address/data/mask change (the VMM: update the GSI route); may be null
     * @param msixVectors  size of the MSI-X table, 1..2048
     */
    public VirtioPciDevice(VirtioDevice device, GuestMemory memory, MsiSink msiSink, MsixListener msixListener,
                           int msixVectors) {
        this(device, memory, msiSink, msixListener, msixVectors, false);
    }

    /**
     * As above; {@code express} makes the function a PCI Express endpoint (4 KiB config space, PCI
     * Express and Power Management capabilities), as QEMU's virtio-pci is when it sits below a PCIe
     * root port.
     */
    public VirtioPciDevice(VirtioDevice device, GuestMemory memory, MsiSink msiSink, MsixListener msixListener,
                           int msixVectors, boolean express) {
        this.device = Objects.requireNonNull(device, "device");
        Objects.requireNonNull(memory, "memory");
        this.queueCount = device.queueCount();
        if (queueCount < 0 || queueCount > 0xFFFF) throw new IllegalArgumentException("queue count " + queueCount);
        this.kind = device.deviceType().shortName();

        int configLength = device.configSize();
        this.layout = VirtioPciLayout.of(queueCount, configLength, msixVectors);
        this.config = express
                ? PciConfigSpace.expressEndpoint(VENDOR_ID, DEVICE_ID_BASE + device.deviceType().id(), classCode(device.deviceType()), REVISION)
                : PciConfigSpace.endpoint(VENDOR_ID, DEVICE_ID_BASE + device.deviceType().id(), classCode(device.deviceType()), REVISION);
        config.setSubsystem(VENDOR_ID, device.deviceType().id());
        config.setInterruptPin(1);                                  // INTA#, for drivers without MSI-X
        if (express) dev.vmm.chipset.pcie.PcieEndpointCapability.install(config);
        config.addBar(BAR, PciBar.memory64(layout.barSize(), false));

        int vendor = VirtioPciCapability.VENDOR_SPECIFIC_ID;
        config.addCapability(vendor, VirtioPciCapability.body(VirtioPciCapability.CfgType.COMMON, BAR,
                VirtioPciLayout.COMMON_OFFSET, VirtioPciLayout.COMMON_LENGTH), null);
        config.addCapability(vendor, VirtioPciCapability.notifyBody(BAR, layout.notifyOffset(),
                layout.notifyLength(), VirtioPciLayout.NOTIFY_OFF_MULTIPLIER), null);
        config.addCapability(vendor, VirtioPciCapability.body(VirtioPciCapability.CfgType.ISR, BAR,
                VirtioPciLayout.ISR_OFFSET, VirtioPciLayout.ISR_LENGTH), null);
        if (configLength > 0) {                                     // optional when there is no device config
            config.addCapability(vendor, VirtioPciCapability.body(VirtioPciCapability.CfgType.DEVICE, BAR,
                    VirtioPciLayout.DEVICE_OFFSET, configLength), null);
        }
        this.pciCfgCap = config.addCapability(vendor, VirtioPciCapability.pciCfgBody(),
                VirtioPciCapability.pciCfgWriteMask());

        this.msixTable = new MsixTable(msixVectors, Objects.requireNonNull(msiSink, "msiSink"), msixListener);
        this.msix = MsixCapability.install(config, msixTable, BAR, layout.msixTableOffset(), BAR, layout.msixPbaOffset());
        this.interrupts = new VirtioPciInterrupts(msixTable, queueCount, () -> function);
        this.common = new VirtioCommonConfig(device, memory, interrupts, LOG, this);
    }

    /**
     * The class code for a virtio device type: what the equivalent physical device would report, so
     * firmware and OS tools show something sensible. Types without an obvious class use 0xff0000
     * ("device does not fit any defined class"), as QEMU does for rng and balloon.
     */
    public static int classCode(VirtioDeviceType type) {
        return switch (type) {
            case BLOCK, SCSI -> 0x01_00_00;     // mass storage, SCSI
            case FS, PMEM -> 0x01_80_00;        // mass storage, other
            case NET -> 0x02_00_00;             // network, Ethernet
            case NINE_P, VSOCK -> 0x02_80_00;   // network, other
            case GPU -> 0x03_80_00;             // display, other
            case CONSOLE -> 0x07_80_00;         // communication, other
            case INPUT -> 0x09_80_00;           // input, other
            default -> 0xFF_00_00;
        };
    }

    // ------------------------------------------------------------------ public API for the VMM

    /** The device behind this transport. */
    public VirtioDevice device() { return device; }

    public VirtioPciLayout layout() { return layout; }

    public MsixTable msixTable() { return msixTable; }

    /** The function this transport is attached as, or null before {@code PciBus.attach}. */
    public PciFunction function() { return function; }

    /**
     * Sets who registers ioeventfds on the notify registers (null: nobody). If the BAR is mapped
     * now, the previous registrar unregisters and the new one registers every queue immediately.
     */
    public void setNotifyRegistrar(NotifyRegistrar r) {
        NotifyRegistrar next = r == null ? NotifyRegistrar.NONE : r;
        synchronized (lock) {
            long base = barAddress;
            if (base != PciBar.UNMAPPED) unregisterNotifies(registrar, base);
            registrar = next;
            if (base != PciBar.UNMAPPED) registerNotifies(next, base);
        }
    }

    /**
     * Guest-physical address of queue {@code queueIndex}'s notify register while the BAR is
     * mapped, else {@link PciBar#UNMAPPED}.
     */
    public long notifyAddress(int queueIndex) {
        Objects.checkIndex(queueIndex, queueCount);
        long base = barAddress;
        return base == PciBar.UNMAPPED ? PciBar.UNMAPPED : base + notifyOffset(queueIndex);
    }

    /** The device status byte as the driver would read it. */
    public int deviceStatus() {
        return common.status();
    }

    /** Whether the device is live (DRIVER_OK succeeded and no reset since). */
    public boolean isActivated() {
        synchronized (lock) {
            return common.isActive();
        }
    }

    /** Current ISR status without clearing it (for tests and debugging). */
    public int peekIsr() {
        return interrupts.isr();
    }

    // ------------------------------------------------------------------ PciDevice

    @Override
    public PciConfigSpace configSpace() { return config; }

    @Override
    public void attached(PciFunction f) {
        this.function = f;
        this.barAddress = f.barAddress(BAR);
    }

    @Override
    public String name() {
        return "virtio-" + kind;
    }

    @Override
    public void barMoved(int bar, long oldAddress, long newAddress) {
        if (bar != BAR) return;
        synchronized (lock) {
            if (oldAddress != PciBar.UNMAPPED) unregisterNotifies(registrar, oldAddress);
            barAddress = newAddress;
            if (newAddress != PciBar.UNMAPPED) registerNotifies(registrar, newAddress);
        }
    }

    private void registerNotifies(NotifyRegistrar r, long base) {
        for (int q = 0; q < queueCount; q++) r.register(q, base + notifyOffset(q), NOTIFY_ACCESS_LENGTH);
    }

    private void unregisterNotifies(NotifyRegistrar r, long base) {
        for (int q = 0; q < queueCount; q++) r.unregister(q, base + notifyOffset(q), NOTIFY_ACCESS_LENGTH);
    }

    private long notifyOffset(int queue) {
        return layout.notifyOffset() + (long) VirtioPciLayout.NOTIFY_OFF_MULTIPLIER * queue;
    }

    @Override
    public long barRead(int bar, long offset, int size) {
        if (bar != BAR || offset < 0 || offset >= layout.barSize() || !validSize(size)) return 0;
        if (msix.covers(bar, offset)) return msix.barRead(bar, offset, size);
        if (offset < VirtioPciLayout.COMMON_OFFSET + VirtioPciLayout.COMMON_LENGTH) {
            synchronized (lock) {
                return readCommon((int) offset, size);
            }
        }
        if (offset == VirtioPciLayout.ISR_OFFSET) return interrupts.readAndClearIsr();
        long deviceOffset = offset - VirtioPciLayout.DEVICE_OFFSET;
        if (deviceOffset >= 0 && deviceOffset + size <= layout.deviceConfigLength()) {
            synchronized (lock) {
                return device.readConfig((int) deviceOffset, size);
            }
        }
        return 0;                                                   // notify registers and gaps read 0
    }
    @Override
    public void barWrite(int bar, long offset, int size, long value) {
        if (bar != BAR || offset < 0 || offset >= layout.barSize() || !validSize(size)) return;
        if (msix.covers(bar, offset)) {
            msix.barWrite(bar, offset, size, value);
            return;
        }
        if (offset < VirtioPciLayout.COMMON_OFFSET + VirtioPciLayout.COMMON_LENGTH) {
            synchronized (lock) {
                writeCommon((int) offset, size, value);
            }
            return;
        }
        long deviceOffset = offset - VirtioPciLayout.DEVICE_OFFSET;
        if (deviceOffset >= 0 && deviceOffset + size <= layout.deviceConfigLength()) {
            synchronized (lock) {
                device.writeConfig((int) deviceOffset, size, value);
            }
            return;
        }
        long notifyOffset = offset - layout.notifyOffset();
        if (notifyOffset >= 0 && notifyOffset < (long) VirtioPciLayout.NOTIFY_OFF_MULTIPLIER * queueCount
                && notifyOffset % VirtioPciLayout.NOTIFY_OFF_MULTIPLIER == 0 && size <= 4) {
            notify((int) (notifyOffset / VirtioPciLayout.NOTIFY_OFF_MULTIPLIER));
        }
        // ISR is read-only; gaps ignore writes.
    }

    private static boolean validSize(int size) {
        return size == 1 || size == 2 || size == 4 || size == 8;
    }

    // ------------------------------------------------------------------ PCI_CFG access window

    @Override
    public int configRead(int offset, int size) {
        int data = pciCfgCap + VirtioPciCapability.PCI_CFG_DATA;
        if (offset < data + 4 && data < offset + size) {
            // A driver read of pci_cfg_data: read cap.length bytes at cap.offset of cap.bar into it.
            Window w = window();
            if (w != null) config.setDword(data, (int) barRead(w.bar, w.offset, w.length));
        }
        return config.read(offset, size);
    }

    @Override
    public void configWrite(int offset, int size, int value) {
        config.write(offset, size, value);
        int data = pciCfgCap + VirtioPciCapability.PCI_CFG_DATA;
        if (offset < data + 4 && data < offset + size) {
            // A driver write of pci_cfg_data: write its first cap.length bytes at cap.offset of cap.bar.
            Window w = window();
            if (w != null) barWrite(w.bar, w.offset, w.length, config.read(data, 4) & mask(w.length));
        }
    }

    private record Window(int bar, long offset, int length) { }

    /**
     * The BAR access the PCI_CFG capability currently describes, or null when the driver
     * programmed something the device must ignore: a BAR other than ours, a length other than 1, 2
     * or 4, an offset not a multiple of the length, or a range beyond the BAR.
     */
    private Window window() {
        int bar = config.read(pciCfgCap + VirtioPciCapability.BAR, 1);
        long offset = config.read(pciCfgCap + VirtioPciCapability.OFFSET, 4) & 0xFFFF_FFFFL;
        long length = config.read(pciCfgCap + VirtioPciCapability.LENGTH, 4) & 0xFFFF_FFFFL;
        if (bar != BAR || (length != 1 && length != 2 && length != 4)) return null;
        if (offset % length != 0 || offset + length > layout.barSize()) return null;
        return new Window(bar, offset, (int) length);
    }

    private static long mask(int bytes) {
        return bytes == 8 ? -1L : (1L << (8 * bytes)) - 1;
    }

    // ------------------------------------------------------------------ common configuration structure (§4.1.4.3)

    /** Width of the field starting at {@code offset}, or 0 if none starts there. */
    private static int fieldWidth(int offset) {
        return switch (offset) {
            case DEVICE_FEATURE_SELECT, DEVICE_FEATURE, DRIVER_FEATURE_SELECT, DRIVER_FEATURE -> 4;
            case CONFIG_MSIX_VECTOR, NUM_QUEUES, QUEUE_SELECT, QUEUE_SIZE, QUEUE_MSIX_VECTOR, QUEUE_ENABLE,
                 QUEUE_NOTIFY_OFF -> 2;
            case DEVICE_STATUS, CONFIG_GENERATION -> 1;
            case QUEUE_DESC, QUEUE_DRIVER, QUEUE_DEVICE -> 8;
            default -> 0;
        };
    }

    /**
     * Which field an access hits: its offset, or -1 for an access the spec does not allow (wrong
     * width, misaligned, straddling fields). 64-bit fields also take 32-bit halves.
     */
    private static int fieldOf(int offset, int size) {
        if (fieldWidth(offset) == size) return offset;
        if (size == 4 && fieldWidth(offset) == 8) return offset;
        if (size == 4 && offset >= 4 && fieldWidth(offset - 4) == 8) return offset - 4;
        return -1;
    }

    private long readCommon(int offset, int size) {
        int field = fieldOf(offset, size);
        if (field < 0) return 0;
        long value = readField(field);
        int shift = 8 * (offset - field);
        return (value >>> shift) & mask(size);
    }

    private long readField(int field) {
        switch (field) {
            case DEVICE_FEATURE_SELECT: return Integer.toUnsignedLong(common.deviceFeatureSelect());
            case DEVICE_FEATURE: return Integer.toUnsignedLong(common.deviceFeatureWord());
            case DRIVER_FEATURE_SELECT: return Integer.toUnsignedLong(common.driverFeatureSelect());
            case DRIVER_FEATURE: return Integer.toUnsignedLong(common.driverFeatureWord());
            case CONFIG_MSIX_VECTOR: return interrupts.configVector();
            case NUM_QUEUES: return queueCount;
            case DEVICE_STATUS: return common.status();
            case CONFIG_GENERATION: return common.configGeneration() & 0xFF;
            case QUEUE_SELECT: return common.queueSelect();
            default: break;
        }
        SplitQueue q = common.selectedQueue();
        if (q == null) return 0;                                    // no such queue: every queue field reads 0
        return switch (field) {
            case QUEUE_SIZE -> q.size();
            case QUEUE_MSIX_VECTOR -> interrupts.queueVector(common.queueSelect());
            case QUEUE_ENABLE -> q.isReady() ? 1 : 0;
            case QUEUE_NOTIFY_OFF -> common.queueSelect();          // × notify_off_multiplier = offset in the notify region
            case QUEUE_DESC -> q.address(Ring.DESC);
            case QUEUE_DRIVER -> q.address(Ring.DRIVER);
            case QUEUE_DEVICE -> q.address(Ring.DEVICE);
            default -> 0;
        };
    }

    private void writeCommon(int offset, int size, long raw) {
        int field = fieldOf(offset, size);
        if (field < 0) return;
        int value = (int) raw;
        switch (field) {
            case DEVICE_FEATURE_SELECT -> common.setDeviceFeatureSelect(value);
            case DRIVER_FEATURE_SELECT -> common.setDriverFeatureSelect(value);
            case DRIVER_FEATURE -> common.writeDriverFeatureWord(value);
            case CONFIG_MSIX_VECTOR -> interrupts.setConfigVector(value);
            case DEVICE_STATUS -> common.writeStatus(value & 0xFF);
            case QUEUE_SELECT -> common.setQueueSelect(value);
            case QUEUE_MSIX_VECTOR -> {
                if (common.selectedQueue() != null) interrupts.setQueueVector(common.queueSelect(), value);
            }
            case QUEUE_SIZE -> common.writeQueueSize(value);
            case QUEUE_ENABLE -> common.writeQueueEnable(value);
            case QUEUE_DESC, QUEUE_DRIVER, QUEUE_DEVICE -> {
                Ring ring = field == QUEUE_DESC ? Ring.DESC : field == QUEUE_DRIVER ? Ring.DRIVER : Ring.DEVICE;
                common.writeQueueAddress(ring, size == 8, offset != field, raw);
            }
            default -> { }                                          // read-only: num_queues, generation, device_feature, notify_off
        }
    }

    // ------------------------------------------------------------------ notifications

    /**
     * An available-buffer notification for {@code queue} that arrived outside the MMIO path: what
     * the VMM's handler of a queue's ioeventfd calls. Same checks as a guest write to the notify
     * register (device live, queue ready); out-of-range queues are ignored.
     */
    public void queueNotified(int queue) {
        if (queue >= 0 && queue < queueCount) notify(queue);
    }

    private void notify(int queue) {
        synchronized (lock) {
            common.queueNotify(queue);
        }
    }

    @Override
    public String toString() {
        PciFunction f = function;
        return (f == null ? "" : f.address() + " ") + name();
    }

    // ------------------------------------------------------------------ saved state (snapshots, migration)

    /** The state a save left while the device waits for {@link #startAfterStateChange}. Guarded by lock. */
    private VirtioPciState pendingStart;

    /** Whether the device behind this transport can save its state ({@link MigratableDevice}). */
    public boolean canSaveState() {
        return device instanceof MigratableDevice;
    }

    /**
     * Saves the transport and device state; call with the vCPUs paused. A live device is first
     * quiesced: every request in flight completes to the used ring (so the guest RAM saved after
     * this call holds the results), its threads stop, and chains it held without completing are
     * given back (next-available moved back). The device then stays stopped until
     * {@link #startAfterStateChange()} (the source continues) — nothing if the machine goes away.
     *
     * @throws IllegalStateException if the device cannot save its state
     */
    public VirtioPciState saveState() {
        if (!(device instanceof MigratableDevice md)) {
            throw new IllegalStateException(this + ": the " + name() + " device cannot save its state yet");
        }
        synchronized (lock) {
            if (pendingStart != null && common.pendingStart()) return pendingStart; // already quiesced (saved twice while paused)
            boolean active = common.isActive();
            int[] rewind = common.quiesce(md);
            VirtioPciState.Queue[] qs = new VirtioPciState.Queue[queueCount];
            for (int i = 0; i < queueCount; i++) {
                SplitQueue q = common.queue(i);
                int size = q.size() == 0 ? q.maxSize() : q.size();
                qs[i] = new VirtioPciState.Queue(size, q.address(Ring.DESC), q.address(Ring.DRIVER), q.address(Ring.DEVICE), q.isReady(),
                        common.refusedSize(i), interrupts.queueVector(i), (q.nextAvail() - rewind[i]) & 0xFFFF, q.nextUsed());
            }
            VirtioPciState state = new VirtioPciState(device.deviceType().id(), common.offeredFeatures(), common.status(),
                    common.driverFeatures(), common.deviceFeatureSelect(), common.driverFeatureSelect(), common.queueSelect(),
                    interrupts.configVector(), common.configGeneration(), interrupts.isr(), active,
                    List.of(qs), md.stateVersion(), md.saveState());
            if (active) {
                applyQueues(state);
                pendingStart = state;
            }
            return state;
        }
    }

    /**
     * Loads a saved state into this freshly built transport (same device type and queue count: the
     * destination is built from the same command line). The device starts with
     * {@link #startAfterStateChange()}, once the rest of the machine is in place.
     *
     * @throws IllegalArgumentException naming what does not match
     */
    public void loadState(VirtioPciState s) {
        if (!(device instanceof MigratableDevice md)) {
            throw new IllegalArgumentException(this + ": the " + name() + " device cannot load a saved state");
        }
        if (s.deviceType() != device.deviceType().id()) {
            throw new IllegalArgumentException(this + ": saved state is of a " + VirtioDeviceType.nameOf(s.deviceType()) + " device, this is " + kind);
        }
        if (s.queues().size() != queueCount) {
            throw new IllegalArgumentException(this + ": saved state has " + s.queues().size() + " queues, this device has " + queueCount
                    + " (start the destination with the same device options)");
        }
        if (s.offeredFeatures() != device.deviceFeatures()) {
            throw new IllegalArgumentException(this + ": saved device offered features 0x" + Long.toHexString(s.offeredFeatures())
                    + ", this one offers 0x" + Long.toHexString(device.deviceFeatures()) + " (different device options or host)");
        }
        if (s.deviceStateVersion() < 1 || s.deviceStateVersion() > md.stateVersion()) {
            throw new IllegalArgumentException(this + ": device state version " + s.deviceStateVersion() + ", this vmm reads up to " + md.stateVersion());
        }
        synchronized (lock) {
            if (common.isActive() || common.pendingStart()) throw new IllegalStateException(this + ": state loaded into a device in use");
            for (int i = 0; i < queueCount; i++) {
                VirtioPciState.Queue q = s.queues().get(i);
                if (q.size() > common.queue(i).maxSize()) {
                    throw new IllegalArgumentException(this + ": saved queue " + i + " has size " + q.size() + ", this device allows " + common.queue(i).maxSize());
                }
                if (q.vector() != NO_VECTOR && q.vector() >= msixTable.vectors()) {
                    throw new IllegalArgumentException(this + ": saved queue " + i + " uses MSI-X vector " + q.vector() + " of " + msixTable.vectors());
                }
            }
            if (s.configVector() != NO_VECTOR && s.configVector() >= msixTable.vectors()) {
                throw new IllegalArgumentException(this + ": saved config vector " + s.configVector() + " of " + msixTable.vectors());
            }
            if (s.active() && (s.status() & DeviceStatus.DRIVER_OK) == 0) {
                throw new IllegalArgumentException(this + ": saved device is active without DRIVER_OK");
            }
            md.loadState(s.deviceStateVersion(), s.deviceState());
            common.restore(s.status(), s.driverFeatures(), s.deviceFeatureSelect(), s.driverFeatureSelect(), s.queueSelect(),
                    s.configGeneration(), s.active());
            applyQueues(s);
            interrupts.restoreVectors(queueVectorsOf(s), s.configVector());
            interrupts.restoreIsr(s.isr());
            if (s.active()) pendingStart = s;
        }
    }

    /** Queue configuration and positions from {@code s}; the queues are left unbound (activation binds them). */
    private void applyQueues(VirtioPciState s) {
        for (int i = 0; i < queueCount; i++) {
            VirtioPciState.Queue q = s.queues().get(i);
            common.restoreQueue(i, q.size(), q.descTable(), q.availRing(), q.usedRing(), q.ready(), q.refusedSize(),
                    q.nextAvail(), q.nextUsed());
        }
        interrupts.restoreVectors(queueVectorsOf(s), interrupts.configVector());
    }

    private static int[] queueVectorsOf(VirtioPciState s) {
        int[] v = new int[s.queues().size()];
        for (int i = 0; i < v.length; i++) v[i] = s.queues().get(i).vector();
        return v;
    }

    /**
     * Starts the device again after {@link #saveState} (source continues) or {@link #loadState}
     * (restored machine): activates the ready queues at their saved positions and the device, and
     * gives every queue one notification so requests the driver queued meanwhile are seen. A
     * device that was not active is left as it is. Returns whether the device runs.
     */
    public boolean startAfterStateChange() {
        synchronized (lock) {
            pendingStart = null;
            return common.startAfterStateChange();
        }
    }

    /** For tests: the queues as the transport configured them. */
    List<SplitQueue> queues() {
        return common.queues();
    }
}
