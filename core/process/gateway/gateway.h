/*
 * core/process/gateway/gateway.h - the gateway process of a system in a
 * convention (ens_convention_opts): the one process of the system that
 * talks to NATS. Internal; the admin forks it and supervises it
 * (core/process/admin/helpers.c), like the journal writer.
 *
 * To the admin the gateway is a record with a control channel and a
 * connection, like a program connected by name: a frame for an address of
 * another node is routed to it (the admin connects the sender to the
 * gateway as to any actor), and it publishes each whole frame, unchanged,
 * to that node's subject. Frames from NATS for this node are checked with
 * the wire's checked decoder (core/wire/frame.h: header, limits) and sent
 * to the local target through the gateway's own outgoing connections
 * (core/process/proc_tx.h), which it asks the admin for as an actor does:
 * to the receiver they come from a local connection, with the remote
 * sender in the header. Order per sender and receiver holds: a sender's
 * frames to one address share one connection to the gateway, one NATS
 * connection publishes them in order, the receiving gateway's one
 * subscription delivers them in order onto one connection to the target.
 *
 * Routing follows membership (gateway_members.h): a frame for a node the
 * membership follower reported left or unreachable is a dead letter at
 * once ("node gone"; a request gets ENS_ENOACTOR), until that node is
 * reported joined again. A node never reported is asked on its ping
 * subject before its first frame (gateway_nats.h).
 */
#ifndef ENS_CORE_GATEWAY_H
#define ENS_CORE_GATEWAY_H

#include <stdint.h>
#include <sys/types.h>

#include "core/runtime/runtime.h"

/* In the admin (single-threaded, no NATS code: the gateway's libnats runs
 * only in the forked child): fork the gateway of s, whose convention
 * options are set, as the admin's child that dies with it; self is its
 * address (node: this system's), caps the system's full capabilities now
 * (the admin's, as changed at run time; borrowed: the child has its copy
 * of the admin's memory), which its member record holds. Then wait up to wait_ms for it to say
 * whether it is connected and subscribed: *ready is 0, or ENS_EAGAIN when it
 * is not connected yet (it goes on trying; it logged why), or the error it
 * ended with: ENS_EAUTH when the NATS server refused its credentials or the
 * TLS handshake (why, why_len bytes, then holds NATS's reason; the gateway
 * ends). On success *pid is the gateway, *ctl the admin's end of its
 * control channel and *tx the sending end of the admin's connection to it
 * (both non-blocking, owned by the caller). Errors: ENS_EIO (no
 * socketpair), ENS_EAGAIN / ENS_ENOMEM (fork). */
int ens__gateway_start(ens_system *s, pid_t admin, ens_addr self, const char *caps,
                       uint32_t wait_ms, pid_t *pid, int *ctl, int *tx, int *ready, char *why,
                       size_t why_len);

#endif
