/*
 * fuzz_header.c - libFuzzer target for the two readers of a message's
 * header section outside the MIME parser: message_header() (lib/
 * message.c: one field, unfolded) and decide_edits_apply()
 * (policy/decide.c: deletes fields, tags the Subject, adds fields, and
 * says where the original header section ends). The input after its
 * first byte is the message; the first byte picks the edits: delete
 * X-Spam-Flag and X-Spam-Status, tag the Subject, add X-Virus-Scanned,
 * add X-Amavis-Alert with a long value made of the input's printable
 * bytes (as a banned file name would be).
 *
 * Checked: message_header() gives one line (no CR LF inside); the
 * edits' skip lies within the message and, after a rewrite, at the end
 * of a line (or of the message); every added or rewritten line ends
 * in CR LF, within RFC 5322's 998 bytes; the rest is the original
 * header section's lines, byte for byte and in order (NULs included),
 * less the deleted fields; the Subject carries the tag.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/message.h"
#include "lib/spool.h"
#include "policy/decide.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TAG "***SPAM*** "

/* one_header - message_header() of name, checked */
static void one_header(struct message *msg, const char *name)
{
	const char *v = message_header(msg, name);

	if (v != NULL && strpbrk(v, "\n") != NULL)
		abort();
}

/* is_field - the line at p (of n bytes) is a field called name */
static int is_field(const char *p, size_t n, const char *name)
{
	size_t nl = strlen(name);

	if (n < nl || strncasecmp(p, name, nl) != 0)
		return 0;
	for (p += nl, n -= nl; n > 0 && (*p == ' ' || *p == '\t'); p++, n--)
		;
	return n > 0 && *p == ':';
}

/* check_out - the lines made by decide_edits_apply: the added ones,
 * then (after a rewrite) the kept lines of data[0..skip) in their order
 * and byte for byte, but for the tagged Subject line */
static void check_out(const char *out, size_t olen, size_t nadded_bytes, int deleted, int tagged,
    const char *data, size_t skip)
{
	size_t pos = 0, cur = 0;
	int subject_tagged = 0, first_subject = 1;

	while (pos < olen) {
		const char *nl = memchr(out + pos, '\n', olen - pos);
		size_t n = nl ? (size_t)(nl - (out + pos)) : olen - pos;

		if (pos < nadded_bytes && (nl == NULL || n == 0 || out[pos + n - 1] != '\r' || n - 1 > 998))
			abort();
		if (pos >= nadded_bytes && !(tagged && is_field(out + pos, n, "Subject"))) {
			size_t want = n + (nl != NULL);
			const char *at = memmem(data + cur, skip - cur, out + pos, want);

			/* the last line of a header section without a line end
			 * gets CR LF when a Subject field follows it */
			if (at == NULL && nl != NULL && n > 0 && out[pos + n - 1] == '\r' && skip - cur >= n - 1 &&
			    memcmp(data + skip - (n - 1), out + pos, n - 1) == 0)
				at = data + skip - (want = n - 1);
			if (at == NULL)
				abort();	/* not a line of the original header section */
			cur = (size_t)(at - data) + want;
		}
		if (deleted && (is_field(out + pos, n, "X-Spam-Flag") || is_field(out + pos, n, "X-Spam-Status")))
			abort();
		if (tagged && first_subject && is_field(out + pos, n, "Subject")) {
			first_subject = 0;
			subject_tagged = memmem(out + pos, n, TAG, strlen(TAG) - 1) != NULL;
		}
		pos += n + (nl != NULL);
	}
	if (tagged && !subject_tagged)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct hdr_edit e[6];
	struct message msg;
	struct arena *a;
	const char *out;
	size_t olen, skip, n = 0, i, added = 0;
	unsigned flags;
	char *copy, *alert;

	if (size < 1 || size > 65536)
		return 0;
	if (!ready) {
		log_open("fuzz", 1, NULL);
		ready = 1;
	}
	flags = data[0];
	size--;
	a = arena_create(0);
	/* an exact-size heap copy: reads past the end are caught */
	copy = malloc(size ? size : 1);
	memcpy(copy, data + 1, size);

	memset(&msg, 0, sizeof(msg));
	msg.arena = a;
	msg.spool = spool_create(a, "/tmp", 1 << 20);
	if (spool_write(msg.spool, copy, size) < 0 || spool_finish(msg.spool) < 0)
		abort();
	one_header(&msg, "Subject");
	one_header(&msg, "From");
	one_header(&msg, "X-Spam-Flag");

	/* the alert value: the input's printable bytes, as a file name */
	alert = arena_alloc(a, 40 + (size < 2000 ? size : 2000));
	strcpy(alert, "BANNED, message contains ");
	for (i = 0, olen = strlen(alert); i < size && i < 2000; i++)
		if (copy[i] >= 0x20 && copy[i] < 0x7f)
			alert[olen++] = copy[i];
	alert[olen] = 0;

	if (flags & 4)
		e[n++] = (struct hdr_edit){ HDR_ADD, "X-Virus-Scanned", "tollgate at example.com" };
	if (flags & 8)
		e[n++] = (struct hdr_edit){ HDR_ADD, "X-Amavis-Alert", alert };
	added = n;
	if (flags & 1) {
		e[n++] = (struct hdr_edit){ HDR_DELETE, "X-Spam-Flag", NULL };
		e[n++] = (struct hdr_edit){ HDR_DELETE, "X-Spam-Status", NULL };
	}
	if (flags & 2)
		e[n++] = (struct hdr_edit){ HDR_PREPEND_SUBJECT, "Subject", TAG };

	decide_edits_apply(a, copy, size, e, n, &out, &olen, &skip);
	if (out == NULL || skip > size || strlen(out) > olen)
		abort();
	if (!(flags & 3) && skip != 0)
		abort();
	if ((flags & 3) && skip > 0 && skip < size && copy[skip] != '\n' && copy[skip] != '\r')
		abort();
	/* the added lines come first: find where they end (the adds alone) */
	if (added) {
		const char *ao;
		size_t alen, askip;

		decide_edits_apply(a, copy, size, e, added, &ao, &alen, &askip);
		if (askip != 0 || alen > olen || memcmp(ao, out, alen) != 0)
			abort();
		check_out(out, olen, alen, flags & 1, flags & 2, copy, skip);
	} else {
		check_out(out, olen, 0, flags & 1, flags & 2, copy, skip);
	}
	free(copy);
	arena_free(&a);
	return 0;
}
