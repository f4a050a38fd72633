package dev.vmm.snapshot;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/** A state section's body written with a {@link DataOutputStream} into a byte array (big-endian). */
public final class SectionBytes {
    private SectionBytes() {}

    public interface Body {
        void write(DataOutputStream o) throws IOException;
    }

    public static byte[] of(Body body) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        DataOutputStream o = new DataOutputStream(bos);
        body.write(o);
        o.flush();
        return bos.toByteArray();
    }
}
