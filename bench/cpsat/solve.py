#!/usr/bin/env python3
"""CP-SAT peer of `takt plan`: solves a takt planning instance with Google
OR-Tools CP-SAT and writes the plan in takt's plan format.

    bench/cpsat/.venv/bin/python bench/cpsat/solve.py \
        --instance inst.json [--scenario FILE] --time-limit 30 --out plan.json

The network comes from `takt network --at NOW --json ...` (run here unless
--network is given). The plan is then scored by `takt check` (unless
--no-check) and a JSON report is written next to it (--report). What CP-SAT
decides, and what is fixed by rule, is in bench/cpsat/README.md.

Search: a list schedule built here is the warm start; CP-SAT completes it
(phase 1, hinted variables fixed) and then solves the full model from it
(phase 2). The warm start is also written (OUT.warm.json) and checked, so the
report shows what CP-SAT improved.

The time limit is wall-clock for the whole run (network dump, model build,
warm start and both phases; `takt check` afterwards is not counted). An
empty (all-unplaced) plan is feasible by the checker's rules, so the solver
always has a feasible point; the report says how many vehicles were placed.
"""

import argparse
import bisect
import gc
import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from zoneinfo import ZoneInfo

from ortools.sat.python import cp_model

STAGES = [
    "released", "inland", "port_arrival", "processing", "yard",
    "loading", "voyage", "discharge", "certification", "delivery",
]
SI = {s: i for i, s in enumerate(STAGES)}
DAY = 1440
RT_SCALE = 10000  # RT43 in 1/10000 units
OBJ_SCALE = 14400  # objective units per USD


def to_min(s):
    return int(dt.datetime.fromisoformat(s).timestamp()) // 60


