/*
 * core/process/gateway/gateway_status.h - the status of every member of a
 * convention (ens_status_query_convention, ensemble/status.h): each
 * gateway answers for its system on ens.<convention>.status.<node> by
 * asking its admin, as `ens status` does (ens.ctl.Status), and passing the
 * admin's ens.Status frame on unchanged. Internal to core/process/gateway/.
 *
 * Wire (little-endian): the request is exactly "ESQ1" (anything else is
 * refused); the answer is "ESA1", i32 status, then for status 0 the
 * admin's whole ens.Status frame (the asker decodes it with the checked
 * decoder), else u16 length + the reason. At most ENS_GW_STATUS_WAITING
 * requests wait for the admin at once (more: ENS_EAGAIN, "busy"); one the
 * admin does not answer within the system's call_timeout_ms gets
 * ENS_ETIMEDOUT; a snapshot larger than the connection's max_payload gets
 * ENS_EMSGSIZE.
 */
#ifndef ENS_CORE_GATEWAY_STATUS_H
#define ENS_CORE_GATEWAY_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "core/runtime/runtime.h"

#pragma GCC visibility push(hidden)

#define ENS_GW_STATUS_WAITING 8

typedef struct ens_gw_status ens_gw_status;

/* Answer status requests for system s (its gateway's address self, the
 * control channel ctl to the admin) on nc; wake_fd (borrowed) is written
 * when a request waits for the loop. 0, ENS_ENOMEM, ENS_EIO. */
int ens__gw_status_open(ens_system *s, natsConnection *nc, ens_addr self, int ctl, int wake_fd,
                        ens_gw_status **out);

/* In the gateway's loop: ask the admin for the requests that came, answer
 * those it did not answer in time. NULL-safe. */
void ens__gw_status_tick(ens_gw_status *st);

/* A frame (len bytes, header checked) for the gateway's own address: true
 * if it was the admin's answer to a status request (then it is answered
 * and the frame is taken), false otherwise. NULL st: false. */
bool ens__gw_status_frame(ens_gw_status *st, const uint8_t *frame, size_t len);

/* Stop answering and free st. NULL-safe. */
void ens__gw_status_close(ens_gw_status *st);

#pragma GCC visibility pop

#endif
