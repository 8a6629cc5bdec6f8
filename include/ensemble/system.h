/*
 * ensemble/system.h - starting a system and talking to it from outside.
 *
 * A system runs actors on one base:
 *  - ENS_BASE_INPROC: sequential and deterministic, inside the calling
 *    process (Thespian's simpleSystemBase). Handlers run only while the
 *    outside program is inside ens_spawn, ens_ask, ens_listen or
 *    ens_system_close, one message at a time, in the order messages were
 *    sent. Messages are still encoded, so actors never share memory.
 *  - ENS_BASE_PROCESS: every actor its own OS process. Starting the system
 *    forks an admin process that never runs a handler; it forks one process
 *    per actor (so actor definitions and message types must exist before
 *    ens_system_start: static data, types registered first). Messages go
 *    directly from process to process, coalesced per destination: what a
 *    handler sends leaves together when it returns, before its message
 *    counts as handled. A crash of an actor process (signal, abort, SIGKILL from
 *    outside) restarts it at the same address: the message in hand is
 *    delivered once more (attempt 2), and after a second crash on it goes
 *    back to its sender as a PoisonMessage carrying the signal; messages
 *    queued for it are kept, none lost, none twice. A crash in init, or ten
 *    crashes within a second, ends the actor for good: its parent gets
 *    child exited, its queue becomes dead letters. If the admin dies, every
 *    actor process ends with it; if the starting program ends, so does the
 *    system. Call ens_system_start early in main(), before creating threads.
 *    Process titles (ps) show "ens: <type> <address>" and "ens-admin <name>".
 *    A handler that crashes has sent nothing (its message is handled
 *    again). A handler's message counts as handled once all it sent has
 *    left its process: a slow receiver holds its sender back. Two actors
 *    flooding each other stop waiting after call_timeout_ms; frames still
 *    waiting then would be lost if that process crashed.
 *    Back-pressure: a destination holds at most mailbox_limit frames and
 *    mailbox_bytes_limit bytes waiting to leave a process; past either,
 *    ens_send returns ENS_EFULL (nothing queued, nothing lost). The
 *    outside program has no thread of ours: what its sends could not hand
 *    to the kernel at once leaves during its next ens_ask, ens_listen,
 *    ens_system_run or ens_system_close.

 * Files: the log and the failure journal are opened so that another local
 * user cannot point them elsewhere (a symbolic link planted in /tmp would
 * otherwise make the system append to any file its user may write). A file
 * the system writes must be a regular file of its effective uid with one
 * link (no hard link to a file of ours), never reached through a symbolic
 * link at its last component (a FIFO, a device or a socket is refused:
 * only /dev/null is taken, as a log thrown away); the directory holding it
 * must belong to us or root and, if others may write it, be sticky (as
 * /tmp: no one else can rename or remove our file there); no symbolic link
 * along the path may belong to another user (root's are trusted). Group
 * write on a directory is not refused: the group is trusted as with the
 * files in it. A refusal is ENS_EUNSAFE from ens_system_start, with a log
 * line (to stderr for the log) saying which check failed. Existing files
 * keep their mode.
 *
 * The outside program holds one ens_ctx for the system (ens_system_ctx) with
 * an address of its own: it spawns top-level actors, sends ("tell"), asks
 * and listens through it. Not thread-safe: use a system from one thread.
 */
#ifndef ENSEMBLE_SYSTEM_H
#define ENSEMBLE_SYSTEM_H

#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "api.h"
#include "event.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ens_base {
    ENS_BASE_PROCESS = 0, /* one OS process per actor */
    ENS_BASE_INPROC,      /* sequential, deterministic, in this process */
} ens_base;

