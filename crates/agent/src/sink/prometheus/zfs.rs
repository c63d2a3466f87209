//! ZFS pools and datasets. The pool state is node_exporter's `node_zfs_zpool_state{zpool,state}`
//! (its zfs collector reads the same state from /proc/spl/kstat/zfs/<pool>/state), so alerts
//! written for it keep working; node_exporter has no space, error or scrub figures for pools,
//! so those are `hostwatch_zfs_*`, labelled `zpool` like node_exporter's.

use super::rows::{Labels, Rows, unix_seconds};
use crate::sink::exposition::{Exposition, Kind};
use hostwatch_proto::sections::{Zfs, ZfsDatasets, ZfsPool, ZfsScan, ZfsVdev};

/// node_exporter's list of pool states (`zfsPoolStatesName`), in its order.
const POOL_STATES: [&str; 7] = [
    "online",
    "degraded",
    "faulted",
    "offline",
    "removed",
    "unavail",
    "suspended",
];

/// A vdev's states (OpenZFS `vdev_state_t` as `zpool status` names them; a pool's
/// `suspended` is not one of them), and a spare's.
const VDEV_STATES: [&str; 8] = [
    "online", "degraded", "faulted", "offline", "removed", "unavail", "avail", "inuse",
];

const SCAN_STATES: [&str; 4] = ["scanning", "finished", "canceled", "none"];

pub(super) fn pools(e: &mut Exposition, z: &Zfs) {
    let pools = Rows::new(&z.pools, |p| vec![("zpool", p.name.clone())]);
    pools.state_set(
        e,
        "node_zfs_zpool_state",
        "Pool state: 1 for the current one, 0 for the others.",
        &POOL_STATES,
        |p| Some(p.state.as_str()),
    );
    type Get = fn(&ZfsPool) -> Option<f64>;
    let families: [(&str, &str, Get); 5] = [
        ("hostwatch_zfs_pool_size_bytes", "Pool size.", |p| {
            p.size_bytes.map(|v| v as f64)
        }),
        (
            "hostwatch_zfs_pool_allocated_bytes",
            "Space allocated in the pool.",
            |p| p.allocated_bytes.map(|v| v as f64),
        ),
        (
            "hostwatch_zfs_pool_free_bytes",
            "Free space in the pool.",
            |p| p.free_bytes.map(|v| v as f64),
        ),
        (
            "hostwatch_zfs_pool_capacity_pct",
            "Space allocated, percent of the pool's size.",
            |p| p.capacity_pct,
        ),
        (
            "hostwatch_zfs_pool_fragmentation_pct",
            "Free-space fragmentation, percent.",
            |p| p.fragmentation_pct,
        ),
    ];
    for (name, help, get) in families {
        pools.family(e, name, Kind::Gauge, help, get);
    }
    pools.family_by(
        e,
        "hostwatch_zfs_pool_errors",
        Kind::Gauge,
        "Read, write and checksum errors of the pool row since import or `zpool clear`.",
        "type",
        |p| errors(p.read_errors, p.write_errors, p.checksum_errors),
    );
    pools.family(
        e,
        "hostwatch_zfs_pool_data_errors",
        Kind::Gauge,
        "Data errors (files with permanent errors) the pool knows of.",
        |p| Some(p.data_errors as f64),
    );
    pools.family(
        e,
        "hostwatch_zfs_pool_problems",
        Kind::Gauge,
        "Problems found with the pool (state, vdev errors, data errors, scrub errors); 0 when healthy.",
        |p| Some(p.problems.len() as f64),
    );

    let mut vdev_rows = Vec::new();
    for p in &z.pools {
        flatten(&p.name, &p.vdevs, &mut vdev_rows);
    }
    let vdevs = Rows::from_rows(vdev_rows);
    vdevs.state_set(
        e,
        "hostwatch_zfs_vdev_state",
        "Vdev state: 1 for the current one, 0 for the others.",
        &VDEV_STATES,
        |v| Some(v.state.as_str()),
    );
    vdevs.family_by(
        e,
        "hostwatch_zfs_vdev_errors",
        Kind::Gauge,
        "Read, write and checksum errors of a vdev since import or `zpool clear`.",
        "type",
        |v| errors(v.read_errors, v.write_errors, v.checksum_errors),
    );

    let scans = Rows::from_rows(z.pools.iter().filter_map(|p| {
        let scan = p.scan.as_ref()?;
        Some((scan, scan_labels(p, scan)))
    }));
    scans.state_set(
        e,
        "hostwatch_zfs_scan_state",
        "The last or running scrub / resilver: 1 for its state, 0 for the others.",
        &SCAN_STATES,
        |s| Some(s.state.as_str()),
    );
    type GetScan = fn(&ZfsScan) -> Option<f64>;
    let scan_families: [(&str, &str, GetScan); 4] = [
        (
            "hostwatch_zfs_scan_start_timestamp_seconds",
            "When the last or running scan started, unix seconds.",
            |s| s.start_ms.map(unix_seconds),
        ),
        (
            "hostwatch_zfs_scan_end_timestamp_seconds",
            "When the last scan finished or was canceled, unix seconds.",
            |s| s.end_ms.map(unix_seconds),
        ),
        (
            "hostwatch_zfs_scan_errors",
            "Errors the last or running scan found.",
            |s| s.errors.map(|v| v as f64),
        ),
        (
            "hostwatch_zfs_scan_progress_pct",
            "How far a running scan is, percent.",
            |s| s.progress_pct,
        ),
    ];
    for (name, help, get) in scan_families {
        scans.family(e, name, Kind::Gauge, help, get);
    }
}

pub(super) fn datasets(e: &mut Exposition, d: &ZfsDatasets) {
    // node_exporter labels its per-dataset figures {zpool, dataset}, with the full name.
    let rows = Rows::new(&d.datasets, |ds| {
        let pool = ds.name.split('/').next().unwrap_or_default();
        vec![("zpool", pool.to_string()), ("dataset", ds.name.clone())]
    });
    rows.family(
        e,
        "hostwatch_zfs_dataset_used_bytes",
        Kind::Gauge,
        "Space the dataset and its descendants use.",
        |ds| Some(ds.used_bytes as f64),
    );
    rows.family(
        e,
        "hostwatch_zfs_dataset_available_bytes",
        Kind::Gauge,
        "Space available to the dataset.",
        |ds| Some(ds.available_bytes as f64),
    );
    rows.family(
        e,
        "hostwatch_zfs_dataset_compression_ratio",
        Kind::Gauge,
        "ZFS compressratio: logical over physical size (1.39 for 1.39x).",
        |ds| ds.compress_ratio,
    );
}

fn errors(read: u64, write: u64, checksum: u64) -> Vec<(&'static str, f64)> {
    vec![
        ("read", read as f64),
        ("write", write as f64),
        ("checksum", checksum as f64),
    ]
}

/// Every vdev of a pool, depth first. The class tells a spare's two appearances apart (inside
/// the `spare-0` vdev it replaces in, and in the spares list).
fn flatten<'a>(pool: &str, vdevs: &'a [ZfsVdev], out: &mut Vec<(&'a ZfsVdev, Labels)>) {
    for v in vdevs {
        out.push((
            v,
            vec![
                ("zpool", pool.to_string()),
                ("class", v.class.clone()),
                ("vdev", v.name.clone()),
            ],
        ));
        flatten(pool, &v.children, out);
    }
}

fn scan_labels(p: &ZfsPool, s: &ZfsScan) -> Labels {
    vec![("zpool", p.name.clone()), ("function", s.function.clone())]
}
