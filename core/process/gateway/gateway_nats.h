/*
 * core/process/gateway/gateway_nats.h - the gateway's one NATS connection
 * (libnats): connecting with the convention's options, the subscriptions of
 * this system's node, publishing frames to another node, and asking whether
 * a node is there. Internal to core/process/gateway/.
 *
 * libnats runs threads of its own inside the gateway process: the
 * subscription callbacks copy each inbound NATS message into a queue and
 * wake the gateway's loop through an eventfd; everything else is called
 * from the loop's one thread.
 */
#ifndef ENS_CORE_GATEWAY_NATS_H
#define ENS_CORE_GATEWAY_NATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "core/runtime/runtime.h"

#pragma GCC visibility push(hidden)

/* Bytes of inbound NATS messages the queue holds before it drops (counted,
 * logged): the gateway's loop hands them to local connections far faster
 * than that fills unless a local receiver stops reading. */
#define ENS_GW_INBOUND_MAX ((size_t)64 << 20)

/* Bytes published while the connection is down (reconnecting) that
 * libnats keeps to send once connected again; past it a publish fails
 * (ens__gw_nats_publish: the frames become dead letters). */
#ifndef ENS_GW_RECONNECT_BUF
#define ENS_GW_RECONNECT_BUF (8 << 20)
#endif

/* One inbound NATS message (its data is a frame, or garbage). */
typedef struct ens_gw_in {
    struct ens_gw_in *next;
    uint32_t from; /* the publishing node its subject names (0: none readable) */
    size_t len;
    uint8_t data[];
} ens_gw_in;

typedef struct ens_gw_nats ens_gw_nats;

/* The silence after which a member is unreachable for a system with
 * convention options c: c's down_after_ms, or its default (the larger of
 * ENS_CONVENTION_DOWN_AFTER_MS and 4 heartbeats). */
uint32_t ens__gw_down_after_ms(const ens_convention_opts *c);

/* Connect to the convention of s (its options, validated at start) as node
 * `node`, subscribe to its node subject and its ping subject, and wait up to
 * wait_ms for the server to have both. wake_fd (an eventfd, borrowed) is
 * written when inbound messages wait. Returns 0 (connected and subscribed),
 * ENS_EAGAIN (not connected yet: libnats keeps trying, the subscriptions
 * take effect once it connects; *g is set), ENS_EAUTH (a server answered
 * and refused the credentials or the TLS handshake: *g NULL, why has NATS's
 * reason), or ENS_EINVAL / ENS_ENOMEM / ENS_EIO (the options could not be
 * used: *g NULL); why gets a reason. */
int ens__gw_nats_open(ens_system *s, uint32_t node, int wake_fd, uint32_t wait_ms, ens_gw_nats **g,
                      char *why, size_t why_len);

/* The inbound messages waiting, oldest first (owned by the caller: free
 * each), or NULL. Also clears the eventfd. */
ens_gw_in *ens__gw_nats_take(ens_gw_nats *g);

/* Inbound messages dropped so far at ENS_GW_INBOUND_MAX. */
uint64_t ens__gw_nats_dropped(ens_gw_nats *g);

/* Whether a system of the convention has node `node`: 1 (it answered, once
 * known it stays known), 0 (nobody subscribes to it: *why says so), or a
 * negative error with *why (the connection is down, no answer within
 * wait_ms). Blocks the caller up to wait_ms for a node not known yet. */
int ens__gw_nats_node_known(ens_gw_nats *g, uint32_t node, uint32_t wait_ms, const char **why);

/* Publish frame[0..len) (borrowed) to node's subject (which names this
 * system's node as the publisher). 0, or an error with
 * *why: ENS_EMSGSIZE (larger than the server's max_payload), ENS_EIO (the
 * connection is closed, the reconnect buffer is full, or libnats refused
 * it otherwise). */
int ens__gw_nats_publish(ens_gw_nats *g, uint32_t node, const uint8_t *frame, size_t len,
                         const char **why);

/* The NATS connection itself (borrowed: g keeps it), for the names half
 * (gateway_names.c), which speaks JetStream on it, and the members bucket
 * (gateway_members.h); libnats's connections may be used from any thread. */
typedef struct __natsConnection natsConnection;
natsConnection *ens__gw_nats_conn(ens_gw_nats *g);

/* The largest NATS message the server takes (its max_payload; 1 MiB
 * until the server has said). */
size_t ens__gw_nats_max_payload(ens_gw_nats *g);

/* Push out what was published, waiting up to wait_ms, and close. */
void ens__gw_nats_close(ens_gw_nats *g, uint32_t wait_ms);

#pragma GCC visibility pop

#endif
