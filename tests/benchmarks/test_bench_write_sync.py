"""``python -m benchmarks.write`` sync variant on a tiny input: only what changed is sent.

Correctness only (request counts on the sandbox), no timing.
"""

from __future__ import annotations

from benchmarks import write


def test_write_sync_sends_only_what_changed() -> None:
    payload = write.run(
        records=40,
        latency=0.0,
        jitter=0.0,
        limit_scale=100,
        selected=["sync"],
        verbose=False,
        changed_percent=5.0,
        removed=4,
    )
    assert payload["results"] == []
    first, same, changed, mirror = payload["sync"]
    assert first["writes"] == 40 and first["counts"] == {"created": 40}
    assert same["writes"] == same["lookups"] == 0 and same["counts"] == {"unchanged": 40}
    assert changed["writes"] == 2 and changed["counts"] == {"updated": 2, "unchanged": 38}
    assert mirror["writes"] == mirror["deletes"] == 4 and mirror["counts"]["deleted"] == 4
    assert all(p["ok"] == "yes" for p in payload["sync"])
