//! What happens to each packet of a shaped link, as tc netem decides it:
//! lost, copied, held for a delay (with jitter, which lets packets
//! overtake one another), sent at once ahead of the held ones (reorder),
//! or paced at a rate. Pure: the same seed and arrivals give the same
//! fates, so the rules are tested here without a kernel.

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A link's impairment; every part is optional (zero is off).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shaping {
    /// Added to every packet that is not lost (or sent at once by `reorder`).
    pub delay: Duration,
    /// The delay varies uniformly within `delay ± jitter`.
    pub jitter: Duration,
    /// Share of packets dropped, 0..=1.
    pub loss: f64,
    /// Share of packets sent twice, 0..=1.
    pub duplicate: f64,
    /// Share of packets sent at once while the others wait out `delay`,
    /// 0..=1 (as netem's `reorder`, which needs a delay).
    pub reorder: f64,
    /// Bytes per second the link carries; packets queue behind one another.
    pub rate: Option<u64>,
}

/// What becomes of one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Drop,
    /// Let through at `at` (time since the shaper started), and with `copy`
    /// a second time just after.
    Pass {
        at: Duration,
        copy: bool,
        overtakes: bool,
    },
}

pub struct Netem {
    shaping: Shaping,
    rng: ChaCha8Rng,
    /// When the paced link has sent all it holds.
    link_free_at: Duration,
}

impl Netem {
    pub fn new(shaping: Shaping, seed: u64) -> Netem {
        Netem { shaping, rng: ChaCha8Rng::seed_from_u64(seed), link_free_at: Duration::ZERO }
    }

    pub fn fate(&mut self, now: Duration, len: usize) -> Fate {
        let s = &self.shaping;
        if s.loss > 0.0 && self.rng.random_bool(s.loss.min(1.0)) {
            return Fate::Drop;
        }
        let copy = s.duplicate > 0.0 && self.rng.random_bool(s.duplicate.min(1.0));
        let overtakes = s.reorder > 0.0 && !s.delay.is_zero() && self.rng.random_bool(s.reorder.min(1.0));
        let mut at = now;
        if !overtakes && !s.delay.is_zero() {
            let jitter = s.jitter.min(s.delay);
            let spread = if jitter.is_zero() { 0 } else { self.rng.random_range(0..=2 * jitter.as_nanos() as u64) };
            at += s.delay - jitter + Duration::from_nanos(spread);
        }
        if let Some(rate) = s.rate.filter(|&r| r > 0) {
            let start = at.max(self.link_free_at);
            self.link_free_at = start + Duration::from_nanos(len as u64 * 1_000_000_000 / rate);
            at = self.link_free_at;
        }
        Fate::Pass { at, copy, overtakes }
    }
}

