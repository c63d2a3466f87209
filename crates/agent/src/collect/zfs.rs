//! The `zfs` section (pools) and the `zfs_datasets` section, from the ZFS tools.
//!
//! - `zpool list -Hp -o name,health,size,alloc,free,fragmentation,capacity,dedupratio`: state
//!   and space in exact bytes, on every OpenZFS version.
//! - `zpool status -j --json-int` (OpenZFS ≥ 2.3): the vdev tree with error counters, the scan,
//!   data errors. Older `zpool` rejects `-j`; the collector then reads `zpool status -p` text
//!   from then on (the decision is kept, so an old host pays for one failed call, once).
//! - `zfs get -Hp -t filesystem,volume used,available,compressratio`: the configured datasets,
//!   else every pool's top level (`-d 1`).
//!
//! Pools run on the medium tier by default: `zpool list`/`status` only read the kernel's
//! in-memory state (no disk I/O, no wake-ups), and a disk dropping out of a mirror or a
//! scrub's progress is worth knowing within minutes, not half an hour. Datasets change slowly
//! and run on the slow tier.

use super::tools::{ToolPath, failed, garbage, run, run_ok};
use super::{CollectError, Collector};
use crate::runner::{Command, Runner};
use hostwatch_proto::sections::{Zfs, ZfsDataset, ZfsDatasets, ZfsPool, ZfsScan, ZfsVdev};
use hostwatch_proto::{SectionData, Tier};
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// `[zfs]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZfsConfig {
    /// Pools (`zfs` section).
    pub enabled: bool,
    pub tier: Option<Tier>,
    /// `zpool` and `zfs`: a name looked up in `PATH`, or an absolute path.
    pub zpool_command: String,
    pub zfs_command: String,
    /// The longest one `zpool`/`zfs` call may take.
    pub timeout_seconds: u64,
    /// Datasets (`zfs_datasets` section).
    pub datasets_enabled: bool,
    pub datasets_tier: Option<Tier>,
    /// Datasets to report, e.g. `["rpool/data", "tank/backup"]`; empty = every pool's top
    /// level.
    pub datasets: Vec<String>,
}

impl Default for ZfsConfig {
    fn default() -> Self {
        ZfsConfig {
            enabled: true,
            tier: None,
            zpool_command: "zpool".into(),
            zfs_command: "zfs".into(),
            timeout_seconds: 20,
            datasets_enabled: true,
            datasets_tier: None,
            datasets: Vec::new(),
        }
    }
}

impl ZfsConfig {
    pub fn settings(&self) -> crate::config::CollectorSettings {
        crate::config::CollectorSettings {
            enabled: self.enabled,
            tier: self.tier,
        }
    }

    pub fn datasets_settings(&self) -> crate::config::CollectorSettings {
        crate::config::CollectorSettings {
            enabled: self.enabled && self.datasets_enabled,
            tier: self.datasets_tier,
        }
    }
}

const LIST_COLUMNS: &str = "name,health,size,alloc,free,fragmentation,capacity,dedupratio";

/// How `zpool status` is read on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusFormat {
    Json,
    Text,
}

/// Reports the `zfs` section.
#[derive(Debug)]
pub struct ZfsCollector {
    zpool: String,
    tools: ToolPath,
    runner: Runner,
    timeout: Duration,
    format: StatusFormat,
    tz: TimeZone,
}

impl ZfsCollector {
    pub fn new(config: &ZfsConfig, runner: Runner, tools: ToolPath) -> ZfsCollector {
        ZfsCollector {
            zpool: config.zpool_command.clone(),
            tools,
            runner,
            timeout: Duration::from_secs(config.timeout_seconds.max(1)),
            format: StatusFormat::Json,
            tz: TimeZone::system(),
        }
    }

    /// The time zone `zpool status` text prints scan times in (tests pin it).
    pub fn with_time_zone(mut self, tz: TimeZone) -> ZfsCollector {
        self.tz = tz;
        self
    }

    fn read(&mut self) -> Result<Option<Zfs>, CollectError> {
        let Some(zpool) = self.tools.locate(&self.zpool) else {
            return Ok(None);
        };
        let list_cmd = Command::new(&zpool).args(["list", "-Hp", "-o", LIST_COLUMNS]);
        let output = run(&self.runner, &list_cmd, self.timeout)?;
        if !output.exit.success() {
            // ZFS utilities installed, kernel module not loaded: no ZFS on this host.
            if output.stderr.text().contains("modules are not loaded") {
                return Ok(None);
            }
            return Err(failed(&list_cmd, &output));
        }
        let rows = parse_zpool_list(&output.stdout.text()).map_err(|m| garbage(&list_cmd, m))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let statuses = self.status(&zpool)?;
        let pools = rows
            .into_iter()
            .map(|row| {
                let status = statuses.iter().find(|s| s.name == row.name);
                pool_of(row, status)
            })
            .collect();
        Ok(Some(Zfs { pools }))
    }

