#!/usr/bin/env python3
"""Where port dwell and rolls come from in one `takt simulate` run.

Usage: bench/sequencer/dwell_breakdown.py OUT/events.jsonl [...]

Per model: vehicles loaded, port dwell (port arrival to vessel departure)
mean / p50 / p90 in hours, and the same by the UTC weekday of the inland
departure. Then each rolled vehicle by why: its inland departure left later
than the booking made at its plant planned, its train or truck arrived 6 h
or more after that booking's planned port arrival, or it arrived as planned
and the terminal did not stage it by the cutoff (the queue).
"""
import collections
import json
import sys
from datetime import datetime

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def hours(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() / 3600


def q(xs, p):
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def breakdown(path):
    first = collections.defaultdict(dict)
    model, booking, rolled = {}, {}, set()
    for line in open(path):
        m = json.loads(line)
        v = m["vin"]
        model[v] = m["model"]
        first[v].setdefault(m["milestone"], m["at"])
        # The last booking made while the vehicle was still at its plant.
        if m["milestone"] == "routed" and "inland_departed" not in first[v] and m.get("planned"):
            booking[v] = m["planned"]
        if m["milestone"] == "rolled":
            rolled.add(v)
    print(path)
    by_model = collections.defaultdict(list)
    by_day = collections.defaultdict(list)
    for v, e in first.items():
        if "port_arrived" in e and "vessel_departed" in e:
            d = hours(e["vessel_departed"]) - hours(e["port_arrived"])
            by_model[model[v]].append(d)
            if "inland_departed" in e:
                day = datetime.fromisoformat(e["inland_departed"].replace("Z", "+00:00")).weekday()
                by_day[(model[v], day)].append(d)
    everyone = []
    for k in sorted(by_model):
        xs = sorted(by_model[k])
        everyone += xs
        print(f"  {k}: {len(xs)} loaded, port dwell h mean {sum(xs)/len(xs):.1f} p50 {q(xs, .5):.1f} p90 {q(xs, .9):.1f}")
        for (m, day), ys in sorted(by_day.items()):
            if m == k:
                print(f"    inland departure {DAYS[day]} (UTC): {len(ys)}, mean {sum(ys)/len(ys):.1f}")
    if everyone:
        print(f"  all: {len(everyone)} loaded, port dwell h mean {sum(everyone)/len(everyone):.1f}")
    why = collections.Counter()
    for v in rolled:
        e, b = first[v], booking.get(v)
        if not b or "port_arrived" not in b or "port_arrived" not in e:
            k = "no booking from its plant"
        elif "inland_departed" in b and hours(e["inland_departed"]) - hours(b["inland_departed"]) > 1:
            k = "departed later than booked"
        elif hours(e["port_arrived"]) - hours(b["port_arrived"]) >= 6:
            k = "arrived 6 h or more late"
        else:
            k = "arrived as booked, not staged by the cutoff"
        why[(model[v], k)] += 1
    print(f"  rolled vehicles: {len(rolled)}")
    for (m, k), n in sorted(why.items()):
        print(f"    {m}: {k}: {n}")


for p in sys.argv[1:]:
    breakdown(p)