/* A convention: the systems that share a NATS cluster and a convention
 * name, and reach each other's actors (process base only). Every string is
 * borrowed by ens_system_start, which keeps its own copies. What it gives:
 * a message to an address of another system of the convention (its `node`)
 * crosses through the two systems' gateway processes, unchanged, in order
 * per sender and receiver; asks, requests and replies work across systems.
 * Between systems delivery is at most once (README.md, "Across hosts").
 * All NULL (ENS_CONVENTION_OPTS_INIT): no convention, no NATS server needed.
 *
 * Refused by ens_system_start with ENS_EINVAL (and a log line naming the
 * field) when: servers is set and name is not, or the reverse; servers is
 * empty, longer than 4 KiB, or an item of its comma-separated list is
 * empty, holds a space or control character, or does not start with
 * "nats://" or "tls://"; name is not 1-64 of [A-Za-z0-9_-] (it is a token of
 * NATS subjects); a credential is set without servers; password without
 * user or user without password; token together with user; creds_file
 * together with nkey_seed_file; nkey without nkey_seed_file or the reverse; tls_cert without
 * tls_key or the reverse; a credential string is empty; heartbeat_ms is not
 * 0 and outside 50-60000; down_after_ms is not 0 and outside 200-600000, or
 * not more than heartbeat_ms (500 when 0); capabilities that are empty or break the rules of
 * convention.h (key=value lines, the limits, no "ens." key, no key twice).
 * Any convention field on the inproc base is ENS_ENOTSUP (one process has
 * no gateway), with a log line.
 * ens_system_start returns once the system has joined: its record is in
 * the members bucket (a system started next sees it) and its admin knows
 * the members it found (a spawn placed at once sees them). When it cannot
 * join within call_timeout_ms because the servers do not answer, it returns
 * all the same, with a log line: the gateway logs the reason and tries
 * again (a message for another system meanwhile becomes a dead letter).
 * A server that answers and refuses the system (wrong user, password,
 * token, nkey or credentials file; a TLS handshake that fails: a server
 * certificate not signed by tls_ca or whose name does not match the
 * server's address) makes ens_system_start fail with ENS_EAUTH, NATS's
 * reason in ens_errmsg(), and the system ended (no process of it left). */
typedef struct ens_convention_opts {
    const char *servers;         /* "nats://h1:4222,nats://h2:4222", or NULL: no convention;
                                    tried in this order (the first: this host's own) */
    const char *name;            /* the convention's name, [A-Za-z0-9_-]{1,64} */
    const char *user, *password; /* NATS user and password, or NULL */
    const char *token;           /* NATS authentication token, or NULL */
    const char *creds_file;      /* a NATS credentials file (JWT and nkey seed), or NULL */
    const char *nkey;            /* an nkey user's public key ("U..."), with nkey_seed_file */
    const char *nkey_seed_file;  /* the file holding that nkey's seed ("SU..."), or NULL */
    const char *tls_ca;          /* PEM CA file to verify the servers by, or NULL */
    const char *tls_cert;        /* PEM client certificate, with tls_key, or NULL */
    const char *tls_key;         /* PEM key of tls_cert, or NULL */
    uint32_t heartbeat_ms;       /* how often this member says it lives when it sent nothing
                                    else to the convention (convention.h): 0 = 500; otherwise
                                    50-60000 */
    const char *capabilities;    /* this system's own capabilities at start, "key=value\n"
                                    lines (convention.h: limits, no "ens.*" key), or NULL */
    uint32_t down_after_ms;      /* silence after which this system judges another member
                                    unreachable (convention.h): 0 = 2000 or 4 x heartbeat_ms,
                                    the larger; otherwise 200-600000 and more than
                                    heartbeat_ms */
} ens_convention_opts;

#define ENS_CONVENTION_OPTS_INIT                                                                   \
    {                                                                                              \
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0               \
    }

