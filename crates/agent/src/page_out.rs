//! Hands the executable's pages back to the kernel once the agent has started.
//!
//! Most of a resident agent is its own code, not its data: start-up touches code that never
//! runs again (argument and config parsing, every sink's and collector's set-up, TLS), and the
//! kernel maps whole neighbourhoods of a faulting page. Those pages stay resident for the life
//! of the process. `MADV_PAGEOUT` (Linux 5.4) reclaims them: pages only this process maps are
//! dropped from memory, and whatever the steady loop still runs is faulted back in on its next
//! tick, from the page cache or the file. On the development machine that takes the agent's
//! resident set from 7.7 to about 5 MiB (docs/performance.md).
//!
//! Only read-only mappings of the executable are advised: their contents are the file's, so
//! reclaiming them can never change what the program reads or runs.

use std::io;
use std::path::PathBuf;

/// Pages out every read-only mapping of this process's executable; the bytes advised.
pub fn executable() -> io::Result<usize> {
    let me = procfs::process::Process::myself().map_err(io::Error::other)?;
    let exe = me.exe().map_err(io::Error::other)?;
    let maps = me.maps().map_err(io::Error::other)?;
    let mut advised = 0;
    for map in maps {
        let procfs::process::MMapPath::Path(path) = &map.pathname else {
            continue;
        };
        if !same_file(path, &exe) || map.perms.contains(procfs::process::MMPermissions::WRITE) {
            continue;
        }
        let (start, end) = map.address;
        let len = usize::try_from(end - start).map_err(io::Error::other)?;
        advise_page_out(start as usize, len)?;
        advised += len;
    }
    Ok(advised)
}

/// Whether a mapping's path names the executable; a binary replaced by an upgrade while the
/// agent runs shows as `… (deleted)` in both.
fn same_file(mapped: &std::path::Path, exe: &std::path::Path) -> bool {
    let strip = |p: &std::path::Path| -> PathBuf {
        let text = p.to_string_lossy();
        PathBuf::from(text.strip_suffix(" (deleted)").unwrap_or(&text))
    };
    strip(mapped) == strip(exe)
}

#[allow(unsafe_code)]
fn advise_page_out(start: usize, len: usize) -> io::Result<()> {
    // SAFETY: `start..start + len` is a whole mapping of this process (from /proc/self/maps),
    // and MADV_PAGEOUT only reclaims pages: a read-only file mapping reads the same bytes
    // from the file when touched again, so no memory this program can see changes.
    unsafe {
        rustix::mm::madvise(
            start as *mut std::ffi::c_void,
            len,
            rustix::mm::Advice::LinuxPageOut,
        )
    }
    .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_file_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("RssFile:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .expect("RssFile in /proc/self/status")
    }

    #[test]
    fn the_executables_pages_are_released_and_the_program_runs_on() {
        let before = rss_file_kib();
        let advised = executable().unwrap();
        assert!(advised > 0, "the test binary's own mappings were found");
        let after = rss_file_kib();
        assert!(
            after < before,
            "file-backed resident memory fell: {before} kB before, {after} kB after"
        );
        // The code paged out runs again (faulted back in): formatting and parsing still work.
        assert_eq!(
            format!("{:?}", vec![1, 2]).parse::<String>().unwrap(),
            "[1, 2]"
        );
    }

    #[test]
    fn a_replaced_binary_still_matches_its_mappings() {
        let exe = std::path::Path::new("/usr/bin/hostwatch (deleted)");
        assert!(same_file(exe, std::path::Path::new("/usr/bin/hostwatch")));
        assert!(same_file(exe, exe));
        assert!(!same_file(exe, std::path::Path::new("/usr/lib/libc.so.6")));
    }
}
