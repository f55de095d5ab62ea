/*
 * clamav_cfg.c - the ClamAV engine settings from tollgate's
 * configuration: the one place where the clamav_* settings become a
 * struct clamav_opts, for the master (which compiles the engine the
 * workers share) and "tollgate explain" (which compiles the same engine
 * for its dry run).
 *
 * Kept apart from scan_clamav.c so that the scanner itself does not
 * depend on the configuration's parameter table.
 */
#include "config.h"

#include <string.h>

#include "lib/cfg.h"
#include "scanners/scanners.h"

/* clamav_opts_from_cfg - o from cfg's clamav_* settings */
void clamav_opts_from_cfg(const struct cfg *cfg, struct clamav_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->db_path = cfg_str(cfg, P_CLAMAV_DATABASE);
	o->max_filesize = (unsigned long long)cfg_int(cfg, P_CLAMAV_MAX_FILESIZE);
	o->max_scansize = (unsigned long long)cfg_int(cfg, P_CLAMAV_MAX_SCANSIZE);
	o->max_recursion = (unsigned)cfg_int(cfg, P_CLAMAV_MAX_RECURSION);
	o->max_files = (unsigned)cfg_int(cfg, P_CLAMAV_MAX_FILES);
	o->max_scantime_ms = (unsigned)cfg_int(cfg, P_CLAMAV_MAX_SCANTIME) * 1000;
	o->tmp_dir = cfg_str(cfg, P_CLAMAV_TMP_DIR);
	o->alert_encrypted = (int)cfg_int(cfg, P_CLAMAV_ALERT_ENCRYPTED);
}
