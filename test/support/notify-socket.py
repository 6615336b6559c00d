"""A stand-in for systemd's notify socket: prints each datagram on one line (newlines as '|') and
closes the file descriptors a sender passes (systemd-notify's barrier waits for that)."""
import array
import os
import socket
import sys

path = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
print("READY", flush=True)
while True:
    data, ancdata, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(16 * array.array("i").itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
            for fd in fds:
                os.close(fd)
    if data:
        print("MSG " + data.decode("utf-8", "replace").replace("\n", "|"), flush=True)
