/*
 * ensemble/circuit_breaker.h - an actor that fronts a downstream actor and
 * stops calling it while it fails (the circuit breaker pattern).
 *
 * Send requests to the breaker instead of the target (ens_ask from the
 * outside, ens_request / ens_call / ens_gen_server_call inside an actor).
 * The breaker makes its own request to the target with (t, v) of the
 * original and call_timeout_ms, and answers the original requester with
 * the target's reply, or its error reply with the same code and payload, or
 * ENS_ETIMEDOUT. Because the breaker asks in its own name, the target sees
 * the breaker as the sender.
 *
 * States:
 *  - closed: requests go through. Each completion is a success (a reply)
 *    or a failure (an error reply - the target's own code, ENS_EPOISON when
 *    its handler failed twice, ENS_ENOACTOR when it is gone - or no reply
 *    within call_timeout_ms). The breaker opens after max_failures
 *    consecutive failures, or when failure_percent of the last window_calls
 *    completions failed (checked once window_calls completions are known).
 *  - open: every request is answered at once with the error reply
 *    ENS_EBREAKER_OPEN carrying ens_breaker_open_v (retry_after_ms: time
 *    left until half-open; from the outside, ens_ask returns that reply in
 *    *reply). After the reset timeout the breaker goes
 *    half-open by itself.
 *  - half-open: the next half_open_probes requests go through as trials;
 *    others fail fast with ENS_EBREAKER_OPEN (retry_after_ms 0: a trial is
 *    in flight). When all trials succeed the breaker closes (the reset
 *    timeout goes back to reset_timeout_ms); the first failed trial opens
 *    it again, with the reset timeout grown by backoff_percent (up to
 *    max_reset_timeout_ms).
 * Only completions of requests made in the current state count: a slow
 * reply to a request let through before the breaker opened is passed on to
 * its requester but changes nothing.
 *
 * Every state change is reported as a failure event of kind ENS_EV_BREAKER
 * (on_event, log, journal) with a reason such as
 * "closed -> open after 5 consecutive failures (last ENS_ETIMEDOUT)".
 *
 * Other messages. A request of type ens_msg_breaker_info is answered by the
 * breaker itself with its state (ens_breaker_info_v). Messages that are not
 * requests (plain sends, casts) cannot fail visibly, so they do not count:
 * while closed they are forwarded to the target unchanged (ens_forward: the
 * original sender is kept); while open or half-open they are dropped and
 * reported as a DEAD_LETTER event ("circuit breaker open"), never silently.
 * System messages to the breaker itself (its own wake-ups, exit requests)
 * are handled by it.
 *
 * Targets by name. With target_name the breaker fronts whoever holds that
 * global name (ensemble/registry.h), as OTP's {global, Name} and
 * {via, ...} do, so it follows a target that is stopped and started again
 * elsewhere, at another address, by a supervisor or anyone else. It looks
 * the name up for its first request and keeps the address; after any
 * failed request (the target gone - ENS_ENOACTOR -, a timeout, an error
 * reply, poison) it looks the name up again before the next one. A request
 * already sent to an address the name has left fails with ENS_ENOACTOR and
 * counts, like an OTP call to a process that died (noproc): the breaker
 * never sends a request twice, since the old target may have taken it
 * before it ended. A name nobody holds is a failure of the request: the
 * requester gets the error reply ENS_ENOACTOR (its ens_msg_string payload
 * says "no such name: NAME") and it counts like any failure (a half-open
 * trial included), so a breaker whose target is gone opens, and its trial
 * after the reset timeout looks the name up afresh. A lookup that fails for
 * another reason (ENS_ETIMEDOUT from the admin, ENS_ESHUTDOWN, ENS_ENOMEM)
 * is the breaker's own failure: answered with that code, not counted. The
 * name need not be held when the breaker starts. Plain messages (tells)
 * go to the address the breaker has (looked up if it has none); with no
 * holder they are reported as a DEAD_LETTER ("no such name: NAME"). A tell
 * to an address the name has left is a dead letter of the core and does
 * not make the breaker look again (only failed requests do). Each lookup is
 * one short request to the admin (bounded by the system's call timeout).
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_breaker_spawn (which option is refused) and ens_breaker_info.
 */
#ifndef ENSEMBLE_CIRCUIT_BREAKER_H
#define ENSEMBLE_CIRCUIT_BREAKER_H

#include <stdint.h>

#include "actor.h"
#include "addr.h"
#include "api.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The breaker's states (ens_breaker_info_v.state). */
typedef enum ens_breaker_state {
    ENS_BREAKER_CLOSED = 0,
    ENS_BREAKER_OPEN,
    ENS_BREAKER_HALF_OPEN,
} ens_breaker_state;

