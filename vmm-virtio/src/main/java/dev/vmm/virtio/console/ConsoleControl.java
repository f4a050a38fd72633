package dev.vmm.virtio.console;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The multiport control protocol (virtio 1.x §5.3.6.2): 8-byte messages
 * {@code struct virtio_console_control { le32 id; le16 event; le16 value; }} on the control
 * queues, some followed by data (PORT_NAME: the name bytes; RESIZE: two le16).
 */
public final class ConsoleControl {
    private ConsoleControl() { }

    public static final int HEADER_SIZE = 8;

    /** The control events ({@code event}); the wire value is the constant's position. */
    public enum Event {
        /** Driver → device: the driver is ready for control messages (value 1 = success). */
        DEVICE_READY,
        /** Device → driver: a port was added (id). */
        DEVICE_ADD,
        /** Device → driver: a port was removed (id). */
        DEVICE_REMOVE,
        /** Driver → device: the driver set up port id (value 1 = success). */
        PORT_READY,
        /** Device → driver: port id is a console (becomes an hvc). */
        CONSOLE_PORT,
        /** Device → driver: console port id changed size; followed by le16 rows, le16 cols (Linux's order). */
        RESIZE,
        /** Both ways: the sender's end of port id opened (value 1) or closed (0). */
        PORT_OPEN,
        /** Device → driver: port id's name follows the header (no terminator). */
        PORT_NAME;

        private static final Event[] BY_CODE = values();

        /** The value in the message's {@code event} field. */
        public int code() { return ordinal(); }

        /** The event with wire value {@code code}, or null for one not defined. */
        public static Event of(int code) {
            return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
        }
    }

    /** Longest port name sent (the guest gets it in one receive buffer). */
    public static final int MAX_NAME_BYTES = 255;

    public static byte[] message(int id, Event event, int value) {
        return message(id, event.code(), value);
    }

    /** A message with a raw event value (also one not defined). */
    public static byte[] message(int id, int event, int value) {
        return header(id, event, value, 0).array();
    }

    public static byte[] portName(int id, String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = header(id, Event.PORT_NAME.code(), 1, n.length);
        b.put(n);
        return b.array();
    }

    public static byte[] resize(int id, int cols, int rows) {
        ByteBuffer b = header(id, Event.RESIZE.code(), 0, 4);
        b.putShort((short) rows).putShort((short) cols);
        return b.array();
    }

    private static ByteBuffer header(int id, int event, int value, int extra) {
        ByteBuffer b = ByteBuffer.allocate(HEADER_SIZE + extra).order(ByteOrder.LITTLE_ENDIAN);
        return b.putInt(id).putShort((short) event).putShort((short) value);
    }

    /** The event's name, or "event N" for a value not defined. */
    public static String eventName(int event) {
        Event e = Event.of(event);
        return e == null ? "event " + event : e.name();
    }
}
