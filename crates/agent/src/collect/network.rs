//! Network interfaces from `/proc/net/dev`
//! (<https://docs.kernel.org/networking/statistics.html>, "procfs" section).
//!
//! Rates come from the delta between this read and the previous one. An interface seen for the
//! first time, or one whose counters went backwards (a driver's 32-bit counter wrapping, an
//! interface re-created under the same name), gets no rates that tick, only a fresh baseline.
//!
//! Hand-parsed rather than through `procfs_core::net::InterfaceDeviceStatus`: that parser splits
//! the name off at whitespace, so it fails on lines where a wide counter runs into the colon
//! (`eth0:68210035552 …`) and on names that contain a colon (`ibr10:30`); it also allocates a map
//! entry per interface every tick.

use crate::HostPaths;
use crate::collect::baselines::{Baselines, Observed};
use crate::collect::{CollectError, Collector};
use crate::config::NetworkConfig;
use crate::filter::Filter;
use crate::paths::PseudoFile;
use hostwatch_proto::sections::{Interface, InterfaceRates, Network};
use hostwatch_proto::{SectionData, Tier};
use std::ops::Range;
use std::time::Instant;

/// The two header lines the kernel prints before the interfaces.
const HEADER_LINES: usize = 2;
/// Receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs
/// drop fifo colls carrier compressed.
const COLUMNS: usize = 16;

/// Reports per-interface traffic counters and rates.
#[derive(Debug)]
pub struct NetworkCollector {
    net_dev: PseudoFile,
    filter: Filter,
    /// The file text, kept to reuse its allocation.
    buf: String,
    /// This tick's parsed lines (names as ranges into `buf`), kept to reuse the allocation.
    lines: Vec<Line>,
    /// The previous read per interface, reported or not, so the filter runs once per
    /// interface rather than once per tick.
    baselines: Baselines<Counters, ()>,
}

#[derive(Debug)]
struct Line {
    name: Range<usize>,
    counters: Counters,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Counters {
    rx_bytes: u64,
    rx_packets: u64,
    rx_errors: u64,
    rx_drops: u64,
    tx_bytes: u64,
    tx_packets: u64,
    tx_errors: u64,
    tx_drops: u64,
}

impl Counters {
    fn as_array(&self) -> [u64; 8] {
        [
            self.rx_bytes,
            self.rx_packets,
            self.rx_errors,
            self.rx_drops,
            self.tx_bytes,
            self.tx_packets,
            self.tx_errors,
            self.tx_drops,
        ]
    }
}

impl NetworkCollector {
    pub fn new(config: &NetworkConfig, paths: &HostPaths) -> Self {
        NetworkCollector {
            net_dev: PseudoFile::new(paths.proc("net/dev")),
            filter: Filter::new(&config.include, &config.exclude),
            buf: String::new(),
            lines: Vec::new(),
            baselines: Baselines::default(),
        }
    }

    /// One read at `now`; `collect` passes the current instant, tests a chosen one.
    pub fn collect_at(&mut self, now: Instant) -> Result<Option<Network>, CollectError> {
        if !self.net_dev.read_optional(&mut self.buf)? {
            return Ok(None);
        }
        // Parse everything before touching the baselines, so a bad line leaves them intact.
        parse_net_dev(&self.buf, &mut self.lines)
            .map_err(|m| CollectError::parse(self.net_dev.path(), m))?;

        self.baselines.begin(now);
        let mut interfaces = Vec::new();
        for line in &self.lines {
            let name = &self.buf[line.name.clone()];
            let filter = &self.filter;
            let Observed::Shown { baseline } =
                self.baselines
                    .observe(name, (), line.counters, || filter.allows(name))
            else {
                continue;
            };
            let rates = baseline.and_then(|(previous, e)| rates(&previous, &line.counters, e));
            interfaces.push(interface(name, &line.counters, rates));
        }
        self.baselines.finish();
        interfaces.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(Network { interfaces }))
    }
}

impl Collector for NetworkCollector {
    fn name(&self) -> &'static str {
        "network"
    }

    fn default_tier(&self) -> Tier {
        Tier::Fast
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        Ok(self.collect_at(Instant::now())?.map(SectionData::from))
    }
}

