//! A stowage plan: for every port, the routes in the order they execute.
//!
//! The challenge's format: `{"solution": {"0": [[route, demand_index], ...], "1": [...], ...}}`,
//! where a route is a list of nodes.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use thiserror::Error;

/// One route: the vehicle of demand `demand` moves along `route`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub route: Vec<usize>,
    pub demand: usize,
}

/// Routes per port, in execution order; `ports[p]` is port `p`'s list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Solution {
    pub ports: Vec<Vec<Move>>,
}

/// Why a solution text was rejected.
#[derive(Debug, Error)]
pub enum SolutionError {
    #[error("not JSON of the challenge format")]
    Json(#[from] serde_json::Error),
    #[error("port key `{0}` is not a port number")]
    BadPort(String),
}

#[derive(Deserialize)]
struct Raw {
    solution: BTreeMap<String, Vec<(Vec<usize>, usize)>>,
}

impl Solution {
    /// An empty plan for `n_ports` ports.
    pub fn empty(n_ports: usize) -> Solution {
        Solution {
            ports: vec![Vec::new(); n_ports],
        }
    }

    /// Parses the challenge's JSON text.
    pub fn parse(text: &str) -> Result<Solution, SolutionError> {
        let raw: Raw = serde_json::from_str(text)?;
        let mut ports: Vec<Vec<Move>> = Vec::new();
        for (key, routes) in raw.solution {
            let port: usize = key
                .trim()
                .parse()
                .map_err(|_| SolutionError::BadPort(key.clone()))?;
            if ports.len() <= port {
                ports.resize(port + 1, Vec::new());
            }
            ports[port].extend(
                routes
                    .into_iter()
                    .map(|(route, demand)| Move { route, demand }),
            );
        }
        Ok(Solution { ports })
    }

    /// Writes the challenge's JSON text, ports in numeric order, one route
    /// a line.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"solution\": {");
        for (p, moves) in self.ports.iter().enumerate() {
            if p > 0 {
                out.push(',');
            }
            let _ = write!(out, "\n  \"{p}\": [");
            for (i, m) in moves.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("\n    [[");
                for (j, node) in m.route.iter().enumerate() {
                    if j > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{node}");
                }
                let _ = write!(out, "], {}]", m.demand);
            }
            if !moves.is_empty() {
                out.push_str("\n  ");
            }
            out.push(']');
        }
        out.push_str("\n}}\n");
        out
    }

    /// Number of routes.
    pub fn n_moves(&self) -> usize {
        self.ports.iter().map(Vec::len).sum()
    }
}
