//! The bank checker: transfers move money between a fixed set of accounts,
//! so every read of all the accounts must show the same total, and no
//! account may ever go negative.
//!
//! Histories have Jepsen's bank shape: `transfer` with `{from, to,
//! amount}` and `read` returning `{account: balance, ...}`. Each key is its
//! own bank (Jepsen's histories have none: one bank). A read is bad when
//! its balances do not add up to the total, when one is negative or null
//! (the account is missing), or, when the accounts are known, when it
//! names an account the bank does not have or lacks one it does. The total
//! is the one the workload started with when known; otherwise the one most
//! reads saw, and a read that differs is reported.
//!
//! Transfers are not judged: a transfer that failed or whose outcome is
//! unknown changes nothing a read may see apart from which totals are
//! right, and there is only one. They are shown beside a bad read as
//! context (those that overlapped it).

use std::collections::{BTreeMap, BTreeSet};

use history::{Event, Function};
use serde_json::Value;

use super::{CheckResult, Checker, Finding, Operation, Verdict, events_of, operations_by_key, plural};

const CHECKER: &str = "bank";

/// Findings kept in a result; the rest are counted.
const MAX_FINDINGS: usize = 100;

/// Transfers shown beside a bad read at most.
const MAX_CONTEXT: usize = 20;

/// The bank checker as a [`Checker`].
#[derive(Clone, Debug, Default)]
pub struct Bank {
    /// What every read must add up to; None: the total most reads saw.
    pub total: Option<i64>,
    /// The accounts every read must show, by name; None: not checked.
    pub accounts: Option<BTreeSet<String>>,
}

impl Checker for Bank {
    fn name(&self) -> &str {
        CHECKER
    }

    fn check(&self, history: &[Event]) -> CheckResult {
        check_bank(history, self)
    }
}

/// Checks the transfers and reads of `events` against `bank`.
pub fn check_bank(events: &[Event], bank: &Bank) -> CheckResult {
    let banking = |op: &Operation| matches!(op.f, Function::Transfer | Function::Read);
    let groups = match operations_by_key(CHECKER, events, banking) {
        Ok(groups) => groups,
        Err(unknown) => return unknown,
    };
    let mut findings = Vec::new();
    let mut violations = 0;
    let mut reads_checked = 0;
    let mut totals = BTreeSet::new();
    let mut transfers = 0;
    for (key, ops) in &groups {
        transfers += ops.iter().filter(|o| o.f == Function::Transfer).count();
        let reads = match balances(ops) {
            Ok(reads) => reads,
            Err(why) => return CheckResult::new(CHECKER, Verdict::Unknown, format!("key {key:?}: {why}"), vec![]),
        };
        let Some(total) = bank.total.or_else(|| most_common_total(&reads)) else { continue };
        totals.insert(total);
        reads_checked += reads.len();
        for read in &reads {
            for what in bad_read(read, total, bank) {
                violations += 1;
                if findings.len() < MAX_FINDINGS {
                    findings.push(Finding {
                        key: key.clone(),
                        what,
                        events: events_of(events, [read.op]),
                        context: events_of(events, overlapping_transfers(ops, read.op)),
                    });
                }
            }
        }
    }
    let how = if bank.total.is_some() { "the initial total" } else { "the total most reads saw" };
    if let Some(first) = findings.first() {
        let reason = format!("{} in {} reads; first: {}", plural(violations, "bad balance"), reads_checked, first.what);
        return CheckResult::invalid(CHECKER, reason, findings);
    }
    if reads_checked == 0 {
        let reason = "no read of the accounts completed, so nothing was checked".to_string();
        return CheckResult::new(CHECKER, Verdict::Unknown, reason, vec![]);
    }
    let totals: Vec<String> = totals.iter().map(i64::to_string).collect();
    let reason = format!(
        "{} of {} each saw {how} ({}) and no negative balance; {}",
        plural(reads_checked, "read"),
        plural(groups.len(), "bank"),
        totals.join(", "),
        plural(transfers, "transfer")
    );
    CheckResult::new(CHECKER, Verdict::Valid, reason, vec![])
}

/// A completed read with its balances by account (None: null).
struct Read<'a> {
    op: &'a Operation,
    balances: BTreeMap<String, Option<i64>>,
}

impl Read<'_> {
    /// The sum, when every balance is there.
    fn total(&self) -> Option<i64> {
        self.balances.values().try_fold(0i64, |sum, b| sum.checked_add((*b)?))
    }
}

/// The completed reads; a read that is not a map of integer balances is an
/// error: this is not a bank history.
fn balances(ops: &[Operation]) -> Result<Vec<Read<'_>>, String> {
    let completed = ops.iter().filter(|o| o.f == Function::Read && o.ret.is_some() && !o.failed);
    completed
        .map(|op| {
            let Value::Object(map) = &op.output else {
                return Err(format!("a read returned {}, which is not a map of balances by account", op.output));
            };
            let balances = map
                .iter()
                .map(|(account, balance)| match balance {
                    Value::Null => Ok((account.clone(), None)),
                    b => b
                        .as_i64()
                        .or_else(|| b.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18).map(|f| f as i64))
                        .map(|b| (account.clone(), Some(b)))
                        .ok_or_else(|| format!("account {account}'s balance {b} is not an integer")),
                })
                .collect::<Result<_, String>>()?;
            Ok(Read { op, balances })
        })
        .collect()
}

/// The total most complete reads saw (the first seen among equals).
fn most_common_total(reads: &[Read]) -> Option<i64> {
    let mut counts: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    for (i, total) in reads.iter().filter_map(|r| r.total()).enumerate() {
        counts.entry(total).or_insert((0, i)).0 += 1;
    }
    counts.into_iter().max_by_key(|(_, (count, first))| (*count, std::cmp::Reverse(*first))).map(|(t, _)| t)
}

/// What is wrong with one read.
fn bad_read(read: &Read, total: i64, bank: &Bank) -> Vec<String> {
    let mut found = Vec::new();
    for (account, balance) in &read.balances {
        match balance {
            None => found.push(format!("a read shows no balance for account {account}")),
            Some(b) if *b < 0 => found.push(format!("a read shows account {account} with a negative balance {b}")),
            Some(_) => {}
        }
    }
    if let Some(accounts) = &bank.accounts {
        for account in read.balances.keys().filter(|a| !accounts.contains(*a)) {
            found.push(format!("a read shows account {account}, which the bank does not have"));
        }
        for account in accounts.iter().filter(|a| !read.balances.contains_key(*a)) {
            found.push(format!("a read lacks account {account}"));
        }
    }
    if let Some(seen) = read.total()
        && seen != total
    {
        found.push(format!("a read's balances add up to {seen}, not {total}"));
    }
    found
}

/// The transfers that may have been under way while `read` was.
fn overlapping_transfers<'a>(ops: &'a [Operation], read: &Operation) -> Vec<&'a Operation> {
    let read_end = read.ret.unwrap_or(u64::MAX);
    ops.iter()
        .filter(|o| o.f == Function::Transfer && !o.failed)
        .filter(|o| o.call <= read_end && o.ret.is_none_or(|r| r >= read.call))
        .take(MAX_CONTEXT)
        .collect()
}
