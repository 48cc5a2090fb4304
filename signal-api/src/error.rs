//! The crate's one error type. Safe to log: it names what failed and the sizes involved,
//! never the bytes, numbers, bodies or keys (serde_json's own messages can quote input, so
//! only its category and position are kept).

/// Everything that can go wrong decoding or validating Signal wire data.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum ApiError {
    /// A length exceeded its named limit (see `limits`).
    #[error("{what} is {len} bytes; the limit is {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// A repeated field had more entries than its named limit.
    #[error("{what} has {count} entries; the limit is {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    /// The bytes were not a valid protobuf encoding of the named message.
    #[error("malformed {what} protobuf")]
    Protobuf { what: &'static str },
    /// The bytes were not valid JSON for the named body.
    #[error("malformed {what} JSON ({category} error at line {line}, column {column})")]
    Json {
        what: &'static str,
        category: &'static str,
        line: usize,
        column: usize,
    },
    /// A field was present but its value is not allowed (e.g. a missing required field,
    /// both arms of a oneof, a zero device id).
    #[error("invalid {what}")]
    Invalid { what: &'static str },
    /// A service id was neither `<uuid>` (ACI) nor `PNI:<uuid>`.
    #[error("invalid service id")]
    InvalidServiceId,
    /// An `Authorization` header or username could not be parsed.
    #[error("invalid basic auth: {reason}")]
    InvalidAuth { reason: &'static str },
    /// Base64 in a JSON field did not decode.
    #[error("invalid base64")]
    InvalidBase64,
}

impl ApiError {
    pub(crate) fn json(what: &'static str, e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let category = match e.classify() {
            Category::Io => "io",
            Category::Syntax => "syntax",
            Category::Data => "data",
            Category::Eof => "eof",
        };
        ApiError::Json {
            what,
            category,
            line: e.line(),
            column: e.column(),
        }
    }
}
