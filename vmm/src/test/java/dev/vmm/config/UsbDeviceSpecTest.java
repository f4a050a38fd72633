package dev.vmm.config;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class UsbDeviceSpecTest {
    @Test
    void parsesTheThreeOptions() {
        UsbDeviceSpec.Storage s = UsbDeviceSpec.Storage.parse("path=a.img,format=qcow2,readonly=on,bootindex=2,id=u1");
        assertThat(s).isEqualTo(new UsbDeviceSpec.Storage(Path.of("a.img"), "qcow2", true, 2, "u1"));
        assertThat(UsbDeviceSpec.Storage.parse("b.img")).isEqualTo(new UsbDeviceSpec.Storage(Path.of("b.img"), null, false, null, null));
        assertThat(UsbDeviceSpec.Hid.parse("usb-tablet", "")).isEqualTo(new UsbDeviceSpec.Hid("usb-tablet", null));
        assertThat(UsbDeviceSpec.Hid.parse("usb-kbd", "id=k")).isEqualTo(new UsbDeviceSpec.Hid("usb-kbd", "k"));
        assertThat(UsbDeviceSpec.parseAll(List.of("x.img"), List.of("", "id=t2"), List.of(""), true))
                .extracting(UsbDeviceSpec::driver).containsExactly("usb-storage", "usb-tablet", "usb-tablet", "usb-kbd");
        assertThat(UsbDeviceSpec.parseAll(List.of(), List.of(), List.of(), List.of("", "id=m1"), true))
                .containsExactly(new UsbDeviceSpec.Hid("usb-mouse", null), new UsbDeviceSpec.Hid("usb-mouse", "m1"));
    }

    @Test
    void mistakesAreOneLine() {
        assertThatThrownBy(() -> UsbDeviceSpec.Storage.parse("format=raw")).hasMessage("--usb-storage: 'path=' is required");
        assertThatThrownBy(() -> UsbDeviceSpec.Storage.parse("path=a,format=iso")).hasMessageStartingWith("--usb-storage: format=iso is not one of");
        assertThatThrownBy(() -> UsbDeviceSpec.Storage.parse("path=a,bootindex=-1")).hasMessageStartingWith("--usb-storage: ");
        assertThatThrownBy(() -> UsbDeviceSpec.Hid.parse("usb-tablet", "id=9x")).hasMessageStartingWith("--usb-tablet: id=9x");
        assertThatThrownBy(() -> UsbDeviceSpec.Hid.parse("usb-kbd", "port=3")).hasMessageStartingWith("--usb-kbd: unknown key 'port'");
        assertThatThrownBy(() -> UsbDeviceSpec.parseAll(List.of(), List.of(), List.of(""), false))
                .isInstanceOf(ConfigException.class).hasMessage("--usb-kbd needs --usb (the xHCI controller it plugs into)");
        assertThat(UsbDeviceSpec.parseAll(List.of(), List.of(), List.of(), false)).isEmpty();
    }
}
