/*
 * core/process/admin/admin.h - the admin's shared state and the contract
 * between its modules. Internal to core/process/admin/ (the rest of the
 * library knows only ens__admin_main, core/process/proc.h).
 *
 * Forked by the starting program, the admin never runs a handler, so it
 * stays a clean template to fork restarted actors from; it has no libuv loop and no
 * threads (an epoll loop and a signalfd). It keeps one record per actor:
 * its process, control channel, stage, start argument and a copy of the
 * receiving end of every connection to it. From these it
 *  - starts actors (spawn requests: in a spare process the zygote keeps
 *    ready, core/process/proc_zygote.h; restarts: forked here) and brokers
 *    connections between them;
 *  - on SIGCHLD tells an orderly exit from a crash; restarts a crashed
 *    actor at the same address (the new process inherits the receiving
 *    ends and the stage, so nothing queued is lost; a restart whose init
 *    crashed is tried again after a backoff the loop times) unless it
 *    crashed in its first init or too often, and then ends it for good:
 *    the parent gets child-exited, everything still queued becomes a dead
 *    letter;
 *  - routes dead letters, and passes failure events to the starting
 *    program and to the journal writer process (core/runtime/journal_sink.c: forked
 *    first, the one process that opens sqlite; never waited on);
 *  - at shutdown stops the top-level actors one at a time, the last
 *    started first (each killed past its share of the time), then ends.
 * Frames from the admin to an endpoint (child exited, dead envelopes, exit
 * requests, error replies) travel on a data connection of its own per
 * endpoint, so they are staged and crash-safe like any other message; to
 * an actor it is made on the admin's first frame to it (most never get
 * one), so an actor costs the admin two descriptors (control channel,
 * stage memfd) and one per connection to it.
 *
 * The admin's modules, one job each:
 *  - records.c       the records: found by id and by pid, the turn's dirty
 *                    list (epoll registrations to bring in line) and its
 *                    graveyard (records freed at the turn's end);
 *  - outbound.c      what the admin sends: control frames (queued while a
 *                    channel is full), events to the starting program and
 *                    the journal, frames on its own connection to an endpoint;
 *  - dead_letters.c  frames nobody will take: the dead-letter rules, and the
 *                    queue of an actor that ended turned into dead letters;
 *  - restart.c       actor processes: forking them, and when one ends,
 *                    restarting it at the same address or ending it for good;
 *  - reserve.c       a supervisor's child between two incarnations: its
 *                    record kept for its parent, a new incarnation there, or
 *                    the end for good when the parent releases it or ends;
 *  - helpers.c       the helper processes it supervises: the journal writer
 *                    and the zygote;
 *  - ctl_dispatch.c  control frames in: spawn, connect, names, kill, status,
 *                    events and log lines reported, shutdown;
 *  - admin_loop.c    the loop: epoll, SIGCHLD, programs connecting by name,
 *                    shutdown and the end;
 *  - proc_names.c    the system's name table; idmap.c the map records are
 *                    found by;
 *  - names_wide.c    in a convention, names across hosts: claims and
 *                    deletions in the convention's bucket asked of the
 *                    gateway, and the cache of other systems' names.
 *  - placement.c     placement by capabilities: this system, then the
 *                    members with the fewest actors first; spawns on
 *                    another system asked of the gateway (ens.ctl.GwSpawn),
 *                    other systems' spawns checked again and started.
 *  - remote_kids.c   this system's actors' children on other members, and
 *                    the loss of a member: child-exited NOCONNECTION to
 *                    their parents, ens.NodeDown to every local process.
 *
 * Everything here runs on the admin's one thread, from its loop (an event of
 * a turn's batch, or the turn's end), never from a signal handler. A record
 * (arec) is owned by the record table: created by ens__admin_rec_add, ended
 * by ens__admin_rec_free, which marks it gone and leaves its memory valid
 * until ens__admin_bury at the turn's end, so a later event of the same
 * batch that names it finds it gone instead of freed.
 */
#ifndef ENS_CORE_PROCESS_ADMIN_ADMIN_H
#define ENS_CORE_PROCESS_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/process/proc.h"
#include "core/process/proc_door.h"
#include "core/process/proc_zygote.h"
#include "ensemble/convention.h"

/* Nothing of the admin's is part of the library's interface. */
#pragma GCC visibility push(hidden)

