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
/// term has no leader yet (an election under way), or when the only word
/// for its leader comes from others and the client suspects it (a frozen or
/// killed leader its followers have not given up on yet). A member that
/// answers that it leads is believed even when suspected: it answered.
pub(super) fn choose(reports: &[Report], suspect: impl Fn(&str) -> bool) -> Option<Known> {
    let term = reports.iter().map(|r| r.term).max()?;
    let current = || reports.iter().filter(move |r| r.term == term);
    if let Some(own) = current().find(|r| r.leads) {
        return Some(Known { address: own.from.clone(), term });
    }
    current()
        .filter_map(|r| r.leader.as_deref())
        .find(|leader| !suspect(leader))
        .map(|address| Known { address: address.to_string(), term })
}

/// Whether the reports gathered so far can be acted on without waiting for
/// the rest: all are in, or a majority of `members` answered (whose terms
/// cover any leader elected since: its voters are a majority too) and
/// either they name a leader or only suspects are still silent.
pub(super) fn settled(
    reports: &[Report],
    members: usize,
    silent: &[String],
    suspect: impl Fn(&str) -> bool + Copy,
) -> bool {
    if silent.is_empty() {
        return true;
    }
    reports.len() > members / 2 && (choose(reports, suspect).is_some() || silent.iter().all(|s| suspect(s)))
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

    const NONE_SUSPECT: fn(&str) -> bool = |_| false;

    #[test]
    fn the_highest_term_wins_over_a_leader_that_has_not_stepped_down() {
        // An isolated old leader still says it leads term 3; the others
        // elected b in term 4.
        let reports = [leader("a", 3), leader("b", 4), follower("c", 4, Some("b"))];
        assert_eq!(choose(&reports, NONE_SUSPECT), known("b", 4));
    }

    #[test]
    fn a_follower_names_the_leader_that_did_not_answer() {
        let reports = [follower("b", 4, Some("a")), follower("c", 4, Some("a"))];
        assert_eq!(choose(&reports, NONE_SUSPECT), known("a", 4));
        // ... unless the client suspects it: its followers have not noticed yet.
        assert_eq!(choose(&reports, |s| s == "a"), None);
    }

    #[test]
    fn a_suspect_that_answers_it_leads_is_believed() {
        assert_eq!(choose(&[leader("a", 4), follower("b", 4, Some("a"))], |s| s == "a"), known("a", 4));
    }

    #[test]
    fn no_leader_in_the_newest_term_is_none_even_if_an_older_term_had_one() {
        // b campaigns in term 5; c still follows a in term 4.
        let reports = [follower("b", 5, None), follower("c", 4, Some("a"))];
        assert_eq!(choose(&reports, NONE_SUSPECT), None);
        assert_eq!(choose(&[], NONE_SUSPECT), None);
    }

    #[test]
    fn a_majority_that_names_a_leader_is_enough() {
        let reports = [follower("b", 4, Some("c")), leader("c", 4)];
        let silent = ["a".to_string()];
        assert!(settled(&reports, 3, &silent, NONE_SUSPECT));
        assert!(!settled(&reports[..1], 3, &["a".into(), "c".into()], NONE_SUSPECT), "one of three is no majority");
    }

    #[test]
    fn an_election_under_way_waits_for_the_rest_unless_only_suspects_are_silent() {
        let reports = [follower("b", 5, None), follower("c", 5, None)];
        let silent = ["a".to_string()];
        assert!(!settled(&reports, 3, &silent, NONE_SUSPECT), "a may say more");
        assert!(settled(&reports, 3, &silent, |s| s == "a"), "a is frozen: do not wait for it");
        assert!(settled(&reports, 2, &[], NONE_SUSPECT), "all answered");
    }
}
