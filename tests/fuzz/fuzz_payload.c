/*
 * tests/fuzz/fuzz_payload.c - libFuzzer target for payload decoding alone:
 * the header is always valid, so every input exercises the decoders (tpl's,
 * behind the codec's own image walk, and the fixed-layout one) instead of
 * the header checks fuzz_frame spends most inputs on.
 *
 * Input: byte 0 picks the message type (modulo the list below), byte 1 bit 0
 * asks for the fixed-layout flag, the rest is the payload. The frame is
 * built with a correct header around it and handed to ens__msg_from_frame;
 * an accepted value is walked (fuzz_types.h) and a poison's or dead
 * envelope's original decoded too. Seeds: tests/fuzz/corpus/payload/, the
 * payloads of the frame seeds (see README.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire/msg_internal.h"
#include "fuzz_types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ens_msgtype *fz_type(uint8_t k)
{
    const ens_msgtype *all[] = {&fz_greeting,
                                &fz_list,
                                &fz_fixed,
                                &ens_msg_string,
                                &ens_msg_int64,
                                &ens_msg_bytes,
                                &ens_msg_poison,
                                &ens_msg_dead_envelope,
                                &ens_msg_child_exited,
                                &ens_msg_wakeup,
                                &ens_msg_exit_request};
    return all[k % (sizeof(all) / sizeof(all[0]))];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_register();
    if (size < 2 || size - 2 > (1u << 20))
        return 0;
    const ens_msgtype *t = fz_type(data[0]);
    size_t plen = size - 2;
    uint8_t *frame = malloc(ENS_FRAME_HEADER_LEN + plen);
    if (frame == NULL)
        return 0;
    ens_frame_hdr h = {
        /* the payload's encoding: tpl, fixed layout, one blob, or both flags */
        .flags = (uint16_t)(((data[1] & 1) ? ENS_FRAME_FIXED : 0) |
                            ((data[1] & 2) ? ENS_FRAME_BLOB : 0)),
        .payload_len = (uint32_t)plen,
        .type_id = t->id,
        .target = {16, 1, 0},
        .sender = {17, 1, 0},
        .attempt = 1,
    };
    ens__frame_hdr_write(&h, frame);
    memcpy(frame + ENS_FRAME_HEADER_LEN, data + 2, plen);
    ens_msg *m = NULL;
    if (ens__msg_from_frame(frame, ENS_FRAME_HEADER_LEN + plen, 1u << 21, &m) == 0) {
        volatile size_t sink = fz_touch(m);
        const ens_msg *o = ens_poison_original(m);
        if (o != NULL)
            sink += fz_touch(o);
        (void)sink;
        ens_msg_free(m);
    }
    return 0;
}
