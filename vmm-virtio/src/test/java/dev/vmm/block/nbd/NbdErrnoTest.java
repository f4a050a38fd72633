package dev.vmm.block.nbd;

import dev.vmm.ffm.libc.Libc;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The wire errno table: every constant has its own name, and the host C library's wording. */
class NbdErrnoTest {

    private static List<Field> wireConstants() {
        List<Field> out = new ArrayList<>();
        for (Field f : NbdErrno.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == int.class) out.add(f);
        }
        return out;
    }

    @Test
    void everyWireValueIsNamedAfterItsConstant() throws IllegalAccessException {
        List<Field> constants = wireConstants();
        assertThat(constants).hasSize(8);
        for (Field f : constants) {
            assertThat(NbdErrno.name(f.getInt(null))).isEqualTo(f.getName());
        }
    }

    @Test
    void describeUsesTheCLibrarysTextForEachWireValue() throws IllegalAccessException {
        // The oracle is glibc's strerror on this machine (the spec uses Linux numbers).
        for (Field f : wireConstants()) {
            int errno = f.getInt(null);
            assertThat(NbdErrno.describe(errno)).isEqualTo(Libc.strerror(errno) + " (" + f.getName() + ")");
        }
    }

    @Test
    void valuesOutsideTheSpecsSubsetStayNumbers() {
        assertThat(NbdErrno.name(2)).isEqualTo("errno 2");
        assertThat(NbdErrno.name(-1)).isEqualTo("errno 4294967295");
        assertThat(NbdErrno.describe(2)).isEqualTo("unknown error (errno 2)");
    }
}
