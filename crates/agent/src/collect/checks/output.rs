//! From a plugin's run to a check result: the state from the exit status, the text split into
//! status line, long output and performance data, as the Nagios plugin API lays it out
//! (<https://assets.nagios.com/downloads/nagioscore/docs/nagioscore/4/en/pluginapi.html>):
//!
//! ```text
//! TEXT OUTPUT | OPTIONAL PERFDATA
//! LONG TEXT LINE 1
//! LONG TEXT LINE N | PERFDATA LINE 2
//! PERFDATA LINE 3
//! ```
//!
//! Once a `|` appears in the long output, everything after it, on that line and the following
//! ones, is performance data.

use super::perfdata;
use crate::runner::{Captured, Exit, Output, RunError};
use hostwatch_proto::sections::{CheckResult, CheckState, PerfData};
use std::time::Duration;

/// What a status line says when the plugin printed nothing at all.
pub const NO_OUTPUT: &str = "(no output)";

/// A plugin's text, split up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginText {
    pub status: String,
    pub long_output: String,
    pub perfdata: Vec<PerfData>,
    pub perfdata_errors: Vec<String>,
}

/// Splits plugin output into status line, long output and performance data.
pub fn parse_plugin_text(text: &str) -> PluginText {
    let mut out = PluginText::default();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    let (status, perf) = first.split_once('|').unwrap_or((first, ""));
    out.status = status.trim().to_string();
    perfdata::parse(perf, &mut out.perfdata, &mut out.perfdata_errors);

    let mut long = Vec::new();
    let mut in_perfdata = false;
    for line in lines {
        if in_perfdata {
            perfdata::parse(line, &mut out.perfdata, &mut out.perfdata_errors);
        } else if let Some((text, perf)) = line.split_once('|') {
            long.push(text.trim_end());
            perfdata::parse(perf, &mut out.perfdata, &mut out.perfdata_errors);
            in_perfdata = true;
        } else {
            long.push(line.trim_end());
        }
    }
    while long.last().is_some_and(|l| l.is_empty()) {
        long.pop();
    }
    out.long_output = long.join("\n");
    out
}

/// The result of one run, before the agent adds the name, start time and failure streak.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: CheckState,
    pub exit_code: Option<i32>,
    pub text: PluginText,
    pub duration: Duration,
}

/// Turns what the runner reports into the check's state and text:
///
/// - exit 0/1/2/3 → OK/WARNING/CRITICAL/UNKNOWN, any other code UNKNOWN;
/// - stdout is the plugin's output; stderr takes its place when stdout is empty, and is appended
///   to the long output when both have text (never parsed for performance data);
/// - killed by a signal → UNKNOWN "killed by signal N"; timed out → UNKNOWN "timed out after
///   N s" (the runner killed its process group); could not start → UNKNOWN with the reason.
///   Whatever the plugin wrote before goes to the long output.
pub fn interpret(result: Result<Output, RunError>) -> Outcome {
    match result {
        Ok(output) => match output.exit {
            Exit::Code(code) => Outcome {
                state: CheckState::from_exit_code(code),
                exit_code: Some(code),
                text: plugin_text(&output.stdout, &output.stderr),
                duration: output.duration,
            },
            Exit::Signaled(signal) => Outcome {
                state: CheckState::Unknown,
                exit_code: None,
                text: failure_text(
                    format!("killed by signal {signal}"),
                    &output.stdout,
                    &output.stderr,
                ),
                duration: output.duration,
            },
        },
        Err(RunError::TimedOut {
            timeout, partial, ..
        }) => Outcome {
            state: CheckState::Unknown,
            exit_code: None,
            text: failure_text(
                format!("timed out after {} s", timeout.as_secs_f64()),
                &partial.stdout,
                &partial.stderr,
            ),
            duration: partial.duration,
        },
        Err(error) => {
            let duration = match &error {
                RunError::NotFound { duration, .. }
                | RunError::PermissionDenied { duration, .. }
                | RunError::Spawn { duration, .. }
                | RunError::Wait { duration, .. } => *duration,
                RunError::TimedOut { partial, .. } => partial.duration,
            };
            Outcome {
                state: CheckState::Unknown,
                exit_code: None,
                text: PluginText {
                    status: error.to_string(),
                    ..PluginText::default()
                },
                duration,
            }
        }
    }
}

