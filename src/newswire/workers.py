"""Work on every core: a function over many tasks, in worker processes.

Used by the publish (render and prove) and by sync (Markdown). What every task needs
(``shared``) reaches each worker once, through the pool's initializer; the tasks go as
small lists. Workers are forked from this process (the command line: they start at once
and inherit ``shared`` copy-on-write, unpickled), unless the process called
``start_from_fork_server`` (the daemon, whose jobs run on a scheduler thread: a child
forked from a process with threads can hang on a lock one of them held). Each
worker closes inherited lock descriptors (it must never hold the journal's lock after
its parent died) and is killed if its parent dies, so no orphan outlives a ``kill -9``
of the job.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar, cast

from .lock import forget_inherited_locks

if TYPE_CHECKING:
    from concurrent.futures import Future
    from multiprocessing.context import BaseContext

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")
S = TypeVar("S")

# What a chunk of weighed tasks may hold in all: posts, for the publish (about 12 KB each as
# objects, half that pickled), so the chunks in flight (two per worker, three workers while they
# also write) stay under 10 MB whatever the journal. At 400, the pages of a 100,000-post archive
# held some 60 MB in flight, the publish's peak; four archive pages a chunk still keep a worker busy.
CHUNK_WEIGHT = 100

# Modules a fork server loads once, before it forks any worker: what the workers' functions need.
PRELOAD = ["newswire.proof", "newswire.content"]


def run_tasks(fn: Callable[[S, P], list[R]], shared: S, tasks: Sequence[T], *, parallel: bool,
              prepare: Callable[[list[T]], P], waits: bool = False,
              weight: Callable[[T], int] | None = None, ahead: int = 2) -> Iterator[R]:
    """``fn(shared, part)`` over ``tasks`` in chunks, on every core when ``parallel``, else in this process.

    ``prepare`` turns a chunk of tasks into what ``fn`` takes, in this process and
    only as the chunk is handed out (at most ``ahead`` per worker in flight), so data
    such as posts is loaded no faster than the workers use it. Results come in the
    order of the tasks. If the pool cannot start or breaks, the chunks not yet
    delivered run here. Tasks that ``wait`` on the disk get one worker more than
    there are cores, so a core is not idle while a worker syncs. Where tasks differ
    in what ``prepare`` loads for them (a feed page and its posts), ``weight`` says how
    much, and a chunk holds no more than ``CHUNK_WEIGHT`` of it (but one task at least).
    A caller that takes the results in bursts, doing its own work in between, hands out
    more ``ahead``, so the workers are not idle meanwhile.
    """
    workers = (os.cpu_count() or 1) + waits
    size = max(1, min(200, len(tasks) // (workers * 8)))
    chunks = _chunks(tasks, size, weight)
    delivered = 0
    if parallel and workers > 1 and len(chunks) > 1:
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait  # only when work is shared
        from concurrent.futures.process import BrokenProcessPool

        _trim_heap()
        try:
            with ProcessPoolExecutor(workers, mp_context=start_context(), initializer=_worker_init,
                                     initargs=(shared,)) as pool:
                pending: dict[Future[list[R]], int] = {}
                ready: dict[int, list[R]] = {}
                submitted = 0
                while delivered < len(chunks):
                    while len(pending) + len(ready) < workers * ahead and submitted < len(chunks):
                        pending[pool.submit(_in_worker, fn, prepare(chunks[submitted]))] = submitted
                        submitted += 1
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        ready[pending.pop(future)] = future.result()
                    while delivered in ready:
                        yield from ready.pop(delivered)
                        delivered += 1
            return
        except (OSError, BrokenProcessPool):
            pass  # what is not delivered yet is done here
    for chunk in chunks[delivered:]:
        yield from fn(shared, prepare(chunk))


def _chunks(tasks: Sequence[T], size: int, weight: Callable[[T], int] | None) -> list[list[T]]:
    if weight is None:
        return [list(tasks[i:i + size]) for i in range(0, len(tasks), size)]
    chunks: list[list[T]] = []
    held = 0
    for task in tasks:
        w = weight(task)
        if not chunks or held + w > CHUNK_WEIGHT or len(chunks[-1]) >= size:
            chunks.append([])
            held = 0
        chunks[-1].append(task)
        held += w
    return chunks


_FORK_SERVER: list[bool] = []  # set once by a process that runs threads (see start_from_fork_server)


def start_from_fork_server() -> None:
    """From now on, this process forks no worker itself: a fork server (a fresh process, with
    ``PRELOAD`` loaded once) does. For a process that runs threads; call it before they start."""
    _FORK_SERVER[:] = [True]


def start_context() -> BaseContext:
    """How worker processes start: forked from this process, or by the fork server."""
    import multiprocessing

    if forking_is_safe():
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def forking_is_safe() -> bool:
    return not _FORK_SERVER


def in_parts(fn: Callable[[list[T]], bytes], items: list[T], *, minimum: int) -> list[bytes]:
    """``fn`` over ``items`` cut into one part per core: the first part here, the others in forked
    children that send their bytes back through a pipe; the results in the order of the parts.

    For quick work over very many items (a ``stat`` of every file), where a pool's start-up
    and pickling would cost more than sharing saves. A part whose child fails is done here;
    everything is, where forking is not safe (see ``forking_is_safe``).
    """
    cores = os.cpu_count() or 1
    if cores < 2 or len(items) < minimum or not forking_is_safe():
        return [fn(items)]
    size = -(-len(items) // cores)
    parts = [items[i:i + size] for i in range(0, len(items), size)]
    children: list[tuple[int, int] | None] = []
    for part in parts[1:]:
        try:
            read, write = os.pipe()
            pid = os.fork()
        except OSError:
            children.append(None)
            continue
        if pid == 0:  # the child: its part into the pipe, then out, running nothing of the parent's
            status = 1
            try:
                os.close(read)
                forget_inherited_locks()
                with os.fdopen(write, "wb") as out:
                    out.write(fn(part))
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        children.append((pid, read))
    results = [fn(parts[0])]
    for part, child in zip(parts[1:], children):
        data = None
        if child is not None:
            pid, read = child
            with os.fdopen(read, "rb") as pipe:
                data = pipe.read()
            if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
                data = None
        results.append(fn(part) if data is None else data)
    return results


_SHARED: list[object] = []  # in a worker: what its pool's initializer received


def _worker_init(shared: object) -> None:
    forget_inherited_locks()
    _die_with_parent()
    _SHARED[:] = [shared]


def _in_worker(fn: Callable[[S, P], list[R]], part: P) -> list[R]:
    return fn(cast(S, _SHARED[0]), part)


def _trim_heap() -> None:
    """Give the heap's free pages back to the system (glibc): a forked worker starts with every page
    its parent holds, so what a publish freed since its last pool (a big journal's entries to prove,
    the posts its archive pages loaded) would otherwise be counted again in each worker."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the job that started it dies (no orphans)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)
