/*
 * record.c — TLS record framing and decryption dispatch for one direction of a flow.
 *
 * In-order TCP bytes arrive from the reassembler; complete records are cut out (a record
 * may span many segments; a segment may carry many records), validated (content type,
 * version, length <= 2^14+2048), decrypted in place once the direction is encrypted, and
 * dispatched: handshake bytes to handshake.c, application data to app_framing.c.
 * Records that need a key the key log has not provided yet are held (bounded per flow and
 * engine-wide) and replayed in order when the key appears. After a TCP gap the direction
 * resynchronises on the next plausible record header and retries nearby sequence numbers.
 * A client stream may open with an SSLv2-format ClientHello record (sslv2.h).
 */
#include <stdlib.h>
#include <string.h>
#include "engine_internal.h"
#include "sslv2.h"

#define RESYNC_SEQ_WINDOW 16     /* records that may have been lost in one gap */
#define RESYNC_MAX_TRIES 32       /* candidate record headers tried after one gap (each: up to RESYNC_SEQ_WINDOW trial decryptions) */

static bool plausible_header(const uint8_t *h, bool strict)
{
	cursor_t c = cur_init(h, 5);
	uint8_t type = cur_u8(&c);
	uint16_t ver = cur_u16(&c);
	uint16_t len = cur_u16(&c);
	if (type < CT_CCS || type > CT_HEARTBEAT) return false;
	if ((ver >> 8) != 3 || (ver & 0xff) > 4) return false;
	if (len > TLS_MAX_RECORD_LEN) return false;
	if (strict) {
		/* while resynchronising: real record versions only (SSL 3.0 .. TLS 1.2: a ClientHello's
		 * record may say 0x0300, as OpenSSL 1.0 writes it, RFC 5246 Appendix E.1), and a
		 * CCS is exactly 1 byte */
		if (ver < 0x0300 || ver > 0x0303 || len == 0) return false;
		if (type == CT_CCS) return len == 1;
		if (type != CT_APPDATA && type != CT_ALERT && type != CT_HANDSHAKE) return false;
	}
	return true;
}

/* The held queue of dir, allocated when the direction first holds a record. */
static held_queue_t *hq_get(flow_t *f, int dir)
{
	tls_dirstate_t *d = &f->t->d[dir];
	if (!d->hq && (d->hq = calloc(1, sizeof *d->hq)) != NULL) d->hq->pool = &f->eng->hold_pool;
	return d->hq;
}

/* Free dir's queue once it holds nothing: no record queued, none detached for replay
 * (a detached record keeps its chunk, or its own allocation, counted in mem). */
static void hq_put(flow_t *f, int dir)
{
	tls_dirstate_t *d = &f->t->d[dir];
	if (d->hq && !d->hq->head && !d->hq->chunks && d->hq->mem == 0) {
		free(d->hq);
		d->hq = NULL;
	}
}

void rec_drop_held(flow_t *f, int dir)
{
	held_queue_t *q = f->t->d[dir].hq;
	if (!q) return;
	size_t mem = q->mem;
	held_clear(q);
	f->eng->buffered -= mem - q->mem;
	hq_put(f, dir);
}

/* Release the first held record of dir (accounting). */
static void held_release(flow_t *f, int dir)
{
	held_queue_t *q = f->t->d[dir].hq;
	size_t mem = q->mem;
	held_pop(q);
	f->eng->buffered -= mem - q->mem;
	hq_put(f, dir);
}

/* Keep a copy of a record until key material or the other direction arrives. The memory
 * held counts against max-held-records (per flow) and max-buffer-total. Returns false
 * when a bound is hit. */
