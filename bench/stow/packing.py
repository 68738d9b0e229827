#!/usr/bin/env python3
"""How near bound.py's bound a plan's slot columns are, and why.

For an OGC 2025 stowage instance (and optionally plans of it, rehandling
nothing: each vehicle one slot for its whole stay), in edges of route
length (each vehicle counts its slot's gate distance twice, once driven on
and once off; the bound's depth part, bound.py's bound minus 2 F per
vehicle):

- packing: slot by slot, nearest the gate first, the most stays that fit
  one after another (earliest end first) from those left. Put onto the
  slots nearest first it reaches bound.py's depth part exactly when that
  bound is tight for packing alone; then it is checked for blocking: at
  every port, a slot is open if no vehicle stays put in it through the
  port, and a load or unload end is *blocked* when no path of open slots
  joins its slot to the gate;
- a greedy arrangement of the same columns that puts, slot by slot nearest
  first, the column with the most vehicles whose ends are all reachable
  through open nearer slots (a column with fewest blocked ends if none is);
- for each SOLUTION: its depth cost, the cost of its own columns sorted by
  vehicle count onto the slots nearest first (ignoring blocking), and per
  gate distance how many vehicles the slots up to it hold against what
  interval scheduling fits into as many slots (bound.py's fits(k)).

Usage: bench/stow/packing.py INSTANCE [SOLUTION...]
"""
import json
import os
import sys
from collections import Counter, defaultdict, deque

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bound import fits, gate_distances  # noqa: E402

inst = json.load(open(sys.argv[1]))
N, P, K = inst["N"], inst["P"], inst["K"]
adj = defaultdict(list)
for a, b in inst["E"]:
    adj[a].append(b)
    adj[b].append(a)
dist = gate_distances(inst)
slots = sorted((v for v in range(1, N) if v in dist), key=lambda v: (dist[v], v))
stays = sorted(((o, e) for (o, e), n in K for _ in range(n)), key=lambda s: (s[1], s[0]))


f = [fits(stays, k) for k in range(len(slots) + 1)]
bound_depth = sum(2 * dist[slots[k - 1]] * (f[k] - f[k - 1]) for k in range(1, len(slots) + 1))


def open_ports(column):
    """Ports at which no vehicle of the column stays put."""
    ports = set(range(P))
    for o, e in column:
        ports -= set(range(o + 1, e))
    return ports


def ends(column):
    return {x for o, e in column for x in (o, e)}


def blocked_ends(assign):
    """Load and unload ends with no path of open slots to the gate."""
    opened = {v: open_ports(assign.get(v, ())) for v in range(1, N)}
    blocked = 0
    for p in range(P):
        seen = {0}
        q = deque([0])
        while q:
            u = q.popleft()
            for v in adj[u]:
                if v not in seen and p in opened[v]:
                    seen.add(v)
                    q.append(v)
        for v, column in assign.items():
            blocked += sum(1 for o, e in column for x in (o, e) if x == p and v not in seen)
    return blocked


def depth_cost(assign):
    return sum(2 * dist[v] * len(c) for v, c in assign.items())


def greedy_arrangement(columns):
    left = list(columns)
    assign, reach = {}, {0: set(range(P))}
    opened = {0: set(range(P))}
    for v in slots:
        r = set()
        for u in adj[v]:
            if u in reach and dist[u] == dist[v] - 1:
                r |= reach[u] & opened[u]
        i = max(range(len(left)), key=lambda j: (-len(ends(left[j]) - r), len(left[j]))) if left else None
        column = left.pop(i) if left else ()
        assign[v], reach[v], opened[v] = column, r, open_ports(column)
    return assign


left = Counter(stays)
packing = []
while sum(left.values()):
    t, column = 0, []
    while True:
        cands = [(e, o) for (o, e), n in left.items() if n > 0 and o >= t]
        if not cands:
            break
        e, o = min(cands)
        column.append((o, e))
        left[(o, e)] -= 1
        t = e
    packing.append(tuple(column))
packing.sort(key=len, reverse=True)
packed = dict(zip(slots, packing))
print(f"{sys.argv[1]}: bound.py's depth part {bound_depth}")
print(f"  packing slot by slot, nearest first: depth {depth_cost(packed)}, blocked ends {blocked_ends(packed)}")
greedy = greedy_arrangement(packing)
print(f"  its columns arranged greedily: depth {depth_cost(greedy)}, blocked ends {blocked_ends(greedy)}")

for path in sys.argv[2:]:
    sol = json.load(open(path))["solution"]
    deck = [None] * N
    table = []
    for p in range(P - 1):
        for route, k in sol[str(p)]:
            if route[0] == 0:
                deck[route[-1]] = k
            elif route[-1] == 0:
                deck[route[0]] = None
            else:
                deck[route[-1]], deck[route[0]] = deck[route[0]], None
        table.append(list(deck))
    plan = {}
    for v in slots:
        column, i = [], 0
        while i < P - 1:
            k = table[i][v]
            if k is None:
                i += 1
                continue
            j = i
            while j + 1 < P - 1 and table[j + 1][v] == k:
                j += 1
            column.append((i, j + 1))
            i = j + 1
        plan[v] = tuple(column)
    sorted_columns = dict(zip(slots, sorted(plan.values(), key=len, reverse=True)))
    print(
        f"{path}: depth {depth_cost(plan)} (blocked ends {blocked_ends(plan)}),"
        f" its columns sorted nearest first {depth_cost(sorted_columns)}"
    )
    by_depth = defaultdict(list)
    for v in slots:
        by_depth[dist[v]].append(len(plan[v]))
    k = held = 0
    parts = []
    for d in sorted(by_depth):
        k += len(by_depth[d])
        held += sum(by_depth[d])
        if f[k] > held:
            parts.append(f"{d}: {held}/{f[k]}")
    print("  gate distance: vehicles held up to it / fits, where short: " + (", ".join(parts) or "none"))
