"""Sharing work among cores: the parts come back whole and in order, and a failed child costs
only time (its part is done in the parent)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from newswire import content, workers
from newswire.workers import in_parts, run_tasks


def _with_pid(items: list[int]) -> bytes:
    """Each item with the process that handled it."""
    return b"".join(b"%d:%d;" % (i, os.getpid()) for i in items)


@pytest.fixture
def three_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 3)


def test_every_part_but_the_first_is_done_in_a_child_and_the_parts_come_back_in_order(three_cores: None) -> None:
    parts = in_parts(_with_pid, list(range(10)), minimum=1)
    assert len(parts) == 3
    items = [entry.split(b":") for part in parts for entry in part.split(b";")[:-1]]
    assert [int(i) for i, _ in items] == list(range(10))
    pids = [{int(pid) for _, pid in (e.split(b":") for e in part.split(b";")[:-1])} for part in parts]
    assert pids[0] == {os.getpid()}
    assert all(len(p) == 1 and p != pids[0] for p in pids[1:]) and pids[1] != pids[2]


def test_below_the_minimum_everything_is_done_here(three_cores: None) -> None:
    assert in_parts(_with_pid, [1, 2], minimum=3) == [_with_pid([1, 2])]


@pytest.mark.parametrize("how", ["raises", "killed"])
def test_a_part_whose_child_fails_is_done_in_the_parent(three_cores: None, how: str) -> None:
    parent = os.getpid()

    def fragile(items: list[int]) -> bytes:
        if os.getpid() != parent and 4 in items:
            if how == "raises":
                raise RuntimeError("a child that fails")
            os.kill(os.getpid(), signal.SIGKILL)
        return _with_pid(items)

    parts = in_parts(fragile, list(range(10)), minimum=1)
    assert [int(e.split(b":")[0]) for part in parts for e in part.split(b";")[:-1]] == list(range(10))
    assert f":{parent};".encode() in parts[1]  # the failed child's part, done here


def test_a_scan_shared_among_cores_lists_what_a_scan_in_one_process_does(
        tmp_path: Path, three_cores: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(40):
        folder = tmp_path / f"folder-{i % 3}" if i % 2 else tmp_path
        folder.mkdir(exist_ok=True)
        (folder / f"post-{i}.md").write_text("x" * i, encoding="utf-8")
    (tmp_path / ".hidden.md").write_text("not listed", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not listed", encoding="utf-8")
    alone = content.scan(tmp_path).listing
    monkeypatch.setattr(content, "PARALLEL_STATS", 1)
    assert content.scan(tmp_path).listing == alone
    assert alone.count(0) == 80 and b".hidden" not in alone and b"notes" not in alone


def _who(shared: str, part: list[int]) -> list[tuple[int, str, int, int]]:
    """Each item with what the worker was given at its start, and which process (and parent) handled it."""
    return [(item, shared, os.getpid(), os.getppid()) for item in part]


def test_workers_get_their_input_through_the_pool_initializer_and_give_results_in_order(three_cores: None) -> None:
    results = list(run_tasks(_who, "shared input", list(range(60)), parallel=True, prepare=list))
    assert [r[0] for r in results] == list(range(60)) and {r[1] for r in results} == {"shared input"}
    assert os.getpid() not in {r[2] for r in results} and {r[3] for r in results} == {os.getpid()}


def test_a_process_that_runs_threads_starts_its_workers_from_a_fork_server(
        three_cores: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forked from a process with threads, a worker can hang on a lock one of them held: such a
    process (the daemon) forks nothing itself, and its workers get the same input."""
    monkeypatch.setattr(workers, "_FORK_SERVER", [])
    workers.start_from_fork_server()
    results = list(run_tasks(_who, "shared input", list(range(60)), parallel=True, prepare=list))
    assert [r[0] for r in results] == list(range(60)) and {r[1] for r in results} == {"shared input"}
    assert os.getpid() not in {r[2] for r in results} and os.getpid() not in {r[3] for r in results}
    assert in_parts(bytes, [1, 2, 3], minimum=1) == [bytes([1, 2, 3])]  # one part, done here: nothing forked


def test_weighed_tasks_are_chunked_by_what_they_load(three_cores: None) -> None:
    """A feed page loads its posts: a chunk of pages holds no more posts than CHUNK_WEIGHT (but one
    page at least, however many it has), so a big archive's pages do not fill memory in flight."""
    sizes = [0] + [25] * 400 + [workers.CHUNK_WEIGHT * 2] + [1] * 30  # a feed page may have no post
    prepared: list[list[int]] = []

    def prepare(chunk: list[int]) -> list[int]:
        prepared.append(chunk)
        return chunk

    results = list(run_tasks(_who, "shared", list(range(len(sizes))), parallel=True, prepare=prepare,
                             weight=lambda i: sizes[i]))
    assert [r[0] for r in results] == list(range(len(sizes)))
    assert sorted(i for chunk in prepared for i in chunk) == list(range(len(sizes)))
    assert all(sum(sizes[i] for i in chunk) <= workers.CHUNK_WEIGHT for chunk in prepared if len(chunk) > 1)
    assert [len(c) for c in prepared if sizes[c[0]] == 25][1] == workers.CHUNK_WEIGHT // 25
    assert [401] in prepared  # the heavy page alone


@pytest.mark.parametrize("ahead", [2, 4])
def test_no_more_chunks_than_ahead_a_worker_are_handed_out(three_cores: None, ahead: int) -> None:
    """Each chunk handed out is loaded (``prepare``) and held until its results are taken: at most
    ``ahead`` a worker. A sync takes its results in bursts and hands out more; a publish, whose
    chunks hold posts, two."""
    prepared: list[list[int]] = []

    def prepare(chunk: list[int]) -> list[int]:
        prepared.append(chunk)
        return chunk

    results = run_tasks(_who, "shared", list(range(3 * 8 * 20)), parallel=True, prepare=prepare, ahead=ahead)
    first = next(results)
    assert first[0] == 0 and len(prepared) == 3 * ahead  # three cores: three workers
    assert [r[0] for r in results] == list(range(1, 3 * 8 * 20))
    assert sorted(i for chunk in prepared for i in chunk) == list(range(3 * 8 * 20))