/* The largest window_calls. */
#define ENS_BREAKER_MAX_WINDOW 256u

typedef struct ens_breaker_opts {
    ens_addr target;               /* the downstream actor; none when target_name is set */
    const char *target_name;       /* or its global name (see "Targets by name"); NULL
                                      when target is set; borrowed, copied at the spawn */
    uint32_t max_failures;         /* consecutive failures that open; 0: rule off */
    uint32_t failure_percent;      /* 1-100: failures in the window that open; 0: rule off */
    uint32_t window_calls;         /* completions in the ratio window, 1..ENS_BREAKER_MAX_WINDOW */
    uint32_t call_timeout_ms;      /* a slower reply is a failure (ENS_ETIMEDOUT) */
    uint32_t reset_timeout_ms;     /* open -> half-open after this long */
    uint32_t max_reset_timeout_ms; /* cap of the backoff; below reset_timeout_ms: no growth */
    uint32_t backoff_percent;      /* 100: no growth; 200: doubles after each failed trial */
    uint32_t half_open_probes;     /* trials let through while half-open, >= 1 */
} ens_breaker_opts;

/* Defaults: 5 consecutive failures, no ratio rule (50% of 20 when turned
 * on), 10 s call timeout, 60 s reset timeout without backoff, one trial. */
#define ENS_BREAKER_OPTS_INIT                                                                      \
    {                                                                                              \
        {0, 0, 0}, NULL, 5, 0, 20, 10000, 60000, 60000, 100, 1                                     \
    }

/* The payload of the ENS_EBREAKER_OPEN error reply. */
typedef struct ens_breaker_open_v {
    uint32_t retry_after_ms; /* until half-open; 0 while half-open */
} ens_breaker_open_v;

/* The reply to an ens_msg_breaker_info request (the request's value is
 * ignored; send a zeroed ens_breaker_info_v). */
typedef struct ens_breaker_info_v {
    int32_t state;                 /* ens_breaker_state */
    uint32_t consecutive_failures; /* while closed */
    uint32_t window_failures;      /* failures among the window's completions */
    uint32_t window_count;         /* completions in the window */
    uint32_t reset_timeout_ms;     /* the current reset timeout (with backoff) */
    uint32_t retry_after_ms;       /* while open: until half-open */
    uint64_t times_opened;         /* transitions to open so far */
    uint64_t rejected;             /* requests failed fast so far */
    uint64_t passed;               /* requests let through so far */
} ens_breaker_info_v;

/* The breaker's message types: built-in types (see ensemble/msg.h), known
 * in every process before any system starts. */
ENS_API extern const ens_msgtype ens_msg_breaker_open; /* "ens.BreakerOpen" */
ENS_API extern const ens_msgtype ens_msg_breaker_info; /* "ens.BreakerInfo" */

/* The breaker's actor definition ("ens.CircuitBreaker"), known to
 * ens_actor_find in every process without registration, like the message
 * types above. Its start argument is made by ens_breaker_spawn; use that. */
ENS_API extern const ens_actor_def ens_breaker_def;

/* Start a breaker with options o (borrowed; copied into the start
 * argument) and store its address in *out: a child of the calling actor,
 * or top level from the outside context (as ens_spawn). Errors: ENS_EINVAL
 * (NULL arguments; not exactly one of target and target_name, that is both
 * or neither; a target_name that is not a valid global name
 * (ens_name_valid); both failure rules off, failure_percent >
 * 100, window_calls 0 or above ENS_BREAKER_MAX_WINDOW while the ratio rule
 * is on, zero call or reset timeout, backoff_percent < 100,
 * half_open_probes 0), and the errors of ens_spawn. */
ENS_API int ens_breaker_spawn(ens_ctx *c, const ens_breaker_opts *o, ens_addr *out);

/* From the outside context: ask `breaker` for its state, waiting up to
 * timeout_ms, into *out. Inside an actor send an ens_msg_breaker_info
 * request instead (ens_request). Errors: ENS_EINVAL (NULL arguments, inside
 * an actor), ENS_EBADTYPE (the reply was not an ens_breaker_info_v: not a
 * breaker) and the errors of ens_ask. */
ENS_API int ens_breaker_info(ens_ctx *outside, ens_addr breaker, uint32_t timeout_ms,
                             ens_breaker_info_v *out);

/* "closed", "open", "half-open"; "unknown" for other values. Static. */
ENS_API const char *ens_breaker_state_name(int state);

#ifdef __cplusplus
}
#endif
#endif
