/*
 * core/process/proc_tx.h - outgoing connections of one process of the process base
 * (an actor process or the outside program): one SOCK_STREAM connection
 * per destination, asked from the admin on the first send, with a buffer
 * that coalesces every frame for that destination until the end of the loop
 * turn (one send() carries many frames: batching is where throughput comes
 * from). Internal.
 *
 * Back-pressure: while a destination's socket is full, frames wait in its
 * buffer; a bounded send finds at most `limit` frames waiting and gets
 * ENS_EFULL beyond (nothing queued), and the same when its bytes would take
 * what waits past `bytes_limit` (unless nothing waits: one frame of any
 * size fits), so a slow receiver costs its senders bounded memory whatever
 * the size of the messages. Frames for a destination that is gone
 * (the admin refuses the connection, or the peer end closes) go to the
 * admin as dead letters, whole, never silently dropped.
 */
#ifndef ENS_CORE_PROC_TX_H
#define ENS_CORE_PROC_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wire/frame.h"
#include "ensemble/addr.h"

typedef enum { ENS_TX_CONNECTING = 1, ENS_TX_OPEN, ENS_TX_DEAD } ens_tx_state;

/* A large frame sent from where it was encoded, not copied into the
 * buffer: its pieces' heads are made beside it and the socket gets both
 * (one iovec per head and per piece). It goes before what the buffer holds. */
typedef struct ens_tx_big {
    uint8_t *frame; /* owned; NULL: none */
    size_t len;     /* of the frame */
    uint8_t *heads; /* the pieces' heads, ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD each */
    size_t pieces;
    size_t chunk; /* the frame's bytes per piece */
    size_t sent;  /* bytes of the pieces (heads included) the socket took */
    size_t wire;  /* bytes of the pieces in all */
} ens_tx_big;

typedef struct ens_tx {
    ens_addr peer;
    ens_tx_state state;
    int fd;
    uint8_t *buf; /* frames not yet sent: [off, len) */
    size_t len, off, cap;
    size_t mark;     /* start of the message that holds off (of its first piece):
                        the messages before it are sent and counted; [0, mark)
                        is given back lazily */
    bool blocked;    /* the socket said EAGAIN and has taken nothing since */
    uint32_t frames; /* frames (whole or partly) in [off, len) */
    uint32_t seq;    /* sequence number of the last frame queued */
    uint32_t idle;   /* sweeps it has been empty for (ens__tx_sweep) */
    ens_tx_big big;  /* a large frame on its way, before the buffer */
    size_t chunk;    /* bytes per piece on fd (0: not sized yet, see tx_chunk) */
    void *watch;     /* the owner's writability watcher, or NULL */
    bool let_go;     /* its peer ended: closed at the next sweep if nothing of
                        what it was sent waits there unread (ens__tx_let_go) */
} ens_tx;

typedef struct ens_tx_table {
    ens_tx **tx;
    size_t n, cap;
    int ctl;        /* the control channel to the admin */
    ens_addr self;  /* sender address of control frames */
    uint32_t limit; /* frames waiting per destination before ENS_EFULL */
    /* Bytes waiting per destination (as sent, pieces included) that a
     * bounded send may not exceed; 0 = ENS_MAILBOX_BYTES_DEFAULT. */
    uint64_t bytes_limit;
    /* Called when tx has bytes the socket did not take (want = true) or
     * none left (want = false); may be NULL. */
    void (*want_write)(struct ens_tx_table *t, ens_tx *tx, bool want);
    void *owner;
    /* False only when no destination holds bytes: set by every send,
     * cleared by a walk (ens__tx_flush_all) that finds none left, so that
     * a loop turn with nothing queued costs nothing however many
     * destinations there are (a spawner with ENS_SPAWN_CONNECT has one per
     * actor it started). */
    bool maybe_bytes;
    /* The system whose count a dead letter lost to an allocation failure
     * goes to (ens__alloc_failed); may be NULL. */
    struct ens_system *sys;
} ens_tx_table;

/* Queue a frame (taken in every case) for h->target. Errors: ENS_EFULL
 * (bounded, and the destination has `limit` frames waiting, or bytes
 * waiting that this frame would take past `bytes_limit`), ENS_ENOMEM,
 * ENS_EIO (the admin is gone). */
