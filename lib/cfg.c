/*
 * cfg.c - parser for Postfix-style configuration files (see cfg.h).
 *
 * Reading happens in two passes: first every "name = value" pair is
 * collected raw (later definitions win, as in main.cf), then each table
 * parameter is expanded and type-checked. Expansion is recursive with a
 * depth bound, so "a = $b", "b = $a" is an error, not a hang.
 *
 * Each value remembers the line it was set on, so that a value found
 * bad only later (a forward method, a destiny, a listener, checked by
 * the modules that use them) is still reported as "file:line: ..."
 * (cfg_where, cfg_error).
 *
 * myhostname and mydomain get Postfix's computed defaults when they are
 * empty: the system host name, and myhostname less its first label (or
 * "localdomain"); $mydomain and $myhostname expand to those.
 *
 * Limits: a logical line (with continuations) is at most CFG_MAX_LINE
 * bytes; at most CFG_MAX_VARS names per file.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/mem.h"

#define CFG_MAX_LINE (64 * 1024)
#define CFG_MAX_VARS 4096
#define CFG_MAX_DEPTH 20

const struct param_def param_table[P__COUNT] = {
#define PARAM(id, name, type, def, min, max, help) { name, type, def, min, max, help },
#include "lib/params.def"
#undef PARAM
};

struct cfg_var {
	char *name;
	char *raw;
	int line;
	int used;
};

struct cfg {
	char *path;
	struct cfg_var *vars;	/* raw values from the file */
	int nvars;
	char *value[P__COUNT];	/* expanded */
	long long num[P__COUNT];
	char **list[P__COUNT];
	int nlist[P__COUNT];
	int set[P__COUNT];
	int line[P__COUNT];	/* where it was set, 0: its default */
	char *computed[P__COUNT];	/* raw value computed at load (myhostname, mydomain), or NULL */
};

static char cfg_errbuf[1024];

/* cfg_at - "file:line" or, for line 0 (a default), "file", into buf */
static const char *cfg_at(char *buf, size_t size, const char *fname, int line)
{
	if (line > 0)
		snprintf(buf, size, "%s:%d", fname, line);
	else
		snprintf(buf, size, "%s", fname);
	return buf;
}

