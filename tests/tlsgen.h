/*
 * tlsgen.h — test capture generator: real TLS traffic made by OpenSSL libssl, as pcap.
 *
 * Why: the decryption engine must be tested against TLS bytes it did not produce itself.
 * tlsgen runs an OpenSSL client and server in one process over memory BIOs, exchanges
 * realistic SIP or HTTP messages, records the exact plaintext each side passed to
 * SSL_write, and writes every byte the two SSL objects produced as the payload of a
 * synthetic but fully consistent TCP connection (3-way handshake, MSS-sized segments,
 * ACKs, FIN exchange) in a classic pcap. Optional mangling (split, coalesce, reorder,
 * duplicate, drop) changes only the segmentation/packet order, never the TCP byte stream;
 * the capture conditions (ACK before data, late segments, replies before requests, stray
 * RST/SYN, time-stamp outliers and clock steps) change only packet order and time stamps
 * or add packets that are not part of the peers' streams, and each checks that it did
 * something. TLS-level variants: renegotiation, rejected 0-RTT, psk_ke resumption.
 * No TLS record is built here: all TLS bytes come from libssl.
 *
 * What a capture contains (tests may rely on this):
 *   - per connection exactly n_messages application messages per direction (0..500),
 *     listed in tlsgen_conn_t.msgs in write order; plain[d] is their concatenation;
 *   - SIP: a dialog-consistent mix of INVITE(SDP) / 100 or 180 / 200 OK(SDP) / ACK,
 *     OPTIONS, MESSAGE, REGISTER, server-initiated NOTIFY, BYE, with Content-Length
 *     always equal to the body length, plus RFC 5626 keep-alives: the client writes
 *     "\r\n\r\n" alone, the server answers "\r\n" (msg.keepalive set);
 *   - HTTP/1.1: GET/POST/PUT/DELETE with Content-Length bodies; 200/404 responses with
 *     Content-Length or Transfer-Encoding: chunked (>= 1 chunked response per connection
 *     when n_messages >= 3), 204 / 304 without body; pipelined pairs;
 *   - size classes (tlsgen_msg_t.size_class): with n_messages >= 3 every connection has
 *     tiny (< 100), mid (2-5 KB) and big (20-40 KB) messages; per direction for HTTP,
 *     and for SIP when n_messages >= 5 (SIP tiny messages are the keep-alives);
 *   - several messages may share one flush (one TCP write, several records), and with
 *     split_writes one message may be written with two SSL_write calls, so message and
 *     record boundaries do not coincide;
 *   - OpenSSL's own record behaviour is kept: e.g. TLS 1.0 CBC inserts empty-fragment
 *     records before application data; TLS 1.3 sends two NewSessionTickets (unless
 *     no_tickets) and uses middlebox-compatibility ChangeCipherSpec records.
 * The plaintext, ports and ISNs depend only on the options (seed included); the TLS bytes
 * change every run (randoms, ephemeral keys), and so may the packet count.
 */
#ifndef TESTS_TLSGEN_H
#define TESTS_TLSGEN_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

enum { TLSGEN_APP_SIP = 1, TLSGEN_APP_HTTP = 2,
       /* SIP over WebSocket (RFC 7118) framed by tlsgen itself (RFC 6455), inside the real
        * TLS: an HTTP/1.1 upgrade (GET + 101, Sec-WebSocket-Protocol: sip), then the SIP
        * dialog of TLSGEN_APP_SIP (plus one client MESSAGE of ~70 KB in the middle: a 64-bit length), one SIP
        * message per WebSocket message; client frames masked (random keys); about a third
        * of the messages fragmented (2..4 frames), control frames (ping/pong) between some
        * fragments; the SIP keep-alives become ping / pong frames; a close frame from each
        * side at the end. tlsgen_msg_t.ws says what each write is. Default port 443. */
       TLSGEN_APP_WS_SIP = 3 };