    fn status(&mut self, zpool: &std::path::Path) -> Result<Vec<StatusPool>, CollectError> {
        if self.format == StatusFormat::Json {
            let cmd = Command::new(zpool).args(["status", "-j", "--json-int"]);
            let output = run(&self.runner, &cmd, self.timeout)?;
            if output.exit.success() {
                let value: Value = serde_json::from_slice(&output.stdout.bytes)
                    .map_err(|e| garbage(&cmd, format!("not JSON: {e}")))?;
                return parse_status_json(&value).map_err(|m| garbage(&cmd, m));
            }
            let stderr = output.stderr.text().to_ascii_lowercase();
            if !(stderr.contains("invalid option") || stderr.contains("unrecognized option")) {
                return Err(failed(&cmd, &output));
            }
            tracing::info!(
                zpool = %zpool.display(),
                "zpool has no JSON output (OpenZFS < 2.3); reading its text from now on"
            );
            self.format = StatusFormat::Text;
        }
        let cmd = Command::new(zpool).args(["status", "-p"]);
        let output = run_ok(&self.runner, cmd.clone(), self.timeout)?;
        parse_status_text(&output.stdout.text(), &self.tz).map_err(|m| garbage(&cmd, m))
    }
}

impl Collector for ZfsCollector {
    fn name(&self) -> &'static str {
        "zfs"
    }

    fn default_tier(&self) -> Tier {
        Tier::Medium
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        Ok(self.read()?.map(Into::into))
    }
}

/// Reports the `zfs_datasets` section.
#[derive(Debug)]
pub struct ZfsDatasetsCollector {
    zfs: String,
    datasets: Vec<String>,
    tools: ToolPath,
    runner: Runner,
    timeout: Duration,
}

impl ZfsDatasetsCollector {
    pub fn new(config: &ZfsConfig, runner: Runner, tools: ToolPath) -> ZfsDatasetsCollector {
        ZfsDatasetsCollector {
            zfs: config.zfs_command.clone(),
            datasets: config.datasets.clone(),
            tools,
            runner,
            timeout: Duration::from_secs(config.timeout_seconds.max(1)),
        }
    }

    fn read(&mut self) -> Result<Option<ZfsDatasets>, CollectError> {
        let Some(zfs) = self.tools.locate(&self.zfs) else {
            return Ok(None);
        };
        let mut cmd = Command::new(&zfs).args(["get", "-Hp", "-t", "filesystem,volume"]);
        if self.datasets.is_empty() {
            cmd = cmd.args(["-d", "1"]);
        }
        cmd = cmd.arg("used,available,compressratio").args(&self.datasets);
        let output = run(&self.runner, &cmd, self.timeout)?;
        if !output.exit.success() {
            if output.stderr.text().contains("modules are not loaded") {
                return Ok(None);
            }
            return Err(failed(&cmd, &output));
        }
        let datasets = parse_zfs_get(&output.stdout.text()).map_err(|m| garbage(&cmd, m))?;
        if datasets.is_empty() && self.datasets.is_empty() {
            return Ok(None);
        }
        Ok(Some(ZfsDatasets { datasets }))
    }
}

impl Collector for ZfsDatasetsCollector {
    fn name(&self) -> &'static str {
        "zfs_datasets"
    }

    fn default_tier(&self) -> Tier {
        Tier::Slow
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        Ok(self.read()?.map(Into::into))
    }
}

/// One line of `zpool list -Hp -o LIST_COLUMNS`.
#[derive(Debug, Clone, PartialEq)]
struct ListRow {
    name: String,
    health: String,
    size: Option<u64>,
    alloc: Option<u64>,
    free: Option<u64>,
    fragmentation: Option<f64>,
    capacity: Option<f64>,
}

/// `-` (not available) is `None`; older ZFS prints `8%` even with `-p`.
fn opt_number<T: std::str::FromStr>(field: &str) -> Result<Option<T>, String> {
    let field = field.trim().trim_end_matches('%');
    if field == "-" || field.is_empty() {
        return Ok(None);
    }
    field
        .parse()
        .map(Some)
        .map_err(|_| format!("{field:?} is not a number"))
}

fn parse_zpool_list(text: &str) -> Result<Vec<ListRow>, String> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 7 {
            return Err(format!(
                "expected {LIST_COLUMNS} separated by tabs, found {line:?}"
            ));
        }
        let field = |i: usize, what: &str| -> Result<Option<u64>, String> {
            opt_number(f[i]).map_err(|e| format!("pool {}: {what}: {e}", f[0]))
        };
        let pct = |i: usize, what: &str| -> Result<Option<f64>, String> {
            opt_number(f[i]).map_err(|e| format!("pool {}: {what}: {e}", f[0]))
        };
        rows.push(ListRow {
            name: f[0].to_string(),
            health: f[1].to_string(),
            size: field(2, "size")?,
            alloc: field(3, "alloc")?,
            free: field(4, "free")?,
            fragmentation: pct(5, "fragmentation")?,
            capacity: pct(6, "capacity")?,
        });
    }
    Ok(rows)
}