/* cfg_lookup_id - a name's index in param_table */
int cfg_lookup_id(const char *name)
{
	int i;

	for (i = 0; i < P__COUNT; i++)
		if (strcmp(param_table[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * cfg_parse_unit - "N" or "N<unit>[tail]": a non-negative decimal
 * number, then one letter of units (units[i] multiplies by mul[i]; the
 * letters are matched as given, so list both cases where both go), then
 * nothing or, after a unit, tail in any case; 0 with *out, or -1 (also
 * when the product would overflow)
 */
static int cfg_parse_unit(const char *s, const char *units, const long long *mul, const char *tail,
    long long *out)
{
	const char *u;
	char *end;
	long long v, m = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno || v < 0)
		return -1;
	if (*end) {
		if ((u = strchr(units, *end)) == NULL)
			return -1;
		m = mul[u - units];
		end++;
		if (*end && (*tail == 0 || strcasecmp(end, tail) != 0))
			return -1;
	}
	if (v > LLONG_MAX / m)
		return -1;
	*out = v * m;
	return 0;
}

/* cfg_parse_time - "480", "480s", "8m", "2h", "1d", "1w" */
int cfg_parse_time(const char *s, long long *out)
{
	static const long long mul[] = { 1, 60, 3600, 86400, 7 * 86400 };

	return cfg_parse_unit(s, "smhdw", mul, "", out);
}

/* cfg_parse_size - "1024", "512k", "10m", "1g" (binary multiples; "10MB" too) */
int cfg_parse_size(const char *s, long long *out)
{
	static const long long mul[] = { 1024, 1024, 1024 * 1024, 1024 * 1024, 1024LL * 1024 * 1024,
		1024LL * 1024 * 1024 };

	return cfg_parse_unit(s, "kKmMgG", mul, "b", out);
}

/* cfg_parse_bool - yes/true/1/on or no/false/0/off */
int cfg_parse_bool(const char *s, long long *out)
{
	if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "on"))
		*out = 1;
	else if (!strcasecmp(s, "no") || !strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "off"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* cfg_find_var - the raw definition of a name (len bytes), or NULL */
static struct cfg_var *cfg_find_var(struct cfg *cfg, const char *name, size_t len)
{
	int i;

	for (i = cfg->nvars - 1; i >= 0; i--)
		if (strlen(cfg->vars[i].name) == len && memcmp(cfg->vars[i].name, name, len) == 0)
			return &cfg->vars[i];
	return NULL;
}

/* cfg_raw - the unexpanded value of a name: a computed value, the
 * file, then the default */
static const char *cfg_raw(struct cfg *cfg, const char *name, size_t len)
{
	struct cfg_var *v = cfg_find_var(cfg, name, len);
	int i;

	for (i = 0; i < P__COUNT; i++)
		if (strlen(param_table[i].name) == len && memcmp(param_table[i].name, name, len) == 0)
			break;
	if (v)
		v->used = 1;
	if (i < P__COUNT && cfg->computed[i])
		return cfg->computed[i];
	if (v)
		return v->raw;
	return i < P__COUNT ? param_table[i].def : NULL;
}

/* cfg_expand - expand $name references of s into out */
static int cfg_expand(struct cfg *cfg, const char *s, struct buf *out, int depth, const char **error_r)
{
	const char *p = s;

	if (depth > CFG_MAX_DEPTH) {
		*error_r = "parameter expansion nests too deep (a loop?)";
		return -1;
	}
	while (*p) {
		const char *name, *raw;
		size_t len;

		if (*p != '$') {
			buf_putc(out, *p++);
			continue;
		}
		p++;
		if (*p == '$') {
			buf_putc(out, '$');
			p++;
			continue;
		}
		if (*p == '{' || *p == '(') {
			char close = *p == '{' ? '}' : ')';
			const char *e = strchr(p + 1, close);

			if (e == NULL) {
				*error_r = "unterminated ${name} reference";
				return -1;
			}
			name = p + 1;
			len = (size_t)(e - name);
			p = e + 1;
		} else {
			name = p;
			while (isalnum((unsigned char)*p) || *p == '_')
				p++;
			len = (size_t)(p - name);
			if (len == 0) {
				*error_r = "'$' not followed by a parameter name (write $$ for a literal $)";
				return -1;
			}
		}
		raw = cfg_raw(cfg, name, len);
		if (raw == NULL) {
			snprintf(cfg_errbuf, sizeof(cfg_errbuf), "reference to undefined parameter $%.*s",
			    (int)(len > 64 ? 64 : len), name);
			*error_r = cfg_errbuf;
			return -1;
		}
		if (cfg_expand(cfg, raw, out, depth + 1, error_r) < 0)
			return -1;
	}
	return 0;
}

/* trim - s without its leading and trailing white space (in place) */
static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* cfg_add_line - one logical line "name = value" */
static int cfg_add_line(struct cfg *cfg, char *line, int lineno, const char *fname, const char **error_r)
{
	char *eq = strchr(line, '='), *name, *value;
	const char *n;

	if (eq == NULL) {
		snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s:%d: missing '=' in \"%.40s\"", fname, lineno, line);
		*error_r = cfg_errbuf;
		return -1;
	}
	*eq = 0;
	name = trim(line);
	value = trim(eq + 1);
	for (n = name; *n; n++)
		if (!isalnum((unsigned char)*n) && *n != '_') {
			snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s:%d: bad parameter name \"%.40s\"", fname, lineno, name);
			*error_r = cfg_errbuf;
			return -1;
		}
	if (*name == 0) {
		snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s:%d: missing parameter name", fname, lineno);
		*error_r = cfg_errbuf;
		return -1;
	}
	if (cfg->nvars >= CFG_MAX_VARS) {
		snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s:%d: too many parameters", fname, lineno);
		*error_r = cfg_errbuf;
		return -1;
	}
	cfg->vars = xreallocarray(cfg->vars, (size_t)cfg->nvars + 1, sizeof(*cfg->vars));
	cfg->vars[cfg->nvars].name = xstrdup(name);
	cfg->vars[cfg->nvars].raw = xstrdup(value);
	cfg->vars[cfg->nvars].line = lineno;
	cfg->vars[cfg->nvars].used = 0;
	cfg->nvars++;
	return 0;
}

/* cfg_read_text - split text into logical lines and collect them */
static int cfg_read_text(struct cfg *cfg, const char *text, const char *fname, const char **error_r)
{
	struct buf logical = BUF_INIT;
	const char *p = text;
	int lineno = 0, start = 0, rc = 0;

	while (*p && rc == 0) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *q = p;

		lineno++;
		while (q < p + len && isspace((unsigned char)*q))
			q++;
		if (q == p + len || *q == '#') {
			/* blank or comment: does not end a logical line in Postfix */
		} else if (isspace((unsigned char)*p)) {
			if (logical.len == 0) {
				snprintf(cfg_errbuf, sizeof(cfg_errbuf),
				    "%s:%d: continuation line without a parameter", fname, lineno);
				*error_r = cfg_errbuf;
				rc = -1;
			} else {
				buf_putc(&logical, ' ');
				buf_append(&logical, q, (size_t)(p + len - q));
			}
		} else {
			if (logical.len)
				rc = cfg_add_line(cfg, logical.data, start, fname, error_r);
			buf_reset(&logical);
			buf_append(&logical, p, len);
			start = lineno;
		}
		if (rc == 0 && logical.len > CFG_MAX_LINE) {
			snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s:%d: line too long", fname, start);
			*error_r = cfg_errbuf;
			rc = -1;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	if (rc == 0 && logical.len)
		rc = cfg_add_line(cfg, logical.data, start, fname, error_r);
	buf_free(&logical);
	return rc;
}

/* cfg_split_list - a list value split at blanks and commas */
static void cfg_split_list(struct cfg *cfg, int id)
{
	char *copy = xstrdup(cfg->value[id]), *tok, *save = NULL;

	for (tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		cfg->list[id] = xreallocarray(cfg->list[id], (size_t)cfg->nlist[id] + 2, sizeof(char *));
		cfg->list[id][cfg->nlist[id]++] = xstrdup(tok);
		cfg->list[id][cfg->nlist[id]] = NULL;
	}
	free(copy);
	if (cfg->list[id] == NULL)
		cfg->list[id] = xcalloc(1, sizeof(char *));
}

/* cfg_escape - s with every '$' doubled, so that expanding it gives s */
static char *cfg_escape(const char *s)
{
	struct buf b = BUF_INIT;
	char *out;

	for (; *s; s++) {
		if (*s == '$')
			buf_putc(&b, '$');
		buf_putc(&b, *s);
	}
	out = xstrdup(b.len ? b.data : "");
	buf_free(&b);
	return out;
}

/* cfg_value_of - the expanded value of table parameter id as it stands
 * (computed, file or default) into b; -1 on an expansion error (left
 * for cfg_finish to report) */
static int cfg_value_of(struct cfg *cfg, int id, struct buf *b)
{
	const char *raw = cfg_raw(cfg, param_table[id].name, strlen(param_table[id].name)), *err = NULL;

	buf_reset(b);
	if (cfg_expand(cfg, raw, b, 0, &err) < 0)
		return -1;
	buf_putc(b, 0);
	return 0;
}

/*
 * cfg_host_defaults - Postfix's computed defaults for the two names the
 * others are built from: an empty myhostname is the system host name
 * ("localhost" if there is none); an empty mydomain is myhostname less
 * its first label, or "localdomain" when myhostname has no dot (or ends
 * in one). Each becomes the raw value every $reference expands to.
 */
static void cfg_host_defaults(struct cfg *cfg)
{
	struct buf b = BUF_INIT;
	char host[256];
	const char *dot;

	free(cfg->computed[P_MYHOSTNAME]);
	free(cfg->computed[P_MYDOMAIN]);
	cfg->computed[P_MYHOSTNAME] = cfg->computed[P_MYDOMAIN] = NULL;
	if (cfg_value_of(cfg, P_MYHOSTNAME, &b) < 0)
		goto out;
	if (b.data[0] == 0) {
		if (gethostname(host, sizeof(host)) < 0 || host[0] == 0)
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = 0;
		cfg->computed[P_MYHOSTNAME] = cfg_escape(host);
	} else {
		strlcpy(host, b.data, sizeof(host));
	}
	if (cfg_value_of(cfg, P_MYDOMAIN, &b) < 0 || b.data[0] != 0)
		goto out;
	dot = strchr(host, '.');
	cfg->computed[P_MYDOMAIN] = cfg_escape(dot && dot[1] ? dot + 1 : "localdomain");
out:
	buf_free(&b);
}

/* cfg_finish - expand and check every table parameter */
static int cfg_finish(struct cfg *cfg, const char *fname, const char **error_r)
{
	struct buf b = BUF_INIT;
	char at[400];
	int i;

	cfg_host_defaults(cfg);
	for (i = 0; i < P__COUNT; i++) {
		const struct param_def *pd = &param_table[i];
		struct cfg_var *v = cfg_find_var(cfg, pd->name, strlen(pd->name));
		const char *err = NULL;
		int line = v ? v->line : 0;
		long long n = 0;
		int bad = 0;

		cfg->set[i] = v != NULL;
		cfg->line[i] = line;
		cfg_at(at, sizeof(at), fname, line);
		buf_reset(&b);
		if (cfg_expand(cfg, cfg->computed[i] ? cfg->computed[i] : v ? v->raw : pd->def, &b, 0, &err) < 0) {
			char reason[256];

			/* err may be in cfg_errbuf itself */
			strlcpy(reason, err, sizeof(reason));
			snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s: %s: %s", at, pd->name, reason);
			*error_r = cfg_errbuf;
			buf_free(&b);
			return -1;
		}
		if (v)
			v->used = 1;
		cfg->value[i] = xstrdup(b.len ? b.data : "");
		switch (pd->type) {
		case PT_INT: {
			char *end;

			errno = 0;
			n = strtoll(cfg->value[i], &end, 10);
			bad = end == cfg->value[i] || *end || errno;
			break;
		}
		case PT_TIME:
			bad = cfg_parse_time(cfg->value[i], &n) < 0;
			break;
		case PT_SIZE:
			bad = cfg_parse_size(cfg->value[i], &n) < 0;
			break;
		case PT_BOOL:
			bad = cfg_parse_bool(cfg->value[i], &n) < 0;
			break;
		case PT_LIST:
			cfg_split_list(cfg, i);
			break;
		case PT_STR:
			break;
		}
		if (bad) {
			static const char *what[] = { "", "a number", "a time (e.g. 480s, 8m)",
				"a size (e.g. 10240000, 10m)", "yes or no", "" };

			snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s: %s: \"%.60s\" is not %s",
			    at, pd->name, cfg->value[i], what[pd->type]);
			*error_r = cfg_errbuf;
			buf_free(&b);
			return -1;
		}
		if ((pd->type == PT_INT || pd->type == PT_TIME || pd->type == PT_SIZE) &&
		    (n < pd->min || (pd->max && n > pd->max))) {
			snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s: %s: %lld is out of range %lld..%lld",
			    at, pd->name, n, pd->min, pd->max);
			*error_r = cfg_errbuf;
			buf_free(&b);
			return -1;
		}
		cfg->num[i] = n;
	}
	buf_free(&b);
	return 0;
}