typedef struct tlsgen_opts {
	int tls_version;          /* 0x0301 (TLS1.0) .. 0x0304 (TLS1.3); both peers pinned to it (min=max) */
	const char *cipher;       /* TLS<=1.2: OpenSSL cipher string e.g. "AES128-GCM-SHA256"; TLS1.3: ciphersuites string e.g. "TLS_AES_128_GCM_SHA256"; NULL: OpenSSL default */
	int ems;                  /* 1: extended master secret (OpenSSL default), 0: disabled (SSL_OP_NO_EXTENDED_MASTER_SECRET) */
	int etm;                  /* 1: encrypt-then-MAC allowed (default), 0: disabled (SSL_OP_NO_ENCRYPT_THEN_MAC) */
	const char *key_file, *cert_file; /* server key (PEM or DER, PKCS#1/SEC1/PKCS#8, see key_password) + cert PEM */
	const char *groups;       /* optional SSL_CTX_set1_groups_list, e.g. "X25519", "P-256" */
	int app;                  /* TLSGEN_APP_SIP or TLSGEN_APP_HTTP */
	int n_messages;           /* per direction per connection (default 6, at most 500) */
	unsigned seed;            /* drives message sizes, ports, ISNs and mangling deterministically */
	int ipv6;                 /* 0: 10.0.0.1 -> 10.0.0.2, 1: fd00::1 -> fd00::2 */
	uint16_t server_port;     /* default 5061 (SIP) / 443 (HTTP); 0 = that default */
	int mss;                  /* default 1460 */
	int split;                /* >0: cut every TCP payload into segments of at most this many bytes */
	int coalesce;             /* 1: merge consecutive same-direction segments (up to 64 KiB) */
	int reorder;              /* 1: swap some adjacent same-direction data segments (deterministic from seed) */
	int duplicate;            /* 1: retransmit some data segments (exact and overlapping partial retransmits) */
	int connections;          /* TCP connections in the capture (default 1), distinct client ports */
	int client_hosts;         /* >1: connection k comes from client address k % client_hosts */
	int resume;               /* for connections 2..n: 0 none, 1 session-id resumption, 2 session-ticket resumption
	                             (1: server session cache + SSL_OP_NO_TICKET, which at TLS 1.3 means OpenSSL's
	                             stateful single-use tickets; 2: tickets, server cache off). TLS<=1.2 reuses
	                             connection 1's session; TLS 1.3 the newest ticket of the previous connection */
	const char *keylog_file;  /* if set, append NSS key log lines (SSL_CTX_set_keylog_callback) of every connection */
	int linktype;             /* pcap DLT: 1 Ethernet (default), 101 raw IP, 113 Linux SLL, 276 Linux SLL2, 0 BSD loopback(NULL) */
	int vlan;                 /* Ethernet only: add an 802.1Q tag (VLAN id 100) */
	uint32_t isn_near_wrap;   /* 1: pick ISNs a few KB below 2^32 so sequence numbers wrap */
	int key_update;           /* TLS1.3: client and server send KeyUpdate mid-stream (SSL_key_update): the client one
	                             requests an update (the server answers with its own), later the server sends one more */
	int hrr;                  /* TLS1.3: force HelloRetryRequest (client offers a key_share group the server does not prefer):
	                             client groups "X:G", server groups "G" (G = groups or "P-256", X another group) */
	int no_tickets;           /* disable NewSessionTicket (SSL_OP_NO_TICKET / num_tickets 0) */
	double start_ts;          /* first packet timestamp (default 1700000000.0) */
	/* --- additions --- */
	const char *key_password; /* password of an encrypted key_file (NULL: none) */
	const char *sni;          /* ClientHello server_name; NULL: "sip.example.com"/"www.example.com" by app; "": no SNI */
	int split_writes;         /* 1 (default): sometimes deliver one message with two SSL_write calls
	                             (message boundaries then do not coincide with record boundaries) */
	int drop;                 /* lossy capture: drop one data segment per direction, starting between
	                             50 % and 75 % of that direction's bytes (the plaintext recorded is
	                             what was SENT; the capture lacks those bytes) */
	int early_data;           /* TLS 1.3 with resume=2: connections 2..n send their first client
	                             message as 0-RTT early data (SSL_write_early_data) */
	const char *static_ecdhe_key; /* EC P-256/P-384 or X25519 private key file: the server's (EC)DHE
	                             share is computed with this key ("static ephemeral"), TLS 1.2 ECDHE
	                             and TLS 1.3; the server's groups are pinned to the key's group */
	/* --- capture conditions (issue 9). All of these change only the order and the time
	 * stamps of captured packets, or inject packets that are not part of the peers' TCP
	 * byte streams; the bytes the peers sent are never changed. Each one checks itself:
	 * if a requested mangling finds nothing to act on, tlsgen_run fails (-1), so a
	 * broken generator makes a test fail instead of passing vacuously. The counts of
	 * what was done are in tlsgen_conn_t / tlsgen_result_t. --- */
	int ack_before_data;      /* some pure ACKs (deterministic from seed, at least one per direction
	                             where possible, >= 1 in all) are captured just before the data
	                             segment they acknowledge (tlsgen_conn_t.n_ack_first) */
	int late_segment;         /* late segments: where the capture has [D, ACK(D), D2] (D2 the next
	                             segment of D's direction, ACK(D) the peer's pure ACK covering D) the
	                             order becomes [D2, ACK(D), D]: the late segment is captured after the
	                             peer acknowledged it. The receiver then ACKs every 2nd segment and
	                             the end of every write (more candidates). At least 3 per direction
	                             (fewer only if the capture has fewer candidates, never 0), at least
	                             one per direction in application data, and (with n_messages >= 3)
	                             at least one where D ends an application write (a whole message or
	                             its end is late). Counts: tlsgen_conn_t.n_late[dir] */
	int reply_first;          /* 1..4: the first data segment F of a flight (a run of one direction's
	                             data answering the other direction) is captured k (1..N, from seed)
	                             packets earlier, before the last data segment A of the flight it
	                             answers (never before the TCP handshake or before earlier data of
	                             F's own direction). Every handshake flight is moved (so ServerHello
	                             precedes ClientHello; at TLS <= 1.2 the server's CCS+Finished precedes
	                             the client's ClientKeyExchange flight), and about half of the
	                             application flights, at least one server reply. Count:
	                             tlsgen_conn_t.n_reply_first; hs flights moved: n_reply_first_hs */
	int stray_rst;            /* inject one RST|ACK on the connection's 5-tuple mid-session (in the
	                             application data, from a seed-chosen side). Without stray_in_window
	                             its sequence number is 2^30 beyond the sender's next expected one */
	int stray_syn;            /* inject one SYN from the client's side, mid-session (same rules) */
	int stray_in_window;      /* the injected RST/SYN carries exactly the sender's next expected
	                             sequence number and more data of that sender follows (a real stack
	                             would have dropped the connection; a passive engine must not end
	                             or split the flow). The true end (FIN exchange) is kept.
	                             Counts: tlsgen_conn_t.n_stray, stray_packet[] (pcap indexes) */
	int ts_outlier;           /* two unrelated frames in the middle of the capture (in the middle
	                             connection, at ~40 % and ~60 % of its packets): a TCP pure ACK
	                             192.0.2.7:40001 -> 198.51.100.9:8080 stamped +10 years (3650 days), and
	                             a UDP datagram 192.0.2.8:5353 -> 198.51.100.9:9 stamped -1 day, both
	                             relative to the capture clock there; the clock of the following
	                             packets is unaffected. tlsgen_result_t.n_ts_outliers */
	int ts_step;              /* the capture clock steps back by 1 hour in the middle of the middle
	                             connection: every later packet is stamped 3600 s earlier than it
	                             would be (tlsgen_result_t.ts_steps) */
	int renegotiate;          /* TLS <= 1.2: the client calls SSL_renegotiate this many times mid-stream
	                             (full handshakes, secure renegotiation RFC 5746), spread over the
	                             message plan with application data between (if there are fewer
	                             write points than renegotiations, several follow each other).
	                             tlsgen_conn_t.renegotiations counts the completed ones; fewer than
	                             requested is an error */
	int early_data_reject;    /* with early_data (TLS 1.3, resume=2, connections >= 2): the server of
	                             connections 2..n refuses the 0-RTT data. 1: the PSK is accepted
	                             (resumed) but early data is rejected (allow_early_data_cb returns 0,
	                             no early_data in EncryptedExtensions); 2: the server ignores the
	                             ticket (full handshake, no pre_shared_key in ServerHello). The early
	                             records are in the capture; the server never read them. The client
	                             then sends the same bytes again as ordinary application data after
	                             the handshake, as an application must. See tlsgen_conn_t.early_* */
	int psk_ke_only;          /* TLS 1.3 resumption with psk_ke (no (EC)DHE): SSL_OP_ALLOW_NO_DHE_KEX on
	                             both peers, and for connections 2..n the server's groups are set to one
	                             the client does not offer (P-521; the client offers only its first
	                             connection's groups), so OpenSSL resumes with psk_ke. Requires
	                             resume=2 (tickets); a resumed connection without psk_ke is an error */
	int psk_ke;               /* TLS 1.3 resumption without (EC)DHE (psk_ke): both peers allow it and the resuming
	                             client offers only ffdhe2048, which a server pinned by static_ecdhe_key or groups lacks */
	const char *starttls;     /* clear-text exchange before the TLS handshake, as the application protocol
	                             does it: "smtp" (greeting, EHLO, 250 lines, STARTTLS, 220), "imap", "pop3",
	                             "xmpp", "ftp" (AUTH TLS), "postgres" (SSLRequest, 'S'), "ldap" (StartTLS
	                             extended request/response, BER); NULL: none. The prefix bytes are in
	                             tls[d] (the TCP streams) before the records; they are not messages */
	void (*keylog_line)(void *user, const char *line); /* if set, called with every NSS key log line as
	                             OpenSSL's keylog callback gives it (no newline), while the peers run:
	                             e.g. to send it by UDP as Kamailio's keylog_peer does */
	void *keylog_user;
} tlsgen_opts_t;

