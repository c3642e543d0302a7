//! Majority arithmetic over a voter set.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::NodeId;

/// The largest value that a majority of voters have reached: the commit index
/// when `value_of` is each voter's match index. Zero for an empty set.
pub fn majority_value(voters: &BTreeSet<NodeId>, value_of: impl Fn(NodeId) -> u64) -> u64 {
    if voters.is_empty() {
        return 0;
    }
    let mut values: Vec<u64> = voters.iter().map(|&id| value_of(id)).collect();
    values.sort_unstable_by(|a, b| b.cmp(a));
    values[voters.len() / 2]
}

pub fn is_majority(voters: &BTreeSet<NodeId>, count: usize) -> bool {
    count > voters.len() / 2
}

#[derive(Debug, PartialEq, Eq)]
pub enum VoteResult {
    Won,
    Lost,
    Pending,
}

/// Tallies the votes received from voters; votes from non-voters do not count.
pub fn tally(voters: &BTreeSet<NodeId>, votes: &BTreeMap<NodeId, bool>) -> VoteResult {
    let granted = voters.iter().filter(|id| votes.get(id) == Some(&true)).count();
    let rejected = voters.iter().filter(|id| votes.get(id) == Some(&false)).count();
    if is_majority(voters, granted) {
        VoteResult::Won
    } else if is_majority(voters, voters.len() - rejected) {
        VoteResult::Pending
    } else {
        VoteResult::Lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, spelled out: the largest value v such that more than
    /// half of the voters have a value of at least v.
    fn naive_majority_value(values: &[u64]) -> u64 {
        let mut best = 0;
        for &candidate in values {
            let at_least = values.iter().filter(|&&v| v >= candidate).count();
            if at_least > values.len() / 2 {
                best = best.max(candidate);
            }
        }
        best
    }

    proptest! {
        #[test]
        fn majority_value_matches_the_definition(values in prop::collection::vec(0u64..20, 1..8)) {
            let voters: BTreeSet<NodeId> = (1..=values.len() as u64).collect();
            let got = majority_value(&voters, |id| values[id as usize - 1]);
            prop_assert_eq!(got, naive_majority_value(&values));
        }
    }

    #[test]
    fn tally_decides_as_soon_as_it_can() {
        let voters: BTreeSet<NodeId> = [1, 2, 3, 4, 5].into();
        let mut votes = BTreeMap::from([(1, true), (2, true)]);
        assert_eq!(tally(&voters, &votes), VoteResult::Pending);
        votes.insert(9, true);
        assert_eq!(tally(&voters, &votes), VoteResult::Pending, "a non-voter's vote does not count");
        votes.insert(3, true);
        assert_eq!(tally(&voters, &votes), VoteResult::Won);
        let votes = BTreeMap::from([(1, true), (2, false), (3, false), (4, false)]);
        assert_eq!(tally(&voters, &votes), VoteResult::Lost);
    }
}
