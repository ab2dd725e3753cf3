//! The controllers' time source. Every wait and every "how long ago" in controller logic goes
//! through a [`Clock`], so the same controllers run live ([`TokioClock`]) and, for
//! `run --simulate` and tests, on virtual time ([`ManualClock`], or [`TokioClock`] under
//! tokio's paused time, which also moves kube-runtime's requeue timers).
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

/// A boxed, sendable future (the trait stays object-safe).
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Wall-clock time and waiting, injectable.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
    /// A future that completes once `d` has passed on this clock.
    fn sleep(&self, d: Duration) -> Sleep;
}

/// Real time through tokio: `now` is the wall time at creation plus tokio's elapsed time, so
/// under `tokio::time::pause()` both `now` and `sleep` are virtual and agree.
#[derive(Debug)]
pub struct TokioClock {
    start_wall: Timestamp,
    start: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::starting_at(Timestamp::now())
    }
}

impl TokioClock {
    /// A clock showing `start` now and moving with tokio's time from here (a simulation's
    /// fixed epoch, so two runs print the same times).
    pub fn starting_at(start: Timestamp) -> Self {
        TokioClock {
            start_wall: start,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.start.elapsed()).unwrap_or(SignedDuration::MAX);
        self.start_wall
            .checked_add(elapsed)
            .unwrap_or(self.start_wall)
    }

    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock that moves only when [`ManualClock::advance`] is called; sleepers wake when the
/// time they wait for is reached.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
    tick: watch::Sender<Timestamp>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(start),
            tick: watch::channel(start).0,
        }
    }

    /// Move the clock forward by `by`, waking every sleeper whose time has come.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
        *now = now.checked_add(by).unwrap_or(*now);
        self.tick.send_replace(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep(&self, d: Duration) -> Sleep {
        let until = self
            .now()
            .checked_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX);
        let mut rx = self.tick.subscribe();
        Box::pin(async move {
            // the sender lives as long as the clock; if it is gone, nothing will ever wake us
            let _ = rx.wait_for(|now| *now >= until).await;
        })
    }
}

/// `now - then`, or zero when `then` is in the future.
pub fn since(now: Timestamp, then: Timestamp) -> Duration {
    now.duration_since(then)
        .try_into()
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_sleeper_wakes_only_once_the_clock_reaches_its_time() {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let mut sleep = clock.sleep(Duration::from_secs(10));
        let poll = |s: &mut Sleep| {
            let waker = futures::task::noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            s.as_mut().poll(&mut cx).is_ready()
        };
        assert!(!poll(&mut sleep));
        clock.advance(Duration::from_secs(9));
        assert!(!poll(&mut sleep));
        clock.advance(Duration::from_secs(1));
        assert!(poll(&mut sleep));
        assert_eq!(
            since(clock.now(), Timestamp::UNIX_EPOCH),
            Duration::from_secs(10)
        );
    }
}
