package dev.vmm.control.incoming;

import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a migration destination listens ({@code --incoming URI}, QMP {@code migrate-incoming}):
 * {@code tcp:HOST:PORT} ({@code tcp:[V6]:PORT}, {@code tcp::PORT} for every address) or
 * {@code unix:PATH}, parsed and bound with QEMU 7.2's refusals ({@link Refused}'s message is
 * QEMU's {@code desc} for the same URI). QEMU's other schemes ({@code exec:}, {@code fd:},
 * {@code rdma:}, {@code vsock:}) are refused in this VMM's own words; anything else is QEMU's
 * "unknown migration protocol". Every value is a peer's (a QMP client's): nothing here throws
 * anything but {@link Refused}.
 */
public final class IncomingUri {
    /** {@code sizeof(sockaddr_un.sun_path)}: QEMU refuses a longer path. */
    static final int UNIX_PATH_MAX = 108;
    /** QEMU's host and port buffers in {@code inet_parse} ({@code %64[^:]}, {@code %32[^,]}). */
    private static final int HOST_MAX = 64, PORT_MAX = 32;

    /** A URI this VMM cannot listen on; the message is one line. */
    public static final class Refused extends Exception {
        Refused(String message) {
            super(message);
        }
    }

    private final String uri;
    private final String host;   // tcp; "" = every address
    private final int port;      // tcp
    private final Path path;     // unix

    private IncomingUri(String uri, String host, int port, Path path) {
        this.uri = uri;
        this.host = host;
        this.port = port;
        this.path = path;
    }

    @Override
    public String toString() { return uri; }

    /** TCP: the host to bind ("" = every address), else null. */
    String host() { return host; }

    /** TCP: the port (0 = any free one). */
    int port() { return port; }

    /** UNIX: the socket path, else null. */
    Path path() { return path; }

    /** Parses {@code uri} without touching the network or the file system. */
    public static IncomingUri parse(String uri) throws Refused {
        if (uri.startsWith("tcp:")) return tcp(uri, uri.substring(4));
        if (uri.startsWith("unix:")) {
            String p = uri.substring(5);
            if (p.isEmpty()) throw new Refused("invalid Unix socket address");
            if (p.indexOf('\0') >= 0) throw new Refused("UNIX socket path contains a NUL byte");
            if (p.getBytes(StandardCharsets.UTF_8).length > UNIX_PATH_MAX) throw new Refused("UNIX socket path '" + p + "' is too long");
            return new IncomingUri(uri, null, 0, Path.of(p));
        }
        for (String other : List.of("exec:", "fd:", "rdma:", "vsock:")) {
            if (uri.startsWith(other)) {
                throw new Refused("migration protocol '" + other.substring(0, other.length() - 1)
                        + "' is not supported by this VMM (use tcp:HOST:PORT or unix:PATH)");
            }
        }
        throw new Refused("unknown migration protocol: " + uri);
    }

    /** QEMU's {@code inet_parse}: {@code [V6]:PORT}, {@code :PORT}, or HOST up to the first ':' then PORT. */
    private static IncomingUri tcp(String uri, String rest) throws Refused {
        String host, port, tail;
        if (rest.startsWith("[")) {
            int close = rest.indexOf(']');
            if (close < 0 || close > HOST_MAX + 1 || close + 1 >= rest.length() || rest.charAt(close + 1) != ':'
                    || close + 2 >= rest.length()) {
                throw new Refused("error parsing IPv6 address '" + rest + "'");
            }
            host = rest.substring(1, close);
            tail = rest.substring(close + 2);
        } else if (rest.startsWith(":")) {
            if (rest.length() == 1 || rest.charAt(1) == ',') throw new Refused("error parsing port in address '" + rest + "'");
            host = "";
            tail = rest.substring(1);
        } else {
            int colon = rest.indexOf(':');
            if (colon <= 0 || colon > HOST_MAX || colon + 1 >= rest.length() || rest.charAt(colon + 1) == ',') {
                throw new Refused("error parsing address '" + rest + "'");
            }
            host = rest.substring(0, colon);
            tail = rest.substring(colon + 1);
        }
        int comma = tail.indexOf(',');
        port = comma < 0 ? tail : tail.substring(0, comma);
        if (comma >= 0) throw new Refused("migration URI '" + uri + "': address options after ',' are not supported by this VMM");
        if (port.length() > PORT_MAX || !port.chars().allMatch(c -> c >= '0' && c <= '9')) {
            // getaddrinfo's answer for a service that is not a number QEMU's resolver knows
            throw new Refused("address resolution failed for " + host + ":" + port + ": Servname not supported for ai_socktype");
        }
        String digits = port.replaceFirst("^0+(?=.)", "");
        // QEMU 7.2 lets getaddrinfo truncate a larger number to 16 bits (99999 listens on 34463); refused here.
        if (digits.length() > 5 || Integer.parseInt(digits) > 65535) throw new Refused("migration URI '" + uri + "': port " + port + " is out of range (0-65535)");
        return new IncomingUri(uri, host, Integer.parseInt(digits), null);
    }

