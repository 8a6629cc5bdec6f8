/*
 * core/process/gateway/gateway_journal.h - the journal across a
 * convention: each gateway answers queries of its system's failure journal
 * on NATS, and ens_journal_query_convention() (ensemble/journal.h) asks
 * every member and merges the answers. Internal to core/process/gateway/.
 *
 * Subject: ens.<convention>.journal.<node>, request/reply. The asker
 * subscribes to an inbox of its own and asks each member with the reply
 * subject <inbox>.<node>; the member answers with one or more chunks.
 *
 * Wire (little-endian, no padding; every length checked against what is
 * left, nothing trailing):
 *   request  "EJQ1", u32 actor.node, u64 actor.id, u32 kinds, i64 since_ms,
 *            i64 until_ms, u32 limit, then actor_type and msg_type as
 *            u16 length + bytes (at most ENS_GW_JOURNAL_TEXT_MAX each, no
 *            NUL). At most ENS_GW_JOURNAL_REQUEST_MAX bytes in all.
 *   chunk    "EJA1", u32 index (0, 1, ...), u8 last, i32 status, u32 rows;
 *            status 0: rows of i64 seq, i64 at_ms, u32 node, u32 kind,
 *            actor, parent, sender (u64 id, u32 node each), i32 error,
 *            i32 signal, u32 attempt, u32 incarnation, u32 msg_size, then
 *            system, host, error_name, actor_type, msg_type, reason as
 *            u16 length + bytes; status < 0 (ENS_ENOENT: no journal, or
 *            the refusal or failure): one u16 length + bytes, the reason,
 *            in a last chunk without rows.
 * A chunk is at most the connection's max_payload; a member answers at
 * most min(limit, ENS_GW_JOURNAL_ROWS_MAX) rows (limit 0: the maximum).
 */
#ifndef ENS_CORE_GATEWAY_JOURNAL_H
#define ENS_CORE_GATEWAY_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "core/runtime/runtime.h"
#include "ensemble/journal.h"

#pragma GCC visibility push(hidden)

#define ENS_GW_JOURNAL_REQUEST_MAX 1024u  /* bytes of a request, at most */
#define ENS_GW_JOURNAL_TEXT_MAX    256u   /* bytes of a filter's type name */
#define ENS_GW_JOURNAL_ROWS_MAX    10000u /* rows of one member's answer */
#define ENS_GW_JOURNAL_CELL_MAX    8192u  /* bytes of one text of a row (then cut) */
#define ENS_GW_JOURNAL_QUEUE_MAX   32     /* requests waiting in libnats (more: dropped) */

typedef struct ens_gw_journal ens_gw_journal;

/* Answer journal queries for node `node` of s on nc (borrowed; lives
 * longer than the answerer): libnats's thread of the subscription opens
 * s->journal_path read-only per request. Returns 0 (*out set), ENS_ENOMEM,
 * ENS_EIO (no subscription). */
int ens__gw_journal_open(ens_system *s, natsConnection *nc, uint32_t node, ens_gw_journal **out);

/* Stop answering (waits for a request being answered) and free j.
 * NULL-safe. */
void ens__gw_journal_close(ens_gw_journal *j);

/* Decode a request of len bytes (borrowed) into f, whose strings point
 * into names (room for two texts of ENS_GW_JOURNAL_TEXT_MAX + 1). 0, or
 * ENS_EBADFRAME with the reason in why. For the answerer and its tests. */
int ens__gw_journal_decode_request(const uint8_t *data, size_t len, ens_journal_filter *f,
                                   char names[2][ENS_GW_JOURNAL_TEXT_MAX + 1], char *why,
                                   size_t why_len);

/* Encode f as a request into buf (room for ENS_GW_JOURNAL_REQUEST_MAX).
 * Returns the length, or ENS_EINVAL (a type name too long). */
int ens__gw_journal_encode_request(const ens_journal_filter *f, uint8_t *buf, size_t len);

/* ---- shared by the askers of a convention (journal, status) ---- */

#define ENS_GW_RECORD_TEXT_MAX 128 /* bytes kept of a record's system and host */

/* A member as its record says: node (its key), system and host (one line
 * each, control characters as '?'; "" if the record has none). */
typedef struct ens_gw_conv_member {
    uint32_t node;
    char system[ENS_GW_RECORD_TEXT_MAX], host[ENS_GW_RECORD_TEXT_MAX];
} ens_gw_conv_member;

/* Connect to servers (a comma-separated list), waiting up to timeout_ms.
 * 0, ENS_EUNREACHABLE, ENS_ENOMEM; the caller destroys *opts and *nc
 * (either may be set on failure). */
int ens__gw_conv_connect(const char *servers, uint32_t timeout_ms, natsOptions **opts,
                         natsConnection **nc);

/* The members of convention in its bucket now (keys that are no node id
 * and deleted records skipped): *out (owned, free()) holds *count. 0,
 * ENS_ENOENT (no bucket), ENS_EUNREACHABLE, ENS_ENOMEM. */
int ens__gw_conv_members(natsConnection *nc, const char *convention, uint32_t timeout_ms,
                         ens_gw_conv_member **out, size_t *count);

/* A convention name an asker accepts: 1-64 bytes, no '.', '*', '>' or
 * white space (it is a part of NATS subjects). */
bool ens__gw_conv_name_ok(const char *convention);

#pragma GCC visibility pop

#endif
