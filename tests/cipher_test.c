/*
 * cipher_test.c — tests for cipher.c: the suite table and record decryption (TAP output).
 *
 * Why: the record layer must decrypt exactly what real peers send and must never hand out
 * unauthenticated bytes. Records are therefore built here with OpenSSL's EVP ciphers and
 * HMAC (an implementation independent of libgcrypt), in the exact wire format of each
 * protection scheme, and fed to tls_cipher_decrypt:
 *   - every TLS 1.0-1.2 suite in the table: three records (seq 0..2, lengths 0..16384),
 *     a flipped bit (-1, no plaintext left in the buffer, state unchanged), a truncated
 *     fragment (-2);
 *   - AES-CBC: MAC-then-encrypt and encrypt-then-MAC (RFC 7366), TLS 1.2/1.1 explicit IVs,
 *     TLS 1.0 chained IVs across records, bad padding bytes / padding longer than the
 *     record (-1), lengths that are not a block multiple (-2), long padding;
 *   - TLS 1.3: all five suites, inner content type, zero padding stripped, all-zero inner
 *     plaintext (-2), tag / sequence / header tampering (-1);
 *   - known answer: RFC 8448 §3 protected records (server handshake flight, NewSessionTicket,
 *     application data and alerts in both directions; hex transcribed from the RFC text as
 *     carried in aws/s2n-tls compliance/specs/www.rfc-editor.org/rfc/rfc8448.txt),
 *     decrypted with the RFC's traffic secrets and compared with the RFC's payloads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gcrypt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tap.h"
#include "kdf.h"
#include "cipher.h"

#define MAXREC (16384 + 2048 + 64)

/* ---- helpers ---- */

static uint8_t *unhex(const char *s, size_t *n)
{
	size_t len = strlen(s), i, o = 0;
	uint8_t *b = malloc(len / 2 + 1);
	int hi = -1;
	if (!b) abort();
	for (i = 0; i < len; i++) {
		int c = s[i], v;
		if (c == ' ' || c == '\n') continue;
		if (c >= '0' && c <= '9') v = c - '0';
		else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
		else abort();
		if (hi < 0) hi = v;
		else { b[o++] = (uint8_t)(hi << 4 | v); hi = -1; }
	}
	if (hi >= 0) abort();
	*n = o;
	return b;
}

static uint32_t rng_state = 12345;
static void fill(uint8_t *p, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		rng_state = rng_state * 1103515245u + 12345u;
		p[i] = (uint8_t)(rng_state >> 16);
	}
}

static void put_u64(uint8_t *p, uint64_t v)
{
	int i;
	for (i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}

/* seq || type || version || length */
static void hdr13(uint8_t h[13], uint64_t seq, uint8_t type, uint16_t ver, size_t len)
{
	put_u64(h, seq);
	h[8] = type; h[9] = (uint8_t)(ver >> 8); h[10] = (uint8_t)ver;
	h[11] = (uint8_t)(len >> 8); h[12] = (uint8_t)len;
}

/* Does needle (n >= 16 bytes) occur in hay? Used to prove no plaintext is left behind. */
static int contains(const uint8_t *hay, size_t hn, const uint8_t *needle, size_t n)
{
	size_t i;
	if (n > hn) return 0;
	for (i = 0; i + n <= hn; i++)
		if (memcmp(hay + i, needle, n) == 0) return 1;
	return 0;
}

static const EVP_CIPHER *ossl_cipher(const tls_suite_t *s)
{
	switch (s->bulk) {
	case TLS_BULK_AES_GCM: return s->key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
	case TLS_BULK_AES_CCM:
	case TLS_BULK_AES_CCM_8: return s->key_len == 16 ? EVP_aes_128_ccm() : EVP_aes_256_ccm();
	case TLS_BULK_CHACHA20_POLY1305: return EVP_chacha20_poly1305();
	case TLS_BULK_AES_CBC: return s->key_len == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
	default: return NULL;   /* legacy bulk ciphers: legacy_test.c, handbuilt_test.c */
	}
}

static const EVP_MD *ossl_md(tls_hash_t h)
{
	switch (h) {
	case TLS_HASH_SHA1: return EVP_sha1();
	case TLS_HASH_SHA256: return EVP_sha256();
	case TLS_HASH_SHA384: return EVP_sha384();
	default: return NULL;
	}
}

/* OpenSSL AEAD seal: ct[ptlen] and tag[taglen]. */
static void ossl_seal(const tls_suite_t *s, const uint8_t *key, const uint8_t nonce[12],
                      const uint8_t *aad, size_t aadlen, const uint8_t *pt, size_t ptlen,
                      uint8_t *ct, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int ccm = s->bulk == TLS_BULK_AES_CCM || s->bulk == TLS_BULK_AES_CCM_8;
	int outl = 0, ok = 1;
	static const uint8_t dummy[1];
	ok &= EVP_EncryptInit_ex(ctx, ossl_cipher(s), NULL, NULL, NULL);
	ok &= EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL);
	if (ccm)
		ok &= EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, s->tag_len, NULL);
	ok &= EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce);
	if (ccm)
		ok &= EVP_EncryptUpdate(ctx, NULL, &outl, NULL, (int)ptlen);
	ok &= EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)aadlen);
	ok &= EVP_EncryptUpdate(ctx, ct, &outl, ptlen ? pt : dummy, (int)ptlen);
	ok &= EVP_EncryptFinal_ex(ctx, ct + outl, &outl);
	ok &= EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, s->tag_len, tag);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		printf("Bail out! OpenSSL AEAD seal failed for %s\n", s->name);
		exit(1);
	}
}

