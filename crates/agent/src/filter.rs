//! Include / exclude lists of shell-style patterns (`*`, `?`), for mount points, file system
//! types, interfaces and devices.

/// Decides which names a collector reports: a name passes when it matches an include pattern
/// (or the include list is empty) and matches no exclude pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Self {
        Filter {
            include: include.to_vec(),
            exclude: exclude.to_vec(),
        }
    }

    pub fn allows(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| glob_match(p, name)))
            && !self.exclude.iter().any(|p| glob_match(p, name))
    }
}

/// Shell-style match of the whole `name`: `*` any run (also across `/`), `?` one character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    // Position of the last `*` and the name index it was tried at, for backtracking.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("veth*", "veth12ab"));
        assert!(glob_match("*", ""));
        assert!(glob_match("br-*", "br-3f2a"));
        assert!(!glob_match("br-*", "bridge0"));
        assert!(glob_match("sd?", "sda"));
        assert!(!glob_match("sd?", "sda1"));
        assert!(glob_match(
            "/var/lib/docker/*",
            "/var/lib/docker/overlay2/x/merged"
        ));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("lo", "lo"));
        assert!(!glob_match("lo", "lo0"));
    }

    #[test]
    fn include_then_exclude() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let f = Filter::new(&s(&["eth*", "en*"]), &s(&["eth9"]));
        assert!(f.allows("eth0"));
        assert!(f.allows("enp3s0"));
        assert!(!f.allows("eth9"));
        assert!(!f.allows("wlan0"));
        let all = Filter::new(&[], &s(&["lo"]));
        assert!(all.allows("wlan0"));
        assert!(!all.allows("lo"));
    }
}