/* Size classes of generated messages (tlsgen_msg_t.size_class). */
enum { TLSGEN_TINY = 0,      /* < 100 bytes */
       TLSGEN_NORMAL = 1,    /* natural size, 100 .. ~1400 bytes */
       TLSGEN_MID = 2,       /* 2 .. 5 KB (> MSS) */
       TLSGEN_BIG = 3 };     /* 20 .. 40 KB (> 16 KiB, several TLS records) */

typedef struct tlsgen_msg {
	int dir;                  /* 0 c2s, 1 s2c */
	uint8_t *data; size_t len;
	/* --- additions --- */
	size_t offset;            /* offset of this message in plain[dir] */
	int size_class;           /* TLSGEN_TINY .. TLSGEN_BIG */
	bool keepalive;           /* SIP CRLF keep-alive ("\r\n\r\n" ping or "\r\n" pong), not a SIP message */
	bool chunked;             /* HTTP message with Transfer-Encoding: chunked */
	/* TLSGEN_APP_WS_SIP: 0 the HTTP upgrade request / 101 (data is the HTTP message),
	 * 1 one WebSocket message (data: its frames; ws_payload: the SIP message it carries),
	 * 2 only control frames (ping / pong / close; nothing to deliver) */
	int ws;
	uint8_t *ws_payload; size_t ws_payload_len;
} tlsgen_msg_t;

