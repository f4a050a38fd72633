package dev.vmm.usb.hid;

import dev.vmm.input.InputHandler;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.UsbStateException;
import dev.vmm.usb.device.Descriptors;
import dev.vmm.usb.device.StandardUsbDevice;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * A USB HID device (HID 1.11) with one interface and one interrupt IN endpoint (0x81): the HID
 * descriptor, its report descriptor, the class requests GET_REPORT, SET_REPORT, GET_IDLE, SET_IDLE,
 * GET_PROTOCOL, SET_PROTOCOL, and the reports themselves. A high-speed USB 2.0 device that can also
 * run at full speed, as QEMU's HID devices.
 *
 * <p>Reports: each input frame ({@link InputHandler#sync}) makes one report; it goes at once to a
 * waiting interrupt IN packet, else into a bounded {@link ReportQueue} (and the port is told, for
 * remote wake-up). An interrupt IN with nothing to report waits (NAK).
 *
 * <p>Idle rate (HID 1.11 §7.2.4, {@link IdleRate}): with a non-zero duration the current report is
 * sent again when nothing changed for duration × 4 ms. The device owns no timer: it asks its port
 * for a {@link #poll} at the deadline ({@link dev.vmm.usb.UsbPort#pollAt}, the controller's clock),
 * and an interrupt IN arriving after the deadline gets the report at once.
 */
public abstract class HidDevice extends StandardUsbDevice implements InputHandler {
    static final int GET_REPORT = 0x01, GET_IDLE = 0x02, GET_PROTOCOL = 0x03, SET_REPORT = 0x09,
            SET_IDLE = 0x0a, SET_PROTOCOL = 0x0b;
    static final int HID_DESCRIPTOR = 0x21, REPORT_DESCRIPTOR = 0x22;
    static final int REPORT_INPUT = 1, REPORT_OUTPUT = 2;
    /** Reports kept for a host that is not polling. */
    static final int QUEUE_CAPACITY = 16;

    private final int subClass, protocol;
    private final String product;
    private final byte[] reportDescriptor;
    private final ReportQueue queue = new ReportQueue(QUEUE_CAPACITY);
    private final ArrayDeque<UsbPacket> waiting = new ArrayDeque<>();
    private final IdleRate idle = new IdleRate();
    /** 1 = report protocol (the default after reset), 0 = boot protocol. */
    private int reportProtocol = 1;

    /**
     * @param product          the iProduct string
     * @param reportDescriptor the report descriptor (HID 1.11 §6.2.2)
     */
    protected HidDevice(String productName, int subClass, int protocol, String product, byte[] reportDescriptor) {
        super(UsbSpeed.HIGH, productName);
        this.subClass = subClass;
        this.protocol = protocol;
        this.product = product;
        this.reportDescriptor = reportDescriptor.clone();
    }

    private byte[] reportDescriptor() { return reportDescriptor.clone(); }

    @Override
    protected List<String> strings() {
        return List.of("VMM", product, "42");
    }

    /** The current input report, as GET_REPORT(Input) answers and the interrupt endpoint sends. */
    protected abstract byte[] currentReport(boolean bootProtocol);

    /** An output report from the host (keyboard LEDs); false refuses it. */
    protected boolean outputReport(byte[] data) { return false; }

    /** Back to the idle state after a reset (keys released, pointer kept). */
    protected abstract void resetInput();

    /** wMaxPacketSize of the interrupt IN endpoint (QEMU's tablet and keyboard say 8, its mouse 4: its report's size). */
    protected int interruptMaxPacket() { return 8; }

    /**
     * bInterval of the interrupt IN endpoint at high speed: 2^(n-1) microframes. 7 (8 ms) as QEMU's
     * keyboard and mouse; its tablet says 4 (1 ms), {@code HidXhciQemuOracleTest} compares.
     */
    protected int highSpeedInterval() { return 7; }

    /**
     * Whether {@code report} carries relative data (motion since the last report, a wheel step):
     * an equal report queued after it is then a second movement, sent too, not a repeat of the
     * same state to drop. The usb-mouse's reports always do; a tablet's only with a wheel step.
     */
    protected boolean relative(byte[] report) { return false; }

    /** Whether a report replacing the previous queued one loses nothing a host must see (pure motion). */
    protected boolean coalescable(byte[] previous, byte[] next) { return false; }

    /** USB 2.0, vendor/product 0627h/0001h as QEMU's HID devices (guests' quirk tables know them). */
    @Override
    protected Descriptors.Identity identity() {
        return new Descriptors.Identity(0x0200, 0, 0, 0, 0x0627, 0x0001, 0x0000, 1, 2, 3);
    }

    @Override
    protected UsbSpeed otherSpeed() { return UsbSpeed.FULL; }

    @Override
    protected Descriptors.Configuration configuration(UsbSpeed speed) {
        // Interrupt interval: full speed counts frames (10 = 10 ms); high speed 2^(n-1) microframes.
        int interval = speed == UsbSpeed.HIGH ? highSpeedInterval() : 10;
        Descriptors.Endpoint in = new Descriptors.Endpoint(0x81, Descriptors.EP_INTERRUPT, interruptMaxPacket(), interval, null);
        Descriptors.Interface i = new Descriptors.Interface(0, 3, subClass, protocol, 0, hidDescriptor(), List.of(in));
        // Bus-powered (100 mA) with remote wake-up, as QEMU's HID devices (HidQemuOracleTest compares).
        return new Descriptors.Configuration(1, 0, 0x20, 50, List.of(i));
    }

    /**
     * HID descriptor (HID 1.11 §6.2.1): version 1.11, no country, one report descriptor. (QEMU's
     * tablet and mouse say bcdHID 0x0001, which is no HID version; its keyboard says 1.11.)
     */
    private byte[] hidDescriptor() {
        int n = reportDescriptor().length;
        return new byte[] {9, HID_DESCRIPTOR, 0x11, 0x01, 0, 1, REPORT_DESCRIPTOR, (byte) n, (byte) (n >>> 8)};
    }

    @Override
    protected boolean classRequest(UsbSetup s, UsbPacket p) {
        if (s.recipient() != UsbSetup.RECIPIENT_INTERFACE || (s.index() & 0xff) != 0 || (s.index() >>> 8) != 0) return false;
        if (s.type() == UsbSetup.TYPE_STANDARD) {
            if (s.request() != UsbSetup.GET_DESCRIPTOR || !s.in()) return false;
            int type = s.value() >>> 8;
            if (type == REPORT_DESCRIPTOR) return reply(p, reportDescriptor());
            if (type == HID_DESCRIPTOR) return reply(p, hidDescriptor());
            return false;
        }
        if (s.type() != UsbSetup.TYPE_CLASS) return false;
        synchronized (this) {
            if (state() != dev.vmm.usb.device.UsbDeviceState.CONFIGURED) return false;
            return switch (s.request()) {
                case GET_REPORT -> s.in() && (s.value() >>> 8) == REPORT_INPUT && reply(p, currentReport(reportProtocol == 0));
                case SET_REPORT -> !s.in() && (s.value() >>> 8) == REPORT_OUTPUT
                        && outputReport(java.util.Arrays.copyOf(p.data(), Math.min(p.data().length, s.length()))) && ok(p);
                case GET_IDLE -> s.in() && reply(p, new byte[] {(byte) idle.get(s.value() & 0xff)});
                case SET_IDLE -> !s.in() && s.length() == 0 && setIdle(s.value() & 0xff, s.value() >>> 8) && ok(p);
                case GET_PROTOCOL -> s.in() && s.value() == 0 && reply(p, new byte[] {(byte) reportProtocol});
                case SET_PROTOCOL -> !s.in() && s.length() == 0 && s.value() <= 1 && setProtocol(s.value()) && ok(p);
                default -> false;
            };
        }
    }

    /** Called under the device's lock; asking the port for a poll is allowed there (it takes no lock). */
    private boolean setIdle(int reportId, int duration) {
        idle.set(reportId, duration, nanoTime());
        armIdle();
        return true;
    }

    private void armIdle() {
        if (idle.deadline() != IdleRate.NONE) pollAt(idle.deadline());
    }

    private boolean setProtocol(int p) {
        reportProtocol = p;
        return true;
    }

    @Override
    protected void dataTransfer(UsbPacket p, Descriptors.Endpoint ep) {
        synchronized (this) {
            long now = nanoTime();
            byte[] r = queue.poll();
            if (r == null && idle.due(now)) r = currentReport(reportProtocol == 0); // the idle report
            if (r == null) {
                waiting.addLast(p); // NAK: completed when a report exists or the idle period ends
                return;
            }
            sent(now);
            send(p, r);
        }
    }

    /** A report went to the host: the idle period starts again. Under the device's lock. */
    private void sent(long now) {
        idle.restart(now);
        armIdle();
    }

    /** The idle deadline may have come: a waiting interrupt IN gets the current report again. */
    @Override
    public void poll(long nowNanos) {
        UsbPacket p = null;
        byte[] r = null;
        synchronized (this) {
            if (state() != dev.vmm.usb.device.UsbDeviceState.CONFIGURED) return;
            if (idle.due(nowNanos) && queue.isEmpty() && !waiting.isEmpty()) {
                p = waiting.pollFirst();
                r = currentReport(reportProtocol == 0);
                sent(nowNanos);
            } else if (!idle.due(nowNanos)) {
                armIdle(); // early or merged poll: ask again for the deadline still ahead
            } // else due with no packet waiting: the next interrupt IN gets the report at once (no busy re-polling)
        }
        if (p != null) send(p, r); // outside the lock: completion takes the controller's lock
    }

    private static void send(UsbPacket p, byte[] report) {
        int n = Math.min(report.length, p.data().length);
        System.arraycopy(report, 0, p.data(), 0, n);
        p.complete(n < report.length ? UsbPacket.Status.BABBLE : UsbPacket.Status.SUCCESS, n);
    }

    /** Makes a report of the current state; called by the subclass after its state changed (outside its lock). */
    protected final void reportChanged() {
        UsbPacket p;
        byte[] r;
        synchronized (this) {
            if (state() != dev.vmm.usb.device.UsbDeviceState.CONFIGURED) return; // nobody listens yet
            r = currentReport(reportProtocol == 0);
            p = waiting.pollFirst();
            if (p != null) sent(nanoTime());
            if (p == null) {
                byte[] last = lastQueued;
                queue.offer(r, last != null && !queue.isEmpty() && coalescable(last, r), !relative(r));
                lastQueued = r;
            }
        }
        if (p != null) send(p, r); // outside the lock: completion takes the controller's lock
        else wakeup(1);
    }

    private byte[] lastQueued;

    /** Reports waiting for the host (for tests and statistics). */
    public synchronized int queuedReports() { return queue.size(); }

    @Override
    public void cancel(UsbPacket packet) {
        synchronized (this) {
            waiting.remove(packet);
        }
        super.cancel(packet);
    }

    // ---- state for snapshots and migration (packets waiting for a report are not state: the
    // controller hands their TD over again after a restore)

    /** The input state behind the reports (position, buttons, keys, LEDs). */
    protected abstract void saveInput(DataOutputStream out) throws IOException;

    /** Reads and checks the input state; returns what applies it. */
    protected abstract Runnable loadInput(DataInputStream in) throws IOException;

    @Override
    protected final void saveFunction(DataOutputStream out) throws IOException {
        out.writeByte(idle.get(0));
        out.writeByte(reportProtocol);
        List<byte[]> reports = queue.contents();
        out.writeByte(reports.size());
        for (byte[] r : reports) writeReport(out, r);
        out.writeBoolean(lastQueued != null);
        if (lastQueued != null) writeReport(out, lastQueued);
        saveInput(out);
        idle.saveExtra(out, nanoTime());
    }

    /** 2: the idle rates of other report ids and the time left to the next idle report follow the input state. */
    @Override
    public int stateVersion() { return 2; }

    @Override
    protected final Runnable loadFunction(DataInputStream in, int version) throws IOException {
        int idleRate = in.readUnsignedByte();
        int proto = (int) UsbStateException.check(productName() + ": HID protocol", in.readUnsignedByte(), 0, 1);
        int n = (int) UsbStateException.check(productName() + ": queued reports", in.readUnsignedByte(), 0, QUEUE_CAPACITY);
        List<byte[]> reports = new ArrayList<>();
        for (int i = 0; i < n; i++) reports.add(readReport(in));
        byte[] last = in.readBoolean() ? readReport(in) : null;
        Runnable input = loadInput(in);
        IdleRate.Saved idleSaved = version >= 2 ? IdleRate.readV2(productName(), idleRate, in) : IdleRate.readV1(idleRate);
        return () -> {
            idle.apply(idleSaved, nanoTime());
            armIdle();
            reportProtocol = proto;
            queue.clear();
            for (byte[] r : reports) queue.offer(r, false, false);
            lastQueued = last;
            input.run();
        };
    }

    private static void writeReport(DataOutputStream out, byte[] r) throws IOException {
        out.writeByte(r.length);
        out.write(r);
    }

    private byte[] readReport(DataInputStream in) throws IOException {
        int len = currentReport(false).length;
        UsbStateException.check(productName() + ": report length", in.readUnsignedByte(), len, len);
        byte[] r = new byte[len];
        in.readFully(r);
        return r;
    }

    @Override
    protected void resetFunction() {
        List<UsbPacket> cancelled;
        synchronized (this) {
            cancelled = new ArrayList<>(waiting);
            waiting.clear();
            queue.clear();
            lastQueued = null;
            idle.reset();
            reportProtocol = 1;
            resetInput();
        }
        for (UsbPacket p : cancelled) p.complete(UsbPacket.Status.CANCELLED, 0);
    }
}
