//! Findings: evidence rows of a rule grouped into what a responder acts on.

use std::cmp::Ordering;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::rule::{Rule, Severity};

/// Version of the finding JSON.
pub const FINDING_SCHEMA_VERSION: &str = "1";
/// At most this many audit IDs are listed per finding.
pub const MAX_AUDIT_IDS: usize = 1000;

/// One finding.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub schema_version: &'static str,
    pub finding_id: String,
    pub rule_id: String,
    pub title: String,
    pub category: String,
    pub severity: Severity,
    pub mitre: Vec<String>,
    pub cluster: Option<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub username: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub namespace: Option<String>,
    pub resource: Option<String>,
    pub name: Option<String>,
    pub verb: Option<String>,
    pub count: usize,
    pub audit_ids: Vec<String>,
    pub truncated: bool,
    pub summary: String,
}

/// The evidence rows of a query result, as JSON objects.
pub fn rows(batches: &[RecordBatch]) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        for row in 0..b.num_rows() {
            let mut m = Map::new();
            for (i, f) in schema.fields().iter().enumerate() {
                m.insert(
                    f.name().clone(),
                    query::output::cell(b.column(i).as_ref(), row),
                );
            }
            out.push(m);
        }
    }
    out
}

/// What a finding is made of, from one row of a rule's result: the columns [`group`] reads,
/// as text (a number or time as it prints). Holding these instead of the whole row as a JSON
/// object keeps a rule with hundreds of thousands of evidence rows small.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Evidence {
    pub cluster: Option<String>,
    pub audit_id: Option<String>,
    pub ts: Option<String>,
    pub finding_key: Option<String>,
    pub severity: Option<String>,
    pub detail: Option<String>,
    pub username: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub namespace: Option<String>,
    pub resource: Option<String>,
    pub name: Option<String>,
    pub verb: Option<String>,
    /// The body's `metadata.generateName` of a create whose object had no name yet (filled by
    /// [`crate::body_name`], or a column of the rule's own).
    pub generate_name: Option<String>,
}

impl Evidence {
    /// What identifies this piece of evidence: its audit ID, else its time.
    pub fn id(&self) -> Option<&str> {
        self.audit_id.as_deref().or(self.ts.as_deref())
    }
}

/// The evidence of a query result: of each row, only the columns a finding is made of.
pub fn evidence(batches: &[RecordBatch]) -> Vec<Evidence> {
    let mut out = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for b in batches {
        each_evidence(b, |e| out.push(e));
    }
    out
}

/// Hand each row of `batch`, as [`Evidence`], to `each`.
fn each_evidence(b: &RecordBatch, mut each: impl FnMut(Evidence)) {
    let schema = b.schema();
    // the last column of a name, as a row's JSON object kept it
    let column = |name: &str| {
        let last = schema.fields().iter().rposition(|f| f.name() == name);
        last.map(|i| b.column(i).clone())
    };
    let text = |column: &Option<ArrayRef>, row: usize| {
        column
            .as_ref()
            .and_then(|a| query::output::cell_str(a.as_ref(), row))
    };
    let cluster = column("cluster");
    let audit_id = column("audit_id");
    let ts = column("ts");
    let finding_key = column("finding_key");
    let severity = column("severity");
    let detail = column("detail");
    let username = column("username");
    let source_ip = column("source_ip");
    let user_agent = column("user_agent");
    let namespace = column("namespace");
    let resource = column("resource");
    let name = column("name");
    let verb = column("verb");
    let generate_name = column(crate::body_name::GENERATE_NAME);
    for row in 0..b.num_rows() {
        each(Evidence {
            cluster: text(&cluster, row),
            audit_id: text(&audit_id, row),
            ts: text(&ts, row),
            finding_key: text(&finding_key, row),
            severity: text(&severity, row),
            detail: text(&detail, row),
            username: text(&username, row),
            source_ip: text(&source_ip, row),
            user_agent: text(&user_agent, row),
            namespace: text(&namespace, row),
            resource: text(&resource, row),
            name: text(&name, row),
            verb: text(&verb, row),
            generate_name: text(&generate_name, row),
        });
    }
}

