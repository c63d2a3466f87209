//! systemd units: the configured units' states, restarts, uptime and memory, and how many units
//! of the whole system have failed.
//!
//! **Why `systemctl` and not D-Bus (yet).** The planned fast path is systemd's D-Bus API
//! (`zbus` + `zbus_systemd`: one `ListUnits` call, typed properties, no process). It is not
//! here yet because `systemctl` works everywhere systemd does, through the agent's one runner
//! (timeout, process-group kill, the diagnostic dump), can be tested with recorded output over
//! the real runner (a fake `systemctl` executable), and costs two short processes per medium
//! tick (300 s) — nothing on the fast path. D-Bus replaces it when a tier needs it faster.
//!
//! Two calls per collection:
//! - `systemctl list-units --all --plain --no-legend --no-pager --full`: every loaded unit with
//!   its load/active/sub state — the failed count, and the names the patterns match;
//! - `systemctl show --property=… -- UNIT…` for the matched units (and the configured names
//!   that matched nothing, so a unit that does not exist shows as `not-found` rather than
//!   vanishing): restarts, since when, memory.
//!
//! No `/run/systemd/system` (the check `sd_booted()` makes) → no section, not an error.

use super::{CollectError, Collector};
use crate::HostPaths;
use crate::config::SystemdConfig;
use crate::filter::glob_match;
use crate::runner::{Command, Runner};
use hostwatch_proto::sections::{Systemd, SystemdUnit};
use hostwatch_proto::{SectionData, Tier};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The properties asked of `systemctl show`.
const PROPERTIES: &str =
    "Id,LoadState,ActiveState,SubState,NRestarts,ActiveEnterTimestampMonotonic,MemoryCurrent";
const LOAD_STATES: &[&str] = &[
    "stub",
    "loaded",
    "not-found",
    "bad-setting",
    "error",
    "merged",
    "masked",
];
const ACTIVE_STATES: &[&str] = &[
    "active",
    "reloading",
    "inactive",
    "failed",
    "activating",
    "deactivating",
    "maintenance",
    "refreshing",
];

/// Reads the units through `systemctl`; see the module documentation.
#[derive(Debug)]
pub struct SystemdCollector {
    systemctl: PathBuf,
    patterns: Vec<String>,
    expect_active: bool,
    timeout: Duration,
    /// `/run/systemd/system`: present only when systemd is the running init.
    booted_marker: PathBuf,
    /// `/proc/stat`, for the boot time the monotonic timestamps count from.
    proc_stat: PathBuf,
    runner: Runner,
}

/// One row of `systemctl list-units`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUnit {
    pub name: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
}

impl SystemdCollector {
    pub fn new(config: &SystemdConfig, paths: &HostPaths, runner: Runner) -> SystemdCollector {
        SystemdCollector {
            systemctl: config.systemctl.clone(),
            patterns: config.units.clone(),
            expect_active: config.expect_active,
            timeout: Duration::from_secs(config.timeout_seconds),
            booted_marker: paths.root("run/systemd/system"),
            proc_stat: paths.proc("stat"),
            runner,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        Command::new(&self.systemctl)
            .args(args)
            .timeout(self.timeout)
            .output_limit(4 * 1024 * 1024)
    }

    /// Runs `systemctl` and returns its stdout; a failed run is an error naming the command.
    fn run(&self, command: &Command) -> Result<String, CollectError> {
        let output = self.runner.run_blocking(command)?;
        if !output.exit.success() {
            let stderr = output.stderr.text();
            let why = stderr.lines().next().unwrap_or("").trim();
            return Err(CollectError::Command(format!(
                "{command}: {}{}{why}",
                output.exit,
                if why.is_empty() { "" } else { ": " }
            )));
        }
        Ok(output.stdout.text().into_owned())
    }

    /// The configured names and patterns resolved against the listed units: every listed unit
    /// a pattern matches, and every pattern without wildcards as it is.
    fn wanted(&self, listed: &[ListedUnit]) -> Vec<String> {
        let mut names = BTreeSet::new();
        for pattern in &self.patterns {
            if pattern.contains(['*', '?']) {
                names.extend(
                    listed
                        .iter()
                        .filter(|u| glob_match(pattern, &u.name))
                        .map(|u| u.name.clone()),
                );
            } else {
                names.insert(pattern.clone());
            }
        }
        names.into_iter().collect()
    }
}

impl Collector for SystemdCollector {
    fn name(&self) -> &'static str {
        "systemd"
    }

