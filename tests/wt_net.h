/* Small loopback helpers for tests that start a real peer: whether a port
 * on 127.0.0.1 accepts yet. Header-only; include it after test.h. */
#ifndef WEFT_WT_NET_H
#define WEFT_WT_NET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* Whether 127.0.0.1:port accepts a connection (a blocking connect). */
static inline bool wt_port_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

#endif
