//! Transfer progress: a bar per blob on a terminal, Podman-like lines otherwise, nothing
//! with `--quiet`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::engine::{TransferEvent, TransferProgress};

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..12.min(hex.len())]
}

/// Progress on stderr.
pub enum Progress {
    Quiet,
    Lines,
    Bars {
        multi: MultiProgress,
        bars: Mutex<HashMap<String, ProgressBar>>,
    },
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Bars {
                multi: MultiProgress::new(),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Progress::Lines
        }
    }
}

impl TransferProgress for Progress {
    fn event(&self, event: TransferEvent<'_>) {
        match self {
            Progress::Quiet => {}
            Progress::Lines => match event {
                TransferEvent::Trying(name) => eprintln!("Trying to pull {name}..."),
                TransferEvent::BlobDone {
                    digest,
                    skipped: true,
                } => {
                    eprintln!("Copying blob {} skipped: already exists", short(digest))
                }
                TransferEvent::BlobDone {
                    digest,
                    skipped: false,
                } => eprintln!("Copying blob {} done", short(digest)),
                TransferEvent::WritingManifest => {
                    eprintln!("Writing manifest to image destination")
                }
                _ => {}
            },
            Progress::Bars { multi, bars } => {
                let mut bars = bars.lock().unwrap_or_else(|e| e.into_inner());
                match event {
                    TransferEvent::Trying(name) => {
                        let _ = multi.println(format!("Trying to pull {name}..."));
                    }
                    TransferEvent::BlobStart { digest, size } => {
                        let bar = multi.add(ProgressBar::new(size));
                        bar.set_style(
                            ProgressStyle::with_template(
                                "Copying blob {msg} [{bar:30}] {bytes}/{total_bytes}",
                            )
                            .expect("static template")
                            .progress_chars("=> "),
                        );
                        bar.set_message(short(digest).to_string());
                        bars.insert(digest.to_string(), bar);
                    }
                    TransferEvent::BlobProgress { digest, bytes } => {
                        if let Some(bar) = bars.get(digest) {
                            bar.inc(bytes);
                        }
                    }
                    TransferEvent::BlobDone { digest, skipped } => match bars.remove(digest) {
                        Some(bar) => bar.finish_with_message(format!("{} done", short(digest))),
                        None if skipped => {
                            let _ = multi.println(format!(
                                "Copying blob {} skipped: already exists",
                                short(digest)
                            ));
                        }
                        None => {}
                    },
                    TransferEvent::WritingManifest => {
                        let _ = multi.println("Writing manifest to image destination");
                    }
                }
            }
        }
    }
}
