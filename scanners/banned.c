/*
 * banned.c - banned file names and types, amavisd's banned_filename_re:
 * the names and types of every attachment and of every file a virus
 * scanner met inside one, matched against an ordered list of POSIX
 * EREs where the first match decides. The check and its adapter to the
 * scanner interface (scanners.h).
 *
 * Left out: amavisd's per-recipient banned_namepath_re and the
 * file(1)-based type of every part (libclamav's types stand in, mapped
 * to file(1)'s short names where amavisd's default rules use them).
 */
#include "config.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/tables/table.h"
#include "scanners/content.h"
#include "scanners/mime.h"
#include "scanners/scanners.h"

#define BANNED_KEYS	6	/* keys checked per banned item */

struct banned_re {
	size_t n;
	regex_t *re;
	int *allow;
};

/* amavisd's Debian default $banned_filename_re, in spirit (content.h) */
const char *const banned_default[] = {
	/* double extensions anywhere in the name */
	"\\.[^./]*\\.(exe|vbs|pif|scr|bat|cmd|com|cpl|dll)\\.?$",
	/* a Windows class id as the extension */
	"\\{[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\\}?$",
	/* declared MIME types */
	"^application/x-msdownload$",
	"^application/x-msdos-program$",
	"^application/hta$",
	/* executable and script extensions */
	".\\.(exe|vbs|pif|scr|bat|cmd|com|cpl|js|jse|wsf|hta|lnk|msi)$",
	/* executables by content type (file(1) ".exe-ms", libclamav's types) */
	"^\\.exe-ms$",
	"^CL_TYPE_(MSEXE|ELF)$",
	NULL
};

/* banned_compile - see content.h */
int banned_compile(const char *const *patterns, size_t n, struct banned_re **re_r,
    const char **error_r)
{
	static char err[300];
	struct banned_re *r = xcalloc(1, sizeof(*r));
	size_t i;

	r->re = xcalloc(n ? n : 1, sizeof(*r->re));
	r->allow = xcalloc(n ? n : 1, sizeof(*r->allow));
	for (i = 0; i < n; i++) {
		const char *p = patterns[i];
		int rc;

		r->allow[i] = p[0] == '!';
		if (r->allow[i])
			p++;
		{
			const char *why = NULL;

			if (regex_sane(p, &why) < 0) {
				snprintf(err, sizeof(err), "banned_filename_re: \"%.60s\": %s", patterns[i], why);
				r->n = i;
				banned_free(&r);
				*error_r = err;
				return -1;
			}
		}
		rc = regcomp(&r->re[i], p, REG_EXTENDED | REG_ICASE | REG_NOSUB);
		if (rc != 0) {
			char e[200];

			regerror(rc, &r->re[i], e, sizeof(e));
			snprintf(err, sizeof(err), "banned_filename_re: \"%.60s\": %s", patterns[i], e);
			r->n = i;
			banned_free(&r);
			*error_r = err;
			return -1;
		}
	}
	r->n = n;
	*re_r = r;
	return 0;
}

/* banned_free - release compiled patterns; sets *rep to NULL */
void banned_free(struct banned_re **rep)
{
	struct banned_re *r = *rep;
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		regfree(&r->re[i]);
	free(r->re);
	free(r->allow);
	free(r);
	*rep = NULL;
}

/* short_types - amavisd's file(1) short types for libclamav's types */
static void short_types(const char *type, const char **t1, const char **t2)
{
	static const struct {
		const char *cl, *a, *b;
	} map[] = {
		{ "CL_TYPE_MSEXE", ".exe", ".exe-ms" }, { "CL_TYPE_ELF", ".elf", NULL },
		{ "CL_TYPE_MACHO", ".macho", NULL }, { "CL_TYPE_ZIP", ".zip", NULL },
		{ "CL_TYPE_RAR", ".rar", NULL }, { "CL_TYPE_7Z", ".7z", NULL },
		{ "CL_TYPE_GZ", ".gz", NULL }, { "CL_TYPE_BZ", ".bz2", NULL },
		{ "CL_TYPE_CAB", ".cab", NULL }, { "CL_TYPE_ARJ", ".arj", NULL },
		{ "CL_TYPE_MSOLE2", ".doc", NULL }, { "CL_TYPE_PDF", ".pdf", NULL },
		{ "CL_TYPE_RTF", ".rtf", NULL }, { "CL_TYPE_HTML", ".html", NULL },
		{ "CL_TYPE_TNEF", ".tnef", NULL }, { "CL_TYPE_MSCHM", ".chm", NULL },
		{ "CL_TYPE_ISO9660", ".iso", NULL }, { "CL_TYPE_POSIX_TAR", ".tar", NULL },
		{ "CL_TYPE_OLD_TAR", ".tar", NULL }, { "CL_TYPE_TEXT_ASCII", ".asc", NULL },
	};
	size_t i;

	*t1 = *t2 = NULL;
	if (type == NULL)
		return;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(type, map[i].cl) == 0) {
			*t1 = map[i].a;
			*t2 = map[i].b;
			return;
		}
	}
}

