/*
 * scsi: exercises a virtio-scsi PCI controller and the disk at target 0 / LUN 0 (modern virtio 1.x,
 * polled, no interrupts).  Written to pass against both this project's VMM and QEMU's
 * virtio-scsi-pci + scsi-hd: where the two may legitimately answer differently (VPD contents,
 * unit attentions after a reset) it checks properties, not bytes.
 *
 * cmdline:
 *   mode=check|mq|randread   (default check)
 *   serial=STR      check: VPD 80h must carry it
 *   disk_mib=N      check: READ CAPACITY must say N MiB (the disk must be >= 32 MiB for check)
 *   qd=N (32)  count=N (100000)  secs=N  bs=SIZE (4K)  randread: the benchmark
 *   max_mib=N (8)   mq: bytes each CPU writes and verifies
 *   lun=N (0)       the LUN every command goes to
 *   exact=0|1 (0)   check: exact residuals and the optional commands required (our VMM: 1)
 *   qsize=N (256)  event_idx=0|1 (1)  timeout_ms=N (10000)
 * Everything after the device set-up runs at CPL3 (emulated CPL0 is slow on the PVM host), except
 * the application processors' share of mq.
 * Output: "scsi: ok <what>" per check, "scsi: FAIL: ..." on a failure, and a summary line
 * "scsi: check ok (N checks)" / "scsi: mq ok ..." / "scsi: randread ... iops=..." then exit 0/1.
 */
#include "kit.h"

#define SECTOR 512u
#define MIB    ((uint64_t)1 << 20)

static struct kit_vscsi ctl;
static uint64_t tsc_khz;
static uint64_t timeout_ms;
static unsigned checks, failures;
/* exact=1: the device must report exact transfer counts (residual = buffer - bytes returned) for
 * every data-in command and support the optional commands (SYNCHRONIZE CACHE(16)); QEMU pads
 * short answers to the allocation length in its residual and has no SYNCHRONIZE CACHE(16). */
static bool exact;
static unsigned lun;          /* the LUN under test (lun=N) */
/* n bytes of data returned, the page/list said `declared`: exactly that, or (not exact) at least. */
static bool returned(uint32_t n, uint32_t declared) { return exact ? n == declared : n >= declared; }

/* Buffers, allocated at CPL0 before anything runs at CPL3 (allocation may touch CR3). */
static uint8_t *buf_a, *buf_b, *zero_block; /* 1 MiB, 1 MiB, one block of zeroes */
#define BUF_BYTES MIB

/* ---- pattern: a function of (LBA, pass, word) ---- */
static inline uint64_t pattern(uint64_t lba, uint64_t pass, unsigned word)
{
    if (word == 0)
        return lba ^ (pass << 48);
    return ((lba << 6 | word) * 0x9e3779b97f4a7c15ull) ^ (pass + 1) * 0xc2b2ae3d27d4eb4full;
}

static void fill(void *buf, uint64_t lba, uint32_t blocks, uint64_t pass)
{
    uint64_t *p = buf;
    for (uint32_t s = 0; s < blocks; s++)
        for (unsigned w = 0; w < SECTOR / 8; w++)
            *p++ = pattern(lba + s, pass, w);
}

/* First mismatching block (relative), or -1; want_zero: zeroes expected instead of the pattern. */
static int64_t mismatch(const void *buf, uint64_t lba, uint32_t blocks, uint64_t pass, bool want_zero)
{
    const uint64_t *p = buf;
    for (uint32_t s = 0; s < blocks; s++)
        for (unsigned w = 0; w < SECTOR / 8; w++, p++)
            if (*p != (want_zero ? 0 : pattern(lba + s, pass, w)))
                return s;
    return -1;
}

/* ---- CDB builders ---- */
static void be16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void be32(uint8_t *p, uint32_t v) { be16(p, v >> 16); be16(p + 2, v); }
static void be64(uint8_t *p, uint64_t v) { be32(p, (uint32_t)(v >> 32)); be32(p + 4, (uint32_t)v); }
static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) << 16 | rd16(p + 2); }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) << 32 | rd32(p + 4); }

/* READ/WRITE of size 6, 10, 12 or 16; returns the CDB length. */
static unsigned rw_cdb(uint8_t *cdb, unsigned size, bool write, uint64_t lba, uint32_t blocks)
{
    memset(cdb, 0, 16);
    switch (size) {
    case 6:
        cdb[0] = write ? 0x0a : 0x08;
        cdb[1] = (uint8_t)((lba >> 16) & 0x1f);
        be16(cdb + 2, (uint32_t)lba);
        cdb[4] = (uint8_t)blocks; /* 0 = 256 */
        return 6;
    case 10:
        cdb[0] = write ? 0x2a : 0x28;
        be32(cdb + 2, (uint32_t)lba);
        be16(cdb + 7, blocks);
        return 10;
    case 12:
        cdb[0] = write ? 0xaa : 0xa8;
        be32(cdb + 2, (uint32_t)lba);
        be32(cdb + 6, blocks);
        return 12;
    default:
        cdb[0] = write ? 0x8a : 0x88;
        be64(cdb + 2, lba);
        be32(cdb + 10, blocks);
        return 16;
    }
}

/* ---- running commands and judging them ---- */
static struct kit_vscsi_queue *q0(void) { return &ctl.q[0]; }

static void cmd(const uint8_t *cdb, unsigned len, const void *out, uint32_t out_len, void *in, uint32_t in_len,
                struct kit_vscsi_result *r)
{
    kit_vscsi_cmd(q0(), 0, lun, cdb, len, out, out_len, in, in_len, timeout_ms, r);
}

static void describe(const char *what, const struct kit_vscsi_result *r)
{
    kit_printf("scsi: FAIL: %s: response %d status 0x%x sense %x/%02x/%02x residual %u data-in %u\n", what,
               r->response, r->status, r->key, r->asc, r->ascq, r->residual, r->data_in);
}

static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool fail(const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    kit_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kit_printf("scsi: FAIL: %s\n", msg);
    failures++;
    return false;
}

static bool ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool ok(const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    kit_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kit_printf("scsi: ok %s\n", msg);
    checks++;
    return true;
}

static bool good(const char *what, const struct kit_vscsi_result *r)
{
    if (r->response == KIT_VSCSI_S_OK && r->status == KIT_SCSI_GOOD)
        return true;
    describe(what, r);
    failures++;
    return false;
}

static bool sense_is(const char *what, const struct kit_vscsi_result *r, uint8_t key, uint8_t asc, uint8_t ascq)
{
    if (r->response == KIT_VSCSI_S_OK && r->status == KIT_SCSI_CHECK_CONDITION && r->key == key && r->asc == asc &&
        r->ascq == ascq)
        return ok("%s: CHECK CONDITION %x/%02x/%02x", what, key, asc, ascq);
    kit_printf("scsi: FAIL: %s: wanted CHECK CONDITION %x/%02x/%02x\n", what, key, asc, ascq);
    describe(what, r);
    failures++;
    return false;
}

