//! The `system` section: hostname, OS, kernel, architecture, uptime, boot time, what the host
//! runs on (virtualization) and, inside a container, the cgroup limits that bound it.

use super::cgroup::CgroupTree;
use super::{CollectError, Collector};
use crate::HostPaths;
use crate::paths::{read_into, read_trimmed};
use hostwatch_proto::sections::{ContainerLimits, OsRelease, System};
use hostwatch_proto::{SectionData, Tier};
use procfs_core::FromRead;
use std::path::Path;

/// What the host runs on, in systemd-detect-virt's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Virtualization {
    /// e.g. `kvm`, `docker`, `lxc`, `wsl`, `vm-other`.
    pub name: String,
    pub kind: VirtKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtKind {
    /// Shares the host's kernel: cgroup limits are this host's size.
    Container,
    /// Has its own kernel: `/proc/meminfo` is this host's RAM.
    Vm,
}

impl Virtualization {
    pub fn container(name: &str) -> Self {
        Virtualization {
            name: name.to_string(),
            kind: VirtKind::Container,
        }
    }

    pub fn vm(name: &str) -> Self {
        Virtualization {
            name: name.to_string(),
            kind: VirtKind::Vm,
        }
    }

    pub fn is_container(&self) -> bool {
        self.kind == VirtKind::Container
    }
}

/// Detects containers first, then virtual machines, as systemd-detect-virt does
/// (<https://github.com/systemd/systemd/blob/main/src/basic/virt.c>); `None` on bare metal.
///
/// Reads only files (no `cpuid`, which needs unsafe code), so a VM without DMI data and
/// without a paravirtual clock is reported as `vm-other`.
pub fn detect_virtualization(paths: &HostPaths) -> Option<Virtualization> {
    detect_container(paths)
        .map(|name| Virtualization::container(&name))
        .or_else(|| detect_vm(paths).map(Virtualization::vm))
}

fn detect_container(paths: &HostPaths) -> Option<String> {
    // systemd (as PID 1 of a container) records the manager's `container=` here; readable
    // without privileges, unlike /proc/1/environ.
    if let Some(name) = read_trimmed(&paths.root("run/systemd/container")).filter(|s| !s.is_empty())
    {
        return Some(name);
    }
    if let Ok(environ) = std::fs::read(paths.proc("1/environ")) {
        let value = environ
            .split(|&b| b == 0)
            .find_map(|var| var.strip_prefix(b"container="));
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            return Some(String::from_utf8_lossy(value).into_owned());
        }
    }
    if paths.root("run/.containerenv").exists() {
        return Some("podman".into());
    }
    if paths.root(".dockerenv").exists() {
        return Some("docker".into());
    }
    if let Some(release) = read_trimmed(&paths.proc("sys/kernel/osrelease")) {
        if release.contains("Microsoft") || release.contains("microsoft") || release.contains("WSL")
        {
            return Some("wsl".into());
        }
    }
    if let Some(listing) = read_trimmed(&paths.proc("self/cgroup")) {
        // v1 lines name the runtime's cgroup (`/docker/<id>`, `/lxc/101`); v2 without a
        // cgroup namespace does too (`docker-<id>.scope`, `libpod-<id>.scope`, `lxc.payload.101`).
        let found = [
            ("libpod", "podman"),
            ("/docker", "docker"),
            ("docker-", "docker"),
            ("/lxc/", "lxc"),
            ("lxc.payload", "lxc"),
            ("kubepods", "container-other"),
        ]
        .into_iter()
        .find(|(needle, _)| listing.contains(needle));
        if let Some((_, name)) = found {
            return Some(name.into());
        }
    }
    // In a PID namespace, PID 1's own view of its PID (first line of sched) is not 1.
    if let Some(sched) = read_trimmed(&paths.proc("1/sched")) {
        let pid = sched.lines().next().and_then(|l| {
            l.rsplit_once('(')?
                .1
                .split(',')
                .next()?
                .trim()
                .parse::<u32>()
                .ok()
        });
        if pid.is_some_and(|pid| pid != 1) {
            return Some("container-other".into());
        }
    }
    None
}

/// DMI vendor strings, as systemd's `dmi_vendor_table`; matched as prefixes.
const DMI_VENDORS: &[(&str, &str)] = &[
    ("KVM", "kvm"),
    ("OpenStack", "kvm"),
    ("KubeVirt", "kvm"),
    ("Amazon EC2", "amazon"),
    ("QEMU", "qemu"),
    ("VMware", "vmware"),
    ("VMW", "vmware"),
    ("innotek GmbH", "oracle"),
    ("VirtualBox", "oracle"),
    ("Oracle Corporation", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Hyper-V", "microsoft"),
    ("Apple Virtualization", "apple"),
    ("Google Compute Engine", "google"),
];

fn detect_vm(paths: &HostPaths) -> Option<&'static str> {
    let dmi = |name: &str| read_trimmed(&paths.sys(format!("class/dmi/id/{name}")));
    for file in [
        "product_name",
        "sys_vendor",
        "board_vendor",
        "bios_vendor",
        "product_version",
    ] {
        if let Some(value) = dmi(file) {
            if let Some((_, name)) = DMI_VENDORS.iter().find(|(v, _)| value.starts_with(v)) {
                return Some(name);
            }
        }
    }
    // Hyper-V guests: systemd asks cpuid; the DMI pair is unambiguous too (a Surface laptop
    // is also "Microsoft Corporation", but not a "Virtual Machine").
    if dmi("sys_vendor").as_deref() == Some("Microsoft Corporation")
        && dmi("product_name").as_deref() == Some("Virtual Machine")
    {
        return Some("microsoft");
    }
    if read_trimmed(&paths.sys("hypervisor/type")).as_deref() == Some("xen") {
        return Some("xen");
    }
    // The paravirtual clocks name the hypervisor where DMI is absent (Firecracker, Xen PV).
    if let Some(clocks) =
        read_trimmed(&paths.sys("devices/system/clocksource/clocksource0/available_clocksource"))
    {
        for (clock, name) in [
            ("kvm-clock", "kvm"),
            ("hyperv_clocksource", "microsoft"),
            ("xen", "xen"),
        ] {
            if clocks.split_whitespace().any(|c| c.starts_with(clock)) {
                return Some(name);
            }
        }
    }
    let cpuinfo = std::fs::read_to_string(paths.proc("cpuinfo")).ok()?;
    let has_hypervisor_flag = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .take(1)
        .any(|l| l.split_whitespace().any(|f| f == "hypervisor"));
    has_hypervisor_flag.then_some("vm-other")
}

