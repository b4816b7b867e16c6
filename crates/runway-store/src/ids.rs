//! Public ids: a prefix and the 32 lowercase hex digits of a UUIDv7, so ids
//! sort by creation time (`dep_019ec556114c78f8b60ee34fcb98bf59`).

use uuid::Uuid;

/// The kinds of ids runway hands out, each with its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Organization,
    AccessToken,
    Agent,
    Environment,
    Deployment,
    Run,
    Session,
    Turn,
    Event,
    WebhookEndpoint,
    WebhookEvent,
    WebhookDelivery,
}

impl IdKind {
    /// The prefix, underscore included.
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Organization => "org_",
            IdKind::AccessToken => "tok_",
            IdKind::Agent => "agent_",
            IdKind::Environment => "env_",
            IdKind::Deployment => "dep_",
            IdKind::Run => "drun_",
            IdKind::Session => "sess_",
            IdKind::Turn => "turn_",
            IdKind::Event => "evt_",
            IdKind::WebhookEndpoint => "whep_",
            // Webhook events and session events share the prefix the
            // Agents API gives events; a UUIDv7 keeps them apart.
            IdKind::WebhookEvent => "evt_",
            IdKind::WebhookDelivery => "whdl_",
        }
    }

    /// A new id of this kind.
    pub fn generate(self) -> String {
        format!("{}{}", self.prefix(), Uuid::now_v7().simple())
    }

    /// True when `id` is this kind's prefix followed by 32 lowercase hex
    /// digits. Anything else cannot name a stored row.
    pub fn is_valid(self, id: &str) -> bool {
        id.strip_prefix(self.prefix()).is_some_and(|hex| {
            hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_time_ordered() {
        let a = IdKind::Run.generate();
        let b = IdKind::Run.generate();
        assert!(IdKind::Run.is_valid(&a), "{a}");
        assert_eq!(a.len(), "drun_".len() + 32);
        assert!(a < b, "{a} then {b}");
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "dep_",
            "drun_019ec55a68af73028afa5b87931cb2f3",
            "dep_019EC556114C78F8B60EE34FCB98BF59",
            "dep_019ec556114c78f8b60ee34fcb98bf5",
            "dep_019ec556114c78f8b60ee34fcb98bf590",
            "dep_019ec556-114c-78f8-b60e-e34fcb98bf59",
        ] {
            assert!(!IdKind::Deployment.is_valid(bad), "{bad}");
        }
        assert!(IdKind::Deployment.is_valid("dep_019ec556114c78f8b60ee34fcb98bf59"));
    }
}
