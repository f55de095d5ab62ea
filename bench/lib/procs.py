"""procs.py - process, port and /proc helpers of the bench harness.

Everything bench/run starts goes through Reaper.spawn(), so one cleanup
(called from a try/finally and from the signal handlers) stops every
process by its recorded pid - SIGTERM, a grace period, then SIGKILL to
the process and to the descendants it had - and removes the temp dirs.
Nothing here signals a process by name.

Also: free loopback ports (chosen by binding, below the ephemeral range),
"is anything listening" from /proc/net/tcp (no probe connection, so a
filter worker is not woken for nothing), CPU ticks from /proc/PID/stat,
PSS from /proc/PID/smaps_rollup.

Limits: Linux only; the CPU clock has the resolution of USER_HZ (10 ms),
which is why callers divide it by hundreds of messages at least.
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Interrupted(Exception):
    """raised in the main thread by SIGINT/SIGTERM/SIGHUP"""


def install_signal_handlers():
    """install_signal_handlers - turn INT/TERM/HUP into Interrupted"""
    def handler(signum, _frame):
        # ignore further signals: a second Ctrl-C during the cleanup
        # must not cut the cleanup short
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted("signal %d" % signum)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


# ---------------------------------------------------------------- /proc

def read_stat(pid):
    """read_stat - (state, ppid, utime+stime, cutime+cstime) in ticks, or None"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    # rest[0] is field 3 (state); utime is field 14 -> rest[11]
    try:
        return (rest[0], int(rest[1]), int(rest[11]) + int(rest[12]),
                int(rest[13]) + int(rest[14]))
    except (IndexError, ValueError):
        return None


def pid_alive(pid):
    """pid_alive - the process exists and is not a zombie"""
    st = read_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def all_ppids():
    """all_ppids - {pid: ppid} of every process"""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = read_stat(int(name))
            if st:
                out[int(name)] = st[1]
    return out


def children_of(pid, ppids=None):
    """children_of - direct children of pid"""
    ppids = ppids if ppids is not None else all_ppids()
    return sorted(p for p, pp in ppids.items() if pp == pid)


def descendants_of(pid):
    """descendants_of - every descendant of pid"""
    ppids = all_ppids()
    found, todo = [], [pid]
    while todo:
        cur = todo.pop()
        for c in children_of(cur, ppids):
            found.append(c)
            todo.append(c)
    return found


def cmdline(pid):
    """cmdline - the process title as ps shows it ("" when gone)"""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def tree_cpu_ticks(root):
    """tree_cpu_ticks - CPU ticks of root and all its live descendants

    root's own utime+stime plus cutime+cstime (children it already reaped,
    e.g. recycled workers) plus, for every live descendant, its
    utime+stime and cutime+cstime (helpers it ran and reaped itself, e.g.
    amavisd's file(1)). Differences of two calls are the CPU the tree used
    in between, even when processes came and went.
    """
    st = read_stat(root)
    if st is None:
        return None
    total = st[2] + st[3]
    for p in descendants_of(root):
        s = read_stat(p)
        if s:
            total += s[2] + s[3]
    return total


def tail_lines(path, n=6):
    """tail_lines - the last n lines of a file joined with ' | ' ("(no log)" when unreadable)"""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4000))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:])


def pss_kib(pid):
    """pss_kib - proportional set size of pid in KiB (None when unreadable)"""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def host_cpu_ticks():
    """host_cpu_ticks - (busy, total) ticks of all CPUs from /proc/stat"""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


# ---------------------------------------------------------------- ports

_used_ports = set()


def free_port():
    """free_port - a loopback TCP port nobody listens on, not handed out before

    Chosen below the ephemeral range (32768+) so that outgoing connections
    of the load generators cannot take it between choice and bind.
    """
    for _ in range(1000):
        p = random.randint(20000, 32000)
        if p in _used_ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        _used_ports.add(p)
        return p
    raise RuntimeError("no free loopback port found")


def port_listening(port, pid=None):
    """port_listening - a socket listens on port (any address); with pid,
    in that process's network namespace (/proc/PID/net/tcp)"""
    want = ":%04X" % port
    base = "/proc/%d/net" % pid if pid else "/proc/net"
    for path in (base + "/tcp", base + "/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and fields[1].endswith(want):
                        return True
        except OSError:
            pass
    return False


def wait_until(cond, timeout, step=0.05):
    """wait_until - poll cond() until true; False after timeout seconds"""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


# ---------------------------------------------------------------- reaper

class Reaper:
    """Reaper - owner of every started process and temp dir"""

    def __init__(self, log=None, pid_log=None):
        self.procs = []          # [(Popen, name, grace)]
        self.cleanups = []       # [(name, callable)] run before the procs go
        self.tmpdirs = []
        self.log = log or (lambda msg: None)
        self.pid_log = pid_log   # file that records every pid we started
        self.keep_tmp = False

    def note_pid(self, pid, name):
        """note_pid - record a pid in the pid log (for leak checks)"""
        if self.pid_log:
            with open(self.pid_log, "a") as f:
                f.write("%d %s\n" % (pid, name))

    def spawn(self, argv, name, grace=10, **kw):
        """spawn - Popen in its own session, tracked for cleanup"""
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append((p, name, grace))
        self.note_pid(p.pid, name)
        return p

    def stop(self, p, grace=None):
        """stop - SIGTERM p, wait grace s, then SIGKILL it and what it started"""
        entry = next((e for e in self.procs if e[0] is p), None)
        if entry is None:
            return
        self.procs.remove(entry)
        _, name, g = entry
        grace = g if grace is None else grace
        kids = descendants_of(p.pid)
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.log("%s (pid %d) ignored SIGTERM for %ss: SIGKILL" % (name, p.pid, grace))
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        # children that outlived their parent
        if kids and not wait_until(lambda: not any(pid_alive(k) for k in kids), 5):
            for k in kids:
                if pid_alive(k):
                    self.log("leftover pid %d (%s) of %s: SIGKILL" % (k, cmdline(k), name))
                    try:
                        os.kill(k, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            wait_until(lambda: not any(pid_alive(k) for k in kids), 5)

    def add_cleanup(self, name, fn):
        """add_cleanup - fn() runs at cleanup (e.g. postfix stop)"""
        self.cleanups.append((name, fn))

    def remove_cleanup(self, name):
        """remove_cleanup - forget a cleanup registered under name"""
        self.cleanups = [c for c in self.cleanups if c[0] != name]

    def mkdtemp(self, prefix, parent=None):
        """mkdtemp - a temp dir (mode 755, in parent or $TMPDIR) removed at cleanup"""
        import tempfile
        d = tempfile.mkdtemp(prefix=prefix, dir=parent)
        os.chmod(d, 0o755)
        self.tmpdirs.append(d)
        return d

    def cleanup(self):
        """cleanup - stop everything, newest first; remove temp dirs"""
        for name, fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning up
                self.log("cleanup %s: %s" % (name, e))
        self.cleanups = []
        for p, _, _ in reversed(list(self.procs)):
            try:
                self.stop(p)
            except Exception as e:
                self.log("cleanup pid %d: %s" % (p.pid, e))
        for d in self.tmpdirs:
            if self.keep_tmp:
                self.log("kept %s" % d)
            else:
                shutil.rmtree(d, ignore_errors=True)
        self.tmpdirs = []
