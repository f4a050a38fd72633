package dev.vmm.usb.xhci;

import dev.vmm.memory.GuestMemory;
import dev.vmm.usb.UsbSpeed;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;

/**
 * A minimal xHCI driver for the tests, written from the specification: it resets the controller,
 * sets up the DCBAA, a command ring and a one-segment event ring on interrupter 0, and offers
 * commands, device addressing and transfers. Events are read from guest memory as a driver does
 * (cycle bit, ERDP written back with EHB cleared).
 *
 * <p>It runs over a {@link Platform}: our model over test RAM, or QEMU's {@code qemu-xhci} over
 * qtest ({@link QtestXhciPlatform}), so that one driver compares the two.
 */
final class XhciDriver {
    /** Where the controller is: BAR0 dword registers and guest memory. */
    interface Platform {
        int reg(int offset);

        void reg(int offset, int value);

        void write(long gpa, byte[] bytes);

        byte[] read(long gpa, int length);
    }

    static final int OP = 0x40, RT = 0x1000, DB = 0x2000;
    static final int IR0 = RT + 0x20;
    static final int EVENT_TRBS = 64;
    /** Size of the event ring {@link #init} sets up (one segment, 16..4096 TRBs). */
    int eventTrbs = EVENT_TRBS;

    XhciController hc;
    GuestMemory mem;
    final int ctx;
    private long next;
    private final long limit;
    long dcbaa;
    long eventRing;
    long erst;
    int eventIndex;
    boolean eventCycle = true;
    Ring commands;
    final List<Trb> backlog = new ArrayList<>();
    /**
     * How long {@link #await} and {@link #awaitPortsc} wait for what is not there yet. Our model
     * answers on the caller's thread (devices complete at once or on a thread the test joins, the
     * clock is the test's), so over it a missing event is missing for good: 0, and a broken
     * controller fails the test at once instead of after seconds (PIT counted such mutants as
     * TIMED_OUT and restarted its minion each time). A test whose events come from a thread it
     * does not join, and QEMU, get {@link #PATIENT}.
     */
    long patienceNanos;
    static final long PATIENT = TimeUnit.SECONDS.toNanos(5);

    private final Platform platform;

    XhciDriver(XhciController hc, GuestMemory mem, long allocBase, long limit, int contextSize) {
        this.hc = hc;
        this.mem = mem;
        this.next = allocBase;
        this.limit = limit;
        this.ctx = contextSize;
        this.platform = new Platform() { // reads the fields each time: rebind() moves it
            @Override public int reg(int offset) { return (int) XhciDriver.this.hc.barRead(0, offset, 4); }
            @Override public void reg(int offset, int value) { XhciDriver.this.hc.barWrite(0, offset, 4, value & 0xFFFF_FFFFL); }
            @Override public void write(long gpa, byte[] bytes) { XhciDriver.this.mem.write(gpa, bytes); }
            @Override public byte[] read(long gpa, int length) {
                byte[] b = new byte[length];
                XhciDriver.this.mem.read(gpa, b, 0, length);
                return b;
            }
        };
    }

    /** Over another platform (QEMU): {@code hc} and {@code mem} stay null. */
    XhciDriver(Platform platform, long allocBase, long limit, int contextSize) {
        this.platform = platform;
        this.patienceNanos = PATIENT;
        this.next = allocBase;
        this.limit = limit;
        this.ctx = contextSize;
    }

    private void w32(long at, int v) {
        platform.write(at, java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(v).array());
    }

