//! Why a piece of input read by the wrapper readers did not become a row: one variant per cause,
//! written into the quarantine record's `reason` by its `Display`.

use super::format::InputFormat;
use super::shape;

/// A reason for quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// A JSON object of no known shape; names the closest one and what it lacks.
    UnknownShape {
        closest: Option<(&'static str, &'static str, Vec<&'static str>)>,
    },
    /// `--input-format` forced a reader and the piece is not of its format.
    NotForcedFormat {
        format: InputFormat,
        expected: &'static str,
    },
    /// CRI partial pieces (`P`) whose final piece (`F`) never came: the input ends first.
    CriPartialCutOff { pieces: u64, bytes: usize },
    /// CRI pieces that join to more than the largest event kept.
    CriPartialTooLarge { bytes: usize, limit: usize },
    /// A CRI line (or joined event) that is not UTF-8.
    CriNotUtf8 { at: usize },
    /// A CloudWatch `CONTROL_MESSAGE` (holds no events).
    ControlMessage,
    /// A Pub/Sub message whose `data` is not base64 of a JSON object.
    PubsubData(String),
    /// A CSV record that is not a row of the export its header names.
    CsvRecord { format: InputFormat, what: String },
    /// An `AKSAudit` row's column holds text that should be JSON and is not.
    AksTableColumn { column: &'static str, what: String },
    /// A legacy text line missing what every legacy line has.
    Legacy(String),
    /// An `EventList` whose `items` is not an array.
    ItemsNotArray,
}

impl Rejection {
    /// The unknown-shape reason for the object `text`.
    pub fn unknown_shape(text: &str) -> Rejection {
        Rejection::UnknownShape {
            closest: shape::closest(text).map(|(s, has)| (s.name, s.needs, has)),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::UnknownShape {
                closest: Some((name, needs, has)),
            } => write!(
                f,
                "not an audit event nor a known wrapper: closest to {name} (has {}) but {needs} is missing",
                has.join(", ")
            ),
            Rejection::UnknownShape { closest: None } => write!(
                f,
                "not an audit event nor a known wrapper: none of the keys of an audit Event or of a known wrapper (EventList items, GKE protoPayload, AKS properties/records or AKSAudit columns, CloudWatch logEvents/events/message/@message, Pub/Sub message.data, docker log)"
            ),
            Rejection::NotForcedFormat { format, expected } => write!(
                f,
                "not {expected} (--input-format {format}); use --input-format auto to detect the format"
            ),
            Rejection::CriPartialCutOff { pieces, bytes } => write!(
                f,
                "CRI partial line cut off: {pieces} partial piece(s) (P, {bytes} bytes) without the final piece (F) before the end of the input; read again if the file grows"
            ),
            Rejection::CriPartialTooLarge { bytes, limit } => write!(
                f,
                "CRI partial pieces join to more than {} MiB ({bytes} bytes so far); the first part is kept here",
                limit >> 20
            ),
            Rejection::CriNotUtf8 { at } => {
                write!(f, "invalid UTF-8 at byte {at} of the CRI line's text")
            }
            Rejection::ControlMessage => {
                write!(f, "CloudWatch CONTROL_MESSAGE: holds no audit events")
            }
            Rejection::PubsubData(why) => write!(f, "GKE Pub/Sub message: {why}"),
            Rejection::CsvRecord { format, what } => write!(f, "{format} CSV record: {what}"),
            Rejection::AksTableColumn { column, what } => {
                write!(f, "AKSAudit row: column {column} {what}")
            }
            Rejection::Legacy(what) => write!(f, "legacy audit line: {what}"),
            Rejection::ItemsNotArray => {
                write!(f, "EventList items is not an array: no events in this line")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_shapes_name_the_closest_format_and_what_is_missing() {
        let r = Rejection::unknown_shape(
            r#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/aws/eks/x/cluster"}"#,
        );
        assert_eq!(
            r.to_string(),
            "not an audit event nor a known wrapper: closest to CloudWatch subscription envelope (has messageType, owner, logGroup) but logEvents is missing"
        );
    }
}
