"""Where the topology graph's boxes, edges and edge labels go: a layered layout, in pixels.

Sugiyama's scheme, deterministic for the same graph:

1. layers: longest path from the sources, cycles cut where they close (a consumer group's edge
   to the service that runs it is membership, not flow: it yields first); callers stand before
   callees, producers before their topics, topics before their groups, groups before their services;
2. an edge that spans several layers passes through a reserved slot in each layer it crosses
   (a "dummy"), so it never runs across a box;
3. order within a layer: barycentre sweeps down and up, neighbour swaps and sifting (each node
   tried at every place in its layer), keeping the order with fewest crossings;
4. a dead-letter or retry topic is a satellite: it stands right after the topic it serves;
5. coordinates: layers are columns (left to right) or rows (top down), each box as wide as its
   label; within a layer boxes are pulled toward their neighbours and never closer than a gap.

Edges leave a box on its side facing the next layer, run straight across the gap between two
layers and through the layers' own slots horizontally, so a line never crosses a box. Box sizes
are estimated from the label's characters (the font is the browser's); the estimate is generous.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

MAX_LINE = 13  # characters on one line of a box's name: longer names wrap at a separator
MAX_NAME = 30  # characters of a name in all: longer ones are cut in the middle (whole on hover)
_NAME_PX, _DETAIL_PX, _RATE_PX = 6.8, 5.5, 5.2  # generous widths of a character: bold 11 px, 10 px, 9 px
_PAD_X, _PAD_Y = 16.0, 12.0  # a box's padding and border, both sides together
_LINE_H = 15.0
_GAP = {"LR": (38.0, 16.0), "TB": (18.0, 56.0)}  # (x, y) between boxes: wide across layers
_DUMMY = 10.0  # the room a passing edge takes in a layer
MARGIN = 8.0
_WIDE = 1020.0  # a drawing this wide fits the main column of a 1500 px page: left to right, without trying top down
_SWEEPS = 8  # rounds of barycentre sweeps down and up
_SIFT_UP_TO = 300  # boxes and passing edges in all: up to this many, every node is also sifted
_SATELLITE = re.compile(r"^(?P<base>.+?)(?:[.\-_](?:dlt|dlq|dead-letter|deadletter)|[.\-_]retry(?:[.\-_]?\d+)?)$",
                        re.IGNORECASE)


@dataclass(frozen=True)
class Box:
    x: float  # centre, pixels from the left
    y: float  # centre, pixels from the top
    w: float
    h: float

    def overlaps(self, other: Box, pad: float = 0.0) -> bool:
        return (abs(self.x - other.x) * 2 < self.w + other.w + 2 * pad
                and abs(self.y - other.y) * 2 < self.h + other.h + 2 * pad)


@dataclass
class Layout:
    direction: str  # "LR" (layers are columns) or "TB" (layers are rows)
    boxes: dict[str, Box]
    routes: dict[tuple[str, str], list[tuple[float, float]]]  # every edge: its polyline, source to target
    width: float
    height: float
    labels: dict[tuple[str, str], Box] = field(default_factory=dict)  # edge → where its label sits


def wrap_name(name: str) -> list[str]:
    """A name on one or two lines: broken after a separator near the middle, cut in the middle
    with an ellipsis when even two lines cannot hold it (the whole name is on hover)."""
    if len(name) > MAX_NAME:
        head = (MAX_NAME - 1) // 2
        name = name[:head] + "…" + name[-(MAX_NAME - 1 - head):]
    if len(name) <= MAX_LINE:
        return [name]
    cuts = [i + 1 for i, c in enumerate(name[:-1]) if c in ".-_/ "]
    fits = [i for i in cuts if i <= MAX_LINE and len(name) - i <= MAX_LINE]
    at = min(fits or cuts or [len(name) // 2], key=lambda i: (abs(len(name) / 2 - i), i))
    if at > MAX_LINE + 4 or len(name) - at > MAX_LINE + 4:  # no separator near the middle
        at = len(name) // 2
    return [name[:at], name[at:]]


def box_size(name: str, detail: str) -> tuple[float, float]:
    lines = wrap_name(name)
    w = max([len(s) * _NAME_PX for s in lines] + [len(detail) * _DETAIL_PX]) + _PAD_X
    return max(w, 60.0), (len(lines) + (1 if detail else 0)) * _LINE_H + _PAD_Y


def rate_size(text: str) -> tuple[float, float]:
    """An edge label's size; its lines are separated by '<br>'."""
    lines = text.split("<br>")
    return max(len(s) for s in lines) * _RATE_PX + 6, 13.0 * len(lines) + 2