impl Outcome {
    /// The wire form. `previous_failures` is the streak of non-OK runs before this one.
    pub fn into_result(
        self,
        name: &str,
        started_at_ms: i64,
        previous_failures: u32,
    ) -> CheckResult {
        let consecutive_failures = match self.state {
            CheckState::Ok => 0,
            _ => previous_failures.saturating_add(1),
        };
        CheckResult {
            name: name.to_string(),
            state: self.state,
            exit_code: self.exit_code,
            status: self.text.status,
            long_output: self.text.long_output,
            perfdata: self.text.perfdata,
            perfdata_errors: self.text.perfdata_errors,
            duration_seconds: self.duration.as_secs_f64(),
            last_run: started_at_ms,
            consecutive_failures,
        }
    }
}

fn plugin_text(stdout: &Captured, stderr: &Captured) -> PluginText {
    let out = stdout.text();
    let err = stderr.text();
    let mut text = if !out.trim().is_empty() {
        let mut text = parse_plugin_text(&out);
        if !err.trim().is_empty() {
            append_line(&mut text.long_output, err.trim_end());
        }
        text
    } else if !err.trim().is_empty() {
        let err = err.trim();
        let (status, long) = err.split_once('\n').unwrap_or((err, ""));
        PluginText {
            status: status.trim().to_string(),
            long_output: long.trim_end().to_string(),
            ..PluginText::default()
        }
    } else {
        PluginText {
            status: NO_OUTPUT.to_string(),
            ..PluginText::default()
        }
    };
    note_truncation(&mut text.long_output, stdout, stderr);
    text
}

/// A run that did not end by itself: our status line, and the plugin's own words kept below.
fn failure_text(status: String, stdout: &Captured, stderr: &Captured) -> PluginText {
    let mut long_output = String::new();
    for captured in [stdout, stderr] {
        let text = captured.text();
        if !text.trim().is_empty() {
            append_line(&mut long_output, text.trim_end());
        }
    }
    note_truncation(&mut long_output, stdout, stderr);
    PluginText {
        status,
        long_output,
        ..PluginText::default()
    }
}

fn append_line(to: &mut String, line: &str) {
    if !to.is_empty() {
        to.push('\n');
    }
    to.push_str(line);
}