    fn default_tier(&self) -> Tier {
        Tier::Medium
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        if !self.booted_marker.is_dir() {
            return Ok(None);
        }
        let list = self.command(&[
            "list-units",
            "--all",
            "--plain",
            "--no-legend",
            "--no-pager",
            "--full",
        ]);
        let listed = parse_list_units(&self.run(&list)?)
            .map_err(|message| CollectError::parse(Path::new(&list.to_string()), message))?;
        let mut failed: Vec<String> = listed
            .iter()
            .filter(|u| u.active_state == "failed")
            .map(|u| u.name.clone())
            .collect();
        failed.sort();
        let wanted = self.wanted(&listed);
        let mut units = Vec::new();
        if !wanted.is_empty() {
            let property = format!("--property={PROPERTIES}");
            let mut args = vec!["show", property.as_str(), "--"];
            args.extend(wanted.iter().map(String::as_str));
            let show = self.command(&args);
            let text = self.run(&show)?;
            let boot_ms = boot_time_ms(&self.proc_stat);
            units = parse_show(&text, &wanted, boot_ms, self.expect_active)
                .map_err(|message| CollectError::parse(Path::new(&show.to_string()), message))?;
        }
        Ok(Some(
            Systemd {
                units,
                failed_units: u32::try_from(failed.len()).unwrap_or(u32::MAX),
                failed_unit_names: failed,
            }
            .into(),
        ))
    }
}

/// Parses `systemctl list-units` output: `UNIT LOAD ACTIVE SUB DESCRIPTION` rows. Also reads
/// the decorated form (header, `●` markers, legend after a blank line), so output from any
/// systemd version and flag set reads the same.
pub fn parse_list_units(text: &str) -> Result<Vec<ListedUnit>, String> {
    let mut units = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let row = line.trim_start_matches(|c: char| c.is_whitespace() || c == '●' || c == '*');
        if row.is_empty() {
            if units.is_empty() {
                continue;
            }
            // The legend follows the first blank line after the rows.
            break;
        }
        let mut words = row.split_whitespace();
        let (Some(name), Some(load), Some(active), Some(sub)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(format!(
                "line {}: not `UNIT LOAD ACTIVE SUB …`: {line:?}",
                number + 1
            ));
        };
        if name == "UNIT" && load == "LOAD" {
            continue;
        }
        if !LOAD_STATES.contains(&load) || !ACTIVE_STATES.contains(&active) {
            return Err(format!(
                "line {}: unknown load or active state in {line:?}",
                number + 1
            ));
        }
        units.push(ListedUnit {
            name: name.to_string(),
            load_state: load.to_string(),
            active_state: active.to_string(),
            sub_state: sub.to_string(),
        });
    }
    Ok(units)
}

/// Parses `systemctl show` output for `names` (blocks of `Key=Value` lines separated by blank
/// lines, in the order the units were asked for). `boot_ms` turns monotonic timestamps into
/// wall-clock ones; without it there is no `active_since`.
pub fn parse_show(
    text: &str,
    names: &[String],
    boot_ms: Option<i64>,
    expect_active: bool,
) -> Result<Vec<SystemdUnit>, String> {
    let mut blocks: Vec<BTreeMap<&str, &str>> = Vec::new();
    let mut current = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                blocks.push(std::mem::take(&mut current));
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: not `Key=Value`: {line:?}", number + 1));
        };
        current.insert(key, value);
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    if blocks.len() != names.len() {
        return Err(format!(
            "asked for {} units, got {} property blocks",
            names.len(),
            blocks.len()
        ));
    }
    names
        .iter()
        .zip(blocks)
        .map(|(name, block)| {
            let state = |key: &str| {
                block
                    .get(key)
                    .map(|v| v.to_string())
                    .ok_or_else(|| format!("{name}: no {key}"))
            };
            let since_us = block
                .get("ActiveEnterTimestampMonotonic")
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&us| us > 0);
            Ok(SystemdUnit {
                name: name.clone(),
                load_state: state("LoadState")?,
                active_state: state("ActiveState")?,
                sub_state: state("SubState")?,
                restarts: block.get("NRestarts").and_then(|v| v.parse().ok()),
                active_since: since_us.zip(boot_ms).map(|(us, boot)| {
                    boot.saturating_add(i64::try_from(us / 1000).unwrap_or(i64::MAX))
                }),
                // `[not set]` without memory accounting; u64::MAX ("infinity") on some versions.
                memory_bytes: block
                    .get("MemoryCurrent")
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|&b| b != u64::MAX),
                expected_active: expect_active,
            })
        })
        .collect()
}

