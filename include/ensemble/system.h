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
 *    Process titles: ps shows "ens: <type> [<global name>] <system> <address>"
 *    (the name once it has one) and "ens-admin <system>"; top and pgrep show
 *    the kernel's short name, "e:" and the last part of the type ("e:Cache").
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
 * and listens through it. Not thread-safe: the outside context belongs to
 * the thread that started or connected the system. Every call that takes it
 * (or the system's handle: ens_ask, ens_listen, ens_send, ens_cast,
 * ens_spawn and the named spawns, the name calls, ens_kill,
 * ens_exit_request, ens_event_report, ens_system_status, ens_system_run,
 * ens_capability_set, and what is built on them: gen_server and supervisor
 * calls) returns ENS_EWRONGTHREAD when made from another thread, or from
 * inside an actor (a handler, init, terminate or completion that got hold
 * of the outside context: an actor uses its own ens_ctx); nothing of the
 * call is done and ens_errmsg() names the owning thread and the caller's
 * (gettid). ens_system_close and ens_system_stop are refused the same way
 * (the handle stays open: its owner may be inside a call on it), so a
 * system is closed by the thread that opened it. The pure getters
 * (ens_system_ctx, ens_self, ens_in_actor, ens_system_options) and ens_log
 * are not checked.
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_system_start (which option is wrong; for a name that runs, its admin pid),
 * ens_system_connect and ens_system_holder (for a name nobody runs, the systems that do run),
 * ens_ask, ens_listen, ens_system_run, ens_system_stop and ens_system_close.
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
    const char *log_path;           /* log file, appended to; NULL = see log_target. On the
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
    /* Where log lines go (ens_log_target). The default: a named system on
     * the process base (name set) writes ens_log_default_path(name) - the
     * journal's directory, NAME.log - so that its lines do not follow the
     * terminal of the program that started it (a default file refused by
     * the rule of "Files" fails the start with ENS_EUNSAFE; one that cannot
     * be opened otherwise - no such place, no permission - is logged, and
     * the lines go to stderr); an unnamed one (and every inproc system)
     * writes stderr; log_path, when set, is the file. ens_system_options()
     * shows the target chosen and, for a file, its path as log_path. */
    int log_target;
    /* A log file that grows past this many bytes is renamed to FILE.1
     * (replacing the one before) and started again: at most about twice
     * this on disk. 0 = ENS_LOG_MAX_BYTES_DEFAULT. Applies to log_path and
     * the default file; FILE.1 follows the rule of "Files" above (a .1
     * that breaks it is not replaced: the file is emptied instead). */
    uint64_t log_max_bytes;
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
    /* Process base: after traffic, a process about to sleep until its next
     * message (an actor's loop, the outside waiting for a reply) first
     * looks for it without sleeping for up to this many microseconds:
     * waking a process whose vCPU went idle costs tens of microseconds on
     * a VM. It is adaptive: a spin counts as paid only when the message
     * came while the spinner kept its CPU (the peer ran on another one);
     * a miss, or a spin during which the spinner was preempted (a peer on
     * the same CPU can answer only then), doubles the waits that sleep
     * without a spin, up to 4 096; it never spins after 2 ms without
     * traffic, so an idle system stays idle. Measured: 2.7-4x faster round
     * trips where the two actors run on different vCPUs, and no loss
     * beyond noise where they share one (BENCHMARKS.md, "spin").
     * ENS_SPIN_US_DEFAULT (50) in ENS_SYSTEM_OPTS_INIT; 0 = never spin;
     * above 1 000 taken as 1 000. */
    uint32_t spin_us;
} ens_system_opts;

/* Where a system's log lines go (ens_system_opts.log_target). Every line is
 * one line (control characters spelled out, e.g. \n, \x1b) of the form
 *   TIME LEVEL [SYSTEM] PID WHO ADDR: TEXT
 * TIME UTC ISO-8601 with milliseconds (2026-12-07T18:32:59.123Z), LEVEL one
 * of ERROR WARN INFO DEBUG (padded to 5), PID the process that wrote it,
 * WHO the actor's type, or the role of a process of the system (admin,
 * journal, zygote, gateway, outside: the program that started or connected
 * to it), ADDR the actor's address (or the role's: "-" when it has none). */
