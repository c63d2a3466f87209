//! The host's state JSON on `<prefix>/<host>/state`, and the entities that read it.
//!
//! One flat, stable document built from the latest merged report (every source's last known
//! section), small enough for a home broker every tick. Keys (absent when the source has not
//! reported them yet, e.g. rates on the first tick):
//!
//! | key | meaning |
//! | --- | --- |
//! | `host`, `seq`, `agent_version` | who and which report |
//! | `collected_at`, `boot_time` | RFC 3339 UTC |
//! | `cpu_pct`, `cpu_steal_pct`, `cpu_iowait_pct` | CPU busy / steal / iowait, 0–100 |
//! | `load1`, `load5`, `load15` | load averages |
//! | `memory_used_pct`, `memory_used_bytes`, `memory_available_bytes` | memory |
//! | `swap_used_bytes`, `swap_used_pct` | swap |
//! | `uptime_seconds` | since boot |
//! | `cpu_temp_celsius` | hottest CPU sensor |
//! | `filesystems.<key>.{mount,used_pct,free_bytes,size_bytes}` | per mount; free = available to users |
//! | `interfaces.<key>.{name,rx_bytes_per_sec,tx_bytes_per_sec}` | per interface |
//! | `temperatures.<key>.{sensor,celsius}` | per hwmon sensor |
//! | `containers_running`, `containers_unhealthy` | counts |
//! | `containers.<key>.{name,health,unhealthy}` | per container with a health check; `unhealthy` `ON` / `OFF` |
//! | `failed_units` | systemd units in `failed` |
//! | `units.<key>.{name,active_state,inactive}` | per unit expected active; `inactive` `ON` when not `active` |
//! | `checks.<key>.{name,state}`, `checks_not_ok` | per check: `OK`, `WARNING`, `CRITICAL`, `UNKNOWN` |
//! | `zfs_pools.<key>.{name,state,unhealthy}` | per pool; `unhealthy` `ON` when not `ONLINE` |
//! | `disks_smart.<key>.{name,failing}` | per disk; `failing` `ON` when SMART says it failed |
//! | `problem_disk_full`, `problem_section_errors` | `ON` / `OFF` |
//! | `section_errors` | names of the sources whose last collection failed |
//!
//! `<key>` is the mount, interface, sensor, container, unit, check, pool or disk cleaned to
//! `[a-zA-Z0-9_-]` (`/` → `root`, `/var/lib` → `var_lib`, `/dev/sda` → `sda`).
//!
//! Every value is added together with the Home Assistant entity that reads it
//! ([`StateBuilder::sensor`]), so a template can never point at a key the state lacks. A new
//! source is one line per value in [`build`].

use hostwatch_proto::{Report, Section};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Which Home Assistant platform an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    Sensor,
    BinarySensor,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Sensor => "sensor",
            Component::BinarySensor => "binary_sensor",
        }
    }
}

/// How Home Assistant should show a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Kind {
    pub device_class: Option<&'static str>,
    pub state_class: Option<&'static str>,
    pub unit: Option<&'static str>,
    pub icon: Option<&'static str>,
    pub diagnostic: bool,
}

impl Kind {
    const fn new(
        device_class: Option<&'static str>,
        state_class: Option<&'static str>,
        unit: Option<&'static str>,
    ) -> Kind {
        Kind {
            device_class,
            state_class,
            unit,
            icon: None,
            diagnostic: false,
        }
    }
    const fn icon(mut self, icon: &'static str) -> Kind {
        self.icon = Some(icon);
        self
    }
}

pub const PERCENT: Kind = Kind::new(None, Some("measurement"), Some("%"));
pub const LOAD: Kind = Kind::new(None, Some("measurement"), None).icon("mdi:gauge");
pub const BYTES: Kind = Kind::new(Some("data_size"), Some("measurement"), Some("B"));
pub const RATE: Kind = Kind::new(Some("data_rate"), Some("measurement"), Some("B/s"));
pub const CELSIUS: Kind = Kind::new(Some("temperature"), Some("measurement"), Some("°C"));
pub const COUNT: Kind = Kind::new(None, Some("measurement"), None);
pub const TIMESTAMP: Kind = Kind::new(Some("timestamp"), None, None);
pub const PROBLEM: Kind = Kind::new(Some("problem"), None, None);
/// A text state (a check's `OK` / `WARNING` / `CRITICAL` / `UNKNOWN`).
pub const TEXT: Kind = Kind::new(None, None, None);