#define RESTART_WINDOW_MS 1000
#define RESTART_MAX       10 /* crashes within the window before the admin gives up */
/* A restart whose init crashed is tried again after a backoff that starts
 * at RESTART_BACKOFF_FIRST_MS and doubles with each init crash in a row, up
 * to RESTART_BACKOFF_MAX_MS; after RESTART_MAX of them in a row the actor
 * ends for good (the backoff spaces the crashes out, so the window alone
 * would never be exceeded). */
#define RESTART_BACKOFF_FIRST_MS  10
#define RESTART_BACKOFF_MAX_MS    1000
#define JOURNAL_RESTART_WINDOW_MS 60000
#define JOURNAL_RESTART_MAX       5      /* writer restarts within the window before giving up */
#define JOURNAL_KEEP_MAX          65536u /* events kept until the writer commits them, */
#define JOURNAL_KEEP_BYTES        (16u << 20) /* and their bytes: beyond, the oldest drop */
#define JOURNAL_STOP_MS           5000        /* at the end, the writer's time to commit the rest */
#define ZYGOTE_RESTART_WINDOW_MS  60000
#define ZYGOTE_RESTART_MAX        5 /* zygote restarts within the window before giving up */
#define GATEWAY_RESTART_WINDOW_MS 60000
#define GATEWAY_RESTART_MAX       5    /* gateway restarts within the window before giving up */
#define GATEWAY_LEAVE_MS          2000 /* an orderly end waits this long for the gateway to leave */

typedef struct rxend {
    uint64_t id;
    int fd;
} rxend;

/* A control frame waiting for room in a full channel (with a duplicate of
 * the descriptor it carries, or -1): the admin never blocks on a peer. */
typedef struct ctlq {
    struct ctlq *next;
    uint8_t *frame;
    size_t len;
    int fd;
} ctlq;

/* An event for the journal, encoded, kept until the writer acknowledges
 * the commit of its number (seq, the frame's correlation id). */
typedef struct jkept {
    uint64_t seq;
    uint8_t *frame;
    size_t len;
} jkept;

typedef struct arec {
    ens_addr addr, parent;
    const ens_actor_def *def;
    const ens_actor_def *shown; /* the definition its rows name (def, or a wrapper's user's) */
    pid_t pid;                  /* 0 while no process runs */
    uint32_t incarnation;
    int ctl;                 /* admin's end of the control channel, -1 if none */
    int tx;                  /* admin's sending end of its own connection (-1: none
                                yet; an actor's is made on the first frame to it) */
    uint8_t *out;            /* frames waiting for tx */
    uint32_t out_seq;        /* sequence number of the last frame queued on tx */
    ctlq *cq_head, *cq_tail; /* control frames waiting for room */
    size_t cq_n;
    size_t out_len, out_cap;
    rxend *rx; /* receiving ends (kept for restarts) */
    size_t n_rx, cap_rx;
    ens_stage *stage;
    size_t stage_len;
    int stage_fd; /* the stage's memfd, kept so that a later incarnation can start in a
                     zygote spare (ens__admin_fork_actor), or -1 */
    uint8_t *arg;
    size_t arg_len;
    bool sync_pending;    /* an outside spawn waits for init */
    bool answer_direct;   /* the actor answers that spawn itself (ENS__SPAWN_DIRECT) */
    bool init_deferred;   /* its init ran and deferred its ack (ens_init_defer):
                             a crash before the ack is a crash in init */
    int init_rc;          /* its init failed: what the waiting spawn returns (0: not said) */
    char *init_why;       /* ... and the text for its ens_errmsg (owned), or NULL */
    bool no_restart;      /* ENS_SPAWN_NO_RESTART: a crash ends it for good */
    bool killed;          /* ens_kill: SIGKILLed on request, ends for good */
    uint32_t spawn_flags; /* enum ens_spawn_flag, as asked */
    ens_addr requester;   /* who asked for the spawn */
    uint64_t req_corr;
    bool exiting; /* announced an orderly exit */
    bool untold;  /* ... and its own notice to the parent did not leave (ens.ctl.Untold) */
    int exit_reason, exit_status;
    /* Reservations (reserve.c): the parent's incarnation that spawned it;
     * ended with its address kept for that parent (no process); the parent
     * released it, or asked for a new incarnation, before it was reaped. */
    uint32_t parent_inc;
    bool reserved;
    bool release_asked;
    bool reborn_asked;
    int64_t crashes[RESTART_MAX];
    size_t n_crashes;
    uint32_t init_crashes;  /* restarts in a row whose init crashed */
    uint64_t restart_at;    /* monotonic ns: a restart waits for its backoff until then; 0: none */
    int restart_sig;        /* the signal that ended the incarnation before that restart */
    uint32_t boot_state;    /* the stage's state when the running incarnation was forked */
    bool shut_asked;        /* the shutdown sent it its exit request */
    bool shut_killed;       /* the shutdown killed it: it outlived its share of the time */
    bool outside;           /* an outside endpoint: the starting program or one connected by name */
    bool foreign;           /* connected by name: another program image */
    bool ep_dirty;          /* its wanted events may have changed: synced at the turn's end */
    bool gone;              /* freed this turn: events still naming it are ignored */
    struct arec *next_gone; /* the turn's freed records */
    uint64_t map_id;        /* the id it is found by (records.c; 0: none) */
    uint64_t hello_by;      /* connected by name and silent so far: closed at this
                               monotonic time (ns) unless it speaks; 0 once it has */
    int peer_uid, peer_pid; /* connected by name: who connected */
    int ep_ctl, ep_tx;      /* what the admin's epoll watches: fd (-1: none), */
    uint32_t ep_ctl_ev, ep_tx_ev; /* and events */
} arec;

