package dev.vmm.ffm.uring;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * Which opcodes the running kernel supports ({@code IORING_REGISTER_PROBE}), so the VMM can say at
 * start-up what it cannot do instead of failing on the first request: e.g.
 * {@code probe.require("virtio-blk discard", IORING_OP_FALLOCATE)}.
 */
public final class IoUringProbe {
    private final int lastOp;
    private final BitSet supported;

    IoUringProbe(int lastOp, BitSet supported) {
        this.lastOp = lastOp;
        this.supported = (BitSet) supported.clone();
    }

    /** The highest opcode the kernel knows (it may know opcodes newer than {@link IoUringConstants}). */
    public int lastOp() { return lastOp; }

    public boolean supports(int opcode) {
        return opcode >= 0 && supported.get(opcode);
    }

    /** Names ({@link IoUringConstants#opName}) of every supported opcode, in opcode order. */
    public List<String> supportedNames() {
        List<String> names = new ArrayList<>();
        for (int op = supported.nextSetBit(0); op >= 0; op = supported.nextSetBit(op + 1)) names.add(IoUringConstants.opName(op));
        return names;
    }

    /** Names of those {@code opcodes} the kernel does not support (empty when all are). */
    public List<String> missing(int... opcodes) {
        List<String> names = new ArrayList<>();
        for (int op : opcodes) if (!supports(op)) names.add(IoUringConstants.opName(op));
        return names;
    }

    /** Throws a one-line {@link IoUringUnavailableException} naming the missing opcodes, if any. */
    public void require(String purpose, int... opcodes) {
        List<String> missing = missing(opcodes);
        if (!missing.isEmpty()) {
            throw new IoUringUnavailableException("io_uring on this kernel lacks " + String.join(", ", missing)
                    + ", needed for " + purpose, 0, null);
        }
    }

    @Override
    public String toString() {
        return "IoUringProbe[lastOp=" + lastOp + ", supported=" + supportedNames() + "]";
    }
}
