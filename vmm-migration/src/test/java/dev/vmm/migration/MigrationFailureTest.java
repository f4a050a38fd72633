package dev.vmm.migration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Whatever goes wrong, the source keeps (or gets back) its running VM and the destination discards. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MigrationFailureTest extends FakeVmTest {
    private void assertRunningAgain() throws InterruptedException {
        assertThat(vm.running()).isTrue();
        long c = vm.counterNow();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (vm.counterNow() == c && System.nanoTime() < deadline) Thread.sleep(1);
        assertThat(vm.counterNow()).as("the vCPU makes progress").isGreaterThan(c);
        assertThat(vm.dirtyLog.stopped).isTrue();
    }

    @Test
    void destinationGoneMidwayFailsTheSourceWhichKeepsRunning() throws Exception {
        vm = new FakeVm(false, 32);
        vm.startMutator();
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new java.net.InetSocketAddress("127.0.0.1", 0), 1);
            // A destination that dies after 100 KiB.
            Thread killer = new Thread(() -> {
                try (SocketChannel ch = server.accept()) {
                    ByteBuffer b = ByteBuffer.allocate(100 * 1024);
                    while (b.hasRemaining() && ch.read(b) >= 0) { }
                } catch (IOException ignored) {
                }
            });
            killer.start();
            MigrationParameters params = new MigrationParameters().maxBandwidth(2L << 20); // slow: still sending
            MigrationSource source = new MigrationSource(vm.memory, vm.dirtyLog, vm, params, new MigrationCapabilities());
            source.start(SocketChannel.open(server.getLocalAddress()));
            assertThat(source.await(20, TimeUnit.SECONDS)).isTrue();
            killer.join();
            assertThat(source.status()).isEqualTo(MigrationStatus.FAILED);
            assertThat(source.stats().toMap()).containsEntry("status", "failed").containsKey("error-desc");
            assertThat(source.stats().errorDesc()).containsAnyOf("destination", "connection");
            assertThat(vm.pauses.get()).isZero();
            assertRunningAgain();
        }
    }

    @Test
    void destinationRefusingTheDeviceStateResumesTheSource() throws Exception {
        vm = new FakeVm(false, 32);
        target = new FakeVm.Target();
        target.refuseDeviceState = "counter out of range";
        vm.startMutator();
        MigrationSource source = new MigrationSource(vm.memory, vm.dirtyLog, vm, new MigrationParameters().maxBandwidth(0),
                new MigrationCapabilities().xbzrle(true));
        CompletableFuture<Throwable> dest = MigrationEngineTest.migrate(source, target, MigrationUri.parse("tcp:127.0.0.1:0"));
        assertThat(source.await(20, TimeUnit.SECONDS)).isTrue();
        Throwable destFailure = dest.get(10, TimeUnit.SECONDS);
        assertThat(destFailure).isInstanceOf(MigrationException.class).hasMessageContaining("counter out of range");
        assertThat(target.started).isFalse();
        assertThat(target.discarded).isNotNull();
        assertThat(source.status()).isEqualTo(MigrationStatus.FAILED);
        // The destination's own reason reaches the source (over the return path).
        assertThat(source.stats().errorDesc()).isEqualTo("destination failed: device state rejected: counter out of range");
        assertThat(vm.pauses.get()).isEqualTo(1);
        assertThat(vm.resumes.get()).isEqualTo(1);
        assertThat(vm.handOvers.get()).as("nothing handed over to a destination that refused").isZero();
        assertRunningAgain();
    }

    @Test
    void cancelStopsTheMigrationAndResumes() throws Exception {
        vm = new FakeVm(false, 32);
        target = new FakeVm.Target();
        vm.startMutator();
        MigrationParameters params = new MigrationParameters().maxBandwidth(1L << 20);
        MigrationSource source = new MigrationSource(vm.memory, vm.dirtyLog, vm, params, new MigrationCapabilities());
        CompletableFuture<Throwable> dest = MigrationEngineTest.migrate(source, target, MigrationUri.parse("tcp:127.0.0.1:0"));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (source.status() != MigrationStatus.ACTIVE && System.nanoTime() < deadline) Thread.sleep(1);
        // Mid pre-copy: wait until RAM is flowing (at 1 MiB/s the first pass lasts seconds), not a fixed 100 ms.
        while (source.stats().transferred() < (64 << 10) && System.nanoTime() < deadline) Thread.sleep(1);
        assertThat(source.stats().transferred()).as("pre-copy under way before the cancel").isGreaterThanOrEqualTo(64 << 10);
        assertThat(source.status()).isEqualTo(MigrationStatus.ACTIVE);
        source.cancel();
        assertThat(source.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(source.status()).isEqualTo(MigrationStatus.CANCELLED);
        assertThat(source.stats().toMap()).containsEntry("status", "cancelled");
        assertThat(source.failure()).isNotNull();
        assertRunningAgain();
        Throwable destFailure = dest.get(10, TimeUnit.SECONDS);
        assertThat(destFailure).isInstanceOf(MigrationException.class);
        assertThat(target.discarded).isNotNull();
        assertThat(target.started).isFalse();
        source.cancel(); // harmless when over
        assertThat(source.status()).isEqualTo(MigrationStatus.CANCELLED);
    }

    @Test
    void autoConvergeThrottlesAWriteHeavyGuestUntilItConverges() throws Exception {
        vm = new FakeVm(false, 256);
        target = new FakeVm.Target();
        // A scripted guest (no thread, so the rate does not depend on the host's load): by every
        // sync it has rewritten (100 - throttle)% of 1 MiB — more than 8 MiB/s can send in 15 ms.
        long[] step = {0};
        vm.dirtyLog.onSync = () -> {
            if (vm.pauses.get() > 0) return;
            step[0]++;
            int active = vm.workingSet.length * (100 - vm.throttlePercent()) / 100;
            for (int i = 0; i < active; i++) vm.guestWrite(vm.workingSet[i] + 256, step[0]);
        };
        MigrationParameters params = new MigrationParameters().maxBandwidth(8L << 20).downtimeLimitMs(15);
        params.set("cpu-throttle-initial", 50).set("cpu-throttle-increment", 20);
        MigrationSource source = new MigrationSource(vm.memory, vm.dirtyLog, vm, params, new MigrationCapabilities().autoConverge(true));
        CompletableFuture<Throwable> dest = MigrationEngineTest.migrate(source, target, MigrationUri.parse("tcp:127.0.0.1:0"));
        assertThat(source.await(30, TimeUnit.SECONDS)).isTrue();
        assertThat(dest.get(10, TimeUnit.SECONDS)).isNull();
        assertThat(source.status()).isEqualTo(MigrationStatus.COMPLETED);
        assertThat(vm.throttleCalls).as("throttle steps").startsWith(50, 70).endsWith(0);
        assertThat(Arrays.equals(FakeVm.ramBytes(target.memory), vm.ramAtPause)).isTrue();
    }

    // ------------------------------------------------------------ corrupt streams

    /** A complete, valid stream (and the destination's RAM it produces), recorded from a real migration. */
    private byte[] recordStream() throws Exception {
        vm = new FakeVm(false, 16);
        vm.startMutator();
        try (FakeVm.Target t = new FakeVm.Target()) {
            ByteArrayOutputStream tape = new ByteArrayOutputStream();
            IncomingTarget taping = t;
            MigrationUri.Listener listener = MigrationUri.parse("tcp:127.0.0.1:0").listen();
            CompletableFuture<Throwable> dest = new CompletableFuture<>();
            Thread d = new Thread(() -> {
                try (listener; SocketChannel ch = listener.accept()) {
                    InputStream in = new FilterInputStream(Channels.newInputStream(ch)) {
                        @Override
                        public int read() throws IOException {
                            int b = super.read();
                            if (b >= 0) tape.write(b);
                            return b;
                        }

                        @Override
                        public int read(byte[] b, int off, int len) throws IOException {
                            int n = in.read(b, off, len);
                            if (n > 0) tape.write(b, off, n);
                            return n;
                        }
                    };
                    new MigrationDestination(taping).run(in, Channels.newOutputStream(ch));
                    dest.complete(null);
                } catch (Throwable e) {
                    dest.complete(e);
                }
            });
            d.start();
            MigrationSource source = new MigrationSource(vm.memory, vm.dirtyLog, vm, new MigrationParameters().maxBandwidth(0),
                    new MigrationCapabilities().xbzrle(true));
            source.start(listener.uri().connect());
            assertThat(source.await(20, TimeUnit.SECONDS)).isTrue();
            assertThat(dest.get(10, TimeUnit.SECONDS)).isNull();
            return tape.toByteArray();
        }
    }

    private Throwable replay(byte[] stream) throws Exception {
        try (FakeVm.Target t = new FakeVm.Target()) {
            try {
                new MigrationDestination(t).run(new ByteArrayInputStream(stream), new ByteArrayOutputStream());
                assertThat(t.started).isTrue();
                return null;
            } catch (MigrationException e) {
                assertThat(t.started).isFalse();
                assertThat(t.discarded).isNotNull();
                return e;
            }
        }
    }

    @Test
    void corruptStreamsAreRejectedWithAClearMessageAndDiscarded() throws Exception {
        byte[] good = recordStream();
        assertThat(replay(good)).as("the recorded stream itself is fine").isNull();

        byte[] badMagic = good.clone();
        badMagic[0] = 'X';
        assertThat(replay(badMagic)).hasMessageContaining("not a migration stream");

        // A flipped bit deep inside page data is caught by the iteration's CRC.
        byte[] flipped = good.clone();
        int inPage = indexOfFullPage(good) + 9 + 1000;
        flipped[inPage] ^= 0x10;
        assertThat(replay(flipped)).hasMessageContaining("checksum mismatch in iteration 0");

        assertThat(replay(Arrays.copyOf(good, good.length / 2))).hasMessageContaining("truncated");
        // Cut right before GO: everything arrived, but the source never confirmed.
        assertThat(replay(Arrays.copyOf(good, good.length - 1))).hasMessageContaining("before confirming the switch-over");
    }

    private static int indexOfFullPage(byte[] s) {
        // Skip header (8 + 4) and setup (1 + 4 + 4 + 4 + 2 * 16 + 4); the first FULL record follows.
        for (int i = 12 + 49; i < s.length; i++) if (s[i] == MigrationProtocol.FULL) return i;
        throw new AssertionError("no FULL page");
    }

    /** Builds a stream by hand, with correct CRCs, so only the tested field is wrong. */
    private static final class Forge {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final CRC32C crc = new CRC32C();
        final DataOutputStream out = new DataOutputStream(new java.util.zip.CheckedOutputStream(bytes, crc));

        Forge header(long[][] layout, int caps) throws IOException {
            out.write(MigrationProtocol.MAGIC);
            out.writeInt(MigrationProtocol.VERSION);
            out.writeByte(MigrationProtocol.SETUP);
            out.writeInt(4096);
            out.writeInt(caps);
            out.writeInt(layout.length);
            for (long[] r : layout) {
                out.writeLong(r[0]);
                out.writeLong(r[1]);
            }
            return crc();
        }

        Forge crc() throws IOException {
            out.writeInt((int) crc.getValue());
            crc.reset();
            return this;
        }

        byte[] done() throws IOException {
            out.flush();
            return bytes.toByteArray();
        }
    }

    private static final long[][] LAYOUT = {{FakeVm.REGION0_BASE, FakeVm.REGION0_SIZE}, {FakeVm.REGION1_BASE, FakeVm.REGION1_SIZE}};

    @Test
    void forgedRecordsAreRejected() throws Exception {
        Forge outside = new Forge().header(LAYOUT, 0);
        outside.out.writeByte(MigrationProtocol.ZERO);
        outside.out.writeLong(FakeVm.REGION0_SIZE / 4096 + 1); // in the hole between the regions
        assertThat(replay(outside.done())).hasMessageContaining("page 0x401 lies outside guest RAM");

        Forge unknown = new Forge().header(LAYOUT, 0);
        unknown.out.writeByte(0x77);
        assertThat(replay(unknown.done())).hasMessageContaining("unknown record type 0x77");

        Forge noCap = new Forge().header(LAYOUT, 0);
        noCap.out.writeByte(MigrationProtocol.XBZRLE);
        noCap.out.writeLong(0);
        assertThat(replay(noCap.done())).hasMessageContaining("did not announce xbzrle");

        Forge badDelta = new Forge().header(LAYOUT, MigrationProtocol.CAP_XBZRLE);
        badDelta.out.writeByte(MigrationProtocol.XBZRLE);
        badDelta.out.writeLong(3);
        badDelta.out.writeShort(2);
        badDelta.out.write(new byte[] {(byte) 0xff, (byte) 0x7f}); // a zero run past the page
        assertThat(replay(badDelta.done())).hasMessageContaining("bad XBZRLE delta for page 0x3");

        Forge longDelta = new Forge().header(LAYOUT, MigrationProtocol.CAP_XBZRLE);
        longDelta.out.writeByte(MigrationProtocol.XBZRLE);
        longDelta.out.writeLong(3);
        longDelta.out.writeShort(4096);
        assertThat(replay(longDelta.done())).hasMessageContaining("delta length 4096 out of range");

        Forge otherLayout = new Forge().header(new long[][] {{0, 8L << 20}}, 0);
        assertThat(replay(otherLayout.done())).hasMessageContaining("RAM layout [0x0+0x800000] does not match");

        Forge missing = new Forge().header(LAYOUT, 0);
        missing.out.writeByte(MigrationProtocol.COMPLETE);
        missing.out.writeLong(5);
        missing.crc();
        assertThat(replay(missing.done())).hasMessageContaining("the source sent 5 page records, 0 arrived");

        Forge newer = new Forge();
        newer.out.write(MigrationProtocol.MAGIC);
        newer.out.writeInt(99);
        assertThat(replay(newer.done())).hasMessageContaining("version 99 is not supported");
    }
}
