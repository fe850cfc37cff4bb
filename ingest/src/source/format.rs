//! Input formats: the readers a user can force with `--input-format`, and how each one frames an
//! input (lines, a JSON document, CSV records). `Auto` decides per input and per line.

/// Which reader decodes an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// Decide per input (documents, CSV) and per line (JSON envelopes by their keys, CRI,
    /// `CreateExportTask` and legacy text lines by their shape).
    #[default]
    Auto,
    /// Bare audit Events, one per line (or one pretty-printed document).
    Event,
    /// Webhook `EventList` documents and JSON arrays of events.
    EventList,
    /// CloudWatch Logs JSON: subscription envelopes, `filter-log-events` output, Logs Insights
    /// JSON rows.
    Eks,
    /// A Logs Insights CSV export (`@timestamp`, `@message`, optional `@logStream`, `@log`).
    EksInsightsCsv,
    /// `CreateExportTask` files: `<ISO 8601 time> <message>` per line.
    EksExport,
    /// Firehose objects: CloudWatch subscription envelopes concatenated without newlines.
    Firehose,
    /// GKE Cloud Audit Logs `LogEntry`.
    Gke,
    /// GKE `LogEntry` delivered through Pub/Sub (push or pull; base64 `message.data`).
    GkePubsub,
    /// AKS diagnostic records (`properties.log`) and Event Hub `{"records": [...]}` bodies.
    Aks,
    /// The `AKSAudit` / `AKSAuditAdmin` Log Analytics tables exported as JSON (PascalCase columns).
    AksTable,
    /// The same tables exported as CSV.
    AksTableCsv,
    /// CRI container-log lines (`<time> <stream> <P|F> <text>`), partial lines joined.
    Cri,
    /// docker json-file container-log lines (`{"log": ..., "stream": ..., "time": ...}`).
    Docker,
    /// The API server's `--audit-log-format=legacy` text lines.
    Legacy,
}

/// How an input is cut into pieces to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Decide from the first bytes: a JSON document, CSV with a known header, else lines.
    Sniff,
    /// Newline-separated lines.
    Lines,
    /// JSON documents read element by element (arrays, `EventList`s, concatenated objects).
    Document,
    /// CSV with a header line; each record is decoded as the object of its named fields.
    Csv(CsvKind),
}

/// The CSV exports kubetrail reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvKind {
    /// Logs Insights: `@message` holds the Event.
    EksInsights,
    /// Log Analytics `AKSAudit` / `AKSAuditAdmin`: one column per Event field.
    AksTable,
}

impl CsvKind {
    /// The format rows of this CSV are decoded as.
    pub fn format(self) -> InputFormat {
        match self {
            CsvKind::EksInsights => InputFormat::EksInsightsCsv,
            CsvKind::AksTable => InputFormat::AksTableCsv,
        }
    }

    /// The CSV export whose records carry the element format `name` (see [`Records`]).
    ///
    /// [`Records`]: super::csv::Records
    pub fn of_element(name: &str) -> Option<CsvKind> {
        [CsvKind::EksInsights, CsvKind::AksTable]
            .into_iter()
            .find(|k| k.format().name() == name)
    }

    /// The CSV export a header line announces, if any.
    pub fn of_header(header: &[u8]) -> Option<CsvKind> {
        let names: Vec<String> = header
            .split(|&b| b == b',')
            .map(|f| column_name(&String::from_utf8_lossy(f)))
            .collect();
        let has = |n: &str| names.iter().any(|c| c == n);
        if has("@message") && has("@timestamp") {
            Some(CsvKind::EksInsights)
        } else if has("AuditId") && (has("RequestUri") || has("TimeGenerated")) {
            Some(CsvKind::AksTable)
        } else {
            None
        }
    }
}

/// A CSV header cell as a column name: unquoted, trimmed, and without the unit Log Analytics
/// appends to time columns (`TimeGenerated [UTC]`).
pub fn column_name(cell: &str) -> String {
    let name = cell.trim().trim_matches('"').trim();
    let name = name.strip_suffix("[UTC]").unwrap_or(name).trim_end();
    name.to_owned()
}

impl InputFormat {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [InputFormat; 15] = [
        InputFormat::Auto,
        InputFormat::Event,
        InputFormat::EventList,
        InputFormat::Eks,
        InputFormat::EksInsightsCsv,
        InputFormat::EksExport,
        InputFormat::Firehose,
        InputFormat::Gke,
        InputFormat::GkePubsub,
        InputFormat::Aks,
        InputFormat::AksTable,
        InputFormat::AksTableCsv,
        InputFormat::Cri,
        InputFormat::Docker,
        InputFormat::Legacy,
    ];

