package dev.vmm.block.nbd.tls;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * PEM framing (RFC 7468: the BEGIN/END lines, base64 between, RFC 1421 headers, text outside the
 * blocks) and the DER length forms (X.690 8.1.3) at their boundaries, and the key-file errors that
 * need no openssl: each one line naming the file.
 */
class PemAndDerTest {
    @TempDir Path tmp;

    private static String block(String label, byte[] der) {
        return "-----BEGIN " + label + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(der) + "\n-----END " + label + "-----\n";
    }

    @Test
    void blocksLabelsHeadersAndTextAround() {
        String text = "certtool's dump\r\n" + block("A", new byte[] {1, 2}).replace("\n", "\r\n") + "between\n"
                + "-----BEGIN B-----\nProc-Type: 4,ENCRYPTED\nAwQ=\n-----END B-----\n" + "-----BEGIN C----- not a begin line\n";
        List<Pem.Block> blocks = Pem.parse(text, "f");
        assertThat(blocks).extracting(Pem.Block::label).containsExactly("A", "B");
        assertThat(blocks.get(0).der()).containsExactly(1, 2);
        assertThat(blocks.get(0).hasHeaders()).isFalse();
        assertThat(blocks.get(1).hasHeaders()).isTrue();
        assertThat(blocks.get(1).der()).containsExactly(3, 4);
        assertThat(Pem.parse("-----BEGIN X-----\n-----END X-----\n", "f").getFirst().der()).isEmpty();
        assertThatThrownBy(() -> Pem.parse("-----BEGIN X-----\nAAAA\n-----END Y-----\n", "f.pem")).isInstanceOf(TlsConfigException.class)
                .hasMessage("f.pem: 'X' block has no END line");
        assertThat(Pem.parse("", "f")).isEmpty();
    }

    @Test
    void filesThatAreNotCredentials() throws Exception {
        assertThatThrownBy(() -> Pem.read(tmp.resolve("none.pem"))).hasMessage(tmp.resolve("none.pem") + ": no such file");
        Path big = tmp.resolve("big.pem");
        Files.write(big, new byte[(1 << 20) + 1]);
        assertThatThrownBy(() -> Pem.read(big)).hasMessageEndingWith("larger than 1 MiB, not a PEM credential file");
        Path limit = tmp.resolve("limit.pem");
        Files.write(limit, new byte[1 << 20]);
        assertThat(Pem.read(limit)).isEmpty();
        Path dir = Files.createDirectories(tmp.resolve("dir.pem"));
        assertThatThrownBy(() -> Pem.read(dir)).hasMessageContaining(": cannot read: ");
        Path crl = tmp.resolve("crl.pem");
        Files.writeString(crl, block("CERTIFICATE", new byte[] {1}));
        assertThatThrownBy(() -> Pem.crls(crl)).hasMessageEndingWith("no PEM CRL (-----BEGIN X509 CRL-----) in it");
        Files.writeString(crl, block("X509 CRL", new byte[] {0x30, 0x00}));
        assertThatThrownBy(() -> Pem.crls(crl)).hasMessageContaining(": bad CRL: ");
        Files.writeString(crl, block("X509 CERTIFICATE", new byte[] {0x30, 0x00}));
        assertThatThrownBy(() -> Pem.certificates(crl)).hasMessageContaining(": bad certificate: ");
    }

    @Test
    void keyFilesWithoutAUsableKey() throws Exception {
        Path f = tmp.resolve("k.pem");
        Files.writeString(f, block("CERTIFICATE", new byte[] {1}) + block("EC PARAMETERS", new byte[] {6, 0}));
        assertThatThrownBy(() -> PrivateKeys.load(f)).hasMessageEndingWith("no private key (PKCS#8 'PRIVATE KEY', PKCS#1 'RSA PRIVATE KEY' or SEC1 'EC PRIVATE KEY') in it");
        Files.writeString(f, block("ENCRYPTED PRIVATE KEY", new byte[] {1}));
        assertThatThrownBy(() -> PrivateKeys.load(f)).hasMessageContaining("the private key is encrypted");
        Files.writeString(f, "-----BEGIN EC PRIVATE KEY-----\nDEK-Info: AES-128-CBC,00\nAQI=\n-----END EC PRIVATE KEY-----\n");
        assertThatThrownBy(() -> PrivateKeys.load(f)).hasMessageContaining("the private key is encrypted");
        Files.writeString(f, block("PRIVATE KEY", new byte[] {0x30, 0x03, 0x02, 0x01, 0x00}));
        assertThatThrownBy(() -> PrivateKeys.load(f)).hasMessageEndingWith("unreadable private key (not RSA, EC, Ed25519 or Ed448 in PKCS#8, PKCS#1 or SEC1 form)");
        Files.writeString(f, block("RSA PRIVATE KEY", new byte[] {0x30, 0x03, 0x02, 0x01, 0x00}));
        assertThatThrownBy(() -> PrivateKeys.load(f)).hasMessageContaining("unreadable private key");
        // SEC1 without its [0] curve parameters, and with something other than an OID in them.
        Files.writeString(f, block("EC PRIVATE KEY", new byte[] {0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x07}));
        assertThatThrownBy(() -> PrivateKeys.load(f)).hasMessageEndingWith("EC private key without its curve parameters");
        assertThat(PrivateKeys.ecCurve(new byte[] {0x30, 0x0a, 0x02, 0x01, 0x01, 0x04, 0x01, 0x07, (byte) 0xa0, 0x02, 0x05, 0x00})).isNull();
        byte[] oid = {0x06, 0x03, 0x2a, 0x03, 0x04};
        assertThat(PrivateKeys.ecCurve(new byte[] {0x30, 0x0f, 0x02, 0x01, 0x01, 0x04, 0x01, 0x07, (byte) 0xa1, 0x00, (byte) 0xa0, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04}))
                .isEqualTo(oid);
    }

