//! Rate limits for log lines that any client can cause (a refused caller, a request refused
//! while the store is down): one client sending thousands of bad requests a second must not
//! write thousands of lines a second. Counters in `/metrics` stay exact; only the lines thin out.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one line per period; the line that is let through reports how many were held back
/// since the previous one.
///
/// The period is measured with the monotonic clock ([`Instant`]): this decides only how often a
/// line is written, never anything about a token.
#[derive(Debug)]
pub(crate) struct LogLimit {
    period: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    /// One line per `period` at most.
    pub(crate) const fn new(period: Duration) -> Self {
        LogLimit {
            period,
            state: Mutex::new(State {
                last: None,
                suppressed: 0,
            }),
        }
    }

    /// One line per second at most.
    pub(crate) const fn per_second() -> Self {
        LogLimit::new(Duration::from_secs(1))
    }

    /// Whether a line may be written now: `Some(n)` with the number of lines held back since
    /// the last one written (write it with that count), `None` to stay quiet (it is counted).
    pub(crate) fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let due = state
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.period);
        if due {
            state.last = Some(now);
            Some(std::mem::take(&mut state.suppressed))
        } else {
            state.suppressed = state.suppressed.saturating_add(1);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_of_those_held_back() {
        let limit = LogLimit::per_second();
        let start = Instant::now();
        assert_eq!(limit.admit_at(start), Some(0), "the first line is written");
        for i in 1..=500 {
            let at = start + Duration::from_millis(i);
            assert_eq!(limit.admit_at(at), None, "{i} ms later: held back");
        }
        assert_eq!(
            limit.admit_at(start + Duration::from_secs(1)),
            Some(500),
            "a second later: written, with the count"
        );
        assert_eq!(limit.admit_at(start + Duration::from_millis(1500)), None);
        assert_eq!(limit.admit_at(start + Duration::from_secs(3)), Some(1));
    }
}