/// The order of a finding's rows: by time, and rows of one time in a fixed order (by every
/// column), so that which row's detail and fields the finding shows does not depend on the order
/// the engine returned them in: the same lake gives the same report.
fn row_order(a: &Evidence, b: &Evidence) -> Ordering {
    a.ts.cmp(&b.ts).then_with(|| a.cmp(b))
}

/// A rule's evidence rows grouped into findings as they come: rows with the same `finding_key`
/// (else the same audit ID) in one cluster are one finding; one request logged at several
/// stages is one piece of evidence. A rule may set a row's severity in a `severity` column
/// (`info` .. `critical`), e.g. lower for evidence judged against a short history; a finding
/// takes the highest of its rows, and the rule's own severity where no row sets one.
///
/// Each finding keeps what it shows (its first row in [`row_order`], the first row with a
/// detail, its last time, its highest severity) and the identity of each piece of evidence with
/// where it first appears, not the rows themselves: a rule with hundreds of thousands of
/// evidence rows holds its findings' audit IDs, not its rows (nor, when the rows were read as
/// string views, the Parquet pages they point into).
#[derive(Debug, Default)]
pub struct Grouping {
    groups: BTreeMap<(String, String), Group>,
}

#[derive(Debug)]
struct Group {
    first: Evidence,
    last_ts: Option<String>,
    /// The first row in [`row_order`] with a `detail`.
    detail: Option<Evidence>,
    severity: Option<Severity>,
    /// Each piece of evidence (its audit ID, else its time) with where its first row comes in
    /// [`row_order`] among the others'.
    ids: HashMap<String, FirstAt>,
}

/// Where an identity's first row comes: [`row_order`] compares time, then cluster, then audit
/// ID; within a finding the cluster is one name or none, and the audit ID is the identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FirstAt {
    ts: Option<String>,
    has_cluster: bool,
    has_audit_id: bool,
}

impl FirstAt {
    fn of(row: &Evidence) -> Self {
        FirstAt {
            ts: row.ts.clone(),
            has_cluster: row.cluster.is_some(),
            has_audit_id: row.audit_id.is_some(),
        }
    }
}

impl Group {
    fn new(row: Evidence) -> Self {
        let ids = row
            .id()
            .map(|id| (id.to_owned(), FirstAt::of(&row)))
            .into_iter()
            .collect();
        Group {
            last_ts: row.ts.clone(),
            detail: row.detail.is_some().then(|| row.clone()),
            severity: row.severity.as_deref().and_then(Severity::parse),
            ids,
            first: row,
        }
    }

    fn add(&mut self, row: Evidence) {
        self.note_id(&row);
        if row.ts > self.last_ts {
            self.last_ts = row.ts.clone();
        }
        if let Some(s) = row.severity.as_deref().and_then(Severity::parse) {
            self.severity = self.severity.max(Some(s));
        }
        if row.detail.is_some()
            && self
                .detail
                .as_ref()
                .is_none_or(|d| row_order(&row, d) == Ordering::Less)
        {
            self.detail = Some(row.clone());
        }
        if row_order(&row, &self.first) == Ordering::Less {
            self.first = row;
        }
    }

    fn note_id(&mut self, row: &Evidence) {
        let Some(id) = row.id() else {
            return;
        };
        let at = FirstAt::of(row);
        match self.ids.get_mut(id) {
            Some(known) if at < *known => *known = at,
            Some(_) => {}
            None => {
                self.ids.insert(id.to_owned(), at);
            }
        }
    }
}

impl Grouping {
    /// Add one evidence row.
    pub fn add(&mut self, row: Evidence) {
        let cluster = row.cluster.clone().unwrap_or_default();
        let key = row
            .finding_key
            .as_deref()
            .or(row.id())
            .unwrap_or_default()
            .to_owned();
        match self.groups.entry((cluster, key)) {
            Entry::Occupied(mut g) => g.get_mut().add(row),
            Entry::Vacant(slot) => {
                slot.insert(Group::new(row));
            }
        }
    }

    /// Add every row of a rule's result batch.
    pub fn add_batch(&mut self, batch: &RecordBatch) {
        each_evidence(batch, |row| self.add(row));
    }

    /// The row each finding takes its fields from, to complete (see [`crate::body_name`]).
    pub fn firsts_mut(&mut self) -> impl Iterator<Item = &mut Evidence> {
        self.groups.values_mut().map(|g| &mut g.first)
    }

