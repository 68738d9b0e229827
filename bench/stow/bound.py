#!/usr/bin/env python3
"""A lower bound for OGC 2025 stowage problems, stronger than the files' LB.

Every vehicle is driven on and off once at least, each time along at least
its slot's distance d from the gate: 2 (F + d). The k slots nearest the gate
can hold at most fits(k) of the vehicles' stays [origin, destination) (the
most stays that fit into k slots, found by interval scheduling: stays by
end, each into the slot free the latest before it starts), so at least
J - fits(k) vehicles stand deeper than the k-th slot. Summing
d_k * (fits(k) - fits(k - 1)) over the slots sorted by distance bounds the
slot distances from below. Rehandling (blocking) is ignored. Strictly it
bounds plans that keep every vehicle in one slot for its whole stay: a plan
that moves a vehicle on board splits its stay in two, which could let the
near slots hold more, at F + 1 or more per move.

Usage: bench/stow/bound.py FILE... ; prints the file's LB, this bound, and
this bound minus LB (comparable with the objective, cost - LB).
"""
import bisect
import json
import sys
from collections import defaultdict, deque

def gate_distances(inst):
    """Edges from the gate (node 0) to every node it reaches."""
    adj = defaultdict(list)
    for a, b in inst["E"]:
        adj[a].append(b)
        adj[b].append(a)
    dist = {0: 0}
    q = deque([0])
    while q:
        u = q.popleft()
        for v in adj[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                q.append(v)
    return dist


def fits(stays, k):
    """How many of the stays (sorted by end) k slots can hold (greedy interval scheduling)."""
    free = [0] * k  # sorted times at which each of k slots is free
    count = 0
    for o, e in stays:
        i = bisect.bisect_right(free, o) - 1
        if i >= 0:
            free.pop(i)
            bisect.insort(free, e)
            count += 1
    return count


def main():
    for path in sys.argv[1:]:
        d = json.load(open(path))
        dist = gate_distances(d)
        depth = sorted(dist[v] for v in range(1, d["N"]) if v in dist)
        stays = sorted(((o, e) for (o, e), n in d["K"] for _ in range(n)), key=lambda s: (s[1], s[0]))

        f = [fits(stays, k) for k in range(len(depth) + 1)]
        slot_sum = sum(depth[k - 1] * (f[k] - f[k - 1]) for k in range(1, len(depth) + 1))
        bound = 2 * (len(stays) * d["F"] + slot_sum)
        print(f"{path}: LB {d['LB']}, bound {bound}, bound - LB {bound - d['LB']}")


if __name__ == "__main__":
    main()
