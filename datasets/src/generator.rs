//! The generator's public face: configuration, statistics, and the streaming loop that merges
//! benign arrivals, planned attacks and pending stages in time order.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};

use crate::attacks::{self, SCENARIOS};
use crate::benign::{Sim, class_weights};
use crate::cluster::Cluster;
use crate::json::{DAY_US, HOUR_US, TsFmt};
use crate::profile::Profile;
use crate::request::Req;
use crate::rng::{Rng, mix64};

/// Which attack scenarios to inject.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AttackSelection {
    /// Every scenario of [`scenario_names`].
    #[default]
    All,
    /// Benign traffic only.
    None,
    /// The named scenarios (names from [`scenario_names`]).
    List(Vec<String>),
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    /// Total number of audit events (lines) to write. The attack plan's events count towards it;
    /// if the attacks alone need more, they are all written anyway.
    pub events: u64,
    /// Seed of every random choice: the same configuration gives byte-identical output.
    pub seed: u64,
    /// Start of the period (UTC).
    pub start: DateTime<Utc>,
    /// Length of the period in days (at least 1).
    pub days: u32,
    /// Attack scenarios to inject.
    pub attacks: AttackSelection,
    /// Number of nodes of the modelled cluster (1 to 250; 9 and more get three control-plane
    /// nodes, fewer get one).
    pub nodes: u32,
    /// Which controllers run, who works on the cluster when, and the audit policy.
    pub profile: Profile,
}

/// 2026-01-05T00:00:00Z, a Monday.
fn default_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            events: 1_000_000,
            seed: 1,
            start: default_start(),
            days: 1,
            attacks: AttackSelection::All,
            nodes: 6,
            profile: Profile::Kubeadm,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Audit events (lines) written.
    pub events: u64,
    /// Events that belong to attack scenarios.
    pub malicious: u64,
    /// Attack requests (lines of the truth file).
    pub malicious_requests: u64,
    /// Bytes written to the event output.
    pub bytes: u64,
    /// Events per attack scenario, by scenario name.
    pub per_scenario: BTreeMap<String, u64>,
    /// Most requests held in memory at once (pending stages); bounded by the request rate and
    /// the watch duration, not by `events`.
    pub peak_in_flight: u64,
}

/// The configuration of `kubetrail demo`: about 200,000 events over one day on six nodes, with
/// every attack scenario.
pub fn demo_config() -> GenConfig {
    GenConfig {
        events: 200_000,
        seed: 20_260_105,
        start: default_start(),
        days: 1,
        attacks: AttackSelection::All,
        nodes: 6,
        profile: Profile::Kubeadm,
    }
}

/// Every scenario as (name, kubetrail category, one-line description).
pub fn scenario_names() -> Vec<(&'static str, &'static str, &'static str)> {
    SCENARIOS
        .iter()
        .map(|s| (s.name, s.category, s.description))
        .collect()
}

fn selected(cfg: &GenConfig) -> io::Result<Vec<usize>> {
    match &cfg.attacks {
        AttackSelection::All => Ok((0..SCENARIOS.len()).collect()),
        AttackSelection::None => Ok(Vec::new()),
        AttackSelection::List(names) => {
            let mut out = Vec::new();
            for name in names {
                let i = attacks::index_of(name).ok_or_else(|| {
                    let known: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "unknown attack scenario {name:?}: expected one of {}",
                            known.join(", ")
                        ),
                    )
                })?;
                if !out.contains(&i) {
                    out.push(i);
                }
            }
            Ok(out)
        }
    }
}

/// Maps "virtual time" (arrivals at a constant rate) to real time so that arrivals follow the
/// hourly intensity (busier in working hours, when people and CI are active).
struct Clock {
    start: i64,
    cum: Vec<f64>,
    weight: Vec<f64>,
    hour: usize,
}

impl Clock {
    fn new(start: i64, hours: usize, profile: Profile) -> Clock {
        let mut cum = Vec::with_capacity(hours + 1);
        let mut weight = Vec::with_capacity(hours);
        let mut acc = 0.0;
        cum.push(0.0);
        for h in 0..hours {
            let t = start + h as i64 * HOUR_US + HOUR_US / 2;
            let w: f64 = class_weights(profile, t).iter().sum();
            weight.push(w);
            acc += w;
            cum.push(acc);
        }
        Clock {
            start,
            cum,
            weight,
            hour: 0,
        }
    }