    /// The findings, by cluster and key.
    pub fn finish(self, rule: &Rule) -> Vec<Finding> {
        let mut findings = Vec::with_capacity(self.groups.len());
        for ((cluster, _), g) in self.groups {
            let mut ids: Vec<&str> = g.ids.keys().map(String::as_str).collect();
            ids.sort_unstable();
            let count = ids.len();
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(rule.id.as_bytes());
            h.update(b"\n");
            h.update(cluster.as_bytes());
            for id in &ids {
                h.update(b"\n");
                h.update(id.as_bytes());
            }
            let finding_id = format!("{:032x}", h.digest128());
            // Evidence order for the list: where each ID's first row comes
            let mut ordered: Vec<(&FirstAt, Option<&str>, &str)> = g
                .ids
                .iter()
                .map(|(id, at)| (at, at.has_audit_id.then_some(id.as_str()), id.as_str()))
                .collect();
            ordered.sort_unstable();
            let truncated = ordered.len() > MAX_AUDIT_IDS;
            ordered.truncate(MAX_AUDIT_IDS);
            let audit_ids = ordered
                .into_iter()
                .map(|(_, _, id)| id.to_owned())
                .collect();
            let first = &g.first;
            let detail = g.detail.as_ref().and_then(|d| d.detail.as_deref());
            let mut f = Finding {
                schema_version: FINDING_SCHEMA_VERSION,
                finding_id,
                rule_id: rule.id.clone(),
                title: rule.title.clone(),
                category: rule.category.clone(),
                severity: g.severity.unwrap_or(rule.severity),
                mitre: rule.mitre.clone(),
                cluster: (!cluster.is_empty()).then(|| cluster.to_owned()),
                first_seen: first.ts.clone(),
                last_seen: g.last_ts.clone(),
                username: first.username.clone(),
                source_ip: first.source_ip.clone(),
                user_agent: first.user_agent.clone(),
                namespace: first.namespace.clone(),
                resource: first.resource.clone(),
                name: first.name.clone(),
                verb: first.verb.clone(),
                count,
                audit_ids,
                truncated,
                summary: String::new(),
            };
            f.summary = fill_with(&rule.summary, &f, detail, first.generate_name.as_deref());
            findings.push(f);
        }
        findings
    }
}

/// Group evidence rows into findings (see [`Grouping`]).
pub fn group(rule: &Rule, rows: &[Evidence]) -> Vec<Finding> {
    let mut grouping = Grouping::default();
    for row in rows {
        grouping.add(row.clone());
    }
    grouping.finish(rule)
}

/// Fill a summary template's `{field}` placeholders.
pub fn fill(template: &str, f: &Finding, detail: Option<&str>) -> String {
    fill_with(template, f, detail, None)
}

