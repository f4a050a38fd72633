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

    /** What a run showed: the guest's serial output, the process status and the QMP events seen. */
    record Run(String serial, int status, List<String> events, String statusWhileSuspended) { }

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
            JsonNode wake = c.execute("system_wakeup");
            assertThat(wake.has("return")).as(wake.toString()).isTrue();
            boolean done = p.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            while (c.in.ready()) c.events.add(c.read());
            assertThat(done).as("exit after the wake: %s", Files.readString(serial)).isTrue();
            return new Run(Files.readString(serial), p.exitValue(), c.events.stream().map(e -> e.path("event").asText()).toList(), suspended);
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
