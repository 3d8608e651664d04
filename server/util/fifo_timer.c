/*
 * Every ping timer has the same delay, so timers armed later always expire later: a list kept
 * in arming order is also kept in expiry order, and arming, disarming and finding the next
 * expiry are O(1) with two pointers per timer. One uv_timer serves all of them.
 */
#include "util.h"

void fifo_timer_list_init(struct fifo_timer_list *l, uint64_t delay)
{
    l->head.prev = l->head.next = &l->head;
    l->delay = delay;
}

void fifo_timer_disarm(struct fifo_timer *t)
{
    if (!t->next)
        return;
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

void fifo_timer_arm(struct fifo_timer_list *l, struct fifo_timer *t, uint64_t now)
{
    fifo_timer_disarm(t);
    t->due = now + l->delay;
    t->prev = l->head.prev;
    t->next = &l->head;
    l->head.prev->next = t;
    l->head.prev = t;
}

struct fifo_timer *fifo_timer_expired(struct fifo_timer_list *l, uint64_t now)
{
    struct fifo_timer *t = l->head.next;
    if (t == &l->head || t->due > now)
        return NULL;
    return t;
}

uint64_t fifo_timer_next_due(const struct fifo_timer_list *l)
{
    const struct fifo_timer *t = l->head.next;
    return t == &l->head ? UINT64_MAX : t->due;
}
