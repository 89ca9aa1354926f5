"""The pool timeline drawn on page 2: thinned for the chart without losing a peak."""

from __future__ import annotations

from qulab.entrypoints.app.pool_timeline_view import timeline_frame
from qulab.lab import LoadRun


def test_the_timeline_frame_keeps_every_peak_when_thinned() -> None:
    run = LoadRun(
        mode="pooled",
        concurrency=4,
        requests=1000,
        total_s=1.0,
        latencies_s=(),
        checkouts=1000,
        connects=2,
        peak_checked_out=4,
        pool_size=2,
        max_overflow=2,
        timeline=tuple((n / 2000, 4 if n == 777 else n % 3) for n in range(2000)),
    )
    frame = timeline_frame(run, max_points=100)
    assert len(frame) <= 100
    assert frame["checked out"].max() == 4
    assert frame["overflow"].max() == 2
    assert list(frame["ms"]) == sorted(frame["ms"])