typedef struct admin {
    ens_system *sys;
    pid_t pid;
    arec **recs;
    size_t n, cap;
    uint64_t next_id, next_conn;
    ens_addr dead_handler;
    int sigfd;
    bool shutting_down;
    uint64_t shutdown_deadline;
    ens_addr shut_cur;                     /* the top-level actor the shutdown waits for, or none */
    uint64_t shut_cur_by;                  /* when its share of the time is up (monotonic ns) */
    size_t n_backoff;                      /* records whose restart waits for its backoff */
    ens_door door;                         /* where programs connect by the system name */
    ens_refusals refusals;                 /* refused connections, for the log */
    size_t n_foreign;                      /* programs connected by name (records) */
    arec *starter;                         /* the starting program endpoint, NULL once it left */
    pid_t jpid;                            /* the journal writer process (0: none) */
    int jfd;                               /* the channel to it, -1 if none */
    int jpidfd;                            /* its pidfd, -1 if none */
    int ep_jfd;                            /* the channel as registered in epoll (-1: not) */
    uint32_t ep_jev;                       /* and its events */
    bool jon;                              /* a writer runs or is replaced: events are kept */
    uint64_t jrun;                         /* this run's id: half of every row's key */
    uint64_t jseq;                         /* the number of the last event kept */
    jkept *jkeep;                          /* events not acknowledged yet: a ring, oldest */
    size_t jkeep_cap, jkeep_head, jkeep_n; /* first (jkeep_head) */
    size_t jkeep_sent;                     /* the first kept events the writer was sent */
    size_t jkeep_bytes;                    /* their frames' bytes */
    uint64_t jdropped;                     /* kept events dropped at the bound */
    int64_t jrestarts[JOURNAL_RESTART_MAX]; /* when the writer was restarted (ms) */
    size_t n_jrestarts;
    ens_zygote zygote; /* forks first incarnations (core/process/proc_zygote.h) */
    int64_t zrestarts[ZYGOTE_RESTART_MAX]; /* when the zygote was restarted (ms) */
    size_t n_zrestarts;
    /* The gateway of a system in a convention (core/process/gateway/): its
     * process (0: none) and its record (an outside-like endpoint: a control
     * channel and the admin's connection to it; NULL while it has none). */
    pid_t gpid;
    arec *gateway;
    int64_t grestarts[GATEWAY_RESTART_MAX]; /* when it was restarted (ms) */
    size_t n_grestarts;
    int ep;                 /* epoll: the channels and connections to wait on */
    int ep_zygote;          /* the zygote channel it watches, -1 if none */
    unsigned ep_zygote_gen; /* the zygote.gen of that channel */
    /* Descriptor checks (ens__admin_fds_short) and receiving ends kept
     * that may still come before the descriptors are counted again. */
    size_t fds_unchecked;
} admin;

/* The admin's state (one per admin process; set up by ens__admin_main). */
extern admin admin_state;

/* Programs connected by name that have not answered the hello yet: kept
 * with the records (ens__admin_rec_free), counted down when one speaks
 * (ens__admin_on_ctl), walked only while nonzero (admin_loop.c). */