typedef struct ens_system_opts {
    const char *name; /* system name: 1-64 of [A-Za-z0-9._-]; NULL = a unique
                         name "pid<PID>-<N>". Process base: other programs
                         of the same user connect by it. */
    ens_base base;
    const char *journal_path; /* the failure journal (journal.h), one row per
                                 failure event. NULL: none, unless the system
                                 has a name: then ens_journal_default_path(name)
                                 (no journal, with a warning, if HOME is not
                                 set). "" for none at all. ":memory:" for a
                                 private in-memory one;
                                 anything else is the path (its directory is
                                 created). Opened at start: a path that cannot
                                 be used fails ens_system_start. Write errors
                                 while the system runs (disk full) are logged,
                                 the system keeps running. Process base: a
                                 journal writer process, forked by the admin,
                                 owns it; actors and the admin never open it.
                                 ens_system_options() shows the resolved path.
                                 A new journal is created mode 0600 (its WAL
                                 and shared-memory files take its mode); the
                                 file and those beside it (-wal, -shm,
                                 -journal) follow the rule of "Files" above. */
    uint32_t max_frame_bytes; /* frame limit (header + payload); 16 MiB by default */
    uint32_t mailbox_limit;   /* queued messages per actor before ENS_EFULL */
    /* Bytes a destination may hold waiting (ENS_MAILBOX_BYTES_DEFAULT): a
     * send that would take it past this gets ENS_EFULL, unless nothing
     * waits there (one message, up to the frame limit, always fits).
     * Inproc base: the encoded messages queued for an actor. Process base:
     * what waits in the sending process for one destination (the outside
     * program's or an actor's buffer), counted as sent (a message over 32
     * KiB goes in pieces: 80 bytes more per 32 KiB); what the kernel's
     * socket buffers and the receiver took already is not counted. It is
     * what bounds the memory a slow receiver costs its senders: the count
     * alone let 20 messages of 8 MiB wait in one program. */
    uint64_t mailbox_bytes_limit;
    uint32_t call_timeout_ms;       /* default timeout for blocking calls */
    bool persistent;                /* process base: outlive the starting program,
                                       until ens_system_stop (or `ens shutdown`) */
    ens_log_level log_level;        /* lines above this level are not written */
    ens_event_cb on_event;          /* failure events as they happen, or NULL */
    void *event_arg;                /* passed to on_event */
    const char *log_path;           /* log file, appended to; NULL = stderr. On the
                                       process base the lines of every process go
                                       through the admin to it. Created mode 0600.
                                       Refused (ENS_EUNSAFE) unless it is a regular
                                       file of ours with one link, not reached by a
                                       symbolic link at its last component, or
                                       /dev/null; see "Files" above. */
    uint32_t max_connections;       /* process base: programs connected by name
                                       (ens_system_connect, `ens`) at once; 256 by
                                       default, 0 = none may connect. Past it, or
                                       when the admin is short of descriptors (it
                                       keeps RLIMIT_NOFILE / 8 for actors), a program
                                       is refused with ENS_ETOOMANY / ENS_EAGAIN. A
                                       program that connects and does not answer the
                                       admin's hello within call_timeout_ms (at least
                                       1 s) is disconnected: it holds a place. */
    uint32_t child_exit_timeout_ms; /* how long an ending actor waits for
                                 its children after asking them to exit
                                 (actor.h, "Ending"); a child still there
                                 then is killed (ens_kill) and journaled.
                                 0 = ENS_CHILD_EXIT_TIMEOUT_DEFAULT. */
    ens_convention_opts convention; /* process base: the convention this system
                                       joins (above), or all NULL */
    /* Retention of the failure journal: the writer keeps at most
     * journal_max_rows rows and none older than journal_max_age_days (by
     * their at_ms), deleting the oldest (first written) in steps of at most
     * 4096 rows per commit, in the commit of new rows, so writes never wait
     * for a large delete; freed pages are reused, and given back to the file
     * system in small steps when the journal was created with this version
     * (journal.h, "Retention"). 0 = the default (ENS_JOURNAL_MAX_ROWS_DEFAULT,
     * ENS_JOURNAL_MAX_AGE_DAYS_DEFAULT); ENS_JOURNAL_KEEP_ALL (all bits set)
     * = no limit of that kind. */
    uint64_t journal_max_rows;
    uint32_t journal_max_age_days;
} ens_system_opts;

/* The defaults of journal_max_rows and journal_max_age_days. */
#define ENS_JOURNAL_MAX_ROWS_DEFAULT     10000000u
#define ENS_JOURNAL_MAX_AGE_DAYS_DEFAULT 90u
/* journal_max_rows / journal_max_age_days: no limit (converts to all bits
 * set of either field). */
#define ENS_JOURNAL_KEEP_ALL (~(uint64_t)0)

/* The default of child_exit_timeout_ms, 5 s: OTP's default shutdown time
 * of a worker. */
#define ENS_CHILD_EXIT_TIMEOUT_DEFAULT 5000u

/* The default of mailbox_bytes_limit, 64 MiB: four messages at the default
 * frame limit, and far above what bursts of ordinary messages hold (the
 * flood test's 64 Ki-message bound is about 5 MiB of them). */
#define ENS_MAILBOX_BYTES_DEFAULT ((uint64_t)64 << 20)

#define ENS_SYSTEM_OPTS_INIT                                                                       \
    {                                                                                              \
        NULL, ENS_BASE_PROCESS, NULL, 16u << 20, 1u << 20, ENS_MAILBOX_BYTES_DEFAULT, 5000, false, \
            ENS_LOG_WARN, NULL, NULL, NULL, 256u, ENS_CHILD_EXIT_TIMEOUT_DEFAULT,                  \
            ENS_CONVENTION_OPTS_INIT, ENS_JOURNAL_MAX_ROWS_DEFAULT,                                \
            ENS_JOURNAL_MAX_AGE_DAYS_DEFAULT                                                       \
    }

