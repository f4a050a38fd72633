package dev.vmm.chipset.pci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * MSI-X table state across a snapshot/migration: {@link MsixTable#saveState()} into a fresh
 * table of the same size must give the same guest-visible table and PBA, re-announce the routes
 * the guest programmed, deliver what became deliverable, and refuse a malformed state (a
 * migration peer's bytes). PIT showed save/restore with no test in this package at all.
 */
class MsixTableStateTest {
    static final int VECTORS = 70; // two PBA words, the second partly used
    final List<String> delivered = new ArrayList<>();
    final List<String> routes = new ArrayList<>();

    MsixTable table() {
        return new MsixTable(VECTORS, (v, a, d) -> delivered.add(v + "@" + Long.toHexString(a) + "=" + Integer.toHexString(d)),
                (v, a, d, m) -> routes.add(v + "@" + Long.toHexString(a) + "=" + Integer.toHexString(d) + (m ? " masked" : "")));
    }

    static void program(MsixTable t, int vector, long address, int data, boolean masked) {
        long entry = (long) vector * MsixTable.ENTRY_SIZE;
        t.writeTable(entry, 8, address);
        t.writeTable(entry + 8, 4, data & 0xffff_ffffL);
        t.writeTable(entry + 12, 4, masked ? 1 : 0);
    }

    @Test
    void aRestoredTableReadsAndDeliversAsTheSavedOne() {
        MsixTable src = table();
        src.setControl(true, false);
        program(src, 0, 0xfee0_0000L, 0x41, false);
        program(src, 65, 0x1_fee0_1000L, 0x42, true);   // masked: its trigger stays pending
        program(src, 69, 0xfee0_2000L, 0x43, true);
        src.trigger(65);
        src.trigger(69);
        byte[] saved = src.saveState();

        delivered.clear();
        routes.clear();
        MsixTable dst = table();
        dst.restoreState(saved);
        for (long off = 0; off < dst.tableSize(); off += 4) assertThat(dst.readTable(off, 4)).as("table @%d", off).isEqualTo(src.readTable(off, 4));
        assertThat(dst.readPba(8, 8)).isEqualTo(src.readPba(8, 8)).isEqualTo(1L << 1 | 1L << 5);
        assertThat(dst.readPba(8, 4)).isEqualTo(1L << 1 | 1L << 5);
        assertThat(dst.readPba(12, 4)).isZero();
        assertThat(dst.isEnabled()).isTrue();
        assertThat(dst.isFunctionMasked()).isFalse();
        assertThat(dst.isPending(65)).isTrue();
        assertThat(dst.isVectorMasked(65)).isTrue();
        assertThat(dst.isVectorMasked(0)).isFalse();
        assertThat(dst.address(65)).isEqualTo(0x1_fee0_1000L);
        assertThat(dst.data(65)).isEqualTo(0x42);
        // only the programmed vectors get a route, each with its mask state
        assertThat(routes).containsExactly("0@fee00000=41", "65@1fee01000=42 masked", "69@fee02000=43 masked");
        assertThat(delivered).isEmpty();

        dst.writeTable(65L * MsixTable.ENTRY_SIZE + 12, 4, 0); // unmask: the pending message goes out
        assertThat(delivered).containsExactly("65@1fee01000=42");
        assertThat(dst.isPending(65)).isFalse();
        dst.clearPending(69);
        assertThat(dst.isPending(69)).isFalse();
        assertThat(dst.readPba(8, 8)).isZero();
    }

    @Test
    void restoreDeliversPendingMessagesOfUnmaskedVectors() {
        MsixTable src = table();
        src.setControl(true, true);                        // function mask: everything pends
        program(src, 3, 0xfee0_0000L, 0x30, false);
        src.trigger(3);
        byte[] saved = src.saveState();
        saved[5] = 0;                                     // as if the guest had cleared the function mask
        MsixTable dst = table();
        dst.restoreState(saved);
        assertThat(delivered).containsExactly("3@fee00000=30");
        assertThat(dst.isPending(3)).isFalse();
    }

    @Test
    void pendingBitsBeyondTheLastVectorAreDropped() {
        MsixTable src = table();
        byte[] saved = src.saveState();
        for (int i = saved.length - 8; i < saved.length; i++) saved[i] = (byte) 0xff; // the second PBA word
        MsixTable dst = table();
        dst.restoreState(saved);
        assertThat(dst.readPba(8, 8)).isEqualTo((1L << (VECTORS - 64)) - 1);
        assertThat(routes).isEmpty();
    }

    @Test
    void restoredReservedBitsReadAsZero() {
        MsixTable src = table();
        byte[] saved = src.saveState();
        int entry0 = 6;
        saved[entry0 + 3] = (byte) 0x7f;                    // address low bits 0-1 and others
        saved[entry0 + 12] = (byte) 0xff;                   // control: reserved bits above the mask bit
        saved[entry0 + 15] = (byte) 0xfe;                   // mask bit clear
        MsixTable dst = table();
        dst.restoreState(saved);
        assertThat(dst.readTable(0, 4)).isEqualTo(0x7c);
        assertThat(dst.readTable(12, 4)).isZero();
    }

    @Test
    void malformedStatesAreRefused() {
        byte[] good = table().saveState();
        assertThatThrownBy(() -> table().restoreState(java.util.Arrays.copyOf(good, good.length - 1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bytes");
        assertThatThrownBy(() -> new MsixTable(VECTORS + 1, (v, a, d) -> { }, null).restoreState(good))
                .isInstanceOf(IllegalArgumentException.class);
        byte[] otherCount = good.clone();
        otherCount[3] = 71;   // the right length, another vector count
        assertThatThrownBy(() -> table().restoreState(otherCount)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("vectors");
        for (int flag : new int[] {4, 5}) {
            byte[] bad = good.clone();
            bad[flag] = 2;
            assertThatThrownBy(() -> table().restoreState(bad)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("corrupt");
        }
    }
}
