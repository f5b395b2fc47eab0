//! Small helpers shared by the end-to-end tests of the image commands: JSON output, the shape
//! of error messages, and what the store looks like on disk.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::images::sha256_digest;
use crate::oxpod::Oxpod;

/// Parses a command's stdout as JSON.
pub fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// `images --format json`, as an array.
pub fn images_json(env: &Oxpod) -> Vec<Value> {
    match json(&env.ok(&["images", "--format", "json"])) {
        Value::Array(images) => images,
        other => panic!("images --format json is not an array: {other}"),
    }
}

/// `image inspect NAME`, the one object of the array.
pub fn inspect(env: &Oxpod, name: &str) -> Value {
    let mut all = match json(&env.ok(&["image", "inspect", name])) {
        Value::Array(all) => all,
        other => panic!("image inspect is not an array: {other}"),
    };
    assert_eq!(all.len(), 1, "image inspect {name}: {all:?}");
    all.remove(0)
}

/// A JSON array of strings as a `Vec<String>`; `null` is empty.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|s| {
                s.as_str()
                    .unwrap_or_else(|| panic!("not a string: {s}"))
                    .to_owned()
            })
            .collect(),
        other => panic!("not an array: {other}"),
    }
}

/// `images -q` as a list of short IDs.
pub fn image_ids(env: &Oxpod) -> Vec<String> {
    env.ok(&["images", "-q"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Non-empty lines of a command's output.
pub fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// Asserts that `stderr` is what a user should see when a command fails: progress lines at
/// most, then exactly one `Error: ...` line (optionally followed by a `help:` line) containing
/// every needle (case-insensitively), and nothing that looks like a crash.
pub fn assert_clean_error(stderr: &str, needles: &[&str]) {
    for crash in [
        "panicked",
        "RUST_BACKTRACE",
        "stack backtrace",
        "thread 'main'",
    ] {
        assert!(!stderr.contains(crash), "looks like a crash:\n{stderr}");
    }
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("Error: "))
        .collect();
    assert_eq!(errors.len(), 1, "want exactly one `Error:` line:\n{stderr}");
    let error = errors[0].to_lowercase();
    for needle in needles {
        assert!(
            error.contains(&needle.to_lowercase()),
            "error line does not mention {needle:?}:\n{stderr}"
        );
    }
    for line in stderr.lines() {
        let progress = ["Trying to pull ", "Copying blob ", "Writing manifest "]
            .iter()
            .any(|p| line.starts_with(p));
        assert!(
            progress || line.starts_with("Error: ") || line.starts_with("  help: "),
            "unexpected stderr line {line:?}:\n{stderr}"
        );
    }
}

/// Asserts a command failed with Podman's exit status for engine errors (125) and a clean
/// one-line error mentioning every needle; returns stderr.
pub fn fails_cleanly(env: &Oxpod, args: &[&str], needles: &[&str]) -> String {
    let (code, stderr) = env.fails(args);
    assert_eq!(code, 125, "oxpod {args:?}: exit {code}\n{stderr}");
    assert_clean_error(&stderr, needles);
    stderr
}

/// Names in a directory, sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn blobs_dir(env: &Oxpod) -> PathBuf {
    env.root().join("blobs/sha256")
}

pub fn layers_dir(env: &Oxpod) -> PathBuf {
    env.root().join("layers")
}

/// `<root>/layers/<hex>` for a `sha256:<hex>` diff-id.
pub fn layer_dir(env: &Oxpod, diff_id: &str) -> PathBuf {
    layers_dir(env).join(diff_id.trim_start_matches("sha256:"))
}

/// The unpacked layer directories (by `sha256:` diff-id), without lock files.
pub fn layer_diff_ids(env: &Oxpod) -> Vec<String> {
    dir_names(&layers_dir(env))
        .into_iter()
        .filter(|n| n != "layers.lock")
        .map(|n| format!("sha256:{n}"))
        .collect()
}

/// The blobs in the store (by `sha256:` digest).
pub fn blob_digests(env: &Oxpod) -> Vec<String> {
    dir_names(&blobs_dir(env))
        .into_iter()
        .map(|n| format!("sha256:{n}"))
        .collect()
}

fn is_hex64(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The store holds nothing half-made: every blob is named by the digest of its content, and
/// `layers/` has only the lock file and directories named by a digest (no temporary files or
/// directories, which a failed or killed pull could leave).
pub fn assert_store_consistent(env: &Oxpod) {
    for name in dir_names(&blobs_dir(env)) {
        assert!(is_hex64(&name), "stray entry {name:?} in blobs/sha256");
        let path = blobs_dir(env).join(&name);
        let data = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        assert_eq!(
            sha256_digest(&data),
            format!("sha256:{name}"),
            "blob {name} does not match its digest"
        );
    }
    for name in dir_names(&layers_dir(env)) {
        if name == "layers.lock" {
            continue;
        }
        assert!(is_hex64(&name), "stray entry {name:?} in layers/");
        assert!(
            layers_dir(env).join(&name).is_dir(),
            "layers/{name} is not a directory"
        );
    }
}

/// Every image `images` lists has every layer directory its `inspect` names, and its config
/// blob; the store is otherwise [consistent](assert_store_consistent).
pub fn assert_images_complete(env: &Oxpod) {
    assert_store_consistent(env);
    for image in images_json(env) {
        let id = image["Id"].as_str().expect("Id").to_owned();
        let info = inspect(env, &id);
        for diff_id in strings(&info["RootFS"]["Layers"]) {
            assert!(
                layer_dir(env, &diff_id).is_dir(),
                "image {id} lists layer {diff_id}, which is not unpacked"
            );
        }
        assert!(
            blobs_dir(env).join(&id).is_file(),
            "image {id} has no config blob"
        );
    }
}

/// Lower directories for an overlay mount of `diff_ids` (bottom first): top layer first.
pub fn lowerdir(env: &Oxpod, diff_ids: &[String]) -> String {
    diff_ids
        .iter()
        .rev()
        .map(|d| layer_dir(env, d).display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// A unique name under /tmp that nothing else uses, for escape checks.
pub fn unique_tmp_path(tag: &str) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix(&format!("oxpod-it-{tag}."))
        .tempdir()
        .expect("temp dir");
    let path = dir.path().to_owned();
    drop(dir);
    path
}
