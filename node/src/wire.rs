//! Conversions between the core's messages and their protobuf form.

use raft::{ConfChange, ConfState, Entry, Message, MessageBody, Payload, RejectHint, SnapshotMeta};

use crate::proto::raft as pb;
use crate::proto::raft::peer_message::Body;

/// A message from the wire that the core cannot take.
#[derive(Debug, thiserror::Error)]
#[error("malformed peer message: {0}")]
pub struct WireError(&'static str);

pub fn conf_to_pb(c: &ConfState) -> pb::ConfState {
    pb::ConfState {
        voters: c.voters.iter().copied().collect(),
        learners: c.learners.iter().copied().collect(),
        removed: c.removed.iter().copied().collect(),
    }
}

pub fn conf_from_pb(c: pb::ConfState) -> ConfState {
    ConfState {
        voters: c.voters.into_iter().collect(),
        learners: c.learners.into_iter().collect(),
        removed: c.removed.into_iter().collect(),
    }
}

pub fn change_to_pb(cc: &ConfChange) -> pb::ConfChange {
    use pb::conf_change::Kind;
    let (kind, nodes) = match cc {
        ConfChange::AddLearner(id) => (Kind::AddLearner, vec![*id]),
        ConfChange::Promote(id) => (Kind::Promote, vec![*id]),
        ConfChange::Remove(id) => (Kind::Remove, vec![*id]),
        ConfChange::Reset(voters) => (Kind::Reset, voters.iter().copied().collect()),
    };
    pb::ConfChange { kind: kind as i32, nodes }
}

pub fn change_from_pb(cc: pb::ConfChange) -> Result<ConfChange, WireError> {
    use pb::conf_change::Kind;
    let one = || cc.nodes.first().copied().ok_or(WireError("a membership change names no node"));
    Ok(match Kind::try_from(cc.kind).map_err(|_| WireError("unknown membership change"))? {
        Kind::AddLearner => ConfChange::AddLearner(one()?),
        Kind::Promote => ConfChange::Promote(one()?),
        Kind::Remove => ConfChange::Remove(one()?),
        Kind::Reset => ConfChange::Reset(cc.nodes.iter().copied().collect()),
    })
}

pub fn entry_to_pb(e: &Entry) -> pb::Entry {
    let payload = match &e.payload {
        Payload::Noop => pb::entry::Payload::Noop(true),
        Payload::Command(data) => pb::entry::Payload::Command(data.clone()),
        Payload::ConfChange(cc) => pb::entry::Payload::ConfChange(change_to_pb(cc)),
    };
    pb::Entry { index: e.index, term: e.term, payload: Some(payload) }
}

pub fn entry_from_pb(e: pb::Entry) -> Result<Entry, WireError> {
    let payload = match e.payload.ok_or(WireError("an entry without payload"))? {
        pb::entry::Payload::Noop(_) => Payload::Noop,
        pb::entry::Payload::Command(data) => Payload::Command(data),
        pb::entry::Payload::ConfChange(cc) => Payload::ConfChange(change_from_pb(cc)?),
    };
    Ok(Entry { index: e.index, term: e.term, payload })
}

fn meta_to_pb(m: &SnapshotMeta) -> pb::SnapshotMeta {
    pb::SnapshotMeta { index: m.index, term: m.term, conf: Some(conf_to_pb(&m.conf)) }
}

fn meta_from_pb(m: pb::SnapshotMeta) -> SnapshotMeta {
    SnapshotMeta { index: m.index, term: m.term, conf: conf_from_pb(m.conf.unwrap_or_default()) }
}

pub fn to_pb(m: &Message) -> pb::PeerMessage {
    let body = match &m.body {
        MessageBody::PreVote { last_index, last_term } => {
            Body::PreVote(pb::VoteRequest { last_index: *last_index, last_term: *last_term, transfer: false })
        }
        MessageBody::PreVoteResp { reject } => Body::PreVoteResp(pb::VoteResponse { reject: *reject }),
        MessageBody::Vote { last_index, last_term, transfer } => {
            Body::Vote(pb::VoteRequest { last_index: *last_index, last_term: *last_term, transfer: *transfer })
        }
        MessageBody::VoteResp { reject } => Body::VoteResp(pb::VoteResponse { reject: *reject }),
        MessageBody::Append { prev_index, prev_term, entries, commit } => Body::Append(pb::Append {
            prev_index: *prev_index,
            prev_term: *prev_term,
            entries: entries.iter().map(entry_to_pb).collect(),
            commit: *commit,
        }),
        MessageBody::AppendResp { index, reject } => Body::AppendResp(pb::AppendResponse {
            index: *index,
            reject: reject.is_some(),
            hint_index: reject.map_or(0, |h| h.index),
            hint_term: reject.map_or(0, |h| h.term),
        }),
        MessageBody::Heartbeat { commit, round } => Body::Heartbeat(pb::Heartbeat { commit: *commit, round: *round }),
        MessageBody::HeartbeatResp { round } => Body::HeartbeatResp(pb::HeartbeatResponse { round: *round }),
        MessageBody::SnapshotChunk { meta, total_len, offset, data } => Body::SnapshotChunk(pb::SnapshotChunk {
            meta: Some(meta_to_pb(meta)),
            total_len: *total_len,
            offset: *offset,
            data: data.clone(),
        }),
        MessageBody::SnapshotChunkResp { index, received } => {
            Body::SnapshotChunkResp(pb::SnapshotChunkResponse { index: *index, received: *received })
        }
        MessageBody::TimeoutNow => Body::TimeoutNow(pb::TimeoutNow {}),
        MessageBody::ReadIndex { ctx } => Body::ReadIndex(pb::ReadIndex { ctx: *ctx }),
        MessageBody::ReadIndexResp { ctx, index } => {
            Body::ReadIndexResp(pb::ReadIndexResponse { ctx: *ctx, served: index.is_some(), index: index.unwrap_or(0) })
        }
    };
    pb::PeerMessage { from: m.from, to: m.to, term: m.term, body: Some(body) }
}

pub fn from_pb(m: pb::PeerMessage) -> Result<Message, WireError> {
    let body = match m.body.ok_or(WireError("a message without body"))? {
        Body::PreVote(v) => MessageBody::PreVote { last_index: v.last_index, last_term: v.last_term },
        Body::PreVoteResp(v) => MessageBody::PreVoteResp { reject: v.reject },
        Body::Vote(v) => MessageBody::Vote { last_index: v.last_index, last_term: v.last_term, transfer: v.transfer },
        Body::VoteResp(v) => MessageBody::VoteResp { reject: v.reject },
        Body::Append(a) => MessageBody::Append {
            prev_index: a.prev_index,
            prev_term: a.prev_term,
            entries: a.entries.into_iter().map(entry_from_pb).collect::<Result<_, _>>()?,
            commit: a.commit,
        },
        Body::AppendResp(r) => MessageBody::AppendResp {
            index: r.index,
            reject: r.reject.then_some(RejectHint { index: r.hint_index, term: r.hint_term }),
        },
        Body::Heartbeat(h) => MessageBody::Heartbeat { commit: h.commit, round: h.round },
        Body::HeartbeatResp(h) => MessageBody::HeartbeatResp { round: h.round },
        Body::SnapshotChunk(c) => MessageBody::SnapshotChunk {
            meta: meta_from_pb(c.meta.ok_or(WireError("a snapshot chunk without metadata"))?),
            total_len: c.total_len,
            offset: c.offset,
            data: c.data,
        },
        Body::SnapshotChunkResp(r) => MessageBody::SnapshotChunkResp { index: r.index, received: r.received },
        Body::TimeoutNow(_) => MessageBody::TimeoutNow,
        Body::ReadIndex(r) => MessageBody::ReadIndex { ctx: r.ctx },
        Body::ReadIndexResp(r) => MessageBody::ReadIndexResp { ctx: r.ctx, index: r.served.then_some(r.index) },
    };
    Ok(Message { from: m.from, to: m.to, term: m.term, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn every_message_kind_survives_the_round_trip() {
        let meta = SnapshotMeta { index: 9, term: 3, conf: ConfState::with_voters([1, 2, 3]) };
        let entries = vec![
            Entry { index: 5, term: 2, payload: Payload::Noop },
            Entry { index: 6, term: 2, payload: Payload::Command(Bytes::from_static(b"cmd")) },
            Entry { index: 7, term: 2, payload: Payload::ConfChange(ConfChange::Reset([1, 4].into())) },
        ];
        let bodies = vec![
            MessageBody::PreVote { last_index: 4, last_term: 2 },
            MessageBody::PreVoteResp { reject: true },
            MessageBody::Vote { last_index: 4, last_term: 2, transfer: true },
            MessageBody::VoteResp { reject: false },
            MessageBody::Append { prev_index: 4, prev_term: 2, entries, commit: 3 },
            MessageBody::AppendResp { index: 4, reject: Some(RejectHint { index: 2, term: 1 }) },
            MessageBody::AppendResp { index: 7, reject: None },
            MessageBody::Heartbeat { commit: 3, round: 11 },
            MessageBody::HeartbeatResp { round: 11 },
            MessageBody::SnapshotChunk { meta, total_len: 10, offset: 4, data: Bytes::from_static(b"abc") },
            MessageBody::SnapshotChunkResp { index: 9, received: 7 },
            MessageBody::TimeoutNow,
            MessageBody::ReadIndex { ctx: 42 },
            MessageBody::ReadIndexResp { ctx: 42, index: Some(8) },
            MessageBody::ReadIndexResp { ctx: 43, index: None },
        ];
        for body in bodies {
            let m = Message { from: 1, to: 2, term: 5, body };
            assert_eq!(from_pb(to_pb(&m)).unwrap(), m);
        }
    }
}
