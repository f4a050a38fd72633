/*
 * init for the smoke-test images: /sbin/init on the ext2 root (make-rootfs.sh) and /init in
 * the initramfs (make-initramfs.sh). Freestanding x86-64, no libc: raw system calls only, so
 * it builds with nothing but gcc and is a few hundred bytes of code.
 *
 * It prints "smoke-init: <flavour> init running", the content of /smoke-marker, then syncs
 * and asks for a reboot: with QEMU's -no-reboot (or a VMM that stops on reset) the VM exits.
 * If anything fails it exits, and the kernel panics "Attempted to kill init!" (with panic=-1
 * that too is a reset). Either way the console shows how far it got.
 *
 * On a PVM host guest user mode cannot make system calls at all, so this never gets past its
 * first `syscall`: the kernel's own messages up to "Run /sbin/init" and the panic are what the
 * smoke tests check there.
 */

#ifndef SMOKE_FLAVOUR
#define SMOKE_FLAVOUR "rootfs"
#endif

enum {
    SYS_read = 0, SYS_write = 1, SYS_open = 2, SYS_close = 3,
    SYS_exit = 60, SYS_sync = 162, SYS_reboot = 169,
    O_RDONLY = 0, O_WRONLY = 1, O_NOCTTY = 0400,
    LINUX_REBOOT_MAGIC1 = (int) 0xfee1dead, LINUX_REBOOT_MAGIC2 = 672274793,
    LINUX_REBOOT_CMD_RESTART = 0x01234567,
};

static long syscall4(long nr, long a, long b, long c, long d)
{
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

static long length(const char *s)
{
    long n = 0;
    while (s[n])
        n++;
    return n;
}

static void say(int fd, const char *s)
{
    syscall4(SYS_write, fd, (long) s, length(s), 0);
}

static int run(void)
{
    /* The kernel opens /dev/console as fds 0-2 when it exists; open it ourselves anyway so
     * the output does not depend on that. */
    long out = syscall4(SYS_open, (long) "/dev/console", O_WRONLY | O_NOCTTY, 0, 0);
    if (out < 0)
        out = 1;
    say(out, "smoke-init: " SMOKE_FLAVOUR " init running\n");

    char marker[128];
    long fd = syscall4(SYS_open, (long) "/smoke-marker", O_RDONLY, 0, 0);
    long n = fd < 0 ? fd : syscall4(SYS_read, fd, (long) marker, sizeof marker - 1, 0);
    if (n < 0) {
        say(out, "smoke-init: cannot read /smoke-marker\n");
        return 1;
    }
    marker[n] = 0;
    say(out, "smoke-init: marker ");
    say(out, marker); /* the file ends with a newline */

    say(out, "smoke-init: done, rebooting\n");
    syscall4(SYS_sync, 0, 0, 0, 0);
    syscall4(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART, 0);
    say(out, "smoke-init: reboot failed\n");
    return 2;
}

void _start(void)
{
    /* The kernel enters with %rsp 16-byte aligned, but a C function expects the alignment it
     * would have after a `call`; realign before calling anything. */
    __asm__ volatile("and $-16, %%rsp" ::: "memory");
    syscall4(SYS_exit, run(), 0, 0, 0);
    for (;;)
        ;
}
