//! takt-stow's integration tests: the planner's plans pass the independent
//! checker on random deck graphs and demands, the checker rejects hand-made
//! infeasible plans with the right reason, and the formats round-trip.

use proptest::prelude::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use takt_stow::{
    Demand, Instance, Move, Params, Solution, ViolationCode, check, solve, solve_within,
};

fn never() -> bool {
    false
}

fn params(seed: u64, iterations: u64) -> Params {
    Params {
        seed,
        threads: 1,
        max_iterations: Some(iterations),
    }
}

/// A random connected deck: a random tree from the gate (each edge in a
/// random orientation) plus extra edges.
fn deck(n: usize, tree: &[(usize, bool)], extra: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut edges = Vec::new();
    for v in 1..n {
        let (pick, flip) = tree[v - 1];
        let u = pick % v;
        edges.push(if flip { (v, u) } else { (u, v) });
    }
    for &(a, b) in extra {
        let (a, b) = (a % n, b % n);
        if a != b && !edges.contains(&(a, b)) && !edges.contains(&(b, a)) {
            edges.push((a, b));
        }
    }
    edges
}

/// Random demand whose peak on board fits the slots.
fn demands(n_ports: usize, slots: usize, raw: &[(usize, usize, usize)]) -> Vec<Demand> {
    let mut out: Vec<Demand> = Vec::new();
    let mut on_board = vec![0usize; n_ports];
    for &(a, b, q) in raw {
        let origin = a % (n_ports - 1);
        let destination = origin + 1 + b % (n_ports - 1 - origin);
        let room = (origin..destination)
            .map(|p| slots - on_board[p])
            .min()
            .unwrap_or(0);
        let quantity = (q % 4 + 1).min(room);
        if quantity == 0 {
            continue;
        }
        for p in &mut on_board[origin..destination] {
            *p += quantity;
        }
        out.push(Demand {
            origin,
            destination,
            quantity,
        });
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn every_plan_passes_the_checker(
        n in 3usize..24,
        tree in prop::collection::vec((0usize..1000, any::<bool>()), 23),
        extra in prop::collection::vec((0usize..1000, 0usize..1000), 0..20),
        n_ports in 2usize..7,
        raw in prop::collection::vec((0usize..100, 0usize..100, 0usize..100), 1..12),
        seed in 0u64..1000,
    ) {
        let edges = deck(n, &tree, &extra);
        let demand = demands(n_ports, n - 1, &raw);
        let instance = Instance::new(n, edges, n_ports, demand, 10, 0).unwrap();
        let planned = solve(&instance, &params(seed, 400), &never);
        prop_assert!(planned.unplaced.is_empty(), "unplaced: {:?}", planned.unplaced);
        let report = check(&instance, &planned.solution);
        prop_assert!(report.feasible, "violations: {:?}", report.violations);
        prop_assert_eq!(report.cost, planned.cost);
        let text = planned.solution.to_json();
        prop_assert_eq!(Solution::parse(&text).unwrap(), planned.solution);
    }
}

/// A deck of parallel lanes from the gate: `lanes` lanes of `depth` slots
/// each, lane `l`'s slots chained from the gate, plus cross edges between
/// neighbouring lanes every other row (listed in random orientations).
fn lanes_deck(lanes: usize, depth: usize, flips: &[bool]) -> (usize, Vec<(usize, usize)>) {
    let node = |l: usize, r: usize| 1 + l * depth + r;
    let mut edges = Vec::new();
    let mut f = flips.iter().cycle();
    for l in 0..lanes {
        edges.push((0, node(l, 0)));
        for r in 1..depth {
            let (a, b) = (node(l, r - 1), node(l, r));
            edges.push(if *f.next().unwrap() { (b, a) } else { (a, b) });
        }
        if l + 1 < lanes {
            for r in (0..depth).step_by(2) {
                let (a, b) = (node(l, r), node(l + 1, r));
                edges.push(if *f.next().unwrap() { (b, a) } else { (a, b) });
            }
        }
    }
    (1 + lanes * depth, edges)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Nearly full lane decks with many ports: blocking is unavoidable, so
    /// plans need temporary discharges and relocations; every one must
    /// still pass the checker, with the planner's cost.
    #[test]
    fn full_lane_decks_pass_the_checker(
        lanes in 1usize..5,
        depth in 2usize..7,
        flips in prop::collection::vec(any::<bool>(), 1..40),
        n_ports in 3usize..9,
        raw in prop::collection::vec((0usize..100, 0usize..100, 0usize..100), 4..30),
        seed in 0u64..1000,
    ) {
        let (n, edges) = lanes_deck(lanes, depth, &flips);
        let demand = demands(n_ports, n - 1, &raw);
        let instance = Instance::new(n, edges, n_ports, demand, 20, 0).unwrap();
        let planned = solve(&instance, &params(seed, 2000), &never);
        prop_assert!(planned.unplaced.is_empty(), "unplaced: {:?}", planned.unplaced);
        let report = check(&instance, &planned.solution);
        prop_assert!(report.feasible, "violations: {:?}", report.violations);
        prop_assert_eq!(report.cost, planned.cost);
    }
}

/// Two lanes from the gate, 1 — 2 and 3 — 4. Two vehicles board at port
/// 0 (to ports 2 and 3), one at port 1 (to port 3). The port-3 vehicles
/// must share a lane with the port-1 boarder in front, the port-2 one in
/// the other lane at the front: nothing is rehandled, and every route is as
/// short as it can be without blocking (8 edges in all).
#[test]
fn the_planner_plans_for_vehicles_boarding_later() {
    let inst = Instance::new(
        5,
        vec![(0, 1), (1, 2), (0, 3), (3, 4)],
        4,
        vec![
            Demand {
                origin: 0,
                destination: 2,
                quantity: 1,
            },
            Demand {
                origin: 0,
                destination: 3,
                quantity: 1,
            },
            Demand {
                origin: 1,
                destination: 3,
                quantity: 1,
            },
        ],
        100,
        0,
    )
    .unwrap();
    let planned = solve(&inst, &params(3, 3000), &never);
    let report = check(&inst, &planned.solution);
    assert!(report.feasible, "{:?}", report.violations);
    assert_eq!(report.n_temporary_unloads + report.n_relocations, 0);
    assert_eq!(report.cost, 6 * 100 + 8);
}

/// Gate 0 — 1 — 2 — 3 in a line, with 4 hanging off 1 (edges listed 1→4)
/// and 5 hanging off 2; one demand 0→2 of one vehicle, one 0→1 of one.
fn line() -> Instance {
    Instance::new(
        6,
        vec![(0, 1), (1, 2), (2, 3), (1, 4), (2, 5)],
        3,
        vec![
            Demand {
                origin: 0,
                destination: 2,
                quantity: 1,
            },
            Demand {
                origin: 0,
                destination: 1,
                quantity: 1,
            },
        ],
        100,
        0,
    )
    .unwrap()
}

fn mv(route: &[usize], demand: usize) -> Move {
    Move {
        route: route.to_vec(),
        demand,
    }
}

fn first_code(instance: &Instance, ports: Vec<Vec<Move>>) -> Option<ViolationCode> {
    check(instance, &Solution { ports }).first_code()
}

#[test]
fn a_correct_hand_made_plan_passes_with_its_cost() {
    let inst = line();
    let ports = vec![
        vec![mv(&[0, 1, 2, 3], 0), mv(&[0, 1, 2], 1)],
        vec![mv(&[2, 1, 0], 1)],
        vec![mv(&[3, 2, 1, 0], 0)],
    ];
    let report = check(&inst, &Solution { ports });
    assert!(report.feasible, "{:?}", report.violations);
    assert_eq!(report.cost, 4 * 100 + 3 + 2 + 2 + 3);
    assert_eq!(report.n_temporary_unloads, 0);
}

#[test]
fn temporary_discharge_and_relocation_are_accepted() {
    let inst = line();
    let ports = vec![
        // The 0→1 vehicle goes deep, the 0→2 one blocks it.
        vec![mv(&[0, 1, 2, 3], 1), mv(&[0, 1, 2], 0)],
        vec![
            mv(&[2, 1, 0], 0),    // temporary discharge
            mv(&[3, 2, 1, 0], 1), // delivery
            mv(&[0, 1, 4], 0),    // reload elsewhere
            mv(&[4, 1, 2, 5], 0), // relocation: 4→1 runs against the listed (1, 4)
        ],
        vec![],
    ];
    // 4→1 runs against the listed edge (1, 4).
    assert_eq!(
        first_code(&inst, ports.clone()),
        Some(ViolationCode::AgainstEdgeOrientation)
    );
    let mut ok = ports;
    ok[1].pop();
    ok[2] = vec![mv(&[4, 1, 0], 0)];
    let report = check(&inst, &Solution { ports: ok });
    assert!(report.feasible, "{:?}", report.violations);
    assert_eq!(report.n_temporary_unloads, 1);
}

#[test]
fn relocation_along_listed_orientation_is_accepted() {
    let inst = line();
    let ports = vec![
        vec![mv(&[0, 1, 2, 3], 0), mv(&[0, 1], 1)],
        vec![mv(&[1, 0], 1)],
        vec![mv(&[3, 2, 1, 0], 0)],
    ];
    assert!(check(&inst, &Solution { ports }).feasible);
    let ports = vec![
        vec![mv(&[0, 1, 2], 0), mv(&[0, 1], 1)],
        vec![mv(&[1, 4], 1), mv(&[4, 1, 0], 1)],
        vec![mv(&[2, 1, 0], 0)],
    ];
    let report = check(&inst, &Solution { ports });
    assert!(report.feasible, "{:?}", report.violations);
    assert_eq!(report.n_relocations, 1);
}

#[test]
fn checker_rejects_a_blocked_path() {
    let inst = line();
    let ports = vec![vec![mv(&[0, 1], 0), mv(&[0, 1, 2], 1)], vec![], vec![]];
    assert_eq!(first_code(&inst, ports), Some(ViolationCode::BlockedPath));
}

#[test]
fn checker_rejects_loading_onto_an_occupied_node() {
    let inst = line();
    let ports = vec![vec![mv(&[0, 1, 2], 0), mv(&[0, 1, 2], 1)], vec![], vec![]];
    assert_eq!(first_code(&inst, ports), Some(ViolationCode::NodeOccupied));
}

#[test]
fn checker_rejects_wrong_demand_delivered() {
    let inst = line();
    // Demand 0 (to port 2) leaves at port 1 and never comes back.
    let ports = vec![
        vec![mv(&[0, 1, 2, 3], 1), mv(&[0, 1, 2], 0)],
        vec![mv(&[2, 1, 0], 0), mv(&[3, 2, 1, 0], 1)],
        vec![],
    ];
    assert_eq!(
        first_code(&inst, ports),
        Some(ViolationCode::WrongDemandOnBoard)
    );
    // Nothing loaded at all.
    assert_eq!(
        first_code(&inst, vec![vec![], vec![], vec![]]),
        Some(ViolationCode::WrongDemandOnBoard)
    );
    // Unloading a vehicle under the wrong demand index.
    let ports = vec![
        vec![mv(&[0, 1, 2, 3], 0), mv(&[0, 1, 2], 1)],
        vec![mv(&[2, 1, 0], 0)],
        vec![],
    ];
    assert_eq!(
        first_code(&inst, ports),
        Some(ViolationCode::WrongVehicleAtStart)
    );
}

#[test]
fn checker_rejects_a_non_simple_path() {
    let inst = line();
    let ports = vec![vec![mv(&[0, 1, 2, 1], 0)], vec![], vec![]];
    assert_eq!(first_code(&inst, ports), Some(ViolationCode::NonSimplePath));
}

#[test]
fn checker_rejects_a_missing_edge() {
    let inst = line();
    let ports = vec![vec![mv(&[0, 2], 0)], vec![], vec![]];
    assert_eq!(first_code(&inst, ports), Some(ViolationCode::MissingEdge));
}

#[test]
fn checker_rejects_relocation_against_edge_orientation() {
    let inst = line();
    // 5 hangs off 2 with the edge listed (2, 5): 5→2 is against it.
    let ports = vec![
        vec![mv(&[0, 1, 2, 5], 0), mv(&[0, 1, 4], 1)],
        vec![mv(&[4, 1, 0], 1), mv(&[5, 2, 3], 0)],
        vec![],
    ];
    assert_eq!(
        first_code(&inst, ports),
        Some(ViolationCode::AgainstEdgeOrientation)
    );
}

#[test]
fn checker_rejects_other_malformed_routes() {
    let inst = line();
    let cases = [
        (vec![mv(&[0], 0)], ViolationCode::RouteTooShort),
        (vec![mv(&[0, 9], 0)], ViolationCode::NodeOutOfRange),
        (vec![mv(&[0, 1], 7)], ViolationCode::UnknownDemand),
        (vec![mv(&[1, 0], 0)], ViolationCode::NoVehicleAtStart),
        (vec![mv(&[0, 1, 0], 0)], ViolationCode::NonSimplePath),
    ];
    for (port0, code) in cases {
        assert_eq!(first_code(&inst, vec![port0, vec![], vec![]]), Some(code));
    }
    // Loading demand 0 (ports 0→2) at port 2, and a fourth port.
    let ports = vec![
        vec![mv(&[0, 1, 2], 0), mv(&[0, 1], 1)],
        vec![mv(&[1, 0], 1)],
        vec![mv(&[2, 1, 0], 0), mv(&[0, 1], 0)],
    ];
    assert_eq!(
        first_code(&inst, ports),
        Some(ViolationCode::DemandNotAtPort)
    );
    let ok = vec![
        vec![mv(&[0, 1, 2], 0), mv(&[0, 1], 1)],
        vec![mv(&[1, 0], 1)],
        vec![mv(&[2, 1, 0], 0)],
        vec![mv(&[0, 1], 0)],
    ];
    assert_eq!(first_code(&inst, ok), Some(ViolationCode::UnknownPort));
}

#[test]
fn instance_parser_reads_the_challenge_format_and_rejects_bad_files() {
    let text = r#"{"N": 3, "E": [[0, 1], [1, 2]], "P": 2, "K": [[[0, 1], 2]], "F": 100, "LB": 406,
                  "grid_graph": {"nodes": []}}"#;
    let inst = Instance::parse(text).unwrap();
    assert_eq!(inst.n_nodes, 3);
    assert_eq!(inst.gate_distance, vec![0, 1, 2]);
    assert_eq!(inst.demands[0].quantity, 2);
    assert!(inst.has_forward_edge(1, 2) && !inst.has_forward_edge(2, 1));
    assert!(
        Instance::parse(r#"{"N": 3, "E": [[0, 5]], "P": 2, "K": [], "F": 1, "LB": 0}"#).is_err()
    );
    assert!(
        Instance::parse(r#"{"N": 3, "E": [[0, 1]], "P": 2, "K": [[[1, 1], 1]], "F": 1, "LB": 0}"#)
            .is_err()
    );
    assert!(Instance::parse("[]").is_err());
    let planned = solve(&inst, &params(1, 5), &never);
    let report = check(&inst, &planned.solution);
    assert!(report.feasible);
    // Optimal: the first vehicle to the far slot, both along shortest paths.
    assert_eq!(report.cost, 406);
    assert_eq!(report.objective, 0);
}

#[test]
fn solution_format_round_trips() {
    let sol = Solution {
        ports: vec![vec![mv(&[0, 1, 2], 3)], vec![], vec![mv(&[2, 1, 0], 3)]],
    };
    let text = sol.to_json();
    assert!(text.starts_with("{\"solution\": {"));
    assert_eq!(Solution::parse(&text).unwrap(), sol);
    let sol2 =
        Solution::parse(r#"{"solution": {"1": [[[2, 1, 0], 0]], "0": [[[0, 1, 2], 0]]}}"#).unwrap();
    assert_eq!(sol2.ports.len(), 2);
    assert_eq!(sol2.ports[0][0].route, vec![0, 1, 2]);
    assert!(Solution::parse(r#"{"solution": {"x": []}}"#).is_err());
}

#[test]
fn same_seed_same_plan() {
    let inst = Instance::new(
        8,
        vec![
            (0, 1),
            (1, 2),
            (2, 3),
            (1, 4),
            (4, 5),
            (5, 6),
            (6, 7),
            (3, 7),
        ],
        4,
        vec![
            Demand {
                origin: 0,
                destination: 3,
                quantity: 2,
            },
            Demand {
                origin: 0,
                destination: 1,
                quantity: 2,
            },
            Demand {
                origin: 1,
                destination: 2,
                quantity: 3,
            },
            Demand {
                origin: 2,
                destination: 3,
                quantity: 2,
            },
        ],
        50,
        0,
    )
    .unwrap();
    let a = solve(&inst, &params(7, 30), &never);
    let b = solve(&inst, &params(7, 30), &never);
    assert_eq!(a.solution, b.solution);
    assert!(check(&inst, &a.solution).feasible);
    // Enough moves (over 8,000 per slot and port) for the independent runs
    // from several starts, on two threads: still the same plan.
    let long = Params {
        threads: 2,
        ..params(7, 300_000)
    };
    let a = solve(&inst, &long, &never);
    let b = solve(&inst, &long, &never);
    assert_eq!(a.solution, b.solution);
    assert_eq!(a.iterations, 600_000);
    assert!(check(&inst, &a.solution).feasible);
}

fn exercise(name: &str) -> Option<Instance> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/ogc2025/exercise")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(Instance::parse(&text).unwrap()),
        Err(_) => {
            eprintln!(
                "skipping: {} not found (benchmark data is not in the repository)",
                path.display()
            );
            None
        }
    }
}

#[test]
fn exercise_problems_solve_feasibly_within_a_short_limit() {
    for name in ["a-prob1.json", "a-prob2.json", "b-prob2.json"] {
        let Some(inst) = exercise(name) else { return };
        let limit = Duration::from_millis(400);
        let started = Instant::now();
        let stop = move || started.elapsed() >= limit;
        let planned = solve(
            &inst,
            &Params {
                seed: 1,
                threads: 2,
                max_iterations: None,
            },
            &stop,
        );
        assert!(
            started.elapsed() < limit + Duration::from_millis(500),
            "{name} overran"
        );
        let report = check(&inst, &planned.solution);
        assert!(report.feasible, "{name}: {:?}", report.violations);
        assert!(report.objective >= 0, "{name}: cost below the lower bound");
        assert_eq!(report.cost, planned.cost);
    }
}

/// The deck (demand per node) after every port of a plan the checker
/// accepted.
fn decks_after_ports(instance: &Instance, solution: &Solution) -> Vec<Vec<Option<usize>>> {
    let mut deck = vec![None; instance.n_nodes];
    let mut out = Vec::new();
    for moves in &solution.ports {
        for m in moves {
            let (first, last) = (m.route[0], *m.route.last().unwrap());
            if first != 0 {
                deck[first] = None;
            }
            if last != 0 {
                deck[last] = Some(m.demand);
            }
        }
        out.push(deck.clone());
    }
    out
}

/// A shortest path from the gate to `v` in the whole deck graph.
fn path_from_gate(instance: &Instance, v: usize) -> Vec<usize> {
    let mut parent = vec![usize::MAX; instance.n_nodes];
    parent[0] = 0;
    let mut queue = std::collections::VecDeque::from([0]);
    while let Some(u) = queue.pop_front() {
        for &w in &instance.adjacent[u] {
            if parent[w] == usize::MAX {
                parent[w] = u;
                queue.push_back(w);
            }
        }
    }
    let mut path = vec![v];
    let mut u = v;
    while u != 0 {
        u = parent[u];
        path.push(u);
    }
    path.reverse();
    path
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// A feasible plan made infeasible by hand, one rule at a time: the
    /// checker stops at the broken move with that rule's code (worked out
    /// here from the deck at that moment, independently of the checker).
    #[test]
    fn the_checker_names_the_rule_a_broken_plan_breaks(
        lanes in 1usize..4,
        depth in 2usize..5,
        flips in prop::collection::vec(any::<bool>(), 1..30),
        n_ports in 3usize..7,
        raw in prop::collection::vec((0usize..100, 0usize..100, 0usize..100), 2..16),
        seed in 0u64..1000,
        rule in 0usize..9,
        pick in 0usize..1000,
    ) {
        let (n, edges) = lanes_deck(lanes, depth, &flips);
        let demand = demands(n_ports, n - 1, &raw);
        prop_assume!(!demand.is_empty());
        let k_count = demand.len();
        let instance = Instance::new(n, edges, n_ports, demand, 10, 0).unwrap();
        let planned = solve(&instance, &params(seed, 300), &never);
        prop_assert!(check(&instance, &planned.solution).feasible);
        let decks = decks_after_ports(&instance, &planned.solution);
        let mut ports = planned.solution.ports.clone();
        let last_port = n_ports - 1;
        // A port after which something is on board (there is one: demand
        // is not empty), and a node holding a vehicle then.
        let busy: Vec<usize> = (0..last_port)
            .filter(|&p| decks[p].iter().any(Option::is_some))
            .collect();
        let p = busy[pick % busy.len()];
        let full: Vec<usize> = (1..n).filter(|&v| decks[p][v].is_some()).collect();
        let empty: Vec<usize> = (1..n).filter(|&v| decks[p][v].is_none()).collect();
        let v = full[pick % full.len()];
        let blocked = |route: &[usize], deck: &[Option<usize>]| {
            route[1..route.len() - 1].iter().any(|&u| deck[u].is_some())
        };
        let expected = match rule {
            0 => {
                // The last unload of the voyage left out: a vehicle stays
                // (when some demand ends at the last port at all).
                prop_assume!(ports[last_port].pop().is_some());
                ViolationCode::WrongDemandOnBoard
            }
            1 => {
                // A load onto a node that holds a vehicle.
                let route = path_from_gate(&instance, v);
                let k = (0..k_count)
                    .find(|&k| instance.demands[k].origin <= p && p < instance.demands[k].destination)
                    .unwrap();
                let code = if blocked(&route, &decks[p]) {
                    ViolationCode::BlockedPath
                } else {
                    ViolationCode::NodeOccupied
                };
                ports[p].push(Move { route, demand: k });
                code
            }
            2 => {
                // An unload, at the start of the next port, from an empty
                // node (or one whose way out is blocked).
                prop_assume!(!empty.is_empty());
                let e = empty[pick % empty.len()];
                let mut route = path_from_gate(&instance, e);
                route.reverse();
                let code = if blocked(&route, &decks[p]) {
                    ViolationCode::BlockedPath
                } else {
                    ViolationCode::NoVehicleAtStart
                };
                ports[p + 1].insert(0, Move { route, demand: 0 });
                code
            }
            3 => {
                // An unload naming another demand than the vehicle's.
                prop_assume!(k_count > 1);
                let mut route = path_from_gate(&instance, v);
                route.reverse();
                let k = (decks[p][v].unwrap() + 1) % k_count;
                let code = if blocked(&route, &decks[p]) {
                    ViolationCode::BlockedPath
                } else {
                    ViolationCode::WrongVehicleAtStart
                };
                ports[p + 1].insert(0, Move { route, demand: k });
                code
            }
            4 => {
                // A load at the last port, outside every demand's voyage.
                ports[last_port].push(Move { route: vec![0, 1], demand: pick % k_count });
                ViolationCode::DemandNotAtPort
            }
            5 => {
                // A relocation against an edge's listed orientation, or
                // along a pair of nodes without an edge.
                let back = instance.edges.iter().find(|&&(a, b)| a != 0 && b == v);
                let route = match back {
                    Some(&(a, _)) => vec![v, a],
                    None => vec![v, (1..n).find(|&u| u != v && !instance.has_edge(u, v)).unwrap_or(v)],
                };
                prop_assume!(route[0] != route[1]);
                let code = if instance.has_edge(route[0], route[1]) {
                    ViolationCode::AgainstEdgeOrientation
                } else {
                    ViolationCode::MissingEdge
                };
                ports[p].push(Move { route, demand: decks[p][v].unwrap() });
                code
            }
            6 => {
                // A route that comes back to the gate.
                ports[p].push(Move { route: vec![0, 1, 0], demand: 0 });
                ViolationCode::NonSimplePath
            }
            7 => {
                ports[p].push(Move { route: vec![0, 1], demand: k_count });
                ViolationCode::UnknownDemand
            }
            _ => {
                ports[p].push(Move { route: vec![0, n], demand: 0 });
                ViolationCode::NodeOutOfRange
            }
        };
        let report = check(&instance, &Solution { ports });
        prop_assert!(!report.feasible);
        prop_assert_eq!(report.first_code(), Some(expected), "{:?}", report.violations);
    }
}

#[test]
fn timed_runs_on_two_threads_pass_the_checker_and_end_in_time() {
    for name in ["a-prob3.json", "b-prob5.json"] {
        let Some(inst) = exercise(name) else { return };
        let limit = Duration::from_millis(800);
        let started = Instant::now();
        let progress = move || started.elapsed().as_secs_f64() / limit.as_secs_f64();
        let planned = solve_within(
            &inst,
            &Params {
                seed: 5,
                threads: 2,
                max_iterations: None,
            },
            limit.as_secs_f64(),
            &progress,
        );
        assert!(
            started.elapsed() < limit + Duration::from_millis(500),
            "{name} overran"
        );
        let report = check(&inst, &planned.solution);
        assert!(report.feasible, "{name}: {:?}", report.violations);
        assert_eq!(report.cost, planned.cost);
        assert!(planned.iterations > 0, "{name}: no search happened");
    }
}

/// Runs the online stower over a voyage: at every port, discharge, then
/// load the vehicles boarding there. Returns the instance (demand per
/// (origin, destination)), the plan in the challenge's format, and the
/// steps per port.
fn online_voyage(
    n: usize,
    edges: &[(usize, usize)],
    slot_class: &[usize],
    n_ports: usize,
    items: &[(usize, usize, usize)],
) -> (
    Instance,
    Solution,
    Vec<Vec<takt_stow::online::Step>>,
    Vec<u32>,
) {
    use takt_stow::online::{Deck, Graph, Item};
    let mut pairs: Vec<(usize, usize)> = items.iter().map(|&(o, d, _)| (o, d)).collect();
    pairs.sort();
    pairs.dedup();
    let demands: Vec<Demand> = pairs
        .iter()
        .map(|&(origin, destination)| Demand {
            origin,
            destination,
            quantity: items
                .iter()
                .filter(|&&(o, d, _)| (o, d) == (origin, destination))
                .count(),
        })
        .collect();
    let instance = Instance::new(n, edges.to_vec(), n_ports, demands, 10, 0).unwrap();
    let g = Graph {
        adjacent: &instance.adjacent,
        slot_class,
        gate_distance: &instance.gate_distance,
    };
    let mut deck = Deck::new(n);
    let mut per_port = Vec::new();
    let mut unplaced = Vec::new();
    for port in 0..n_ports {
        let mut steps = Vec::new();
        unplaced.extend(deck.discharge(&g, port, &mut steps));
        let boarding: Vec<Item> = items
            .iter()
            .enumerate()
            .filter(|(_, it)| it.0 == port)
            .map(|(id, &(_, leave, class))| Item {
                id: id as u32,
                leave,
                class,
            })
            .collect();
        unplaced.extend(deck.load(&g, &boarding, &mut steps));
        per_port.push(steps);
    }
    let solution = Solution {
        ports: per_port
            .iter()
            .map(|steps| {
                steps
                    .iter()
                    .map(|s| {
                        let (o, d, _) = items[s.item as usize];
                        Move {
                            route: s.route.clone(),
                            demand: pairs.binary_search(&(o, d)).unwrap(),
                        }
                    })
                    .collect()
            })
            .collect(),
    };
    (instance, solution, per_port, unplaced)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// The online stower's moves pass the independent checker on random
    /// decks with deck classes, every vehicle stands only on slots of its
    /// class, and the rehandling it reports is what the checker counts.
    #[test]
    fn online_stowage_passes_the_checker_and_keeps_deck_classes(
        n in 3usize..30,
        tree in prop::collection::vec((0usize..1000, any::<bool>()), 29),
        extra in prop::collection::vec((0usize..1000, 0usize..1000), 0..20),
        classes in prop::collection::vec(0usize..2, 29),
        n_ports in 2usize..7,
        raw in prop::collection::vec((0usize..100, 0usize..100, 0usize..2), 1..40),
    ) {
        let edges = deck(n, &tree, &extra);
        let mut slot_class = vec![usize::MAX];
        slot_class.extend(classes.iter().take(n - 1).copied());
        // Vehicles whose class has a free slot during their whole stay.
        let mut on_board = vec![[0usize; 2]; n_ports];
        let mut items = Vec::new();
        for &(a, b, c) in &raw {
            let origin = a % (n_ports - 1);
            let destination = origin + 1 + b % (n_ports - 1 - origin);
            let slots = slot_class.iter().filter(|&&k| k == c).count();
            if (origin..destination).all(|p| on_board[p][c] < slots) {
                for p in &mut on_board[origin..destination] {
                    p[c] += 1;
                }
                items.push((origin, destination, c));
            }
        }
        prop_assume!(!items.is_empty());
        let (instance, solution, per_port, unplaced) =
            online_voyage(n, &edges, &slot_class, n_ports, &items);
        prop_assert!(unplaced.is_empty(), "unplaced: {:?}", unplaced);
        let report = check(&instance, &solution);
        prop_assert!(report.feasible, "violations: {:?}", report.violations);
        let temporary = per_port
            .iter()
            .flatten()
            .filter(|s| s.action == takt_stow::online::Action::TemporaryDischarge)
            .count();
        prop_assert_eq!(report.n_temporary_unloads, temporary);
        for s in per_port.iter().flatten() {
            if matches!(s.action, takt_stow::online::Action::Load | takt_stow::online::Action::Reload) {
                let slot = *s.route.last().unwrap();
                prop_assert_eq!(slot_class[slot], items[s.item as usize].2);
            }
        }
    }
}

#[test]
fn online_stowage_rehandles_only_when_the_lanes_force_it() {
    // Two lanes of three slots. Port 0 loads three vehicles for port 3,
    // port 1 three for port 2: the lanes can keep them apart.
    let mut edges = Vec::new();
    for lane in 0..2 {
        let mut prev = 0;
        for k in 0..3 {
            let v = 1 + lane * 3 + k;
            edges.push((prev, v));
            prev = v;
        }
    }
    let classes = vec![usize::MAX, 0, 0, 0, 0, 0, 0];
    let apart = [
        (0, 3, 0),
        (0, 3, 0),
        (0, 3, 0),
        (1, 2, 0),
        (1, 2, 0),
        (1, 2, 0),
    ];
    let (instance, solution, per_port, _) = online_voyage(7, &edges, &classes, 4, &apart);
    assert!(check(&instance, &solution).feasible);
    assert!(per_port.iter().flatten().all(|s| !s.action.is_rehandling()));
    // Port 0 fills four slots for port 2, so both lanes hold a port-2
    // vehicle at the front; port 1's vehicles for port 3 must stand in
    // front of them, and port 2 discharges them temporarily.
    let forced = [
        (0, 2, 0),
        (0, 2, 0),
        (0, 2, 0),
        (0, 2, 0),
        (1, 3, 0),
        (1, 3, 0),
    ];
    let (instance, solution, per_port, _) = online_voyage(7, &edges, &classes, 4, &forced);
    let report = check(&instance, &solution);
    assert!(report.feasible, "{:?}", report.violations);
    assert!(report.n_temporary_unloads >= 1);
    assert!(per_port[2].iter().any(|s| s.action.is_rehandling()));
}
