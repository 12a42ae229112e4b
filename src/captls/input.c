/*
 * input.c — captls's packet source (implements input.h): libpcap or our pcapng reader
 * behind one "next packet" call, the BPF filter applied per link type for pcapng (a
 * filter compiled by libpcap for each link type met, run with pcap_offline_filter), and
 * the pre-pass that moves pcapng Decryption Secrets Blocks into a keystore. See input.h
 * for why every pcapng file goes through our reader. Classic pcap files that are regular
 * files are read a MiB at a time and parsed in place by pcapfile.c (no copy per packet),
 * falling back to libpcap for whatever pcapfile.c leaves to it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>
#include "pcapng.h"
#include "pcapfile.h"

#define MAX_FILTERS 16      /* distinct link types with a compiled filter */

typedef struct dlt_filter {
	int dlt;
	struct bpf_program prog;
} dlt_filter_t;

struct cap_input {
	pcap_t *p;                  /* libpcap input, or NULL */
	int dlt;                    /* its link type */
	pcapng_t *ng;               /* our pcapng reader, or NULL */
	uint8_t *rbuf;              /* a classic pcap file read by pcapfile.c: RBUF bytes, or NULL */
	size_t rlen;                /* bytes in rbuf */
	int fd;                     /* its file, or -1 */
	bool eof;                   /* rbuf holds the end of the file */
	pcapfile_t pf;
	char *filter;               /* pcapng: the expression, compiled per link type */
	dlt_filter_t filters[MAX_FILTERS];
	size_t n_filters;
	uint8_t warned[65536 / 8];  /* pcapng: unsupported link types already warned about */
	uint64_t skipped_linktype;  /* pcapng packets on interfaces the engine cannot decode */
	uint64_t secrets_blocks;
	volatile sig_atomic_t stop;
	char err[512];
	char *iobuf;                /* the file's stdio buffer (freed after the stream is closed) */
};

/* A file's stdio stream reads through IOBUF bytes at a time: libpcap's default buffer means
 * one read(2) per 4 KiB, which cost more CPU than decrypting at MSS-sized packets (glibc
 * ignores setvbuf's size unless it is given the buffer). */
#define IOBUF (1u << 20)
/* pcapfile.c's read block: a MiB, and always more than one record (16 + 262144). */
#define RBUF (1u << 20)

static void big_buffer(cap_input_t *in, FILE *f)
{
	if (!in->iobuf) in->iobuf = malloc(IOBUF);
	if (in->iobuf) setvbuf(f, in->iobuf, _IOFBF, IOBUF);
}

bool input_dlt_supported(int dlt)
{
	switch (dlt) {
	case TLS_DLT_NULL: case TLS_DLT_EN10MB: case 12: case 14: case TLS_DLT_RAW: case TLS_DLT_LOOP:
	case TLS_DLT_LINUX_SLL: case TLS_DLT_IPV4: case TLS_DLT_IPV6: case TLS_DLT_LINUX_SLL2:
		return true;
	default:
		return false;
	}
}

/* Compile `filter` for link type dlt (libpcap, no capture handle needed). */
static int compile_for(const char *filter, int dlt, struct bpf_program *prog, char *err, size_t errlen)
{
	pcap_t *d = pcap_open_dead(dlt, 262144);
	if (!d) {
		snprintf(err, errlen, "filter \"%s\": out of memory", filter);
		return -1;
	}
	int rc = pcap_compile(d, prog, filter, 1, PCAP_NETMASK_UNKNOWN);
	if (rc < 0) snprintf(err, errlen, "filter \"%s\": %s", filter, pcap_geterr(d));
	pcap_close(d);
	return rc < 0 ? -1 : 0;
}

static cap_input_t *open_pcapng(cap_input_t *in, const char *file, const char *filter, char *err, size_t errlen)
{
	FILE *f = fopen(file, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return NULL;
	}
	big_buffer(in, f);
	in->ng = pcapng_fopen(f, 0, false, err, errlen);
	if (!in->ng) {
		fclose(f);
		return NULL;
	}
	if (filter && *filter) {
		/* a syntax check now (usage error); the real programs per link type as met */
		struct bpf_program prog;
		if (compile_for(filter, TLS_DLT_EN10MB, &prog, err, errlen) < 0) return NULL;
		pcap_freecode(&prog);
		in->filter = strdup(filter);
		if (!in->filter) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
	}
	return in;
}

