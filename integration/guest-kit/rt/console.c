/*
 * COM1 console: polled 16550 with its FIFO enabled.  Every port access is a
 * VM exit, so the line status register is polled once per 16-byte FIFO load
 * rather than once per character.
 */
#include "kit.h"

#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_DLL 0
#define UART_DLM 1
#define LSR_THRE 0x20
#define FIFO_SIZE 16
#define THRE_POLL_LIMIT 100000 /* a missing UART must not hang the guest */

void kit_serial_init(void)
{
    outb(KIT_COM1 + UART_IER, 0x00);   /* no interrupts */
    outb(KIT_COM1 + UART_LCR, 0x80);   /* DLAB */
    outb(KIT_COM1 + UART_DLL, 0x01);   /* 115200 baud */
    outb(KIT_COM1 + UART_DLM, 0x00);
    outb(KIT_COM1 + UART_LCR, 0x03);   /* 8N1 */
    outb(KIT_COM1 + UART_FCR, 0x07);   /* enable and clear FIFOs */
    outb(KIT_COM1 + UART_MCR, 0x03);   /* DTR, RTS */
}

static void wait_thre(void)
{
    for (int i = 0; i < THRE_POLL_LIMIT; i++)
        if (inb(KIT_COM1 + UART_LSR) & LSR_THRE)
            return;
}

void kit_write(const char *s, size_t len)
{
    while (len > 0) {
        wait_thre();
        size_t n = len < FIFO_SIZE ? len : FIFO_SIZE;
        for (size_t i = 0; i < n; i++)
            outb(KIT_COM1 + UART_THR, (uint8_t)s[i]);
        s += n;
        len -= n;
    }
}

void kit_putc(char c) { kit_write(&c, 1); }

void kit_puts(const char *s) { kit_write(s, strlen(s)); }

/* ---- formatter ---- */

struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void put_num(struct out *o, uint64_t v, unsigned base, bool neg, bool upper, int width, bool zero,
                    bool left)
{
    char tmp[24];
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    int total = n + (neg ? 1 : 0);
    if (!left && !zero)
        for (; total < width; total++)
            put(o, ' ');
    if (neg)
        put(o, '-');
    if (!left && zero)
        for (; total < width; total++)
            put(o, '0');
    while (n)
        put(o, tmp[--n]);
    for (; total < width; total++)
        put(o, ' ');
}

int kit_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = { buf, size, 0 };
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        p++;
        bool zero = false, left = false;
        for (;; p++) {
            if (*p == '0')
                zero = true;
            else if (*p == '-')
                left = true;
            else
                break;
        }
        int width = 0;
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        int longs = 0;
        while (*p == 'l' || *p == 'z') {
            longs++;
            p++;
        }
        switch (*p) {
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            put_num(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, false, width, zero, left);
            break;
        }
        case 'u':
            put_num(&o, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, false, false, width, zero, left);
            break;
        case 'x':
        case 'X':
            put_num(&o, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, false, *p == 'X', width, zero,
                    left);
            break;
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_num(&o, (uint64_t)va_arg(ap, void *), 16, false, false, width, zero, left);
            break;
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int n = (int)strlen(s);
            if (!left)
                for (int i = n; i < width; i++)
                    put(&o, ' ');
            while (*s)
                put(&o, *s++);
            if (left)
                for (int i = n; i < width; i++)
                    put(&o, ' ');
            break;
        }
        case '%':
            put(&o, '%');
            break;
        case '\0':
            p--;
            break;
        default:
            put(&o, '%');
            put(&o, *p);
            break;
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return (int)o.len;
}

int kit_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kit_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int kit_printf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = kit_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    kit_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    return n;
}
