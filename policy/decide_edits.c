/*
 * decide_edits.c - the header edits of the passed recipients, as
 * amavisd adds them: X-Quarantine-ID, X-Virus-Scanned, X-Amavis-Alert,
 * X-Spam-* and the subject tag, deletions of existing X-Spam-* fields;
 * recipients with the same edits grouped (one delivery each), and the
 * bytes that replace the message's beginning for one group.
 *
 * Left out: defanging and disclaimers, X-Spam-Report.
 * Bugs: HDR_PREPEND_SUBJECT edits the first Subject field only, as
 * amavisd does.
 * Limits: added fields are folded past DECIDE_FOLD columns, a word
 * longer than DECIDE_WORD_MAX is cut by a fold.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/mem.h"
#include "policy/decide.h"
#include "policy/decide_private.h"

#define DECIDE_FOLD		78	/* fold added header fields past this column */
#define DECIDE_WORD_MAX		900	/* a longer word is cut by a fold */

/* the X-Spam-* fields a scored message loses (remove_existing_spam_headers) */
static const char *const spam_headers[] = { "X-Spam-Flag", "X-Spam-Score", "X-Spam-Level", "X-Spam-Status",
	"X-Spam-Report", "X-Spam-Checker-Version", "X-Spam-Tests" };

/* the edits of one recipient, growing in the arena */
struct edit_list {
	struct hdr_edit *e;
	size_t n, cap;
};

/* fmt_num - a level or score as amavisd prints 0+sprintf("%.3f"): no
 * trailing zeros ("7.5", "5", "-1.25") */
static char *fmt_num(struct arena *a, double v)
{
	char tmp[64];
	size_t n;

	snprintf(tmp, sizeof(tmp), "%.3f", v);
	n = strlen(tmp);
	while (n > 0 && tmp[n - 1] == '0')
		tmp[--n] = 0;
	if (n > 0 && tmp[n - 1] == '.')
		tmp[--n] = 0;
	if (strcmp(tmp, "-0") == 0)
		strlcpy(tmp, "0", sizeof(tmp));
	return arena_strdup(a, tmp);
}

/* ccat_has - is there a ccat of major maj (any minor, or exactly min when min >= 0)? */
static int ccat_has(const unsigned *list, unsigned n, unsigned maj, int min)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (CCAT_MAJOR(list[i]) == maj && (min < 0 || CCAT_MINOR(list[i]) == (unsigned)min))
			return 1;
	return 0;
}

/* edit_push - append one edit to the list (arena, doubling) */
static void edit_push(struct arena *a, struct edit_list *l, enum hdr_edit_op op, const char *name,
    const char *value)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct hdr_edit *ne = arena_allocarray(a, cap, sizeof(*ne));

		if (l->n)
			memcpy(ne, l->e, l->n * sizeof(*ne));
		l->e = ne;
		l->cap = cap;
	}
	l->e[l->n].op = op;
	l->e[l->n].name = name;
	l->e[l->n].value = value;
	l->n++;
}

/* subject_tag - the first non-empty tag along the recipient's ccats
 * (amavisd's %subject_tag_maps_by_ccat), with _SCORE_, _REQD_, _YESNO_
 * and _YESNOCAPS_ expanded; NULL when none */
static const char *subject_tag(struct arena *a, const struct decide_facts *f, const struct decide_rcpt *rr)
{
	const struct decide_policy *p = rr->pol;
	const char *tag = NULL;
	unsigned i;
	int yes = ccat_has(rr->ccat, rr->nccat, CC_SPAMMY, -1);
	struct buf b = BUF_INIT;
	const char *s, *out;

	for (i = 0; i < rr->nccat && (tag == NULL || *tag == 0); i++) {
		unsigned c = rr->ccat[i];

		if (c == CCAT(CC_VIRUS, 0))
			tag = p->virus_subject_tag;
		else if (CCAT_MAJOR(c) == CC_UNCHECKED && CCAT_MINOR(c) == 0)
			tag = p->undecipherable_subject_tag;
		else if (c == CCAT(CC_SPAMMY, 1))
			tag = p->spam_subject_tag3;
		else if (c == CCAT(CC_SPAMMY, 0))
			tag = p->spam_subject_tag;
		else if (c == CCAT(CC_CLEAN, 1))
			tag = p->spam_subject_tag1;
	}
	if (tag == NULL || *tag == 0)
		return NULL;
	for (s = tag; *s;) {
		if (strncmp(s, "_SCORE_", 7) == 0) {
			buf_puts(&b, f->spam_scored ? fmt_num(a, f->spam_score) : "-");
			s += 7;
		} else if (strncmp(s, "_REQD_", 6) == 0) {
			buf_puts(&b, decide_level_set(p->tag2_level) ? fmt_num(a, p->tag2_level) : "-");
			s += 6;
		} else if (strncmp(s, "_YESNO_", 7) == 0) {
			buf_puts(&b, yes ? "Yes" : "No");
			s += 7;
		} else if (strncmp(s, "_YESNOCAPS_", 11) == 0) {
			buf_puts(&b, yes ? "YES" : "NO");
			s += 11;
		} else {
			buf_putc(&b, *s++);
		}
	}
	out = arena_printable(a, b.data, 200);
	buf_free(&b);
	return out;
}

