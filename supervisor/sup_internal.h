/*
 * supervisor/sup_internal.h - what the supervisor's files share: the state of
 * a running supervisor, its child records and its pending work. Internal.
 *
 * A supervisor's actor state is one pointer to a sup_state (so the public
 * ENS_SUPERVISOR_DEF needs no private struct size). Children live in one
 * array of pointers in start order; for simple_one_for_one every dynamic
 * child is a record of its own that shares the template's definition.
 *
 * Everything that stops or starts children is a "job": a list of children
 * to stop one at a time in order (each by its shutdown rule: exit request
 * and a wait of shutdown_ms, then ens_kill; ens_kill at once; or a wait as
 * long as it takes; under ENS_SUP_START_CONCURRENT all at once, sup_stop.c),
 * then a list of children to start one at a time in order
 * (each spawned with ENS_SPAWN_NOTIFY_START and awaited until its init has
 * run or failed), then a follow-up (reply, exit, ...). While a job runs,
 * every other message that needs a decision is deferred (kept, with its
 * reply address) and handled in arrival order afterwards, so the supervisor
 * decides on one thing at a time, as OTP's does.
 */
#ifndef ENS_SUPERVISOR_SUP_INTERNAL_H
#define ENS_SUPERVISOR_SUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ensemble/actor.h"
#include "ensemble/supervisor.h"

/* ---- the operations on the wire ----------------------------------------
 * Requests travel in these internal types (built-in: ENS__BUILTIN_MSGTYPE
 * in sup_codec.c); programs use the functions of ensemble/supervisor.h,
 * whose replies are the public ens_msg_sup_result / _children / _counts. */

/* A spec on the wire; def travels by name and pointer (see ens_child_spec).
 * args_off/args_len locate its encoded start argument in the message's
 * `args` bytes (args_len 0: none). */
typedef struct ens_sup_spec_w {
    char *id;
    char *def_name;
    uint64_t def_ptr;
    int32_t restart;
    int32_t shutdown;
    uint32_t shutdown_ms;
    int32_t is_supervisor;
    uint32_t args_off;
    uint32_t args_len;
    char *name; /* the global name, or NULL / "": none */
} ens_sup_spec_w;

/* "ens.sup.Config": the start argument of ens_supervisor_def, and the
 * request of start_child ("ens.sup.StartChild": flags ignored; one spec for
 * static strategies, none for simple_one_for_one with the argument as the
 * whole of `args`). */
typedef struct ens_sup_config_v {
    int32_t strategy;
    uint32_t intensity;
    uint32_t period_ms;
    int32_t start;   /* enum ens_sup_start */
    ens_array specs; /* ens_sup_spec_w items */
    ens_bytes args;  /* encoded start arguments, back to back */
} ens_sup_config_v;

/* "ens.sup.TerminateChild", "ens.sup.RestartChild", "ens.sup.DeleteChild":
 * the child by id, or by address under simple_one_for_one. */
typedef struct ens_sup_child_ref_v {
    char *id;
    ens_addr child;
} ens_sup_child_ref_v;

/* "ens.sup.WhichChildren" (limit 0: the whole list; else the page
 * [offset, offset + limit)), "ens.sup.CountChildren" (no content). */
typedef struct ens_sup_query_v {
    int32_t reserved;
    uint32_t offset;
    uint32_t limit;
} ens_sup_query_v;

/* "ens.sup.StartChildren": n dynamic children with one start argument
 * (args: encoded, or empty for the template's). */
typedef struct ens_sup_start_many_v {
    uint32_t n;
    uint32_t spare;
    ens_bytes args;
} ens_sup_start_many_v;

extern const ens_msgtype ens__msg_sup_start_many; /* "ens.sup.StartChildren" */
extern const ens_msgtype ens__msg_sup_config;     /* "ens.sup.Config" */
extern const ens_msgtype ens__msg_sup_start;      /* "ens.sup.StartChild" */
extern const ens_msgtype ens__msg_sup_terminate;  /* "ens.sup.TerminateChild" */
extern const ens_msgtype ens__msg_sup_restart;    /* "ens.sup.RestartChild" */
extern const ens_msgtype ens__msg_sup_delete;     /* "ens.sup.DeleteChild" */
extern const ens_msgtype ens__msg_sup_which;      /* "ens.sup.WhichChildren" */
extern const ens_msgtype ens__msg_sup_count;      /* "ens.sup.CountChildren" */

#define SUP_ID_MAX 63

