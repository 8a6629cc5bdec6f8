/*
 * core/runtime/endpoint.h - the outside program's endpoint, the same on every base:
 * the one ask (or status request) it may be waiting for, and the inbox of
 * everything else sent to it, for ens_listen. Internal.
 */
#ifndef ENS_CORE_ENDPOINT_H
#define ENS_CORE_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/runtime/runtime.h"

typedef struct ens_endpoint_item ens_endpoint_item;

typedef struct ens_endpoint {
    ens_endpoint_item *head, *tail; /* messages for ens_listen, oldest first */
    uint64_t ask_corr;              /* the ask waiting for its answer, or 0 */
    uint32_t ask_node;              /* the node of the actor asked (0: not an ask) */
    int ask_lost;                   /* ENS_EUNREACHABLE once that node went away, else 0 */
    ens_msg *ask_reply;             /* that answer, once here */
} ens_endpoint;

/* A frame for the outside endpoint (taken in every case): the answer to
 * the ask waiting, dropped if it answers an ask that already timed out
 * (expected, not an error); an ens.NodeDown (core/wire/msgtype.h), which
 * ends the ask waiting for an actor of that node with ENS_EUNREACHABLE;
 * else queued for ens_listen. A frame that cannot
 * be decoded is reported as a BADFRAME event. */
void ens__endpoint_accept(ens_system *s, ens_endpoint *e, uint8_t *frame, size_t len);

/* Start waiting for an answer: a new correlation id (ask_node is then set
 * by an ask). */
uint64_t ens__endpoint_expect(ens_system *s, ens_endpoint *e);

/* Stop waiting. rc is how the wait ended (0: the answer is here). Returns
 * 0 with *reply the answer (owned by the caller), or an error: rc itself,
 * ENS_EUNREACHABLE when the node asked went away first, or the error an
 * error reply carries (ENS_EPOISON leaves the
 * PoisonMessage in *reply). *reply is NULL on every other error. */
int ens__endpoint_answer(ens_endpoint *e, int rc, ens_msg **reply);

/* The oldest queued message (owned by the caller), or NULL. */
ens_msg *ens__endpoint_pop(ens_endpoint *e);

/* Free everything queued or answered. */
void ens__endpoint_clear(ens_endpoint *e);

#endif