/* rcpt_edits - the header edits of one passed recipient (decide.h) */
static void rcpt_edits(struct message *msg, struct decide_result *res, struct decide_rcpt *rr,
    const struct decide_hdr_opts *o, const int *present, struct edit_list *l)
{
	const struct decide_facts *f = res->facts;
	const struct decide_policy *p = rr->pol;
	struct arena *a = msg->arena;
	int local = p->is_local;
	int do_tag = ccat_has(rr->ccat, rr->nccat, CC_CLEAN, 1);
	int do_tag2 = ccat_has(rr->ccat, rr->nccat, CC_SPAMMY, -1);
	const char *tag;
	size_t k;

	if (f->spam_scored && p->remove_existing_spam_headers)
		for (k = 0; k < sizeof(spam_headers) / sizeof(spam_headers[0]); k++)
			if (present[k])
				edit_push(a, l, HDR_DELETE, spam_headers[k], NULL);
	if (local && o && o->quarantine_id && *o->quarantine_id)
		edit_push(a, l, HDR_ADD, "X-Quarantine-ID", arena_printf(a, "<%s>", o->quarantine_id));
	if (o && o->x_header_tag && *o->x_header_tag && !(p->bypass & DECIDE_BYPASS_VIRUS))
		edit_push(a, l, HDR_ADD, o->x_header_tag, o->x_header_line ? o->x_header_line : "");
	if (ccat_has(rr->ccat, rr->nccat, CC_VIRUS, -1)) {
		edit_push(a, l, HDR_ADD, "X-Amavis-Alert",
		    arena_printf(a, "INFECTED, message contains virus: %s", decide_virus_list(a, f)));
		rr->tagged = 1;
	}
	if (ccat_has(rr->ccat, rr->nccat, CC_BANNED, -1)) {
		edit_push(a, l, HDR_ADD, "X-Amavis-Alert", arena_printf(a, "BANNED, message contains %s",
		    arena_printable(a, f->banned_reason ? f->banned_reason : "", 300)));
		rr->tagged = 1;
	}
	if (ccat_has(rr->ccat, rr->nccat, CC_BADH, -1))
		edit_push(a, l, HDR_ADD, "X-Amavis-Alert", arena_printf(a, "BAD HEADER SECTION, %s",
		    arena_printable(a, f->badh_text && *f->badh_text ? f->badh_text : "bad header", 300)));
	if (local && do_tag && f->spam_scored) {
		double s = f->spam_score;
		struct buf bar = BUF_INIT;
		int stars = s >= 64 ? 64 : s >= 1 ? (int)s : 0, j;

		edit_push(a, l, HDR_ADD, "X-Spam-Flag", do_tag2 ? "YES" : "NO");
		edit_push(a, l, HDR_ADD, "X-Spam-Score", fmt_num(a, s));
		for (j = 0; j < stars; j++)
			buf_putc(&bar, '*');
		edit_push(a, l, HDR_ADD, "X-Spam-Level", arena_strdup(a, bar.data ? bar.data : ""));
		buf_free(&bar);
		edit_push(a, l, HDR_ADD, "X-Spam-Status", arena_printf(a, "%s, score=%s%s%s%s%s tests=[%s] autolearn=%s",
		    do_tag2 ? "Yes" : "No", fmt_num(a, s),
		    decide_level_set(p->tag_level) ? " tagged_above=" : "", decide_level_set(p->tag_level) ? fmt_num(a, p->tag_level) : "",
		    decide_level_set(p->tag2_level) ? " required=" : "", decide_level_set(p->tag2_level) ? fmt_num(a, p->tag2_level) : "",
		    arena_printable(a, f->spam_tests ? f->spam_tests : "", 2000),
		    arena_printable(a, f->spam_autolearn ? f->spam_autolearn : "unavailable", 64)));
		if (do_tag2)
			rr->tagged = 1;
	}
	if (local && (tag = subject_tag(a, f, rr)) != NULL)
		edit_push(a, l, HDR_PREPEND_SUBJECT, "Subject", tag);
}

