//! The host page's section panels: containers, checks, systemd units, ZFS pools and datasets,
//! SMART disks, Proxmox guests and storages, GPUs, Ollama models — built from the latest report. A panel appears
//! only when the host reports that section; a section the agent could not read shows its
//! error as one line in its panel.

use super::format::{self, bytes, pct};
use hostwatch_proto::sections::{
    CheckState, Checks, Containers, Gpu, Ollama, Proxmox, Smart, Systemd, Zfs, ZfsDatasets,
};
use hostwatch_proto::{Report, Section};

/// One table cell as shown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PanelCell {
    pub text: String,
    /// `""`, `ok`, `warn` or `crit`.
    pub class: &'static str,
    /// A tooltip: what the figure means or the whole text behind a short one.
    pub title: String,
    /// Long text behind a disclosure (a check's long output, a failing health probe's output).
    pub detail: Option<String>,
    /// Right-aligned figure.
    pub num: bool,
    /// The column's name, for phones (cells become labelled cards).
    pub label: String,
}

impl PanelCell {
    pub fn text(text: impl Into<String>) -> PanelCell {
        PanelCell {
            text: text.into(),
            ..PanelCell::default()
        }
    }

    pub fn num(text: impl Into<String>) -> PanelCell {
        PanelCell {
            num: true,
            ..PanelCell::text(text)
        }
    }

    pub fn class(mut self, class: &'static str) -> PanelCell {
        self.class = class;
        self
    }

    pub fn title(mut self, title: impl Into<String>) -> PanelCell {
        self.title = title.into();
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> PanelCell {
        let d = detail.into();
        self.detail = (!d.trim().is_empty()).then_some(d);
        self
    }

    pub fn classes(&self) -> String {
        match (self.num, self.class) {
            (true, "") => "num".into(),
            (true, c) => format!("num {c}"),
            (false, c) => c.into(),
        }
    }
}

impl From<String> for PanelCell {
    fn from(text: String) -> Self {
        PanelCell::text(text)
    }
}

impl From<&str> for PanelCell {
    fn from(text: &str) -> Self {
        PanelCell::text(text)
    }
}

/// A table panel (containers, checks, systemd, ZFS, SMART, Proxmox; later GPUs): present
/// only when the host reports its section.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub id: String,
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<PanelCell>>,
    /// A line under the title, e.g. "1 failed unit: pve-guests.service".
    pub summary: Option<String>,
    pub summary_class: &'static str,
    /// The agent could not read the section: why.
    pub error: Option<String>,
    /// Shown instead of an empty table.
    pub empty: String,
}

impl Panel {
    pub fn new(id: &str, title: &str, columns: &[&str], empty: &str) -> Panel {
        Panel {
            id: id.into(),
            title: title.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            empty: empty.into(),
            ..Panel::default()
        }
    }

    /// Adds a row; each cell gets its column's name as its label.
    pub fn push(&mut self, cells: Vec<PanelCell>) {
        let row = cells
            .into_iter()
            .zip(self.columns.iter())
            .map(|(mut c, label)| {
                c.label = label.clone();
                c
            })
            .collect();
        self.rows.push(row);
    }

    fn summary(&mut self, text: String, class: &'static str) {
        self.summary = Some(text);
        self.summary_class = class;
    }

    /// The panel of a section: its rows from `fill`, or its error.
    fn of<T>(
        section: &Option<Section<T>>,
        mut panel: Panel,
        fill: impl FnOnce(&T, &mut Panel),
    ) -> Option<Panel> {
        match section.as_ref()? {
            Section::Ok(data) => fill(data, &mut panel),
            Section::Failed(e) => {
                panel.error = Some(format!("The agent could not read this: {}", e.message));
            }
        }
        Some(panel)
    }
}

