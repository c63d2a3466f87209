//! A writer for the Prometheus text exposition format, version 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>).

use std::fmt::Write;

/// Builds one exposition document. Each family is declared once with its samples following,
/// as the format requires.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// Metric family types we emit.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Exposition {
    pub fn with_capacity(bytes: usize) -> Self {
        Exposition {
            out: String::with_capacity(bytes),
        }
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label_into(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
        self
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Help text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_families_labels_and_values() {
        let mut e = Exposition::default();
        e.family("node_load1", Kind::Gauge, "1m load average.")
            .sample("node_load1", &[], 0.25);
        e.family("x_total", Kind::Counter, "with \\ and\nnewline")
            .sample(
                "x_total",
                &[("a", "q\"uote"), ("b", "back\\slash\nnl")],
                3.0,
            )
            .sample("x_total", &[("a", "inf")], f64::INFINITY)
            .sample("x_total", &[("a", "big")], 1.5e18);
        assert_eq!(
            e.finish(),
            "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.25\n\
             # HELP x_total with \\\\ and\\nnewline\n# TYPE x_total counter\n\
             x_total{a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\"} 3\n\
             x_total{a=\"inf\"} +Inf\nx_total{a=\"big\"} 1500000000000000000\n"
        );
    }
}
