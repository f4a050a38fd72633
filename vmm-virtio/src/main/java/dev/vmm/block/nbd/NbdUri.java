package dev.vmm.block.nbd;

import dev.vmm.block.BlockException;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URLDecoder;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An NBD disk address in QEMU's URI forms: {@code nbd://HOST[:PORT]/EXPORT} and
 * {@code nbd+unix:///EXPORT?socket=PATH}, and with TLS {@code nbds://} and {@code nbds+unix://}.
 * Our extensions are query parameters for what QEMU takes as separate driver options:
 * {@code reconnect-delay=SECONDS} (requests wait that long for a lost connection to come back),
 * {@code tls-creds=DIR} (a directory laid out as QEMU's tls-creds-x509 object; required by
 * {@code nbds}, and turns TLS on for {@code nbd} too) and {@code tls-hostname=NAME} (the name the
 * server's certificate must carry; by default the TCP host; required over a UNIX socket, as in QEMU).
 */
public record NbdUri(String host, int port, Path socket, String export, int reconnectDelaySeconds, Tls tls) {

    /** TLS for a connection: the credentials directory and the server name to verify (null: none). */
    public record Tls(Path credentials, String hostname) {}

    /** A plain (no TLS) address. */
    public NbdUri(String host, int port, Path socket, String export, int reconnectDelaySeconds) {
        this(host, port, socket, export, reconnectDelaySeconds, null);
    }

    private static final java.util.regex.Pattern SCHEME = java.util.regex.Pattern.compile("^(nbd|nbd\\+tcp|nbd\\+unix|nbds|nbds\\+unix):/.*", java.util.regex.Pattern.DOTALL);

    /** Whether a disk name is an NBD URI rather than a file (QEMU's protocol prefixes). */
    public static boolean isNbd(String s) {
        return SCHEME.matcher(s).matches();
    }

    /**
     * The URI from a {@link Path} made of it: a Path collapses "//" to "/" (so nbd://h/e became
     * nbd:/h/e), which the picocli/record plumbing of the CLI does before we see the string.
     */
    public static boolean isNbd(Path p) { return isNbd(p.toString()); }

    public static NbdUri fromPath(Path p) {
        String s = p.toString();
        int colon = s.indexOf(':');
        if (colon > 0 && s.startsWith(":/", colon) && !s.startsWith("://", colon)) {
            String scheme = s.substring(0, colon);
            s = scheme + (scheme.endsWith("+unix") ? ":///" : "://") + s.substring(colon + 2);
        }
        return parse(s);
    }

    public static NbdUri parse(String uri) {
        int colon = uri.indexOf("://");
        if (colon < 0) throw bad(uri, "expected nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH");
        String scheme = uri.substring(0, colon);
        String rest = uri.substring(colon + 3);
        String query = null;
        int q = rest.indexOf('?');
        if (q >= 0) {
            query = rest.substring(q + 1);
            rest = rest.substring(0, q);
        }
        int slash = rest.indexOf('/');
        String authority = slash < 0 ? rest : rest.substring(0, slash);
        String export = slash < 0 ? "" : decode(rest.substring(slash + 1));
        Map<String, String> params = new LinkedHashMap<>();
        if (query != null && !query.isEmpty()) {
            for (String kv : query.split("&")) {
                int eq = kv.indexOf('=');
                if (eq < 0) throw bad(uri, "query parameter '" + kv + "' has no value");
                params.put(kv.substring(0, eq), decode(kv.substring(eq + 1)));
            }
        }
        int delay = 0;
        String d = params.remove("reconnect-delay");
        if (d != null) {
            try {
                delay = Integer.parseInt(d);
            } catch (NumberFormatException e) {
                throw bad(uri, "reconnect-delay must be a number of seconds");
            }
            if (delay < 0 || delay > 3600) throw bad(uri, "reconnect-delay must be 0..3600 seconds");
        }
        boolean tlsScheme = scheme.startsWith("nbds");
        String creds = params.remove("tls-creds");
        String tlsHostname = params.remove("tls-hostname");
        if (tlsScheme && (creds == null || creds.isEmpty())) {
            throw bad(uri, "nbds needs tls-creds=DIR (a directory with ca-cert.pem, as QEMU's tls-creds-x509)");
        }
        if (creds == null && tlsHostname != null) throw bad(uri, "tls-hostname= without tls-creds=");
        if (tlsScheme) scheme = scheme.substring(0, 3) + scheme.substring(4); // nbds -> nbd, nbds+unix -> nbd+unix
        switch (scheme) {
            case "nbd", "nbd+tcp" -> {
                String socket = params.remove("socket");
                if (socket != null) throw bad(uri, "socket= belongs to nbd+unix:// URIs");
                if (!params.isEmpty()) throw bad(uri, "unknown parameter '" + params.keySet().iterator().next() + "'");
                String host;
                int port = NbdConstants.DEFAULT_PORT;
                if (authority.startsWith("[")) {
                    int end = authority.indexOf(']');
                    if (end < 0) throw bad(uri, "unterminated IPv6 address");
                    host = authority.substring(1, end);
                    String after = authority.substring(end + 1);
                    if (after.startsWith(":")) port = port(uri, after.substring(1));
                    else if (!after.isEmpty()) throw bad(uri, "junk after the IPv6 address");
                } else {
                    int c = authority.lastIndexOf(':');
                    host = c < 0 ? authority : authority.substring(0, c);
                    if (c >= 0) port = port(uri, authority.substring(c + 1));
                }
                if (host.isEmpty()) throw bad(uri, "no host");
                Tls tls = creds == null ? null : new Tls(Path.of(creds), tlsHostname != null ? tlsHostname : host);
                return new NbdUri(host, port, null, export, delay, tls);
            }
            case "nbd+unix" -> {
                if (!authority.isEmpty()) throw bad(uri, "nbd+unix URIs have no host (nbd+unix:///EXPORT?socket=PATH)");
                String socket = params.remove("socket");
                if (socket == null || socket.isEmpty()) throw bad(uri, "socket=PATH is required");
                if (!params.isEmpty()) throw bad(uri, "unknown parameter '" + params.keySet().iterator().next() + "'");
                if (creds != null && (tlsHostname == null || tlsHostname.isEmpty())) {
                    // As QEMU: over a UNIX socket there is no host name to check the certificate against.
                    throw bad(uri, "TLS over a UNIX socket needs tls-hostname=NAME (the name in the server's certificate)");
                }
                Tls tls = creds == null ? null : new Tls(Path.of(creds), tlsHostname);
                return new NbdUri(null, 0, Path.of(socket), export, delay, tls);
            }
            default -> throw bad(uri, "unknown scheme '" + scheme + "'");
        }
    }

    public SocketAddress address() {
        return socket != null ? UnixDomainSocketAddress.of(socket) : new InetSocketAddress(host, port);
    }

    public NbdUri withReconnectDelay(int seconds) { return new NbdUri(host, port, socket, export, seconds, tls); }

    /** The address without the credentials directory (which is a local detail, not the disk's name). */
    @Override
    public String toString() {
        String e = export.isEmpty() ? "" : "/" + export;
        String s = tls != null ? "nbds" : "nbd";
        if (socket != null) return s + "+unix://" + e + "?socket=" + socket;
        return s + "://" + (host.contains(":") ? "[" + host + "]" : host) + (port == NbdConstants.DEFAULT_PORT ? "" : ":" + port) + e;
    }

    private static int port(String uri, String s) {
        try {
            int p = Integer.parseInt(s);
            if (p < 1 || p > 65535) throw bad(uri, "port " + p + " out of range");
            return p;
        } catch (NumberFormatException e) {
            throw bad(uri, "bad port '" + s + "'");
        }
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    private static BlockException bad(String uri, String why) {
        return new BlockException("invalid NBD URI '" + uri + "': " + why);
    }
}
