/*
 * core/process/proc_actor.h - what the modules of an actor process share:
 * its process-wide state and the functions one module offers the others.
 * An actor process is one thread running one libuv loop; everything here
 * is called from that loop (or from main before it runs).
 *   proc_actor.c       boot, the loop, recovery after a crash
 *   proc_actor_rx.c    receiving: connections, slots, taking frames into the
 *                      stage, delivering, held messages
 *   proc_actor_host.c  the control channel, outgoing connections, and the
 *                      host operations (ens__host_ops) an actor calls
 */
#ifndef ENS_PROC_ACTOR_H
#define ENS_PROC_ACTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/process/proc.h"
#include "core/process/proc_spin.h"
#include "core/process/proc_tx.h"
#include "core/process/stage.h"

/* A receiving end. Connections are watched edge-triggered in an epoll set
 * of their own (the loop watches that set), so a connection that holds
 * only the head of a frame is not reported again until more bytes or its
 * sender's hang-up arrive: no polling, and it never holds up the others. */
typedef struct rxconn {
    int fd;
    uint64_t id;
    ens_addr peer;   /* its sender, as the admin said (for the journal) */
    bool ready;      /* in the ready list: may hold frames not yet looked at */
    bool hup;        /* its sender hung up: what is queued is all there is */
    bool wants_slot; /* its next frame comes in pieces and every slot is taken */
    bool in_pieces;  /* its last frame came in pieces: look at the next one's
                        head first, to take a piece straight into its slot */
    uint64_t queued; /* bytes known to be queued on it (the last FIONREAD, less
                        the pieces taken since): a lower bound, so a piece
                        within it needs no FIONREAD of its own */
} rxconn;

typedef struct wtimer {
    uv_timer_t t;
    uint64_t id;
    uint64_t payload;
    uint32_t delay_ms;
    struct wtimer *next;
} wtimer;

#define ENS__REGIVE_MAX 64 /* connections asked for again at once */

typedef struct proc_actor {
    ens_system *sys;
    ens_actor *actor;
    uv_loop_t loop;
    int ctl;
    uv_poll_t ctl_poll;
    rxconn **rx; /* every receiving end */
    size_t n_rx, cap_rx;
    rxconn **ready; /* those that may hold frames, in turn order */
    size_t n_ready;
    int rx_ep;                         /* the epoll set of the receiving ends (edge-triggered) */
    uv_poll_t rx_poll;                 /* the loop's watch on rx_ep */
    uv_idle_t rx_again;                /* active while the ready list is not empty */
    uv_timer_t stall;                  /* looks at stalled slots while a connection wants one */
    uint64_t slot_ms[ENS_STAGE_SLOTS]; /* when each slot last got a piece */
    ens_tx_table tx;
    ens_stage *st;
    uint64_t cur_len; /* length of the frame in hand */
    uv_prepare_t flush;
    ens_spin spin;          /* before each wait that would sleep */
    uv_timer_t watch_retry; /* a loop turn soon, when a write watch could not be made */
    wtimer *timers;
    uint64_t next_timer;
    uint64_t next_corr;
    uint64_t rpc_corr;
    bool rpc_done;
    ens__ctl_status_v rpc_reply;
    ens__spawn_batch *batch; /* the ens_spawn_many under way, or NULL */
    bool exit_announced;     /* the admin acked our Exiting (pa_route) */
    bool notice_refused;     /* our child-exited notice was not queued (pa_route) */
    bool starting;           /* inside the main's ens__actor_start: it reports a start itself */
    ens_addr answer_to;      /* the spawner this actor answers itself (ENS__SPAWN_DIRECT) */
    uint64_t answer_corr;    /* ... that spawn's correlation id; 0: none (the admin answers) */
    /* NewConns that came without their receiving end (the process at its
     * RLIMIT_NOFILE): asked for again (ens.ctl.Regive) every ENS__REGIVE_MS
     * until they come, while the admin keeps them. */
    ens__ctl_conn_v regive[ENS__REGIVE_MAX];
    size_t n_regive;
    uv_timer_t regive_timer;
    bool regiven; /* a NewConn was asked for again: one may come twice */
} proc_actor;

