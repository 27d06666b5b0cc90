/*
 * The status page's files (src/admin/ui.*), compiled in by
 * src/admin/embed.sh at build time: no CDN, no build step of their own.
 */
#ifndef CHARGEGATE_ADMIN_ASSETS_H
#define CHARGEGATE_ADMIN_ASSETS_H

#include <stddef.h>

struct AdminAsset {
	const char *name;		/* the file's base name, e.g. "ui.html" */
	const unsigned char *data;
	size_t len;
};

/* Ends with an entry whose name is NULL. */
extern const struct AdminAsset admin_assets[];

#endif