/// Parses the interface lines of `/proc/net/dev` into `out`; the error says which line and field.
///
/// The kernel prints `"%6s:%8llu %7llu …"`: the name is right-aligned, may itself contain `:`
/// (and any UTF-8), and a counter wider than its column touches the colon. The counters never
/// contain a colon, so the last colon on the line ends the name.
fn parse_net_dev(text: &str, out: &mut Vec<Line>) -> Result<(), String> {
    out.clear();
    let base = text.as_ptr() as usize;
    for (index, line) in text.lines().enumerate().skip(HEADER_LINES) {
        let n = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let Some(colon) = line.rfind(':') else {
            return Err(format!("line {n}: no ':' after the interface name"));
        };
        let name = line[..colon].trim();
        if name.is_empty() {
            return Err(format!("line {n}: empty interface name"));
        }
        let mut values = [0u64; COLUMNS];
        let mut count = 0;
        for (slot, field) in values
            .iter_mut()
            .zip(line[colon + 1..].split_ascii_whitespace())
        {
            *slot = field.parse().map_err(|_| {
                format!(
                    "line {n} ({name}): column {} {field:?} is not a number",
                    count + 1
                )
            })?;
            count += 1;
        }
        if count < COLUMNS {
            return Err(format!(
                "line {n} ({name}): expected {COLUMNS} counters, found {count}"
            ));
        }
        let start = name.as_ptr() as usize - base;
        out.push(Line {
            name: start..start + name.len(),
            counters: Counters {
                rx_bytes: values[0],
                rx_packets: values[1],
                rx_errors: values[2],
                rx_drops: values[3],
                tx_bytes: values[8],
                tx_packets: values[9],
                tx_errors: values[10],
                tx_drops: values[11],
            },
        });
    }
    Ok(())
}

/// Rates between two reads `elapsed` seconds apart; `None` when any counter went backwards.
fn rates(before: &Counters, now: &Counters, elapsed: f64) -> Option<InterfaceRates> {
    if elapsed <= 0.0 {
        return None;
    }
    let (b, a) = (before.as_array(), now.as_array());
    let mut per_sec = [0.0; 8];
    for i in 0..8 {
        per_sec[i] = a[i].checked_sub(b[i])? as f64 / elapsed;
    }
    let [rx_b, rx_p, rx_e, rx_d, tx_b, tx_p, tx_e, tx_d] = per_sec;
    Some(InterfaceRates {
        rx_bytes_per_sec: rx_b,
        tx_bytes_per_sec: tx_b,
        rx_packets_per_sec: rx_p,
        tx_packets_per_sec: tx_p,
        rx_errors_per_sec: rx_e,
        tx_errors_per_sec: tx_e,
        rx_drops_per_sec: rx_d,
        tx_drops_per_sec: tx_d,
    })
}

