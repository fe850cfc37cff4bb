//! Behaviour of the generator as a user sees it: determinism, valid and complete events, flat
//! memory, realistic proportions, labelled attacks.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use serde_json::Value;

use crate::{AttackSelection, GenConfig, generate, scenario_names};

fn run(cfg: &GenConfig) -> (Vec<u8>, Vec<u8>, crate::GenStats) {
    let mut out = Vec::new();
    let mut truth = Vec::new();
    let stats = generate(cfg, &mut out, Some(&mut truth)).expect("generation into memory");
    (out, truth, stats)
}

fn cfg(events: u64, seed: u64) -> GenConfig {
    GenConfig {
        events,
        seed,
        ..GenConfig::default()
    }
}

fn lines(out: &[u8]) -> Vec<Value> {
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("every line is JSON"))
        .collect()
}

#[test]
fn same_config_gives_identical_bytes_and_other_seeds_differ() {
    let (a, ta, _) = run(&cfg(20_000, 7));
    let (b, tb, _) = run(&cfg(20_000, 7));
    let (c, _, _) = run(&cfg(20_000, 8));
    assert!(a == b, "two runs of the same configuration differ");
    assert!(ta == tb, "truth files differ");
    assert!(a != c, "different seeds gave the same output");
}

#[test]
fn writes_exactly_the_requested_number_of_events() {
    for n in [3_000u64, 20_001, 50_000] {
        let (out, _, stats) = run(&cfg(n, 3));
        assert_eq!(stats.events, n);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count() as u64, n);
        assert_eq!(stats.bytes, out.len() as u64);
    }
}

fn is_micro_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 27
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[26] == b'Z'
        && b[20..26].iter().all(u8::is_ascii_digit)
}

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b[8] == b'-'
        && b[13] == b'-'
        && b[14] == b'4'
        && b[18] == b'-'
        && b[23] == b'-'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

#[test]
fn every_line_is_a_complete_audit_event() {
    let (out, _, _) = run(&cfg(30_000, 11));
    let text = std::str::from_utf8(&out).expect("UTF-8 output");
    assert!(
        text.contains("\\u0026"),
        "query strings must escape & as \\u0026"
    );
    let mut prev = String::new();
    for v in lines(&out) {
        assert_eq!(v["kind"], "Event");
        assert_eq!(v["apiVersion"], "audit.k8s.io/v1");
        let level = v["level"].as_str().expect("level");
        assert!(matches!(level, "Metadata" | "Request" | "RequestResponse"));
        assert!(is_uuid_v4(v["auditID"].as_str().expect("auditID")), "{v}");
        let stage = v["stage"].as_str().expect("stage");
        assert!(matches!(
            stage,
            "RequestReceived" | "ResponseStarted" | "ResponseComplete"
        ));
        let uri = v["requestURI"].as_str().expect("requestURI");
        assert!(uri.starts_with('/'));
        assert!(v["verb"].is_string());
        assert!(v["user"]["username"].is_string());
        assert!(v["sourceIPs"].as_array().is_some_and(|a| !a.is_empty()));
        let rr = v["requestReceivedTimestamp"].as_str().expect("rr ts");
        let st = v["stageTimestamp"].as_str().expect("stage ts");
        assert!(is_micro_time(rr) && is_micro_time(st), "{rr} {st}");
        assert!(st >= rr, "stage before receipt: {v}");
        assert!(st >= prev.as_str(), "out of order: {st} after {prev}");
        prev = st.to_string();
        if uri.starts_with("/api/") || uri.starts_with("/apis/") {
            assert!(v["objectRef"]["resource"].is_string(), "{v}");
        }
        match stage {
            "RequestReceived" => {
                assert!(v.get("responseStatus").is_none());
                assert!(v.get("annotations").is_none());
                assert!(v.get("requestObject").is_none());
            }
            _ => {
                assert!(v["responseStatus"]["code"].is_u64(), "{v}");
                let d = &v["annotations"]["authorization.k8s.io/decision"];
                assert!(d == "allow" || d == "forbid", "{v}");
                assert!(v["annotations"]["authorization.k8s.io/reason"].is_string());
            }
        }
        if stage == "ResponseStarted" {
            let code = v["responseStatus"]["code"].as_u64();
            assert!(code == Some(101) || code == Some(200), "{v}");
        }
        if level == "Metadata" {
            assert!(v.get("requestObject").is_none() && v.get("responseObject").is_none());
        }
        if v["objectRef"]["resource"] == "secrets" {
            assert_eq!(level, "Metadata", "secret bodies must never be logged");
        }
        if level == "Request" {
            assert!(v.get("responseObject").is_none());
        }
    }
}

