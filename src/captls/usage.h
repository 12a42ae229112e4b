/*
 * usage.h — captls's help and version texts.
 */
#ifndef CAPTLS_USAGE_H
#define CAPTLS_USAGE_H

#include <stdio.h>

/* The --help text to f. */
void captls_usage(FILE *f);
/* The --version lines (ours, libpcap's, json-c's) to stdout. */
void captls_version(void);

#endif