/* cfg_warn_unused - warn about names the file sets that nothing reads */
static void cfg_warn_unused(struct cfg *cfg, const char *fname)
{
	int i;

	for (i = 0; i < cfg->nvars; i++)
		if (!cfg->vars[i].used && cfg_lookup_id(cfg->vars[i].name) < 0 &&
		    strncmp(cfg->vars[i].name, "policy_bank_", 12) != 0)
			log_warning("%s:%d: unused parameter: %s=%.60s", fname, cfg->vars[i].line,
			    cfg->vars[i].name, cfg->vars[i].raw);
}

/* cfg_load_string - load from text (tests); name labels the errors */
int cfg_load_string(struct cfg **cfg_r, const char *text, const char *name, const char **error_r)
{
	struct cfg *cfg = xcalloc(1, sizeof(*cfg));

	cfg->path = name ? xstrdup(name) : NULL;
	if (cfg_read_text(cfg, text, name ? name : "(defaults)", error_r) < 0 ||
	    cfg_finish(cfg, name ? name : "(defaults)", error_r) < 0) {
		cfg_free(&cfg);
		return -1;
	}
	cfg_warn_unused(cfg, name ? name : "(defaults)");
	*cfg_r = cfg;
	return 0;
}

/* cfg_load - read and check a file, or the defaults (see cfg.h) */
int cfg_load(struct cfg **cfg_r, const char *path, const char **error_r)
{
	struct buf text = BUF_INIT;
	char chunk[8192];
	size_t n;
	FILE *fp;
	int rc;

	if (path == NULL)
		return cfg_load_string(cfg_r, "", NULL, error_r);
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s: cannot open: %s", path, strerror(errno));
		*error_r = cfg_errbuf;
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (memchr(chunk, 0, n)) {
			fclose(fp);
			buf_free(&text);
			snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s: contains a NUL byte", path);
			*error_r = cfg_errbuf;
			return -1;
		}
		buf_append(&text, chunk, n);
	}
	fclose(fp);
	rc = cfg_load_string(cfg_r, text.data ? text.data : "", path, error_r);
	buf_free(&text);
	return rc;
}

