//! AMD GPUs from the amdgpu driver's sysfs files under `/sys/class/drm/card*/device/`.
//!
//! Follows <https://docs.kernel.org/gpu/amdgpu/driver-misc.html> (`gpu_busy_percent`,
//! `mem_info_vram_*`, `mem_info_gtt_*`, `product_name`) and
//! <https://docs.kernel.org/gpu/amdgpu/thermal.html> (the card's hwmon: `temp1_input` is the
//! `edge` sensor in millidegrees, `power1_average` / `power1_input` and `power1_cap` in
//! microwatts, `fan1_input` in RPM, `pwm1` out of `pwm1_max`).
//!
//! Which cards exist, where their files are and what never changes (names, totals, limits)
//! is discovered once, and again when the set of `card*` entries changes or every
//! [`REDISCOVER_EVERY`]. `/sys/class/drm` is listed every [`LIST_EVERY`] (and at once after a
//! card vanished), not on every read: on a host without a GPU that listing was the whole cost
//! of the collector, a path lookup in sysfs of about 20 µs per tick. A regular read touches
//! only the few changing files, kept open, into one reused buffer. A runtime-suspended card (a
//! laptop's idle dGPU) is not read at all: reading its files would wake it up and cost the
//! battery what monitoring should not.

use super::{GpuSource, round2};
use crate::HostPaths;
use crate::collect::CollectError;
use crate::collect::every::Every;
use crate::paths::{PseudoFile, read_trimmed};
use hostwatch_proto::sections::GpuDevice;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Time between two full discoveries even when no card came or went.
const REDISCOVER_EVERY: Duration = Duration::from_secs(600);

/// Time between two listings of `/sys/class/drm`: a hot-plugged card shows within it.
const LIST_EVERY: Duration = Duration::from_secs(60);

/// The PCI vendor id of AMD/ATI.
const AMD_VENDOR: &str = "0x1002";

/// Reads every amdgpu card.
#[derive(Debug)]
pub struct AmdSysfs {
    paths: HostPaths,
    cards: Option<Vec<Card>>,
    /// The `card*` entries the layout was discovered from, and those of the last listing.
    discovered_from: Vec<OsString>,
    entries: Vec<OsString>,
    listing: Every,
    discovery: Every,
    /// Names looked up in pci.ids, by `vendor:device`: the file is large, read it once.
    pci_names: HashMap<String, String>,
    text: String,
}

/// One card: its static part and where its changing values are.
#[derive(Debug)]
struct Card {
    /// Everything but the readings, which each read fills in.
    device: GpuDevice,
    runtime_status: PseudoFile,
    busy: PseudoFile,
    vram_used: PseudoFile,
    gtt_used: PseudoFile,
    temp: Option<PseudoFile>,
    power: Option<PseudoFile>,
    fan_rpm: Option<PseudoFile>,
    /// `pwm1` and its `pwm1_max`.
    pwm: Option<(PseudoFile, f64)>,
}

impl AmdSysfs {
    pub fn new(paths: HostPaths) -> AmdSysfs {
        AmdSysfs {
            paths,
            cards: None,
            discovered_from: Vec::new(),
            entries: Vec::new(),
            listing: Every::new(LIST_EVERY),
            discovery: Every::new(REDISCOVER_EVERY),
            pci_names: HashMap::new(),
            text: String::new(),
        }
    }