def satellites(nodes: pd.DataFrame) -> dict[str, str]:
    """Dead-letter and retry topics → the topic they serve: the declared ``near``, else the name
    (shop.orders.DLT, shop.orders-retry-2, orders-dlq next to shop.orders / orders)."""
    ids = set(nodes["id"])
    near = nodes["near"] if "near" in nodes else pd.Series([None] * len(nodes), index=nodes.index)
    out = {}
    for i, kind, name, m in zip(nodes["id"], nodes["kind"], nodes["name"], near, strict=True):
        if isinstance(m, str) and m in ids and m != i:
            out[i] = m
        elif kind == "topic" and (hit := _SATELLITE.match(str(name))) and f"topic:{hit['base']}" in ids:
            out[i] = f"topic:{hit['base']}"
    # a satellite of a satellite (shop.orders-retry-1.DLT) stands by the topic at the root
    for i in out:
        seen = {i}
        while out[i] in out and out[i] not in seen:
            seen.add(out[i])
            out[i] = out[out[i]]
    return {i: m for i, m in out.items() if m not in out}


def _reaches(dag: dict[str, list[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        for nxt in dag.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def layers(ids: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering over the graph with back edges (cycles) ignored.

    Where a cycle is cut decides the picture. A consumer group's edge to the service that runs
    it is membership, not flow, and it is what closes most cycles (fulfillment-service reads
    shop.orders and calls orders-api, which wrote it): such edges are laid out last and only
    where they close no cycle, so flow reads left to right and the group sits beside its service.
    """
    out: dict[str, list[str]] = defaultdict(list)
    membership: list[tuple[str, str]] = []
    for s, d in edges:
        if s == d:
            continue
        if s.startswith("group:") and d.startswith("service:"):
            membership.append((s, d))
        else:
            out[s].append(d)
    into = {d for s, d in edges if s != d}
    # Drop back edges with an iterative DFS in a fixed order (sources first), so cycles cannot loop.
    colour: dict[str, int] = {}
    dag: dict[str, list[str]] = defaultdict(list)
    for root in sorted(ids, key=lambda n: (n in into, n)):
        if root in colour:
            continue
        stack = [(root, iter(sorted(out[root])))]
        colour[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
            elif colour.get(nxt) == 1:
                continue  # back edge: drawn, but not used for layering
            else:
                dag[node].append(nxt)
                if nxt not in colour:
                    colour[nxt] = 1
                    stack.append((nxt, iter(sorted(out[nxt]))))
    for s, d in sorted(membership):
        if not _reaches(dag, d, s):
            dag[s].append(d)
    layer = dict.fromkeys(ids, 0)
    indeg: dict[str, int] = defaultdict(int)
    for s in ids:
        for d in dag[s]:
            indeg[d] += 1
    queue = sorted(n for n in ids if indeg[n] == 0)
    while queue:
        n = queue.pop(0)
        for d in dag[n]:
            layer[d] = max(layer[d], layer[n] + 1)
            indeg[d] -= 1
            if indeg[d] == 0:
                queue.append(d)
    # A source is pulled right up to the layer before its nearest successor: warehouse-api then
    # stands beside the topic it writes, not in the first column with its edge across the page.
    for n in sorted(ids, key=lambda n: -layer[n]):
        succ = [layer[d] for d in dag[n]]
        if succ and indeg_zero(n, dag) and min(succ) - 1 > layer[n]:
            layer[n] = min(succ) - 1
    return layer


def indeg_zero(n: str, dag: dict[str, list[str]]) -> bool:
    return not any(n in ds for ds in dag.values())


def _crossings_between(upper: list[str], lower: list[str], links: list[tuple[str, str]]) -> int:
    """Crossings between two neighbouring layers: pairs of links whose ends swap order."""
    iu, il = {n: i for i, n in enumerate(upper)}, {n: i for i, n in enumerate(lower)}
    ends = sorted((iu[a], il[b]) for a, b in links if a in iu and b in il)
    # In upper order (lower order among equals), each link crosses the earlier ones ending further down.
    seen: list[int] = []
    count = 0
    for _, b in ends:
        count += len(seen) - bisect.bisect_right(seen, b)
        bisect.insort(seen, b)
    return count


def layout(nodes: pd.DataFrame, edges: pd.DataFrame, direction: str | None = None) -> Layout:
    """Lay the graph out. ``direction`` "LR" or "TB"; None takes the narrower of the two (the page's
    width is what a graph runs short of; its height scrolls)."""
    if direction is None:
        lr = layout(nodes, edges, "LR")
        if lr.width <= _WIDE:
            return lr
        tb = layout(nodes, edges, "TB")
        return lr if lr.width <= tb.width else tb
    ids = sorted(nodes["id"])
    known = set(ids)
    pairs = tuple(sorted({(s, d) for s, d in zip(edges.get("src", []), edges.get("dst", []), strict=False)
                          if s in known and d in known and s != d}))
    sizes = {}
    for i, name, detail in zip(nodes["id"], nodes["name"], nodes.get("detail", [""] * len(nodes)), strict=True):
        w, h = box_size(str(name), detail if isinstance(detail, str) else "")
        sizes[i] = (w, h)
    kinds = tuple(sorted(zip(nodes["id"], nodes["kind"], strict=True)))
    order, nums, links, chains, same_layer = _ordering(kinds, tuple(sorted(satellites(nodes).items())), pairs)
    return _coordinates(direction, order, nums, sizes, links, chains, same_layer, list(pairs))


@functools.lru_cache(maxsize=16)
def _ordering(kinds: tuple[tuple[str, str], ...], sat_items: tuple[tuple[str, str], ...],
              pairs: tuple[tuple[str, str], ...]):
    """Layers and the order within them: they depend on the graph's shape only, not on the counts
    in the boxes, so a page that redraws every few seconds computes them once."""
    ids = [i for i, _ in kinds]
    sat = dict(sat_items)
    layer = layers(ids, list(pairs))
    for n, m in sat.items():
        layer[n] = layer[m]

    # Links between neighbouring layers, through one dummy per layer an edge crosses.
    chains: dict[tuple[str, str], list[str]] = {}
    links: list[tuple[str, str]] = []  # (node in layer k, node in layer k+1)
    same_layer: list[tuple[str, str]] = []
    for s, d in pairs:
        a, b = (s, d) if layer[s] <= layer[d] else (d, s)
        if layer[a] == layer[b]:
            same_layer.append((s, d))
            continue
        chain = [a] + [f"~{s}|{d}|{k}" for k in range(layer[a] + 1, layer[b])] + [b]
        for k, n in enumerate(chain[1:-1], start=layer[a] + 1):
            layer[n] = k
        links += list(zip(chain, chain[1:], strict=False))
        chains[(s, d)] = chain if a == s else chain[::-1]
    by_layer: dict[int, list[str]] = defaultdict(list)
    kind_rank = {"service": 0, "topic": 1, "group": 2}
    kind_of = dict(kinds)
    for n in sorted(layer, key=lambda n: (kind_rank.get(kind_of.get(n, ""), 3), n)):
        if n not in sat:
            by_layer[layer[n]].append(n)
    up: dict[str, list[str]] = defaultdict(list)
    down: dict[str, list[str]] = defaultdict(list)
    between: dict[int, list[tuple[str, str]]] = defaultdict(list)  # the links from layer k to k + 1
    for a, b in links:
        between[layer[a]].append((a, b))
    for a, b in links:
        down[a].append(b)
        up[b].append(a)
    # A satellite's links count as its topic's: they sort the topic, and the satellite follows it.
    nums = sorted(by_layer)

    kids: dict[str, list[str]] = defaultdict(list)  # a topic → its satellites, in their order
    for n in sorted(sat, key=_satellite_rank):
        kids[sat[n]].append(n)

    def place_satellites(order: dict[int, list[str]]) -> dict[int, list[str]]:
        if not sat:
            return order
        return {k: [x for n in lst for x in (n, *kids.get(n, ()))] for k, lst in order.items()}

    def crossings(order: dict[int, list[str]]) -> int:
        full = place_satellites(order)
        return sum(_crossings_between(full[k], full[k + 1], between[k]) for k in nums if k + 1 in full)

    def sweep(order: dict[int, list[str]], ks: list[int], nbrs: dict[str, list[str]]) -> None:
        for k in ks:
            full = place_satellites(order)
            at = {n: i for lst in full.values() for i, n in enumerate(lst)}
            lst = order[k]
            here = {n: i for i, n in enumerate(lst)}

            def bary(n: str, here=here, at=at) -> float:
                mine = [n, *kids.get(n, ())]
                near = [at[m] for x in mine for m in nbrs[x] if m in at]
                return sum(near) / len(near) if near else float(here[n])

            order[k] = sorted(lst, key=lambda n, bary=bary, here=here: (bary(n), here[n]))

    def local(order: dict[int, list[str]], k: int) -> int:
        full = {j: place_satellites({j: order[j]})[j] for j in (k - 1, k, k + 1) if j in order}
        return sum(_crossings_between(full[j], full[j + 1], between[j]) for j in (k - 1, k)
                   if j in full and j + 1 in full)

    def transpose(order: dict[int, list[str]]) -> None:
        """Swap neighbours in a layer while that removes crossings (ties keep the order), three passes at most."""
        improved, passes = True, 0
        while improved and passes < 3:
            improved, passes = False, passes + 1
            for k in nums:
                lst = order[k]
                for i in range(len(lst) - 1):
                    before = local(order, k)
                    lst[i], lst[i + 1] = lst[i + 1], lst[i]
                    if local(order, k) < before:
                        improved = True
                    else:
                        lst[i], lst[i + 1] = lst[i + 1], lst[i]

    def sift(order: dict[int, list[str]]) -> None:
        """Each node tried at every place in its layer, kept where it crosses least (first such place)."""
        for k in nums:
            for n in list(order[k]):
                lst = [m for m in order[k] if m != n]
                tries = []
                for i in range(len(lst) + 1):
                    order[k] = lst[:i] + [n] + lst[i:]
                    tries.append((local(order, k), i))
                i = min(tries)[1]
                order[k] = lst[:i] + [n] + lst[i:]

    # Sifting costs the square of a layer's size per node: a very large graph gets sweeps and
    # swaps only, fewer of them, from one start.
    sifting = len(layer) <= _SIFT_UP_TO
    rounds = _SWEEPS if sifting else _SWEEPS // 2

    def minimise(order: dict[int, list[str]]) -> tuple[int, dict[int, list[str]]]:
        best, best_n = {k: list(v) for k, v in order.items()}, crossings(order)
        for _ in range(rounds):
            sweep(order, nums[1:], up)
            sweep(order, nums[-2::-1], down)
            transpose(order)
            if sifting:
                sift(order)
            n = crossings(order)
            if n < best_n:
                best, best_n = {k: list(v) for k, v in order.items()}, n
        return best_n, best

    # Two starts, the better kept: kinds then names, and the order a walk from the sources meets them.
    met: dict[str, int] = {}
    for root in [n for k in nums for n in by_layer[k]]:
        todo = [root]
        while todo:
            n = todo.pop()
            if n not in met:
                met[n] = len(met)
                todo += sorted(down[n], reverse=True)
    starts = [{k: list(v) for k, v in by_layer.items()},
              {k: sorted(v, key=lambda n: met[n]) for k, v in by_layer.items()}]
    best = min((minimise(o) for o in starts[:2 if sifting else 1]), key=lambda r: r[0])[1]
    return place_satellites(best), nums, links, chains, same_layer


def _satellite_rank(n: str) -> tuple[int, str]:
    """Retry topics first, in their number's order; the dead-letter topic last."""
    name = n.split(":", 1)[-1]
    retry = re.search(r"retry[.\-_]?(\d+)", name, re.IGNORECASE)
    return (0, f"{int(retry[1]):06d}") if retry else (1, name)


def _coordinates(direction: str, order: dict[int, list[str]], nums: list[int], sizes: dict[str, tuple[float, float]],
                 links: list[tuple[str, str]], chains: dict[tuple[str, str], list[str]],
                 same_layer: list[tuple[str, str]], pairs: list[tuple[str, str]]) -> Layout:
    lr = direction == "LR"
    gap_x, gap_y = _GAP[direction]
    gap_across, gap_along = (gap_x, gap_y) if lr else (gap_y, gap_x)

    def across(n: str) -> float:  # a box's extent along the layer axis (its width when layers are columns)
        w, h = sizes.get(n, (0.0, 0.0))
        return w if lr else h

    def along(n: str) -> float:  # its extent within the layer
        if n not in sizes:
            return _DUMMY
        w, h = sizes[n]
        return h if lr else w

    # The layer axis: each layer as thick as its thickest box.
    thick = {k: max([across(n) for n in order[k]] + [_DUMMY]) for k in nums}
    mid: dict[int, float] = {}
    pos = MARGIN
    for k in nums:
        mid[k] = pos + thick[k] / 2
        pos += thick[k] + gap_across
    extent_layers = pos - gap_across + MARGIN
    # Within a layer: stacked, then pulled toward the neighbours' centres a few times.
    nbrs: dict[str, list[str]] = defaultdict(list)
    for a, b in links:
        nbrs[a].append(b)
        nbrs[b].append(a)
    c: dict[str, float] = {}
    for k in nums:
        p = 0.0
        for n in order[k]:
            c[n] = p + along(n) / 2
            p += along(n) + gap_along
    tallest = max((sum(along(n) + gap_along for n in order[k]) for k in nums), default=0.0)
    for k in nums:
        span = sum(along(n) + gap_along for n in order[k])
        for n in order[k]:
            c[n] += (tallest - span) / 2
    for _ in range(8):
        for ks in (nums, nums[::-1]):
            for k in ks:
                lst = order[k]
                want = [sum(c[m] for m in nbrs[n]) / len(nbrs[n]) if nbrs[n] else c[n] for n in lst]
                got = []
                for i, n in enumerate(lst):
                    lo = got[-1] + (along(lst[i - 1]) + along(n)) / 2 + gap_along if got else -1e18
                    got.append(max(want[i], lo))
                shift = sum(w - g for w, g in zip(want, got, strict=True)) / len(lst) if lst else 0.0
                # the whole layer moves back toward what it wants, keeping its gaps
                for n, g in zip(lst, got, strict=True):
                    c[n] = g + shift
    low = min((c[n] - along(n) / 2 for n in c), default=0.0)
    high = max((c[n] + along(n) / 2 for n in c), default=0.0)
    for n in c:
        c[n] += MARGIN - low
    extent_within = high - low + 2 * MARGIN

    def point(layer_pos: float, within: float) -> tuple[float, float]:
        return (layer_pos, within) if lr else (within, layer_pos)

    layer_of = {n: k for k in nums for n in order[k]}
    boxes = {}
    for n, (w, h) in sizes.items():
        x, y = point(mid[layer_of[n]], c[n])
        boxes[n] = Box(x, y, w, h)
    routes: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for (s, d), chain in chains.items():
        forward = layer_of[chain[0]] < layer_of[chain[-1]]
        seq = chain if forward else chain[::-1]  # lowest layer first
        pts: list[tuple[float, float]] = []
        for i, n in enumerate(seq):
            k = layer_of[n]
            lo, hi = mid[k] - thick[k] / 2, mid[k] + thick[k] / 2
            if i == 0:
                pts += [point(mid[k] + across(n) / 2, c[n]), point(hi, c[n])]
            elif i == len(seq) - 1:
                pts += [point(lo, c[n]), point(mid[k] - across(n) / 2, c[n])]
            else:
                pts += [point(lo, c[n]), point(hi, c[n])]
        routes[(s, d)] = _tidy(pts if forward else pts[::-1])
    for s, d in same_layer:  # out of the far side, along the gap, back in
        k = layer_of[s]
        out = mid[k] + thick[k] / 2 + gap_across / 3
        routes[(s, d)] = [point(mid[k] + across(s) / 2, c[s]), point(out, c[s]), point(out, c[d]),
                          point(mid[k] + across(d) / 2, c[d])]
    width, height = (extent_layers, extent_within) if lr else (extent_within, extent_layers)
    return Layout(direction, boxes, {p: routes[p] for p in pairs}, width, height)


def _tidy(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Without repeated points (a box as thick as its layer ends where its layer does)."""
    out = [pts[0]]
    for p in pts[1:]:
        if abs(p[0] - out[-1][0]) > 0.01 or abs(p[1] - out[-1][1]) > 0.01:
            out.append(p)
    return out


_ALONG = (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8)  # where along a stretch a label may sit, best first


def place_labels(lay: Layout, texts: dict[tuple[str, str], str]) -> None:
    """Each edge's label at the middle of the edge's longest stretch, else further along it or just
    above or below it, where it covers no box and no other label; an edge with no such place keeps
    its label on hover only."""
    taken = list(lay.boxes.values())
    for edge in sorted(texts, key=lambda e: lay.routes.get(e, [(0, 0)])[0]):
        text, pts = texts[edge], lay.routes.get(edge)
        if not text or not pts or len(pts) < 2:
            continue
        w, h = rate_size(text)
        stretches = sorted(zip(pts, pts[1:], strict=False),
                           key=lambda ab: -((ab[1][0] - ab[0][0]) ** 2 + (ab[1][1] - ab[0][1]) ** 2))
        for (ax, ay), (bx, by) in stretches:
            spot = next((b for t in _ALONG for lift in (0.0, -h / 2 - 1, h / 2 + 1)
                         if not any((b := Box(ax + (bx - ax) * t, ay + (by - ay) * t + lift, w, h)).overlaps(o, 2.0)
                                    for o in taken)
                         and w / 2 <= b.x <= lay.width - w / 2 and h / 2 <= b.y <= lay.height - h / 2), None)
            if spot is not None:
                lay.labels[edge] = spot
                taken.append(spot)
                break
