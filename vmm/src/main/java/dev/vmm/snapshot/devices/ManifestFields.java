package dev.vmm.snapshot.devices;

import dev.vmm.migration.stream.StateFormatException;

import java.io.DataInputStream;
import java.io.IOException;

/**
 * The rules the {@code devices} section's manifest ({@link DeviceManifest}) and its LUN sets
 * ({@link ScsiLuns}) share: how a saved string or count is read and bounded (beyond the bound the
 * stream is corrupt, no machine has it), and when a qdev id in the state does not match the one here.
 */
final class ManifestFields {
    /** Longest bus name, kind, qdev id, MAC or serial a section may hold. */
    static final int MAX_TEXT = 128;

    private ManifestFields() {}

    /** A string of at most {@link #MAX_TEXT} characters; {@code what} names it in the error. */
    static String text(DataInputStream in, String what) throws IOException {
        String s = in.readUTF();
        if (s.length() > MAX_TEXT) throw new StateFormatException("devices: implausible " + what + " of " + s.length() + " characters");
        return s;
    }

    /** A count of {@code what} from 0 to {@code max}. */
    static int count(DataInputStream in, int max, String what) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > max) throw new StateFormatException("devices: implausible " + what + " count " + n);
        return n;
    }

    /**
     * Why the qdev id {@code here} does not do for {@code saved} ("" is none), or null when it does:
     * an id in the state must be the same here (device_del must find it); a device saved without
     * one may have one here.
     */
    static String idDifference(String describe, String saved, String here) {
        if (saved.isEmpty() || here.equals(saved)) return null;
        return describe + " has id '" + saved + "' in the state, " + (here.isEmpty() ? "none" : "'" + here + "'") + " here";
    }
}
