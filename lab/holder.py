"""Hold one lab host's namespaces open and give it a host's own view.

Started by hostgw_lab.py as
``ip netns exec NS unshare --mount --uts --propagation private --fork -- python3 holder.py ...``
so it already sits in the host's network namespace and in fresh, private mount
and UTS namespaces.  It makes /etc, /var/lib, /opt and /usr/local copy-on-write
overlays (changes stay in the lab's state directory), mounts a tmpfs on /run, sets the
hostname, /etc/hosts and resolv.conf, writes its PID file (the readiness
signal) and sleeps until it is told to stop.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys

OVERLAID = ("/etc", "/var/lib", "/opt", "/usr/local")
MARKER = "podnet-hostgw-lab-holder"


def mount(argv):
    subprocess.run(["mount"] + argv, check=True)


def overlay(target, state_dir):
    name = target.strip("/").replace("/", "_")
    upper = os.path.join(state_dir, name, "upper")
    work = os.path.join(state_dir, name, "work")
    os.makedirs(upper, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    opts = "lowerdir=%s,upperdir=%s,workdir=%s" % (target, upper, work)
    mount(["-t", "overlay", "overlay", "-o", opts, target])


def write(path, text):
    if os.path.islink(path):
        os.unlink(path)
    with open(path, "w") as fh:
        fh.write(text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--marker", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--pid-file", required=True)
    parser.add_argument("--hostname", required=True)
    parser.add_argument("--address", required=True)
    args = parser.parse_args()
    if args.marker != MARKER:
        sys.exit("holder: wrong marker")

    # The PID file lives under the controller's /run, which the tmpfs below
    # hides: keep a handle on its directory.
    pid_dir = os.open(os.path.dirname(args.pid_file), os.O_RDONLY | os.O_DIRECTORY)

    for target in OVERLAID:
        if os.path.isdir(target):
            overlay(target, args.state_dir)
    write("/etc/hostname", args.hostname + "\n")
    write(
        "/etc/hosts",
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "%s\t%s\n" % (args.address, args.hostname),
    )
    # No DNS in the lab: with no nameserver glibc asks 127.0.0.1, refused at once.
    write("/etc/resolv.conf", "# podnet.hostgw lab host: no DNS\noptions timeout:1 attempts:1\n")
    socket.sethostname(args.hostname)
    mount(["-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", "/run"])
    os.makedirs("/run/lock", exist_ok=True)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    base = os.path.basename(args.pid_file)
    tmp = base + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=pid_dir)
    os.write(fd, ("%d\n" % os.getpid()).encode())
    os.close(fd)
    os.rename(tmp, base, src_dir_fd=pid_dir, dst_dir_fd=pid_dir)

    while not stop:
        signal.pause()


if __name__ == "__main__":
    main()
