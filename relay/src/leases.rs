//! Who publishes which stream, and the WHIP/WHEP sessions clients hold through the relay.
//!
//! One state machine owns both, with no IO and no locks of its own: callers feed it
//! [`Input`]s under one mutex and carry out the [`Action`]s it returns after releasing it
//! (send a message, hand the uplink to an agent, DELETE an upstream session). Keeping every
//! decision here is what makes them testable without sockets and free of lock-order bugs.
//!
//! Rules:
//! - Each stream's publish lease goes to one candidate agent: the one that served it before a
//!   reconnect (its `resume` list), else the first connected. A holder that leaves or releases
//!   hands the lease to the next candidate; an agent that released a stream is not offered it
//!   again.
//! - A *fallback* candidate (the pack's headless browser, standing in when no tab is open) is
//!   chosen only when no other candidate may take the stream. When another candidate joins,
//!   every stream a fallback holds moves to it: the fallback gets `stop`, the newcomer the
//!   grant, so a tab always wins over the headless browser.
//! - Every grant carries a fresh lease id. Only a WHIP offer that presents the current lease id
//!   is accepted, so an agent whose lease moved (its socket dropped and the relay gave the
//!   stream to another tab) can never take the publisher back; when it says `hello` again it
//!   is told to stop the streams it no longer holds.
//! - Each offer gets its own session, acted on only through its own id. The holder's new WHIP
//!   session replaces its previous one (which is then deleted upstream) and never touches the
//!   viewers; WHEP sessions are independent, at most [`MAX_VIEWERS`] per stream.

use std::collections::HashSet;

/// WHEP sessions per stream, the Daydream gateway's limit (it answers 429 to the sixth).
pub const MAX_VIEWERS: usize = 5;

/// WHIP or WHEP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Ingest.
    Whip,
    /// Egress.
    Whep,
}

impl Kind {
    /// `whip` or `whep`, as in the routes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whip => "whip",
            Self::Whep => "whep",
        }
    }
}

/// A session a client opened through the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The relay's id for it (the last segment of its `Location`).
    pub id: String,
    /// The upstream session URL (its `Location` at the media server).
    pub upstream: String,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// An agent said `hello`.
    AgentJoined {
        /// Its id.
        agent: String,
        /// Whether it may publish.
        candidate: bool,
        /// Whether it publishes only when no other candidate can.
        fallback: bool,
        /// Streams it served before reconnecting.
        resume: Vec<String>,
    },
    /// An agent's socket closed or it stopped answering.
    AgentLeft {
        /// Its id.
        agent: String,
    },
    /// An agent gave a lease back.
    Released {
        /// Its id.
        agent: String,
        /// The stream.
        stream: String,
    },
    /// A stream was created.
    StreamAdded {
        /// Its id.
        stream: String,
        /// Whether its playback URL is already known.
        playback_known: bool,
    },
    /// The stream's playback URL became known.
    PlaybackKnown {
        /// Its id.
        stream: String,
    },
    /// The stream is being deleted: nobody publishes it any more.
    StreamStopping {
        /// Its id.
        stream: String,
        /// Why, for the agent.
        reason: String,
    },
    /// The stream is gone.
    StreamRemoved {
        /// Its id.
        stream: String,
    },
    /// The media server accepted an offer.
    SessionOpened {
        /// The stream.
        stream: String,
        /// WHIP or WHEP.
        kind: Kind,
        /// The new session.
        session: Session,
    },
    /// A client ended its session.
    SessionClosed {
        /// The stream.
        stream: String,
        /// WHIP or WHEP.
        kind: Kind,
        /// The relay's session id.
        session: String,
    },
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `publish` to the agent and give it the stream's uplink.
    Grant {
        /// The agent.
        agent: String,
        /// The stream.
        stream: String,
        /// The lease id its WHIP offers must present.
        lease: String,
        /// Also send `play` (the playback URL is known).
        play: bool,
    },
    /// Send `play` to the agent.
    Play {
        /// The agent.
        agent: String,
        /// The stream.
        stream: String,
    },
    /// Send `stop` to the agent.
    Stop {
        /// The agent.
        agent: String,
        /// The stream.
        stream: String,
        /// Why.
        reason: String,
    },
    /// Nobody holds the stream's lease now: detach its uplink and drop the pending frame.
    Unassigned {
        /// The stream.
        stream: String,
    },
    /// DELETE this upstream session.
    DeleteUpstream {
        /// The upstream session URL.
        upstream: String,
    },
}

