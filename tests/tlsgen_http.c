/*
 * tlsgen_http.c — HTTP/1.1 application messages: plans requests (GET/POST/PUT/DELETE)
 * with their responses (200/404 with Content-Length or chunked, 204/304 without body,
 * pipelined pairs) and renders them.
 *
 * Why: the engine's HTTP framing (Content-Length, chunked, bodiless responses) needs
 * every variant real peers produce, with the plaintext known byte for byte.
 */
#include "tlsgen_int.h"

#include <stdio.h>
#include <string.h>

static void http_body(httpctx_t *c, buf_t *b, const char *ctype, size_t want)
{
	size_t start = b->len;
	if (!strncmp(ctype, "application/json", 16)) {
		tg_buf_printf(b, "{\"id\":%u,\"status\":\"ok\",\"data\":\"", tg_rng_range(c->r, 1, 99999));
		size_t have = b->len - start + 3;
		tg_fill_alnum(b, c->r, want > have + 8 ? want - have : tg_rng_range(c->r, 20, 200));
		tg_buf_puts(b, "\"}\n");
	} else {
		tg_buf_puts(b, "<!DOCTYPE html>\n<html><head><title>tlsgen</title></head><body><p>");
		const char *tail = "</p></body></html>\n";
		size_t have = b->len - start + strlen(tail);
		tg_fill_words(b, c->r, want > have + 8 ? want - have : tg_rng_range(c->r, 60, 500));
		tg_buf_puts(b, tail);
	}
}

/* headers in h end with "\r\n" after the last header; append Content-Length (or
 * chunked framing) + body aiming at `target` total bytes */
static void http_finish(httpctx_t *c, buf_t *out, buf_t *h, const char *ctype, size_t target, int chunked)
{
	tg_buf_put(out, h->p, h->len);
	size_t fixed = h->len + strlen("Content-Type: \r\n") + strlen(ctype) + strlen("Content-Length: \r\n\r\n");
	size_t want = target > fixed + 8 ? target - fixed - 5 : 0;
	buf_t body = { 0 };
	http_body(c, &body, ctype, want);
	if (!chunked) {
		tg_buf_printf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", ctype, body.len);
		tg_buf_put(out, body.p, body.len);
	} else {
		tg_buf_printf(out, "Content-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n", ctype);
		size_t off = 0;
		while (off < body.len) {
			size_t n = tg_rng_range(c->r, 300, 9000);
			if (n > body.len - off) n = body.len - off;
			tg_buf_printf(out, "%zx\r\n", n);
			tg_buf_put(out, body.p + off, n);
			tg_buf_puts(out, "\r\n");
			off += n;
		}
		tg_buf_puts(out, "0\r\n\r\n");
	}
	tg_buf_free(&body);
}

void tg_http_plan(plan_t *p, rng_t *r, int n)
{
	int cc[512], sc[512];
	if (n > 512) n = 512;
	for (int d = 0; d < 2; d++) {
		int *cls = d ? sc : cc;
		for (int i = 0; i < n; i++) {
			uint32_t x = tg_rng_u(r, 100);
			cls[i] = x < 15 ? TLSGEN_TINY : x < 60 ? TLSGEN_NORMAL : x < 85 ? TLSGEN_MID : TLSGEN_BIG;
		}
		if (n >= 3) {
			int pos[512];
			for (int i = 0; i < n; i++) pos[i] = i;
			for (int i = n; i > 1; i--) { int j = (int)tg_rng_u(r, (uint32_t)i); int t = pos[i - 1]; pos[i - 1] = pos[j]; pos[j] = t; }
			cls[pos[0]] = TLSGEN_TINY; cls[pos[1]] = TLSGEN_MID; cls[pos[2]] = TLSGEN_BIG;
		}
	}
	for (int i = 0; i < n; i++) {
		int pipe = i + 1 < n && tg_rng_u(r, 4) == 0;
		int k = pipe ? 2 : 1;
		size_t q = p->n;
		for (int j = 0; j < k; j++) {
			spec_t *s = tg_plan_add(p, 0, H_REQ, 1);
			s->cls = cc[i + j];
			s->tiny_resp = sc[i + j] == TLSGEN_TINY;
			s->merge_prev = j > 0;
		}
		for (int j = 0; j < k; j++) {
			spec_t *s = tg_plan_add(p, 1, H_RESP, 1);
			s->cls = sc[i + j];
			s->req = (int)(q + (size_t)j);
			s->merge_prev = j > 0;
		}
		i += k - 1;
	}
}

