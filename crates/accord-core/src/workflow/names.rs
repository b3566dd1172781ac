//! Names used in workflow definitions. They are identifiers (`snake_case`), checked once at the
//! edge, so code paths never carry a name that could not appear in a definition.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a valid {what}: use lowercase letters, digits and `_`, starting with a letter (at most 64 characters)")]
pub struct BadName {
    pub name: String,
    pub what: &'static str,
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some('a'..='z'))
        && text.len() <= 64
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, BadName> {
                if is_identifier(text) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(BadName { name: text.to_owned(), what: $what })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = BadName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

name_type!(
    /// The name of a workflow; also the stem of its file in `workflows/`.
    WorkflowName,
    "workflow name"
);
name_type!(
    /// The name of a state in a workflow.
    StateName,
    "state name"
);
name_type!(
    /// The name of an event that moves an instance.
    EventName,
    "event name"
);
name_type!(
    /// The name of an email's templates (`templates/email/<workflow>/<template>.*.tera`).
    TemplateName,
    "template name"
);
name_type!(
    /// The name of a guard, effect or start check the registry holds and a definition references.
    RuleName,
    "rule name"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_snake_case() {
        assert!(StateName::parse("in_review").is_ok());
        assert!(StateName::parse("step2").is_ok());
        for bad in ["", "InReview", "2nd", "in-review", "in review", "_x"] {
            let err = StateName::parse(bad).unwrap_err();
            assert!(err.to_string().contains("not a valid state name"), "{bad}");
        }
    }
}

crate::__text_column!(WorkflowName);
crate::__text_column!(StateName);
crate::__text_column!(EventName);
crate::__text_column!(TemplateName);
