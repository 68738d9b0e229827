#!/usr/bin/env python3
"""Where a stowage plan's objective (cost - LB) goes, against bound.py's bound.

objective = (bound - LB)                    what no plan can avoid (bound.py)
          + depth above the bound           slots deeper than the bound's packing
          + detours                         loads and unloads longer than their
                                            slot's distance from the gate
          + rehandling F                    F per route that is not a vehicle's
                                            own load or unload (two per temporary
                                            discharge, one per relocation)
          + rehandling route lengths        the edges of those routes

With --ports, also per port: vehicles loaded and unloaded at their own
ports, temporary discharges and relocations, by (origin, destination).

Usage: bench/stow/breakdown.py INSTANCE SOLUTION... [--ports]
"""
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict

args = [a for a in sys.argv[1:] if a != "--ports"]
per_port = "--ports" in sys.argv
inst = json.load(open(args[0]))
F, K = inst["F"], inst["K"]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bound import gate_distances  # noqa: E402

dist = gate_distances(inst)
bound_py = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bound.py")
out = subprocess.run([sys.executable, bound_py, args[0]], capture_output=True, text=True, check=True)
bound_minus_lb = int(out.stdout.strip().split()[-1])

for path in args[1:]:
    sol = json.load(open(path))["solution"]
    total = rehandle_f = rehandle_len = detour = temps = relocations = 0
    ports = {}
    for p in sorted(sol, key=int):
        port = int(p)
        counts = defaultdict(Counter)
        for route, k in sol[p]:
            (o, d), _ = K[k]
            length = len(route) - 1
            total += F + length
            if route[0] == 0 and o == port:
                detour += length - dist[route[-1]]
                counts["load"][(o, d)] += 1
            elif route[-1] == 0 and d == port:
                detour += length - dist[route[0]]
                counts["unload"][(o, d)] += 1
            else:
                rehandle_f += F
                rehandle_len += length
                if route[-1] == 0:
                    temps += 1
                    counts["temporary discharge"][(o, d)] += 1
                elif route[0] != 0:
                    relocations += 1
                    counts["relocation"][(o, d)] += 1
        ports[port] = counts
    objective = total - inst["LB"]
    depth = objective - bound_minus_lb - detour - rehandle_f - rehandle_len
    print(
        f"{path}: objective {objective} = bound - LB {bound_minus_lb}"
        f" + depth above the bound {depth} + detours {detour}"
        f" + rehandling F {rehandle_f} ({temps} temporary discharges, {relocations} relocations)"
        f" + rehandling route lengths {rehandle_len}"
    )
    if per_port:
        for port, counts in ports.items():
            if counts["temporary discharge"] or counts["relocation"]:
                parts = [
                    f"{kind} " + ", ".join(f"{o}->{d}: {n}" for (o, d), n in sorted(c.items()))
                    for kind, c in counts.items()
                    if c
                ]
                print(f"  port {port}: " + "; ".join(parts))
