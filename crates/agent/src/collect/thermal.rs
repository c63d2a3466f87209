//! Temperatures from hwmon chips (`/sys/class/hwmon/hwmon*/temp*_input`) and thermal zones
//! (`/sys/class/thermal/thermal_zone*/temp`).
//!
//! Follows <https://docs.kernel.org/hwmon/sysfs-interface.html> (values in millidegrees Celsius)
//! and <https://docs.kernel.org/driver-api/thermal/sysfs-api.html>. Chip ids are built the way
//! node_exporter's hwmon collector builds its `chip` label, so `/metrics` stays compatible.
//!
//! What a chip offers (its inputs, labels, limits) changes only when a device comes or goes, so
//! the layout is discovered once and re-discovered when the set of `hwmon*` / `thermal_zone*`
//! entries changes (hotplug, module load) or every [`REDISCOVER_EVERY`] (a limit written by an
//! admin). A regular read touches only the `*_input` and `temp` files, kept open; the class
//! directories are listed every [`LIST_EVERY`], and at once after a sensor vanished — listing
//! them costs more than reading the sensors, and is all a host without any costs.

use super::every::Every;
use super::{CollectError, Collector};
use crate::HostPaths;
use crate::paths::{PseudoFile, read_into, read_trimmed};
use hostwatch_proto::sections::{TempSensor, Thermal, ThermalZone};
use hostwatch_proto::{SectionData, Tier};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Time between two full discoveries even when no device came or went.
const REDISCOVER_EVERY: Duration = Duration::from_secs(600);

/// Time between two listings of the class directories: a hot-plugged device shows within it,
/// whatever the tier's interval.
const LIST_EVERY: Duration = Duration::from_secs(60);

/// hwmon drivers whose temperatures are the CPU's (the `name` file).
const CPU_CHIPS: &[&str] = &[
    "coretemp",
    "k10temp",
    "k8temp",
    "zenpower",
    "via_cputemp",
    "cpu_thermal",
    "cpu-thermal",
    "soc_thermal",
    "soc-thermal",
];

/// Reads hwmon temperature sensors and thermal zones.
#[derive(Debug)]
pub struct ThermalCollector {
    paths: HostPaths,
    layout: Option<Layout>,
    discovery: Every,
    /// Also made due at once when a sensor's file disappeared, so the next read lists them.
    listing: Every,
    /// Reused for every file read.
    text: String,
    /// The `hwmon*` and `thermal_zone*` entries seen this read, compared with the layout's.
    hwmon_entries: Vec<OsString>,
    zone_entries: Vec<OsString>,
}

/// What was found at discovery: where each reading lives and its static attributes.
#[derive(Debug)]
struct Layout {
    hwmon_entries: Vec<OsString>,
    zone_entries: Vec<OsString>,
    sensors: Vec<SensorSource>,
    zones: Vec<ZoneSource>,
}

#[derive(Debug)]
struct SensorSource {
    input: PseudoFile,
    /// Everything but `celsius`, which each read fills in.
    sensor: TempSensor,
    is_cpu: bool,
}

#[derive(Debug)]
struct ZoneSource {
    temp: PseudoFile,
    zone: String,
    kind: String,
    is_cpu: bool,
}

impl ThermalCollector {
    pub fn new(paths: HostPaths) -> Self {
        ThermalCollector {
            paths,
            layout: None,
            discovery: Every::new(REDISCOVER_EVERY),
            listing: Every::new(LIST_EVERY),
            text: String::new(),
            hwmon_entries: Vec::new(),
            zone_entries: Vec::new(),
        }
    }

