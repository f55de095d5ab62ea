"""amavisd.py - the amavisd-new peer of the "amavisd" bench scenario.

The peer is what an admin runs today: Debian's amavisd-new with clamd as
its virus scanner, given the same synthetic signature DB as tollgated.
Path: smtp-source -> amavisd (SMTP/LMTP listener, $max_servers = the
concurrency under test) -> smtp-sink ($forward_method).

Everything is private: one clamd (own clamd.conf, unix socket, log and
pid file under DIR, started once for the whole sweep) and one amavisd
per concurrency (own config, $MYHOME, $TEMPBASE, log file, pid and lock
file), started in the foreground by the Reaper and stopped by pid. With
scan_tmp (a tmpfs dir) $TEMPBASE and clamd's TemporaryDirectory go
there, as tollgated's clamav_tmp_dir does.

The amavisd config is the package's own defaults plus Debian's
01-debian (the paths of the decoders), with only these changes, each of
which helps amavisd rather than tollgate:
  - spam checks off (@bypass_spam_checks_maps = 1), like tollgated here;
  - $max_requests very high, so no child is re-forked during a run;
  - logging to a file at log level 0 with one line per message (Debian's
    $log_recip_templ = undef), which also gives the ", N ms" latency;
  - no DKIM, no BerkeleyDB (SNMP counters, nanny), no ZeroMQ.
clamd gets MaxThreads = max(10, concurrency) so that it never queues
what amavisd's children send it. At concurrency 1 amavisd, run in the
foreground, serves in its master process (it switches to plain
Net::Server when $max_servers is 1): the same work per message without a
pre-forked child, so that point has no per-worker PSS.

install(): apt-get installs amavisd-new and clamav-daemon when missing,
with services kept from starting (a policy-rc.d that denies, only when
the machine has none) - the bench starts its own instances only.

Deliberately left out: SpamAssassin inside amavisd (tollgated here runs
without a spam scorer too), chroot, the system's /etc/amavis/conf.d
beyond 01-debian.
"""

import os
import shutil
import subprocess

from procs import children_of, port_listening, wait_until
from procs import tail_lines as tail

PACKAGES = ("amavisd-new", "clamav-daemon")
AMAVISD = "/usr/sbin/amavisd"
CLAMD = "/usr/sbin/clamd"
DEBIAN_PATHS = "/etc/amavis/conf.d/01-debian"
POLICY_RC_D = "/usr/sbin/policy-rc.d"


def installed(pkg):
    """installed - dpkg says pkg is installed"""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