/* OpenSSL AES-CBC without padding, in place is not allowed: out separate. */
static void ossl_cbc(const tls_suite_t *s, const uint8_t *key, const uint8_t iv[16],
                     const uint8_t *in, size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, ok = 1;
	ok &= EVP_EncryptInit_ex(ctx, ossl_cipher(s), NULL, key, iv);
	ok &= EVP_CIPHER_CTX_set_padding(ctx, 0);
	ok &= EVP_EncryptUpdate(ctx, out, &outl, in, (int)n);
	ok &= EVP_EncryptFinal_ex(ctx, out + outl, &outl);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		printf("Bail out! OpenSSL CBC failed\n");
		exit(1);
	}
}

static void ossl_hmac2(tls_hash_t h, const uint8_t *key, const uint8_t *a, size_t alen,
                       const uint8_t *b, size_t blen, uint8_t *out)
{
	static uint8_t tmp[MAXREC + 64];
	unsigned ol = 0;
	memcpy(tmp, a, alen);
	memcpy(tmp + alen, b, blen);
	if (!HMAC(ossl_md(h), key, (int)tls_hash_len(h), tmp, alen + blen, out, &ol)) {
		printf("Bail out! OpenSSL HMAC failed\n");
		exit(1);
	}
}

/* ---- record builders (the sender side, with OpenSSL) ---- */

/* TLS 1.2 AEAD record fragment. GCM/CCM: explicit nonce || ct || tag; ChaCha: ct || tag. */
static size_t build_aead12(const tls_suite_t *s, const uint8_t *key, const uint8_t *iv,
                           uint64_t seq, uint8_t type, uint16_t ver,
                           const uint8_t *pt, size_t ptlen, uint8_t *frag)
{
	uint8_t nonce[12], aad[13];
	size_t off = 0;
	hdr13(aad, seq, type, ver, ptlen);
	if (s->bulk == TLS_BULK_CHACHA20_POLY1305) {
		int i;
		uint64_t q = seq;
		memcpy(nonce, iv, 12);
		for (i = 11; i >= 4; i--) { nonce[i] ^= (uint8_t)q; q >>= 8; }
	} else {
		/* explicit nonce: anything unique; deliberately not equal to seq */
		memcpy(nonce, iv, 4);
		put_u64(nonce + 4, seq * 0x9E3779B97F4A7C15ull + 7);
		memcpy(frag, nonce + 4, 8);
		off = 8;
	}
	ossl_seal(s, key, nonce, aad, 13, pt, ptlen, frag + off, frag + off + ptlen);
	return off + ptlen + s->tag_len;
}

/* TLS CBC record fragment. iv_state: TLS 1.0 chained IV (updated); for TLS 1.1+ a fresh
 * explicit IV is generated. extra_pad adds 16*extra_pad padding bytes; bad_pad corrupts
 * one padding byte (not the length byte); pad_override >= 0 sets the padding-length byte. */
static size_t build_cbc(const tls_suite_t *s, const uint8_t *key, uint8_t iv_state[16],
                        const uint8_t *mac_key, uint64_t seq, uint8_t type, uint16_t ver,
                        int etm, const uint8_t *pt, size_t ptlen, size_t extra_pad,
                        int bad_pad, int pad_override, uint8_t *frag)
{
	static uint8_t data[MAXREC];
	uint8_t hdr[13], iv[16];
	size_t maclen = s->mac_len, n = 0, padlen, i, ivlen = ver >= 0x0302 ? 16 : 0, enclen;

	memcpy(data, pt, ptlen);
	n = ptlen;
	if (!etm) {
		hdr13(hdr, seq, type, ver, ptlen);
		ossl_hmac2(s->mac, mac_key, hdr, 13, pt, ptlen, data + n);
		n += maclen;
	}
	padlen = (16 - (n + 1) % 16) % 16 + 16 * extra_pad;
	for (i = 0; i <= padlen; i++)
		data[n + i] = (uint8_t)padlen;
	if (bad_pad && padlen >= 1)
		data[n + padlen - 1] ^= 0x01;
	if (pad_override >= 0)
		data[n + padlen] = (uint8_t)pad_override;
	n += padlen + 1;

	if (ivlen) {
		fill(iv, 16);
		memcpy(frag, iv, 16);
	} else {
		memcpy(iv, iv_state, 16);
	}
	ossl_cbc(s, key, iv, data, n, frag + ivlen);
	if (!ivlen)
		memcpy(iv_state, frag + n - 16, 16);
	enclen = ivlen + n;
	if (etm) {
		hdr13(hdr, seq, type, ver, enclen);
		ossl_hmac2(s->mac, mac_key, hdr, 13, frag, enclen, frag + enclen);
		enclen += maclen;
	}
	return enclen;
}

/* TLS 1.3 encrypted_record for inner plaintext pt || type || zeros(zpad). With
 * type == 0 the inner plaintext is all zeros (malformed). */
static size_t build_tls13(const tls_suite_t *s, const uint8_t *key, const uint8_t iv[12],
                          uint64_t seq, uint8_t type, const uint8_t *pt, size_t ptlen,
                          size_t zpad, uint8_t *frag)
{
	static uint8_t inner[MAXREC];
	uint8_t nonce[12], aad[5];
	size_t n = ptlen, flen;
	int i;
	uint64_t q = seq;
	memcpy(inner, pt, ptlen);
	inner[n++] = type;
	memset(inner + n, 0, zpad);
	n += zpad;
	flen = n + s->tag_len;
	memcpy(nonce, iv, 12);
	for (i = 11; i >= 4; i--) { nonce[i] ^= (uint8_t)q; q >>= 8; }
	aad[0] = 23; aad[1] = 3; aad[2] = 3; aad[3] = (uint8_t)(flen >> 8); aad[4] = (uint8_t)flen;
	ossl_seal(s, key, nonce, aad, 5, inner, n, frag, frag + n);
	return flen;
}

