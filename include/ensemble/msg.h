/*
 * ensemble/msg.h - message types and messages.
 *
 * Every message has a registered type: a unique name, a tpl format and the
 * size of the C struct the format describes. Sending encodes the struct into
 * a frame (also inside one process, so an actor never sees another's
 * memory): a type made only of fixed-size fields (an S(...) of the scalars
 * below and nested $(...), no strings, arrays or bytes) is written field by
 * field, little-endian, without tpl (the frame says so); every other type is
 * encoded with tpl. Receiving decodes the frame into a fresh struct that the
 * message owns. Handlers get messages borrowed for the duration of the
 * callback; ens_msg_dup() keeps one longer.
 *
 * Formats. A format is a sequence of top-level items; the C struct holds one
 * member (or group of members) per item, in order, with normal C alignment:
 *
 *   S(...)   at most one, and only as the first item: its fields are the
 *            leading members of the C struct. Fields: i (int32_t),
 *            u (uint32_t), j (int16_t), v (uint16_t), c (char), f (double),
 *            I (int64_t), U (uint64_t), s (char *, NULL allowed) and nested
 *            structs $(...) of the same fields (ENS_ADDR_FMT is one).
 *   A(x)     a variable-length array: one ens_array member {items, count}
 *            where items points to count elements of x; x is one field
 *            character from the list above or S(...) of them.
 *   B        raw bytes: one ens_bytes member {data, len}.
 *
 * Examples: "S(is)" is struct { int32_t count; char *text; };
 * "S(i)A(S(iU))" is struct { int32_t n; ens_array items; } whose items are
 * struct { int32_t a; uint64_t b; }. Fixed-length arrays (#) are not
 * accepted. Registration computes the struct size implied by the format and
 * rejects a mismatch with `size`. tpl flattens nested structs, so a $(...)
 * whose C layout puts a field where the flattened layout would not (e.g.
 * "S(c$(cI))") is rejected with ENS_EINVAL; ENS_ADDR_FMT is always fine.
 *
 * Limits on decode: the frame limit of the system (ens_system_opts) bounds
 * every message; `max_items` bounds the element count of each A(...) array.
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_msg_encode and ens_msg_decode.
 */
#ifndef ENSEMBLE_MSG_H
#define ENSEMBLE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Raw bytes inside a message value (layout fixed: pointer, then length). */
typedef struct ens_bytes {
    void *data;
    uint32_t len;
} ens_bytes;

/* A variable-length array inside a message value. */
typedef struct ens_array {
    void *items; /* count elements of the item struct/scalar */
    uint32_t count;
} ens_array;

/* A message type. Usually defined with ENS_MESSAGE (typed.h), which also
 * gives calls the compiler checks; by hand, one per kind of message:
 *   static ens_msgtype greeting = { "demo.Greeting", "S(is)", sizeof(greeting_v) };
 * and register it before starting a system. The struct must outlive every
 * use (the registry keeps the pointer). */
typedef struct ens_msgtype {
    const char *name;   /* unique; hashed (FNV-1a, 32 bit) to the wire id */
    const char *format; /* tpl format, see the top of this header */
    size_t size;        /* sizeof the C struct the format describes */
    uint32_t max_items; /* element limit per A(...) array on decode; 0 = 65536 */
    uint32_t id;        /* set by ens_msgtype_register; leave 0 */
    /* Field names for tools (`ens ask --type`, `ens types`), comma-separated,
     * or NULL (tools then say f0, f1, ...). One name per named element, in
     * format order: each field of an S(...) or $(...) (a $(...) gets a name
     * of its own, then its fields follow), each A(...) item (then the fields
     * of its S(...) element, if it has one; a scalar element has no name)
     * and each B item. E.g. "S(is)" -> "count,text"; "S(i$(Uuu))A(S(iU))B"
     * -> "n,from,node,id,gen,items,a,b,raw". A name is 1-64 of A-Z a-z 0-9 _.
     * Registration rejects a count that does not match (ENS_EINVAL). */
    const char *fields;
} ens_msgtype;

/* A message: frame header plus decoded value. Opaque. */
typedef struct ens_msg ens_msg;

