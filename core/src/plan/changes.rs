//! What a reload changes, in the words of the one line it logs.

use std::fmt;

use crate::config::Config;

/// Routes, upstreams and layers added, removed and changed between two
/// configs (by name; unnamed routes and layers by their place).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Names of routes added, removed, changed.
    pub routes: [Vec<String>; 3],
    /// Names of upstreams added, removed, changed.
    pub upstreams: [Vec<String>; 3],
    /// Names of named layers added, removed, changed (and `global chain`
    /// among the changed when the unnamed layers differ).
    pub middleware: [Vec<String>; 3],
    /// True when any other setting changed (timeouts, limits, `[http]`,
    /// `[client_ip]`).
    pub settings: bool,
}

fn diff<T: PartialEq>(old: &[T], new: &[T], name: impl Fn(&T) -> String) -> [Vec<String>; 3] {
    let find = |list: &[T], n: &str| list.iter().position(|x| name(x) == n);
    let added = new
        .iter()
        .filter(|x| find(old, &name(x)).is_none())
        .map(&name)
        .collect();
    let removed = old
        .iter()
        .filter(|x| find(new, &name(x)).is_none())
        .map(&name)
        .collect();
    let changed = new
        .iter()
        .filter(|x| find(old, &name(x)).is_some_and(|i| old[i] != **x))
        .map(&name)
        .collect();
    [added, removed, changed]
}

impl Changes {
    /// What differs from `old` to `new`.
    pub fn between(old: &Config, new: &Config) -> Changes {
        let layer_name = |l: &crate::config::LayerConfig| l.name.clone().unwrap_or_default();
        // Unnamed layers are compared as one global chain.
        let global = |c: &Config| {
            c.middleware
                .iter()
                .filter(|l| l.name.is_none())
                .cloned()
                .collect::<Vec<_>>()
        };
        let named = |c: &Config| {
            c.middleware
                .iter()
                .filter(|l| l.name.is_some())
                .cloned()
                .collect::<Vec<_>>()
        };
        let mut middleware = diff(&named(old), &named(new), layer_name);
        if global(old) != global(new) {
            middleware[2].push("global chain".into());
        }
        Changes {
            routes: diff(&old.routes, &new.routes, |r| r.name.clone()),
            upstreams: diff(&old.upstreams, &new.upstreams, |g| g.name.clone()),
            middleware,
            settings: old.timeouts != new.timeouts
                || old.limits != new.limits
                || old.paths != new.paths
                || old.client_ip != new.client_ip
                || old.error_pages != new.error_pages,
        }
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

impl fmt::Display for Changes {
    /// `routes +a -b ~c; upstreams ~api; settings changed`, or `no changes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return write!(f, "no changes");
        }
        let mut parts = Vec::new();
        for (what, [added, removed, changed]) in [
            ("routes", &self.routes),
            ("upstreams", &self.upstreams),
            ("middleware", &self.middleware),
        ] {
            let mut items: Vec<String> = Vec::new();
            items.extend(added.iter().map(|n| format!("+{n}")));
            items.extend(removed.iter().map(|n| format!("-{n}")));
            items.extend(changed.iter().map(|n| format!("~{n}")));
            if !items.is_empty() {
                parts.push(format!("{what} {}", items.join(" ")));
            }
        }
        if self.settings {
            parts.push("settings changed".into());
        }
        write!(f, "{}", parts.join("; "))
    }
}