#[test]
fn every_stage_of_a_request_shares_its_audit_id_and_exec_starts_with_101() {
    let (out, _, _) = run(&cfg(60_000, 5));
    let mut stages: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut exec_started = 0;
    for v in lines(&out) {
        let id = v["auditID"].as_str().expect("id").to_string();
        let stage = v["stage"].as_str().expect("stage").to_string();
        if v["objectRef"]["subresource"] == "exec" && stage == "ResponseStarted" {
            assert_eq!(v["responseStatus"]["code"], 101);
            exec_started += 1;
        }
        stages.entry(id).or_default().push(stage);
    }
    for (id, s) in &stages {
        assert_eq!(
            s.iter().filter(|x| *x == "ResponseComplete").count(),
            1,
            "{id}: {s:?}"
        );
        assert_eq!(
            s.last().map(String::as_str),
            Some("ResponseComplete"),
            "{id}"
        );
    }
    assert!(exec_started > 0, "no kubectl exec in a working day");
}

/// Who a username belongs to, for the proportion bands.
fn kind_of(username: &str) -> &'static str {
    if username.starts_with("system:node:") {
        "kubelet"
    } else if username == "system:apiserver"
        || username == "system:kube-controller-manager"
        || username == "system:kube-scheduler"
        || username.starts_with("system:serviceaccount:kube-system:")
            && !username.contains("coredns")
            && !username.contains("metrics-server")
            && !username.contains("cluster-autoscaler")
            && !username.contains("kube-proxy")
            && !username.contains("calico")
    {
        "control-plane"
    } else if username == "system:serviceaccount:ci-system:ci-deployer" {
        "ci"
    } else if username.starts_with("system:serviceaccount:") {
        "controllers"
    } else if username == "system:anonymous" {
        "anonymous"
    } else {
        "human"
    }
}