/* TEST UNIT READY until GOOD: a fresh or reset unit may first report UNIT ATTENTION (QEMU does). */
static bool unit_ready(const char *when)
{
    static const uint8_t tur[6] = { 0x00 };
    struct kit_vscsi_result r;
    unsigned ua = 0;
    for (int i = 0; i < 8; i++) {
        cmd(tur, 6, NULL, 0, NULL, 0, &r);
        if (r.response == KIT_VSCSI_S_OK && r.status == KIT_SCSI_CHECK_CONDITION && r.key == KIT_SCSI_KEY_UNIT_ATTENTION) {
            ua++;
            continue;
        }
        if (!good("TEST UNIT READY", &r))
            return false;
        return ok("TEST UNIT READY %s (after %u unit attentions)", when, ua);
    }
    return fail("TEST UNIT READY %s: still UNIT ATTENTION after 8 tries", when);
}

/* ---- INQUIRY ---- */
static bool printable(const uint8_t *p, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return false;
    return true;
}

static bool check_inquiry(void)
{
    uint8_t cdb[6] = { 0x12, 0, 0, 0, 96, 0 };
    struct kit_vscsi_result r;
    memset(buf_a, 0xee, 256);
    cmd(cdb, 6, NULL, 0, buf_a, 256, &r);
    if (!good("INQUIRY", &r))
        return false;
    const uint8_t *d = buf_a;
    if ((d[0] & 0x1f) != 0 || (d[0] >> 5) != 0)
        return fail("INQUIRY: peripheral 0x%02x, wanted a connected direct-access device (00h)", d[0]);
    if (d[2] < 5 || (d[3] & 0x0f) != 2 || d[4] < 31)
        return fail("INQUIRY: version %u, response format %u, additional length %u", d[2], d[3] & 0x0f, d[4]);
    if (!printable(d + 8, 28))
        return fail("INQUIRY: vendor/product/revision not printable ASCII");
    unsigned n = d[4] + 5u < 96 ? d[4] + 5u : 96;
    if (r.data_in != n || r.residual != 256 - n)
        return fail("INQUIRY: %u bytes in, residual %u; wanted %u and %u (additional length %u, allocation 96)",
                    r.data_in, r.residual, n, 256 - n, d[4]);
    char id[29];
    memcpy(id, d + 8, 28);
    id[28] = 0;
    ok("INQUIRY standard: type 0, SPC version %u, \"%s\", %u bytes", d[2], id, n);
    /* Allocation length 5: only the header comes back. */
    cdb[4] = 5;
    cmd(cdb, 6, NULL, 0, buf_a, 256, &r);
    if (!good("INQUIRY (5)", &r))
        return false;
    if (r.data_in != 5 || r.residual != 251)
        return fail("INQUIRY allocation length 5: %u bytes in, residual %u", r.data_in, r.residual);
    ok("INQUIRY allocation length 5 truncates");
    /* EVPD 0 with a page code: INVALID FIELD IN CDB. */
    uint8_t bad[6] = { 0x12, 0, 0x80, 0, 96, 0 };
    cmd(bad, 6, NULL, 0, buf_a, 256, &r);
    return sense_is("INQUIRY EVPD=0 with page code 80h", &r, KIT_SCSI_KEY_ILLEGAL_REQUEST, 0x24, 0x00);
}

static bool vpd(uint8_t page, uint8_t *out, unsigned *len)
{
    uint8_t cdb[6] = { 0x12, 1, page, 0x01, 0x00, 0 }; /* allocation 256 */
    struct kit_vscsi_result r;
    memset(out, 0, 256);
    cmd(cdb, 6, NULL, 0, out, 256, &r);
    char what[32];
    kit_snprintf(what, sizeof(what), "INQUIRY VPD %02xh", page);
    if (!good(what, &r))
        return false;
    if (out[1] != page || (out[0] & 0x1f) != 0)
        return fail("VPD %02xh: header says page %02xh, peripheral 0x%02x", page, out[1], out[0]);
    *len = rd16(out + 2);
    if (*len + 4 > 256 || !returned(r.data_in, *len + 4))
        return fail("VPD %02xh: page length %u, %u bytes in", page, *len, r.data_in);
    return true;
}

static bool check_vpd(bool *thin)
{
    uint8_t *p = buf_a;
    unsigned len;
    if (!vpd(0x00, p, &len))
        return false;
    static const uint8_t want[] = { 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 };
    bool has_serial = false;
    char given[2];
    bool serial_given = kit_cmdline_str("serial", given, sizeof(given));
    for (unsigned w = 0; w < sizeof(want); w++) {
        bool found = false;
        for (unsigned i = 0; i < len; i++)
            found |= p[4 + i] == want[w];
        if (want[w] == 0x80)
            has_serial = found;
        /* The serial page is optional (QEMU lists it only for a disk with a serial). */
        if (!found && (want[w] != 0x80 || exact || serial_given))
            return fail("VPD 00h: page %02xh not listed (%u pages)", want[w], len);
    }
    for (unsigned i = 1; i < len; i++)
        if (p[4 + i] <= p[4 + i - 1])
            return fail("VPD 00h: pages not in ascending order");
    ok("VPD 00h lists 00h %s83h B0h B1h B2h (%u pages)", has_serial ? "80h " : "", len);

    if (!has_serial) {
        ok("VPD 80h not offered (no serial)");
    } else if (!vpd(0x80, p, &len)) {
        return false;
    } else {
        char serial[65], want_serial[65];
        unsigned n = len < 64 ? len : 64, s = 0;
        for (unsigned i = 0; i < n; i++) /* the serial may be padded with spaces on either side */
            if (p[4 + i] != ' ' && p[4 + i] != 0)
                serial[s++] = (char)p[4 + i];
        serial[s] = 0;
        if (!printable(p + 4, n))
            return fail("VPD 80h: serial not printable");
        if (kit_cmdline_str("serial", want_serial, sizeof(want_serial)) && strcmp(serial, want_serial))
            return fail("VPD 80h: serial \"%s\", wanted \"%s\"", serial, want_serial);
        ok("VPD 80h serial \"%s\"", serial);
    }

    if (!vpd(0x83, p, &len))
        return false;
    unsigned at = 4, designators = 0, lu = 0;
    while (at + 4 <= len + 4) {
        unsigned dl = p[at + 3];
        if (at + 4 + dl > len + 4)
            return fail("VPD 83h: designator at %u (length %u) runs past the page (%u)", at, dl, len);
        if (((p[at + 1] >> 4) & 3) == 0)
            lu++;
        designators++;
        at += 4 + dl;
    }
    if (at != len + 4 || designators == 0 || lu == 0)
        return fail("VPD 83h: %u designators (%u of the logical unit), end at %u of %u", designators, lu, at, len + 4);
    ok("VPD 83h: %u designators, %u for the logical unit", designators, lu);

    if (!vpd(0xb0, p, &len))
        return false;
    if (len < 0x3c)
        return fail("VPD B0h: page length %u < 3Ch", len);
    uint32_t max_xfer = rd32(p + 8), max_unmap = rd32(p + 20);
    ok("VPD B0h block limits: max transfer %u, max unmap LBA count %u, descriptors %u", max_xfer, max_unmap,
       rd32(p + 24));

    if (!vpd(0xb1, p, &len))
        return false;
    if (len < 0x3c)
        return fail("VPD B1h: page length %u < 3Ch", len);
    ok("VPD B1h: medium rotation rate %u", rd16(p + 4));

    if (!vpd(0xb2, p, &len))
        return false;
    if (len < 4)
        return fail("VPD B2h: page length %u", len);
    *thin = (p[5] & 0x80) && (p[5] & 0x40);
    if (!*thin)
        return fail("VPD B2h: LBPU/LBPWS not set (0x%02x): the disk must allow unmapping", p[5]);
    ok("VPD B2h: LBPU LBPWS%s, provisioning type %u", p[5] & 0x20 ? " LBPWS10" : "", p[6] & 7);
    return true;
}