/* ---- RFC 8448 §3 protected records (hex transcribed from the RFC) ---- */
static const char RFC8448_SRV_HS_RECORD[] = /* 679 bytes */
	"17030302a2d1ff334a56f5bff6594a07cc87b580233f500f45e489e7f33af35e"
	"df7869fcf40aa40aa2b8ea73f848a7ca07612ef9f945cb960b4068905123ea78"
	"b111b429ba9191cd05d2a389280f526134aadc7fc78c4b729df828b5ecf7b13b"
	"d9aefb0e57f271585b8ea9bb355c7c79020716cfb9b1183ef3ab20e37d57a6b9"
	"d7477609aee6e122a4cf51427325250c7d0e509289444c9b3a648f1d71035d2e"
	"d65b0e3cdd0cbae8bf2d0b227812cbb360987255cc744110c453baa4fcd61092"
	"8d809810e4b7ed1a8fd991f06aa6248204797e36a6a73b70a2559c09ead68694"
	"5ba246ab66e5edd8044b4c6de3fcf2a89441ac66272fd8fb330ef8190579b368"
	"4596c960bd596eea520a56a8d650f563aad27409960dca63d3e688611ea5e22f"
	"4415cf9538d51a200c27034272968a264ed6540c84838d89f72c24461aad6d26"
	"f59ecaba9acbbb317b66d902f4f292a36ac1b639c637ce343117b65962224531"
	"7b49eeda0c6258f100d7d961ffb138647e92ea330faeea6dfa31c7a84dc3bd7e"
	"1b7a6c7178af36879018e3f252107f243d243dc7339d5684c8b0378bf30244da"
	"8c87c843f5e56eb4c5e8280a2b48052cf93b16499a66db7cca71e4599426f7d4"
	"61e66f99882bd89fc50800becca62d6c74116dbd2972fda1fa80f85df881edbe"
	"5a37668936b335583b599186dc5c6918a396fa48a181d6b6fa4f9d62d513afbb"
	"992f2b992f67f8afe67f76913fa388cb5630c8ca01e0c65d11c66a1e2ac4c859"
	"77b7c7a6999bbf10dc35ae69f5515614636c0b9b68c19ed2e31c0b3b66763038"
	"ebba42f3b38edc0399f3a9f23faa63978c317fc9fa66a73f60f0504de93b5b84"
	"5e275592c12335ee340bbc4fddd502784016e4b3be7ef04dda49f4b440a30cb5"
	"d2af939828fd4ae3794e44f94df5a631ede42c1719bfdabf0253fe5175be898e"
	"750edc53370d2b";
static const char RFC8448_SRV_HS_PAYLOAD[] = /* 657 bytes */
	"080000240022000a00140012001d00170018001901000101010201030104001c"
	"00024001000000000b0001b9000001b50001b0308201ac30820115a003020102"
	"020102300d06092a864886f70d01010b0500300e310c300a0603550403130372"
	"7361301e170d3136303733303031323335395a170d3236303733303031323335"
	"395a300e310c300a0603550403130372736130819f300d06092a864886f70d01"
	"0101050003818d0030818902818100b4bb498f8279303d980836399b36c6988c"
	"0c68de55e1bdb826d3901a2461eafd2de49a91d015abbc9a95137ace6c1af19e"
	"aa6af98c7ced43120998e187a80ee0ccb0524b1b018c3e0b63264d449a6d38e2"
	"2a5fda430846748030530ef0461c8ca9d9efbfae8ea6d1d03e2bd193eff0ab9a"
	"8002c47428a6d35a8d88d79f7f1e3f0203010001a31a301830090603551d1304"
	"023000300b0603551d0f0404030205a0300d06092a864886f70d01010b050003"
	"81810085aad2a0e5b9276b908c65f73a7267170618a54c5f8a7b337d2df7a594"
	"365417f2eae8f8a58c8f8172f9319cf36b7fd6c55b80f21a03015156726096fd"
	"335e5e67f2dbf102702e608ccae6bec1fc63a42a99be5c3eb7107c3c54e9b9eb"
	"2bd5203b1c3b84e0a8b2f759409ba3eac9d91d402dcc0cc8f8961229ac9187b4"
	"2b4de100000f000084080400805a747c5d88fa9bd2e55ab085a61015b7211f82"
	"4cd484145ab3ff52f1fda8477b0b7abc90db78e2d33a5c141a078653fa6bef78"
	"0c5ea248eeaaa785c4f394cab6d30bbe8d4859ee511f602957b15411ac027671"
	"459e46445c9ea58c181e818e95b8c3fb0bf3278409d3be152a3da5043e063dda"
	"65cdf5aea20d53dfacd42f74f3140000209b9b141d906337fbd2cbdce71df4de"
	"da4ab42c309572cb7fffee5454b78f0718";
static const char RFC8448_SRV_NST_RECORD[] = /* 227 bytes */
	"17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d4"
	"1d6af8f6b580dcf3d11d63c758db289a015940252f55713e061dc13e078891a3"
	"8efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e0"
	"9c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406"
	"f16e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c8651"
	"9d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74"
	"bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf159"
	"85684f";
static const char RFC8448_SRV_NST_PAYLOAD[] = /* 205 bytes */
	"040000c90000001efad6aac502000000b22c035d829359ee5ff7af4ec9000000"
	"00262a6494dc486d2c8a34cb33fa90bf1b0070ad3c498883c9367c09a2be785a"
	"bc55cd226097a3a982117283f82a03a143efd3ff5dd36d64e861be7fd61d2827"
	"db279cce145077d454a3664d4e6da4d29ee03725a6a4dafcd0fc67d2aea70529"
	"513e3da2677fa5906c5b3f7d8f92f228bda40dda721470f9fbf297b5aea61764"
	"6fac5c03272e970727c621a79141ef5f7de6505e5bfbc388e93343694093934a"
	"e4d3570008002a000400000400";
static const char RFC8448_CLI_FIN_RECORD[] = /* 58 bytes */
	"170303003575ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc"
	"44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546";
static const char RFC8448_CLI_APP_RECORD[] = /* 72 bytes */
	"1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f"
	"2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae6"
	"3aeebb21694915e4";
