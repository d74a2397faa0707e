//! The connection state machine shared by publisher and player, and the reconnect backoff.
//! Pure logic, tested natively.

pub use rtc_protocol::MediaState;

/// Whether `from → to` is an allowed move. `ended` is final; `failed` can be left only by
/// connecting again.
pub fn can_transition(from: MediaState, to: MediaState) -> bool {
    use MediaState::{Connecting, Ended, Failed, Idle, Live, Reconnecting};
    match (from, to) {
        _ if from == to => false,
        (Ended, _) => false,
        (_, Ended | Failed) => true,
        (Idle | Failed, Connecting) => true,
        (Connecting, Live | Reconnecting) => true,
        (Live, Reconnecting) => true,
        (Reconnecting, Connecting | Live) => true,
        _ => false,
    }
}

/// The name JavaScript sees (`"live"`, …), the same as on the agent socket.
pub const fn state_name(state: MediaState) -> &'static str {
    match state {
        MediaState::Idle => "idle",
        MediaState::Connecting => "connecting",
        MediaState::Live => "live",
        MediaState::Reconnecting => "reconnecting",
        MediaState::Ended => "ended",
        MediaState::Failed => "failed",
    }
}

/// Reconnection policy, the `reconnect` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectOptions {
    /// Reconnect at all.
    pub enabled: bool,
    /// Attempts before giving up; 0 means forever.
    pub max_attempts: u32,
    /// First delay; doubles each attempt.
    pub base_delay_ms: u32,
    /// Ceiling for the delay.
    pub max_delay_ms: u32,
}

impl Default for ReconnectOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            max_attempts: 0,
            base_delay_ms: 500,
            max_delay_ms: 10_000,
        }
    }
}

/// Exponential backoff over [`ReconnectOptions`].
#[derive(Debug, Clone)]
pub struct Backoff {
    options: ReconnectOptions,
    attempt: u32,
}

impl Backoff {
    /// Starts at attempt zero.
    pub fn new(options: ReconnectOptions) -> Self {
        Self {
            options,
            attempt: 0,
        }
    }

    /// Attempts made since the last success.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Delay before the next attempt, or `None` when the policy says stop. A server's
    /// `Retry-After` is honoured as a lower bound.
    pub fn next_delay(&mut self, retry_after_ms: Option<u32>) -> Option<u32> {
        let o = self.options;
        if !o.enabled || (o.max_attempts > 0 && self.attempt >= o.max_attempts) {
            return None;
        }
        let exp = o
            .base_delay_ms
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(o.max_delay_ms);
        self.attempt += 1;
        Some(exp.max(retry_after_ms.unwrap_or(0)))
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MediaState::*;

    #[test]
    fn transitions_follow_the_table() {
        assert!(can_transition(Idle, Connecting));
        assert!(can_transition(Connecting, Live));
        assert!(can_transition(Live, Reconnecting));
        assert!(can_transition(Reconnecting, Live));
        assert!(can_transition(Failed, Connecting));
        assert!(can_transition(Live, Ended));
        assert!(!can_transition(Idle, Live));
        assert!(!can_transition(Ended, Connecting));
        assert!(!can_transition(Live, Live));
        assert!(!can_transition(Live, Connecting));
    }

    #[test]
    fn backoff_doubles_caps_and_stops() {
        let mut b = Backoff::new(ReconnectOptions {
            enabled: true,
            max_attempts: 5,
            base_delay_ms: 100,
            max_delay_ms: 500,
        });
        let delays: Vec<_> = std::iter::from_fn(|| b.next_delay(None)).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_delay(Some(2000)), Some(2000));
        let mut off = Backoff::new(ReconnectOptions {
            enabled: false,
            ..Default::default()
        });
        assert_eq!(off.next_delay(None), None);
    }
}
