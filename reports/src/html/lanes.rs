//! Who led when: a lane per node, coloured by what the node was doing over
//! the run (leader, follower, candidate, down, paused, cut off, not
//! answering), with each term it led marked, membership changes drawn
//! across every lane and the fault windows shaded behind.
//!
//! Roles come from each node's own event stream (`events.jsonl`: every
//! change, however short); the runner's view (`cluster.jsonl`: kills,
//! pauses, cuts, and status polls that went unanswered) overrides them,
//! since a killed node's last word is stale. The lanes end where the
//! runner's timeline does: with the workload and the final heal.

use std::collections::{BTreeMap, BTreeSet};

use super::escape;
use super::svg::{Axis, Band, LEFT, RIGHT, WIDTH, shaded_band, x_ticks};
use crate::cluster::{ClusterChange, ClusterEvent, NodeEvent, NodeEventKind};
use crate::summary::NodeId;

const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
/// Room for the title and the legend.
const TOP: f64 = 52.0;
const LANE: f64 = 26.0;
const BAR: f64 = 18.0;
/// Room for the time axis and three staggered rows of fault labels.
const BOTTOM: f64 = 64.0;

/// What a node was doing, as drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Leader,
    Follower,
    Candidate,
    /// Neither of the above (a learner catching up, a role this page does
    /// not know).
    Other,
    Down,
    Paused,
    CutOff,
    NoAnswer,
}

impl Shown {
    const ALL: [Shown; 8] = [
        Shown::Leader,
        Shown::Follower,
        Shown::Candidate,
        Shown::Other,
        Shown::Down,
        Shown::Paused,
        Shown::CutOff,
        Shown::NoAnswer,
    ];

    fn name(self) -> &'static str {
        match self {
            Shown::Leader => "leader",
            Shown::Follower => "follower",
            Shown::Candidate => "candidate",
            Shown::Other => "other role",
            Shown::Down => "down",
            Shown::Paused => "paused",
            Shown::CutOff => "cut off",
            Shown::NoAnswer => "no answer",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Shown::Leader => "#2f9e44",
            Shown::Follower => "#a5d8ff",
            Shown::Candidate => "#fcc419",
            Shown::Other => "#dee2e6",
            Shown::Down => "#343a40",
            Shown::Paused => "#9775fa",
            Shown::CutOff => "#ff8787",
            Shown::NoAnswer => "#adb5bd",
        }
    }

    /// A role as a node or a status poll names it.
    fn role(name: &str) -> Shown {
        match name.to_ascii_lowercase().as_str() {
            "leader" => Shown::Leader,
            "follower" => Shown::Follower,
            "candidate" | "precandidate" => Shown::Candidate,
            _ => Shown::Other,
        }
    }
}

/// One node's state as the events so far leave it.
#[derive(Clone, Copy, Debug, Default)]
struct NodeState {
    started: bool,
    role: Option<Shown>,
    down: bool,
    paused: bool,
    answering: bool,
}

impl NodeState {
    fn shown(&self, cut_off: bool) -> Option<Shown> {
        if !self.started {
            return None;
        }
        Some(if self.down {
            Shown::Down
        } else if self.paused {
            Shown::Paused
        } else if cut_off {
            Shown::CutOff
        } else if !self.answering {
            Shown::NoAnswer
        } else {
            self.role.unwrap_or(Shown::Other)
        })
    }
}

/// A stretch of one lane.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub node: NodeId,
    pub start_ns: u64,
    pub end_ns: u64,
    pub shown: Shown,
}

/// Everything the lanes show, worked out from the two files.
#[derive(Debug, Default)]
pub struct Lanes {
    pub nodes: Vec<NodeId>,
    pub segments: Vec<Segment>,
    /// (node, when, term) for each term a node took the lead.
    pub led: Vec<(NodeId, u64, u64)>,
    /// (when, label) for each membership change.
    pub membership: Vec<(u64, String)>,
    pub end_ns: u64,
}

