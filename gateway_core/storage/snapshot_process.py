"""A snapshot of the embedded store's tables written by a forked child process (its compaction).

The child sees the tables as they were at the fork (copy-on-write) and serialises them while the
serving process goes on: the serving process neither copies the tables nor shares its interpreter
lock with the serialisation, which at 100,000 objects takes ~0.6 s of CPU (docs/storage.md,
"Compaction"). The child serialises each table with one orjson call, which reads the documents
without touching their reference counts, so that almost none of the parent's memory pages get
copied; it disables the cycle collector for the same reason.

The child keeps the store's lock file open (a second gateway process cannot open the data file
while it writes), closes every other inherited descriptor (a client connection the server closes
must not stay open in the child), and on Linux dies with the thread that forked it, so that a killed
gateway leaves no writer behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
import warnings
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, NoReturn

from gateway_core.errors import StoreError
from gateway_core.storage.wal import write_snapshot

_WRITTEN = b"written"
_REPORT_LIMIT = 2_000  # bytes of the child's error message passed back
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_NICENESS = 19  # the snapshot takes the CPU the server leaves idle


class SnapshotProcess:
    """A forked child writing a snapshot; `wait` (blocking, for a worker thread) reaps it."""

    def __init__(self, pid: int, report: int) -> None:
        self.pid = pid
        self._report = report

    def wait(self) -> None:
        """Return once the child has written and renamed the snapshot; StoreError otherwise."""
        with open(self._report, "rb") as pipe:  # end of file when the child is gone
            report = pipe.read()
        status: int | None = None
        with contextlib.suppress(ChildProcessError):  # reaped elsewhere: the report still tells
            _, status = os.waitpid(self.pid, 0)
        if report == _WRITTEN:
            return
        if report:
            raise StoreError(report.decode("utf-8", "replace"))
        ended = "" if status is None else f" ({_describe(status)})"
        raise StoreError(f"the snapshot process ended before writing the snapshot{ended}")


def start_snapshot(
    path: Path, tables: Mapping[str, Mapping[int, Any]], keep_open: Collection[int]
) -> SnapshotProcess:
    """Fork a child that writes `tables` to `path` atomically (`write_snapshot`). Call it where the
    tables are consistent (the event loop's thread, between two applied batches); OSError when the
    system cannot fork."""
    report, report_end = os.pipe()
    parent = os.getpid()
    death_signal = _death_signal_setter()
    # Signals wait until the child has undone the server's handlers: a SIGINT caught by the child
    # with the server's handler would reach the server's loop a second time through its wakeup fd.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork() in a process with threads: the child runs only
            # orjson and file calls, none of which takes a lock another thread may hold.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            _child(
                path,
                tables,
                report=report_end,
                keep_open={report_end, *keep_open},
                blocked=blocked,
                death_signal=death_signal,
                parent=parent,
            )
    except BaseException:
        os.close(report)
        os.close(report_end)
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    os.close(report_end)
    return SnapshotProcess(pid, report)


def _child(
    path: Path,
    tables: Mapping[str, Mapping[int, Any]],
    *,
    report: int,
    keep_open: Collection[int],
    blocked: set[int | signal.Signals],
    death_signal: Callable[..., int] | None,
    parent: int,
) -> NoReturn:
    status = 1
    try:
        gc.disable()
        if death_signal is not None:
            death_signal(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before the prctl
                os._exit(1)
        signal.set_wakeup_fd(-1)
        for number in signal.valid_signals():
            if callable(signal.getsignal(number)):
                signal.signal(number, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        _close_descriptors_but(keep_open)
        os.setpriority(os.PRIO_PROCESS, 0, _NICENESS)
        write_snapshot(path, tables, slice_size=None)
        os.write(report, _WRITTEN)
        status = 0
    except BaseException as error:  # reported to the parent, then the child exits
        with contextlib.suppress(BaseException):
            message = f"the snapshot could not be written to {path}: {error}"
            os.write(report, message.encode("utf-8", "replace")[:_REPORT_LIMIT])
    finally:
        os._exit(status)


def _death_signal_setter() -> Callable[..., int] | None:
    """On Linux, libc's prctl, to make the child receive SIGKILL when the thread that forked it
    ends (PR_SET_PDEATHSIG); elsewhere None, and the child finishes its snapshot on its own,
    holding the store's lock until then. Looked up before the fork: the dynamic loader's lock may
    be held by another thread at that moment, and the child could never take it."""
    if not sys.platform.startswith("linux"):
        return None
    prctl: Callable[..., int] = ctypes.CDLL(None).prctl
    return prctl


def _close_descriptors_but(keep_open: Collection[int]) -> None:
    """Close what is open besides standard input, output and error and `keep_open`, as listed by the
    system (closing every number up to the descriptor limit can take minutes where the limit is
    in the millions and there is no close_range)."""
    try:
        open_now = [int(name) for name in os.listdir("/proc/self/fd")]
    except FileNotFoundError:  # not Linux
        open_now = [int(name) for name in os.listdir("/dev/fd")]
    for descriptor in open_now:
        if descriptor > 2 and descriptor not in keep_open:
            with contextlib.suppress(OSError):  # the listing's own descriptor is gone already
                os.close(descriptor)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
