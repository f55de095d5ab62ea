/*
 * workdirs.c - the directories the unprivileged workers write, made and
 * removed by the master (root).
 *
 * tmp_dir and clamav_tmp_dir are bases: the master never lets workers
 * write in them directly. Before it forks a worker it makes one private
 * directory per worker slot in each base, "tollgated.<master pid>.<slot>",
 * owned by daemon_user, mode 0700; the worker spools large messages
 * there and libclamav makes its scan temp files there. When the master
 * reaps the worker (a clean exit, a crash, a SIGKILL past child_timeout)
 * it removes the directory with whatever was left in it, so a killed
 * worker leaves no spool file and no libclamav temp dir behind. At start
 * it sweeps such directories of masters that no longer run.
 *
 * quarantine_dir is made when missing (owner daemon_user, mode 0750).
 *
 * A directory the workers could not write, and that the master cannot
 * fix, stops tollgated at start (and `tollgated -t`, so `tollgate
 * check-config`) with a message naming the directory and the user: it
 * is tried for real, by a child process that takes the workers' user
 * and makes a file there.
 *
 * Deliberately left out: changing the owner or mode of a directory the
 * admin made (only what we create is ours); sweeping files of versions
 * before this one (they spooled into tmp_dir itself).
 * Limits: removal does not cross into other file systems and does not
 * follow symbolic links; it stops at WORKDIRS_MAX_DEPTH levels.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "lib/log.h"
#include "lib/mem.h"

#define WORKDIRS_PREFIX "tollgated."
#define WORKDIRS_MAX_DEPTH 64		/* nesting removed below a worker's directory */

struct workdirs {
	int owned;			/* running as root with a daemon_user: chown */
	uid_t uid;
	gid_t gid;
	char user[64];
	pid_t master;
	int sweep;			/* at start only: remove what dead masters left */
	char *path[WORKDIRS_SLOTS][2];	/* per slot: tmp, clamav tmp (NULL: none) */
};

static char wd_err[1536];

/* wd_fail - the error in wd_err, *error_r pointed at it; -1 */
#define wd_fail(error_r, ...) error_fmt(wd_err, sizeof(wd_err), (error_r), __VA_ARGS__)

/* rm_tree_at - remove name in dirfd and all below it; no symlink is
 * followed and no other file system entered. 0, or -1 (errno) */
static int rm_tree_at(int at, const char *name, dev_t dev, int depth)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd, rc = 0;

	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(at, name, 0) < 0 && errno != ENOENT ? -1 : 0;
	if (st.st_dev != dev || depth > WORKDIRS_MAX_DEPTH) {
		errno = EXDEV;
		return -1;
	}
	if ((fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (rm_tree_at(dirfd(d), de->d_name, dev, depth + 1) < 0)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

/* rm_tree - remove path and everything below it */
static int rm_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	return rm_tree_at(AT_FDCWD, path, st.st_dev, 0);
}

/* probe_as - can the workers' user make a file in dir? Tried by a
 * child that takes the user's ids. NULL when it can, else why not. */
static const char *probe_as(const struct workdirs *wd, const char *dir)
{
	static char why[256];
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(pfd) < 0)
		return strerror(errno);
	if ((pid = fork()) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return strerror(errno);
	}
	if (pid == 0) {
		char path[4096];
		const char *e = NULL;
		int fd;

		close(pfd[0]);
		if (wd->owned && (setgroups(1, &wd->gid) < 0 || setgid(wd->gid) < 0 ||
				  setuid(wd->uid) < 0))
			e = strerror(errno);
		if (e == NULL) {
			snprintf(path, sizeof(path), "%s/.tollgated-probe-XXXXXX", dir);
			if ((fd = mkstemp(path)) < 0)
				e = strerror(errno);
			else {
				close(fd);
				(void)unlink(path);
			}
		}
		if (e != NULL && write(pfd[1], e, strlen(e)) < 0)
			_exit(2);
		_exit(e != NULL);
	}
	close(pfd[1]);
	n = read(pfd[0], why, sizeof(why) - 1);
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return NULL;
	why[n > 0 ? n : 0] = 0;
	return n > 0 ? why : "the test process failed";
}

/* describe - "owner U, mode 0NNN" of path, for error messages */
static const char *describe(const char *path)
{
	static char buf[128];
	struct passwd *pw;
	struct stat st;

	if (stat(path, &st) < 0)
		return strerror(errno);
	pw = getpwuid(st.st_uid);
	snprintf(buf, sizeof(buf), "owner %s, mode %04o", pw ? pw->pw_name : "?",
		 (unsigned)(st.st_mode & 07777));
	return buf;
}