    fn list_cards(&mut self) -> Result<(), CollectError> {
        self.entries.clear();
        let dir = self.paths.sys("class/drm");
        let listing = match std::fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CollectError::io(&dir, e)),
        };
        for entry in listing.flatten() {
            let name = entry.file_name();
            // `card0`, not the connectors (`card0-DP-1`) or render nodes (`renderD128`).
            let is_card = name
                .to_str()
                .and_then(|n| n.strip_prefix("card"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if is_card {
                self.entries.push(name);
            }
        }
        self.entries
            .sort_by_key(|n| card_number(n.to_str().unwrap_or_default()));
        Ok(())
    }

    fn discover(&mut self) -> Vec<Card> {
        let mut cards = Vec::new();
        for entry in &self.entries {
            let card_name = entry.to_string_lossy().to_string();
            let dev = self.paths.sys("class/drm").join(entry).join("device");
            if read_trimmed(&dev.join("vendor")).as_deref() != Some(AMD_VENDOR) {
                continue;
            }
            // amdgpu, not the older radeon driver, which has none of these files.
            if !dev.join("gpu_busy_percent").exists() && !dev.join("mem_info_vram_total").exists() {
                continue;
            }
            let uevent = read_trimmed(&dev.join("uevent")).unwrap_or_default();
            let field = |key: &str| {
                uevent
                    .lines()
                    .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                    .map(str::to_string)
            };
            let pci_id = field("PCI_ID").map(|id| id.to_ascii_lowercase());
            let name = read_trimmed(&dev.join("product_name"))
                .filter(|n| !n.is_empty())
                .or_else(|| {
                    let id = pci_id.as_ref()?;
                    if !self.pci_names.contains_key(id) {
                        let found = pci_ids_name(&self.paths, id)?;
                        self.pci_names.insert(id.clone(), found);
                    }
                    self.pci_names.get(id).cloned()
                })
                .or_else(|| pci_id.clone())
                .unwrap_or_else(|| "AMD GPU".to_string());
            let hwmon = first_hwmon(&dev.join("hwmon"));
            let in_hwmon = |file: &str| hwmon.as_ref().map(|h| h.join(file)).filter(|p| p.exists());
            let microwatts = |file: &str| {
                in_hwmon(file)
                    .and_then(|p| read_trimmed(&p)?.parse::<f64>().ok())
                    .map(|uw| round2(uw / 1e6))
            };
            let pwm = in_hwmon("pwm1").map(|p| {
                let max = in_hwmon("pwm1_max")
                    .and_then(|m| read_trimmed(&m)?.parse::<f64>().ok())
                    .filter(|m| *m > 0.0)
                    .unwrap_or(255.0);
                (p, max)
            });
            let index = cards.len() as u32;
            cards.push(Card {
                device: GpuDevice {
                    id: card_name,
                    index,
                    vendor: "amd".into(),
                    name,
                    pci_bus: field("PCI_SLOT_NAME"),
                    memory_total_bytes: read_number(&dev.join("mem_info_vram_total")),
                    gtt_total_bytes: read_number(&dev.join("mem_info_gtt_total")),
                    power_limit_watts: microwatts("power1_cap"),
                    ..GpuDevice::default()
                },
                runtime_status: PseudoFile::whole(dev.join("power/runtime_status")),
                busy: PseudoFile::whole(dev.join("gpu_busy_percent")),
                vram_used: PseudoFile::whole(dev.join("mem_info_vram_used")),
                gtt_used: PseudoFile::whole(dev.join("mem_info_gtt_used")),
                temp: in_hwmon("temp1_input").map(PseudoFile::whole),
                power: in_hwmon("power1_average")
                    .or_else(|| in_hwmon("power1_input"))
                    .map(PseudoFile::whole),
                fan_rpm: in_hwmon("fan1_input").map(PseudoFile::whole),
                pwm: pwm.map(|(p, max)| (PseudoFile::whole(p), max)),
            });
        }
        cards
    }

    /// A number from a sysfs file, `None` when it cannot be read right now (amdgpu answers
    /// some files with EBUSY or EINVAL while the card changes power state).
    fn number(text: &mut String, file: &mut PseudoFile) -> Option<f64> {
        file.read_into(text).ok()?;
        text.trim().parse().ok()
    }

    /// One read at `now`; `devices` passes the current instant, tests a chosen one.
    fn devices_at(&mut self, now: Instant) -> Result<Vec<GpuDevice>, CollectError> {
        if self.listing.is_due(now) {
            self.list_cards()?;
            self.listing.done(now);
        }
        if self.cards.is_none()
            || self.entries != self.discovered_from
            || self.discovery.is_due(now)
        {
            self.cards = Some(self.discover());
            self.discovered_from = self.entries.clone();
            self.discovery.done(now);
        }
        let cards = self.cards.as_deref_mut().unwrap_or_default();
        let mut out = Vec::with_capacity(cards.len());
        let text = &mut self.text;
        let mut vanished = false;
        for card in cards {
            let mut device = card.device.clone();
            if card.runtime_status.read_into(text).is_ok() && text.trim() == "suspended" {
                device.suspended = true;
                out.push(device);
                continue;
            }
            device.utilization_pct = Self::number(text, &mut card.busy);
            device.memory_used_bytes = Self::number(text, &mut card.vram_used).map(|v| v as u64);
            if device.utilization_pct.is_none()
                && device.memory_used_bytes.is_none()
                && card.busy.path().parent().is_some_and(|dev| !dev.exists())
            {
                // Unplugged (or its driver unbound): list again now rather than within a minute.
                vanished = true;
                continue;
            }
            device.gtt_used_bytes = Self::number(text, &mut card.gtt_used).map(|v| v as u64);
            device.temperature_celsius = card
                .temp
                .as_mut()
                .and_then(|f| Self::number(text, f))
                .map(|m| round2(m / 1000.0));
            device.power_watts = card
                .power
                .as_mut()
                .and_then(|f| Self::number(text, f))
                .map(|uw| round2(uw / 1e6));
            device.fan_rpm = card
                .fan_rpm
                .as_mut()
                .and_then(|f| Self::number(text, f))
                .map(|r| r as u64);
            device.fan_pct = card.pwm.as_mut().and_then(|(f, max)| {
                Self::number(text, f).map(|v| round2((v / *max * 100.0).clamp(0.0, 100.0)))
            });
            out.push(device);
        }
        if vanished {
            self.listing.now_due();
        }
        Ok(out)
    }
}