/* Fill in->rbuf after its first `keep` bytes from the file: in->rlen, in->eof. -1 on a
 * read error (in->err set). */
static int fill(cap_input_t *in, size_t keep)
{
	size_t n = keep;
	while (n < RBUF) {
		ssize_t r = read(in->fd, in->rbuf + n, RBUF - n);
		if (r < 0 && errno == EINTR) continue;
		if (r < 0) {
			snprintf(in->err, sizeof in->err, "error reading dump file: %s", strerror(errno));
			return -1;
		}
		if (r == 0) { in->eof = true; break; }
		n += (size_t)r;
	}
	in->rlen = n;
	return 0;
}

/* A regular classic pcap file that pcapfile.c reads: 1 (in->fd open). 0: leave it to
 * libpcap (not a regular file, a variant pcapfile.c does not take). -1: a bad filter (err). */
static int open_own(cap_input_t *in, const char *file, const char *filter, char *err, size_t errlen)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return 0;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(in->rbuf = malloc(RBUF))) {
		close(fd);
		return 0;
	}
	in->fd = fd;
	if (fill(in, 0) < 0 || pcapfile_open(&in->pf, in->rbuf, in->rlen, !in->eof) != 1) {
		close(fd);
		in->fd = -1;
		free(in->rbuf);
		in->rbuf = NULL;
		return 0;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	in->dlt = in->pf.dlt;
	if (filter && *filter) {           /* one link type: one program, run per packet */
		if (compile_for(filter, in->dlt, &in->filters[0].prog, err, errlen) < 0) return -1;
		in->filters[0].dlt = in->dlt;
		in->n_filters = 1;
	}
	return 1;
}

