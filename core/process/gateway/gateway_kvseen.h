/*
 * core/process/gateway/gateway_kvseen.h - the newest stream sequence a
 * bucket follower passed on for each key, so that what it passes on never
 * goes back in time.
 *
 * A follower's entries come from more than one source, and none of them
 * is ordered against the others: its reads of the bucket, and the
 * entries the bucket's stream republishes, which every copy of a
 * replicated stream republishes as it applies them (a copy that was cut
 * off republishes what it missed when it catches up after the heal, long
 * after the leader republished the same entries and newer ones), and a
 * read may be served by a copy that has not caught up yet. A key's entry
 * is passed on only when its sequence is later than every entry of that
 * key passed on before: late copies and stale reads are dropped,
 * whatever order they arrive in. The table keeps every key it met
 * (removed ones too: a late copy of a put may follow a removal).
 * Internal to core/process/gateway/.
 */
#ifndef ENS_CORE_GATEWAY_KVSEEN_H
#define ENS_CORE_GATEWAY_KVSEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

typedef struct ens_gw_kv_seen ens_gw_kv_seen;

/* An empty table, or NULL (out of memory). */
ens_gw_kv_seen *ens__gw_kv_seen_new(void);

void ens__gw_kv_seen_free(ens_gw_kv_seen *t);

/* Whether the entry of key at stream sequence seq is to be passed on: 1
 * (later than every entry of key before; remembered), 0 (at or below one
 * passed on: a duplicate, a late copy or a stale read), or ENS_ENOMEM
 * (not remembered: the caller passes it on, and a later copy of it may
 * then pass too). */
int ens__gw_kv_seen_newer(ens_gw_kv_seen *t, const char *key, uint64_t seq);

/* The latest sequence of any key passed on (0: none). */
uint64_t ens__gw_kv_seen_max(const ens_gw_kv_seen *t);

/* How many keys the table holds. */
size_t ens__gw_kv_seen_count(const ens_gw_kv_seen *t);

/* Forget every key (the bucket was made anew: its sequences restart). */
void ens__gw_kv_seen_clear(ens_gw_kv_seen *t);

/* Whether a read of the bucket is as new as the stream was when it began:
 * read_max, the latest sequence the read delivered, is at least
 * stream_last, the stream's last sequence its leader reported just
 * before (a read delivers each key's last entry, so the stream's last
 * message among them). A read served by a copy still catching up is not. */
bool ens__gw_kv_read_current(uint64_t read_max, uint64_t stream_last);

/* What the stream's state, as answered, says of the bucket followed:
 * created_ns and last, the stream's creation time and last sequence in
 * the answer; known_created_ns, the creation time answered before (0:
 * none yet); seen_max, ens__gw_kv_seen_max. A stream created at another
 * time is a bucket made anew (its sequences restart: the table is
 * cleared). The same stream with a last sequence below one passed on was
 * answered by a copy that is behind: nats-server 2.9 was seen to answer a
 * stream's info, after a cut healed, from the copy that had been cut off
 * (a last sequence of 2 where 6 had been passed on), and taking that for
 * a new bucket rolled a cache back to an entry from before the cut. */
typedef enum ens_gw_kv_stream {
    ENS_GW_KV_STREAM_CURRENT, /* as new as anything passed on, or newer */
    ENS_GW_KV_STREAM_BEHIND,  /* a copy behind answered: ask again */
    ENS_GW_KV_STREAM_ANEW,    /* made anew */
} ens_gw_kv_stream;

ens_gw_kv_stream ens__gw_kv_stream_judge(int64_t created_ns, uint64_t last,
                                         int64_t known_created_ns, uint64_t seen_max);

#pragma GCC visibility pop

#endif
