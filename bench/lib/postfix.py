"""postfix.py - the private Postfix instance of the "postfix" bench scenario.

Wired as in the integration guide: an injection smtpd with
content_filter=amavisfeed:[127.0.0.1]:FILTERPORT, the amavisfeed lmtp
transport with maxproc = the concurrency under test, a re-injection smtpd
(the guide's section 2.3 overrides plus smtpd_authorized_xforward_hosts)
and relayhost = the smtp-sink, so every message ends there. Own config
and queue directory, every service chroot n, log to DIR/maillog
(postlogd), no syslog (reference/private-postfix.md).

Life cycle: PostfixInstance(dir, ...) -> start(maxproc) -> [restart(maxproc)]
-> stop(). stop() is also registered with the Reaper, so an interrupted
run leaves no Postfix behind; it uses "postfix -c DIR stop" and then the
master's pid from its pid file, never a process name.

passthru=True (the "postfix-passthru" scenario) wires the same chain
with no filter: content_filter=passfeed:[127.0.0.1]:REINJECTPORT, where
passfeed is Postfix's own smtp client with the same maxproc, straight to
the re-injection smtpd; the same two queue passes, nothing in between.

content_filter and extra_main (the "multi" scenario) replace the feed's
nexthop and add main.cf lines; sink_addr is where relayhost points.

Deliberately left out: TLS, DNS, anything but loopback and the bench's
own namespace bridge.
"""

import os
import subprocess
import time

from procs import descendants_of, pid_alive, port_listening, wait_until

MAIN_CF = """\
# private Postfix of a tollgate bench run
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
myhostname = pf-bench-{tag}.example.test
mydomain = example.test
myorigin = $myhostname
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [{sink_addr}]:{sink_port}
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
queue_run_delay = 30s
minimal_backoff_time = 30s
maximal_backoff_time = 30s
delay_warning_time = 0
biff = no
smtpd_tls_security_level = none
smtp_tls_security_level = none
lmtp_tls_security_level = none
smtp_dns_support_level = disabled
message_size_limit = 104857600
default_process_limit = 200
# the feed is limited by maxproc of amavisfeed (integration guide 5.1);
# let the queue manager offer that many, and let the relay to the sink
# never be the bottleneck
amavisfeed_destination_concurrency_limit = {maxproc}
passfeed_destination_concurrency_limit = {maxproc}
smtp_destination_concurrency_limit = 100
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
"""

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:{inject_port} inet n - n - - smtpd
  -o content_filter={content_filter}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
{feed_line}
  -o {p}_data_done_timeout=1200
  -o {p}_send_xforward_command=yes
  -o {p}_tls_note_starttls_offer=no