/* Register t in this process's type table, so it can be sent and decoded.
 * Call before ens_system_start: while a system this program started runs
 * (until ens_system_stop or ens_system_close), a new type is refused with
 * ENS_EINVAL, on both bases - the process base has forked its actors, which
 * would never know it, and the inproc base keeps the same rule so code moves
 * between them. (ens_system_connect does not count: the connected system's
 * own program registers its types.) t is borrowed for the life of the
 * process. Registering the same pointer again returns 0, also while a
 * system runs. Errors: ENS_EINVAL (NULL, bad name, format not accepted, size
 * mismatch with the format, `fields` not one valid name per named
 * element of the format, a system runs), ENS_EEXIST (another type has
 * this name or the name hashes onto a registered id or into the reserved
 * system range), ENS_ENOMEM. Every error sets ens_errmsg() (error.h),
 * naming the type: "demo.Greeting: format S(is) describes 16 bytes, the
 * struct has 24", the type that holds the name or id, or "register before
 * ens_system_start". Not thread-safe: register from one thread at start-up. */
ENS_API int ens_msgtype_register(ens_msgtype *t);

/* Find a registered type by name; NULL if none. name is borrowed. */
ENS_API const ens_msgtype *ens_msgtype_find(const char *name);

/* The message's type, or NULL if its type id is not registered here. */
ENS_API const ens_msgtype *ens_msg_type(const ens_msg *m);

/* The wire type id of m (also for unknown types). */
ENS_API uint32_t ens_msg_type_id(const ens_msg *m);

/* The decoded value of m if m is of type `want` (compared by id), else NULL.
 * The value is owned by m and lives as long as m; do not free its members. */
ENS_API const void *ens_msg_value(const ens_msg *m, const ens_msgtype *want);

/* The original sender (for forwarded frames too); ENS_ADDR_NONE if none. */
ENS_API ens_addr ens_msg_sender(const ens_msg *m);

/* True if m is a request (sent with ens_ask, ens_request or ens_call): a
 * reply is awaited under its correlation. */
ENS_API bool ens_msg_is_request(const ens_msg *m);

/* True if m was sent with ens_cast. */
ENS_API bool ens_msg_is_cast(const ens_msg *m);

/* True if m is a system message (exit request, child exited, wake-up, ...). */
ENS_API bool ens_msg_is_system(const ens_msg *m);

/* The error code of an error reply (negative), else 0. */
ENS_API int ens_msg_error(const ens_msg *m);

/* The address the message was sent to. */
ENS_API ens_addr ens_msg_target(const ens_msg *m);

/* 1 on first delivery; 2 on the redelivery after an error return (or, on the
 * process base, after a crash). */
ENS_API uint32_t ens_msg_attempt(const ens_msg *m);

/* The encoded size of m in bytes (frame header plus payload). */
ENS_API size_t ens_msg_size(const ens_msg *m);

/* A copy of m that the caller owns (release with ens_msg_free), to keep a
 * message beyond its callback. NULL when out of memory or m is NULL. */
ENS_API ens_msg *ens_msg_dup(const ens_msg *m);

/* Encode (t, v) as a whole frame (header and payload), the form start
 * arguments and messages inside messages travel in (a behaviour's
 * configuration, for example). *out is malloc'ed, owned by the caller
 * (free()), *len its size. Errors: ENS_EINVAL (NULL arguments, v NULL with
 * a non-empty format), ENS_EBADTYPE (t not registered), ENS_EMSGSIZE (over
 * 1 GiB), ENS_ENOMEM. */
ENS_API int ens_msg_encode(const ens_msgtype *t, const void *v, uint8_t **out, size_t *len);

/* Decode a frame made by ens_msg_encode (or found in a message) into a
 * message owned by the caller (ens_msg_free); data is copied, borrowed.
 * Errors: ENS_EINVAL (NULL arguments), ENS_EBADFRAME (malformed),
 * ENS_EBADTYPE (its type is not registered here), ENS_EMSGSIZE, ENS_ENOMEM. */
ENS_API int ens_msg_decode(const void *data, size_t len, ens_msg **out);

/* Release a message the caller owns (from ens_ask, ens_listen, ens_msg_dup).
 * NULL-safe. Never free a message borrowed in a callback. */
ENS_API void ens_msg_free(ens_msg *m);

/* ---- Built-in types: usable without declarations ---------------------- */

/* Every message type the library defines is a const object named
 * ens_msg_<noun>, used by address (ens_send(c, to, &ens_msg_string, &v)).
 * They are known in every process without registration: the type table
 * enters them on its first use (ens_msgtype_find, a decode, a send,
 * ens_system_start), once per process and thread-safe, so they are found
 * by name or id also before any system starts. (ens_msg_type, ens_msg_value
 * and the other ens_msg_<verb> functions work on messages, not types.) */

