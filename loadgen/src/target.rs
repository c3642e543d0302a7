//! `--target` as a user writes it:
//! - `etcd://HOST:PORT,HOST:PORT,...`: an etcd v3 cluster;
//! - `raft://HOST:PORT,...`: a raft-node cluster;
//! - `fake://[noop][?latency=2ms&stall_at=5s&stall=1s]`: the in-process
//!   target (`noop` answers at once and stores nothing, to measure loadgen
//!   itself; `stall_at`/`stall` freeze it once).

use std::time::Duration;

use crate::driver::FakeOptions;
use crate::workload::parse_duration;

#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Etcd(Vec<String>),
    Raft(Vec<String>),
    Fake(FakeOptions),
}

#[derive(Debug, thiserror::Error)]
#[error("--target {target:?}: {why}")]
pub struct TargetError {
    target: String,
    why: String,
}

impl std::str::FromStr for Target {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Target, TargetError> {
        let fail = |why: String| TargetError { target: text.into(), why };
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(fail("expected etcd://HOST:PORT,..., raft://HOST:PORT,... or fake://".into()));
        };
        let endpoints = || {
            let list: Vec<String> = rest.split(',').map(|e| e.trim().to_owned()).collect();
            match list
                .iter()
                .find(|e| e.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()))
            {
                Some(bad) => Err(fail(format!("{bad:?} is not HOST:PORT"))),
                None => Ok(list),
            }
        };
        match scheme {
            "etcd" => Ok(Target::Etcd(endpoints()?)),
            "raft" => Ok(Target::Raft(endpoints()?)),
            "fake" => fake(rest).map(Target::Fake).map_err(fail),
            other => Err(fail(format!("unknown scheme {other:?} (etcd, raft or fake)"))),
        }
    }
}

fn fake(rest: &str) -> Result<FakeOptions, String> {
    let (mode, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut options = FakeOptions { noop: mode == "noop", ..FakeOptions::default() };
    if !matches!(mode, "" | "noop") {
        return Err(format!("fake://{mode} is not known: use fake:// or fake://noop"));
    }
    let (mut stall_at, mut stall) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not name=value"))?;
        let d: Duration = parse_duration(value)?;
        match name {
            "latency" => options.latency = d,
            "stall_at" => stall_at = Some(d),
            "stall" => stall = Some(d),
            other => return Err(format!("unknown fake option {other:?} (latency, stall_at, stall)")),
        }
    }
    options.stall = match (stall_at, stall) {
        (None, None) => None,
        (Some(at), Some(length)) => Some((at, length)),
        _ => return Err("give stall_at and stall together".into()),
    };
    if options.noop && options != (FakeOptions { noop: true, ..FakeOptions::default() }) {
        return Err("fake://noop takes no options".into());
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Target, String> {
        text.parse::<Target>().map_err(|e| e.to_string())
    }

    #[test]
    fn targets_parse_and_mistakes_say_what_was_expected() {
        assert_eq!(
            parse("etcd://127.0.0.1:2379,127.0.0.2:2379").unwrap(),
            Target::Etcd(vec!["127.0.0.1:2379".into(), "127.0.0.2:2379".into()])
        );
        let ms = Duration::from_millis;
        assert_eq!(
            parse("fake://?latency=2ms&stall_at=5s&stall=1s").unwrap(),
            Target::Fake(FakeOptions { latency: ms(2), stall: Some((ms(5000), ms(1000))), noop: false })
        );
        assert_eq!(parse("fake://noop").unwrap(), Target::Fake(FakeOptions { noop: true, ..Default::default() }));
        assert!(parse("etcd://127.0.0.1").unwrap_err().contains("not HOST:PORT"));
        assert!(parse("127.0.0.1:2379").unwrap_err().contains("expected etcd://"));
        assert!(parse("zk://a:1").unwrap_err().contains("unknown scheme"));
        assert!(parse("fake://?stall=1s").unwrap_err().contains("together"));
        assert!(parse("fake://noop?latency=1ms").unwrap_err().contains("no options"));
    }
}
