package dev.vmm.boot;

/**
 * The boot vCPU's state at the kernel's entry point, as the boot protocol defines it.
 *
 * @param mode     32-bit protected mode with paging off (PVH, multiboot) or 64-bit long mode with
 *                 identity paging (Linux 64-bit boot protocol)
 * @param rip      entry point
 * @param rax      EAX/RAX (multiboot magic; zero otherwise)
 * @param rbx      EBX (PVH start_info, multiboot info)
 * @param rsi      RSI (Linux boot_params)
 * @param protocol a human-readable name of the protocol used
 */
public record BootEntry(Mode mode, long rip, long rax, long rbx, long rsi, String protocol) {
    public enum Mode { PROTECTED_32, LONG_64 }
}
