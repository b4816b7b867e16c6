//! Each endpoint's share of a delivery worker's attempts
//! ([`MAX_IN_FLIGHT_PER_ENDPOINT`] under way at once). Past it, a delivery
//! handed over waits in memory for one of the endpoint's slots to free, and
//! a claim takes the endpoint's due deliveries only after every other
//! endpoint's ([`Place::Last`]). So an endpoint that takes the whole
//! attempt timeout to answer, with a backlog ahead of everyone's in the due
//! order, does not hold the others back; with nobody else due, it borrows
//! the free slots but a share's worth (192 of 256).

use std::collections::{HashMap, VecDeque};

use runway_store::repo::webhooks::deliveries::{Claimed, Place};

use crate::domain::deliveries::MAX_IN_FLIGHT_PER_ENDPOINT;

/// A hand-over waiting for room, and the endpoint change read before it was
/// received (it is not sent if its endpoint changed since).
pub(super) struct Waiting {
    pub claimed: Claimed,
    pub seen: u64,
}

#[derive(Default)]
struct Share {
    in_flight: usize,
    waiting: VecDeque<Waiting>,
}

/// The shares of the endpoints a worker is sending to.
#[derive(Default)]
pub(super) struct Shares {
    by_endpoint: HashMap<String, Share>,
    /// Endpoints that had a slot free up while a hand-over waited for it.
    ready: VecDeque<String>,
}

impl Shares {
    /// Whether an attempt to `endpoint` may start now.
    pub fn has_room(&self, endpoint: &str) -> bool {
        self.by_endpoint
            .get(endpoint)
            .is_none_or(|s| s.in_flight + s.waiting.len() < MAX_IN_FLIGHT_PER_ENDPOINT)
    }

    /// An attempt to `endpoint` starts.
    pub fn started(&mut self, endpoint: &str) {
        self.by_endpoint
            .entry(endpoint.to_string())
            .or_default()
            .in_flight += 1;
    }

    /// An attempt to `endpoint` ended.
    pub fn finished(&mut self, endpoint: &str) {
        let Some(share) = self.by_endpoint.get_mut(endpoint) else {
            return;
        };
        share.in_flight = share.in_flight.saturating_sub(1);
        if share.waiting.is_empty() {
            if share.in_flight == 0 {
                self.by_endpoint.remove(endpoint);
            }
        } else if share.in_flight < MAX_IN_FLIGHT_PER_ENDPOINT {
            self.ready.push_back(endpoint.to_string());
        }
    }

    /// Keeps a hand-over whose endpoint has no room until it has.
    pub fn wait(&mut self, waiting: Waiting) {
        self.by_endpoint
            .entry(waiting.claimed.endpoint.id.clone())
            .or_default()
            .waiting
            .push_back(waiting);
    }

    /// Whether a waiting hand-over can start (given a free send slot).
    pub fn any_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The next waiting hand-over whose endpoint has a free slot.
    pub fn next_ready(&mut self) -> Option<Waiting> {
        while let Some(endpoint) = self.ready.pop_front() {
            let Some(share) = self.by_endpoint.get_mut(&endpoint) else {
                continue;
            };
            if share.in_flight >= MAX_IN_FLIGHT_PER_ENDPOINT {
                continue;
            }
            if let Some(waiting) = share.waiting.pop_front() {
                return Some(waiting);
            }
        }
        None
    }

    /// A waiting hand-over of any endpoint, to start past its share in a
    /// slot that would otherwise be lent to a claim of its due deliveries
    /// (it is leased already: no claim needed).
    pub fn next_lent(&mut self) -> Option<Waiting> {
        self.by_endpoint
            .values_mut()
            .find_map(|share| share.waiting.pop_front())
    }

    /// A hand-over [`Shares::next_ready`] or [`Shares::next_lent`] gave was not sent (it went stale):
    /// its endpoint's slot is still free for the next one waiting.
    pub fn not_started(&mut self, endpoint: &str) {
        match self.by_endpoint.get(endpoint) {
            Some(share) if !share.waiting.is_empty() => self.ready.push_front(endpoint.to_string()),
            Some(share) if share.in_flight == 0 => {
                self.by_endpoint.remove(endpoint);
            }
            _ => {}
        }
    }

