//! Identifiers. Each is a newtype over a UUID with one constructor, so an instance id can never
//! be passed where a timer id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random id.
            pub fn generate() -> Self {
                Self(Uuid::new_v4())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text.trim())
                    .map(Self)
                    .map_err(|_| format!("`{text}` is not a valid {} (expected a UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8)", $what))
            }
        }
    };
}

id_type!(
    /// One running (or finished) workflow instance.
    InstanceId,
    "instance id"
);
id_type!(
    /// One durable timer row.
    TimerId,
    "timer id"
);
id_type!(
    /// One email in the transactional outbox.
    OutboxId,
    "outbox id"
);
id_type!(
    /// One row of an instance's history.
    EventId,
    "event id"
);
