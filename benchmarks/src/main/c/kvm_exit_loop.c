/*
 * kvm_exit_loop: the smallest KVM VMM that boots a guest-kit PVH guest, used
 * as the lower bound for VM-exit cost in the exit benchmark
 * (benchmarks/exits/run.sh).  It does no more per exit than any VMM must:
 * KVM_RUN, look at kvm_run->exit_reason, touch one byte, KVM_RUN again.
 *
 *   gcc -O2 -Wall -o kvm_exit_loop kvm_exit_loop.c
 *   ./kvm_exit_loop exits.pvh.elf 'count=100000' [ram_mib]
 *
 * Machine: in-kernel irqchip, RAM at 0 (default 256 MiB, the vmm's default),
 * one vCPU entering the PVH 32-bit entry with the same GDT, segments and
 * boot-information addresses as the Java vmm (VcpuSetup, PvhLoader,
 * X86Layout).  Devices, all handled inline in the run loop:
 *   COM1 0x3f8-0x3ff  THR writes go to stdout, LSR (0x3fd) reads 0x60
 *                     (transmitter empty), other registers read 0
 *   0xf4              exit device: the byte written is the exit status
 *   any other port    writes ignored, reads all-ones
 *   any MMIO          writes ignored, reads all-ones
 * Exit status: the guest's exit byte, or 125 on a VMM error.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GDT_ADDR        0x500
#define IDT_ADDR        0x520
#define BOOT_INFO_ADDR  0x6000
#define BOOT_STACK_TOP  0x8ff0
#define CMDLINE_ADDR    0x20000
#define CMDLINE_MAX     0x10000
#define EBDA_START      0x9fc00
#define HIGH_MEM_START  0x100000
#define KVM_TSS_ADDR    0xfffbd000u

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578u
#define E820_RAM 1

#define COM1 0x3f8
#define EXIT_PORT 0xf4
#define ERR 125

struct hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    uint32_t memmap_entries, reserved;
};

struct hvm_memmap_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
};

static uint8_t *ram;
static uint64_t ram_size;

static void die(const char *what)
{
    fprintf(stderr, "kvm_exit_loop: %s: %s\n", what, strerror(errno));
    exit(ERR);
}

static void fail(const char *what)
{
    fprintf(stderr, "kvm_exit_loop: %s\n", what);
    exit(ERR);
}

/* Guest-physical range [gpa, gpa+len) as a host pointer; the ELF is untrusted input. */
static void *gpa(uint64_t addr, uint64_t len)
{
    if (addr > ram_size || len > ram_size - addr)
        fail("guest address outside RAM");
    return ram + addr;
}

/* Loads the PT_LOAD segments at their physical addresses; returns the PVH entry. */
static uint32_t load_pvh_elf(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die(path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        die("fstat");
    size_t size = (size_t)st.st_size;
    if (size < sizeof(Elf64_Ehdr))
        fail("kernel too small for an ELF header");
    const uint8_t *f = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f == MAP_FAILED)
        die("mmap kernel");
    close(fd);
    const Elf64_Ehdr *eh = (const void *)f;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64)
        fail("kernel is not an x86-64 ELF64 file");
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > size ||
        (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size - eh->e_phoff)
        fail("bad program header table");

    uint64_t entry = 0;
    const Elf64_Phdr *ph = (const void *)(f + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *p = &ph[i];
        if (p->p_offset > size || p->p_filesz > size - p->p_offset)
            fail("segment outside the file");
        if (p->p_type == PT_LOAD) {
            if (p->p_filesz > p->p_memsz)
                fail("PT_LOAD with filesz > memsz");
            uint8_t *dst = gpa(p->p_paddr, p->p_memsz);
            memcpy(dst, f + p->p_offset, p->p_filesz);
            memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
        } else if (p->p_type == PT_NOTE) {
            /* Notes: namesz, descsz, type, name and desc each padded to 4 bytes. */
            uint64_t off = 0, len = p->p_filesz;
            const uint8_t *n = f + p->p_offset;
            while (len - off >= 12) {
                uint32_t namesz, descsz, type;
                memcpy(&namesz, n + off, 4);
                memcpy(&descsz, n + off + 4, 4);
                memcpy(&type, n + off + 8, 4);
                uint64_t name = off + 12, desc = name + ((namesz + 3ull) & ~3ull);
                uint64_t next = desc + ((descsz + 3ull) & ~3ull);
                if (next > len)
                    break;
                if (namesz == 4 && !memcmp(n + name, "Xen", 4) && type == XEN_ELFNOTE_PHYS32_ENTRY && descsz >= 4) {
                    uint32_t e32;
                    memcpy(&e32, n + desc, 4); /* low half of an 8-byte desc too */
                    entry = e32;
                }
                off = next;
            }
        }
    }
    munmap((void *)f, size);
    if (!entry)
        fail("no XEN_ELFNOTE_PHYS32_ENTRY note: not a PVH kernel");
    return (uint32_t)entry;
}