    /// The name on the command line (`--input-format NAME`), also the `source_format` of rows
    /// read this way where the format has its own.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Auto => "auto",
            InputFormat::Event => "event",
            InputFormat::EventList => "eventlist",
            InputFormat::Eks => "eks",
            InputFormat::EksInsightsCsv => "eks-insights-csv",
            InputFormat::EksExport => "eks-export",
            InputFormat::Firehose => "firehose",
            InputFormat::Gke => "gke",
            InputFormat::GkePubsub => "gke-pubsub",
            InputFormat::Aks => "aks",
            InputFormat::AksTable => "aks-table",
            InputFormat::AksTableCsv => "aks-table-csv",
            InputFormat::Cri => "cri",
            InputFormat::Docker => "docker",
            InputFormat::Legacy => "legacy",
        }
    }

    /// What the format reads, in a line (`--input-format`'s help).
    pub fn help(self) -> &'static str {
        match self {
            InputFormat::Auto => {
                "Decide per file (documents, CSV exports) and per line (by the fields present)"
            }
            InputFormat::Event => "Bare audit Events, one per line (or one pretty-printed)",
            InputFormat::EventList => "Webhook EventList documents and JSON arrays of events",
            InputFormat::Eks => {
                "CloudWatch Logs JSON: subscription envelopes, filter-log-events output, Logs Insights JSON"
            }
            InputFormat::EksInsightsCsv => {
                "Logs Insights CSV export (@timestamp, @message, optional @logStream and @log)"
            }
            InputFormat::EksExport => "CreateExportTask files: `<time> <event JSON>` per line",
            InputFormat::Firehose => {
                "Firehose objects: CloudWatch subscription envelopes back to back, no newline between"
            }
            InputFormat::Gke => "GKE Cloud Audit Logs LogEntry",
            InputFormat::GkePubsub => {
                "GKE LogEntry through Pub/Sub (push or pull message, base64 message.data)"
            }
            InputFormat::Aks => {
                "AKS diagnostic records (properties.log) and Event Hub {\"records\": [...]} bodies"
            }
            InputFormat::AksTable => "AKSAudit / AKSAuditAdmin Log Analytics rows exported as JSON",
            InputFormat::AksTableCsv => {
                "AKSAudit / AKSAuditAdmin Log Analytics rows exported as CSV"
            }
            InputFormat::Cri => "CRI container-log lines, partial (P) lines joined",
            InputFormat::Docker => "docker json-file container-log lines",
            InputFormat::Legacy => "--audit-log-format=legacy text lines",
        }
    }

    /// The format named `name` (as [`InputFormat::name`] spells it).
    pub fn from_name(name: &str) -> Option<InputFormat> {
        InputFormat::ALL.into_iter().find(|f| f.name() == name)
    }

    /// How inputs of this format are framed.
    pub fn framing(self) -> Framing {
        match self {
            InputFormat::Auto
            | InputFormat::Event
            | InputFormat::Eks
            | InputFormat::Gke
            | InputFormat::GkePubsub
            | InputFormat::Aks
            | InputFormat::AksTable
            | InputFormat::Docker => Framing::Sniff,
            InputFormat::EventList | InputFormat::Firehose => Framing::Document,
            InputFormat::EksInsightsCsv => Framing::Csv(CsvKind::EksInsights),
            InputFormat::AksTableCsv => Framing::Csv(CsvKind::AksTable),
            InputFormat::EksExport | InputFormat::Cri | InputFormat::Legacy => Framing::Lines,
        }
    }
}

impl std::fmt::Display for InputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_name_reads_back() {
        for f in InputFormat::ALL {
            assert_eq!(InputFormat::from_name(f.name()), Some(f));
        }
    }

    #[test]
    fn csv_headers_are_recognised_by_their_columns() {
        assert_eq!(
            CsvKind::of_header(b"@timestamp,@message,@logStream,@log"),
            Some(CsvKind::EksInsights)
        );
        assert_eq!(
            CsvKind::of_header(b"\"@message\",\"@timestamp\""),
            Some(CsvKind::EksInsights)
        );
        assert_eq!(
            CsvKind::of_header(b"TenantId,TimeGenerated [UTC],Level,AuditId,Stage"),
            Some(CsvKind::AksTable)
        );
        assert_eq!(CsvKind::of_header(b"{\"auditID\":\"a,b\"}"), None);
        assert_eq!(CsvKind::of_header(b"@message,other"), None);
    }
}
