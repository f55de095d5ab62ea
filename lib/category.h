/*
 * category.h - the contents categories of a message (amavisd-new's
 * "ccat"), at the bottom of the tree so that every layer names them the
 * same way: the destiny decides by them (policy/decide.h), the
 * scoreboard counts by their major (lib/scoreboard.h), stats, metrics,
 * the quarantine and `tollgate explain` print their names.
 *
 * A ccat is "major,minor" packed as CCAT(maj, min); a larger value is
 * more important (amavisd's cmp_ccat). The majors are numbered as
 * amavisd numbers them; the minors of CC_BADH and CC_UNCHECKED are
 * amavisd's too. Nothing here allocates; every name is a static string.
 */
#ifndef TG_CATEGORY_H
#define TG_CATEGORY_H

enum ccat_major {
	CC_CATCHALL = 0,
	CC_CLEAN = 1,		/* minor 1: spam score >= tag level */
	CC_MTA = 2,		/* minor 1: downstream 4xx, 2: downstream 5xx */
	CC_OVERSIZED = 3,
	CC_BADH = 4,		/* minors CC_BADH_* */
	CC_SPAMMY = 5,		/* >= tag2 level; minor 1: >= tag3 */
	CC_SPAM = 6,		/* >= kill level */
	CC_UNCHECKED = 7,	/* minors CC_UNCHECKED_* */
	CC_BANNED = 8,
	CC_VIRUS = 9,
	CC_MAJORS = 10
};

#define CCAT(maj, min)	((unsigned)(((unsigned)(maj) << 8) | ((unsigned)(min) & 0xffu)))
#define CCAT_MAJOR(c)	((unsigned)(c) >> 8)
#define CCAT_MINOR(c)	((unsigned)(c) & 0xffu)

/* CC_BADH minors, as amavisd's check_header_validity; the highest found wins */
#define CC_BADH_OTHER	0
#define CC_BADH_MIME	1	/* bad MIME structure: MISSING_BOUNDARY, BAD_CTE, NUL in a body */
#define CC_BADH_8BIT	2	/* 8BIT_HEADER */
#define CC_BADH_CHAR	3	/* NUL or CONTROL_CHAR in a header */
#define CC_BADH_SPACE	4	/* folded line of white space only (no MIME finding yet) */
#define CC_BADH_LONG	5	/* LONG_HEADER_LINE */
#define CC_BADH_SYNTAX	6	/* BAD_HEADER_SYNTAX, UNTERMINATED_HEADER */
#define CC_BADH_MISSING	7	/* MISSING_HEADER (From, Date) */
#define CC_BADH_DUPL	8	/* DUPLICATE_HEADER */

/* CC_UNCHECKED minors */
#define CC_UNCHECKED_OTHER	0	/* scanner failure, anything else */
#define CC_UNCHECKED_ENCRYPTED	1
#define CC_UNCHECKED_LIMITS	2	/* a scanner or MIME limit was hit */
#define CC_UNCHECKED_AMBIGUOUS	3	/* undecipherable content */

/* category_name - amavisd's display name of a ccat, minor included
 * ("Virus", "BadHdr8bit", "CleanTag"); "CatchAll" for an unknown major */
const char *category_name(unsigned ccat);

/* category_label - the label of a major in stats and metrics
 * ("clean", "mta_error", "bad_header", "virus"; "other" for
 * CC_CATCHALL), "?" out of range */
const char *category_label(unsigned major);

#endif