/* hvm_start_info v1 with a two-entry memory map (low RAM, RAM from 1 MiB) and the command line. */
static void write_start_info(const char *cmdline)
{
    size_t clen = strlen(cmdline) + 1;
    if (clen > CMDLINE_MAX)
        fail("command line too long");
    memcpy(gpa(CMDLINE_ADDR, clen), cmdline, clen);

    struct hvm_start_info *si = gpa(BOOT_INFO_ADDR, sizeof(*si) + 2 * sizeof(struct hvm_memmap_entry));
    struct hvm_memmap_entry *mm = (void *)(si + 1);
    mm[0] = (struct hvm_memmap_entry){ 0, EBDA_START, E820_RAM, 0 };
    mm[1] = (struct hvm_memmap_entry){ HIGH_MEM_START, ram_size - HIGH_MEM_START, E820_RAM, 0 };
    *si = (struct hvm_start_info){
        .magic = HVM_START_MAGIC,
        .version = 1,
        .cmdline_paddr = CMDLINE_ADDR,
        .memmap_paddr = BOOT_INFO_ADDR + sizeof(*si),
        .memmap_entries = 2,
    };
}

static struct kvm_segment flat(uint16_t sel, uint8_t type)
{
    return (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
                                 .present = 1, .s = 1, .db = 1, .g = 1 };
}

/* 32-bit protected mode, paging off, flat segments from a 4-entry GDT, as PVH requires. */
static void setup_vcpu(int kvm, int vcpu, uint32_t entry)
{
    uint64_t *gdt = gpa(GDT_ADDR, 4 * 8);
    gdt[0] = 0;
    gdt[1] = 0x00cf9b000000ffffull; /* code32 */
    gdt[2] = 0x00cf93000000ffffull; /* data */
    gdt[3] = 0x00008b0000000067ull; /* TSS */
    *(uint64_t *)gpa(IDT_ADDR, 8) = 0;

    /* Guest CPUID = what KVM supports; long mode needs at least the LM bit. */
    int n = 256;
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(struct kvm_cpuid_entry2));
    cpuid->nent = n;
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
        die("KVM_GET_SUPPORTED_CPUID");
    if (ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0)
        die("KVM_SET_CPUID2");
    free(cpuid);

    struct kvm_sregs s;
    if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0)
        die("KVM_GET_SREGS");
    s.cs = flat(0x08, 0xb);
    s.ds = s.es = s.fs = s.gs = s.ss = flat(0x10, 0x3);
    s.tr = (struct kvm_segment){ .selector = 0x18, .type = 0xb, .present = 1, .limit = 0x67 };
    s.gdt = (struct kvm_dtable){ .base = GDT_ADDR, .limit = 4 * 8 - 1 };
    s.idt = (struct kvm_dtable){ .base = IDT_ADDR, .limit = 0 };
    s.cr0 = 0x11; /* PE | ET */
    s.cr3 = s.cr4 = s.efer = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &s) < 0)
        die("KVM_SET_SREGS");

    struct kvm_regs r = { .rip = entry, .rbx = BOOT_INFO_ADDR, .rflags = 2,
                          .rsp = BOOT_STACK_TOP, .rbp = BOOT_STACK_TOP };
    if (ioctl(vcpu, KVM_SET_REGS, &r) < 0)
        die("KVM_SET_REGS");
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s KERNEL.pvh.elf [CMDLINE] [RAM_MIB]\n", argv[0]);
        return 2;
    }
    const char *cmdline = argc > 2 ? argv[2] : "";
    ram_size = (argc > 3 ? strtoull(argv[3], NULL, 0) : 256) << 20;
    if (ram_size < 2 * HIGH_MEM_START || ram_size > (3ull << 30))
        fail("RAM must be between 2 MiB and 3 GiB");

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("/dev/kvm");
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        fail("unexpected KVM API version");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        die("KVM_CREATE_VM");
    (void)ioctl(vm, KVM_SET_TSS_ADDR, KVM_TSS_ADDR); /* VT-x only; harmless elsewhere */
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        die("KVM_CREATE_IRQCHIP");

    ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED)
        die("mmap RAM");
    struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0, .memory_size = ram_size,
                                                  .userspace_addr = (uintptr_t)ram };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        die("KVM_SET_USER_MEMORY_REGION");

    uint32_t entry = load_pvh_elf(argv[1]);
    write_start_info(cmdline);

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        die("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        die("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run");
    setup_vcpu(kvm, vcpu, entry);

    /* stdout is fully buffered while running; flushed at exit. */
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    uint64_t io_exits = 0, mmio_exits = 0;
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            die("KVM_RUN");
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            io_exits++;
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            uint32_t bytes = run->io.size * run->io.count;
            if (run->io.direction == KVM_EXIT_IO_OUT) {
                if (run->io.port == COM1)
                    fwrite(data, 1, bytes, stdout);
                else if (run->io.port == EXIT_PORT) {
                    fflush(stdout);
                    fprintf(stderr, "kvm_exit_loop: guest exit %u after %llu io, %llu mmio exits\n", data[0],
                            (unsigned long long)io_exits, (unsigned long long)mmio_exits);
                    return data[0];
                }
            } else {
                uint8_t v = 0xff;
                if (run->io.port >= COM1 && run->io.port < COM1 + 8)
                    v = run->io.port == COM1 + 5 ? 0x60 : 0;
                memset(data, v, bytes);
            }
            break;
        }
        case KVM_EXIT_MMIO:
            mmio_exits++;
            if (!run->mmio.is_write)
                memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
            break;
        case KVM_EXIT_HLT:
            fflush(stdout);
            fprintf(stderr, "kvm_exit_loop: guest halted\n");
            return 0;
        case KVM_EXIT_SHUTDOWN:
            fflush(stdout);
            fail("guest triple fault (shutdown)");
            break;
        default:
            fflush(stdout);
            fprintf(stderr, "kvm_exit_loop: unhandled exit reason %u (internal suberror %u)\n", run->exit_reason,
                    run->internal.suberror);
            return ERR;
        }
    }
}
