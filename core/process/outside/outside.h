/*
 * core/process/outside/outside.h - the outside program's handle on a
 * process-base system, shared by its loop and host operations
 * (proc_outside.c) and its start and connect (outside_start.c). Internal.
 */
#ifndef ENS_PROCESS_OUTSIDE_H
#define ENS_PROCESS_OUTSIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/process/proc.h"
#include "core/process/proc_spin.h"
#include "core/process/proc_tx.h"
#include "core/wire/frag.h"
#include "core/wire/framing.h"

typedef struct orx {
    int fd;
    ens_addr peer;       /* who sends on it (from its NewConn), ENS_ADDR_NONE if not said */
    ens_carry carry;     /* the head of a frame whose rest has not come yet */
    ens_frag_asm pieces; /* a frame arriving in pieces */
    /* The piece whose bytes are being received straight into `pieces`
     * (got of place.n there so far); place.to NULL: none. */
    ens_frag_place place;
    size_t got;
} orx;

#define RX_READ (64u * 1024u) /* one read from a receiving end */

typedef struct outside {
    pid_t admin; /* our child, to reap; 0 when the admin is not ours */
    int ctl;
    bool admin_gone;
    orx **rx; /* receiving ends (each its own block: epoll names it) */
    size_t n_rx, cap_rx;
    int ep;           /* epoll over ctl and the receiving ends, -1 if none */
    uint8_t *scratch; /* RX_READ bytes every receiving end reads into */
    ens_tx_table tx;
    uint64_t spawn_corr;
    bool spawn_done;
    bool spawn_direct; /* the new actor may answer the spawn itself (ENS__SPAWN_DIRECT) */
    orx *reading;      /* the receiving end whose frames are being handed on, or NULL */
    ens__ctl_status_v spawn_reply;
    char spawn_why[512];     /* the text of an init failure of the spawn, "" if none */
    ens__spawn_batch *batch; /* the ens_spawn_many under way, or NULL */
    bool detach_only;        /* shutdown leaves the system running */
    ens_spin spin;           /* before a wait for an answer (proc_spin.h) */
} outside;

/* A new handle (NULL: out of memory or descriptors): its epoll set and
 * read buffer; ens__po_io_start puts the control channel in. */
outside *ens__po_new(void);

/* Free a handle made by ens__po_new that holds nothing else yet. */
void ens__po_drop(outside *o);

/* Watch o's control channel (o->ctl) and the admin's connection to it.
 * Errors: ENS_ENOMEM (the kernel could not add them). */
int ens__po_io_start(outside *o, int admin_conn);

/* Make o the base of s, an outside program whose control channel (to the
 * admin) is ctl: its sending side, its host operations and its loop. */
void ens__po_attach(ens_system *s, outside *o, int ctl);

/* Free s's handle: descriptors, buffers, messages. */
void ens__po_release(ens_system *s);

/* Close s's handle: end the system (end, or when it is this program's own
 * and not persistent), else detach. Returns 0 or ENS_ETIMEDOUT. */
int ens__po_close(ens_system *s, uint32_t timeout_ms, bool end);

/* Wait until a system in a convention has joined it (0, also when not in
 * time: logged), or ENS_EAUTH (refused; text in ens_errmsg). */
int ens__po_wait_joined(ens_system *s);

#endif
