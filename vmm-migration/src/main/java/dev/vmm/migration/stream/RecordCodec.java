package dev.vmm.migration.stream;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;

/**
 * Writes and reads device state records (int, long, boolean, byte[] components) in declaration
 * order. Reading goes through the record's canonical constructor, so a device's own validation
 * rejects impossible state from a corrupt or hostile stream with a clear message.
 */
public final class RecordCodec {
    private static final int MAX_ARRAY = 1 << 20;

    private RecordCodec() {}

    public static void write(DataOutputStream out, Record r) throws IOException {
        for (RecordComponent c : r.getClass().getRecordComponents()) {
            Object v;
            try {
                v = c.getAccessor().invoke(r);
            } catch (IllegalAccessException | InvocationTargetException e) {
                throw new IllegalStateException(e);
            }
            switch (v) {
                case Integer i -> out.writeInt(i);
                case Long l -> out.writeLong(l);
                case Boolean b -> out.writeBoolean(b);
                case byte[] b -> {
                    out.writeInt(b.length);
                    out.write(b);
                }
                default -> throw new IllegalArgumentException("cannot encode " + c.getType() + " in " + r.getClass().getSimpleName());
            }
        }
    }

    public static <R extends Record> R read(DataInputStream in, Class<R> type) throws IOException {
        RecordComponent[] cs = type.getRecordComponents();
        Object[] args = new Object[cs.length];
        Class<?>[] types = new Class<?>[cs.length];
        for (int i = 0; i < cs.length; i++) {
            Class<?> t = cs[i].getType();
            types[i] = t;
            if (t == int.class) args[i] = in.readInt();
            else if (t == long.class) args[i] = in.readLong();
            else if (t == boolean.class) args[i] = in.readBoolean();
            else if (t == byte[].class) {
                int n = in.readInt();
                if (n < 0 || n > MAX_ARRAY) throw new StateFormatException(type.getSimpleName() + ": implausible array length " + n);
                // Read what arrives, in chunks, rather than allocate the claimed length first: a
                // hostile stream's 4-byte length must not cost 1 MiB unless 1 MiB follows.
                byte[] b = in.readNBytes(n);
                if (b.length != n) {
                    throw new java.io.EOFException(type.getSimpleName() + ": array of " + n + " bytes, the stream ends after " + b.length);
                }
                args[i] = b;
            } else {
                throw new IllegalArgumentException("cannot decode " + t + " in " + type.getSimpleName());
            }
        }
        try {
            Constructor<R> ctor = type.getDeclaredConstructor(types);
            ctor.setAccessible(true);
            return ctor.newInstance(args);
        } catch (InvocationTargetException e) {
            throw new StateFormatException(type.getSimpleName() + " state rejected: " + e.getCause().getMessage());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }
}
