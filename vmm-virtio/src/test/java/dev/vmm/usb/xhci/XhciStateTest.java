package dev.vmm.usb.xhci;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.input.InputEvent;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbStateException;
import dev.vmm.usb.hid.UsbTablet;
import dev.vmm.usb.storage.UsbStorage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static dev.vmm.usb.xhci.XhciDriver.setup;
import static dev.vmm.usb.xhci.XhciDriver.transferEventFor;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The controller's and its devices' state through a save and a restore into a fresh controller
 * with fresh devices (what a snapshot or a migration does): a Java xHCI driver enumerates a
 * usb-tablet and a usb-storage (over a raw image through the block layer), runs BOT commands and
 * tablet reports, and is stopped mid-run — a tablet interrupt TD held by the device (NAK), the
 * storage in the middle of a READ(10)'s data-in phase. The state and the RAM are carried into a
 * second controller; the driver goes on there. What it sees afterwards (every event, every byte
 * read, the image file) must equal what a run without the save sees.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class XhciStateTest {
    private static final int DISK = 1 << 20;
    private static final int TABLET_IN = 3, STORAGE_IN = 3, STORAGE_OUT = 4;

    @TempDir
    Path dir;
    private final ExecutorService pool = Executors.newFixedThreadPool(2, r -> new Thread(r, "test-usb-storage"));
    private final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        pool.shutdownNow();
        pool.awaitTermination(10, TimeUnit.SECONDS);
        for (AutoCloseable c : closing.reversed()) c.close();
    }

    /** A machine: a controller over its RAM, a tablet and a storage device plugged in that order. */
    private final class Machine {
        final XhciRig rig = new XhciRig();
        final UsbTablet tablet = new UsbTablet();
        final UsbStorage storage;
        final int tabletPort, storagePort;

        Machine(Path image, java.util.concurrent.Executor disk) throws IOException {
            closing.add(rig);
            BlockDevice block = Images.open(image, new Images.Options(false, ImageFormat.RAW, false, false));
            closing.add(block::close);
            storage = new UsbStorage(new ScsiTarget(List.of(new ScsiDisk(block, ScsiDisk.Config.of("USB0")))), disk,
                    dev.vmm.usb.UsbSpeed.SUPER, "VMM0000000000001");
            tabletPort = rig.hc.plug(tablet, 0);
            storagePort = rig.hc.plug(storage, 0);
        }

        Machine(Path image) throws IOException {
            this(image, pool);
        }

        byte[] save() throws IOException {
            try {
                assertThat(rig.hc.quiesce(TimeUnit.SECONDS.toNanos(5))).as("device still busy").isNull();
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                rig.hc.saveState(out);
            }
            return bytes.toByteArray();
        }

        void load(byte[] state) throws IOException {
            rig.hc.loadState(new DataInputStream(new ByteArrayInputStream(state)), XhciController.STATE_VERSION);
        }

        /** This machine's RAM becomes a copy of {@code from}'s (the snapshot's RAM sections). */
        void copyRamFrom(Machine from) {
            byte[] page = new byte[1 << 16];
            for (long at = 0; at < XhciRig.RAM_SIZE; at += page.length) {
                from.rig.ram.memory.read(at, page, 0, page.length);
                rig.ram.memory.write(at, page, 0, page.length);
            }
        }
    }

    /** The guest's side: its driver, its two devices as slots, and what it has seen. */
    private static final class Guest {
        final XhciDriver d;
        final List<String> seen = new ArrayList<>();
        XhciDriver.Device tablet, storage;
        long pendingTabletTrb, pendingTabletBuf;
        int tag = 1;

        Guest(XhciDriver d) {
            this.d = d;
            d.patienceNanos = XhciDriver.PATIENT;   // usb-storage completes its transfers on the block layer's thread
        }

        Trb awaitTransfer(long trb) {
            Trb e = d.await(ev -> transferEventFor(ev, trb));
            seen.add("event slot " + e.slotId() + " dci " + ((e.control() >>> 16) & 0x1F) + " code " + code(e)
                    + " residual " + XhciDriver.residual(e) + " at 0x" + Long.toHexString(e.parameter()));
            return e;
        }

        void control(XhciDriver.Device dev, long setupBytes) {
            long[] at = d.control(dev, setupBytes, 0, 0, false);
            assertThat(code(awaitTransfer(at[2]))).isEqualTo(CompletionCode.SUCCESS);
        }

        XhciDriver.Device enumerate(int port, dev.vmm.usb.UsbSpeed speed, XhciDriver.EndpointSpec... eps) {
            d.portsc(port, RootHubPort.PP | RootHubPort.CSC | RootHubPort.PR);
            d.await(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT && (e.parameter() >>> 24) == port);
            d.portsc(port, RootHubPort.PP | RootHubPort.PRC | RootHubPort.CSC);
            XhciDriver.Device dev = d.newDevice();
            assertThat(code(d.address(dev, port, speed, false))).isEqualTo(CompletionCode.SUCCESS);
            control(dev, setup(0, UsbSetup.SET_CONFIGURATION, 1, 0, 0));
            assertThat(code(d.configure(dev, eps))).isEqualTo(CompletionCode.SUCCESS);
            return dev;
        }

        /** Queues an interrupt IN TD on the tablet (the device holds it until it has a report). */
        void queueTabletTd() {
            pendingTabletBuf = d.alloc(8, 64);
            pendingTabletTrb = tablet.rings[TABLET_IN].push(pendingTabletBuf, 8, Trb.NORMAL << 10 | Trb.IOC | Trb.ISP);
            d.doorbell(tablet, TABLET_IN);
        }

        void tabletReport() {
            Trb e = awaitTransfer(pendingTabletTrb);
            seen.add("report " + hex(d.read(pendingTabletBuf, 8 - XhciDriver.residual(e))));
        }

        long bulk(int dci, long buf, int length) {
            long trb = storage.rings[dci].push(buf, length, Trb.NORMAL << 10 | Trb.IOC | Trb.ISP);
            d.doorbell(storage, dci);
            return trb;
        }

        /** Sends a CBW for {@code cdb} with {@code length} bytes of data in the given direction. */
        void cbw(byte[] cdb, int length, boolean in) {
            ByteBuffer b = ByteBuffer.allocate(31).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            b.putInt(0x43425355).putInt(tag++).putInt(length).put((byte) (in ? 0x80 : 0)).put((byte) 0).put((byte) cdb.length).put(cdb);
            long buf = d.alloc(31, 64);
            d.mem.write(buf, b.array(), 0, 31);
            assertThat(code(awaitTransfer(bulk(STORAGE_OUT, buf, 31)))).isEqualTo(CompletionCode.SUCCESS);
        }

        byte[] dataIn(int length) {
            long buf = d.alloc(length, 64);
            Trb e = awaitTransfer(bulk(STORAGE_IN, buf, length));
            byte[] data = d.read(buf, length - XhciDriver.residual(e));
            seen.add("data " + data.length + " bytes, crc " + crc(data));
            return data;
        }

        void dataOut(byte[] data) {
            long buf = d.alloc(data.length, 64);
            d.mem.write(buf, data, 0, data.length);
            awaitTransfer(bulk(STORAGE_OUT, buf, data.length));
        }

        void csw() {
            long buf = d.alloc(13, 64);
            Trb e = awaitTransfer(bulk(STORAGE_IN, buf, 13));
            assertThat(code(e)).isIn(CompletionCode.SUCCESS, CompletionCode.SHORT_PACKET);
            seen.add("csw " + hex(d.read(buf, 13)));
        }
    }

    private static byte[] rw10(int op, long lba, int blocks) {
        return new byte[] {(byte) op, 0, (byte) (lba >>> 24), (byte) (lba >>> 16), (byte) (lba >>> 8), (byte) lba, 0,
                (byte) (blocks >>> 8), (byte) blocks, 0};
    }

    private static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02x", x));
        return sb.toString();
    }

    private static long crc(byte[] b) {
        java.util.zip.CRC32C c = new java.util.zip.CRC32C();
        c.update(b);
        return c.getValue();
    }

    private Path image(String name) throws IOException {
        byte[] contents = new byte[DISK];
        new Random(20).nextBytes(contents);
        Path p = dir.resolve(name);
        Files.write(p, contents);
        return p;
    }

    /** Up to the save point: enumeration, a WRITE(10) and a READ(10), a report; then a TD held by each device's side. */
    private static Guest firstHalf(Machine m) {
        Guest g = new Guest(m.rig.driver);
        g.d.init(8);
        g.tablet = g.enumerate(m.tabletPort, m.tablet.speed(), new XhciDriver.EndpointSpec(TABLET_IN, 7, 8));
        g.storage = g.enumerate(m.storagePort, m.storage.speed(),
                new XhciDriver.EndpointSpec(STORAGE_IN, 6, 1024), new XhciDriver.EndpointSpec(STORAGE_OUT, 2, 1024));
        byte[] written = new byte[4096];
        new Random(1).nextBytes(written);
        g.cbw(rw10(0x2a, 16, 8), written.length, false);
        g.dataOut(written);
        g.csw();
        g.cbw(rw10(0x28, 16, 8), 4096, true);
        assertThat(g.dataIn(4096)).isEqualTo(written);
        g.csw();
        g.queueTabletTd();
        m.tablet.event(new InputEvent.Move(true, InputEvent.Axis.X, 0x1000));
        m.tablet.sync();
        g.tabletReport();
        // Mid-run: a tablet TD the device holds (nothing to report), a READ(10) half sent.
        g.queueTabletTd();
        g.cbw(rw10(0x28, 100, 8), 4096, true);
        g.dataIn(2048);
        return g;
    }

    /** After the save point: the rest of the READ, its CSW, a report into the held TD, one more WRITE/READ. */
    private static void secondHalf(Guest g, Machine m) {
        g.dataIn(2048);
        g.csw();
        m.tablet.event(new InputEvent.Move(true, InputEvent.Axis.Y, 0x2345));
        m.tablet.event(new InputEvent.Btn(InputEvent.Button.LEFT, true));
        m.tablet.sync();
        g.tabletReport();
        byte[] more = new byte[2048];
        new Random(2).nextBytes(more);
        g.cbw(rw10(0x2a, 40, 4), more.length, false);
        g.dataOut(more);
        g.csw();
        g.cbw(rw10(0x28, 40, 4), more.length, true);
        assertThat(g.dataIn(more.length)).isEqualTo(more);
        g.csw();
        g.cbw(new byte[] {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8, true);   // READ CAPACITY(10)
        g.dataIn(8);
        g.csw();
    }

    @Test
    void transfersAfterARestoreIntoAFreshControllerMatchAnUnsavedRun() throws IOException {
        // The reference: no save.
        Path plainImage = image("plain.img");
        Machine plain = new Machine(plainImage);
        Guest reference = firstHalf(plain);
        int mark = reference.seen.size();
        secondHalf(reference, plain);
        List<String> expected = reference.seen.subList(mark, reference.seen.size());

        // The same run saved at the mark and restored into a new controller with new devices.
        Path savedImage = image("saved.img");
        Machine source = new Machine(savedImage);
        Guest guest = firstHalf(source);
        assertThat(guest.seen.subList(0, mark)).isEqualTo(reference.seen.subList(0, mark));
        byte[] state = source.save();
        Machine destination = new Machine(savedImage);
        destination.copyRamFrom(source);
        destination.load(state);
        guest.d.rebind(destination.rig.hc, destination.rig.ram.memory);
        secondHalf(guest, destination);

        assertThat(guest.seen.subList(mark, guest.seen.size())).isEqualTo(expected);
        assertThat(Files.readAllBytes(savedImage)).isEqualTo(Files.readAllBytes(plainImage));
        // And the two controllers end in the same state, devices included.
        assertThat(destination.save()).isEqualTo(plain.save());
    }

    /** A state saved mid-run (as above) and a fresh machine to load it into. */
    private record Saved(byte[] state, Machine destination, Guest guest) { }

    private Saved savedMidRun() throws IOException {
        Path img = image("s.img");
        Machine source = new Machine(img);
        Guest g = firstHalf(source);
        byte[] state = source.save();
        Machine destination = new Machine(img);
        destination.copyRamFrom(source);
        return new Saved(state, destination, g);
    }

    private static byte[] withLong(byte[] state, long find, long replace) {
        ByteBuffer b = ByteBuffer.wrap(state.clone());
        for (int i = 0; i + 8 <= state.length; i++) {
            if (b.getLong(i) == find) {
                b.putLong(i, replace);
                return b.array();
            }
        }
        throw new AssertionError("0x" + Long.toHexString(find) + " not in the state");
    }

    @Test
    void hostileStatesAreRefusedWithAClearErrorAndTheControllerKeepsWorking() throws IOException {
        Saved s = savedMidRun();
        byte[] good = s.state();
        // Layout (XhciController.saveState): CSZ, USBCMD, USBSTS, DNCTRL, CRCR, DCBAAP, MaxSlotsEn, MFINDEX = 35
        // bytes, the command ring (10), then the port count.
        byte[] ports = good.clone();
        ports[45] = 9;
        assertThatThrownBy(() -> s.destination().load(ports)).isInstanceOf(UsbStateException.class)
                .hasMessage("root hub ports 9 is outside 8..8");
        // The storage's slot is saved last: id, state, port, context (8), interrupter (2), 3 endpoints of 14 bytes.
        int lastSlot = good.length - (1 + 1 + 1 + 8 + 2 + 1 + 3 * 14);
        assertThat(good[lastSlot] & 0xff).isEqualTo(s.guest().storage.slot);
        byte[] slotId = good.clone();
        slotId[lastSlot] = 65;
        assertThatThrownBy(() -> s.destination().load(slotId)).isInstanceOf(UsbStateException.class)
                .hasMessage("slot id 65 is outside 1..8");
        byte[] twice = good.clone();
        twice[lastSlot] = (byte) s.guest().tablet.slot;
        assertThatThrownBy(() -> s.destination().load(twice)).hasMessage("slot " + s.guest().tablet.slot + " saved twice");
        XhciDriver.Ring out = s.guest().storage.rings[STORAGE_OUT];
        long ring = out.base + out.enqueue * 16L;   // every TD on it was consumed
        byte[] outside = withLong(good, ring, XhciRig.RAM_SIZE + 0x1000);
        assertThatThrownBy(() -> s.destination().load(outside)).isInstanceOf(UsbStateException.class)
                .hasMessageContaining("transfer ring at 0x" + Long.toHexString(XhciRig.RAM_SIZE + 0x1000) + " is not in guest RAM");
        byte[] context = withLong(good, s.guest().storage.output, 0x7000_0000_0000L);
        assertThatThrownBy(() -> s.destination().load(context)).hasMessageContaining("output device context at 0x700000000000 is not in guest RAM");
        byte[] eventRing = withLong(good, s.guest().d.eventRing, XhciRig.RAM_SIZE - 0x40);
        assertThatThrownBy(() -> s.destination().load(eventRing)).hasMessageContaining("event ring segment 0 at 0x");
        byte[] truncated = java.util.Arrays.copyOf(good, good.length - 3);
        assertThatThrownBy(() -> s.destination().load(truncated)).isInstanceOf(java.io.EOFException.class);
        assertThatThrownBy(() -> s.destination().rig.hc.loadState(new DataInputStream(new ByteArrayInputStream(good)), 2))
                .hasMessage("qemu-xhci state version 2 (this VMM reads 1)");

        // Refused states changed nothing; the good one loads and the run goes on.
        s.destination().load(good);
        s.guest().d.rebind(s.destination().rig.hc, s.destination().rig.ram.memory);
        secondHalf(s.guest(), s.destination());
    }

    @Test
    void aMachineWithOtherDevicesIsRefused() throws IOException {
        Saved s = savedMidRun();
        XhciRig other = new XhciRig();
        closing.add(other);
        assertThatThrownBy(() -> other.hc.loadState(new DataInputStream(new ByteArrayInputStream(s.state())), 1))
                .isInstanceOf(UsbStateException.class)
                .hasMessageContaining("has a device in the state and none here: start with the same USB devices as the source");
        XhciRig wide = new XhciRig(true);
        closing.add(wide);
        assertThatThrownBy(() -> wide.hc.loadState(new DataInputStream(new ByteArrayInputStream(s.state())), 1))
                .hasMessage("the state has 32-byte contexts, this controller 64");
    }

    @Test
    void aDiskCommandInFlightIsDrainedBeforeTheSave() throws Exception {
        CountDownLatch gate = new CountDownLatch(1);
        Machine m = new Machine(image("d.img"), r -> pool.execute(() -> {
            try {
                gate.await();
            } catch (InterruptedException e) {
                return;
            }
            r.run();
        }));
        Guest g = new Guest(m.rig.driver);
        g.d.init(8);
        g.storage = g.enumerate(m.storagePort, m.storage.speed(),
                new XhciDriver.EndpointSpec(STORAGE_IN, 6, 1024), new XhciDriver.EndpointSpec(STORAGE_OUT, 2, 1024));
        g.cbw(rw10(0x28, 0, 1), 512, true);
        long buf = g.d.alloc(512, 64);
        long trb = g.bulk(STORAGE_IN, buf, 512);   // waits for the disk
        assertThat(m.rig.hc.quiesce(TimeUnit.MILLISECONDS.toNanos(50))).isEqualTo("usb-storage");
        assertThatThrownBy(() -> m.rig.hc.saveState(new DataOutputStream(OutputStream.nullOutputStream())))
                .hasMessage("usb-storage: a disk command is still running");
        gate.countDown();
        assertThat(m.rig.hc.quiesce(TimeUnit.SECONDS.toNanos(5))).isNull();
        // Drained: the data TD completed before the state was taken, and the state says "send the CSW next".
        assertThat(code(g.d.take(e -> transferEventFor(e, trb)))).isEqualTo(CompletionCode.SUCCESS);
        byte[] state = m.save();
        Machine restored = new Machine(image("d2.img"));
        restored.copyRamFrom(m);
        restored.load(state);
        g.d.rebind(restored.rig.hc, restored.rig.ram.memory);
        g.csw();
        assertThat(g.seen.getLast()).startsWith("csw 55534253");
    }
}
