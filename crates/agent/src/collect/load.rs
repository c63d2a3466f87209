//! The `load` section: load averages and task counts from `/proc/loadavg`
//! (<https://docs.kernel.org/filesystems/proc.html>, table 1-4 "loadavg").
//!
//! Hand-parsed: `procfs_core::LoadAverage` reads the averages as `f32`, which would put
//! `0.15000000596046448` on the wire for the kernel's `0.15`.

use super::{CollectError, Collector};
use crate::HostPaths;
use crate::paths::PseudoFile;
use hostwatch_proto::sections::Load;
use hostwatch_proto::{SectionData, Tier};
use std::path::Path;

/// Parses `0.15 0.22 0.12 1/87 8431`: three averages, runnable/total tasks, last PID.
fn parse_loadavg(path: &Path, text: &str) -> Result<Load, CollectError> {
    let bad = || {
        CollectError::parse(
            path,
            format!(
                "expected `l1 l5 l15 runnable/total pid`, found {:?}",
                text.trim()
            ),
        )
    };
    let mut fields = text.split_ascii_whitespace();
    let mut average = || -> Result<f64, CollectError> {
        fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad)
    };
    let (load1, load5, load15) = (average()?, average()?, average()?);
    let (runnable, total) = fields
        .next()
        .and_then(|f| f.split_once('/'))
        .ok_or_else(bad)?;
    Ok(Load {
        load1,
        load5,
        load15,
        tasks_runnable: runnable.parse().map_err(|_| bad())?,
        tasks_total: total.parse().map_err(|_| bad())?,
    })
}

/// Reports the `load` section.
#[derive(Debug)]
pub struct LoadCollector {
    loadavg: PseudoFile,
    buf: String,
}

impl LoadCollector {
    pub fn new(paths: HostPaths) -> Self {
        LoadCollector {
            loadavg: PseudoFile::whole(paths.proc("loadavg")),
            buf: String::new(),
        }
    }

    fn read(&mut self) -> Result<Load, CollectError> {
        self.loadavg.read_into(&mut self.buf)?;
        parse_loadavg(self.loadavg.path(), &self.buf)
    }
}

impl Collector for LoadCollector {
    fn name(&self) -> &'static str {
        "load"
    }

    fn default_tier(&self) -> Tier {
        Tier::Fast
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        self.read().map(|l| Some(l.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(case: &str) -> Result<Load, CollectError> {
        let dir = format!("{}/tests/fixtures/load/{case}", env!("CARGO_MANIFEST_DIR"));
        LoadCollector::new(HostPaths::under(dir)).read()
    }

    #[test]
    fn recorded_loadavg_of_this_machine() {
        assert_eq!(
            read("dev-vm").unwrap(),
            Load {
                load1: 0.68,
                load5: 0.36,
                load15: 0.19,
                tasks_runnable: 2,
                tasks_total: 87,
            }
        );
    }

    #[test]
    fn node_exporter_loadavg() {
        let load = read("node_exporter").unwrap();
        assert_eq!((load.load1, load.load5, load.load15), (0.21, 0.37, 0.39));
        assert_eq!((load.tasks_runnable, load.tasks_total), (1, 719));
    }

    #[test]
    fn garbage_names_the_file() {
        let err = read("garbage").unwrap_err().to_string();
        assert!(
            err.contains("proc/loadavg") && err.contains("high"),
            "{err}"
        );
    }

    #[test]
    fn truncated_line_is_an_error_not_a_panic() {
        let path = Path::new("/proc/loadavg");
        for text in [
            "",
            "0.1 0.2",
            "0.1 0.2 0.3",
            "0.1 0.2 0.3 7",
            "0.1 0.2 0.3 1/x 5",
        ] {
            assert!(parse_loadavg(path, text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn missing_file_is_an_io_error() {
        assert!(matches!(read("no-such-case"), Err(CollectError::Io { .. })));
    }

    #[test]
    fn live_read_of_this_machine_is_plausible() {
        let load = LoadCollector::new(HostPaths::default()).read().unwrap();
        assert!(load.load1 >= 0.0 && load.load5 >= 0.0 && load.load15 >= 0.0);
        // This test's own thread is running, and there is at least init besides it.
        assert!(load.tasks_runnable >= 1);
        assert!(load.tasks_total > load.tasks_runnable);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_a_damaged_loadavg(
            text in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/load/node_exporter/proc/loadavg"
            ))
        ) {
            let _ = parse_loadavg(Path::new("/proc/loadavg"), &text);
        }
    }
}
