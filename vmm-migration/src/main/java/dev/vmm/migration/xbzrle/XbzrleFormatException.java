package dev.vmm.migration.xbzrle;

import java.io.IOException;

/**
 * A malformed XBZRLE delta: truncated or oversized ULEB128 length, a run reaching past the end of
 * the page or of the delta, a zero-length non-zero run, or a zero-length zero run after the first.
 * The delta comes from the migration stream, i.e. from another host, so this is a stream error
 * (hence an {@link IOException}, like {@link java.util.zip.ZipException}), never a VMM crash.
 */
public final class XbzrleFormatException extends IOException {
    private final long deltaOffset;

    public XbzrleFormatException(String message, long deltaOffset) {
        super(message + " (at delta offset " + deltaOffset + ")");
        this.deltaOffset = deltaOffset;
    }

    /** Offset into the delta at which the problem was detected. */
    public long deltaOffset() { return deltaOffset; }
}