/* banned_items - see content.h */
size_t banned_items(struct arena *a, const struct scan_verdict *v, size_t nv, const struct mime_msg *m,
    struct banned_item **items_r)
{
	size_t cap = m ? m->nparts : 0, n = 0, i, j;
	struct banned_item *it;

	for (j = 0; v && j < nv; j++)
		cap += v[j].n_files;
	it = arena_allocarray(a, cap ? cap : 1, sizeof(*it));
	for (j = 0; v && j < nv; j++) {
		for (i = 0; i < v[j].n_files; i++) {
			it[n].name = v[j].files[i].name;
			it[n].type = v[j].files[i].type;
			it[n].mime_type = NULL;
			n++;
		}
	}
	for (i = 0; m && i < m->nparts; i++) {
		const struct mime_part *p = m->parts[i];

		if (!mime_part_is_leaf(p) || p == m->root)
			continue;
		if (p->filename == NULL && p->type && strcmp(p->type, "text") == 0)
			continue;
		it[n].name = p->filename;
		it[n].type = NULL;
		it[n].mime_type = p->type ? arena_printf(a, "%s/%s", p->type, p->subtype ? p->subtype : "") : NULL;
		n++;
	}
	*items_r = it;
	return n;
}

/* banned_check - see content.h.
 *
 * Rules are tried in order, each against every key of the item, so an
 * allow rule ('!') placed first can exempt an item whatever its other
 * keys say (amavisd's first-match-wins lookup).
 */
const char *banned_check(struct arena *a, const struct banned_item *items, size_t n,
    const struct banned_re *re)
{
	size_t i, r, k;

	if (re == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *keys[BANNED_KEYS], *t1, *t2;
		size_t nk = 0, nshow;
		int banned = 0;

		short_types(items[i].type, &t1, &t2);
		if (t1)
			keys[nk++] = t1;
		if (t2)
			keys[nk++] = t2;
		if (items[i].mime_type && *items[i].mime_type)
			keys[nk++] = items[i].mime_type;
		if (items[i].name && *items[i].name)
			keys[nk++] = items[i].name;
		nshow = nk;
		if (items[i].type && *items[i].type)
			keys[nk++] = items[i].type;	/* matched, not shown in %F */
		for (r = 0; r < re->n; r++) {
			for (k = 0; k < nk; k++)
				if (regexec(&re->re[r], keys[k], 0, NULL, 0) == 0)
					break;
			if (k < nk) {
				banned = !re->allow[r];
				break;
			}
		}
		if (banned) {
			struct buf b = BUF_INIT;
			const char *out;

			for (k = 0; k < nshow; k++) {
				if (k)
					buf_putc(&b, ',');
				buf_puts(&b, keys[k]);
			}
			if (nshow == 0)
				buf_puts(&b, keys[0]);
			out = arena_printable(a, b.data, CONTENT_TEXT_MAX);
			buf_free(&b);
			return out;
		}
	}
	return NULL;
}

/* banned_scan - struct scanner adapter: the leaf parts of in->mime and
 * the files the earlier scanners met */
static int banned_scan(void *ctx, const struct scan_input *in, struct scan_verdict *v_r)
{
	struct banned_item *items = NULL;
	size_t n = banned_items(in->arena, in->earlier, in->n_earlier, in->mime, &items);

	memset(v_r, 0, sizeof(*v_r));
	v_r->scanner = "banned";
	v_r->reason = banned_check(in->arena, items, n, ctx);
	if (v_r->reason != NULL)
		v_r->status = SCAN_BANNED;
	return 0;
}

/* banned_scanner - see content.h */
void banned_scanner(const struct banned_re *re, struct scanner *s_r)
{
	s_r->name = "banned";
	s_r->scan = banned_scan;
	s_r->ctx = (void *)re;
}
