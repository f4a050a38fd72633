/*
 * ahciprobe: a bare-metal multiboot program run under QEMU (TCG) as the oracle for the AHCI
 * model's command behaviour. It drives 00:1f.2 of -M q35 like a minimal AHCI driver and prints
 * "key value" lines on COM1; AhciQemuBehaviourTest runs the same steps against our model and
 * compares. The step list here and in the test must stay in the same order.
 */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

__asm__(".pushsection .multiboot\n.align 4\n.long 0x1BADB002\n.long 0\n.long -0x1BADB002\n.popsection\n"
        ".pushsection .text\n.global _start\n_start:\n mov $stack_top, %esp\n call main\n"
        "1: hlt\n jmp 1b\n.popsection\n"
        ".pushsection .bss\n.align 16\nstack: .skip 16384\nstack_top:\n.popsection\n");

static inline void outb(u16 p, u8 v) { __asm__ volatile("outb %0,%1" ::"a"(v), "Nd"(p)); }
static inline void outl(u16 p, u32 v) { __asm__ volatile("outl %0,%1" ::"a"(v), "Nd"(p)); }
static inline u32 inl(u16 p) { u32 v; __asm__ volatile("inl %1,%0" : "=a"(v) : "Nd"(p)); return v; }
static inline u8 inb(u16 p) { u8 v; __asm__ volatile("inb %1,%0" : "=a"(v) : "Nd"(p)); return v; }

static void putc_(char c) { while (!(inb(0x3FD) & 0x20)) { } outb(0x3F8, c); }
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void hex(u32 v) { for (int i = 28; i >= 0; i -= 4) putc_("0123456789abcdef"[(v >> i) & 15]); }
static void kv(const char *k, u32 v) { puts_(k); putc_(' '); hex(v); putc_('\n'); }
static void kvn(const char *k, int n, u32 v) { puts_(k); putc_('.'); hex(n); putc_(' '); hex(v); putc_('\n'); }

static volatile u32 *abar;
static u32 rd(u32 off) { return abar[off / 4]; }
static void wr(u32 off, u32 v) { abar[off / 4] = v; }
static u32 prd(int p, u32 off) { return rd(0x100 + 0x80 * p + off); }
static void pwr(int p, u32 off, u32 v) { wr(0x100 + 0x80 * p + off, v); }

static u8 clb[6][1024] __attribute__((aligned(1024)));
static u8 fb[6][256] __attribute__((aligned(256)));
static u8 table[0x100] __attribute__((aligned(128)));
static u8 tables[4][0x100] __attribute__((aligned(128)));
static u8 buf[65536] __attribute__((aligned(4096)));

static int wait(int p, u32 off, u32 mask, u32 want) {
    for (u32 i = 0; i < 20000000; i++) if ((prd(p, off) & mask) == want) return 1;
    return 0;
}

static void zero(u8 *b, u32 n) { for (u32 i = 0; i < n; i++) b[i] = 0; }

static void stop(int p) {
    pwr(p, 0x18, prd(p, 0x18) & ~1u);
    wait(p, 0x18, 1u << 15, 0);
}

static void start_port(int p) {
    stop(p);
    pwr(p, 0x18, prd(p, 0x18) & ~0x10u);
    wait(p, 0x18, 1u << 14, 0);
    pwr(p, 0x00, (u32)clb[p]); pwr(p, 0x04, 0);
    pwr(p, 0x08, (u32)fb[p]); pwr(p, 0x0C, 0);
    pwr(p, 0x18, prd(p, 0x18) | 0x10);
    pwr(p, 0x2C, 0x301);
    for (volatile int i = 0; i < 100000; i++) { }
    pwr(p, 0x2C, 0x300);
    wait(p, 0x28, 0xF, 3);
    wait(p, 0x20, 0x88, 0);
    pwr(p, 0x30, 0xFFFFFFFF);
    pwr(p, 0x10, 0xFFFFFFFF);
    pwr(p, 0x18, prd(p, 0x18) | 1);
}

static void recover(int p) {
    stop(p);
    pwr(p, 0x30, 0xFFFFFFFF);
    pwr(p, 0x10, 0xFFFFFFFF);
    pwr(p, 0x18, prd(p, 0x18) | 1);
}

