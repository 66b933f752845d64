"""The preloaded process each run is forked from (started by ``lgl_sync.ops.launcher``).

It imports Dagster and the code location once, then reads one request per line on its control
pipe: the serialized ``ExecuteRunArgs`` of a run. For each it forks; the child runs the run with
the body of ``dagster api execute_run`` (Dagster's own entry point for a run worker: its interrupt
handling, its engine events, its duplicate-start guard) and exits; the zygote answers with the
child's pid. It reaps its children, so their CPU time is counted in its own, and exits when the
pipe closes (the launcher is gone or restarting it); runs already forked carry on.

Nothing here may start a thread or open a connection before forking: a child inherits only the
imported modules.
"""

import contextlib
import json
import os
import signal
import sys
import traceback


def _reap(_signum=None, _frame=None) -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _preload(pointer_json: str) -> None:
    import dagster as dg
    from dagster._cli.api import execute_run_command  # noqa: F401 - the run body, imported once
    from dagster._core.code_pointer import CodePointer
    from dagster._serdes import deserialize_value

    with contextlib.suppress(ImportError):  # the instance's storage, when it is Postgres
        import dagster_postgres  # noqa: F401
    target = deserialize_value(pointer_json, CodePointer).load_target()
    if isinstance(target, dg.Definitions):
        target.get_repository_def()


def _run(request: str) -> int:
    """The child: the run, as ``dagster api execute_run`` runs it, with Dagster's own
    cancellation thread beside it, so that a Terminate from another host or container (the
    webserver's) reaches the run: the thread sees the run CANCELING and interrupts it."""
    from dagster._cli.api import execute_run_command
    from dagster._core.execution.run_cancellation_thread import start_run_cancellation_thread
    from dagster._core.instance import DagsterInstance
    from dagster._grpc.types import ExecuteRunArgs
    from dagster._serdes import deserialize_value
    from dagster._utils.interrupts import setup_interrupt_handlers

    setup_interrupt_handlers()  # SIGTERM cancels the run as SIGINT does
    args = deserialize_value(request, ExecuteRunArgs)
    with DagsterInstance.from_ref(args.instance_ref) as instance:
        watcher, stop = start_run_cancellation_thread(instance, args.run_id)
    try:
        execute_run_command.callback(request, None)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run is over: no late interrupt
        stop.set()
        watcher.join(timeout=10)
    return 0


def _fork(request: str, control: list[int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for fd in control:
            os.close(fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        code = _run(request)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str]) -> int:
    requests_fd, answers_fd, pointer_json = int(argv[1]), int(argv[2]), argv[3]
    answers = os.fdopen(answers_fd, "w", buffering=1)
    try:
        _preload(pointer_json)
    except BaseException as error:  # the launcher falls back to a fresh process, which reports it
        answers.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
        return 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon's Ctrl-C stops the daemon, not us
    signal.signal(signal.SIGCHLD, _reap)
    answers.write(json.dumps({"ready": os.getpid()}) + "\n")
    with os.fdopen(requests_fd, "r") as requests:
        for line in requests:
            try:
                answers.write(json.dumps({"pid": _fork(line.strip(), [requests_fd, answers_fd])}))
            except OSError as error:
                answers.write(json.dumps({"error": f"fork failed: {error}"}))
            answers.write("\n")
    _reap()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
