//! Incidents: findings that share an identity (or, for anonymous callers, a source address) in one
//! cluster and follow each other within an hour, grouped into one sequence a responder works as a
//! whole (the way GuardDuty's attack sequences do). Two different identities are not linked by a
//! shared address alone (offices, NAT and control-plane hosts share addresses), and `info`
//! findings join no incident. Single findings stay single: an incident has two or more.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::finding::Finding;
use crate::rule::Severity;

/// Findings further apart than this (gap between one's last and the next's first event) are not
/// linked. Judgement call: an attacker's steps usually follow within minutes; an hour leaves room
/// for a slow operator without merging a whole day.
pub const MAX_GAP_SECONDS: i64 = 3600;

/// One incident.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Incident {
    pub incident_id: String,
    pub severity: Severity,
    pub cluster: Option<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub usernames: Vec<String>,
    pub source_ips: Vec<String>,
    pub categories: Vec<String>,
    /// The findings in the order they started: the sequence.
    pub finding_ids: Vec<String>,
    pub summary: String,
}

fn seconds(t: &Option<String>) -> Option<i64> {
    t.as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
}

fn find(parent: &mut [usize], i: usize) -> usize {
    let mut root = i;
    while parent[root] != root {
        root = parent[root];
    }
    let mut at = i;
    while parent[at] != root {
        let next = parent[at];
        parent[at] = root;
        at = next;
    }
    root
}

/// Identities that say nothing about who acted: anonymous callers are linked by address only.
fn identity(f: &Finding) -> Option<&str> {
    f.username
        .as_deref()
        .filter(|u| !u.is_empty() && *u != "system:anonymous")
}

fn linked(a: &Finding, b: &Finding) -> bool {
    if a.cluster != b.cluster {
        return false;
    }
    let same_who = match (identity(a), identity(b)) {
        (Some(x), Some(y)) => x == y,
        // an anonymous caller is known by its address only
        _ => matches!((&a.source_ip, &b.source_ip), (Some(x), Some(y)) if x == y),
    };
    if !same_who {
        return false;
    }
    match (
        seconds(&a.first_seen),
        seconds(&a.last_seen),
        seconds(&b.first_seen),
        seconds(&b.last_seen),
    ) {
        (Some(af), Some(al), Some(bf), Some(bl)) => {
            bf <= al + MAX_GAP_SECONDS && af <= bl + MAX_GAP_SECONDS
        }
        _ => false,
    }
}

