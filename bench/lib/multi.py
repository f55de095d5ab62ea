"""multi.py - the network of the "multi" bench scenario: tollgate hosts
as Linux network namespaces behind one private Postfix.

NetnsLab(tag, nhosts) makes a bridge in the root namespace holding
10.211.N.1/24 (N chosen so that no address or route of the machine is in
10.211.N.0/24) and, per host, a namespace with one end of a veth pair at
10.211.N.(11+i); nothing else on the network is addressed. Names carry
the bench's pid. teardown() deletes the namespaces and the links; it is
registered with the Reaper, so an interrupted run leaves nothing behind
(the processes inside are stopped by pid before, by the Reaper).

Also: the hosts file that gives the private Postfix one name with every
host's address (read through nss_wrapper, package libnss-wrapper), and
multi_section(), the summary.md lines of the scenario.

Limits: root, and a kernel that lets us make namespaces (a container
without CAP_SYS_ADMIN cannot: setup() raises RuntimeError).
"""

import glob
import os
import subprocess

NAME = "tg-multi.test"


def _ip(*args):
    r = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30, text=True)
    if r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stdout.strip()[-300:]))
    return r.stdout


def nss_wrapper():
    """nss_wrapper - the path of libnss_wrapper.so, or None"""
    c = glob.glob("/usr/lib/*/libnss_wrapper.so") + glob.glob("/usr/lib/libnss_wrapper.so")
    return c[0] if c else None


class NetnsLab:
    """NetnsLab - a bridge and nhosts namespaces on a private /24"""

    def __init__(self, tag, nhosts):
        self.tag, self.nhosts = tag, nhosts
        self.bridge = "tgmb%d" % tag
        self.netns = ["tgm%d%s" % (tag, chr(ord("a") + i)) for i in range(nhosts)]
        self.made_ns, self.made_links = [], []
        self.net = None

    def _pick_net(self):
        for i in range(40):
            c = (self.tag + i * 37) % 230 + 20
            net = "10.211.%d" % c
            if _ip("-4", "addr", "show", "to", net + ".0/24").strip():
                continue
            routes = [x for x in _ip("-4", "route", "show", "to", "match", net + ".1").splitlines()
                      if not x.startswith("default")]
            if not routes:
                return net
        raise RuntimeError("no free /24 in 10.211.0.0/16")

    def setup(self):
        """setup - bridge, namespaces, veth pairs; RuntimeError when it cannot"""
        self.net = self._pick_net()
        _ip("link", "add", self.bridge, "type", "bridge")
        self.made_links.append(self.bridge)
        _ip("addr", "add", self.bridge_addr() + "/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i, ns in enumerate(self.netns):
            _ip("netns", "add", ns)
            self.made_ns.append(ns)
            _ip("link", "add", ns + "h", "type", "veth", "peer", "name", ns + "n")
            self.made_links.append(ns + "h")
            _ip("link", "set", ns + "h", "master", self.bridge, "up")
            _ip("link", "set", ns + "n", "netns", ns)
            _ip("-n", ns, "addr", "add", self.host_addr(i) + "/24", "dev", ns + "n")
            _ip("-n", ns, "link", "set", ns + "n", "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def teardown(self):
        """teardown - delete what setup made (processes inside stopped before)"""
        for ns in self.made_ns:
            subprocess.run(["ip", "netns", "del", ns], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for link in self.made_links:
            subprocess.run(["ip", "link", "del", link], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.made_ns, self.made_links = [], []

    def bridge_addr(self):
        return self.net + ".1"

    def host_addr(self, i):
        return "%s.%d" % (self.net, 11 + i)

    def hosts_file(self, path, n):
        """hosts_file - write a hosts file where NAME has the first n hosts' addresses"""
        with open(path, "w") as f:
            for i in range(n):
                f.write("%s %s\n" % (self.host_addr(i), NAME))
        return path


def multi_section(mpoints, fmt, size_label):
    """multi_section - summary.md lines of the multi scenario: per host count
    and concurrency, total and per-host msgs/s and CPU ms/msg"""
    if not mpoints:
        return []
    L = ["## Several hosts (multi: network namespaces behind one Postfix)", "",
         "N tollgate hosts, each a Linux network namespace with its own tollgated (max_servers = conc), "
         "behind one private Postfix (amavisfeed maxproc = N × conc) whose content_filter is one name "
         "with the N hosts' addresses (randomised by the LMTP client); each host re-injects straight "
         "into the smtp-sink on the bridge. 1 host and 2 hosts run the same chain on the same machine. "
         "Per host: its share of the messages (its log lines) times the total rate, and its own "
         "CPU (master + workers) per message it handled.", "",
         "| hosts | size | conc/host | total msgs/s | min–max | per host msgs/s | per host CPU ms/msg "
         "| all hosts CPU ms/msg | chain CPU ms/msg | host CPU % | status |",
         "|---:|---|---:|---:|---:|---|---|---:|---:|---:|---|"]
    for p in sorted(mpoints, key=lambda p: (p["size"], p["concurrency"], p["hosts"])):
        L.append("| %d | %s | %d | %s | %s–%s | %s | %s | %s | %s | %s | %s |" % (
            p["hosts"], size_label(p["size"]), p["concurrency"], fmt(p.get("msgs_per_s"), 0),
            fmt(p.get("msgs_per_s_min"), 0), fmt(p.get("msgs_per_s_max"), 0),
            " / ".join(fmt(x, 0) for x in p.get("host_msgs_per_s", [])) or "-",
            " / ".join(fmt(x, 3) for x in p.get("host_cpu_ms", [])) or "-",
            fmt(p.get("cpu_ms_per_msg"), 3), fmt(p.get("chain_cpu_ms_per_msg"), 3),
            fmt(p.get("host_cpu_pct"), 0), p["status"] + (" (%s)" % p["note"] if p.get("note") else "")))
    L.append("")
    for size in sorted({p["size"] for p in mpoints}):
        for conc in sorted({p["concurrency"] for p in mpoints if p["size"] == size}):
            one = [p for p in mpoints if (p["size"], p["concurrency"], p["hosts"]) == (size, conc, 1)
                   and p["status"] == "ok"]
            two = [p for p in mpoints if (p["size"], p["concurrency"]) == (size, conc) and p["hosts"] > 1
                   and p["status"] == "ok"]
            if one and two:
                a, b = one[0], two[0]
                L.append("- %s, conc %d per host: %d hosts %.0f msgs/s vs 1 host %.0f msgs/s (%.2f×), with "
                         "Postfix's feed at maxproc %d vs %d; every host shares this machine's %d cores "
                         "with Postfix and the sink, so the total cannot grow with the hosts here (what "
                         "it gains comes from the larger maxproc): read the scaling from the per-host CPU "
                         "ms/msg (a host of its own gives ~1000 / that msgs/s per core)"
                         % (size_label(size), conc, b["hosts"], b["msgs_per_s"], a["msgs_per_s"],
                            b["msgs_per_s"] / a["msgs_per_s"] if a["msgs_per_s"] else 0,
                            b["hosts"] * conc, conc, os.cpu_count()))
    L.append("")
    return L