static const char RFC8448_SRV_APP_RECORD[] = /* 72 bytes */
	"17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36"
	"e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf33254"
	"0dd032e167c2955d";
static const char RFC8448_CLI_ALERT_RECORD[] = /* 24 bytes */
	"1703030013c9872760655666b74d7ff1153efd6db6d0b0e3";

/* ---- suite table ---- */

/* The suites the brief requires, by IANA id and name. Attributes are then derived from
 * the name independently of cipher.c's table. */
static const struct { uint16_t id; const char *name; } expected_suites[] = {
	{ 0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA" }, { 0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA" },
	{ 0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256" }, { 0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256" },
	{ 0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256" }, { 0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384" },
	{ 0xC09C, "TLS_RSA_WITH_AES_128_CCM" }, { 0xC09D, "TLS_RSA_WITH_AES_256_CCM" },
	{ 0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8" }, { 0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8" },
	{ 0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA" }, { 0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA" },
	{ 0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256" }, { 0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256" },
	{ 0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256" }, { 0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384" },
	{ 0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM" }, { 0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM" },
	{ 0xC0A2, "TLS_DHE_RSA_WITH_AES_128_CCM_8" }, { 0xC0A3, "TLS_DHE_RSA_WITH_AES_256_CCM_8" },
	{ 0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" }, { 0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" },
	{ 0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256" }, { 0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384" },
	{ 0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" }, { 0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" },
	{ 0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA" }, { 0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA" },
	{ 0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" }, { 0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384" },
	{ 0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" }, { 0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" },
	{ 0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM" }, { 0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM" },
	{ 0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8" }, { 0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8" },
	{ 0x1301, "TLS_AES_128_GCM_SHA256" }, { 0x1302, "TLS_AES_256_GCM_SHA384" },
	{ 0x1303, "TLS_CHACHA20_POLY1305_SHA256" }, { 0x1304, "TLS_AES_128_CCM_SHA256" },
	{ 0x1305, "TLS_AES_128_CCM_8_SHA256" },
};
#define N_SUITES (sizeof expected_suites / sizeof expected_suites[0])

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Check a table entry against what its IANA name implies. */
static int suite_matches_name(const tls_suite_t *s, const char *name)
{
	int tls13 = strncmp(name, "TLS_AES", 7) == 0 || strncmp(name, "TLS_CHACHA", 10) == 0;
	tls_kx_t kx = tls13 ? TLS_KX_TLS13 :
	              strncmp(name, "TLS_RSA_", 8) == 0 ? TLS_KX_RSA :
	              strncmp(name, "TLS_DHE_RSA_", 12) == 0 ? TLS_KX_DHE_RSA :
	              strncmp(name, "TLS_ECDHE_RSA_", 14) == 0 ? TLS_KX_ECDHE_RSA :
	              strncmp(name, "TLS_ECDHE_ECDSA_", 16) == 0 ? TLS_KX_ECDHE_ECDSA : 0;
	int cbc = strstr(name, "_CBC_") != NULL;
	tls_bulk_t bulk = strstr(name, "CHACHA20_POLY1305") ? TLS_BULK_CHACHA20_POLY1305 :
	                  strstr(name, "_GCM") ? TLS_BULK_AES_GCM :
	                  strstr(name, "_CCM_8") ? TLS_BULK_AES_CCM_8 :
	                  strstr(name, "_CCM") ? TLS_BULK_AES_CCM : TLS_BULK_AES_CBC;
	unsigned key_len = strstr(name, "AES_128") ? 16 : 32;
	unsigned iv_len = tls13 ? 12 : cbc ? 16 : bulk == TLS_BULK_CHACHA20_POLY1305 ? 12 : 4;
	tls_hash_t mac = !cbc ? TLS_HASH_NONE : ends_with(name, "_SHA384") ? TLS_HASH_SHA384 :
	                 ends_with(name, "_SHA256") ? TLS_HASH_SHA256 : TLS_HASH_SHA1;
	unsigned mac_len = mac == TLS_HASH_SHA1 ? 20 : mac == TLS_HASH_SHA256 ? 32 : mac == TLS_HASH_SHA384 ? 48 : 0;
	unsigned tag_len = cbc ? 0 : bulk == TLS_BULK_AES_CCM_8 ? 8 : 16;
	tls_hash_t prf = ends_with(name, "_SHA384") ? TLS_HASH_SHA384 : TLS_HASH_SHA256;
	bool min12 = !(cbc && ends_with(name, "_SHA"));
	return s && strcmp(s->name, name) == 0 && s->kx == kx && s->bulk == bulk &&
	       s->key_len == key_len && s->iv_len == iv_len && s->mac == mac && s->mac_len == mac_len &&
	       s->tag_len == tag_len && s->prf == prf && s->min_tls12 == min12;
}

static void test_suite_table(void)
{
	size_t i;
	int bad = 0;
	for (i = 0; i < N_SUITES; i++) {
		const tls_suite_t *s = tls_suite_lookup(expected_suites[i].id);
		if (!s || s->id != expected_suites[i].id || !suite_matches_name(s, expected_suites[i].name)) {
			tap_diag("suite 0x%04X %s: missing or wrong attributes", expected_suites[i].id,
			         expected_suites[i].name);
			bad++;
		}
		if (!tls_suite_name(expected_suites[i].id) ||
		    strcmp(tls_suite_name(expected_suites[i].id), expected_suites[i].name) != 0)
			bad++;
	}
	tap_ok(bad == 0, "suite table: all %zu required suites present with attributes implied by their names",
	       N_SUITES);
	tap_ok(tls_suite_lookup(0xC024)->prf == TLS_HASH_SHA384 && tls_suite_lookup(0xC028)->prf == TLS_HASH_SHA384 &&
	       tls_suite_lookup(0xC023)->prf == TLS_HASH_SHA256 && tls_suite_lookup(0x002F)->prf == TLS_HASH_SHA256,
	       "suite table: CBC SHA384 suites use the SHA-384 PRF, others SHA-256");
	tap_ok(tls_suite_lookup(0x1234) == NULL && tls_suite_name(0x1234) == NULL &&
	       tls_suite_lookup(0x0000) == NULL,
	       "unknown id: no suite, no name");
}