extern size_t ens__admin_n_hello;

/* ---- records.c ---------------------------------------------------------- */

/* A new record (zeroed, no descriptors: ctl, tx and the epoll
 * registrations -1), in the table; NULL when out of memory. */
arec *ens__admin_rec_add(void);

/* Index r by its address's id (call after the address is set; again when
 * it changes). Out of memory is logged: r then cannot be found by address. */
void ens__admin_rec_index(arec *r);

/* Set r's process (0: none), keeping the pid index in line. */
void ens__admin_rec_set_pid(arec *r, pid_t pid);

/* The live record at addr (id and node both match), or NULL (none, or gone
 * this turn). Borrowed: valid until the turn ends. */
arec *ens__admin_by_addr(ens_addr addr);

/* The record whose process is pid, or NULL. */
arec *ens__admin_by_pid(pid_t pid);

/* The starting program's endpoint, NULL once it left. */
arec *ens__admin_outside(void);

/* Where a frame for addr goes: the live record at addr, or for an address
 * of another node the gateway's record (NULL: no gateway, or none now). */
arec *ens__admin_route(ens_addr addr);

/* Keep a copy of a receiving end of r's (fd, owned by r from now on; id
 * the connection's): a restarted process inherits it. 0 or ENS_ENOMEM (fd
 * still the caller's). */
int ens__admin_rx_add(arec *r, uint64_t id, int fd);

/* r ended: take it out of the table, the indexes and the name table, close
 * everything it holds, drop its queued control frames, and mark it gone.
 * Its memory stays until the turn's end (ens__admin_bury). */
void ens__admin_rec_free(arec *r);

/* r's wanted epoll events may have changed: put it on the turn's dirty
 * list (ens__admin_sync_dirty brings its registrations in line). */
void ens__admin_dirty(arec *r);

/* At a turn's end: bring the epoll set in line with the dirty records. */
void ens__admin_sync_dirty(void);

/* At a turn's end: free the records ens__admin_rec_free marked gone. */
void ens__admin_bury(void);

/* ---- outbound.c --------------------------------------------------------- */

/* Queue a control frame of type t with value v for r's control channel and
 * send what the channel takes; nothing if r has no channel. fd (-1: none)
 * is borrowed: a duplicate travels. droppable: an event, dropped (counted)
 * once CTLQ_DROP_AT frames wait, so a program that does not read its
 * channel cannot make the admin grow without bound. */
void ens__admin_ctl_out(arec *r, ens_addr from, const ens_msgtype *t, const void *v, uint64_t corr,
                        int fd, bool droppable);

/* Pass ev to r's control channel (droppable). */
void ens__admin_ctl_event(arec *r, const ens_event *ev);

/* Send r's queued control frames while its channel takes them. */
void ens__admin_ctl_flush(arec *r);

/* Drop r's queued control frames (closing the descriptors they carry). */
void ens__admin_ctl_drop_all(arec *r);

/* An event of the admin's: stamped, passed to the starting program and the
 * journal writer, and logged. Missing texts become "". */
void ens__admin_emit(ens_event *ev);

/* ens__admin_emit an event of kind about r. reason is borrowed. */
void ens__admin_rec_event(arec *r, ens_event_kind kind, int sig, const char *reason);

/* Append a frame (copied) to r's outgoing buffer and send what its
 * connection takes; the rest waits for EPOLLOUT (ens__admin_out_flush). */
void ens__admin_out_frame(arec *r, const uint8_t *frame, size_t len);

/* Send what waits in r's outgoing buffer, as far as the connection takes. */
void ens__admin_out_flush(arec *r);

/* ---- dead_letters.c ----------------------------------------------------- */

/* Build a frame (t, v, flags, corr, error) from `from` to `to` and queue it
 * on to's connection; if nobody lives at `to`, it is a dead letter. */
void ens__admin_send_to(ens_addr from, ens_addr to, const ens_msgtype *t, const void *v,
                        uint16_t flags, uint64_t corr, int16_t error);

/* The dead-letter rules of core/runtime/actor.c, in the admin: a request
 * gets an error reply, the frame goes to the dead-letter handler if there
 * is one, else it is a DEAD_LETTER row. frame is borrowed: a dead letter
 * needs no copy of its own, so none is ever lost to an allocation. */
void ens__admin_dead_letter(const uint8_t *frame, size_t len, const char *reason);

