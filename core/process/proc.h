/*
 * core/process/proc.h - the process base's shared pieces. Internal.
 *
 * Three kinds of process take part:
 *  - the starting program ("outside"), which forks
 *  - the admin: never runs a handler; forks one process per actor, brokers
 *    connections, restarts crashed actors, routes dead letters and events;
 *  - one process per actor, each with its own libuv loop.
 *
 * Control traffic (spawn, connect, events, exits) travels as frames on one
 * SOCK_SEQPACKET socketpair per process to the admin, with file descriptors
 * passed alongside (SCM_RIGHTS). Messages travel directly, actor to actor,
 * on one SOCK_STREAM socketpair per (sender, receiver) pair, made by the
 * admin on the sender's first send. The admin keeps a copy of every
 * receiving end, so frames a crashed actor had not read stay queued in the
 * kernel for its next incarnation; frames it had read sit in its stage, a
 * shared-memory region the admin also maps, which records the frame in hand
 * and its attempt. That is how a crash loses nothing.
 *
 * What a control peer may report. The admin trusts no peer's word for more
 * than the peer itself: the channel says who is speaking (its record), and
 *  - an event (ens.ctl.Event) must be of a kind of enum ens_event_kind and
 *    follow ens__event_refusal (core/runtime/runtime.h): an outside program reports
 *    events about itself only; an actor about itself, its children (checked
 *    against the child's record while there is one) and its dead letters.
 *    Anything else is refused with a BADFRAME row about the reporter;
 *  - a log line (ens.ctl.Log) comes from actor processes only (outside
 *    programs write their own log): one from an outside program is refused
 *    with a BADFRAME row; every line is written as one line, its control
 *    characters escaped (ens__log_write);
 *  - a dead letter (ens.ctl.DeadLetter) whose frame header cannot be read
 *    becomes a BADFRAME row with the reason and size: no frame is dropped
 *    without a row.
 */
#ifndef ENS_CORE_PROC_H
#define ENS_CORE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "core/process/stage.h"
#include "core/runtime/runtime.h"
#include "ensemble/msg.h"

/* ---- control messages (frames on the control channel) ----------------- */

#define ENS_CTL_MAX     65536u /* largest control frame (and spawn argument) */
#define ENS_CTL_MAX_FDS 16
_Static_assert(ENS_SPAWN_ARG_MAX == ENS_CTL_MAX - 1024u,
               "a spawn's argument leaves 1 KiB of its control frame to the rest");

/* Refuse a start argument of len bytes for an actor of type `type` above
 * ENS_SPAWN_ARG_MAX: ens_errmsg says so; returns ENS_EMSGSIZE. */
int ens__spawn_arg_refused(const char *type, size_t len);

typedef struct {
    uint64_t def;   /* the ens_actor_def pointer (same image in every process) */
    uint64_t shown; /* the definition its rows name instead (host->spawn), or 0 */
    int32_t sync;   /* 1: reply after init ran (outside spawns) */
    int32_t flags;  /* enum ens_spawn_flag */
    char *name;     /* the definition's name, checked against def */
    char *global;   /* ens_name_spawn: the global name, else NULL */
    ens_addr at;    /* ENS__SPAWN_AT: the reserved address of the new
                       incarnation (core/process/admin/reserve.c), else none */
    ens_bytes arg;  /* encoded start-argument frame, or empty */
} ens__ctl_spawn_v; /* "S(UUiiss$(Uuu))B" requester -> admin; reply ens__ctl_status_v
                      (status 1: the global name was taken, addr is its actor) */

typedef struct {
    ens_addr addr;
    int32_t status;
} ens__ctl_status_v; /* "S($(Uuu)i)" replies: spawned, connected, ... */

typedef struct {
    ens_addr peer;
    uint64_t conn_id;
} ens__ctl_conn_v; /* "S($(Uuu)U)" connect request (-> admin), new receiving
                     end (admin -> receiver, with the fd), closed (-> admin) */

typedef struct {
    int32_t reason;
    int32_t status;
} ens__ctl_exit_v; /* "S(ii)" actor -> admin: started (reason -1: init ran,
                     or was acknowledged, status 0, or 1 when the actor
                     answered its spawner itself: ENS__SPAWN_DIRECT; reason
                     -2: init deferred its acknowledgement) or exiting */

