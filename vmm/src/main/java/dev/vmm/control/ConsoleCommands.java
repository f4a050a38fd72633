package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.virtio.console.FileBackend;
import dev.vmm.virtio.console.PortBackend;
import dev.vmm.virtio.console.UnixSocketBackend;
import dev.vmm.virtio.console.VirtioConsole;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * virtio-console port hot-plug over QMP, in QEMU's shapes: a character device first, then a
 * {@code virtserialport} device on it.
 *
 * <pre>
 * {"execute":"chardev-add","arguments":{"id":"c1","backend":{"type":"socket","data":{
 *      "addr":{"type":"unix","data":{"path":"/run/vm/agent.sock"}},"server":true,"wait":false}}}}
 * {"execute":"chardev-add","arguments":{"id":"c2","backend":{"type":"file","data":{"out":"/var/log/vm.port"}}}}
 * {"execute":"device_add","arguments":{"driver":"virtserialport","chardev":"c1","name":"org.example.agent","id":"p1"}}
 * {"execute":"device_del","arguments":{"id":"p1"}}          → event DEVICE_DELETED {device, path}
 * {"execute":"chardev-remove","arguments":{"id":"c1"}}
 * {"execute":"query-chardev"}
 * </pre>
 *
 * Supported chardevs: {@code socket} (UNIX, server mode: the socket is bound at
 * {@code chardev-add}; one client at a time) and {@code file} (output appended). Ports go on the
 * machine's virtio-console, which exists when the machine was started with at least one
 * {@code --console-port}; its slot count ({@link VirtioConsole#maxPorts()}) bounds the ports.
 * {@code device_del} closes the chardev's backend with the port (the console device owns it from
 * {@code device_add} on); the chardev stays defined and a later {@code device_add} reopens it.
 */
public final class ConsoleCommands {
    private ConsoleCommands() {}

    /** A character device: where a port's bytes go, and which port uses it. */
    private static final class Chardev {
        final String id;
        final Path socket, file;
        PortBackend open;   // opened and not yet handed to a port, or null
        PortBackend live;   // the backend opened last (the port's while one uses it): its connection state
        String device;      // the virtserialport using it, or null

        Chardev(String id, Path socket, Path file) {
            this.id = id;
            this.socket = socket;
            this.file = file;
        }

        PortBackend take() throws IOException {
            PortBackend b = open != null ? open : socket != null ? new UnixSocketBackend(socket) : new FileBackend(file);
            open = null;
            live = b;
            return b;
        }

        /** The file or socket, for error messages. */
        Path where() { return socket != null ? socket : file; }

        /** As QEMU's query-chardev names it: {@code file}, or the socket with "disconnected:" while no client is there. */
        String filename() {
            if (socket == null) return "file";
            boolean connected = live instanceof UnixSocketBackend u && u.connected();
            return (connected ? "" : "disconnected:") + "unix:" + socket + ",server=on";
        }
    }

    private record PortDevice(String id, int port, String chardev, String name) { }

    private static final class State {
        final Map<String, Chardev> chardevs = new LinkedHashMap<>();
        final Map<String, PortDevice> devices = new LinkedHashMap<>();
    }

    /** @param devices the machine's devices (null: none yet) */
    public static void install(QmpServer qmp, DeviceDrivers drivers, Supplier<DeviceRegistry> devices) {
        State st = new State();
        qmp.register("chardev-add", a -> {
            synchronized (st) {
                return chardevAdd(st, a);
            }
        });
        qmp.register("chardev-remove", a -> {
            synchronized (st) {
                chardevRemove(st, a);
                return null;
            }
        });
        qmp.register("query-chardev", java.util.Set.of(), a -> {
            synchronized (st) {
                List<Map<String, Object>> out = new ArrayList<>();
                for (Chardev c : st.chardevs.values()) {
                    out.add(Map.of("label", c.id, "filename", c.filename(), "frontend-open", guestOpened(st, devices.get(), c)));
                }
                return out;
            }
        });
        drivers.register(new DeviceDriver() {
            @Override public java.util.Set<String> drivers() { return java.util.Set.of("virtserialport"); }

            @Override public void add(String driver, String id, JsonNode a) throws QmpServer.QmpException {
                synchronized (st) {
                    deviceAdd(st, devices.get(), id, a);
                }
            }

            @Override public boolean owns(String id) {
                synchronized (st) {
                    return st.devices.containsKey(id);
                }
            }

            @Override public java.util.concurrent.CompletableFuture<Void> delete(String id) throws QmpServer.QmpException {
                synchronized (st) {
                    deviceDel(st, devices.get(), id);
                }
                return java.util.concurrent.CompletableFuture.completedFuture(null);
            }
        });
    }

    /** Whether the guest opened the port using {@code c} (QEMU's frontend-open for a virtserialport). */
    private static boolean guestOpened(State st, DeviceRegistry devices, Chardev c) {
        PortDevice d = c.device == null ? null : st.devices.get(c.device);
        VirtioConsole vc = devices == null ? null : devices.console();
        if (d == null || vc == null) return false;
        for (VirtioConsole.PortStatus p : vc.ports()) if (p.id() == d.port()) return p.guestOpen();
        return false;
    }

    private static String text(JsonNode a, String key) throws QmpServer.QmpException {
        return QapiArguments.string(a, "", key, true);
    }

    /** QEMU 7.2's ChardevBackendKind values: one of these not offered here is refused by name, any other as QEMU refuses it. */
    private static final java.util.Set<String> QEMU_KINDS = java.util.Set.of("file", "serial", "parallel", "pipe", "socket", "udp",
            "pty", "null", "mux", "msmouse", "wctablet", "braille", "testdev", "stdio", "console", "spicevmc", "spiceport",
            "qemu-vdagent", "dbus", "vc", "ringbuf", "memory");

    private static Object chardevAdd(State st, JsonNode a) throws QmpServer.QmpException {
        String id = text(a, "id");
        JsonNode backend = QapiArguments.object(a, "", "backend", true);
        String type = QapiArguments.string(backend, "backend", "type", true);
        if (!QEMU_KINDS.contains(type)) throw QmpServer.QmpException.generic("Parameter 'type' does not accept value '" + type + "'");
        Chardev c;
        switch (type) {
            case "socket" -> {
                JsonNode data = QapiArguments.object(backend, "backend", "data", true);
                JsonNode addr = QapiArguments.object(data, "backend.data", "addr", true);
                String addrType = QapiArguments.string(addr, "backend.data.addr", "type", true);
                if (!addrType.equals("unix")) {
                    throw QmpServer.QmpException.generic("chardev '" + id + "': only UNIX socket addresses are supported");
                }
                JsonNode unix = QapiArguments.object(addr, "backend.data.addr", "data", true);
                String path = QapiArguments.string(unix, "backend.data.addr.data", "path", true);
                if (!QapiArguments.bool(data, "backend.data", "server", false)) { // QEMU: absent = client mode
                    throw QmpServer.QmpException.generic("chardev '" + id + "': only server mode (\"server\": true) is supported");
                }
                c = new Chardev(id, Path.of(path), null);
            }
            case "file" -> {
                JsonNode data = QapiArguments.object(backend, "backend", "data", true);
                String out = QapiArguments.string(data, "backend.data", "out", true);
                if (QapiArguments.string(data, "backend.data", "in", false) != null) {
                    throw QmpServer.QmpException.generic("chardev '" + id + "': file input is not supported");
                }
                c = new Chardev(id, null, Path.of(out));
            }
            default -> throw QmpServer.QmpException.generic("chardev type '" + type + "' is not supported (socket, file)");
        }
        if (st.chardevs.containsKey(id)) throw QmpServer.QmpException.generic("Chardev with id '" + id + "' already exists");
        try {
            c.open = c.take(); // bind / open now, as QEMU does: errors belong to chardev-add
        } catch (IOException | RuntimeException e) {
            throw QmpServer.QmpException.generic("Failed to add chardev '" + id + "': " + c.where() + ": " + e.getMessage());
        }
        st.chardevs.put(id, c);
        return Map.of();
    }

    private static void chardevRemove(State st, JsonNode a) throws QmpServer.QmpException {
        String id = text(a, "id");
        Chardev c = st.chardevs.get(id);
        if (c == null) throw QmpServer.QmpException.generic("Chardev '" + id + "' not found");
        if (c.device != null) throw QmpServer.QmpException.generic("Chardev '" + id + "' is busy");
        if (c.open != null) c.open.close();
        st.chardevs.remove(id);
    }

    private static void deviceAdd(State st, DeviceRegistry devices, String id, JsonNode a) throws QmpServer.QmpException {
        VirtioConsole vc = devices == null ? null : devices.console();
        if (vc == null) {
            throw QmpServer.QmpException.generic("No 'virtio-serial-bus' bus found for device 'virtserialport'"
                    + " (start the machine with a --console-port to have a virtio-console)");
        }
        String chardevId = text(a, "chardev");
        Chardev c = st.chardevs.get(chardevId);
        if (c == null) {
            throw QmpServer.QmpException.generic("Property 'virtserialport.chardev' can't find value '" + chardevId + "'");
        }
        if (c.device != null) {
            throw QmpServer.QmpException.generic("Property 'virtserialport.chardev' can't take value '" + chardevId + "': Device '"
                    + chardevId + "' is in use");
        }
        String name = a.hasNonNull("name") ? text(a, "name") : null;
        for (PortDevice d : st.devices.values()) {
            if (name != null && name.equals(d.name())) {
                throw QmpServer.QmpException.generic("virtio-serial-bus: A port already exists by name " + name);
            }
        }
        PortBackend b;
        try {
            b = c.take();
        } catch (IOException | RuntimeException e) {
            throw QmpServer.QmpException.generic("chardev '" + chardevId + "': " + c.where() + ": " + e.getMessage());
        }
        int port;
        try {
            port = vc.addPort(name, b);
        } catch (IllegalStateException | IllegalArgumentException e) {
            c.open = b; // not consumed: the chardev keeps it
            throw QmpServer.QmpException.generic("virtserialport: " + e.getMessage());
        }
        String key = id != null ? id : "#port" + port;
        c.device = key;
        st.devices.put(key, new PortDevice(key, port, chardevId, name));
    }

    private static void deviceDel(State st, DeviceRegistry devices, String id) throws QmpServer.QmpException {
        PortDevice d = st.devices.get(id);
        if (d == null) throw new QmpServer.QmpException("DeviceNotFound", "Device '" + id + "' not found");
        devices.console().removePort(d.port());
        st.devices.remove(id);
        Chardev c = st.chardevs.get(d.chardev());
        if (c != null) c.device = null; // its backend was closed with the port
    }
}