/* ---- READ CAPACITY, REQUEST SENSE, MODE SENSE, REPORT LUNS, START STOP ---- */
static bool check_capacity(uint64_t *blocks)
{
    uint8_t c10[10] = { 0x25 };
    struct kit_vscsi_result r;
    cmd(c10, 10, NULL, 0, buf_a, 8, &r);
    if (!good("READ CAPACITY(10)", &r))
        return false;
    uint32_t last10 = rd32(buf_a), bs10 = rd32(buf_a + 4);
    uint8_t c16[16] = { 0x9e, 0x10 };
    be32(c16 + 10, 32);
    memset(buf_a, 0, 32);
    cmd(c16, 16, NULL, 0, buf_a, 32, &r);
    if (!good("READ CAPACITY(16)", &r))
        return false;
    uint64_t last = rd64(buf_a);
    uint32_t bs = rd32(buf_a + 8);
    if (bs != SECTOR || bs10 != SECTOR)
        return fail("READ CAPACITY: block size %u / %u, this guest needs 512", bs10, bs);
    if (last10 != (last > 0xffffffffull ? 0xffffffffu : last))
        return fail("READ CAPACITY(10) last LBA %u, (16) says %lu", last10, last);
    *blocks = last + 1;
    uint64_t want = kit_cmdline_u64("disk_mib", 0) * MIB / SECTOR;
    if (want && *blocks != want)
        return fail("READ CAPACITY: %lu blocks, wanted %lu", *blocks, want);
    return ok("READ CAPACITY(10/16): %lu blocks of %u bytes, LBPME %u, physical exponent %u", *blocks, bs,
              buf_a[14] >> 7, buf_a[13] & 0x0f);
}

static bool check_request_sense(void)
{
    uint8_t cdb[6] = { 0x03, 0, 0, 0, 18, 0 };
    struct kit_vscsi_result r;
    memset(buf_a, 0xee, 64);
    cmd(cdb, 6, NULL, 0, buf_a, 64, &r);
    if (!good("REQUEST SENSE", &r))
        return false;
    uint8_t key, asc, ascq;
    kit_scsi_sense_decode(buf_a, r.data_in, &key, &asc, &ascq);
    if ((buf_a[0] & 0x7f) != 0x70 || r.data_in < 8 || key != KIT_SCSI_KEY_NO_SENSE)
        return fail("REQUEST SENSE: response code 0x%02x, %u bytes, key %x (wanted 70h, NO SENSE)", buf_a[0],
                    r.data_in, key);
    return ok("REQUEST SENSE: fixed format, NO SENSE, %u bytes", r.data_in);
}

/* Finds mode page `page` in MODE SENSE data; NULL when absent or malformed. */
static const uint8_t *find_page(const uint8_t *d, unsigned n, bool ten, uint8_t page)
{
    unsigned hdr = ten ? 8 : 4, bd = ten ? rd16(d + 6) : d[3];
    unsigned total = ten ? rd16(d) + 2 : d[0] + 1u;
    if (total > n)
        total = n;
    for (unsigned at = hdr + bd; at + 2 <= total; at += 2 + d[at + 1])
        if ((d[at] & 0x3f) == page)
            return at + 2 + d[at + 1] <= total ? d + at : NULL;
    return NULL;
}

static bool check_mode_sense(bool *wce)
{
    struct kit_vscsi_result r;
    uint8_t c6[6] = { 0x1a, 0x00, 0x08, 0, 0xff, 0 };
    cmd(c6, 6, NULL, 0, buf_a, 255, &r);
    if (!good("MODE SENSE(6) caching", &r))
        return false;
    if (!returned(r.data_in, buf_a[0] + 1u))
        return fail("MODE SENSE(6): mode data length %u + 1, %u bytes in", buf_a[0], r.data_in);
    const uint8_t *pg = find_page(buf_a, r.data_in, false, 0x08);
    if (!pg || pg[1] != 0x12)
        return fail("MODE SENSE(6): no caching page of length 12h");
    *wce = pg[2] & 0x04;
    bool wp = buf_a[2] & 0x80;
    ok("MODE SENSE(6) caching page: WCE %u RCD %u, WP %u, block descriptor %u bytes", *wce, pg[2] & 1, wp, buf_a[3]);
    if (wp)
        return fail("MODE SENSE: the disk says it is write-protected");

    uint8_t c10[10] = { 0x5a, 0x08 /* DBD */, 0x08 };
    be16(c10 + 7, 255);
    cmd(c10, 10, NULL, 0, buf_a, 255, &r);
    if (!good("MODE SENSE(10) caching", &r))
        return false;
    if (!returned(r.data_in, rd16(buf_a) + 2u) || rd16(buf_a + 6) != 0)
        return fail("MODE SENSE(10): mode data length %u + 2, block descriptors %u with DBD, %u bytes in", rd16(buf_a),
                    rd16(buf_a + 6), r.data_in);
    pg = find_page(buf_a, r.data_in, true, 0x08);
    if (!pg || (bool)(pg[2] & 0x04) != *wce)
        return fail("MODE SENSE(10): caching page missing or WCE differs from MODE SENSE(6)");
    ok("MODE SENSE(10) DBD caching page agrees");

    uint8_t all[6] = { 0x1a, 0x00, 0x3f, 0, 0xff, 0 };
    cmd(all, 6, NULL, 0, buf_a, 255, &r);
    if (!good("MODE SENSE(6) all pages", &r))
        return false;
    if (!find_page(buf_a, r.data_in, false, 0x08))
        return fail("MODE SENSE(6) 3Fh: caching page not among the pages");
    ok("MODE SENSE(6) all pages include caching (%u bytes)", r.data_in);

    uint8_t saved[6] = { 0x1a, 0x00, 0xc8, 0, 0xff, 0 }; /* PC 11b: saved values */
    cmd(saved, 6, NULL, 0, buf_a, 255, &r);
    return sense_is("MODE SENSE saved values", &r, KIT_SCSI_KEY_ILLEGAL_REQUEST, 0x39, 0x00);
}