/* cfg_add_var - append one name = value (a copy) */
static void cfg_add_var(struct cfg *cfg, const char *name, size_t nlen, const char *value, size_t vlen, int line)
{
	cfg->vars = xreallocarray(cfg->vars, (size_t)cfg->nvars + 1, sizeof(*cfg->vars));
	cfg->vars[cfg->nvars].name = xstrndup(name, nlen);
	cfg->vars[cfg->nvars].raw = xstrndup(value, vlen);
	cfg->vars[cfg->nvars].line = line;
	cfg->vars[cfg->nvars].used = 0;
	cfg->nvars++;
}

/*
 * cfg_bank_parse - the overrides of a policy bank value, Postfix's
 * grouping syntax: "{ name = value } { name2 = value2 }"; a value may
 * hold balanced braces (inline:{ a=b }). Adds each to cfg.
 */
static int cfg_bank_parse(struct cfg *cfg, const char *bank, const char *v, int line, const char **error_r)
{
	const char *p = v;

	while (*p) {
		const char *start, *eq, *end, *ns, *ne, *vs, *ve;
		int depth;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == 0)
			break;
		if (*p != '{') {
			snprintf(cfg_errbuf, sizeof(cfg_errbuf), "policy_bank_%.40s: expected \"{ name = value }\" at \"%.30s\"",
			    bank, p);
			*error_r = cfg_errbuf;
			return -1;
		}
		start = ++p;
		for (depth = 1; *p && depth; p++) {
			if (*p == '{')
				depth++;
			else if (*p == '}')
				depth--;
		}
		if (depth) {
			snprintf(cfg_errbuf, sizeof(cfg_errbuf), "policy_bank_%.40s: unbalanced braces", bank);
			*error_r = cfg_errbuf;
			return -1;
		}
		end = p - 1;	/* the closing brace */
		eq = memchr(start, '=', (size_t)(end - start));
		if (eq == NULL) {
			snprintf(cfg_errbuf, sizeof(cfg_errbuf), "policy_bank_%.40s: missing '=' in a group", bank);
			*error_r = cfg_errbuf;
			return -1;
		}
		for (ns = start; ns < eq && isspace((unsigned char)*ns); ns++)
			;
		for (ne = eq; ne > ns && isspace((unsigned char)ne[-1]); ne--)
			;
		for (vs = eq + 1; vs < end && isspace((unsigned char)*vs); vs++)
			;
		for (ve = end; ve > vs && isspace((unsigned char)ve[-1]); ve--)
			;
		{
			char name[128];

			if ((size_t)(ne - ns) >= sizeof(name) || ne == ns) {
				snprintf(cfg_errbuf, sizeof(cfg_errbuf), "policy_bank_%.40s: bad parameter name", bank);
				*error_r = cfg_errbuf;
				return -1;
			}
			memcpy(name, ns, (size_t)(ne - ns));
			name[ne - ns] = 0;
			if (cfg_lookup_id(name) < 0) {
				snprintf(cfg_errbuf, sizeof(cfg_errbuf), "policy_bank_%.40s: unknown parameter \"%.60s\"", bank, name);
				*error_r = cfg_errbuf;
				return -1;
			}
			cfg_add_var(cfg, name, (size_t)(ne - ns), vs, (size_t)(ve - vs), line);
		}
	}
	return 0;
}

