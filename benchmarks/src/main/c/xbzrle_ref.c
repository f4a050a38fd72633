/*
 * xbzrle_ref: a C implementation of QEMU's XBZRLE page delta format, written for this project from
 * the format description (QEMU docs/xbzrle.txt):
 *
 *   page   = zrun nzrun | zrun nzrun page
 *   zrun   = length            (bytes equal to the old page)
 *   nzrun  = length byte...    (the new bytes)
 *   length = ULEB128
 *
 * Canonical encoding: maximal alternating runs, only the first zrun may be empty, the trailing
 * zrun is left out, an unchanged page encodes to nothing; encoding fails (-1) when the delta would
 * take more than `limit` bytes.
 *
 * It serves two purposes: an independent encoder/decoder that the Java codec must match byte for
 * byte (XbzrleInteropTest), and the native speed reference for the Java/C benchmark ratio
 * (XbzrleVsC). It scans 8 bytes at a time like the Java code, so the ratio compares like with like.
 *
 * Driver (all integers little-endian; x86 only, like the rest of the project):
 *   xbzrle_ref encode IN OUT    IN:  records {u32 page_size, u32 limit, old[page_size], new[page_size]}
 *                               OUT: per record {i32 result, delta[result] if result >= 0}
 *                               Every delta is decoded back and checked (exit 3 on mismatch).
 *   xbzrle_ref decode IN OUT    IN:  records {u32 page_size, u32 delta_len, delta[delta_len], page[page_size]}
 *                               OUT: per record {i32 0 or -1, page[page_size] after decoding}
 *   xbzrle_ref bench IN MIN_MS  IN:  encode records, one page size; prints ns per page for the
 *                               encode loop (each record's limit) and the decode loop (deltas
 *                               made with room to spare), each run for at least MIN_MS: the mean
 *                               wall-clock time, and the best thread CPU time of 100 ms samples.
 *
 * Build: gcc -O2 -o xbzrle_ref xbzrle_ref.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOW_BITS  0x0101010101010101ULL
#define HIGH_BITS 0x8080808080808080ULL

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v)); /* unaligned-safe; one mov on x86 */
    return v;
}

