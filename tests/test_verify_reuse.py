"""Proving each entry once and reusing the proof proves what reading each whole document proves.

A publish reads every entry's fragment back once, in a batch document with the
journal's root (``prove_entries``), and then checks each assembled document's
skeleton in full and its entry sequence with lxml (``verify_assembled``). These tests show the two methods agree: on any journal both
find nothing, and on assemblies that went wrong (an entry dropped, doubled, swapped,
the bytes cut or polluted) both find a problem.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_properties import FORMATS, journals

from newswire.formats import FORMATS as REGISTRY
from newswire.formats import document
from newswire.model import Problem
from newswire.proof import Proofs, Proven, prove_entries
from newswire.render import Site, entry_view, feed_view
from newswire.verify import verify_assembled


def _both(fmt: str, site: Site, feed, items, corrupt=None):  # type: ignore[no-untyped-def]
    views = [entry_view(p, site) for p in items]
    fv = feed_view(feed, views, site, FORMATS)
    fragments = [REGISTRY[fmt].entry(v) for v in views]
    if corrupt is not None:
        fragments = corrupt(fragments)
    data = document(REGISTRY[fmt], fv, fragments)
    whole = REGISTRY[fmt].read_back(data, fv, views, "doc")
    proofs = [p for found in prove_entries(site, feed, FORMATS, fmt, views, [REGISTRY[fmt].entry(v) for v in views])
              for p in found]
    reused = proofs + verify_assembled(REGISTRY[fmt], data, document(REGISTRY[fmt], fv, []), fv, views, "doc")
    return whole, reused


@settings(max_examples=60, deadline=None)
@given(journal=journals(), fmt=st.sampled_from(FORMATS))
def test_both_methods_accept_every_correct_document(journal, fmt) -> None:  # type: ignore[no-untyped-def]
    site, feed, items = journal
    whole, reused = _both(fmt, site, feed, items)
    assert whole == [] and reused == []


CORRUPTIONS = {
    "drop the last entry": lambda f: f[:-1],
    "double the first entry": lambda f: f[:1] + f,
    "swap two entries": lambda f: [f[1], f[0], *f[2:]],
    "cut an entry short": lambda f: [f[0][: len(f[0]) // 2], *f[1:]],
    "pollute between entries": lambda f: [f[0] + (b"<junk>" if not f[0].startswith(b"{") else b"junk"), *f[1:]],
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(journal=journals(), fmt=st.sampled_from(FORMATS), how=st.sampled_from(sorted(CORRUPTIONS)))
def test_both_methods_reject_a_wrong_assembly(journal, fmt, how) -> None:  # type: ignore[no-untyped-def]
    site, feed, items = journal
    assume(len(items) >= 2)
    whole, reused = _both(fmt, site, feed, items, CORRUPTIONS[how])
    assert whole, f"reading the whole document missed: {how}"
    assert reused, f"the reused proofs missed: {how}"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(journal=journals(), fmt=st.sampled_from(FORMATS), data=st.data())
def test_a_bad_fragment_in_a_batch_is_named_and_the_others_stay_proven(journal, fmt, data) -> None:  # type: ignore[no-untyped-def]
    site, feed, items = journal
    assume(len(items) >= 2)
    views = [entry_view(p, site) for p in items]
    fragments = [REGISTRY[fmt].entry(v) for v in views]
    bad = data.draw(st.integers(0, len(views) - 1))
    fragments[bad] = fragments[bad][: len(fragments[bad]) // 2]
    found = prove_entries(site, feed, FORMATS, fmt, views, fragments)
    assert found[bad], "the cut fragment was not caught"
    assert all(not problems for i, problems in enumerate(found) if i != bad)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**44), st.integers(0, 2**31), st.datetimes(timezones=st.sampled_from(
    [timezone(timedelta(minutes=m)) for m in (-720, -300, -150, 0, 45, 330, 840)])))
def test_a_proof_is_kept_packed_and_given_back_as_it_was(offset: int, length: int, updated: datetime) -> None:
    """``Proofs`` keeps each entry's place, length and date (its offset included) in one int."""
    proofs = Proofs()
    problem = Problem("atom.xml", "tag:x", "title", "a", "b")
    proofs.add((7, "atom", "full"), Proven(offset, length, updated))
    proofs.add((7, "rss", "full"), Proven(1, 2, updated, (problem,)))
    got = proofs[(7, "atom", "full")]
    assert got == Proven(offset, length, updated) and got.updated.utcoffset() == updated.utcoffset()
    assert proofs[(7, "rss", "full")].problems == (problem,) and len(proofs) == 2