typedef struct {
    int32_t status;
    char *reason;
} ens__ctl_why_v; /* "S(is)" "ens.ctl.InitFailed": actor -> admin, its init
                    failed (status: what a synchronous spawn of it returns,
                    reason: the text for the spawner's ens_errmsg); admin ->
                    the spawner, the same, under the spawn's correlation id,
                    just before the ens.ctl.Spawned that refuses it */

typedef struct {
    int64_t at_ms;
    ens_addr actor, parent, sender;
    int32_t kind, error, signal;
    uint32_t attempt, incarnation, msg_size;
    char *actor_type, *msg_type, *reason;
} ens__ctl_event_v; /* "S(I$(Uuu)$(Uuu)$(Uuu)iiiuuusss)" -> admin -> outside */

typedef struct {
    char *reason;
    ens_bytes frame;
} ens__ctl_frame_v; /* "S(s)B" a dead letter (-> admin) */

typedef struct {
    uint32_t level; /* ens_log_level */
    char *line;     /* the whole line, formatted by its writer */
} ens__ctl_log_v;   /* "S(us)" a log line (actor -> admin) */

typedef struct {
    int32_t enable;
    uint32_t timeout_ms;
} ens__ctl_flag_v; /* "S(iu)" dead-letter handler (enable), shutdown (timeout) */

typedef struct {
    ens_addr addr; /* the connected program's outside address */
    uint32_t max_frame_bytes, mailbox_limit, call_timeout_ms, log_level;
    uint64_t mailbox_bytes_limit;
} ens__ctl_hello_v; /* "S($(Uuu)uuuuU)" admin -> a program connected by name,
                      with the receiving end of the admin's connection to it:
                      the system's limits, which its sends must keep too */

typedef struct {
    int32_t op; /* ens_names_op: LOOKUP, REGISTER, UNREGISTER */
    char *name;
} ens__ctl_name_v; /* "S(is)" requester -> admin (core/process/admin/proc_names.c); reply
                     ens__ctl_ack with the address (LOOKUP) and status */

/* Names across hosts, between the admin and the gateway of a system in a
 * convention (core/process/admin/names_wide.c, core/process/gateway/gateway_names.c). */
enum ens_gwname_op {
    ENS_GWNAME_CLAIM = 1, /* admin -> gateway: name -> addr unless the name is taken; answered */
    ENS_GWNAME_RELEASE,   /* admin -> gateway: delete name, only at revision rev (0: only if
                             its value is addr); answered once done or moot */
    ENS_GWNAME_ANSWER,    /* gateway -> admin, under the request's corr: status (0 claimed at
                             rev; 1 taken, addr its holder; < 0 why not) */
    ENS_GWNAME_SEEN,      /* gateway -> admin: the watch saw name -> addr at rev (status < 0:
                             the entry is not an address, lookups refuse it) */
    ENS_GWNAME_GONE,      /* gateway -> admin: the watch saw name deleted (status 1: by a
                             member that judged this node lost, to be claimed again) */
};

typedef struct {
    int32_t op; /* enum ens_gwname_op */
    int32_t status;
    ens_addr addr;
    uint64_t rev; /* the entry's revision in the names bucket */
    char *name;
} ens__ctl_gwname_v; /* "S(ii$(Uuu)Us)" ens.ctl.GwName, both ways */

typedef struct {
    uint64_t def; /* the ens_actor_def pointer */
    ens_addr addr, parent;
    uint32_t incarnation, spawn_flags;
    int32_t sync;
    char *global;         /* its global name, for its process title; NULL or "" if none */
    ens_addr answer_to;   /* who to answer once init succeeded (ENS__SPAWN_DIRECT) */
    uint64_t answer_corr; /* that spawn's correlation id; 0: the admin answers */
    ens_array rx_ids;     /* uint64_t: the ids of its receiving ends, in the order sent */
    ens_bytes arg;        /* encoded start-argument frame, or empty */
} ens__ctl_fork_v;        /* "S(U$(Uuu)$(Uuu)uuis$(Uuu)U)A(U)B" admin -> a spare process
                            (core/process/proc_zygote.c), with the control channel, the stage
                            memfd and the receiving ends: become this actor */

/* Remote spawn and placement, between the admin and the gateway of a system
 * in a convention (core/process/admin/placement.c,
 * core/process/gateway/gateway_spawn.c); the same frame crosses NATS
 * between two gateways (ASK as the request, ANSWER as the reply). */
