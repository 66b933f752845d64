"""The run launcher: each run is forked from a process that has already imported the code.

Dagster's ``DefaultRunLauncher`` asks the code server to start each run, and the code server
spawns a fresh interpreter that imports Dagster and LGL Sync's definitions again: about 2.4 of
the 3.4 CPU-seconds of a webhook's run here, and on a two-core host the queue then waits for the
CPU (Dagster issue #26194 asks for a faster start; there is no setting for it). This launcher
keeps one preloaded process per code location (``lgl_sync.ops.zygote``) and forks every run from
it; the run then executes through ``dagster api execute_run``'s own body, so events, interrupts,
run monitoring and the duplicate-start guard are Dagster's.

- A code location that is not a Python module, or a zygote that cannot start (the code does not
  import), falls back to the ``DefaultRunLauncher``; the run then reports the import error.
- The zygote is restarted when a ``.py`` file of the code location's package changes, so a
  reload in the UI is honoured.
- ``terminate`` interrupts the run's process as Dagster's code server does (SIGINT) when it is
  on this host; from another host or container (the webserver's), Dagster's own cancellation
  thread in the run sees the run CANCELING and interrupts it. Run monitoring sees a run
  process that died (killed, out of memory) and fails its run.
- The run's pid and host are run tags.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.base import LaunchRunContext
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import serialize_value

PID_TAG = "lgl/run-pid"
HOST_TAG = "lgl/run-host"
START_TIMEOUT_S = 180  # importing the definitions takes about 2.5 s; a stuck import is bounded
ANSWER_TIMEOUT_S = 30


class ZygoteError(RuntimeError):
    """The preloaded process could not start a run."""


def code_fingerprint(module: str) -> int:
    """A hash of the name, size and mtime of every ``.py`` file of the module's top-level
    package (about 2 ms for this project): any edit, addition or removal changes it."""
    spec = importlib.util.find_spec(module.split(".")[0])
    roots = list(spec.submodule_search_locations or []) if spec else []
    if not roots and spec and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    files = sorted(p for root in roots for p in Path(root).rglob("*.py"))
    return hash(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))


class Zygote:
    """One preloaded process for one code location; thread-safe."""

    def __init__(self, executable: str, pointer: ModuleCodePointer):
        self.fingerprint = code_fingerprint(pointer.module)
        self._lock = threading.Lock()
        requests_read, self._requests = os.pipe()
        self._answers, answers_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [
                    executable,
                    *("-m", "lgl_sync.ops.zygote", str(requests_read), str(answers_write)),
                    serialize_value(pointer),
                ],
                stdin=subprocess.DEVNULL,
                pass_fds=(requests_read, answers_write),
                cwd=pointer.working_directory or None,
            )
        finally:
            os.close(requests_read)
            os.close(answers_write)
        self._buffer = b""
        ready = self._answer(START_TIMEOUT_S)
        if "ready" not in ready:
            self.close()
            raise ZygoteError(ready.get("error", "the preloaded process did not start"))

    def _answer(self, timeout: float) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            readable, _, _ = select.select([self._answers], [], [], timeout)
            chunk = os.read(self._answers, 4096) if readable else b""
            if not chunk:
                raise ZygoteError("the preloaded process stopped answering")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def fork(self, request: str) -> int:
        with self._lock:
            os.write(self._requests, request.encode() + b"\n")
            answer = self._answer(ANSWER_TIMEOUT_S)
        if "pid" not in answer:
            raise ZygoteError(answer.get("error", "no pid"))
        return int(answer["pid"])

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        for fd in (self._requests, self._answers):
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class PreloadedRunLauncher(DefaultRunLauncher):
    """Forks each run from a preloaded process; see the module's docstring."""

    def __init__(self, inst_data=None):
        super().__init__(inst_data=inst_data)
        self._zygotes: dict[tuple, Zygote] = {}
        self._zygotes_lock = threading.Lock()

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data)

    def _zygote(self, executable: str, pointer: ModuleCodePointer) -> Zygote:
        key = (executable, pointer.module, pointer.fn_name, pointer.working_directory)
        with self._zygotes_lock:
            current = self._zygotes.get(key)
            if (
                current
                and current.alive
                and current.fingerprint == code_fingerprint(pointer.module)
            ):
                return current
            self._zygotes.pop(key, None)
            if current:
                current.close()
            self._zygotes[key] = Zygote(executable, pointer)
            return self._zygotes[key]

    def launch_run(self, context: LaunchRunContext) -> None:
        run, origin = context.dagster_run, context.job_code_origin
        pointer = origin.repository_origin.code_pointer if origin else None
        if not isinstance(pointer, ModuleCodePointer):
            return super().launch_run(context)
        args = ExecuteRunArgs(
            job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref()
        )
        try:
            zygote = self._zygote(origin.executable_path, pointer)
            pid = zygote.fork(serialize_value(args))
        except (OSError, ZygoteError) as error:
            self._instance.report_engine_event(
                f"Run not forked from the preloaded process ({error}); starting a new process.",
                run,
                cls=self.__class__,
            )
            # Dagster ignores a second start of a run that already started, so this is safe
            # even when the fork happened and only its answer was lost.
            return super().launch_run(context)
        self._instance.add_run_tags(run.run_id, {PID_TAG: str(pid), HOST_TAG: socket.gethostname()})
        self._run_ids.add(run.run_id)

    def _local_pid(self, run) -> int | None:
        tags = run.tags
        if PID_TAG not in tags or tags.get(HOST_TAG) != socket.gethostname():
            return None
        return int(tags[PID_TAG])

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        if not run or run.is_finished or PID_TAG not in run.tags:
            return super().terminate(run_id)
        self._instance.report_run_canceling(run)
        pid = self._local_pid(run)
        if pid is None:  # another host or container: the run's cancellation thread stops it
            seconds = self._instance.cancellation_thread_poll_interval_seconds
            self._instance.report_engine_event(
                f"The run's process is on {run.tags.get(HOST_TAG)}: it stops itself within "
                f"{seconds} s of seeing the run canceling.",
                run,
            )
            return True
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return False
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        pid = self._local_pid(run)
        if pid is None:  # started by the default launcher, or on another host: cannot tell
            return CheckRunHealthResult(WorkerStatus.RUNNING, "not tracked by pid on this host")
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run process {pid} is gone")
        except PermissionError:
            pass
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def dispose(self) -> None:
        with self._zygotes_lock:
            zygotes, self._zygotes = list(self._zygotes.values()), {}
        for zygote in zygotes:
            zygote.close()
        super().dispose()
