//! The `load` section: load averages and task counts from `/proc/loadavg`
//! (<https://docs.kernel.org/filesystems/proc.html>, table 1-4 "loadavg").
//!
//! Hand-parsed: `procfs_core::LoadAverage` reads the averages as `f32`, which would put
//! `0.15000000596046448` on the wire for the kernel's `0.15`.

use super::{CollectError, Collector};
use crate::HostPaths;
use crate::paths::read_into;
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
    paths: HostPaths,
    buf: String,
}

impl LoadCollector {
    pub fn new(paths: HostPaths) -> Self {
        LoadCollector {
            paths,
            buf: String::new(),
        }
    }

    fn read(&mut self) -> Result<Load, CollectError> {
        let path = self.paths.proc("loadavg");
        read_into(&path, &mut self.buf)?;
        parse_loadavg(&path, &self.buf)
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