/// What `zpool status` says about one pool.
#[derive(Debug, Clone, PartialEq, Default)]
struct StatusPool {
    name: String,
    state: String,
    status: Option<String>,
    read_errors: u64,
    write_errors: u64,
    checksum_errors: u64,
    data_errors: u64,
    vdevs: Vec<ZfsVdev>,
    scan: Option<ZfsScan>,
}

fn pool_of(row: ListRow, status: Option<&StatusPool>) -> ZfsPool {
    let mut pool = ZfsPool {
        name: row.name,
        state: row.health,
        size_bytes: row.size,
        allocated_bytes: row.alloc,
        free_bytes: row.free,
        capacity_pct: row.capacity,
        fragmentation_pct: row.fragmentation,
        read_errors: 0,
        write_errors: 0,
        checksum_errors: 0,
        data_errors: 0,
        status: None,
        vdevs: Vec::new(),
        scan: None,
        problems: Vec::new(),
    };
    if let Some(s) = status {
        pool.read_errors = s.read_errors;
        pool.write_errors = s.write_errors;
        pool.checksum_errors = s.checksum_errors;
        pool.data_errors = s.data_errors;
        pool.status = s.status.clone();
        pool.vdevs = s.vdevs.clone();
        pool.scan = s.scan.clone();
    }
    pool.problems = problems(&pool);
    pool
}

/// One line per thing wrong with the pool; the hub's alert rules read the fields, people read these.
fn problems(pool: &ZfsPool) -> Vec<String> {
    let mut out = Vec::new();
    if pool.state != "ONLINE" {
        out.push(format!("pool {} is {}", pool.name, pool.state));
    }
    fn walk(v: &ZfsVdev, out: &mut Vec<String>) {
        if v.read_errors + v.write_errors + v.checksum_errors > 0 {
            out.push(format!(
                "{} {}: {} read, {} write, {} checksum errors",
                v.class, v.name, v.read_errors, v.write_errors, v.checksum_errors
            ));
        }
        let bad_state = !matches!(v.state.as_str(), "ONLINE" | "AVAIL" | "INUSE" | "HEALTHY");
        if bad_state && v.children.is_empty() {
            let note = v
                .note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            out.push(format!("{} {} is {}{note}", v.class, v.name, v.state));
        }
        for c in &v.children {
            walk(c, out);
        }
    }
    for v in &pool.vdevs {
        walk(v, &mut out);
    }
    if pool.data_errors > 0 {
        out.push(format!("{} data errors", pool.data_errors));
    }
    if let Some(scan) = &pool.scan
        && scan.state == "finished"
        && scan.errors.unwrap_or(0) > 0
    {
        out.push(format!(
            "last {} found {} errors",
            scan.function,
            scan.errors.unwrap_or(0)
        ));
    }
    out
}

/// A counter from `--json-int` (a number) or plain `-j` (a string, maybe `1.2K`).
fn json_count(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => suffixed(s).unwrap_or(0),
        _ => 0,
    }
}

/// `12`, `1.2K`, `3M` as `zpool status` abbreviates counters without `-p`.
fn suffixed(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    let (num, mult) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1e3),
        'M' => (&s[..s.len() - 1], 1e6),
        'G' => (&s[..s.len() - 1], 1e9),
        'T' => (&s[..s.len() - 1], 1e12),
        _ => return None,
    };
    num.parse::<f64>().ok().map(|n| (n * mult).round() as u64)
}

fn json_text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn parse_status_json(value: &Value) -> Result<Vec<StatusPool>, String> {
    let pools = value
        .get("pools")
        .and_then(Value::as_object)
        .ok_or("no \"pools\" object")?;
    let mut out = Vec::new();
    for (name, p) in pools {
        let state = json_text(p.get("state")).ok_or(format!("pool {name}: no \"state\""))?;
        let mut pool = StatusPool {
            name: name.clone(),
            state,
            status: json_text(p.get("status")).filter(|s| s != "OK"),
            data_errors: json_count(p.get("error_count")),
            ..Default::default()
        };
        // The root vdev carries the pool's counters; its children are the data vdevs.
        if let Some(root) = p
            .get("vdevs")
            .and_then(Value::as_object)
            .and_then(|m| m.get(name).or_else(|| m.values().next()))
        {
            pool.read_errors = json_count(root.get("read_errors"));
            pool.write_errors = json_count(root.get("write_errors"));
            pool.checksum_errors = json_count(root.get("checksum_errors"));
            pool.vdevs.extend(json_vdevs(root.get("vdevs"), "data"));
        }
        for (key, class) in [
            ("special", "special"),
            ("dedup", "dedup"),
            ("logs", "log"),
            ("l2cache", "cache"),
            ("spares", "spare"),
        ] {
            pool.vdevs.extend(json_vdevs(p.get(key), class));
        }
        if let Some(scan) = p.get("scan_stats") {
            pool.scan = json_scan(scan);
        }
        out.push(pool);
    }
    Ok(out)
}