typedef struct ens_string_v {
    char *text;
} ens_string_v; /* "S(s)" */
typedef struct ens_int64_v {
    int64_t value;
} ens_int64_v; /* "S(I)" */
typedef struct ens_bytes_v {
    ens_bytes data;
} ens_bytes_v; /* "B" */

ENS_API extern const ens_msgtype ens_msg_string; /* "ens.String" */
ENS_API extern const ens_msgtype ens_msg_int64;  /* "ens.Int64" */
ENS_API extern const ens_msgtype ens_msg_bytes;  /* "ens.Bytes" */

/* ---- System messages: delivered to receive like any other -------------- */

/* Each system message below says whether a handler that returns an error
 * on it gets it once more ("retried": the rule of actor.h, without the
 * poison) or not ("run once": the error is journaled, nothing else). None
 * is ever taken as a reply: sent back with ens_reply, it completes no
 * ens_ask, ens_request or ens_call (dropped with a log line), except a
 * PoisonMessage returned as the error reply of a failed request. */

/* Exit request: the actor handles it as a message (to clean up), then its
 * living children get exit requests of their own, the last started first;
 * once they have ended (or were killed after child_exit_timeout_ms) its
 * terminate callback runs with ENS_EXIT_SHUTDOWN and it is gone (actor.h,
 * "Ending"). Run once: a handler that fails on it is not run again and the
 * actor ends all the same. */
typedef struct ens_exit_request_v {
    int32_t reserved;
} ens_exit_request_v;

/* Exit reasons, in child-exited notices and terminate(). */
enum ens_exit_reason {
    ENS_EXIT_NORMAL = 0,  /* ens_stop(c, ENS_EXIT_NORMAL) */
    ENS_EXIT_SHUTDOWN,    /* after an exit request */
    ENS_EXIT_ERROR,       /* ens_stop with an error reason */
    ENS_EXIT_CRASH,       /* killed by a signal it raised (process base) */
    ENS_EXIT_KILLED,      /* killed from outside (process base) */
    ENS_EXIT_INIT_FAILED, /* init returned an error; the actor never ran */
    ENS_EXIT_INTENSITY,   /* a supervisor gave up (restart intensity) */
    ENS_EXIT_NOPLACE,     /* no member of the convention could run it (convention.h) */
    /* The node its actor ran on became unreachable, or left the convention
     * without the child's own notice: not an actor exit (the actor may still
     * run there). Sent once, by this system's admin, with status
     * ENS_EUNREACHABLE and incarnation 0 (not known); a notice from the
     * child itself coming later (its node back) is dropped. A supervisor
     * restarts such a child (convention.h, "Loss of a member"). */
    ENS_EXIT_NOCONNECTION,
};

/* The symbolic name of an enum ens_exit_reason ("ENS_EXIT_CRASH"), for
 * logs and tools; "ENS_EXIT_UNKNOWN" for any other number. Thread-safe; the
 * string is static. Never fails. */
ENS_API const char *ens_exit_reason_name(int reason);

/* Child exited: sent to the parent when a child ends for good. Run once.
 * To print one: ens_exit_reason_name(reason), strsignal(signal) and
 * ens_err_name(status) / ens_strerror(status). */
typedef struct ens_child_exited_v {
    ens_addr child;
    int32_t reason;       /* enum ens_exit_reason: ens_exit_reason_name() */
    int32_t signal;       /* the signal for CRASH/KILLED, else 0 */
    int32_t status;       /* the ENS_E* code given to ens_stop, or init's: ens_err_name() */
    uint32_t incarnation; /* 1 for the first start, +1 per restart */
} ens_child_exited_v;

/* Child restarted: sent to the parent each time the runtime restarts a
 * crashed child in place (process base; same address, next incarnation),
 * so a supervisor can count it toward its restart intensity. Run once. */
typedef struct ens_child_restarted_v {
    ens_addr child;
    int32_t signal;       /* the signal that ended the previous incarnation, or 0 */
    uint32_t incarnation; /* of the new incarnation */
    int32_t redelivering; /* 1: the message in hand is delivered again;
                             0: none was in hand, or it was returned as poison */
    int32_t spare;        /* 0 */
} ens_child_restarted_v;

/* Child started: sent to the parent when a child spawned with
 * ENS_SPAWN_NOTIFY_START has run its init successfully (first start). Run
 * once. */