/// Group `findings` into incidents of two or more, most severe first.
pub fn group(findings: &[Finding]) -> Vec<Incident> {
    let n = findings.len();
    let mut parent: Vec<usize> = (0..n).collect();
    // sorted by cluster and start, each finding is compared with those that start before the
    // end of the window it could link to; quadratic only within overlapping stretches
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        findings[a]
            .cluster
            .cmp(&findings[b].cluster)
            .then_with(|| seconds(&findings[a].first_seen).cmp(&seconds(&findings[b].first_seen)))
    });
    for (pos, &i) in order.iter().enumerate() {
        let reach = seconds(&findings[i].last_seen).map(|l| l + MAX_GAP_SECONDS);
        for &j in &order[pos + 1..] {
            if findings[j].cluster != findings[i].cluster {
                break;
            }
            // findings starting after this one's reach cannot link to it directly
            if let (Some(r), Some(f)) = (reach, seconds(&findings[j].first_seen))
                && f > r
            {
                break;
            }
            let info =
                findings[i].severity == Severity::Info || findings[j].severity == Severity::Info;
            if !info && linked(&findings[i], &findings[j]) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[b] = a;
                }
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<&Finding>> = Default::default();
    for (i, f) in findings.iter().enumerate() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(f);
    }
    let mut incidents: Vec<Incident> = groups
        .into_values()
        .filter(|g| g.len() >= 2)
        .map(|mut g| {
            g.sort_by(|a, b| {
                a.first_seen
                    .cmp(&b.first_seen)
                    .then_with(|| a.rule_id.cmp(&b.rule_id))
            });
            let set = |f: &dyn Fn(&Finding) -> Option<String>| -> Vec<String> {
                g.iter()
                    .filter_map(|x| f(x))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            };
            let usernames = set(&|f| identity(f).map(str::to_owned));
            let source_ips = set(&|f| f.source_ip.clone());
            let categories = set(&|f| Some(f.category.clone()));
            let finding_ids: Vec<String> = g.iter().map(|f| f.finding_id.clone()).collect();
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for id in &finding_ids {
                h.update(id.as_bytes());
                h.update(b"\n");
            }
            let severity = g.iter().map(|f| f.severity).max().unwrap_or(Severity::Info);
            let steps: Vec<&str> = g.iter().map(|f| f.rule_id.as_str()).collect();
            let who = if usernames.is_empty() {
                source_ips.join(", ")
            } else {
                usernames.join(", ")
            };
            Incident {
                incident_id: format!("{:032x}", h.digest128()),
                severity,
                cluster: g[0].cluster.clone(),
                first_seen: g.iter().filter_map(|f| f.first_seen.clone()).min(),
                last_seen: g.iter().filter_map(|f| f.last_seen.clone()).max(),
                summary: format!("{} findings by {who}: {}", g.len(), steps.join(" -> ")),
                usernames,
                source_ips,
                categories,
                finding_ids,
            }
        })
        .collect();
    incidents.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.first_seen.cmp(&b.first_seen))
    });
    incidents
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, user: Option<&str>, ip: &str, first: &str, last: &str) -> Finding {
        Finding {
            schema_version: "1",
            finding_id: id.into(),
            rule_id: format!("rule-{id}"),
            title: String::new(),
            category: "secret-access".into(),
            severity: Severity::Medium,
            mitre: vec![],
            cluster: Some("prod".into()),
            first_seen: Some(format!("2026-01-10T{first}:00Z")),
            last_seen: Some(format!("2026-01-10T{last}:00Z")),
            username: user.map(str::to_owned),
            source_ip: Some(ip.into()),
            user_agent: None,
            namespace: None,
            resource: None,
            name: None,
            verb: None,
            count: 1,
            audit_ids: vec![],
            truncated: false,
            summary: String::new(),
        }
    }

    #[test]
    fn findings_of_one_identity_within_the_hour_form_one_incident_in_order() {
        let found = [
            f("b", Some("mallory"), "198.51.100.23", "10:20", "10:25"),
            f("a", Some("mallory"), "198.51.100.23", "10:00", "10:05"),
            f("c", Some("mallory"), "203.0.113.9", "11:10", "11:12"),
        ];
        let incidents = group(&found);
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].finding_ids, ["a", "b", "c"]);
        assert_eq!(incidents[0].source_ips.len(), 2);
    }

    #[test]
    fn a_shared_address_links_identities_and_anonymous_callers() {
        let found = [
            f(
                "a",
                Some("system:anonymous"),
                "198.51.100.23",
                "10:00",
                "10:01",
            ),
            f(
                "b",
                Some("system:serviceaccount:web:app"),
                "198.51.100.23",
                "10:30",
                "10:31",
            ),
        ];
        let incidents = group(&found);
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].usernames, ["system:serviceaccount:web:app"]);
    }

    #[test]
    fn two_people_behind_one_address_are_not_one_incident() {
        let found = [
            f("a", Some("alice"), "203.0.113.7", "10:00", "10:05"),
            f("b", Some("bob"), "203.0.113.7", "10:10", "10:15"),
        ];
        assert!(group(&found).is_empty());
    }

    #[test]
    fn info_findings_join_no_incident() {
        let mut quiet = f("b", Some("mallory"), "198.51.100.23", "10:10", "10:15");
        quiet.severity = Severity::Info;
        let found = [
            f("a", Some("mallory"), "198.51.100.23", "10:00", "10:05"),
            quiet,
        ];
        assert!(group(&found).is_empty());
    }

    #[test]
    fn unrelated_or_distant_findings_stay_single() {
        let found = [
            f("a", Some("mallory"), "198.51.100.23", "10:00", "10:05"),
            f("b", Some("alice"), "203.0.113.7", "10:06", "10:07"),
            f("c", Some("mallory"), "198.51.100.23", "12:00", "12:01"),
        ];
        assert!(group(&found).is_empty());
    }
}