/// Boot time from `btime` in `/proc/stat`, unix ms.
fn boot_time_ms(proc_stat: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(proc_stat).ok()?;
    let line = text.lines().find(|l| l.starts_with("btime "))?;
    let secs: i64 = line["btime ".len()..].trim().parse().ok()?;
    secs.checked_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn list_units_plain_and_decorated() {
        let plain = "cloudflared.service loaded activating auto-restart Cloudflare Tunnel\n\
                     nginx.service loaded active running A high performance web server\n\
                     pve-guests.service loaded failed failed PVE guests\n";
        let units = parse_list_units(plain).unwrap();
        assert_eq!(units.len(), 3);
        assert_eq!(units[0].sub_state, "auto-restart");
        assert_eq!(units[2].active_state, "failed");

        let decorated = "  UNIT LOAD ACTIVE SUB DESCRIPTION\n\
                         ● cloud-init.service not-found inactive dead cloud-init.service\n\
                         \n\
                         LOAD   = Reflects whether the unit definition was properly loaded.\n\
                         1 loaded units listed.\n";
        let units = parse_list_units(decorated).unwrap();
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].load_state, "not-found");
        assert_eq!(parse_list_units("").unwrap(), []);
    }

    #[test]
    fn list_units_garbage_says_which_line() {
        let err =
            parse_list_units("nginx.service loaded active running\nFailed to connect to bus\n")
                .unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        let err = parse_list_units("a.service weird active running x\n").unwrap_err();
        assert!(err.contains("unknown load or active state"), "{err}");
    }

    #[test]
    fn show_blocks_become_units() {
        let text = "Id=a.service\nLoadState=loaded\nActiveState=active\nSubState=running\n\
                    NRestarts=2\nActiveEnterTimestampMonotonic=5000000\nMemoryCurrent=1048576\n\
                    \n\
                    Id=b.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n\
                    NRestarts=0\nActiveEnterTimestampMonotonic=0\nMemoryCurrent=[not set]\n";
        let units =
            parse_show(text, &names(&["a.service", "b.service"]), Some(1_000), true).unwrap();
        assert_eq!(units[0].restarts, Some(2));
        assert_eq!(units[0].active_since, Some(1_000 + 5_000));
        assert_eq!(units[0].memory_bytes, Some(1_048_576));
        assert!(units[0].is_active());
        assert_eq!(units[1].load_state, "not-found");
        assert_eq!((units[1].active_since, units[1].memory_bytes), (None, None));
        assert!(!units[1].is_active() && units[1].expected_active);

        let err = parse_show(text, &names(&["a.service"]), None, true).unwrap_err();
        assert!(err.contains("asked for 1 units, got 2"), "{err}");
        let err = parse_show("garbage\n", &names(&["a.service"]), None, true).unwrap_err();
        assert!(err.contains("not `Key=Value`"), "{err}");
        let err = parse_show("Id=a.service\n", &names(&["a.service"]), None, true).unwrap_err();
        assert_eq!(err, "a.service: no LoadState");
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC*", n in 0usize..3) {
            let _ = parse_list_units(&text);
            let wanted: Vec<String> = (0..n).map(|i| format!("u{i}.service")).collect();
            let _ = parse_show(&text, &wanted, Some(i64::MAX), true);
        }
    }

    #[test]
    fn boot_time_from_proc_stat() {
        let tmp = tempfile::tempdir().unwrap();
        let stat = tmp.path().join("stat");
        std::fs::write(&stat, "cpu  1 2 3\nbtime 1794304124\nprocesses 5\n").unwrap();
        assert_eq!(boot_time_ms(&stat), Some(1_794_304_124_000));
        assert_eq!(boot_time_ms(&tmp.path().join("missing")), None);
    }
}
