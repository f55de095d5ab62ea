/*
 * table_cidr.c - cidr:/path, Postfix's cidr_table(5): rules
 *   192.0.2.0/24        result
 *   192.0.2.1           result     (one address: /32 or /128)
 *   2001:db8::/32       result
 *   [2001:db8::1]/128   result     (brackets around IPv6 are allowed)
 * tried in file order; the first rule whose network holds the key wins
 * (first match, as Postfix: put longer prefixes first). /0 matches every
 * address of its family; IPv4 keys never match IPv6 rules or the other
 * way round (no mapping of ::ffff:a.b.c.d). A network with host bits set
 * ("192.0.2.1/24") is an error, as in Postfix. A key that is not an
 * address is simply not found.
 *
 * Deliberately left out: cidr_table's if/endif and negation (Postfix
 * 3.2), and interface scopes ("fe80::1%eth0").
 * Limits: a lookup is linear in the number of rules.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/tables/table_private.h"

struct cidr_rule {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char net[16];
	unsigned char mask[16];
	const char *result;
};

struct cidr_table {
	struct cidr_rule *rules;
	size_t n, cap;
};

/* cidr_addr - parse an address (IPv6 optionally in brackets) */
static int cidr_addr(const char *s, unsigned char *out, int *family_r)
{
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']' && n - 2 < sizeof(tmp)) {
		memcpy(tmp, s + 1, n - 2);
		tmp[n - 2] = 0;
		if (inet_pton(AF_INET6, tmp, out) == 1) {
			*family_r = AF_INET6;
			return 0;
		}
		return -1;
	}
	if (inet_pton(AF_INET, s, out) == 1) {
		*family_r = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family_r = AF_INET6;
		return 0;
	}
	return -1;
}

static int cidr_parse(struct table *t, const char *label, const char *text, size_t len,
    const char **error_r)
{
	struct cidr_table *ct = arena_alloc(t->mem, sizeof(*ct));
	struct table_reader rd;
	char *line, *p, *slash;
	int ln, rc;

	t->priv = ct;
	table_reader_init(&rd, label, text, len);
	while ((rc = table_reader_next(&rd, &line, &ln, error_r)) > 0) {
		struct cidr_rule r;
		int bits, i, alen;

		memset(&r, 0, sizeof(r));
		for (p = line; *p && !isspace((unsigned char)*p); p++)
			;
		if (*p == 0) {
			table_error(error_r, "%s:%d: expected \"network/mask result\"", label, ln);
			rc = -1;
			break;
		}
		*p++ = 0;
		while (isspace((unsigned char)*p))
			p++;
		if ((slash = strrchr(line, '/')) != NULL)
			*slash = 0;
		if (cidr_addr(line, r.net, &r.family) < 0) {
			table_error(error_r, "%s:%d: bad network address \"%.60s\"", label, ln, line);
			rc = -1;
			break;
		}
		alen = r.family == AF_INET ? 4 : 16;
		bits = alen * 8;
		if (slash != NULL) {
			char *end;
			long v = strtol(slash + 1, &end, 10);

			if (!isdigit((unsigned char)slash[1]) || *end || v < 0 || v > alen * 8 ||
			    end - (slash + 1) > 3) {
				table_error(error_r, "%s:%d: bad mask length \"/%.10s\" (0 to %d)", label, ln,
				    slash + 1, alen * 8);
				rc = -1;
				break;
			}
			bits = (int)v;
		}
		for (i = 0; i < alen; i++) {
			int b = bits - 8 * i;

			r.mask[i] = b >= 8 ? 0xff : b <= 0 ? 0 : (unsigned char)(0xff << (8 - b));
			if (r.net[i] & ~r.mask[i]) {
				table_error(error_r, "%s:%d: non-null host address bits in \"%.60s/%d\"",
				    label, ln, line, bits);
				rc = -1;
				break;
			}
		}
		if (rc < 0)
			break;
		r.result = arena_strdup(t->mem, p);
		if (ct->n == ct->cap) {
			ct->cap = ct->cap ? ct->cap * 2 : 16;
			ct->rules = xreallocarray(ct->rules, ct->cap, sizeof(*ct->rules));
		}
		ct->rules[ct->n++] = r;
	}
	table_reader_free(&rd);
	return rc < 0 ? -1 : 0;
}

static int cidr_lookup(struct table *t, const char *key, struct arena *a, const char **value_r,
    const char **error_r)
{
	struct cidr_table *ct = t->priv;
	unsigned char addr[16];
	int family, alen, i;
	size_t n;

	if (strlen(key) > INET6_ADDRSTRLEN + 2 || cidr_addr(key, addr, &family) < 0)
		return TABLE_NOTFOUND;
	alen = family == AF_INET ? 4 : 16;
	for (n = 0; n < ct->n; n++) {
		const struct cidr_rule *r = &ct->rules[n];

		if (r->family != family)
			continue;
		for (i = 0; i < alen; i++)
			if ((addr[i] & r->mask[i]) != r->net[i])
				break;
		if (i == alen) {
			*value_r = arena_strdup(a, r->result);
			return TABLE_FOUND;
		}
	}
	return TABLE_NOTFOUND;
}

static void cidr_close(struct table *t)
{
	struct cidr_table *ct = t->priv;

	if (ct != NULL)
		free(ct->rules);
}

const struct table_driver table_cidr_driver = {
	.type = "cidr",
	.flags = TABLE_F_PATTERN,
	.parse = cidr_parse,
	.lookup = cidr_lookup,
	.close = cidr_close,
};