static bool hold_record_at(flow_t *f, int dir, uint8_t type, uint16_t version, const uint8_t *frag, size_t len,
                           bool plain, bool at_head)
{
	struct tls_engine *e = f->eng;
	size_t held_total = (f->t->d[0].hq ? f->t->d[0].hq->bytes : 0) + (f->t->d[1].hq ? f->t->d[1].hq->bytes : 0);
	if (held_total + len > e->cfg.max_held_records || e->buffered + len + 64 > e->cfg.max_total_buffer)
		return false;
	held_queue_t *q = hq_get(f, dir);
	if (!q) return false;
	size_t mem = q->mem;
	/* a record held again while it is replayed keeps its place in arrival order */
	uint64_t seq = at_head && f->t->replay_seq ? f->t->replay_seq : ++f->t->hold_seq;
	if (!held_push(q, at_head, plain, type, version, frag, len, f->seg_ts[dir], seq)) { hq_put(f, dir); return false; }
	e->buffered += q->mem - mem;
	return true;
}

static bool hold_record(flow_t *f, int dir, uint8_t type, uint16_t version, const uint8_t *frag, size_t len)
{
	return hold_record_at(f, dir, type, version, frag, len, false, false);
}

static void rec_dispatch(flow_t *f, int dir, uint8_t type, uint8_t *frag, size_t len);

/* Give up waiting for a key: the reason says why the session could not be decrypted. */
static void give_up_waiting(flow_t *f)
{
	tls_conn_t *c = &f->t->conn;
	rec_drop_held(f, 0);
	rec_drop_held(f, 1);
	c->waiting_keylog = false;
	c->waiting_gave_up = true;
	if (c->reason == TLS_REASON_NONE) {
		tls_reason_t r;
		if (c->resumed && !c->tls13) r = TLS_REASON_RESUMPTION_MISS;
		else if (c->cs && c->cs->kx == TLS_KX_RSA && !c->tls13) r = c->rsa_tried ? TLS_REASON_WRONG_KEY : TLS_REASON_NO_KEY;
		else r = TLS_REASON_PFS_NO_KEYLOG;
		eng_fail(f, r);
	}
	eng_report_session(f->eng, f, false);
}

/* Records are held until the key log brings a key; the engine puts the flow on its
 * wait list (with a deadline) when it sees waiting_keylog after the packet. */
static void start_waiting(flow_t *f)
{
	tls_conn_t *c = &f->t->conn;
	if (!c->waiting_keylog) { c->waiting_keylog = true; c->wait_since = f->eng->now; }
}

/* Processing a held record may hold records again (at the head or the tail): take it off
 * the queue first, release its memory after. */
static void detach_head(tls_dirstate_t *d)
{
	held_rec_t *h = d->hq->head;
	d->hq->head = h->next;
	if (!d->hq->head) d->hq->tail = NULL;
	d->hq->bytes -= h->len;
	h->next = NULL;
}

static void release_detached(flow_t *f, int dir, held_rec_t *h)
{
	held_queue_t *q = f->t->d[dir].hq;         /* still there: h keeps it (hq_put) */
	size_t mem = q->mem;
	/* put it back in front for a moment and pop it: held_pop owns the release rules */
	h->next = q->head;
	q->head = h;
	if (!q->tail) q->tail = h;
	q->bytes += h->len;
	held_pop(q);
	f->eng->buffered -= mem - q->mem;
	hq_put(f, dir);
}

/* Replay the first held record of dir if keys and the cross-direction gate allow.
 * Returns 1 when it was processed (or skipped as unreadable), 0 when it must wait, -1
 * when the direction holds nothing more (empty, broken or dropped). */
