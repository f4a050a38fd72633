package dev.vmm.block.nbd;

/** Numbers of the NBD protocol (doc/proto.md of the NBD project), all sent big-endian. */
public final class NbdConstants {
    private NbdConstants() {}

    public static final int DEFAULT_PORT = 10809;

    // Handshake
    public static final long NBDMAGIC = 0x4e42444d41474943L;        // "NBDMAGIC"
    public static final long IHAVEOPT = 0x49484156454F5054L;        // "IHAVEOPT"
    public static final long OPTION_REPLY_MAGIC = 0x3e889045565a9L;
    public static final int FLAG_FIXED_NEWSTYLE = 1, FLAG_NO_ZEROES = 2;          // handshake flags
    public static final int FLAG_C_FIXED_NEWSTYLE = 1, FLAG_C_NO_ZEROES = 2;      // client flags

    // Transmission flags
    public static final int FLAG_HAS_FLAGS = 1, FLAG_READ_ONLY = 1 << 1, FLAG_SEND_FLUSH = 1 << 2,
            FLAG_SEND_FUA = 1 << 3, FLAG_ROTATIONAL = 1 << 4, FLAG_SEND_TRIM = 1 << 5,
            FLAG_SEND_WRITE_ZEROES = 1 << 6, FLAG_SEND_DF = 1 << 7, FLAG_CAN_MULTI_CONN = 1 << 8,
            FLAG_SEND_RESIZE = 1 << 9, FLAG_SEND_CACHE = 1 << 10, FLAG_SEND_FAST_ZERO = 1 << 11;

    // Options
    public static final int OPT_EXPORT_NAME = 1, OPT_ABORT = 2, OPT_LIST = 3, OPT_PEEK_EXPORT = 4,
            OPT_STARTTLS = 5, OPT_INFO = 6, OPT_GO = 7, OPT_STRUCTURED_REPLY = 8,
            OPT_LIST_META_CONTEXT = 9, OPT_SET_META_CONTEXT = 10, OPT_EXTENDED_HEADERS = 11;

    // Option reply types
    public static final int REP_ACK = 1, REP_SERVER = 2, REP_INFO = 3, REP_META_CONTEXT = 4;
    public static final int REP_FLAG_ERROR = 1 << 31;
    public static final int REP_ERR_UNSUP = REP_FLAG_ERROR | 1, REP_ERR_POLICY = REP_FLAG_ERROR | 2,
            REP_ERR_INVALID = REP_FLAG_ERROR | 3, REP_ERR_PLATFORM = REP_FLAG_ERROR | 4,
            REP_ERR_TLS_REQD = REP_FLAG_ERROR | 5, REP_ERR_UNKNOWN = REP_FLAG_ERROR | 6,
            REP_ERR_SHUTDOWN = REP_FLAG_ERROR | 7, REP_ERR_BLOCK_SIZE_REQD = REP_FLAG_ERROR | 8,
            REP_ERR_TOO_BIG = REP_FLAG_ERROR | 9;

    // NBD_REP_INFO types
    public static final int INFO_EXPORT = 0, INFO_NAME = 1, INFO_DESCRIPTION = 2, INFO_BLOCK_SIZE = 3;

    // Transmission
    public static final int REQUEST_MAGIC = 0x25609513;
    public static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    public static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    public static final int REQUEST_HEADER_SIZE = 28, SIMPLE_REPLY_SIZE = 16, STRUCTURED_HEADER_SIZE = 20;

    // Command flags
    public static final int CMD_FLAG_FUA = 1, CMD_FLAG_NO_HOLE = 1 << 1, CMD_FLAG_DF = 1 << 2,
            CMD_FLAG_REQ_ONE = 1 << 3, CMD_FLAG_FAST_ZERO = 1 << 4;

    // Commands
    public static final int CMD_READ = 0, CMD_WRITE = 1, CMD_DISC = 2, CMD_FLUSH = 3, CMD_TRIM = 4,
            CMD_CACHE = 5, CMD_WRITE_ZEROES = 6, CMD_BLOCK_STATUS = 7;

    // Structured reply
    public static final int REPLY_FLAG_DONE = 1;
    public static final int REPLY_TYPE_NONE = 0, REPLY_TYPE_OFFSET_DATA = 1, REPLY_TYPE_OFFSET_HOLE = 2,
            REPLY_TYPE_BLOCK_STATUS = 5, REPLY_TYPE_ERROR = (1 << 15) | 1, REPLY_TYPE_ERROR_OFFSET = (1 << 15) | 2;
    public static final int REPLY_TYPE_FLAG_ERROR = 1 << 15;

    // base:allocation flags
    public static final int STATE_HOLE = 1, STATE_ZERO = 2;

    public static final String BASE_ALLOCATION = "base:allocation";
    public static final String QEMU_ALLOCATION_DEPTH = "qemu:allocation-depth";

    /** Largest string the spec allows (export names, descriptions, messages). */
    public static final int MAX_STRING = 4096;
    /** Largest READ/WRITE payload this implementation sends or accepts (as QEMU: 32 MiB). */
    public static final int MAX_PAYLOAD = 32 << 20;
    /** Largest option payload a server accepts, and option reply a client accepts. */
    public static final int MAX_OPTION_LENGTH = 64 << 10;

    public static String commandName(int type) {
        return switch (type) {
            case CMD_READ -> "read";
            case CMD_WRITE -> "write";
            case CMD_DISC -> "disconnect";
            case CMD_FLUSH -> "flush";
            case CMD_TRIM -> "trim";
            case CMD_CACHE -> "cache";
            case CMD_WRITE_ZEROES -> "write-zeroes";
            case CMD_BLOCK_STATUS -> "block-status";
            default -> "command " + type;
        };
    }

    public static String optionName(int option) {
        return switch (option) {
            case OPT_EXPORT_NAME -> "NBD_OPT_EXPORT_NAME";
            case OPT_ABORT -> "NBD_OPT_ABORT";
            case OPT_LIST -> "NBD_OPT_LIST";
            case OPT_STARTTLS -> "NBD_OPT_STARTTLS";
            case OPT_INFO -> "NBD_OPT_INFO";
            case OPT_GO -> "NBD_OPT_GO";
            case OPT_STRUCTURED_REPLY -> "NBD_OPT_STRUCTURED_REPLY";
            case OPT_LIST_META_CONTEXT -> "NBD_OPT_LIST_META_CONTEXT";
            case OPT_SET_META_CONTEXT -> "NBD_OPT_SET_META_CONTEXT";
            default -> "option " + option;
        };
    }

    public static String optionReplyName(int type) {
        return switch (type) {
            case REP_ERR_UNSUP -> "unsupported";
            case REP_ERR_POLICY -> "refused by policy";
            case REP_ERR_INVALID -> "invalid";
            case REP_ERR_PLATFORM -> "not supported on this platform";
            case REP_ERR_TLS_REQD -> "TLS required";
            case REP_ERR_UNKNOWN -> "unknown export";
            case REP_ERR_SHUTDOWN -> "server shutting down";
            case REP_ERR_BLOCK_SIZE_REQD -> "block size required";
            case REP_ERR_TOO_BIG -> "too big";
            default -> "reply type 0x" + Integer.toHexString(type);
        };
    }
}