/// Rewrites the TCP checksum of an IPv4 packet (a copy sent from a raw
/// socket is checked by its receiver, whatever offload the original had).
/// Leaves other packets alone.
pub fn fix_tcp_checksum(packet: &mut [u8]) {
    if packet.len() < 20 || packet[0] >> 4 != 4 || packet[9] != 6 {
        return;
    }
    let header = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]])).min(packet.len());
    if total < header + 20 {
        return;
    }
    let segment_len = total - header;
    packet[header + 16] = 0;
    packet[header + 17] = 0;
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        }
    };
    add(&packet[12..20]);
    add(&[0, 6]);
    add(&(segment_len as u16).to_be_bytes());
    add(&packet[header..total]);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let checksum = !(sum as u16);
    packet[header + 16..header + 18].copy_from_slice(&checksum.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fates of `n` packets of 100 B, one a millisecond.
    fn fates(shaping: Shaping, n: usize) -> Vec<Fate> {
        let mut netem = Netem::new(shaping, 7);
        (0..n).map(|i| netem.fate(Duration::from_millis(i as u64), 100)).collect()
    }

    fn share(fates: &[Fate], pick: impl Fn(&Fate) -> bool) -> f64 {
        fates.iter().filter(|f| pick(f)).count() as f64 / fates.len() as f64
    }

    #[test]
    fn loss_and_duplication_hit_their_shares_and_nothing_else_changes() {
        let lossy = fates(Shaping { loss: 0.2, ..Shaping::default() }, 10_000);
        assert!((share(&lossy, |f| *f == Fate::Drop) - 0.2).abs() < 0.02);
        assert!(lossy.iter().enumerate().all(|(i, f)| match f {
            Fate::Pass { at, copy, overtakes } => *at == Duration::from_millis(i as u64) && !copy && !overtakes,
            Fate::Drop => true,
        }));
        let doubled = fates(Shaping { duplicate: 0.3, ..Shaping::default() }, 10_000);
        assert!((share(&doubled, |f| matches!(f, Fate::Pass { copy: true, .. })) - 0.3).abs() < 0.02);
        assert_eq!(share(&doubled, |f| *f == Fate::Drop), 0.0);
    }

    #[test]
    fn a_delay_holds_every_packet_within_its_jitter() {
        let delay = Duration::from_millis(50);
        let jitter = Duration::from_millis(10);
        let held = fates(Shaping { delay, jitter, ..Shaping::default() }, 1000);
        let waits: Vec<Duration> = held
            .iter()
            .enumerate()
            .map(|(i, f)| match f {
                Fate::Pass { at, .. } => *at - Duration::from_millis(i as u64),
                Fate::Drop => panic!("nothing is lost"),
            })
            .collect();
        assert!(waits.iter().all(|w| (delay - jitter..=delay + jitter).contains(w)), "{waits:?}");
        assert!(waits.iter().any(|w| *w < delay - jitter / 2) && waits.iter().any(|w| *w > delay + jitter / 2));
    }

    #[test]
    fn reordering_sends_its_share_at_once_ahead_of_the_held_ones() {
        let delay = Duration::from_millis(20);
        let reordered = fates(Shaping { delay, reorder: 0.25, ..Shaping::default() }, 4000);
        let at_once = share(&reordered, |f| matches!(f, Fate::Pass { overtakes: true, .. }));
        assert!((at_once - 0.25).abs() < 0.03, "{at_once}");
        for (i, f) in reordered.iter().enumerate() {
            let Fate::Pass { at, overtakes, .. } = f else { panic!("nothing is lost") };
            let wait = *at - Duration::from_millis(i as u64);
            assert_eq!(wait, if *overtakes { Duration::ZERO } else { delay });
        }
    }

    #[test]
    fn a_rate_paces_packets_one_behind_another() {
        // 1000 B/s, 100 B packets arriving every millisecond: one leaves
        // every 100 ms, in order.
        let paced = fates(Shaping { rate: Some(1000), ..Shaping::default() }, 50);
        let leaves: Vec<Duration> =
            paced.iter().map(|f| if let Fate::Pass { at, .. } = f { *at } else { panic!() }).collect();
        assert_eq!(leaves[0], Duration::from_millis(100));
        assert!(leaves.windows(2).all(|w| w[1] - w[0] == Duration::from_millis(100)));
    }

    #[test]
    fn the_same_seed_gives_the_same_fates() {
        let shaping = Shaping {
            loss: 0.1,
            duplicate: 0.1,
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(5),
            ..Shaping::default()
        };
        assert_eq!(fates(shaping.clone(), 500), fates(shaping, 500));
    }

    #[test]
    fn the_tcp_checksum_is_the_internet_checksum_over_the_pseudo_header() {
        // A SYN from 127.0.0.1:40000 to 127.0.0.2:7000, checksum zeroed;
        // its right checksum makes the one's-complement sum of the pseudo
        // header and segment come to 0xffff.
        let mut packet = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2, // IPv4
            0x9c, 0x40, 0x1b, 0x58, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0xaa, 0xbb, 0, 0, // TCP
        ];
        fix_tcp_checksum(&mut packet);
        let mut sum: u32 = 0;
        for pair in packet[12..20].chunks(2).chain(packet[20..].chunks(2)) {
            sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
        sum += 6 + 20;
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
        let mut udp = packet.clone();
        udp[9] = 17;
        let before = udp.clone();
        fix_tcp_checksum(&mut udp);
        assert_eq!(udp, before, "only TCP is touched");
    }
}