void tg_http_render(plan_t *p, httpctx_t *c)
{
	rng_t *r = c->r;
	for (size_t i = 0; i < p->n; i++) {
		spec_t *s = &p->v[i];
		buf_t h = { 0 };
		if (s->type == H_REQ) {
			unsigned id = tg_rng_range(r, 1, 999);
			if (s->cls == TLSGEN_TINY) {
				/* < 100 bytes: conditional GET (-> 304) or DELETE (-> 204) or plain GET */
				if (s->tiny_resp && tg_rng_u(r, 2)) {
					strcpy(s->method, "DELETE");
					tg_buf_printf(&s->data, "DELETE /i/%u HTTP/1.1\r\nHost: %s\r\n\r\n", id, c->host);
				} else if (s->tiny_resp) {
					strcpy(s->method, "GET");
					tg_buf_printf(&s->data, "GET /s/%u.css HTTP/1.1\r\nHost: %s\r\nIf-None-Match: \"%08x\"\r\n\r\n",
					              id, c->host, (unsigned)tg_rng_next(r));
				} else {
					strcpy(s->method, "GET");
					tg_buf_printf(&s->data, "GET /i/%u HTTP/1.1\r\nHost: %s\r\n\r\n", id, c->host);
				}
			} else if (s->cls == TLSGEN_NORMAL && tg_rng_u(r, 3) != 0) {
				strcpy(s->method, "GET");
				tg_buf_printf(&s->data, "GET /api/v1/items/%u?expand=%s HTTP/1.1\r\nHost: %s\r\n"
				              "User-Agent: tlsgen/1.0 (test capture generator)\r\nAccept: application/json, text/html;q=0.9, */*;q=0.8\r\n"
				              "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: identity\r\n%s"
				              "Cookie: sid=%016llx; pref=compact\r\nConnection: keep-alive\r\n\r\n",
				              id, tg_words[tg_rng_u(r, 10)], c->host,
				              s->tiny_resp ? "If-None-Match: \"5f3c9a01\"\r\n" : "",
				              (unsigned long long)tg_rng_next(r));
			} else {
				strcpy(s->method, s->tiny_resp ? "PUT" : (tg_rng_u(r, 2) ? "POST" : "PUT"));
				tg_buf_printf(&h, "%s /api/v1/items/%u HTTP/1.1\r\nHost: %s\r\nUser-Agent: tlsgen/1.0\r\n"
				              "Accept: application/json\r\nConnection: keep-alive\r\n", s->method, id, c->host);
				http_finish(c, &s->data, &h, "application/json", tg_class_target(r, s->cls), 0);
			}
		} else {
			const spec_t *rq = &p->v[s->req];
			if (s->cls == TLSGEN_TINY) {
				if (!strcmp(rq->method, "GET"))
					tg_buf_printf(&s->data, "HTTP/1.1 304 Not Modified\r\nETag: \"%08x\"\r\n\r\n", (unsigned)tg_rng_next(r));
				else
					tg_buf_puts(&s->data, "HTTP/1.1 204 No Content\r\nServer: tlsgen\r\n\r\n");
			} else {
				int notfound = s->cls == TLSGEN_NORMAL && tg_rng_u(r, 5) == 0;
				int chunked = !notfound && ((!c->chunked_done && s->cls >= TLSGEN_MID) || tg_rng_u(r, 4) == 0);
				if (chunked) c->chunked_done = 1;
				s->chunked = chunked;
				tg_buf_printf(&h, "HTTP/1.1 %s\r\nDate: Tue, 14 Nov 2023 22:13:%02u GMT\r\nServer: tlsgen/1.0\r\n"
				              "Cache-Control: no-cache\r\nConnection: keep-alive\r\n",
				              notfound ? "404 Not Found" : "200 OK", tg_rng_u(r, 60));
				http_finish(c, &s->data, &h, tg_rng_u(r, 2) ? "text/html; charset=utf-8" : "application/json",
				            tg_class_target(r, s->cls), chunked);
			}
		}
		tg_buf_free(&h);
	}
}