def install(log):
    """install - make sure amavisd-new and clamd are there; None or why not"""
    missing = [p for p in PACKAGES if not installed(p)]
    if not missing:
        return None
    if os.geteuid() != 0:
        return "missing packages %s (needs root to install)" % " ".join(missing)
    log("installing %s (the amavisd peer; services kept from starting)" % " ".join(missing))
    made_policy = False
    if not os.path.exists(POLICY_RC_D):
        with open(POLICY_RC_D, "w") as f:
            f.write("#!/bin/sh\n# bench/run: keep package services from starting during install\nexit 101\n")
        os.chmod(POLICY_RC_D, 0o755)
        made_policy = True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        r = subprocess.run(["apt-get", "install", "-y", "-q"] + missing, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=600)
            r = subprocess.run(["apt-get", "install", "-y", "-q"] + missing, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return "apt-get install %s timed out" % " ".join(missing)
    finally:
        if made_policy:
            os.unlink(POLICY_RC_D)
    if r.returncode != 0:
        return "apt-get install %s failed: %s" % (" ".join(missing), r.stdout.strip()[-300:])
    return None


def version():
    """version - amavisd's version line ("?" when it will not say)"""
    try:
        r = subprocess.run([AMAVISD, "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else "?"
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def perl_str(s):
    """perl_str - s as a single-quoted Perl string"""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


class AmavisdPeer:
    """AmavisdPeer - a private clamd plus one amavisd per concurrency"""

    def __init__(self, dir, sigdb, reaper, log, scan_tmp=None):
        self.dir, self.sigdb, self.reaper, self.log = dir, sigdb, reaper, log
        self.scan_tmp = scan_tmp      # a tmpfs dir for $TEMPBASE and clamd's temp files, or None
        self.clamd = None
        self.clamd_sock = os.path.join(dir, "clamd.sock")
        self.serial = 0
        os.makedirs(dir, exist_ok=True)
        os.chmod(dir, 0o755)

    # ------------------------------------------------------------ clamd

    def start_clamd(self, max_threads):
        """start_clamd - the private clamd with the bench's DB (once)"""
        if self.clamd or not self.sigdb:
            return
        conf = os.path.join(self.dir, "clamd.conf")
        logf = os.path.join(self.dir, "clamd.log")
        with open(conf, "w") as f:
            f.write("# clamd of a bench run\n"
                    "LocalSocket %s\nLocalSocketMode 666\nFixStaleSocket yes\n"
                    "DatabaseDirectory %s\nForeground yes\nLogFile %s\n"
                    "PidFile %s\nMaxThreads %d\nTemporaryDirectory %s\n"
                    % (self.clamd_sock, self.sigdb, logf, os.path.join(self.dir, "clamd.pid"),
                       max(10, max_threads), self.scan_tmp or self.dir))
        with open(os.path.join(self.dir, "clamd.out"), "ab") as out:
            p = self.reaper.spawn([CLAMD, "-c", conf], "clamd", grace=10, stdout=out,
                                  stderr=subprocess.STDOUT)
        if not wait_until(lambda: os.path.exists(self.clamd_sock) or p.poll() is not None, 600) \
                or p.poll() is not None:
            rc = p.poll()
            self.reaper.stop(p)
            raise RuntimeError("clamd %s: %s" % ("exited with %s" % rc if rc is not None
                                                 else "did not open its socket", tail(logf)))
        self.clamd = p
        self.log("clamd pid %d on %s (DB %s)" % (p.pid, self.clamd_sock, self.sigdb))

    def stop_clamd(self):
        if self.clamd:
            self.reaper.stop(self.clamd)
            self.clamd = None

    # ------------------------------------------------------------ amavisd

    def config(self, home, tempbase, port, sink_port, conc, logf):
        """config - the text of one amavisd.conf"""
        L = ["# amavisd config of a bench run: package defaults + Debian's decoder paths",
             "use strict;"]
        if os.path.isfile(DEBIAN_PATHS):
            L.append("include_config_files(%s);" % perl_str(DEBIAN_PATHS))
        L += [
            "$MYHOME = %s;" % perl_str(home),
            "$TEMPBASE = %s;" % perl_str(tempbase),
            "$db_home = \"$MYHOME/db\";",
            "$helpers_home = \"$MYHOME/var\";",
            "$pid_file = \"$MYHOME/amavisd.pid\";",
            "$lock_file = \"$MYHOME/amavisd.lock\";",
            "$QUARANTINEDIR = \"$MYHOME/quarantine\";",
            "$daemon_user = 'amavis';",
            "$daemon_group = 'amavis';",
            "$mydomain = 'example.com';",
            "$myhostname = 'amavis-bench.example.com';",
            "$max_servers = %d;" % conc,
            "$max_requests = 1000000;",
            "$child_timeout = 600;",
            "$inet_socket_bind = '127.0.0.1';",
            "$inet_socket_port = %d;" % port,
            "@inet_acl = qw(127.0.0.1);",
            "$forward_method = 'smtp:[127.0.0.1]:%d';" % sink_port,
            "$notify_method = $forward_method;",
            "$do_syslog = 0;",
            "$LOGFILE = %s;" % perl_str(logf),
            "$log_level = 0;",
            "$log_recip_templ = undef;",
            "@local_domains_maps = (['.']);",
            "@bypass_spam_checks_maps = (1);",
            "$enable_dkim_verification = 0;",
            "$enable_dkim_signing = 0;",
            "$enable_db = 0;",
            "$enable_zmq = 0;",
            "$final_virus_destiny = D_DISCARD;",
            "$final_banned_destiny = D_DISCARD;",
        ]
        if self.sigdb:
            L += ["@av_scanners = (",
                  "  ['ClamAV-clamd', \\&ask_daemon, [\"CONTSCAN {}\\n\", %s]," % perl_str(self.clamd_sock),
                  "    qr/\\bOK$/m, qr/\\bFOUND$/m, qr/^.*?: (?!Infected Archive)(.*) FOUND$/m ],",
                  ");"]
        else:
            L += ["@bypass_virus_checks_maps = (1);", "@av_scanners = ();"]
        L += ["@av_scanners_backup = ();", "1;"]
        return "\n".join(L) + "\n"

    def start(self, conc, port, sink_port):
        """start - amavisd with $max_servers = conc on port; a dict like tollgated's"""
        self.serial += 1
        d = os.path.join(self.dir, "amavisd-%d-c%d-%d" % (port, conc, self.serial))
        home = os.path.join(d, "home")
        for sub in ("", "tmp", "db", "var", "quarantine"):
            os.makedirs(os.path.join(home, sub), exist_ok=True)
        os.chmod(d, 0o755)
        shutil.chown(home, "amavis", "amavis")
        for sub in ("tmp", "db", "var", "quarantine"):
            shutil.chown(os.path.join(home, sub), "amavis", "amavis")
        logf = os.path.join(home, "amavis.log")     # written after the privilege drop
        tempbase = os.path.join(home, "tmp")
        if self.scan_tmp:
            tempbase = os.path.join(self.scan_tmp, os.path.basename(d))
            os.makedirs(tempbase)
            shutil.chown(tempbase, "amavis", "amavis")
        conf = os.path.join(d, "amavisd.conf")
        with open(conf, "w") as f:
            f.write(self.config(home, tempbase, port, sink_port, conc, logf))
        out = os.path.join(d, "amavisd.out")
        with open(out, "ab") as f:
            p = self.reaper.spawn([AMAVISD, "-c", conf, "foreground"], "amavisd:%d" % port,
                                  grace=30, stdout=f, stderr=subprocess.STDOUT)
        if not wait_until(lambda: port_listening(port) or p.poll() is not None, 120) \
                or p.poll() is not None:
            rc = p.poll()
            self.reaper.stop(p)
            raise RuntimeError("amavisd %s: %s | %s" % (
                "exited with %s" % rc if rc is not None else "did not listen on %d" % port,
                tail(out), tail(logf)))
        inst = {"proc": p, "pid": p.pid, "port": port, "log": logf, "conf": conf, "dir": d,
                "conc": conc, "extra_pids": [self.clamd.pid] if self.clamd else []}
        # amavisd in the foreground with $max_servers 1 serves in the master
        # itself (Net::Server, no pre-forking): no children to wait for
        want = conc if conc > 1 else 0
        if not wait_until(lambda: len(children_of(p.pid)) >= want or p.poll() is not None, 120):
            self.log("warning: amavisd has %d of %d children after 120s"
                     % (len(children_of(p.pid)), conc))
        if p.poll() is not None:
            raise RuntimeError("amavisd exited: %s" % tail(out))
        return inst

    def stop(self, inst):
        if inst:
            self.reaper.stop(inst["proc"])

