package dev.vmm.block.nbd;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Throw-away CA, server and client certificates made with openssl at test time
 * (make-tls-certs.sh next to this class lists what is in each directory).
 */
record TlsTestCredentials(Path root) {
    Path server() { return root.resolve("server"); }
    Path client() { return root.resolve("client"); }
    /** The CA only: a client without a certificate. */
    Path anon() { return root.resolve("anon"); }
    /** Another CA (and a client certificate of that CA). */
    Path wrongCa() { return root.resolve("wrong-ca"); }
    /** The CA's and other keys, for tests that need odd files. */
    Path work() { return root.resolve("work"); }

    static TlsTestCredentials make(Path root) throws IOException {
        NbdTestSupport.assume();
        Assumptions.assumeTrue(NbdTestSupport.onPath("openssl"), "openssl not installed (apt-get install openssl): test skipped");
        Path script = root.resolve("make-tls-certs.sh");
        Files.createDirectories(root);
        try (InputStream in = TlsTestCredentials.class.getResourceAsStream("make-tls-certs.sh")) {
            Files.write(script, in.readAllBytes());
        }
        NbdTestSupport.run("bash", script.toString(), root.toString());
        return new TlsTestCredentials(root);
    }

    /** QEMU's --object for a credentials directory. */
    static String object(Path dir, String endpoint) {
        return "tls-creds-x509,id=tls0,dir=" + dir + ",endpoint=" + endpoint;
    }
}