    /// A claim's placer: a due delivery is claimed while its endpoint is
    /// within its share (counting the ones this claim took), and goes last
    /// otherwise.
    pub fn placer(&self) -> impl FnMut(&str) -> Place + '_ {
        let mut taken: HashMap<String, usize> = HashMap::new();
        move |endpoint| {
            let share = self.by_endpoint.get(endpoint);
            let busy = share.map_or(0, |s| s.in_flight + s.waiting.len());
            let taken = taken.entry(endpoint.to_string()).or_default();
            if busy + *taken < MAX_IN_FLIGHT_PER_ENDPOINT {
                *taken += 1;
                Place::Claim
            } else {
                Place::Last
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use runway_api::enums::{WebhookDeliveryStatus, WebhookEventType};
    use runway_store::entity::{webhook_delivery, webhook_endpoint};
    use runway_store::json_text::JsonText;

    use super::*;

    fn claimed(endpoint: &str, n: usize) -> Claimed {
        let delivery = webhook_delivery::Model {
            id: format!("whdl_{n}"),
            org_id: "org".into(),
            endpoint_id: endpoint.into(),
            event_id: format!("evt_{n}"),
            event_type: WebhookEventType::DeploymentRunStarted,
            body: "{}".into(),
            status: WebhookDeliveryStatus::Pending,
            attempt_count: 0,
            next_attempt_at: Some(60_000_000_000),
            parked_at: None,
            redelivery_of: None,
            created_at: 0,
            updated_at: 0,
        };
        let endpoint = webhook_endpoint::Model {
            id: endpoint.into(),
            org_id: "org".into(),
            url: "https://hooks.example.com/".into(),
            description: None,
            event_types: JsonText(vec![WebhookEventType::All]),
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            last_failed_at: None,
            secret: "whsec_".into(),
            previous_secret: None,
            previous_secret_expires_at: None,
            created_at: 0,
            updated_at: 0,
        };
        Claimed { delivery, endpoint }
    }

    fn waiting(endpoint: &str, n: usize) -> Waiting {
        Waiting {
            claimed: claimed(endpoint, n),
            seen: 0,
        }
    }

    #[test]
    fn an_endpoint_gets_its_share_then_waits() {
        let mut shares = Shares::default();
        for _ in 0..MAX_IN_FLIGHT_PER_ENDPOINT {
            assert!(shares.has_room("whep_slow"));
            shares.started("whep_slow");
        }
        assert!(!shares.has_room("whep_slow"));
        assert!(shares.has_room("whep_other"), "others keep their room");
        for n in 0..3 {
            shares.wait(waiting("whep_slow", n));
        }
        assert!(!shares.any_ready());
        assert!(shares.next_ready().is_none());

        // A slot frees: the oldest waiting one goes, once.
        shares.finished("whep_slow");
        assert!(shares.any_ready());
        let next = shares.next_ready().unwrap();
        assert_eq!(next.claimed.delivery.id, "whdl_0");
        shares.started("whep_slow");
        assert!(shares.next_ready().is_none());
        assert!(!shares.has_room("whep_slow"));

        // Past its share, one may borrow a slot.
        let lent = shares.next_lent().unwrap();
        assert_eq!(lent.claimed.delivery.id, "whdl_1");
        shares.wait(lent);

        // One that went stale leaves the slot to the next.
        shares.finished("whep_slow");
        let stale = shares.next_ready().unwrap();
        assert_eq!(stale.claimed.delivery.id, "whdl_2");
        shares.not_started(&stale.claimed.endpoint.id);
        assert_eq!(shares.next_ready().unwrap().claimed.delivery.id, "whdl_1");
        assert!(shares.next_lent().is_none());
    }

    #[test]
    fn a_claim_takes_an_endpoints_share_first_and_the_rest_last() {
        let mut shares = Shares::default();
        for _ in 0..MAX_IN_FLIGHT_PER_ENDPOINT - 2 {
            shares.started("whep_slow");
        }
        let placed: Vec<Place> = [
            "whep_slow",
            "whep_slow",
            "whep_slow",
            "whep_other",
            "whep_slow",
        ]
        .into_iter()
        .map(shares.placer())
        .collect();
        assert_eq!(
            placed,
            [
                Place::Claim,
                Place::Claim,
                Place::Last,
                Place::Claim,
                Place::Last,
            ]
        );
        // Waiting hand-overs count against the share too.
        shares.wait(waiting("whep_slow", 1));
        let mut place = shares.placer();
        assert_eq!(place("whep_slow"), Place::Claim);
        assert_eq!(place("whep_slow"), Place::Last);
    }
}
