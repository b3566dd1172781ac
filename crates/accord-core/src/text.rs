//! Enums and names spelled as `snake_case` text. With the `sqlx` feature they are stored as
//! `TEXT` in both databases: the Rust side stays typed, the column holds the spelling, and a value
//! that does not parse fails loudly on read.

/// Implements `sqlx::Type`, `Encode` and `Decode` for any database whose `str` and `String`
/// already have them, by way of `as_str()` and `FromStr`.
#[cfg(feature = "sqlx")]
#[macro_export]
macro_rules! sql_text {
    ($ty:ty) => {
        impl<DB: $crate::__private::sqlx::Database> $crate::__private::sqlx::Type<DB> for $ty
        where
            str: $crate::__private::sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as $crate::__private::sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as $crate::__private::sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: $crate::__private::sqlx::Database> $crate::__private::sqlx::Encode<'q, DB> for $ty
        where
            String: $crate::__private::sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as $crate::__private::sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<$crate::__private::sqlx::encode::IsNull, $crate::__private::sqlx::error::BoxDynError> {
                // Owned, because SQLite's `&str` encoding borrows for the query's lifetime.
                <String as $crate::__private::sqlx::Encode<'q, DB>>::encode(self.as_str().to_owned(), buf)
            }
        }

        impl<'r, DB: $crate::__private::sqlx::Database> $crate::__private::sqlx::Decode<'r, DB> for $ty
        where
            String: $crate::__private::sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as $crate::__private::sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, $crate::__private::sqlx::error::BoxDynError> {
                let text = <String as $crate::__private::sqlx::Decode<'r, DB>>::decode(value)?;
                text.parse::<$ty>().map_err(|err| format!("{err}").into())
            }
        }
    };
}

/// A fieldless enum spelled in `snake_case` text, with `as_str`, `FromStr`, `Display`, serde and,
/// with the `sqlx` feature, the `TEXT` column mapping.
#[macro_export]
macro_rules! text_enum {
    ($(#[$doc:meta])* pub enum $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "`{other}` is not a valid {}: expected one of {}",
                        stringify!($name),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        $crate::__text_column!($name);
    };
}

/// `text_enum!`'s column mapping: `sql_text!` when the `sqlx` feature is on, nothing otherwise.
#[cfg(feature = "sqlx")]
#[doc(hidden)]
#[macro_export]
macro_rules! __text_column {
    ($ty:ty) => {
        $crate::sql_text!($ty);
    };
}

#[cfg(not(feature = "sqlx"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __text_column {
    ($ty:ty) => {};
}
