package dev.vmm.virtio.net;

/**
 * Counters of one queue pair. Written only by the pair's I/O thread (single writer), read by
 * anyone (volatile, so readers see whole values).
 */
public final class NetQueueStats {
    volatile long rxPackets, rxBytes, rxDropped, rxFiltered, txPackets, txBytes, txDropped;

    public long rxPackets() { return rxPackets; }
    public long rxBytes() { return rxBytes; }
    /** Frames lost on the way in: truncated by a too-small buffer, runts, read errors. */
    public long rxDropped() { return rxDropped; }
    /** Frames the receive filter (promisc off, MAC tables) kept from the guest. */
    public long rxFiltered() { return rxFiltered; }
    public long txPackets() { return txPackets; }
    public long txBytes() { return txBytes; }
    /** Frames the guest sent that were not delivered (invalid header for the negotiated features, tap refused). */
    public long txDropped() { return txDropped; }

    public String summary() {
        return "rx " + rxPackets + " pkts " + rxBytes + " B (dropped " + rxDropped + ", filtered " + rxFiltered
                + "), tx " + txPackets + " pkts " + txBytes + " B (dropped " + txDropped + ")";
    }
}
