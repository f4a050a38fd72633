package dev.vmm.block.nbd;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.block.BlockException;

import dev.vmm.block.nbd.tls.X509Credentials;

import java.io.IOException;
import java.nio.file.Path;

import static dev.vmm.block.nbd.NbdConstants.*;

/**
 * Jazzer targets for the two parsers a peer controls: the client's handshake and reply parser (a
 * hostile server) and the server's option and request parser (a hostile client). Any input must end
 * in a clean end of stream or one {@link BlockException}; any other exception, hang or huge
 * allocation is a finding. Without JAZZER_FUZZ the seed corpus under src/test/resources is replayed
 * (CI); {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-virtio -am test -Dtest='NbdFuzzTest#clientReplies'} fuzzes.
 */
class NbdFuzzTest {

    /** Transmission replies for three requests in flight: a read, a block status and a write. */
    @FuzzTest(maxDuration = "60s")
    void clientReplies(byte[] input) {
        boolean structured = input.length == 0 || (input[0] & 1) == 0;
        NbdConnection.Negotiated n = new NbdConnection.Negotiated(1 << 20, FLAG_HAS_FLAGS | FLAG_SEND_FLUSH, structured, 7, 1, MAX_PAYLOAD);
        NbdConnection c = NbdConnection.overChannel(new ScriptedChannel(input.length == 0 ? input : java.util.Arrays.copyOfRange(input, 1, input.length)), n);
        c.expect(new NbdRequest(0, CMD_READ, 1, 4096, 8192));
        c.expect(new NbdRequest(0, CMD_BLOCK_STATUS, 2, 0, 65536));
        c.expect(new NbdRequest(0, CMD_WRITE, 3, 0, 512));
        try {
            for (int i = 0; i < 1000; i++) c.readReply();
        } catch (IOException | BlockException expected) {
            // end of input, or a violation reported as one clear error
        }
    }

    /** The server's greeting and option replies, as the client reads them. */
    @FuzzTest(maxDuration = "60s")
    void clientHandshake(byte[] input) {
        try {
            NbdConnection.handshake(new ScriptedChannel(input), "");
        } catch (IOException | BlockException expected) {
            // refused cleanly
        }
    }

    /** A whole client session (flags, options, requests) against a server exporting a small memory disk. */
    @FuzzTest(maxDuration = "60s")
    void serverSession(byte[] input) {
        MemoryDisk disk = new MemoryDisk(256 << 10, false);
        NbdExport export = new NbdExport("", "fuzz", disk, false, true, true, false, true);
        // Requests run inline (direct executor): deterministic, and any exception surfaces here.
        new NbdServerSession(new ScriptedChannel(input), new ScriptedChannel(new byte[0]), export, Runnable::run, msg -> { }).run();
    }

    /** Test-only credentials (tls-fuzz-creds/README): a self-signed certificate for "localhost". */
    private static X509Credentials fuzzCredentials(X509Credentials.Endpoint endpoint) {
        try {
            return X509Credentials.load(Path.of(NbdFuzzTest.class.getResource("tls-fuzz-creds").toURI()), endpoint, true);
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static final X509Credentials SERVER_TLS = fuzzCredentials(X509Credentials.Endpoint.SERVER);
    private static final X509Credentials CLIENT_TLS = fuzzCredentials(X509Credentials.Endpoint.CLIENT);

    /**
     * A client session against a server that requires TLS (FORCEDTLS): the option states before
     * STARTTLS (refusals, EXPORT_NAME ending the session, STARTTLS with data) and whatever follows
     * the STARTTLS acknowledgement, which goes to the TLS engine and must end in a clean error.
     */
    @FuzzTest(maxDuration = "60s")
    void serverSessionTlsRequired(byte[] input) {
        MemoryDisk disk = new MemoryDisk(64 << 10, false);
        NbdExport export = new NbdExport("", "fuzz", disk, false, true, true, false, true);
        new NbdServerSession(new ScriptedChannel(input), new ScriptedChannel(new byte[0]), export, SERVER_TLS, Runnable::run, msg -> { }).run();
    }

    /** The server's greeting and STARTTLS reply as a client that wants TLS reads them, then the TLS handshake. */
    @FuzzTest(maxDuration = "60s")
    void clientHandshakeTls(byte[] input) {
        try {
            NbdConnection.handshake(new ScriptedChannel(input), "", () -> CLIENT_TLS.clientEngine("localhost", DEFAULT_PORT));
        } catch (IOException | BlockException expected) {
            // refused cleanly
        }
    }
}