/// One thing that changes what the lanes show, on the run's clock.
enum Change<'a> {
    Runner(&'a ClusterChange),
    Node(&'a NodeEvent),
}

/// Works out the lanes. The founding members are the nodes seen before
/// any joined; a node that joins starts its lane there.
pub fn lanes(cluster: &[ClusterEvent], events: &[NodeEvent]) -> Lanes {
    // The runner's timeline ends with the workload (and the final heal):
    // what nodes said while converging afterwards is not drawn.
    let last_runner = cluster.iter().map(|e| e.at_ns).max();
    let mut changes: Vec<(u64, Change)> = cluster.iter().map(|e| (e.at_ns, Change::Runner(&e.change))).collect();
    let roles =
        events.iter().filter(|e| e.kind == NodeEventKind::Role && last_runner.is_none_or(|end| e.wall_ns <= end));
    changes.extend(roles.map(|e| (e.wall_ns, Change::Node(e))));
    // Stable: what one source says at one instant keeps its order.
    changes.sort_by_key(|(at, _)| *at);

    let joined: BTreeSet<NodeId> = cluster
        .iter()
        .filter_map(|e| if let ClusterChange::Joined { node } = e.change { Some(node) } else { None })
        .collect();
    let mut states: BTreeMap<NodeId, NodeState> = BTreeMap::new();
    let note = |node: NodeId, states: &mut BTreeMap<NodeId, NodeState>| {
        states.entry(node).or_insert(NodeState {
            started: !joined.contains(&node),
            answering: true,
            ..Default::default()
        });
    };
    for (_, change) in &changes {
        match change {
            Change::Runner(c) => {
                if let Some(node) = node_of(c) {
                    note(node, &mut states);
                }
            }
            Change::Node(e) => note(e.node, &mut states),
        }
    }
    let nodes: Vec<NodeId> = states.keys().copied().collect();
    let mut out = Lanes { nodes, ..Lanes::default() };
    let end_ns = changes.last().map_or(0, |(at, _)| *at);
    out.end_ns = end_ns;

    let mut cuts: BTreeSet<(NodeId, NodeId)> = BTreeSet::new();
    let mut open: BTreeMap<NodeId, (u64, Shown)> = BTreeMap::new();
    let mut last_led: BTreeMap<NodeId, u64> = BTreeMap::new();
    for (at, change) in &changes {
        match change {
            Change::Node(e) => {
                let state = states.get_mut(&e.node).expect("noted");
                let role = Shown::role(&e.role);
                state.role = Some(role);
                state.answering = true;
                if role == Shown::Leader && last_led.get(&e.node) != Some(&e.term) {
                    last_led.insert(e.node, e.term);
                    out.led.push((e.node, *at, e.term));
                }
            }
            Change::Runner(c) => apply(c, *at, &mut states, &mut cuts, &mut out.membership),
        }
        let running = states.values().filter(|s| s.started).count();
        for (&node, state) in &states {
            let shown = state.shown(cut_off(node, &cuts, running));
            let current = open.get(&node).map(|&(_, s)| s);
            if current == shown {
                continue;
            }
            // What held for no time at all (two changes at one instant) is not drawn.
            if let Some((start_ns, was)) = open.remove(&node).filter(|&(start_ns, _)| start_ns < *at) {
                out.segments.push(Segment { node, start_ns, end_ns: *at, shown: was });
            }
            if let Some(shown) = shown {
                open.insert(node, (*at, shown));
            }
        }
    }
    for (node, (start_ns, shown)) in open.into_iter().filter(|&(_, (start_ns, _))| start_ns < end_ns) {
        out.segments.push(Segment { node, start_ns, end_ns, shown });
    }
    out
}

/// Cut off: a link to or from more than half of the other `running` nodes
/// is cut (so a node on the minority side of a partition, or a leader whose
/// messages out are dropped, but not a follower that lost only the leader).
fn cut_off(node: NodeId, cuts: &BTreeSet<(NodeId, NodeId)>, running: usize) -> bool {
    let peers: BTreeSet<NodeId> = cuts
        .iter()
        .filter_map(|&(from, to)| match (from == node, to == node) {
            (true, _) => Some(to),
            (_, true) => Some(from),
            _ => None,
        })
        .collect();
    peers.len() * 2 > running.saturating_sub(1)
}

fn node_of(change: &ClusterChange) -> Option<NodeId> {
    match *change {
        ClusterChange::Status { node, .. }
        | ClusterChange::NoAnswer { node }
        | ClusterChange::Killed { node }
        | ClusterChange::Paused { node }
        | ClusterChange::Resumed { node }
        | ClusterChange::Restarted { node }
        | ClusterChange::Joined { node }
        | ClusterChange::Removed { node } => Some(node),
        ClusterChange::Cut { .. } | ClusterChange::Uncut { .. } | ClusterChange::Healed => None,
    }
}

fn apply(
    change: &ClusterChange,
    at: u64,
    states: &mut BTreeMap<NodeId, NodeState>,
    cuts: &mut BTreeSet<(NodeId, NodeId)>,
    membership: &mut Vec<(u64, String)>,
) {
    fn of(states: &mut BTreeMap<NodeId, NodeState>, node: NodeId) -> &mut NodeState {
        states.get_mut(&node).expect("every node is noted before any change")
    }
    match change {
        ClusterChange::Status { node, role, .. } => {
            let state = of(states, *node);
            state.answering = true;
            // The stream is exact; a poll only fills in a node not yet heard from.
            state.role.get_or_insert(Shown::role(role));
        }
        ClusterChange::NoAnswer { node } => of(states, *node).answering = false,
        ClusterChange::Killed { node } => of(states, *node).down = true,
        ClusterChange::Paused { node } => of(states, *node).paused = true,
        ClusterChange::Resumed { node } => of(states, *node).paused = false,
        ClusterChange::Restarted { node } => {
            let state = of(states, *node);
            (state.down, state.paused, state.role) = (false, false, None);
        }
        ClusterChange::Cut { from, to } => {
            cuts.insert((*from, *to));
        }
        ClusterChange::Uncut { from, to } => {
            cuts.remove(&(*from, *to));
        }
        ClusterChange::Healed => cuts.clear(),
        ClusterChange::Joined { node } => {
            of(states, *node).started = true;
            membership.push((at, format!("+{node}")));
        }
        ClusterChange::Removed { node } => {
            of(states, *node).started = false;
            membership.push((at, format!("\u{2212}{node}")));
        }
    }
}

/// The lane chart, with a line on how it was measured.
pub fn chart(cluster: &[ClusterEvent], events: &[NodeEvent], faults: &[Band], status_poll_ms: u64) -> String {
    let lanes = lanes(cluster, events);
    if lanes.nodes.is_empty() {
        return super::omitted("cluster.jsonl and events.jsonl say nothing of any node; the lanes are omitted.");
    }
    let note = format!(
        "<p class=\"note\">Roles from each node's event stream; down, paused and cut off from what the runner did; \
         \"no answer\" where a status poll (every {status_poll_ms} ms) went unanswered. Dark ticks: a term the node \
         led; dashed lines: membership changes; shaded: fault windows.</p>\n"
    );
    note + &render(&lanes, faults)
}

fn render(lanes: &Lanes, faults: &[Band]) -> String {
    let end_s = faults.iter().map(|f| f.end).fold(lanes.end_ns as f64 / 1e9, f64::max);
    let axis = Axis::linear("seconds since the workload started", end_s);
    let x = |ns: u64| LEFT + axis.fraction(ns as f64 / 1e9).unwrap_or(0.0).clamp(0.0, 1.0) * PLOT_WIDTH;
    let x_s = |s: f64| LEFT + axis.fraction(s).unwrap_or(0.0).clamp(0.0, 1.0) * PLOT_WIDTH;
    let plot_height = LANE * lanes.nodes.len() as f64;
    let height = TOP + plot_height + BOTTOM;
    let lane_top = |node: NodeId| {
        let index = lanes.nodes.iter().position(|&n| n == node).unwrap_or(0);
        TOP + index as f64 * LANE + (LANE - BAR) / 2.0
    };
    let mut svg = format!(
        "<svg class=\"chart lanes\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"who led when\">\n\
         <text x=\"{LEFT}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">Each node's role over time</text>\n"
    );
    let mut legend_x = LEFT;
    for shown in Shown::ALL {
        svg += &format!(
            "<rect x=\"{legend_x:.1}\" y=\"30\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.1}\" y=\"40\">{}</text>\n",
            shown.colour(),
            legend_x + 16.0,
            shown.name()
        );
        legend_x += 28.0 + 7.0 * shown.name().len() as f64;
    }
    for (i, band) in faults.iter().enumerate() {
        let label_y = TOP + plot_height + 30.0 + (i % 3) as f64 * 11.0;
        svg += &shaded_band(band, (x_s(band.start), x_s(band.end)), (TOP, plot_height), label_y);
    }
    for &node in &lanes.nodes {
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">node {node}</text>\n",
            LEFT - 6.0,
            lane_top(node) + BAR / 2.0 + 4.0
        );
    }
    for s in &lanes.segments {
        let (start, end) = (x(s.start_ns), x(s.end_ns));
        svg += &format!(
            "<rect class=\"lane {}\" x=\"{start:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{BAR}\" fill=\"{}\">\
             <title>node {}: {} from {:.2} s to {:.2} s</title></rect>\n",
            s.shown.name().replace(' ', "-"),
            lane_top(s.node),
            (end - start).max(0.5),
            s.shown.colour(),
            s.node,
            s.shown.name(),
            s.start_ns as f64 / 1e9,
            s.end_ns as f64 / 1e9,
        );
    }
    for &(node, at, term) in &lanes.led {
        let (px, top) = (x(at), lane_top(node));
        svg += &format!(
            "<g class=\"term\"><title>node {node} led term {term} from {:.2} s</title>\
             <line x1=\"{px:.1}\" y1=\"{top:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#212529\" stroke-width=\"2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#fff\">t{term}</text></g>\n",
            at as f64 / 1e9,
            top + BAR,
            px + 3.0,
            top + BAR - 5.0,
        );
    }
    for (at, label) in &lanes.membership {
        let px = x(*at);
        svg += &format!(
            "<g class=\"membership\"><title>membership {} at {:.2} s</title>\
             <line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#1971c2\" stroke-dasharray=\"4 3\" stroke-width=\"1.5\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#1971c2\" font-weight=\"bold\">{}</text></g>\n",
            escape(label),
            *at as f64 / 1e9,
            TOP - 4.0,
            TOP + plot_height,
            px + 2.0,
            TOP - 6.0,
            escape(label),
        );
    }
    svg += &x_ticks(&axis, LEFT, PLOT_WIDTH, TOP + plot_height);
    svg + "</svg>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at_ns: u64, change: ClusterChange) -> ClusterEvent {
        ClusterEvent { at_ns, change }
    }

    fn role(node: NodeId, role: &str, term: u64, wall_ns: u64) -> NodeEvent {
        NodeEvent { node, kind: NodeEventKind::Role, role: role.into(), term, wall_ns }
    }

    fn status(node: NodeId) -> ClusterChange {
        ClusterChange::Status { node, role: "follower".into(), term: 1, leader: Some(1), members: vec![1, 2] }
    }

    #[test]
    fn a_killed_leader_is_down_until_restarted_and_the_other_node_takes_over() {
        let cluster = [
            at(0, status(1)),
            at(0, status(2)),
            at(100, ClusterChange::Killed { node: 1 }),
            at(300, ClusterChange::Restarted { node: 1 }),
            at(400, ClusterChange::Cut { from: 2, to: 1 }),
            at(500, ClusterChange::Healed),
            at(600, ClusterChange::Joined { node: 3 }),
            at(650, status(3)),
            at(700, status(2)),
        ];
        let events = [
            role(1, "Leader", 1, 0),
            role(2, "Follower", 1, 0),
            role(2, "PreCandidate", 1, 150),
            role(2, "Leader", 2, 200),
            role(1, "Follower", 2, 350),
        ];
        let lanes = lanes(&cluster, &events);
        assert_eq!(lanes.nodes, [1, 2, 3]);
        let of = |node| -> Vec<(u64, u64, Shown)> {
            lanes.segments.iter().filter(|s| s.node == node).map(|s| (s.start_ns, s.end_ns, s.shown)).collect()
        };
        assert_eq!(
            of(1),
            [
                (0, 100, Shown::Leader),
                (100, 300, Shown::Down),
                (300, 350, Shown::Other),
                (350, 400, Shown::Follower),
                (400, 500, Shown::CutOff),
                (500, 700, Shown::Follower)
            ]
        );
        assert_eq!(
            of(2),
            [
                (0, 150, Shown::Follower),
                (150, 200, Shown::Candidate),
                (200, 400, Shown::Leader),
                (400, 500, Shown::CutOff),
                (500, 700, Shown::Leader)
            ]
        );
        assert_eq!(
            of(3),
            [(600, 650, Shown::Other), (650, 700, Shown::Follower)],
            "a joined node's lane starts when it joins"
        );
        assert_eq!(lanes.led, [(1, 0, 1), (2, 200, 2)]);
        assert_eq!(lanes.membership, [(600, "+3".to_string())]);
    }

    #[test]
    fn what_nodes_say_after_the_runner_stopped_looking_is_not_drawn() {
        let cluster = [at(0, status(1)), at(100, status(1))];
        let lanes = lanes(&cluster, &[role(1, "Leader", 2, 50), role(1, "Follower", 3, 5_000)]);
        assert_eq!(lanes.end_ns, 100);
        let shown: Vec<(u64, u64, Shown)> = lanes.segments.iter().map(|s| (s.start_ns, s.end_ns, s.shown)).collect();
        assert_eq!(shown, [(0, 50, Shown::Follower), (50, 100, Shown::Leader)]);
    }

    #[test]
    fn a_removed_node_s_lane_ends_and_the_change_is_marked() {
        let cluster =
            [at(0, status(1)), at(0, status(2)), at(100, ClusterChange::Removed { node: 2 }), at(200, status(1))];
        let lanes = lanes(&cluster, &[]);
        let of_2: Vec<(u64, u64)> =
            lanes.segments.iter().filter(|s| s.node == 2).map(|s| (s.start_ns, s.end_ns)).collect();
        assert_eq!(of_2, [(0, 100)]);
        assert_eq!(lanes.membership, [(100, "\u{2212}2".to_string())]);
    }

    #[test]
    fn an_unanswered_poll_shows_until_the_node_speaks_again() {
        let cluster =
            [at(0, status(1)), at(100, ClusterChange::NoAnswer { node: 1 }), at(200, status(1)), at(300, status(1))];
        let lanes = lanes(&cluster, &[]);
        let shown: Vec<Shown> = lanes.segments.iter().map(|s| s.shown).collect();
        assert_eq!(shown, [Shown::Follower, Shown::NoAnswer, Shown::Follower]);
    }
}