/* Send the PoisonMessage that waits in r's stage, if any, and clear it:
 * the admin is the one sender, so it leaves exactly once (called when r
 * asks, ens.ctl.Poison, and when its process has ended). */
void ens__admin_poison_flush(arec *r);

/* Give every frame still queued for r (its stage, then its receiving ends)
 * to the dead-letter rules, and close the receiving ends. reason borrowed. */
void ens__admin_drain_to_dead_letters(arec *r, const char *reason);

/* ---- restart.c ---------------------------------------------------------- */

/* Start a process for r (a new incarnation when r ran before). stage_fd is
 * the memfd of a new actor's stage, or -1. 0, ENS_EIO, ENS_EAGAIN or
 * ENS_ENOMEM. */
int ens__admin_fork_actor(arec *r, bool sync, int stage_fd);

/* A process of the admin's was reaped (pid, its wait status): the journal
 * writer, the zygote or a spare, or an actor, which is restarted (at once,
 * or after a backoff when a restart's init crashed) or ended for good. */
void ens__admin_on_child_exit(pid_t pid, int wstatus);

/* Start the restarts whose backoff has passed at monotonic time now (ns).
 * Returns when the next one is due, 0 if none waits. */
uint64_t ens__admin_restart_due(uint64_t now);

/* r waits for a restart (no process): end it for good now, with reason
 * (an ens_exit_reason) and why (journaled; borrowed). */
void ens__admin_end_waiting(arec *r, int reason, const char *why);

/* ---- reserve.c ---------------------------------------------------------- */

/* r ended (its process reaped, its notices sent; sig: the signal, or 0):
 * keep it reserved for its parent if it was spawned with
 * ENS__SPAWN_KEEP_ADDR, its parent's incarnation that spawned it runs, the
 * parent has not released it and the system is not ending. Then its record
 * stays (receiving ends, stage, name, no process) and true is returned; a
 * new incarnation asked for meanwhile is started at once. False: the
 * caller ends r for good. */
bool ens__admin_keep(arec *r, int sig);

/* The incarnation of `parent` ended or is restarted in place: end for good
 * every child it kept reserved (their waiting frames become dead letters). */
void ens__admin_release_children(const arec *parent);

/* ens.ctl.Spawn with an address (ENS__SPAWN_AT): a new incarnation of
 * `from`'s reserved child there, answered with ens.ctl.Spawned (at once,
 * or once the old process is reaped when it is still ending). */
void ens__admin_reincarnate(arec *from, const ens_msg *m);

/* ens.ctl.Release: `from` releases its reserved child; acknowledged. */
void ens__admin_do_release(arec *from, const ens_msg *m);

/* ---- helpers.c ---------------------------------------------------------- */

/* Fork the journal writer (when the system has a journal) with a new run
 * id; a failure is logged and the system runs without a journal. */
void ens__admin_journal_start(void);

/* Number ev, keep it until the writer acknowledges its commit, and send it
 * without waiting (what the channel does not take waits for EPOLLOUT).
 * Beyond JOURNAL_KEEP_MAX events or JOURNAL_KEEP_BYTES kept, the oldest
 * is dropped (counted in jdropped, logged once per 1000). */
void ens__admin_journal_send(const ens_event *ev);

/* The writer's channel is ready (epoll events): take acknowledgements,
 * send what waits. */
void ens__admin_journal_on_io(uint32_t events);

/* Bring the writer channel's epoll registration (tag) in line. */
void ens__admin_journal_ep_sync(uint64_t tag);

/* The journal writer was reaped: take what it acknowledged, restart it
 * (it is sent every kept event) unless it ended in order at the system's
 * end or died too often (then kept events are dropped, logged). */
void ens__admin_journal_exited(int wstatus);

/* At the end: send the writer what is kept, then end of file, and wait
 * (at most JOURNAL_STOP_MS) for it to commit and exit. */
void ens__admin_journal_stop(void);

/* In a convention: fork the gateway (before any actor) and give it a
 * record; a failure is logged and frames for other nodes become dead
 * letters until a restart succeeds. */
void ens__admin_gateway_start(void);

/* The gateway was reaped: journal its crash (a CRASH row of type
 * ens.Gateway) and start a new one unless the system is ending or it died
 * GATEWAY_RESTART_MAX times within GATEWAY_RESTART_WINDOW_MS. */
void ens__admin_gateway_exited(int wstatus);

