/*
 * tests/fuzz/fuzz_ctl.c - libFuzzer target for the control channel of the
 * process base: any datagram that reaches ens__ctl_recv (the parser the
 * admin runs on every control frame, from its own processes and from
 * programs connected by name) must give a message or an error, never a
 * crash, an out-of-bounds access or a leak.
 *
 * Each input is sent as one datagram over a SOCK_SEQPACKET pair and read
 * back with ens__ctl_recv, as the admin does. An accepted message is
 * re-encoded from its decoded value (which walks every string, array and
 * byte field the value claims to have, under ASan), and the frames that
 * control messages carry (a dead letter, a log line's frame, a spawn's start
 * argument) are decoded in turn, as the admin decodes them. Like
 * fuzz_frame, the target rewrites the header's payload length to the true
 * one unless the input sets its top byte to 0xFF.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/process/proc.h"
#include "core/wire/msg_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int chan[2] = {-1, -1};

static int fz_setup(void)
{
    if (chan[0] >= 0)
        return 0;
    if (ens__ctl_register() != 0)
        abort();
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0)
        return -1;
    int big = 1 << 20;
    setsockopt(chan[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(chan[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    return 0;
}

/* Decode a frame a control message carries (copied: the decoder takes it). */
static void fz_inner(const ens_bytes *b)
{
    if (b->len == 0 || b->data == NULL)
        return;
    uint8_t *copy = malloc(b->len);
    if (copy == NULL)
        return;
    memcpy(copy, b->data, b->len);
    ens_msg *m = NULL;
    if (ens__msg_from_frame(copy, b->len, ENS_CTL_MAX, &m) == 0)
        ens_msg_free(m);
}

static void fz_walk(const ens_msg *m)
{
    if (m->info == NULL || m->value == NULL)
        return;
    /* Re-encoding reads every field of the decoded value. */
    ens_frame_hdr h = m->hdr;
    uint8_t *frame = NULL;
    size_t len = 0;
    if (ens__frame_build(m->info->type, m->value, &h, ENS_CTL_MAX * 4u, &frame, &len) == 0)
        free(frame);
    const ens__ctl_frame_v *dl = ens_msg_value(m, &ens__ctl_deadletter);
    if (dl == NULL)
        dl = ens_msg_value(m, &ens__ctl_log);
    if (dl != NULL)
        fz_inner(&dl->frame);
    const ens__ctl_spawn_v *sp = ens_msg_value(m, &ens__ctl_spawn);
    if (sp != NULL) {
        fz_inner(&sp->arg);
        volatile size_t n = sp->name != NULL ? strlen(sp->name) : 0;
        (void)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_setup() < 0 || size == 0)
        return 0;
    uint8_t *dgram = malloc(size);
    if (dgram == NULL)
        return 0;
    memcpy(dgram, data, size);
    if (size >= ENS_FRAME_HEADER_LEN && dgram[11] != 0xFF) {
        uint32_t plen = (uint32_t)(size - ENS_FRAME_HEADER_LEN);
        for (int i = 0; i < 4; i++)
            dgram[8 + i] = (uint8_t)(plen >> (8 * i));
    }
    ssize_t sent = send(chan[0], dgram, size, MSG_DONTWAIT);
    free(dgram);
    if (sent != (ssize_t)size)
        return 0;
    ens_msg *m = NULL;
    int fds[ENS_CTL_MAX_FDS];
    int nfds = ENS_CTL_MAX_FDS;
    if (ens__ctl_recv(chan[1], &m, fds, &nfds) == 1) {
        fz_walk(m);
        ens_msg_free(m);
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
    }
    return 0;
}