typedef enum ens_log_target {
    ENS_LOG_TO_DEFAULT = 0, /* as described at log_target */
    ENS_LOG_TO_FILE,        /* log_path, or the default file (needs a name) */
    ENS_LOG_TO_STDERR,      /* the stderr of each process (the admin's is the
                               starting program's) */
    ENS_LOG_TO_SYSLOG,      /* syslog(3), facility LOG_USER, the system's name
                               as ident; ERROR/WARN/INFO/DEBUG map to LOG_ERR,
                               LOG_WARNING, LOG_INFO, LOG_DEBUG; the line
                               without its time */
} ens_log_target;

/* The default of log_max_bytes: 10 MiB. */
#define ENS_LOG_MAX_BYTES_DEFAULT ((uint64_t)10 << 20)

/* Where a system named `name` writes its log by default: the directory of
 * ens_journal_default_path(name) ($XDG_STATE_HOME/ensemble, else
 * $HOME/.local/state/ensemble), file NAME.log, written into buf (len
 * bytes). Returns the length, ENS_EINVAL (bad name, or neither variable
 * set) or ENS_ENOBUFS (buf too small). */
ENS_API int ens_log_default_path(const char *name, char *buf, size_t len);

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

/* The default of spin_us (ens_system_opts). */
#define ENS_SPIN_US_DEFAULT 50u
/* The same value under its earlier name. */
#define ENS_SPIN_US_SUGGESTED ENS_SPIN_US_DEFAULT

#define ENS_SYSTEM_OPTS_INIT                                                                       \
    {                                                                                              \
        NULL, ENS_BASE_PROCESS, NULL, 16u << 20, 1u << 20, ENS_MAILBOX_BYTES_DEFAULT, 5000, false, \
            ENS_LOG_WARN, NULL, NULL, NULL, 256u, ENS_CHILD_EXIT_TIMEOUT_DEFAULT,                  \
            ENS_CONVENTION_OPTS_INIT, ENS_LOG_TO_DEFAULT, ENS_LOG_MAX_BYTES_DEFAULT,               \
            ENS_JOURNAL_MAX_ROWS_DEFAULT, ENS_JOURNAL_MAX_AGE_DAYS_DEFAULT, ENS_SPIN_US_DEFAULT    \
    }

typedef struct ens_system ens_system;

/* Start a system with options o (borrowed; NULL = ENS_SYSTEM_OPTS_INIT) and
 * store its handle in *out (owned by the caller until ens_system_close or
 * ens_system_stop).
 * Errors: ENS_EINVAL (NULL out, bad options: frame limit below 4 KiB,
 * mailbox_limit or mailbox_bytes_limit 0, unknown base, bad name),
 * ENS_EEXIST (process base: a system of that name runs already; ens_errmsg
 * names it and its admin pid), ENS_EPEERCRED (process base:
 * the system's socket in this user's runtime directory answers from another uid; the log names
 * it), ENS_EACCES (process base: the runtime directory is unsafe - not a directory of this
 * user's with mode 0700; the log says which and why), ENS_ENOBUFS (its path is too long for a
 * socket address), ENS_ENOENT / ENS_EIO (log_path, or with log_target ENS_LOG_TO_FILE the default
 * log file, cannot be opened), ENS_EINVAL (log_target unknown, ENS_LOG_TO_FILE without a name or
 * log_path, log_path with ENS_LOG_TO_STDERR or ENS_LOG_TO_SYSLOG; logged), ENS_EUNSAFE (log_path,
 * the default log file or the journal's files are refused by the rule of "Files" above; the
 * failed check is logged),
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
 * ens_send refuses), ENS_EWRONGTHREAD (another thread than the system's owner, or inside an
 * actor: system.h's head), the send errors of ens_send. ENS_ENOREPLY, with *reply set: the
 * actor's handler returned 0 without replying, forwarding the request or keeping it for later
 * (ens_from_current, ens_msg_dup; see ens_reply in actor.h); returned as soon as the handler
 * is done, not at the timeout, and ens_errmsg() says "demo.Echo handled demo.Ping without
 * replying" (the actor's and the message's types). A system message sent
 * back as the reply (an exit request, a child-exited notice, a wake-up: any system type of msg.h
 * but the PoisonMessage of a request that failed twice) is never the answer, as with Thespian,
 * which never gives the outside a system message: it is dropped with a log line and the ask goes
 * on waiting for a real reply (ENS_ETIMEDOUT if none comes). */
ENS_API int ens_ask(ens_ctx *outside, ens_addr to, const ens_msgtype *t, const void *v,
                    uint32_t timeout_ms, ens_msg **reply);

