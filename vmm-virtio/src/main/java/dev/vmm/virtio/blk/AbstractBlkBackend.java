package dev.vmm.virtio.blk;

/**
 * The part of a {@link BlkBackend} that is the same for every backend: the facts about its disk,
 * fixed when the backend is opened (the interface promises they are constant for the backend's
 * life and readable from any thread).
 */
abstract class AbstractBlkBackend implements BlkBackend {
    /** Size in bytes, read-only, write-through, and the serial GET_ID answers (null: none, answered as ""). */
    record DiskFacts(long size, boolean readOnly, boolean writeThrough, String serial) {
        DiskFacts {
            if (serial == null) serial = "";
        }
    }

    private final DiskFacts facts;

    AbstractBlkBackend(DiskFacts facts) {
        this.facts = facts;
    }

    @Override public final long size() { return facts.size(); }

    @Override public final boolean readOnly() { return facts.readOnly(); }

    @Override public final boolean writeThrough() { return facts.writeThrough(); }

    @Override public final String defaultSerial() { return facts.serial(); }
}
