package dev.vmm.virtio.console;

import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.queue.SplitQueue;
import dev.vmm.virtio.queue.TestRings;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A fake guest virtio_console driver over {@link TestRings}: sets up every queue, and speaks the
 * control protocol the way Linux does (DEVICE_READY, PORT_READY on DEVICE_ADD, PORT_OPEN on
 * CONSOLE_PORT). Used from the test thread only; the device may run passes on other threads.
 */
final class ConsoleGuest implements AutoCloseable {
    static final long RAM = 0x100000;
    static final int QSIZE = 16;

    record Msg(int id, int event, int value, byte[] extra) {
        String extraString() { return new String(extra, StandardCharsets.UTF_8); }

        @Override
        public String toString() {
            String data = event == ConsoleControl.Event.RESIZE.code() && extra.length == 4
                    ? "," + ((extra[0] & 0xFF) | (extra[1] & 0xFF) << 8) + " rows " + ((extra[2] & 0xFF) | (extra[3] & 0xFF) << 8) + " cols"
                    : extra.length > 0 ? "," + extraString() : "";
            return ConsoleControl.eventName(event) + "(" + id + "," + value + data + ")";
        }
    }

    final TestRings rings = new TestRings(RAM, 0x200000);
    VirtioConsole device;
    final TestRings.Driver[] drivers;
    final SplitQueue[] queues;
    final Map<Integer, Long>[] buffers;     // per queue: head -> buffer address (receive queues)
    final Irq irq = new Irq();
    final List<Msg> received = new ArrayList<>();
    final Map<Integer, String> names = new HashMap<>();
    final Map<Integer, Boolean> hostOpen = new HashMap<>();
    final List<Integer> consolePorts = new ArrayList<>();
    final List<Integer> removed = new ArrayList<>();

    @SuppressWarnings("unchecked")
    ConsoleGuest(VirtioConsole device) {
        this.device = device;
        int n = device.queueCount();
        drivers = new TestRings.Driver[n];
        queues = new SplitQueue[n];
        buffers = new Map[n];
        for (int q = 0; q < n; q++) {
            drivers[q] = rings.queue(QSIZE);
            queues[q] = drivers[q].configure(new SplitQueue(device.queueMaxSize(q)));
            buffers[q] = new HashMap<>();
        }
    }

    static int rx(int port) { return port == 0 ? 0 : 2 * port + 2; }

    static int tx(int port) { return port == 0 ? 1 : 2 * port + 3; }

    void activate(long features) throws Exception {
        for (SplitQueue q : queues) q.activate(rings.memory());
        device.activate(rings.memory(), features, List.of(queues), irq);
    }

    void activateMultiport() throws Exception {
        activate(device.deviceFeatures());
    }

    /**
     * The restore half of a snapshot round trip, as the transport does it: {@code next} loads
     * {@code state} and is activated (all features) over queues on the same rings at the old
     * positions, next-available moved back by {@code rewind}. The old device is left to the caller.
     */
    void restoreInto(VirtioConsole next, int version, byte[] state, int[] rewind) throws Exception {
        next.loadState(version, state);
        for (int q = 0; q < queues.length; q++) {
            SplitQueue old = queues[q];
            SplitQueue sq = drivers[q].configure(new SplitQueue(next.queueMaxSize(q)));
            sq.setNextAvail((old.nextAvail() - rewind[q]) & 0xFFFF);
            sq.setNextUsed(old.nextUsed());
            sq.activate(rings.memory());
            queues[q] = sq;
        }
        device = next;
        next.activate(rings.memory(), next.deviceFeatures(), List.of(queues), irq);
    }

    /** Posts {@code count} device-writable buffers of {@code size} bytes on queue {@code q}. */
    void post(int q, int count, int size) {
        for (int i = 0; i < count; i++) {
            long addr = rings.alloc(size, 8);
            buffers[q].put(drivers[q].addWritable(addr, size), addr);
        }
    }

