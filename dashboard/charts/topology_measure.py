"""How readable a laid-out topology graph is, counted: the yardstick of charts/topology_layout.py.

Edge crossings, overlapping boxes, edge labels on boxes, edges across a box other than their own
ends, and boxes outside the drawing. The tests hold all but the crossings at zero.
"""

from __future__ import annotations

from dashboard.charts.topology_layout import Box, Layout


def _segments_cross(p1, p2, p3, p4) -> bool:
    def orient(a, b, c) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    d1, d2, d3, d4 = orient(p3, p4, p1), orient(p3, p4, p2), orient(p1, p2, p3), orient(p1, p2, p4)
    return (d1 > 0) != (d2 > 0) and (d3 > 0) != (d4 > 0) and 0 not in (d1, d2, d3, d4)


def _segment_hits_box(a, b, box: Box, inset: float = 1.0) -> bool:
    """Whether the segment a→b passes through the box's inside (its border shrunk by ``inset``)."""
    x0, x1 = box.x - box.w / 2 + inset, box.x + box.w / 2 - inset
    y0, y1 = box.y - box.h / 2 + inset, box.y + box.h / 2 - inset
    t0, t1 = 0.0, 1.0
    dx, dy = b[0] - a[0], b[1] - a[1]
    for p, q in ((-dx, a[0] - x0), (dx, x1 - a[0]), (-dy, a[1] - y0), (dy, y1 - a[1])):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return t1 - t0 > 1e-9


def measure(lay: Layout) -> dict[str, int]:
    """What makes a graph hard to read, counted: edges crossing, boxes overlapping, edge labels on
    boxes, edges across a box other than their own ends, boxes outside the drawing."""
    segs = [(e, a, b) for e, pts in lay.routes.items() for a, b in zip(pts, pts[1:], strict=False)]
    crossing = set()
    for i, (e1, a1, b1) in enumerate(segs):
        for e2, a2, b2 in segs[i + 1:]:
            if e1 != e2 and not set(e1) & set(e2) and _segments_cross(a1, b1, a2, b2):
                crossing.add(tuple(sorted((e1, e2))))
    boxes = list(lay.boxes.items())
    overlaps = sum(1 for i, (_, a) in enumerate(boxes) for _, b in boxes[i + 1:] if a.overlaps(b))
    labels_on_boxes = sum(1 for lab in lay.labels.values() for _, b in boxes if lab.overlaps(b))
    edges_on_boxes = sum(1 for e, a, b in segs for n, box in boxes if n not in e and _segment_hits_box(a, b, box))
    cut = sum(1 for _, b in boxes if b.x - b.w / 2 < 0 or b.y - b.h / 2 < 0
              or b.x + b.w / 2 > lay.width or b.y + b.h / 2 > lay.height)
    return dict(crossings=len(crossing), overlaps=overlaps, labels_on_boxes=labels_on_boxes,
                edges_on_boxes=edges_on_boxes, cut_boxes=cut)
