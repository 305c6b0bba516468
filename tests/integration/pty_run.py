"""pty_run.py — run a command on a pseudo-terminal and print everything it wrote there.

Usage: pty_run.py [--quit-on TEXT] [--timeout SECONDS] COMMAND [ARG]...

The command's stdin, stdout and stderr are the terminal (redirect inside `sh -c` to keep one
of them off it). With --quit-on, the key q is typed once TEXT has appeared in the output. The
output goes to our stdout as the terminal passed it (so "\n" arrives as "\r\n"); our exit status
is the command's, or 124 when it outlived the timeout (it is then killed).
"""
import os
import pty
import select
import signal
import sys
import time


def main():
    args = sys.argv[1:]
    quit_on = None
    timeout = 30.0
    while args and args[0].startswith("--"):
        if args[0] == "--quit-on":
            quit_on = args[1].encode()
        elif args[0] == "--timeout":
            timeout = float(args[1])
        else:
            sys.exit("pty_run.py: unknown option " + args[0])
        args = args[2:]
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(args[0], args)
        finally:
            os._exit(127)
    output = b""
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the command closed the terminal (it exited)
            break
        if not chunk:
            break
        output += chunk
        if quit_on is not None and quit_on in output:
            os.write(fd, b"q")
            quit_on = None
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    sys.stdout.buffer.write(output)
    sys.stdout.flush()
    sys.exit(124 if timed_out else os.waitstatus_to_exitcode(status))


main()