/* mkdir_parents - make path and its missing parents (0755, root's) */
static int mkdir_parents(const char *path, int dry)
{
	char buf[4096], *p;

	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (!dry && mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (dry)
		return 0;
	return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* base_dir - a base (tmp_dir, clamav_tmp_dir) exists or is made; dry:
 * only say whether it could be */
static int base_dir(const char *what, const char *dir, int dry, const char **error_r)
{
	struct stat st;

	if (*dir != '/')
		return wd_fail(error_r, "%s %s: not an absolute path", what, dir);
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return wd_fail(error_r, "%s %s: not a directory", what, dir);
		return 0;
	}
	if (errno != ENOENT)
		return wd_fail(error_r, "%s %s: %s", what, dir, strerror(errno));
	if (mkdir_parents(dir, dry) < 0)
		return wd_fail(error_r, "%s %s: cannot create it: %s", what, dir, strerror(errno));
	if (!dry)
		log_info("created %s %s", what, dir);
	return 0;
}

/* make_private - dir made afresh, 0700, owned by the workers' user */
static int make_private(const struct workdirs *wd, const char *dir, const char **error_r)
{
	if (rm_tree(dir) < 0)
		return wd_fail(error_r, "cannot remove the old %s: %s", dir, strerror(errno));
	if (mkdir(dir, 0700) < 0)
		return wd_fail(error_r, "cannot create %s: %s", dir, strerror(errno));
	if (wd->owned && chown(dir, wd->uid, wd->gid) < 0) {
		int e = errno;

		(void)rmdir(dir);
		return wd_fail(error_r, "cannot give %s to %s: %s", dir, wd->user, strerror(e));
	}
	return 0;
}

/* sweep - remove the worker directories of masters that are gone */
static void sweep(const struct workdirs *wd, const char *base)
{
	char path[4096], *end;
	struct dirent *de;
	long pid;
	DIR *d;

	if ((d = opendir(base)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, WORKDIRS_PREFIX, sizeof(WORKDIRS_PREFIX) - 1) != 0)
			continue;
		pid = strtol(de->d_name + sizeof(WORKDIRS_PREFIX) - 1, &end, 10);
		if (pid <= 0 || *end != '.')
			continue;
		/* a live master's (another instance on the same tmp_dir) stays */
		if (pid != (long)wd->master && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
		if (rm_tree(path) < 0)
			log_warning("cannot remove %s, left by an earlier run: %m", path);
		else
			log_info("removed %s, left by an earlier run", path);
	}
	closedir(d);
}

/* check_base - a base the workers get private directories in: exists
 * (or is made), and a directory made there is usable by the workers */
static int check_base(struct workdirs *wd, const char *what, const char *dir, int dry,
		      const char **error_r)
{
	char probe[4096];
	const char *why;

	if (base_dir(what, dir, dry, error_r) < 0)
		return -1;
	if (dry && access(dir, F_OK) < 0)
		return 0;	/* would be made by root: fine */
	if (!dry && wd->sweep)
		sweep(wd, dir);
	snprintf(probe, sizeof(probe), "%s/%s%ld.probe", dir, WORKDIRS_PREFIX, (long)getpid());
	if (make_private(wd, probe, error_r) < 0)
		return wd_fail(error_r, "%s %s: the master cannot make the workers' directories there (%s)",
			       what, dir, wd_err);
	why = probe_as(wd, probe);
	(void)rm_tree(probe);
	if (why != NULL)
		return wd_fail(error_r, "%s %s: user %s cannot write in a directory made for it there "
			       "(%s; %s: a parent directory may be closed to %s)",
			       what, dir, wd->user, why, describe(dir), wd->user);
	return 0;
}

/* check_quarantine - quarantine_dir exists (made if missing, 0750, the
 * workers' user's) and the workers can write in it */
static int check_quarantine(struct workdirs *wd, const char *dir, int dry, const char **error_r)
{
	const char *why;
	struct stat st;

	if (*dir != '/')
		return wd_fail(error_r, "quarantine_dir %s: not an absolute path", dir);
	if (stat(dir, &st) < 0) {
		char parent[4096], *slash;

		if (errno != ENOENT)
			return wd_fail(error_r, "quarantine_dir %s: %s", dir, strerror(errno));
		snprintf(parent, sizeof(parent), "%s", dir);
		if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
			*slash = 0;
			if (mkdir_parents(parent, dry) < 0)
				return wd_fail(error_r, "quarantine_dir %s: cannot create %s: %s", dir,
					       parent, strerror(errno));
		}
		if (dry)
			return 0;
		if (mkdir(dir, 0750) < 0 && errno != EEXIST)
			return wd_fail(error_r, "quarantine_dir %s: cannot create it: %s", dir,
				       strerror(errno));
		if (wd->owned && chown(dir, wd->uid, wd->gid) < 0)
			return wd_fail(error_r, "quarantine_dir %s: cannot give it to %s: %s", dir,
				       wd->user, strerror(errno));
		log_info("created quarantine_dir %s (owner %s, mode 0750)", dir, wd->user);
	} else if (!S_ISDIR(st.st_mode)) {
		return wd_fail(error_r, "quarantine_dir %s: not a directory", dir);
	}
	if ((why = probe_as(wd, dir)) != NULL)
		return wd_fail(error_r, "quarantine_dir %s: user %s cannot write there (%s; %s)", dir,
			       wd->user, why, describe(dir));
	return 0;
}