static int step_dir(flow_t *f, int dir, bool final)
{
	tls_dirstate_t *d = &f->t->d[dir];
	if (!hq_head(d) || d->broken) return -1;
	held_rec_t *h = d->hq->head;
	if (!final && (h->plain ? hs_gate_wait_plain(f, dir, h->data, h->len)
	                        : hs_gate_wait(f, dir, h->type, h->data, h->len))) { d->wait_peer = true; return 0; }
	d->wait_peer = false;
	bool plain_ccs = !h->plain && h->type == CT_CCS && (f->t->conn.tls13 || !d->encrypted || d->app_epoch < 0);
	if (!h->plain && d->encrypted && !d->cs_active && !plain_ccs) {
		if (f->t->conn.reason != TLS_REASON_NONE && !f->t->conn.waiting_keylog) { rec_drop_held(f, dir); return -1; }
		int r = hs_prove_keys(f, dir, h->type, h->version, h->data, h->len);
		if (r == 0) { start_waiting(f); return 0; }   /* still no key */
		if (r < 0) { rec_drop_held(f, dir); return -1; }
		if (r == 2) {                       /* record unreadable, skip it */
			held_release(f, dir);
			return 1;
		}
	}
	double saved = f->seg_ts[dir];
	uint64_t saved_seq = f->t->replay_seq;
	f->seg_ts[dir] = h->ts;
	f->t->replay_seq = h->seq;
	detach_head(d);
	if (h->plain) rec_dispatch(f, dir, h->type, h->data, h->len);   /* decrypted before it was held */
	else rec_process(f, dir, h->type, h->version, h->data, h->len, true);
	f->seg_ts[dir] = saved;
	f->t->replay_seq = saved_seq;
	release_detached(f, dir, h);
	return 1;
}

/* The direction whose first held record arrived first (-1: nothing held). */
static int oldest_dir(const flow_t *f)
{
	const held_rec_t *a = hq_head(&f->t->d[0]), *b = hq_head(&f->t->d[1]);
	if (!a || f->t->d[0].broken) return b && !f->t->d[1].broken ? 1 : -1;
	if (!b || f->t->d[1].broken) return 0;
	return a->seq <= b->seq ? 0 : 1;
}

/* Replay held records of both directions in the order they arrived, as far as keys and
 * the cross-direction gate allow: when the oldest must wait, the other direction goes on
 * (its records may be what the oldest waits for). A reply held with its request is thus
 * replayed in capture order, exactly as if the keys had been there all along. */
void rec_retry_held(flow_t *f, bool final)
{
	tls_conn_t *c = &f->t->conn;
	if (f->in_retry) { f->retry_again = true; return; }   /* the running replay loops again */
	f->in_retry = true;
	do {
		f->retry_again = false;
		int dir;
		while ((dir = oldest_dir(f)) >= 0) {
			if (step_dir(f, dir, false) == 1) continue;
			if (step_dir(f, 1 - dir, false) == 1) continue;
			/* at the end of the flow nothing more will come: when both directions wait for
			 * each other, the oldest record goes past the gate (then the gate rules again) */
			if (final && (step_dir(f, dir, true) == 1 || step_dir(f, 1 - dir, true) == 1)) continue;
			break;
		}
		for (dir = 0; dir < 2; dir++)
			if (!hq_head(&f->t->d[dir])) f->t->d[dir].wait_peer = false;
	} while (f->retry_again);
	f->in_retry = false;
	if (final && c->early_data_offered && !c->early_decided) hs_early_decide(f, false);
	if (!hq_head(&f->t->d[0]) && !hq_head(&f->t->d[1])) c->waiting_keylog = false;
	if (c->waiting_keylog) {
		if (final || f->eng->now - c->wait_since > f->eng->cfg.keylog_wait)
			give_up_waiting(f);
	}
}

/* After a record of `dir` was processed: if the other direction waits for this one's
 * handshake and may now go on, replay it. */
static void release_peer(flow_t *f, int dir)
{
	tls_dirstate_t *o = &f->t->d[1 - dir];
	const held_rec_t *h = hq_head(o);
	if (!o->wait_peer || !h) return;
	if (hs_gate_wait(f, 1 - dir, h->type, h->data, h->len)) return;
	rec_retry_held(f, false);
}

/* Hold a record behind others or for the other direction; when the hold bound is hit the
 * direction stops waiting for its peer and goes on in capture order. */
static void hold_or_go(flow_t *f, int dir, uint8_t type, uint16_t version, uint8_t *frag, size_t len)
{
	if (hold_record(f, dir, type, version, frag, len)) return;
	tls_dirstate_t *d = &f->t->d[dir];
	if (f->t->conn.waiting_keylog) { give_up_waiting(f); return; }
	eng_log(f->eng, 4, "flow %llu %s: hold bound reached while waiting for the other direction",
	        (unsigned long long)f->id, dir == TLS_DIR_C2S ? "c2s" : "s2c");
	while (step_dir(f, dir, true) == 1) {}     /* this direction's held records, in order */
	d->wait_peer = false;
	rec_process(f, dir, type, version, frag, len, true);
}