/* The system ends in order: let the gateway leave the convention (it
 * deletes its member record, so the others see "left" rather than
 * "unreachable") by closing its control channel, and wait up to wait_ms
 * for it to end. finish() kills it if it has not. */
void ens__admin_gateway_leave(uint32_t wait_ms);

/* ---- convention.c ------------------------------------------------------- */

/* ens.ctl.ConvSub from actor r: subscribe it to the convention's updates,
 * or end that; a new subscriber is sent one "joined" per member known. */
void ens__admin_do_convsub(arec *r, const ens_msg *m);

/* An ens_msg_convention_update on r's control channel: from the gateway, a
 * change of the members bucket passed on to the subscribers (anyone else's
 * is ignored). */
void ens__admin_conv_update(arec *r, const ens_msg *m);

/* A new gateway was forked: the members it reports replace the old view. */
void ens__admin_conv_gateway_new(void);

/* The gateway was refused by the convention's NATS server (status
 * ENS_EAUTH, why: NATS's reason, borrowed): every program waiting for
 * ens.ctl.Joined, and every one that asks later, gets the refusal (an
 * ens.ctl.InitFailed with the reason, then the ack with the status), and
 * the gateway is not started again. */
void ens__admin_conv_refused(int status, const char *why);
bool ens__admin_conv_is_refused(void);

/* ens.ctl.Joined from r: acknowledged once the first view of the members
 * is complete (at once without a convention, or when it is already). */
void ens__admin_do_joined(arec *r, const ens_msg *m);

/* who ended for good: no longer a subscriber. */
void ens__admin_conv_forget(ens_addr who);

/* The other members the gateway reported (live or unreachable): how many,
 * the i-th, and the one of node (NULL: none). Borrowed until the next
 * change of the members. */
size_t ens__admin_conv_count(void);
const ens_convention_update_v *ens__admin_conv_at(size_t i);
const ens_convention_update_v *ens__admin_conv_member(uint32_t node);

/* ---- placement.c -------------------------------------------------------- */

/* True when d is placed by capabilities (it has requirements or a
 * capability check): ens__admin_place, not ens__admin_spawn. */
bool ens__admin_placed(const ens_actor_def *d);

/* True when this system's own capabilities meet d (placed or not). */
bool ens__admin_fits_here(const ens_actor_def *d);

/* Place the spawn m (an ens.ctl.Spawn of `from`, borrowed) of def, which is
 * placed (ens.ctl.Spawn checked def against its name): this system if its
 * capabilities fit, else the live members, fewest actors first, ties by
 * node id; answered when one took it, or ENS_ENOPLACE / child-exited
 * ENS_EXIT_NOPLACE with one no_place journal row (convention.h,
 * "Placement"). */
void ens__admin_place(arec *from, const ens_msg *m, const ens_actor_def *def);

/* An ens.ctl.GwSpawn on r's control channel (only the gateway's are taken):
 * the answer to a placement's ASK, or another system's spawn (FOREIGN). */
void ens__admin_place_on_ctl(arec *r, const ens_msg *m);

/* The first view of the members is complete (convention.c): the
 * placements held for it go on. */
void ens__admin_place_view_ready(void);

/* True once a gateway of this system has reported the members as it found
 * them (its view at start is complete); placements wait for it. */
bool ens__admin_conv_view_ready(void);

/* The gateway is gone: the placements waiting for it go on with the next
 * member (each with the reason), and a new gateway is told the count. */
void ens__admin_place_gateway_down(void);

/* At a turn's end (monotonic now, ns): tell the gateway the actor count
 * when it changed, at most every 200 ms. Returns when to look again (0:
 * not needed). */
uint64_t ens__admin_place_tick(uint64_t now);

/* This system's capabilities ("key=value\n" lines): the built-ins, then
 * its own (ens_convention_opts.capabilities at start, as changed since by
 * ens_capability_set). Owned by the admin; valid until they change. NULL
 * only when out of memory at the first call. */
const char *ens__admin_own_caps(void);

/* ens.ctl.CapSet from r (an actor or an outside program; the gateway's is
 * ignored): set or remove one capability, checked by core/runtime/caps.h,
 * answered (ens__ctl_ack: 0 or the refusal); once changed, the gateway is
 * sent them (ens__admin_gateway_caps) and every live actor whose
 * definition no longer fits them is asked to exit (logged). */
void ens__admin_do_capset(arec *r, const ens_msg *m);

