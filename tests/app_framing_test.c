/*
 * app_framing_test.c — unit tests of the application framing layer (app_framing.c):
 * SIP / HTTP/1.x / raw message splitting of decrypted plaintext pushed one record at a
 * time. Every push comes from its own heap copy that is freed right after the call, so
 * (under ASan) any reference the framer kept into caller memory is caught. The central
 * property checked everywhere: the concatenation of everything emitted for a direction
 * equals the input, and the framing does not depend on where the records were cut.
 */
/*
 * This file runs the test groups; they are in app_framing_test_{sip,http,raw,random,gaps}.c,
 * the shared collector, pushes and builders in app_framing_test_util.c (app_framing_test.h).
 */
#include "app_framing_test.h"

int main(void)
{
	test_sip_basic();
	test_sip_multi();
	test_sip_headers();
	test_sip_keepalive();
	test_sip_large();
	test_sip_hostile();
	test_http();
	test_raw();
	test_random_splits();
	test_fuzz();
	test_gaps();
	return tap_done();
}