/* cfg_bank - base with one policy bank applied (see cfg.h) */
int cfg_bank(const struct cfg *base, const char *bank, struct cfg **cfg_r, const char **error_r)
{
	char key[160], fname[600];
	struct cfg *cfg;
	const struct cfg_var *bv = NULL;
	int i;

	snprintf(key, sizeof(key), "policy_bank_%s", bank);
	for (i = base->nvars - 1; i >= 0 && bv == NULL; i--)
		if (strcmp(base->vars[i].name, key) == 0)
			bv = &base->vars[i];
	if (bv == NULL) {
		snprintf(cfg_errbuf, sizeof(cfg_errbuf), "no policy bank %.60s (%.80s is not set)", bank, key);
		*error_r = cfg_errbuf;
		return -1;
	}
	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = base->path ? xstrdup(base->path) : NULL;
	for (i = 0; i < base->nvars; i++)
		cfg_add_var(cfg, base->vars[i].name, strlen(base->vars[i].name), base->vars[i].raw,
		    strlen(base->vars[i].raw), base->vars[i].line);
	snprintf(fname, sizeof(fname), "%.400s (policy bank %.60s)", base->path ? base->path : "(defaults)", bank);
	if (cfg_bank_parse(cfg, bank, bv->raw, bv->line, error_r) < 0 || cfg_finish(cfg, fname, error_r) < 0) {
		cfg_free(&cfg);
		return -1;
	}
	*cfg_r = cfg;
	return 0;
}

