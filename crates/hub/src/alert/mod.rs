//! The alert engine: every `evaluate_every` it judges each host's latest merged state (as the
//! series of `crate::series`) and the heartbeat against the built-in and user rules, moves
//! each alert instance through inactive → pending → firing → resolved, records every
//! notified transition as a host event, persists its state (a restart neither re-notifies
//! nor forgets), and hands notices to the [`Notifier`]. `docs/alerts.md` is the user's guide.

pub mod builtin;
pub mod cron;
pub mod integrations;
pub mod jobs;
pub mod matcher;
pub mod projection;
pub mod rule;
pub mod silence;
pub mod state;

pub use builtin::FsProjection;
pub use projection::{BoxFuture, NoProjection, Projection};
pub use rule::{AlertsConfig, RuleSet};
pub use silence::{Ack, NewSilence, Silence, SilenceRequest};
pub use state::{AlertState, Instance};

use crate::notice::{AlertNotice, NoticeState, Notifier, Severity};
use crate::store::{AlertSave, Host, HostId, NewEvent, Store, StoreError, StoredAlert};
use builtin::{HostInput, Samples, SpoolHistory};
use hostwatch_proto::Report;
use jobs::JobFacts;
use rule::{Kind, Rule};
use serde::Serialize;
use state::{Damping, Transition};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Event kinds for the host event log (the digest counts them).
pub const EVENT_FIRING: &str = "alert_firing";
pub const EVENT_RESOLVED: &str = "alert_resolved";

/// An open alert as the API and dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    pub fingerprint: String,
    pub rule: String,
    pub host: String,
    pub state: AlertState,
    pub severity: Severity,
    /// Pending: since when it breaches; firing: since when it fires. Unix ms.
    pub since: i64,
    pub value: f64,
    pub threshold: Option<f64>,
    pub summary: String,
    pub labels: BTreeMap<String, String>,
    pub silenced: bool,
    pub flapping: bool,
    pub acknowledged: Option<Ack>,
}

/// Why an acknowledgement was refused.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("no firing alert has fingerprint {0}")]
    NotFiring(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one pass decided: written in one transaction, then sent.
#[derive(Debug, Default)]
struct Outcome {
    save: AlertSave,
    notices: Vec<AlertNotice>,
    stop: Vec<String>,
    /// Where each fingerprint's upsert is in `save.upserts`, and the fingerprints in
    /// `save.removed`: an instance saved twice in one pass is written once, found without
    /// searching the lists (a search per save made a fleet-wide incident quadratic: 30,000
    /// alerts firing at once kept the engine busy for minutes).
    upserted: HashMap<String, usize>,
    removed: HashSet<String>,
}

#[derive(Debug, Default)]
struct EngineState {
    /// Per host name, per fingerprint.
    instances: HashMap<String, BTreeMap<String, Instance>>,
    host_ids: HashMap<String, HostId>,
    host_tags: HashMap<String, Vec<String>>,
    silences: Vec<Silence>,
    acks: HashMap<String, Ack>,
    /// The collection time of the last report judged per host: an older or the same report
    /// is never judged again.
    watermarks: HashMap<HostId, i64>,
    /// The same, once the pass's notices have been handed to the notifier.
    judged: HashMap<HostId, i64>,
    spool: HashMap<HostId, SpoolHistory>,
    /// Per (host, mount): when fetched (clock) and the projection.
    projections: HashMap<(HostId, String), (i64, Option<FsProjection>)>,
    /// Per (host, container): its `restart_count` over the `container_restarting` window.
    restarts: HashMap<(HostId, String), SpoolHistory>,
    /// Per host: when its job runs were last read (clock) and each job's facts.
    jobs: HashMap<HostId, (i64, Vec<JobFacts>)>,
    /// Fingerprints that may have a row in the store: only these need deleting when
    /// forgotten. Most instances are signals judged inactive and never saved; deleting each
    /// of them again on every pass (two statements apiece) held the database writer for a
    /// second or more every pass at 10,000 hosts, and every report waited behind it.
    stored: HashSet<String>,
}

/// How often a host's job runs are read again for the job rules.
const JOBS_REFRESH_MS: i64 = 60_000;

/// How many hosts a pass gathers between giving the runtime's other tasks a turn.
pub const YIELD_EVERY_HOSTS: usize = 64;

/// The alert engine. Shared by the evaluation task and the API.
pub struct AlertEngine {
    rules: RuleSet,
    by_name: HashMap<String, usize>,
    config: AlertsConfig,
    notifier: Arc<dyn Notifier>,
    projection: Arc<dyn Projection>,
    url_base: Option<String>,
    state: Mutex<EngineState>,
    /// Serialises passes and API changes; `true` once the persisted state is loaded.
    serial: tokio::sync::Mutex<bool>,
}

impl std::fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertEngine")
            .field("rules", &self.rules.rules.len())
            .finish_non_exhaustive()
    }
}

