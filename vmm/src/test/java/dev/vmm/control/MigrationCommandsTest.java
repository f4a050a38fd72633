package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.machine.GuestRam;
import dev.vmm.machine.MachineRecipe;
import dev.vmm.machine.MigratableMachine;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.migration.DirtyLog;
import dev.vmm.migration.IncomingTarget;
import dev.vmm.migration.MigrationDestination;
import dev.vmm.migration.VmControl;
import dev.vmm.migration.stream.StateReader;
import dev.vmm.migration.stream.StateWriter;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * QMP {@code migrate}, {@code migrate_cancel}, {@code query-migrate} and {@code x-vmm-ram-hash}
 * ({@link MigrationCommands}) on a {@link KvmFreeMachine}'s RAM and devices, to a destination in
 * the same JVM (the project's {@link MigrationDestination} over a UNIX socket, into RAM of the same
 * layout). Played: KVM's dirty log (nothing written again: every page goes once) and the vCPU
 * layer's pause. The guest RAM must arrive as it was, the MIGRATION events must follow QEMU's
 * statuses, and a refused migrate must say why.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class MigrationCommandsTest {
    private static final long RAM = 64L << 20;      // KvmFreeMachine's

    @TempDir
    Path dir;
    @AutoClose
    private final Closer open = new Closer();

    /** The machine's parts as MigratableMachine.of gives a real one, with the KVM side played. */
    private static MigratableMachine parts(KvmFreeMachine m, GuestMemory memory, DeviceRegistry devices) {
        return new MigratableMachine() {
            @Override public DeviceRegistry devices() { return devices; }

            @Override public GuestMemory memory() { return memory; }

            @Override public boolean paused() { return m.paused(); }

            @Override public DirtyLog dirtyLog() {
                return new DirtyLog() {
                    @Override public void start() { }

                    @Override public long[] fetchAndClear(int regionIndex) { return new long[(int) (RAM >> 12 >> 6) + 1]; }

                    @Override public void stop() { }
                };
            }

            @Override public VmControl migrationControl() {
                return new VmControl() {
                    @Override public void pause() { m.pause(); }

                    @Override public void resume() { m.resume(); }

                    @Override public void writeDeviceState(StateWriter w) throws java.io.IOException {
                        w.section("test-device", 1, 8, o -> o.writeLong(0x1234_5678_9ABCL));
                    }
                };
            }
        };
    }

    private static GuestMemory ram() {
        return GuestRam.map(RAM, GuestRam.Options.DEFAULT, MachineRecipe.named("pc").lowRamEnd(RAM));
    }

    /** The destination: accepts one connection and receives into {@code memory}; completes with the device section's value. */
    private CompletableFuture<Long> destination(Path socket, GuestMemory memory) throws Exception {
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        open.add(server);
        CompletableFuture<Long> loaded = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            long[] value = {-1};
            try (SocketChannel ch = server.accept()) {
                new MigrationDestination(new IncomingTarget() {
                    @Override public GuestMemory memory() { return memory; }

                    @Override public void loadDeviceState(StateReader reader) throws Exception {
                        reader.readAll(new StateReader.Handler() {
                            @Override public int maxVersion(String name) { return name.equals("test-device") ? 1 : -1; }

                            @Override public void read(String name, int version, long length, DataInputStream in) throws java.io.IOException {
                                value[0] = in.readLong();
                            }
                        });
                    }

                    @Override public void start() { loaded.complete(value[0]); }

                    @Override public void discard(Throwable cause) { loaded.completeExceptionally(cause); }
                }).run(ch);
            } catch (Exception e) {
                loaded.completeExceptionally(e);
            }
        }, "test-destination");
        t.setDaemon(true);
        t.start();
        return loaded;
    }

    private EventQmpClient ours(MigratableMachine parts) throws Exception {
        return EventQmpClient.serving(dir.resolve("qmp.sock"), open, s -> MigrationCommands.install(s, parts));
    }

    private static void fill(GuestMemory memory, long seed) {
        for (GuestRegion r : memory.regions()) {
            MemorySegment s = r.host();
            for (long off = 0; off < s.byteSize(); off += 4096) s.set(ValueLayout.JAVA_LONG_UNALIGNED, off + 8, seed * 31 + off);
        }
    }

    /** Waits for MIGRATION events up to {@code last}; returns the statuses seen. */
    private static List<String> statusesUntil(EventQmpClient c, String last) throws Exception {
        List<String> seen = new ArrayList<>();
        while (seen.isEmpty() || !seen.getLast().equals(last)) {
            seen.add(c.event("MIGRATION").get("data").get("status").asText());
            if (seen.size() > 20) throw new AssertionError("no " + last + " in " + seen);
        }
        return seen;
    }

    @Test
    void aMigrationCarriesTheRamAndTheDeviceStateAndLeavesTheSourcePaused() throws Exception {
        KvmFreeMachine m = new KvmFreeMachine(List.of());
        open.add(m);
        m.run(false, false);
        GuestMemory source = m.memory, target = ram();
        fill(source, 7);
        EventQmpClient ours = ours(parts(m, source, m.registry));
        JsonNode hashBefore = ours.execute("x-vmm-ram-hash", null).get("return");
        assertThat(hashBefore.get("bytes").asLong()).isEqualTo(RAM);
        assertThat(hashBefore.get("paused").asBoolean()).isFalse();

        Path sock = dir.resolve("mig.sock");
        CompletableFuture<Long> loaded = destination(sock, target);
        assertThat(ours.execute("migrate", "{\"uri\":\"unix:" + sock + "\",\"x-progress\":false}").get("return").isEmpty()).isTrue();
        List<String> statuses = statusesUntil(ours, "completed");
        assertThat(statuses.getFirst()).isEqualTo("setup");
        assertThat(statuses).contains("active", "device");
        assertThat(loaded.get(30, TimeUnit.SECONDS)).as("the device section").isEqualTo(0x1234_5678_9ABCL);
        for (int i = 0; i < source.regions().size(); i++) {
            assertThat(source.regions().get(i).host().mismatch(target.regions().get(i).host())).as("region %d", i).isEqualTo(-1);
        }
        JsonNode q = ours.execute("query-migrate", null).get("return");
        assertThat(q.get("status").asText()).isEqualTo("completed");
        assertThat(q.at("/ram/total").asLong()).isEqualTo(RAM);
        assertThat(m.paused()).as("the source stays paused").isTrue();
        JsonNode hashAfter = ours.execute("x-vmm-ram-hash", null).get("return");
        assertThat(hashAfter.get("hash")).isEqualTo(hashBefore.get("hash"));
        assertThat(hashAfter.get("paused").asBoolean()).isTrue();
        source.regions().getLast().host().set(ValueLayout.JAVA_BYTE, 4097, (byte) 0x5A);
        assertThat(ours.execute("x-vmm-ram-hash", null).at("/return/hash")).isNotEqualTo(hashBefore.get("hash"));
    }

    @Test
    void aRunningMigrationRefusesAnotherAndIsCancelled() throws Exception {
        KvmFreeMachine m = new KvmFreeMachine(List.of());
        open.add(m);
        m.run(false, false);
        EventQmpClient ours = ours(parts(m, m.memory, m.registry));
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);  // accepts, never reads
        Path sock = dir.resolve("stall.sock");
        server.bind(UnixDomainSocketAddress.of(sock));
        open.add(server);
        String migrate = "{\"uri\":\"unix:" + sock + "\",\"x-progress\":false}";
        assertThat(ours.execute("migrate", migrate).has("return")).isTrue();
        open.add(server.accept());
        statusesUntil(ours, "active");
        for (String[] c : List.of(new String[] {"migrate", migrate},
                new String[] {"migrate-set-capabilities", "{\"capabilities\":[{\"capability\":\"xbzrle\",\"state\":true}]}"})) {
            JsonNode r = ours.execute(c[0], c[1]);
            assertThat(r.at("/error/desc").asText()).as(c[0]).isEqualTo("There's a migration process in progress");
        }
        assertThat(ours.execute("query-migrate", null).at("/return/status").asText()).isEqualTo("active");
        assertThat(ours.execute("migrate_cancel", null).has("return")).isTrue();
        statusesUntil(ours, "cancelled");
        assertThat(ours.execute("query-migrate", null).at("/return/status").asText()).isEqualTo("cancelled");
        assertThat(m.paused()).as("cancelled before the stop-and-copy: the guest runs on").isFalse();
        assertThat(ours.execute("migrate_cancel", null).has("return")).as("again: nothing to cancel").isTrue();
    }

    @Test
    void aMigrateThatCannotStartSaysWhy() throws Exception {
        KvmFreeMachine m = new KvmFreeMachine(List.of());
        open.add(m);
        m.registry.cannotSaveState("firmware boot");
        EventQmpClient ours = ours(parts(m, m.memory, m.registry));
        EventQmpClient qemu = EventQmpClient.qemu(List.of("-machine", "pc,accel=tcg", "-S"));
        open.add(qemu);
        assertThat(ours.execute("migrate", "{}")).isEqualTo(qemu.execute("migrate", "{}"));
        assertThat(ours.execute("query-migrate", null)).isEqualTo(qemu.execute("query-migrate", null));
        assertThat(ours.execute("migrate", "{\"uri\":\"unix:" + dir.resolve("none.sock") + "\"}").at("/error/desc").asText())
                .isEqualTo("cannot migrate: the state of firmware boot cannot be saved yet"
                        + " (saveable: virtio-blk, virtio-rng, virtio-net, virtio-scsi, virtio-console)");
        KvmFreeMachine m2 = new KvmFreeMachine(List.of());
        open.add(m2);
        QmpServer s2 = new QmpServer(dir.resolve("qmp2.sock"), "test");
        MigrationCommands.install(s2, parts(m2, m2.memory, m2.registry));
        s2.start();
        open.add(s2::close);
        EventQmpClient none = EventQmpClient.ours(s2.path());
        open.add(none);
        JsonNode r = none.execute("migrate", "{\"uri\":\"unix:" + dir.resolve("nobody.sock") + "\"}");
        assertThat(r.at("/error/desc").asText()).startsWith("Failed to connect to 'unix:" + dir.resolve("nobody.sock") + "': ");
        r = none.execute("migrate", "{\"uri\":\"ftp:x\"}");
        assertThat(r.at("/error/desc").asText()).startsWith("Failed to connect to 'ftp:x': ").contains("not supported");
        assertThat(none.execute("query-migrate", null).get("return").isEmpty()).as("no migration was started").isTrue();
    }
}
