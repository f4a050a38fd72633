package dev.vmm.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code bootindex=N} on {@code --disk}, {@code --net} and {@code --cdrom path=FILE} (firmware boot order). */
class BootIndexOptionsTest {
    @Test
    void bootindexOnEveryBootableOption() {
        assertThat(DiskSpec.parse("path=a.img,bootindex=3").bootIndex()).isEqualTo(3);
        assertThat(DiskSpec.parse("path=a.img").bootIndex()).isNull();
        assertThat(NetOptions.parse("tap=tap0,bootindex=0").bootIndex()).isZero();
        assertThat(NetOptions.parse("tap=tap0").bootIndex()).isNull();
        AhciDriveOptions cd = AhciDriveOptions.cdrom("path=/isos/x.iso,bootindex=1");
        assertThat(cd.path()).isEqualTo(Path.of("/isos/x.iso"));
        assertThat(cd.bootIndex()).isEqualTo(1);
        assertThat(cd.readOnly()).isTrue();
        assertThat(AhciDriveOptions.cdrom("/isos/plain.iso").bootIndex()).isNull();
    }

    @Test
    void badValuesAreOneLineErrorsNamingTheOption() {
        assertThatThrownBy(() -> DiskSpec.parse("path=a.img,bootindex=-1")).isInstanceOf(ConfigException.class).hasMessageStartingWith("--disk");
        assertThatThrownBy(() -> NetOptions.parse("tap=t,bootindex=x")).isInstanceOf(ConfigException.class).hasMessageStartingWith("--net");
        assertThatThrownBy(() -> AhciDriveOptions.cdrom("path=x.iso,bootindex=70000")).isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("--cdrom");
        assertThatThrownBy(() -> AhciDriveOptions.cdrom("path=x.iso,readonly=on")).isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("--cdrom");
    }
}