    private void w64(long at, long v) {
        platform.write(at, java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }

    private int r32(long at) {
        return java.nio.ByteBuffer.wrap(platform.read(at, 4)).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt();
    }

    private long r64(long at) {
        return java.nio.ByteBuffer.wrap(platform.read(at, 8)).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
    }

    /**
     * Goes on driving another controller over another RAM that holds this one's contents (a
     * restored snapshot): the driver's own state — rings, event ring position — carries over.
     */
    void rebind(XhciController restored, GuestMemory restoredRam) {
        hc = restored;
        mem = restoredRam;
    }

    long alloc(long size, long align) {
        next = (next + align - 1) & -align;
        long at = next;
        next += size;
        if (next > limit) throw new IllegalStateException("test RAM exhausted");
        platform.write(at, new byte[(int) size]);
        return at;
    }

    /** The end of what {@link #alloc} handed out: guest RAM above it is untouched. */
    long allocated() { return next; }

    int reg(int off) { return platform.reg(off); }

    void reg(int off, int value) { platform.reg(off, value); }

    void reg64(int off, long value) {
        reg(off, (int) value);
        reg(off + 4, (int) (value >>> 32));
    }

    int portsc(int port) { return reg(OP + 0x400 + 0x10 * (port - 1)); }

    void portsc(int port, int value) { reg(OP + 0x400 + 0x10 * (port - 1), value); }

    int usbsts() { return reg(OP + 4); }

    /** PORTSC once {@code bits} are all set in it, waiting up to {@link #patienceNanos}. */
    int awaitPortsc(int port, int bits) {
        long deadline = System.nanoTime() + patienceNanos;
        while (true) {
            int v = portsc(port);
            if ((v & bits) == bits) return v;
            if (System.nanoTime() - deadline > 0) throw new AssertionError("port " + port + ": PORTSC 0x" + Integer.toHexString(v) + " without 0x" + Integer.toHexString(bits));
            LockSupport.parkNanos(100_000);
        }
    }

    /** A ring of {@code size} TRBs whose last one is a Link TRB back to the start (toggle cycle). */
    final class Ring {
        final long base;
        final int size;
        int enqueue;
        boolean cycle = true;

        Ring(int size) {
            this.size = size;
            this.base = alloc(size * 16L, 64);
        }

        long push(long parameter, int status, int control) {
            if (enqueue == size - 1) {
                write(base + enqueue * 16L, base, 0, Trb.LINK << 10 | Trb.TOGGLE_CYCLE | (cycle ? 1 : 0));
                enqueue = 0;
                cycle = !cycle;
            }
            long at = base + enqueue * 16L;
            write(at, parameter, status, (control & ~1) | (cycle ? 1 : 0));
            enqueue++;
            return at;
        }

        /** The dequeue pointer value for a context: base and cycle state. */
        long pointer() { return base | 1; }
    }

    void write(long at, long parameter, int status, int control) {
        // The control dword (cycle bit) last: a controller running on another thread sees a whole TRB.
        platform.write(at, java.nio.ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putLong(parameter).putInt(status).array());
        w32(at + 12, control);
    }

    /** HCRST, then DCBAA, command ring, event ring, interrupter 0 enabled, Run with INTE. */
    void init(int slots) {
        reg(OP, XhciController.CMD_HCRST);
        reg(OP + 0x38, slots);
        dcbaa = alloc(8L * (slots + 1), 64);
        reg64(OP + 0x30, dcbaa);
        commands = new Ring(32);
        reg64(OP + 0x18, commands.base | 1);
        eventRing = alloc(eventTrbs * 16L, 64);
        erst = alloc(16, 64);
        w64(erst, eventRing);
        w32(erst + 8, eventTrbs);
        eventIndex = 0;
        eventCycle = true;
        backlog.clear();
        reg(IR0 + 0x08, 1);
        reg64(IR0 + 0x18, eventRing);
        reg64(IR0 + 0x10, erst);
        reg(IR0, Interrupter.IMAN_IE);
        reg(OP, XhciController.CMD_RS | XhciController.CMD_INTE);
    }

    /** The next event on the ring, or null; ERDP is advanced (EHB cleared). */
    Trb pollEvent() {
        return pollEvent(Interrupter.ERDP_EHB);
    }

    /** The next event on the ring, or null; ERDP is advanced with EHB written 0 (it stays as it is). */
    Trb pollEventKeepingEhb() {
        return pollEvent(0);
    }

    /** The next event on the ring, or null, without writing ERDP (a driver that falls behind). */
    Trb readEventOnly() {
        return pollEvent(-1);
    }

    /** ERDP to where the driver reads next, EHB cleared: it has taken every event it read. */
    void erdpToReader() {
        reg64(IR0 + 0x18, (eventRing + eventIndex * 16L) | Interrupter.ERDP_EHB);
    }

    /** @param ehb the EHB bit to write with ERDP, or -1 not to write ERDP */
    private Trb pollEvent(long ehb) {
        long at = eventRing + eventIndex * 16L;
        java.nio.ByteBuffer trb = java.nio.ByteBuffer.wrap(platform.read(at, 16)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int control = trb.getInt(12);
        if (((control & 1) != 0) != eventCycle) return null;
        Trb t = new Trb(trb.getLong(0), trb.getInt(8), control, at);
        if (++eventIndex == eventTrbs) {
            eventIndex = 0;
            eventCycle = !eventCycle;
        }
        if (ehb != -1) reg64(IR0 + 0x18, (eventRing + eventIndex * 16L) | ehb);
        return t;
    }

    /** Reads every event posted so far into the backlog and returns a copy of it. */
    List<Trb> events() {
        for (Trb t; (t = pollEvent()) != null; ) backlog.add(t);
        return List.copyOf(backlog);
    }

    /** Takes the first event matching {@code p}, waiting up to {@link #patienceNanos} for it. */
    Trb await(Predicate<Trb> p) {
        long deadline = System.nanoTime() + patienceNanos;
        while (true) {
            events();
            for (Iterator<Trb> it = backlog.iterator(); it.hasNext(); ) {
                Trb t = it.next();
                if (p.test(t)) {
                    it.remove();
                    return t;
                }
            }
            if (System.nanoTime() - deadline > 0) throw new AssertionError("no such event; have " + backlog);
            LockSupport.parkNanos(100_000);
        }
    }

    /** Takes the first event matching {@code p} if there is one now, else null. */
    Trb take(Predicate<Trb> p) {
        events();
        for (Iterator<Trb> it = backlog.iterator(); it.hasNext(); ) {
            Trb t = it.next();
            if (p.test(t)) {
                it.remove();
                return t;
            }
        }
        return null;
    }

    static int code(Trb event) { return event.status() >>> 24; }

    static int residual(Trb event) { return event.status() & 0xFF_FFFF; }

    /** Queues a command, rings doorbell 0 and returns its Command Completion Event. */
    Trb command(int type, long parameter, int control) {
        long at = commands.push(parameter, 0, control | type << 10);
        reg(DB, 0);
        return await(e -> e.type() == Trb.COMMAND_COMPLETION_EVENT && e.parameter() == at);
    }

    /** Enable Slot; returns the slot id (asserting success). */
    int enableSlot() {
        Trb e = command(Trb.ENABLE_SLOT, 0, 0);
        if (code(e) != CompletionCode.SUCCESS) throw new AssertionError("Enable Slot: " + code(e));
        return e.slotId();
    }

    /** A device bound to a slot: its output context, input context and rings by DCI. */
    final class Device {
        final int slot;
        final long output;
        final long input;
        final Ring[] rings = new Ring[32];

        Device(int slot) {
            this.slot = slot;
            output = alloc(32L * ctx, 64);
            input = alloc(33L * ctx, 64);
            w64(dcbaa + 8L * slot, output);
        }

        long inputSlot() { return input + ctx; }

        long inputEndpoint(int dci) { return input + (long) (dci + 1) * ctx; }

        long outputEndpoint(int dci) { return output + (long) dci * ctx; }

        int slotState() { return r32(output + 12) >>> 27; }

        int address() { return r32(output + 12) & 0xFF; }

        int endpointState(int dci) { return r32(outputEndpoint(dci)) & 7; }

        long endpointDequeue(int dci) { return r64(outputEndpoint(dci) + 8); }
    }

    /** Enable Slot, and a Device with its contexts in RAM and in the DCBAA. */
    Device newDevice() {
        lastDevice = new Device(enableSlot());
        return lastDevice;
    }

    /** The device {@link #newDevice} made last. */
    Device lastDevice;

    /** Fills the input context for Address Device (slot + EP0) and issues the command. */
    Trb address(Device d, int port, UsbSpeed speed, boolean bsr) {
        platform.write(d.input, new byte[33 * ctx]);
        w32(d.input + 4, 3);                                       // A0, A1
        w32(d.inputSlot(), speed.xhciSpeedId << 20 | 1 << 27);     // speed, Context Entries 1
        w32(d.inputSlot() + 4, port << 16);                        // Root Hub Port Number
        d.rings[1] = new Ring(16);
        int mps = speed.superSpeed() ? 512 : speed.controlMaxPacket;
        w32(d.inputEndpoint(1) + 4, mps << 16 | 4 << 3 | 3 << 1);  // MPS, control, CErr 3
        w64(d.inputEndpoint(1) + 8, d.rings[1].pointer());
        w32(d.inputEndpoint(1) + 16, 8);
        return command(Trb.ADDRESS_DEVICE, d.input, d.slot << 24 | (bsr ? Trb.BSR : 0));
    }

    /** An endpoint to add with Configure Endpoint. */
    record EndpointSpec(int dci, int type, int maxPacket) { }

    /** Configure Endpoint adding {@code eps} (fresh rings); returns the completion. */
    Trb configure(Device d, EndpointSpec... eps) {
        platform.write(d.input, new byte[33 * ctx]);
        int add = 1;
        int last = 1;
        for (EndpointSpec e : eps) {
            add |= 1 << e.dci();
            last = Math.max(last, e.dci());
            d.rings[e.dci()] = new Ring(16);
            w32(d.inputEndpoint(e.dci()) + 4, e.maxPacket() << 16 | e.type() << 3 | 3 << 1);
            w64(d.inputEndpoint(e.dci()) + 8, d.rings[e.dci()].pointer());
            w32(d.inputEndpoint(e.dci()) + 16, e.maxPacket());
        }
        w32(d.input + 4, add);
        w32(d.inputSlot(), last << 27);
        return command(Trb.CONFIGURE_ENDPOINT, d.input, d.slot << 24);
    }

    void doorbell(Device d, int dci) { reg(DB + 4 * d.slot, dci); }

    static boolean transferEventFor(Trb e, long trbAddress) {
        return e.type() == Trb.TRANSFER_EVENT && e.parameter() == trbAddress;
    }

    /** Little-endian SETUP bytes as a Setup Stage TRB carries them. */
    static long setup(int requestType, int request, int value, int index, int length) {
        return (requestType & 0xFFL) | (request & 0xFFL) << 8 | (value & 0xFFFFL) << 16 | (index & 0xFFFFL) << 32 | (length & 0xFFFFL) << 48;
    }

    /**
     * A control transfer on EP0: Setup, Data (if {@code length} > 0, at {@code buffer}, ISP), Status
     * with IOC. Returns the Status TRB's address (or the Data TRB's for a short IN answer).
     */
    long[] control(Device d, long setup, long buffer, int length, boolean in) {
        Ring r = d.rings[1];
        int trt = length == 0 ? 0 : in ? 3 : 2;
        long setupAt = r.push(setup, 8, Trb.SETUP << 10 | Trb.IDT | trt << 16);
        long dataAt = 0;
        if (length > 0) dataAt = r.push(buffer, length, Trb.DATA << 10 | Trb.ISP | (in ? Trb.DATA_IN : 0));
        long statusAt = r.push(0, 0, Trb.STATUS << 10 | Trb.IOC | (in && length > 0 ? 0 : Trb.DATA_IN));
        doorbell(d, 1);
        return new long[] {setupAt, dataAt, statusAt};
    }

    byte[] read(long gpa, int len) {
        return platform.read(gpa, len);
    }
}
