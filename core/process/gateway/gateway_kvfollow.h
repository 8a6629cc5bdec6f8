/*
 * core/process/gateway/gateway_kvfollow.h - following a JetStream
 * key-value bucket without libnats's watch (kvStore_Watch), for the
 * gateway's bucket followers (gateway_members.c, gateway_names.c).
 *
 * A follower subscribes (a plain NATS subscription) to subjects on which
 * every change of the bucket arrives as a message (KV-Operation header
 * "DEL" or "PURGE" for a removal), then reads each key's last entry once:
 * the subscription is in place at the server before the read, so nothing
 * falls between the two, and the follower drops what both delivered by
 * comparing stream sequences where it needs to. kvStore_Watch is not used:
 * its ordered consumer, when libnats 3.4.1 recreates it under load,
 * crashed the gateway (SIGSEGV in a libnats thread). libnats sends a plain
 * subscription again to the server after a reconnect by itself; what was
 * published while the connection was down is not delivered.
 * Internal to core/process/gateway/.
 */
#ifndef ENS_CORE_GATEWAY_KVFOLLOW_H
#define ENS_CORE_GATEWAY_KVFOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>

#pragma GCC visibility push(hidden)

/* One entry of a bucket: its key's last value, or its removal. */
typedef struct {
    const char *key;
    bool put;         /* false: deleted or purged (the marker) */
    const void *data; /* the value (put), len bytes, not NUL-terminated */
    int len;
    uint64_t seq;    /* its stream sequence (the key's revision); 0: unknown */
    int64_t time_ns; /* when the server stored it (Unix ns); 0: unknown */
    uint32_t purged; /* a removal's ENS_KV_PURGED_HEADER: the node judged lost; else 0 */
} ens_gw_kv_entry;

/* The header a removal carries when a member wrote it because the holder's
 * node was judged lost (its value: that node id): such a holder, alive
 * after all, claims its names again. An operator's removal has none. */
#define ENS_KV_PURGED_HEADER "Ens-Purged-Node"

typedef void (*ens_gw_kv_entry_cb)(void *arg, const ens_gw_kv_entry *e);

/* Subscribe to subject (a synchronous subscription without pending
 * limits) and make sure the server has it before returning. NATS_OK, or
 * the NATS status of the subscription or the flush (*out is then NULL). */
natsStatus ens__gw_kv_subscribe(natsConnection *nc, const char *subject, int64_t wait_ms,
                                natsSubscription **out);

/* Read the last entry of every key bucket holds now (markers of removed
 * keys included) through js, in one pass of a consumer made for it and
 * removed after, calling cb for each. Entries written while it reads may
 * come too (each with its later seq). NATS_OK, or the NATS status of the
 * stream's info (asked first: no consumer is made while the stream has
 * no leader) or of the consumer's creation (nothing called then), of its
 * info, of a wait for an entry longer than wait_ms (NATS_TIMEOUT), or
 * NATS_SLOW_CONSUMER (entries were dropped): cb may then have been called
 * for some keys, not all. */
natsStatus ens__gw_kv_read(jsCtx *js, const char *bucket, int64_t wait_ms, ens_gw_kv_entry_cb cb,
                           void *arg);

/* msg, received on the follower's subscription, as an entry: its key is
 * what follows prefix in its subject; seq from its Nats-Sequence header
 * (set on a message the stream republished), else 0. false when the
 * subject does not start with prefix or has no key after it. */
bool ens__gw_kv_entry_of(natsMsg *msg, const char *prefix, ens_gw_kv_entry *e);

#pragma GCC visibility pop

#endif
