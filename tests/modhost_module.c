/*
 * modhost_module.c — the module's configuration and load as captagent does them: writes
 * <tmpdir>/protocol_tls.xml (captagent's module XML with profiles), then calls load_f
 * with global_config_path set and an uninitialised (garbage) xml pointer, like captagent.
 *
 * Why: configuration errors and load behaviour are part of the module's contract; every
 * case configures the module through the same file format captagent reads.
 */
#include "modhost.h"

#include <stdio.h>
#include <stdint.h>

void *lib;
struct module_exports *ex;

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f) return -1;
	fputs(text, f);
	return fclose(f);
}

char tmpdir[256];

/* Write <tmpdir>/protocol_tls.xml with the given <settings> body for one profile. */
void write_conf(const char *body)
{
	char path[512], xml[8192];
	snprintf(path, sizeof path, "%s/protocol_tls.xml", tmpdir);
	snprintf(xml, sizeof xml,
	         "<?xml version=\"1.0\"?>\n<document type=\"captagent_module/xml\">\n"
	         "  <module name=\"protocol_tls\" description=\"TLS\" serial=\"1\">\n%s"
	         "  </module>\n</document>\n", body);
	write_file(path, xml);
}

static char profile_xml[4096];
const char *one_profile(const char *name, const char *params)
{
	snprintf(profile_xml, sizeof profile_xml,
	         "    <profile name=\"%s\" enable=\"true\"><settings>\n%s    </settings></profile>\n",
	         name, params);
	return profile_xml;
}

int module_load(void)
{
	log_clear();
	global_config_path = tmpdir;
	/* captagent passes an uninitialised pointer: pass garbage on purpose */
	return ex->load_f((xml_node *)(uintptr_t)0x5bdf7048);
}
