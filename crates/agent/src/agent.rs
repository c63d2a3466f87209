//! Assembles one report from the collectors that are due.

use crate::HostPaths;
use crate::collect::{self, Scheduled};
use crate::config::AgentConfig;
use crate::paths::read_trimmed;
use crate::runner::Runner;
use hostwatch_proto::{AgentInfo, Report, SCHEMA_VERSION, SectionError, Tier};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The agent's collection state: its identity, its sequence counter and its collectors
/// (which hold the previous reads that rates are computed from).
#[derive(Debug)]
pub struct Agent {
    host_id: String,
    info: AgentInfo,
    seq: u64,
    collectors: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    scheduled: Scheduled,
    /// The collector's name, asked once: a call per tick into each collector's code only to
    /// learn a constant showed as a cold page per collector in a profile of the cycle.
    name: &'static str,
    /// Whether the last run failed, so a persistent failure logs once, not every tick.
    failing: bool,
}

impl Agent {
    /// An agent with every collector the configuration enables, running commands through a
    /// runner of its own (dumping as `[debug]` says).
    pub fn new(config: &AgentConfig) -> Agent {
        let runner = Runner::new(crate::dump::Dump::from_config(&config.debug));
        Agent::with_runner(config, &runner)
    }

    /// An agent with every collector the configuration enables, running commands through
    /// `runner` (the one the rest of the agent uses, so the dump has one writer).
    pub fn with_runner(config: &AgentConfig, runner: &Runner) -> Agent {
        let paths = HostPaths {
            proc: config.agent.proc_root.clone(),
            sys: config.agent.sys_root.clone(),
            root: config.agent.root_dir.clone(),
        };
        let host_id = host_id_of(config);
        let boot_id = read_trimmed(&paths.proc("sys/kernel/random/boot_id"));
        Agent::with_collectors(host_id, boot_id, collect::build(config, &paths, runner))
    }

    /// An agent with exactly these collectors; for tests and benchmarks.
    pub fn with_collectors(
        host_id: String,
        boot_id: Option<String>,
        collectors: Vec<Scheduled>,
    ) -> Agent {
        Agent {
            host_id,
            info: AgentInfo {
                version: env!("CARGO_PKG_VERSION").to_string(),
                instance_id: new_instance_id(),
                boot_id,
            },
            seq: 0,
            collectors: collectors
                .into_iter()
                .map(|scheduled| Entry {
                    name: scheduled.collector.name(),
                    scheduled,
                    failing: false,
                })
                .collect(),
        }
    }

    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    pub fn info(&self) -> &AgentInfo {
        &self.info
    }

    /// Continues an earlier instance's numbering (a restarted agent resumes its `seq`).
    pub fn resume(&mut self, instance_id: String, last_seq: u64) {
        self.info.instance_id = instance_id;
        self.seq = last_seq;
    }

    /// The collectors and their tiers, for `--help`-like listings and tests.
    pub fn schedule(&self) -> Vec<(&'static str, Tier)> {
        self.collectors
            .iter()
            .map(|e| (e.name, e.scheduled.tier))
            .collect()
    }

    /// Runs every collector whose tier is in `tiers` and returns the report.
    ///
    /// A collector that fails — or panics on input it did not expect — yields a section
    /// holding the error; the others are unaffected.
    pub fn collect(&mut self, tiers: &[Tier]) -> Report {
        self.seq += 1;
        let mut report = Report {
            schema_version: SCHEMA_VERSION,
            host_id: self.host_id.clone(),
            agent: self.info.clone(),
            seq: self.seq,
            collected_at: jiff::Timestamp::now().as_millisecond(),
            tiers: tiers.to_vec(),
            sections: Default::default(),
            spool: None,
            audit: Vec::new(),
            audit_dropped_total: 0,
        };
        for entry in &mut self.collectors {
            if !tiers.contains(&entry.scheduled.tier) {
                continue;
            }
            let collector = &mut entry.scheduled.collector;
            let name = entry.name;
            let outcome = catch_unwind(AssertUnwindSafe(|| collector.collect()));
            let error = match outcome {
                Ok(Ok(Some(data))) => {
                    report.sections.put(data);
                    None
                }
                Ok(Ok(None)) => None,
                Ok(Err(e)) => Some(e.to_section_error()),
                Err(_) => Some(SectionError {
                    kind: hostwatch_proto::ErrorKind::Other,
                    message: format!("the {name} collector panicked; see the agent log"),
                }),
            };
            match error {
                Some(error) => {
                    if !entry.failing {
                        tracing::warn!(collector = name, error = %error.message, "collector failed");
                    }
                    entry.failing = true;
                    if let Err(e) = report.sections.put_error(name, error) {
                        tracing::error!(collector = name, error = %e.message, "collector has no section");
                    }
                }
                None => {
                    if entry.failing {
                        tracing::info!(collector = name, "collector recovered");
                    }
                    entry.failing = false;
                }
            }
        }
        report
    }
}

/// The name this host reports under: `agent.host_id`, else the hostname (from the configured
/// `/proc`), else `localhost`.
pub fn host_id_of(config: &AgentConfig) -> String {
    let proc = HostPaths {
        proc: config.agent.proc_root.clone(),
        sys: config.agent.sys_root.clone(),
        root: config.agent.root_dir.clone(),
    };
    config
        .agent
        .host_id
        .clone()
        .or_else(|| read_trimmed(&proc.proc("sys/kernel/hostname")))
        .unwrap_or_else(|| "localhost".to_string())
}

/// A random id for this agent instance: the kernel's UUID generator, else time and pid.
fn new_instance_id() -> String {
    read_trimmed(std::path::Path::new("/proc/sys/kernel/random/uuid")).unwrap_or_else(|| {
        format!(
            "{:x}-{:x}",
            jiff::Timestamp::now().as_nanosecond(),
            std::process::id()
        )
    })
}