int ens__tx_send(ens_tx_table *t, uint8_t *frame, size_t len, const ens_frame_hdr *h, bool bounded);

/* The admin answered a connection request: fd (taken) is the sending end,
 * or status < 0 (fd -1) means the peer is gone. Status 1: the admin
 * offered it unasked (ENS_SPAWN_CONNECT): kept if there is none yet. */
void ens__tx_connected(ens_tx_table *t, ens_addr peer, int status, int fd);

/* A control message was lost (ens__ctl_recv said ENS_ENOMEM): it may have
 * been the answer to a connection request, so every destination still
 * connecting asks again (a second answer is closed by ens__tx_connected).
 * A destination whose request cannot be sent gives its frames to the admin
 * as dead letters and the failure is counted (ens__alloc_failed). */
void ens__tx_ask_again(ens_tx_table *t);

/* Control frame m came without the descriptors it carried (the kernel
 * dropped them: this process is at its RLIMIT_NOFILE). An answer to a
 * connection request makes that destination dead (its frames become dead
 * letters saying why, not "no live actor"; the next sweep forgets it, so a
 * later send asks again); any other frame is logged (an actor asks for a
 * new connection's end again itself: ens.ctl.Regive; to a program that
 * never restarts it is lost, and its sender's frames become dead letters). */
void ens__tx_fds_dropped(ens_tx_table *t, const ens_msg *m);

/* Send what every open destination holds, as far as the sockets take it. */
void ens__tx_flush_all(ens_tx_table *t);

/* Send what tx holds (after a writability event). */
void ens__tx_flush(ens_tx_table *t, ens_tx *tx);

/* True when a destination holding frames waits for its connection. */
bool ens__tx_connecting(const ens_tx_table *t);

/* True when any destination still holds bytes. */
bool ens__tx_pending(const ens_tx_table *t);

/* True when the destination peer still holds bytes not yet sent (its
 * connection not made, or its socket full): the last frame queued for it
 * has not wholly left. */
bool ens__tx_holds(ens_tx_table *t, ens_addr peer);

/* True when the destination peer has a connection made (its own, or one
 * offered at a connected spawn). */
bool ens__tx_open(ens_tx_table *t, ens_addr peer);

/* True when tx holds bytes not yet sent. */
bool ens__tx_has_bytes(const ens_tx *tx);

/* Between loop turns (no ens_tx pointer held anywhere): forget destinations
 * that are dead and empty, give back the buffer of one empty for a while,
 * and close and forget an empty one whose receiver has hung up (the actor
 * ended for good; a later send connects again and learns it). Keeps an
 * actor that talks to many short-lived actors from growing without bound. */
void ens__tx_sweep(ens_tx_table *t);

/* peer ended (its parent heard it exited): the next sweep closes the
 * connection to it if this process holds nothing for it and the peer's
 * receiving end holds nothing unread (SIOCOUTQ), so that a later send on
 * a new connection cannot overtake an older frame. The admin keeps a copy
 * of every receiving end for the address's next incarnation (a
 * supervisor's child started again there): closed here, that copy is let
 * go too once the next incarnation reads its end, instead of costing the
 * admin a descriptor for as long as the sender lives. */
void ens__tx_let_go(ens_tx_table *t, ens_addr peer);

/* Flush everything, waiting up to timeout_ms (blocking poll), calling
 * pump_ctl (non-blocking) whenever the control channel is readable so the
 * admin's answers to connection requests arrive: before an actor process
 * exits. */
void ens__tx_drain(ens_tx_table *t, uint32_t timeout_ms, void (*pump_ctl)(ens_tx_table *t));

/* Give one frame (borrowed) to the admin as a dead letter for `reason`
 * (ens_name_send to a name nobody has). Errors: ENS_EIO, ENS_EBADFRAME. */
int ens__tx_dead_letter(ens_tx_table *t, const uint8_t *frame, size_t len, const char *reason);

/* Close every connection and free the table's memory (not t itself). */
void ens__tx_free(ens_tx_table *t);

#endif
