//! The stdout sink: one JSON report per line, for pipes and `jq`.

use hostwatch_proto::Report;
use std::io::Write;

/// Writes `report` as one line of JSON to `out` and flushes, so a reader sees it at once.
pub fn write_line(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    let mut line = report.to_json();
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}