static bool check_report_luns(void)
{
    uint8_t cdb[12] = { 0xa0 };
    be32(cdb + 6, 256);
    struct kit_vscsi_result r;
    /* To LUN 0, as Linux does (SPC wants every LUN to answer it; QEMU's disks leave it to LUN 0). */
    kit_vscsi_cmd(q0(), 0, exact ? lun : 0, cdb, 12, NULL, 0, buf_a, 256, timeout_ms, &r);
    if (!good("REPORT LUNS", &r))
        return false;
    uint32_t n = rd32(buf_a) / 8;
    bool found = false;
    for (uint32_t i = 0; i < n && 8 + 8 * i + 8 <= r.data_in; i++) /* peripheral or flat addressing */
        found |= (rd16(buf_a + 8 + 8 * i) & 0xbfff) == lun && rd16(buf_a + 8 + 8 * i) >> 14 <= 1;
    if (n == 0 || !found || !returned(r.data_in, 8 + 8 * n))
        return fail("REPORT LUNS: %u LUNs, LUN %u %s, %u bytes in", n, lun, found ? "present" : "absent", r.data_in);
    ok("REPORT LUNS: %u LUN%s, LUN %u among them (max_lun %u)", n, n == 1 ? "" : "s", lun, ctl.max_lun);
    /* A LUN that does not exist: INQUIRY answers "not present" (qualifier 3, type 1Fh). */
    unsigned absent = 200;
    uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
    kit_vscsi_cmd(q0(), 0, absent, inq, 6, NULL, 0, buf_a, 36, timeout_ms, &r);
    if (r.response == KIT_VSCSI_S_OK && r.status == KIT_SCSI_GOOD) {
        if (buf_a[0] != 0x7f)
            return fail("INQUIRY on absent LUN %u: peripheral 0x%02x, wanted 7Fh", absent, buf_a[0]);
        ok("INQUIRY on absent LUN %u: peripheral 7Fh", absent);
    } else if (r.response == KIT_VSCSI_S_BAD_TARGET || r.response == KIT_VSCSI_S_INCORRECT_LUN) {
        ok("INQUIRY on absent LUN %u: virtio response %d", absent, r.response);
    } else {
        describe("INQUIRY on an absent LUN", &r);
        return fail("absent LUN not answered sanely");
    }
    /* Another target: nothing there. */
    kit_vscsi_cmd(q0(), 1, lun, inq, 6, NULL, 0, buf_a, 36, timeout_ms, &r);
    if (r.response != KIT_VSCSI_S_BAD_TARGET)
        return fail("INQUIRY to target 1: response %d, wanted BAD_TARGET", r.response);
    return ok("INQUIRY to target 1: BAD_TARGET");
}

static bool check_start_stop(void)
{
    uint8_t start[6] = { 0x1b, 0, 0, 0, 0x01, 0 };
    struct kit_vscsi_result r;
    cmd(start, 6, NULL, 0, NULL, 0, &r);
    if (!good("START STOP UNIT (start)", &r))
        return false;
    return ok("START STOP UNIT start");
}

/* ---- data ---- */
static bool rw(unsigned size, bool write, uint64_t lba, uint32_t blocks, void *buf, struct kit_vscsi_result *r)
{
    uint8_t cdb[16];
    unsigned len = rw_cdb(cdb, size, write, lba, blocks);
    uint32_t bytes = (size == 6 && blocks == 0 ? 256 : blocks) * SECTOR;
    cmd(cdb, len, write ? buf : NULL, write ? bytes : 0, write ? NULL : buf, write ? 0 : bytes, r);
    return r->response == KIT_VSCSI_S_OK && r->status == KIT_SCSI_GOOD;
}

static bool write_read(unsigned wsize, unsigned rsize, uint64_t lba, uint32_t blocks, uint64_t pass)
{
    struct kit_vscsi_result r;
    char what[64];
    uint32_t n = blocks == 0 ? 256 : blocks;
    fill(buf_a, lba, n, pass);
    kit_snprintf(what, sizeof(what), "WRITE(%u) LBA %lu x %u", wsize, lba, n);
    if (!rw(wsize, true, lba, blocks, buf_a, &r)) {
        describe(what, &r);
        return fail("write");
    }
    if (r.residual != 0 || r.data_in != 0)
        return fail("%s: residual %u, data-in %u", what, r.residual, r.data_in);
    memset(buf_b, 0xcc, n * SECTOR);
    kit_snprintf(what, sizeof(what), "READ(%u) LBA %lu x %u", rsize, lba, n);
    if (!rw(rsize, false, lba, blocks, buf_b, &r)) {
        describe(what, &r);
        return fail("read");
    }
    if (r.residual != 0 || r.data_in != n * SECTOR)
        return fail("%s: residual %u, data-in %u", what, r.residual, r.data_in);
    int64_t bad = mismatch(buf_b, lba, n, pass, false);
    if (bad >= 0)
        return fail("%s: block %lu differs from what WRITE(%u) wrote", what, lba + (uint64_t)bad, wsize);
    return ok("WRITE(%u) + READ(%u): %u blocks at LBA %lu read back", wsize, rsize, n, lba);
}

static bool check_read_write(uint64_t cap)
{
    static const unsigned sizes[] = { 6, 10, 12, 16 };
    uint64_t lba = 64;
    for (unsigned i = 0; i < 4; i++) {
        if (!write_read(sizes[i], sizes[i], lba, 8 + 9 * i, 10 + i))
            return false;
        lba += 64;
    }
    /* Mixed sizes, a buffer of 2048 blocks (1 MiB), the last blocks of the disk. */
    if (!write_read(16, 10, 1024, 2048, 20) || !write_read(10, 12, cap - 17, 17, 21) ||
        !write_read(12, 16, cap - 1, 1, 22))
        return false;
    /* READ(6)/WRITE(6) with transfer length 0 move 256 blocks. */
    if (!write_read(6, 6, 4096, 0, 23))
        return false;
    /* A zero-length READ(10) moves nothing and is fine. */
    struct kit_vscsi_result r;
    if (!rw(10, false, 0, 0, buf_b, &r) || r.data_in != 0) {
        describe("READ(10) of 0 blocks", &r);
        return fail("zero-length read");
    }
    ok("READ(10) of 0 blocks: GOOD, nothing moved");
    /* A buffer smaller than the command's transfer: not GOOD with data beyond the buffer. */
    uint8_t cdb[16];
    unsigned len = rw_cdb(cdb, 10, false, 0, 8);
    memset(buf_b, 0xcc, 8 * SECTOR);
    cmd(cdb, len, NULL, 0, buf_b, 4 * SECTOR, &r);
    if (r.response == KIT_VSCSI_S_OK && r.status == KIT_SCSI_GOOD && r.residual == 0)
        return fail("READ(10) of 8 blocks into a 4-block buffer: GOOD with no residual");
    if (buf_b[4 * SECTOR] != 0xcc)
        return fail("READ(10) of 8 blocks into a 4-block buffer wrote past the buffer");
    ok("READ(10) of 8 blocks into 4: response %d status 0x%x residual %u", r.response, r.status, r.residual);

    uint8_t s10[10] = { 0x35 }, s16[16] = { 0x91 };
    cmd(s10, 10, NULL, 0, NULL, 0, &r);
    if (!good("SYNCHRONIZE CACHE(10)", &r))
        return false;
    cmd(s16, 16, NULL, 0, NULL, 0, &r);
    if (!exact && r.response == KIT_VSCSI_S_OK && r.status == KIT_SCSI_CHECK_CONDITION &&
        r.key == KIT_SCSI_KEY_ILLEGAL_REQUEST && r.asc == 0x20)
        return ok("SYNCHRONIZE CACHE(10); (16) not supported by this device");
    if (!good("SYNCHRONIZE CACHE(16)", &r))
        return false;
    return ok("SYNCHRONIZE CACHE(10/16)");
}

