"""Runs a command on a pseudo-terminal, as a user's terminal runs it (for `kubectl exec -it`, which
wants a terminal on stdin and sends its size and size changes).

    python3 pty-run.py ROWS COLS COMMAND [ARGS...]

The terminal's output is copied to stdout as it comes. Each line of stdin is a JSON command:
{"input": "text"} types text at the terminal; {"rows": R, "cols": C} resizes it (the kernel then
sends SIGWINCH to the command, as a terminal emulator's resize does). Exits with the command's
exit code (128 + N when signal N ended it)."""
import errno
import fcntl
import json
import os
import pty
import select
import struct
import sys
import termios


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


rows, cols, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
pid, master = pty.fork()
if pid == 0:
    set_size(0, rows, cols)
    os.execvp(argv[0], argv)

commands = sys.stdin.buffer
pending = b""
reading = [master, commands]
while True:
    ready, _, _ = select.select(reading, [], [])
    if master in ready:
        try:
            data = os.read(master, 65536)
        except OSError as err:
            if err.errno != errno.EIO:
                raise
            data = b""
        if not data:
            break
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    if commands in ready:
        chunk = os.read(commands.fileno(), 65536)
        if not chunk:
            reading.remove(commands)
            continue
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            command = json.loads(line)
            if "input" in command:
                os.write(master, command["input"].encode("utf-8"))
            else:
                set_size(master, command["rows"], command["cols"])

_, status = os.waitpid(pid, 0)
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
