package dev.vmm.virtio.pci;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;

/**
 * The saved state of one virtio-pci transport and its device (snapshots, live migration): the
 * register file (status, features, selectors, MSI-X vectors, config generation, ISR), each
 * queue's configuration and ring positions, and the device's own state as opaque versioned bytes.
 * The PCI function (config space, MSI-X table) is saved separately with its config space.
 *
 * <p>{@link #write}/{@link #read} define the byte format; {@link #read} checks every count and
 * range it can without the device (what the device must accept is checked on load).
 */
public record VirtioPciState(int deviceType, long offeredFeatures, int status, long driverFeatures,
                             int deviceFeatureSelect, int driverFeatureSelect, int queueSelect, int configVector,
                             int configGeneration, int isr, boolean active, List<Queue> queues,
                             int deviceStateVersion, byte[] deviceState) {
    /** Format version of {@link #write}. */
    public static final int VERSION = 1;
    private static final int MAX_DEVICE_STATE = 1 << 20;

    /**
     * One queue: the driver's configuration, the refused size it may have written (0: none), its
     * MSI-X vector and the device's positions in the rings (what the next pop/addUsed uses).
     */
    public record Queue(int size, long descTable, long availRing, long usedRing, boolean ready, int refusedSize,
                        int vector, int nextAvail, int nextUsed) {
        public Queue {
            if (size < 1 || size > 32768 || Integer.bitCount(size) != 1) throw new IllegalArgumentException("queue size " + size);
            if ((nextAvail & ~0xFFFF) != 0 || (nextUsed & ~0xFFFF) != 0) throw new IllegalArgumentException("ring index out of range");
            if ((vector & ~0xFFFF) != 0) throw new IllegalArgumentException("MSI-X vector " + vector);
        }
    }

    public VirtioPciState {
        queues = List.copyOf(queues);
        if ((status & ~0xFF) != 0) throw new IllegalArgumentException("device status " + status);
        if ((isr & ~3) != 0) throw new IllegalArgumentException("ISR " + isr);
    }

    public void write(DataOutputStream o) throws IOException {
        o.writeInt(deviceType);
        o.writeLong(offeredFeatures);
        o.writeByte(status);
        o.writeLong(driverFeatures);
        o.writeInt(deviceFeatureSelect);
        o.writeInt(driverFeatureSelect);
        o.writeShort(queueSelect);
        o.writeShort(configVector);
        o.writeInt(configGeneration);
        o.writeByte(isr);
        o.writeBoolean(active);
        o.writeShort(queues.size());
        for (Queue q : queues) {
            o.writeShort(q.size() == 32768 ? 0x8000 : q.size());
            o.writeLong(q.descTable());
            o.writeLong(q.availRing());
            o.writeLong(q.usedRing());
            o.writeBoolean(q.ready());
            o.writeInt(q.refusedSize());
            o.writeShort(q.vector());
            o.writeShort(q.nextAvail());
            o.writeShort(q.nextUsed());
        }
        o.writeInt(deviceStateVersion);
        o.writeInt(deviceState.length);
        o.write(deviceState);
    }

    public static VirtioPciState read(DataInputStream in) throws IOException {
        try {
            int type = in.readInt();
            long offered = in.readLong();
            int status = in.readUnsignedByte();
            long driver = in.readLong();
            int dfs = in.readInt(), drfs = in.readInt();
            int qsel = in.readUnsignedShort(), cvec = in.readUnsignedShort();
            int gen = in.readInt();
            int isr = in.readUnsignedByte();
            boolean active = in.readBoolean();
            int n = in.readUnsignedShort();
            Queue[] qs = new Queue[n];
            for (int i = 0; i < n; i++) {
                qs[i] = new Queue(in.readUnsignedShort(), in.readLong(), in.readLong(), in.readLong(), in.readBoolean(),
                        in.readInt(), in.readUnsignedShort(), in.readUnsignedShort(), in.readUnsignedShort());
            }
            int version = in.readInt();
            int len = in.readInt();
            if (len < 0 || len > MAX_DEVICE_STATE) throw new IOException("implausible device state length " + len);
            byte[] ds = new byte[len];
            in.readFully(ds);
            return new VirtioPciState(type, offered, status, driver, dfs, drfs, qsel, cvec, gen, isr, active, List.of(qs), version, ds);
        } catch (IllegalArgumentException e) {
            throw new IOException("corrupt virtio transport state: " + e.getMessage());
        }
    }
}
