"""Start measured processes from a small process, so that their peak RSS is their own.

Linux carries a process's peak RSS across ``exec``: a child forked from the
benchmark (which has SQLAlchemy loaded) would report at least the benchmark's
own size. This helper imports next to nothing, reads one JSON request per line
on stdin (``{"argv", "cwd", "env", "log"}``), runs it with stdout and stderr
going to ``log``, and answers ``{"seconds", "cpu_seconds", "max_rss_kib", "status"}``.
"""

import json
import os
import sys
import time


def run(request: dict) -> dict:
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.chdir(request["cwd"])
            os.dup2(log, 1)
            os.dup2(log, 2)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.execve(request["argv"][0], request["argv"], request["env"])
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    os.close(log)
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_kib": usage.ru_maxrss,
        "status": os.waitstatus_to_exitcode(status),
    }


def main() -> None:
    for line in sys.stdin:
        sys.stdout.write(json.dumps(run(json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