fn json_vdevs(map: Option<&Value>, class: &str) -> Vec<ZfsVdev> {
    let Some(map) = map.and_then(Value::as_object) else {
        return Vec::new();
    };
    map.iter()
        .map(|(key, v)| ZfsVdev {
            name: json_text(v.get("name")).unwrap_or_else(|| key.clone()),
            class: class.to_string(),
            state: json_text(v.get("state")).unwrap_or_default(),
            read_errors: json_count(v.get("read_errors")),
            write_errors: json_count(v.get("write_errors")),
            checksum_errors: json_count(v.get("checksum_errors")),
            note: None,
            children: json_vdevs(v.get("vdevs"), class),
        })
        .collect()
}

fn json_scan(scan: &Value) -> Option<ZfsScan> {
    let function = json_text(scan.get("function"))?.to_ascii_lowercase();
    let state = json_text(scan.get("state"))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let time = |key: &str| match scan.get(key) {
        Some(Value::Number(n)) => n.as_i64().filter(|&s| s > 0).map(|s| s * 1000),
        Some(Value::String(s)) => s.parse::<i64>().ok().filter(|&s| s > 0).map(|s| s * 1000),
        _ => None,
    };
    let examined = json_count(scan.get("examined")).max(json_count(scan.get("issued")));
    let to_examine = json_count(scan.get("to_examine"));
    let progress_pct = (state == "scanning" && to_examine > 0)
        .then(|| (examined as f64 / to_examine as f64 * 100.0).min(100.0));
    Some(ZfsScan {
        function,
        start_ms: time("start_time"),
        end_ms: if state == "scanning" {
            None
        } else {
            time("end_time")
        },
        errors: scan.get("errors").map(|e| json_count(Some(e))),
        progress_pct: progress_pct.map(|p| (p * 100.0).round() / 100.0),
        state,
    })
}

/// Parses `zpool status` text (OpenZFS and the older Solaris format).
fn parse_status_text(text: &str, tz: &TimeZone) -> Result<Vec<StatusPool>, String> {
    let mut pools = Vec::new();
    let mut lines = text.lines().peekable();
    let mut current: Option<StatusPool> = None;
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let Some((key, rest)) = trimmed.split_once(':') else {
            continue;
        };
        let rest = rest.trim();
        match key {
            "pool" => {
                if let Some(done) = current.take() {
                    pools.push(done);
                }
                current = Some(StatusPool {
                    name: rest.to_string(),
                    ..Default::default()
                });
            }
            _ if current.is_none() => {
                return Err(format!("expected `pool: NAME`, found {line:?}"));
            }
            "state" => current.as_mut().unwrap().state = rest.to_string(),
            "status" => {
                let mut s = rest.to_string();
                while let Some(next) = lines.peek() {
                    if next.starts_with('\t') || next.starts_with("        ") {
                        s.push(' ');
                        s.push_str(next.trim());
                        lines.next();
                    } else {
                        break;
                    }
                }
                current.as_mut().unwrap().status = Some(s);
            }
            "scan" | "scrub" => {
                let mut s = rest.to_string();
                // A running scan continues on indented lines ("… 41.2% done").
                while let Some(next) = lines.peek() {
                    let t = next.trim_start();
                    if (next.starts_with('\t') || next.starts_with("    "))
                        && !t.contains(':')
                        && !t.is_empty()
                    {
                        s.push(' ');
                        s.push_str(t);
                        lines.next();
                    } else {
                        break;
                    }
                }
                current.as_mut().unwrap().scan = text_scan(&s, key, tz);
            }
            "config" => {
                let pool = current.as_mut().unwrap();
                parse_config(&mut lines, pool)?;
            }
            "errors" => {
                let pool = current.as_mut().unwrap();
                if let Some(n) = rest.split_whitespace().next().and_then(|n| n.parse().ok()) {
                    pool.data_errors = n;
                } else if rest.starts_with("Permanent errors") {
                    // The files follow, one a line, until the next blank line or pool.
                    let mut n = 0;
                    while let Some(next) = lines.peek() {
                        if next.trim().is_empty() && n > 0 || next.trim_start().starts_with("pool:")
                        {
                            break;
                        }
                        if !next.trim().is_empty() {
                            n += 1;
                        }
                        lines.next();
                    }
                    pool.data_errors = n.max(1);
                }
            }
            _ => {}
        }
    }
    pools.extend(current);
    Ok(pools)
}