enum ens_gwspawn_op {
    ENS_GWSPAWN_ASK = 1, /* admin -> gateway (corr): spawn type `name` on node `node`; the
                            gateway -> the other gateway over NATS, `node` then the asker's */
    ENS_GWSPAWN_ANSWER,  /* gateway -> admin (the ASK's corr), and over NATS: status (0: addr
                            is the new actor), why (a refusal's text) */
    ENS_GWSPAWN_FOREIGN, /* gateway -> admin (corr: the gateway's): another node's ASK; answered
                            as any spawn (ens.ctl.InitFailed with the why, ens.ctl.Spawned) */
    ENS_GWSPAWN_ACTORS,  /* admin -> gateway: this system's actor count (`actors`), for its
                            member record */
    ENS_GWSPAWN_EXITED,  /* gateway -> admin: the child-exited of `addr` (an actor of another
                            node) was delivered to `parent` */
    ENS_GWSPAWN_LOST,    /* admin -> gateway: `parent` was told `addr` exited NOCONNECTION
                            (its node is lost): drop addr's own child-exited if it comes */
};

/* Bounds the receiving side checks on a spawn from another node. */
#define ENS_GWSPAWN_NAME_MAX 128u  /* type name bytes */
#define ENS_GWSPAWN_WHY_MAX  1024u /* a refusal's text */
#define ENS_GWSPAWN_ARG_MAX  ENS_SPAWN_ARG_MAX

typedef struct {
    int32_t op; /* enum ens_gwspawn_op */
    int32_t status;
    uint32_t node;    /* ASK to the gateway: the node asked; over NATS and FOREIGN: the asker */
    uint32_t flags;   /* enum ens_spawn_flag (public flags only) */
    int32_t sync;     /* 1: answered once init ran (a spawn from outside) */
    uint32_t actors;  /* ACTORS: the count */
    ens_addr parent;  /* an actor of the asking node, or none (top level) */
    ens_addr addr;    /* ANSWER: the new actor */
    char *name;       /* the registered type name */
    char *why;        /* ANSWER: why not, or NULL */
    ens_bytes arg;    /* encoded start-argument frame, or empty */
} ens__ctl_gwspawn_v; /* "S(iiuuiu$(Uuu)$(Uuu)ss)B" ens.ctl.GwSpawn */

extern ens_msgtype ens__ctl_gwspawn;
extern ens_msgtype ens__ctl_fork;
/* "ens.ctl.Spare" (an ens__ctl_flag_v, enable: how many): admin -> zygote, make more spares. */
extern ens_msgtype ens__ctl_spare;
extern ens_msgtype ens__ctl_name;
extern ens_msgtype ens__ctl_gwname;
/* "ens.ctl.Kill" (an ens__ctl_conn_v, conn_id 0): -> admin, SIGKILL peer for good. */
extern ens_msgtype ens__ctl_kill;
/* "ens.ctl.Release" (an ens__ctl_conn_v, conn_id 0): parent -> admin, end the
 * reservation of its ended child peer (host->release); reply ens__ctl_ack. */
extern ens_msgtype ens__ctl_release;
/* "ens.ctl.Ack" (an ens__ctl_status_v): admin -> requester, the answer to a
 * request that is not a spawn (a name, an announced exit, a dead-letter
 * handler), under the request's correlation id. */
extern ens_msgtype ens__ctl_ack;
/* "ens.ctl.Poison" (an ens__ctl_flag_v, unused): actor -> admin, a
 * PoisonMessage waits in my stage (core/process/stage.h): send it and
 * clear it; acknowledged (ens__ctl_ack) under the request's id. */
extern ens_msgtype ens__ctl_poison;
/* "ens.ctl.ConvSub" (an ens__ctl_flag_v, enable: on or off): actor -> admin,
 * subscribe me to the convention's updates (ens_convention_subscribe);
 * acknowledged (ens__ctl_ack: 0, or ENS_ENOTSUP without a convention). The
 * updates themselves come gateway -> admin as ens_msg_convention_update on
 * the gateway's control channel (change 0: the gateway's first view of the
 * bucket is complete) and admin -> each subscriber as messages. */
extern ens_msgtype ens__ctl_convsub;