    fn total(&self) -> f64 {
        self.cum.last().copied().unwrap_or(0.0)
    }

    /// Real time of virtual time `v` (non-decreasing calls only).
    fn time(&mut self, v: f64) -> i64 {
        let last = self.weight.len().saturating_sub(1);
        while self.hour < last && v >= self.cum[self.hour + 1] {
            self.hour += 1;
        }
        let h = self.hour;
        let frac = ((v - self.cum[h]) / self.weight[h].max(1e-9)).clamp(0.0, 1.0);
        self.start + h as i64 * HOUR_US + (frac * HOUR_US as f64) as i64
    }
}

const FLUSH_AT: usize = 1 << 18;

fn truth_line(out: &mut Vec<u8>, r: &Req, scenario: usize, variant: &str, ts: &mut TsFmt) {
    let s = &SCENARIOS[scenario];
    out.extend_from_slice(b"{\"audit_id\":\"");
    out.extend_from_slice(&r.id);
    out.extend_from_slice(b"\",\"scenario\":\"");
    out.extend_from_slice(s.name.as_bytes());
    out.extend_from_slice(b"\",\"category\":\"");
    out.extend_from_slice(s.category.as_bytes());
    out.extend_from_slice(if r.context {
        b"\",\"role\":\"context"
    } else {
        b"\",\"role\":\"action"
    });
    out.extend_from_slice(b"\",\"variant\":\"");
    out.extend_from_slice(variant.as_bytes());
    out.extend_from_slice(b"\",\"ts\":\"");
    ts.push(out, r.t0);
    out.extend_from_slice(b"\"}\n");
}

