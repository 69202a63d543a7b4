"""Which source address does a packet arrive with?  (NAT checks.)

``source_seen`` starts a UDP listener in one network namespace, sends a few
datagrams to it from another, and returns the source address the listener
saw, or ``"timeout"``.  Pod-to-pod traffic must arrive from the pod's own
address; pod traffic leaving the cluster from the node's.  Only the
listener's own PID is ever killed.  Used by the molecule verifiers (through
testinfra_lab) and the netfilter integration tests.
"""

import subprocess
import sys

LISTENER = r"""
import socket, sys
addr, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.settimeout(timeout)
print("ready", flush=True)
try:
    data, peer = s.recvfrom(512)
    print(peer[0], flush=True)
except socket.timeout:
    print("timeout", flush=True)
"""

SENDER = r"""
import socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    try:
        s.sendto(b"podnet", (addr, port))
    except OSError:
        pass
    time.sleep(0.05)
"""

PORT = 47123


def source_seen(listener_netns, listen_ip, sender_netns, port=PORT, timeout=3.0):
    """Listen on LISTEN_IP in LISTENER_NETNS, send from SENDER_NETNS (both
    namespace names), return the source address seen or "timeout"."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", listener_netns, sys.executable, "-c", LISTENER, listen_ip, str(port),
         str(timeout)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline().strip()
        if ready != "ready":
            raise RuntimeError("UDP listener in %s did not start: %s" % (listener_netns, proc.stderr.read()))
        subprocess.run(["ip", "netns", "exec", sender_netns, sys.executable, "-c", SENDER, listen_ip, str(port)],
                       check=True, capture_output=True)
        out, _err = proc.communicate(timeout=timeout + 5)
        return out.strip()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