/* edits_equal - the same edits in the same order (names in any case)? */
static int edits_equal(const struct hdr_edit *x, size_t nx, const struct hdr_edit *y, size_t ny)
{
	size_t i;

	if (nx != ny)
		return 0;
	for (i = 0; i < nx; i++) {
		if (x[i].op != y[i].op || strcasecmp(x[i].name, y[i].name) != 0)
			return 0;
		if ((x[i].value == NULL) != (y[i].value == NULL))
			return 0;
		if (x[i].value && strcmp(x[i].value, y[i].value) != 0)
			return 0;
	}
	return 1;
}

/* decide_header_groups - see decide.h */
size_t decide_header_groups(struct message *msg, struct decide_result *res,
    const struct decide_hdr_opts *o, struct decide_group **groups_r)
{
	struct decide_group *g = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*g));
	int present[sizeof(spam_headers) / sizeof(spam_headers[0])];
	size_t ng = 0, i, k;

	memset(present, 0, sizeof(present));
	if (res->facts && res->facts->spam_scored)
		for (k = 0; k < sizeof(spam_headers) / sizeof(spam_headers[0]); k++)
			present[k] = message_header(msg, spam_headers[k]) != NULL;
	for (i = 0; i < msg->nrcpts && i < res->n; i++) {
		struct edit_list l = { NULL, 0, 0 };

		if (msg->rcpts[i].code != 0 || res->r[i].blocked)
			continue;
		rcpt_edits(msg, res, &res->r[i], o, present, &l);
		for (k = 0; k < ng; k++)
			if (edits_equal(g[k].edits, g[k].nedits, l.e, l.n))
				break;
		if (k == ng) {
			g[ng].idx = arena_allocarray(msg->arena, msg->nrcpts, sizeof(size_t));
			g[ng].n = 0;
			g[ng].edits = l.e;
			g[ng].nedits = l.n;
			ng++;
		}
		g[k].idx[g[k].n++] = i;
	}
	*groups_r = g;
	return ng;
}

/* decide_fold_field - "Name: value" CRLF, folded at white space past DECIDE_FOLD */
void decide_fold_field(struct buf *b, const char *name, const char *value)
{
	size_t col = strlen(name) + 1;
	const char *p = value ? value : "";

	buf_puts(b, name);
	buf_putc(b, ':');
	if (*p == 0)
		buf_putc(b, ' ');
	while (*p) {
		const char *sp = p;
		size_t wl;

		while (*sp == ' ')
			sp++;
		wl = strcspn(sp, " ");
		if (wl > DECIDE_WORD_MAX)
			wl = DECIDE_WORD_MAX;	/* keep lines under RFC 5322's 998 */
		if (col > 1 + strlen(name) && col + 1 + wl > DECIDE_FOLD) {
			buf_puts(b, "\r\n");
			col = 0;
		}
		buf_putc(b, ' ');
		buf_append(b, sp, wl);
		col += 1 + wl;
		p = sp + wl;
		while (*p == ' ')
			p++;
	}
	buf_puts(b, "\r\n");
}

/* edits_added - the fields the edits add (HDR_ADD, in order) into b,
 * folded; *subj_tag_r the first subject tag (NULL: none); returns 1 when
 * some edit changes or deletes an existing field */
