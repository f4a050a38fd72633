package dev.vmm.control;

import dev.vmm.machine.GuestRam;
import dev.vmm.machine.MachineRecipe;
import dev.vmm.memory.GuestMemory;
import dev.vmm.migration.DirtyLog;
import dev.vmm.migration.MigrationCapabilities;
import dev.vmm.migration.MigrationParameters;
import dev.vmm.migration.MigrationSource;
import dev.vmm.migration.MigrationStatus;
import dev.vmm.migration.stream.StateWriter;
import dev.vmm.migration.VmControl;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The migration progress line ({@link MigrationProgress}) over a real {@link MigrationSource}
 * migrating 16 MiB of guest RAM to a peer that reads nothing (so it stays active, blocked on the
 * socket) until it is cancelled: plain lines for a log, one rewritten line for a terminal, and
 * always a final line with the migration's own final status.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MigrationProgressTest {
    @TempDir
    Path dir;
    @AutoClose
    private final Closer open = new Closer();

    /** A VM without vCPUs or devices: pausing and saving do nothing. */
    private static final class NoVcpus implements VmControl {
        @Override public void pause() { }

        @Override public void resume() { }

        @Override public void writeDeviceState(StateWriter w) { }
    }

    /** Nothing is ever written again: every page is sent once. */
    private static final class Clean implements DirtyLog {
        @Override public void start() { }

        @Override public long[] fetchAndClear(int regionIndex) { return new long[1 << 16]; }

        @Override public void stop() { }
    }

    /** A source migrating to a peer that accepts and never reads: it blocks, active, until cancelled. */
    private MigrationSource stalledSource() throws Exception {
        GuestMemory memory = GuestRam.map(16L << 20, GuestRam.Options.DEFAULT, MachineRecipe.named("pc").lowRamEnd(16L << 20));
        MigrationSource src = new MigrationSource(memory, new Clean(), new NoVcpus(), new MigrationParameters(), new MigrationCapabilities());
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(dir.resolve("peer.sock")));
        open.add(server);
        SocketChannel out = SocketChannel.open(StandardProtocolFamily.UNIX);
        out.connect(server.getLocalAddress());
        open.add(server.accept());
        src.start(out);
        open.add(src::cancel);
        return src;
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("not within 20 s: " + what);
            Thread.sleep(10);
        }
    }

    /**
     * Output collected in memory; {@code text()} is what was flushed so far (buffered, no
     * auto-flush: a line the printer does not flush is not seen, as on a real terminal or log).
     */
    private static final class Captured {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final PrintStream out = new PrintStream(new java.io.BufferedOutputStream(bytes, 1 << 16), false, StandardCharsets.UTF_8);

        String text() {
            synchronized (bytes) {
                return bytes.toString(StandardCharsets.UTF_8);
            }
        }
    }

    @Test
    void aLogGetsPlainLinesAndTheFinalStatus() throws Exception {
        MigrationSource src = stalledSource();
        await(() -> src.status() == MigrationStatus.ACTIVE, "migration active");
        Captured c = new Captured();
        Thread t = MigrationProgress.start(src, c.out, false);
        await(() -> c.text().contains("\n"), "a first progress line");
        String first = c.text().lines().findFirst().orElseThrow();
        assertThat(first).startsWith("migration active: ").contains("% of 16 MiB RAM").contains("expected downtime");
        assertThat(t.isAlive()).as("it goes on while the migration runs").isTrue();
        src.cancel();
        t.join(TimeUnit.SECONDS.toMillis(20));
        assertThat(t.isAlive()).as("it ends with the migration").isFalse();
        assertThat(src.status().isFinal()).isTrue();
        String text = c.text();
        assertThat(text).doesNotContain("\r").doesNotContain("\033").endsWith("\n");
        List<String> lines = text.lines().toList();
        assertThat(lines.getLast()).isEqualTo(src.stats().progressLine()).startsWith("migration " + src.status().qmpName() + ": ");
        assertThat(lines.subList(0, lines.size() - 1)).allMatch(l -> l.startsWith("migration active: ") || l.startsWith("migration cancelling: "));
    }

    @Test
    void aTerminalGetsOneLineRewrittenInPlace() throws Exception {
        MigrationSource src = stalledSource();
        await(() -> src.status() == MigrationStatus.ACTIVE, "migration active");
        Captured c = new Captured();
        Thread t = MigrationProgress.start(src, c.out, true);
        await(() -> c.text().contains("\033[K"), "a first progress line");
        assertThat(c.text()).startsWith("\rmigration active: ").doesNotContain("\n");
        src.cancel();
        t.join(TimeUnit.SECONDS.toMillis(20));
        assertThat(t.isAlive()).isFalse();
        String text = c.text();
        assertThat(text).endsWith("\r" + src.stats().progressLine() + "\033[K\n");
        assertThat(text.chars().filter(ch -> ch == '\n').count()).as("only the final line ends one").isEqualTo(1);
        for (String shown : text.split("\r")) {
            if (!shown.isEmpty()) assertThat(shown).startsWith("migration ").contains("\033[K");
        }
    }

    @Test
    void anInterruptedPrinterStillWritesTheLastLine() throws Exception {
        MigrationSource src = stalledSource();
        await(() -> src.status() == MigrationStatus.ACTIVE, "migration active");
        Captured c = new Captured();
        Thread t = MigrationProgress.start(src, c.out, false);
        await(() -> c.text().contains("\n"), "a first progress line");
        t.interrupt();
        t.join(TimeUnit.SECONDS.toMillis(20));
        assertThat(t.isAlive()).isFalse();
        assertThat(src.status()).as("the migration itself goes on").isEqualTo(MigrationStatus.ACTIVE);
        assertThat(c.text().lines().toList().getLast()).startsWith("migration active: ");
    }
}