/* ---- TLS 1.0-1.2 round trips for one suite/version/mode ---- */

static const char *vname(uint16_t v)
{
	return v == 0x0301 ? "TLS1.0" : v == 0x0302 ? "TLS1.1" : v == 0x0303 ? "TLS1.2" : "?";
}

static void run_suite12(const tls_suite_t *s, uint16_t ver, int etm)
{
	static uint8_t frag[MAXREC], pristine[MAXREC], pt[16384];
	static const size_t lens[] = { 37, 0, 1500, 16384 };
	uint8_t key[32], iv[16], snd_iv[16], mac_key[48];
	tls_cipher_state_t cs;
	uint8_t *plain, ctype;
	size_t plen, flen, i;
	uint64_t seq = 0;
	int ok = 1, rc;
	const char *mode = s->bulk == TLS_BULK_AES_CBC ? (etm ? " EtM" : " MtE") : "";

	fill(key, sizeof key); fill(iv, sizeof iv); fill(mac_key, sizeof mac_key);
	memcpy(snd_iv, iv, 16);
	if (tls_cipher_init(&cs, s, ver, etm, key, iv, mac_key) != 0) {
		tap_ok(0, "%s %s%s: init", s->name, vname(ver), mode);
		return;
	}
	for (i = 0; i < sizeof lens / sizeof lens[0]; i++, seq++) {
		fill(pt, lens[i]);
		flen = s->bulk == TLS_BULK_AES_CBC
		       ? build_cbc(s, key, snd_iv, mac_key, seq, 23, ver, etm, pt, lens[i], 0, 0, -1, frag)
		       : build_aead12(s, key, iv, seq, 23, ver, pt, lens[i], frag);
		ctype = 23;
		rc = tls_cipher_decrypt(&cs, &ctype, ver, frag, flen, &plain, &plen);
		if (rc != 0 || plen != lens[i] || ctype != 23 || (plen && memcmp(plain, pt, plen) != 0) ||
		    plain < frag || plain + plen > frag + flen) {
			tap_diag("record %zu (len %zu): rc %d plen %zu", i, lens[i], rc, plen);
			ok = 0;
		}
	}
	tap_ok(ok && cs.seq == 4, "%s %s%s: 4 records (0..16384 bytes) decrypt, seq 0..3", s->name, vname(ver), mode);

	/* tampering: -1, no plaintext left in the buffer, state unchanged */
	fill(pt, 64);
	flen = s->bulk == TLS_BULK_AES_CBC
	       ? build_cbc(s, key, snd_iv, mac_key, seq, 23, ver, etm, pt, 64, 0, 0, -1, frag)
	       : build_aead12(s, key, iv, seq, 23, ver, pt, 64, frag);
	memcpy(pristine, frag, flen);
	frag[flen - 1] ^= 0x10; /* tag byte (AEAD), last ciphertext block (MtE) or MAC (EtM) */
	ctype = 23;
	plain = frag; plen = 99;
	rc = tls_cipher_decrypt(&cs, &ctype, ver, frag, flen, &plain, &plen);
	ok = rc == -1 && plain == NULL && plen == 0 && !contains(frag, flen, pt, 32) && cs.seq == seq;
	memcpy(frag, pristine, flen);
	frag[flen / 2] ^= 0x01; /* and one in the middle (ciphertext) */
	rc = tls_cipher_decrypt(&cs, &ctype, ver, frag, flen, &plain, &plen);
	ok = ok && rc == -1 && plain == NULL;
	memcpy(frag, pristine, flen);
	rc = tls_cipher_decrypt(&cs, &ctype, ver, frag, flen, &plain, &plen);
	ok = ok && rc == 0 && plen == 64 && memcmp(plain, pt, 64) == 0;
	tap_ok(ok, "%s %s%s: flipped bit -> -1, no plaintext left, state unchanged (intact copy decrypts)",
	       s->name, vname(ver), mode);
	seq++;

	/* a record sealed for another sequence number fails */
	fill(pt, 40);
	flen = s->bulk == TLS_BULK_AES_CBC
	       ? build_cbc(s, key, snd_iv, mac_key, seq + 1, 23, ver, etm, pt, 40, 0, 0, -1, frag)
	       : build_aead12(s, key, iv, seq + 1, 23, ver, pt, 40, frag);
	ctype = 23;
	rc = tls_cipher_decrypt(&cs, &ctype, ver, frag, flen, &plain, &plen);
	ok = rc == -1;
	/* wrong outer type or version in the MAC/AAD fails too */
	if (s->bulk != TLS_BULK_AES_CBC || ver != 0x0301) {
		flen = s->bulk == TLS_BULK_AES_CBC
		       ? build_cbc(s, key, snd_iv, mac_key, seq, 23, ver, etm, pt, 40, 0, 0, -1, frag)
		       : build_aead12(s, key, iv, seq, 23, ver, pt, 40, frag);
		ctype = 22;
		rc = tls_cipher_decrypt(&cs, &ctype, ver, frag, flen, &plain, &plen);
		ok = ok && rc == -1;
	}
	tap_ok(ok, "%s %s%s: wrong seq or header in the MAC/AAD -> -1", s->name, vname(ver), mode);

	/* truncated / malformed fragments: -2 */
	ctype = 23;
	if (s->bulk == TLS_BULK_AES_CBC) {
		size_t ivlen = ver >= 0x0302 ? 16 : 0;
		ok = tls_cipher_decrypt(&cs, &ctype, ver, frag, 15, &plain, &plen) == -2 &&
		     tls_cipher_decrypt(&cs, &ctype, ver, frag, ivlen + 15 + (etm ? s->mac_len : 0), &plain, &plen) == -2 &&
		     tls_cipher_decrypt(&cs, &ctype, ver, frag, ivlen + 33 + (etm ? s->mac_len : 0), &plain, &plen) == -2 &&
		     tls_cipher_decrypt(&cs, &ctype, ver, frag, 0, &plain, &plen) == -2;
	} else {
		size_t min = (s->bulk == TLS_BULK_CHACHA20_POLY1305 ? 0 : 8) + s->tag_len;
		ok = tls_cipher_decrypt(&cs, &ctype, ver, frag, min - 1, &plain, &plen) == -2 &&
		     tls_cipher_decrypt(&cs, &ctype, ver, frag, 0, &plain, &plen) == -2;
	}
	tap_ok(ok && plain == NULL && cs.seq == seq, "%s %s%s: truncated fragment -> -2", s->name, vname(ver), mode);
	tls_cipher_free(&cs);
}