impl GpuSource for AmdSysfs {
    fn name(&self) -> &'static str {
        "amdgpu sysfs"
    }

    fn devices(&mut self) -> Result<Vec<GpuDevice>, CollectError> {
        self.devices_at(Instant::now())
    }
}

fn card_number(name: &str) -> u32 {
    name.strip_prefix("card")
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

fn read_number(path: &Path) -> Option<u64> {
    read_trimmed(path)?.parse().ok()
}

/// The card's hwmon directory (`device/hwmon/hwmonN`); there is one per amdgpu card.
fn first_hwmon(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("hwmon"))
        .map(|e| e.path())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// The marketing name of `vendor:device` from the host's pci.ids (the bracketed part,
/// `Radeon RX Vega 56/64`, when there is one), as `lspci` would show it.
fn pci_ids_name(paths: &HostPaths, pci_id: &str) -> Option<String> {
    let (vendor, device) = pci_id.split_once(':')?;
    let text = ["usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids"]
        .iter()
        .find_map(|rel| std::fs::read(paths.root(rel)).ok())?;
    let text = String::from_utf8_lossy(&text);
    let mut in_vendor = false;
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if !line.starts_with('\t') {
            if in_vendor {
                return None;
            }
            in_vendor = line
                .split_whitespace()
                .next()
                .is_some_and(|v| v.eq_ignore_ascii_case(vendor));
            continue;
        }
        if !in_vendor || line.starts_with("\t\t") {
            continue;
        }
        let line = line.trim_start();
        let Some((id, name)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        if id.eq_ignore_ascii_case(device) {
            let name = name.trim();
            let marketing = name
                .rfind('[')
                .and_then(|open| name[open + 1..].strip_suffix(']'));
            return Some(marketing.unwrap_or(name).to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::tools::testing::fixture;

    /// Copies a fixture tree into a temp dir the test may change.
    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_tree(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    fn vega() -> (tempfile::TempDir, HostPaths) {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixture("gpu/amd-vega"), dir.path());
        let paths = HostPaths::under(dir.path());
        (dir, paths)
    }

    #[test]
    fn the_vega_card_with_its_hwmon_readings() {
        let mut amd = AmdSysfs::new(HostPaths::under(fixture("gpu/amd-vega")));
        let devices = amd.devices().unwrap();
        assert_eq!(devices.len(), 1, "card1 is Intel, connectors are skipped");
        let d = &devices[0];
        assert_eq!(
            (d.id.as_str(), d.index, d.vendor.as_str()),
            ("card0", 0, "amd")
        );
        assert_eq!(
            d.name, "Radeon RX Vega 56/64",
            "from pci.ids: product_name is empty"
        );
        assert_eq!(d.pci_bus.as_deref(), Some("0000:09:00.0"));
        assert!(!d.suspended);
        assert_eq!(d.utilization_pct, Some(4.0));
        assert_eq!(d.memory_used_bytes, Some(1_490_378_752));
        assert_eq!(d.memory_total_bytes, Some(8_573_157_376));
        assert_eq!(d.gtt_used_bytes, Some(144_560_128));
        assert_eq!(d.gtt_total_bytes, Some(8_573_157_376));
        assert_eq!(d.temperature_celsius, Some(34.0));
        assert_eq!(d.power_watts, Some(15.0));
        assert_eq!(d.power_limit_watts, Some(220.0));
        assert_eq!(d.fan_rpm, Some(780));
        assert_eq!(d.fan_pct, Some(24.71), "pwm 63 of 255");
        assert!(d.processes.is_empty());
    }

    #[test]
    fn changing_values_are_reread_and_a_new_card_is_discovered_at_the_next_listing() {
        let (dir, paths) = vega();
        let mut amd = AmdSysfs::new(paths.clone());
        let t0 = Instant::now();
        let at = |seconds| t0 + Duration::from_secs(seconds);
        assert_eq!(amd.devices_at(at(0)).unwrap()[0].utilization_pct, Some(4.0));
        let dev = dir.path().join("sys/class/drm/card0/device");
        std::fs::write(dev.join("gpu_busy_percent"), "97\n").unwrap();
        std::fs::write(dev.join("hwmon/hwmon2/temp1_input"), "71500\n").unwrap();
        let second = amd.devices_at(at(1)).unwrap();
        assert_eq!(second[0].utilization_pct, Some(97.0));
        assert_eq!(second[0].temperature_celsius, Some(71.5));

        // A second AMD card appears (hotplug): not listed again before LIST_EVERY is up, then
        // found and numbered after card0.
        copy_tree(&dev, &dir.path().join("sys/class/drm/card2/device"));
        std::fs::write(
            dir.path().join("sys/class/drm/card2/device/product_name"),
            "AMD Radeon Pro W6800\n",
        )
        .unwrap();
        assert_eq!(amd.devices_at(at(30)).unwrap().len(), 1, "listed at 0 s");
        let third = amd.devices_at(at(60)).unwrap();
        assert_eq!(third.len(), 2);
        assert_eq!((third[1].id.as_str(), third[1].index), ("card2", 1));
        assert_eq!(third[1].name, "AMD Radeon Pro W6800");

        // It is unplugged again: left out at once, and the class directory listed on the next
        // read, not a minute later.
        std::fs::remove_dir_all(dir.path().join("sys/class/drm/card2")).unwrap();
        let fourth = amd.devices_at(at(61)).unwrap();
        assert_eq!(fourth.len(), 1);
        assert_eq!(fourth[0].id, "card0");
        assert_eq!(amd.listing.last(), None, "a listing is due");
        assert_eq!(amd.devices_at(at(62)).unwrap().len(), 1);
        assert_eq!(amd.listing.last(), Some(at(62)));
        assert!(
            !amd.discovered_from.iter().any(|n| n == "card2"),
            "rediscovered without card2: {:?}",
            amd.discovered_from
        );
    }

    #[test]
    fn a_host_without_gpus_lists_the_class_directory_once_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let mut amd = AmdSysfs::new(HostPaths::under(dir.path()));
        let t0 = Instant::now();
        assert!(amd.devices_at(t0).unwrap().is_empty());
        assert_eq!(amd.listing.last(), Some(t0));
        assert!(
            amd.devices_at(t0 + Duration::from_secs(59))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            amd.listing.last(),
            Some(t0),
            "not listed again within the minute"
        );
        let later = t0 + Duration::from_secs(60);
        assert!(amd.devices_at(later).unwrap().is_empty());
        assert_eq!(amd.listing.last(), Some(later));
    }

    #[test]
    fn a_suspended_card_is_not_woken() {
        let (dir, paths) = vega();
        let power = dir.path().join("sys/class/drm/card0/device/power");
        std::fs::create_dir_all(&power).unwrap();
        std::fs::write(power.join("runtime_status"), "suspended\n").unwrap();
        let d = &AmdSysfs::new(paths).devices().unwrap()[0];
        assert!(d.suspended);
        assert_eq!(d.utilization_pct, None);
        assert_eq!(d.temperature_celsius, None);
        assert_eq!(
            d.memory_total_bytes,
            Some(8_573_157_376),
            "static values stay"
        );
    }

    #[test]
    fn unreadable_or_missing_values_are_left_out() {
        let (dir, paths) = vega();
        let dev = dir.path().join("sys/class/drm/card0/device");
        std::fs::write(dev.join("gpu_busy_percent"), "garbage\n").unwrap();
        std::fs::remove_dir_all(dev.join("hwmon")).unwrap();
        std::fs::remove_file(dir.path().join("usr/share/misc/pci.ids")).unwrap();
        let d = &AmdSysfs::new(paths).devices().unwrap()[0];
        assert_eq!(d.name, "1002:687f", "no pci.ids: the PCI id");
        assert_eq!(d.utilization_pct, None);
        assert_eq!(d.temperature_celsius, None);
        assert_eq!(d.power_watts, None);
        assert_eq!(d.fan_pct, None);
        assert_eq!(d.memory_used_bytes, Some(1_490_378_752));
    }

    #[test]
    fn no_drm_class_or_no_amd_card_means_no_devices() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            AmdSysfs::new(HostPaths::under(dir.path()))
                .devices()
                .unwrap()
                .is_empty()
        );
        let (dir, paths) = vega();
        std::fs::write(
            dir.path().join("sys/class/drm/card0/device/vendor"),
            "0x10de\n",
        )
        .unwrap();
        assert!(AmdSysfs::new(paths).devices().unwrap().is_empty());
    }

    #[test]
    fn pci_ids_lookup_stays_inside_the_vendor() {
        let paths = HostPaths::under(fixture("gpu/amd-vega"));
        assert_eq!(
            pci_ids_name(&paths, "1002:687f").as_deref(),
            Some("Radeon RX Vega 56/64")
        );
        assert_eq!(pci_ids_name(&paths, "1002:ffff"), None);
        assert_eq!(
            pci_ids_name(&paths, "8086:687f"),
            None,
            "another vendor's id"
        );
        assert_eq!(
            pci_ids_name(&paths, "8086:3e92").as_deref(),
            Some("UHD Graphics 630")
        );
    }
}
