/*
 * core/process/stage.h - the stage: an actor's crash-proof receive buffer. Internal.
 *
 * A memfd that the actor process and the admin both map. What an actor has
 * taken from its connections sits here, so a crash loses none of it; what it
 * has not taken stays queued in the kernel (the admin keeps a copy of every
 * receiving end). The protocol, one connection at a time:
 *
 *   look   MSG_PEEK up to ENS_STAGE_CHUNK bytes into the batch area
 *   note   the take about to happen: its connection, first sequence number
 *          and length (pend_*), written before the take
 *   take   one read removes exactly those bytes (whole frames) from the
 *          kernel; the note is cleared
 *   hand   the frame at `done` is in hand (HANDLING, hand_at = done, attempt)
 *   handle the handler runs; what it sent leaves
 *   mark   done += the frame's bytes: one aligned store marks it handled
 *   end    the batch is all handled: the area is emptied
 *
 * A crash between note and take is settled by the next incarnation (or the
 * admin): if the first noted frame is still at the head of the connection
 * the take did not happen. A crash while a frame is in hand makes the next
 * incarnation deliver it once more (attempt + 1), or return it as poison.
 * While an ens_call waits, the frame in hand may be held instead of
 * handled: copied as a record to the tail of the held area (one store of
 * held_len), then marked. Held records are delivered, each in hand and
 * marked by one store of held_done, before anything newer; a frame found
 * both in hand and held after a crash counts as held. A PoisonMessage for
 * the frame in hand is put in the poison area (one store of poison_len
 * commits it) and sent by the admin, which clears it; the next incarnation
 * finds the frame returned (poison_for) and does not return it again.
 * A frame in pieces (core/wire/frag.h) is put together in its connection's slot;
 * a piece may be taken straight into the slot (take_piece: head_only). Every
 * transition below checks the stage's invariants in debug builds
 * (ens__stage_check).
 */
#ifndef ENS_CORE_STAGE_H
#define ENS_CORE_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum ens_stage_state {
    ENS_STAGE_IDLE = 0,
    ENS_STAGE_INIT,     /* init is running */
    ENS_STAGE_HANDLING, /* the frame at `done` is being handled */
};

#define ENS_STAGE_CHUNK 65536u /* the batch area: what one look at a connection sees */
#define ENS_STAGE_SLOTS 4u     /* frames in pieces put together at once */
#define ENS_PIECE_HEAD  80u    /* a piece's frame header and its total and offset */
/* The held area's largest size (the admin gives each stage
 * mailbox_bytes_limit, at most this): frames held while an ens_call waits. */
#define ENS_STAGE_HELD_MAX ((uint64_t)256 << 20)

/* A frame in pieces (core/wire/frag.h) being put together from one connection.
 * Each connection has at most one; a connection whose next frame needs a
 * slot while all are taken waits in the kernel (see core/process/proc_actor.c). */
typedef struct ens_stage_slot {
    uint64_t conn;  /* the connection it comes from (0: the slot is free) */
    uint64_t total; /* the frame's length */
    uint64_t have;  /* bytes put together so far (a prefix: pieces come in order) */
} ens_stage_slot;

typedef struct ens_stage {
    uint32_t state;      /* enum ens_stage_state */
    uint32_t attempt;    /* attempt of the frame at `done` while HANDLING */
    uint64_t len;        /* bytes in the batch area */
    uint64_t done;       /* bytes of the batch area already handled */
    uint64_t hand_at;    /* `done` when the frame in hand was taken up: HANDLING
                            holds only while done == hand_at (advancing done, one
                            aligned store, is what marks the frame handled) */
    uint64_t sticky;     /* id of the connection the batch came from, or 0 (ids,
                            not fds: a new incarnation holds the same connections
                            under other numbers) */
    int32_t last_signal; /* set by the admin: the signal of the last crash */
    uint32_t pend_seq;   /* a take in progress: sequence number of its first frame, */
    uint64_t pend_conn;  /* the connection it comes from, */
    uint64_t pend_bytes; /* and its length (0: none in progress) */
    uint32_t hand_slot;  /* 1 + the slot whose whole frame is in hand (its last
                            piece is at `done`), 0: the frame in hand is in the
                            batch area */
    uint32_t head_only;  /* 1: the batch area holds only the head of one piece
                            (ENS_PIECE_HEAD bytes) whose bytes were taken
                            straight into its slot (core/process/proc_actor.c) */
    ens_stage_slot slot[ENS_STAGE_SLOTS];
    uint64_t handled;        /* messages handled, over all incarnations */
    uint64_t alloc_failures; /* set by the actor process: its allocation failures that
                                no caller was told of, over all incarnations (status) */
    uint64_t slot_bytes;     /* bytes of each slot's area (the frame limit) */
    uint64_t cap;            /* bytes of buf: the batch area, the slots' areas, the
                                poison area (slot_bytes), the held area (held_cap) */
    /* Frames held while an ens_call waits (core/runtime/request.c): records
     * of [8 bytes: the hand number of the frame held][the frame][padding to
     * 8] in the held area. Those in [held_done, held_len) wait to be
     * delivered, in order, before anything newer. */
    uint64_t hand_seq;  /* counts frames taken up in hand, over all incarnations: the
                           frame in hand has number hand_seq (a frame in hand once
                           more after a crash keeps its number) */
    uint32_t hand_held; /* 1: the frame in hand is the held record at held_done
                           (in hand while hand_at == held_done) */
    uint32_t spare0;
    uint64_t held_cap;  /* bytes of the held area */
    uint64_t held_len;  /* bytes of records in it (one aligned store adds one) */
    uint64_t held_done; /* bytes of them delivered (one aligned store marks one) */
    /* A PoisonMessage decided for the frame in hand: the admin sends it
     * (exactly once: it never crashes without the system) and clears
     * poison_len. poison_for is the hand number of the frame it returns. */
    uint64_t poison_len; /* bytes of the poison frame in the poison area, 0: none */
    uint64_t poison_for;
    uint8_t buf[];
} ens_stage;