    void sendControl(int id, ConsoleControl.Event event, int value) {
        sendControl(id, event.code(), value);
    }

    void sendControl(int id, int event, int value) {
        byte[] msg = ConsoleControl.message(id, event, value);
        long addr = rings.alloc(msg.length, 8);
        rings.memory().write(addr, msg);
        drivers[3].addReadable(addr, msg.length);
        device.queueNotify(3);
    }

    /** Guest writes {@code data} to a port. */
    int write(int port, byte[] data) {
        long addr = rings.alloc(data.length, 8);
        rings.memory().write(addr, data);
        int head = drivers[tx(port)].addReadable(addr, data.length);
        device.queueNotify(tx(port));
        return head;
    }

    /** Bytes delivered so far into receive queue {@code q}'s used buffers. */
    byte[] readUsed(int q) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        TestRings.Used u;
        while ((u = drivers[q].pollUsed()) != null) {
            long addr = buffers[q].remove(u.id());
            byte[] b = new byte[u.len()];
            rings.memory().read(addr, b, 0, b.length);
            out.writeBytes(b);
        }
        return out.toByteArray();
    }

    /** Control messages the device delivered since the last call (re-posting their buffers). */
    List<Msg> control() {
        List<Msg> out = new ArrayList<>();
        TestRings.Used u;
        while ((u = drivers[2].pollUsed()) != null) {
            long addr = buffers[2].remove(u.id());
            byte[] b = new byte[u.len()];
            rings.memory().read(addr, b, 0, b.length);
            ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
            byte[] extra = new byte[b.length - 8];
            System.arraycopy(b, 8, extra, 0, extra.length);
            out.add(new Msg(bb.getInt(0), Short.toUnsignedInt(bb.getShort(4)), Short.toUnsignedInt(bb.getShort(6)), extra));
            post(2, 1, 128);
        }
        device.queueNotify(2);
        received.addAll(out);
        return out;
    }

    /** Reacts to control messages as Linux's driver does, until the device is quiet; returns them all. */
    List<Msg> runDriver() {
        List<Msg> all = new ArrayList<>();
        for (List<Msg> batch = control(); !batch.isEmpty(); batch = control()) {
            all.addAll(batch);
            for (Msg m : batch) {
                switch (ConsoleControl.Event.of(m.event())) {
                    case DEVICE_ADD -> {
                        post(rx(m.id()), 4, 64);
                        sendControl(m.id(), ConsoleControl.Event.PORT_READY, 1);
                    }
                    case CONSOLE_PORT -> {
                        consolePorts.add(m.id());
                        sendControl(m.id(), ConsoleControl.Event.PORT_OPEN, 1);
                    }
                    case PORT_NAME -> names.put(m.id(), m.extraString());
                    case PORT_OPEN -> hostOpen.put(m.id(), m.value() == 1);
                    case DEVICE_REMOVE -> removed.add(m.id());
                    case null, default -> { }
                }
            }
        }
        return all;
    }

    /** Probe as Linux does: post control buffers, DEVICE_READY, then follow the conversation. */
    List<Msg> handshake() throws Exception {
        activateMultiport();
        post(2, 8, 128);
        device.queueNotify(2);
        sendControl(0, ConsoleControl.Event.DEVICE_READY, 1);
        return runDriver();
    }

    @Override
    public void close() {
        device.close();
        rings.close();
    }

    static final class Irq implements VirtioInterrupt {
        final List<Integer> used = new ArrayList<>();
        final List<String> needsReset = new ArrayList<>();
        int configChanges;

        @Override public synchronized void signalUsedBuffer(int queueIndex) { used.add(queueIndex); }

        @Override public synchronized void signalConfigChange() { configChanges++; }

        @Override public synchronized void deviceNeedsReset(String reason) { needsReset.add(reason); }

        synchronized List<String> needsReset() { return List.copyOf(needsReset); }
    }
}
