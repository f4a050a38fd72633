package dev.vmm.block.nbd.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.cert.CRL;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * PEM files as openssl and certtool write them: any number of
 * {@code -----BEGIN LABEL----- base64 -----END LABEL-----} blocks, text outside the blocks ignored
 * (certtool prints a human-readable dump before each block). Every failure is a {@link TlsConfigException}
 * naming the file.
 */
public final class Pem {
    private Pem() {}

    /** One block: its label ("CERTIFICATE", "PRIVATE KEY"...), whether it has RFC 1421 headers, and its DER bytes. */
    public record Block(String label, boolean hasHeaders, byte[] der) {}

    /** Files larger than this are not credentials: refused before reading. */
    private static final long MAX_FILE = 1 << 20;

    public static List<Block> read(Path file) {
        String text;
        try {
            if (Files.size(file) > MAX_FILE) throw new TlsConfigException(file + ": larger than 1 MiB, not a PEM credential file");
            text = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (NoSuchFileException e) {
            throw new TlsConfigException(file + ": no such file");
        } catch (IOException e) {
            throw new TlsConfigException(file + ": cannot read: " + e.getMessage());
        }
        return parse(text, file.toString());
    }

    static List<Block> parse(String text, String name) {
        List<Block> blocks = new ArrayList<>();
        String[] lines = text.split("\r?\n");
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].strip();
            if (!line.startsWith("-----BEGIN ") || !line.endsWith("-----")) continue;
            String label = line.substring(11, line.length() - 5);
            StringBuilder b64 = new StringBuilder();
            boolean headers = false, ended = false;
            for (i++; i < lines.length; i++) {
                String l = lines[i].strip();
                if (l.equals("-----END " + label + "-----")) {
                    ended = true;
                    break;
                }
                if (l.contains(":")) headers = true; // "Proc-Type: 4,ENCRYPTED", "DEK-Info: ..."
                else b64.append(l);
            }
            if (!ended) throw new TlsConfigException(name + ": '" + label + "' block has no END line");
            try {
                blocks.add(new Block(label, headers, Base64.getDecoder().decode(b64.toString())));
            } catch (IllegalArgumentException e) {
                throw new TlsConfigException(name + ": '" + label + "' block is not valid base64");
            }
        }
        return blocks;
    }

    /** The certificates of a file, in file order (a chain: the leaf first). At least one. */
    public static List<X509Certificate> certificates(Path file) {
        List<X509Certificate> certs = new ArrayList<>();
        for (Block b : read(file)) {
            if (!b.label().equals("CERTIFICATE") && !b.label().equals("X509 CERTIFICATE")) continue;
            try {
                certs.add((X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(b.der())));
            } catch (CertificateException e) {
                throw new TlsConfigException(file + ": bad certificate: " + e.getMessage());
            }
        }
        if (certs.isEmpty()) throw new TlsConfigException(file + ": no PEM certificate (-----BEGIN CERTIFICATE-----) in it");
        return certs;
    }

    /** The certificate revocation lists of a file. At least one. */
    public static List<CRL> crls(Path file) {
        List<CRL> crls = new ArrayList<>();
        for (Block b : read(file)) {
            if (!b.label().equals("X509 CRL")) continue;
            try {
                crls.add(CertificateFactory.getInstance("X.509").generateCRL(new ByteArrayInputStream(b.der())));
            } catch (CertificateException | java.security.cert.CRLException e) {
                throw new TlsConfigException(file + ": bad CRL: " + e.getMessage());
            }
        }
        if (crls.isEmpty()) throw new TlsConfigException(file + ": no PEM CRL (-----BEGIN X509 CRL-----) in it");
        return crls;
    }
}