/* Where slot i puts its frame together. */
static inline uint8_t *ens__stage_slot_area(ens_stage *st, unsigned i)
{
    return st->buf + ENS_STAGE_CHUNK + (size_t)i * st->slot_bytes;
}

/* Where a PoisonMessage waits for the admin. */
static inline uint8_t *ens__stage_poison_area(ens_stage *st)
{
    return st->buf + ENS_STAGE_CHUNK + (size_t)ENS_STAGE_SLOTS * st->slot_bytes;
}

/* The held area. */
static inline uint8_t *ens__stage_held_area(ens_stage *st)
{
    return ens__stage_poison_area(st) + st->slot_bytes;
}

/* True if the stage says a frame is in hand: HANDLING, and `done` (or
 * `held_done` for a held record) not yet advanced past it. */
static inline bool ens__stage_in_hand(const ens_stage *st)
{
    return st->state == ENS_STAGE_HANDLING &&
           st->hand_at == (st->hand_held ? st->held_done : st->done);
}

/* ---- mapping ------------------------------------------------------------ */

/* Map a stage with a batch area, ENS_STAGE_SLOTS slots and a poison area
 * of max_frame bytes each and a held area of held_bytes (shared, pages
 * taken only when touched). With memfd non-NULL
 * the stage lives in a memfd whose descriptor (close-on-exec, owned by the
 * caller) goes to *memfd, so that another process can map it (the zygote's
 * actors); with NULL it is anonymous. NULL on failure. */
ens_stage *ens__stage_map(uint32_t max_frame, uint64_t held_bytes, size_t *map_len, int *memfd);

/* Map the stage behind memfd fd (as made by ens__stage_map); *map_len gets
 * its length. NULL on failure (not a stage-sized memfd). */
ens_stage *ens__stage_map_fd(int fd, size_t *map_len);

/* ---- the transitions ------------------------------------------------------ */

/* Steps a test may stop a process at (ens__stage_step_hook). */
enum ens_stage_step {
    ENS_STAGE_STEP_NOTED = 1,     /* a take is noted, not done */
    ENS_STAGE_STEP_TAKEN,         /* the bytes left the kernel, the note stands */
    ENS_STAGE_STEP_CLEARED,       /* the take is over */
    ENS_STAGE_STEP_IN_HAND,       /* a frame is in hand */
    ENS_STAGE_STEP_MARKED,        /* the frame in hand is marked handled */
    ENS_STAGE_STEP_ENDED,         /* the batch area is empty */
    ENS_STAGE_STEP_HELD,          /* the frame in hand is a held record, not yet marked */
    ENS_STAGE_STEP_POISON_BEFORE, /* a poison is about to be put in the stage */
    ENS_STAGE_STEP_POISON_NOTED,  /* a poison waits in the stage for the admin */
    ENS_STAGE_STEP_POISON_SENT,   /* the admin sent it; the frame is not yet marked */
};

/* Called (when set) after each step above: tests stop a process there. */
extern void (*ens__stage_step_hook)(enum ens_stage_step step);

/* Look at connection fd: MSG_PEEK up to max bytes (at most ENS_STAGE_CHUNK)
 * into the batch area, which must be empty. Returns the bytes seen, 0 when
 * the sender hung up with nothing queued, or -errno (EAGAIN: nothing). */
ssize_t ens__stage_look(ens_stage *st, int fd, size_t max);