/* A capability changed at run time (ens_capability_set). */
enum ens_capset_op {
    ENS_CAPSET_SET = 1,   /* key = value */
    ENS_CAPSET_UNSET = 2, /* key removed (value "") */
};

typedef struct {
    int32_t op; /* enum ens_capset_op; 0 in ens.ctl.GwCaps */
    char *key;  /* "" in ens.ctl.GwCaps */
    char *value;
} ens__ctl_caps_v; /* "S(iss)" */

/* "ens.ctl.CapSet" (an ens__ctl_caps_v): an actor or an outside program ->
 * admin, set or remove one capability of the system
 * (core/process/admin/convention.c checks it with core/runtime/caps.h);
 * acknowledged (ens__ctl_ack: 0 or the refusal). "ens.ctl.GwCaps" (an
 * ens__ctl_caps_v, value: the system's full capabilities, built-ins
 * first): admin -> gateway, put the member record again with these now. */
extern ens_msgtype ens__ctl_capset, ens__ctl_gwcaps;

/* "ens.ctl.Joined" (an ens__ctl_flag_v, fields 0): the starting program ->
 * admin, acknowledged (ens__ctl_ack, status 0) once the system has joined
 * its convention: the gateway has put this member's record and reported the
 * members as it found them (at once without a convention). The starting
 * program waits for it up to call_timeout_ms in ens_system_start. When the
 * NATS server refused the gateway, the ack's status is ENS_EAUTH, after an
 * ens.ctl.InitFailed under the same correlation id with NATS's reason. */
extern ens_msgtype ens__ctl_joined;
/* "ens.ctl.Untold" (an ens__ctl_flag_v, fields 0): actor -> admin, after
 * its ens.ctl.Exiting, right before the process ends: its own child-exited
 * notice did not wholly leave for the parent (no connection in time, or
 * the parent's socket full) - the parent gets no part of it, since a frame
 * cut short by the sender's end is dropped. The admin then tells the
 * parent itself when it reaps the process, with the reason and status of
 * the Exiting, so the parent hears of the end exactly once. */
extern ens_msgtype ens__ctl_untold;
/* "ens.ctl.Regive" (an ens__ctl_conn_v: peer, conn_id): actor -> admin: a
 * NewConn for conn_id came without its receiving end (the process was at
 * its RLIMIT_NOFILE). The admin sends the NewConn again with its kept copy
 * of that end, only while the actor's control channel holds nothing else
 * for it (an actor that does not read asks in vain, and costs the admin no
 * descriptors); a conn_id the admin does not keep for the actor is
 * ignored. The actor asks again every ENS__REGIVE_MS until it has it. */
extern ens_msgtype ens__ctl_regive;
#define ENS__REGIVE_MS 250
extern ens_msgtype ens__ctl_spawn, ens__ctl_spawned, ens__ctl_connect, ens__ctl_connected,
    ens__ctl_newconn, ens__ctl_closed, ens__ctl_started, ens__ctl_exiting, ens__ctl_event,
    ens__ctl_deadletter, ens__ctl_deadhandler, ens__ctl_shutdown, ens__ctl_status, ens__ctl_log,
    ens__ctl_hello, ens__ctl_initfailed;

/* Register the control types (idempotent). */
int ens__ctl_register(void);

/* Send one control frame of (t, v) on fd (SOCK_SEQPACKET), from `from`,
 * with correlation corr and up to ENS_CTL_MAX_FDS descriptors (borrowed:
 * the caller still owns them). Blocking send; the control channel is never
 * full for long (its reader never blocks on its writer). Errors: as
 * ens__frame_build, ENS_EIO (the peer is gone). */
int ens__ctl_send(int fd, ens_addr from, const ens_msgtype *t, const void *v, uint64_t corr,
                  const int *fds, int nfds);

/* A batch of spawns of one definition (ens_spawn_many) asked of the admin
 * by the outside program or an actor: up to ENS__SPAWN_WINDOW requests in
 * flight, each its own correlation (corr0 + i), so the admin, the zygote
 * and the new actors work on several at once instead of one round trip
 * after another. status[i] is 1 until its answer comes. */
#define ENS__SPAWN_WINDOW 64u
typedef struct ens__spawn_batch {
    ens__ctl_spawn_v req; /* what every request asks (borrowed fields) */
    uint64_t corr0;
    size_t n, sent, answered;
    ens_addr *out;
    int *status;
    char why[512]; /* the first init failure's text, "" if none */
} ens__spawn_batch;