static int uleb128_size(uint32_t v)
{
    int n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *uleb128_put(uint8_t *p, uint32_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* First index in [i, end) where a and b differ, or end. */
static int scan_equal(const uint8_t *a, const uint8_t *b, int i, int end)
{
    for (; i + 8 <= end; i += 8) {
        uint64_t x = load64(a + i) ^ load64(b + i);
        if (x)
            return i + (__builtin_ctzll(x) >> 3);
    }
    while (i < end && a[i] == b[i])
        i++;
    return i;
}

/* First index in [i, end) where a and b are equal, or end. */
static int scan_different(const uint8_t *a, const uint8_t *b, int i, int end)
{
    for (; i + 8 <= end; i += 8) {
        uint64_t x = load64(a + i) ^ load64(b + i);
        uint64_t zero = (x - LOW_BITS) & ~x & HIGH_BITS; /* lowest flag = lowest zero byte */
        if (zero)
            return i + (__builtin_ctzll(zero) >> 3);
    }
    while (i < end && a[i] != b[i])
        i++;
    return i;
}

int xbzrle_ref_encode(const uint8_t *old_page, const uint8_t *new_page, int size, uint8_t *dst, int limit)
{
    int d = 0, i = 0;
    for (;;) {
        int zstart = i;
        i = scan_equal(old_page, new_page, i, size);
        if (i == size)
            return d;
        int zlen = i - zstart;
        int head = uleb128_size((uint32_t)zlen);
        long budget = (long)limit - d - head - 1; /* most data bytes that could still fit */
        if (budget < 1)
            return -1;
        int end = (long)i + budget + 1 < size ? (int)(i + budget + 1) : size;
        int nstart = i;
        i = scan_different(old_page, new_page, i, end);
        int nlen = i - nstart;
        int run = head + uleb128_size((uint32_t)nlen) + nlen;
        if (run > limit - d)
            return -1;
        uint8_t *p = uleb128_put(dst + d, (uint32_t)zlen);
        p = uleb128_put(p, (uint32_t)nlen);
        memcpy(p, new_page + nstart, (size_t)nlen);
        d += run;
    }
}

/* Reads a ULEB128 of at most 5 bytes that fits in an int; returns bytes used or -1. */
static int uleb128_get(const uint8_t *src, int avail, int *value)
{
    uint64_t v = 0;
    for (int n = 0; n < 5 && n < avail; n++) {
        v |= (uint64_t)(src[n] & 0x7f) << (7 * n);
        if (!(src[n] & 0x80)) {
            if (v > 0x7fffffff)
                return -1;
            *value = (int)v;
            return n + 1;
        }
    }
    return -1;
}

/* Applies a delta to the old page in place; 0 on success, -1 if malformed. */
int xbzrle_ref_decode(const uint8_t *src, int len, uint8_t *page, int size)
{
    int s = 0, d = 0;
    while (s < len) {
        int zlen, nlen, used;
        used = uleb128_get(src + s, len - s, &zlen);
        if (used < 0 || (zlen == 0 && s != 0) || zlen > size - d)
            return -1;
        s += used;
        d += zlen;
        if (s == len) /* a zrun must be followed by an nzrun */
            return -1;
        used = uleb128_get(src + s, len - s, &nlen);
        if (used < 0 || nlen == 0)
            return -1;
        s += used;
        if (nlen > len - s || nlen > size - d)
            return -1;
        memcpy(page + d, src + s, (size_t)nlen);
        s += nlen;
        d += nlen;
    }
    return 0;
}

/* ---- driver --------------------------------------------------------------------------------- */

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static int read_u32(FILE *f, uint32_t *v)
{
    uint8_t b[4];
    size_t got = fread(b, 1, 4, f);
    if (got == 0 && feof(f))
        return 0;
    if (got != 4)
        die("truncated input");
    *v = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

static void read_exact(FILE *f, void *p, size_t n)
{
    if (n && fread(p, 1, n, f) != n)
        die("truncated input");
}

static void write_i32(FILE *f, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t b[4] = {u, u >> 8, u >> 16, u >> 24};
    if (fwrite(b, 1, 4, f) != 4)
        die("write");
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("malloc");
    return p;
}

static int cmd_encode(FILE *in, FILE *out)
{
    uint32_t size, limit;
    while (read_u32(in, &size)) {
        if (!read_u32(in, &limit))
            die("truncated input");
        uint8_t *old_page = xmalloc(size), *new_page = xmalloc(size), *dst = xmalloc(limit);
        read_exact(in, old_page, size);
        read_exact(in, new_page, size);
        int n = xbzrle_ref_encode(old_page, new_page, (int)size, dst, (int)limit);
        write_i32(out, n);
        if (n > 0 && fwrite(dst, 1, (size_t)n, out) != (size_t)n)
            die("write");
        if (n >= 0) {
            if (xbzrle_ref_decode(dst, n, old_page, (int)size) != 0 || memcmp(old_page, new_page, size) != 0) {
                fprintf(stderr, "xbzrle_ref: own delta does not decode back\n");
                exit(3);
            }
        }
        free(old_page);
        free(new_page);
        free(dst);
    }
    return 0;
}

static int cmd_decode(FILE *in, FILE *out)
{
    uint32_t size, len;
    while (read_u32(in, &size)) {
        if (!read_u32(in, &len))
            die("truncated input");
        uint8_t *delta = xmalloc(len), *page = xmalloc(size);
        read_exact(in, delta, len);
        read_exact(in, page, size);
        write_i32(out, xbzrle_ref_decode(delta, (int)len, page, (int)size));
        if (size && fwrite(page, 1, size, out) != size)
            die("write");
        free(delta);
        free(page);
    }
    return 0;
}

static double clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* One timing: mean wall-clock time over the whole loop (what JMH reports), and the best thread CPU
 * time of 100 ms samples (robust when other processes share the cores). */
struct timing {
    double wall_ns, cpu_best_ns;
};

static long sink;

/* The benchmark inputs, laid out like the Java benchmark's: each kind of page contiguous and
 * page-aligned, deltas at a fixed stride. */
struct bench_set {
    int count, size, room;
    uint8_t *olds, *news, *pages, *deltas;
    int *limits, *lens;
};

static void encode_all(const struct bench_set *b, uint8_t *dst)
{
    for (int r = 0; r < b->count; r++) {
        size_t off = (size_t)r * b->size;
        int n = xbzrle_ref_encode(b->olds + off, b->news + off, b->size, dst, b->limits[r]);
        sink += n + (n > 0 ? dst[n - 1] : 0);
    }
}

static void decode_all(const struct bench_set *b)
{
    /* Re-applying a delta is idempotent, so every round does the same work on the same pages. */
    for (int r = 0; r < b->count; r++) {
        uint8_t *page = b->pages + (size_t)r * b->size;
        sink += xbzrle_ref_decode(b->deltas + (size_t)r * b->room, b->lens[r], page, b->size);
        sink += page[r % b->size];
    }
}

#define TIME_LOOP(result, count, min_ms, body)                                   \
    do {                                                                         \
        long rounds_ = 0;                                                        \
        double best_ = 1e300, wall0_ = clock_ns(CLOCK_MONOTONIC), wall_;         \
        do {                                                                     \
            long sample_rounds_ = 0;                                             \
            double cpu0_ = clock_ns(CLOCK_THREAD_CPUTIME_ID), cpu_;              \
            do {                                                                 \
                body;                                                            \
                sample_rounds_++;                                                \
                cpu_ = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0_;                \
            } while (cpu_ < 100e6);                                              \
            if (cpu_ / sample_rounds_ < best_)                                   \
                best_ = cpu_ / sample_rounds_;                                   \
            rounds_ += sample_rounds_;                                           \
            wall_ = clock_ns(CLOCK_MONOTONIC) - wall0_;                          \
        } while (wall_ < (min_ms) * 1e6);                                        \
        (result).wall_ns = wall_ / ((double)rounds_ * (count));                  \
        (result).cpu_best_ns = best_ / (count);                                  \
    } while (0)

static void *aligned(size_t n)
{
    void *p = aligned_alloc(4096, (n + 4095) / 4096 * 4096);
    if (!p)
        die("aligned_alloc");
    return p;
}

static int cmd_bench(FILE *in, double min_ms)
{
    uint32_t size, limit;
    if (!read_u32(in, &size)) {
        fprintf(stderr, "xbzrle_ref: no input\n");
        return 2;
    }
    if (fseek(in, 0, SEEK_END) != 0)
        die("seek");
    long bytes = ftell(in);
    rewind(in);
    if (bytes % (8 + 2 * (long)size) != 0) {
        fprintf(stderr, "xbzrle_ref: bench needs one page size\n");
        return 2;
    }
    struct bench_set b = {.count = (int)(bytes / (8 + 2 * (long)size)), .size = (int)size, .room = 2 * (int)size + 16};
    size_t all = (size_t)b.count * size;
    b.olds = aligned(all);
    b.news = aligned(all);
    b.pages = aligned(all);
    b.deltas = aligned((size_t)b.count * b.room);
    b.limits = xmalloc(b.count * sizeof(int));
    b.lens = xmalloc(b.count * sizeof(int));
    for (int r = 0; r < b.count; r++) {
        uint32_t s;
        if (!read_u32(in, &s) || s != size || !read_u32(in, &limit))
            die("bad input");
        b.limits[r] = (int)limit;
        read_exact(in, b.olds + (size_t)r * size, size);
        read_exact(in, b.news + (size_t)r * size, size);
        /* Decode input: the delta made with room to spare, applied to a copy of the old page. */
        b.lens[r] = xbzrle_ref_encode(b.olds + (size_t)r * size, b.news + (size_t)r * size, b.size,
                                      b.deltas + (size_t)r * b.room, b.room);
    }
    memcpy(b.pages, b.olds, all);
    uint8_t *dst = aligned((size_t)b.room);
    struct timing enc, dec;
    TIME_LOOP(enc, b.count, min_ms, encode_all(&b, dst));
    TIME_LOOP(dec, b.count, min_ms, decode_all(&b));
    printf("pages %d\npage_size %u\n"
           "encode_ns_per_page %.2f\nencode_cpu_best_ns_per_page %.2f\n"
           "decode_ns_per_page %.2f\ndecode_cpu_best_ns_per_page %.2f\nchecksum %ld\n",
           b.count, size, enc.wall_ns, enc.cpu_best_ns, dec.wall_ns, dec.cpu_best_ns, sink);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s encode IN OUT | decode IN OUT | bench IN MIN_MS\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[2], "rb");
    if (!in)
        die(argv[2]);
    if (!strcmp(argv[1], "bench"))
        return cmd_bench(in, atof(argv[3]));
    FILE *out = fopen(argv[3], "wb");
    if (!out)
        die(argv[3]);
    int rc;
    if (!strcmp(argv[1], "encode"))
        rc = cmd_encode(in, out);
    else if (!strcmp(argv[1], "decode"))
        rc = cmd_decode(in, out);
    else {
        fprintf(stderr, "unknown command %s\n", argv[1]);
        return 2;
    }
    if (fclose(out) != 0)
        die("close");
    return rc;
}