/// The vdev table after `config:`.
fn parse_config<'a>(
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    pool: &mut StatusPool,
) -> Result<(), String> {
    let indent_of = |line: &str| -> usize {
        let mut n = 0;
        for c in line.chars() {
            match c {
                ' ' => n += 1,
                '\t' => n = (n / 8 + 1) * 8,
                _ => break,
            }
        }
        n
    };
    // Skip to the header.
    let mut base = None;
    while let Some(line) = lines.peek() {
        if line.trim_start().starts_with("NAME") {
            base = Some(indent_of(line));
            lines.next();
            break;
        }
        if !line.trim().is_empty() {
            return Err(format!("pool {}: no vdev table header", pool.name));
        }
        lines.next();
    }
    let base = base.ok_or(format!("pool {}: no vdev table", pool.name))?;
    // (depth, vdev) stack of the vdevs being filled.
    let mut stack: Vec<(usize, ZfsVdev)> = Vec::new();
    let mut class = "data";
    let finish = |stack: &mut Vec<(usize, ZfsVdev)>, depth: usize, pool: &mut StatusPool| {
        while let Some((d, _)) = stack.last() {
            if *d < depth {
                break;
            }
            let (_, v) = stack.pop().unwrap();
            match stack.last_mut() {
                Some((_, parent)) => parent.children.push(v),
                None => pool.vdevs.push(v),
            }
        }
    };
    while let Some(line) = lines.peek() {
        // The table ends at a blank line, or (in some builds) at the next unindented key.
        if line.trim().is_empty() || indent_of(line) < base {
            break;
        }
        let line = lines.next().unwrap();
        let depth = indent_of(line).saturating_sub(base) / 2;
        let f: Vec<&str> = line.split_whitespace().collect();
        if depth == 0 {
            finish(&mut stack, 1, pool);
            if f.len() >= 5 && f[0] == pool.name {
                pool.read_errors = suffixed(f[2]).unwrap_or(0);
                pool.write_errors = suffixed(f[3]).unwrap_or(0);
                pool.checksum_errors = suffixed(f[4]).unwrap_or(0);
                class = "data";
            } else {
                class = match f[0] {
                    "logs" => "log",
                    "cache" => "cache",
                    "spares" => "spare",
                    "special" => "special",
                    "dedup" => "dedup",
                    other => return Err(format!("pool {}: unexpected row {other:?}", pool.name)),
                };
            }
            continue;
        }
        if f.len() < 2 {
            return Err(format!(
                "pool {}: vdev row {line:?} has no state",
                pool.name
            ));
        }
        let count = |i: usize| f.get(i).and_then(|n| suffixed(n)).unwrap_or(0);
        let has_counts = f.len() >= 5 && suffixed(f[2]).is_some();
        let note_from = if has_counts { 5 } else { 2 };
        let note = (f.len() > note_from).then(|| f[note_from..].join(" "));
        let vdev = ZfsVdev {
            name: f[0].to_string(),
            class: class.to_string(),
            state: f[1].to_string(),
            read_errors: if has_counts { count(2) } else { 0 },
            write_errors: if has_counts { count(3) } else { 0 },
            checksum_errors: if has_counts { count(4) } else { 0 },
            note,
            children: Vec::new(),
        };
        finish(&mut stack, depth, pool);
        stack.push((depth, vdev));
    }
    finish(&mut stack, 0, pool);
    Ok(())
}