/* Decrypt a record after a gap: the records in between were lost, so the sequence number
 * is unknown; try the next few numbers on a copy and keep the one that authenticates. */
static int decrypt_after_gap(tls_dirstate_t *d, uint8_t *ct, uint16_t version,
                             uint8_t *frag, size_t len, uint8_t **plain, size_t *plen)
{
	/* RC4: the keystream position after the lost bytes is unknown; no record after a
	 * gap can be decrypted (and a trial would move the keystream) */
	if (d->cs.suite && tls_bulk_is_stream(d->cs.suite->bulk)) return -1;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy) return -1;
	uint64_t base = d->cs.seq;
	int rc = -1;
	for (uint64_t k = 0; k < RESYNC_SEQ_WINDOW; k++) {
		memcpy(copy, frag, len);
		uint8_t t = *ct;
		d->cs.seq = base + k;
		uint8_t *p; size_t pl;
		if (tls_cipher_decrypt(&d->cs, &t, version, copy, len, &p, &pl) == 0) {
			memcpy(frag, copy, len);
			*plain = frag + (p - copy);
			*plen = pl;
			*ct = t;
			rc = 0;
			break;
		}
	}
	if (rc != 0) d->cs.seq = base;
	tls_wipe(copy, len);
	free(copy);
	return rc;
}

void rec_process(flow_t *f, int dir, uint8_t type, uint16_t version, uint8_t *frag, size_t len, bool from_held)
{
	struct tls_engine *e = f->eng;
	tls_dirstate_t *d = &f->t->d[dir];
	tls_conn_t *c = &f->t->conn;
	d->seen_record = true;
	if (!from_held) {
		e->st.records++;
		if (hq_head(d)) {                              /* keep order behind held records */
			hold_or_go(f, dir, type, version, frag, len);
			return;
		}
		if (hs_gate_wait(f, dir, type, frag, len)) {   /* the other direction must go first */
			d->wait_peer = true;
			hold_or_go(f, dir, type, version, frag, len);
			return;
		}
	}

	/* ChangeCipherSpec is plaintext in TLS <= 1.2 (before encryption) and a no-op in TLS 1.3. */
	if (type == CT_CCS && (c->tls13 || !d->encrypted || d->app_epoch < 0)) {
		if (!c->tls13) hs_ccs(f, dir);
		return;
	}
	if (d->encrypted) {
		if (!d->cs_active) {
			if (c->reason != TLS_REASON_NONE && !c->waiting_keylog) return;
			int r = hs_prove_keys(f, dir, type, version, frag, len);
			if (r == 0) {
				if (!hold_record(f, dir, type, version, frag, len)) { give_up_waiting(f); return; }
				start_waiting(f);
				return;
			}
			if (r < 0 || r == 2) return;
		}
		uint8_t ct = type;
		uint8_t *plain = NULL;
		size_t plen = 0;
		int rc;
		rec_cipher_touch(f);                       /* this flow's handles stay open (LRU) */
		if (d->resync) {
			rc = decrypt_after_gap(d, &ct, version, frag, len, &plain, &plen);
			if (rc == 0) d->resync = false;
		} else if (d->app_epoch < 0) {
			/* 0-RTT epoch: the record may already be under the handshake key (early
			 * data rejected, or EndOfEarlyData missed): decide on a copy. */
			uint8_t *copy = malloc(len ? len : 1);
			if (!copy) return;
			memcpy(copy, frag, len);
			rc = tls_cipher_decrypt(&d->cs, &ct, version, frag, len, &plain, &plen);
			if (rc != 0) {
				memcpy(frag, copy, len);
				ct = type;
				d->cs_active = false;
				int r = hs_prove_keys(f, dir, type, version, frag, len);
				if (r == 0) {                      /* the key log may still bring the key */
					tls_wipe(copy, len);
					free(copy);
					if (!hold_record(f, dir, type, version, frag, len)) { give_up_waiting(f); return; }
					start_waiting(f);
					return;
				}
				rc = (r == 1) ? tls_cipher_decrypt(&d->cs, &ct, version, frag, len, &plain, &plen) : 1;
			}
			tls_wipe(copy, len);
			free(copy);
			if (rc == 1) return;                   /* unreadable early record: skipped */
		} else {
			rc = tls_cipher_decrypt(&d->cs, &ct, version, frag, len, &plain, &plen);
		}
		if (rc != 0) {
			e->st.records_auth_failed++;
			if (d->resync) return;                 /* keep trying on the next records */
			if (c->tls13 && ct == CT_APPDATA && d->app_epoch == 0 && c->early_data_offered && dir == TLS_DIR_C2S)
				return;                            /* rejected 0-RTT data we cannot read */
			eng_log(e, 4, "flow %llu %s: record failed authentication; direction abandoned",
			        (unsigned long long)f->id, dir == TLS_DIR_C2S ? "c2s" : "s2c");
			d->broken = true;
			if (!c->decrypted) eng_fail(f, c->hs_gap ? TLS_REASON_GAP : TLS_REASON_WRONG_KEY);
			else if (c->reason == TLS_REASON_NONE) eng_fail(f, TLS_REASON_DECRYPT_ERROR);
			eng_report_session(e, f, false);
			return;
		}
		e->st.records_decrypted++;
		type = ct;
		frag = plain;
		len = plen;
		if (type == CT_HANDSHAKE && !c->tls13 && c->ch_count && d->hlen == 0 &&
		    hs_gate_wait_plain(f, dir, frag, len)) {
			/* an encrypted renegotiation message that answers what the other direction has
			 * not shown yet: keep its plaintext, in front of what is held behind it */
			d->wait_peer = true;
			if (hold_record_at(f, dir, type, version, frag, len, true, from_held)) return;
			d->wait_peer = false;                   /* bound reached: go on in capture order */
		}
	}
	rec_dispatch(f, dir, type, frag, len);
}

