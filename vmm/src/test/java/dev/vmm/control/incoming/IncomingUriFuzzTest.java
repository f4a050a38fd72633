package dev.vmm.control.incoming;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;

import java.nio.charset.StandardCharsets;

/**
 * Jazzer target for the migration URI a QMP client (or the command line) gives
 * {@code migrate-incoming} / {@code --incoming}: any bytes, read as the JSON string would be.
 * {@link IncomingUri#parse} must answer with {@link IncomingUri.Refused} (a non-empty message) or
 * a URI that is exactly a {@code tcp:} one with a port in 0..65535 and a host without ':' outside
 * brackets, or a {@code unix:} one with a non-empty path that fits {@code sun_path} and has no NUL.
 * Nothing is bound (listening is not fuzzed: a hostile path would create sockets on this host).
 * Without JAZZER_FUZZ the seeds under src/test/resources replay (CI).
 */
class IncomingUriFuzzTest {
    @FuzzTest(maxDuration = "60s")
    @DictionaryEntries({"tcp:", "unix:", "exec:", "fd:", "rdma:", "vsock:", "[", "]", ":", "::", "[::1]", "127.0.0.1", "0.0.0.0",
            "65535", "65536", "99999", "-1", "0", ",", ",to=5", ",ipv4", "\u0000", "/", "../", "%", "localhost", "defer"})
    void uris(byte[] input) {
        String uri = new String(input, StandardCharsets.UTF_8);
        IncomingUri u;
        try {
            u = IncomingUri.parse(uri);
        } catch (IncomingUri.Refused e) {
            if (e.getMessage() == null || e.getMessage().isEmpty()) throw new AssertionError("refusal without a message for " + uri);
            return;
        }
        if (!u.toString().equals(uri)) throw new AssertionError("parsed " + uri + " as " + u);
        if (u.path() != null) {
            String p = uri.substring(5);
            if (!uri.startsWith("unix:") || p.isEmpty() || p.indexOf('\0') >= 0
                    || p.getBytes(StandardCharsets.UTF_8).length > IncomingUri.UNIX_PATH_MAX) {
                throw new AssertionError("accepted UNIX socket URI " + uri);
            }
            return;
        }
        if (!uri.startsWith("tcp:") || u.port() < 0 || u.port() > 65535 || u.host() == null
                || (u.host().contains(":") && !uri.startsWith("tcp:["))) {
            throw new AssertionError("accepted TCP URI " + uri + " as host '" + u.host() + "' port " + u.port());
        }
    }
}
