//! `killRatio` (DOMAIN.md §6, "stop the execution early once the share of failed
//! tickets exceeds the ratio"), judged the same way by every function.
//!
//! Only tickets whose fate is known count: failed / (succeeded + failed). Fates are
//! taken in the order the tickets were taken (their sequence number), never in the
//! order answers arrive, so the decision depends only on the tickets' fates: a
//! simulation, whose fates are known at once, reports exactly the decision the real
//! run makes once the wallet has answered. No decision is made before a minimum
//! sample (one full call of results, `ticketIterationSize`): one refused ticket among
//! the first three does not stop a run.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tixbridge_core::inject::should_kill;

use super::stop::{Stop, StopReason};

/// Where the judge stopped the run: after the first `after` tickets (in the order
/// taken), of which `failed` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillVerdict {
    pub after: u64,
    pub failed: u64,
}

/// The killRatio judge of one execution.
#[derive(Debug)]
pub struct KillJudge {
    ratio: f64,
    min_sample: u64,
    /// Sequence number of the first ticket not yet judged.
    base: u64,
    /// Fates known for tickets from `base` on (`Some(true)` = failed), waiting for the
    /// tickets before them.
    waiting: VecDeque<Option<bool>>,
    decided: u64,
    failed: u64,
    verdict: Option<KillVerdict>,
}

impl KillJudge {
    /// A judge for `ratio` (the `killRatio` parameter) deciding after at least
    /// `min_sample` fates (at least 1).
    pub fn new(ratio: f64, min_sample: u64) -> Self {
        Self {
            ratio,
            min_sample: min_sample.max(1),
            base: 0,
            waiting: VecDeque::new(),
            decided: 0,
            failed: 0,
            verdict: None,
        }
    }

    /// Records the fate of the ticket taken `seq`-th (from 0). Returns the verdict
    /// when this fate makes the share exceed the ratio, once.
    pub fn decide(&mut self, seq: u64, failed: bool) -> Option<KillVerdict> {
        if self.verdict.is_some() || seq < self.base {
            return None;
        }
        let i = usize::try_from(seq - self.base).unwrap_or(usize::MAX);
        if self.waiting.len() <= i {
            self.waiting.resize(i + 1, None);
        }
        self.waiting[i] = Some(failed);
        while let Some(Some(f)) = self.waiting.front().copied() {
            self.waiting.pop_front();
            self.base += 1;
            self.decided += 1;
            self.failed += u64::from(f);
            if self.decided >= self.min_sample && should_kill(self.ratio, self.failed, self.decided)
            {
                self.verdict = Some(KillVerdict {
                    after: self.decided,
                    failed: self.failed,
                });
                self.waiting.clear();
                return self.verdict;
            }
        }
        None
    }

    /// The verdict, once the run was stopped.
    pub fn verdict(&self) -> Option<KillVerdict> {
        self.verdict
    }
}

/// The judge shared by an execution's tasks (the one that builds, the one that applies
/// the wallet's answers): a verdict stops the execution.
#[derive(Clone)]
pub struct Judge {
    inner: Arc<Mutex<KillJudge>>,
    stop: Stop,
}

impl Judge {
    /// A judge for `ratio` after `min_sample` fates, stopping `stop` on its verdict.
    pub fn new(ratio: f64, min_sample: u64, stop: Stop) -> Self {
        Self {
            inner: Arc::new(Mutex::new(KillJudge::new(ratio, min_sample))),
            stop,
        }
    }

    /// Records fates (sequence number, failed) under one lock.
    pub fn fates(&self, fates: impl IntoIterator<Item = (u64, bool)>) {
        let mut j = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (seq, failed) in fates {
            if let Some(v) = j.decide(seq, failed) {
                self.stop.stop(StopReason::KillRatio(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_decision_before_the_minimum_sample() {
        let mut j = KillJudge::new(0.5, 50);
        assert_eq!(j.decide(0, true), None);
        for s in 1..3 {
            assert_eq!(j.decide(s, false), None);
        }
        // One refused among three never stops a run, whatever the ratio.
        let mut j = KillJudge::new(0.1, 3);
        assert_eq!(j.decide(0, true), None);
        assert_eq!(j.decide(1, false), None);
        assert_eq!(
            j.decide(2, false),
            Some(KillVerdict {
                after: 3,
                failed: 1
            })
        );
        let mut j = KillJudge::new(0.5, 50);
        for s in 0..3 {
            assert_eq!(j.decide(s, s == 1), None);
        }
    }

    #[test]
    fn fates_count_in_the_order_taken_not_the_order_known() {
        // Tickets 0..10 succeed, 10..20 fail; the failures are known first.
        fn verdict_of(mut order: impl Iterator<Item = u64>) -> Option<KillVerdict> {
            let mut j = KillJudge::new(0.3, 10);
            order.find_map(|s| j.decide(s, s >= 10))
        }
        let in_order = verdict_of(0..20);
        let failures_first = verdict_of((10..20).chain(0..10));
        assert_eq!(
            in_order,
            Some(KillVerdict {
                after: 15,
                failed: 5
            })
        );
        assert_eq!(failures_first, in_order);
    }

    #[test]
    fn the_default_ratio_never_stops() {
        let mut j = KillJudge::new(1.0, 1);
        assert!((0..100).all(|s| j.decide(s, true).is_none()));
        assert_eq!(j.verdict(), None);
    }
}
