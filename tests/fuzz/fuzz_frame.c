/*
 * tests/fuzz/fuzz_frame.c - libFuzzer target for the receive path: any byte
 * string handed to ens__msg_from_frame must give a message or an error,
 * never a crash, an out-of-bounds access or a leak. A few user types (one
 * with arrays of structs with strings, one with bytes, one of fixed-size
 * scalars that takes the fixed-layout path) are registered so the fuzzer
 * reaches tpl through every kind of item and the fixed decoder too; accepted messages are
 * walked and, for poisons and dead envelopes, their original is decoded.
 * Most mutations would only break the payload length in the header, so
 * the target rewrites that field to the true length unless the input sets
 * its top byte to 0xFF (which keeps the lying-length paths reachable).
 * See tests/fuzz/README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire/msg_internal.h"
#include "fuzz_types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_register();
    uint8_t *frame = malloc(size ? size : 1);
    if (!frame)
        return 0;
    memcpy(frame, data, size);
    if (size >= ENS_FRAME_HEADER_LEN && size - ENS_FRAME_HEADER_LEN <= UINT32_MAX &&
        frame[11] != 0xFF) {
        uint32_t plen = (uint32_t)(size - ENS_FRAME_HEADER_LEN);
        for (int i = 0; i < 4; i++)
            frame[8 + i] = (uint8_t)(plen >> (8 * i));
    }
    ens_msg *m = NULL;
    if (ens__msg_from_frame(frame, size, 1u << 20, &m) == 0) {
        volatile size_t sink = fz_touch(m);
        const ens_msg *o = ens_poison_original(m);
        if (o)
            sink += fz_touch(o);
        (void)sink;
        ens_msg_free(m);
    }
    return 0;
}
