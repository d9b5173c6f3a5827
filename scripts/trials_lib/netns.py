"""Separate network stacks standing for separate hosts, for the scale-out trials.

Each worker runs in its own network namespace (`ip netns`, as root): a stack with nothing but its own loopback, so
the workers share no sockets, no ports and no connection state, only what they reach over the network. What they
reach (NATS, the S3 server, the speech server) answers on each namespace's 127.0.0.1 at the port it has on the
host, through a relay: a socket made inside the namespace, whose connections are carried to the host's 127.0.0.1.
No address other than the loopbacks is ever used, and the workers' configuration is the one they have on the host.

The relay's listening sockets are made on this process's main thread, entered into each namespace in turn with
setns(2) and brought back before any relay thread starts, so every connection out is made from the host's stack.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def available() -> tuple[bool, str]:
    """Whether namespaces can be made here, and why not when they cannot."""
    if os.geteuid() != 0:
        return False, "not root"
    name = "aw-probe-%d" % os.getpid()
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return False, (made.stderr.strip() or "ip netns add failed")
    try:
        ran = subprocess.run(["ip", "netns", "exec", name, "true"], capture_output=True, text=True)
        if ran.returncode != 0:
            return False, (ran.stderr.strip() or "ip netns exec failed")
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return True, ""


def _enter(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns(%s)" % path)
    finally:
        os.close(fd)


class Namespaces:
    """`count` namespaces, each with the host's `ports` relayed onto its loopback; close() removes them."""

    def __init__(self, count: int, ports: list[int], tag: str = "w"):
        self.names = ["aw-%d-%s%d" % (os.getpid(), tag, n) for n in range(count)]
        self.listeners: list[socket.socket] = []
        self.stopped = threading.Event()
        host = "/proc/self/ns/net"
        home = os.open(host, os.O_RDONLY)
        try:
            for name in self.names:
                subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
                subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
                _enter("/run/netns/" + name)
                try:
                    for port in ports:
                        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        listener.bind(("127.0.0.1", port))
                        listener.listen(64)
                        self.listeners.append(listener)
                finally:
                    if _libc.setns(home, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns(host)")
        except BaseException:
            self.close()
            raise
        finally:
            os.close(home)
        for listener in self.listeners:
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def command(self, n: int, argv: list[str]) -> list[str]:
        """`argv` run in namespace `n` (`ip netns exec` execs it: the process is the command itself)."""
        return ["ip", "netns", "exec", self.names[n]] + list(argv)

    def _accept(self, listener: socket.socket) -> None:
        port = listener.getsockname()[1]
        while not self.stopped.is_set():
            try:
                inside, _ = listener.accept()
            except OSError:
                return
            try:
                outside = socket.create_connection(("127.0.0.1", port), timeout=10)
                outside.settimeout(None)
            except OSError:
                inside.close()
                continue
            threading.Thread(target=self._relay, args=(inside, outside), daemon=True).start()

    def _relay(self, inside: socket.socket, outside: socket.socket) -> None:
        back = threading.Thread(target=self._pump, args=(outside, inside), daemon=True)
        back.start()
        self._pump(inside, outside)
        back.join()
        inside.close()
        outside.close()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    @staticmethod
    def of(pid: int, program: str, timeout: float = 10) -> str | None:
        """The network namespace of process `pid` once it runs `program` (`ip netns exec` has exec'd it), or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/comm" % pid) as comm:
                    if comm.read().strip() == program[:15]:
                        return os.readlink("/proc/%d/ns/net" % pid)
            except OSError:
                return None
            time.sleep(0.01)
        return None

    def close(self) -> None:
        self.stopped.set()
        for listener in self.listeners:
            try:
                # Wakes the thread blocked in accept(), which a close alone does not.
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                listener.close()
            except OSError:
                pass
        for name in self.names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