    /** A bound socket waiting for the source. */
    public interface Listener extends AutoCloseable {
        /** Blocks until the source connects; closing the listener from another thread ends the wait. */
        SocketChannel accept() throws IOException;

        /** QEMU's {@code query-migrate} {@code socket-address} list for this listener. */
        List<Map<String, Object>> socketAddress();

        @Override
        void close();
    }

    /** Binds the listening socket, with QEMU's refusals for an address that cannot be used. */
    public Listener listen() throws Refused {
        return path != null ? listenUnix() : listenTcp();
    }

    private Listener listenTcp() throws Refused {
        InetAddress address;
        try {
            address = host.isEmpty() ? null : InetAddress.getByName(host);
        } catch (UnknownHostException | SecurityException e) {
            throw new Refused("address resolution failed for " + host + ":" + port + ": Name or service not known");
        }
        ServerSocketChannel s = null;
        try {
            s = ServerSocketChannel.open();
            s.bind(address == null ? new InetSocketAddress(port) : new InetSocketAddress(address, port), 1);
        } catch (BindException e) {
            close(s);
            String why = String.valueOf(e.getMessage());
            throw new Refused(why.startsWith("Address already in use") ? "Failed to find an available port: Address already in use"
                    : "Failed to bind socket: " + why);
        } catch (IOException | RuntimeException e) {
            close(s);
            throw new Refused("Failed to bind socket: " + e.getMessage());
        }
        InetSocketAddress bound;
        try {
            bound = (InetSocketAddress) s.getLocalAddress();
        } catch (IOException e) {
            close(s);
            throw new Refused("Failed to bind socket: " + e.getMessage());
        }
        Map<String, Object> a = new LinkedHashMap<>();
        a.put("port", String.valueOf(bound.getPort()));   // QEMU's InetSocketAddress: the port as a string
        boolean v6 = bound.getAddress() instanceof java.net.Inet6Address;
        a.put(v6 ? "ipv6" : "ipv4", true);
        a.put("host", bound.getAddress().isAnyLocalAddress() ? (v6 ? "::" : "0.0.0.0") : bound.getAddress().getHostAddress());
        a.put("type", "inet");
        ServerSocketChannel server = s;
        return new Listener() {
            @Override
            public SocketChannel accept() throws IOException {
                SocketChannel ch = server.accept();
                ch.socket().setTcpNoDelay(true);
                return ch;
            }

            @Override
            public List<Map<String, Object>> socketAddress() { return List.of(a); }

            @Override
            public void close() { IncomingUri.close(server); }
        };
    }

    private Listener listenUnix() throws Refused {
        // QEMU unlinks whatever is at the path first; here only a stale socket goes (a regular file
        // or a directory named by a QMP client is not deleted: bind refuses it as in use).
        try {
            BasicFileAttributes attrs = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (attrs.isOther()) Files.delete(path);
        } catch (java.nio.file.NoSuchFileException absent) {
            // nothing to replace
        } catch (IOException | RuntimeException e) {
            throw new Refused("Failed to unlink socket " + path + ": " + e.getMessage());
        }
        ServerSocketChannel s = null;
        try {
            s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            s.bind(UnixDomainSocketAddress.of(path), 1);
        } catch (IOException | RuntimeException e) {
            close(s);
            throw new Refused("Failed to bind socket to " + path + ": " + errnoText(e));
        }
        ServerSocketChannel server = s;
        Map<String, Object> a = new LinkedHashMap<>();
        a.put("path", path.toString());
        a.put("type", "unix");
        return new Listener() {
            @Override
            public SocketChannel accept() throws IOException { return server.accept(); }

            @Override
            public List<Map<String, Object>> socketAddress() { return List.of(a); }

            @Override
            public void close() {
                IncomingUri.close(server);
                try {
                    Files.deleteIfExists(path);
                } catch (IOException | RuntimeException ignored) {
                    // a socket file left behind is replaced by the next listener
                }
            }
        };
    }

    /** The strerror text in a JDK socket exception ("...: No such file or directory" → that text). */
    private static String errnoText(Exception e) {
        String m = String.valueOf(e.getMessage());
        int colon = m.lastIndexOf(": ");
        return colon >= 0 ? m.substring(colon + 2) : m;
    }

    private static void close(ServerSocketChannel s) {
        if (s == null) return;
        try {
            s.close();
        } catch (IOException ignored) {
            // closing a socket that never worked
        }
    }
}