    /// One read at `now`; `collect` passes the current instant, tests a chosen one.
    fn read_at(&mut self, now: Instant) -> Result<Option<Thermal>, CollectError> {
        if self.layout.is_none() || self.listing.is_due(now) {
            self.rediscover_if_changed(now)?;
        }
        let Some(layout) = &mut self.layout else {
            return Ok(None);
        };
        // No sensor at all (most VMs): nothing to read, and none of the code below to run.
        if layout.sensors.is_empty() && layout.zones.is_empty() {
            return Ok(None);
        }

        let mut thermal = Thermal::default();
        let mut cpu_sensor_max: Option<f64> = None;
        for source in &mut layout.sensors {
            // A sensor that cannot be read right now (EIO, ENODATA from a sleeping device) is
            // left out of this read; the others still count.
            let Some(celsius) =
                read_millidegrees(&mut source.input, &mut self.text, &mut self.listing)?
            else {
                continue;
            };
            if source.is_cpu {
                cpu_sensor_max = Some(cpu_sensor_max.map_or(celsius, |m: f64| m.max(celsius)));
            }
            let mut sensor = source.sensor.clone();
            sensor.celsius = celsius;
            thermal.sensors.push(sensor);
        }
        let mut cpu_zone_max: Option<f64> = None;
        for source in &mut layout.zones {
            let Some(celsius) =
                read_millidegrees(&mut source.temp, &mut self.text, &mut self.listing)?
            else {
                continue;
            };
            if source.is_cpu {
                cpu_zone_max = Some(cpu_zone_max.map_or(celsius, |m: f64| m.max(celsius)));
            }
            thermal.zones.push(ThermalZone {
                zone: source.zone.clone(),
                kind: source.kind.clone(),
                celsius,
            });
        }
        if thermal.sensors.is_empty() && thermal.zones.is_empty() {
            return Ok(None);
        }
        thermal.cpu_max_celsius = cpu_sensor_max.or(cpu_zone_max);
        Ok(Some(thermal))
    }

    /// Lists the class directories, and discovers the layout again when the devices changed
    /// or the last discovery is [`REDISCOVER_EVERY`] old.
    fn rediscover_if_changed(&mut self, now: Instant) -> Result<(), CollectError> {
        self.listing.done(now);
        list_entries(
            &self.paths.sys("class/hwmon"),
            "hwmon",
            &mut self.hwmon_entries,
        )?;
        list_entries(
            &self.paths.sys("class/thermal"),
            "thermal_zone",
            &mut self.zone_entries,
        )?;

        let stale = match &self.layout {
            None => true,
            Some(layout) => {
                layout.hwmon_entries != self.hwmon_entries
                    || layout.zone_entries != self.zone_entries
                    || self.discovery.is_due(now)
            }
        };
        if stale {
            // Forget the old layout first: if discovery fails, the next read tries again.
            self.layout = None;
            let layout = discover(
                &self.paths,
                self.hwmon_entries.clone(),
                self.zone_entries.clone(),
            )?;
            self.layout = Some(layout);
            self.discovery.done(now);
        }
        Ok(())
    }
}

impl Collector for ThermalCollector {
    fn name(&self) -> &'static str {
        "thermal"
    }

    fn default_tier(&self) -> Tier {
        Tier::Fast
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        Ok(self.read_at(Instant::now())?.map(SectionData::from))
    }
}

/// Fills `out` with the names in `dir` that are `prefix` followed by a number, in numeric order
/// (`hwmon2` before `hwmon10`). A missing directory is an empty list: no such hardware.
fn list_entries(dir: &Path, prefix: &str, out: &mut Vec<OsString>) -> Result<(), CollectError> {
    out.clear();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CollectError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| CollectError::io(dir, e))?;
        let name = entry.file_name();
        if name.to_str().and_then(|n| numbered(n, prefix)).is_some() {
            out.push(name);
        }
    }
    out.sort_by_key(|name| name.to_str().and_then(|n| numbered(n, prefix)));
    Ok(())
}