/* One command in slot 0: FIS fields, optional packet, one PRD of len bytes into buf. Prints the outcome under name. */
static int cmd(const char *name, int p, u8 command, u64 lba, u16 count, u16 features, u8 device, const u8 *cdb, u32 len, int write) {
    zero(table, sizeof table);
    table[0] = 0x27; table[1] = 0x80; table[2] = command; table[3] = (u8)features;
    table[4] = (u8)lba; table[5] = (u8)(lba >> 8); table[6] = (u8)(lba >> 16); table[7] = device;
    table[8] = (u8)(lba >> 24); table[9] = (u8)(lba >> 32); table[10] = (u8)(lba >> 40); table[11] = (u8)(features >> 8);
    table[12] = (u8)count; table[13] = (u8)(count >> 8);
    if (cdb) for (int i = 0; i < 16; i++) table[0x40 + i] = cdb[i];
    u32 *prdt = (u32 *)(table + 0x80);
    if (len) { prdt[0] = (u32)buf; prdt[1] = 0; prdt[3] = (len - 1) | 0x80000000u; }
    u32 *h = (u32 *)clb[p];
    h[0] = 5 | (cdb ? 0x20 : 0) | (write ? 0x40 : 0) | ((len ? 1u : 0u) << 16);
    h[1] = 0; h[2] = (u32)table; h[3] = 0;
    zero(fb[p], 256);
    pwr(p, 0x10, 0xFFFFFFFF);
    pwr(p, 0x38, 1);
    for (u32 i = 0; i < 20000000; i++) {
        if (!(prd(p, 0x38) & 1) || (prd(p, 0x10) & (1u << 30))) break;
    }
    u32 tfd = prd(p, 0x20), is = prd(p, 0x10);
    puts_(name); puts_(".tfd "); hex(tfd); putc_('\n');
    puts_(name); puts_(".is "); hex(is); putc_('\n');
    puts_(name); puts_(".ci "); hex(prd(p, 0x38)); putc_('\n');
    puts_(name); puts_(".prdbc "); hex(h[1]); putc_('\n');
    puts_(name); puts_(".d2h "); hex(*(u32 *)(fb[p] + 0x40)); putc_('\n');
    puts_(name); puts_(".d2hcount "); hex(*(u32 *)(fb[p] + 0x4C)); putc_('\n');
    puts_(name); puts_(".pio "); hex(*(u32 *)(fb[p] + 0x20)); putc_('\n');
    puts_(name); puts_(".pioend "); hex(*(u32 *)(fb[p] + 0x2C)); putc_('\n');
    return (is & (1u << 30)) == 0;
}

/* NCQ READ FPDMA QUEUED of 8 sectors at lba + 16 * tag for each tag in mask (slot = tag), issued together. */
static void ncq(const char *name, int p, u32 mask, u64 lba) {
    for (int t = 0; t < 4; t++) {
        if (!(mask & (1u << t))) continue;
        u8 *tb = tables[t];
        zero(tb, 0x100);
        u64 l = lba + 16 * t;
        tb[0] = 0x27; tb[1] = 0x80; tb[2] = 0x60; tb[3] = 8; tb[7] = 0x40;
        tb[4] = (u8)l; tb[5] = (u8)(l >> 8); tb[6] = (u8)(l >> 16); tb[8] = (u8)(l >> 24);
        tb[12] = (u8)(t << 3);
        u32 *prdt = (u32 *)(tb + 0x80);
        prdt[0] = (u32)(buf + 4096 * t); prdt[1] = 0; prdt[3] = 4095;
        u32 *h = (u32 *)(clb[p] + 32 * t);
        h[0] = 5 | (1u << 16); h[1] = 0; h[2] = (u32)tb; h[3] = 0;
    }
    zero(fb[p], 256);
    pwr(p, 0x10, 0xFFFFFFFF);
    pwr(p, 0x34, mask);
    pwr(p, 0x38, mask);
    for (u32 i = 0; i < 20000000; i++) {
        if (prd(p, 0x34) == 0 || (prd(p, 0x10) & (1u << 30))) break;
    }
    for (volatile int i = 0; i < 100000; i++) { }
    puts_(name); puts_(".tfd "); hex(prd(p, 0x20)); putc_('\n');
    puts_(name); puts_(".is "); hex(prd(p, 0x10)); putc_('\n');
    puts_(name); puts_(".ci "); hex(prd(p, 0x38)); putc_('\n');
    puts_(name); puts_(".sact "); hex(prd(p, 0x34)); putc_('\n');
    puts_(name); puts_(".sdb "); hex(*(u32 *)(fb[p] + 0x58)); putc_('\n');
    puts_(name); puts_(".d2h "); hex(*(u32 *)(fb[p] + 0x40)); putc_('\n');
    for (int t = 0; t < 4; t++) if (mask & (1u << t)) { puts_(name); puts_(".prdbc."); hex(t); putc_(' '); hex(((u32 *)(clb[p] + 32 * t))[1]); putc_('\n'); }
}

static void dump(const char *name, u32 n) {
    for (u32 i = 0; i < n; i += 4) kvn(name, i, *(u32 *)(buf + i));
}

static void sum(const char *name, u32 n) {
    u32 s = 0;
    for (u32 i = 0; i < n; i++) s = s * 31 + buf[i];
    kv(name, s);
}

