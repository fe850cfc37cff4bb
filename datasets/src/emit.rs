//! Pending stage events in time order.
//!
//! Requests are finalised when they are created (possibly with a future start time); each of
//! their stages goes into a min-heap keyed by stage timestamp. The generator writes every stage
//! whose time has come before it creates the next request, so the output is sorted by
//! `stageTimestamp`. Requests live in a slot pool that is reused, so memory is bounded by the
//! number of requests in flight (mostly watches, which last 5 to 10 minutes), not by the number of
//! events generated.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::cluster::Cluster;
use crate::json::{self, TsFmt};
use crate::request::{Req, Stage};
use crate::rng::Rng;

/// Something requests are built into: the live emitter or an attack plan.
pub(crate) trait Build<'c> {
    /// Starts a request received at `t0`; returns it with the cluster and the random stream.
    fn begin(&mut self, t0: i64) -> (&mut Req, &'c Cluster, &mut Rng);
    /// Finalises the request started last; returns how many events it produces.
    fn commit(&mut self) -> u64;
}

/// The slot pool and the heap of pending stages.
#[derive(Debug)]
pub(crate) struct Emitter {
    slots: Vec<Req>,
    pending: Vec<u8>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(i64, u64, u32, u8)>>,
    seq: u64,
    cur: u32,
    end: i64,
    policy: crate::policy::Policy,
    /// Events of requests committed through [`Emitter::commit`] (benign traffic).
    pub committed: u64,
    /// Most requests in flight at once.
    pub peak_in_flight: usize,
}

impl Emitter {
    /// An empty emitter; long-running requests are cut at `end`, levels follow `policy`.
    pub(crate) fn new(end: i64, policy: crate::policy::Policy) -> Emitter {
        Emitter {
            slots: Vec::new(),
            pending: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            cur: 0,
            end,
            policy,
            committed: 0,
            peak_in_flight: 0,
        }
    }

    fn take_slot(&mut self) -> u32 {
        match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Req::default());
                self.pending.push(0);
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Starts a request in a free slot.
    pub(crate) fn begin(&mut self, t0: i64, id: [u8; 36]) -> &mut Req {
        let slot = self.take_slot();
        self.cur = slot;
        let r = &mut self.slots[slot as usize];
        r.reset(t0, id);
        r
    }

    /// The request started last (before it is committed).
    pub(crate) fn current(&mut self) -> Option<&mut Req> {
        self.slots.get_mut(self.cur as usize)
    }

    /// Finalises the request started last and schedules its stages.
    pub(crate) fn commit(&mut self, rng: &mut Rng) -> u64 {
        let slot = self.cur;
        let lines = self.slots[slot as usize].finalize(rng, self.end, self.policy);
        self.schedule(slot);
        self.committed += lines;
        lines
    }

    /// Takes over an already finalised request (from an attack plan) and schedules its stages.
    pub(crate) fn adopt(&mut self, req: &mut Req) {
        let slot = self.take_slot();
        std::mem::swap(&mut self.slots[slot as usize], req);
        self.schedule(slot);
    }

    fn schedule(&mut self, slot: u32) {
        let r = &self.slots[slot as usize];
        let mut n = 0u8;
        let mut push = |heap: &mut BinaryHeap<_>, ts: i64, stage: Stage, seq: &mut u64| {
            heap.push(Reverse((ts, *seq, slot, stage as u8)));
            *seq += 1;
            n += 1;
        };
        if r.with_received {
            push(&mut self.heap, r.t0, Stage::RequestReceived, &mut self.seq);
        }
        if r.long_running {
            push(
                &mut self.heap,
                r.t_started,
                Stage::ResponseStarted,
                &mut self.seq,
            );
        }
        push(
            &mut self.heap,
            r.t_done,
            Stage::ResponseComplete,
            &mut self.seq,
        );
        self.pending[slot as usize] = n;
        let in_flight = self.slots.len() - self.free.len();
        self.peak_in_flight = self.peak_in_flight.max(in_flight);
    }

    /// Timestamp of the earliest pending stage.
    pub(crate) fn next_ts(&self) -> Option<i64> {
        self.heap.peek().map(|Reverse((ts, ..))| *ts)
    }

    /// Writes the earliest pending stage as a line into `out`; returns the scenario of its request
    /// (`Some(None)` for benign traffic), or `None` when nothing is pending.
    pub(crate) fn write_next(&mut self, out: &mut Vec<u8>, ts: &mut TsFmt) -> Option<Option<u16>> {
        let Reverse((_, _, slot, stage)) = self.heap.pop()?;
        let r = &self.slots[slot as usize];
        r.write_stage(out, Stage::from_u8(stage), ts);
        let scenario = r.scenario;
        let p = &mut self.pending[slot as usize];
        *p = p.saturating_sub(1);
        if *p == 0 {
            self.free.push(slot);
        }
        Some(scenario)
    }
}

/// The live builder for benign traffic: the cluster, the random stream and the emitter.
pub(crate) struct Live<'c> {
    pub c: &'c Cluster,
    pub rng: Rng,
    pub em: Emitter,
}

impl<'c> Build<'c> for Live<'c> {
    fn begin(&mut self, t0: i64) -> (&mut Req, &'c Cluster, &mut Rng) {
        let id = json::uuid(self.rng.u128());
        (self.em.begin(t0, id), self.c, &mut self.rng)
    }

    fn commit(&mut self) -> u64 {
        self.em.commit(&mut self.rng)
    }
}

/// A list of finalised requests built ahead of time (the attack plan).
pub(crate) struct Plan<'c> {
    pub c: &'c Cluster,
    pub rng: Rng,
    pub reqs: Vec<Req>,
    /// Scenario the requests being built belong to.
    pub scenario: u16,
    /// That scenario's variant.
    pub variant: crate::attacks::Variant,
    end: i64,
}

impl<'c> Plan<'c> {
    /// An empty plan.
    pub(crate) fn new(c: &'c Cluster, seed: u64) -> Plan<'c> {
        Plan {
            c,
            rng: Rng::new(seed),
            reqs: Vec::new(),
            scenario: 0,
            variant: crate::attacks::Variant::WRITTEN,
            end: c.end,
        }
    }
}

impl Plan<'_> {
    /// Marks the request committed last as context: part of the scenario, not malicious on its
    /// own (see [`Req::context`]).
    pub(crate) fn context(&mut self) {
        if let Some(r) = self.reqs.last_mut() {
            r.context = true;
        }
    }
}

impl<'c> Build<'c> for Plan<'c> {
    fn begin(&mut self, t0: i64) -> (&mut Req, &'c Cluster, &mut Rng) {
        let id = json::uuid(self.rng.u128());
        let mut r = Req::default();
        r.reset(t0, id);
        self.reqs.push(r);
        let last = self.reqs.len() - 1;
        (&mut self.reqs[last], self.c, &mut self.rng)
    }

    fn commit(&mut self) -> u64 {
        let scenario = self.scenario;
        let end = self.end;
        let policy = self.c.profile.policy();
        match self.reqs.last_mut() {
            Some(r) => {
                r.scenario = Some(scenario);
                // Attack requests always log RequestReceived: they are never leases or kubelet
                // reads, except the kubelet reviews that are the evidence themselves.
                r.finalize(&mut self.rng, end, policy)
            }
            None => 0,
        }
    }
}
