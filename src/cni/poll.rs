//! Waiting for the vRouter agent: poll with exponential backoff from 5 ms, each pause capped at
//! `poll-timeout`, the whole wait bounded by `poll-timeout x poll-retries`.

use std::time::{Duration, Instant};

/// One look at the peer.
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the reason is reported if the budget runs out.
    NotYet(String),
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
) -> Result<Result<T, String>, E> {
    poll_with(&mut RealClock(Instant::now()), budget, max_pause, f)
}

pub fn poll_with<T, E>(
    clock: &mut dyn Clock,
    budget: Duration,
    max_pause: Duration,
    mut f: impl FnMut() -> Result<Poll<T>, E>,
) -> Result<Result<T, String>, E> {
    let mut pause = Duration::from_millis(5).min(max_pause);
    loop {
        let reason = match f()? {
            Poll::Ready(v) => return Ok(Ok(v)),
            Poll::NotYet(r) => r,
        };
        let elapsed = clock.elapsed();
        if elapsed >= budget {
            return Ok(Err(reason));
        }
        clock.sleep(pause.min(budget - elapsed));
        pause = (pause * 2).min(max_pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct FakeClock {
        now: Duration,
        pauses: Vec<Duration>,
    }

    impl Clock for FakeClock {
        fn elapsed(&self) -> Duration {
            self.now
        }
        fn sleep(&mut self, d: Duration) {
            self.pauses.push(d);
            self.now += d;
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_starts_at_5ms_and_doubles_up_to_the_cap() {
        let mut clock = FakeClock::default();
        let mut n = 0;
        let r: Result<Result<u32, String>, ()> = poll_with(&mut clock, ms(60_000), ms(30), || {
            n += 1;
            Ok(if n < 6 {
                Poll::NotYet("wait".into())
            } else {
                Poll::Ready(n)
            })
        });
        assert_eq!(r, Ok(Ok(6)));
        assert_eq!(clock.pauses, vec![ms(5), ms(10), ms(20), ms(30), ms(30)]);
    }

    #[test]
    fn budget_bounds_the_wait_and_keeps_the_reason() {
        let mut clock = FakeClock::default();
        let r: Result<Result<(), String>, ()> = poll_with(&mut clock, ms(100), ms(40), || {
            Ok(Poll::NotYet("agent says 404".into()))
        });
        assert_eq!(r, Ok(Err("agent says 404".into())));
        assert_eq!(clock.now, ms(100), "never waits past the budget");
    }

    #[test]
    fn errors_stop_polling() {
        let r: Result<Result<(), String>, &str> = poll(ms(5_000), ms(1_000), || Err("fatal"));
        assert_eq!(r, Err("fatal"));
    }
}