127.0.0.1:{reinject_port} inet n - n - - smtpd
  -o content_filter=
  -o smtpd_delay_reject=no
  -o smtpd_client_restrictions=permit_mynetworks,reject
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o smtpd_data_restrictions=reject_unauth_pipelining
  -o smtpd_end_of_data_restrictions=
  -o smtpd_restriction_classes=
  -o mynetworks=127.0.0.0/8
  -o smtpd_error_sleep_time=0
  -o smtpd_soft_error_limit=1001
  -o smtpd_hard_error_limit=1000
  -o smtpd_client_connection_count_limit=0
  -o smtpd_client_connection_rate_limit=0
  -o receive_override_options=no_header_body_checks,no_unknown_recipient_checks,no_milters
  -o local_header_rewrite_clients=
  -o smtpd_milters=
  -o local_recipient_maps=
  -o relay_recipient_maps=
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
"""


def amavisfeed_line(n):
    """amavisfeed_line - the master.cf line of the feed transport, maxproc n"""
    return "amavisfeed unix - - n - %d lmtp" % n


def passfeed_line(n):
    """passfeed_line - the master.cf line of the pass-through feed: smtp, maxproc n"""
    return "passfeed unix - - n - %d smtp" % n


class PostfixInstance:
    """PostfixInstance - one private Postfix under dir"""

    def __init__(self, dir, sink_port, inject_port, reinject_port, filter_port, log, passthru=False,
                 content_filter=None, extra_main="", sink_addr="127.0.0.1"):
        self.dir, self.sink_port = dir, sink_port
        self.content_filter, self.extra_main, self.sink_addr = content_filter, extra_main, sink_addr
        self.passthru = passthru
        self.inject_port, self.reinject_port = inject_port, reinject_port
        self.filter_port, self.log = filter_port, log
        self.master_pid = None
        self.maxproc = None

    def _write(self, maxproc):
        os.makedirs(os.path.join(self.dir, "queue"), exist_ok=True)
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(dir=self.dir, tag=os.getpid(), sink_port=self.sink_port,
                                   maxproc=maxproc, sink_addr=self.sink_addr) + self.extra_main)
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            if self.passthru:
                cf = "passfeed:[127.0.0.1]:%d" % self.reinject_port
                feed = passfeed_line(maxproc)
            else:
                cf = self.content_filter or "amavisfeed:[127.0.0.1]:%d" % self.filter_port
                feed = amavisfeed_line(maxproc)
            f.write(MASTER_CF.format(inject_port=self.inject_port, content_filter=cf,
                                     reinject_port=self.reinject_port, feed_line=feed,
                                     p="smtp" if self.passthru else "lmtp"))

    def _pid_from_file(self):
        try:
            with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start(self, maxproc, timeout=30):
        """start - write the config and start; raise RuntimeError on failure

        Mail left in the queue by an earlier, failed point is deleted
        first, so it cannot reach the sink during the next point.
        """
        if os.path.isdir(os.path.join(self.dir, "queue", "pid")):
            subprocess.run(["postsuper", "-c", self.dir, "-d", "ALL"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        self._write(maxproc)
        self.maxproc = maxproc
        out = subprocess.run(["postfix", "-c", self.dir, "start"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=120, text=True)
        self.master_pid = self._pid_from_file()
        if out.returncode != 0:
            raise RuntimeError("postfix -c %s start failed: %s" % (self.dir, out.stdout.strip()[-500:]))
        ok = wait_until(lambda: port_listening(self.inject_port) and port_listening(self.reinject_port),
                        timeout)
        self.master_pid = self._pid_from_file()
        if not ok:
            raise RuntimeError("private Postfix did not listen on %d/%d within %ds"
                               % (self.inject_port, self.reinject_port, timeout))

    def stop(self):
        """stop - postfix stop, then make sure the master and its children are gone"""
        mpid = self.master_pid or self._pid_from_file()
        kids = descendants_of(mpid) if mpid else []
        try:
            subprocess.run(["postfix", "-c", self.dir, "stop"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        if mpid and not wait_until(lambda: not pid_alive(mpid), 20):
            self.log("postfix master %d still there after postfix stop: SIGKILL" % mpid)
            try:
                os.kill(mpid, 9)
            except ProcessLookupError:
                pass
        if kids and not wait_until(lambda: not any(pid_alive(k) for k in kids), 10):
            for k in kids:
                if pid_alive(k):
                    try:
                        os.kill(k, 9)
                    except ProcessLookupError:
                        pass
        self.master_pid = None

    def restart(self, maxproc):
        """restart - stop and start with a new amavisfeed maxproc

        A full restart (not reload) so the queue manager's concurrency and
        its cached LMTP connections start fresh for each point.
        """
        self.stop()
        time.sleep(0.2)
        self.start(maxproc)

    def queue_count(self):
        """queue_count - messages in the queue (postqueue -j), -1 on error"""
        try:
            out = subprocess.run(["postqueue", "-c", self.dir, "-j"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=30, text=True)
        except subprocess.TimeoutExpired:
            return -1
        return sum(1 for line in out.stdout.splitlines() if line.startswith("{"))
