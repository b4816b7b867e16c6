//! Every closed set of names the API uses — statuses, trigger types, error
//! types — each one Rust type, defined once in this module (by area: runs
//! and deployments, sessions, webhooks, tokens, errors). Each type knows its JSON
//! name (which is also its stored form), its proto enum where the proto has
//! one, its serde form, its OpenAPI enum (feature `openapi`) and its
//! database column type (feature `sea-orm`); nothing else spells the names.

/// A name that is not in a closed set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// The name that was given.
    pub given: String,
    /// The names the set holds.
    pub expected: &'static [&'static str],
}

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is not one of {}",
            self.given,
            one_of(self.expected)
        )
    }
}

impl std::error::Error for UnknownName {}

/// `a, b or c`: the names of a set, as messages list them.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: proto $proto:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        closed_set! {
            $(#[$meta])*
            pub enum $name { $( $(#[$vmeta])* $variant = $wire ),+ }
        }

        impl From<$name> for $crate::v1::$proto {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $crate::v1::$proto::$variant ),+
                }
            }
        }

        impl $name {
            /// The proto enum's number.
            pub fn to_proto(self) -> i32 {
                $crate::v1::$proto::from(self) as i32
            }

            /// The member a proto enum number stands for; `None` for
            /// `…_UNSPECIFIED` and numbers this build does not know.
            pub fn from_proto(number: i32) -> Option<Self> {
                match $crate::v1::$proto::try_from(number) {
                    $( Ok($crate::v1::$proto::$variant) => Some($name::$variant), )+
                    _ => None,
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "sea-orm", derive(sea_orm::DeriveValueType))]
        #[cfg_attr(feature = "sea-orm", sea_orm(value_type = "String"))]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every member's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The name: the JSON value, and the stored one.
            pub const fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire ),+
                }
            }

            /// The member called `name`.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( $wire => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// `a, b or c`, for messages.
            pub fn expected() -> String {
                $crate::enums::one_of(Self::NAMES)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::enums::UnknownName;

            fn from_str(s: &str) -> Result<Self, $crate::enums::UnknownName> {
                Self::from_name(s).ok_or_else(|| $crate::enums::UnknownName {
                    given: s.to_string(),
                    expected: Self::NAMES,
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "one of {}", $name::expected())
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::from_name(v).ok_or_else(|| {
                            E::custom(format_args!(
                                "{v:?} is not one of {}",
                                $name::expected()
                            ))
                        })
                    }
                }
                d.deserialize_str(Visitor)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($name::NAMES.iter().copied()))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

    };
}

mod access;
mod deployments;
mod errors;
mod sessions;
mod webhooks;

pub use access::*;
pub use deployments::*;
pub use errors::*;
pub use sessions::*;
pub use webhooks::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_every_mapping() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::from_name(status.name()), Some(*status));
            assert_eq!(RunStatus::from_proto(status.to_proto()), Some(*status));
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, serde_json::json!(status.name()));
            assert_eq!(serde_json::from_value::<RunStatus>(json).unwrap(), *status);
        }
        for kind in InitialEventType::ALL {
            assert_eq!(
                InitialEventType::from_proto(kind.to_proto()),
                Some(*kind),
                "{kind}"
            );
        }
        assert_eq!(RunStatus::from_proto(0), None, "UNSPECIFIED is no status");
        assert_eq!(RunStatus::from_proto(99), None);
    }

    #[test]
    fn unknown_names_are_refused_in_api_words() {
        let err = serde_json::from_value::<TriggerType>(serde_json::json!("cron")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"cron\" is not one of manual, schedule or retry"
        );
        let err = "x".parse::<DeploymentStatus>().unwrap_err();
        assert_eq!(err.to_string(), "\"x\" is not one of active or paused");
        assert_eq!(one_of(&["a"]), "a");
    }

    #[test]
    fn error_reasons_are_upper_snake() {
        for reason in ErrorReason::NAMES {
            assert!(
                !reason.is_empty()
                    && reason.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                    && !reason.starts_with('_')
                    && !reason.ends_with('_'),
                "{reason}"
            );
        }
    }

    #[test]
    fn runners_record_only_the_agent_s_side() {
        let recorded: Vec<&str> = EventType::ALL
            .iter()
            .filter(|k| k.runner_may_record())
            .map(|k| k.name())
            .collect();
        assert!(
            recorded
                .iter()
                .all(|n| n.starts_with("agent.") || n.starts_with("span.")),
            "{recorded:?}"
        );
        let others = EventType::ALL.iter().filter(|k| !k.runner_may_record());
        assert!(others.map(|k| k.name()).all(|n| !n.starts_with("agent.")));
    }

    #[test]
    fn active_statuses_hold_slots() {
        let active: Vec<_> = RunStatus::ALL
            .iter()
            .filter(|s| s.is_active())
            .copied()
            .collect();
        assert_eq!(active, RunStatus::ACTIVE);
    }

    /// docs/API.md lists every error reason a client may be sent.
    #[test]
    fn every_error_reason_is_documented() {
        let api = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md"));
        for reason in ErrorReason::ALL {
            let row = format!("| `{}` |", reason.name());
            assert!(api.contains(&row), "docs/API.md lists no {row}");
        }
    }
}
