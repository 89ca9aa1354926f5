"""The outbox flow diagram stays readable: every label at 12 pt or more, drawn top to bottom."""

from __future__ import annotations

import re

from qulab.entrypoints.app.outbox_diagram import outbox_flow_dot


def test_every_font_size_in_the_outbox_flow_is_at_least_twelve() -> None:
    dot = outbox_flow_dot("Redis Streams")
    sizes = [float(size) for size in re.findall(r"fontsize=([0-9.]+)", dot)]
    assert len(sizes) == 3  # nodes, edges, the transaction's frame
    assert min(sizes) >= 12


def test_the_flow_runs_top_to_bottom_so_the_page_scales_it_up_not_down() -> None:
    dot = outbox_flow_dot("RabbitMQ")
    assert "rankdir=TB" in dot and "rankdir=LR" not in dot
    assert 'label="RabbitMQ"' in dot