/* Send the requests the window allows on ctl, from `from`. Returns 0 or
 * the send's error (the requests not sent then answer it). */
int ens__spawn_batch_send(ens__spawn_batch *b, int ctl, ens_addr from);

/* Take a control frame that answers one of b's requests (spawned, ack,
 * InitFailed, or lost: value NULL and status ENS_ENOMEM). True if it was
 * one of b's. */
bool ens__spawn_batch_take(ens__spawn_batch *b, uint32_t type_id, uint64_t corr, const void *value);

/* True when the caller should send more or is finished: every sent request
 * answered, or room in the window for more. */
bool ens__spawn_batch_ready(const ens__spawn_batch *b);

/* Encode a control frame (*frame malloc'ed, owned by the caller). Errors
 * as ens__frame_build. */
int ens__ctl_build(ens_addr from, const ens_msgtype *t, const void *v, uint64_t corr,
                   uint8_t **frame, size_t *len);

/* Send an encoded control frame with descriptors (borrowed). With wait,
 * block until there is room; without, return ENS_EAGAIN when the channel
 * is full. Errors: ENS_EIO (the peer is gone). */
int ens__ctl_send_raw(int fd, const uint8_t *frame, size_t len, const int *fds, int nfds,
                      bool wait);

/* Receive one control frame from fd. Returns 1 and *out (owned by the
 * caller) with up to *nfds descriptors (owned by the caller; *nfds updated),
 * 0 when nothing is ready (non-blocking fd), or ENS_EIO when the peer closed
 * or the read failed, ENS_EBADFRAME for a malformed frame (dropped),
 * ENS_ENOMEM when a well-formed frame could not be decoded for lack of
 * memory (dropped too: the caller counts it, ens__alloc_failed, and the
 * channel stays usable). */
int ens__ctl_recv(int fd, ens_msg **out, int *fds, int *nfds);

/* ens__ctl_recv, and on ENS_ENOMEM *lost_corr is the lost frame's
 * correlation id (0 for a frame that expects no answer), so a request can
 * be answered with its failure. *fds_dropped (1 returned) says the kernel
 * dropped descriptors the frame carried (MSG_CTRUNC: this process is at
 * its RLIMIT_NOFILE, or more than *nfds came): the frame is whole, what it
 * hands over is not (ens__tx_fds_dropped). */
int ens__ctl_recv_lost(int fd, ens_msg **out, int *fds, int *nfds, uint64_t *lost_corr,
                       bool *fds_dropped);

/* Forward a failure event to the admin (actor side) in a control frame. */
int ens__ctl_send_event(int fd, const ens_event *ev);

/* The control value of an event (strings borrowed from ev). */
void ens__ctl_event_to(const ens_event *ev, ens__ctl_event_v *v);

/* Rebuild an ens_event from a control event value (strings borrowed). */
void ens__ctl_event_from(const ens__ctl_event_v *v, ens_event *ev);

/* ---- exit statuses ------------------------------------------------------
 * How a process of the system ends when it cannot start (the admin counts
 * such an end as a crash in start-up; the statuses are for whoever reads
 * them in a debugger or in `ens status`). */
enum ens_proc_exit {
    ENS_PROC_EXIT_PARENT_GONE = 70, /* its parent ended before it was set up */
    ENS_PROC_EXIT_NO_MEMORY = 71,   /* what it needs to start could not be had */
    ENS_PROC_EXIT_NO_LOOP = 72,     /* its libuv loop could not be built */
    ENS_PROC_EXIT_NO_ACTOR = 73,    /* the actor could not be made */
    ENS_PROC_EXIT_NO_WATCH = 74,    /* a receiving end could not be watched */
    ENS_PROC_EXIT_NO_JOURNAL = 75,  /* the journal writer could not open the journal */
    ENS_PROC_EXIT_CHANNEL = 76,     /* waiting on its channel to the admin failed */
};

/* ---- process helpers ---------------------------------------------------- */

/* In a freshly forked child: default signal dispositions, empty mask, and
 * (with die_with_parent) PR_SET_PDEATHSIG and a check that the parent is
 * still parent_pid. Returns false if the parent is already gone. */
