/*
 * tests/fuzz/make_ctl_corpus.c - writes the seed corpus of fuzz_ctl: one
 * valid control frame of each kind the admin reads (spawn with a start
 * argument, connect, closed, regive, started, exiting, untold, event, dead letter carrying
 * a frame, dead-letter handler, shutdown, status, log, name, kill), and the
 * frames a spawn's direct answer adds (a connected spawn asking for it, a
 * Fork naming whom to answer, a Started saying it answered).
 * Usage: make_ctl_corpus <dir>   (see README.md)
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/process/proc.h"

static int written;

static int save(const char *dir, const char *name, const ens_msgtype *t, const void *v,
                uint8_t **keep, size_t *keep_len)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = ens__ctl_build((ens_addr){16, 1, 0}, t, v, 7, &frame, &len);
    if (rc != 0) {
        fprintf(stderr, "%s: build failed (%d)\n", name, rc);
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(frame, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write\n", path);
        free(frame);
        return -1;
    }
    written++;
    if (keep != NULL) {
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
    if (ens__ctl_register() != 0)
        return 1;
    int rc = 0;
    ens_string_v s = {"start"};
    uint8_t *arg = NULL;
    size_t arg_len = 0;
    rc |= save(dir, "string", &ens_msg_string, &s, &arg, &arg_len);
    ens__ctl_spawn_v sp = {.def = 0x1000,
                           .sync = 1,
                           .name = "demo.Worker",
                           .global = "worker-1",
                           .arg = {arg, (uint32_t)arg_len}};
    rc |= save(dir, "spawn", &ens__ctl_spawn, &sp, NULL, NULL);
    ens__ctl_conn_v cn = {{17, 1, 0}, 3};
    rc |= save(dir, "connect", &ens__ctl_connect, &cn, NULL, NULL);
    rc |= save(dir, "closed", &ens__ctl_closed, &cn, NULL, NULL);
    rc |= save(dir, "regive", &ens__ctl_regive, &cn, NULL, NULL);
    sp.flags = (int32_t)(ENS_SPAWN_CONNECT | ENS__SPAWN_DIRECT);
    rc |= save(dir, "spawn_direct", &ens__ctl_spawn, &sp, NULL, NULL);
    uint64_t rx_ids[2] = {4, 9};
    ens__ctl_fork_v fk = {.def = 0x1000,
                          .addr = {18, 1, 0},
                          .incarnation = 1,
                          .spawn_flags = ENS_SPAWN_CONNECT,
                          .sync = 1,
                          .global = "worker-1",
                          .answer_to = {1, 1, 0},
                          .answer_corr = 7,
                          .rx_ids = {rx_ids, 2},
                          .arg = {arg, (uint32_t)arg_len}};
    rc |= save(dir, "fork", &ens__ctl_fork, &fk, NULL, NULL);
    ens__ctl_exit_v ex = {-1, 0};
    rc |= save(dir, "started", &ens__ctl_started, &ex, NULL, NULL);
    ex = (ens__ctl_exit_v){-1, 1};
    rc |= save(dir, "started_direct", &ens__ctl_started, &ex, NULL, NULL);
    ex = (ens__ctl_exit_v){ENS_EXIT_ERROR, -22};
    rc |= save(dir, "exiting", &ens__ctl_exiting, &ex, NULL, NULL);
    ens__ctl_flag_v untold = {0, 0};
    rc |= save(dir, "untold", &ens__ctl_untold, &untold, NULL, NULL);
    ens__ctl_event_v ev = {1764370000000,
                           {16, 1, 0},
                           {0, 0, 0},
                           {2, 1, 0},
                           ENS_EV_ERROR,
                           -22,
                           0,
                           1,
                           1,
                           80,
                           "demo.Worker",
                           "ens.String",
                           "handler returned an error"};
    rc |= save(dir, "event", &ens__ctl_event, &ev, NULL, NULL);
    ens__ctl_frame_v dl = {"the actor ended", {arg, (uint32_t)arg_len}};
    rc |= save(dir, "deadletter", &ens__ctl_deadletter, &dl, NULL, NULL);
    rc |= save(dir, "log", &ens__ctl_log, &dl, NULL, NULL);
    ens__ctl_flag_v fl = {1, 5000};
    rc |= save(dir, "deadhandler", &ens__ctl_deadhandler, &fl, NULL, NULL);
    rc |= save(dir, "shutdown", &ens__ctl_shutdown, &fl, NULL, NULL);
    rc |= save(dir, "status", &ens__ctl_status, &fl, NULL, NULL);
    ens__ctl_name_v nm = {1, "worker-1"};
    rc |= save(dir, "name", &ens__ctl_name, &nm, NULL, NULL);
    ens__ctl_conn_v kl = {{17, 1, 0}, 0};
    rc |= save(dir, "kill", &ens__ctl_kill, &kl, NULL, NULL);
    free(arg);
    fprintf(stderr, "%d control frames written to %s\n", written, dir);
    return rc ? 1 : 0;
}