/* WebSocket events of this push worth a line (each kind once per flow; counted anyway). */
static void rec_ws_log(flow_t *f, int dir)
{
	app_framing_t *a = &f->t->app;
	static const struct { uint8_t ev; int level; const char *what; } ev[] = {
		{ APP_WS_EV_OVERSIZE, 4, "WebSocket message over max-message dropped (not delivered)" },
		{ APP_WS_EV_COMPRESSED, 4, "WebSocket permessage-deflate message delivered raw (not inflated)" },
		{ APP_WS_EV_UNEXPECTED, 7, "WebSocket frame violates RFC 6455 (counted)" },
		{ APP_WS_EV_GAP, 4, "WebSocket message cut by lost bytes dropped; frames searched for again" },
	};
	for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++)
		if ((a->ws_events & ev[i].ev) && !(a->ws_logged & ev[i].ev)) {
			a->ws_logged |= ev[i].ev;
			eng_log(f->eng, ev[i].level, "flow %llu %s: %s", (unsigned long long)f->id,
			        dir == TLS_DIR_C2S ? "c2s" : "s2c", ev[i].what);
		}
	a->ws_events = 0;
}

/* A record's plaintext to the handshake or the application. */
static void rec_dispatch(flow_t *f, int dir, uint8_t type, uint8_t *frag, size_t len)
{
	struct tls_engine *e = f->eng;
	tls_dirstate_t *d = &f->t->d[dir];
	tls_conn_t *c = &f->t->conn;
	switch (type) {
	case CT_HANDSHAKE:
		hs_data(f, dir, frag, len);
		break;
	case CT_CCS:                                    /* encrypted CCS: renegotiation */
		if (!c->tls13) hs_ccs(f, dir);
		break;
	case CT_APPDATA:
		if (!d->encrypted) return;                  /* plaintext "application data" is not TLS */
		if (!c->decrypted) {
			c->decrypted = true;
			eng_report_session(e, f, false);
		}
		if (len) {
			d->bytes += len;
			e->st.plaintext_bytes += len;
			app_framing_push(&f->t->app, dir, frag, len, eng_emit_message, f);
			if (f->t->app.ws_events) rec_ws_log(f, dir);
		}
		break;
	case CT_ALERT:
	case CT_HEARTBEAT:
	default:
		break;
	}
}