fn interface(name: &str, c: &Counters, rates: Option<InterfaceRates>) -> Interface {
    Interface {
        name: name.to_string(),
        rx_bytes_total: c.rx_bytes,
        tx_bytes_total: c.tx_bytes,
        rx_packets_total: c.rx_packets,
        tx_packets_total: c.tx_packets,
        rx_errors_total: c.rx_errors,
        tx_errors_total: c.tx_errors,
        rx_drops_total: c.rx_drops,
        tx_drops_total: c.tx_drops,
        rates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/network");
    const HEADER: &str = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

    fn fixture(case: &str) -> HostPaths {
        HostPaths::under(format!("{FIXTURES}/{case}"))
    }

    fn collector(paths: HostPaths, config: NetworkConfig) -> NetworkCollector {
        NetworkCollector::new(&config, &paths)
    }

    fn everything() -> NetworkConfig {
        NetworkConfig {
            exclude: Vec::new(),
            ..NetworkConfig::default()
        }
    }

    fn names(n: &Network) -> Vec<&str> {
        n.interfaces.iter().map(|i| i.name.as_str()).collect()
    }

    fn temp_tree(net_dev: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/net")).unwrap();
        std::fs::write(dir.path().join("proc/net/dev"), net_dev).unwrap();
        dir
    }

    /// A /proc/net/dev line as the kernel formats it.
    fn line(name: &str, rx: [u64; 4], tx: [u64; 4]) -> String {
        format!(
            "{name:>6}:{:>8} {:>7} {:>4} {:>4}    0     0          0         0 {:>8} {:>7} {:>4} {:>4}    0     0       0          0\n",
            rx[0], rx[1], rx[2], rx[3], tx[0], tx[1], tx[2], tx[3]
        )
    }

    #[test]
    fn recorded_reads_give_exact_rates() {
        let t0 = Instant::now();
        let mut c = collector(fixture("dev-machine/t0"), everything());
        let first = c.collect_at(t0).unwrap().unwrap();
        assert_eq!(names(&first), ["eth0", "ifb0", "ifb1", "lo"]);
        assert!(first.interfaces.iter().all(|i| i.rates.is_none()));
        let eth0 = &first.interfaces[0];
        assert_eq!(
            (
                eth0.rx_bytes_total,
                eth0.rx_packets_total,
                eth0.tx_bytes_total,
                eth0.tx_packets_total
            ),
            (188074079, 10126, 593921, 6331)
        );

        c.net_dev = PseudoFile::new(fixture("dev-machine/t1").proc("net/dev"));
        let second = c.collect_at(t0 + Duration::from_secs(3)).unwrap().unwrap();
        let lo = second.interfaces[3].rates.unwrap();
        // lo: 3193 → 1005653 bytes and 29 → 76 packets each way, over 3 s.
        assert_eq!(lo.rx_bytes_per_sec, (1005653.0 - 3193.0) / 3.0);
        assert_eq!(lo.tx_bytes_per_sec, (1005653.0 - 3193.0) / 3.0);
        assert_eq!(lo.rx_packets_per_sec, 47.0 / 3.0);
        assert_eq!(lo.tx_packets_per_sec, 47.0 / 3.0);
        assert_eq!(lo.rx_errors_per_sec, 0.0);
        assert_eq!(lo.tx_drops_per_sec, 0.0);
        // eth0 did not move: zero, not absent.
        assert_eq!(second.interfaces[0].rates.unwrap().rx_bytes_per_sec, 0.0);
    }

    #[test]
    fn default_filter_drops_lo_veth_docker_bridges() {
        let mut c = collector(fixture("node-exporter"), NetworkConfig::default());
        let n = c.collect_at(Instant::now()).unwrap().unwrap();
        assert_eq!(
            names(&n),
            [
                "eth0",
                "flannel.1",
                "ibr10:30",
                "lxcbr0",
                "tun0",
                "wlan0",
                "💩0"
            ]
        );
    }

    #[test]
    fn odd_names_and_counters_touching_the_colon() {
        let mut c = collector(fixture("node-exporter"), everything());
        let n = c.collect_at(Instant::now()).unwrap().unwrap();
        assert_eq!(n.interfaces.len(), 10);
        let by = |name: &str| n.interfaces.iter().find(|i| i.name == name).unwrap();
        let eth0 = by("eth0"); // "  eth0:68210035552 520993275 …"
        assert_eq!(eth0.rx_bytes_total, 68210035552);
        assert_eq!(eth0.rx_packets_total, 520993275);
        assert_eq!(eth0.tx_bytes_total, 9315587528);
        assert_eq!(eth0.tx_packets_total, 43451486);
        assert_eq!(by("ibr10:30").rx_bytes_total, 0);
        let flannel = by("flannel.1");
        assert_eq!(flannel.tx_drops_total, 64);
        assert_eq!(flannel.tx_errors_total, 0);
        let emoji = by("💩0");
        assert_eq!(
            (emoji.rx_bytes_total, emoji.tx_bytes_total),
            (57750104, 404570255)
        );
        assert_eq!(by("veth4B09XN").tx_packets_total, 10640);
    }

    #[test]
    fn jc_sample() {
        let mut c = collector(fixture("jc"), NetworkConfig::default());
        let n = c.collect_at(Instant::now()).unwrap().unwrap();
        assert_eq!(names(&n), ["ens33"]);
        let ens33 = &n.interfaces[0];
        assert_eq!(
            (
                ens33.rx_bytes_total,
                ens33.rx_packets_total,
                ens33.tx_bytes_total,
                ens33.tx_packets_total
            ),
            (60600053, 109378, 44256546, 121425)
        );
    }

    #[test]
    fn wraps_hot_plug_and_include() {
        let tree = temp_tree(
            &(HEADER.to_string()
                + &line("eth0", [4_294_967_000, 10, 0, 0], [100, 10, 0, 0])
                + &line("wlan0", [1000, 10, 1, 2], [2000, 20, 3, 4])),
        );
        let write = |text: String| std::fs::write(tree.path().join("proc/net/dev"), text).unwrap();
        let config = NetworkConfig {
            include: vec!["eth*".into(), "wlan*".into()],
            ..NetworkConfig::default()
        };
        let mut c = collector(HostPaths::under(tree.path()), config);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        c.collect_at(at(0)).unwrap();

        // eth0's 32-bit rx byte counter wrapped; wlan0 moved on; eth1 appeared; lo is not included.
        write(
            HEADER.to_string()
                + &line("eth0", [200, 12, 0, 0], [300, 12, 0, 0])
                + &line("wlan0", [3000, 30, 3, 6], [6000, 40, 3, 8])
                + &line("eth1", [5, 1, 0, 0], [5, 1, 0, 0])
                + &line("lo", [5, 1, 0, 0], [5, 1, 0, 0]),
        );
        let n = c.collect_at(at(10)).unwrap().unwrap();
        assert_eq!(names(&n), ["eth0", "eth1", "wlan0"]);
        assert_eq!(
            n.interfaces[0].rates, None,
            "wrapped counter: no rate this tick"
        );
        assert_eq!(n.interfaces[1].rates, None, "new interface: no rate yet");
        assert_eq!(
            n.interfaces[2].rates,
            Some(InterfaceRates {
                rx_bytes_per_sec: 200.0,
                tx_bytes_per_sec: 400.0,
                rx_packets_per_sec: 2.0,
                tx_packets_per_sec: 2.0,
                rx_errors_per_sec: 0.2,
                tx_errors_per_sec: 0.0,
                rx_drops_per_sec: 0.4,
                tx_drops_per_sec: 0.4,
            })
        );

        // eth0 goes on from its fresh baseline; wlan0 disappears.
        write(HEADER.to_string() + &line("eth0", [1200, 22, 0, 0], [300, 12, 0, 0]));
        let n = c.collect_at(at(20)).unwrap().unwrap();
        assert_eq!(names(&n), ["eth0"]);
        assert_eq!(n.interfaces[0].rates.unwrap().rx_bytes_per_sec, 100.0);

        // wlan0 returns with lower counters than it left with: new, not a rate against the old.
        write(
            HEADER.to_string()
                + &line("eth0", [1200, 22, 0, 0], [300, 12, 0, 0])
                + &line("wlan0", [10, 1, 0, 0], [10, 1, 0, 0]),
        );
        let n = c.collect_at(at(30)).unwrap().unwrap();
        assert_eq!(n.interfaces[1].rates, None);
    }

    #[test]
    fn garbage_is_an_error_naming_the_file_and_keeps_the_baseline() {
        let tree = temp_tree(&(HEADER.to_string() + &line("eth0", [100, 1, 0, 0], [100, 1, 0, 0])));
        let path = tree.path().join("proc/net/dev");
        let mut c = collector(HostPaths::under(tree.path()), NetworkConfig::default());
        let t0 = Instant::now();
        c.collect_at(t0).unwrap();
        for (garbage, expect) in [
            (
                "  eth0: 1 2 3\n",
                "line 3 (eth0): expected 16 counters, found 3",
            ),
            (
                "  eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
                "line 3: no ':'",
            ),
            (
                "    : 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
                "line 3: empty interface name",
            ),
            (
                "  eth0: 1 2 x 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
                "column 3 \"x\" is not a number",
            ),
            (
                "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 -16\n",
                "column 16 \"-16\"",
            ),
        ] {
            std::fs::write(&path, HEADER.to_string() + garbage).unwrap();
            let err = c.collect_at(t0 + Duration::from_secs(1)).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains(expect), "{message}");
            assert_eq!(
                err.to_section_error().kind,
                hostwatch_proto::ErrorKind::Parse
            );
        }
        std::fs::write(
            &path,
            HEADER.to_string() + &line("eth0", [300, 3, 0, 0], [100, 1, 0, 0]),
        )
        .unwrap();
        let n = c.collect_at(t0 + Duration::from_secs(2)).unwrap().unwrap();
        assert_eq!(
            n.interfaces[0].rates.unwrap().rx_bytes_per_sec,
            100.0,
            "baseline from t0 kept"
        );
    }

    #[test]
    fn missing_file_means_no_section() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = collector(HostPaths::under(dir.path()), NetworkConfig::default());
        assert_eq!(c.collect_at(Instant::now()).unwrap(), None);
    }

    #[test]
    fn live_read_of_this_machine() {
        let mut c = collector(HostPaths::default(), everything());
        let t0 = Instant::now();
        let first = c
            .collect_at(t0)
            .unwrap()
            .expect("/proc/net/dev exists on Linux");
        // Independently: the interfaces sysfs lists for this network namespace.
        let mut expected: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        expected.sort();
        assert_eq!(names(&first), expected);
        assert!(names(&first).contains(&"lo"));

        std::thread::sleep(Duration::from_millis(50));
        let second = c.collect_at(Instant::now()).unwrap().unwrap();
        for i in &second.interfaces {
            let r = i.rates.unwrap_or_else(|| panic!("{} has no rates", i.name));
            assert!(
                r.rx_bytes_per_sec >= 0.0 && r.tx_bytes_per_sec >= 0.0,
                "{}: {r:?}",
                i.name
            );
            assert!(i.rx_bytes_total >= i.rx_packets_total || i.rx_packets_total == 0);
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_a_damaged_net_dev(
            text in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/network/node-exporter/proc/net/dev"
            ))
        ) {
            let _ = parse_net_dev(&text, &mut Vec::new());
        }
    }
}