typedef struct tlsgen_conn {
	uint16_t client_port;
	uint8_t *plain[2]; size_t plain_len[2];   /* concatenated plaintext each side wrote with SSL_write, [0]=client->server */
	tlsgen_msg_t *msgs; size_t n_msgs;        /* each application message in the order written (dir tells which side) */
	uint16_t version, suite;                  /* negotiated, from SSL_version / SSL_CIPHER_get_protocol_id */
	bool ems, resumed;                        /* negotiated (SSL_get_extms_support, SSL_session_reused); ems is false at TLS 1.3 */
	/* --- additions --- */
	uint16_t server_port;
	uint32_t isn[2];                          /* initial sequence numbers: [0] client SYN, [1] server SYN-ACK */
	uint8_t *tls[2]; size_t tls_len[2];       /* the exact TCP byte stream each side sent (TLS records) */
	char *keylog; size_t keylog_len;          /* NSS key log lines of this connection ("...\n" each) */
	size_t first_packet, n_packets;           /* index of this connection's first pcap record, record count */
	bool hrr;                                 /* the server sent a HelloRetryRequest (seen by the client) */
	bool early_data;                          /* the first c2s message went as 0-RTT and the server accepted it */
	bool etm;                                 /* encrypt-then-MAC in use (ServerHello accepted it and the suite is CBC) */
	/* --- capture conditions (see tlsgen_opts_t) --- */
	uint64_t lost[2];                         /* stream bytes of each direction that no captured data segment
	                                             carries (what `drop` removed; 0 otherwise). Retransmissions
	                                             count: a dropped segment whose duplicate is captured is not lost */
	unsigned n_ack_first;                     /* ack_before_data: ACKs captured before their data */
	unsigned n_late[2];                       /* late_segment: [D2, ACK(D), D] patterns per direction */
	unsigned n_reply_first, n_reply_first_hs; /* reply_first: flights moved (all / handshake flights) */
	unsigned n_stray;                         /* stray_rst/stray_syn: packets injected */
	size_t stray_packet[2];                   /* their pcap record indexes (whole file) */
	unsigned renegotiations;                  /* renegotiate: completed renegotiations */
	/* 0-RTT. early_data true: the server accepted and read the early data; it is msgs[0] and at
	 * the start of plain[0] (as before). early_rejected true: the client's early data (early_plain,
	 * early_len bytes) is in the capture as 0-RTT records but the server did NOT read it; it is not
	 * in plain[0] or msgs as early data. early_resent: the client then wrote the same bytes again
	 * with SSL_write after the handshake: that copy is the first c2s entry of msgs and of plain[0]
	 * (so the early bytes appear in plain[0] exactly once, as the re-sent message). */
	bool early_rejected, early_resent;
	uint8_t *early_plain; size_t early_len;
	/* TLS 1.3 PSK (from the handshake messages the client wrote/read):
	 * ch_psk_modes: bit 0 psk_ke offered, bit 1 psk_dhe_ke offered (psk_key_exchange_modes);
	 * ch_key_share / ch_psk: the ClientHello carried key_share / pre_shared_key;
	 * psk_mode: what the ServerHello chose: 0 no PSK, 1 psk_ke (pre_shared_key, no key_share),
	 * 2 psk_dhe_ke (pre_shared_key and key_share) */
	uint8_t ch_psk_modes;
	bool ch_key_share, ch_psk;
	int psk_mode;
} tlsgen_conn_t;

