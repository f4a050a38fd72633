package dev.vmm.ffm;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * What the bindings claim about the system headers, in the form the header probe tests compare with
 * a compiled C program: constants by name, struct layouts by name, member offsets by path.
 */
public final class HeaderFacts {
    private HeaderFacts() {}

    /** Every public static int/long constant of {@code holder} whose name {@code include} accepts (ints signed). */
    public static Map<String, Long> constants(Class<?> holder, Predicate<String> include) {
        return constants(holder, include, name -> true);
    }

    /**
     * The same, with each int valued as C sees it: signed where {@code signedInt} says so, else
     * unsigned (a flag with bit 31 set is a large positive number in C's unsigned types).
     */
    public static Map<String, Long> constants(Class<?> holder, Predicate<String> include, Predicate<String> signedInt) {
        Map<String, Long> m = new LinkedHashMap<>();
        for (Field f : holder.getDeclaredFields()) {
            int mod = f.getModifiers();
            if (!Modifier.isPublic(mod) || !Modifier.isStatic(mod) || !include.test(f.getName())) continue;
            try {
                if (f.getType() == long.class) m.put(f.getName(), f.getLong(null));
                else if (f.getType() == int.class) {
                    int v = f.getInt(null);
                    m.put(f.getName(), signedInt.test(f.getName()) ? v : Integer.toUnsignedLong(v));
                }
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
        return m;
    }

    /** The layouts by their names (each must be named). */
    public static Map<String, GroupLayout> layouts(GroupLayout... layouts) {
        Map<String, GroupLayout> m = new LinkedHashMap<>();
        for (GroupLayout l : layouts) m.put(l.name().orElseThrow(), l);
        return m;
    }

    /** Byte offset of a member by path of names, e.g. {@code offset(KVM_RUN, "$exit", "io", "port")}. */
    public static long offset(GroupLayout layout, String... path) {
        MemoryLayout.PathElement[] p = new MemoryLayout.PathElement[path.length];
        for (int i = 0; i < path.length; i++) p[i] = MemoryLayout.PathElement.groupElement(path[i]);
        return layout.byteOffset(p);
    }
}
