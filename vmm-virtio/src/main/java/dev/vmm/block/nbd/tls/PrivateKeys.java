package dev.vmm.block.nbd.tls;

import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.List;

/**
 * Unencrypted private keys in the PEM forms openssl and certtool write: PKCS#8
 * ({@code BEGIN PRIVATE KEY}: RSA, EC, Ed25519, Ed448), PKCS#1 RSA ({@code BEGIN RSA PRIVATE KEY})
 * and SEC1 EC ({@code BEGIN EC PRIVATE KEY}). The JDK reads only PKCS#8, so the other two are
 * wrapped into a PKCS#8 structure first (a few DER bytes around the original key, nothing decoded
 * by hand). Encrypted keys are refused: there is no password option (QEMU's passwordid).
 */
public final class PrivateKeys {
    private PrivateKeys() {}

    // DER of the AlgorithmIdentifier OIDs used when wrapping.
    private static final byte[] OID_RSA = {0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01};
    private static final byte[] OID_EC_PUBLIC_KEY = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01};
    private static final byte[] DER_NULL = {0x05, 0x00};

    public static PrivateKey load(Path file) {
        List<Pem.Block> blocks = Pem.read(file);
        for (Pem.Block b : blocks) {
            switch (b.label()) {
                case "PRIVATE KEY" -> { return pkcs8(b.der(), file); }
                case "RSA PRIVATE KEY", "EC PRIVATE KEY" -> {
                    if (b.hasHeaders()) throw encrypted(file);
                    byte[] pkcs8 = b.label().startsWith("RSA") ? wrapRsa(b.der()) : wrapEc(b.der(), file);
                    return pkcs8(pkcs8, file);
                }
                case "ENCRYPTED PRIVATE KEY" -> throw encrypted(file);
                default -> { /* "EC PARAMETERS" and certificates may share the file: skip */ }
            }
        }
        throw new TlsConfigException(file + ": no private key (PKCS#8 'PRIVATE KEY', PKCS#1 'RSA PRIVATE KEY' or SEC1 'EC PRIVATE KEY') in it");
    }

    private static TlsConfigException encrypted(Path file) {
        return new TlsConfigException(file + ": the private key is encrypted, which is not supported (decrypt it: openssl pkey -in KEY -out KEY)");
    }

    private static PrivateKey pkcs8(byte[] der, Path file) {
        for (String alg : List.of("RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS")) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException | RuntimeException wrongAlgorithm) {
                // try the next algorithm
            }
        }
        throw new TlsConfigException(file + ": unreadable private key (not RSA, EC, Ed25519 or Ed448 in PKCS#8, PKCS#1 or SEC1 form)");
    }

    /** PrivateKeyInfo { version 0, { rsaEncryption, NULL }, OCTET STRING pkcs1 }. */
    static byte[] wrapRsa(byte[] pkcs1) {
        return Der.sequence(Der.INTEGER_0, Der.sequence(OID_RSA, DER_NULL), Der.tlv(0x04, pkcs1));
    }

    /** PrivateKeyInfo { version 0, { id-ecPublicKey, curve OID from the SEC1 key }, OCTET STRING sec1 }. */
    static byte[] wrapEc(byte[] sec1, Path file) {
        byte[] curve = ecCurve(sec1);
        if (curve == null) throw new TlsConfigException(file + ": EC private key without its curve parameters");
        return Der.sequence(Der.INTEGER_0, Der.sequence(OID_EC_PUBLIC_KEY, curve), Der.tlv(0x04, sec1));
    }

    /** The [0] parameters (a named curve OID, whole TLV) of SEC1's ECPrivateKey, or null. */
    static byte[] ecCurve(byte[] sec1) {
        try {
            Der.Reader seq = new Der.Reader(sec1).enter(0x30);
            seq.next(0x02); // version
            seq.next(0x04); // privateKey
            while (seq.hasMore()) {
                Der.Reader.Element e = seq.any();
                if (e.tag() == 0xa0) {
                    Der.Reader params = new Der.Reader(e.content());
                    Der.Reader.Element oid = params.any();
                    return oid.tag() == 0x06 ? oid.whole() : null;
                }
            }
            return null;
        } catch (IllegalArgumentException malformed) {
            return null;
        }
    }

    /** Just enough DER for the wrapping above. */
    static final class Der {
        static final byte[] INTEGER_0 = {0x02, 0x01, 0x00};

        static byte[] tlv(int tag, byte[] content) {
            ByteArrayOutputStream o = new ByteArrayOutputStream();
            o.write(tag);
            int n = content.length;
            if (n < 0x80) o.write(n);
            else {
                int bytes = n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
                o.write(0x80 | bytes);
                for (int i = bytes - 1; i >= 0; i--) o.write(n >>> (8 * i));
            }
            o.writeBytes(content);
            return o.toByteArray();
        }

        static byte[] sequence(byte[]... parts) {
            ByteArrayOutputStream o = new ByteArrayOutputStream();
            for (byte[] p : parts) o.writeBytes(p);
            return tlv(0x30, o.toByteArray());
        }

        /** Reads TLVs from a byte range; malformed input is an IllegalArgumentException. */
        static final class Reader {
            record Element(int tag, byte[] content, byte[] whole) {}

            private final byte[] b;
            private int pos;
            private final int end;

            Reader(byte[] b) { this(b, 0, b.length); }

            private Reader(byte[] b, int from, int end) {
                this.b = b;
                this.pos = from;
                this.end = end;
            }

            boolean hasMore() { return pos < end; }

            Element any() {
                int start = pos;
                if (end - pos < 2) throw new IllegalArgumentException("truncated DER");
                int tag = b[pos++] & 0xff;
                int len = b[pos++] & 0xff;
                if (len >= 0x80) {
                    int n = len & 0x7f;
                    if (n == 0 || n > 3 || end - pos < n) throw new IllegalArgumentException("bad DER length");
                    len = 0;
                    for (int i = 0; i < n; i++) len = (len << 8) | (b[pos++] & 0xff);
                }
                if (len > end - pos) throw new IllegalArgumentException("DER element past its end");
                byte[] content = java.util.Arrays.copyOfRange(b, pos, pos + len);
                pos += len;
                return new Element(tag, content, java.util.Arrays.copyOfRange(b, start, pos));
            }

            Element next(int tag) {
                Element e = any();
                if (e.tag() != tag) throw new IllegalArgumentException("DER tag 0x" + Integer.toHexString(e.tag()) + ", expected 0x" + Integer.toHexString(tag));
                return e;
            }

            Reader enter(int tag) { return new Reader(next(tag).content()); }
        }
    }
}
