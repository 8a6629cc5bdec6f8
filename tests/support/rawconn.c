/*
 * tests/support/rawconn.c - raw connections to a running system (see
 * rawconn.h).
 */
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/process/proc.h"
#include "core/process/proc_door.h"
#include "ensemble/error.h"
#include "support/rawconn.h"

/* Wait for one control frame on fd: 1 with *m, or a negative error. */
static int recv_ctl(int fd, int timeout_ms, ens_msg **m, int *fds, int *nfds)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) != 1)
        return ENS_ETIMEDOUT;
    int rc = ens__ctl_recv(fd, m, fds, nfds);
    return rc == 0 ? ENS_EAGAIN : rc;
}

int test_raw_connect(const char *name, int timeout_ms, ens_addr *self)
{
    int fd = -1;
    ens_peer who;
    int rc = ens__door_connect(name, false, &fd, &who);
    if (rc < 0)
        return rc;
    /* The admin's hello, with the receiving end of its connection to us,
     * answered as a real client does (or the admin closes a silent one). */
    ens_msg *m = NULL;
    int fds[ENS_CTL_MAX_FDS];
    int nfds = ENS_CTL_MAX_FDS;
    rc = recv_ctl(fd, timeout_ms, &m, fds, &nfds);
    for (int i = 0; rc == 1 && i < nfds; i++)
        close(fds[i]);
    const ens__ctl_hello_v *hello = rc == 1 ? ens_msg_value(m, &ens__ctl_hello) : NULL;
    if (rc == 1 && hello == NULL)
        rc = ENS_EBADFRAME;
    if (hello != NULL) {
        if (self != NULL)
            *self = hello->addr;
        ens__ctl_hello_v ack = {.addr = hello->addr};
        if (ens__ctl_send(fd, hello->addr, &ens__ctl_hello, &ack, 0, NULL, 0) != 0)
            rc = ENS_EIO;
    }
    if (m != NULL)
        ens_msg_free(m);
    if (rc != 1) {
        close(fd);
        return rc;
    }
    return fd;
}

int test_raw_connect_peer(int fd, ens_addr peer, int timeout_ms, int *out)
{
    ens__ctl_conn_v v = {peer, 0};
    *out = -1;
    if (ens__ctl_send(fd, ENS_ADDR_NONE, &ens__ctl_connect, &v, 0, NULL, 0) != 0)
        return ENS_EIO;
    for (;;) {
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        int rc = recv_ctl(fd, timeout_ms, &m, fds, &nfds);
        if (rc < 0)
            return rc;
        const ens__ctl_status_v *st = ens_msg_value(m, &ens__ctl_connected);
        int status = st != NULL ? st->status : 0;
        for (int i = 0; i < nfds; i++) {
            if (st != NULL && *out < 0 && status == 0)
                *out = fds[i];
            else
                close(fds[i]);
        }
        ens_msg_free(m);
        if (st != NULL)
            return status;
    }
}