    @Test
    void derLengthFormsAtTheirBoundaries() {
        assertThat(PrivateKeys.Der.tlv(4, new byte[127])).startsWith(4, 127).hasSize(129);
        assertThat(PrivateKeys.Der.tlv(4, new byte[128])).startsWith(4, 0x81, 0x80).hasSize(131);
        assertThat(PrivateKeys.Der.tlv(4, new byte[255])).startsWith(4, 0x81, 0xff);
        assertThat(PrivateKeys.Der.tlv(4, new byte[256])).startsWith(4, 0x82, 1, 0);
        assertThat(PrivateKeys.Der.tlv(4, new byte[65535])).startsWith(4, 0x82, 0xff, 0xff);
        assertThat(PrivateKeys.Der.tlv(4, new byte[65536])).startsWith(4, 0x83, 1, 0, 0);
        assertThat(PrivateKeys.Der.tlv(4, new byte[0xffffff])).startsWith(4, 0x83, 0xff, 0xff, 0xff);
        assertThat(PrivateKeys.Der.tlv(4, new byte[0x1000000])).startsWith(4, 0x84, 1, 0, 0, 0);
        assertThat(PrivateKeys.Der.sequence(new byte[] {1}, new byte[] {2, 3})).containsExactly(0x30, 3, 1, 2, 3);
    }

    @Test
    void derReaderRefusesWhatDoesNotFit() {
        byte[] longForm = new byte[3 + 200];
        longForm[0] = 0x04;
        longForm[1] = (byte) 0x81;
        longForm[2] = (byte) 200;
        PrivateKeys.Der.Reader.Element e = new PrivateKeys.Der.Reader(longForm).any();
        assertThat(e.content()).hasSize(200);
        assertThat(e.whole()).hasSize(203);
        byte[] three = new byte[5 + 65536];
        three[0] = 0x04;
        three[1] = (byte) 0x83;
        three[2] = 1;
        assertThat(new PrivateKeys.Der.Reader(three).any().content()).hasSize(65536);
        assertThatThrownBy(() -> new PrivateKeys.Der.Reader(new byte[] {4}).any()).hasMessage("truncated DER");
        assertThatThrownBy(() -> new PrivateKeys.Der.Reader(new byte[] {4, (byte) 0x80}).any()).hasMessage("bad DER length");
        assertThatThrownBy(() -> new PrivateKeys.Der.Reader(new byte[] {4, (byte) 0x84, 0, 0, 0, 1}).any()).hasMessage("bad DER length");
        assertThatThrownBy(() -> new PrivateKeys.Der.Reader(new byte[] {4, (byte) 0x82, 1}).any()).hasMessage("bad DER length");
        assertThatThrownBy(() -> new PrivateKeys.Der.Reader(new byte[] {4, 2, 1}).any()).hasMessage("DER element past its end");
        assertThat(new PrivateKeys.Der.Reader(new byte[] {4, 1, 9}).any().content()).containsExactly(9);
        assertThatThrownBy(() -> new PrivateKeys.Der.Reader(new byte[] {4, 0}).next(2)).hasMessage("DER tag 0x4, expected 0x2");
        PrivateKeys.Der.Reader r = new PrivateKeys.Der.Reader(new byte[] {0x30, 3, 2, 1, 5}).enter(0x30);
        assertThat(r.hasMore()).isTrue();
        assertThat(r.next(2).content()).containsExactly(5);
        assertThat(r.hasMore()).isFalse();
    }
}
