package dev.vmm.qapi;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The QAPI spelling: lower case, '-' for '_'; names without '_' stay one word. */
class QapiNamesTest {
    enum Sample { GUEST_PANICKED, HOST_QMP_SYSTEM_RESET, INMIGRATE }

    @Test
    void constantNamesTurnBackIntoQapiNames() {
        assertThat(QapiNames.of(Sample.GUEST_PANICKED)).isEqualTo("guest-panicked");
        assertThat(QapiNames.of(Sample.HOST_QMP_SYSTEM_RESET)).isEqualTo("host-qmp-system-reset");
        assertThat(QapiNames.of(Sample.INMIGRATE)).isEqualTo("inmigrate");
    }
}