static void test_all_suites12(void)
{
	size_t i;
	for (i = 0; i < N_SUITES; i++) {
		const tls_suite_t *s = tls_suite_lookup(expected_suites[i].id);
		if (!s || s->kx == TLS_KX_TLS13)
			continue;
		if (s->bulk != TLS_BULK_AES_CBC) {
			run_suite12(s, 0x0303, 0);
			continue;
		}
		run_suite12(s, 0x0303, 0);
		run_suite12(s, 0x0303, 1);
		if (!s->min_tls12) {
			run_suite12(s, 0x0302, 0);
			run_suite12(s, 0x0301, 0); /* chained IVs across the records */
			run_suite12(s, 0x0301, 1);
		}
	}
}

/* ---- CBC specifics ---- */

static void test_cbc_details(void)
{
	static uint8_t frag[MAXREC], f1[MAXREC], f2[MAXREC], f3[MAXREC], pt[2000];
	const tls_suite_t *s = tls_suite_lookup(0x002F), *s384 = tls_suite_lookup(0xC028);
	uint8_t key[32], iv[16], snd_iv[16], mac_key[48];
	tls_cipher_state_t cs;
	uint8_t *plain, ctype = 23;
	size_t plen, flen, l1, l2, l3;
	int rc;

	fill(key, 32); fill(iv, 16); fill(mac_key, 48); fill(pt, sizeof pt);

	/* MtE, TLS 1.2: bad padding byte with a valid MAC */
	tls_cipher_init(&cs, s, 0x0303, false, key, NULL, mac_key);
	flen = build_cbc(s, key, NULL, mac_key, 0, 23, 0x0303, 0, pt, 100, 1, 1, -1, frag);
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, flen, &plain, &plen);
	tap_ok(rc == -1 && plain == NULL && !contains(frag, flen, pt, 32), "CBC MtE: inconsistent padding bytes -> -1, plaintext wiped");
	flen = build_cbc(s, key, NULL, mac_key, 0, 23, 0x0303, 0, pt, 30, 0, 0, 255, frag);
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, flen, &plain, &plen);
	tap_ok(rc == -1, "CBC MtE: padding length larger than the record -> -1");
	flen = build_cbc(s, key, NULL, mac_key, 0, 23, 0x0303, 0, pt, 100, 15, 0, -1, frag);
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, flen, &plain, &plen);
	tap_ok(rc == 0 && plen == 100 && memcmp(plain, pt, 100) == 0 && frag[flen - 1] != 0,
	       "CBC MtE: long padding (%zu bytes) is accepted", flen - 16 - 100 - 20);
	tap_ok(tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, 16 + 16 + 8, &plain, &plen) == -2,
	       "CBC: fragment not a block multiple -> -2");
	tls_cipher_free(&cs);

	/* MtE with a 48-byte MAC: a 1-block record cannot even hold the MAC */
	tls_cipher_init(&cs, s384, 0x0303, false, key, NULL, mac_key);
	tap_ok(tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, 16 + 32, &plain, &plen) == -2,
	       "CBC MtE SHA384: ciphertext shorter than MAC + 1 -> -2");
	tls_cipher_free(&cs);

	/* EtM: valid MAC but bad padding; IV covered by the MAC */
	tls_cipher_init(&cs, s, 0x0303, true, key, NULL, mac_key);
	flen = build_cbc(s, key, NULL, mac_key, 0, 23, 0x0303, 1, pt, 100, 1, 1, -1, frag);
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, flen, &plain, &plen);
	tap_ok(rc == -1 && plain == NULL && !contains(frag, flen, pt, 32), "CBC EtM: valid MAC, bad padding -> -1, plaintext wiped");
	flen = build_cbc(s, key, NULL, mac_key, 0, 23, 0x0303, 1, pt, 100, 0, 0, -1, frag);
	memcpy(f1, frag, flen);
	frag[3] ^= 0x80; /* explicit IV byte */
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, flen, &plain, &plen);
	tap_ok(rc == -1 && memcmp(frag + 16, f1 + 16, flen - 16) == 0,
	       "CBC EtM: IV covered by the MAC; nothing decrypted before the MAC check");
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0303, f1, flen, &plain, &plen);
	tap_ok(rc == 0 && plen == 100 && memcmp(plain, pt, 100) == 0, "CBC EtM: intact record decrypts");
	/* an MtE record given to an EtM state fails (and vice versa) */
	flen = build_cbc(s, key, NULL, mac_key, 1, 23, 0x0303, 0, pt, 100, 0, 0, -1, frag);
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, flen, &plain, &plen);
	tap_ok(rc < 0 && plain == NULL, "CBC: MtE record under an EtM state fails (%d)", rc);
	tls_cipher_free(&cs);

	/* TLS 1.0: IV chained from the key block, then the previous record's last block */
	memcpy(snd_iv, iv, 16);
	l1 = build_cbc(s, key, snd_iv, mac_key, 0, 23, 0x0301, 0, pt, 100, 0, 0, -1, f1);
	l2 = build_cbc(s, key, snd_iv, mac_key, 1, 23, 0x0301, 0, pt + 100, 200, 0, 0, -1, f2);
	l3 = build_cbc(s, key, snd_iv, mac_key, 2, 23, 0x0301, 0, pt + 300, 33, 0, 0, -1, f3);
	tls_cipher_init(&cs, s, 0x0301, false, key, iv, mac_key);
	memcpy(frag, f2, l2);
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0301, frag, l2, &plain, &plen);
	tap_ok(rc == -1 && cs.seq == 0 && memcmp(cs.iv, iv, 16) == 0,
	       "TLS 1.0 CBC: record 2 before record 1 -> -1, IV and seq unchanged");
	memcpy(frag, f1, l1);
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0301, frag, l1, &plain, &plen);
	tap_ok(rc == 0 && plen == 100 && memcmp(plain, pt, 100) == 0 && memcmp(cs.iv, f1 + l1 - 16, 16) == 0,
	       "TLS 1.0 CBC: record 1 decrypts; next IV = its last ciphertext block");
	memcpy(frag, f2, l2);
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0301, frag, l2, &plain, &plen);
	tap_ok(rc == 0 && plen == 200 && memcmp(plain, pt + 100, 200) == 0, "TLS 1.0 CBC: record 2 (chained) decrypts");
	memcpy(frag, f3, l3);
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0301, frag, l3, &plain, &plen);
	tap_ok(rc == 0 && plen == 33 && memcmp(plain, pt + 300, 33) == 0 && cs.seq == 3,
	       "TLS 1.0 CBC: record 3 (chained) decrypts");
	tls_cipher_free(&cs);
}