static bool check_errors(uint64_t cap)
{
    struct kit_vscsi_result r;
    uint8_t cdb[16];
    unsigned len = rw_cdb(cdb, 10, false, cap, 1);
    cmd(cdb, len, NULL, 0, buf_b, SECTOR, &r);
    if (!sense_is("READ(10) at the capacity", &r, KIT_SCSI_KEY_ILLEGAL_REQUEST, 0x21, 0x00))
        return false;
    len = rw_cdb(cdb, 16, false, cap - 1, 2);
    cmd(cdb, len, NULL, 0, buf_b, 2 * SECTOR, &r);
    if (!sense_is("READ(16) across the end", &r, KIT_SCSI_KEY_ILLEGAL_REQUEST, 0x21, 0x00))
        return false;
    len = rw_cdb(cdb, 16, true, ~0ull, 1);
    memset(buf_a, 0x5a, SECTOR);
    cmd(cdb, len, buf_a, SECTOR, NULL, 0, &r);
    if (!sense_is("WRITE(16) at LBA 2^64-1", &r, KIT_SCSI_KEY_ILLEGAL_REQUEST, 0x21, 0x00))
        return false;
    len = rw_cdb(cdb, 12, true, cap - 4, 8);
    cmd(cdb, len, buf_a, 8 * SECTOR, NULL, 0, &r);
    if (!sense_is("WRITE(12) across the end", &r, KIT_SCSI_KEY_ILLEGAL_REQUEST, 0x21, 0x00))
        return false;
    uint8_t unknown[6] = { 0x02 };
    cmd(unknown, 6, NULL, 0, NULL, 0, &r);
    if (!sense_is("unknown opcode 02h", &r, KIT_SCSI_KEY_ILLEGAL_REQUEST, 0x20, 0x00))
        return false;
    uint8_t unknown16[16] = { 0x9e, 0x1f }; /* SERVICE ACTION IN(16) with an unknown action */
    cmd(unknown16, 16, NULL, 0, buf_b, 32, &r);
    if (r.response != KIT_VSCSI_S_OK || r.status != KIT_SCSI_CHECK_CONDITION || r.key != KIT_SCSI_KEY_ILLEGAL_REQUEST ||
        (r.asc != 0x20 && r.asc != 0x24)) {
        describe("SERVICE ACTION IN(16) 1Fh", &r);
        return fail("unknown service action not refused");
    }
    return ok("SERVICE ACTION IN(16) 1Fh: ILLEGAL REQUEST %02x/%02x", r.asc, r.ascq);
}

/* ---- UNMAP and WRITE SAME ---- */
/* Writes the pattern over [lba, lba + blocks) in 1 MiB commands. */
static bool write_region(uint64_t lba, uint32_t blocks, uint64_t pass)
{
    struct kit_vscsi_result r;
    for (uint32_t done = 0; done < blocks;) {
        uint32_t n = blocks - done < BUF_BYTES / SECTOR ? blocks - done : BUF_BYTES / SECTOR;
        fill(buf_a, lba + done, n, pass);
        if (!rw(16, true, lba + done, n, buf_a, &r)) {
            describe("WRITE(16) region", &r);
            return fail("region write");
        }
        done += n;
    }
    return true;
}

/* Reads [lba, lba + blocks) and checks zeroes (want_zero) or the pattern. */
static bool read_region(const char *what, uint64_t lba, uint32_t blocks, uint64_t pass, bool want_zero)
{
    struct kit_vscsi_result r;
    for (uint32_t done = 0; done < blocks;) {
        uint32_t n = blocks - done < BUF_BYTES / SECTOR ? blocks - done : BUF_BYTES / SECTOR;
        if (!rw(16, false, lba + done, n, buf_b, &r)) {
            describe("READ(16) region", &r);
            return fail("%s: region read", what);
        }
        int64_t bad = mismatch(buf_b, lba + done, n, pass, want_zero);
        if (bad >= 0)
            return fail("%s: LBA %lu is not %s", what, lba + done + (uint64_t)bad, want_zero ? "zero" : "the pattern");
        done += n;
    }
    return true;
}

static bool write_same(unsigned size, bool unmap, uint64_t lba, uint32_t blocks, const void *block,
                       struct kit_vscsi_result *r)
{
    uint8_t cdb[16] = { 0 };
    cdb[1] = unmap ? 0x08 : 0;
    if (size == 10) {
        cdb[0] = 0x41;
        be32(cdb + 2, (uint32_t)lba);
        be16(cdb + 7, blocks);
    } else {
        cdb[0] = 0x93;
        be64(cdb + 2, lba);
        be32(cdb + 10, blocks);
    }
    cmd(cdb, size, block, SECTOR, NULL, 0, r);
    return r->response == KIT_VSCSI_S_OK && r->status == KIT_SCSI_GOOD;
}