typedef struct tlsgen_result {
	tlsgen_conn_t *conns; size_t n_conns; size_t n_packets;
	unsigned n_ts_outliers;                   /* ts_outlier: unrelated frames written (2) */
	size_t ts_outlier_packet[2];              /* their pcap record indexes: [0] future, [1] past */
	unsigned ts_steps;                        /* ts_step: clock steps applied (1) */
	size_t ts_step_packet;                    /* pcap index of the first packet after the step */
} tlsgen_result_t;

/* Fill *o with the defaults: TLS 1.2, OpenSSL default ciphers, ems=1, etm=1, app SIP,
 * n_messages 6, seed 1, IPv4, port 0 (= 5061/443 by app), mss 1460, no mangling,
 * connections 1, no resumption, Ethernet, start_ts 1700000000.0, split_writes 1.
 * key_file/cert_file are NULL and must be set by the caller. */
void tlsgen_opts_defaults(tlsgen_opts_t *o);

/* Run the exchange(s) described by *o and write the pcap to pcap_path. On success returns
 * 0 and fills *res (free with tlsgen_result_free; res may be NULL if not wanted). On
 * failure returns -1 with a one-line message in err (e.g. the suite is not available in
 * this OpenSSL build, the handshake failed, a key file is unreadable); *res is then
 * left empty. Deterministic for a given *o except the TLS bytes themselves (randoms,
 * ephemeral keys), which OpenSSL draws from its RNG. */
int tlsgen_run(const tlsgen_opts_t *o, const char *pcap_path, tlsgen_result_t *res, char *err, size_t errlen);

/* Free everything tlsgen_run allocated in *r and zero it. NULL/empty results accepted. */
void tlsgen_result_free(tlsgen_result_t *r);

/* Create a self-signed server cert + key (PEM) for tests: kind "rsa2048", "rsa1024"
 * (any "rsaN"), "p256", "p384", "x25519", "ed25519". x25519 cannot sign: for "x25519"
 * only the private key is written (cert_path ignored). cert_path may be NULL. With
 * password != NULL the key is written PKCS#8 encrypted (AES-256-CBC), else PKCS#8
 * unencrypted ("PRIVATE KEY"). Returns 0/-1. */
int tlsgen_make_key(const char *kind, const char *key_path, const char *cert_path, const char *password);

/* Key file encodings for tlsgen_make_key_fmt. */
enum { TLSGEN_KEY_PEM_PKCS8 = 0,   /* "PRIVATE KEY" / "ENCRYPTED PRIVATE KEY" */
       TLSGEN_KEY_PEM_TRAD = 1,    /* "RSA PRIVATE KEY" (PKCS#1) / "EC PRIVATE KEY" (SEC1); legacy PEM encryption
	                              (Proc-Type/DEK-Info, AES-256-CBC) with a password. X25519/Ed25519 have no
	                              traditional form and are written as PKCS#8 (also for DER_TRAD) */
       TLSGEN_KEY_DER_PKCS8 = 2,   /* DER PKCS#8 (encrypted PKCS#8 with a password) */
       TLSGEN_KEY_DER_TRAD = 3 };  /* DER PKCS#1 / SEC1 (no password possible) */

/* Like tlsgen_make_key, with the key file encoding chosen. The certificate is always
 * PEM. Returns 0/-1 (-1 also for a password with TLSGEN_KEY_DER_TRAD). */
int tlsgen_make_key_fmt(const char *kind, const char *key_path, const char *cert_path,
                        const char *password, int key_format);

/* Write an existing key file (any format OpenSSL reads, optional password in_pw) again
 * in `key_format` with optional password out_pw. Returns 0/-1. Lets tests present the
 * same key in several encodings. */
int tlsgen_convert_key(const char *in_path, const char *in_pw, const char *out_path,
                       const char *out_pw, int key_format);

#endif
