/*
 * cfg.h - the configuration: Postfix-style "name = value" files.
 *
 * Syntax: one "name = value" per logical line; a line starting with white
 * space continues the previous one; lines whose first non-blank character
 * is '#' and blank lines are ignored. Values may refer to other settings
 * as $name, ${name} or $(name); "$$" is a literal '$'. Names not in the
 * parameter table (lib/params.def) may be defined for use in expansions;
 * an unknown name that no value refers to is reported as a warning.
 *
 * Life cycle: cfg_load() builds a struct cfg (owned by the caller) with
 * every parameter parsed and bounds-checked; cfg_free() releases it. A
 * loaded cfg is read-only; a reload builds a new one beside the old and
 * swaps only on success. Accessors are by id (P_MAX_SERVERS...), O(1).
 */
#ifndef TG_CFG_H
#define TG_CFG_H

#include <stdio.h>

enum param_type { PT_STR, PT_INT, PT_TIME, PT_SIZE, PT_BOOL, PT_LIST };

enum param_id {
#define PARAM(id, name, type, def, min, max, help) P_##id,
#include "lib/params.def"
#undef PARAM
	P__COUNT
};

struct param_def {
	const char *name;
	enum param_type type;
	const char *def;
	long long min, max;
	const char *help;
};

extern const struct param_def param_table[P__COUNT];

struct cfg;

/* cfg_load - read path (NULL: built-in defaults only). On error returns
 * -1 with a "file:line: reason" message in *error_r (static storage). */
int cfg_load(struct cfg **cfg_r, const char *path, const char **error_r);
/* cfg_load_string - the same from a string, for tests; name labels errors */
int cfg_load_string(struct cfg **cfg_r, const char *text, const char *name, const char **error_r);
void cfg_free(struct cfg **cfgp);

/* cfg_str - the expanded value (never NULL). myhostname and mydomain
 * are never empty either: left empty, they get Postfix's computed
 * defaults at load (the system host name; myhostname less its first
 * label, or "localdomain"), so every process reads its host names here */
const char *cfg_str(const struct cfg *cfg, enum param_id id);
/* cfg_int - INT, TIME (seconds), SIZE (bytes), BOOL (0/1) values */
long long cfg_int(const struct cfg *cfg, enum param_id id);
/* cfg_list - PT_LIST split on white space and commas; *n_r entries */
char *const *cfg_list(const struct cfg *cfg, enum param_id id, int *n_r);
/* cfg_is_set - 1 when the file set it explicitly */
int cfg_is_set(const struct cfg *cfg, enum param_id id);
/* cfg_path - the file it was read from, or NULL */
const char *cfg_path(const struct cfg *cfg);
/* cfg_line - the line the file set id on (its last definition; the
 * line of the policy_bank_NAME setting for a bank's override), 0 when
 * id has its default */
int cfg_line(const struct cfg *cfg, enum param_id id);
/* cfg_where - "file:line" where id was set, or "file" ("(defaults)"
 * without a file) when it has its default; static storage, overwritten
 * by the next call */
const char *cfg_where(const struct cfg *cfg, enum param_id id);
/*
 * cfg_error - a reason found after loading, by the module that uses the
 * value ("forward_method: bad port number", "policy bank X: ..."), as
 * the administrator wants it: "file:line: forward_method: bad port
 * number", the line being where the setting named first was set ("file:
 * reason" when no setting of the file is named). A reason that already
 * starts with "file:" is returned as it is. Static storage, overwritten
 * by the next call; cfg may be NULL.
 */
const char *cfg_error(const struct cfg *cfg, const char *reason);
/* cfg_lookup_id - id of a parameter name, or -1 */
int cfg_lookup_id(const char *name);

/* cfg_print - "name = value" lines: mode 'n' explicitly set values,
 * 'd' built-in defaults, 'a' all effective values, 'r' the commented
 * reference (ops/tollgate.conf) */
void cfg_print(const struct cfg *cfg, FILE *fp, int mode);

/*
 * Policy banks: named sets of overrides of any setting, written with
 * Postfix's grouping syntax in a parameter named policy_bank_NAME:
 *
 *   policy_bank_MYNETS = { bypass_spam_checks_maps = inline:{ .=yes } }
 *       { final_virus_destiny = reject }
 *
 * cfg_bank - base with bank NAME's overrides applied (a new cfg, owned
 * by the caller; banks stack by applying cfg_bank to its result). -1
 * with *error_r when the bank does not exist or an override is bad.
 * cfg_banks - the names of every defined bank (NULL-terminated array
 * of strings, caller frees each and the array); returns the count.
 */
int cfg_bank(const struct cfg *base, const char *bank, struct cfg **cfg_r, const char **error_r);
int cfg_banks(const struct cfg *cfg, char ***names_r);

/* cfg_parse_time / cfg_parse_size / cfg_parse_bool - value parsers shared
 * with other modules; 0 on success, -1 on syntax error */
int cfg_parse_time(const char *s, long long *out);
int cfg_parse_size(const char *s, long long *out);
int cfg_parse_bool(const char *s, long long *out);

#endif
