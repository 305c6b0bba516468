"""`python -m shmstore`: the package's command line.

    python -m shmstore serve [--memory SIZE] [--socket PATH] [--log-level LEVEL]

serve runs a private shmstored in the foreground (see shmstore.serve()) and prints the socket
and the `export SHMSTORE_SOCKET=...` line that points other shells' programs at it; Ctrl-C or
SIGTERM stops it and frees its memory.
"""

import argparse
import sys

from . import _serve


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m shmstore",
                                     description="shmstore, a shared-memory object store")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run a private store in the foreground until Ctrl-C",
        description="Run shmstored on a private socket (or --socket) until Ctrl-C or SIGTERM, "
                    "and print the SHMSTORE_SOCKET that clients use to reach it.")
    serve.add_argument("-m", "--memory", metavar="SIZE",
                       help="capacity, with a K/M/G suffix (default: shmstored's, 1G)")
    serve.add_argument("-s", "--socket", metavar="PATH",
                       help="socket to serve on (default: a fresh one in a private directory)")
    serve.add_argument("--log-level", default="warn",
                       choices=["error", "warn", "info", "debug"],
                       help="what the daemon logs (default: warn)")
    args = parser.parse_args(argv)
    try:
        return _serve.main_serve(args.memory, args.socket, args.log_level)
    except _serve.StartFailed as e:
        print("python -m shmstore serve: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
