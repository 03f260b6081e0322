//! A sliding replay window over `u64` counters.

/// Counters the window remembers below the highest one seen.
pub const REPLAY_WINDOW_SIZE: u64 = 128;

/// Why a counter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The counter was already accepted.
    #[error("counter {0} was already seen (replay)")]
    Replayed(u64),
    /// The counter is older than the window: it cannot be told from a replay.
    #[error("counter {counter} is older than the replay window (oldest accepted: {oldest})")]
    TooOld {
        /// The counter given.
        counter: u64,
        /// The oldest counter the window still accepts.
        oldest: u64,
    },
}

/// Accepts each counter at most once; counters may arrive out of order as long as they are
/// within [`REPLAY_WINDOW_SIZE`] of the highest counter seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest accepted counter, if any.
    highest: Option<u64>,
    /// Bit `i` set: counter `highest - i` was accepted.
    seen: u128,
}

impl ReplayWindow {
    /// An empty window: every counter is fresh.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest counter accepted so far.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// Whether `counter` would be accepted, without recording it.
    pub fn check(&self, counter: u64) -> Result<(), ReplayError> {
        let Some(h) = self.highest else {
            return Ok(());
        };
        if counter > h {
            return Ok(());
        }
        let back = h - counter;
        if back >= REPLAY_WINDOW_SIZE {
            return Err(ReplayError::TooOld {
                counter,
                oldest: h - (REPLAY_WINDOW_SIZE - 1),
            });
        }
        if self.seen & (1u128 << back) != 0 {
            return Err(ReplayError::Replayed(counter));
        }
        Ok(())
    }

    /// Records `counter` if it is fresh; refuses it otherwise and changes nothing.
    pub fn accept(&mut self, counter: u64) -> Result<(), ReplayError> {
        self.check(counter)?;
        match self.highest {
            Some(h) if counter <= h => {
                self.seen |= 1u128 << (h - counter);
            }
            Some(h) => {
                let shift = counter - h;
                self.seen = if shift >= REPLAY_WINDOW_SIZE {
                    0
                } else {
                    self.seen << shift
                };
                self.seen |= 1;
                self.highest = Some(counter);
            }
            None => {
                self.seen = 1;
                self.highest = Some(counter);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_edges() {
        let mut w = ReplayWindow::new();
        w.accept(200).unwrap();
        assert_eq!(w.accept(200), Err(ReplayError::Replayed(200)));
        w.accept(200 - 127).unwrap();
        assert_eq!(
            w.accept(200 - 128),
            Err(ReplayError::TooOld {
                counter: 72,
                oldest: 73
            })
        );
        w.accept(u64::MAX).unwrap();
        assert_eq!(w.accept(u64::MAX), Err(ReplayError::Replayed(u64::MAX)));
        assert!(matches!(w.accept(200), Err(ReplayError::TooOld { .. })));
        let mut z = ReplayWindow::new();
        z.accept(0).unwrap();
        assert_eq!(z.accept(0), Err(ReplayError::Replayed(0)));
    }
}
