package dev.vmm.block.nbd.tls;

import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * X.509 credentials from a directory laid out as QEMU's {@code tls-creds-x509} object expects:
 * {@code ca-cert.pem} (the CA that signed the peer; always required), {@code server-cert.pem} and
 * {@code server-key.pem} for a server, {@code client-cert.pem} and {@code client-key.pem} (optional)
 * for a client. {@code ca-crl.pem} is refused (revocation lists are not implemented, and ignoring one
 * would accept a revoked peer); {@code dh-params.pem} is not needed (the JDK uses ECDHE and the
 * RFC 7919 groups).
 *
 * <p>A server with {@code verifyPeer} (QEMU's default) requires a client certificate signed by the
 * CA. A client always verifies the server's certificate against the CA, and its name against the
 * host name it is given (the TCP host, or the tls-hostname a UNIX socket needs, as in QEMU).
 * TLS 1.2 and 1.3 only (the NBD spec: 1.2 at least, older versions not by default).
 */
public record X509Credentials(Path dir, Endpoint endpoint, boolean verifyPeer, SSLContext context) {
    public enum Endpoint { SERVER, CLIENT }

    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    /** Loads and checks the directory's files; any problem is one {@link TlsConfigException} line. */
    public static X509Credentials load(Path dir, Endpoint endpoint, boolean verifyPeer) {
        if (!Files.isDirectory(dir)) throw new TlsConfigException("TLS credentials directory " + dir + " does not exist");
        if (Files.exists(dir.resolve("ca-crl.pem"))) {
            throw new TlsConfigException(dir.resolve("ca-crl.pem") + ": certificate revocation lists are not supported (remove the file to use the directory)");
        }
        List<X509Certificate> ca = Pem.certificates(dir.resolve("ca-cert.pem"));
        String prefix = endpoint == Endpoint.SERVER ? "server" : "client";
        Path certFile = dir.resolve(prefix + "-cert.pem"), keyFile = dir.resolve(prefix + "-key.pem");
        boolean haveCert = Files.exists(certFile), haveKey = Files.exists(keyFile);
        if (endpoint == Endpoint.SERVER && !haveCert) throw new TlsConfigException(certFile + ": no such file (a TLS server needs its certificate)");
        if (haveCert != haveKey) {
            throw new TlsConfigException((haveCert ? keyFile : certFile) + ": no such file (" + certFile.getFileName() + " and " + keyFile.getFileName() + " go together)");
        }
        try {
            KeyManager[] keys = null;
            if (haveCert) {
                List<X509Certificate> chain = Pem.certificates(certFile);
                PrivateKey key = PrivateKeys.load(keyFile);
                checkPair(key, chain.getFirst(), keyFile, certFile);
                KeyStore ks = KeyStore.getInstance("PKCS12");
                ks.load(null, null);
                char[] none = new char[0];
                ks.setKeyEntry("key", key, none, chain.toArray(X509Certificate[]::new));
                KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(ks, none);
                keys = kmf.getKeyManagers();
            }
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            for (int i = 0; i < ca.size(); i++) trust.setCertificateEntry("ca" + i, ca.get(i));
            TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
            tmf.init(trust);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(keys, tmf.getTrustManagers(), new SecureRandom());
            return new X509Credentials(dir, endpoint, verifyPeer, ctx);
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new TlsConfigException("TLS credentials in " + dir + " unusable: " + e.getMessage());
        }
    }

    /** A key that does not belong to its certificate would only show as a failed handshake later: checked now. */
    private static void checkPair(PrivateKey key, X509Certificate cert, Path keyFile, Path certFile) throws GeneralSecurityException {
        String alg = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "EdDSA", "Ed25519", "Ed448" -> "EdDSA";
            default -> null; // RSASSA-PSS needs parameters; the handshake will tell
        };
        if (alg == null) return;
        byte[] probe = "vmm tls key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        boolean ok;
        try {
            Signature s = Signature.getInstance(alg);
            s.initSign(key);
            s.update(probe);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance(alg);
            v.initVerify(cert.getPublicKey());
            v.update(probe);
            ok = v.verify(sig);
        } catch (java.security.InvalidKeyException | java.security.SignatureException e) {
            ok = false;
        }
        if (!ok) throw new TlsConfigException(keyFile + " is not the key of " + certFile);
    }

    /** A server-side engine: asks for (and with verifyPeer requires) a client certificate. */
    public SSLEngine serverEngine() {
        if (endpoint != Endpoint.SERVER) throw new IllegalStateException("client credentials used for a server");
        SSLEngine e = context.createSSLEngine();
        e.setUseClientMode(false);
        e.setEnabledProtocols(PROTOCOLS);
        if (verifyPeer) e.setNeedClientAuth(true);
        return e;
    }

    /**
     * A client-side engine; {@code hostname} (null: none) is the name the server's certificate must
     * carry (DNS name or IP address in subjectAltName).
     */
    public SSLEngine clientEngine(String hostname, int port) {
        if (endpoint != Endpoint.CLIENT) throw new IllegalStateException("server credentials used for a client");
        SSLEngine e = hostname == null ? context.createSSLEngine() : context.createSSLEngine(hostname, port);
        e.setUseClientMode(true);
        e.setEnabledProtocols(PROTOCOLS);
        if (hostname != null) {
            SSLParameters p = e.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS"); // RFC 2818 name matching, what gnutls checks for QEMU too
            e.setSSLParameters(p);
        }
        return e;
    }
}