/* Printable ASCII / CR / LF / TAB in the first bytes: a clear-text protocol. */
static bool looks_like_text(const uint8_t *p, size_t len)
{
	size_t n = len < 16 ? len : 16;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\r' || p[i] == '\n' || p[i] == '\t')) return false;
	return n >= 4;
}

/* Process every complete record in buf[0..len); returns bytes consumed. */
static size_t consume_records(flow_t *f, int dir, const uint8_t *buf, size_t len, bool *stop)
{
	struct tls_engine *e = f->eng;
	tls_dirstate_t *d = &f->t->d[dir];
	size_t off = 0;
	while (len - off >= 5 && !d->broken) {
		const uint8_t *h = buf + off;
		if (dir == TLS_DIR_C2S && off == 0 && !d->seen_record && !d->prefix_bytes && !f->t->conn.ch_seen &&
		    !f->t->conn.sh_seen && (h[0] & 0x80)) {
			/* the stream may open with an SSLv2-format ClientHello (sslv2.h) */
			size_t ml = 0;
			int v = sslv2_hello_frame(h, len, &ml);
			if (v == 0) break;                      /* wait for the whole record */
			if (v == 1) {
				d->seen_record = true;
				e->st.records++;
				hs_sslv2_hello(f, h + 2, ml);
				off += 2 + ml;
				continue;
			}
		}
		if (!plausible_header(h, d->resync)) {
			bool hello_seen = dir == TLS_DIR_C2S ? f->t->conn.ch_seen : f->t->conn.sh_seen;
			if (!d->seen_record && !hello_seen) {
				/* Before this direction's hello: a clear-text or binary prefix (STARTTLS,
				 * PostgreSQL's SSLRequest/'S', LDAP StartTLS) may come first. Skip it,
				 * bounded, up to the record that starts the hello. */
				size_t keep, at = starttls_find_hello(h, len - off, dir == TLS_DIR_C2S ? 1 : 2, &keep);
				bool text = off == 0 && looks_like_text(h, len - off);
				/* binary bytes are a prefix only where the stream's start was captured
				 * (else they are the middle of a session: resynchronise below) */
				bool prefix = text || d->prefix_bytes || f->tcp[dir].syn_seen;
				size_t skip = at < len - off ? at : prefix ? len - off - keep : 0;
				if (skip && d->prefix_bytes + skip <= e->cfg.max_cleartext_prefix) {
					d->prefix_bytes += (uint32_t)skip;
					e->st.cleartext_prefix_bytes += skip;
					off += skip;
					if (at < len - (off - skip)) continue;   /* at the hello */
					break;                                  /* need more bytes */
				}
				if (text || (skip && d->prefix_bytes)) {    /* a prefix beyond the bound: not TLS */
					f->not_tls = true;
					d->broken = true;
					break;
				}
			}
			if (!d->seen_record && !f->t->conn.ch_seen && !f->t->conn.sh_seen) {
				/* Binary bytes may be the middle of a record (capture began mid-session):
				 * look for a record header within one maximal record before giving up. */
				if (off < TLS_MAX_RECORD_LEN + 5) { off++; d->resync = true; continue; }
				f->not_tls = true;
				d->broken = true;
				break;
			}
			if (d->resync) { off++; continue; }
			eng_log(e, 4, "flow %llu %s: invalid TLS record header", (unsigned long long)f->id,
			        dir == TLS_DIR_C2S ? "c2s" : "s2c");
			e->st.records_oversize++;
			d->broken = true;
			if (!f->t->conn.decrypted) eng_fail(f, TLS_REASON_NOT_TLS);
			break;
		}
		cursor_t c = cur_init(h, len - off);
		uint8_t type = cur_u8(&c);
		uint16_t version = cur_u16(&c);
		size_t rl = cur_u16(&c);
		if (cur_left(&c) < rl) break;               /* incomplete: wait for more */
		if (d->resync) {
			/* After a gap: a candidate header must be followed by another plausible one
			 * (when that one is already here), which rules out most false matches before
			 * any trial decryption; and the search is bounded. */
			bool chained = cur_left(&c) < rl + 5 || plausible_header(h + 5 + rl, true);
			if (!chained || ++d->resync_tries > RESYNC_MAX_TRIES) {
				if (d->resync_tries > RESYNC_MAX_TRIES) {
					eng_log(e, 4, "flow %llu %s: no record boundary found after a gap; direction abandoned",
					        (unsigned long long)f->id, dir == TLS_DIR_C2S ? "c2s" : "s2c");
					d->broken = true;
					eng_fail(f, TLS_REASON_GAP);
					break;
				}
				off++;
				continue;
			}
			if (!d->cs_active) d->resync = false;   /* plaintext direction: boundary found */
		}
		/* Decrypt in place in the scratch buffer (the input is const capture memory). */
		memcpy(e->scratch, h + 5, rl);
		bool was_resync = d->resync && d->cs_active;
		rec_process(f, dir, type, version, e->scratch, rl, false);
		release_peer(f, dir);
		/* A header found while resynchronising that did not authenticate was a false
		 * match inside ciphertext: look again one byte further, not past its "length". */
		off += (was_resync && d->resync) ? 1 : 5 + rl;
		if (*stop) break;
	}
	return off;
}

