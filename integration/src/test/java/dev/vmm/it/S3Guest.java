package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The guest kit's {@code s3} guest run with a QMP socket, woken by QMP {@code system_wakeup} once
 * it suspended (the {@code wake=qmp} variant); shared by the QEMU and vmm tests. The process is
 * started by the caller (its command line differs), this drives QMP and collects the output.
 */
final class S3Guest {
    static final Duration TIMEOUT = Duration.ofSeconds(120);

    private S3Guest() {}

    /**
     * What a run showed: the guest's serial output, the process status and the QMP events seen.
     * {@code wakeReplyLost}: the connection closed before the reply to {@code system_wakeup}
     * (and the WAKEUP event queued with it) was read — the woken guest finished and the process
     * exited before its monitor flushed them; seen with QEMU under TCG on a loaded host. The guest's
     * own output then proves the wake.
     */
    record Run(String serial, int status, List<String> events, String statusWhileSuspended, boolean wakeReplyLost) {
        /** SUSPEND then WAKEUP, or SUSPEND alone when the wake's reply was lost with the process. */
        List<String> expectedEvents() {
            return wakeReplyLost ? List.of("SUSPEND") : List.of("SUSPEND", "WAKEUP");
        }
    }

    /**
     * Starts {@code cmd} (with {@code -S}: the vCPUs start on QMP {@code cont}, so no event is sent
     * before the client listens), waits for {@code query-status} to say suspended, sends
     * {@code system_wakeup} and waits for the process to end; {@code serial} is where its COM1 goes.
     */
    static Run wakeByQmp(List<String> cmd, Path sock, Path serial) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true).redirectOutput(serial.toFile()).start();
        try (QmpTest.Client c = connect(sock, p)) {
            c.read();                                                          // greeting
            c.execute("qmp_capabilities");
            c.execute("cont");                                                 // started with -S: no event is missed
            long end = System.nanoTime() + TIMEOUT.toNanos();
            String suspended;
            while (!(suspended = c.execute("query-status").at("/return/status").asText()).equals("suspended")) {
                if (System.nanoTime() - end > 0 || !p.isAlive())
                    throw new AssertionError("not suspended (" + suspended + "): " + Files.readString(serial));
                Thread.sleep(100); // poll interval under a deadline
            }
            boolean replyLost = false;
            try {
                JsonNode wake = c.execute("system_wakeup");
                assertThat(wake.has("return")).as(wake.toString()).isTrue();
            } catch (IOException | IllegalArgumentException closed) {   // reset, or end of stream (no line)
                replyLost = true;      // the process must still end as a woken guest ends: checked by the callers
            }
            boolean done = p.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (!replyLost) {
                try {
                    while (c.in.ready()) c.events.add(c.read());
                } catch (IOException | IllegalArgumentException closed) {
                    // the events still unread went with the process; those read are kept
                }
            }
            assertThat(done).as("exit after the wake: %s", Files.readString(serial)).isTrue();
            return new Run(Files.readString(serial), p.exitValue(), c.events.stream().map(e -> e.path("event").asText()).toList(),
                    suspended, replyLost);
        } finally {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static QmpTest.Client connect(Path sock, Process p) throws Exception {
        long end = System.nanoTime() + TIMEOUT.toNanos();
        while (true) {
            try {
                return new QmpTest.Client(sock);
            } catch (IOException notYet) {
                if (System.nanoTime() - end > 0 || !p.isAlive()) throw notYet;
                Thread.sleep(50);
            }
        }
    }
}