void main(void) {
    outb(0x3F9, 0); outb(0x3FB, 0x80); outb(0x3F8, 1); outb(0x3F9, 0); outb(0x3FB, 3);
    outl(0xCF8, 0x8000FA24);
    abar = (volatile u32 *)(inl(0xCFC) & ~0xFu);
    outl(0xCF8, 0x8000FA04);
    outl(0xCFC, inl(0xCFC) | 0x6);
    puts_("begin 0\n");

    wr(0x04, 0x80000000u);
    wr(0x04, 0x80000001u);
    for (u32 i = 0; i < 20000000 && (rd(0x04) & 1); i++) { }
    wr(0x04, 0x80000000u);
    kv("ghc", rd(0x04));
    for (int p = 0; p < 6; p++) {
        kvn("reset.sig", p, prd(p, 0x24));
        kvn("reset.tfd", p, prd(p, 0x20));
        kvn("reset.ssts", p, prd(p, 0x28));
        kvn("reset.cmd", p, prd(p, 0x18));
    }
    static const int ports[] = {0, 2};
    for (int i = 0; i < 2; i++) {
        int p = ports[i];
        start_port(p);
        kvn("start.sig", p, prd(p, 0x24));
        kvn("start.tfd", p, prd(p, 0x20));
        kvn("start.ssts", p, prd(p, 0x28));
        kvn("start.cmd", p, prd(p, 0x18));
        kvn("start.d2h", p, *(u32 *)(fb[p] + 0x40));
    }

    /* Disk on port 0. */
    zero(buf, 512);
    cmd("identify", 0, 0xEC, 0, 0, 0, 0, 0, 512, 0);
    dump("identify.data", 512);
    zero(buf, 4096);
    cmd("read", 0, 0x25, 2, 4, 0, 0x40, 0, 2048, 0);
    sum("read.sum", 2048);
    if (!cmd("readpast", 0, 0x25, 2047, 2, 0, 0x40, 0, 1024, 0)) recover(0);
    if (!cmd("unknown", 0, 0x57, 0, 0, 0, 0, 0, 0, 0)) recover(0);
    if (!cmd("identifypacket_on_disk", 0, 0xA1, 0, 0, 0, 0, 0, 512, 0)) recover(0);
    cmd("flush", 0, 0xEA, 0, 0, 0, 0, 0, 0, 0);
    cmd("verify", 0, 0x42, 10, 8, 0, 0x40, 0, 0, 0);
    if (!cmd("setfeatures_bad", 0, 0xEF, 0, 0, 0x77, 0, 0, 0, 0)) recover(0);
    cmd("setfeatures_wc_off", 0, 0xEF, 0, 0, 0x82, 0, 0, 0, 0);
    zero(buf, 16384);
    ncq("ncq1", 0, 1, 100);
    sum("ncq1.sum", 4096);
    zero(buf, 16384);
    ncq("ncq4", 0, 0xF, 200);
    sum("ncq4.sum", 16384);
    ncq("ncqpast", 0, 1, 2045);
    recover(0);
    cmd("after_ncq_error", 0, 0x25, 2, 4, 0, 0x40, 0, 2048, 0);

    /* CD-ROM on port 2. */
    if (!cmd("cd_identify", 2, 0xEC, 0, 0, 0, 0, 0, 512, 0)) recover(2);
    zero(buf, 512);
    cmd("cd_identifypacket", 2, 0xA1, 0, 0, 0, 0, 0, 512, 0);
    dump("cd_identifypacket.data", 512);
    static u8 tur[16] = {0x00};
    for (int i = 0; i < 2; i++) {
        if (!cmd(i ? "cd_tur2" : "cd_tur1", 2, 0xA0, 0, 0, 1, 0, tur, 0, 0)) {
            recover(2);
            static u8 rs[16] = {0x03, 0, 0, 0, 18};
            zero(buf, 32);
            cmd(i ? "cd_tur2_sense" : "cd_tur1_sense", 2, 0xA0, 0, 0, 1, 0, rs, 18, 0);
            dump(i ? "cd_tur2_sense.data" : "cd_tur1_sense.data", 20);
        }
    }
    static u8 inq[16] = {0x12, 0, 0, 0, 36};
    zero(buf, 64);
    cmd("cd_inquiry", 2, 0xA0, 0, 0, 1, 0, inq, 36, 0);
    dump("cd_inquiry.data", 8);
    static u8 cap[16] = {0x25};
    zero(buf, 16);
    cmd("cd_capacity", 2, 0xA0, 0, 0, 1, 0, cap, 8, 0);
    dump("cd_capacity.data", 8);
    static u8 toc0[16] = {0x43, 0, 0, 0, 0, 0, 0, 0, 0x20};
    zero(buf, 64);
    cmd("cd_toc_lba", 2, 0xA0, 0, 0, 1, 0, toc0, 0x20, 0);
    dump("cd_toc_lba.data", 20);
    static u8 toc1[16] = {0x43, 2, 0, 0, 0, 0, 0, 0, 0x20};
    zero(buf, 64);
    cmd("cd_toc_msf", 2, 0xA0, 0, 0, 1, 0, toc1, 0x20, 0);
    dump("cd_toc_msf.data", 20);
    static u8 toc2[16] = {0x43, 0, 1, 0, 0, 0, 0, 0, 12, 0x40}; /* format 1 in byte 2 (MMC) and byte 9 (SFF-8020, which QEMU reads) */
    zero(buf, 64);
    cmd("cd_toc_session", 2, 0xA0, 0, 0, 1, 0, toc2, 12, 0);
    dump("cd_toc_session.data", 12);
    static u8 rd10[16] = {0x28, 0, 0, 0, 0, 16, 0, 0, 2};
    zero(buf, 4096);
    cmd("cd_read", 2, 0xA0, 0, 0, 1, 0, rd10, 4096, 0);
    sum("cd_read.sum", 4096);
    static u8 rdpast[16] = {0x28, 0, 0, 0, 0x10, 0, 0, 0, 1};
    if (!cmd("cd_readpast", 2, 0xA0, 0, 0, 1, 0, rdpast, 2048, 0)) {
        recover(2);
        static u8 rs[16] = {0x03, 0, 0, 0, 18};
        zero(buf, 32);
        cmd("cd_readpast_sense", 2, 0xA0, 0, 0, 1, 0, rs, 18, 0);
        dump("cd_readpast_sense.data", 20);
    }
    static u8 gesn[16] = {0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8};
    zero(buf, 16);
    cmd("cd_gesn", 2, 0xA0, 0, 0, 1, 0, gesn, 8, 0);
    dump("cd_gesn.data", 8);
    static u8 conf[16] = {0x46, 2, 0, 0, 0, 0, 0, 0, 8};
    zero(buf, 16);
    cmd("cd_getconf", 2, 0xA0, 0, 0, 1, 0, conf, 8, 0);
    dump("cd_getconf.data", 8);
    static u8 ms[16] = {0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 28};
    zero(buf, 64);
    cmd("cd_modesense", 2, 0xA0, 0, 0, 1, 0, ms, 28, 0);
    dump("cd_modesense.data", 28);
    static u8 conf0[16] = {0x46, 0, 0, 0, 0, 0, 0, 0, 64};
    zero(buf, 128);
    cmd("cd_getconf_all", 2, 0xA0, 0, 0, 1, 0, conf0, 64, 0);
    dump("cd_getconf_all.data", 32);
    /* eject from the guest, look, load, look */
    static u8 ejectc[16] = {0x1B, 0, 0, 0, 0x02};
    static u8 loadc[16] = {0x1B, 0, 0, 0, 0x03};
    static u8 rs18[16] = {0x03, 0, 0, 0, 18};
    cmd("cd_eject", 2, 0xA0, 0, 0, 1, 0, ejectc, 0, 0);
    zero(buf, 16);
    cmd("cd_gesn_ejected", 2, 0xA0, 0, 0, 1, 0, gesn, 8, 0);
    dump("cd_gesn_ejected.data", 8);
    if (!cmd("cd_tur_ejected", 2, 0xA0, 0, 0, 1, 0, tur, 0, 0)) {
        recover(2);
        zero(buf, 32);
        cmd("cd_tur_ejected_sense", 2, 0xA0, 0, 0, 1, 0, rs18, 18, 0);
        dump("cd_tur_ejected_sense.data", 16);
    }
    cmd("cd_load", 2, 0xA0, 0, 0, 1, 0, loadc, 0, 0);
    zero(buf, 16);
    cmd("cd_gesn_loaded", 2, 0xA0, 0, 0, 1, 0, gesn, 8, 0);
    dump("cd_gesn_loaded.data", 8);
    for (int i = 0; i < 2; i++) {
        const char *n = i ? "cd_tur_loaded2" : "cd_tur_loaded1";
        if (!cmd(n, 2, 0xA0, 0, 0, 1, 0, tur, 0, 0)) {
            recover(2);
            zero(buf, 32);
            cmd(i ? "cd_tur_loaded2_sense" : "cd_tur_loaded1_sense", 2, 0xA0, 0, 0, 1, 0, rs18, 18, 0);
            dump(i ? "cd_tur_loaded2_sense.data" : "cd_tur_loaded1_sense.data", 16);
        }
    }
    puts_("end 0\n");
    outb(0xF4, 0);
}
