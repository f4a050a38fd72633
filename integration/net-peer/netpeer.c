/*
 * netpeer: the host side of the guest kit's net guest (integration/guest-kit/guests/net.c), on
 * an AF_PACKET socket bound to the VM's tap.  Built by the tests and benchmarks with plain gcc.
 *
 *   netpeer echo  IFACE TIMEOUT_S EXPECT   answer A with H and every D with E (addresses and ports
 *                                          swapped), until EXPECT D frames were seen or TIMEOUT_S
 *   netpeer flood IFACE SECONDS QUEUES     answer A with H, then send E frames as fast as possible
 *                                          for SECONDS, tags (and UDP ports) cycling over QUEUES
 *
 * Prints "peer: ..." lines: the per-queue D counts, what was sent.  Exit status 0 on success,
 * 1 when EXPECT was not reached, 2 on a usage or socket error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_Q 64
#define ETH_HLEN_ 14
#define PAYLOAD_OFF (14 + 20 + 8)

static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int open_iface(const char *name, double timeout_s)
{
    double end = now_s() + timeout_s;
    unsigned idx;
    while ((idx = if_nametoindex(name)) == 0) {
        if (now_s() > end) {
            fprintf(stderr, "netpeer: interface %s did not appear\n", name);
            exit(2);
        }
        usleep(20000);
    }
    int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (s < 0) {
        perror("netpeer: socket(AF_PACKET)");
        exit(2);
    }
    struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)idx };
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("netpeer: bind");
        exit(2);
    }
    int big = 4 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    printf("peer: ready on %s (ifindex %u)\n", name, idx);
    fflush(stdout);
    return s;
}

/* The kind of a guest frame (0 if not one) and its queue tag. */
static char parse(const uint8_t *f, ssize_t len, unsigned *queue)
{
    if (len < PAYLOAD_OFF + 12 || f[12] != 0x08 || f[13] != 0x00 || f[14 + 9] != 17)
        return 0;
    const uint8_t *pl = f + PAYLOAD_OFF;
    if (memcmp(pl, "VMKT", 4) != 0)
        return 0;
    *queue = pl[6] | pl[7] << 8;
    return (char)pl[4];
}

/* Turns a guest frame into the peer's answer of that kind, in place. */
static void answer(uint8_t *f, char kind)
{
    uint8_t t[6];
    memcpy(f, f + 6, 6); /* to the guest's MAC */
    memcpy(f + 6, peer_mac, 6);
    uint8_t *ip = f + 14;
    memcpy(t, ip + 12, 4);
    memcpy(ip + 12, ip + 16, 4);
    memcpy(ip + 16, t, 4); /* the IPv4 checksum does not change when the addresses swap */
    uint8_t *udp = ip + 20;
    memcpy(t, udp, 2);
    memcpy(udp, udp + 2, 2);
    memcpy(udp + 2, t, 2);
    f[PAYLOAD_OFF + 4] = (uint8_t)kind;
}

static int do_echo(int s, double timeout_s, unsigned long expect)
{
    uint8_t buf[65536];
    unsigned long per_q[MAX_Q] = { 0 }, data = 0, echoed = 0, hellos = 0;
    double end = now_s() + timeout_s;
    while (data < expect && now_s() < end) {
        struct pollfd p = { .fd = s, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0)
            continue;
        struct sockaddr_ll from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING)
            continue;
        unsigned q;
        char k = parse(buf, n, &q);
        if (k == 'A') {
            if (hellos++ == 0) {
                printf("peer: announce seen\n");
                fflush(stdout);
            }
            answer(buf, 'H');
        } else if (k == 'D') {
            data++;
            if (q < MAX_Q)
                per_q[q]++;
            answer(buf, 'E');
        } else {
            continue;
        }
        if (send(s, buf, (size_t)n, 0) == n)
            echoed += k == 'D';
        else
            perror("netpeer: send");
    }
    for (unsigned q = 0; q < MAX_Q; q++)
        if (per_q[q])
            printf("peer: queue %u: %lu data frames\n", q, per_q[q]);
    printf("peer: %lu data frames, %lu echoed, %lu hellos\n", data, echoed, hellos);
    return data >= expect ? 0 : 1;
}

static int do_flood(int s, double secs, unsigned queues)
{
    uint8_t buf[65536];
    /* wait for the guest's announce: it tells the guest's MAC, addresses and frame size */
    double end = now_s() + 120;
    ssize_t n = 0;
    for (;;) {
        if (now_s() > end) {
            fprintf(stderr, "netpeer: no announce from the guest\n");
            return 1;
        }
        struct pollfd p = { .fd = s, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0)
            continue;
        struct sockaddr_ll from;
        socklen_t fl = sizeof(from);
        n = recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        unsigned q;
        if (n > 0 && from.sll_pkttype != PACKET_OUTGOING && parse(buf, n, &q) == 'A')
            break;
    }
    answer(buf, 'H');
    for (int i = 0; i < 3; i++)
        send(s, buf, (size_t)n, 0);
    printf("peer: announce seen, flooding %zd-byte frames over %u queue tags\n", n, queues);
    fflush(stdout);
    if (queues == 0 || queues > MAX_Q)
        queues = 1;
    static uint8_t frames[MAX_Q][2048];
    for (unsigned q = 0; q < queues; q++) {
        memcpy(frames[q], buf, (size_t)n);
        frames[q][PAYLOAD_OFF + 4] = 'E';
        frames[q][PAYLOAD_OFF + 6] = (uint8_t)q;
        uint16_t port = (uint16_t)(40000 + q); /* the guest's port of queue q, as destination */
        frames[q][14 + 20 + 2] = (uint8_t)(port >> 8);
        frames[q][14 + 20 + 3] = (uint8_t)port;
    }
    enum { BATCH = 64 };
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    unsigned long sent = 0;
    double t0 = now_s(), stop = t0 + secs;
    unsigned q = 0;
    while (now_s() < stop) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){ frames[q], (size_t)n };
            msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
            q = (q + 1) % queues;
        }
        int r = sendmmsg(s, msgs, BATCH, 0);
        if (r > 0) {
            sent += (unsigned long)r;
        } else if (errno != ENOBUFS && errno != EAGAIN) {
            perror("netpeer: sendmmsg (stopping)"); /* ENXIO: the VM and its tap are gone */
            break;
        }
    }
    printf("peer: flooded %lu frames in %.2f s\n", sent, now_s() - t0);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 5 && !strcmp(argv[1], "echo"))
        return do_echo(open_iface(argv[2], 60), atof(argv[3]), strtoul(argv[4], NULL, 0));
    if (argc == 5 && !strcmp(argv[1], "flood"))
        return do_flood(open_iface(argv[2], 60), atof(argv[3]), (unsigned)atoi(argv[4]));
    fprintf(stderr, "usage: netpeer echo IFACE TIMEOUT_S EXPECT | netpeer flood IFACE SECONDS QUEUES\n");
    return 2;
}
