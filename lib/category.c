/*
 * category.c - the names of the contents categories (lib/category.h):
 * amavisd's display names, used in logs, notices, the quarantine and
 * `tollgate explain`, and the lower-case labels the scoreboard's
 * counters carry in `tollgate stats` and the metrics endpoint. The two
 * sets are kept apart on purpose: the labels are part of the metrics'
 * interface and do not follow amavisd's spelling.
 */
#include "config.h"

#include "lib/category.h"

static const char *const category_names_major[CC_MAJORS] = {
	"CatchAll", "Clean", "MtaFailed", "Oversized", "BadHdr", "Spammy", "Spam", "Unchecked",
	"Banned", "Virus"
};

static const char *const category_labels[CC_MAJORS] = {
	"other", "clean", "mta_error", "oversized", "bad_header", "spammy", "spam", "unchecked",
	"banned", "virus"
};

/* category_name - amavisd's %ccat_display_names */
const char *category_name(unsigned ccat)
{
	static const char *const badh[] = { "BadHdr", "BadHdrMime", "BadHdr8bit", "BadHdrChar",
		"BadHdrSpace", "BadHdrLong", "BadHdrSyntax", "BadHdrMissing", "BadHdrDupl" };
	static const char *const unch[] = { "Unchecked", "UncheckedEncrypted", "UncheckedOverLimits",
		"UncheckedAmbiguousContent" };
	unsigned maj = CCAT_MAJOR(ccat), min = CCAT_MINOR(ccat);

	if (maj >= CC_MAJORS)
		return "CatchAll";
	switch (maj) {
	case CC_CLEAN:
		return min == 1 ? "CleanTag" : "Clean";
	case CC_MTA:
		return min == 1 ? "MtaTempFailed" : min == 2 ? "MtaRejected" : "MtaFailed";
	case CC_BADH:
		return min < sizeof(badh) / sizeof(badh[0]) ? badh[min] : "BadHdr";
	case CC_SPAMMY:
		return min == 1 ? "Spammy3" : "Spammy";
	case CC_UNCHECKED:
		return min < sizeof(unch) / sizeof(unch[0]) ? unch[min] : "Unchecked";
	default:
		return category_names_major[maj];
	}
}

/* category_label - the stats and metrics label of a major */
const char *category_label(unsigned major)
{
	return major < CC_MAJORS ? category_labels[major] : "?";
}