/// A stable identity: rule, host and the series' labels.
pub fn fingerprint(rule: &str, host: &str, labels: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [rule, host] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([1]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    // Hex by hand: a `format!` per byte was visible in every alert pass (one per signal).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(24);
    for b in &h.finalize()[..12] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

impl AlertEngine {
    /// An engine over checked rules. `url_base` is the hub's public URL for notice links.
    pub fn new(
        rules: RuleSet,
        config: AlertsConfig,
        notifier: Arc<dyn Notifier>,
        projection: Arc<dyn Projection>,
        url_base: Option<String>,
    ) -> AlertEngine {
        let by_name = rules
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        AlertEngine {
            rules,
            by_name,
            config,
            notifier,
            projection,
            url_base,
            state: Mutex::new(EngineState::default()),
            serial: tokio::sync::Mutex::new(false),
        }
    }

    /// From the hub's `[alerts]`; a config that fails its checks (only possible when
    /// `HubConfig::validate` was skipped) falls back to the built-in defaults, loudly.
    pub fn from_config(
        config: &AlertsConfig,
        notifier: Arc<dyn Notifier>,
        projection: Arc<dyn Projection>,
        url_base: Option<String>,
    ) -> AlertEngine {
        let (rules, config) = match RuleSet::compile(config) {
            Ok(r) => (r, config.clone()),
            Err(e) => {
                tracing::error!(problem = %e, "alert rules are invalid; using the built-in defaults");
                let d = AlertsConfig::default();
                (RuleSet::compile(&d).expect("the defaults are valid"), d)
            }
        };
        AlertEngine::new(rules, config, notifier, projection, url_base)
    }

    pub fn config(&self) -> &AlertsConfig {
        &self.config
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules.rules
    }

    fn damping(&self) -> Damping {
        Damping {
            window_ms: self.config.flap_window.ms(),
            max_changes: self.config.flap_max_changes,
            quiet_ms: self.config.flap_quiet.ms(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, EngineState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn ensure_loaded<S: Store>(
        &self,
        store: &S,
        loaded: &mut bool,
    ) -> Result<(), StoreError> {
        if *loaded {
            return Ok(());
        }
        let snap = store.alert_state().await?;
        let hosts = store.hosts().await?;
        let mut st = self.lock();
        for h in &hosts {
            st.host_ids.insert(h.name.clone(), h.id);
            st.host_tags.insert(h.name.clone(), h.tags.clone());
        }
        for stored in snap.instances {
            st.stored.insert(stored.fingerprint.clone());
            match serde_json::from_str::<Instance>(&stored.body) {
                Ok(i) => {
                    st.instances
                        .entry(i.host.clone())
                        .or_default()
                        .insert(i.fingerprint.clone(), i);
                }
                Err(e) => {
                    tracing::error!(fingerprint = %stored.fingerprint, error = %e, "skipping an unreadable stored alert")
                }
            }
        }
        st.silences = snap.silences;
        st.acks = snap
            .acks
            .into_iter()
            .map(|a| (a.fingerprint.clone(), a))
            .collect();
        *loaded = true;
        Ok(())
    }

    /// One pass over every host at `now` (unix ms). Returns how many notices were sent.
    pub async fn evaluate<S: Store>(&self, store: &S, now: i64) -> Result<usize, StoreError> {
        let mut loaded = self.serial.lock().await;
        self.ensure_loaded(store, &mut loaded).await?;
        let hosts = store.hosts().await?;
        let projecting = self
            .rules
            .rules
            .iter()
            .any(|r| matches!(r.kind, Kind::FsProjection { .. }) && !r.disabled)
            || self
                .rules
                .overrides
                .iter()
                .any(|o| o.rule == "fs_projected_full");
        let judging_jobs = ["job_failed", "job_missed"].iter().any(|name| {
            self.by_name
                .get(*name)
                .is_some_and(|&i| !self.rules.rules[i].disabled)
                || self.rules.overrides.iter().any(|o| o.rule == *name)
        });
        let mut inputs = Vec::with_capacity(hosts.len());
        for (i, host) in hosts.iter().enumerate() {
            // The cached latest states answer without waiting, so without this the pass over
            // every host would hold a runtime worker for its whole length.
            if i % YIELD_EVERY_HOSTS == YIELD_EVERY_HOSTS - 1 {
                tokio::task::yield_now().await;
            }
            let watermark = self.lock().watermarks.get(&host.id).copied();
            let report = store
                .latest_shared(host.id)
                .await?
                .filter(|r| watermark.is_none_or(|w| r.collected_at > w));
            let samples = report.as_ref().map(|r| {
                let mut points = Vec::new();
                crate::series::points(r, &mut points);
                Samples {
                    at: r.collected_at,
                    points,
                }
            });
            if judging_jobs {
                let fetched = self.lock().jobs.get(&host.id).map(|(at, _)| *at);
                if fetched.is_none_or(|at| now - at >= JOBS_REFRESH_MS || now < at) {
                    let runs = store.job_runs(host.id, None, jobs::RUNS_FETCHED).await?;
                    self.lock().jobs.insert(host.id, (now, jobs::facts(&runs)));
                }
            }
            let mut projections = Vec::new();
            if projecting && let Some(s) = &samples {
                for p in s.points.iter().filter(|p| p.key.name == "fs.used_pct") {
                    let Some((_, mount)) = p.key.labels.iter().find(|(k, _)| *k == "mount") else {
                        continue;
                    };
                    let key = (host.id, mount.clone());
                    let cached = self.lock().projections.get(&key).copied();
                    let fresh = match cached {
                        Some((at, p)) if now - at < self.config.projection_every.ms() => p,
                        _ => {
                            let p = self.projection.filesystem(host, mount, now).await;
                            self.lock().projections.insert(key, (now, p));
                            p
                        }
                    };
                    if let Some(p) = fresh {
                        projections.push((mount.clone(), p));
                    }
                }
            }
            inputs.push((samples, projections, report));
        }
        let mut out = Outcome::default();
        {
            let mut st = self.lock();
            let names: HashSet<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            st.instances.retain(|h, _| names.contains(h.as_str()));
            let ids: HashSet<HostId> = hosts.iter().map(|h| h.id).collect();
            st.watermarks.retain(|id, _| ids.contains(id));
            st.spool.retain(|id, _| ids.contains(id));
            st.projections.retain(|(id, _), _| ids.contains(id));
            st.restarts.retain(|(id, _), _| ids.contains(id));
            st.jobs.retain(|id, _| ids.contains(id));
            for h in &hosts {
                st.host_ids.insert(h.name.clone(), h.id);
                st.host_tags.insert(h.name.clone(), h.tags.clone());
            }
            st.host_ids.retain(|h, _| names.contains(h.as_str()));
            st.host_tags.retain(|h, _| names.contains(h.as_str()));
        }
        // Judged a batch of hosts at a time, giving the runtime's other tasks (requests) a
        // turn in between: judging 10,000 hosts takes seconds. Passes never overlap (`serial`).
        for batch in hosts
            .iter()
            .zip(&inputs)
            .collect::<Vec<_>>()
            .chunks(YIELD_EVERY_HOSTS)
        {
            {
                let mut st = self.lock();
                for (host, (samples, projections, report)) in batch {
                    let judged = Judged {
                        samples: samples.as_ref(),
                        projections,
                        report: report.as_deref(),
                    };
                    self.evaluate_host(&mut st, host, judged, now, &mut out);
                }
            }
            tokio::task::yield_now().await;
        }
        {
            let mut st = self.lock();
            let expired: Vec<i64> = st
                .silences
                .iter()
                .filter(|s| s.ends_at <= now)
                .map(|s| s.id)
                .collect();
            st.silences.retain(|s| s.ends_at > now);
            out.save.expired_silences = expired;
            self.reconcile(&mut st, now, &mut out, None);
        }
        let sent = self.finish(store, out).await?;
        let mut st = self.lock();
        for (host, (samples, _, _)) in hosts.iter().zip(&inputs) {
            if let Some(s) = samples {
                st.judged.insert(host.id, s.at);
            }
        }
        let ids: HashSet<HostId> = hosts.iter().map(|h| h.id).collect();
        st.judged.retain(|id, _| ids.contains(id));
        Ok(sent)
    }

    fn evaluate_host(
        &self,
        st: &mut EngineState,
        host: &Host,
        judged: Judged<'_>,
        now: i64,
        out: &mut Outcome,
    ) {
        let Judged {
            samples,
            projections,
            report,
        } = judged;
        let spool_window = self
            .rules
            .rules
            .iter()
            .find_map(|r| match r.kind {
                Kind::SpoolDropping { window_ms } => Some(window_ms),
                _ => None,
            })
            .unwrap_or(15 * 60_000);
        let spool_dropped = samples.and_then(|s| {
            let total = s.get("agent.spool_dropped_total")?;
            Some(
                st.spool
                    .entry(host.id)
                    .or_default()
                    .observe(s.at, total, spool_window),
            )
        });
        if let Some(s) = samples {
            st.watermarks.insert(host.id, s.at);
        }
        let restarts = report
            .map(|r| container_restarts(st, host.id, r))
            .unwrap_or_default();
        let jobs = st.jobs.get(&host.id).map(|(_, j)| j.clone());
        let input = HostInput {
            host,
            now,
            samples,
            spool_dropped,
            projections,
            report,
            restarts: &restarts,
            jobs: jobs.as_deref(),
        };
        let damping = self.damping();
        let stale_ms = self.config.stale_after.ms();
        let instances = st.instances.entry(host.name.clone()).or_default();
        for rule in &self.rules.rules {
            if !rule.scope.contains(host) {
                continue;
            }
            let Some((t, signals)) = builtin::signals(&rule.kind, &input) else {
                continue;
            };
            let mut seen = HashSet::new();
            // Usually none: then no signal of this rule needs its fingerprint to be looked up.
            let rule_has_instances = instances.values().any(|i| i.rule == rule.name);
            for sig in signals {
                let eff = self.rules.effective(rule, host, &sig.labels);
                let levels = sig.own_levels.clone().unwrap_or(eff.levels);
                // A quiet signal without an instance would get one that stays inactive and is
                // forgotten at the end of the pass: most signals of every host, every pass, a
                // large share of the hub's allocations. Skipping it changes nothing else.
                let quiet =
                    eff.disabled || state::target(rule.cmp, &levels, None, sig.value).is_none();
                if quiet && !rule_has_instances {
                    continue;
                }
                let fp = fingerprint(&rule.name, &host.name, &sig.labels);
                if quiet && !instances.contains_key(&fp) {
                    continue;
                }
                seen.insert(fp.clone());
                let inst = instances.entry(fp.clone()).or_insert_with(|| {
                    Instance::new(fp, &rule.name, &host.name, sig.labels.clone())
                });
                let reading = (!eff.disabled).then_some(sig.value);
                inst.info = sig.info;
                inst.last_sample = t;
                let before = persisted(inst);
                let tr = inst.observe(rule.cmp, &levels, eff.for_ms, reading, t);
                after_observe(inst, rule, host, tr, t, now, damping, before, out);
            }
            // Instances whose value is gone: host-down clears at once; a series clears once
            // it has been missing for `stale_after` (a mount unmounted, a section failing).
            let immediate = rule.kind.clears_at_once();
            for inst in instances
                .values_mut()
                .filter(|i| i.rule == rule.name && !seen.contains(&i.fingerprint))
            {
                if inst.state == AlertState::Inactive {
                    let before = persisted(inst);
                    inst.settle(t, damping);
                    after_observe(inst, rule, host, None, t, now, damping, before, out);
                    continue;
                }
                if immediate || t - inst.last_sample >= stale_ms {
                    let before = persisted(inst);
                    let tr = inst.observe(rule.cmp, &[], 0, None, t);
                    after_observe(inst, rule, host, tr, t, now, damping, before, out);
                }
            }
        }
    }

    /// Applies silences, acks, flap holds and rule removals to what people should hear;
    /// queues notices and forgets what is no longer needed. `only` limits it to one host.
    fn reconcile(&self, st: &mut EngineState, now: i64, out: &mut Outcome, only: Option<&str>) {
        let EngineState {
            instances,
            host_ids,
            host_tags,
            silences,
            acks,
            stored,
            ..
        } = st;
        // Usually none: then no instance needs its labels gathered to be matched.
        let any_silence = silences.iter().any(|s| s.active(now));
        let no_routing = BTreeMap::new();
        for (host, map) in instances.iter_mut() {
            if only.is_some_and(|o| o != host) {
                continue;
            }
            let host_id = host_ids.get(host).copied();
            let tags = host_tags.get(host).cloned().unwrap_or_default();
            let mut forget = Vec::new();
            for inst in map.values_mut() {
                let before = persisted(inst);
                let rule = self.by_name.get(&inst.rule).map(|&i| &self.rules.rules[i]);
                if rule.is_none() && inst.state != AlertState::Inactive {
                    // The rule was removed from the config: resolve what it left.
                    inst.state = AlertState::Inactive;
                    inst.since = now;
                    inst.summary = format!("resolved: rule {} was removed", inst.rule);
                }
                let routing = rule.map_or(&no_routing, |r| &r.labels);
                let silenced = any_silence && {
                    let labels = match_labels(inst, routing);
                    silences.iter().any(|s| s.active(now) && s.matches(&labels))
                };
                if silenced && !inst.silenced && inst.notified.is_some() {
                    out.stop.push(inst.fingerprint.clone());
                }
                inst.silenced = silenced;
                if let Some(want) = inst.due() {
                    let notice = self.notice(inst, want, routing, &tags, host);
                    out.notices.push(notice);
                    inst.notified = want;
                    if want.is_some() && acks.contains_key(&inst.fingerprint) {
                        out.stop.push(inst.fingerprint.clone());
                    }
                } else if inst.silenced
                    && inst.state != AlertState::Firing
                    && inst.notified.is_some()
                {
                    // Resolved while silenced: nothing is sent, and nothing is owed later.
                    inst.notified = None;
                }
                if inst.state != AlertState::Firing && acks.remove(&inst.fingerprint).is_some() {
                    out.save.removed_acks.push(inst.fingerprint.clone());
                }
                if inst.forgettable() || rule.is_none() && inst.notified.is_none() {
                    forget.push(inst.fingerprint.clone());
                } else if persisted(inst) != before {
                    upsert(out, inst, host_id);
                }
            }
            for fp in forget {
                map.remove(&fp);
                let saved = stored.remove(&fp) || out.upserted.contains_key(&fp);
                if saved && out.removed.insert(fp.clone()) {
                    out.save.removed.push(fp);
                }
            }
        }
        instances.retain(|_, m| !m.is_empty());
        // Queued to be saved: from now on they may have a row (if the save fails, a later
        // delete of a row that is not there is harmless).
        stored.extend(out.upserted.keys().cloned());
    }

    fn notice(
        &self,
        inst: &Instance,
        want: Option<Severity>,
        routing: &BTreeMap<String, String>,
        tags: &[String],
        host: &str,
    ) -> AlertNotice {
        let mut labels = routing.clone();
        labels.extend(inst.labels.clone());
        AlertNotice {
            fingerprint: inst.fingerprint.clone(),
            rule: inst.rule.clone(),
            state: if want.is_some() {
                NoticeState::Firing
            } else {
                NoticeState::Resolved
            },
            severity: want.unwrap_or(inst.severity),
            host: Some(host.to_string()),
            host_tags: tags.to_vec(),
            labels,
            summary: inst.summary.clone(),
            value: Some(inst.value),
            started_at: inst.started_at,
            resolved_at: want.is_none().then_some(inst.since),
            url: self
                .url_base
                .as_ref()
                .map(|b| format!("{}/hosts/{host}", b.trim_end_matches('/'))),
        }
    }

    /// Saves, then sends: a crash in between loses a notice rather than repeating one.
    async fn finish<S: Store>(&self, store: &S, out: Outcome) -> Result<usize, StoreError> {
        let Outcome {
            save,
            notices,
            stop,
            ..
        } = out;
        if !save.is_empty()
            && let Err(e) = store.save_alerts(save).await
        {
            tracing::error!(error = %e, "saving alert state failed; notices are sent all the same");
        }
        let sent = notices.len();
        for n in notices {
            self.notifier.alert(n);
        }
        for fp in stop {
            self.notifier.stop_repeating(&fp);
        }
        Ok(sent)
    }

    /// Open (pending and firing) alerts, optionally of one host or state, most severe and
    /// oldest first.
    pub fn alerts(&self, host: Option<&str>, state: Option<AlertState>) -> Vec<AlertView> {
        let st = self.lock();
        let mut out: Vec<AlertView> = st
            .instances
            .iter()
            .filter(|(h, _)| host.is_none_or(|o| o == h.as_str()))
            .flat_map(|(_, m)| m.values())
            .filter(|i| i.state != AlertState::Inactive && state.is_none_or(|s| s == i.state))
            .map(|i| {
                let mut labels = self
                    .by_name
                    .get(&i.rule)
                    .map(|&n| self.rules.rules[n].labels.clone())
                    .unwrap_or_default();
                labels.extend(i.labels.clone());
                AlertView {
                    fingerprint: i.fingerprint.clone(),
                    rule: i.rule.clone(),
                    host: i.host.clone(),
                    state: i.state,
                    severity: i.severity,
                    since: i.since,
                    value: i.value,
                    threshold: i.threshold,
                    summary: i.summary.clone(),
                    labels,
                    silenced: i.silenced,
                    flapping: i.flapping,
                    acknowledged: st.acks.get(&i.fingerprint).cloned(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (
                b.state == AlertState::Firing,
                b.severity,
                a.since,
                &a.fingerprint,
            )
                .cmp(&(
                    a.state == AlertState::Firing,
                    a.severity,
                    b.since,
                    &b.fingerprint,
                ))
        });
        out
    }

    /// The collection time of the newest report of `host` the engine has judged and whose
    /// notices it has handed to the notifier.
    pub fn judged_until(&self, host: HostId) -> Option<i64> {
        self.lock().judged.get(&host).copied()
    }

    /// Firing alerts per host as `(warning, critical)`, from memory: cheap for every page.
    pub fn open_counts(&self) -> HashMap<String, (u32, u32)> {
        let st = self.lock();
        let mut out = HashMap::new();
        for (host, map) in &st.instances {
            for i in map.values().filter(|i| i.state == AlertState::Firing) {
                let e: &mut (u32, u32) = out.entry(host.clone()).or_default();
                match i.severity {
                    Severity::Critical => e.1 += 1,
                    Severity::Warning => e.0 += 1,
                    Severity::Info => {}
                }
            }
        }
        out
    }

    /// Acknowledges a firing alert: it stops repeating; its resolve is still sent.
    pub async fn ack<S: Store>(
        &self,
        store: &S,
        fingerprint: &str,
        author: &str,
        comment: String,
        now: i64,
    ) -> Result<Ack, AckError> {
        let mut loaded = self.serial.lock().await;
        self.ensure_loaded(store, &mut loaded).await?;
        let firing = self.lock().instances.values().any(|m| {
            m.get(fingerprint)
                .is_some_and(|i| i.state == AlertState::Firing)
        });
        if !firing {
            return Err(AckError::NotFiring(fingerprint.into()));
        }
        let ack = Ack {
            fingerprint: fingerprint.into(),
            author: author.into(),
            at: now,
            comment,
        };
        store.set_ack(ack.clone()).await?;
        self.lock().acks.insert(fingerprint.into(), ack.clone());
        self.notifier.stop_repeating(fingerprint);
        Ok(ack)
    }

    /// Silences, active or still to come.
    pub async fn silences<S: Store>(
        &self,
        store: &S,
        now: i64,
    ) -> Result<Vec<Silence>, StoreError> {
        let mut loaded = self.serial.lock().await;
        self.ensure_loaded(store, &mut loaded).await?;
        Ok(self
            .lock()
            .silences
            .iter()
            .filter(|s| s.ends_at > now)
            .cloned()
            .collect())
    }

    /// Creates a silence; firing alerts it covers stop repeating at once.
    pub async fn create_silence<S: Store>(
        &self,
        store: &S,
        new: NewSilence,
        now: i64,
    ) -> Result<Silence, StoreError> {
        let mut loaded = self.serial.lock().await;
        self.ensure_loaded(store, &mut loaded).await?;
        let silence = store.create_silence(new).await?;
        let mut out = Outcome::default();
        {
            let mut st = self.lock();
            st.silences.push(silence.clone());
            self.reconcile(&mut st, now, &mut out, None);
        }
        self.finish(store, out).await?;
        Ok(silence)
    }

    /// Deletes a silence; `false` when there was none. What it held back is sent at the next
    /// evaluation.
    pub async fn delete_silence<S: Store>(&self, store: &S, id: i64) -> Result<bool, StoreError> {
        let mut loaded = self.serial.lock().await;
        self.ensure_loaded(store, &mut loaded).await?;
        let existed = store.delete_silence(id).await?;
        self.lock().silences.retain(|s| s.id != id);
        Ok(existed)
    }
}

/// Evaluates every `evaluate_every` until the task is dropped.
pub async fn run<S: Store>(hub: Arc<crate::Hub<S>>) {
    let every = std::time::Duration::from_secs(hub.alerts.config().evaluate_every.0.max(1));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = hub.alerts.evaluate(&hub.store, crate::hub::now_ms()).await {
            tracing::error!(error = %e, "alert evaluation failed");
        }
    }
}

/// What, when it changes, must be written: not the value, which only the API shows live.
type Persisted = (
    AlertState,
    Severity,
    i64,
    Option<i64>,
    Option<Severity>,
    bool,
    bool,
    usize,
);

fn persisted(i: &Instance) -> Persisted {
    (
        i.state,
        i.severity,
        i.since,
        i.escalate_since,
        i.notified,
        i.flapping,
        i.silenced,
        i.changes.len(),
    )
}

fn upsert(out: &mut Outcome, inst: &Instance, host_id: Option<HostId>) {
    let stored = StoredAlert {
        fingerprint: inst.fingerprint.clone(),
        host_id,
        rule: inst.rule.clone(),
        state: inst.state.as_str().into(),
        body: serde_json::to_string(inst).expect("an instance serialises"),
    };
    // Saved again: it is not to be removed after all (rare, so the search is fine).
    if out.removed.remove(&inst.fingerprint) {
        out.save.removed.retain(|f| f != &inst.fingerprint);
    }
    match out.upserted.get(&inst.fingerprint) {
        Some(&i) => out.save.upserts[i] = stored,
        None => {
            out.upserted
                .insert(inst.fingerprint.clone(), out.save.upserts.len());
            out.save.upserts.push(stored);
        }
    }
}

/// The labels silences match on: the series' and rule's labels, `rule`, `host`, `severity`.
fn match_labels(inst: &Instance, routing: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels = routing.clone();
    labels.extend(inst.labels.clone());
    labels.insert("rule".into(), inst.rule.clone());
    labels.insert("host".into(), inst.host.clone());
    labels.insert("severity".into(), inst.severity.as_str().into());
    labels
}

/// Summaries, events, flap bookkeeping and persistence after an instance was judged.
#[allow(clippy::too_many_arguments)]
fn after_observe(
    inst: &mut Instance,
    rule: &Rule,
    host: &Host,
    tr: Option<Transition>,
    t: i64,
    now: i64,
    damping: Damping,
    before: Persisted,
    out: &mut Outcome,
) {
    let level = inst.threshold.map(|threshold| rule::Level {
        severity: inst.severity,
        threshold,
        clear: threshold,
    });
    if inst.state != AlertState::Inactive {
        let mut fill = inst.info.clone();
        fill.extend(inst.labels.clone());
        inst.summary = rule::render(
            &rule.summary,
            rule,
            &host.name,
            &fill,
            inst.value,
            level.as_ref(),
        );
    }
    if let Some(tr) = tr {
        if tr == Transition::Resolved {
            inst.summary = resolved_summary(rule, inst);
        }
        let kind = if tr == Transition::Resolved {
            EVENT_RESOLVED
        } else {
            EVENT_FIRING
        };
        out.save.events.push(NewEvent {
            host: Some(host.id),
            at: now,
            kind: kind.into(),
            message: inst.summary.clone(),
        });
        inst.record_change(t, damping);
    }
    inst.settle(t, damping);
    if persisted(inst) != before {
        upsert(out, inst, Some(host.id));
    }
}

fn resolved_summary(rule: &Rule, inst: &Instance) -> String {
    if let Kind::HostDown = rule.kind {
        return format!("resolved: {} is reporting again", inst.host);
    }
    let labels: Vec<String> = inst
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let on = if labels.is_empty() {
        String::new()
    } else {
        format!(" ({})", labels.join(", "))
    };
    // State-like values (a check's 0–2, a unit's 0/1, a job's overdue time) read badly as
    // "back to 0".
    if matches!(
        rule.kind,
        Kind::Report(_) | Kind::JobFailed | Kind::JobMissed
    ) && matches!(rule.unit, rule::Unit::Plain | rule::Unit::Duration)
    {
        return format!("resolved: {} on {}{on}", rule.name, inst.host);
    }
    format!(
        "resolved: {} on {}{on} is back to {}",
        rule.name,
        inst.host,
        rule.unit.format(inst.value)
    )
}

/// What one host's evaluation judges besides the clock.
#[derive(Clone, Copy)]
struct Judged<'a> {
    samples: Option<&'a Samples>,
    projections: &'a [(String, FsProjection)],
    report: Option<&'a Report>,
}

/// Each container's restarts within the `container_restarting` window, with its state,
/// from the `restart_count` the report carries (a recreated container starts again at 0).
fn container_restarts(
    st: &mut EngineState,
    host: HostId,
    r: &Report,
) -> Vec<(String, f64, String)> {
    let Some(hostwatch_proto::Section::Ok(cs)) = &r.sections.containers else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in &cs.containers {
        let Some(count) = c.restart_count else {
            continue;
        };
        let n = st
            .restarts
            .entry((host, c.name.clone()))
            .or_default()
            .observe(
                r.collected_at,
                f64::from(count),
                integrations::RESTART_WINDOW_MS,
            );
        out.push((c.name.clone(), n, c.state.clone()));
    }
    let names: HashSet<&str> = cs.containers.iter().map(|c| c.name.as_str()).collect();
    st.restarts
        .retain(|(h, name), _| *h != host || names.contains(name.as_str()));
    out
}

#[cfg(test)]
mod tests;
