//! Waiting for the vRouter agent: poll with exponential backoff from 5 ms, each pause capped at
//! `poll-timeout`, the whole wait bounded by `poll-timeout x poll-retries`.
//!
//! Each pause is an eighth of the time waited so far (at least 5 ms): the number of polls grows
//! with the logarithm of the wait, and a port that becomes ready is noticed at most 12.5 % (or
//! 5 ms) late. Doubling pauses would notice it up to 100 % late.

use std::time::{Duration, Instant};

/// One look at the peer.
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the reason is reported if the budget runs out.
    NotYet(String),
}

/// The budget ran out; why the last look was not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut(pub String);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Time as the poll loop sees it (real, or simulated in tests).
pub trait Clock {
    fn elapsed(&self) -> Duration;
    fn sleep(&mut self, d: Duration);
}

struct RealClock(Instant);

impl Clock for RealClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// Call `f` until it is ready or `budget` has passed. Returns the last reason on timeout.
pub fn poll<T, E>(
    budget: Duration,
    max_pause: Duration,
    f: impl FnMut() -> Result<Poll<T>, E>,
) -> Result<Result<T, TimedOut>, E> {
    poll_with(&mut RealClock(Instant::now()), budget, max_pause, f)
}

pub fn poll_with<T, E>(
    clock: &mut dyn Clock,
    budget: Duration,
    max_pause: Duration,
    mut f: impl FnMut() -> Result<Poll<T>, E>,
) -> Result<Result<T, TimedOut>, E> {
    let first = Duration::from_millis(5);
    loop {
        let reason = match f()? {
            Poll::Ready(v) => return Ok(Ok(v)),
            Poll::NotYet(r) => r,
        };
        let elapsed = clock.elapsed();
        if elapsed >= budget {
            return Ok(Err(TimedOut(reason)));
        }
        let pause = (elapsed / 8).max(first).min(max_pause);
        clock.sleep(pause.min(budget - elapsed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Simulated time, readable by the polled closure too.
    #[derive(Default)]
    struct FakeClock {
        now: Rc<Cell<Duration>>,
        pauses: Vec<Duration>,
    }

    impl Clock for FakeClock {
        fn elapsed(&self) -> Duration {
            self.now.get()
        }
        fn sleep(&mut self, d: Duration) {
            self.pauses.push(d);
            self.now.set(self.now.get() + d);
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Poll something that becomes ready at `ready_at`; returns when it was seen.
    fn wait_for(
        clock: &mut FakeClock,
        ready_at: Duration,
        budget: Duration,
        cap: Duration,
    ) -> Result<Duration, TimedOut> {
        let now = Rc::clone(&clock.now);
        let r: Result<Result<Duration, TimedOut>, ()> = poll_with(clock, budget, cap, || {
            let t = now.get();
            Ok(if t >= ready_at {
                Poll::Ready(t)
            } else {
                Poll::NotYet("agent says 404".into())
            })
        });
        r.unwrap_or_else(|()| Err(TimedOut("error".into())))
    }

    #[test]
    fn backoff_starts_at_5ms_grows_with_the_wait_and_stops_at_the_cap() {
        let mut clock = FakeClock::default();
        let seen = wait_for(&mut clock, ms(20_000), ms(60_000), ms(300)).expect("ready");
        assert!(seen >= ms(20_000) && seen <= ms(20_300), "seen at {seen:?}");
        let p = &clock.pauses;
        assert_eq!(p[0], ms(5));
        assert!(
            p.windows(2).all(|w| w[1] >= w[0]),
            "pauses never shrink: {p:?}"
        );
        assert_eq!(p.iter().max(), Some(&ms(300)), "capped at poll-timeout");
        let mut waited = Duration::ZERO;
        for d in p {
            assert!(*d <= (waited / 8).max(ms(5)), "{d:?} after {waited:?}");
            waited += *d;
        }
        // Far fewer polls than a fixed 5 ms interval would need (4000).
        assert!(p.len() < 120, "{} polls", p.len());
    }

    #[test]
    fn a_port_ready_after_50ms_is_seen_within_7ms() {
        let mut clock = FakeClock::default();
        let seen = wait_for(&mut clock, ms(50), ms(60_000), ms(3_000)).expect("ready");
        assert!(seen >= ms(50) && seen <= ms(57), "seen at {seen:?}");
        let mut clock = FakeClock::default();
        let seen = wait_for(&mut clock, ms(2_000), ms(60_000), ms(3_000)).expect("ready");
        assert!(seen <= ms(2_250), "seen at {seen:?}");
    }

    #[test]
    fn budget_bounds_the_wait_and_keeps_the_reason() {
        let mut clock = FakeClock::default();
        assert_eq!(
            wait_for(&mut clock, ms(10_000), ms(100), ms(40)),
            Err(TimedOut("agent says 404".into()))
        );
        assert_eq!(clock.now.get(), ms(100), "never waits past the budget");
    }

    #[test]
    fn errors_stop_polling() {
        let r: Result<Result<(), TimedOut>, &str> = poll(ms(5_000), ms(1_000), || Err("fatal"));
        assert_eq!(r, Err("fatal"));
    }
}