/* The actor process's state (proc_actor.c). */
extern proc_actor actor_proc;

/* Close callback of handles that are the first member of a malloc'ed block. */
void ens__pa_free_handle(uv_handle_t *h);

rxconn *ens__pa_rx_find(uint64_t id);

int ens__pa_rx_add(int fd, uint64_t id, ens_addr peer);

/* Drop what slot i put together (its sender is gone or stalled), with a
 * row that names the sender and the bytes dropped. */
void ens__pa_slot_drop(int i, const char *why);

/* After the frame in hand counted as handled: the slot it was put
 * together in is free. */
void ens__pa_hand_slot_put_away(void);

void ens__pa_on_rx_events(uv_poll_t *h, int status, int events);

/* Make what the handler sent leave before its message counts as handled:
 * wait until the sockets took it all (and the connections still being set
 * up exist), so that a crash from here on repeats nothing and loses
 * nothing. A slow receiver thus holds its sender back (back-pressure); two
 * actors flooding each other give up waiting after call_timeout_ms, and
 * then their frames wait in their processes (see system.h). */
void ens__pa_settle_sends(void);

/* Deliver message m (owned) as the frame in hand, attempt as given; total
 * is the bytes of the batch area it stands for. */
void ens__pa_deliver(ens_msg *m, uint64_t total);

/* The frame in hand is handled: it stood for `total` bytes of the batch
 * area, or it is a held record. */
void ens__pa_mark_in_hand(uint64_t total);

/* Deliver held message m (owned; the record at held_done) as the frame in
 * hand, at its attempt. */
void ens__pa_deliver_held(ens_msg *m);

/* host->hold: keep m, the frame in hand, in the stage's held area. */
int ens__pa_hold(ens_system *s, ens_actor *a, const ens_msg *m);

/* The message of the frame at frame[0..len), borrowed: the stage keeps the
 * frame unchanged until it counts as handled, and the message lives only
 * while its handler runs. NULL if the frame is rejected (reported). */
ens_msg *ens__pa_borrowed_msg(const uint8_t *frame, uint64_t len, ens_addr from);

/* The complete frame at the stage's `done` as a message, or NULL (a bad
 * frame is reported and skipped; *total is set in both cases, 0 if the
 * frame is not complete yet). */
ens_msg *ens__pa_staged_msg(uint64_t *total);

/* The bytes of the batch area that the piece at `done` stands for: all of
 * it, or only its head when its bytes went straight into its slot. */
uint64_t ens__pa_staged_piece_len(void);

void ens__pa_process_stage(void);

void ens__pa_pump_ctl_tx(ens_tx_table *t);

void ens__pa_on_ctl(uv_poll_t *h, int status, int events);

/* Once init succeeded: answer a spawn the admin left to this actor
 * (ENS__SPAWN_DIRECT) on the connection made at the spawn, before the
 * ens.ctl.Started report. The value for that report's status: 1 when the
 * answer wholly left (the admin then does not answer), 0 otherwise (the
 * admin answers; the spawner drops whichever comes second). */
int32_t ens__pa_answer_spawner(void);

void ens__pa_want_write(ens_tx_table *t, ens_tx *tx, bool want);

void ens__pa_on_prepare(uv_prepare_t *h);

int ens__pa_route(ens_system *s, uint8_t *frame, size_t len, const ens_frame_hdr *h, bool bounded);

/* The outcome of the init: the admin answers a synchronous spawn from it
 * (ens.ctl.Started; a failure's code and text, ens.ctl.InitFailed, are
 * kept for the answer it gives once this process has ended). A start at
 * the end of the main's init is reported by the main, once the stage says
 * init is over. */
void ens__pa_init_done(ens_system *s, ens_actor *a, int rc, const char *why);

/* The host operations of an actor process (proc_actor_host.c). */
extern const ens__host_ops ens__pa_actor_host;

#endif
