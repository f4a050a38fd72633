package dev.vmm.firmware;

import dev.vmm.config.ConfigException;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * A BIOS image as {@code --bios} gives it, checked before KVM: it is mapped read-only so that it
 * ends at 4 GiB (the reset vector is its last 16 bytes), so its size must be a multiple of 64 KiB
 * (the granularity QEMU and the PAM segments work in) between 64 KiB and 256 KiB: KVM's TSS and
 * identity-map pages sit right below 0xFFFC0000 ({@code X86Layout.KVM_TSS_ADDR}), and a larger image
 * would overlap them (SeaBIOS's images are 128 and 256 KiB).
 */
public record FirmwareImage(Path path, byte[] bytes) {
    public static final int MIN = 64 << 10, MAX = (int) ((1L << 32) - dev.vmm.boot.X86Layout.KVM_TSS_ADDR - 3 * 4096);

    public FirmwareImage {
        bytes = bytes.clone();
    }

    /** Guest address of the image's first byte: 4 GiB − size. */
    public long base() { return (1L << 32) - bytes.length; }

    public int size() { return bytes.length; }

    public static FirmwareImage load(Path path) {
        byte[] b;
        try {
            if (Files.isDirectory(path)) throw new ConfigException("--bios " + path + " is a directory");
            long size = Files.size(path);
            if (size > MAX) throw new ConfigException("--bios " + path + ": " + size + " bytes, more than the " + (MAX >> 10) + " KiB a BIOS may have here");
            b = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            throw new ConfigException("--bios " + path + ": no such file" + (path.equals(PlatformOptions.DEFAULT_BIOS)
                    ? " (firmware boot uses Debian's SeaBIOS: apt-get install seabios, or give --bios FILE or --kernel FILE)" : ""));
        } catch (AccessDeniedException e) {
            throw new ConfigException("--bios " + path + ": permission denied");
        } catch (IOException e) {
            throw new ConfigException("--bios " + path + ": " + e.getMessage());
        }
        return of(path, b);
    }

    /** Checks {@code bytes} as a BIOS image. */
    public static FirmwareImage of(Path path, byte[] bytes) {
        if (bytes.length < MIN || bytes.length % MIN != 0 || bytes.length > MAX) {
            throw new ConfigException("--bios " + path + ": " + bytes.length + " bytes; a BIOS image is a multiple of 64 KiB, 64 to " + (MAX >> 10) + " KiB");
        }
        return new FirmwareImage(path, bytes);
    }
}
