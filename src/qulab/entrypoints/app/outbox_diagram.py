"""The outbox flow as a Graphviz DOT source, labelled with the broker in use.

The page stretches the drawing to the width of its column, so the flow runs top to bottom (a
narrow drawing is scaled up, not down) and its labels stay readable on a 1400 px wide window.
"""

from __future__ import annotations

_FONT = 'fontname="Helvetica"'
NODE_FONT_SIZE = 16
EDGE_FONT_SIZE = 14


def outbox_flow_dot(broker: str) -> str:
    """Service -> one transaction (score + event) -> relay -> broker -> consumers."""
    broker_label = broker.replace('"', "'")
    return "\n".join(
        [
            "digraph outbox {",
            "  rankdir=TB; nodesep=0.5; ranksep=0.45;",
            f'  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", {_FONT}, '
            f"fontsize={NODE_FONT_SIZE}];",
            f'  edge [color="#5b6b82", {_FONT}, fontsize={EDGE_FONT_SIZE}];',
            '  service [label="calculate_and_store_airscore"];',
            "  subgraph cluster_tx {",
            f'    label="one database transaction"; style=dashed; color="#3a5a8c"; {_FONT}; '
            f"fontsize={EDGE_FONT_SIZE};",
            '    score [label="INSERT air_scores", shape=cylinder, fillcolor="#fdf1e3"];',
            '    event [label="INSERT domain_events\\nstatus = pending", shape=cylinder, '
            'fillcolor="#fdf1e3"];',
            "  }",
            '  relay [label="relay (event publisher)\\nclaim pending -> publish\\n'
            '-> mark published"];',
            f'  broker [label="{broker_label}", shape=cylinder, fillcolor="#e6f4ea"];',
            '  consumers [label="consumers\\n(drop duplicates by event id)"];',
            '  service -> score [label="commit"]; service -> event;',
            '  event -> relay [label="poll / NOTIFY"];',
            '  relay -> broker [label="publish"];',
            '  relay -> event [label="published_at,\\nor attempts + last_error", style=dashed];',
            '  broker -> consumers [label="at least once"];',
            "}",
        ]
    )