/* Take the first `whole` bytes looked at (whole frames, the first one's
 * sequence number at the start) from connection conn (its fd): note, one
 * read, clear. The batch area then holds them. Returns 0, or ENS_EIO when
 * the read took less (the stream is broken: the caller drops the
 * connection). */
int ens__stage_take(ens_stage *st, int fd, uint64_t conn, size_t whole);

/* Take the piece whose head (ENS_PIECE_HEAD bytes, sequence number seq,
 * flen bytes in all) is at the head of fd, and whose bytes go to offset off
 * of slot i: note (head_only), one recvmsg putting the head in the batch
 * area and the bytes in the slot, clear. The caller checked that the whole
 * piece is queued. Returns 0, or ENS_EIO as ens__stage_take. */
int ens__stage_take_piece(ens_stage *st, int fd, uint64_t conn, uint32_t seq, uint64_t flen,
                          unsigned i, uint64_t off);

/* The frame at `done` goes in hand at attempt (a new hand number unless
 * it is in hand already: once more after a crash). */
void ens__stage_hand(ens_stage *st, uint32_t attempt);

/* ---- held frames (an ens_call waits) --------------------------------------- */

/* Keep frame[0..len), the frame in hand, at the tail of the held area: the
 * record is written, then one store of held_len counts it. The frame in hand
 * is then marked as usual; a crash in between finds it both in hand and
 * held (ens__stage_held_has), and counts it held. Returns 0, or ENS_EFULL
 * (the area has no room: nothing changed). */
int ens__stage_hold(ens_stage *st, const uint8_t *frame, uint64_t len);

/* The held record at held_done: its frame and length. False if none. */
bool ens__stage_held_peek(ens_stage *st, const uint8_t **frame, uint64_t *len);

/* The held record at held_done goes in hand at attempt (a new hand number
 * unless in hand already). */
void ens__stage_hand_held(ens_stage *st, uint32_t attempt);

/* The held record in hand is handled: one store of held_done; the area
 * starts afresh once all are delivered. */
void ens__stage_mark_held(ens_stage *st);

/* True if a record of hand number seq waits in the held area. */
bool ens__stage_held_has(const ens_stage *st, uint64_t seq);

/* ---- poison (at most once, never lost) ------------------------------------ */

/* Put poison frame[0..len) for the frame in hand in the poison area; one
 * store of poison_len commits it: from then on the admin sends it (once)
 * and the frame in hand counts as returned (poison_for). Returns 0, or
 * ENS_EMSGSIZE (over the area). */
int ens__stage_poison_put(ens_stage *st, const uint8_t *frame, uint64_t len);

/* True if the frame in hand was returned as poison (committed). */
static inline bool ens__stage_poisoned(const ens_stage *st)
{
    return st->poison_for == st->hand_seq && st->hand_seq != 0;
}

/* The admin has sent the poison (the actor got its ack): a step for test hooks. */
void ens__stage_poison_sent(ens_stage *st);

/* The frame in hand is handled: it stood for `bytes` of the batch area. */
void ens__stage_mark(ens_stage *st, uint64_t bytes);

/* Skip `bytes` at `done` without handling them (a rejected frame, a piece
 * put in its slot). */
void ens__stage_skip(ens_stage *st, uint64_t bytes);

/* When the batch area is all handled, empty it. */
void ens__stage_end_batch(ens_stage *st);

/* After a crash: finish or forget a take that was in progress. fd is the
 * receiving end of st->pend_conn (-1 if gone). If the kernel still holds the
 * frames the stage copied (the first one's sequence number is at the head of
 * the connection), they are taken from the kernel now; if they were never
 * copied, nothing is done (they are still queued). A piece taken straight
 * into its slot (head_only): if it is still at the head of the connection
 * the batch area is emptied (it will be taken again), else its slot counts
 * its bytes. */
void ens__stage_settle(ens_stage *st, int fd);

/* The actor ended for good and its queue went to the dead letters: forget
 * the batch, the frame in hand and every slot. */
void ens__stage_reset(ens_stage *st);

/* ---- slots ---------------------------------------------------------------- */

/* The slot of connection conn (conn 0: a free slot), or -1. */
int ens__stage_slot_of(const ens_stage *st, uint64_t conn);

/* Give slot i to a frame of total bytes from conn. */
void ens__stage_slot_claim(ens_stage *st, int i, uint64_t conn, uint64_t total);

/* Slot i is free again. */
void ens__stage_slot_release(ens_stage *st, int i);

/* Assert the stage's invariants (debug builds; a no-op with NDEBUG):
 * done <= len <= ENS_STAGE_CHUNK, head_only only with a piece's head,
 * hand_slot names a slot, each slot's have <= total <= slot_bytes, and at
 * most one slot per connection. */
void ens__stage_check(const ens_stage *st);

#endif
