package dev.vmm.virtio.console;

import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.console.ConsoleControl.Event;
import dev.vmm.virtio.ActivationException;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.queue.DescriptorChain;
import dev.vmm.virtio.queue.QueueException;
import dev.vmm.virtio.queue.SplitQueue;
import org.jctools.queues.MpscUnboundedArrayQueue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;

/**
 * virtio-console (virtio 1.x §5.3) with {@code VIRTIO_CONSOLE_F_MULTIPORT}: port 0 is the console
 * ({@code /dev/hvc0} in a Linux guest), further ports are named serial channels
 * ({@code /dev/vport0pN}, with {@code /dev/virtio-ports/NAME} links), each behind a
 * {@link PortBackend}. Ports can be added and removed while the guest runs.
 *
 * <p><b>Queues.</b> {@code 2 + 2·maxPorts}: port 0 receiveq/transmitq (0, 1), control
 * receiveq/transmitq (2, 3), then port p's receiveq/transmitq at {@code 2p+2, 2p+3}.
 * Config space: {@code le16 cols, le16 rows, le32 max_nr_ports, le32 emerg_wr}.
 *
 * <p><b>Multiport handshake</b> (as Linux runs it): the driver posts control receive buffers and
 * sends DEVICE_READY; the device answers DEVICE_ADD for every port; for each, the driver sets up
 * the port and sends PORT_READY; the device then sends CONSOLE_PORT (port 0, followed by RESIZE
 * if a size is set), PORT_NAME (named ports) and PORT_OPEN(1) if the host side is connected. The
 * driver reports its own opens/closes with PORT_OPEN. Host input to a port is held until the
 * guest has it open (Linux discards data arriving at a closed port). Control messages to the
 * guest wait in a queue while it has no control receive buffers posted. Without MULTIPORT only
 * port 0 exists, on queues 0 and 1.
 *
 * <p><b>Threading contract.</b> All queue processing happens in one "pass" run by a
 * {@link WorkSerializer}: whichever thread asks for work — the vCPU or I/O thread calling
 * {@link #queueNotify}, a backend thread in {@link PortHandle#receive}, a control thread in
 * {@link #addPort} / {@link #removePort} / {@link #resize} — runs the pass itself if nobody else
 * is, otherwise leaves it to the thread that is; nobody waits for anybody's I/O. So the device
 * processes queues <em>synchronously on the notifying thread</em> (deviating from
 * {@link VirtioDevice#queueNotify}'s "only wake a worker", deliberately: a console pass is a
 * bounded copy) and backends hand input over through lock-free queues (JCTools MPSC) plus a work
 * request; a pass ends with {@link VirtioInterrupt#signalUsedBuffer} for the queues it used.
 * Backend {@code write}s run inside the pass and must not block. Each port has at most
 * {@link #INPUT_LIMIT} bytes of undelivered input; {@code receive} blocks beyond that
 * (back-pressure to the backend thread only). {@link #reset()} waits for a running pass.
 *
 * <p><b>Validation.</b> A transmit or control-transmit chain with device-writable buffers, a
 * receive chain with device-readable buffers, or any {@link QueueException} puts the device in
 * DEVICE_NEEDS_RESET; malformed control messages (short, unknown port, unknown event) are logged
 * and ignored. Nothing is thrown out of a pass.
 */