/// [`fill`], with `{name}` read as `PREFIX* (generateName)` when the object had no name yet
/// and its create request asked the server to generate one from `generate_name`.
pub fn fill_with(
    template: &str,
    f: &Finding,
    detail: Option<&str>,
    generate_name: Option<&str>,
) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    let name = match (&f.name, generate_name) {
        (None, Some(g)) => format!("{g}* (generateName)"),
        (n, _) => dash(n),
    };
    let mut out = template.to_string();
    for (key, value) in [
        ("username", dash(&f.username)),
        ("source_ip", dash(&f.source_ip)),
        ("user_agent", dash(&f.user_agent)),
        ("namespace", dash(&f.namespace)),
        ("resource", dash(&f.resource)),
        ("name", name),
        ("verb", dash(&f.verb)),
        ("cluster", dash(&f.cluster)),
        ("count", f.count.to_string()),
        ("detail", detail.unwrap_or("-").to_string()),
    ] {
        out = out.replace(&format!("{{{key}}}"), &value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Rule {
        Rule::parse(
            "id: r\ntitle: t\ncategory: secret-access\nseverity: high\nlevel: Metadata\n\
             description: d\nsummary: s\nsql: SELECT * FROM events_window\ntests:\n\
             - {name: f, expect: fire, events: []}\n- {name: q, expect: quiet, events: []}\n",
            "",
        )
        .expect("rule parses")
    }

    fn row(id: &str, severity: Option<&str>) -> Evidence {
        Evidence {
            audit_id: Some(id.into()),
            finding_key: Some("k".into()),
            severity: severity.map(Into::into),
            ..Evidence::default()
        }
    }

    #[test]
    fn a_finding_takes_the_highest_severity_its_rows_set() {
        let f = group(&rule(), &[row("a", Some("low")), row("b", Some("medium"))]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
    }

    #[test]
    fn evidence_keeps_the_columns_findings_read_as_text_and_nothing_else() {
        use datafusion::arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
        use std::sync::Arc;
        let schema = Schema::new(vec![
            Field::new("audit_id", DataType::Utf8, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("finding_key", DataType::Int64, true),
            Field::new("request_object", DataType::Utf8, true),
            Field::new("username", DataType::Utf8, true),
            Field::new("username", DataType::Utf8, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec![Some("a-1"), None])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_700_000_000_000_000), Some(0)])
                        .with_timezone("UTC"),
                ),
                Arc::new(Int64Array::from(vec![Some(42), None])),
                Arc::new(StringArray::from(vec![Some("{\"big\": 1}"), None])),
                // a name twice (`SELECT e.*, x.username`): the last one, as a JSON row kept it
                Arc::new(StringArray::from(vec![Some("first"), None])),
                Arc::new(StringArray::from(vec![Some("last"), None])),
            ],
        )
        .expect("batch");
        let rows = evidence(&[batch]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].audit_id.as_deref(), Some("a-1"));
        assert_eq!(rows[0].finding_key.as_deref(), Some("42"));
        let ts = rows[0].ts.as_deref().expect("a time");
        assert!(ts.starts_with("2023-11-14T22:13:20"), "{ts}");
        // no audit ID: the time identifies the row
        assert_eq!(rows[1].id(), rows[1].ts.as_deref());
        assert_eq!(rows[1].finding_key, None);
        assert_eq!(rows[0].username.as_deref(), Some("last"));
        assert_eq!(rows[1].username, None);
        assert_eq!(rows[0].source_ip, None);
    }

    #[test]
    fn rows_of_one_time_make_the_same_finding_in_any_order() {
        let at = |id: &str, detail: &str| Evidence {
            ts: Some("2026-12-07T10:00:00Z".into()),
            detail: Some(detail.into()),
            ..row(id, None)
        };
        let rows = [
            at("b", "then its token ran curl list namespaces"),
            at("a", "then its token ran curl list clusterroles"),
        ];
        let mut swapped = rows.clone();
        swapped.reverse();
        let mut rule = rule();
        rule.summary = "{detail}".into();
        let (f, g) = (group(&rule, &rows), group(&rule, &swapped));
        assert_eq!(f[0].summary, "then its token ran curl list clusterroles");
        assert_eq!(f[0].summary, g[0].summary);
        assert_eq!(f[0].audit_ids, ["a", "b"]);
        assert_eq!(f[0].audit_ids, g[0].audit_ids);
    }

    /// What grouping did before it folded rows as they came: every row held, sorted per
    /// finding. The fold must give the same findings.
    fn sorted_reference(rule: &Rule, rows: &[Evidence]) -> Vec<Finding> {
        let mut groups: BTreeMap<(&str, &str), Vec<&Evidence>> = BTreeMap::new();
        for row in rows {
            let cluster = row.cluster.as_deref().unwrap_or_default();
            let key = row.finding_key.as_deref().or(row.id()).unwrap_or_default();
            groups.entry((cluster, key)).or_default().push(row);
        }
        let mut findings = Vec::new();
        for ((cluster, _), mut members) in groups {
            members.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.cmp(b)));
            let first = members[0];
            let mut ids: Vec<&str> = members.iter().filter_map(|r| r.id()).collect();
            ids.sort_unstable();
            ids.dedup();
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(rule.id.as_bytes());
            h.update(b"\n");
            h.update(cluster.as_bytes());
            for id in &ids {
                h.update(b"\n");
                h.update(id.as_bytes());
            }
            let mut ordered: Vec<String> = Vec::new();
            let mut listed = std::collections::HashSet::new();
            for r in &members {
                if let Some(id) = r.id()
                    && listed.insert(id)
                {
                    ordered.push(id.to_owned());
                }
            }
            let truncated = ordered.len() > MAX_AUDIT_IDS;
            ordered.truncate(MAX_AUDIT_IDS);
            let detail = members.iter().find_map(|r| r.detail.as_deref());
            let mut f = Finding {
                schema_version: FINDING_SCHEMA_VERSION,
                finding_id: format!("{:032x}", h.digest128()),
                rule_id: rule.id.clone(),
                title: rule.title.clone(),
                category: rule.category.clone(),
                severity: members
                    .iter()
                    .filter_map(|r| r.severity.as_deref().and_then(Severity::parse))
                    .max()
                    .unwrap_or(rule.severity),
                mitre: rule.mitre.clone(),
                cluster: (!cluster.is_empty()).then(|| cluster.to_owned()),
                first_seen: first.ts.clone(),
                last_seen: members.last().and_then(|r| r.ts.clone()),
                username: first.username.clone(),
                source_ip: first.source_ip.clone(),
                user_agent: first.user_agent.clone(),
                namespace: first.namespace.clone(),
                resource: first.resource.clone(),
                name: first.name.clone(),
                verb: first.verb.clone(),
                count: ids.len(),
                audit_ids: ordered,
                truncated,
                summary: String::new(),
            };
            f.summary = fill_with(&rule.summary, &f, detail, first.generate_name.as_deref());
            findings.push(f);
        }
        findings
    }

    /// Rows drawn from few values, so that times, keys and audit IDs repeat and tie.
    fn random_rows(seed: u64, n: usize) -> Vec<Evidence> {
        let mut state = seed;
        let mut pick = |choices: &[Option<&str>]| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            choices[(state >> 33) as usize % choices.len()].map(str::to_owned)
        };
        (0..n)
            .map(|_| Evidence {
                cluster: pick(&[Some("c1"), Some("c2"), None]),
                audit_id: pick(&[Some("a1"), Some("a2"), Some("a3"), Some("a4"), None]),
                ts: pick(&[
                    Some("2026-12-07T10:00:00Z"),
                    Some("2026-12-07T10:00:01Z"),
                    Some("2026-12-07T10:00:02Z"),
                    None,
                ]),
                finding_key: pick(&[Some("k1"), Some("k2"), None]),
                severity: pick(&[Some("low"), Some("critical"), Some("nonsense"), None]),
                detail: pick(&[Some("d1"), Some("d2"), None]),
                username: pick(&[Some("u1"), Some("u2"), None]),
                source_ip: pick(&[Some("10.0.0.1"), None]),
                name: pick(&[Some("n1"), Some("n2"), None]),
                verb: pick(&[Some("create"), Some("get")]),
                generate_name: pick(&[Some("g-"), None]),
                ..Evidence::default()
            })
            .collect()
    }

    #[test]
    fn folding_rows_as_they_come_gives_what_sorting_them_all_gives() {
        let mut rule = rule();
        rule.summary = "{username} {name} {detail} {count}".into();
        for seed in 0..300 {
            let rows = random_rows(seed, 1 + seed as usize % 40);
            let mut reversed = rows.clone();
            reversed.reverse();
            let expected = sorted_reference(&rule, &rows);
            assert_eq!(group(&rule, &rows), expected, "seed {seed}");
            assert_eq!(group(&rule, &reversed), expected, "seed {seed}, reversed");
        }
    }

    #[test]
    fn a_finding_lists_its_first_thousand_audit_ids_in_time_order() {
        // 1,500 IDs whose times run backwards from their names' order
        let rows: Vec<Evidence> = (0..1500)
            .map(|i| Evidence {
                ts: Some(format!(
                    "2026-12-07T10:{:02}:{:02}Z",
                    59 - i / 60 % 60,
                    59 - i % 60
                )),
                cluster: Some("c".into()),
                ..row(&format!("id-{i:04}"), None)
            })
            .collect();
        let f = group(&rule(), &rows);
        assert_eq!(f, sorted_reference(&rule(), &rows));
        assert_eq!(f[0].count, 1500);
        assert!(f[0].truncated);
        assert_eq!(f[0].audit_ids.len(), MAX_AUDIT_IDS);
        assert_eq!(f[0].audit_ids[0], "id-1499");
    }

    #[test]
    fn rows_without_a_severity_keep_the_rules() {
        let f = group(&rule(), &[row("a", None), row("b", Some("nonsense"))]);
        assert_eq!(f[0].severity, Severity::High);
    }
}
