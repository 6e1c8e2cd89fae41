//! The files packed beside the binary. They live under `deploy/` as plain files, so an admin
//! can read them in the repository, and are compiled into xtask so the archive always holds
//! the versions of this commit.

/// One file of the archive that comes from `deploy/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// Its path in the archive (below the top directory), also its path under `deploy/`.
    pub path: &'static str,
    /// Unix permission bits.
    pub mode: u32,
    /// The file's text.
    pub contents: &'static str,
}

/// The drop-in's path, below `systemd/`, in the archive and under `deploy/`.
pub const DROP_IN: &str = "systemd/attendance-client-fixed.service.d/memmon.conf";

/// Every template, in archive order (the binary `memmon` is added first, separately).
pub const TEMPLATES: &[Template] = &[
    Template {
        path: "install.sh",
        mode: 0o755,
        contents: include_str!("../../deploy/install.sh"),
    },
    Template {
        path: "README-pi.md",
        mode: 0o644,
        contents: include_str!("../../deploy/README-pi.md"),
    },
    Template {
        path: "client_config.json",
        mode: 0o644,
        contents: include_str!("../../deploy/client_config.json"),
    },
    Template {
        path: "systemd/memmon.service",
        mode: 0o644,
        contents: include_str!("../../deploy/systemd/memmon.service"),
    },
    Template {
        path: DROP_IN,
        mode: 0o644,
        contents: include_str!(
            "../../deploy/systemd/attendance-client-fixed.service.d/memmon.conf"
        ),
    },
    Template {
        path: "systemd/memmon-metrics.conf.example",
        mode: 0o644,
        contents: include_str!("../../deploy/systemd/memmon-metrics.conf.example"),
    },
    Template {
        path: "prometheus/memmon.rules.yml",
        mode: 0o644,
        contents: include_str!("../../deploy/prometheus/memmon.rules.yml"),
    },
    Template {
        path: "prometheus/scrape.yml",
        mode: 0o644,
        contents: include_str!("../../deploy/prometheus/scrape.yml"),
    },
];

/// The template at `path`.
#[cfg(test)]
pub fn get(path: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(path: &str) -> &'static str {
        get(path).unwrap().contents
    }

    /// Lines that are not comments or blank: what systemd reads.
    fn directives(unit: &str) -> Vec<&str> {
        unit.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect()
    }

    #[test]
    fn the_drop_in_sets_kill_mode_then_clears_and_sets_exec_start_and_nothing_else() {
        let d = directives(text(DROP_IN));
        // install.sh replaces the last line with the unit's own command under memmon; as
        // shipped it is the users' unit: `/bin/bash start_pi.sh` from the checkout, no path.
        assert_eq!(
            d,
            [
                "[Service]",
                "KillMode=mixed",
                "ExecStart=",
                "ExecStart=/usr/local/bin/memmon run --children -- /bin/bash start_pi.sh"
            ]
        );
        // The line install.sh looks for.
        assert!(text("install.sh").contains("\"ExecStart=/usr/local/bin/memmon run \""));
        insta::assert_snapshot!("drop_in", text(DROP_IN));
    }

    #[test]
    fn no_deploy_file_names_a_users_home() {
        // The drop-in worked at one checkout only while it named one.
        for t in TEMPLATES {
            assert!(
                !t.contents.contains("/home/raspberry/Desktop/attendance"),
                "{}",
                t.path
            );
        }
    }

    #[test]
    fn the_standalone_unit() {
        let unit = text("systemd/memmon.service");
        let d = directives(unit);
        assert!(
            d.iter()
                .any(|l| l.starts_with("ExecStart=/usr/local/bin/memmon run ")),
            "{d:?}"
        );
        assert!(d.contains(&"WantedBy=multi-user.target"));
        insta::assert_snapshot!("memmon_service", unit);
    }

    #[test]
    fn the_install_script() {
        let script = text("install.sh");
        assert!(script.starts_with("#!/bin/sh\n"));
        assert_eq!(get("install.sh").unwrap().mode, 0o755);
        insta::assert_snapshot!("install_sh", script);
    }

    #[test]
    fn the_sample_config_has_the_guides_block() {
        let config = text("client_config.json");
        for needle in [
            "\"server_url\": \"http://192.168.1.31:5000\"",
            "\"memory_monitor\": {",
            "\"enabled\": true",
            "\"interval\": 300",
            "\"tracemalloc\": false",
        ] {
            assert!(config.contains(needle), "{needle}");
        }
    }

    #[test]
    fn the_readme_says_how_to_switch_monitoring_off() {
        let readme = text("README-pi.md");
        assert!(readme.contains("\"enabled\": false"));
        assert!(readme.contains("sudo sh install.sh --uninstall"));
        // Every file of the archive is described.
        for t in TEMPLATES {
            assert!(readme.contains(&format!("`{}`", t.path)), "{}", t.path);
        }
    }
}