/* Send the gateway this system's capabilities (ens.ctl.GwCaps), which it
 * puts in its member record at once. */
void ens__admin_gateway_caps(void);

/* ---- remote_kids.c ------------------------------------------------------ */

/* child (on another node) was placed for parent, in parent's incarnation
 * parent_inc: watched until its own child-exited comes, its parent's
 * incarnation ends, or its node is lost. Out of memory: logged, not kept. */
void ens__admin_rkid_add(ens_addr child, ens_addr parent, uint32_t parent_inc);

/* The gateway delivered child's own child-exited (ENS_GWSPAWN_EXITED): no
 * longer watched. */
void ens__admin_rkid_exited(ens_addr child);

/* parent's incarnation ended (or is restarted in place): its remote
 * children are no longer watched; ask_exit (it ended without its orderly
 * stop): each is first asked to exit, from parent's address. */
void ens__admin_rkid_parent_gone(ens_addr parent, bool ask_exit);

/* The member of node became unreachable or left (change): each parent here
 * of a child there still watched gets one child-exited
 * ENS_EXIT_NOCONNECTION (journaled), the gateway drops that child's own
 * notice should it come later (ENS_GWSPAWN_LOST), and every live actor and
 * outside program is sent ens.NodeDown (its requests and asks to node
 * complete with ENS_EUNREACHABLE). At once for an unreachable member; two
 * seconds later for one that left in order, whose children's own notices
 * may still be on their way (remote_kids.c). */
void ens__admin_node_lost(uint32_t node, int32_t change);

/* The members that left in order whose grace is over are acted on; returns
 * when the next one is due (monotonic ns), or 0. */
uint64_t ens__admin_rkid_tick(uint64_t now);

/* Run first in a new zygote: unmap every actor's stage. */
void ens__admin_zygote_drop(void);

/* The zygote was reaped: journal it, restart it unless the system is
 * ending or it died too often. */
void ens__admin_zygote_exited(int wstatus);

/* ---- ctl_dispatch.c ----------------------------------------------------- */

/* Read and act on every control frame waiting on r's channel. On a closed
 * channel the channel is closed, and an outside endpoint's record freed. */
void ens__admin_on_ctl(arec *r);

/* Start an actor as ens.ctl.Spawn v of `from` asks (its correlation id
 * corr), and answer it: at once, or for a synchronous spawn once init ran.
 * claimed/rev: the address a convention-wide claim of v's global name was
 * made for and the claim's revision (names_wide.c), or ENS_ADDR_NONE/0
 * (the name, if any, is this system's alone). */
void ens__admin_spawn(arec *from, const ens__ctl_spawn_v *v, uint64_t corr, ens_addr claimed,
                      uint64_t rev);

/* ens__admin_spawn for another system (from: the gateway, which gets the
 * answer): the new actor's parent is `parent` (an actor of that system, or
 * none: top level), not from. */
void ens__admin_spawn_parent(arec *from, const ens__ctl_spawn_v *v, uint64_t corr, ens_addr parent);

/* r ended before its init was acknowledged: answer the synchronous spawn
 * waiting for it (if any) with its init failure as r reported it
 * (ens.ctl.InitFailed: code and text), ENS_EINIT if it said nothing. */
void ens__admin_sync_failed(arec *r);

/* True when a new actor or connection would take descriptors kept for the
 * actors that exist (RLIMIT_NOFILE). */
bool ens__admin_fds_short(void);

/* ---- admin_loop.c ------------------------------------------------------- */

/* Bring one epoll registration (*reg_fd, *reg_ev: what is registered) in
 * line with fd and ev (fd -1 or ev 0: none), tagged tag. */
void ens__admin_ep_set(int *reg_fd, uint32_t *reg_ev, int fd, uint32_t ev, uint64_t tag);

/* Bring r's epoll registrations in line with what it waits for. */
void ens__admin_ep_sync(arec *r);

/* Close r's control channel (out of the epoll set first). */
void ens__admin_close_ctl(arec *r);

/* Stop the top-level actors, the last started first, each asked to exit
 * only once the one before has ended or, past its share of timeout_ms
 * (what is left divided by the top-level actors still to stop), was
 * killed (journaled). The loop ends the system when only outside
 * endpoints are left or after timeout_ms. Once. */
void ens__admin_begin_shutdown(uint32_t timeout_ms);

#pragma GCC visibility pop

#endif
