"""A short soak (bench/soak.py's scenario): mixed requests on sketch and the tiny diffusers model at once.

Generations in every format as b64_json and links, edits, variations, streams with partials, 10% of the
clients disconnecting mid-stream and a few deliberate 400s. Only counts are asserted: no unplanned error,
one ledger row per image request sent (disconnected ones included: the ledger records every image POST
once its response ends), open file descriptors back near the post-warm-up count.
"""

from __future__ import annotations

from bench.soak import scenario

REQUESTS, CONCURRENCY = 120, 16


def test_a_short_soak_loses_nothing_and_leaks_no_descriptors(tiny_pipelines, tmp_path):
    report = scenario(REQUESTS, CONCURRENCY, ("sketch", "diffusers"), work=tmp_path, tiny_folder=tiny_pipelines["sd"])
    assert len(report.outcomes) == REQUESTS
    assert [f"{o.kind}/{o.engine}: {o.error}" for o in report.unplanned] == []
    assert {o.engine for o in report.outcomes} == {"sketch", "diffusers"}
    assert sum(o.planned == "disconnect" for o in report.outcomes) >= 5
    assert sorted(report.ledger_ids) == sorted(report.sent_ids) and len(report.sent_ids) == REQUESTS
    assert report.after.fds <= report.baseline.fds + 8  # sockets closed: back to the baseline, give or take
