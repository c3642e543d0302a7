//! Where the leader is, when the client's belief fails: every member's
//! status at once, and the leader of the highest term any of them reports.
//!
//! Pure: the client gathers the reports (see `Client::discover`); this
//! module decides what they say, so the rules are tested without a cluster.

/// A leader the client believes in, and the term it was seen leading (0 when
/// it was learned without one: a NOT_LEADER hint, an answered request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Known {
    pub address: String,
    pub term: u64,
}

/// One member's word on who leads, from its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Report {
    /// The member that answered.
    pub from: String,
    pub term: u64,
    /// It says it leads in `term`.
    pub leads: bool,
    /// The leader it follows in `term`, if it knows one.
    pub leader: Option<String>,
}

/// The leader the reports name: the leader of the highest term any of them
/// shows, by its own word or by a follower's in that term. None while that
/// term has no leader yet (an election under way). A leader named only by
/// its followers may be dead or frozen: a request sent there is refused at
/// once or, unanswered, watched until the members elect another, which is
/// as soon as any request could be served anyway.
pub(super) fn choose(reports: &[Report]) -> Option<Known> {
    let term = reports.iter().map(|r| r.term).max()?;
    let current = || reports.iter().filter(move |r| r.term == term);
    if let Some(own) = current().find(|r| r.leads) {
        return Some(Known { address: own.from.clone(), term });
    }
    current().find_map(|r| r.leader.as_deref()).map(|address| Known { address: address.to_string(), term })
}

/// Whether a round of status calls can be acted on before every member
/// answered: a majority of `members` did (their terms cover any leader
/// elected since: its voters are a majority too), and either they name a
/// leader or no silent member is worth waiting for (each suspected, or
/// already keeping one of the client's requests waiting).
pub(super) fn settled(answered: usize, members: usize, leader_named: bool, only_unresponsive_silent: bool) -> bool {
    answered >= members || (answered > members / 2 && (leader_named || only_unresponsive_silent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follower(from: &str, term: u64, leader: Option<&str>) -> Report {
        Report { from: from.into(), term, leads: false, leader: leader.map(str::to_owned) }
    }

    fn leader(from: &str, term: u64) -> Report {
        Report { from: from.into(), term, leads: true, leader: Some(from.into()) }
    }

    fn known(address: &str, term: u64) -> Option<Known> {
        Some(Known { address: address.into(), term })
    }

    #[test]
    fn the_highest_term_wins_over_a_leader_that_has_not_stepped_down() {
        // An isolated old leader still says it leads term 3; the others
        // elected b in term 4.
        let reports = [leader("a", 3), leader("b", 4), follower("c", 4, Some("b"))];
        assert_eq!(choose(&reports), known("b", 4));
    }

    #[test]
    fn a_follower_names_the_leader_that_did_not_answer() {
        let reports = [follower("b", 4, Some("a")), follower("c", 4, Some("a"))];
        assert_eq!(choose(&reports), known("a", 4));
    }

    #[test]
    fn no_leader_in_the_newest_term_is_none_even_if_an_older_term_had_one() {
        // b campaigns in term 5; c still follows a in term 4.
        let reports = [follower("b", 5, None), follower("c", 4, Some("a"))];
        assert_eq!(choose(&reports), None);
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn a_majority_that_names_a_leader_is_enough() {
        assert!(settled(2, 3, true, false));
        assert!(!settled(1, 3, true, false), "one of three is no majority");
        assert!(settled(3, 3, false, false), "all answered");
    }

    #[test]
    fn an_election_under_way_waits_for_the_rest_unless_only_unresponsive_ones_are_silent() {
        assert!(!settled(2, 3, false, false), "the third may say more");
        assert!(settled(2, 3, false, true), "the third is frozen: do not wait for it");
        assert!(!settled(2, 5, false, true), "two of five is no majority");
    }
}
