//! `diff OLD.toml NEW.toml TRAFFIC...`: the command line around
//! [`weir_core::sim::diff`].

use std::path::{Path, PathBuf};

use weir_core::sim::diff;

/// `diff`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The config in force.
    #[arg(value_name = "OLD.toml")]
    pub old: PathBuf,
    /// The config to compare it with.
    #[arg(value_name = "NEW.toml")]
    pub new: PathBuf,
    /// Recorded client bytes: files, or directories whose files are all
    /// read (in name order).
    #[arg(value_name = "TRAFFIC", required = true)]
    pub traffic: Vec<PathBuf>,
}

/// The traffic files named, directories expanded, each read whole.
fn traffic(paths: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(p.clone());
        }
    }
    files
        .iter()
        .map(|f| {
            std::fs::read(f)
                .map(|b| (f.display().to_string(), b))
                .map_err(|e| format!("cannot read {}: {e}", f.display()))
        })
        .collect()
}

fn config(name: &str, path: &Path) -> Result<weir_core::Config, i32> {
    crate::cli::load(path).map_err(|errs| {
        for e in &errs {
            eprintln!("{name}: {e}");
        }
        2
    })
}

/// Runs `diff`; exit 0 when no request changes, 1 when some do, 2 for
/// bad input.
pub fn run(name: &str, args: &Args) -> i32 {
    let (old, new) = match (config(name, &args.old), config(name, &args.new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let traffic = match traffic(&args.traffic) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{name}: diff: {e}");
            return 2;
        }
    };
    let (changed, total) = diff::compare(old, new, &traffic, std::time::Instant::now());
    print!("{}", diff::render(&changed, total));
    i32::from(!changed.is_empty())
}