/* Wait up to timeout_ms for the next message sent to the outside endpoint
 * that is not the reply to an ask: replies to tells, PoisonMessages of
 * tells, anything actors send to it. On success *out is owned by the caller
 * (ens_msg_free). Errors: ENS_ETIMEDOUT, ENS_EINVAL (NULL arguments),
 * ENS_EWRONGTHREAD (another thread, or inside an actor), ENS_ESHUTDOWN (the system has ended and
 * nothing is left to take). */
ENS_API int ens_listen(ens_ctx *outside, uint32_t timeout_ms, ens_msg **out);

/* Inproc: run the actors until no message is queued or timeout_ms passed,
 * without waiting for wake-ups; returns the number of messages handled
 * (>= 0). Process base (actors run by themselves): sends what the outside
 * program has queued and takes in what arrived, waiting at most timeout_ms
 * for either to be possible; returns 0. Use it to make room after
 * ENS_EFULL from a tell.
 * Errors: ENS_EINVAL (NULL s), ENS_EWRONGTHREAD (as ens_ask),
 * ENS_ESHUTDOWN (the system has ended: its
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
 * registered with ens_actor_register; the definition passed here needs only
 * its name, `static const ens_actor_def cache = {.name = "demo.Cache"};`,
 * since the registered one runs), send, ask, listen and status work as
 * for the starting program. *out is owned by the caller: ens_system_close
 * detaches (the system goes on), ens_system_stop ends it. Message types must
 * be registered here too, with the same names and formats. Errors:
 * ENS_EINVAL (bad name, NULL out), ENS_ENOENT (no such system; ens_errmsg
 * lists the systems of this user that run),
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

/* Called by ens_system_list with the name of one running system (borrowed
 * for the call); returning non-zero stops the list. */
typedef int (*ens_system_list_cb)(const char *name, void *arg);

/* The running process-base systems of this user on this host: cb(name,
 * arg) once for each, in name order. They are the sockets in the runtime
 * directories ens_system_connect looks in at which a process of this user
 * listens; a socket left by a system that was killed is skipped, and so is
 * one held by another user. Nothing is sent to the systems, and a system
 * may end before its name is handed on. Returns how many names cb was
 * given (0 when none runs), or cb's non-zero value when it stopped the
 * list. Errors: ENS_EINVAL (cb NULL), ENS_ENOMEM. */
ENS_API int ens_system_list(ens_system_list_cb cb, void *arg);

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
 * journal row). ENS_EWRONGTHREAD: called from another thread than the one
 * that started or connected the system, or inside an actor; nothing was
 * closed and s stays valid for its owner. */
ENS_API int ens_system_stop(ens_system *s, uint32_t timeout_ms);
ENS_API int ens_system_close(ens_system *s, uint32_t timeout_ms);

/* ---- The system's message types --------------------------------------- */

/* One registered message type of a system, as ens_system_types gives it
 * (the strings are valid during the callback only). fields is NULL when
 * the type was registered without field names (msg.h). */
typedef struct ens_type_desc {
    char *name;
    uint32_t id; /* its wire id */
    char *format;
    uint64_t size; /* of its C struct, in the system's programs */
    char *fields;
} ens_type_desc;

/* Called once per type; a non-zero return stops the walk (and is returned
 * by ens_system_types). */
typedef int (*ens_type_desc_cb)(const ens_type_desc *t, void *arg);

/* The message types of system s: those its programs registered before
 * ens_system_start and the library's public ones (ens.String, ens.Status,
 * ...; not its internal control types), in no particular order. On the
 * process base the admin answers (it was forked after the registrations,
 * so a connected program learns the types of the program that started the
 * system); on the inproc base this process's table is the system's. The
 * list is taken whole before the first call of cb. Only from the outside
 * context's thread. Errors: ENS_EINVAL (NULL s or cb; ens_errmsg says
 * which), ENS_EWRONGTHREAD (another thread, or inside an actor), ENS_ETIMEDOUT (no answer within
 * timeout_ms), ENS_ESHUTDOWN, ENS_EBADTYPE (the answer was not a type list), ENS_ENOMEM; or what cb
 * returned. */
ENS_API int ens_system_types(ens_system *s, uint32_t timeout_ms, ens_type_desc_cb cb, void *arg);

#ifdef __cplusplus
}
#endif
#endif