typedef struct ens_system ens_system;

/* Start a system with options o (borrowed; NULL = ENS_SYSTEM_OPTS_INIT) and
 * store its handle in *out (owned by the caller until ens_system_close or
 * ens_system_stop).
 * Errors: ENS_EINVAL (NULL out, bad options: frame limit below 4 KiB,
 * mailbox_limit or mailbox_bytes_limit 0, unknown base, bad name),
 * ENS_EEXIST (process base: a system of that name runs already), ENS_EPEERCRED (process base:
 * the system's socket in this user's runtime directory answers from another uid; the log names
 * it), ENS_EACCES (process base: the runtime directory is unsafe - not a directory of this
 * user's with mode 0700; the log says which and why), ENS_ENOBUFS (its path is too long for a
 * socket address), ENS_ENOENT / ENS_EIO (log_path cannot be opened), ENS_EUNSAFE (log_path or
 * the journal's files are refused by the rule of "Files" above; the failed check is logged),
 * the failure journal cannot be opened: ENS_EIO (directory or file cannot be created or
 * written), ENS_ENOTJOURNAL (the file is not a journal), ENS_EINVAL (empty path) - the reason is
 * logged, ENS_ENOTSUP (a persistent inproc system; convention options on the inproc base, logged),
 * ENS_EINVAL (convention options refused by the rules of ens_convention_opts, logged), ENS_EAUTH
 * (the convention's NATS server refused the credentials or the TLS handshake: ens_errmsg() has
 * NATS's reason; the system was ended), ENS_EIO /
 * ENS_EAGAIN (the admin could not be forked), ENS_ENOMEM. Process base: the caller's stdio buffers
 * should be flushed first (fork copies them). */
ENS_API int ens_system_start(const ens_system_opts *o, ens_system **out);

/* The outside context of the system (borrowed; valid until shutdown). */
ENS_API ens_ctx *ens_system_ctx(ens_system *s);

/* The system's options as started (borrowed). */
ENS_API const ens_system_opts *ens_system_options(const ens_system *s);

/* Send (t, v) to `to` as a request and wait up to timeout_ms for the reply.
 * Only from the outside context. On success *reply is the reply (owned by
 * the caller: ens_msg_free). An error reply returns its code with *reply
 * set to the error reply (owned by the caller: free it on every return):
 * ENS_EPOISON (the handler failed twice: *reply is the PoisonMessage),
 * ENS_ENOACTOR (no live actor at `to`, nothing was delivered: *reply says
 * why, or is NULL when the system knew at once), ENS_EBREAKER_OPEN (a circuit breaker failed fast),
 * or the code the replier chose (ens_reply_error). Other errors, with *reply NULL: ENS_ETIMEDOUT
 * (no reply in time; a late reply is dropped), ENS_EUNREACHABLE (in a convention: the member the
 * actor asked runs on became unreachable or left while the ask waited; returned as soon as this
 * system learns it, not at the timeout), ENS_EINVAL (NULL arguments, v included; an address
 * ens_send refuses; called inside an actor), the send errors of ens_send. A system message sent
 * back as the reply (an exit request, a child-exited notice, a wake-up: any system type of msg.h
 * but the PoisonMessage of a request that failed twice) is never the answer, as with Thespian,
 * which never gives the outside a system message: it is dropped with a log line and the ask goes
 * on waiting for a real reply (ENS_ETIMEDOUT if none comes). */
ENS_API int ens_ask(ens_ctx *outside, ens_addr to, const ens_msgtype *t, const void *v,
                    uint32_t timeout_ms, ens_msg **reply);

/* Wait up to timeout_ms for the next message sent to the outside endpoint
 * that is not the reply to an ask: replies to tells, PoisonMessages of
 * tells, anything actors send to it. On success *out is owned by the caller
 * (ens_msg_free). Errors: ENS_ETIMEDOUT, ENS_EINVAL (NULL arguments, inside
 * an actor), ENS_ESHUTDOWN (the system has ended and nothing is left to
 * take). */
ENS_API int ens_listen(ens_ctx *outside, uint32_t timeout_ms, ens_msg **out);