bool ens__child_setup(pid_t parent_pid, bool die_with_parent);

/* The abstract AF_UNIX address of system `name` of this user (its path
 * socket and the rules for both: core/process/proc_door.h). Returns the address
 * length, or ENS_EINVAL for a bad name. */
int ens__system_sockaddr(const char *name, struct sockaddr_un *sa);

/* True if name is a valid system name: 1-64 of [A-Za-z0-9._-]. */
bool ens__system_name_ok(const char *name);

/* Close every descriptor >= 3 except the sorted, distinct keep[0..n). */
void ens__close_fds_except(const int *keep, size_t n);

/* Set the process title shown by ps (argv area and comm). */
void ens__proctitle(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The same with a comm of its own: the kernel keeps 15 bytes of it (what
 * top, pgrep and /proc/PID/comm show), the title goes to /proc/PID/cmdline
 * (ps -f, ps aux). comm is cut to fit. */
void ens__proctitle_comm(const char *comm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An actor process's titles: comm "e:Cache" (the last dot-separated part of
 * the type, cut to 15 bytes), cmdline "ens: demo.Cache [cache] demo
 * ens:1234/17" (type, global name when it has one, system, address). */
void ens__actor_proctitle(const char *type, const char *global, const char *system, ens_addr addr);

/* Make fd non-blocking and close-on-exec. */
int ens__fd_nonblock(int fd);

/* ---- entry points ------------------------------------------------------- */

/* Start the process base for s (in the starting program). */
int ens__process_start(ens_system *s);

struct ens_door;

/* The admin's main: never returns. ctl is its control channel to the
 * starting program, tx the sending end of its connection to it, door the
 * sockets programs connect to by the system's name (the admin's from now
 * on: it removes the socket file when it ends). */
_Noreturn void ens__admin_main(ens_system *s, int ctl, int tx, const struct ens_door *door);

/* In the admin, before any actor: fork the journal writer process of s
 * (when s->journal_path is set), a child of the admin that dies with it.
 * It reads ens__ctl_event frames from its channel, each numbered by the
 * admin in the frame's correlation id (increasing), and appends them keyed
 * (run_id, number) (persistence/journal_writer.h: a key already in the
 * journal writes no second row); it commits whenever the channel is empty
 * (and every ENS__JWRITER_BATCH_MAX events) and after each commit sends an
 * ens__ctl_ack whose correlation id is the last number committed. While a
 * full batch cannot be committed it stops reading (and retries each
 * second). At end of file it commits, closes and exits 0; out of memory
 * for an event it commits what it can and exits ENS_PROC_EXIT_NO_MEMORY.
 * On success *pid is the writer (0: no journal) and *fd the admin's end of
 * the channel (non-blocking; -1: none). Errors: ENS_EIO, ENS_EAGAIN,
 * ENS_ENOMEM. */
int ens__journal_proc_start(ens_system *s, pid_t admin, uint64_t run_id, pid_t *pid, int *fd);

/* Attach to a running system by name (ens_system_connect). */
int ens__process_connect(const char *name, ens_system **out);

/* Run one actor process: never returns. */
typedef struct ens_actor_boot {
    ens_system *sys;
    const ens_actor_def *def;
    ens_addr addr, parent;
    uint32_t incarnation;
    int ctl;       /* channel to the admin */
    const int *rx; /* receiving ends (inherited) */
    size_t n_rx;
    const uint64_t *rx_ids;
    ens_stage *stage;
    uint8_t *arg_frame; /* start argument, or NULL */
    size_t arg_len;
    bool sync;            /* report init's result to the admin */
    uint32_t spawn_flags; /* enum ens_spawn_flag */
    const char *global;   /* its global name when it starts (process title), or NULL */
    ens_addr answer_to;   /* the spawner it answers itself (ENS__SPAWN_DIRECT) */
    uint64_t answer_corr; /* the spawn's correlation id; 0: the admin answers */
} ens_actor_boot;

_Noreturn void ens__actor_process_main(const ens_actor_boot *boot);

/* The part of an actor process that does not depend on which actor it
 * will be (its libuv loop): done by a spare (core/process/proc_zygote.c) while it
 * waits, else by ens__actor_process_main. Any descriptors it opens must
 * stay open. Returns false if it failed. */
bool ens__actor_process_prepare(void);

#endif