/* Give back d's empty record buffer: to the shard's pool when it is full-size and the pool
 * has room, else to the allocator (ciphertext only: nothing to wipe). */
static void rbuf_release(struct tls_engine *e, tls_dirstate_t *d)
{
	e->buffered -= d->rcap;
	if (d->rcap == TLS_MAX_RECORD_LEN + 5 && e->n_rbuf_pool < REC_POOL_MAX)
		e->rbuf_pool[e->n_rbuf_pool++] = d->rbuf;
	else
		free(d->rbuf);
	d->rbuf = NULL;
	d->rcap = 0;
}

void rec_stream_data(flow_t *f, int dir, const uint8_t *data, size_t len)
{
	struct tls_engine *e = f->eng;
	tls_dirstate_t *d = &f->t->d[dir];
	bool stop = false;
	if (!data) {                                     /* lost bytes */
		e->st.gaps++;
		d->rlen = 0;                                  /* the partial record is lost */
		d->hlen = 0;                                  /* and so is a partial handshake message */
		if (!d->encrypted) {
			/* handshake bytes lost: the transcript (EMS, TLS 1.3) is incomplete */
			f->t->conn.hs_gap = true;
			d->hs_resync = true;
		}
		d->resync = true;
		d->resync_tries = 0;
		app_framing_gap(&f->t->app, dir);                /* the partial message is lost */
		return;
	}
	if (d->broken || len == 0) return;
	d->seen_data = true;
	if (d->rlen == 0) {
		size_t used = consume_records(f, dir, data, len, &stop);
		data += used;
		len -= used;
		if (d->broken || len == 0) return;
		if (len > TLS_MAX_RECORD_LEN + 5 && !d->resync) { d->broken = true; return; }
	}
	/* keep the partial record (bounded by the largest legal record); the buffer's whole
	 * capacity counts against max-buffer-total while the flow holds it. A direction holds
	 * one only while a record is incomplete: an empty buffer goes back to the shard's pool
	 * (REC_POOL_MAX full-size buffers, so active flows allocate nothing per packet) and an
	 * idle flow keeps none. */
	while (len) {
		size_t room = TLS_MAX_RECORD_LEN + 5 - d->rlen;
		if (!d->rbuf && e->n_rbuf_pool && e->buffered + (TLS_MAX_RECORD_LEN + 5) <= e->cfg.max_total_buffer) {
			d->rbuf = e->rbuf_pool[--e->n_rbuf_pool];
			d->rcap = TLS_MAX_RECORD_LEN + 5;
			e->buffered += d->rcap;
		}
		if (d->rcap < TLS_MAX_RECORD_LEN + 5) {
			size_t want = d->rlen + len;
			if (want > TLS_MAX_RECORD_LEN + 5) want = TLS_MAX_RECORD_LEN + 5;
			if (want > d->rcap) {
				size_t nc = d->rcap ? d->rcap : 2048;
				while (nc < want) nc *= 2;
				if (nc > TLS_MAX_RECORD_LEN + 5) nc = TLS_MAX_RECORD_LEN + 5;
				if (e->buffered + (nc - d->rcap) > e->cfg.max_total_buffer) {
					eng_log(e, 4, "flow %llu: engine buffer bound reached; direction abandoned", (unsigned long long)f->id);
					d->broken = true;
					d->rlen = 0;
					eng_fail(f, TLS_REASON_TRUNCATED);
					return;
				}
				uint8_t *nb = realloc(d->rbuf, nc);
				if (!nb) { d->broken = true; d->rlen = 0; return; }
				e->buffered += nc - d->rcap;
				d->rbuf = nb;
				d->rcap = nc;
			}
		}
		size_t take = len < room ? len : room;
		memcpy(d->rbuf + d->rlen, data, take);
		d->rlen += take;
		data += take;
		len -= take;
		size_t used = consume_records(f, dir, d->rbuf, d->rlen, &stop);
		if (used) {
			memmove(d->rbuf, d->rbuf + used, d->rlen - used);
			d->rlen -= used;
		}
		if (d->broken) { d->rlen = 0; break; }
		if (take == 0) break;
	}
	if (d->rlen == 0 && d->rbuf) rbuf_release(e, d);
}

