//! A start for the annealing built from the distance lower bound rather than
//! port by port: slots nearest the gate first, each given as many vehicles
//! (stays `[origin, destination)` that do not overlap) as it can hold, the
//! stays ending first taken first (interval scheduling). Near slots then
//! carry many short stays and deep slots few long ones, which is both what
//! keeps route lengths near their bound and, mostly, the nesting that keeps
//! vehicles from blocking each other. Blocking is left to the annealing,
//! which costs every table exactly.

use crate::anneal::{EMPTY, Occupancy};
use crate::instance::{GATE, Instance};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The layered table. Slots at the same distance come in random order;
/// `short_first` breaks ties between stays ending at the same port towards
/// the one starting latest (else earliest).
pub(crate) fn layered_start(
    inst: &Instance,
    rng: &mut ChaCha8Rng,
    short_first: bool,
    open_ends: bool,
) -> Occupancy {
    let n = inst.n_nodes;
    let intervals = inst.n_ports.saturating_sub(1);
    let mut cells = vec![EMPTY; intervals * n];
    // Stays, ending first first.
    let mut stays: Vec<(usize, usize, u32)> = Vec::new();
    for (k, d) in inst.demands.iter().enumerate() {
        for _ in 0..d.quantity {
            stays.push((d.origin, d.destination, k as u32));
        }
    }
    stays.sort_by_key(|&(o, d, k)| (d, if short_first { usize::MAX - o } else { o }, k));
    let mut slots: Vec<(usize, u64, usize)> = (1..n)
        .filter(|&v| inst.gate_distance[v] != usize::MAX)
        .map(|v| (inst.gate_distance[v], rng.random::<u64>(), v))
        .collect();
    slots.sort_unstable();
    let ports = inst.n_ports;
    // open[v * ports + p]: slot v can be passed at port p (no vehicle
    // staying put in it) and is reached from the gate through slots each
    // nearer the gate and open at p.
    let mut open = vec![false; n * ports];
    for p in 0..ports {
        open[GATE * ports + p] = true;
    }
    let mut reach = vec![false; ports];
    let mut placed = vec![false; stays.len()];
    let mut left = stays.len();
    for &(dv, _, v) in &slots {
        for (p, r) in reach.iter_mut().enumerate() {
            *r = !open_ends
                || inst.adjacent[v]
                    .iter()
                    .any(|&u| inst.gate_distance[u] < dv && open[u * ports + p]);
        }
        let mut free_from = 0;
        let mut through = vec![false; ports];
        for (j, &(o, d, k)) in stays.iter().enumerate() {
            if placed[j] || o < free_from || !reach[o] || !reach[d] {
                continue;
            }
            placed[j] = true;
            left -= 1;
            free_from = d;
            for i in o..d {
                cells[i * n + v] = k;
            }
            for t in through.iter_mut().take(d).skip(o + 1) {
                *t = true;
            }
        }
        for p in 0..ports {
            open[v * ports + p] = reach[p] && !through[p];
        }
    }
    // Stays left over that fit whole into some slot: the free slot where
    // the fewest of its two ends are cut off, then the nearest.
    if left > 0 {
        let mut order: Vec<usize> = (0..stays.len()).filter(|&j| !placed[j]).collect();
        order.sort_by_key(|&j| std::cmp::Reverse(stays[j].1 - stays[j].0));
        for j in order {
            let (o, d, k) = stays[j];
            let best = slots
                .iter()
                .filter(|&&(_, _, v)| (o..d).all(|i| cells[i * n + v] == EMPTY))
                .min_by_key(|&&(dv, _, v)| {
                    let cut = usize::from(!open_at(inst, &open, ports, v, o))
                        + usize::from(!open_at(inst, &open, ports, v, d));
                    (cut, dv)
                })
                .map(|s| s.2);
            if let Some(v) = best {
                for i in o..d {
                    cells[i * n + v] = k;
                }
                placed[j] = true;
                left -= 1;
            }
        }
    }
    // Whatever did not fit as a whole stay: interval by interval into any
    // empty slot (nearest first, the previous interval's slot if free).
    if left > 0 {
        for (j, &(o, d, k)) in stays.iter().enumerate() {
            if placed[j] {
                continue;
            }
            let mut prev = GATE;
            for i in o..d {
                let row = &mut cells[i * n..(i + 1) * n];
                let v = if prev != GATE && row[prev] == EMPTY {
                    prev
                } else {
                    match slots.iter().map(|s| s.2).find(|&v| row[v] == EMPTY) {
                        Some(v) => v,
                        None => continue, // more vehicles than slots: left to the checker
                    }
                };
                row[v] = k;
                prev = v;
            }
        }
    }
    Occupancy {
        n,
        intervals,
        cells,
    }
}

/// Whether some neighbour of `v` nearer the gate is open at port `p`.
fn open_at(inst: &Instance, open: &[bool], ports: usize, v: usize, p: usize) -> bool {
    inst.adjacent[v]
        .iter()
        .any(|&u| inst.gate_distance[u] < inst.gate_distance[v] && open[u * ports + p])
}
