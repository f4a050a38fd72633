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

    /** Driver → device: the driver is ready for control messages (value 1 = success). */
    public static final int DEVICE_READY = 0;
    /** Device → driver: a port was added (id). */
    public static final int DEVICE_ADD = 1;
    /** Device → driver: a port was removed (id). */
    public static final int DEVICE_REMOVE = 2;
    /** Driver → device: the driver set up port id (value 1 = success). */
    public static final int PORT_READY = 3;
    /** Device → driver: port id is a console (becomes an hvc). */
    public static final int CONSOLE_PORT = 4;
    /** Device → driver: console port id changed size; followed by le16 rows, le16 cols (Linux's order). */
    public static final int RESIZE = 5;
    /** Both ways: the sender's end of port id opened (value 1) or closed (0). */
    public static final int PORT_OPEN = 6;
    /** Device → driver: port id's name follows the header (no terminator). */
    public static final int PORT_NAME = 7;

    /** Longest port name sent (the guest gets it in one receive buffer). */
    public static final int MAX_NAME_BYTES = 255;

    public static byte[] message(int id, int event, int value) {
        return header(id, event, value, 0).array();
    }

    public static byte[] portName(int id, String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = header(id, PORT_NAME, 1, n.length);
        b.put(n);
        return b.array();
    }

    public static byte[] resize(int id, int cols, int rows) {
        ByteBuffer b = header(id, RESIZE, 0, 4);
        b.putShort((short) rows).putShort((short) cols);
        return b.array();
    }

    private static ByteBuffer header(int id, int event, int value, int extra) {
        ByteBuffer b = ByteBuffer.allocate(HEADER_SIZE + extra).order(ByteOrder.LITTLE_ENDIAN);
        return b.putInt(id).putShort((short) event).putShort((short) value);
    }

    public static String eventName(int event) {
        return switch (event) {
            case DEVICE_READY -> "DEVICE_READY";
            case DEVICE_ADD -> "DEVICE_ADD";
            case DEVICE_REMOVE -> "DEVICE_REMOVE";
            case PORT_READY -> "PORT_READY";
            case CONSOLE_PORT -> "CONSOLE_PORT";
            case RESIZE -> "RESIZE";
            case PORT_OPEN -> "PORT_OPEN";
            case PORT_NAME -> "PORT_NAME";
            default -> "event " + event;
        };
    }
}
