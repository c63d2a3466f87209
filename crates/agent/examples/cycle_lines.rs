//! Counts what one agent cycle touches, from a `valgrind --tool=lackey --trace-mem=yes` trace of
//! `hostwatch agent` on standard input; `scripts/cycle-lines.sh` runs it.
//!
//! A cycle that runs once a second starts from cold caches, so what it costs follows how much
//! it touches more than how long it runs hot: every distinct 64-byte line of code or data is a
//! miss, every distinct 4 KiB page a TLB miss. Those counts are exact and repeatable where the
//! CPU time of a cycle varies by a third between runs on a shared VM, so a change can be judged
//! by them in seconds. Per cycle this prints the user-space instructions executed and the
//! distinct code and data lines and pages.
//!
//! The trace carries no time and no system calls; the agent's collection thread sleeps between
//! ticks and no other thread runs, so a pause of more than `GAP` in the trace is the boundary of
//! a cycle. Lines are counted from user space only: what the kernel touches is not traced.

use std::collections::HashSet;
use std::io::BufRead;
use std::time::{Duration, Instant};

/// Longer than anything a cycle spends between two traced accesses under valgrind, shorter
/// than a tick.
const GAP: Duration = Duration::from_millis(300);
const LINE: u64 = 64;
const PAGE: u64 = 4096;

#[derive(Default)]
struct Cycle {
    instructions: u64,
    code_lines: HashSet<u64>,
    code_pages: HashSet<u64>,
    data_lines: HashSet<u64>,
    data_pages: HashSet<u64>,
}

impl Cycle {
    fn touch(&mut self, code: bool, address: u64, size: u64) {
        let (lines, pages) = if code {
            self.instructions += 1;
            (&mut self.code_lines, &mut self.code_pages)
        } else {
            (&mut self.data_lines, &mut self.data_pages)
        };
        let last = address + size.max(1) - 1;
        for line in address / LINE..=last / LINE {
            lines.insert(line);
            pages.insert(line * LINE / PAGE);
        }
    }
}

/// One lackey record: `I  addr,size` for an instruction, ` L|S|M addr,size` for data.
fn parse(record: &str) -> Option<(bool, u64, u64)> {
    let (code, rest) = match record.as_bytes() {
        [b'I', ..] => (true, &record[1..]),
        [b' ', b'L' | b'S' | b'M', ..] => (false, &record[2..]),
        _ => return None,
    };
    let (address, size) = rest.trim().split_once(',')?;
    Some((
        code,
        u64::from_str_radix(address, 16).ok()?,
        size.parse().ok()?,
    ))
}

fn main() {
    let stdin = std::io::stdin().lock();
    let mut cycle: Option<Cycle> = None; // None until the first pause: start-up is not a cycle
    let mut number = 0;
    let mut last = Instant::now();
    for record in stdin.lines() {
        let Ok(record) = record else { break };
        let now = Instant::now();
        if now.duration_since(last) > GAP {
            if let Some(done) = cycle.take() {
                println!(
                    "cycle {number}: instructions={} code_lines={} code_pages={} data_lines={} data_pages={}",
                    done.instructions,
                    done.code_lines.len(),
                    done.code_pages.len(),
                    done.data_lines.len(),
                    done.data_pages.len()
                );
                number += 1;
            }
            cycle = Some(Cycle::default());
        }
        last = now;
        if let (Some(cycle), Some((code, address, size))) = (&mut cycle, parse(&record)) {
            cycle.touch(code, address, size);
        }
    }
}