/// Every panel the report has data (or an error) for, in page order.
pub fn all(report: &Report, now: i64) -> Vec<Panel> {
    let s = &report.sections;
    [
        Panel::of(
            &s.containers,
            Panel::new(
                "containers",
                "Containers",
                &[
                    "Name",
                    "Image",
                    "State",
                    "Health",
                    "CPU",
                    "Memory / limit",
                    "Restarts",
                ],
                "No containers.",
            ),
            |d, p| containers(d, p, now),
        ),
        Panel::of(
            &s.checks,
            Panel::new(
                "checks",
                "Checks",
                &[
                    "Check",
                    "State",
                    "Status",
                    "Duration",
                    "Last run",
                    "Failing runs",
                ],
                "No check has finished its first run yet.",
            ),
            |d, p| checks(d, p, now),
        ),
        Panel::of(
            &s.systemd,
            Panel::new(
                "systemd",
                "systemd units",
                &["Unit", "Active", "Restarts", "Since", "Memory"],
                "No units configured.",
            ),
            |d, p| systemd(d, p, now),
        ),
        Panel::of(
            &s.zfs,
            Panel::new(
                "zfs",
                "ZFS pools",
                &[
                    "Pool",
                    "State",
                    "Capacity",
                    "Size",
                    "Fragmentation",
                    "Errors (r/w/c, data)",
                    "Last scan",
                ],
                "No pools.",
            ),
            |d, p| zfs(d, p, now),
        ),
        Panel::of(
            &s.zfs_datasets,
            Panel::new(
                "zfs-datasets",
                "ZFS datasets",
                &["Dataset", "Used", "Available", "Compression"],
                "No datasets.",
            ),
            zfs_datasets,
        ),
        Panel::of(
            &s.smart,
            Panel::new(
                "smart",
                "Disks (SMART)",
                &[
                    "Disk",
                    "Model",
                    "Verdict",
                    "Temperature",
                    "Power-on",
                    "Reallocated",
                    "Pending",
                    "NVMe used",
                ],
                "No disks.",
            ),
            smart,
        ),
        Panel::of(
            &s.proxmox,
            Panel::new(
                "proxmox-guests",
                "Proxmox guests",
                &[
                    "VMID", "Name", "Type", "Status", "CPU", "Memory", "Disk", "Uptime",
                ],
                "No guests on this node.",
            ),
            proxmox_guests,
        ),
        Panel::of(
            &s.proxmox,
            Panel::new(
                "proxmox-storages",
                "Proxmox storages",
                &[
                    "Storage",
                    "Type",
                    "Status",
                    "Used %",
                    "Used / size",
                    "Shared",
                    "Content",
                ],
                "No storages.",
            ),
            proxmox_storages,
        ),
        Panel::of(
            &s.gpu,
            Panel::new(
                "gpus",
                "GPUs",
                &[
                    "GPU",
                    "Busy",
                    "Memory",
                    "Temperature",
                    "Power",
                    "Fan",
                    "Processes",
                ],
                "No GPUs.",
            ),
            gpus,
        ),
        Panel::of(
            &s.ollama,
            Panel::new(
                "ollama",
                "Ollama models",
                &["Model", "Size", "Loaded", "VRAM", "Parameters", "Modified"],
                "No models on disk.",
            ),
            |d, p| ollama(d, p, now),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn containers(d: &Containers, p: &mut Panel, now: i64) {
    let engine = d.engine.as_deref().unwrap_or("container engine");
    let class = if d.unhealthy > 0 { "crit" } else { "" };
    p.summary(
        format!(
            "{} running, {} unhealthy, {} in all · {engine}",
            d.running,
            d.unhealthy,
            d.containers.len()
        ),
        class,
    );
    for c in &d.containers {
        let state_class = match c.state.as_str() {
            "running" => "ok",
            "restarting" | "dead" => "crit",
            "exited" if c.exit_code.is_some_and(|code| code != 0) => "crit",
            "paused" | "created" | "removing" => "warn",
            _ => "",
        };
        let health = match &c.health {
            None => PanelCell::text("—").title("no health check"),
            Some(h) => {
                let (text, class) = match h.status.as_str() {
                    "healthy" => ("healthy".to_string(), "ok"),
                    "unhealthy" => (
                        format!("unhealthy ({} failed in a row)", h.failing_streak),
                        "crit",
                    ),
                    other => (other.to_string(), "warn"),
                };
                let outputs: Vec<String> = h
                    .last_checks
                    .iter()
                    .filter(|r| r.exit_code != 0)
                    .map(|r| {
                        format!(
                            "{} exit {}: {}",
                            format::time(r.started_at),
                            r.exit_code,
                            r.output.trim()
                        )
                    })
                    .collect();
                PanelCell::text(text)
                    .class(class)
                    .detail(outputs.join("\n"))
            }
        };
        let used = c.mem_used_bytes.map_or("—".into(), bytes);
        let memory = match (c.mem_limit_bytes, c.mem_unlimited) {
            (_, Some(true)) => PanelCell::num(format!("{used} / no limit"))
                .class("warn")
                .title("no memory limit: it may use all of the host's memory"),
            (Some(limit), _) => {
                let share = c
                    .mem_used_bytes
                    .filter(|_| limit > 0)
                    .map(|u| u as f64 / limit as f64 * 100.0);
                PanelCell::num(format!("{used} / {}", bytes(limit)))
                    .class(match share {
                        Some(s) if s >= 95.0 => "crit",
                        Some(s) if s >= 85.0 => "warn",
                        _ => "",
                    })
                    .title(
                        share.map_or(String::new(), |s| format!("{} of its limit", pct(Some(s)))),
                    )
            }
            (None, _) => PanelCell::num(used),
        };
        let restarts = match c.restart_count {
            Some(n) => PanelCell::num(n.to_string()).class(if n > 0 { "warn" } else { "" }),
            None => PanelCell::num("—"),
        }
        .title(format!(
            "restart policy: {}",
            c.restart_policy.as_deref().unwrap_or("unknown")
        ));
        let mut state = PanelCell::text(c.state.clone())
            .class(state_class)
            .title(c.status.clone());
        if let Some(started) = c.started_at.filter(|_| c.state == "running") {
            state = state.title(format!(
                "{} (since {})",
                c.status,
                format::ago(Some(started), now)
            ));
        }
        let mut name = PanelCell::text(c.name.clone()).title(format!("id {}", c.id));
        if let Some(e) = &c.error {
            name = name.detail(format!("details missing: {e}"));
        }
        p.push(vec![
            name,
            PanelCell::text(c.image.clone()),
            state,
            health,
            PanelCell::num(pct(c.cpu_pct)).title("share of one core"),
            memory,
            restarts,
        ]);
    }
}

fn check_class(s: CheckState) -> &'static str {
    match s {
        CheckState::Ok => "ok",
        CheckState::Warning => "warn",
        CheckState::Critical => "crit",
        CheckState::Unknown => "unknown",
    }
}

fn checks(d: &Checks, p: &mut Panel, now: i64) {
    let failing = d
        .checks
        .iter()
        .filter(|c| c.state != CheckState::Ok)
        .count();
    let worst = d
        .checks
        .iter()
        .map(|c| c.state)
        .max_by_key(|s| match s {
            CheckState::Ok => 0,
            CheckState::Unknown => 1,
            CheckState::Warning => 2,
            CheckState::Critical => 3,
        })
        .unwrap_or(CheckState::Ok);
    p.summary(
        format!("{failing} of {} not OK", d.checks.len()),
        match worst {
            CheckState::Ok => "",
            s => check_class(s),
        },
    );
    for c in &d.checks {
        let mut status = PanelCell::text(c.status.clone()).detail(c.long_output.clone());
        if !c.perfdata_errors.is_empty() {
            status = status.title(format!(
                "performance data skipped: {}",
                c.perfdata_errors.join("; ")
            ));
        }
        p.push(vec![
            PanelCell::text(c.name.clone()),
            PanelCell::text(c.state.to_string())
                .class(check_class(c.state))
                .title(
                    c.exit_code
                        .map_or("did not exit".into(), |e| format!("exit {e}")),
                ),
            status,
            PanelCell::num(format!("{:.2} s", c.duration_seconds)),
            PanelCell::text(format::ago(Some(c.last_run), now)).title(format::time(c.last_run)),
            PanelCell::num(c.consecutive_failures.to_string()).class(
                if c.consecutive_failures > 0 {
                    "warn"
                } else {
                    ""
                },
            ),
        ]);
    }
}

fn systemd(d: &Systemd, p: &mut Panel, now: i64) {
    if d.failed_units > 0 {
        p.summary(
            format!(
                "{} failed unit{} on the system: {}",
                d.failed_units,
                if d.failed_units == 1 { "" } else { "s" },
                d.failed_unit_names.join(", ")
            ),
            "crit",
        );
    } else {
        p.summary("No failed units on the system.".into(), "");
    }
    for u in &d.units {
        let class = if u.active_state == "failed" || (u.expected_active && !u.is_active()) {
            "crit"
        } else if u.is_active() {
            "ok"
        } else {
            ""
        };
        let mut name = PanelCell::text(u.name.clone());
        if u.load_state != "loaded" {
            name = name
                .class("warn")
                .title(format!("load state: {}", u.load_state));
        }
        p.push(vec![
            name,
            PanelCell::text(format!("{} ({})", u.active_state, u.sub_state))
                .class(class)
                .title(if u.expected_active {
                    "expected active"
                } else {
                    "not required to be active"
                }),
            match u.restarts {
                Some(n) => PanelCell::num(n.to_string()).class(if n > 0 { "warn" } else { "" }),
                None => PanelCell::num("—"),
            },
            match u.active_since {
                Some(t) => PanelCell::text(format::ago(Some(t), now)).title(format::time(t)),
                None => PanelCell::text("never"),
            },
            PanelCell::num(u.memory_bytes.map_or("—".into(), bytes)),
        ]);
    }
}

fn zfs(d: &Zfs, p: &mut Panel, now: i64) {
    let bad = d.pools.iter().filter(|z| !z.problems.is_empty()).count();
    if bad > 0 {
        p.summary(
            format!("{bad} of {} pools need attention", d.pools.len()),
            "crit",
        );
    }
    for z in &d.pools {
        let state_class = match z.state.as_str() {
            "ONLINE" => "ok",
            "DEGRADED" => "warn",
            _ => "crit",
        };
        let mut state = PanelCell::text(z.state.clone())
            .class(state_class)
            .detail(z.problems.join("\n"));
        if let Some(s) = &z.status {
            state = state.title(s.clone());
        }
        let errors = z.read_errors + z.write_errors + z.checksum_errors + z.data_errors;
        let scan = match &z.scan {
            None => PanelCell::text("—"),
            Some(s) => {
                let when = s.end_ms.or(s.start_ms);
                let text = match s.state.as_str() {
                    "none" => "never scrubbed".to_string(),
                    "scanning" => format!(
                        "{} running, {}",
                        s.function,
                        s.progress_pct.map_or("?".into(), |v| pct(Some(v)))
                    ),
                    state => format!(
                        "{} {state} {}{}",
                        s.function,
                        format::ago(when, now),
                        s.errors
                            .filter(|e| *e > 0)
                            .map_or(String::new(), |e| format!(", {e} errors"))
                    ),
                };
                let class = if s.errors.is_some_and(|e| e > 0) {
                    "crit"
                } else if s.state == "none" || when.is_some_and(|w| now - w > 35 * 86_400_000) {
                    "warn"
                } else {
                    ""
                };
                PanelCell::text(text)
                    .class(class)
                    .title(when.map_or(String::new(), format::time))
            }
        };
        p.push(vec![
            PanelCell::text(z.name.clone()),
            state,
            PanelCell::num(pct(z.capacity_pct)).class(match z.capacity_pct {
                Some(c) if c >= 90.0 => "crit",
                Some(c) if c >= 80.0 => "warn",
                _ => "",
            }),
            PanelCell::num(z.size_bytes.map_or("—".into(), bytes)),
            PanelCell::num(pct(z.fragmentation_pct)),
            PanelCell::num(format!(
                "{}/{}/{}, {}",
                z.read_errors, z.write_errors, z.checksum_errors, z.data_errors
            ))
            .class(if errors > 0 { "crit" } else { "" }),
            scan,
        ]);
    }
}

fn zfs_datasets(d: &ZfsDatasets, p: &mut Panel) {
    for ds in &d.datasets {
        p.push(vec![
            PanelCell::text(ds.name.clone()),
            PanelCell::num(bytes(ds.used_bytes)),
            PanelCell::num(bytes(ds.available_bytes)),
            PanelCell::num(ds.compress_ratio.map_or("—".into(), |r| format!("{r:.2}x"))),
        ]);
    }
}

fn smart(d: &Smart, p: &mut Panel) {
    let failed = d.devices.iter().filter(|x| x.passed == Some(false)).count();
    if failed > 0 {
        p.summary(
            format!("{failed} disk(s) failing their self-assessment"),
            "crit",
        );
    }
    for x in &d.devices {
        let verdict = match (x.state.as_str(), x.passed) {
            ("error", _) => PanelCell::text("unreadable")
                .class("crit")
                .detail(x.error.clone().unwrap_or_default()),
            ("standby", _) => PanelCell::text("standby").title("asleep: not woken to be read"),
            (_, Some(true)) if x.warnings.is_empty() => PanelCell::text("PASSED").class("ok"),
            (_, Some(true)) => PanelCell::text("PASSED, with findings")
                .class("warn")
                .detail(x.warnings.join("\n")),
            (_, Some(false)) => PanelCell::text("FAILED")
                .class("crit")
                .detail(x.warnings.join("\n")),
            (_, None) => PanelCell::text("—"),
        };
        let count = |v: Option<u64>| match v {
            Some(n) => PanelCell::num(n.to_string()).class(if n > 0 { "crit" } else { "" }),
            None => PanelCell::num("—"),
        };
        p.push(vec![
            PanelCell::text(x.name.clone()).title(x.kind.clone().unwrap_or_default()),
            PanelCell::text(x.model.clone().unwrap_or_else(|| "—".into()))
                .title(x.capacity_bytes.map_or(String::new(), bytes)),
            verdict,
            PanelCell::num(
                x.temperature_celsius
                    .map_or("—".into(), |t| format!("{t:.0} °C")),
            )
            .class(match x.temperature_celsius {
                Some(t) if t >= 60.0 => "crit",
                Some(t) if t >= 50.0 => "warn",
                _ => "",
            }),
            PanelCell::num(x.power_on_hours.map_or("—".into(), |h| format!("{h} h"))).title(
                x.power_on_hours
                    .map_or(String::new(), |h| format!("{:.1} years", h as f64 / 8766.0)),
            ),
            count(x.reallocated_sectors),
            count(x.pending_sectors),
            PanelCell::num(pct(x.nvme_percentage_used_pct)).class(
                match x.nvme_percentage_used_pct {
                    Some(u) if u >= 90.0 => "crit",
                    Some(u) if u >= 70.0 => "warn",
                    _ => "",
                },
            ),
        ]);
    }
}

fn proxmox_guests(d: &Proxmox, p: &mut Panel) {
    let running = d.guests.iter().filter(|g| g.status == "running").count();
    p.summary(
        format!(
            "node {}: {running} of {} guests running",
            d.node,
            d.guests.len()
        ),
        "",
    );
    for g in &d.guests {
        let share = |used: u64, max: u64| -> PanelCell {
            if max == 0 {
                return PanelCell::num("—");
            }
            PanelCell::num(format!("{} / {}", bytes(used), bytes(max)))
                .title(pct(Some(used as f64 / max as f64 * 100.0)))
        };
        p.push(vec![
            PanelCell::num(g.vmid.to_string()),
            PanelCell::text(if g.template {
                format!("{} (template)", g.name)
            } else {
                g.name.clone()
            })
            .title(g.tags.join(", ")),
            PanelCell::text(g.kind.clone()),
            PanelCell::text(g.status.clone()).class(match g.status.as_str() {
                "running" => "ok",
                "stopped" => "",
                _ => "warn",
            }),
            PanelCell::num(pct(Some(g.cpu_pct))).title(format!("of {} cores", g.cpus)),
            share(g.memory_used_bytes, g.memory_max_bytes),
            share(g.disk_used_bytes, g.disk_max_bytes),
            PanelCell::num(if g.uptime_seconds > 0 {
                format::duration(g.uptime_seconds as f64)
            } else {
                "—".into()
            }),
        ]);
    }
}

fn proxmox_storages(d: &Proxmox, p: &mut Panel) {
    for s in &d.storages {
        p.push(vec![
            PanelCell::text(s.storage.clone()),
            PanelCell::text(s.plugin.clone().unwrap_or_else(|| "—".into())),
            PanelCell::text(s.status.clone()).class(if s.status == "available" {
                "ok"
            } else {
                "crit"
            }),
            PanelCell::num(pct(s.used_pct)).class(match s.used_pct {
                Some(u) if u >= 95.0 => "crit",
                Some(u) if u >= 85.0 => "warn",
                _ => "",
            }),
            PanelCell::num(format!("{} / {}", bytes(s.used_bytes), bytes(s.size_bytes))),
            PanelCell::text(if s.shared { "yes" } else { "no" }),
            PanelCell::text(s.content.clone().unwrap_or_default()),
        ]);
    }
}

fn gpus(d: &Gpu, p: &mut Panel) {
    if !d.errors.is_empty() {
        p.summary(d.errors.join("; "), "warn");
    }
    for g in &d.devices {
        let memory = match (g.memory_used_bytes, g.memory_total_bytes) {
            (Some(used), Some(total)) if total > 0 => {
                PanelCell::num(format!("{} / {}", bytes(used), bytes(total)))
                    .title(pct(Some(used as f64 / total as f64 * 100.0)))
            }
            (Some(used), _) => PanelCell::num(bytes(used)),
            _ => PanelCell::num("—"),
        };
        let power = match (g.power_watts, g.power_limit_watts) {
            (Some(w), Some(limit)) => format!("{w:.0} / {limit:.0} W"),
            (Some(w), None) => format!("{w:.0} W"),
            _ => "—".into(),
        };
        let fan = match (g.fan_pct, g.fan_rpm) {
            (Some(f), _) => pct(Some(f)),
            (None, Some(rpm)) => format!("{rpm} rpm"),
            _ => "—".into(),
        };
        let processes = g
            .processes
            .iter()
            .map(|x| {
                let name = x.name.as_deref().unwrap_or("?");
                match x.memory_bytes {
                    Some(m) => format!("{name} ({}) {}", x.pid, bytes(m)),
                    None => format!("{name} ({})", x.pid),
                }
            })
            .collect::<Vec<_>>();
        p.push(vec![
            PanelCell::text(format!("{} {}", g.id, g.name))
                .title(g.pci_bus.clone().unwrap_or_default()),
            if g.suspended {
                PanelCell::num("asleep").title("runtime-suspended: not woken to be read")
            } else {
                PanelCell::num(pct(g.utilization_pct))
            },
            memory,
            PanelCell::num(
                g.temperature_celsius
                    .map_or("—".into(), |t| format!("{t:.0} °C")),
            )
            .class(match g.temperature_celsius {
                Some(t) if t >= 90.0 => "crit",
                Some(t) if t >= 80.0 => "warn",
                _ => "",
            }),
            PanelCell::num(power),
            PanelCell::num(fan),
            PanelCell::text(match processes.len() {
                0 => "—".to_string(),
                n => format!("{n}"),
            })
            .detail(processes.join("\n")),
        ]);
    }
}

fn ollama(d: &Ollama, p: &mut Panel, now: i64) {
    if !d.warnings.is_empty() {
        p.summary(d.warnings.join("; "), "warn");
    } else if let Some(available) = d.memory_available_bytes {
        p.summary(format!("{} of memory available", bytes(available)), "");
    }
    for m in &d.models {
        let loaded = d.loaded.iter().find(|l| l.name == m.name);
        p.push(vec![
            PanelCell::text(m.name.clone()).title(m.quantization.clone().unwrap_or_default()),
            PanelCell::num(bytes(m.size_bytes)),
            match loaded.and_then(|l| l.expires_ms) {
                Some(at) if at > now => PanelCell::text("loaded").class("ok").title(format!(
                    "unloads in {}",
                    format::duration((at - now) as f64 / 1000.0)
                )),
                _ if m.loaded || loaded.is_some() => PanelCell::text("loaded").class("ok"),
                _ => PanelCell::text("—"),
            },
            PanelCell::num(loaded.map_or("—".into(), |l| bytes(l.vram_bytes))),
            PanelCell::text(m.parameter_size.clone().unwrap_or_else(|| "—".into()))
                .title(m.family.clone().unwrap_or_default()),
            PanelCell::num(m.modified_ms.map_or("—".into(), |t| {
                format!("{} ago", format::duration((now - t).max(0) as f64 / 1000.0))
            })),
        ]);
    }
}
