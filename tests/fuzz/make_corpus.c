/*
 * tests/fuzz/make_corpus.c - writes the seed corpus of fuzz_frame: one valid
 * frame of each kind of message (user types with strings, arrays and bytes,
 * a fixed-layout type, the built-in and system types - the fixed-size ones
 * as FIXED frames - and poisons and dead envelopes carrying another
 * frame). It includes fuzz_frame.c to register the same types.
 * Usage: make_corpus <dir>   (see README.md)
 */
#include <stdio.h>

#include "fuzz_frame.c"

static int written;

static int save(const char *dir, const char *name, const ens_msgtype *t, const void *v,
                uint8_t **keep, size_t *keep_len)
{
    ens_frame_hdr h = {0};
    h.flags = ENS_FRAME_REQUEST;
    h.target = (ens_addr){2, 1, 0};
    h.sender = (ens_addr){3, 1, 0};
    h.corr = 1;
    h.attempt = 1;
    uint8_t *frame;
    size_t len;
    int rc = ens__frame_build(t, v, &h, 1u << 20, &frame, &len);
    if (rc != 0) {
        fprintf(stderr, "%s: build failed (%d)\n", name, rc);
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(frame, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write\n", path);
        free(frame);
        return -1;
    }
    written++;
    if (keep) {
        *keep = frame;
        *keep_len = len;
    } else {
        free(frame);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    fz_register();
    int rc = 0;

    fz_greeting_v g = {3, "hello"};
    uint8_t *gframe = NULL;
    size_t glen = 0;
    rc |= save(dir, "greeting", &fz_greeting, &g, &gframe, &glen);

    fz_item items[] = {{1, "one", {10, 1, 0}}, {2, NULL, {20, 1, 0}}};
    char *tags[] = {"red", "", NULL};
    uint64_t nums[] = {1, 2, UINT64_MAX};
    uint8_t blob[] = {0, 1, 2, 3, 0xFF};
    fz_list_v l = {2, "list", {items, 2}, {tags, 3}, {nums, 3}, {blob, sizeof blob}};
    uint8_t *lframe = NULL;
    size_t llen = 0;
    rc |= save(dir, "list", &fz_list, &l, &lframe, &llen);
    fz_list_v empty = {0, NULL, {NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};
    rc |= save(dir, "list_empty", &fz_list, &empty, NULL, NULL);

    fz_fixed_v fx = {'f',        -2,         65535,
                     INT32_MIN,  UINT32_MAX, INT64_MIN,
                     UINT64_MAX, -1.5,       {0xFEDCBA9876543210ull, 7, 0}};
    uint8_t *fframe = NULL;
    size_t flen = 0;
    rc |= save(dir, "fixed", &fz_fixed, &fx, &fframe, &flen);
    fz_fixed_v zero = {0};
    rc |= save(dir, "fixed_zero", &fz_fixed, &zero, NULL, NULL);

    ens_string_v s = {"a string"};
    rc |= save(dir, "string", &ens_msg_string, &s, NULL, NULL);
    ens_int64_v i = {-42};
    rc |= save(dir, "int64", &ens_msg_int64, &i, NULL, NULL);
    ens_bytes_v b = {{blob, sizeof blob}};
    rc |= save(dir, "bytes", &ens_msg_bytes, &b, NULL, NULL);
    ens_exit_request_v e = {0};
    rc |= save(dir, "exit_request", &ens_msg_exit_request, &e, NULL, NULL);
    ens_child_exited_v c = {{5, 1, 0}, ENS_EXIT_CRASH, 11, 0, 2};
    rc |= save(dir, "child_exited", &ens_msg_child_exited, &c, NULL, NULL);
    ens_wakeup_v w = {1, 2, 100};
    rc |= save(dir, "wakeup", &ens_msg_wakeup, &w, NULL, NULL);
    if (gframe && lframe) {
        ens_poison_v p = {{2, 1, 0}, -22, 0, 2, "failed twice", {gframe, (uint32_t)glen}};
        rc |= save(dir, "poison", &ens_msg_poison, &p, NULL, NULL);
        ens_dead_envelope_v d = {{9, 1, 0}, fz_list.id, "no such actor", {lframe, (uint32_t)llen}};
        rc |= save(dir, "dead_envelope", &ens_msg_dead_envelope, &d, NULL, NULL);
    }
    if (fframe) {
        ens_poison_v p = {{2, 1, 0}, -5, 0, 2, "fixed original", {fframe, (uint32_t)flen}};
        rc |= save(dir, "poison_fixed", &ens_msg_poison, &p, NULL, NULL);
        ens_dead_envelope_v d = {{9, 1, 0}, fz_fixed.id, "fixed", {fframe, (uint32_t)flen}};
        rc |= save(dir, "dead_envelope_fixed", &ens_msg_dead_envelope, &d, NULL, NULL);
    }
    free(gframe);
    free(lframe);
    free(fframe);
    fprintf(stderr, "%d frames written to %s\n", written, dir);
    return rc ? 1 : 0;
}
