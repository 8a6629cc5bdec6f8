/*
 * tests/fuzz/fuzz_gateway_inbound.c - libFuzzer target for the gateway's
 * inbound path: what a gateway does with a NATS message before anything of
 * it is delivered (core/process/gateway/gateway_inbound.h), without a NATS
 * connection. Any input must be refused or taken, never crash, read out of
 * bounds or leak.
 *
 * Input: byte 0 is n (up to 24), bytes 1..n the last token of the subject
 * the message arrived on ("ens.f.n.4660.<token>", parsed as the gateway
 * parses it for the publishing node), the rest the NATS message: a lone
 * frame or a batch (gateway_batch.h). This system is node 4660 (0x1234).
 * Each frame the checks take is then decoded as its receiver would
 * (ens__msg_from_frame, every field walked); each refusal goes through the
 * rate limit of refusals with a clock that advances per message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/process/gateway/gateway_inbound.h"
#include "core/process/proc.h"
#include "fuzz_types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SELF_NODE 4660u
#define TOKEN_MAX 24u

static ens_gw_refusals refusals;
static int64_t clock_ms = 1;

static void each(void *arg, const uint8_t *frame, size_t len, const ens_frame_hdr *h, int err,
                 const char *why)
{
    (void)arg;
    if (err < 0 || h == NULL) {
        ens__gw_refusal_flush(&refusals, clock_ms, false);
        ens__gw_refusal_note(&refusals, clock_ms, why);
        return;
    }
    uint8_t *copy = malloc(len); /* the receiver's own copy: the decoder takes it */
    if (copy == NULL)
        return;
    memcpy(copy, frame, len);
    ens_msg *m = NULL;
    if (ens__msg_from_frame(copy, len, 1u << 20, &m) == 0) {
        volatile size_t sink = fz_touch(m);
        (void)sink;
        ens_msg_free(m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        fz_register();
        ens__ctl_register();
        ready = true;
    }
    if (size == 0)
        return 0;
    size_t n = data[0] < TOKEN_MAX ? data[0] : TOKEN_MAX;
    if (n > size - 1)
        n = size - 1;
    char subject[64] = "ens.f.n.4660.";
    size_t at = strlen(subject);
    memcpy(subject + at, data + 1, n);
    subject[at + n] = '\0'; /* a NUL inside the token ends it, as in NATS's C string */
    /* The message alone in a buffer of its own size, so ASan sees any
     * read past its end. */
    size_t len = size - 1 - n;
    uint8_t *msg = malloc(len ? len : 1);
    if (msg == NULL)
        return 0;
    memcpy(msg, data + 1 + n, len);
    ens_gw_origin o = {SELF_NODE, ens__gw_subject_from(subject), 1u << 20};
    ens__gw_inbound_each(msg, len, &o, each, NULL);
    free(msg);
    clock_ms += 7;
    return 0;
}