void rec_compact(flow_t *f)
{
	struct tls_engine *e = f->eng;
	for (int i = 0; i < 2; i++) {
		tls_dirstate_t *d = &f->t->d[i];
		if (d->rbuf && d->rlen == 0) rbuf_release(e, d);
		if (d->hbuf && d->hlen == 0) { tls_wipe(d->hbuf, d->hcap); free(d->hbuf); e->buffered -= d->hcap; d->hbuf = NULL; d->hcap = 0; }
	}
}

void rec_dir_free(struct tls_engine *e, tls_dirstate_t *d)
{
	d->rlen = 0;
	if (d->rbuf) rbuf_release(e, d);
	if (d->hbuf) { tls_wipe(d->hbuf, d->hcap); free(d->hbuf); }
	e->buffered -= d->hcap;
	d->rbuf = d->hbuf = NULL;
	d->rlen = d->hlen = d->rcap = d->hcap = 0;
	tls_cipher_free(&d->cs);
	if (d->hq) {                                /* normally emptied (rec_drop_held) before */
		size_t mem = d->hq->mem;
		held_clear(d->hq);
		e->buffered -= mem - d->hq->mem;
		free(d->hq);
		d->hq = NULL;
	}
}

void rec_pool_free(struct tls_engine *e)
{
	while (e->n_rbuf_pool) free(e->rbuf_pool[--e->n_rbuf_pool]);
}

void rec_cipher_touch(flow_t *f)
{
	struct tls_engine *e = f->eng;
	dlink_t *l = &f->t->cipher_link;
	if (e->cipher_lru.tail == l) return;             /* already the most recent */
	dlist_remove(&e->cipher_lru, l);
	dlist_append(&e->cipher_lru, l);
	size_t max = e->cfg.max_open_ciphers ? e->cfg.max_open_ciphers : 1;
	while (e->cipher_lru.count > max) {
		dlink_t *v = e->cipher_lru.head;
		dlist_remove(&e->cipher_lru, v);
		flow_tls_t *t = DLIST_ENTRY(v, flow_tls_t, cipher_link);
		for (int i = 0; i < 2; i++) {
			tls_cipher_park(&t->d[i].cs);
			if (t->conn.hs) tls_cipher_park(&t->conn.hs->pend[i]);
		}
	}
}

void rec_cipher_forget(struct tls_engine *e, flow_t *f)
{
	if (f->t) dlist_remove(&e->cipher_lru, &f->t->cipher_link);
}
