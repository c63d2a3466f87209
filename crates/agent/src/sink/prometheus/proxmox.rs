//! Proxmox VE guests and storages with prometheus-pve-exporter's names, labels and units: the
//! agent reads the same `/cluster/resources` it does, so `pve_up{id="qemu/101"}`,
//! `pve_cpu_usage_ratio` (0–1 of the guest's own cores), `pve_guest_info` and the storage
//! figures mean what its dashboards expect. Only this node's guests and storages are written;
//! the other nodes' agents write theirs.

use super::rows::{Rows, flag, info};
use crate::sink::exposition::{Exposition, Kind};
use hostwatch_proto::sections::{Proxmox, PveGuest, PveStorage};

pub(super) fn render(e: &mut Exposition, p: &Proxmox) {
    let guests = Rows::new(&p.guests, |g| vec![("id", guest_id(g))]);
    let storages = Rows::new(&p.storages, |s| vec![("id", storage_id(&p.node, s))]);
    let both = |e: &mut Exposition,
                name: &str,
                help: &str,
                g: fn(&PveGuest) -> Option<f64>,
                s: fn(&PveStorage) -> Option<f64>| {
        if guests.any(g) || storages.any(s) {
            e.family(name, Kind::Gauge, help);
            guests.samples(e, name, g);
            storages.samples(e, name, s);
        }
    };
    both(
        e,
        "pve_up",
        "1 when the guest is running or the storage is available, else 0.",
        |g| Some(flag(g.status == "running")),
        |s| Some(flag(s.status == "available")),
    );
    both(
        e,
        "pve_disk_size_bytes",
        "Size of a storage, or of a guest's root disk.",
        |g| Some(g.disk_max_bytes as f64),
        |s| known_size(s).map(|s| s.size_bytes as f64),
    );
    both(
        e,
        "pve_disk_usage_bytes",
        "Space used on a storage, or on a guest's root disk (QEMU: 0 without the guest agent).",
        |g| Some(g.disk_used_bytes as f64),
        |s| known_size(s).map(|s| s.used_bytes as f64),
    );
    type Get = fn(&PveGuest) -> f64;
    let gauges: [(&str, &str, Get); 5] = [
        ("pve_memory_size_bytes", "Memory the guest may use.", |g| {
            g.memory_max_bytes as f64
        }),
        ("pve_memory_usage_bytes", "Memory the guest uses.", |g| {
            g.memory_used_bytes as f64
        }),
        (
            "pve_cpu_usage_ratio",
            "CPU use, share 0-1 of the guest's own CPUs.",
            // cpu_pct has two decimals; rounding through an integer keeps 35.2 % at 0.352.
            |g| (g.cpu_pct * 100.0).round() / 10_000.0,
        ),
        ("pve_cpu_usage_limit", "CPUs the guest has.", |g| g.cpus),
        (
            "pve_uptime_seconds",
            "Seconds since the guest started.",
            |g| g.uptime_seconds as f64,
        ),
    ];
    for (name, help, get) in gauges {
        guests.family(e, name, Kind::Gauge, help, |g| Some(get(g)));
    }
    let counters: [(&str, &str, Get); 4] = [
        (
            "pve_network_transmit_bytes_total",
            "Bytes the guest sent over the network since it started.",
            |g| g.net_out_bytes_total as f64,
        ),
        (
            "pve_network_receive_bytes_total",
            "Bytes the guest received over the network since it started.",
            |g| g.net_in_bytes_total as f64,
        ),
        (
            "pve_disk_written_bytes_total",
            "Bytes the guest wrote to its disks since it started.",
            |g| g.disk_written_bytes_total as f64,
        ),
        (
            "pve_disk_read_bytes_total",
            "Bytes the guest read from its disks since it started.",
            |g| g.disk_read_bytes_total as f64,
        ),
    ];
    for (name, help, get) in counters {
        guests.family(e, name, Kind::Counter, help, |g| Some(get(g)));
    }
    storages.family(
        e,
        "pve_storage_shared",
        Kind::Gauge,
        "1 when the storage is shared by the cluster's nodes.",
        |s| Some(flag(s.shared)),
    );
    info(
        e,
        "pve_guest_info",
        "A guest's node, name, type, template flag and tags; always 1.",
        &p.guests,
        |g| {
            vec![
                ("id", guest_id(g)),
                ("node", p.node.clone()),
                ("name", g.name.clone()),
                ("type", g.kind.clone()),
                ("template", u8::from(g.template).to_string()),
                // Proxmox's own form of the tag list.
                ("tags", g.tags.join(";")),
            ]
        },
    );
    info(
        e,
        "pve_storage_info",
        "A storage's node, name, plugin type and content types; always 1.",
        &p.storages,
        |s| {
            vec![
                ("id", storage_id(&p.node, s)),
                ("node", p.node.clone()),
                ("storage", s.storage.clone()),
                ("plugintype", s.plugin.clone().unwrap_or_default()),
                ("content", sorted_csv(s.content.as_deref().unwrap_or(""))),
            ]
        },
    );
}

/// A storage Proxmox cannot reach (an NFS share that is down) reports size 0: its figures are
/// unknown, not zero, so they are left out as Proxmox leaves them out.
fn known_size(s: &PveStorage) -> Option<&PveStorage> {
    (s.size_bytes > 0).then_some(s)
}

/// `qemu/101`, `lxc/108`: the resource id Proxmox and pve-exporter use.
fn guest_id(g: &PveGuest) -> String {
    format!("{}/{}", g.kind, g.vmid)
}

/// `storage/<node>/<storage>`.
fn storage_id(node: &str, s: &PveStorage) -> String {
    format!("storage/{node}/{}", s.storage)
}

/// Proxmox lists content types in no stable order; pve-exporter sorts them so the label does
/// not change between scrapes, and so does this.
fn sorted_csv(v: &str) -> String {
    let mut parts: Vec<&str> = v.split(',').collect();
    parts.sort_unstable();
    parts.join(",")
}
