//! Many `oxpod` processes on one root at once: no daemon serialises them, the state database
//! and the layer lock must. Nothing may fail with "database is locked", and afterwards every
//! listed image must be complete on disk.

use std::sync::Mutex;

use crate::images::{self, TestImage};
use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::*;

/// Processes at once: pullers and taggers, plus collectors.
const WORKERS: usize = 8;
/// Of the workers, how many only run `rmi` of an unknown name, which still collects garbage:
/// layers and blobs no committed image uses, while the others pull.
const COLLECTORS: usize = 2;
const ROUNDS: usize = 6;

/// An outcome no concurrent schedule can excuse.
fn unexpected(args: &[&str], out: &std::process::Output, allowed: &[i32]) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    let lower = stderr.to_lowercase();
    // A non-zero status is only excused by the image being gone.
    let bad = code.is_none_or(|c| !allowed.contains(&c))
        || (code != Some(0) && !stderr.contains("image not known"))
        || lower.contains("database is locked")
        || lower.contains("database table is locked")
        || lower.contains("sqlite_busy")
        || stderr.contains("panicked");
    bad.then(|| format!("oxpod {args:?} -> {:?}\n{stderr}", out.status))
}

#[test]
fn concurrent_pull_tag_rmi_keep_the_store_consistent() {
    let reg = Registry::start();
    // All three share busybox's layer, so removals collect garbage next to pulls using it.
    let imgs: Vec<TestImage> = vec![
        images::busybox(&reg),
        images::multilayer(&reg),
        images::multiarch(&reg),
    ];
    let env = Oxpod::with_registry(&reg);
    let failures = Mutex::new(Vec::new());

    std::thread::scope(|s| {
        for worker in 0..WORKERS {
            let (env, imgs, failures) = (&env, &imgs, &failures);
            s.spawn(move || {
                let check = |args: &[&str], allowed: &[i32]| {
                    let out = env.run(args);
                    if let Some(f) = unexpected(args, &out, allowed) {
                        failures.lock().unwrap().push(f);
                    }
                    out
                };
                if worker < COLLECTORS {
                    for _ in 0..ROUNDS * 4 {
                        check(&["rmi", "--ignore", "nosuch"], &[0]);
                    }
                    return;
                }
                for round in 0..ROUNDS {
                    let img = &imgs[(worker + round) % imgs.len()];
                    let reference = img.reference();
                    let out = check(&["pull", "-q", &reference], &[0]);
                    if out.status.success() {
                        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                        if id != img.image_id() {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("pull {reference} printed {id:?}"));
                        }
                    }
                    // Another worker may remove the image between any two commands: "image
                    // not known" (1 from rmi, 125 elsewhere) is a fair answer, nothing else is.
                    let mine = format!("localhost/w{worker}:r{round}");
                    check(&["tag", &reference, &mine], &[0, 125]);
                    check(&["images", "--format", "json"], &[0]);
                    check(&["image", "inspect", &reference], &[0, 125]);
                    check(&["rmi", &mine], &[0, 1]);
                    if (worker + round) % 3 == 0 {
                        check(&["rmi", &reference], &[0, 1]);
                    }
                    // By ID with --force: the image goes with every name it has right now.
                    if (worker + round) % 4 == 0 {
                        check(&["rmi", "-f", img.image_id()], &[0, 1]);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} unexpected outcomes:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Every image listed is whole; no worker's tag survived its rmi.
    assert_images_complete(&env);
    for image in images_json(&env) {
        for tag in strings(&image["RepoTags"]) {
            assert!(!tag.starts_with("localhost/w"), "leftover tag {tag}");
        }
    }
    // And the store still works: pull everything again, then remove it all.
    for img in &imgs {
        assert_eq!(
            env.ok(&["pull", "-q", &img.reference()]).trim(),
            img.image_id()
        );
    }
    assert_images_complete(&env);
    assert_eq!(images_json(&env).len(), imgs.len());
    env.ok(&["rmi", "-a"]);
    assert_eq!(layer_diff_ids(&env), Vec::<String>::new());
    assert_eq!(blob_digests(&env), Vec::<String>::new());
}

/// The first commands on a new root race to create the database and switch it to WAL; none
/// may lose with "database is locked".
#[test]
fn concurrent_first_commands_on_a_fresh_root() {
    const ROOTS: usize = 16;
    const PROCESSES: usize = 12;
    let commands: [&[&str]; 3] = [
        &["images", "-q"],
        &["rmi", "-i", "nosuch"],
        &["image", "exists", "x"],
    ];
    let mut failures = Vec::new();
    for _ in 0..ROOTS {
        let env = Oxpod::new();
        let outputs: Vec<(Vec<&str>, std::process::Output)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..PROCESSES)
                .map(|i| {
                    let args = commands[i % commands.len()];
                    let env = &env;
                    s.spawn(move || (args.to_vec(), env.run(args)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (args, out) in outputs {
            let want = if args[1] == "exists" {
                &[1][..]
            } else {
                &[0][..]
            };
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.code().is_none_or(|c| !want.contains(&c)) || !stderr.is_empty() {
                failures.push(format!("oxpod {args:?} -> {:?}\n{stderr}", out.status));
            }
        }
        assert_eq!(env.ok(&["images", "-q"]), "");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