#[test]
fn traffic_proportions_stay_in_the_documented_bands() {
    let (out, _, stats) = run(&GenConfig {
        events: 200_000,
        attacks: AttackSelection::None,
        ..cfg(0, 21)
    });
    let mut verbs: BTreeMap<String, u64> = BTreeMap::new();
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    let mut levels: BTreeMap<String, u64> = BTreeMap::new();
    let mut denied = 0u64;
    let all = lines(&out);
    for v in &all {
        *verbs
            .entry(v["verb"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
        *kinds
            .entry(kind_of(v["user"]["username"].as_str().unwrap_or("")))
            .or_default() += 1;
        *levels
            .entry(v["level"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
        if v["responseStatus"]["code"] == 403 {
            denied += 1;
        }
    }
    let n = all.len() as f64;
    let share = |x: u64| x as f64 / n;
    let verb = |k: &str| share(verbs.get(k).copied().unwrap_or(0));
    let kind = |k: &str| share(kinds.get(k).copied().unwrap_or(0));
    let reads = verb("get") + verb("list") + verb("watch");
    let system = kind("control-plane") + kind("kubelet") + kind("controllers");
    eprintln!("verbs {verbs:?}\nkinds {kinds:?}\nlevels {levels:?}\ndenied {denied}");
    eprintln!(
        "avg event size {:.0} bytes",
        stats.bytes as f64 / stats.events as f64
    );
    assert!(reads >= 0.60, "get+list+watch {reads:.3}");
    assert!(system >= 0.80, "system share {system:.3}");
    assert!(kind("human") < 0.10, "human share {:.3}", kind("human"));
    assert!(kind("human") > 0.005, "human share {:.3}", kind("human"));
    assert!(kind("kubelet") > 0.15 && kind("kubelet") < 0.45);
    assert!(kind("ci") > 0.0 && kind("ci") < 0.03);
    assert!(share(denied) > 0.0 && share(denied) < 0.01, "403 share");
    let avg = stats.bytes as f64 / stats.events as f64;
    assert!(
        (900.0..=1_600.0).contains(&avg),
        "average event size {avg:.0}"
    );
}

#[test]
fn people_work_office_hours() {
    let (out, _, _) = run(&GenConfig {
        events: 100_000,
        attacks: AttackSelection::None,
        ..cfg(0, 4)
    });
    let (mut day, mut night) = (0u64, 0u64);
    for v in lines(&out) {
        if kind_of(v["user"]["username"].as_str().unwrap_or("")) != "human" {
            continue;
        }
        let ts = v["requestReceivedTimestamp"].as_str().unwrap_or("");
        let hour: u32 = ts.get(11..13).and_then(|h| h.parse().ok()).unwrap_or(0);
        if (8..19).contains(&hour) {
            day += 1;
        } else {
            night += 1;
        }
    }
    assert!(day > night * 5, "day {day} night {night}");
}

#[test]
fn every_scenario_is_labelled_when_all_attacks_are_on() {
    let (out, truth, stats) = run(&cfg(100_000, 9));
    let events = lines(&out);
    let ids: BTreeSet<&str> = events
        .iter()
        .map(|v| v["auditID"].as_str().unwrap_or(""))
        .collect();
    let mut seen = BTreeSet::new();
    let mut truth_ids = BTreeSet::new();
    let cats: BTreeMap<&str, &str> = scenario_names()
        .into_iter()
        .map(|(n, c, _)| (n, c))
        .collect();
    for v in lines(&truth) {
        let id = v["audit_id"].as_str().expect("audit_id");
        let scenario = v["scenario"].as_str().expect("scenario");
        assert!(
            ids.contains(id),
            "truth names an id that is not in the output"
        );
        assert!(
            truth_ids.insert(id.to_string()),
            "truth line written twice for {id}"
        );
        assert_eq!(cats.get(scenario).copied(), v["category"].as_str());
        assert!(is_micro_time(v["ts"].as_str().expect("ts")));
        seen.insert(scenario.to_string());
    }
    for (name, _, _) in scenario_names() {
        assert!(seen.contains(name), "scenario {name} missing from truth");
        assert!(stats.per_scenario.get(name).copied().unwrap_or(0) > 0);
    }
    assert_eq!(stats.malicious_requests as usize, truth_ids.len());
    let malicious_lines = events
        .iter()
        .filter(|v| truth_ids.contains(v["auditID"].as_str().unwrap_or("")))
        .count() as u64;
    assert_eq!(malicious_lines, stats.malicious);
    assert!(scenario_names().len() >= 22);
}

#[test]
fn no_truth_and_no_attack_events_when_attacks_are_off() {
    let (_, truth, stats) = run(&GenConfig {
        attacks: AttackSelection::None,
        ..cfg(20_000, 9)
    });
    assert!(truth.is_empty());
    assert_eq!(stats.malicious, 0);
    assert!(stats.per_scenario.is_empty());
}

#[test]
fn a_listed_scenario_alone_is_injected_and_unknown_names_are_rejected() {
    let (_, truth, stats) = run(&GenConfig {
        attacks: AttackSelection::List(vec!["reverse-shell-exec".into()]),
        ..cfg(10_000, 2)
    });
    assert_eq!(stats.per_scenario.len(), 1);
    let t = String::from_utf8(truth).expect("utf8");
    assert!(t.contains("\"scenario\":\"reverse-shell-exec\""));
    let err = generate(
        &GenConfig {
            attacks: AttackSelection::List(vec!["no-such-attack".into()]),
            ..cfg(1_000, 2)
        },
        &mut std::io::sink(),
        None,
    )
    .expect_err("unknown scenario");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("reverse-shell-exec"));
}

#[test]
fn slow_harvest_spreads_over_every_day_of_a_multi_day_period() {
    let (_, truth, _) = run(&GenConfig {
        events: 60_000,
        days: 3,
        attacks: AttackSelection::List(vec!["slow-secret-harvest".into()]),
        ..cfg(0, 6)
    });
    let days: BTreeSet<String> = lines(&truth)
        .iter()
        .filter_map(|v| v["ts"].as_str().map(|s| s[..10].to_string()))
        .collect();
    assert_eq!(days.len(), 3, "{days:?}");
}

#[test]
fn attack_events_carry_the_evidence_rules_need() {
    let (out, truth, _) = run(&cfg(100_000, 13));
    let truth_ids: BTreeMap<String, String> = lines(&truth)
        .iter()
        .map(|v| {
            (
                v["audit_id"].as_str().unwrap_or("").to_string(),
                v["scenario"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let text = |v: &Value| v.to_string();
    let mut found: BTreeSet<&str> = BTreeSet::new();
    for v in lines(&out) {
        if v["stage"] != "ResponseComplete" && v["stage"] != "ResponseStarted" {
            continue;
        }
        let Some(s) = truth_ids.get(v["auditID"].as_str().unwrap_or("")) else {
            continue;
        };
        let uri = v["requestURI"].as_str().unwrap_or("");
        let body = text(&v["requestObject"]);
        match s.as_str() {
            "reverse-shell-exec" if uri.contains("%2Fdev%2Ftcp%2F") => {
                found.insert("reverse-shell");
            }
            "privileged-pod-hostpath"
                if body.contains("\"privileged\":true") && body.contains("\"hostPID\":true") =>
            {
                found.insert("privileged");
            }
            "cluster-admin-binding" if body.contains("\"name\":\"cluster-admin\"") => {
                found.insert("binding");
            }
            "admission-webhook-hijack" if body.contains("\"failurePolicy\":\"Ignore\"") => {
                found.insert("webhook");
            }
            "impersonation" if v["impersonatedUser"]["groups"][0] == "system:masters" => {
                found.insert("impersonation");
            }
            "anonymous-kubelet-probe"
                if text(&v["responseObject"]).contains("system:anonymous") =>
            {
                found.insert("kubelet-sar");
            }
            "nodeport-exposure" if body.contains("\"type\":\"NodePort\"") => {
                found.insert("nodeport");
            }
            "legacy-token-secret"
                if v["annotations"]["authentication.k8s.io/legacy-token-manual-secret"]
                    .is_string() =>
            {
                found.insert("legacy");
            }
            _ => {}
        }
    }
    for k in [
        "reverse-shell",
        "privileged",
        "binding",
        "webhook",
        "impersonation",
        "kubelet-sar",
        "nodeport",
        "legacy",
    ] {
        assert!(found.contains(k), "missing evidence {k}: {found:?}");
    }
}

/// A million events into a sink: memory does not follow the event count. Kept out of the default
/// run because it takes several seconds in a debug build; run with `cargo test -p datasets --
/// --ignored`.
#[test]
#[ignore = "slow in debug builds"]
fn a_million_events_keep_memory_flat() {
    let small = generate(&cfg(100_000, 1), &mut std::io::sink(), None).expect("sink");
    let big = generate(&cfg(1_000_000, 1), &mut std::io::sink(), None).expect("sink");
    assert_eq!(big.events, 1_000_000);
    // Requests in flight grow with the event rate (more events in the same day), not with the
    // total: ten times the events in one day stays far below ten times the pool.
    assert!(big.peak_in_flight < 20_000, "{}", big.peak_in_flight);
    assert!(small.peak_in_flight > 0);
}

/// Requests in flight depend on the rate, not on the length of the run.
#[test]
fn requests_in_flight_do_not_grow_with_the_run_length() {
    let one = generate(
        &GenConfig {
            events: 40_000,
            days: 1,
            ..cfg(0, 1)
        },
        &mut std::io::sink(),
        None,
    )
    .expect("sink");
    let four = generate(
        &GenConfig {
            events: 160_000,
            days: 4,
            ..cfg(0, 1)
        },
        &mut std::io::sink(),
        None,
    )
    .expect("sink");
    assert!(
        four.peak_in_flight < one.peak_in_flight * 2,
        "{} vs {}",
        four.peak_in_flight,
        one.peak_in_flight
    );
}

/// Prints throughput; run with `cargo test --release -p datasets -- --ignored --nocapture throughput`.
#[test]
#[ignore = "a measurement, not a test"]
fn throughput_report() {
    let t = crate::measure(2_000_000).expect("sink");
    println!(
        "{} events, {:.1} MB in {:.2} s: {:.0} events/s, {:.1} MB/s, {:.0} bytes/event",
        t.events,
        t.bytes as f64 / 1e6,
        t.seconds,
        t.events_per_sec(),
        t.mb_per_sec(),
        t.avg_event_bytes()
    );
}

/// Writes a sample to /tmp for eyeballing: `cargo test -p datasets -- --ignored dump_sample`.
#[test]
#[ignore = "writes files for manual inspection"]
fn dump_sample() {
    let (out, truth, stats) = run(&crate::demo_config());
    let mut f = std::fs::File::create("/tmp/kubetrail-demo.jsonl").expect("create");
    f.write_all(&out).expect("write");
    let mut t = std::fs::File::create("/tmp/kubetrail-demo-truth.jsonl").expect("create");
    t.write_all(&truth).expect("write");
    println!("{stats:?}");
}

#[test]
fn gzip_output_decompresses_to_the_plain_output() {
    let c = cfg(5_000, 12);
    let (plain, _, _) = run(&c);
    let mut gz = Vec::new();
    crate::generate_gzip(&c, &mut gz, None).expect("gzip into memory");
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back)
        .expect("valid gzip");
    assert!(back == plain);
    assert!(
        gz.len() * 5 < plain.len(),
        "audit JSON should compress well"
    );
}

#[test]
fn one_node_and_large_clusters_generate_complete_scenarios() {
    for nodes in [1u32, 40] {
        let (out, truth, stats) = run(&GenConfig {
            nodes,
            ..cfg(8_000, 5)
        });
        assert_eq!(stats.events, 8_000);
        assert_eq!(lines(&out).len(), 8_000);
        let scenarios: BTreeSet<String> = lines(&truth)
            .iter()
            .filter_map(|v| v["scenario"].as_str().map(str::to_string))
            .collect();
        assert_eq!(scenarios.len(), scenario_names().len(), "nodes={nodes}");
    }
}

#[test]
fn zero_days_is_rejected() {
    let err = generate(
        &GenConfig {
            days: 0,
            ..cfg(100, 1)
        },
        &mut std::io::sink(),
        None,
    )
    .expect_err("zero days");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

fn with_profile(events: u64, seed: u64, profile: crate::Profile) -> GenConfig {
    GenConfig {
        events,
        seed,
        profile,
        attacks: AttackSelection::None,
        ..GenConfig::default()
    }
}

fn usernames(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .filter_map(|e| e["user"]["username"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn profiles_differ_in_controllers_and_audit_policy() {
    use crate::Profile;
    let kubeadm = lines(&run(&with_profile(30_000, 3, Profile::Kubeadm)).0);
    let eks = lines(&run(&with_profile(30_000, 3, Profile::EksPlatform)).0);
    let mesh = lines(&run(&with_profile(30_000, 3, Profile::MeshGitops)).0);
    let eso = "system:serviceaccount:external-secrets:external-secrets";
    let istiod = "system:serviceaccount:istio-system:istiod";
    assert!(usernames(&eks).contains(eso));
    assert!(usernames(&mesh).contains(istiod));
    assert!(!usernames(&kubeadm).contains(eso) && !usernames(&kubeadm).contains(istiod));
    assert!(!usernames(&eks).contains(istiod));
    // Prometheus scrapes kubelets through the API server's node proxy in the platform profiles
    let scrapes = |evs: &[Value]| {
        evs.iter()
            .filter(|e| {
                e["requestURI"]
                    .as_str()
                    .is_some_and(|u| u.contains("/proxy/metrics"))
            })
            .count()
    };
    assert_eq!(scrapes(&kubeadm), 0);
    assert!(scrapes(&eks) > 0 && scrapes(&mesh) > 0);
    // audit policy: the managed one never logs RequestReceived; the strict one logs it for leases
    let received = |evs: &[Value], resource: &str| {
        evs.iter()
            .filter(|e| e["stage"] == "RequestReceived" && e["objectRef"]["resource"] == resource)
            .count()
    };
    assert_eq!(
        eks.iter()
            .filter(|e| e["stage"] == "RequestReceived")
            .count(),
        0
    );
    assert_eq!(received(&kubeadm, "leases"), 0);
    assert!(received(&mesh, "leases") > 0);
    // services written with both bodies under the managed policy, with the request only under kubeadm's
    let service_levels = |evs: &[Value]| -> BTreeSet<String> {
        evs.iter()
            .filter(|e| {
                e["objectRef"]["resource"] == "services"
                    && matches!(e["verb"].as_str(), Some("patch" | "update" | "create"))
            })
            .filter_map(|e| e["level"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(service_levels(&eks).iter().all(|l| l == "RequestResponse"));
}

#[test]
fn each_scenario_comes_in_at_least_three_variants_across_seeds() {
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for seed in 0..12 {
        let (_, truth, _) = run(&GenConfig {
            attacks: AttackSelection::All,
            ..cfg(0, seed)
        });
        for t in lines(&truth) {
            if let (Some(s), Some(v)) = (t["scenario"].as_str(), t["variant"].as_str()) {
                seen.entry(s.to_string()).or_default().insert(v.to_string());
            }
        }
    }
    assert_eq!(seen.len(), scenario_names().len());
    for (scenario, variants) in &seen {
        assert!(variants.len() >= 3, "{scenario}: {variants:?}");
    }
}