/* cfg_banks - the names of the defined banks (see cfg.h) */
int cfg_banks(const struct cfg *cfg, char ***names_r)
{
	char **names = NULL;
	int i, j, n = 0;

	for (i = 0; i < cfg->nvars; i++) {
		const char *nm = cfg->vars[i].name;

		if (strncmp(nm, "policy_bank_", 12) != 0 || nm[12] == 0)
			continue;
		for (j = 0; j < n && strcmp(names[j], nm + 12) != 0; j++)
			;
		if (j < n)
			continue;
		names = xreallocarray(names, (size_t)n + 2, sizeof(*names));
		names[n++] = xstrdup(nm + 12);
		names[n] = NULL;
	}
	*names_r = names;
	return n;
}

/* cfg_free - everything of cfg; sets *cfgp to NULL */
void cfg_free(struct cfg **cfgp)
{
	struct cfg *cfg = *cfgp;
	int i, j;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nvars; i++) {
		free(cfg->vars[i].name);
		free(cfg->vars[i].raw);
	}
	free(cfg->vars);
	for (i = 0; i < P__COUNT; i++) {
		free(cfg->value[i]);
		free(cfg->computed[i]);
		for (j = 0; j < cfg->nlist[i]; j++)
			free(cfg->list[i][j]);
		free(cfg->list[i]);
	}
	free(cfg->path);
	free(cfg);
	*cfgp = NULL;
}

/* cfg_str - a value as a string */
const char *cfg_str(const struct cfg *cfg, enum param_id id)
{
	return cfg->value[id];
}

/* cfg_int - a value as a number */
long long cfg_int(const struct cfg *cfg, enum param_id id)
{
	return cfg->num[id];
}