static bool check_unmap(uint64_t cap)
{
    const uint32_t region = 4 * MIB / SECTOR;
    const uint64_t a = 16 * MIB / SECTOR, b = 20 * MIB / SECTOR, c = 24 * MIB / SECTOR, d = 28 * MIB / SECTOR;
    if (cap < 32 * MIB / SECTOR)
        return fail("check needs a disk of at least 32 MiB (%lu blocks)", cap);
    struct kit_vscsi_result r;
    /* A: UNMAP with one descriptor; B: WRITE SAME(16) UNMAP; C: WRITE SAME(10) UNMAP (2 MiB, so the
     * second half keeps its data): each written first, so the host file has blocks to release. */
    if (!write_region(a, region, 30) || !write_region(b, region, 31) || !write_region(c, region, 32))
        return false;
    uint8_t *param = buf_a;
    memset(param, 0, 24);
    be16(param, 22);                  /* UNMAP DATA LENGTH */
    be16(param + 2, 16);              /* BLOCK DESCRIPTOR DATA LENGTH */
    be64(param + 8, a);
    be32(param + 16, region);
    uint8_t un[10] = { 0x42 };
    be16(un + 7, 24);
    cmd(un, 10, param, 24, NULL, 0, &r);
    if (!good("UNMAP", &r))
        return false;
    if (!write_same(16, true, b, region, zero_block, &r)) {
        describe("WRITE SAME(16) UNMAP", &r);
        return fail("WRITE SAME(16) UNMAP");
    }
    if (!write_same(10, true, c, region / 2, zero_block, &r)) {
        describe("WRITE SAME(10) UNMAP", &r);
        return fail("WRITE SAME(10) UNMAP");
    }
    uint8_t s10[10] = { 0x35 };
    cmd(s10, 10, NULL, 0, NULL, 0, &r);
    if (!good("SYNCHRONIZE CACHE after unmapping", &r))
        return false;
    if (!read_region("after UNMAP", a, region, 0, true))
        return false;
    ok("UNMAP 4 MiB at LBA %lu: reads back zeroes", a);
    if (!read_region("after WRITE SAME(16) UNMAP", b, region, 0, true))
        return false;
    ok("WRITE SAME(16) UNMAP 4 MiB at LBA %lu: reads back zeroes", b);
    if (!read_region("after WRITE SAME(10) UNMAP", c, region / 2, 0, true) ||
        !read_region("after the WRITE SAME(10) range", c + region / 2, region / 2, 32, false))
        return false;
    ok("WRITE SAME(10) UNMAP 2 MiB at LBA %lu: zeroes, the next 2 MiB kept", c);
    /* D: WRITE SAME(16) of a non-zero block (no unmap): every block is that block. */
    uint8_t *blk = buf_a;
    for (unsigned i = 0; i < SECTOR; i++)
        blk[i] = (uint8_t)(i * 7 + 3);
    if (!write_same(16, false, d, 64, blk, &r)) {
        describe("WRITE SAME(16) pattern", &r);
        return fail("WRITE SAME(16) pattern");
    }
    uint8_t rc[16];
    unsigned len = rw_cdb(rc, 10, false, d, 64);
    cmd(rc, len, NULL, 0, buf_b, 64 * SECTOR, &r);
    if (!good("READ after WRITE SAME", &r))
        return false;
    for (unsigned k = 0; k < 64; k++)
        if (memcmp(buf_b + k * SECTOR, blk, SECTOR))
            return fail("WRITE SAME(16) pattern: block %u of 64 differs", k);
    ok("WRITE SAME(16) of one block over 64 blocks");
    /* Errors: WRITE SAME past the end; UNMAP with a descriptor past the end. */
    if (write_same(16, true, cap - 2, 4, zero_block, &r) ||
        !sense_is("WRITE SAME(16) across the end", &r, KIT_SCSI_KEY_ILLEGAL_REQUEST, 0x21, 0x00))
        return false;
    memset(param, 0, 24); /* buf_a held the WRITE SAME block meanwhile */
    be16(param, 22);
    be16(param + 2, 16);
    be64(param + 8, cap - 2);
    be32(param + 16, 4);
    cmd(un, 10, param, 24, NULL, 0, &r);
    return sense_is("UNMAP across the end", &r, KIT_SCSI_KEY_ILLEGAL_REQUEST, 0x21, 0x00);
}

/* ---- task management ---- */
static bool tmf(const char *name, uint32_t fn, unsigned target, unsigned lun, uint64_t tag, int want, int alt)
{
    int resp = kit_vscsi_tmf(&ctl, fn, target, lun, tag, timeout_ms);
    if (resp != want && resp != alt)
        return fail("%s: response %d, wanted %d", name, resp, want);
    return ok("%s: response %d", name, resp);
}

/* ABORT TASK for a command still in flight: the device may complete it or abort it, but both the
 * TMF and the command must be answered. */
static bool check_abort_in_flight(void)
{
    uint8_t cdb[16];
    unsigned len = rw_cdb(cdb, 16, false, 0, 2048);
    if (!kit_vscsi_submit(q0(), 0, lun, cdb, len, NULL, 0, buf_b, BUF_BYTES, 77))
        return fail("ABORT TASK: could not queue the READ");
    kit_vscsi_kick(q0());
    int resp = kit_vscsi_tmf(&ctl, KIT_VSCSI_TMF_ABORT_TASK, 0, lun, 77, timeout_ms);
    uint64_t khz = tsc_khz ? tsc_khz : 3000000, t0 = rdtsc();
    const struct kit_vscsi_slot *sl;
    while (!(sl = kit_vscsi_poll(q0()))) {
        if (rdtsc() - t0 > timeout_ms * khz)
            return fail("ABORT TASK: the aborted READ never completed");
        cpu_relax();
    }
    uint8_t r = sl->resp.response, st = sl->resp.status;
    if (resp != KIT_VSCSI_S_OK && resp != KIT_VSCSI_S_FUNCTION_SUCCEEDED)
        return fail("ABORT TASK of a READ in flight: TMF response %d", resp);
    if (sl->tag != 77 || !((r == KIT_VSCSI_S_OK && st == KIT_SCSI_GOOD) || r == KIT_VSCSI_S_ABORTED))
        return fail("ABORT TASK: the READ ended with response %u status 0x%x", r, st);
    return ok("ABORT TASK of a READ in flight: TMF response %d, the READ %s", resp,
              r == KIT_VSCSI_S_ABORTED ? "aborted" : "completed");
}

static bool check_tmf(void)
{
    return check_abort_in_flight() && tmf("ABORT TASK (no such task)", KIT_VSCSI_TMF_ABORT_TASK, 0, lun, 0x1234, KIT_VSCSI_S_OK, KIT_VSCSI_S_OK) &&
           tmf("ABORT TASK SET", KIT_VSCSI_TMF_ABORT_TASK_SET, 0, lun, 0, KIT_VSCSI_S_OK, KIT_VSCSI_S_OK) &&
           tmf("QUERY TASK SET (idle)", KIT_VSCSI_TMF_QUERY_TASK_SET, 0, lun, 0, KIT_VSCSI_S_OK, KIT_VSCSI_S_OK) &&
           tmf("CLEAR ACA", KIT_VSCSI_TMF_CLEAR_ACA, 0, lun, 0, KIT_VSCSI_S_FUNCTION_REJECTED, KIT_VSCSI_S_OK) &&
           tmf("LOGICAL UNIT RESET", KIT_VSCSI_TMF_LOGICAL_UNIT_RESET, 0, lun, 0, KIT_VSCSI_S_OK, KIT_VSCSI_S_OK) &&
           tmf("I_T NEXUS RESET", KIT_VSCSI_TMF_I_T_NEXUS_RESET, 0, lun, 0, KIT_VSCSI_S_OK, KIT_VSCSI_S_OK) &&
           tmf("LOGICAL UNIT RESET on target 1", KIT_VSCSI_TMF_LOGICAL_UNIT_RESET, 1, lun, 0, KIT_VSCSI_S_BAD_TARGET,
               KIT_VSCSI_S_INCORRECT_LUN) &&
           unit_ready("after the resets");
}

static uint64_t run_checks(uint64_t arg)
{
    (void)arg;
    uint64_t cap = 0;
    bool thin = false, wce = false;
    /* Each step prints its own FAIL line; later steps still run when they do not depend on it. */
    if (!unit_ready("at start"))
        return 1;
    check_inquiry();
    check_vpd(&thin);
    check_request_sense();
    if (!check_capacity(&cap))
        return 1;
    check_mode_sense(&wce);
    check_report_luns();
    check_start_stop();
    if (!check_read_write(cap))
        return 1;
    check_errors(cap);
    check_unmap(cap);
    check_tmf();
    /* The unit still works after everything above. */
    write_read(10, 16, 8, 8, 99);
    return 0;
}

static uint64_t run_checks_capacity_only(uint64_t arg)
{
    return unit_ready("at start") && check_capacity((uint64_t *)arg) ? 0 : 1;
}