/* ---- TLS 1.3 ---- */

static void run_tls13(uint16_t id)
{
	static uint8_t frag[MAXREC], pristine[MAXREC], pt[16384];
	static const struct { size_t len; uint8_t type; size_t zpad; } recs[] = {
		{ 100, 23, 0 }, { 50, 22, 20 }, { 0, 23, 0 }, { 2, 21, 1 }, { 16000, 23, 384 },
	};
	const tls_suite_t *s = tls_suite_lookup(id);
	uint8_t secret[48], key[32], iv[12];
	size_t hl = tls_hash_len(s->prf), plen, flen, i;
	tls_cipher_state_t cs;
	uint8_t *plain, ctype;
	int ok = 1, rc;

	fill(secret, hl);
	if (tls13_cipher_init(&cs, s, secret, hl) != 0) {
		tap_ok(0, "%s: tls13_cipher_init", s->name);
		return;
	}
	tls13_hkdf_expand_label(s->prf, secret, hl, "key", NULL, 0, key, s->key_len);
	tls13_hkdf_expand_label(s->prf, secret, hl, "iv", NULL, 0, iv, 12);
	tap_ok(cs.tls13 && memcmp(cs.iv, iv, 12) == 0, "%s: init derives the write iv", s->name);
	for (i = 0; i < sizeof recs / sizeof recs[0]; i++) {
		fill(pt, recs[i].len);
		flen = build_tls13(s, key, iv, i, recs[i].type, pt, recs[i].len, recs[i].zpad, frag);
		ctype = 23;
		rc = tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, flen, &plain, &plen);
		if (rc != 0 || ctype != recs[i].type || plen != recs[i].len ||
		    (plen && memcmp(plain, pt, plen) != 0)) {
			tap_diag("record %zu: rc %d type %u plen %zu", i, rc, ctype, plen);
			ok = 0;
		}
	}
	tap_ok(ok && cs.seq == 5, "%s: 5 records, inner content type recovered, zero padding stripped", s->name);

	fill(pt, 64);
	flen = build_tls13(s, key, iv, 5, 23, pt, 64, 7, frag);
	memcpy(pristine, frag, flen);
	frag[flen - 1] ^= 0x01;
	ctype = 23;
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, flen, &plain, &plen);
	ok = rc == -1 && plain == NULL && ctype == 23 && !contains(frag, flen, pt, 32);
	memcpy(frag, pristine, flen);
	ctype = 22; /* outer type is in the AAD */
	ok = ok && tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, flen, &plain, &plen) == -1;
	memcpy(frag, pristine, flen);
	ctype = 23; /* so is the record version */
	ok = ok && tls_cipher_decrypt(&cs, &ctype, 0x0301, frag, flen, &plain, &plen) == -1;
	memcpy(frag, pristine, flen);
	ok = ok && tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, flen, &plain, &plen) == 0 && plen == 64 &&
	     ctype == 23 && memcmp(plain, pt, 64) == 0;
	tap_ok(ok, "%s: tampered tag / outer type / version -> -1 (no plaintext left); intact copy decrypts", s->name);

	flen = build_tls13(s, key, iv, 6, 0, pt, 0, 10, frag);
	ctype = 23;
	rc = tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, flen, &plain, &plen);
	tap_ok(rc == -2 && plain == NULL && cs.seq == 6, "%s: all-zero inner plaintext -> -2", s->name);
	tap_ok(tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, s->tag_len, &plain, &plen) == -2 &&
	       tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, 3, &plain, &plen) == -2,
	       "%s: fragment without room for a content type -> -2", s->name);
	tls_cipher_free(&cs);
}

/* ---- RFC 8448 known answers ---- */

static int rfc_record(const char *rec_hex, const char *secret_hex, uint64_t seq,
                      uint8_t want_type, const char *want_hex)
{
	size_t rl, sl, wl, plen;
	uint8_t *rec = unhex(rec_hex, &rl), *secret = unhex(secret_hex, &sl), *want = unhex(want_hex, &wl);
	tls_cipher_state_t cs;
	uint8_t *plain = NULL, ctype = rec[0];
	int ok = tls13_cipher_init(&cs, tls_suite_lookup(0x1301), secret, sl) == 0;
	size_t flen = (size_t)rec[3] << 8 | rec[4];
	ok = ok && flen + 5 == rl;
	cs.seq = seq;
	ok = ok && tls_cipher_decrypt(&cs, &ctype, (uint16_t)(rec[1] << 8 | rec[2]), rec + 5, flen, &plain, &plen) == 0 &&
	     ctype == want_type && plen == wl && memcmp(plain, want, wl) == 0;
	tls_cipher_free(&cs);
	free(rec); free(secret); free(want);
	return ok;
}

