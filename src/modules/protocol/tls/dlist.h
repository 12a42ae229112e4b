/*
 * dlist.h — intrusive doubly-linked lists with O(1) insertion and removal.
 *
 * Why: the engine's timers (key-log waits, reset linger) must cost O(1) per event no
 * matter how many flows wait; a node embedded in the flow makes removal a pointer swap
 * instead of a list scan. Lists are appended in engine-time order, so the head is always
 * the earliest deadline.
 */
#ifndef PTLS_DLIST_H
#define PTLS_DLIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dlink { struct dlink *prev, *next; } dlink_t;
typedef struct dlist { dlink_t *head, *tail; size_t count; } dlist_t;

static inline bool dlink_linked(const dlink_t *l) { return l->prev || l->next; }

/* Append n (must not be on a list) at the tail. */
static inline void dlist_append(dlist_t *L, dlink_t *n)
{
	n->next = NULL;
	n->prev = L->tail;
	if (L->tail) L->tail->next = n; else L->head = n;
	L->tail = n;
	L->count++;
}

/* n is on L, given that it is on L or on no list (a node alone on L has prev == next ==
 * NULL and is the head). */
static inline bool dlist_has(const dlist_t *L, const dlink_t *n) { return dlink_linked(n) || L->head == n; }

/* Remove n from L if it is on it. */
static inline void dlist_remove(dlist_t *L, dlink_t *n)
{
	if (!dlist_has(L, n)) return;
	if (n->prev) n->prev->next = n->next; else L->head = n->next;
	if (n->next) n->next->prev = n->prev; else L->tail = n->prev;
	n->prev = n->next = NULL;
	L->count--;
}

#define DLIST_ENTRY(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
