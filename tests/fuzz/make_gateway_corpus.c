/*
 * tests/fuzz/make_gateway_corpus.c - writes the seed corpus of
 * fuzz_gateway_inbound (input layout there): honest lone frames and
 * batches from node 20480 to node 4660, a forwarded frame naming another
 * node's sender, a forwarded system notice, a sender of another node, a
 * sender of this node, a control type, a frame for another node, a
 * fragment, a subject without a node, a batch that lies about its length,
 * and garbage.
 * Usage: make_gateway_corpus <dir>   (see README.md)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/process/gateway/gateway_batch.h"
#include "core/process/proc.h"
#include "core/wire/msg_internal.h"

#define SELF 4660u
#define PEER 20480u

static int failed;

static void save(const char *dir, const char *name, const char *token, const uint8_t *msg,
                 size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    uint8_t n = (uint8_t)strlen(token);
    if (f == NULL || fwrite(&n, 1, 1, f) != 1 || fwrite(token, 1, n, f) != n ||
        fwrite(msg, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write\n", path);
        failed = 1;
    }
}

static uint8_t *frame_of(const ens_msgtype *t, const void *v, ens_addr sender, uint32_t target,
                         uint16_t flags, size_t *len)
{
    ens_frame_hdr h = {.target = {9, target, 0}, .sender = sender, .attempt = 1, .flags = flags};
    uint8_t *f = NULL;
    if (ens__frame_build(t, v, &h, 1u << 20, &f, len) != 0) {
        fprintf(stderr, "%s: build failed\n", t->name);
        exit(1);
    }
    return f;
}

static void save_frame(const char *dir, const char *name, const char *token, const ens_msgtype *t,
                       const void *v, ens_addr sender, uint32_t target, uint16_t flags)
{
    size_t len = 0;
    uint8_t *f = frame_of(t, v, sender, target, flags, &len);
    save(dir, name, token, f, len);
    free(f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <dir>\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    if (ens__ctl_register() < 0)
        return 1;
    const ens_addr peer = {5, PEER, 0}, other = {6, PEER + 1, 0}, mine = {7, SELF, 0};
    int64_t v = 42;
    ens_string_v text = {"hello from the peer"};
    size_t len = 0;

    save_frame(dir, "lone_int64", "20480", &ens_msg_int64, &v, peer, SELF, 0);
    save_frame(dir, "lone_string", "20480", &ens_msg_string, &text, peer, SELF, ENS_FRAME_REQUEST);
    save_frame(dir, "forwarded_other_sender", "20480", &ens_msg_string, &text, other, SELF,
               ENS_FRAME_FORWARDED);
    ens_child_exited_v ce = {other, 0, 0, 0, 1};
    save_frame(dir, "forwarded_notice", "20480", &ens_msg_child_exited, &ce, other, SELF,
               ENS_FRAME_SYSTEM | ENS_FRAME_FORWARDED);
    save_frame(dir, "sender_of_another_node", "20480", &ens_msg_int64, &v, other, SELF, 0);
    save_frame(dir, "sender_of_this_node", "20480", &ens_msg_int64, &v, mine, SELF, 0);
    ens__ctl_flag_v flag = {0, 0};
    save_frame(dir, "control_type", "20480", &ens__ctl_joined, &flag, peer, SELF, ENS_FRAME_SYSTEM);
    save_frame(dir, "for_another_node", "20480", &ens_msg_int64, &v, peer, SELF + 1, 0);
    save_frame(dir, "fragment", "20480", &ens_msg_int64, &v, peer, SELF, ENS_FRAME_FRAGMENT);
    save_frame(dir, "subject_without_node", "peer", &ens_msg_int64, &v, peer, SELF, 0);

    ens_gw_batch b = {.node = SELF};
    for (int i = 0; i < 3; i++) {
        int64_t k = i;
        uint8_t *f = frame_of(&ens_msg_int64, &k, peer, SELF, 0, &len);
        if (ens__gw_batch_add(&b, f, len) != 0)
            return 1;
        free(f);
    }
    uint8_t *f = frame_of(&ens_msg_string, &text, other, SELF, 0, &len);
    if (ens__gw_batch_add(&b, f, len) != 0)
        return 1;
    free(f);
    const uint8_t *out = NULL;
    size_t out_len = 0;
    ens__gw_batch_out(&b, &out, &out_len);
    save(dir, "batch_with_a_liar", "20480", out, out_len);
    uint8_t *lying = malloc(out_len);
    if (lying == NULL)
        return 1;
    memcpy(lying, out, out_len);
    lying[ENS_GW_BATCH_HEAD] ^= 0x40u; /* the first entry's length no longer fits */
    save(dir, "batch_length_lies", "20480", lying, out_len);
    free(lying);
    ens__gw_batch_free(&b);

    uint8_t junk[120];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    save(dir, "garbage", "20480", junk, sizeof(junk));
    return failed;
}