/// Writes synthetic audit events (JSON lines, `audit.k8s.io/v1` Events ordered by
/// `stageTimestamp`) to `out`, and one truth line per attack request to `truth`.
///
/// Memory stays flat whatever `cfg.events` is: requests are generated in time order and only
/// those with stages still to write are kept.
///
/// # Errors
/// An unknown scenario name or zero days (`InvalidInput`), or any error of the writers.
pub fn generate(
    cfg: &GenConfig,
    out: &mut dyn Write,
    mut truth: Option<&mut dyn Write>,
) -> io::Result<GenStats> {
    if cfg.days == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "days must be at least 1",
        ));
    }
    let chosen = selected(cfg)?;
    let start = cfg.start.timestamp_micros();
    let end = start + i64::from(cfg.days) * DAY_US;
    let cluster = Cluster::new(cfg.nodes, cfg.seed, start, end, cfg.profile);
    let (plan, variants) = attacks::plan(&cluster, &chosen, mix64(cfg.seed ^ 0x5CEA_A710));
    let attack_lines = attacks::lines(&plan);
    let budget = cfg.events.saturating_sub(attack_lines);

    let mut sim = Sim::new(&cluster, mix64(cfg.seed));
    let mut clock = Clock::new(start, cfg.days as usize * 24, cfg.profile);
    let total_v = clock.total();
    let mut arrival_rng = Rng::new(mix64(cfg.seed ^ 0xA441_7A15));
    let mut v = 0.0f64;
    let mut arrivals: u64 = 0;
    let mut lines_per_arrival = 2.0f64;

    let next_arrival =
        |v: &mut f64, clock: &mut Clock, rng: &mut Rng, remaining: u64, lpa: f64| -> Option<i64> {
            if remaining == 0 {
                return None;
            }
            let expected = (remaining as f64 / lpa).max(1.0);
            let mean = (total_v - *v).max(0.0) / expected;
            *v = (*v + rng.exp(mean)).min(total_v * (1.0 - 1e-12));
            Some(clock.time(*v))
        };

    let mut stats = GenStats::default();
    let mut per_scenario = vec![0u64; SCENARIOS.len()];
    let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_AT + 64 * 1024);
    let mut truth_buf: Vec<u8> = Vec::new();
    let mut ts = TsFmt::default();
    let mut truth_ts = TsFmt::default();
    let mut plan = plan.into_iter().peekable();
    let mut next_benign = next_arrival(
        &mut v,
        &mut clock,
        &mut arrival_rng,
        budget,
        lines_per_arrival,
    );
    let mut last_benign = start;

    loop {
        let next_attack = plan.peek().map(|r| r.t0);
        let horizon = match (next_benign, next_attack) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        while let Some(stage_ts) = sim.b.em.next_ts() {
            if horizon.is_some_and(|h| stage_ts > h) {
                break;
            }
            if let Some(scenario) = sim.b.em.write_next(&mut buf, &mut ts) {
                stats.events += 1;
                if let Some(s) = scenario {
                    stats.malicious += 1;
                    per_scenario[s as usize] += 1;
                }
            }
            if buf.len() >= FLUSH_AT {
                out.write_all(&buf)?;
                stats.bytes += buf.len() as u64;
                buf.clear();
            }
        }
        let Some(now) = horizon else { break };
        if next_attack == Some(now) {
            if let Some(mut req) = plan.next() {
                if let Some(s) = req.scenario {
                    stats.malicious_requests += 1;
                    if truth.is_some() {
                        let variant = variants[s as usize].label();
                        truth_line(&mut truth_buf, &req, s as usize, &variant, &mut truth_ts);
                    }
                }
                sim.b.em.adopt(&mut req);
            }
            continue;
        }
        let remaining = budget.saturating_sub(sim.b.em.committed);
        let t = now.max(last_benign);
        last_benign = t;
        sim.arrival(t, remaining);
        arrivals += 1;
        if arrivals >= 64 {
            lines_per_arrival = sim.b.em.committed as f64 / arrivals as f64;
        }
        let remaining = budget.saturating_sub(sim.b.em.committed);
        next_benign = next_arrival(
            &mut v,
            &mut clock,
            &mut arrival_rng,
            remaining,
            lines_per_arrival,
        )
        .map(|x| x.max(t));
    }
    out.write_all(&buf)?;
    stats.bytes += buf.len() as u64;
    out.flush()?;
    if let Some(tw) = truth.as_mut() {
        tw.write_all(&truth_buf)?;
        tw.flush()?;
    }
    for (i, n) in per_scenario.iter().enumerate() {
        if *n > 0 {
            stats.per_scenario.insert(SCENARIOS[i].name.to_string(), *n);
        }
    }
    stats.peak_in_flight = sim.b.em.peak_in_flight as u64;
    Ok(stats)
}

/// [`generate`] with the events gzip-compressed into `out` (fast compression level, one gzip
/// member; the truth file stays plain). `GenStats::bytes` counts uncompressed bytes.
///
/// # Errors
/// As [`generate`], plus compression errors.
pub fn generate_gzip(
    cfg: &GenConfig,
    out: &mut dyn Write,
    truth: Option<&mut dyn Write>,
) -> io::Result<GenStats> {
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let stats = generate(cfg, &mut gz, truth)?;
    gz.finish()?.flush()?;
    Ok(stats)
}

/// A throughput measurement of [`generate`] writing to a sink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// Events written.
    pub events: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Wall-clock seconds taken.
    pub seconds: f64,
}

impl Throughput {
    /// Events per second.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.seconds.max(1e-9)
    }

    /// Megabytes (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }

    /// Average event size in bytes (newline included).
    pub fn avg_event_bytes(&self) -> f64 {
        self.bytes as f64 / (self.events.max(1)) as f64
    }
}

/// Generates `events` events of the default configuration into a sink and times it.
///
/// # Errors
/// Only if generation fails, which it does not for the default configuration.
pub fn measure(events: u64) -> io::Result<Throughput> {
    let cfg = GenConfig {
        events,
        ..GenConfig::default()
    };
    let started = Instant::now();
    let stats = generate(&cfg, &mut io::sink(), None)?;
    Ok(Throughput {
        events: stats.events,
        bytes: stats.bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Events per second of [`generate`] writing `events` events into a sink (0.0 if it failed).
/// For benchmarks and the CLI; not a test.
pub fn measure_throughput(events: u64) -> f64 {
    measure(events).map(|t| t.events_per_sec()).unwrap_or(0.0)
}
