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
    if let Some(release) = read_trimmed(&paths.proc("sys/kernel/osrelease"))
        && (release.contains("Microsoft")
            || release.contains("microsoft")
            || release.contains("WSL"))
    {
        return Some("wsl".into());
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
        if let Some(value) = dmi(file)
            && let Some((_, name)) = DMI_VENDORS.iter().find(|(v, _)| value.starts_with(v))
        {
            return Some(name);
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
    /// The remote-command catalogue to advertise (static: it comes from the config).
    commands: Vec<hostwatch_proto::CommandInfo>,
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
            commands: Vec::new(),
        }
    }

    /// Advertises these remote commands in every `system` section.
    pub fn with_commands(mut self, commands: Vec<hostwatch_proto::CommandInfo>) -> Self {
        self.commands = commands;
        self
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
            commands: self.commands.clone(),
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

#[cfg(test)]
mod tests {
    use super::super::cgroup::testing::{copy_tree, put};
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn fixture(rel: &str) -> std::path::PathBuf {
        Path::new(FIXTURES).join(rel)
    }

    fn virt_of(root: &Path) -> Option<String> {
        detect_virtualization(&HostPaths::under(root)).map(|v| v.name)
    }

    #[test]
    fn recorded_tree_of_this_machine() {
        let system = SystemCollector::new(HostPaths::under(fixture("system/dev-vm")))
            .read()
            .unwrap();
        assert_eq!(
            system,
            System {
                hostname: "vm".into(),
                os: Some(OsRelease {
                    id: "debian".into(),
                    pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
                    version_id: Some("12".into()),
                }),
                kernel: "6.18.44-fc-v669".into(),
                kernel_version: "#1 SMP PREEMPT_DYNAMIC @0".into(),
                arch: "x86_64".into(),
                uptime_seconds: 790.42,
                boot_time: 1_795_325_009_000,
                // The Firecracker VM's image carries /.dockerenv; systemd-detect-virt agrees.
                virtualization: Some("docker".into()),
                // cgroup v1/v2 hybrid: no v2 tree at sys/fs/cgroup, so no limits to report.
                container: None,
                commands: Vec::new(),
            }
        );
    }

    #[test]
    fn the_same_vm_without_dockerenv_is_kvm_by_its_clock() {
        let dir = copy_tree(&fixture("system/dev-vm"));
        std::fs::remove_file(dir.path().join(".dockerenv")).unwrap();
        assert_eq!(
            detect_virtualization(&HostPaths::under(dir.path())),
            Some(Virtualization::vm("kvm"))
        );
        // Without the paravirtual clock only the cpuinfo `hypervisor` flag is left.
        std::fs::remove_dir_all(dir.path().join("sys/devices")).unwrap();
        assert_eq!(virt_of(dir.path()).as_deref(), Some("vm-other"));
        // And without that it is bare metal.
        std::fs::remove_file(dir.path().join("proc/cpuinfo")).unwrap();
        assert_eq!(virt_of(dir.path()), None);
    }

    #[test]
    fn virtual_machines_by_dmi() {
        for (file, value, expected) in [
            ("sys_vendor", "QEMU", "qemu"),
            ("product_name", "KVM", "kvm"),
            ("product_name", "VMware Virtual Platform", "vmware"),
            ("board_vendor", "Oracle Corporation", "oracle"),
            ("sys_vendor", "Amazon EC2", "amazon"),
            ("bios_vendor", "Xen", "xen"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            put(
                dir.path(),
                &format!("sys/class/dmi/id/{file}"),
                &format!("{value}\n"),
            );
            assert_eq!(
                virt_of(dir.path()).as_deref(),
                Some(expected),
                "{file}={value}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        put(
            dir.path(),
            "sys/class/dmi/id/sys_vendor",
            "Microsoft Corporation\n",
        );
        put(
            dir.path(),
            "sys/class/dmi/id/product_name",
            "Surface Laptop 5\n",
        );
        assert_eq!(virt_of(dir.path()), None, "a Surface laptop is bare metal");
        put(
            dir.path(),
            "sys/class/dmi/id/product_name",
            "Virtual Machine\n",
        );
        assert_eq!(virt_of(dir.path()).as_deref(), Some("microsoft"));
    }

    #[test]
    fn containers_by_their_markers() {
        let cases: [(&str, &str, &str); 8] = [
            (
                "run/systemd/container",
                "systemd-nspawn\n",
                "systemd-nspawn",
            ),
            (
                "proc/1/environ",
                "PATH=/bin\0container=podman\0HOME=/\0",
                "podman",
            ),
            ("run/.containerenv", "", "podman"),
            (".dockerenv", "", "docker"),
            (
                "proc/sys/kernel/osrelease",
                "5.15.153.1-microsoft-standard-WSL2\n",
                "wsl",
            ),
            (
                "proc/self/cgroup",
                "12:memory:/docker/0123abcd\n0::/docker/0123abcd\n",
                "docker",
            ),
            (
                "proc/self/cgroup",
                "0::/lxc.payload.101/init.scope\n",
                "lxc",
            ),
            (
                "proc/1/sched",
                "bash (4242, #threads: 1)\n-------\n",
                "container-other",
            ),
        ];
        for (file, text, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            // A DMI VM marker too: containers are detected first, as systemd does.
            put(dir.path(), "sys/class/dmi/id/sys_vendor", "QEMU\n");
            put(dir.path(), file, text);
            let virt = detect_virtualization(&HostPaths::under(dir.path())).unwrap();
            assert_eq!(virt, Virtualization::container(expected), "{file}");
        }
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), "proc/1/sched", "systemd (1, #threads: 1)\n");
        put(
            dir.path(),
            "proc/self/cgroup",
            "0::/system.slice/hostwatch.service\n",
        );
        assert_eq!(virt_of(dir.path()), None, "a systemd service on bare metal");
    }

    #[test]
    fn lxc_guest_reports_its_limits() {
        let system = SystemCollector::new(HostPaths::under(fixture("cgroup/lxc-guest")))
            .read()
            .unwrap();
        assert_eq!(system.virtualization.as_deref(), Some("lxc"));
        assert_eq!(
            system.container,
            Some(ContainerLimits {
                cgroup: "/".into(),
                memory_max_bytes: Some(103_079_215_104),
                cpu_limit_cores: Some(48.0),
            })
        );
        assert_eq!(system.hostname, "ct101");
        assert_eq!(system.kernel, "6.8.12-4-pve");
        assert_eq!(system.uptime_seconds, 46_901.13);
        assert_eq!(system.boot_time, 1_418_183_276_000);
    }

    #[test]
    fn a_systemd_service_with_limits_on_a_host_is_no_container() {
        let dir = copy_tree(&fixture("cgroup/systemd-service-host"));
        put(dir.path(), "proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");
        put(
            dir.path(),
            "proc/sys/kernel/version",
            "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1\n",
        );
        put(dir.path(), "proc/uptime", "100.50 180.00\n");
        let system = SystemCollector::new(HostPaths::under(dir.path()))
            .read()
            .unwrap();
        assert_eq!((system.virtualization, system.container), (None, None));
    }

    #[test]
    fn os_release_falls_back_to_usr_lib_and_unquotes() {
        let dir = copy_tree(&fixture("system/dev-vm"));
        std::fs::remove_file(dir.path().join("etc/os-release")).unwrap();
        put(
            dir.path(),
            "usr/lib/os-release",
            "NAME='Fedora Linux'\nID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40 \\\"Forty\\\"\"\n",
        );
        let os = SystemCollector::new(HostPaths::under(dir.path()))
            .read()
            .unwrap()
            .os;
        assert_eq!(
            os,
            Some(OsRelease {
                id: "fedora".into(),
                pretty_name: "Fedora Linux 40 \"Forty\"".into(),
                version_id: Some("40".into()),
            })
        );
        std::fs::remove_file(dir.path().join("usr/lib/os-release")).unwrap();
        let system = SystemCollector::new(HostPaths::under(dir.path()))
            .read()
            .unwrap();
        assert_eq!(system.os, None);
    }

    #[test]
    fn os_release_defaults_per_specification() {
        let os = parse_os_release("# no keys we know\nNAME=Alpine\n");
        assert_eq!(
            (os.id.as_str(), os.pretty_name.as_str(), os.version_id),
            ("linux", "Alpine", None)
        );
    }

    #[test]
    fn garbage_uptime_and_stat_name_the_file() {
        let dir = copy_tree(&fixture("system/dev-vm"));
        put(dir.path(), "proc/uptime", "soon\n");
        let err = SystemCollector::new(HostPaths::under(dir.path()))
            .read()
            .unwrap_err();
        assert!(err.to_string().contains("proc/uptime"), "{err}");

        put(dir.path(), "proc/uptime", "100.50 180.00\n");
        put(dir.path(), "proc/stat", "cpu  1 2 3 4\nbtime yesterday\n");
        let err = SystemCollector::new(HostPaths::under(dir.path()))
            .read()
            .unwrap_err();
        assert!(
            err.to_string().contains("proc/stat: btime is not a number"),
            "{err}"
        );
    }

    #[test]
    fn missing_kernel_release_is_an_io_error() {
        let dir = copy_tree(&fixture("system/dev-vm"));
        std::fs::remove_file(dir.path().join("proc/sys/kernel/osrelease")).unwrap();
        let err = SystemCollector::new(HostPaths::under(dir.path()))
            .read()
            .unwrap_err();
        assert!(matches!(err, CollectError::Io { .. }), "{err}");
    }

    #[test]
    fn live_read_of_this_machine_is_plausible() {
        let system = SystemCollector::new(HostPaths::default()).read().unwrap();
        let uname = rustix::system::uname();
        assert_eq!(system.kernel, uname.release().to_string_lossy());
        assert_eq!(system.arch, uname.machine().to_string_lossy());
        assert!(!system.hostname.is_empty());
        assert!(system.uptime_seconds > 0.0);
        let now = jiff::Timestamp::now().as_millisecond();
        // Booted after 2001 and before now; boot + uptime is about now.
        assert!(system.boot_time > 1_000_000_000_000 && system.boot_time < now);
        let drift = (system.boot_time as f64 + system.uptime_seconds * 1000.0 - now as f64).abs();
        assert!(
            drift < 5_000.0,
            "boot time + uptime is {drift} ms away from now"
        );
        if let Some(v) = &system.virtualization {
            assert!(!v.is_empty());
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_damaged_os_release_or_stat(
            os in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/system/dev-vm/etc/os-release"
            )),
            stat in crate::collect::tools::testing::damaged(include_str!(
                "../../tests/fixtures/system/dev-vm/proc/stat"
            )),
        ) {
            let _ = parse_os_release(&os);
            let _ = parse_btime(Path::new("/proc/stat"), &stat);
        }
    }
}
