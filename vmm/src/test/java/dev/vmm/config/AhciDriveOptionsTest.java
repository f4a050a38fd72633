package dev.vmm.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Collections;
import org.junit.jupiter.api.Test;

/** {@code --ahci} and {@code --cdrom} values: keys, defaults, refusals (one line naming the option). */
class AhciDriveOptionsTest {
    @Test
    void diskKeysAndDefaults() {
        AhciDriveOptions d = AhciDriveOptions.disk("path=/x/a.qcow2,format=qcow2,readonly=on,discard=unmap,cache=writeback,bootindex=2");
        assertThat(d).isEqualTo(new AhciDriveOptions(Path.of("/x/a.qcow2"), "qcow2", true, true, 2, false));
        AhciDriveOptions plain = AhciDriveOptions.disk("path=b.img");
        assertThat(plain.format()).isNull();
        assertThat(plain.readOnly()).isFalse();
        assertThat(plain.discard()).isFalse();
        assertThat(plain.bootIndex()).isNull();
        assertThat(plain.option()).isEqualTo("--ahci");
    }

    @Test
    void cdromIsReadOnlyAtapi() {
        AhciDriveOptions c = AhciDriveOptions.cdrom("/isos/d.iso");
        assertThat(c.cdrom()).isTrue();
        assertThat(c.readOnly()).isTrue();
        assertThat(c.option()).isEqualTo("--cdrom");
        assertThatThrownBy(() -> AhciDriveOptions.cdrom("")).isInstanceOf(ConfigException.class).hasMessageStartingWith("--cdrom");
    }

    @Test
    void refusals() {
        assertThatThrownBy(() -> AhciDriveOptions.disk("format=raw")).isInstanceOf(ConfigException.class).hasMessageStartingWith("--ahci");
        assertThatThrownBy(() -> AhciDriveOptions.disk("path=a,queues=2")).isInstanceOf(ConfigException.class).hasMessageStartingWith("--ahci");
        assertThatThrownBy(() -> AhciDriveOptions.disk("path=a,format=vmdk")).isInstanceOf(ConfigException.class);
        assertThatThrownBy(() -> AhciDriveOptions.disk("path=a,cache=none")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("cache=none");
        assertThatThrownBy(() -> AhciDriveOptions.disk("path=a,bootindex=-1")).isInstanceOf(ConfigException.class);
        assertThatThrownBy(() -> new AhciSpec(Collections.nCopies(7, AhciDriveOptions.cdrom("c.iso"))))
                .isInstanceOf(ConfigException.class).hasMessageContaining("6 ports");
        assertThat(new AhciSpec(Collections.nCopies(6, AhciDriveOptions.cdrom("c.iso"))).drives()).hasSize(6);
    }
}