/* Inproc: run the actors until no message is queued or timeout_ms passed,
 * without waiting for wake-ups; returns the number of messages handled
 * (>= 0). Process base (actors run by themselves): sends what the outside
 * program has queued and takes in what arrived, waiting at most timeout_ms
 * for either to be possible; returns 0. Use it to make room after
 * ENS_EFULL from a tell.
 * Errors: ENS_EINVAL (NULL s), ENS_ESHUTDOWN (the system has ended: its
 * admin is gone, killed or stopped from elsewhere; messages that arrived
 * before are still there for ens_listen). An admin that was this program's
 * child is reaped as soon as its end is seen, by this call, ens_ask or
 * ens_listen: no zombie is left. */
ENS_API int ens_system_run(ens_system *s, uint32_t timeout_ms);

/* Attach to the running process-base system called `name` of this user on
 * this host, as another outside endpoint with an address of its own. The
 * system is looked for at its socket in this user's runtime directory
 * ($XDG_RUNTIME_DIR/ensemble, /run/user/UID/ensemble or /tmp/ensemble-UID),
 * then at its abstract name; whichever answers must be a process of this
 * user (SO_PEERCRED), else nothing is sent to it. Then: spawn
 * (by the definition's name, which the system's program must have
 * registered with ens_actor_register), send, ask, listen and status work as
 * for the starting program. *out is owned by the caller: ens_system_close
 * detaches (the system goes on), ens_system_stop ends it. Message types must
 * be registered here too, with the same names and formats. Errors:
 * ENS_EINVAL (bad name, NULL out), ENS_ENOENT (no such system),
 * ENS_EPEERCRED (the name is held by a process of another user: an
 * impostor, or another user's system; ens_system_holder says who),
 * ENS_ETOOMANY (max_connections programs are connected already),
 * ENS_EAGAIN (the system is short of file descriptors), ENS_ESHUTDOWN (it
 * is ending), ENS_ETIMEDOUT (the admin did not answer), ENS_EIO (it closed
 * the connection without a word), ENS_ENOMEM. */
ENS_API int ens_system_connect(const char *name, ens_system **out);

/* Who answers at the name of system `name` of this user, looked for as
 * ens_system_connect does: *uid and *pid (either may be NULL) get the
 * credentials of the listening process (for messages after ENS_EPEERCRED;
 * -1 when a socket there is not a system's kind and cannot tell). Nothing
 * is sent to it. Errors: ENS_EINVAL (bad name), ENS_ENOENT (nobody
 * listens), ENS_ETIMEDOUT, ENS_EIO. */
ENS_API int ens_system_holder(const char *name, int *uid, int *pid);

/* Two ways to let go of a handle; both release it (s is freed) and are
 * NULL-safe (returning 0):
 *  - ens_system_stop ENDS the system, from any handle (started or
 *    connected). The top-level actors are stopped as a supervisor stops
 *    its children (the same on every base): one at a time, the last
 *    started first, each sent an exit request only once the one before has
 *    ended (its terminate has returned and its process is gone). Each gets
 *    its share of timeout_ms: the time left divided by the top-level actors
 *    still to stop, so time one does not use passes on to the next; one
 *    that has not ended when its share is up is killed (its terminate is
 *    cut short or never runs; a journal row of kind EXIT says so) and the
 *    next one is asked. Children end before their parent (actor.h,
 *    "Ending"). What is still running when timeout_ms is up is killed. On
 *    the inproc base a handler runs in the caller's thread and cannot be
 *    cut short: a share runs out only while the actor waits (a deferred
 *    exit, messages queued before the exit request). A process-base system
 *    whose starting program ends without closing it (killed, say) has no
 *    time to stop in order: its actors are killed at once.
 *  - ens_system_close DETACHES from it: the system goes on wherever it
 *    can outlive this handle - a handle from ens_system_connect, or the
 *    handle of a persistent system. A system that lives only as long as
 *    its starting program (started here, not persistent: every inproc
 *    system, and a process-base one whose admin ends with its program)
 *    cannot go on, so closing its handle ends it as ens_system_stop does:
 *    queued messages are handled up to timeout_ms, then what is left is
 *    stopped.
 * Both return 0, or ENS_ETIMEDOUT when actors had to be stopped without
 * finishing (the handle is released all the same; on the process base only
 * when the admin itself did not end in time: a kill there is told by its
 * journal row). */
ENS_API int ens_system_stop(ens_system *s, uint32_t timeout_ms);
ENS_API int ens_system_close(ens_system *s, uint32_t timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
