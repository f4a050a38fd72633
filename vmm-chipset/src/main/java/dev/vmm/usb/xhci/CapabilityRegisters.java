package dev.vmm.usb.xhci;

/**
 * The read-only capability registers (xHCI 1.2 §5.3) and the extended capability list that follows
 * them (two Supported Protocol capabilities, §7.2), laid out as QEMU 7.2's {@code qemu-xhci}: the
 * operational registers at 0x40, runtime at 0x1000, doorbells at 0x2000, extended capabilities
 * at 0x20; USB 3 ports first (1-4), then USB 2 (5-8). {@code XhciQemuOracleTest} compares them with
 * QEMU at test time.
 */
final class CapabilityRegisters {
    static final int CAP_LENGTH = 0x40;
    static final int HCI_VERSION = 0x0100;
    static final int RUNTIME_OFFSET = 0x1000;
    static final int DOORBELL_OFFSET = 0x2000;
    static final int EXTENDED_CAPS_OFFSET = 0x20;
    static final int MAX_SLOTS = 64;
    static final int MAX_INTERRUPTERS = 16;
    static final int USB3_PORTS = 4, USB2_PORTS = 4;
    static final int FIRST_USB3_PORT = 1, FIRST_USB2_PORT = USB3_PORTS + 1;
    static final int PORTS = USB3_PORTS + USB2_PORTS;

    private static final int NAME_USB = 0x2042_5355;    // "USB " little-endian
    private static final int SUPPORTED_PROTOCOL = 2;

    private final boolean contexts64;

    CapabilityRegisters(boolean contexts64) {
        this.contexts64 = contexts64;
    }

    /** A dword of the capability region ({@code offset} below {@link #CAP_LENGTH}, dword aligned). */
    int read(int offset) {
        return switch (offset) {
            case 0x00 -> HCI_VERSION << 16 | CAP_LENGTH;
            case 0x04 -> PORTS << 24 | MAX_INTERRUPTERS << 8 | MAX_SLOTS;          // HCSPARAMS1
            case 0x08 -> 0xF;                                                      // HCSPARAMS2: IST 15; ERST Max 2^0
            case 0x0C -> 0;                                                        // HCSPARAMS3: no U1/U2 exit latencies
            case 0x10 -> (EXTENDED_CAPS_OFFSET / 4) << 16                          // HCCPARAMS1: xECP,
                    | 7 << 12                                                      // MaxPSASize,
                    | (contexts64 ? 1 << 2 : 0)                                    // CSZ,
                    | 1;                                                           // AC64
            case 0x14 -> DOORBELL_OFFSET;
            case 0x18 -> RUNTIME_OFFSET;
            case 0x1C -> 0;                                                        // HCCPARAMS2
            // Supported Protocol: USB 2.0, next capability 4 dwords on, ports 5-8.
            case 0x20 -> 0x02 << 24 | 0x00 << 16 | 4 << 8 | SUPPORTED_PROTOCOL;
            case 0x24, 0x34 -> NAME_USB;
            case 0x28 -> USB2_PORTS << 8 | FIRST_USB2_PORT;
            // Supported Protocol: USB 3.0, the last capability, ports 1-4.
            case 0x30 -> 0x03 << 24 | 0x00 << 16 | SUPPORTED_PROTOCOL;
            case 0x38 -> USB3_PORTS << 8 | FIRST_USB3_PORT;
            default -> 0;
        };
    }

    static boolean superSpeedPort(int number) {
        return number >= FIRST_USB3_PORT && number < FIRST_USB3_PORT + USB3_PORTS;
    }
}