/// The number in `hwmon12` (prefix `hwmon`), if the name is exactly prefix + digits.
fn numbered(name: &str, prefix: &str) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Walks every hwmon chip and thermal zone once, reading the attributes that do not change.
fn discover(
    paths: &HostPaths,
    hwmon_entries: Vec<OsString>,
    zone_entries: Vec<OsString>,
) -> Result<Layout, CollectError> {
    let hwmon_class = paths.sys("class/hwmon");
    let mut sensors = Vec::new();
    for entry in &hwmon_entries {
        discover_chip(&hwmon_class.join(entry), entry, &mut sensors)?;
    }

    let thermal_class = paths.sys("class/thermal");
    let mut zones = Vec::new();
    for entry in &zone_entries {
        let dir = thermal_class.join(entry);
        let kind = read_trimmed(&dir.join("type")).unwrap_or_default();
        let is_cpu = is_cpu_zone(&kind);
        zones.push(ZoneSource {
            temp: PseudoFile::whole(dir.join("temp")),
            zone: entry.to_string_lossy().into_owned(),
            kind,
            is_cpu,
        });
    }

    Ok(Layout {
        hwmon_entries,
        zone_entries,
        sensors,
        zones,
    })
}

/// Adds the temperature inputs of one hwmon chip. Older kernels keep the attributes in
/// `hwmonN/device/` rather than `hwmonN/`; both are searched, `hwmonN/` first.
fn discover_chip(
    dir: &Path,
    entry: &OsString,
    sensors: &mut Vec<SensorSource>,
) -> Result<(), CollectError> {
    if !dir.is_dir() {
        return Ok(());
    }
    let device = dir.join("device");
    let chip_name = read_trimmed(&dir.join("name"))
        .or_else(|| read_trimmed(&device.join("name")))
        .unwrap_or_default();
    let chip = chip_id(dir, entry, &chip_name);
    let is_cpu = CPU_CHIPS.contains(&chip_name.as_str());

    // (sensor number, directory holding its files)
    let mut inputs: Vec<(u32, PathBuf)> = Vec::new();
    for base in [dir, device.as_path()] {
        let Ok(files) = std::fs::read_dir(base) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            let Some(number) = name
                .to_str()
                .and_then(|n| n.strip_suffix("_input"))
                .and_then(|n| numbered(n, "temp"))
            else {
                continue;
            };
            if !inputs.iter().any(|(n, _)| *n == number) {
                inputs.push((number, base.to_path_buf()));
            }
        }
    }
    inputs.sort_by_key(|(number, _)| *number);

    let mut text = String::new();
    for (number, base) in inputs {
        let attribute = |suffix: &str| base.join(format!("temp{number}_{suffix}"));
        let limit = |suffix: &str, text: &mut String| read_limit(&attribute(suffix), text);
        let label = read_trimmed(&attribute("label")).filter(|l| !l.is_empty());
        let max_celsius = limit("max", &mut text)?;
        let crit_celsius = limit("crit", &mut text)?;
        sensors.push(SensorSource {
            input: PseudoFile::whole(attribute("input")),
            sensor: TempSensor {
                chip: chip.clone(),
                chip_name: chip_name.clone(),
                sensor: format!("temp{number}"),
                label,
                celsius: 0.0,
                max_celsius,
                crit_celsius,
            },
            is_cpu,
        });
    }
    Ok(())
}

/// The chip's stable id, as node_exporter's `hwmonName` derives it: from the device the chip
/// belongs to (`hwmonN/device` → `/sys/devices/platform/coretemp.0` → `platform_coretemp_0`),
/// else from the `name` file, else `hwmonN`. `hwmonN` numbers follow driver load order, so the
/// device path is preferred: it survives a reboot.
///
/// Only a `device` that is a symlink is followed, as in a real sysfs; a recorded tree whose
/// links were copied as directories has no device path to go by and falls back to the name.
fn chip_id(dir: &Path, entry: &OsString, chip_name: &str) -> String {
    let device = dir.join("device");
    let is_link = std::fs::symlink_metadata(&device).is_ok_and(|m| m.file_type().is_symlink());
    if is_link && let Ok(real) = std::fs::canonicalize(&device) {
        let name = real
            .file_name()
            .map(|n| clean_name(&n.to_string_lossy()))
            .unwrap_or_default();
        let kind = real
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean_name(&n.to_string_lossy()))
            .unwrap_or_default();
        match (kind.is_empty(), name.is_empty()) {
            (false, false) => return format!("{kind}_{name}"),
            (true, false) => return name,
            _ => {}
        }
    }
    let name = clean_name(chip_name);
    if !name.is_empty() {
        return name;
    }
    clean_name(&entry.to_string_lossy())
}