fn note_truncation(long_output: &mut String, stdout: &Captured, stderr: &Captured) {
    for (name, captured) in [("stdout", stdout), ("stderr", stderr)] {
        if captured.truncated {
            append_line(
                long_output,
                &format!(
                    "[{name} cut at {} of {} bytes]",
                    captured.bytes.len(),
                    captured.total
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Partial;

    fn captured(text: &str) -> Captured {
        Captured {
            bytes: text.as_bytes().to_vec(),
            truncated: false,
            total: text.len() as u64,
        }
    }

    fn exited(code: i32, stdout: &str, stderr: &str) -> Result<Output, RunError> {
        Ok(Output {
            exit: Exit::Code(code),
            stdout: captured(stdout),
            stderr: captured(stderr),
            duration: Duration::from_millis(12),
        })
    }

    #[test]
    fn first_line_status_then_long_output_then_multiline_perfdata() {
        let text = parse_plugin_text(
            "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n\
             / 15272 MB (77%);\n\
             /var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n\
             /home=69357MB;253404;253409;0;253414\n",
        );
        assert_eq!(text.status, "DISK OK - free space: / 3326 MB (56%);");
        assert_eq!(
            text.long_output,
            "/ 15272 MB (77%);\n/var/log 819 MB (84%);"
        );
        let labels: Vec<_> = text.perfdata.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["/", "/boot", "/home"]);
        assert!(text.perfdata_errors.is_empty());
    }

    #[test]
    fn states_from_exit_codes_and_streams() {
        let cases = [
            (0, CheckState::Ok),
            (1, CheckState::Warning),
            (2, CheckState::Critical),
            (3, CheckState::Unknown),
            (4, CheckState::Unknown),
            (127, CheckState::Unknown),
        ];
        for (code, state) in cases {
            let outcome = interpret(exited(code, "text|x=1\n", ""));
            assert_eq!((outcome.state, outcome.exit_code), (state, Some(code)));
            assert_eq!(outcome.text.status, "text");
            assert_eq!(outcome.text.perfdata.len(), 1);
        }
        let only_stderr = interpret(exited(2, "", "broken: no such table\nsecond | x=1\n"));
        assert_eq!(only_stderr.text.status, "broken: no such table");
        assert_eq!(only_stderr.text.long_output, "second | x=1");
        assert!(
            only_stderr.text.perfdata.is_empty(),
            "stderr is not perfdata"
        );
        let both = interpret(exited(1, "WARN - high\nmore\n", "deprecated flag\n"));
        assert_eq!(both.text.status, "WARN - high");
        assert_eq!(both.text.long_output, "more\ndeprecated flag");
        let nothing = interpret(exited(0, "", "  \n"));
        assert_eq!(nothing.text.status, NO_OUTPUT);
    }

    #[test]
    fn signals_timeouts_and_start_failures_are_unknown() {
        let killed = interpret(Ok(Output {
            exit: Exit::Signaled(9),
            stdout: captured("partial\n"),
            stderr: captured(""),
            duration: Duration::from_millis(3),
        }));
        assert_eq!(killed.state, CheckState::Unknown);
        assert_eq!(killed.exit_code, None);
        assert_eq!(killed.text.status, "killed by signal 9");
        assert_eq!(killed.text.long_output, "partial");

        let timed_out = interpret(Err(RunError::TimedOut {
            program: "check_slow".into(),
            timeout: Duration::from_secs(10),
            partial: Box::new(Partial {
                stdout: captured("starting\n"),
                stderr: captured("waiting\n"),
                duration: Duration::from_millis(10_002),
            }),
        }));
        assert_eq!(timed_out.text.status, "timed out after 10 s");
        assert_eq!(timed_out.text.long_output, "starting\nwaiting");
        assert_eq!(timed_out.duration, Duration::from_millis(10_002));

        let missing = interpret(Err(RunError::NotFound {
            program: "/opt/check_gone".into(),
            duration: Duration::ZERO,
        }));
        assert_eq!(missing.state, CheckState::Unknown);
        assert_eq!(missing.text.status, "/opt/check_gone: not found");
    }

    proptest::proptest! {
        #[test]
        fn any_output_splits_without_panicking(text in "(\\PC{0,40}[|\n]?){0,6}") {
            let parsed = parse_plugin_text(&text);
            proptest::prop_assert!(!parsed.status.contains('\n'));
            proptest::prop_assert!(!parsed.status.contains('|'));
        }
    }

    #[test]
    fn truncation_is_noted_and_failure_streaks_count() {
        let mut stdout = captured("OK - fine\n");
        stdout.truncated = true;
        stdout.total = 1_000_000;
        let outcome = interpret(Ok(Output {
            exit: Exit::Code(0),
            stdout,
            stderr: captured(""),
            duration: Duration::ZERO,
        }));
        assert_eq!(
            outcome.text.long_output,
            "[stdout cut at 10 of 1000000 bytes]"
        );
        let ok = outcome.clone().into_result("c", 5, 4);
        assert_eq!((ok.consecutive_failures, ok.last_run), (0, 5));
        let mut failing = outcome;
        failing.state = CheckState::Critical;
        assert_eq!(failing.into_result("c", 5, 4).consecutive_failures, 5);
    }
}