static void test_rfc8448(void)
{
	static const char S_HS[] = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
	static const char C_HS[] = "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21";
	static const char S_AP[] = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";
	static const char C_AP[] = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
	static const char APP50[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	                            "202122232425262728292a2b2c2d2e2f3031";
	static const char CFIN[] = "14000020a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61";

	tap_ok(rfc_record(RFC8448_SRV_HS_RECORD, S_HS, 0, 22, RFC8448_SRV_HS_PAYLOAD),
	       "RFC 8448: server handshake flight (EncryptedExtensions..Finished, 657 bytes) decrypts to the RFC payload");
	tap_ok(!rfc_record(RFC8448_SRV_HS_RECORD, S_HS, 1, 22, RFC8448_SRV_HS_PAYLOAD),
	       "RFC 8448: same record at the wrong sequence number fails");
	tap_ok(!rfc_record(RFC8448_SRV_HS_RECORD, C_HS, 0, 22, RFC8448_SRV_HS_PAYLOAD),
	       "RFC 8448: same record under the client's secret fails");
	tap_ok(rfc_record(RFC8448_CLI_FIN_RECORD, C_HS, 0, 22, CFIN),
	       "RFC 8448: client Finished record decrypts");
	tap_ok(rfc_record(RFC8448_SRV_NST_RECORD, S_AP, 0, 22, RFC8448_SRV_NST_PAYLOAD),
	       "RFC 8448: server NewSessionTicket record (seq 0) decrypts");
	tap_ok(rfc_record(RFC8448_SRV_APP_RECORD, S_AP, 1, 23, APP50),
	       "RFC 8448: server application data record (seq 1) decrypts");
	tap_ok(rfc_record(RFC8448_CLI_APP_RECORD, C_AP, 0, 23, APP50),
	       "RFC 8448: client application data record (seq 0) decrypts");
	tap_ok(rfc_record(RFC8448_CLI_ALERT_RECORD, C_AP, 1, 21, "0100"),
	       "RFC 8448: client close_notify alert (seq 1) decrypts, inner type 21");
}

/* ---- init / free contracts ---- */

static void test_init_free(void)
{
	uint8_t key[32] = { 1 }, iv[16] = { 2 }, mk[48] = { 3 }, frag[64] = { 0 }, *plain, ctype = 23;
	size_t plen;
	int zero = 1;
	tls_cipher_state_t cs;

	tap_ok(tls_cipher_init(&cs, tls_suite_lookup(0x009C), 0x0302, false, key, iv, NULL) == -1,
	       "init: GCM suite below TLS 1.2 rejected");
	tap_ok(tls_cipher_init(&cs, tls_suite_lookup(0x003C), 0x0301, false, key, iv, mk) == -1,
	       "init: SHA-256 CBC suite below TLS 1.2 rejected");
	tap_ok(tls_cipher_init(&cs, tls_suite_lookup(0x1301), 0x0303, false, key, iv, NULL) == -1,
	       "init: TLS 1.3 suite needs tls13_cipher_init");
	tap_ok(tls13_cipher_init(&cs, tls_suite_lookup(0xC02F), key, 32) == -1,
	       "tls13_cipher_init: TLS 1.2 suite rejected");
	tap_ok(tls_cipher_init(&cs, tls_suite_lookup(0xC02F), 0x0303, false, key, NULL, NULL) == -1,
	       "init: GCM without the salt rejected");
	tap_ok(tls_cipher_init(&cs, tls_suite_lookup(0x002F), 0x0301, false, key, NULL, mk) == -1,
	       "init: TLS 1.0 CBC without the key-block IV rejected");
	tap_ok(tls_cipher_init(&cs, tls_suite_lookup(0x002F), 0x0303, false, key, NULL, NULL) == -1,
	       "init: CBC without a MAC key rejected");
	tap_ok(tls_cipher_init(&cs, tls_suite_lookup(0x002F), 0x0303, true, key, NULL, mk) == 0 &&
	       cs.etm && cs.hd && cs.mac_hd, "init: TLS 1.2 CBC needs no IV");
	tls_cipher_free(&cs);
	if (cs.km || cs.km_len) zero = 0;            /* key material wiped and freed */
	tap_ok(zero && cs.hd == NULL && cs.mac_hd == NULL && cs.suite == NULL, "free wipes keys and handles");
	tls_cipher_free(&cs); /* already freed */
	memset(&cs, 0, sizeof cs);
	tls_cipher_free(&cs); /* zeroed */
	tap_ok(tls_cipher_decrypt(&cs, &ctype, 0x0303, frag, sizeof frag, &plain, &plen) == -2,
	       "decrypt on a freed state -> -2");
	tap_ok(tls_cipher_init(&cs, tls_suite_lookup(0xC02F), 0x0303, true, key, iv, NULL) == 0 && !cs.etm,
	       "init: EtM flag ignored for AEAD suites");
	tls_cipher_free(&cs);
}

int main(void)
{
	size_t i;
	if (!gcry_check_version(NULL)) {
		printf("Bail out! libgcrypt init failed\n");
		return 1;
	}
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);

	test_suite_table();
	test_init_free();
	test_all_suites12();
	test_cbc_details();
	for (i = 0; i < N_SUITES; i++)
		if (expected_suites[i].id >> 8 == 0x13)
			run_tls13(expected_suites[i].id);
	test_rfc8448();
	return tap_done();
}
