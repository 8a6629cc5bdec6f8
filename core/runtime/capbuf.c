/*
 * core/runtime/capbuf.c - a byte buffer with a ceiling (see core/runtime/capbuf.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/runtime/capbuf.h"
#include "ensemble/error.h"

void ens__capbuf_keep(ens_capbuf *b, const uint8_t *p, size_t n)
{
    size_t room = b->max - b->len;
    size_t take = n < room ? n : room;
    if (n > take)
        b->truncated = true;
    if (take == 0)
        return;
    if (b->len + take > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + take)
            cap *= 2;
        if (cap > b->max)
            cap = b->max;
        uint8_t *nb = realloc(b->buf, cap);
        if (nb == NULL) {
            b->truncated = true; /* out of memory: keep what we have */
            return;
        }
        b->buf = nb;
        b->cap = (uint32_t)cap;
    }
    memcpy(b->buf + b->len, p, take);
    b->len += (uint32_t)take;
}

static int above_stdio(int fd)
{
    if (fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

int ens__output_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC) < 0)
        return errno == ENOMEM ? ENS_ENOMEM : ENS_EAGAIN;
    p[0] = above_stdio(p[0]);
    p[1] = above_stdio(p[1]);
    if (p[0] >= 0 && p[1] >= 0)
        return 0;
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    return ENS_EAGAIN;
}