/* ---- a pipelined job on one request queue (mq, randread) ---- */
struct job {
    struct kit_vscsi_queue *q;
    bool write, check, random;
    uint64_t start, end;          /* LBAs [start, end) */
    uint32_t bs;                  /* bytes per command */
    unsigned qd;
    uint64_t pass, max_ops, max_cycles;
    uint8_t *bufs;                /* qd * bs */
    uint64_t *lbas;
    uint64_t ops, cycles, notifies;
    int error;                    /* 0 ok, 1 status, 2 mismatch, 3 timeout, 4 submit */
    uint64_t bad_lba;
    uint8_t bad_status, bad_response;
};

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static bool job_next(struct job *j, uint64_t *next, uint64_t submitted, uint64_t t0, uint64_t *lba)
{
    uint32_t blocks = j->bs / SECTOR;
    if (j->max_ops && submitted >= j->max_ops)
        return false;
    if (j->max_cycles && rdtsc() - t0 >= j->max_cycles)
        return false;
    if (j->random) {
        uint64_t span = (j->end - j->start) / blocks;
        *lba = j->start + (span ? rng() % span : 0) * blocks;
        return true;
    }
    if (*next + blocks > j->end)
        return false;
    *lba = *next;
    *next += blocks;
    return true;
}

static bool job_submit(struct job *j, unsigned b, uint64_t lba)
{
    uint8_t *buf = j->bufs + (uint64_t)b * j->bs;
    uint8_t cdb[16];
    unsigned len = rw_cdb(cdb, 10, j->write, lba, j->bs / SECTOR);
    j->lbas[b] = lba;
    if (j->write)
        fill(buf, lba, j->bs / SECTOR, j->pass);
    return kit_vscsi_submit(j->q, 0, lun, cdb, len, j->write ? buf : NULL, j->write ? j->bs : 0,
                            j->write ? NULL : buf, j->write ? 0 : j->bs, b);
}

static uint64_t run_job(uint64_t arg)
{
    struct job *j = (struct job *)arg;
    uint64_t khz = tsc_khz ? tsc_khz : 3000000;
    uint64_t t0 = rdtsc(), next = j->start, submitted = 0, last = t0, n0 = j->q->vq.notifies;
    unsigned inflight = 0;
    bool stop = false;
    for (unsigned b = 0; b < j->qd; b++) {
        uint64_t lba;
        if (!job_next(j, &next, submitted, t0, &lba))
            break;
        if (!job_submit(j, b, lba)) {
            j->error = 4;
            stop = true;
            break;
        }
        submitted++;
        inflight++;
    }
    kit_vscsi_kick(j->q);
    while (inflight) {
        const struct kit_vscsi_slot *s;
        bool progress = false;
        while ((s = kit_vscsi_poll(j->q))) {
            progress = true;
            inflight--;
            unsigned b = (unsigned)s->tag;
            if (s->resp.response != KIT_VSCSI_S_OK || s->resp.status != KIT_SCSI_GOOD) {
                if (!j->error) {
                    j->error = 1;
                    j->bad_lba = j->lbas[b];
                    j->bad_status = s->resp.status;
                    j->bad_response = s->resp.response;
                }
                stop = true;
                continue;
            }
            j->ops++;
            if (j->check && !j->error &&
                mismatch(j->bufs + (uint64_t)b * j->bs, j->lbas[b], j->bs / SECTOR, j->pass, false) >= 0) {
                j->error = 2;
                j->bad_lba = j->lbas[b];
                stop = true;
            }
            uint64_t lba;
            if (!stop && job_next(j, &next, submitted, t0, &lba)) {
                if (!job_submit(j, b, lba)) {
                    j->error = 4;
                    stop = true;
                } else {
                    submitted++;
                    inflight++;
                }
            }
        }
        uint64_t now = rdtsc();
        if (progress) {
            kit_vscsi_kick(j->q);
            last = now;
        } else if (now - last > timeout_ms * khz) {
            if (!j->error)
                j->error = 3;
            break;
        } else {
            cpu_relax();
        }
    }
    j->cycles = rdtsc() - t0;
    j->notifies = j->q->vq.notifies - n0;
    return (uint64_t)j->error;
}

static void job_init(struct job *j, struct kit_vscsi_queue *q, bool write, uint64_t start, uint64_t end, uint32_t bs,
                     unsigned qd)
{
    memset(j, 0, sizeof(*j));
    j->q = q;
    j->write = write;
    j->start = start;
    j->end = end;
    j->bs = bs;
    j->qd = qd;
    j->bufs = kit_alloc_raw((uint64_t)qd * bs, 4096);
    j->lbas = kit_alloc_raw(qd * sizeof(uint64_t), 4096);
}

static bool job_report(const char *what, const struct job *j)
{
    static const char *why[] = { "", "bad status", "data mismatch", "timeout", "ring full" };
    if (!j->error)
        return true;
    return fail("%s on request queue %u: %s at LBA %lu (response %u status 0x%x), %lu done", what,
                j->q->vq.index, why[j->error], j->bad_lba, j->bad_response, j->bad_status, j->ops);
}

/* ---- mq: one request queue per vCPU ---- */
static struct job mq_jobs[KIT_VSCSI_MAX_QUEUES][2];
static volatile uint32_t mq_done[KIT_VSCSI_MAX_QUEUES];
static volatile uint32_t mq_index_of_apic[256];

static void mq_work(unsigned i)
{
    run_job((uint64_t)&mq_jobs[i][0]);
    if (!mq_jobs[i][0].error)
        run_job((uint64_t)&mq_jobs[i][1]);
}