typedef struct ens_child_started_v {
    ens_addr child;
    uint32_t incarnation;
    int32_t spare; /* 0 */
} ens_child_started_v;

/* Wake-up: the payload given to ens_wakeup_after, delivered to the actor
 * that asked, never before the delay has passed. Retried. */
typedef struct ens_wakeup_v {
    uint64_t timer_id;
    uint64_t payload;
    uint32_t delay_ms;
} ens_wakeup_v;

/* PoisonMessage: a message the target failed to handle twice, returned to
 * its sender. ens_poison_original() gives the failed message. Retried,
 * never returned again. */
typedef struct ens_poison_v {
    ens_addr target;    /* the actor that failed */
    int32_t error;      /* the handler's error code (0 if it crashed) */
    int32_t signal;     /* the signal that killed the handler, or 0 */
    uint32_t attempts;  /* deliveries made */
    char *detail;       /* human-readable reason */
    ens_bytes original; /* the failed frame; read it with ens_poison_original */
} ens_poison_v;

/* DeadEnvelope: a message that found no live actor, given to the actor that
 * registered for dead letters (ens_dead_letters_handle). Retried. */
typedef struct ens_dead_envelope_v {
    ens_addr intended;  /* the address it was sent to */
    uint32_t type_id;   /* the wire type id of the original */
    char *reason;       /* why it is dead ("no such actor", "actor ended") */
    ens_bytes original; /* the original frame; see ens_poison_original */
} ens_dead_envelope_v;

/* FdReady: a descriptor watched with ens_watch_fd became ready. The watch
 * is off once this is sent (one-shot): call ens_watch_fd again for more.
 * events is a mask of enum ens_fd_event, as poll() saw the descriptor. Run
 * once: after a first run the readiness may be gone (watch again). */
typedef struct ens_fd_ready_v {
    int32_t fd;     /* the watched descriptor */
    int32_t events; /* ENS_FD_READABLE | ENS_FD_HANGUP | ENS_FD_ERROR */
    uint64_t tag;   /* the tag given to ens_watch_fd */
} ens_fd_ready_v;

enum ens_fd_event {
    ENS_FD_READABLE = 1, /* a read will not block (data, or end of file) */
    ENS_FD_HANGUP = 2,   /* the peer closed (POLLHUP): reads drain, then end */
    ENS_FD_ERROR = 4,    /* an error condition (POLLERR), or the fd was closed */
};

/* CommandResult: a command started with ens_command_run ended. output holds
 * its standard output and standard error, merged in the order written, cut
 * at the max_output given (truncated = 1 when bytes were cut). Retried. */
typedef struct ens_command_result_v {
    uint64_t tag;        /* the tag given to ens_command_run */
    int32_t exit_status; /* the shell's exit code, or -1 if a signal ended it */
    int32_t signal;      /* the signal that ended the shell, or 0 */
    int32_t truncated;   /* 1 if output was cut at max_output */
    ens_bytes output;    /* the (first max_output bytes of) output */
} ens_command_result_v;

ENS_API extern const ens_msgtype ens_msg_exit_request;    /* "ens.ExitRequest" */
ENS_API extern const ens_msgtype ens_msg_child_exited;    /* "ens.ChildExited" */
ENS_API extern const ens_msgtype ens_msg_child_restarted; /* "ens.ChildRestarted" */
ENS_API extern const ens_msgtype ens_msg_child_started;   /* "ens.ChildStarted" */
ENS_API extern const ens_msgtype ens_msg_wakeup;          /* "ens.WakeUp" */
ENS_API extern const ens_msgtype ens_msg_poison;          /* "ens.PoisonMessage" */
ENS_API extern const ens_msgtype ens_msg_dead_envelope;   /* "ens.DeadEnvelope" */

/* The services' messages (ens_watch_fd, ens_command_run in actor.h). */
ENS_API extern const ens_msgtype ens_msg_fd_ready;       /* "ens.FdReady" */
ENS_API extern const ens_msgtype ens_msg_command_result; /* "ens.CommandResult" */

/* The message inside a PoisonMessage or a DeadEnvelope, decoded on first use
 * and owned by m (borrowed: valid as long as m). NULL if m is neither, or if
 * the original cannot be decoded here (for example its type is unknown). */
ENS_API const ens_msg *ens_poison_original(const ens_msg *m);

#ifdef __cplusplus
}
#endif
#endif