static int edits_added(struct buf *b, const struct hdr_edit *e, size_t n, const char **subj_tag_r)
{
	int rewrite = 0;
	size_t i;

	*subj_tag_r = NULL;
	for (i = 0; i < n; i++) {
		if (e[i].op == HDR_ADD)
			decide_fold_field(b, e[i].name, e[i].value);
		else
			rewrite = 1;
		if (e[i].op == HDR_PREPEND_SUBJECT && *subj_tag_r == NULL)
			*subj_tag_r = e[i].value ? e[i].value : "";
	}
	return rewrite;
}

/* field_end - the end of the header field that starts at pos: past its
 * line end and every continuation line (or len) */
static size_t field_end(const char *data, size_t len, size_t pos)
{
	size_t end = pos;

	for (;;) {
		const char *q = memchr(data + end, '\n', len - end);

		end = q ? (size_t)(q - data) + 1 : len;
		if (end >= len || (data[end] != ' ' && data[end] != '\t'))
			return end;
	}
}

/* field_deleted - does a HDR_DELETE edit name the field name[0..namelen)? */
static int field_deleted(const char *name, size_t namelen, const struct hdr_edit *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (e[i].op == HDR_DELETE && strlen(e[i].name) == namelen &&
		    strncasecmp(name, e[i].name, namelen) == 0)
			return 1;
	return 0;
}

/* header_rewrite - the header section of data into b without the
 * deleted fields and with subj_tag (when not NULL) put before the text
 * of the first Subject; *subj_done_r says whether there was one.
 * Returns where the section ends: its empty line, or len. */
static size_t header_rewrite(struct buf *b, const char *data, size_t len, const struct hdr_edit *e,
    size_t n, const char *subj_tag, int *subj_done_r)
{
	size_t pos = 0;

	*subj_done_r = 0;
	while (pos < len) {
		size_t start = pos, end, namelen;
		const char *colon;

		/* empty line: end of the header section */
		if (data[pos] == '\n' || (data[pos] == '\r' && pos + 1 < len && data[pos + 1] == '\n'))
			return pos;
		end = pos = field_end(data, len, pos);
		colon = memchr(data + start, ':', end - start);
		namelen = colon ? (size_t)(colon - (data + start)) : 0;
		while (namelen > 0 && (data[start + namelen - 1] == ' ' || data[start + namelen - 1] == '\t'))
			namelen--;
		if (colon && field_deleted(data + start, namelen, e, n))
			continue;
		if (subj_tag && !*subj_done_r && colon && namelen == 7 &&
		    strncasecmp(data + start, "Subject", 7) == 0) {
			const char *v = colon + 1;

			if (v < data + end && *v == ' ')
				v++;
			buf_append(b, data + start, (size_t)(colon - (data + start)));
			buf_puts(b, ": ");
			buf_puts(b, subj_tag);
			buf_append(b, v, (size_t)(data + end - v));
			*subj_done_r = 1;
			continue;
		}
		buf_append(b, data + start, end - start);
	}
	return len;
}

/* subject_add - a Subject field of the tag alone, trailing blanks
 * trimmed, for a message that had none */
static void subject_add(struct arena *a, struct buf *b, const char *subj_tag)
{
	size_t tl = strlen(subj_tag);

	while (tl > 0 && subj_tag[tl - 1] == ' ')
		tl--;
	if (b->len > 0 && b->data[b->len - 1] != '\n')
		buf_puts(b, "\r\n");	/* the last field had no line end (BDAT) */
	decide_fold_field(b, "Subject", arena_strndup(a, subj_tag, tl));
}

/* decide_edits_apply - see decide.h */
void decide_edits_apply(struct arena *a, const char *data, size_t len, const struct hdr_edit *e,
    size_t n, const char **out_r, size_t *outlen_r, size_t *skip_r)
{
	struct buf b = BUF_INIT;
	const char *subj_tag;
	char *o;
	int subj_done;

	*skip_r = 0;
	if (edits_added(&b, e, n, &subj_tag)) {
		*skip_r = header_rewrite(&b, data, len, e, n, subj_tag, &subj_done);
		if (subj_tag && !subj_done)
			subject_add(a, &b, subj_tag);
	}
	/* a copy of all b.len bytes: the kept header lines may hold NULs,
	 * where arena_strndup() would stop short of outlen */
	o = arena_alloc(a, b.len + 1);
	if (b.len)
		memcpy(o, b.data, b.len);
	o[b.len] = 0;
	*out_r = o;
	*outlen_r = b.len;
	buf_free(&b);
}