static void mq_ap(uint32_t apic_id)
{
    unsigned i = mq_index_of_apic[apic_id & 0xff];
    mq_work(i);
    __atomic_store_n(&mq_done[i], 1, __ATOMIC_SEQ_CST);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static uint64_t mq_bsp(uint64_t arg)
{
    mq_work((unsigned)arg);
    return 0;
}

static int mode_mq(uint64_t cap)
{
    struct kit_cpus cpus;
    kit_find_cpus(&cpus);
    unsigned n = ctl.nqueues < cpus.count ? ctl.nqueues : cpus.count;
    kit_printf("scsi: mq: %u CPUs (%s), %u request queues set up, using %u\n", cpus.count, cpus.source, ctl.nqueues, n);
    if (n < 2)
        return fail("mq needs at least 2 CPUs and 2 request queues"), KIT_EXIT_FAIL;
    uint64_t per = kit_cmdline_u64("max_mib", 8) * MIB / SECTOR;
    if (per * n > cap)
        per = cap / n & ~127ull;
    uint32_t bs = 64 * 1024;
    for (unsigned i = 0; i < n; i++) {
        job_init(&mq_jobs[i][0], &ctl.q[i], true, i * per, (i + 1) * per, bs, 8);
        mq_jobs[i][1] = mq_jobs[i][0];
        mq_jobs[i][1].write = false;
        mq_jobs[i][1].check = true;
        mq_jobs[i][0].pass = mq_jobs[i][1].pass = 40 + i;
    }
    uint32_t bsp = kit_lapic_id();
    unsigned idx = 1;
    kit_smp_prepare();
    for (unsigned c = 0; c < cpus.count && idx < n; c++) {
        uint32_t id = cpus.apic_ids[c];
        if (id == bsp || id > 0xff)
            continue;
        mq_index_of_apic[id] = idx;
        uint8_t *stack = kit_alloc_raw(16384, 4096);
        if (!kit_start_ap(id, stack + 16384, mq_ap, 5000000)) {
            kit_printf("scsi: FAIL: APIC id %u did not start\n", id);
            return KIT_EXIT_SMP_TIMEOUT;
        }
        idx++;
    }
    kit_run_user(mq_bsp, 0);
    uint64_t khz = tsc_khz ? tsc_khz : 3000000, t0 = rdtsc();
    for (unsigned i = 1; i < n; i++)
        while (!__atomic_load_n(&mq_done[i], __ATOMIC_SEQ_CST)) {
            if (rdtsc() - t0 > 300000 * khz)
                return fail("the CPU driving request queue %u did not finish", i), KIT_EXIT_FAIL;
            cpu_relax();
        }
    for (unsigned i = 0; i < n; i++) {
        if (!job_report("write", &mq_jobs[i][0]) || !job_report("read", &mq_jobs[i][1]))
            return KIT_EXIT_FAIL;
        kit_printf("scsi: mq: CPU %u on request queue %u: LBAs %lu-%lu written and verified, %lu commands\n", i,
                   ctl.q[i].vq.index - 2, i * per, (i + 1) * per - 1, mq_jobs[i][0].ops + mq_jobs[i][1].ops);
    }
    /* Everything once more through request queue 0: each CPU's data is where it wrote it. */
    for (unsigned i = 0; i < n; i++) {
        struct job j = mq_jobs[i][1];
        j.q = &ctl.q[0];
        j.ops = 0;
        kit_run_user(run_job, (uint64_t)&j);
        if (!job_report("re-read", &j))
            return KIT_EXIT_FAIL;
    }
    kit_printf("scsi: mq ok %u queues %lu MiB\n", n, n * per * SECTOR / MIB);
    return KIT_EXIT_OK;
}


/* ---- randread: the benchmark ---- */
static int mode_randread(uint64_t cap)
{
    unsigned qd = (unsigned)kit_cmdline_u64("qd", 32);
    uint32_t bs = (uint32_t)kit_cmdline_u64("bs", 4096);
    if (qd == 0 || qd * 4 > ctl.q[0].vq.size || bs == 0 || bs % SECTOR || bs > MIB)
        return fail("randread: need 4 * qd <= queue size (%u) and bs a multiple of 512 up to 1 MiB", ctl.q[0].vq.size),
               KIT_EXIT_FAIL;
    uint64_t end = cap;
    uint64_t max = kit_cmdline_u64("max_mib", 0) * MIB / SECTOR;
    if (max && max < end)
        end = max;
    struct job j;
    job_init(&j, &ctl.q[0], false, 0, end, bs, qd);
    j.random = true;
    uint64_t secs = kit_cmdline_u64("secs", 0);
    j.max_ops = kit_cmdline_u64("count", secs ? 0 : 100000);
    j.max_cycles = secs * (tsc_khz ? tsc_khz : 3000000) * 1000;
    uint64_t warm = kit_cmdline_u64("warmup", 0);
    if (warm) {
        struct job w = j;
        w.max_ops = warm;
        w.max_cycles = 0;
        kit_run_user(run_job, (uint64_t)&w);
        if (!job_report("warm-up", &w))
            return KIT_EXIT_FAIL;
    }
    kit_run_user(run_job, (uint64_t)&j);
    if (!job_report("randread", &j))
        return KIT_EXIT_FAIL;
    kit_printf("scsi: randread bs=%u qd=%u ops=%lu cycles=%lu", bs, qd, j.ops, j.cycles);
    if (tsc_khz && j.cycles) {
        uint64_t us = j.cycles * 1000 / tsc_khz;
        kit_printf(" us=%lu iops=%lu", us, us ? j.ops * 1000000 / us : 0);
    }
    kit_printf(" notifies=%lu\n", j.notifies);
    kit_printf("scsi: randread ok\n");
    return KIT_EXIT_OK;
}

int main(void)
{
    char mode[16] = "check";
    kit_cmdline_str("mode", mode, sizeof(mode));
    bool is_check = !strcmp(mode, "check"), is_mq = !strcmp(mode, "mq"), is_rr = !strcmp(mode, "randread");
    if (!is_check && !is_mq && !is_rr) {
        kit_printf("scsi: FAIL: unknown mode '%s'\n", mode);
        return KIT_EXIT_FAIL;
    }
    timeout_ms = kit_cmdline_u64("timeout_ms", 10000);
    exact = kit_cmdline_u64("exact", 0) != 0;
    lun = (unsigned)kit_cmdline_u64("lun", 0);
    tsc_khz = kit_tsc_khz();
    if (!tsc_khz && is_rr)
        tsc_khz = kit_pit_calibrate_khz();
    uint64_t qsize = kit_cmdline_u64("qsize", 256);
    if (qsize < 8 || qsize > 256) {
        kit_printf("scsi: FAIL: qsize must be 8-256\n");
        return KIT_EXIT_FAIL;
    }
    if (!kit_vscsi_init(&ctl, 0, is_mq ? KIT_VSCSI_MAX_QUEUES : 1, (uint16_t)qsize, kit_cmdline_u64("event_idx", 1) != 0))
        return KIT_EXIT_FAIL;
    kit_printf("scsi: %02x:%02x.%x num_queues %u (%u set up), seg_max %u, max_sectors %u, cmd_per_lun %u, "
               "max_target %u, max_lun %u, features 0x%lx, queue size %u\n",
               ctl.v.pci.bus, ctl.v.pci.dev, ctl.v.pci.fn, ctl.num_queues, ctl.nqueues, ctl.seg_max, ctl.max_sectors,
               ctl.cmd_per_lun, ctl.max_target, ctl.max_lun, ctl.v.features, ctl.q[0].vq.size);
    buf_a = kit_alloc_raw(BUF_BYTES, 4096);
    buf_b = kit_alloc_raw(BUF_BYTES, 4096);
    zero_block = kit_alloc_page();

    if (is_check) {
        uint64_t r = kit_run_user(run_checks, 0);
        uint32_t last = 0;
        unsigned ev = kit_vscsi_events(&ctl, &last);
        kit_printf("scsi: %u events on the event queue%s\n", ev, ev ? "" : " (none expected)");
        if (r || failures) {
            kit_printf("scsi: FAIL: %u of %u checks failed\n", failures, checks + failures);
            return KIT_EXIT_FAIL;
        }
        kit_printf("scsi: check ok (%u checks)\n", checks);
        return KIT_EXIT_OK;
    }
    /* mq and randread need the capacity first. */
    uint64_t cap = 0;
    if (kit_run_user(run_checks_capacity_only, (uint64_t)&cap) || !cap)
        return KIT_EXIT_FAIL;
    return is_mq ? mode_mq(cap) : mode_randread(cap);
}