/* cfg_list - a list value */
char *const *cfg_list(const struct cfg *cfg, enum param_id id, int *n_r)
{
	*n_r = cfg->nlist[id];
	return cfg->list[id];
}

/* cfg_is_set - set by the file */
int cfg_is_set(const struct cfg *cfg, enum param_id id)
{
	return cfg->set[id];
}

/* cfg_path - the file read */
const char *cfg_path(const struct cfg *cfg)
{
	return cfg->path;
}

/* cfg_line - the line the file set it on */
int cfg_line(const struct cfg *cfg, enum param_id id)
{
	return cfg->line[id];
}

/* cfg_where - "file:line" of a setting */
const char *cfg_where(const struct cfg *cfg, enum param_id id)
{
	static char where[600];

	return cfg_at(where, sizeof(where), cfg->path ? cfg->path : "(defaults)", cfg->line[id]);
}

/* cfg_var_line - the line of the last definition of name (len bytes) in the file, 0 if none */
static int cfg_var_line(const struct cfg *cfg, const char *name, size_t len)
{
	int i;

	for (i = cfg->nvars - 1; i >= 0; i--)
		if (strlen(cfg->vars[i].name) == len && memcmp(cfg->vars[i].name, name, len) == 0)
			return cfg->vars[i].line;
	return 0;
}

/*
 * cfg_error - see cfg.h. The setting is the reason's first word when
 * that is a name followed by ':' or ' ' ("forward_method: ...",
 * "clamav_database /x: ..."), or policy_bank_NAME for "policy bank
 * NAME: ...". Its line is where the file last set it; a setting left at
 * its default gives the file name alone.
 */
const char *cfg_error(const struct cfg *cfg, const char *reason)
{
	static char out[1024];
	char at[600];
	const char *fname = cfg && cfg->path ? cfg->path : "(defaults)", *p = reason ? reason : "";
	size_t fl = strlen(fname), len;
	int line = 0;

	if (strncmp(p, fname, fl) == 0 && p[fl] == ':') {
		snprintf(out, sizeof(out), "%s", p);	/* already placed */
		return out;
	}
	if (cfg && strncmp(p, "policy bank ", 12) == 0) {
		char key[200];

		len = strcspn(p + 12, ": ");
		if (len > 0 && len < 150 && p[12 + len] == ':') {
			snprintf(key, sizeof(key), "policy_bank_%.*s", (int)len, p + 12);
			line = cfg_var_line(cfg, key, strlen(key));
		}
	} else if (cfg) {
		for (len = 0; isalnum((unsigned char)p[len]) || p[len] == '_'; len++)
			;
		if (len > 0 && (p[len] == ':' || p[len] == ' '))
			line = cfg_var_line(cfg, p, len);
	}
	snprintf(out, sizeof(out), "%s: %s", cfg_at(at, sizeof(at), fname, line), p);
	return out;
}

/* cfg_print - the settings as tollgated -n/-a/-d/-r prints them */
void cfg_print(const struct cfg *cfg, FILE *fp, int mode)
{
	int i;

	if (mode == 'r') {
		/* the reference: every setting, its help and its default, commented out */
		fprintf(fp, "# tollgate.conf - tollgated configuration reference (tollgate.conf(5)).\n"
		    "# Generated by \"tollgated -r\"; every setting with its built-in default.\n"
		    "# Syntax: name = value; lines starting with white space continue the\n"
		    "# previous one; $name expands another setting; # starts a comment line.\n");
		for (i = 0; i < P__COUNT; i++)
			fprintf(fp, "\n# %s\n#%s = %s\n", param_table[i].help, param_table[i].name,
			    param_table[i].def);
		return;
	}
	for (i = 0; i < P__COUNT; i++) {
		if (mode == 'd')
			fprintf(fp, "%s = %s\n", param_table[i].name, param_table[i].def);
		else if (mode == 'a' || cfg->set[i])
			fprintf(fp, "%s = %s\n", param_table[i].name, cfg->value[i]);
	}
}
