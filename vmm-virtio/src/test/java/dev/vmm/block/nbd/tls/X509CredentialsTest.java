package dev.vmm.block.nbd.tls;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Private keys and credential directories as openssl and certtool (gnutls-bin) write them, made at
 * test time: every unencrypted form loads and matches its certificate, encrypted keys and broken
 * directories are one clear line each.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class X509CredentialsTest {
    @TempDir Path tmp;

    @BeforeEach
    void openssl() {
        Assumptions.assumeTrue(onPath("openssl"), "openssl not installed: test skipped");
    }

    static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) return true;
        }
        return false;
    }

    private String sh(String script) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("bash", "-ec", script).directory(tmp.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(script + ": " + out).isZero();
        return out;
    }

    /** A directory with ca-cert.pem and a server certificate for {@code key} (made by openssl from it). */
    private Path serverDirFor(String name, Path key) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(name));
        sh("openssl req -x509 -key " + key + " -out " + dir.resolve("server-cert.pem") + " -days 2 -subj /CN=localhost 2>/dev/null"
                + " && cp " + dir.resolve("server-cert.pem") + " " + dir.resolve("ca-cert.pem") + " && cp " + key + " " + dir.resolve("server-key.pem"));
        return dir;
    }

    private record Form(String name, String command, String label, String algorithm) {}

    @Test
    void everyUnencryptedKeyFormLoadsAndMatchesItsCertificate() throws Exception {
        List<Form> forms = new ArrayList<>(List.of(
                new Form("rsa-pkcs8", "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out K", "PRIVATE KEY", "RSA"),
                new Form("rsa-pkcs1", "openssl genrsa -traditional -out K 2048", "RSA PRIVATE KEY", "RSA"),
                new Form("ec-sec1", "openssl ecparam -name prime256v1 -genkey -out K", "EC PRIVATE KEY", "EC"), // with an EC PARAMETERS block first
                new Form("ec-p384-pkcs8", "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out K", "PRIVATE KEY", "EC"),
                new Form("ed25519", "openssl genpkey -algorithm ed25519 -out K", "PRIVATE KEY", "EdDSA")));
        if (onPath("certtool")) {
            // certtool writes a human-readable dump before the PEM block unless --no-text.
            forms.add(new Form("certtool-rsa", "certtool --generate-privkey --key-type=rsa --bits=2048 --outfile K", "RSA PRIVATE KEY", "RSA"));
            forms.add(new Form("certtool-ecdsa", "certtool --generate-privkey --key-type=ecdsa --outfile K", "EC PRIVATE KEY", "EC"));
        }
        for (Form f : forms) {
            Path key = tmp.resolve(f.name() + ".pem");
            sh(f.command().replace("K", key.toString()) + " 2>/dev/null");
            assertThat(Files.readString(key)).as(f.name()).contains("-----BEGIN " + f.label() + "-----");
            assertThat(PrivateKeys.load(key).getAlgorithm()).as(f.name()).isEqualTo(f.algorithm());
            X509Credentials c = X509Credentials.load(serverDirFor(f.name(), key), X509Credentials.Endpoint.SERVER, true);
            assertThat(c.serverEngine().getNeedClientAuth()).isTrue();
        }
    }

    @Test
    void encryptedKeysAreRefusedWithOneLine() throws Exception {
        sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 -pass pass:secret -out enc8.pem 2>/dev/null");
        sh("openssl genrsa -traditional -aes256 -passout pass:secret -out enc1.pem 2048 2>/dev/null");
        for (String f : List.of("enc8.pem", "enc1.pem")) {
            assertThatThrownBy(() -> PrivateKeys.load(tmp.resolve(f))).isInstanceOf(TlsConfigException.class)
                    .hasMessageContaining(f).hasMessageContaining("encrypted").hasMessageNotContaining("\n");
        }
    }

    @Test
    void brokenDirectoriesAreOneLineEach() throws Exception {
        sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out a.pem 2>/dev/null && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out b.pem 2>/dev/null");
        Path dir = serverDirFor("mismatch", tmp.resolve("a.pem"));
        Files.copy(tmp.resolve("b.pem"), dir.resolve("server-key.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertThatThrownBy(() -> X509Credentials.load(dir, X509Credentials.Endpoint.SERVER, true))
                .hasMessageContaining("server-key.pem is not the key of").hasMessageContaining("server-cert.pem");

        Path ok = serverDirFor("ok", tmp.resolve("a.pem"));
        Files.writeString(ok.resolve("ca-crl.pem"), "");
        assertThatThrownBy(() -> X509Credentials.load(ok, X509Credentials.Endpoint.SERVER, true)).hasMessageContaining("revocation lists are not supported");
        Files.delete(ok.resolve("ca-crl.pem"));

        assertThatThrownBy(() -> X509Credentials.load(tmp.resolve("nowhere"), X509Credentials.Endpoint.CLIENT, true)).hasMessageContaining("does not exist");
        Path client = Files.createDirectories(tmp.resolve("client"));
        Files.copy(ok.resolve("ca-cert.pem"), client.resolve("ca-cert.pem"));
        Files.copy(ok.resolve("server-cert.pem"), client.resolve("client-cert.pem"));
        assertThatThrownBy(() -> X509Credentials.load(client, X509Credentials.Endpoint.CLIENT, true)).hasMessageContaining("client-key.pem: no such file");
        assertThatThrownBy(() -> X509Credentials.load(client, X509Credentials.Endpoint.SERVER, true)).hasMessageContaining("server-cert.pem: no such file");
        Files.writeString(client.resolve("ca-cert.pem"), "not a certificate\n");
        Files.delete(client.resolve("client-cert.pem"));
        assertThatThrownBy(() -> X509Credentials.load(client, X509Credentials.Endpoint.CLIENT, true)).hasMessageContaining("no PEM certificate");
        Files.writeString(client.resolve("ca-cert.pem"), "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        assertThatThrownBy(() -> X509Credentials.load(client, X509Credentials.Endpoint.CLIENT, true)).hasMessageContaining("not valid base64");
        Files.writeString(client.resolve("ca-cert.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n");
        assertThatThrownBy(() -> X509Credentials.load(client, X509Credentials.Endpoint.CLIENT, true)).hasMessageContaining("no END line");
        // A client directory with only the CA is fine: no client certificate to offer.
        Files.copy(ok.resolve("ca-cert.pem"), client.resolve("ca-cert.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertThat(X509Credentials.load(client, X509Credentials.Endpoint.CLIENT, true).clientEngine("localhost", 1).getUseClientMode()).isTrue();
    }

    @Test
    void der() {
        // The length forms the wrapping writes: short, one and two length bytes.
        assertThat(PrivateKeys.Der.tlv(0x04, new byte[3])).startsWith(0x04, 3);
        assertThat(PrivateKeys.Der.tlv(0x04, new byte[200])).startsWith(0x04, 0x81, 200);
        assertThat(PrivateKeys.Der.tlv(0x04, new byte[1000])).startsWith(0x04, 0x82, 0x03, 0xe8);
        assertThat(PrivateKeys.ecCurve(new byte[] {0x30, 0x03, 0x02, 0x01, 0x01})).isNull(); // truncated SEC1: no curve, no exception
    }
}