/// node_exporter's `cleanMetricName`: lower case, anything but `[a-z0-9:_]` becomes `_`, and
/// `_` trimmed from both ends.
fn clean_name(raw: &str) -> String {
    let cleaned: String = raw
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | ':' | '_' => c,
            _ => '_',
        })
        .collect();
    cleaned.trim_matches('_').to_string()
}

/// Whether a thermal zone's `type` names the CPU package (`x86_pkg_temp`, `cpu-thermal`,
/// `cpu0_thermal`, `soc_thermal`…).
fn is_cpu_zone(kind: &str) -> bool {
    let kind = kind.to_ascii_lowercase();
    kind == "x86_pkg_temp" || kind.contains("cpu") || kind.starts_with("soc")
}

/// Reads a sensor's millidegree file as °C. `Ok(None)` when the file is absent (then a
/// `listing` is due) or the driver cannot read the sensor right now (EIO, ENODATA, EAGAIN);
/// text that is not a number is an error naming the file.
fn read_millidegrees(
    file: &mut PseudoFile,
    text: &mut String,
    listing: &mut Every,
) -> Result<Option<f64>, CollectError> {
    match file.read_optional(text) {
        Ok(true) => parse_millidegrees(file.path(), text).map(Some),
        Ok(false) => {
            listing.now_due();
            Ok(None)
        }
        Err(_) => Ok(None),
    }
}

/// A limit (`temp*_max`, `temp*_crit`), read once at discovery; `Ok(None)` when absent or
/// unreadable.
fn read_limit(path: &Path, text: &mut String) -> Result<Option<f64>, CollectError> {
    if read_into(path, text).is_err() {
        return Ok(None);
    }
    parse_millidegrees(path, text).map(Some)
}