typedef struct sup_child {
    char *id;
    const ens_actor_def *def;
    ens_msg *arg; /* owned start argument, or NULL */
    ens_restart restart;
    ens_shutdown shutdown;
    uint32_t shutdown_ms;
    bool is_supervisor;
    char *name;    /* owned global name, or NULL */
    ens_addr addr; /* none when not running */
    ens_addr kept; /* not running: the address its base keeps reserved for
                      its next start (ENS__SPAWN_KEEP_ADDR), or none */
    int status;    /* enum ens_sup_child_status */
    uint32_t restarts;
    bool retry;       /* its restart failed: tried again from the mailbox */
    int retry_status; /* and why */
    bool idle_queued; /* in sup_state.idle: its kept address may be released */
    bool in_stop;     /* in the running job's stop list, not yet stopped */
    bool in_start;    /* in the running job's start list, not yet started */
    bool awaited;     /* spawned by a concurrent start: its init is awaited */
    bool stopping;    /* concurrent stop: asked to stop (or killed), its end awaited */
    bool stop_killed; /* ... and sent ens_kill */
    int64_t stop_due; /* ... killed at this time (ms, monotonic) if still running; 0: never */
    size_t pos;       /* its index in sup_state.kids */
    int start_status; /* its last start's failure (start_children's reply), or 0 */
} sup_child;

enum sup_job_kind {
    JOB_NONE = 0,
    JOB_START,          /* the supervisor's start: every child, in order */
    JOB_RESTART,        /* a restart: one child, or a group (one_for_all,
                           rest_for_one) stopped in reverse first */
    JOB_START_CHILD,    /* the start_child operation: then reply */
    JOB_START_CHILDREN, /* the start_children operation: then reply */
    JOB_RESTART_CHILD,  /* the restart_child operation: then reply */
    JOB_TERMINATE,      /* the terminate_child operation: then reply */
    JOB_GIVE_UP,        /* intensity reached: then exit with INTENSITY */
    JOB_ABORT_START,    /* a child's start failed at start: then exit ERROR */
    JOB_SHUTDOWN,       /* an exit request: then exit with SHUTDOWN */
};

typedef struct sup_deferred {
    ens_msg *m;    /* owned copy */
    ens_from from; /* where its reply goes */
} sup_deferred;

typedef struct sup_job {
    int kind;
    uint64_t seq;     /* job number, carried by the shutdown wake-up */
    sup_child **stop; /* children to stop, in order (malloc'ed) */
    size_t n_stop, pos;
    sup_child *waiting; /* the child whose exit notice is awaited, or NULL */
    uint64_t timer;     /* its shutdown wake-up (0: none); a concurrent stop: the
                           wake-up for the earliest due[] still running */
    bool killed;        /* it was sent ens_kill */
    int last_reason;    /* the exit reason of the last child stopped */
    size_t n_stopping;  /* concurrent stop: children whose end is awaited */
    sup_child **due;    /* ... those with a shutdown timeout, by stop_due
                           (malloc'ed); due[dpos..] not yet due */
    size_t n_due, dpos;
    sup_child **start; /* children to start, in order (malloc'ed) */
    size_t n_start, spos;
    sup_child *starting;  /* the child whose start notice is awaited, or NULL */
    size_t n_awaited;     /* concurrent start: children whose init is awaited */
    sup_child *failed;    /* the child whose start failed (the rest is not
                             started), or NULL */
    int fail_status;      /* why: ENS_EINIT, or the spawn's error */
    int fail_detail;      /* the child's own code (its init's, or the spawn's) */
    sup_child *target;    /* operations: the child */
    ens_addr target_addr; /* TERMINATE: the address it had */
    ens_from from;        /* operations: the requester */
} sup_job;

typedef struct sup_state {
    ens_sup_flags flags;
    sup_child **kids; /* start order; NULL where a child was removed */
    size_t n_kids, cap_kids;
    size_t n_holes;    /* NULL entries in kids (compacted when they are half) */
    sup_child **slots; /* the running children by address (sup_index.c) */
    size_t cap_slots;  /* 0 or a power of two, >= 2 * cap_kids */
    sup_child *tmpl;   /* simple_one_for_one: the template (not in kids) */
    int64_t *restarts; /* ring of restart times (ms, monotonic) */
    size_t n_restarts;
    ens_msg *start_arg; /* the supervisor's own start argument (copy) */
    sup_job job;
    uint64_t job_seq;
    bool retry_armed; /* a wake-up will try failed restarts again */
    size_t n_retry;   /* children with retry set: none, nothing to look for */
    /* Children that got a kept address since the last look (release_idle):
     * that look, after every job, walks these, not every child. */
    sup_child **idle;
    size_t n_idle, cap_idle;
    sup_deferred *deferred;
    size_t n_deferred, cap_deferred;
    bool shutting_down;  /* an exit request came: only stopping from now on */
    bool stopping;       /* ens_stop called: nothing more to do */
    bool in_init;        /* inside the supervisor's init */
    int init_error;      /* a start failure seen inside init */
    char start_why[256]; /* which child failed the start, and how (its ens_init_ack) */
} sup_state;

