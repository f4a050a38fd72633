package dev.vmm.block.nbd.tls;

import javax.net.ssl.SSLException;

/** One-line descriptions of TLS failures (the JDK's messages can nest causes and span lines). */
public final class TlsErrors {
    private TlsErrors() {}

    public static String oneLine(SSLException e) {
        String m = String.valueOf(e.getMessage());
        String why;
        if (m.contains("PKIX path") || m.contains("certification path")) {
            why = "the peer's certificate is not signed by a CA in ca-cert.pem";
        } else if (m.contains("No subject alternative") || m.contains("No name matching")) {
            why = "the server's certificate is not for this host name";
        } else if (m.contains("certificate_required") || m.contains("Empty client certificate chain")) {
            why = "a client certificate is required and none was sent";
        } else if (m.contains("nrecognized SSL message") || m.contains("not an SSL/TLS record")) {
            // "Unsupported or unrecognized SSL message" (older JDKs), "Unrecognized SSL message,
            // plaintext connection?" (JDK 25, a server reading a client that does not speak TLS)
            why = "the peer does not speak TLS";
        } else if (m.contains("expired") || m.contains("NotAfter")) {
            why = "a certificate has expired";
        } else {
            why = null;
        }
        String detail = m.replaceAll("\\s+", " ");
        if (detail.length() > 200) detail = detail.substring(0, 200) + "...";
        return why == null ? detail : why + " (" + detail + ")";
    }
}