/// The `scan:` line: `scrub repaired 0B in 11:16:03 with 0 errors on Sun Feb 12 11:40:04 2023`,
/// `scrub in progress since …`, `resilvered … with 0 errors on …`, `scrub canceled on …`,
/// `none requested`, and the old `scrub: scrub completed after 0h0m with 0 errors on …`.
fn text_scan(line: &str, key: &str, tz: &TimeZone) -> Option<ZfsScan> {
    let lower = line.to_ascii_lowercase();
    if lower.starts_with("none requested") || lower.contains("none requested") {
        return Some(ZfsScan {
            function: "scrub".into(),
            state: "none".into(),
            start_ms: None,
            end_ms: None,
            errors: None,
            progress_pct: None,
        });
    }
    let function = if lower.starts_with("resilver") {
        "resilver"
    } else if lower.starts_with("scrub") || key == "scrub" {
        "scrub"
    } else {
        return None;
    };
    let date_after = |marker: &str| -> Option<i64> {
        let at = line.find(marker)? + marker.len();
        ctime_ms(line[at..].trim(), tz)
    };
    let errors = lower.find(" with ").and_then(|at| {
        lower[at + 6..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
    });
    if lower.contains("in progress since") {
        let progress_pct = line
            .split_whitespace()
            .zip(line.split_whitespace().skip(1))
            .find(|(_, next)| *next == "done")
            .and_then(|(pct, _)| pct.trim_end_matches('%').parse().ok());
        let start = {
            let at = line.find("in progress since ")? + "in progress since ".len();
            // The date is the next 5 words (`Sun Jul 25 16:46:47 2021`).
            let words: Vec<&str> = line[at..].split_whitespace().take(5).collect();
            ctime_ms(&words.join(" "), tz)
        };
        return Some(ZfsScan {
            function: function.into(),
            state: "scanning".into(),
            start_ms: start,
            end_ms: None,
            errors: None,
            progress_pct,
        });
    }
    if lower.contains("canceled") {
        return Some(ZfsScan {
            function: function.into(),
            state: "canceled".into(),
            start_ms: None,
            end_ms: date_after(" on "),
            errors: None,
            progress_pct: None,
        });
    }
    Some(ZfsScan {
        function: function.into(),
        state: "finished".into(),
        start_ms: None,
        end_ms: date_after(" errors on "),
        errors,
        progress_pct: None,
    })
}

/// `Sun Feb 12 11:40:04 2023` (C `ctime`, local time) as unix ms.
fn ctime_ms(text: &str, tz: &TimeZone) -> Option<i64> {
    let words: Vec<&str> = text.split_whitespace().take(5).collect();
    let civil = jiff::civil::DateTime::strptime("%a %b %d %H:%M:%S %Y", words.join(" ")).ok()?;
    civil
        .to_zoned(tz.clone())
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// `zfs get -Hp` lines: `name<TAB>property<TAB>value<TAB>source`; other properties are skipped.
fn parse_zfs_get(text: &str) -> Result<Vec<ZfsDataset>, String> {
    let mut out: Vec<ZfsDataset> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            return Err(format!(
                "expected name, property, value separated by tabs, found {line:?}"
            ));
        }
        let (name, property, value) = (f[0], f[1], f[2]);
        if !matches!(property, "used" | "available" | "compressratio") {
            continue;
        }
        let index = match out.iter().position(|d| d.name == name) {
            Some(i) => i,
            None => {
                out.push(ZfsDataset {
                    name: name.to_string(),
                    used_bytes: 0,
                    available_bytes: 0,
                    compress_ratio: None,
                });
                out.len() - 1
            }
        };
        let d = &mut out[index];
        let bytes = || -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{name} {property}: {value:?} is not a byte count"))
        };
        match property {
            "used" => d.used_bytes = bytes()?,
            "available" => d.available_bytes = bytes()?,
            _ => d.compress_ratio = value.trim_end_matches('x').parse().ok(),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::tools::testing::{FakeTools, fixture};
    use super::*;

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    fn ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    /// A fake `zpool` answering `list` and `status` from fixtures; `json` = None makes it an
    /// old zpool that rejects `-j`.
    fn fake_zpool(tools: &FakeTools, list: &str, json: Option<&str>, text: &str) {
        let copy = |name: &str, rel: &str| {
            let to = tools.dir.path().join(name);
            std::fs::copy(fixture(rel), &to).unwrap();
            to.display().to_string()
        };
        let list = copy("list.out", list);
        let text = copy("status.txt", text);
        let json_branch = match json {
            Some(rel) => format!("cat '{}'", copy("status.json", rel)),
            None => "echo \"invalid option 'j'\" >&2; echo 'usage:' >&2; exit 2".to_string(),
        };
        tools.script(
            "zpool",
            &format!(
                "case \"$1 $2\" in\n\
                 'list -Hp') cat '{list}' ;;\n\
                 'status -j') {json_branch} ;;\n\
                 'status -p') cat '{text}' ;;\n\
                 *) echo \"unexpected: $*\" >&2; exit 99 ;;\n\
                 esac"
            ),
        );
    }

    fn collector(tools: &FakeTools) -> ZfsCollector {
        ZfsCollector::new(&ZfsConfig::default(), Runner::default(), tools.path())
            .with_time_zone(utc())
    }

    fn pools(c: &mut ZfsCollector) -> Vec<ZfsPool> {
        match c.collect().unwrap() {
            Some(SectionData::Zfs(z)) => z.pools,
            other => panic!("expected a zfs section, got {other:?}"),
        }
    }

    #[test]
    fn no_zpool_on_the_path_means_no_section() {
        let tools = FakeTools::new();
        let mut c = collector(&tools);
        assert!(c.collect().unwrap().is_none());
        let mut d =
            ZfsDatasetsCollector::new(&ZfsConfig::default(), Runner::default(), tools.path());
        assert!(d.collect().unwrap().is_none());
    }

    #[test]
    fn module_not_loaded_means_no_section() {
        let tools = FakeTools::new();
        tools.script(
            "zpool",
            "echo 'The ZFS modules are not loaded.' >&2\necho \"Try running '/sbin/modprobe zfs' as root to load them.\" >&2\nexit 1",
        );
        assert!(collector(&tools).collect().unwrap().is_none());
    }

    #[test]
    fn old_zpool_falls_back_to_text_once_and_reads_a_healthy_pool() {
        let tools = FakeTools::new();
        fake_zpool(
            &tools,
            "zfs/zpool-list-Hp_freebsd14.txt",
            None,
            "zfs/zpool-status_online-features-scrub-done.txt",
        );
        // The recorded list names `zroot`; the recorded status `pool1`: rename for the join.
        let list = tools.dir.path().join("list.out");
        let text = std::fs::read_to_string(&list)
            .unwrap()
            .replace("zroot", "pool1");
        std::fs::write(&list, text).unwrap();
        let mut c = collector(&tools);
        let p = pools(&mut c);
        assert_eq!(p.len(), 1);
        let pool = &p[0];
        assert_eq!(pool.name, "pool1");
        assert_eq!(pool.state, "ONLINE");
        assert_eq!(pool.size_bytes, Some(67_108_864_000));
        assert_eq!(pool.allocated_bytes, Some(11_959_578_624));
        assert_eq!(pool.free_bytes, Some(55_149_285_376));
        assert_eq!(pool.fragmentation_pct, Some(4.0));
        assert_eq!(pool.capacity_pct, Some(17.0));
        assert_eq!(pool.vdevs.len(), 2);
        assert_eq!(pool.vdevs[0].name, "mirror-0");
        assert_eq!(pool.vdevs[0].class, "data");
        assert_eq!(pool.vdevs[0].children.len(), 2);
        assert_eq!(pool.vdevs[1].children[1].name, "wwn-0x5000c500e3b3a41e");
        assert!(
            pool.status
                .as_deref()
                .unwrap()
                .starts_with("Some supported")
        );
        assert!(
            pool.status
                .as_deref()
                .unwrap()
                .contains("some features are unavailable")
        );
        let scan = pool.scan.as_ref().unwrap();
        assert_eq!(scan.function, "scrub");
        assert_eq!(scan.state, "finished");
        assert_eq!(scan.errors, Some(0));
        assert_eq!(scan.end_ms, Some(ms("2023-02-12T11:40:04Z")));
        assert!(pool.problems.is_empty(), "{:?}", pool.problems);
        // Second tick: straight to text, no second `-j` attempt.
        pools(&mut c);
        let calls = tools.calls("zpool");
        assert_eq!(
            calls.iter().filter(|c| c.contains("-j")).count(),
            1,
            "{calls:?}"
        );
        assert_eq!(
            calls.iter().filter(|c| c.starts_with("status -p")).count(),
            2
        );
    }

    #[test]
    fn degraded_pool_with_an_unavailable_disk_is_a_problem() {
        let tools = FakeTools::new();
        tools.script("zpool", "true");
        let status =
            std::fs::read_to_string(fixture("zfs/zpool-status-v_degraded-unavail.txt")).unwrap();
        let parsed = parse_status_text(&status, &utc()).unwrap();
        let row = ListRow {
            name: "tank".into(),
            health: "DEGRADED".into(),
            size: None,
            alloc: None,
            free: None,
            fragmentation: None,
            capacity: None,
        };
        let pool = pool_of(row, parsed.first());
        assert_eq!(pool.vdevs[0].state, "DEGRADED");
        let disk = &pool.vdevs[0].children[1];
        assert_eq!(disk.name, "c1t1d0");
        assert_eq!(disk.state, "UNAVAIL");
        assert_eq!(disk.note.as_deref(), Some("cannot open"));
        assert_eq!(pool.scan.as_ref().unwrap().state, "none");
        assert_eq!(
            pool.problems,
            vec![
                "pool tank is DEGRADED".to_string(),
                "data c1t1d0 is UNAVAIL (cannot open)".to_string()
            ]
        );
    }

    #[test]
    fn unavailable_pool_with_device_errors_and_permanent_data_errors() {
        let status =
            std::fs::read_to_string(fixture("zfs/zpool-status-v_unavail-permanent-errors.txt"))
                .unwrap();
        let parsed = parse_status_text(&status, &utc()).unwrap();
        let list = std::fs::read_to_string(fixture("zfs/zpool-list-Hp_unavail.txt")).unwrap();
        let mut rows = parse_zpool_list(&list).unwrap();
        rows[0].name = "tank".into();
        let pool = pool_of(rows.remove(0), parsed.first());
        assert_eq!(pool.state, "UNAVAIL");
        assert_eq!(pool.size_bytes, None, "`-` is unknown, not zero");
        assert_eq!(pool.capacity_pct, None);
        let disk = &pool.vdevs[1];
        assert_eq!(
            (disk.read_errors, disk.write_errors, disk.checksum_errors),
            (4, 1, 0)
        );
        assert_eq!(pool.data_errors, 3, "three files listed");
        let scan = pool.scan.as_ref().unwrap();
        assert_eq!((scan.state.as_str(), scan.errors), ("finished", Some(0)));
        assert_eq!(scan.end_ms, Some(ms("2010-02-02T13:08:42Z")));
        assert!(pool.problems.contains(&"pool tank is UNAVAIL".to_string()));
        assert!(
            pool.problems
                .contains(&"data c1t1d0: 4 read, 1 write, 0 checksum errors".to_string()),
            "{:?}",
            pool.problems
        );
        assert!(pool.problems.contains(&"3 data errors".to_string()));
    }

    #[test]
    fn spares_section_and_several_pools_in_one_text() {
        let text = std::fs::read_to_string(fixture("zfs/zpool-status_online-spares.txt")).unwrap();
        let parsed = parse_status_text(&text, &utc()).unwrap();
        let pool = &parsed[0];
        let spares: Vec<_> = pool.vdevs.iter().filter(|v| v.class == "spare").collect();
        assert_eq!(spares.len(), 1);
        assert_eq!(spares[0].state, "AVAIL");
        assert_eq!(pool.vdevs.iter().filter(|v| v.class == "data").count(), 4);
        let three =
            std::fs::read_to_string(fixture("zfs/zpool-status-v_three-pools-zfs-osx.txt")).unwrap();
        let parsed = parse_status_text(&three, &utc()).unwrap();
        assert_eq!(parsed.len(), 3);
        assert!(parsed.iter().all(|p| p.state == "ONLINE"));
        assert!(
            parsed
                .iter()
                .any(|p| p.scan.as_ref().unwrap().state == "canceled")
        );
    }

    #[test]
    fn json_status_gives_the_tree_scan_and_classes() {
        let tools = FakeTools::new();
        fake_zpool(
            &tools,
            "zfs/zpool-list-Hp_freenas.txt",
            Some("zfs/zpool-status-j_json-int_synthetic.json"),
            "zfs/zpool-status_online-features-scrub-done.txt",
        );
        let p = pools(&mut collector(&tools));
        assert_eq!(p.len(), 4);
        let red1 = p.iter().find(|p| p.name == "red1").unwrap();
        assert_eq!(red1.fragmentation_pct, Some(8.0), "older ZFS prints `8%`");
        assert_eq!(red1.state, "ONLINE");
        assert_eq!(red1.vdevs[0].name, "raidz1-0");
        assert_eq!(red1.vdevs[0].children.len(), 3);
        let ada2 = red1.vdevs[0]
            .children
            .iter()
            .find(|d| d.name == "ada2")
            .unwrap();
        assert_eq!(ada2.checksum_errors, 2);
        assert_eq!(red1.checksum_errors, 0, "the pool row's own counter");
        assert!(
            red1.vdevs
                .iter()
                .any(|v| v.class == "log" && v.name == "ada4")
        );
        let scan = red1.scan.as_ref().unwrap();
        assert_eq!(scan.state, "finished");
        assert_eq!(scan.end_ms, Some(1_700_000_000_000));
        assert_eq!(scan.errors, Some(0));
        assert_eq!(
            red1.problems,
            vec!["data ada2: 0 read, 0 write, 2 checksum errors".to_string()]
        );
        let temp1 = p.iter().find(|p| p.name == "temp1").unwrap();
        let scan = temp1.scan.as_ref().unwrap();
        assert_eq!(scan.state, "scanning");
        assert_eq!(scan.progress_pct, Some(25.0));
        assert_eq!(scan.end_ms, None);
        let boot = p.iter().find(|p| p.name == "freenas-boot").unwrap();
        assert!(
            boot.vdevs.is_empty(),
            "not in the status output: list data only"
        );
        assert_eq!(boot.fragmentation_pct, None);
    }

    #[test]
    fn garbage_and_failures_are_errors_naming_the_command() {
        let tools = FakeTools::new();
        tools.script("zpool", "echo 'hello world'");
        let err = collector(&tools).collect().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("zpool list -Hp"), "{msg}");
        assert!(msg.contains("separated by tabs"), "{msg}");

        let tools = FakeTools::new();
        fake_zpool(
            &tools,
            "zfs/zpool-list-Hp_freebsd14.txt",
            Some("zfs/zpool-list-Hp_freebsd14.txt"),
            "zfs/zpool-status_online-features-scrub-done.txt",
        );
        let msg = collector(&tools).collect().unwrap_err().to_string();
        assert!(msg.contains("zpool status -j --json-int"), "{msg}");
        assert!(msg.contains("not JSON"), "{msg}");

        let tools = FakeTools::new();
        tools.script("zpool", "echo 'internal error: out of memory' >&2\nexit 1");
        let err = collector(&tools).collect().unwrap_err();
        assert!(matches!(err, CollectError::Command(_)));
        assert!(err.to_string().contains("out of memory"), "{err}");
    }

    #[test]
    fn datasets_from_zfs_get_top_level_by_default_and_configured_names() {
        let tools = FakeTools::new();
        tools.printing(
            "zfs",
            &fixture("zfs/zfs-get-Hp-all_tank-tmp_freebsd.txt"),
            0,
        );
        let mut d =
            ZfsDatasetsCollector::new(&ZfsConfig::default(), Runner::default(), tools.path());
        let Some(SectionData::ZfsDatasets(ds)) = d.collect().unwrap() else {
            panic!("expected datasets")
        };
        assert_eq!(
            ds.datasets,
            vec![ZfsDataset {
                name: "tank/tmp".into(),
                used_bytes: 602_697_728,
                available_bytes: 1_060_747_661_312,
                compress_ratio: Some(1.39),
            }]
        );
        let config = ZfsConfig {
            datasets: vec!["tank/tmp".into()],
            ..ZfsConfig::default()
        };
        ZfsDatasetsCollector::new(&config, Runner::default(), tools.path())
            .collect()
            .unwrap();
        let calls = tools.calls("zfs");
        assert_eq!(
            calls[0],
            "get -Hp -t filesystem,volume -d 1 used,available,compressratio"
        );
        assert_eq!(
            calls[1],
            "get -Hp -t filesystem,volume used,available,compressratio tank/tmp"
        );
    }

    #[test]
    fn zfs_get_garbage_is_a_parse_error() {
        assert!(
            parse_zfs_get("tank\tused\tlots\t-\n")
                .unwrap_err()
                .contains("tank used")
        );
        assert!(parse_zfs_get("no tabs here\n").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_damaged_zpool_and_zfs_output(
            list in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/zfs/zpool-list-Hp_unavail.txt"
            )),
            status in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/zfs/zpool-status-v_degraded-unavail.txt"
            )),
            get in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/zfs/zfs-get-Hp-all_tank-tmp_freebsd.txt"
            )),
        ) {
            let _ = parse_zpool_list(&list);
            let _ = parse_status_text(&status, &utc());
            let _ = parse_zfs_get(&get);
        }
    }
}