def to_str(m):
    return dt.datetime.fromtimestamp(m * 60, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def lin(pairs, const=0):
    """Linear expression sum(coef * var) + const."""
    return sum(c * v for v, c in pairs) + const if pairs else const


class Net:
    """The parts of `takt network` JSON the model reads, with instants in minutes."""

    def __init__(self, d, now, inst_voyages, inst_vehicles, keep_voyage_ends=False):
        self.d = d
        self.now = now
        self.horizon_end = to_min(d["horizon_end"])
        self.models = {m["id"]: m for m in d["models"]}
        self.dealers = {x["id"]: x for x in d["dealers"]}
        self.plants = {p["location"]: p for p in d["plants"]}
        self.services = {s["id"]: s for s in d["inland_services"]}
        for s in self.services.values():
            s["dep_min"] = [to_min(x) for x in s["departures"]]
        self.exports = {t["location"]: t for t in d["export_terminals"]}
        self.imports = {t["location"]: t for t in d["import_terminals"]}
        for t in self.imports.values():
            t["dep_min"] = [to_min(x) for x in t["delivery_departures"]]
        self.w = d["objective"]
        self.deck_ids = [x["id"] for x in d["deck_classes"]]
        self.locations = {x["id"]: x for x in d["locations"]}
        # Voyage calls: the instance's known times where given, else the schedule.
        known = {v["voyage"]: v["calls"] for v in inst_voyages}
        self.voyages = {}
        for v in d["voyages"]:
            calls = known.get(v["id"], v["calls"])
            v["call"] = [(c["port"], to_min(c["berth"]), to_min(c["depart"])) for c in calls]
            v["listed"] = v["id"] in known
            v["last_export_depart"] = v["call"][v["n_export_calls"] - 1][2]
            self.voyages[v["id"]] = v
        self.reconciled = 0
        if keep_voyage_ends:
            self.reconcile(inst_vehicles)
        else:
            self.voyage_ends_to_known_berths(inst_vehicles)
        self.pools = {}
        for t in self.exports.values():
            for k in ("ramp", "processing", "loading"):
                self.pools[t[k]["resource"]] = t[k]
        for t in self.imports.values():
            for k in ("discharge", "certification"):
                self.pools[t[k]["resource"]] = t[k]
        self.calendars = {r["id"]: r["calendar"] for r in d["resources"]}


    def voyage_ends_to_known_berths(self, vehicles):
        """A voyage step under way at `now` ends when the vessel berths at the
        dealer's port, a future event: it ends at that call's berth as the
        instance knows it (its `voyages`), as `takt plan` does. The instance
        may carry another end (the berth its simulated world has already
        drawn); the report counts the steps changed."""
        self.voyage_ends_changed = 0
        for vs in vehicles:
            s = vs["steps"][-1]
            if s["stage"] == "voyage" and not s["done"]:
                v = self.voyages[s["resource"]]
                port = self.dealers[vs["dealer"]]["port"]
                berth = next(b for k, (p, b, _) in enumerate(v["call"]) if p == port and k >= v["n_export_calls"])
                if to_min(s["end"]) != berth:
                    s["end"] = to_str(berth)
                    self.voyage_ends_changed += 1

    def reconcile(self, vehicles):
        """Frozen voyage steps of vehicles at sea end at the berth the world
        already knows; where that differs from the instance's call times, the
        plan assumes the frozen berth (later calls pushed back to keep their
        sailing and port-stay minutes). Such voyages are listed in the plan."""
        ends = {}
        for vs in vehicles:
            for s in vs["steps"]:
                if s["stage"] == "voyage":
                    port = self.dealers[vs["dealer"]]["port"]
                    ends.setdefault((s["resource"], port), set()).add(to_min(s["end"]))
        for vid, v in self.voyages.items():
            nexp = v["n_export_calls"]
            calls = list(v["call"])
            changed = False
            for k in range(nexp, len(calls)):
                port, b, d = calls[k]
                want = max(ends.get((vid, port), {b}))
                if k > 0:
                    prev = calls[k - 1]
                    sail = v["call"][k][1] - v["call"][k - 1][2]
                    want = max(want, prev[2] + sail)
                if want > b:
                    calls[k] = (port, want, want + (d - b))
                    changed = True
            if changed:
                v["call"] = calls
                v["listed"] = True
                self.reconciled += 1


def profile(cal, outages, t0, t1):
    """Piecewise available servers over [t0, t1): list of (a, b, avail)."""
    full = cal["full"]
    points = {t0, t1}
    wins = []
    if not cal["always_open"]:
        for s, e, n in cal["windows"]:
            s, e = to_min(s), to_min(e)
            if e <= t0 or s >= t1:
                continue
            wins.append((s, e, n))
            points.update((max(s, t0), min(e, t1)))
    outs = [(o[0], o[1], o[2]) for o in outages if o[1] > t0 and o[0] < t1]
    for s, e, _ in outs:
        points.update((max(s, t0), min(e, t1)))
    pts = sorted(points)
    out = []
    wins.sort()
    for a, b in zip(pts, pts[1:]):
        if cal["always_open"]:
            n = full
        else:
            n = 0
            for s, e, k in wins:
                if s <= a < e:
                    n = k
                    break
        n -= sum(k for s, e, k in outs if s <= a < e)
        out.append((a, b, max(0, n)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instance", required=True)
    ap.add_argument("--scenario", help="scenario TOML (default: the built-in us-japan)")
    ap.add_argument("--network", help="network JSON from `takt network` (default: made here)")
    ap.add_argument("--takt", default=os.environ.get("TAKT", "target/release/takt"))
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--voyages", type=int, default=3, help="candidate voyages per vehicle and export port")
    ap.add_argument("--inland-departures", type=int, default=3, help="candidate departures per inland service")
    ap.add_argument("--delivery-departures", type=int, default=8, help="candidate delivery departures per voyage option")
    ap.add_argument("--out", required=True, help="plan JSON to write")
    ap.add_argument("--report", help="report JSON (default: OUT with .report.json)")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--no-warm-start", action="store_true", help="solve without the list-schedule warm start")
    ap.add_argument("--keep-voyage-ends", action="store_true",
                    help="keep the instance's end of voyage steps under way and retime the voyage to it "
                         "(default: such steps end at the berth the instance's voyages list)")
    ap.add_argument("--log", action="store_true", help="print CP-SAT's search log")
    a = ap.parse_args()
    t_start = time.monotonic()
    gc.disable()  # the model is millions of small objects; collection pauses cost seconds

    inst = json.load(open(a.instance))
    now = to_min(inst["now"])
    if a.network:
        netd = json.load(open(a.network))
    else:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            path = f.name
        cmd = [a.takt, "network", "--volume-scale", repr(inst["volume_scale"]), "--at", inst["now"], "--json", path]
        if a.scenario:
            cmd[2:2] = ["--scenario", a.scenario]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        netd = json.load(open(path))
        os.unlink(path)
    if netd["name"] != inst["scenario"]:
        sys.exit(f"the instance is for scenario {inst['scenario']}, the network is {netd['name']}")
    net = Net(netd, now, inst["voyages"], inst["vehicles"], a.keep_voyage_ends)
    outages = [(to_min(o["from"]), to_min(o["to"]), o["servers"], o["resource"]) for o in inst.get("outages", [])]
    w = net.w
    W_MIN_DWELL = w["dwell_usd_per_vehicle_hour"] / 60.0 * OBJ_SCALE
    W_MIN_LATE = w["lateness_usd_per_vehicle_day"] / DAY * OBJ_SCALE

    m = cp_model.CpModel()
    T = lambda x: x - now  # noqa: E731  relative minutes
    # Objective terms (scaled, integer coefficients).
    obj = []

    def cost(var, usd):
        c = int(round(usd * OBJ_SCALE))
        if c:
            obj.append(c * var)

    pool_iv = {}  # resource -> list of (interval, demand)
    def add_iv(res, iv, demand=1):
        pool_iv.setdefault(res, []).append((iv, demand))
    inland_riders = {}  # (service, dep) -> {class: [literals or 1]}
    delivery_riders = {}  # (port, dep) -> {class: [...]}
    space = {}  # (voyage, tenant, deck) -> list of (literal or 1, rt units)
    stow = {}  # (voyage, export call) -> {discharge call: [(literal, L expr)]}
    voyage_used = {}  # (voyage, export-call depart) -> literals of vehicles sailing then
    frozen_sail = []  # voyage step starts of frozen voyages
    cap_members = {}  # model -> list of (pl, C var, port) and frozen starts
    t_max = [now + 60 * DAY]
    frozen_loads = {}  # (voyage, export call) -> [(load start, discharge call)] of vehicles loaded, not sailed
    frozen_pool = []  # (resource, start, end) of frozen steps on pools after now
    vehicles = []

    def delivery_options(port, earliest, k):
        deps = net.imports[port]["dep_min"]
        i = bisect.bisect_left(deps, earliest)
        out = deps[i:i + k]
        # At least three days of departures.
        j = i + k
        while j < len(deps) and deps[j] <= earliest + 3 * DAY:
            out.append(deps[j])
            j += 1
        return out

    build_aborted = False
    for n_seen, vs in enumerate(inst["vehicles"]):
        if n_seen % 100 == 0 and time.monotonic() - t_start > a.time_limit:
            build_aborted = True
            break
        mdl = net.models[vs["model"]]
        dealer = net.dealers[vs["dealer"]]
        iport = dealer["port"]
        cls = mdl["inland_class"]
        rt = math.ceil(mdl["rt43"] * RT_SCALE - 1e-9)
        steps = vs["steps"]
        last = steps[-1]
        ls = SI[last["stage"]]
        open_stay = last["stage"] in ("released", "yard") and not last["done"]
        f = ls + 1  # first stage to plan (after an open stay, whose end is planned too)
        V = {"vs": vs, "f": f, "open_stay": open_stay}
        vehicles.append(V)
        # Frozen steps still occupying pools after now.
        for s in steps:
            if s["stage"] in ("port_arrival", "processing", "loading", "discharge", "certification"):
                a0, b0 = to_min(s["start"]), to_min(s["end"])
                if b0 > now and b0 > a0:
                    frozen_pool.append((s["resource"], max(a0, now), b0))
                    add_iv(s["resource"], m.new_fixed_size_interval_var(T(max(a0, now)), b0 - max(a0, now), ""))
            if s["stage"] == "voyage":
                frozen_sail.append(to_min(s["start"]))
                key = (s["resource"], vs["tenant"], s["deck_class"])
                space.setdefault(key, []).append((1, rt))
            if s["stage"] == "inland":
                inland_riders.setdefault((s["resource"], to_min(s["departure"])), {}).setdefault(cls, []).append(1)
            if s["stage"] == "delivery":
                delivery_riders.setdefault((iport, to_min(s["departure"])), {}).setdefault(cls, []).append(1)
            if s["stage"] == "certification" and mdl["cert_annual_cap"] is not None:
                cap_members.setdefault(mdl["id"], []).append(("frozen", to_min(s["start"]), iport))
        if f >= 10:
            V["placed"] = True
            continue
        approved = mdl["cert_approved_from"]
        holds = [(to_min(h["from"]), to_min(h["to"])) for h in vs.get("holds", []) if to_min(h["to"]) > now]
        hold_end = max([h[1] for h in holds], default=now)
        if approved is None and f <= SI["certification"]:
            V["placed"] = False
            V["reason"] = "the model is not approved for certification"
            continue
        approved = to_min(approved) if approved else now
        pl = m.new_bool_var("")
        V["pl"] = pl
        if vs["vin"] in os.environ.get("CPSAT_FORCE_PLACE", "").split(","):
            m.add(pl == 1)
        starts = []  # planned step starts (expr) for holds
        nonstay = []  # route-dependent non-stay minutes (var, coef)
        nonstay_const = 0
        for s in steps:
            if s["stage"] not in ("released", "yard") and not (open_stay and s is last):
                nonstay_const += to_min(s["end"]) - to_min(s["start"])
        # ---- inland and export port ----
        prev_end = to_min(last["end"]) if not open_stay else None
        ports = {}  # export port -> literal
        arrival = None  # (expr, lower bound per port)
        if f <= SI["inland"]:
            rel_end = now if open_stay else max(now, prev_end)
            opts = []
            for sid, s in net.services.items():
                if s["from"] != mdl["plant"] or s["vehicles_per_unit"].get(cls, 0) == 0:
                    continue
                i = bisect.bisect_left(s["dep_min"], rel_end)
                for d in s["dep_min"][i:i + a.inland_departures]:
                    opts.append((sid, d, m.new_bool_var("")))
            if not opts:
                V["placed"] = False
                V["reason"] = "no inland departure left in the horizon"
                m.add(pl == 0)
                continue
            m.add(sum(o[2] for o in opts) == pl)
            V["inland"] = opts
            dep = m.new_int_var(T(min(o[1] for o in opts)), T(max(o[1] for o in opts)), "")
            m.add(dep == sum(o[2] * T(o[1]) for o in opts)).only_enforce_if(pl)
            V["dep"] = dep
            starts.append(dep)
            for sid, d, b in opts:
                s = net.services[sid]
                inland_riders.setdefault((sid, d), {}).setdefault(cls, []).append(b)
                cost(b, s["cost_per_vehicle_usd"] * w["transport_cost_weight"])
                nonstay.append((b, s["transit_mean_minutes"]))
                ports.setdefault(s["to"], []).append(b)
            plits = {}
            for p, bs in ports.items():
                lit = m.new_bool_var("")
                m.add(sum(bs) == lit)
                plits[p] = lit
            ports = plits
            arr_lb = {}
            for sid, d, b in opts:
                s = net.services[sid]
                arr_lb[s["to"]] = min(arr_lb.get(s["to"], 1 << 60), d + s["transit_mean_minutes"])
            arrival = (sum(b * T(d + net.services[sid]["transit_mean_minutes"]) for sid, d, b in opts), arr_lb)
            if open_stay:  # plant yard until the departure
                plant = net.plants[mdl["plant"]]
                iv = m.new_optional_interval_var(0, m.new_int_var(0, T(net.horizon_end), ""), dep, pl, "")
                # size is free; start 0 (= now), end = departure
                add_iv(plant["yard"], iv)
        else:
            inl = next(s for s in steps if s["stage"] == "inland")
            p = net.services[inl["resource"]]["to"]
            ports = {p: pl}
            arrival = (T(to_min(inl["end"])), {p: to_min(inl["end"])})
        V["ports"] = ports
        for p, lit in ports.items():
            et = net.exports[p]
            if len(ports) > 1:
                nonstay.append((lit, et["ramp"]["minutes_per_vehicle"] + et["loading"]["minutes_per_vehicle"]))
            else:
                nonstay_const += (et["ramp"]["minutes_per_vehicle"] if f <= SI["port_arrival"] else 0)
                nonstay_const += (et["loading"]["minutes_per_vehicle"] if f <= SI["loading"] else 0)
        proc_min = mdl["processing_minutes"]
        # Lower bound of the yard start per port, for voyage candidates.
        y_lb = {}
        for p in ports:
            et = net.exports[p]
            if f <= SI["port_arrival"]:
                y_lb[p] = max(arrival[1][p], now) + et["ramp"]["minutes_per_vehicle"] + proc_min
            elif f == SI["processing"]:
                y_lb[p] = max(prev_end, now) + proc_min
            elif f == SI["yard"]:
                y_lb[p] = max(prev_end, now)
            elif f == SI["loading"]:  # open yard stay
                y_lb[p] = to_min(last["start"])
            else:
                y_lb[p] = None
        if f <= SI["processing"]:
            nonstay_const += proc_min
        # ---- voyage options ----
        vopts = []  # (voyage, export call, import call, port, literal)
        held = vs.get("voyage")
        if f <= SI["loading"]:
            for p in ports:
                et = net.exports[p]
                lm = et["loading"]["minutes_per_vehicle"]
                cands = []
                for vid, v in net.voyages.items():
                    nexp = v["n_export_calls"]
                    c = next((k for k in range(nexp) if v["call"][k][0] == p), None)
                    if c is None:
                        continue
                    j = next((k for k in range(max(nexp, c + 1), len(v["call"])) if v["call"][k][0] == iport), None)
                    if j is None:
                        continue
                    _, berth, depart = v["call"][c]
                    if berth - et["cutoff_minutes"] < y_lb[p]:
                        continue
                    if depart - lm < max(berth, now, y_lb[p]):
                        continue
                    if not any(v["booked_rt43"].get(vs["tenant"], {}).get(dk, 0) > 0 for dk in mdl["deck_classes"]):
                        continue
                    cands.append((depart, vid, c, j))
                cands.sort()
                chosen = cands[:a.voyages]
                if held and not any(x[1] == held for x in chosen):
                    chosen += [x for x in cands if x[1] == held]
                for _, vid, c, j in chosen:
                    vopts.append((vid, c, j, p))
        else:
            vid = held if f == SI["voyage"] else next(s for s in steps if s["stage"] == "voyage")["resource"]
            v = net.voyages[vid]
            p = next(s for s in steps if s["stage"] == "port_arrival")["location"]
            nexp = v["n_export_calls"]
            c = next(k for k in range(nexp) if v["call"][k][0] == p)
            j = next(k for k in range(max(nexp, c + 1), len(v["call"])) if v["call"][k][0] == iport)
            vopts.append((vid, c, j, p))
        if not vopts:
            V["placed"] = False
            V["reason"] = "no voyage the vehicle can make among the candidates"
            m.add(pl == 0)
            continue
        # Literals per voyage option, and deck choice where the voyage step is planned.
        vlits = []
        for vid, c, j, p in vopts:
            lit = m.new_bool_var("")
            vlits.append(lit)
            if f <= SI["voyage"]:
                decks = []
                for dk in mdl["deck_classes"]:
                    if net.voyages[vid]["booked_rt43"].get(vs["tenant"], {}).get(dk, 0) > 0:
                        x = m.new_bool_var("")
                        decks.append((dk, x))
                        space.setdefault((vid, vs["tenant"], dk), []).append((x, rt))
                m.add(sum(x for _, x in decks) == lit)
                V.setdefault("decks", []).append(decks)
                voyage_used.setdefault((vid, net.voyages[vid]["call"][c][2]), []).append(lit)
                nonstay.append((lit, net.voyages[vid]["call"][j][1] - net.voyages[vid]["call"][c][2]))
            else:
                V.setdefault("decks", []).append([])
        m.add(sum(vlits) == pl)
        V["vopts"] = list(zip(vopts, vlits))
        for p, plit in ports.items():
            m.add(sum(l for (o, l) in zip(vopts, vlits) if o[3] == p) == plit)
        # Rolls: a plan keeps each vehicle's `rolls` from the instance; moving
        # a booking to another voyage in a re-plan is not counted as a roll
        # (the convention of `takt plan`), so the roll term is a constant here.
        if f <= SI["voyage"]:
            starts.append(sum(l * T(net.voyages[o[0]]["call"][o[1]][2]) for o, l in zip(vopts, vlits)))
        hi_export = max(net.voyages[o[0]]["call"][o[1]][2] for o in vopts)
        # ---- ramp, processing, yard, loading ----
        hi = T(hi_export)
        if f <= SI["port_arrival"]:
            lo = T(min(max(x, now) for x in arrival[1].values()))
            r = m.new_int_var(max(0, lo), max(hi, lo), "")
            m.add(r >= arrival[0]).only_enforce_if(pl)
            m.add(r >= 0)
            for p, lit in ports.items():
                rm = net.exports[p]["ramp"]["minutes_per_vehicle"]
                add_iv(net.exports[p]["ramp"]["resource"], m.new_optional_fixed_size_interval_var(r, rm, lit, ""))
            V["r"] = r
            starts.append(r)
            ramp_end = r + sum(lit * net.exports[p]["ramp"]["minutes_per_vehicle"] for p, lit in ports.items())
        if f <= SI["processing"]:
            lo = T(max(now, prev_end)) if f == SI["processing"] else 0
            pv = m.new_int_var(lo, max(hi, lo), "")
            if f <= SI["port_arrival"]:
                m.add(pv >= ramp_end).only_enforce_if(pl)
            for p, lit in ports.items():
                add_iv(net.exports[p]["processing"]["resource"], m.new_optional_fixed_size_interval_var(pv, proc_min, lit, ""))
            V["p"] = pv
            starts.append(pv)
            y = pv + proc_min
        elif f == SI["yard"]:
            y = T(max(now, prev_end))
        elif f == SI["loading"]:
            y = T(to_min(last["start"]))
        if f <= SI["yard"]:
            starts.append(y)
        if f <= SI["loading"]:
            L = m.new_int_var(0, max(hi, 0), "")
            m.add(L >= y).only_enforce_if(pl)
            V["L"] = L
            starts.append(L)
            for (vid, c, j, p), lit in zip(vopts, vlits):
                et = net.exports[p]
                _, berth, depart = net.voyages[vid]["call"][c]
                m.add(L >= T(berth)).only_enforce_if(lit)
                m.add(L + et["loading"]["minutes_per_vehicle"] <= T(depart)).only_enforce_if(lit)
                m.add(y <= T(berth - et["cutoff_minutes"])).only_enforce_if(lit)
                stow.setdefault((vid, c), {}).setdefault(j, []).append((lit, L))
            for p, lit in ports.items():
                et = net.exports[p]
                add_iv(et["loading"]["resource"], m.new_optional_fixed_size_interval_var(L, et["loading"]["minutes_per_vehicle"], lit, ""))
                ys = 0 if f == SI["loading"] else y
                size = m.new_int_var(0, max(hi, 0), "")
                add_iv(et["yard"], m.new_optional_interval_var(ys, size, L, lit, ""))
        # Frozen loads on a voyage not yet sailed take part in the stow order.
        if f == SI["voyage"]:
            ld = next(s for s in steps if s["stage"] == "loading")
            (vid, c, j, p), lit = V["vopts"][0]
            stow.setdefault((vid, c), {}).setdefault(j, []).append((lit, T(to_min(ld["start"]))))
        V.update(mdl=mdl, iport=iport, cls=cls, rt=rt, holds=holds, approved=approved,
                 prev_end=prev_end, arrival_at=arrival[1], proc_min=proc_min)
        if f == SI["voyage"]:
            ld = next(s for s in steps if s["stage"] == "loading")
            frozen_loads.setdefault((vopts[0][0], vopts[0][1]), []).append((to_min(ld["start"]), vopts[0][2]))
        if f == SI["loading"]:
            V["y_fixed"] = to_min(last["start"])
        elif f == SI["yard"]:
            V["y_fixed"] = max(now, prev_end)
        # ---- discharge, certification, delivery ----
        dmin = net.imports[iport]["discharge"]["minutes_per_vehicle"]
        cmin = mdl["certification_minutes"][iport]
        dlv = dealer["delivery_minutes"]
        hi_imp = max(net.voyages[o[0]]["call"][o[2]][2] for o in vopts)
        lo_imp = min(net.voyages[o[0]]["call"][o[2]][1] for o in vopts)
        if f <= SI["discharge"]:
            lo = T(max(now, lo_imp))
            D = m.new_int_var(lo, max(lo, T(hi_imp)), "")
            for (vid, c, j, p), lit in zip(vopts, vlits):
                _, berth, depart = net.voyages[vid]["call"][j]
                m.add(D >= T(berth)).only_enforce_if(lit)
                m.add(D + dmin <= T(depart)).only_enforce_if(lit)
            add_iv(net.imports[iport]["discharge"]["resource"], m.new_optional_fixed_size_interval_var(D, dmin, pl, ""))
            V["D"] = D
            starts.append(D)
            nonstay_const += dmin
            c_lo = max(now, lo_imp + dmin, approved)
        else:
            c_lo = max(now, prev_end, approved)
        # Delivery candidates: from the earliest certification end of each
        # voyage option (made after the warm start, which may add its own).
        earliest = []
        if f <= SI["certification"]:
            for o in vopts:
                e = max(net.voyages[o[0]]["call"][o[2]][1] + dmin, now, approved) + cmin
                earliest.append(max(e, hold_end))
        else:
            earliest.append(max(now, prev_end, hold_end))
        if f <= SI["certification"]:
            C = m.new_int_var(T(c_lo), max(T(c_lo), T(net.horizon_end)), "")
            if f <= SI["discharge"]:
                m.add(C >= D + dmin).only_enforce_if(pl)
            add_iv(net.imports[iport]["certification"]["resource"], m.new_optional_fixed_size_interval_var(C, cmin, pl, ""))
            V["C"] = C
            starts.append(C)
            nonstay_const += cmin
            if mdl["cert_annual_cap"] is not None:
                cap_members.setdefault(mdl["id"], []).append((pl, C, iport))
            cert_end = C + cmin
        else:
            cert_end = T(max(now, prev_end))
        fd = 0  # dwell of the frozen steps (an open stay until now)
        pe = to_min(vs["released_at"])
        for s in steps:
            st, en = to_min(s["start"]), to_min(s["end"])
            fd += max(0, st - pe) + (en - st if s["stage"] in ("released", "yard") else 0)
            pe = en
        V.update(dmin=dmin, cmin=cmin, dlv=dlv, earliest=earliest, cert_end=cert_end, starts=starts,
                 nonstay_const=nonstay_const + dlv, nonstay=nonstay, frozen_dwell=fd, pending=True)

    def finish_vehicle(V):
        """Delivery departures, holds and the objective terms of one vehicle."""
        vs, pl, iport, dlv = V["vs"], V["pl"], V["iport"], V["dlv"]
        ddeps = {d for e in V["earliest"] for d in delivery_options(iport, e, a.delivery_departures)}
        if V.get("_dep") is not None:  # the warm start's departure and the next two
            deps = net.imports[iport]["dep_min"]
            i = bisect.bisect_left(deps, V["_dep"])
            ddeps.update(deps[i:i + 3])
        ddeps = sorted(ddeps)
        if not ddeps:
            V["placed"] = False
            V["reason"] = "no delivery departure left in the horizon"
            m.add(pl == 0)
            return
        dl = [(d, m.new_bool_var("")) for d in ddeps]
        m.add(sum(b for _, b in dl) == pl)
        m.add(sum(b * T(d) for d, b in dl) >= V["cert_end"]).only_enforce_if(pl)
        V["deliv"] = dl
        for d, b in dl:
            delivery_riders.setdefault((iport, d), {}).setdefault(V["cls"], []).append(b)
        starts = V["starts"] + [sum(b * T(d) for d, b in dl)]
        t_max[0] = max(t_max[0], ddeps[-1] + dlv)
        # Holds: no planned step starts strictly inside one.
        for hf, ht in V["holds"]:
            for e in starts:
                b = m.new_bool_var("")
                m.add(e <= T(hf)).only_enforce_if([b, pl])
                m.add(e >= T(ht)).only_enforce_if([~b, pl])
        # Objective: dwell = delivery end - release - non-stay minutes; lateness; unplaced.
        d_end = sum(b * T(d + dlv) for d, b in dl)
        rel = T(to_min(vs["released_at"]))
        dwell = d_end - pl * (rel + V["nonstay_const"]) - sum(c * x for x, c in V["nonstay"])
        obj.append(int(round(W_MIN_DWELL)) * dwell)
        late = m.new_int_var(0, T(net.horizon_end) + 10 * DAY, "")
        m.add(late >= d_end - T(to_min(vs["promised_by"])) * pl)
        obj.append(int(round(W_MIN_LATE)) * late)
        # Unplaced: its weight plus the dwell of its frozen steps.
        cost(1 - pl, w["unplaced_usd_per_vehicle"] + V["frozen_dwell"] / 60.0 * w["dwell_usd_per_vehicle_hour"])

    # ---- warm start (a list schedule; see README), then delivery options ----
    hint, hint_placed = {}, None
    deadline = t_start + a.time_limit
    if not a.no_warm_start and not build_aborted:
        hint, hint_placed = greedy_hint(net, vehicles, now, net.horizon_end, outages, frozen_pool, frozen_loads,
                                        inland_riders, delivery_riders, space, deadline)
        build_aborted = hint_placed is None
    for k, V in enumerate(vehicles):
        if build_aborted or (k % 100 == 0 and time.monotonic() > deadline):
            build_aborted = True
            break
        if V.get("pending"):
            finish_vehicle(V)
            if V.get("_dep") is not None and "deliv" in V:
                for d, b in V["deliv"]:
                    hint[b] = int(d == V["_dep"])
    t_end = t_max[0]
    if build_aborted:
        report = {
            "instance": a.instance, "vehicles": len(inst["vehicles"]), "time_limit_s": a.time_limit,
            "workers": a.workers, "wall_s": round(time.monotonic() - t_start, 2),
            "status": "NO_SOLUTION_MODEL_NOT_BUILT_WITHIN_LIMIT", "feasible": None, "objective_usd": None,
        }
        finish(a, report)
        return

    # ---- capacities of pools, yards and plant yards ----
    for res, ivs in pool_iv.items():
        cal = net.calendars[res]
        outs = [(o[0], o[1], o[2]) for o in outages if o[3] == res]
        cap = cal["full"]
        block = []
        for a0, b0, n in profile(cal, outs, now, t_end):
            if n < cap:
                block.append((m.new_fixed_size_interval_var(T(a0), b0 - a0, ""), cap - n))
        allv = ivs + block
        m.add_cumulative([x for x, _ in allv], [d for _, d in allv], cap)
    # ---- departures: railcars / trucks by class ----
    def units(riders, per_unit, n_units):
        need = []
        fixed_need = 0
        for k, lits in riders.items():
            per = per_unit.get(k, 0)
            n_fixed = sum(1 for x in lits if isinstance(x, int))
            var = [x for x in lits if not isinstance(x, int)]
            if per == 0:
                for x in var:
                    m.add(x == 0)
                continue
            if not var:
                fixed_need += -(-n_fixed // per)
                continue
            u = m.new_int_var(0, n_units, "")
            m.add(per * u >= sum(var) + n_fixed)
            need.append(u)
        if need:
            m.add(sum(need) + fixed_need <= n_units)
    for (sid, d), riders in inland_riders.items():
        s = net.services[sid]
        units(riders, s["vehicles_per_unit"], s["units_per_departure"])
    for (port, d), riders in delivery_riders.items():
        t = net.imports[port]
        units(riders, t["vehicles_per_truck"], t["trucks_per_departure"])
    # ---- booked space by voyage, tenant and deck class ----
    used_rt = {}
    frozen_rt = {}
    for (vid, ten, dk), items in space.items():
        booked = net.voyages[vid]["booked_rt43"].get(ten, {}).get(dk, 0.0)
        fixed = sum(r for x, r in items if isinstance(x, int))
        var = [(x, r) for x, r in items if not isinstance(x, int)]
        cap = math.floor(booked * RT_SCALE + 1e-9)
        if var:
            m.add(sum(x * r for x, r in var) <= max(0, cap - fixed))
        used_rt[vid] = used_rt.get(vid, []) + var
        frozen_rt[vid] = frozen_rt.get(vid, 0) + fixed
    # ---- stow order ----
    for (vid, c), groups in stow.items():
        if len(groups) < 2:
            continue
        ks = sorted(groups)
        lohi = {}
        for k in ks:
            lo = m.new_int_var(-365 * DAY, T(t_end), "")
            hi = m.new_int_var(-365 * DAY, T(t_end), "")
            lohi[k] = (lo, hi)
            for lit, L in groups[k]:
                m.add(L >= lo).only_enforce_if(lit)
                m.add(L <= hi).only_enforce_if(lit)
        for i in range(len(ks)):
            for j in range(i + 1, len(ks)):
                # later discharge (ks[j]) loads first
                m.add(lohi[ks[j]][1] <= lohi[ks[i]][0])
    # ---- annual certification caps ----
    for mid, members in cap_members.items():
        cap = net.models[mid]["cert_annual_cap"]
        if len(members) <= cap:
            continue
        tz = ZoneInfo(net.locations[members[0][2]]["time_zone"])
        def year_of(t):
            return dt.datetime.fromtimestamp(t * 60, tz).year
        def year_start(y):
            return int(dt.datetime(y, 1, 1, tzinfo=tz).timestamp()) // 60
        frozen_by_year = {}
        var_members = []
        for mem in members:
            if isinstance(mem[0], str):
                frozen_by_year[year_of(mem[1])] = frozen_by_year.get(year_of(mem[1]), 0) + 1
            else:
                var_members.append(mem)
        y0, y1 = year_of(now), year_of(t_end)
        after = {}  # year -> list of literals "starts in or after year"
        for pl_, C, _ in var_members:
            prev = pl_
            for y in range(y0 + 1, y1 + 1):
                b = m.new_bool_var("")
                m.add(b <= prev)
                m.add(C >= T(year_start(y))).only_enforce_if(b)
                m.add(C < T(year_start(y))).only_enforce_if([~b, pl_])
                after.setdefault(y, []).append(b)
                prev = b
            after.setdefault(y0, []).append(pl_)
        for y in range(y0, y1 + 1):
            n = sum(after.get(y, [])) - sum(after.get(y + 1, []))
            m.add(n + frozen_by_year.get(y, 0) <= cap)
    # ---- unused booked space on voyages within the plan's sailing span ----
    f_min = min(frozen_sail, default=None)
    f_max = max(frozen_sail, default=None)
    counted_vars = []
    used_at = []  # (export-call depart, literal: some vehicle sails then)
    for (vid, dep), lits in voyage_used.items():
        u = m.new_bool_var("")
        for l in lits:
            m.add(u >= l)
        used_at.append((dep, u))
    per = w["unused_space_usd_per_rt43"] * OBJ_SCALE
    for vid, v in net.voyages.items():
        booked = sum(sum(d.values()) for d in v["booked_rt43"].values())
        if booked <= 0:
            continue
        ld = v["last_export_depart"]
        if f_min is not None and f_min <= ld:
            earlier = 1
        else:
            el = [u for dep, u in used_at if dep <= ld]
            if not el:
                continue
            earlier = m.new_bool_var("")
            for u in el:
                m.add(earlier >= u)
        if f_max is not None and f_max + DAY >= ld:
            later = 1
        else:
            ll = [u for dep, u in used_at if dep + DAY >= ld]
            if not ll:
                continue
            later = m.new_bool_var("")
            for u in ll:
                m.add(later >= u)
        if isinstance(earlier, int) and isinstance(later, int):
            counted = 1
            counted_vars.append((vid, 1))
        else:
            counted = m.new_bool_var("")
            m.add(counted >= earlier + later - 1)
            counted_vars.append((vid, counted))
            obj.append(int(round(per * max(0.0, booked - frozen_rt.get(vid, 0) / RT_SCALE))) * counted)
        # unused = counted * booked - loaded (a vehicle loaded forces counted = 1)
        for x, r in used_rt.get(vid, []):
            obj.append(-int(round(per * r / RT_SCALE)) * x)
            if not isinstance(counted, int):
                m.add(counted >= x)
    m.minimize(sum(obj))
    for x, val in hint.items():
        m.add_hint(x, val)

    build_s = time.monotonic() - t_start

    def make_solver(limit):
        sv = cp_model.CpSolver()
        sv.parameters.num_workers = a.workers
        sv.parameters.random_seed = a.seed
        sv.parameters.max_time_in_seconds = max(0.1, limit)
        sv.parameters.log_search_progress = a.log
        # Presolve probing on the calendar cumulatives can eat the whole limit
        # on medium instances (26 s of 30 at 2,000 vehicles): off.
        sv.parameters.cp_model_probing_level = 0
        return sv

    # Phase 1 (warm start): CP-SAT completes the greedy hint with the hinted
    # variables fixed, so that phase 2 starts from a complete solution.
    phase1 = {"status": None, "objective_usd_without_constants": None, "seconds": None}
    warm = None
    left = a.time_limit - (time.monotonic() - t_start)
    if hint_placed is not None and left > 0:
        t1 = time.monotonic()
        sv = make_solver(min(left / 3, 10.0))
        sv.parameters.fix_variables_to_their_hinted_value = True
        st = sv.solve(m)
        phase1["status"] = sv.status_name(st)
        phase1["seconds"] = round(time.monotonic() - t1, 2)
        if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            phase1["objective_usd_without_constants"] = round(sv.objective_value / OBJ_SCALE, 2)
            m.clear_hints()
            warm = {}
            for i in range(len(m.proto.variables)):
                x = m.get_int_var_from_proto_index(i)
                warm[i] = sv.value(x)
                m.add_hint(x, warm[i])
    # Phase 2: the full model, from the warm start, for the time that is left.
    left = a.time_limit - (time.monotonic() - t_start)
    solver = make_solver(left)
    status = solver.solve(m) if left > 0 else cp_model.UNKNOWN
    solve_s = time.monotonic() - t_start - build_s
    wall_s = time.monotonic() - t_start
    status_name = solver.status_name(status) if left > 0 else "NOT_SOLVED_BUILD_EXCEEDED_LIMIT"
    report = {
        "instance": a.instance,
        "vehicles": len(inst["vehicles"]),
        "time_limit_s": a.time_limit,
        "workers": a.workers,
        "build_s": round(build_s, 2),
        "solve_s": round(solve_s, 2),
        "wall_s": round(wall_s, 2),
        "status": status_name,
        "hint_placed": hint_placed,
        "warm_start": phase1,
        "voyages_retimed_to_frozen_berths": net.reconciled,
        "voyage_steps_under_way_ended_at_known_berth": getattr(net, "voyage_ends_changed", 0),
        "model": {"booleans_and_ints": len(m.proto.variables), "constraints": len(m.proto.constraints)},
    }
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        report["solver_objective_usd_without_constants"] = round(solver.objective_value / OBJ_SCALE, 2)
        report["solver_bound_usd_without_constants"] = round(solver.best_objective_bound / OBJ_SCALE, 2)
        plan = write_plan(inst, net, vehicles, solver.value, a.out, now)
        report["voyages_counted_for_unused_space"] = sorted(v for v, c in counted_vars if (c if isinstance(c, int) else solver.value(c)))
        report["voyages_loaded"] = sorted(v for v, xs in used_rt.items() if any(solver.value(x) for x, _ in xs))
        report["placed"] = sum(1 for v in plan["vehicles"] if not v.get("unplaced"))
        report["unplaced"] = sum(1 for v in plan["vehicles"] if v.get("unplaced"))
        if not a.no_check:
            report.update(check(a, a.out))
    else:
        report["feasible"] = None
        report["objective_usd"] = None
    if warm is not None:
        # The warm start, as a plan of its own, scored the same way (for the
        # record: how much CP-SAT improved on it).
        wp = re.sub(r"\.json$", "", a.out) + ".warm.json"
        write_plan(inst, net, vehicles, lambda x: warm[x.index], wp, now)
        if not a.no_check:
            c = check(a, wp)
            phase1["plan"] = wp
            phase1["feasible"] = c["feasible"]
            phase1["objective_usd"] = c["objective_usd"]
    finish(a, report)


def check(a, plan_path):
    cmd = [a.takt, "check", "--plan", plan_path, "--max-violations", "20"]
    if a.scenario:
        cmd[2:2] = ["--scenario", a.scenario]
    r = subprocess.run(cmd, capture_output=True, text=True)
    mo = re.search(r"objective ([0-9.]+) USD", r.stdout)
    return {
        "check_exit": r.returncode,
        "feasible": r.returncode == 0,
        "objective_usd": float(mo.group(1)) if mo else None,
        "check_output": r.stdout.strip().splitlines()[-12:],
    }


def finish(a, report):
    rp = a.report or re.sub(r"\.json$", "", a.out) + ".report.json"
    with open(rp, "w") as fh:
        json.dump(report, fh, indent=2)
    print(json.dumps({k: v for k, v in report.items() if k != "check_output"}))
    if "check_output" in report:
        print("\n".join(report["check_output"]))


def greedy_hint(net, vehicles, now, t_end, outages, frozen_pool, frozen_loads, inland_riders, delivery_riders, space,
                deadline):
    """A list schedule used only as CP-SAT's starting hint (solution hint):
    vehicles in order (furthest along first, then by promised date), earliest
    departure with room, earliest pool slot, first voyage with booked space;
    loading per voyage call deepest discharge port first; then discharge,
    certification and the first delivery departure with room. Returns
    {variable: value} and the number of vehicles it placed."""
    import numpy as np

    n = t_end - now + 1
    avail = {}
    for res, cal in net.calendars.items():
        if res not in net.pools:
            continue
        arr = np.zeros(n, dtype=np.int32)
        outs = [(o[0], o[1], o[2]) for o in outages if o[3] == res]
        for a0, b0, k in profile(cal, outs, now, t_end):
            arr[a0 - now:b0 - now] = k
        avail[res] = arr
    for res, a0, b0 in frozen_pool:
        if res in avail:
            avail[res][a0 - now:b0 - now] -= 1
    yard = {}
    for t in net.exports.values():
        yard[t["yard"]] = np.full(n, t["yard_slots"], dtype=np.int32)
    for p in net.plants.values():
        yard[p["yard"]] = np.full(n, p["yard_slots"], dtype=np.int32)

    def fit(res, t, dur, limit=None):
        """Earliest start >= t with a free server for `dur` minutes (and the
        end by `limit`), scanning the availability in vectorised chunks."""
        arr = avail[res]
        t = max(t, now) - now
        lim = min((limit - now) if limit is not None else n - 1, n - 1)
        chunk = 4 * DAY
        while t + dur <= lim:
            hi = min(lim, t + chunk + dur)
            ok = (arr[t:hi] > 0).astype(np.int32)
            cs = np.concatenate(([0], np.cumsum(ok)))
            runs = np.flatnonzero(cs[dur:] - cs[:-dur] == dur) if dur > 0 else np.array([0])
            if runs.size:
                return t + int(runs[0]) + now
            t = hi - dur + 1
        return None

    def take(res, t, dur):
        avail[res][t - now:t - now + dur] -= 1

    def yard_ok(res, a0, b0):
        a0, b0 = max(a0, now) - now, b0 - now
        return b0 <= a0 or yard[res][a0:b0].min() >= 1

    def yard_take(res, a0, b0):
        a0, b0 = max(a0, now) - now, b0 - now
        if b0 > a0:
            yard[res][a0:b0] -= 1

    def riders_count(d):
        out = {}
        for key, by in d.items():
            for k, lits in by.items():
                out[(key, k)] = sum(1 for x in lits if isinstance(x, int))
        return out

    inl = riders_count(inland_riders)
    dlv = riders_count(delivery_riders)

    def room(counts, key, cls, per_unit, n_units):
        need = 0
        for k, per in per_unit.items():
            c = counts.get((key, k), 0) + (1 if k == cls else 0)
            if c and per == 0:
                return False
            if c:
                need += -(-c // per)
        return need <= n_units

    used = {}
    for key, items in space.items():
        used[key] = sum(r for x, r in items if isinstance(x, int))

    def in_hold(V, t):
        return any(hf < t < ht for hf, ht in V["holds"])

    def hold_end(V, t):
        return max([ht for hf, ht in V["holds"] if hf < t < ht], default=t + 1)

    hint = {}
    hinted = {}
    placed = 0
    fails = {}

    def H(V, x, value):
        hint[x] = value
        hinted.setdefault(id(V), []).append(x)
    # Vehicles holding voyage space first (so they keep it), then by promised date.
    order = sorted((V for V in vehicles if V.get("pending") and V.get("placed") is None),
                   key=lambda V: (-V["f"], V["vs"].get("voyage") is None, V["vs"]["promised_by"]))
    loads = {}  # (vid, c) -> [(discharge call, yard start, V, k)]
    for n_done, V in enumerate(order):
        if n_done % 100 == 0 and time.monotonic() > deadline:
            return {}, None
        f = V["f"]
        mdl = V["mdl"]
        ok = False
        if f <= SI["loading"]:
            choices = []
            if f <= SI["inland"]:
                for sid, d, b in sorted(V["inland"], key=lambda o: o[1] + net.services[o[0]]["transit_mean_minutes"]):
                    s = net.services[sid]
                    if in_hold(V, d) or not room(inl, (sid, d), V["cls"], s["vehicles_per_unit"], s["units_per_departure"]):
                        continue
                    choices.append((s["to"], d + s["transit_mean_minutes"], (sid, d, b)))
            elif f == SI["port_arrival"]:
                p = next(iter(V["ports"]))
                choices.append((p, V["arrival_at"][p], None))
            else:
                p = next(iter(V["ports"]))
                choices.append((p, None, None))
            for p, arr_t, inl_opt in choices:
                et = net.exports[p]
                y = V.get("y_fixed")
                r = pv = None
                if f <= SI["port_arrival"]:
                    r = fit(et["ramp"]["resource"], max(arr_t, now), et["ramp"]["minutes_per_vehicle"])
                    while r is not None and in_hold(V, r):
                        r = fit(et["ramp"]["resource"], hold_end(V, r), et["ramp"]["minutes_per_vehicle"])
                    if r is None:
                        continue
                if f <= SI["processing"]:
                    t0 = r + et["ramp"]["minutes_per_vehicle"] if r is not None else max(now, V["prev_end"])
                    pv = fit(et["processing"]["resource"], t0, V["proc_min"])
                    while pv is not None and (in_hold(V, pv) or in_hold(V, pv + V["proc_min"])):
                        pv = fit(et["processing"]["resource"], max(hold_end(V, pv), hold_end(V, pv + V["proc_min"]) - V["proc_min"]), V["proc_min"])
                    if pv is None:
                        continue
                    y = pv + V["proc_min"]
                # First voyage option at this port with booked space.
                pick = None
                held = V["vs"].get("voyage")
                ks = sorted(range(len(V["vopts"])), key=lambda k: V["vopts"][k][0][0] != held)
                for k in ks:
                    (vid, c, j, pp), lit = V["vopts"][k]
                    if pp != p:
                        continue
                    _, berth, depart = net.voyages[vid]["call"][c]
                    if y > berth - et["cutoff_minutes"]:
                        continue
                    fl = frozen_loads.get((vid, c), [])
                    if fl and j > min(x[1] for x in fl):
                        continue
                    for dk, x in V["decks"][k]:
                        key = (vid, V["vs"]["tenant"], dk)
                        cap = math.floor(net.voyages[vid]["booked_rt43"][V["vs"]["tenant"]][dk] * RT_SCALE + 1e-9)
                        if used.get(key, 0) + V["rt"] <= cap:
                            pick = (k, vid, c, j, dk, x, lit, key)
                            break
                    if pick:
                        break
                if not pick:
                    continue
                k, vid, c, j, dk, x, lit, key = pick
                used[key] = used.get(key, 0) + V["rt"]
                if inl_opt:
                    sid, d, b = inl_opt
                    inl[((sid, d), V["cls"])] = inl.get(((sid, d), V["cls"]), 0) + 1
                    H(V, b, 1)
                    if V["open_stay"]:
                        yard_take(net.plants[mdl["plant"]]["yard"], now, d)
                if r is not None:
                    take(et["ramp"]["resource"], r, et["ramp"]["minutes_per_vehicle"])
                    H(V, V["r"], r - now)
                if pv is not None:
                    take(et["processing"]["resource"], pv, V["proc_min"])
                    H(V, V["p"], pv - now)
                H(V, lit, 1)
                H(V, x, 1)
                V["_g"] = {"k": k, "y": y, "p": p}
                loads.setdefault((vid, c), []).append((j, y, V, k))
                ok = True
                break
        elif f == SI["voyage"]:
            (vid, c, j, p), lit = V["vopts"][0]
            for dk, x in V["decks"][0]:
                key = (vid, V["vs"]["tenant"], dk)
                cap = math.floor(net.voyages[vid]["booked_rt43"][V["vs"]["tenant"]][dk] * RT_SCALE + 1e-9)
                if used.get(key, 0) + V["rt"] <= cap:
                    used[key] = used.get(key, 0) + V["rt"]
                    H(V, lit, 1)
                    H(V, x, 1)
                    V["_g"] = {"k": 0}
                    ok = True
                    break
        else:
            H(V, V["vopts"][0][1], 1)
            V["_g"] = {"k": 0}
            ok = True
        if not ok:
            V["_g"] = None
            fails["route"] = fails.get("route", 0) + 1
    # Loading, per voyage call: deepest discharge port first, then by yard start.
    for (vid, c), members in loads.items():
        if time.monotonic() > deadline:
            return {}, None
        _, berth, depart = net.voyages[vid]["call"][c]
        t_prev = berth
        for j, y, V, k in sorted(members, key=lambda x: (-x[0], x[1])):
            p = V["_g"]["p"]
            et = net.exports[p]
            lm = et["loading"]["minutes_per_vehicle"]
            L = fit(et["loading"]["resource"], max(t_prev, y, berth, now), lm, depart)
            while L is not None and in_hold(V, L):
                L = fit(et["loading"]["resource"], hold_end(V, L), lm, depart)
            ys = V.get("y_fixed", y) if V["f"] == SI["loading"] else y
            if L is None or not yard_ok(et["yard"], ys, L):
                V["_g"] = None
                fails["load" if L is None else "yard"] = fails.get("load" if L is None else "yard", 0) + 1
                continue
            take(et["loading"]["resource"], L, lm)
            yard_take(et["yard"], ys, L)
            H(V, V["L"], L - now)
            t_prev = L
    # Discharge, certification, delivery, by arrival in the destination.
    rest = [V for V in order if V.get("_g") is not None]

    def import_berth(V):
        (vid, c, j, p), _ = V["vopts"][V["_g"]["k"]]
        return net.voyages[vid]["call"][j][1]

    caps = {}
    for n_done, V in enumerate(sorted(rest, key=import_berth)):
        if n_done % 100 == 0 and time.monotonic() > deadline:
            return {}, None
        (vid, c, j, p), _ = V["vopts"][V["_g"]["k"]]
        _, berth, depart = net.voyages[vid]["call"][j]
        it = net.imports[V["iport"]]
        f = V["f"]
        D = C = None
        if f <= SI["discharge"]:
            D = fit(it["discharge"]["resource"], max(berth, now), V["dmin"], depart)
            while D is not None and in_hold(V, D):
                D = fit(it["discharge"]["resource"], hold_end(V, D), V["dmin"], depart)
            if D is None:
                fails["discharge"] = fails.get("discharge", 0) + 1
                continue
            c0 = D + V["dmin"]
        else:
            c0 = max(now, V["prev_end"])
        if f <= SI["certification"]:
            cap = V["mdl"]["cert_annual_cap"]
            C = fit(it["certification"]["resource"], max(c0, V["approved"]), V["cmin"])
            while C is not None and in_hold(V, C):
                C = fit(it["certification"]["resource"], hold_end(V, C), V["cmin"])
            if C is None:
                fails["cert"] = fails.get("cert", 0) + 1
                continue
            if cap is not None:
                yk = (V["mdl"]["id"], dt.datetime.fromtimestamp(C * 60, dt.timezone.utc).year)
                if caps.get(yk, 0) + 1 > cap:
                    fails["cap"] = fails.get("cap", 0) + 1
                    continue
                caps[yk] = caps.get(yk, 0) + 1
            e0 = C + V["cmin"]
        else:
            e0 = c0
        pick = None
        deps = it["dep_min"]
        for d in deps[bisect.bisect_left(deps, e0):]:
            if not in_hold(V, d) and room(dlv, (V["iport"], d), V["cls"], it["vehicles_per_truck"], it["trucks_per_departure"]):
                pick = d
                break
        if pick is None:
            fails["delivery"] = fails.get("delivery", 0) + 1
            continue
        d = pick
        # Place it only if that costs less than leaving it unplaced (lateness
        # and dwell against the unplaced weight; loading it saves unused space).
        w = net.w
        end = d + V["dlv"]
        nonstay = V["nonstay_const"] + sum(c for x, c in V["nonstay"] if hint.get(x) == 1)
        dwell_h = (end - to_min(V["vs"]["released_at"]) - nonstay - V["frozen_dwell"]) / 60.0
        late_d = max(0, end - to_min(V["vs"]["promised_by"])) / DAY
        transport = sum(net.services[sid]["cost_per_vehicle_usd"] for sid, _, b in V.get("inland", []) if hint.get(b) == 1)
        placed_usd = (late_d * w["lateness_usd_per_vehicle_day"] + dwell_h * w["dwell_usd_per_vehicle_hour"]
                      + transport * w["transport_cost_weight"]
                      - (V["mdl"]["rt43"] * w["unused_space_usd_per_rt43"] if V["f"] <= SI["voyage"] else 0))
        if placed_usd > w["unplaced_usd_per_vehicle"]:
            fails["cheaper_unplaced"] = fails.get("cheaper_unplaced", 0) + 1
            continue
        if D is not None:
            take(it["discharge"]["resource"], D, V["dmin"])
            H(V, V["D"], D - now)
        if C is not None:
            take(it["certification"]["resource"], C, V["cmin"])
            H(V, V["C"], C - now)
        dlv[((V["iport"], d), V["cls"])] = dlv.get(((V["iport"], d), V["cls"]), 0) + 1
        V["_dep"] = d
        hint[V["pl"]] = 1
        placed += 1
    # A vehicle the list schedule could not place is hinted as unplaced only.
    for V in order:
        if V.get("_dep") is None:
            for x in hinted.get(id(V), []):
                hint.pop(x, None)
            hint[V["pl"]] = 0
    if os.environ.get("CPSAT_DEBUG"):
        print("greedy failures", fails, file=sys.stderr)
    return hint, placed


def write_plan(inst, net, vehicles, val, path, now):
    class _B:
        @staticmethod
        def boolean_value(x):
            return bool(val(x))
    solver = _B()
    out = []
    for V in vehicles:
        vs = V["vs"]
        steps = [dict(s) for s in vs["steps"]]
        placed = V.get("placed", None)
        if placed is None:
            placed = bool(solver.boolean_value(V["pl"]))
        vp = {
            "vin": vs["vin"], "tenant": vs["tenant"], "model": vs["model"], "dealer": vs["dealer"],
            "released_at": vs["released_at"], "promised_by": vs["promised_by"],
            "voyage": None, "steps": steps, "holds": vs.get("holds", []), "rolls": vs.get("rolls", 0),
        }
        fv = next((s["resource"] for s in steps if s["stage"] == "voyage"), None)
        vp["voyage"] = fv
        if not placed:
            vp["unplaced"] = V.get("reason", "CP-SAT left the vehicle unplaced within the time limit")
            out.append(vp)
            continue
        if V["f"] >= 10:
            out.append(vp)
            continue
        mdl = net.models[vs["model"]]
        dealer = net.dealers[vs["dealer"]]
        iport = dealer["port"]
        f = V["f"]
        (vid, c, j, p), _ = next((o, l) for o, l in V["vopts"] if solver.boolean_value(l))
        v = net.voyages[vid]
        et = net.exports[p]
        it = net.imports[iport]

        def step(stage, loc, res, s, e, **kw):
            d = {"stage": stage, "location": loc, "resource": res, "start": to_str(s), "end": to_str(e)}
            d.update(kw)
            d["done"] = False
            steps.append(d)

        if f <= SI["inland"]:
            sid, dep, _ = next(o for o in V["inland"] if solver.boolean_value(o[2]))
            if V["open_stay"]:
                steps[-1]["end"] = to_str(dep)
            s = net.services[sid]
            step("inland", mdl["plant"], sid, dep, dep + s["transit_mean_minutes"], departure=to_str(dep))
        if f <= SI["port_arrival"]:
            r = val(V["r"]) + now
            step("port_arrival", p, et["ramp"]["resource"], r, r + et["ramp"]["minutes_per_vehicle"])
        if f <= SI["processing"]:
            pv = val(V["p"]) + now
            step("processing", p, et["processing"]["resource"], pv, pv + mdl["processing_minutes"])
        if f <= SI["loading"]:
            L = val(V["L"]) + now
            if f == SI["loading"]:
                steps[-1]["end"] = to_str(L)
            else:
                ys = pv + mdl["processing_minutes"] if f <= SI["processing"] else max(now, to_min(vs["steps"][-1]["end"]))
                step("yard", p, et["yard"], ys, L)
            step("loading", p, et["loading"]["resource"], L, L + et["loading"]["minutes_per_vehicle"])
        if f <= SI["voyage"]:
            k = next(i for i, (_, l) in enumerate(V["vopts"]) if solver.boolean_value(l))
            deck = next(dk for dk, x in V["decks"][k] if solver.boolean_value(x))
            step("voyage", p, vid, v["call"][c][2], v["call"][j][1], deck_class=deck)
        vp["voyage"] = vid
        if f <= SI["discharge"]:
            D = val(V["D"]) + now
            step("discharge", iport, it["discharge"]["resource"], D, D + it["discharge"]["minutes_per_vehicle"])
        if f <= SI["certification"]:
            C = val(V["C"]) + now
            step("certification", iport, it["certification"]["resource"], C, C + mdl["certification_minutes"][iport])
        dep = next(d for d, b in V["deliv"] if solver.boolean_value(b))
        step("delivery", iport, f"{iport}/delivery", dep, dep + dealer["delivery_minutes"], departure=to_str(dep))
        out.append(vp)
    plan = {
        "scenario": inst["scenario"], "volume_scale": inst["volume_scale"], "created_at": inst["now"],
        "policy": "cpsat", "vehicles": out,
        "voyages": [
            {"voyage": vid, "calls": [{"port": p, "berth": to_str(b), "depart": to_str(d)} for p, b, d in v["call"]]}
            for vid, v in net.voyages.items() if v["listed"]
        ], "outages": inst.get("outages", []),
    }
    with open(path, "w") as fh:
        json.dump(plan, fh)
    return plan


if __name__ == "__main__":
    main()