/* ---- sup_codec.c: start arguments as bytes, and the message types ----- */

/* A copy of (t, v) as an owned message (*out NULL when t is NULL). */
int ens__sup_copy_arg(const ens_msgtype *t, const void *v, ens_msg **out);

/* Validate a spec (id, def, enums). 0 or ENS_EINVAL. */
int ens__sup_spec_check(const ens_child_spec *s);

/* A child record from a spec (argument copied); NULL when out of memory,
 * *err says why when it fails otherwise. */
sup_child *ens__sup_child_new(const ens_child_spec *s, int *err);

/* A child record from a spec on the wire, its argument taken from
 * args[off..off+len). NULL on error (*err). */
sup_child *ens__sup_child_from_wire(const ens_sup_spec_w *w, const ens_bytes *args, int *err);

void ens__sup_child_free(sup_child *k);

/* 0 when the strings at strs, strs + stride, ... (n of them, as char *
 * fields of an array of structs; NULL and "" skipped) are all different,
 * ENS_EINVAL when two are equal, ENS_ENOMEM. O(n log n). */
int ens__sup_unique(const char *const *strs, size_t stride, size_t n);

/* Encode n specs (and their arguments) into a config value: *cfg points
 * into *specs_out and *args_out, both malloc'ed and owned by the caller. */
int ens__sup_config_build(const ens_sup_flags *f, const ens_child_spec *specs, size_t n,
                          ens_sup_config_v *cfg);
void ens__sup_config_release(ens_sup_config_v *cfg);

/* ---- supervisor.c: children, jobs, decisions ------------------------- */

/* Append k (owned from now on). ENS_ENOMEM. */
int ens__sup_add(sup_state *st, sup_child *k);
/* Drop k from the children (its reserved address released) and free it.
 * O(1): its entry in kids becomes NULL (a hole) until ens__sup_compact. */
void ens__sup_remove(ens_ctx *c, sup_state *st, sup_child *k);
/* Close the holes of kids (order kept). O(n_kids); call it where no loop
 * over kids runs. */
void ens__sup_compact(sup_state *st);
/* The children, holes not counted. */
static inline size_t ens__sup_count(const sup_state *st)
{
    return st->n_kids - st->n_holes;
}
/* Release the address kept for k, if any: what waits there and what comes
 * later become dead letters. */
void ens__sup_release(ens_ctx *c, sup_child *k);
sup_child *ens__sup_find_id(const sup_state *st, const char *id);
/* ---- sup_index.c: the running children by address ------------------- */

/* Room for n running children. ENS_ENOMEM. */
int ens__sup_index_reserve(sup_state *st, size_t n);
/* k has just been given its address (k->addr): index it. */
void ens__sup_index_put(sup_state *st, sup_child *k);
/* k is about to lose its address (k->addr still set): unindex it. */
void ens__sup_index_del(sup_state *st, const sup_child *k);
/* The running child at address a, or NULL. */
sup_child *ens__sup_find_addr(const sup_state *st, ens_addr a);
/* The spawn flags of k (ENS_SPAWN_NOTIFY_START, and by its strategy and
 * restart type ENS_SPAWN_NO_RESTART and ENS__SPAWN_KEEP_ADDR). */
uint32_t ens__sup_spawn_flags(const sup_state *st, const sup_child *k);
/* k has just been spawned at a: indexed, marked running. */
void ens__sup_spawned(sup_state *st, sup_child *k, ens_addr a);
/* Journal a restart of k by this supervisor (ENS_EV_RESTART). */
void ens__sup_restart_reported(ens_ctx *c, sup_state *st, const sup_child *k);
/* Spawn k with its spec (flags by strategy and restart type, always
 * ENS_SPAWN_NOTIFY_START, and ENS__SPAWN_KEEP_ADDR unless temporary): at
 * the address kept for it when there is one (its name stays with that
 * address), else anew (through create-or-get when it has a name); marks it
 * running. Errors: those of ens_spawn, ENS_EEXIST (its name belongs to
 * another live actor). */
int ens__sup_spawn(ens_ctx *c, sup_state *st, sup_child *k);
/* k is not running any more: its address is kept (unless temporary: the
 * base keeps none for those) until it is started again or released. */
void ens__sup_child_stopped(sup_state *st, sup_child *k);
/* The running children of kids[from..to) in reverse order, except `except`;
 * malloc'ed with room for one more (NULL when out of memory), count in *n. */