public final class VirtioConsole implements VirtioDevice, dev.vmm.virtio.MigratableDevice, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(VirtioConsole.class.getName());

    public static final long VIRTIO_CONSOLE_F_SIZE = 1L << 0;
    public static final long VIRTIO_CONSOLE_F_MULTIPORT = 1L << 1;
    public static final long VIRTIO_CONSOLE_F_EMERG_WRITE = 1L << 2;

    /** Most ports one device offers (queue count stays at most 64). */
    public static final int MAX_PORTS_LIMIT = 31;
    public static final int DEFAULT_MAX_PORTS = 8;
    public static final int QUEUE_SIZE = 256;
    public static final int CONFIG_SIZE = 12;
    /** Undelivered host input a port holds before {@link PortHandle#receive} blocks. */
    public static final int INPUT_LIMIT = 64 * 1024;
    private static final int CHUNK = 4096;

    private final int maxPorts;
    private volatile int cols;
    private volatile int rows;
    private final WorkSerializer serializer = new WorkSerializer(this::pass);
    private final MpscUnboundedArrayQueue<Runnable> commands = new MpscUnboundedArrayQueue<>(64);
    private final boolean[] reserved;               // ids handed out by addPort; guarded by itself

    // Everything below is touched only inside the serializer.
    private final Port[] ports;
    private final ArrayDeque<byte[]> controlOut = new ArrayDeque<>();
    private final DescriptorChain chain = new DescriptorChain(8);
    private final byte[] header = new byte[ConsoleControl.HEADER_SIZE];
    private List<SplitQueue> queues;
    private VirtioInterrupt interrupt;
    private boolean multiport;
    private boolean driverReady;
    private boolean failed;
    private long touched;                            // bitmask of queues given used buffers this pass
    /** Guest-side state kept by a quiesce or brought by a restore, applied by the next activate. */
    private Carried carried;

    /** A console with {@code maxPorts} port slots (1..31), port 0 backed by {@code console} (may be null: output dropped). */
    public VirtioConsole(int maxPorts, PortBackend console) {
        this(maxPorts, 0, 0, console);
    }

    /** As {@link #VirtioConsole(int, PortBackend)}, with an initial console size (0 = unknown). */
    public VirtioConsole(int maxPorts, int cols, int rows, PortBackend console) {
        if (maxPorts < 1 || maxPorts > MAX_PORTS_LIMIT) {
            throw new IllegalArgumentException("max ports must be 1.." + MAX_PORTS_LIMIT + ": " + maxPorts);
        }
        this.maxPorts = maxPorts;
        this.cols = cols & 0xFFFF;
        this.rows = rows & 0xFFFF;
        this.ports = new Port[maxPorts];
        this.reserved = new boolean[maxPorts];
        reserved[0] = true;
        ports[0] = new Port(0, null, true, console);
        if (console != null) console.attach(ports[0]);
    }

    public int maxPorts() { return maxPorts; }

    // ---- VirtioDevice ----

    @Override public VirtioDeviceType deviceType() { return VirtioDeviceType.CONSOLE; }

    @Override
    public long deviceFeatures() {
        return VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_INDIRECT_DESC | VirtioFeatures.VIRTIO_F_EVENT_IDX
                | VIRTIO_CONSOLE_F_SIZE | VIRTIO_CONSOLE_F_MULTIPORT | VIRTIO_CONSOLE_F_EMERG_WRITE;
    }

    @Override public int queueCount() { return 2 + 2 * maxPorts; }

    @Override public int queueMaxSize(int queueIndex) { return QUEUE_SIZE; }

    @Override public int configSize() { return CONFIG_SIZE; }

    @Override
    public long readConfig(int offset, int size) {
        if (offset < 0 || size <= 0 || size > 8 || offset + size > CONFIG_SIZE) return 0;
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort(0, (short) cols).putShort(2, (short) rows).putInt(4, maxPorts).putInt(8, 0);
        long v = 0;
        for (int i = size - 1; i >= 0; i--) v = (v << 8) | (b.get(offset + i) & 0xFF);
        return v;
    }

    @Override
    public void writeConfig(int offset, int size, long value) {
        // emerg_wr: one character for port 0, usable before the queues are up (early boot, panics).
        if (offset == 8 && size >= 1 && size <= 4) {
            byte c = (byte) value;
            commands.offer(() -> {
                Port p = ports[0];
                if (p != null && p.backend != null) p.backend.write(ByteBuffer.wrap(new byte[] {c}));
            });
            serializer.request();
        }
    }

    @Override
    public void activate(GuestMemory memory, long negotiatedFeatures, List<SplitQueue> queues, VirtioInterrupt interrupt)
            throws ActivationException {
        if (queues.size() != queueCount()) throw new ActivationException("virtio-console: expected " + queueCount() + " queues");
        boolean mp = VirtioFeatures.has(negotiatedFeatures, VIRTIO_CONSOLE_F_MULTIPORT);
        if (!queues.get(0).isReady() || !queues.get(1).isReady()) throw new ActivationException("virtio-console: port 0 queues not ready");
        if (mp && (!queues.get(2).isReady() || !queues.get(3).isReady())) {
            throw new ActivationException("virtio-console: MULTIPORT negotiated but control queues not ready");
        }
        serializer.exclusive(() -> {
            this.queues = List.copyOf(queues);
            this.interrupt = interrupt;
            this.multiport = mp;
            this.driverReady = false;
            this.failed = false;
            controlOut.clear();
            for (Port p : ports) if (p != null) p.resetGuestState();
            // Without the control channel port 0 is simply open: there is no one to tell us.
            if (!mp) ports[0].guestOpen = true;
            if (carried != null) {
                applyCarried(carried);
                carried = null;
            }
        });
        serializer.request();
    }

    @Override
    public void queueNotify(int queueIndex) {
        serializer.request();
    }

    @Override
    public void reset() {
        serializer.exclusive(() -> {
            queues = null;
            interrupt = null;
            carried = null;
            driverReady = false;
            multiport = false;
            failed = false;
            controlOut.clear();
            for (Port p : ports) if (p != null) p.resetGuestState();
        });
    }

    /** Removes every port and closes every backend. */
    @Override
    public void close() {
        serializer.exclusive(() -> {
            for (int i = 0; i < ports.length; i++) {
                if (ports[i] != null) {
                    ports[i].detach();
                    ports[i] = null;
                }
            }
            queues = null;
        });
    }

    // ---- saved state (MigratableDevice) -------------------------------------------------------

    /** One port as saved: identity (checked on restore) and what the guest knows about it. */
    record PortState(int id, boolean console, String name, boolean guestReady, boolean guestOpen, boolean hostOpen, long txSkip) { }

    /** The guest-side state: driver ready, ports, control messages the guest has not received yet. */
    record Carried(boolean driverReady, List<PortState> ports, List<byte[]> controlOut) { }

    @Override
    public int stateVersion() { return 1; }

    /**
     * Waits for a running pass and stops the queues (a pass is synchronous: nothing else is in
     * flight). Receive buffers are only popped when there is input to write, so none is held; a
     * transmit chain whose output the backend could not take whole is given back, and the bytes
     * already written are remembered ({@code txSkip}) so that, popped again, it continues where it
     * stopped instead of repeating them. Host input not yet delivered stays with this device's
     * backends (it is not part of the state).
     */
    @Override
    public int[] quiesce() {
        int[] rewind = new int[queueCount()];
        serializer.exclusive(() -> {
            if (queues == null) return;
            carried = capture();
            for (Port p : ports) if (p != null && p.txHeld) rewind[txQueue(p.id)] = 1;
            queues = null;
            interrupt = null;
        });
        return rewind;
    }

    private Carried capture() {
        List<PortState> ps = new ArrayList<>();
        for (Port p : ports) {
            if (p == null) continue;
            ps.add(new PortState(p.id, p.console, p.name, p.guestReady, p.guestOpen, p.hostOpen, p.txHeld ? p.txOffset : 0));
        }
        return new Carried(driverReady, List.copyOf(ps), List.copyOf(controlOut));
    }

    private void applyCarried(Carried c) {
        driverReady = c.driverReady();
        controlOut.addAll(c.controlOut());
        for (PortState s : c.ports()) {
            Port p = ports[s.id()];
            if (p == null) continue; // checked by loadState; a port removed meanwhile on the source
            p.guestReady = s.guestReady();
            p.guestOpen = s.guestOpen();
            p.txSkip = s.txSkip();
            if (p.guestOpen && p.backend != null) p.backend.guestConnected(true);
            // This side's host end may differ from what the guest was told (another socket, not connected yet).
            if (p.hostOpen != s.hostOpen() && multiport && driverReady && p.guestReady) {
                controlOut.add(ConsoleControl.message(p.id, Event.PORT_OPEN, p.hostOpen ? 1 : 0));
            }
        }
    }

    /** Ports as {@code "0 (console)", "1 'name'"}, for messages. */
    private static String describe(List<PortState> ps) {
        List<String> out = new ArrayList<>();
        for (PortState p : ps) out.add(p.id() + (p.console() ? " (console)" : p.name() == null ? "" : " '" + p.name() + "'"));
        return "[" + String.join(", ", out) + "]";
    }

    /**
     * Whether the driver is ready, and per port: id, console, name (identity, so a destination
     * with another port set is refused), set up and opened by the guest, the host side connected
     * as the guest was told, bytes of a held transmit chain already written; then the control
     * messages still waiting for the guest.
     */
    @Override
    public byte[] saveState() {
        Carried c = carried;
        if (c == null) {
            Carried[] now = new Carried[1];
            serializer.exclusive(() -> now[0] = capture());
            c = now[0];
        }
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream o = new java.io.DataOutputStream(bytes)) {
            o.writeInt(maxPorts);
            o.writeBoolean(c.driverReady());
            o.writeInt(c.ports().size());
            for (PortState p : c.ports()) {
                o.writeInt(p.id());
                o.writeBoolean(p.console());
                o.writeBoolean(p.name() != null);
                if (p.name() != null) o.writeUTF(p.name());
                o.writeBoolean(p.guestReady());
                o.writeBoolean(p.guestOpen());
                o.writeBoolean(p.hostOpen());
                o.writeLong(p.txSkip());
            }
            o.writeInt(c.controlOut().size());
            for (byte[] m : c.controlOut()) {
                o.writeInt(m.length);
                o.write(m);
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    @Override
    public void loadState(int version, byte[] state) {
        if (version != 1) throw new IllegalArgumentException("virtio-console: saved state version " + version + ", this vmm reads 1");
        Carried c;
        try (java.io.DataInputStream in = new java.io.DataInputStream(new java.io.ByteArrayInputStream(state))) {
            int max = in.readInt();
            if (max != maxPorts) {
                throw new IllegalArgumentException("virtio-console: the saved device has " + max + " port slots, this one " + maxPorts
                        + " (start the destination with the same console options)");
            }
            boolean ready = in.readBoolean();
            int n = in.readInt();
            if (n < 1 || n > maxPorts) throw new IllegalArgumentException("virtio-console: malformed saved state (" + n + " ports)");
            List<PortState> ps = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int id = in.readInt();
                boolean console = in.readBoolean();
                String name = in.readBoolean() ? in.readUTF() : null;
                ps.add(new PortState(id, console, name, in.readBoolean(), in.readBoolean(), in.readBoolean(), in.readLong()));
            }
            int m = in.readInt();
            if (m < 0 || m > 4 * maxPorts + 4 + 64) throw new IllegalArgumentException("virtio-console: malformed saved state (" + m + " control messages)");
            List<byte[]> msgs = new ArrayList<>();
            for (int i = 0; i < m; i++) {
                int len = in.readInt();
                if (len < ConsoleControl.HEADER_SIZE || len > ConsoleControl.HEADER_SIZE + ConsoleControl.MAX_NAME_BYTES + 1) {
                    throw new IllegalArgumentException("virtio-console: malformed saved state (control message of " + len + " bytes)");
                }
                msgs.add(in.readNBytes(len));
            }
            if (in.available() > 0) throw new IllegalArgumentException("virtio-console: malformed saved state (" + in.available() + " trailing bytes)");
            for (PortState p : ps) {
                if (p.txSkip() < 0) throw new IllegalArgumentException("virtio-console: malformed saved state (port " + p.id() + ")");
            }
            c = new Carried(ready, List.copyOf(ps), List.copyOf(msgs));
        } catch (java.io.EOFException e) {
            throw new IllegalArgumentException("virtio-console: malformed saved state (" + state.length + " bytes, too short)");
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("virtio-console: malformed saved state (" + e.getMessage() + ")");
        }
        Carried loaded = c;
        RuntimeException[] err = new RuntimeException[1];
        serializer.exclusive(() -> {
            if (queues != null) {
                err[0] = new IllegalStateException("virtio-console: state loaded into an active device");
                return;
            }
            Runnable cmd;
            while ((cmd = commands.poll()) != null) cmd.run(); // ports added before the load are in place
            List<PortState> mine = new ArrayList<>();
            for (Port p : ports) if (p != null) mine.add(new PortState(p.id, p.console, p.name, false, false, false, 0));
            boolean same = mine.size() == loaded.ports().size();
            for (int i = 0; same && i < mine.size(); i++) {
                PortState a = mine.get(i), b = loaded.ports().get(i);
                same = a.id() == b.id() && a.console() == b.console() && java.util.Objects.equals(a.name(), b.name());
            }
            if (!same) {
                err[0] = new IllegalArgumentException("virtio-console: the saved device has ports " + describe(loaded.ports())
                        + ", this one " + describe(mine) + " (start the destination with the same ports, hot-added ones included)");
                return;
            }
            carried = loaded;
        });
        if (err[0] != null) throw err[0];
    }

    // ---- host-side control (any thread) ----

    /**
     * Adds a port backed by {@code backend} and returns its id. If the guest driver is running it
     * is told at once (DEVICE_ADD, then PORT_NAME once it reports the port ready), otherwise when
     * it next starts. Thread-safe.
     *
     * @throws IllegalStateException if all {@link #maxPorts()} slots are taken
     * @throws IllegalArgumentException if the name is too long
     */
    public int addPort(String name, PortBackend backend) {
        if (name != null && name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > ConsoleControl.MAX_NAME_BYTES) {
            throw new IllegalArgumentException("port name longer than " + ConsoleControl.MAX_NAME_BYTES + " bytes");
        }
        int id = -1;
        synchronized (reserved) {
            for (int i = 1; i < reserved.length; i++) {
                if (!reserved[i]) {
                    reserved[i] = true;
                    id = i;
                    break;
                }
            }
        }
        if (id < 0) throw new IllegalStateException("virtio-console: all " + maxPorts + " ports in use");
        Port port = new Port(id, name, false, backend);
        commands.offer(() -> {
            ports[port.id] = port;
            if (backend != null) backend.attach(port);
            if (driverReady) controlOut.add(ConsoleControl.message(port.id, Event.DEVICE_ADD, 1));
        });
        serializer.request();
        return id;
    }

    /** Removes port {@code id} (not the console): PORT_REMOVE to the guest, backend closed. Returns false if no such port. */
    public boolean removePort(int id) {
        if (id <= 0 || id >= maxPorts) return false;
        synchronized (reserved) {
            if (!reserved[id]) return false;
        }
        commands.offer(() -> {
            Port p = ports[id];
            if (p == null) return;
            try {
                completeHeldOutput(p);
            } catch (QueueException e) {
                fail(e.getMessage());
            }
            if (driverReady) controlOut.add(ConsoleControl.message(id, Event.DEVICE_REMOVE, 0));
            ports[id] = null;
            p.detach();
            synchronized (reserved) {
                reserved[id] = false;
            }
        });
        serializer.request();
        return true;
    }

    /** Sets the console size: config space (F_SIZE) plus a RESIZE message for port 0 when multiport is up. */
    public void resize(int cols, int rows) {
        this.cols = cols & 0xFFFF;
        this.rows = rows & 0xFFFF;
        commands.offer(() -> {
            if (queues == null) return;
            if (multiport) {
                if (ports[0] != null && ports[0].guestReady) controlOut.add(ConsoleControl.resize(0, this.cols, this.rows));
            } else {
                interrupt.signalConfigChange();
            }
        });
        serializer.request();
    }

    /** A snapshot of the ports, for status queries. */
    public List<PortStatus> ports() {
        List<PortStatus> out = new ArrayList<>();
        serializer.exclusive(() -> {
            for (Port p : ports) {
                if (p != null) out.add(new PortStatus(p.id, p.name, p.console, p.guestReady, p.guestOpen, p.hostOpen));
            }
        });
        return out;
    }

    /** One port as seen from the host. */
    public record PortStatus(int id, String name, boolean console, boolean guestReady, boolean guestOpen, boolean hostOpen) { }

    // ---- the pass ----

    private void pass() {
        try {
            Runnable c;
            while ((c = commands.poll()) != null) c.run();
            if (queues == null || failed) return;
            touched = 0;
            if (multiport) processControlTx();
            for (Port p : ports) if (p != null) processTx(p);
            if (multiport) deliverControl();
            for (Port p : ports) if (p != null) deliverInput(p);
            for (int q = 0; touched != 0 && q < 64; q++) {
                if ((touched & (1L << q)) != 0) {
                    touched &= ~(1L << q);
                    if (queues.get(q).needsNotification()) interrupt.signalUsedBuffer(q);
                }
            }
        } catch (QueueException e) {
            fail(e.getMessage());
        } catch (RuntimeException e) {           // a VMM or backend bug must not escape into a vCPU/I/O thread
            fail("virtio-console: " + e);
        }
    }

    private static int rxQueue(int port) { return port == 0 ? 0 : 2 * port + 2; }

    private static int txQueue(int port) { return port == 0 ? 1 : 2 * port + 3; }

    private SplitQueue usable(int q) {
        SplitQueue queue = queues.get(q);
        return queue.isReady() && queue.isActivated() ? queue : null;
    }

    private void used(int q, int head, int len) throws QueueException {
        queues.get(q).addUsed(head, len);
        touched |= 1L << q;
    }

    private void processControlTx() throws QueueException {
        SplitQueue q = queues.get(3);
        while (q.pop(chain)) {
            if (chain.writableCount() != 0) {
                fail("virtio-console: control message " + chain + " has device-writable buffers");
                return;
            }
            int n = chain.readFromChain(0, header);
            used(3, chain.head(), 0);
            if (n < ConsoleControl.HEADER_SIZE) {
                LOG.warning("virtio-console: short control message (" + n + " bytes) ignored");
                continue;
            }
            ByteBuffer b = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
            handleControl(b.getInt(0), Short.toUnsignedInt(b.getShort(4)), Short.toUnsignedInt(b.getShort(6)));
        }
    }

    private void handleControl(int id, int event, int value) {
        Event e = Event.of(event);
        if (e == Event.DEVICE_READY) {
            if (value != 1) {
                LOG.warning("virtio-console: guest driver failed to initialise (DEVICE_READY " + value + ")");
                return;
            }
            driverReady = true;
            for (Port p : ports) if (p != null) controlOut.add(ConsoleControl.message(p.id, Event.DEVICE_ADD, 1));
            return;
        }
        Port p = id >= 0 && id < ports.length ? ports[id] : null;
        if (p == null) {
            LOG.fine(() -> "virtio-console: " + ConsoleControl.eventName(event) + " for unknown port " + Integer.toUnsignedString(id));
            return;
        }
        switch (e) {
            case PORT_READY -> {
                if (value != 1) {
                    LOG.warning("virtio-console: guest failed to set up port " + id);
                    return;
                }
                p.guestReady = true;
                if (p.console) {
                    controlOut.add(ConsoleControl.message(id, Event.CONSOLE_PORT, 1));
                    if (cols != 0 || rows != 0) controlOut.add(ConsoleControl.resize(id, cols, rows));
                }
                if (p.name != null) controlOut.add(ConsoleControl.portName(id, p.name));
                if (p.hostOpen) controlOut.add(ConsoleControl.message(id, Event.PORT_OPEN, 1));
            }
            case PORT_OPEN -> {
                boolean open = value != 0;
                if (p.guestOpen != open) {
                    p.guestOpen = open;
                    if (p.backend != null) p.backend.guestConnected(open);
                }
            }
            case null, default -> LOG.fine(() -> "virtio-console: ignoring " + ConsoleControl.eventName(event) + " from the guest");
        }
    }

    private void processTx(Port p) throws QueueException {
        if (p.id != 0 && !multiport) return;
        SplitQueue q = usable(txQueue(p.id));
        if (q == null) return;
        if (p.txHeld && !resumeOutput(p)) return;
        while (q.pop(p.txChain)) {
            if (p.txChain.writableCount() != 0) {
                fail("virtio-console: transmit chain " + p.txChain + " of port " + p.id + " has device-writable buffers");
                return;
            }
            p.txHeld = true;
            p.txOffset = p.txSkip; // a chain given back by a quiesce: the bytes written before it
            p.txSkip = 0;
            p.outputBlocked = false;
            if (!resumeOutput(p)) return;
        }
    }

    /** Writes the rest of the held transmit chain to the backend; true if it completed. */
    private boolean resumeOutput(Port p) throws QueueException {
        DescriptorChain c = p.txChain;
        if (p.backend != null) {
            long skip = p.txOffset;
            for (int i = 0; i < c.readableCount(); i++) {
                long len = c.length(i);
                if (skip >= len) {
                    skip -= len;
                    continue;
                }
                ByteBuffer buf = c.segment(i).asSlice(skip).asByteBuffer();
                skip = 0;
                while (buf.hasRemaining()) {
                    int n = p.backend.write(buf.slice());
                    if (n <= 0) {
                        p.outputBlocked = true;
                        return false;
                    }
                    p.txOffset += n;
                    buf.position(buf.position() + n);
                }
            }
        }
        p.txHeld = false;
        used(txQueue(p.id), c.head(), 0);
        return true;
    }

    private void completeHeldOutput(Port p) throws QueueException {
        if (p.txHeld && queues != null) {
            p.txHeld = false;
            used(txQueue(p.id), p.txChain.head(), 0);
            SplitQueue q = queues.get(txQueue(p.id));
            if (q.needsNotification()) interrupt.signalUsedBuffer(txQueue(p.id));
        }
    }

    private void deliverControl() throws QueueException {
        SplitQueue q = queues.get(2);
        while (!controlOut.isEmpty() && q.pop(chain)) {
            if (chain.readableCount() != 0) {
                fail("virtio-console: control receive chain " + chain + " has device-readable buffers");
                return;
            }
            byte[] msg = controlOut.poll();
            int n = chain.writeToChain(0, msg);
            if (n < msg.length) LOG.warning("virtio-console: control message truncated to " + n + " bytes by a small guest buffer");
            used(2, chain.head(), n);
        }
    }

    private void deliverInput(Port p) throws QueueException {
        if (!p.guestOpen || (p.id != 0 && !multiport)) return;
        SplitQueue q = usable(rxQueue(p.id));
        if (q == null) return;
        int delivered = 0;
        while (p.hasInput() && q.pop(chain)) {
            if (chain.readableCount() != 0) {
                fail("virtio-console: receive chain " + chain + " of port " + p.id + " has device-readable buffers");
                return;
            }
            long room = chain.writableBytes();
            int written = 0;
            while (written < room && p.hasInput()) {
                byte[] cur = p.current();
                int n = (int) Math.min(room - written, cur.length - p.curOffset);
                written += chain.writeToChain(written, java.lang.foreign.MemorySegment.ofArray(cur).asSlice(p.curOffset, n));
                p.consume(n);
            }
            used(rxQueue(p.id), chain.head(), written);
            delivered += written;
        }
        if (delivered > 0) p.released(delivered);
    }

    private void fail(String reason) {
        failed = true;
        LOG.warning(reason);
        if (interrupt != null) interrupt.deviceNeedsReset(reason);
    }

    // ---- ports ----

    /** One port: guest-side state (serializer only) and the thread-safe handle its backend uses. */
    private final class Port implements PortHandle {
        final int id;
        final String name;
        final boolean console;
        final PortBackend backend;
        final MpscUnboundedArrayQueue<byte[]> input = new MpscUnboundedArrayQueue<>(16);
        final AtomicInteger pendingBytes = new AtomicInteger();
        final Object space = new Object();
        final DescriptorChain txChain = new DescriptorChain(4);
        volatile boolean removed;
        volatile boolean hostOpen;
        // serializer only:
        boolean guestReady;
        boolean guestOpen;
        boolean txHeld;
        boolean outputBlocked;
        long txOffset;
        long txSkip;
        byte[] cur;
        int curOffset;

        Port(int id, String name, boolean console, PortBackend backend) {
            this.id = id;
            this.name = name;
            this.console = console;
            this.backend = backend;
        }

        void resetGuestState() {
            guestReady = false;
            guestOpen = false;
            txHeld = false;
            outputBlocked = false;
            txSkip = 0;
        }

        void detach() {
            removed = true;
            synchronized (space) {
                space.notifyAll();
            }
            if (backend != null) backend.close();
        }

        boolean hasInput() {
            return cur != null || (cur = input.poll()) != null;
        }

        byte[] current() { return cur; }

        void consume(int n) {
            curOffset += n;
            if (curOffset == cur.length) {
                cur = null;
                curOffset = 0;
            }
        }

        void released(int n) {
            pendingBytes.addAndGet(-n);
            synchronized (space) {
                space.notifyAll();
            }
        }

        @Override public int id() { return id; }

        @Override public String name() { return name; }

        @Override
        public boolean receive(byte[] data, int offset, int length) throws InterruptedException {
            java.util.Objects.checkFromIndexSize(offset, length, data.length);
            while (length > 0) {
                int n = Math.min(length, CHUNK);
                synchronized (space) {
                    while (!removed && pendingBytes.get() >= INPUT_LIMIT) space.wait();
                }
                if (removed) return false;
                input.offer(Arrays.copyOfRange(data, offset, offset + n));
                pendingBytes.addAndGet(n);
                offset += n;
                length -= n;
                serializer.request();
            }
            return !removed;
        }

        @Override
        public void setHostConnected(boolean connected) {
            if (removed) return;
            commands.offer(() -> {
                if (hostOpen == connected) return;
                hostOpen = connected;
                if (multiport && driverReady && guestReady) {
                    controlOut.add(ConsoleControl.message(id, Event.PORT_OPEN, connected ? 1 : 0));
                }
            });
            serializer.request();
        }

        @Override
        public void outputReady() {
            serializer.request();
        }

        @Override
        public String toString() {
            return "port " + id + (name == null ? "" : " '" + name + "'");
        }
    }
}