static cap_input_t *open_libpcap(cap_input_t *in, const char *file, const char *iface, const char *filter,
                                 char *err, size_t errlen)
{
	char eb[PCAP_ERRBUF_SIZE] = "";
	const char *name = file ? file : iface;
	if (file) {
		bool std_in = !strcmp(file, "-");
		FILE *fp = std_in ? stdin : fopen(file, "rb");
		if (!fp) {
			snprintf(err, errlen, "%s: %s", file, strerror(errno));
			return NULL;
		}
		big_buffer(in, fp);
		in->p = pcap_fopen_offline(fp, eb);      /* pcap_close closes fp */
		if (!in->p && !std_in) fclose(fp);
		if (!in->p) {
			/* libpcap's message usually names the file already */
			if (strstr(eb, file)) snprintf(err, errlen, "%s", eb);
			else snprintf(err, errlen, "%s: %s", file, eb[0] ? eb : "cannot open");
			return NULL;
		}
	} else {
		in->p = pcap_create(iface, eb);
		if (!in->p) {
			snprintf(err, errlen, "interface %s: %s", iface, eb);
			return NULL;
		}
		pcap_set_snaplen(in->p, 262144);
		pcap_set_promisc(in->p, 1);
		pcap_set_timeout(in->p, 200);
		pcap_set_immediate_mode(in->p, 1);   /* plaintext out as it happens, not per 200 ms block */
		pcap_set_buffer_size(in->p, 32 << 20);
		int rc = pcap_activate(in->p);
		if (rc < 0) {
			const char *why = pcap_geterr(in->p);
			if (!why || !*why) why = pcap_statustostr(rc);
			snprintf(err, errlen, "interface %s: %s", iface, why);
			return NULL;
		}
		if (rc > 0) fprintf(stderr, "captls: warning: interface %s: %s\n", iface, pcap_statustostr(rc));
	}
	in->dlt = pcap_datalink(in->p);
	if (!input_dlt_supported(in->dlt)) {
		const char *dn = pcap_datalink_val_to_name(in->dlt);
		snprintf(err, errlen, "%s: link type %d (%s) is not supported", name, in->dlt, dn ? dn : "unknown");
		return NULL;
	}
	if (filter && *filter) {
		struct bpf_program prog;
		if (pcap_compile(in->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0 || pcap_setfilter(in->p, &prog) < 0) {
			snprintf(err, errlen, "filter \"%s\": %s", filter, pcap_geterr(in->p));
			return NULL;
		}
		pcap_freecode(&prog);
	}
	return in;
}

cap_input_t *input_open(const char *file, const char *iface, const char *filter, char *err, size_t errlen)
{
	cap_input_t *in = calloc(1, sizeof *in);
	if (!in) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	in->fd = -1;
	cap_input_t *r;
	int own = 0;
	if (file && pcapng_is_pcapng(file)) r = open_pcapng(in, file, filter, err, errlen);
	else if (file && strcmp(file, "-") && (own = open_own(in, file, filter, err, errlen)) != 0)
		r = own > 0 ? in : NULL;
	else r = open_libpcap(in, file, iface, filter, err, errlen);
	if (!r) input_close(in);
	return r;
}

/* pcapng: does the packet pass the filter compiled for its link type? -1 on error. */
static int ng_filter(cap_input_t *in, const pcapng_rec_t *rec)
{
	if (!in->filter) return 1;
	dlt_filter_t *df = NULL;
	for (size_t i = 0; i < in->n_filters; i++)
		if (in->filters[i].dlt == rec->linktype) df = &in->filters[i];
	if (!df) {
		if (in->n_filters == MAX_FILTERS) {
			snprintf(in->err, sizeof in->err, "more than %d link types to filter", MAX_FILTERS);
			return -1;
		}
		df = &in->filters[in->n_filters];
		if (compile_for(in->filter, rec->linktype, &df->prog, in->err, sizeof in->err) < 0) return -1;
		df->dlt = rec->linktype;
		in->n_filters++;
	}
	struct pcap_pkthdr h;
	memset(&h, 0, sizeof h);
	h.ts.tv_sec = (time_t)rec->ts_sec;
	h.ts.tv_usec = (suseconds_t)rec->ts_usec;
	h.caplen = rec->caplen;
	h.len = rec->origlen;
	return pcap_offline_filter(&df->prog, &h, rec->data) != 0;
}

/* The next packet of a file pcapfile.c reads that passes the filter (input_next's results). */
static int own_next(cap_input_t *in, cap_pkt_t *p)
{
	for (;;) {
		if (in->stop) return -2;
		pcapfile_rec_t rec;
		int r = pcapfile_next(&in->pf, &rec);
		if (r == 2) {                  /* the record goes on past the block: move it down, read on */
			size_t keep = in->rlen - in->pf.off;
			memmove(in->rbuf, in->rbuf + in->pf.off, keep);
			if (fill(in, keep) < 0) return -1;
			pcapfile_refill(&in->pf, in->rbuf, in->rlen, !in->eof);
			continue;
		}
		if (r == 0) return -2;
		if (r < 0) {
			snprintf(in->err, sizeof in->err, "%s", in->pf.err);
			return -1;
		}
		if (in->n_filters) {
			struct pcap_pkthdr h;
			memset(&h, 0, sizeof h);
			h.ts.tv_sec = (time_t)rec.ts_sec;
			h.ts.tv_usec = (suseconds_t)rec.ts_usec;
			h.caplen = rec.caplen;
			h.len = rec.origlen;
			if (!pcap_offline_filter(&in->filters[0].prog, &h, rec.data)) continue;
		}
		p->dlt = in->dlt;
		p->data = rec.data;
		p->caplen = rec.caplen;
		p->ts = (double)rec.ts_sec + (double)rec.ts_usec / 1e6;
		return 1;
	}
}

int input_next(cap_input_t *in, cap_pkt_t *p)
{
	if (in->rbuf) return own_next(in, p);
	if (in->p) {
		struct pcap_pkthdr *h;
		const u_char *data;
		int r = pcap_next_ex(in->p, &h, &data);
		if (r == 1) {
			p->dlt = in->dlt;
			p->data = data;
			p->caplen = h->caplen;
			p->ts = (double)h->ts.tv_sec + (double)h->ts.tv_usec / 1e6;
			return 1;
		}
		if (r == 0) return 0;
		if (r == PCAP_ERROR_BREAK) return -2;
		snprintf(in->err, sizeof in->err, "%s", pcap_geterr(in->p));
		return -1;
	}
	for (;;) {
		if (in->stop) return -2;
		pcapng_rec_t rec;
		int r = pcapng_next(in->ng, &rec);
		if (r == 0) return -2;
		if (r < 0) {
			snprintf(in->err, sizeof in->err, "%s", pcapng_error(in->ng));
			return -1;
		}
		if (rec.type == PCAPNG_REC_SECRETS) {   /* loaded before the packets by input_load_secrets */
			in->secrets_blocks++;
			continue;
		}
		if (!input_dlt_supported(rec.linktype)) {
			unsigned lt = (unsigned)rec.linktype & 0xffff;
			if (!(in->warned[lt / 8] & (1u << (lt % 8)))) {
				in->warned[lt / 8] |= (uint8_t)(1u << (lt % 8));
				fprintf(stderr, "captls: warning: pcapng interface %u: link type %d is not supported; its packets are skipped\n",
				        rec.iface_seq, rec.linktype);
			}
			in->skipped_linktype++;
			continue;
		}
		int pass = ng_filter(in, &rec);
		if (pass < 0) return -1;
		if (!pass) continue;
		p->dlt = rec.linktype;
		p->data = rec.data;
		p->caplen = rec.caplen;
		p->ts = rec.ts;
		return 1;
	}
}

void input_breakloop(cap_input_t *in)
{
	if (!in) return;
	in->stop = 1;
	if (in->p) pcap_breakloop(in->p);
}

const char *input_error(cap_input_t *in)
{
	return in->err[0] ? in->err : "read error";
}

bool input_is_pcapng(const cap_input_t *in)
{
	return in->ng != NULL;
}

void input_print_stats(cap_input_t *in, FILE *f)
{
	if (in->p) {
		struct pcap_stat cs;
		if (pcap_file(in->p) == NULL && pcap_stats(in->p, &cs) == 0)
			fprintf(f, "captls: capture: %u received, %u dropped by kernel, %u dropped by interface\n",
			        cs.ps_recv, cs.ps_drop, cs.ps_ifdrop);
		return;
	}
	if (!in->ng) return;                /* a classic pcap file read by pcapfile.c: nothing to add */
	pcapng_stats_t st;
	pcapng_get_stats(in->ng, &st);
	fprintf(f, "captls: pcapng: %llu blocks, %llu sections, %llu interfaces, %llu packets, "
	        "%llu secrets blocks, %llu other blocks skipped, %llu packets of unsupported link types skipped\n",
	        (unsigned long long)st.blocks, (unsigned long long)st.sections, (unsigned long long)st.interfaces,
	        (unsigned long long)st.packets, (unsigned long long)st.secrets_blocks,
	        (unsigned long long)st.skipped_blocks, (unsigned long long)in->skipped_linktype);
}

void input_close(cap_input_t *in)
{
	if (!in) return;
	if (in->p) pcap_close(in->p);
	pcapng_free(in->ng);
	if (in->fd >= 0) close(in->fd);
	free(in->rbuf);
	for (size_t i = 0; i < in->n_filters; i++) pcap_freecode(&in->filters[i].prog);
	free(in->filter);
	free(in->iobuf);
	free(in);
}

long input_load_secrets(const char *file, tls_keystore_t **ks, size_t keylog_max,
                        uint64_t *lines, uint64_t *malformed)
{
	if (lines) *lines = 0;
	if (malformed) *malformed = 0;
	if (!pcapng_is_pcapng(file)) return 0;
	FILE *f = fopen(file, "rb");
	if (!f) return 0;
	char err[256];
	pcapng_t *ng = pcapng_fopen(f, 0, true, err, sizeof err);
	if (!ng) {
		fclose(f);
		return 0;
	}
	long n = 0;
	pcapng_rec_t rec;
	while (pcapng_next(ng, &rec) == 1) {
		if (rec.type != PCAPNG_REC_SECRETS || rec.secrets_type != PCAPNG_SECRETS_TLS) continue;
		if (!*ks && !(*ks = tls_keystore_new())) break;
		if (tls_keystore_add_keylog_feed(*ks, keylog_max, err, sizeof err) < 0) break;
		tls_keylog_feed_result_t fr;
		tls_keystore_feed_keylog(*ks, rec.data, rec.len, &fr);
		if (lines) *lines += fr.lines;
		if (malformed) *malformed += fr.malformed;
		n++;
	}
	pcapng_free(ng);        /* wipes the block buffer that held the secrets */
	return n;
}