fn parse_millidegrees(path: &Path, text: &str) -> Result<f64, CollectError> {
    let value = text.trim();
    value
        .parse::<i64>()
        .map(|milli| milli as f64 / 1000.0)
        .map_err(|_| {
            CollectError::parse(
                path,
                format!("expected millidegrees Celsius as an integer, found {value:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    const NODE_EXPORTER: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/thermal/node_exporter"
    );

    fn read(paths: HostPaths) -> Option<Thermal> {
        ThermalCollector::new(paths)
            .read_at(Instant::now())
            .expect("thermal read")
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn sensor<'a>(t: &'a Thermal, chip: &str, sensor: &str) -> &'a TempSensor {
        t.sensors
            .iter()
            .find(|s| s.chip == chip && s.sensor == sensor)
            .unwrap_or_else(|| panic!("no {chip}/{sensor} in {:#?}", t.sensors))
    }

    #[test]
    fn reads_node_exporter_hwmon_and_zone_fixture() {
        let t = read(HostPaths::under(NODE_EXPORTER)).expect("section present");

        // coretemp (hwmon0): 5 inputs; the tree was dereferenced, so the id falls back to `name`.
        let package = sensor(&t, "coretemp", "temp1");
        assert_eq!(
            package,
            &TempSensor {
                chip: "coretemp".into(),
                chip_name: "coretemp".into(),
                sensor: "temp1".into(),
                label: Some("Physical id 0".into()),
                celsius: 55.0,
                max_celsius: Some(84.0),
                crit_celsius: Some(100.0),
            }
        );
        assert_eq!(
            sensor(&t, "coretemp", "temp5").label.as_deref(),
            Some("Core 3")
        );
        assert_eq!(sensor(&t, "coretemp", "temp5").celsius, 50.0);

        // hwmon4 has no `name` file: id `hwmon4`, empty chip_name.
        let nameless = sensor(&t, "hwmon4", "temp2");
        assert_eq!(nameless.chip_name, "");
        assert_eq!(nameless.label.as_deref(), Some("foosensor"));
        assert_eq!(nameless.celsius, 54.0);

        // NVMe (copied to hwmon6): no crit on temp2, and its driver's sentinel max as written.
        let composite = sensor(&t, "nvme", "temp1");
        assert_eq!(composite.label.as_deref(), Some("Composite"));
        assert_eq!(composite.celsius, 43.85);
        assert_eq!(composite.max_celsius, Some(84.85));
        assert_eq!(composite.crit_celsius, Some(94.85));
        let nvme_sensor8 = sensor(&t, "nvme", "temp9");
        assert_eq!(nvme_sensor8.label.as_deref(), Some("Sensor 8"));
        assert_eq!(nvme_sensor8.crit_celsius, None);

        // nct6779 (hwmon3) has fans and voltages but no temp*_input; `bogus1_input` (hwmon5)
        // is not a temperature: neither yields a sensor.
        assert!(
            !t.sensors
                .iter()
                .any(|s| s.chip == "nct6779" || s.chip == "bogus")
        );
        assert_eq!(t.sensors.len(), 5 + 2 + 4);

        // Order: chips by hwmon number, inputs by number.
        let order: Vec<(&str, &str)> = t
            .sensors
            .iter()
            .map(|s| (s.chip.as_str(), s.sensor.as_str()))
            .collect();
        assert_eq!(order[0], ("coretemp", "temp1"));
        assert_eq!(order[5], ("hwmon4", "temp1"));
        assert_eq!(order[7], ("nvme", "temp1"));
        assert_eq!(order[10], ("nvme", "temp9"));

        // thermal_zone0 only; cooling_device0 is not a zone.
        assert_eq!(
            t.zones,
            vec![ThermalZone {
                zone: "thermal_zone0".into(),
                kind: "cpu-thermal".into(),
                celsius: 12.376,
            }]
        );
        // The hottest coretemp input wins over the cpu-thermal zone.
        assert_eq!(t.cpu_max_celsius, Some(55.0));
    }

    #[test]
    fn no_hwmon_and_no_zones_is_an_absent_section() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(HostPaths::under(dir.path())), None);
        // Present but empty classes (this machine: /sys/class/thermal exists, empty).
        fs::create_dir_all(dir.path().join("sys/class/thermal")).unwrap();
        fs::create_dir_all(dir.path().join("sys/class/hwmon")).unwrap();
        assert_eq!(read(HostPaths::under(dir.path())), None);
    }

    #[test]
    fn a_host_without_sensors_still_finds_one_that_appears() {
        let dir = tempfile::tempdir().unwrap();
        let hwmon = dir.path().join("sys/class/hwmon");
        fs::create_dir_all(&hwmon).unwrap();
        let mut collector = ThermalCollector::new(HostPaths::under(dir.path()));
        let t0 = Instant::now();
        assert_eq!(collector.read_at(t0).unwrap(), None);

        // Ticks with nothing to read skip the reading, not the listing.
        write(&hwmon.join("hwmon0/name"), "nvme\n");
        write(&hwmon.join("hwmon0/temp1_input"), "35000\n");
        assert_eq!(collector.read_at(t0 + LIST_EVERY / 2).unwrap(), None);
        let t = collector.read_at(t0 + LIST_EVERY).unwrap().unwrap();
        assert_eq!((t.sensors.len(), t.sensors[0].celsius), (1, 35.0));
    }

    #[test]
    fn chip_id_follows_device_symlinks_like_node_exporter() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys");
        // Intel: /sys/class/hwmon/hwmon1 -> devices/platform/coretemp.0/hwmon/hwmon1
        let coretemp = sys.join("devices/platform/coretemp.0/hwmon/hwmon1");
        write(&coretemp.join("name"), "coretemp\n");
        write(&coretemp.join("temp1_input"), "61000\n");
        symlink("../../../coretemp.0", coretemp.join("device")).unwrap();
        // AMD: PCI function 00:18.3
        let k10 = sys.join("devices/pci0000:00/0000:00:18.3/hwmon/hwmon2");
        write(&k10.join("name"), "k10temp\n");
        write(&k10.join("temp1_input"), "48250\n");
        write(&k10.join("temp1_label"), "Tctl\n");
        symlink("../../../0000:00:18.3", k10.join("device")).unwrap();
        // NVMe: device is the controller nvme0 under the nvme class directory.
        let nvme = sys.join("devices/pci0000:00/0000:00:02.1/0000:01:00.0/nvme/nvme0/hwmon3");
        write(&nvme.join("name"), "nvme\n");
        write(&nvme.join("temp1_input"), "43850\n");
        symlink("..", nvme.join("device")).unwrap();
        // A zone the CPU sensors outrank.
        write(
            &sys.join("class/thermal/thermal_zone0/type"),
            "x86_pkg_temp\n",
        );
        write(&sys.join("class/thermal/thermal_zone0/temp"), "70000\n");

        fs::create_dir_all(sys.join("class/hwmon")).unwrap();
        for (n, target) in [
            ("hwmon1", "../../devices/platform/coretemp.0/hwmon/hwmon1"),
            (
                "hwmon2",
                "../../devices/pci0000:00/0000:00:18.3/hwmon/hwmon2",
            ),
            (
                "hwmon3",
                "../../devices/pci0000:00/0000:00:02.1/0000:01:00.0/nvme/nvme0/hwmon3",
            ),
        ] {
            symlink(target, sys.join("class/hwmon").join(n)).unwrap();
        }

        let t = read(HostPaths::under(dir.path())).unwrap();
        let chips: Vec<(&str, &str, f64)> = t
            .sensors
            .iter()
            .map(|s| (s.chip.as_str(), s.chip_name.as_str(), s.celsius))
            .collect();
        assert_eq!(
            chips,
            vec![
                ("platform_coretemp_0", "coretemp", 61.0),
                ("pci0000:00_0000:00:18_3", "k10temp", 48.25),
                ("nvme_nvme0", "nvme", 43.85),
            ]
        );
        // Both CPU chips count; the zone is only a fallback.
        assert_eq!(t.cpu_max_celsius, Some(61.0));
    }

    #[test]
    fn older_kernels_keep_attributes_in_device_dir() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys");
        let chip = sys.join("devices/platform/it87.656");
        write(&chip.join("name"), "it87\n");
        write(&chip.join("temp1_input"), "38000\n");
        write(&chip.join("temp1_max"), "127000\n");
        write(&chip.join("temp2_input"), "-5000\n");
        let hwmon = chip.join("hwmon/hwmon0");
        fs::create_dir_all(&hwmon).unwrap();
        symlink("../../../it87.656", hwmon.join("device")).unwrap();
        fs::create_dir_all(sys.join("class/hwmon")).unwrap();
        symlink(
            "../../devices/platform/it87.656/hwmon/hwmon0",
            sys.join("class/hwmon/hwmon0"),
        )
        .unwrap();

        let t = read(HostPaths::under(dir.path())).unwrap();
        assert_eq!(t.sensors.len(), 2);
        assert_eq!(t.sensors[0].chip, "platform_it87_656");
        assert_eq!(t.sensors[0].chip_name, "it87");
        assert_eq!(t.sensors[0].max_celsius, Some(127.0));
        assert_eq!(t.sensors[1].celsius, -5.0);
        // Not a CPU chip, no zones: no CPU figure rather than a wrong one.
        assert_eq!(t.cpu_max_celsius, None);
    }

    #[test]
    fn dereferenced_device_dir_falls_back_to_name() {
        let dir = tempfile::tempdir().unwrap();
        let hwmon = dir.path().join("sys/class/hwmon/hwmon7");
        write(&hwmon.join("device/name"), "Some Chip-2\n");
        write(&hwmon.join("device/temp1_input"), "30000\n");
        let t = read(HostPaths::under(dir.path())).unwrap();
        assert_eq!(t.sensors[0].chip, "some_chip_2");
        assert_eq!(t.sensors[0].chip_name, "Some Chip-2");
    }

    #[test]
    fn unreadable_sensor_is_skipped_not_the_section() {
        let dir = tempfile::tempdir().unwrap();
        let hwmon = dir.path().join("sys/class/hwmon/hwmon0");
        write(&hwmon.join("name"), "k10temp\n");
        write(&hwmon.join("temp1_input"), "45000\n");
        // A directory where the value should be: reading it fails (EISDIR), like EIO would.
        fs::create_dir_all(hwmon.join("temp3_input")).unwrap();
        // A zone whose temp cannot be read, and one that reads.
        fs::create_dir_all(dir.path().join("sys/class/thermal/thermal_zone0/temp")).unwrap();
        write(
            &dir.path().join("sys/class/thermal/thermal_zone1/type"),
            "acpitz\n",
        );
        write(
            &dir.path().join("sys/class/thermal/thermal_zone1/temp"),
            "27800\n",
        );

        let t = read(HostPaths::under(dir.path())).unwrap();
        assert_eq!(t.sensors.len(), 1);
        assert_eq!(t.sensors[0].sensor, "temp1");
        assert_eq!(t.zones.len(), 1);
        assert_eq!(t.zones[0].zone, "thermal_zone1");
        assert_eq!(t.zones[0].celsius, 27.8);
        assert_eq!(t.cpu_max_celsius, Some(45.0));
    }

    #[test]
    fn cpu_zone_is_the_fallback_without_cpu_chip() {
        let dir = tempfile::tempdir().unwrap();
        let thermal = dir.path().join("sys/class/thermal");
        write(&thermal.join("thermal_zone0/type"), "acpitz\n");
        write(&thermal.join("thermal_zone0/temp"), "90000\n");
        write(&thermal.join("thermal_zone2/type"), "x86_pkg_temp\n");
        write(&thermal.join("thermal_zone2/temp"), "66000\n");
        write(&thermal.join("thermal_zone10/type"), "cpu0-thermal\n");
        write(&thermal.join("thermal_zone10/temp"), "67500\n");
        let t = read(HostPaths::under(dir.path())).unwrap();
        let zones: Vec<&str> = t.zones.iter().map(|z| z.zone.as_str()).collect();
        assert_eq!(zones, ["thermal_zone0", "thermal_zone2", "thermal_zone10"]);
        // acpitz is hotter but is not the CPU.
        assert_eq!(t.cpu_max_celsius, Some(67.5));
    }

    #[test]
    fn garbage_value_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("sys/class/hwmon/hwmon0/temp1_input");
        write(&input, "hot\n");
        let err = ThermalCollector::new(HostPaths::under(dir.path()))
            .read_at(Instant::now())
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, CollectError::Parse { .. }), "{message}");
        assert!(message.contains("hwmon0/temp1_input"), "{message}");
        assert!(message.contains("\"hot\""), "{message}");
    }

    #[test]
    fn devices_appearing_and_disappearing_between_reads() {
        let dir = tempfile::tempdir().unwrap();
        let hwmon = dir.path().join("sys/class/hwmon");
        write(&hwmon.join("hwmon0/name"), "coretemp\n");
        write(&hwmon.join("hwmon0/temp1_input"), "40000\n");
        let mut collector = ThermalCollector::new(HostPaths::under(dir.path()));
        let t0 = Instant::now();
        let at = |seconds: u64| t0 + Duration::from_secs(seconds);
        let mut read = |seconds| collector.read_at(at(seconds)).unwrap();
        assert_eq!(read(0).unwrap().sensors.len(), 1);

        // A value changes: re-read without rediscovery.
        write(&hwmon.join("hwmon0/temp1_input"), "41000\n");
        assert_eq!(read(10).unwrap().sensors[0].celsius, 41.0);

        // A hot-plugged NVMe appears: seen at the next listing, LIST_EVERY after the last.
        write(&hwmon.join("hwmon1/name"), "nvme\n");
        write(&hwmon.join("hwmon1/temp1_input"), "35000\n");
        assert_eq!(read(20).unwrap().sensors.len(), 1);
        assert_eq!(read(59).unwrap().sensors.len(), 1);
        let t = read(60).unwrap();
        assert_eq!(t.sensors.len(), 2);
        assert_eq!(t.sensors[1].chip, "nvme");

        // The CPU chip's driver is unloaded: its sensors go, no error, and the vanished file
        // makes the next read list the devices again, long before the next listing is due.
        fs::remove_dir_all(hwmon.join("hwmon0")).unwrap();
        let t = read(70).unwrap();
        assert_eq!(t.sensors.len(), 1);
        assert_eq!(t.sensors[0].chip, "nvme");
        assert_eq!(t.cpu_max_celsius, None);
        read(80).unwrap();
        assert_eq!(collector.layout.as_ref().unwrap().sensors.len(), 1);

        // Everything gone: the section is absent.
        fs::remove_dir_all(hwmon.join("hwmon1")).unwrap();
        assert_eq!(collector.read_at(at(90)).unwrap(), None);
    }

    #[test]
    fn limits_are_refreshed_by_periodic_rediscovery() {
        let dir = tempfile::tempdir().unwrap();
        let hwmon = dir.path().join("sys/class/hwmon/hwmon0");
        write(&hwmon.join("temp1_input"), "40000\n");
        write(&hwmon.join("temp1_max"), "80000\n");
        let mut collector = ThermalCollector::new(HostPaths::under(dir.path()));
        let t0 = Instant::now();
        let mut max_at = |seconds: u64| {
            let t = collector.read_at(t0 + Duration::from_secs(seconds));
            t.unwrap().unwrap().sensors[0].max_celsius
        };
        assert_eq!(max_at(0), Some(80.0));
        write(&hwmon.join("temp1_max"), "75000\n");
        // Cached between discoveries, listings included: the input is the only file read.
        for seconds in (10..REDISCOVER_EVERY.as_secs()).step_by(10) {
            assert_eq!(max_at(seconds), Some(80.0), "{seconds} s after discovery");
        }
        assert_eq!(max_at(REDISCOVER_EVERY.as_secs()), Some(75.0));
    }

    #[test]
    fn clean_name_matches_node_exporter() {
        assert_eq!(clean_name("coretemp.0"), "coretemp_0");
        assert_eq!(clean_name("0000:00:18.3"), "0000:00:18_3");
        assert_eq!(clean_name("_ACPI Thermal-Zone_"), "acpi_thermal_zone");
        assert_eq!(clean_name("..."), "");
    }

    /// Whatever this machine has: the section is absent exactly when no temperature can be
    /// found by a plain walk of sysfs, and present values are plausible.
    #[test]
    fn live_read_of_this_machine() {
        let result = ThermalCollector::new(HostPaths::default())
            .collect()
            .expect("live thermal read");
        // An independent walk: any hwmon temp input (in hwmonN/ or hwmonN/device/) or zone
        // temp that reads as an integer.
        let reads_integer =
            |path: &Path| fs::read_to_string(path).is_ok_and(|t| t.trim().parse::<i64>().is_ok());
        let entries = |dir: &Path| -> Vec<PathBuf> {
            fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect()
        };
        let hwmon_temps = entries(Path::new("/sys/class/hwmon"))
            .into_iter()
            .any(|chip| {
                [chip.clone(), chip.join("device")].iter().any(|dir| {
                    entries(dir).iter().any(|f| {
                        let name = f.file_name().unwrap().to_string_lossy();
                        name.starts_with("temp") && name.ends_with("_input") && reads_integer(f)
                    })
                })
            });
        let zone_temps = entries(Path::new("/sys/class/thermal"))
            .iter()
            .filter(|z| {
                z.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("thermal_zone")
            })
            .any(|z| reads_integer(&z.join("temp")));
        let any = hwmon_temps || zone_temps;
        match result {
            None => assert!(!any, "sysfs has temperatures but the section is absent"),
            Some(SectionData::Thermal(t)) => {
                assert!(any, "section present but sysfs has no temperature");
                assert!(!t.sensors.is_empty() || !t.zones.is_empty());
                for c in t
                    .sensors
                    .iter()
                    .map(|s| s.celsius)
                    .chain(t.zones.iter().map(|z| z.celsius))
                {
                    assert!((-60.0..200.0).contains(&c), "implausible {c} °C");
                }
            }
            Some(other) => panic!("wrong section {other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_a_damaged_reading(
            text in crate::collect::tools::testing::damaged("45000\n")
        ) {
            let _ = parse_millidegrees(Path::new("temp1_input"), &text);
        }
    }
}