/// One Home Assistant entity reading one value of the state JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub component: Component,
    /// Unique within the host: the path joined with `_` (`filesystems_root_used_pct`).
    pub key: String,
    /// Shown in Home Assistant after the device name.
    pub name: String,
    /// Where the value is in the state JSON.
    pub path: Vec<String>,
    pub kind: Kind,
    /// The report section it comes from: its entities are removed only when that section
    /// arrived intact and no longer has the item (a failed read removes nothing).
    pub section: &'static str,
}

impl Entity {
    /// `{{ value_json.cpu_pct }}` or `{{ value_json['filesystems']['root']['used_pct'] }}`.
    pub fn value_template(&self) -> String {
        if let [one] = self.path.as_slice() {
            return format!("{{{{ value_json.{one} }}}}");
        }
        let mut t = String::from("{{ value_json");
        for p in &self.path {
            t.push_str(&format!("['{p}']"));
        }
        t.push_str(" }}");
        t
    }
}

/// The state document and its entities, built together.
#[derive(Debug, Default)]
pub struct StateBuilder {
    pub state: Map<String, Value>,
    pub entities: Vec<Entity>,
    /// Sections that arrived intact in the merged report.
    pub sections_ok: Vec<&'static str>,
}

impl StateBuilder {
    /// Adds a value at `path` and the entity that reads it.
    pub fn sensor(
        &mut self,
        section: &'static str,
        path: &[&str],
        value: impl Into<Value>,
        name: impl Into<String>,
        kind: Kind,
    ) {
        self.put(path, value.into());
        self.entities.push(Entity {
            component: Component::Sensor,
            key: path.join("_"),
            name: name.into(),
            path: path.iter().map(|s| s.to_string()).collect(),
            kind,
            section,
        });
    }

    /// A problem binary sensor: `ON` when `on`.
    pub fn problem(&mut self, section: &'static str, key: &str, on: bool, name: &str) {
        self.problem_at(section, &[key], on, name);
    }

    /// A problem binary sensor at `path` (per item: a container, a unit, a pool, a disk).
    pub fn problem_at(
        &mut self,
        section: &'static str,
        path: &[&str],
        on: bool,
        name: impl Into<String>,
    ) {
        self.put(path, Value::from(if on { "ON" } else { "OFF" }));
        self.entities.push(Entity {
            component: Component::BinarySensor,
            key: path.join("_"),
            name: name.into(),
            path: path.iter().map(|s| s.to_string()).collect(),
            kind: PROBLEM,
            section,
        });
    }

    /// A value with no entity (identity, lists).
    pub fn put(&mut self, path: &[&str], value: Value) {
        let (last, parents) = path.split_last().expect("a path has at least one key");
        let mut map = &mut self.state;
        for p in parents {
            let slot = map
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            map = slot.as_object_mut().expect("made an object above");
        }
        map.insert(last.to_string(), value);
    }
}

/// `[a-zA-Z0-9_-]` only; anything else becomes `_`. Empty stays empty.
pub fn clean(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Keys for names (mounts, interfaces) that are unique even when two clean to the same
/// text: the later ones (in sorted order) get a short stable hash of the original.
fn keys_for<'a>(
    names: impl Iterator<Item = &'a str>,
    base: impl Fn(&str) -> String,
) -> BTreeMap<String, String> {
    let mut sorted: Vec<&str> = names.collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut taken = std::collections::HashSet::new();
    let mut out = BTreeMap::new();
    for name in sorted {
        let mut key = base(name);
        if key.is_empty() {
            key = "_".into();
        }
        if !taken.insert(key.clone()) {
            key = format!("{key}_{:08x}", fnv1a(name));
            taken.insert(key.clone());
        }
        out.insert(name.to_string(), key);
    }
    out
}

fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// `/` → `root`, `/var/lib` → `var_lib`.
pub fn mount_key(mount: &str) -> String {
    let trimmed = mount.trim_matches('/');
    if trimmed.is_empty() {
        "root".into()
    } else {
        clean(trimmed)
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn rfc3339(ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
}

fn ok<T>(s: &Option<Section<T>>) -> Option<&T> {
    s.as_ref().and_then(Section::ok)
}

/// The state JSON and its entities from the latest merged report.
pub fn build(report: &Report, disk_full_pct: f64) -> StateBuilder {
    let mut b = StateBuilder::default();
    let s = &report.sections;
    b.put(&["host"], report.host_id.clone().into());
    b.put(&["seq"], report.seq.into());
    b.put(&["agent_version"], report.agent.version.clone().into());
    if let Some(t) = rfc3339(report.collected_at) {
        b.put(&["collected_at"], t.into());
    }
    for name in hostwatch_proto::Sections::NAMES {
        if s.present().contains(name) && !s.errors().iter().any(|(n, _)| n == name) {
            b.sections_ok.push(name);
        }
    }

    if let Some(c) = ok(&s.cpu)
        && let Some(u) = &c.usage
    {
        b.sensor(
            "cpu",
            &["cpu_pct"],
            round2(u.busy_pct),
            "CPU",
            PERCENT.icon("mdi:cpu-64-bit"),
        );
        b.sensor(
            "cpu",
            &["cpu_steal_pct"],
            round2(u.steal_pct),
            "CPU steal",
            PERCENT,
        );
        b.sensor(
            "cpu",
            &["cpu_iowait_pct"],
            round2(u.iowait_pct),
            "CPU iowait",
            PERCENT,
        );
    }
    if let Some(l) = ok(&s.load) {
        b.sensor("load", &["load1"], l.load1, "Load 1m", LOAD);
        b.sensor("load", &["load5"], l.load5, "Load 5m", LOAD);
        b.sensor("load", &["load15"], l.load15, "Load 15m", LOAD);
    }
    if let Some(m) = ok(&s.memory) {
        let mem = PERCENT.icon("mdi:memory");
        b.sensor(
            "memory",
            &["memory_used_pct"],
            round2(m.used_pct),
            "Memory used",
            mem,
        );
        b.sensor(
            "memory",
            &["memory_used_bytes"],
            m.used_bytes,
            "Memory used bytes",
            BYTES,
        );
        b.sensor(
            "memory",
            &["memory_available_bytes"],
            m.available_bytes,
            "Memory available",
            BYTES,
        );
        b.sensor(
            "memory",
            &["swap_used_bytes"],
            m.swap_used_bytes,
            "Swap used",
            BYTES,
        );
        b.sensor(
            "memory",
            &["swap_used_pct"],
            round2(m.swap_used_pct),
            "Swap used %",
            PERCENT,
        );
    }
    if let Some(sys) = ok(&s.system) {
        b.sensor(
            "system",
            &["uptime_seconds"],
            sys.uptime_seconds.round(),
            "Uptime seconds",
            Kind::new(Some("duration"), Some("measurement"), Some("s")),
        );
        if let Some(boot) = rfc3339(sys.boot_time) {
            b.sensor("system", &["boot_time"], boot, "Booted", TIMESTAMP);
        }
    }
    if let Some(t) = ok(&s.thermal) {
        if let Some(c) = t.cpu_max_celsius {
            b.sensor(
                "thermal",
                &["cpu_temp_celsius"],
                round2(c),
                "CPU temperature",
                CELSIUS,
            );
        }
        let ids: Vec<String> = t
            .sensors
            .iter()
            .map(|x| format!("{}_{}", x.chip_name, x.sensor))
            .collect();
        let keys = keys_for(ids.iter().map(String::as_str), clean);
        for (x, id) in t.sensors.iter().zip(&ids) {
            let key = &keys[id];
            let label = x.label.clone().unwrap_or_else(|| x.sensor.clone());
            b.put(
                &["temperatures", key, "sensor"],
                format!("{} {label}", x.chip_name).into(),
            );
            b.sensor(
                "thermal",
                &["temperatures", key, "celsius"],
                round2(x.celsius),
                format!("Temperature {} {label}", x.chip_name),
                CELSIUS,
            );
        }
    }
    let mut disk_full = false;
    if let Some(f) = ok(&s.filesystems) {
        let keys = keys_for(f.mounts.iter().map(|m| m.mount.as_str()), mount_key);
        for m in &f.mounts {
            let key = &keys[&m.mount];
            disk_full |= m.used_pct > disk_full_pct;
            b.put(&["filesystems", key, "mount"], m.mount.clone().into());
            b.put(&["filesystems", key, "size_bytes"], m.size_bytes.into());
            b.sensor(
                "filesystems",
                &["filesystems", key, "used_pct"],
                round2(m.used_pct),
                format!("Disk {} used", m.mount),
                PERCENT.icon("mdi:harddisk"),
            );
            b.sensor(
                "filesystems",
                &["filesystems", key, "free_bytes"],
                m.available_bytes,
                format!("Disk {} free", m.mount),
                BYTES,
            );
        }
    }
    if let Some(n) = ok(&s.network) {
        let keys = keys_for(n.interfaces.iter().map(|i| i.name.as_str()), clean);
        for i in &n.interfaces {
            let Some(r) = &i.rates else { continue };
            let key = &keys[&i.name];
            b.put(&["interfaces", key, "name"], i.name.clone().into());
            b.sensor(
                "network",
                &["interfaces", key, "rx_bytes_per_sec"],
                round2(r.rx_bytes_per_sec),
                format!("Network {} in", i.name),
                RATE.icon("mdi:download-network"),
            );
            b.sensor(
                "network",
                &["interfaces", key, "tx_bytes_per_sec"],
                round2(r.tx_bytes_per_sec),
                format!("Network {} out", i.name),
                RATE.icon("mdi:upload-network"),
            );
        }
    }
    // Sources other collectors add go here, one line per value.
    if let Some(c) = ok(&s.containers) {
        let count = COUNT.icon("mdi:docker");
        b.sensor(
            "containers",
            &["containers_running"],
            c.running,
            "Containers running",
            count,
        );
        b.sensor(
            "containers",
            &["containers_unhealthy"],
            c.unhealthy,
            "Containers unhealthy",
            count,
        );
        // Only containers with a health check get a health entity.
        let with_health: Vec<_> = c.containers.iter().filter(|x| x.health.is_some()).collect();
        let keys = keys_for(with_health.iter().map(|x| x.name.as_str()), clean);
        for x in with_health {
            let key = &keys[&x.name];
            let health = x.health.as_ref().map_or("", |h| h.status.as_str());
            b.put(&["containers", key, "name"], x.name.clone().into());
            b.put(&["containers", key, "health"], health.into());
            b.problem_at(
                "containers",
                &["containers", key, "unhealthy"],
                health == "unhealthy",
                format!("Container {} unhealthy", x.name),
            );
        }
    }
    if let Some(d) = ok(&s.systemd) {
        b.sensor(
            "systemd",
            &["failed_units"],
            d.failed_units,
            "Failed units",
            COUNT.icon("mdi:cog-off"),
        );
        let expected: Vec<_> = d.units.iter().filter(|u| u.expected_active).collect();
        let keys = keys_for(expected.iter().map(|u| u.name.as_str()), clean);
        for u in expected {
            let key = &keys[&u.name];
            b.put(&["units", key, "name"], u.name.clone().into());
            b.put(
                &["units", key, "active_state"],
                u.active_state.clone().into(),
            );
            b.problem_at(
                "systemd",
                &["units", key, "inactive"],
                u.active_state != "active",
                format!("Unit {} not active", u.name),
            );
        }
    }
    if let Some(c) = ok(&s.checks) {
        let keys = keys_for(c.checks.iter().map(|x| x.name.as_str()), clean);
        let mut not_ok = 0u32;
        for x in &c.checks {
            let key = &keys[&x.name];
            not_ok += u32::from(x.state != hostwatch_proto::sections::CheckState::Ok);
            b.put(&["checks", key, "name"], x.name.clone().into());
            b.sensor(
                "checks",
                &["checks", key, "state"],
                x.state.to_string(),
                format!("Check {}", x.name),
                TEXT.icon("mdi:clipboard-check-outline"),
            );
        }
        b.sensor(
            "checks",
            &["checks_not_ok"],
            not_ok,
            "Checks not OK",
            COUNT.icon("mdi:clipboard-alert-outline"),
        );
    }
    if let Some(z) = ok(&s.zfs) {
        let keys = keys_for(z.pools.iter().map(|p| p.name.as_str()), clean);
        for p in &z.pools {
            let key = &keys[&p.name];
            b.put(&["zfs_pools", key, "name"], p.name.clone().into());
            b.put(&["zfs_pools", key, "state"], p.state.clone().into());
            b.problem_at(
                "zfs",
                &["zfs_pools", key, "unhealthy"],
                p.state != "ONLINE",
                format!("ZFS pool {} health", p.name),
            );
        }
    }
    if let Some(sm) = ok(&s.smart) {
        let keys = keys_for(sm.devices.iter().map(|d| d.name.as_str()), |n| {
            clean(n.trim_start_matches("/dev/"))
        });
        for d in &sm.devices {
            let key = &keys[&d.name];
            b.put(&["disks_smart", key, "name"], d.name.clone().into());
            // A disk asleep (standby) or unreadable has no verdict: not a failure by itself.
            b.problem_at(
                "smart",
                &["disks_smart", key, "failing"],
                d.passed == Some(false),
                format!("Disk {} SMART health", d.name),
            );
        }
    }

    let errors: Vec<&str> = s.errors().into_iter().map(|(n, _)| n).collect();
    if s.filesystems.is_some() {
        b.problem("filesystems", "problem_disk_full", disk_full, "Disk full");
    }
    b.problem(
        "report",
        "problem_section_errors",
        !errors.is_empty(),
        "Collection errors",
    );
    b.put(&["section_errors"], json!(errors));
    b
}

/// Follows `{{ value_json.x }}` / `{{ value_json['a']['b'] }}` through a state document, as Home
/// Assistant would; `None` when the template has another form or the key is missing.
pub fn resolve_template<'a>(template: &str, state: &'a Value) -> Option<&'a Value> {
    let inner = template.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let rest = inner.strip_prefix("value_json")?;
    let mut v = state;
    if let Some(key) = rest.strip_prefix('.') {
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        return v.get(key);
    }
    let mut rest = rest;
    while !rest.is_empty() {
        let after = rest.strip_prefix("['")?;
        let end = after.find("']")?;
        v = v.get(&after[..end])?;
        rest = &after[end + 2..];
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_clean_to_stable_unique_keys() {
        assert_eq!(clean("web01.example.com"), "web01_example_com");
        assert_eq!(clean("a-b_C9 ü"), "a-b_C9__");
        assert_eq!(mount_key("/"), "root");
        assert_eq!(mount_key("/var/lib"), "var_lib");
        let keys = keys_for(["/a/b", "/a_b", "/"].into_iter(), mount_key);
        assert_eq!(keys["/"], "root");
        assert_eq!(keys["/a/b"], "a_b");
        assert!(keys["/a_b"].starts_with("a_b_"), "{keys:?}");
        assert_ne!(keys["/a_b"], keys["/a/b"]);
    }

    #[test]
    fn templates_resolve_both_forms() {
        let state = json!({"cpu_pct": 12.5, "filesystems": {"root": {"used_pct": 40.0}}});
        assert_eq!(
            resolve_template("{{ value_json.cpu_pct }}", &state),
            Some(&json!(12.5))
        );
        assert_eq!(
            resolve_template(
                "{{ value_json['filesystems']['root']['used_pct'] }}",
                &state
            ),
            Some(&json!(40.0))
        );
        assert_eq!(resolve_template("{{ value_json.nope }}", &state), None);
        assert_eq!(
            resolve_template("{{ value_json['filesystems']['var'] }}", &state),
            None
        );
        assert_eq!(resolve_template("{{ value }}", &state), None);
        let e = Entity {
            component: Component::Sensor,
            key: "filesystems_root_used_pct".into(),
            name: "x".into(),
            path: vec!["filesystems".into(), "root".into(), "used_pct".into()],
            kind: PERCENT,
            section: "filesystems",
        };
        assert_eq!(
            e.value_template(),
            "{{ value_json['filesystems']['root']['used_pct'] }}"
        );
    }
}