sup_child **ens__sup_running_reversed(sup_state *st, size_t from, size_t to,
                                      const sup_child *except, size_t *n);
/* Set up a job that stops stop[0..n_stop) then starts start[0..n_start)
 * (both taken over; either may be NULL); the caller sets the kind's other
 * fields, then calls ens__sup_job_next. No job may be running. */
sup_job *ens__sup_job_begin(sup_state *st, int kind, sup_child **stop, size_t n_stop,
                            sup_child **start, size_t n_start);
/* k is stopped for the running job (a member of a group restart shows as
 * restarting until it is started again). */
void ens__sup_job_stopped(sup_state *st, sup_child *k);

/* ---- sup_stop.c: the concurrent stop of a range ------------------------ */

/* Begin stopping every child of j->stop[j->pos..n_stop) at once, each by
 * its shutdown rule (its deferred exit notice taken when there is one);
 * true while ends are awaited (j->n_stopping > 0). */
bool ens__sup_stop_concurrent(ens_ctx *c, sup_state *st);
/* k, being stopped (k->stopping), ended with reason: true when it was the
 * last one awaited (the job goes on). */
bool ens__sup_stop_done(ens_ctx *c, sup_state *st, sup_child *k, int reason);
/* A wake-up while a concurrent stop runs: if it is the stop's, kill the
 * children whose shutdown time has run out. True when that leaves none
 * awaited (the job goes on). */
bool ens__sup_stop_wakeup(ens_ctx *c, sup_state *st, const ens_wakeup_v *w);

/* ---- sup_start.c: the concurrent start of a range --------------------- */

/* Spawn every child of the running job's j->start[j->spos..to) that needs
 * it, runs of alike children through the batch spawn, each marked awaited;
 * stops at a spawn that fails at once (j->failed). True while inits are
 * awaited (j->n_awaited > 0). */
bool ens__sup_start_concurrent(ens_ctx *c, sup_state *st, size_t to);
/* The awaited k has run its init or failed: true when it was the last. */
bool ens__sup_start_awaited_done(sup_state *st, sup_child *k);

/* Go on with the job: the next stop, the next start, or its follow-up. */
void ens__sup_job_next(ens_ctx *c, sup_state *st);
/* Handle a message that may need a decision; true if it was deferred. */
bool ens__sup_handle(ens_ctx *c, sup_state *st, const ens_msg *m, ens_from from);
/* Take kids[0..n) (ownership passes), check, start the children in order
 * (the first here, the next each time one has run its init). On failure
 * st is freed and *state cleared. */
int ens__sup_begin(ens_ctx *c, void *state, sup_state *st, sup_child **kids, size_t n);

/* ---- sup_api.c --------------------------------------------------------- */

/* The init of ens_supervisor_def: flags and specs from the ens__msg_sup_config
 * start argument. */
int ens__sup_start_config(ens_ctx *c, void *state, const ens_msg *arg);

/* ---- sup_ops.c: operations inside the supervisor ---------------------- */

/* Keep a copy of m to handle after the running job; true (deferred), or
 * false when out of memory (a request then gets ENS_ENOMEM). */
bool ens__sup_defer(ens_ctx *c, sup_state *st, const ens_msg *m, ens_from from);
/* If a child-exited notice for addr is among the deferred messages, drop it
 * and return true with its reason in *reason. */
bool ens__sup_take_deferred_exit(sup_state *st, ens_addr addr, int *reason);
/* Handle deferred messages in order until none is left or a job starts. */
void ens__sup_run_deferred(ens_ctx *c, sup_state *st);
/* True if m is a which/count children query. */
bool ens__sup_is_query(const ens_msg *m);
/* Answer the which/count children query m to from. */
void ens__sup_query(ens_ctx *c, sup_state *st, const ens_msg *m, ens_from from);
/* start/terminate/restart/delete child; true if deferred. Other messages:
 * a request gets ENS_EBADTYPE, the rest is ignored. */
bool ens__sup_operation(ens_ctx *c, sup_state *st, const ens_msg *m, ens_from from);
/* A TERMINATE job ended: the child k is stopped (with reason); reply to
 * from. */
void ens__sup_terminated(ens_ctx *c, sup_state *st, sup_child *k, ens_addr addr, int reason,
                         ens_from from);
/* A START_CHILDREN job ended: reply a row per child of kids[0..n) and
 * drop those that did not start. */
void ens__sup_started(ens_ctx *c, sup_state *st, sup_child **kids, size_t n, ens_from from);
/* Reply (err, child, reason) to from with an ens.sup.Result; nothing when
 * from has no address. */
void ens__sup_reply(ens_ctx *c, ens_from from, int err, ens_addr child, int reason);

#endif
