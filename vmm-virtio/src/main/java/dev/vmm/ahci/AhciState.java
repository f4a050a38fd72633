package dev.vmm.ahci;

import java.util.List;

/**
 * Everything an AHCI controller needs to resume after a snapshot or migration: its config space,
 * GHC, and per port the registers, the NCQ tags in flight and the drive's own state. Media and disk
 * images are not part of it; the VMM re-opens them.
 */
public record AhciState(byte[] pciConfig, int ghc, List<Port> ports) {
    public AhciState {
        pciConfig = pciConfig.clone();
        ports = List.copyOf(ports);
    }

    @Override
    public byte[] pciConfig() { return pciConfig.clone(); }

    /** Value equality, config space bytes included (a saved state compared with a re-saved one). */
    @Override
    public boolean equals(Object o) {
        return o instanceof AhciState s && ghc == s.ghc && java.util.Arrays.equals(pciConfig, s.pciConfig) && ports.equals(s.ports);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(java.util.Arrays.hashCode(pciConfig), ghc, ports);
    }

    /**
     * One port. {@code ncqActive}: tags accepted and not completed, re-run from guest memory on
     * restore. {@code disk}/{@code cdrom}: the drive's state, null when the port has no such drive.
     */
    public record Port(long clb, long fb, int is, int ie, int cmd, int tfd, int sig, int ssts, int sctl, int serr,
                       int sact, int ci, int sntf, int ncqActive, boolean halted,
                       AtaDisk.State disk, AtapiCdrom.State cdrom) { }
}