/* workdirs_new - workdirs_open, sweeping or not: a reload's check runs
 * in the running master, whose own workers' directories carry its pid
 * and are not left by an earlier run */
static int workdirs_new(const struct cfg *cfg, int dry, int sweep, struct workdirs **wd_r, const char **error_r)
{
	const char *user = cfg_str(cfg, P_DAEMON_USER), *group = cfg_str(cfg, P_DAEMON_GROUP);
	const char *tmp = cfg_str(cfg, P_TMP_DIR), *clam = cfg_str(cfg, P_CLAMAV_TMP_DIR);
	const char *quar = cfg_str(cfg, P_QUARANTINE_DIR);
	struct workdirs *wd = xcalloc(1, sizeof(*wd));
	struct passwd *pw;

	wd->master = getpid();
	wd->sweep = sweep;
	wd->uid = geteuid();
	wd->gid = getegid();
	if ((pw = getpwuid(wd->uid)) != NULL)
		snprintf(wd->user, sizeof(wd->user), "%s", pw->pw_name);
	if (*user && geteuid() == 0) {
		if ((pw = getpwnam(user)) == NULL) {
			free(wd);
			return wd_fail(error_r, "daemon_user %s: no such user", user);
		}
		wd->owned = 1;
		wd->uid = pw->pw_uid;
		wd->gid = pw->pw_gid;
		snprintf(wd->user, sizeof(wd->user), "%s", user);
		if (*group) {
			struct group *gr = getgrnam(group);

			if (gr == NULL) {
				free(wd);
				return wd_fail(error_r, "daemon_group %s: no such group", group);
			}
			wd->gid = gr->gr_gid;
		}
	}
	if (check_base(wd, "tmp_dir", tmp, dry, error_r) < 0 ||
	    (*clam && strcmp(clam, tmp) != 0 && check_base(wd, "clamav_tmp_dir", clam, dry, error_r) < 0) ||
	    (*quar && check_quarantine(wd, quar, dry, error_r) < 0)) {
		free(wd);
		return -1;
	}
	*wd_r = wd;
	return 0;
}

/* workdirs_open - at start: sweep, check, make (see daemon.h) */
int workdirs_open(const struct cfg *cfg, int dry, struct workdirs **wd_r, const char **error_r)
{
	return workdirs_new(cfg, dry, !dry, wd_r, error_r);
}

/* workdirs_check - the checks without the sweep (see daemon.h) */
int workdirs_check(const struct cfg *cfg, int make, const char **error_r)
{
	struct workdirs *wd = NULL;

	if (workdirs_new(cfg, !make, 0, &wd, error_r) < 0)
		return -1;
	workdirs_close(&wd);
	return 0;
}

int workdirs_make(struct workdirs *wd, const struct cfg *cfg, int slot, const char **tmp_r,
		  const char **clam_r, const char **error_r)
{
	const char *tmp = cfg_str(cfg, P_TMP_DIR), *clam = cfg_str(cfg, P_CLAMAV_TMP_DIR);
	char *p[2] = { NULL, NULL };
	int i;

	if (slot < 0 || slot >= WORKDIRS_SLOTS)
		return wd_fail(error_r, "worker slot %d out of range", slot);
	workdirs_remove(wd, slot);
	p[0] = xasprintf("%s/%s%ld.%d", tmp, WORKDIRS_PREFIX, (long)wd->master, slot);
	if (*clam && strcmp(clam, tmp) != 0)
		p[1] = xasprintf("%s/%s%ld.%d", clam, WORKDIRS_PREFIX, (long)wd->master, slot);
	for (i = 0; i < 2; i++) {
		if (p[i] && make_private(wd, p[i], error_r) < 0) {
			if (i == 1)
				(void)rm_tree(p[0]);
			free(p[0]);
			free(p[1]);
			return -1;
		}
	}
	wd->path[slot][0] = p[0];
	wd->path[slot][1] = p[1];
	*tmp_r = p[0];
	*clam_r = p[1] ? p[1] : p[0];
	return 0;
}

void workdirs_remove(struct workdirs *wd, int slot)
{
	int i;

	if (wd == NULL || slot < 0 || slot >= WORKDIRS_SLOTS)
		return;
	for (i = 0; i < 2; i++) {
		if (wd->path[slot][i] == NULL)
			continue;
		if (rm_tree(wd->path[slot][i]) < 0)
			log_warning("cannot remove the worker directory %s: %m", wd->path[slot][i]);
		free(wd->path[slot][i]);
		wd->path[slot][i] = NULL;
	}
}

void workdirs_close(struct workdirs **wdp)
{
	struct workdirs *wd = *wdp;
	int i;

	if (wd == NULL)
		return;
	for (i = 0; i < WORKDIRS_SLOTS; i++)
		workdirs_remove(wd, i);
	free(wd);
	*wdp = NULL;
}
