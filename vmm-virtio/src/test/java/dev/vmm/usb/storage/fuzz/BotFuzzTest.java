package dev.vmm.usb.storage.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.block.TestDisk;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.storage.UsbStorage;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Jazzer target for usb-storage as a hostile host drives it: CBWs (well-formed or not, any CDB),
 * data packets of any size in any phase, the class requests, halts and resets. The disk runs inline
 * (a direct executor) so a run is deterministic. Findings: an exception out of the device, a
 * packet completed twice or with more bytes than its buffer, a CSW that is not 13 bytes with the
 * right signature, a pending packet left after detach. Without JAZZER_FUZZ the seed corpus under
 * src/test/resources replays; {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-virtio -am test -Dtest=BotFuzzTest} fuzzes.
 */
class BotFuzzTest {
    /** A 64 KiB RAM disk. */
    static final class Ram implements TestDisk {
        final byte[] data = new byte[65536];
        public long size() { return data.length; }
        public boolean readOnly() { return false; }
        public void read(long off, MemorySegment dst) { MemorySegment.copy(MemorySegment.ofArray(data), off, dst, 0, dst.byteSize()); }
        public void write(long off, MemorySegment src) { MemorySegment.copy(src, 0, MemorySegment.ofArray(data), off, src.byteSize()); }
        public void flush() { }
        public void discard(long off, long len) { }
        public void writeZeroes(long off, long len, boolean mayUnmap) { java.util.Arrays.fill(data, (int) off, (int) (off + len), (byte) 0); }
    }

    @FuzzTest(maxDuration = "60s")
    void bot(FuzzedDataProvider in) {
        UsbStorage dev = new UsbStorage(new ScsiTarget(List.of(new ScsiDisk(new Ram(), ScsiDisk.Config.of("F")))), Runnable::run,
                in.consumeBoolean() ? UsbSpeed.SUPER : UsbSpeed.HIGH, "VMM000000000001");
        dev.attach(new dev.vmm.usb.UsbPort() {
            public int number() { return 1; }
            public void wakeup(int endpoint) { }
        });
        List<UsbPacket> all = new ArrayList<>();
        AtomicInteger twice = new AtomicInteger();
        control(dev, all, twice, 0, UsbSetup.SET_ADDRESS, 1, 0, 0);
        control(dev, all, twice, 0, UsbSetup.SET_CONFIGURATION, 1, 0, 0);
        for (int step = 0; step < 48 && in.remainingBytes() > 0; step++) {
            switch (in.consumeInt(0, 6)) {
                case 0, 1 -> {
                    // A CBW: mostly well-formed so the later phases are reached.
                    byte[] cdb = in.consumeBytes(in.consumeInt(1, 16));
                    byte[] cbw = new byte[31];
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(cbw).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                    b.putInt(in.consumeBoolean() ? 0x43425355 : in.consumeInt()).putInt(step).putInt(in.consumeInt(0, 70000))
                            .put(in.consumeBoolean() ? (byte) 0x80 : 0).put((byte) in.consumeInt(0, 2)).put((byte) Math.max(1, cdb.length)).put(cdb);
                    all.add(packet(dev, 2, false, in.consumeBoolean() ? cbw : java.util.Arrays.copyOf(cbw, in.consumeInt(0, 40)), twice));
                }
                case 2 -> all.add(packet(dev, in.consumeInt(1, 3), true, new byte[in.consumeInt(0, 5000)], twice));
                case 3 -> all.add(packet(dev, 2, false, in.consumeBytes(in.consumeInt(0, 5000)), twice));
                case 4 -> control(dev, all, twice, in.consumeInt(0, 255), in.consumeInt(0, 255), in.consumeInt(0, 0xffff),
                        in.consumeInt(0, 0xffff), in.consumeInt(0, 300));
                case 5 -> control(dev, all, twice, 0x21, 0xff, 0, 0, 0); // Bulk-Only reset
                default -> {
                    control(dev, all, twice, 0x02, UsbSetup.CLEAR_FEATURE, 0, 0x81, 0);
                    control(dev, all, twice, 0x02, UsbSetup.CLEAR_FEATURE, 0, 0x02, 0);
                }
            }
        }
        dev.detach();
        for (UsbPacket p : all) {
            if (!p.completed()) throw new IllegalStateException("pending after detach: " + p);
            if (p.in() && p.endpoint() == 1 && p.status() == UsbPacket.Status.SUCCESS && p.actualLength() == 13
                    && (p.data()[0] & 0xff) == 0x55 && p.data()[1] == 0x53 && p.data()[12] > 2) {
                throw new IllegalStateException("CSW status " + p.data()[12]);
            }
        }
        if (twice.get() > 0) throw new IllegalStateException("a packet completed twice");
    }

    private static UsbPacket packet(UsbStorage dev, int ep, boolean in, byte[] data, AtomicInteger twice) {
        boolean[] done = {false};
        UsbPacket p = new UsbPacket(ep, in, null, data, q -> {
            if (done[0]) twice.incrementAndGet();
            done[0] = true;
        });
        dev.handle(p);
        return p;
    }

    private static void control(UsbStorage dev, List<UsbPacket> all, AtomicInteger twice, int rt, int req, int value, int index, int length) {
        UsbSetup s = new UsbSetup(rt, req, value, index, length);
        UsbPacket p = new UsbPacket(0, s.in(), s, new byte[length], q -> { });
        dev.handle(p);
        all.add(p);
        if (!p.completed()) throw new IllegalStateException("control transfer left pending: " + s);
        if (p.actualLength() > length) throw new IllegalStateException("answer longer than wLength: " + s);
    }
}