/// Why a WHIP offer is refused before it reaches the media server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The stream is unknown or being deleted.
    NoStream,
    /// The offer did not present the current lease id.
    NotLeaseHolder,
}

#[derive(Debug)]
struct Agent {
    id: String,
    candidate: bool,
    fallback: bool,
    resume: Vec<String>,
    released: HashSet<String>,
}

#[derive(Debug)]
struct Holder {
    agent: String,
    lease: String,
}

#[derive(Debug)]
struct Stream {
    id: String,
    playback_known: bool,
    stopping: bool,
    holder: Option<Holder>,
    whip: Option<Session>,
    whep: Vec<Session>,
}

/// The lease and session state of every stream.
#[derive(Debug, Default)]
pub struct Leases {
    agents: Vec<Agent>,
    streams: Vec<Stream>,
    grants: u64,
}

impl Leases {
    /// Applies one input; returns what the caller must do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::AgentJoined {
                agent,
                candidate,
                fallback,
                resume,
            } => self.agent_joined(agent, candidate, fallback, resume, &mut out),
            Input::AgentLeft { agent } => {
                self.agents.retain(|a| a.id != agent);
                for index in self.held_by_index(&agent) {
                    self.unassign(index, &mut out);
                    self.assign(index, &mut out);
                }
            }
            Input::Released { agent, stream } => {
                if let Some(a) = self.agents.iter_mut().find(|a| a.id == agent) {
                    a.released.insert(stream.clone());
                }
                if let Some(index) = self.index(&stream)
                    && self.holder_of(index) == Some(agent.as_str())
                {
                    self.unassign(index, &mut out);
                    self.assign(index, &mut out);
                }
            }
            Input::StreamAdded {
                stream,
                playback_known,
            } => {
                if self.index(&stream).is_none() {
                    self.streams.push(Stream {
                        id: stream,
                        playback_known,
                        stopping: false,
                        holder: None,
                        whip: None,
                        whep: Vec::new(),
                    });
                    self.assign(self.streams.len() - 1, &mut out);
                }
            }
            Input::PlaybackKnown { stream } => {
                if let Some(index) = self.index(&stream) {
                    let s = &mut self.streams[index];
                    s.playback_known = true;
                    if let Some(holder) = &s.holder {
                        out.push(Action::Play {
                            agent: holder.agent.clone(),
                            stream,
                        });
                    }
                }
            }
            Input::StreamStopping { stream, reason } => {
                if let Some(index) = self.index(&stream) {
                    self.streams[index].stopping = true;
                    if let Some(holder) = &self.streams[index].holder {
                        out.push(Action::Stop {
                            agent: holder.agent.clone(),
                            stream,
                            reason,
                        });
                    }
                    self.unassign(index, &mut out);
                }
            }
            Input::StreamRemoved { stream } => {
                if let Some(index) = self.index(&stream) {
                    let s = self.streams.remove(index);
                    for session in s.whip.into_iter().chain(s.whep) {
                        out.push(Action::DeleteUpstream {
                            upstream: session.upstream,
                        });
                    }
                }
                for agent in &mut self.agents {
                    agent.released.remove(&stream);
                    agent.resume.retain(|id| id != &stream);
                }
            }
            Input::SessionOpened {
                stream,
                kind,
                session,
            } => match self.index(&stream) {
                Some(index) => {
                    let s = &mut self.streams[index];
                    match kind {
                        Kind::Whip => {
                            if let Some(old) = s.whip.replace(session) {
                                out.push(Action::DeleteUpstream {
                                    upstream: old.upstream,
                                });
                            }
                        }
                        Kind::Whep => {
                            // The media server accepted one more than we know of, so it let a
                            // session we still list go; forget the oldest to stay in step.
                            if s.whep.len() >= MAX_VIEWERS {
                                s.whep.remove(0);
                            }
                            s.whep.push(session);
                        }
                    }
                }
                // The stream went away while the offer was in flight.
                None => out.push(Action::DeleteUpstream {
                    upstream: session.upstream,
                }),
            },
            Input::SessionClosed {
                stream,
                kind,
                session,
            } => {
                if let Some(closed) = self.take_session(&stream, kind, &session) {
                    out.push(Action::DeleteUpstream {
                        upstream: closed.upstream,
                    });
                }
            }
        }
        out
    }

    /// The agent holding `stream`'s lease.
    pub fn holder(&self, stream: &str) -> Option<&str> {
        self.index(stream).and_then(|i| self.holder_of(i))
    }

    /// Whether `stream`'s lease is held by a fallback agent.
    pub fn held_by_fallback(&self, stream: &str) -> bool {
        self.holder(stream)
            .is_some_and(|holder| self.agents.iter().any(|a| a.id == holder && a.fallback))
    }

    /// The streams `agent` holds.
    pub fn held_by(&self, agent: &str) -> Vec<String> {
        self.streams
            .iter()
            .filter(|s| s.holder.as_ref().is_some_and(|h| h.agent == agent))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Whether a WHIP offer presenting `lease` may publish `stream`.
    pub fn authorize_whip(&self, stream: &str, lease: Option<&str>) -> Result<(), Refusal> {
        let s = self
            .index(stream)
            .map(|i| &self.streams[i])
            .filter(|s| !s.stopping)
            .ok_or(Refusal::NoStream)?;
        match (&s.holder, lease) {
            (Some(holder), Some(lease)) if holder.lease == lease => Ok(()),
            _ => Err(Refusal::NotLeaseHolder),
        }
    }

    /// The upstream URL of one of `stream`'s sessions.
    pub fn session(&self, stream: &str, kind: Kind, session: &str) -> Option<&Session> {
        let s = &self.streams[self.index(stream)?];
        match kind {
            Kind::Whip => s.whip.as_ref().filter(|w| w.id == session),
            Kind::Whep => s.whep.iter().find(|w| w.id == session),
        }
    }

    /// Number of WHEP sessions open on `stream`.
    pub fn viewers(&self, stream: &str) -> usize {
        self.index(stream).map_or(0, |i| self.streams[i].whep.len())
    }

    fn index(&self, stream: &str) -> Option<usize> {
        self.streams.iter().position(|s| s.id == stream)
    }

    fn holder_of(&self, index: usize) -> Option<&str> {
        self.streams[index]
            .holder
            .as_ref()
            .map(|h| h.agent.as_str())
    }

    fn held_by_index(&self, agent: &str) -> Vec<usize> {
        (0..self.streams.len())
            .filter(|&i| self.holder_of(i) == Some(agent))
            .collect()
    }

    fn take_session(&mut self, stream: &str, kind: Kind, session: &str) -> Option<Session> {
        let index = self.index(stream)?;
        let s = &mut self.streams[index];
        match kind {
            Kind::Whip => s.whip.take_if(|w| w.id == session),
            Kind::Whep => {
                let position = s.whep.iter().position(|w| w.id == session)?;
                Some(s.whep.remove(position))
            }
        }
    }

    fn agent_joined(
        &mut self,
        agent: String,
        candidate: bool,
        fallback: bool,
        resume: Vec<String>,
        out: &mut Vec<Action>,
    ) {
        // Streams it served before a socket drop but no longer holds: another agent took
        // them (or the relay forgot them after a restart). Its publisher must stop, or two
        // tabs would fight over the stream.
        for stream in &resume {
            let reason = match self.index(stream) {
                None => "the relay does not know this stream (it was restarted)",
                Some(i) => match self.holder_of(i) {
                    Some(_) => "another agent publishes this stream now",
                    None => continue,
                },
            };
            out.push(Action::Stop {
                agent: agent.clone(),
                stream: stream.clone(),
                reason: reason.to_owned(),
            });
        }
        if candidate && !fallback {
            // A tab joined: it takes over what the headless browser stood in for.
            for index in 0..self.streams.len() {
                let stream = &self.streams[index];
                if !stream.stopping && self.held_by_fallback(&stream.id) {
                    let holder = self.holder_of(index).unwrap_or_default().to_owned();
                    out.push(Action::Stop {
                        agent: holder,
                        stream: stream.id.clone(),
                        reason: "a browser tab publishes this stream now".to_owned(),
                    });
                    self.unassign(index, out);
                }
            }
        }
        self.agents.push(Agent {
            id: agent,
            candidate,
            fallback,
            resume,
            released: HashSet::new(),
        });
        for index in 0..self.streams.len() {
            self.assign(index, out);
        }
    }

    fn unassign(&mut self, index: usize, out: &mut Vec<Action>) {
        if self.streams[index].holder.take().is_some() {
            out.push(Action::Unassigned {
                stream: self.streams[index].id.clone(),
            });
        }
    }

    /// Gives the stream's lease to a candidate if nobody holds it: one that served it before,
    /// else the first connected, fallbacks only when no other candidate is left.
    fn assign(&mut self, index: usize, out: &mut Vec<Action>) {
        let s = &self.streams[index];
        if s.stopping || s.holder.is_some() {
            return;
        }
        let pick = |fallback: bool| {
            let eligible =
                |a: &&Agent| a.candidate && a.fallback == fallback && !a.released.contains(&s.id);
            self.agents
                .iter()
                .filter(eligible)
                .find(|a| a.resume.contains(&s.id))
                .or_else(|| self.agents.iter().find(eligible))
        };
        let Some(agent) = pick(false).or_else(|| pick(true)) else {
            return;
        };
        let agent = agent.id.clone();
        self.grants += 1;
        let lease = format!("lse_{}", self.grants);
        let s = &mut self.streams[index];
        s.holder = Some(Holder {
            agent: agent.clone(),
            lease: lease.clone(),
        });
        out.push(Action::Grant {
            agent,
            stream: s.id.clone(),
            lease,
            play: s.playback_known,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(agent: &str, resume: &[&str]) -> Input {
        Input::AgentJoined {
            agent: agent.into(),
            candidate: true,
            fallback: false,
            resume: resume.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn fallback_joined(agent: &str, resume: &[&str]) -> Input {
        Input::AgentJoined {
            agent: agent.into(),
            candidate: true,
            fallback: true,
            resume: resume.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn added(stream: &str) -> Input {
        Input::StreamAdded {
            stream: stream.into(),
            playback_known: false,
        }
    }

    fn session(id: &str) -> Session {
        Session {
            id: id.into(),
            upstream: format!("http://up/{id}"),
        }
    }

    fn opened(stream: &str, kind: Kind, id: &str) -> Input {
        Input::SessionOpened {
            stream: stream.into(),
            kind,
            session: session(id),
        }
    }

    fn granted_lease(actions: &[Action]) -> String {
        actions
            .iter()
            .find_map(|a| match a {
                Action::Grant { lease, .. } => Some(lease.clone()),
                _ => None,
            })
            .expect("a grant")
    }

    #[test]
    fn first_candidate_gets_the_lease_and_plays_once_playback_is_known() {
        let mut l = Leases::default();
        assert!(l.handle(added("s")).is_empty());
        let actions = l.handle(joined("a", &[]));
        assert!(matches!(&actions[..], [Action::Grant { agent, play: false, .. }] if agent == "a"));
        assert!(l.handle(joined("b", &[])).is_empty());
        assert_eq!(
            l.handle(Input::PlaybackKnown { stream: "s".into() }),
            vec![Action::Play {
                agent: "a".into(),
                stream: "s".into()
            }]
        );
        assert_eq!(l.holder("s"), Some("a"));
    }

    #[test]
    fn viewers_only_never_get_a_lease() {
        let mut l = Leases::default();
        l.handle(added("s"));
        let actions = l.handle(Input::AgentJoined {
            agent: "v".into(),
            candidate: false,
            fallback: false,
            resume: vec![],
        });
        assert!(actions.is_empty());
        assert_eq!(l.holder("s"), None);
    }

    #[test]
    fn a_holder_that_leaves_hands_the_lease_on_with_a_new_lease_id() {
        let mut l = Leases::default();
        l.handle(added("s"));
        let first = granted_lease(&l.handle(joined("a", &[])));
        l.handle(joined("b", &[]));
        let actions = l.handle(Input::AgentLeft { agent: "a".into() });
        assert_eq!(actions[0], Action::Unassigned { stream: "s".into() });
        let second = granted_lease(&actions);
        assert_ne!(first, second);
        assert_eq!(l.holder("s"), Some("b"));
        assert_eq!(
            l.authorize_whip("s", Some(&first)),
            Err(Refusal::NotLeaseHolder)
        );
        assert_eq!(l.authorize_whip("s", Some(&second)), Ok(()));
        assert_eq!(l.authorize_whip("s", None), Err(Refusal::NotLeaseHolder));
    }

    #[test]
    fn a_returning_agent_is_stopped_on_streams_another_agent_took() {
        let mut l = Leases::default();
        l.handle(added("s"));
        l.handle(joined("a", &[]));
        l.handle(joined("b", &[]));
        // a's socket drops; b takes over; a comes back asking for s.
        l.handle(Input::AgentLeft { agent: "a".into() });
        let actions = l.handle(joined("a2", &["s", "gone"]));
        assert_eq!(actions.len(), 2);
        assert!(
            matches!(&actions[0], Action::Stop { agent, stream, .. } if agent == "a2" && stream == "s")
        );
        assert!(
            matches!(&actions[1], Action::Stop { stream, reason, .. } if stream == "gone" && reason.contains("restarted"))
        );
        assert_eq!(l.holder("s"), Some("b"));
        // When b goes, a2 is the next candidate and gets it back.
        let actions = l.handle(Input::AgentLeft { agent: "b".into() });
        assert!(matches!(&actions[1], Action::Grant { agent, .. } if agent == "a2"));
    }

    #[test]
    fn a_resuming_agent_is_preferred_when_the_stream_is_free() {
        let mut l = Leases::default();
        l.handle(joined("b", &[]));
        l.handle(joined("a", &["s"]));
        let actions = l.handle(added("s"));
        assert!(matches!(&actions[..], [Action::Grant { agent, .. }] if agent == "a"));
    }

    #[test]
    fn a_released_stream_is_not_offered_back() {
        let mut l = Leases::default();
        l.handle(added("s"));
        l.handle(joined("a", &[]));
        let actions = l.handle(Input::Released {
            agent: "a".into(),
            stream: "s".into(),
        });
        assert_eq!(actions, vec![Action::Unassigned { stream: "s".into() }]);
        assert_eq!(l.holder("s"), None);
        let actions = l.handle(joined("b", &[]));
        assert!(matches!(&actions[..], [Action::Grant { agent, .. }] if agent == "b"));
        // A release by someone who does not hold it changes nothing.
        assert!(
            l.handle(Input::Released {
                agent: "a".into(),
                stream: "s".into()
            })
            .is_empty()
        );
    }

    #[test]
    fn sessions_are_per_client_and_a_republish_leaves_viewers_alone() {
        let mut l = Leases::default();
        l.handle(added("s"));
        l.handle(joined("a", &[]));
        assert!(l.handle(opened("s", Kind::Whip, "p1")).is_empty());
        assert!(l.handle(opened("s", Kind::Whep, "v1")).is_empty());
        assert!(l.handle(opened("s", Kind::Whep, "v2")).is_empty());
        // The publisher renegotiates: only its own previous session goes.
        assert_eq!(
            l.handle(opened("s", Kind::Whip, "p2")),
            vec![Action::DeleteUpstream {
                upstream: "http://up/p1".into()
            }]
        );
        assert_eq!(l.viewers("s"), 2);
        // A late DELETE of the old publisher session does nothing to the new one.
        assert!(
            l.handle(Input::SessionClosed {
                stream: "s".into(),
                kind: Kind::Whip,
                session: "p1".into()
            })
            .is_empty()
        );
        assert!(l.session("s", Kind::Whip, "p2").is_some());
        // Ending one viewer leaves the other.
        assert_eq!(
            l.handle(Input::SessionClosed {
                stream: "s".into(),
                kind: Kind::Whep,
                session: "v1".into()
            }),
            vec![Action::DeleteUpstream {
                upstream: "http://up/v1".into()
            }]
        );
        assert!(l.session("s", Kind::Whep, "v2").is_some());
        assert!(l.session("s", Kind::Whep, "v1").is_none());
    }

    #[test]
    fn viewer_records_stay_within_the_gateway_limit() {
        let mut l = Leases::default();
        l.handle(added("s"));
        for i in 0..=MAX_VIEWERS {
            l.handle(opened("s", Kind::Whep, &format!("v{i}")));
        }
        assert_eq!(l.viewers("s"), MAX_VIEWERS);
        assert!(l.session("s", Kind::Whep, "v0").is_none());
        assert!(
            l.session("s", Kind::Whep, &format!("v{MAX_VIEWERS}"))
                .is_some()
        );
    }

    #[test]
    fn deleting_a_stream_stops_its_holder_and_tears_down_every_session() {
        let mut l = Leases::default();
        l.handle(added("s"));
        let lease = granted_lease(&l.handle(joined("a", &[])));
        l.handle(opened("s", Kind::Whip, "p"));
        l.handle(opened("s", Kind::Whep, "v"));
        let actions = l.handle(Input::StreamStopping {
            stream: "s".into(),
            reason: "stream deleted".into(),
        });
        assert!(matches!(&actions[0], Action::Stop { agent, .. } if agent == "a"));
        assert_eq!(actions[1], Action::Unassigned { stream: "s".into() });
        assert_eq!(l.authorize_whip("s", Some(&lease)), Err(Refusal::NoStream));
        // A stopping stream is never granted again.
        assert!(l.handle(joined("b", &[])).is_empty());
        let actions = l.handle(Input::StreamRemoved { stream: "s".into() });
        assert_eq!(actions.len(), 2);
        assert!(
            actions
                .iter()
                .all(|a| matches!(a, Action::DeleteUpstream { .. }))
        );
        assert_eq!(l.holder("s"), None);
        // An offer that completes after removal is deleted upstream at once.
        assert_eq!(
            l.handle(opened("s", Kind::Whep, "late")),
            vec![Action::DeleteUpstream {
                upstream: "http://up/late".into()
            }]
        );
    }

    #[test]
    fn two_tabs_with_socket_drops_settle_on_one_publisher() {
        let mut l = Leases::default();
        l.handle(added("s"));
        l.handle(joined("a0", &[]));
        l.handle(joined("b0", &[]));
        // The holder's socket drops; it comes back resuming the stream, and so on in turn.
        for round in 1..=6 {
            let holder = l.holder("s").expect("a holder").to_owned();
            let tab = holder[..1].to_owned();
            let other = if tab == "a" { "b" } else { "a" };
            let actions = l.handle(Input::AgentLeft { agent: holder });
            assert!(matches!(&actions[1], Action::Grant { agent, .. } if agent.starts_with(other)));
            let back = format!("{tab}{round}");
            let actions = l.handle(joined(&back, &["s"]));
            assert!(
                matches!(&actions[..], [Action::Stop { agent, stream, .. }] if agent == &back && stream == "s"),
                "the returning tab must stop publishing: {actions:?}"
            );
            assert!(l.holder("s").is_some_and(|h| h.starts_with(other)));
        }
    }

    #[test]
    fn a_fallback_publishes_only_while_no_tab_can() {
        let mut l = Leases::default();
        l.handle(joined("tab", &[]));
        // A tab is there: the fallback gets nothing, whether it joined first or not.
        assert!(l.handle(fallback_joined("headless", &[])).is_empty());
        let actions = l.handle(added("s"));
        assert!(matches!(&actions[..], [Action::Grant { agent, .. }] if agent == "tab"));
        assert!(!l.held_by_fallback("s"));
        // The tab closes: the fallback stands in.
        let actions = l.handle(Input::AgentLeft {
            agent: "tab".into(),
        });
        assert!(matches!(&actions[1], Action::Grant { agent, .. } if agent == "headless"));
        assert!(l.held_by_fallback("s"));
        // A fallback resuming a stream a tab holds is stopped like any other agent.
        l.handle(joined("tab2", &[]));
        let actions = l.handle(fallback_joined("headless2", &["s"]));
        assert!(
            matches!(&actions[..], [Action::Stop { agent, .. }] if agent == "headless2"),
            "{actions:?}"
        );
    }

    #[test]
    fn a_tab_that_joins_takes_every_stream_from_the_fallback() {
        let mut l = Leases::default();
        l.handle(added("s1"));
        l.handle(added("s2"));
        l.handle(fallback_joined("headless", &[]));
        let first = l.holder("s1").map(str::to_owned);
        assert_eq!(first.as_deref(), Some("headless"));
        assert_eq!(l.holder("s2"), Some("headless"));
        let actions = l.handle(joined("tab", &[]));
        assert_eq!(
            actions[..2],
            [
                Action::Stop {
                    agent: "headless".into(),
                    stream: "s1".into(),
                    reason: "a browser tab publishes this stream now".into()
                },
                Action::Unassigned {
                    stream: "s1".into()
                },
            ]
        );
        assert!(
            matches!(&actions[2], Action::Stop { agent, stream, .. } if agent == "headless" && stream == "s2")
        );
        let granted: Vec<_> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Grant { agent, stream, .. } => Some((agent.as_str(), stream.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(granted, [("tab", "s1"), ("tab", "s2")]);
        assert!(!l.held_by_fallback("s1") && !l.held_by_fallback("s2"));
        // A second fallback or a viewer joining moves nothing.
        assert!(l.handle(fallback_joined("headless2", &[])).is_empty());
        assert!(
            l.handle(Input::AgentJoined {
                agent: "viewer".into(),
                candidate: false,
                fallback: false,
                resume: vec![],
            })
            .is_empty()
        );
    }

    #[test]
    fn a_fallback_keeps_a_stream_every_tab_released() {
        let mut l = Leases::default();
        l.handle(added("s"));
        l.handle(joined("tab", &[]));
        l.handle(fallback_joined("headless", &[]));
        let actions = l.handle(Input::Released {
            agent: "tab".into(),
            stream: "s".into(),
        });
        assert!(matches!(&actions[1], Action::Grant { agent, .. } if agent == "headless"));
        // A new tab takes it over.
        let actions = l.handle(joined("tab2", &[]));
        assert!(matches!(&actions[0], Action::Stop { agent, .. } if agent == "headless"));
        assert_eq!(l.holder("s"), Some("tab2"));
    }
}