/// Parses os-release (<https://www.freedesktop.org/software/systemd/man/latest/os-release.html>):
/// `KEY=value` lines, values optionally quoted with shell-style escapes.
fn parse_os_release(text: &str) -> OsRelease {
    let (mut id, mut pretty_name, mut name, mut version_id) = (None, None, None, None);
    for line in text.lines() {
        let Some((key, raw)) = line.trim().split_once('=') else {
            continue;
        };
        let value = unquote(raw.trim());
        match key {
            "ID" => id = Some(value),
            "PRETTY_NAME" => pretty_name = Some(value),
            "NAME" => name = Some(value),
            "VERSION_ID" => version_id = Some(value),
            _ => {}
        }
    }
    OsRelease {
        // The specification's defaults when the keys are missing.
        id: id.unwrap_or_else(|| "linux".into()),
        pretty_name: pretty_name.or(name).unwrap_or_else(|| "Linux".into()),
        version_id,
    }
}

fn unquote(raw: &str) -> String {
    let quoted = raw.len() >= 2
        && ((raw.starts_with('"') && raw.ends_with('"'))
            || (raw.starts_with('\'') && raw.ends_with('\'')));
    if !quoted {
        return raw.to_string();
    }
    let inner = &raw[1..raw.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The `btime` line of `/proc/stat`, in seconds since the epoch.
fn parse_btime(path: &Path, stat: &str) -> Result<i64, CollectError> {
    let value = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .ok_or_else(|| CollectError::parse(path, "no btime line"))?;
    value
        .trim()
        .parse()
        .map_err(|_| CollectError::parse(path, format!("btime is not a number: {value:?}")))
}

/// Reports the `system` section.
#[derive(Debug)]
pub struct SystemCollector {
    paths: HostPaths,
    virtualization: Option<Virtualization>,
    cgroup: Option<CgroupTree>,
    buf: String,
}

impl SystemCollector {
    /// Detects virtualization once: it does not change while the agent runs.
    pub fn new(paths: HostPaths) -> Self {
        let virtualization = detect_virtualization(&paths);
        let cgroup = CgroupTree::for_container(&paths, virtualization.as_ref());
        SystemCollector {
            paths,
            virtualization,
            cgroup,
            buf: String::new(),
        }
    }

    fn read(&mut self) -> Result<System, CollectError> {
        let p = &self.paths;
        let buf = &mut self.buf;

        let hostname = read_trimmed(&p.proc("sys/kernel/hostname")).unwrap_or_else(|| {
            rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned()
        });

        let os = [p.root("etc/os-release"), p.root("usr/lib/os-release")]
            .iter()
            .find_map(|path| std::fs::read_to_string(path).ok())
            .map(|text| parse_os_release(&text));

        let kernel_path = p.proc("sys/kernel/osrelease");
        read_into(&kernel_path, buf)?;
        let kernel = buf.trim().to_string();
        let version_path = p.proc("sys/kernel/version");
        read_into(&version_path, buf)?;
        let kernel_version = buf.trim().to_string();

        // /proc/sys/kernel/arch exists since Linux 6.1; before that ask uname (same kernel).
        let arch = read_trimmed(&p.proc("sys/kernel/arch")).unwrap_or_else(|| {
            rustix::system::uname()
                .machine()
                .to_string_lossy()
                .into_owned()
        });

        let uptime_path = p.proc("uptime");
        read_into(&uptime_path, buf)?;
        let uptime = procfs_core::Uptime::from_read(buf.as_bytes())
            .map_err(|e| CollectError::parse(&uptime_path, e.to_string()))?;

        let stat_path = p.proc("stat");
        read_into(&stat_path, buf)?;
        let boot_time = parse_btime(&stat_path, buf)? * 1000;

        let container = match &self.cgroup {
            Some(tree) => tree.limited(buf)?.map(|limited| ContainerLimits {
                cgroup: limited.path.to_string(),
                memory_max_bytes: limited.memory_max,
                cpu_limit_cores: limited.cpu_max.and_then(|c| c.limit_cores()),
            }),
            None => None,
        };

        Ok(System {
            hostname,
            os,
            kernel,
            kernel_version,
            arch,
            uptime_seconds: uptime.uptime,
            boot_time,
            virtualization: self.virtualization.as_ref().map(|v| v.name.clone()),
            container,
        })
    }
}

impl Collector for SystemCollector {
    fn name(&self) -> &'static str {
        "system"
    }

    fn default_tier(&self) -> Tier {
        Tier::Medium
    }

    fn collect(&mut self) -> Result<Option<SectionData>, CollectError> {
        self.read().map(|s| Some(s.into()))
    }
}
