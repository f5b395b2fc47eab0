//! `rmi` and `image prune` against images that containers use, as Podman: refused (exit 2,
//! naming the containers), or with `-f` the containers go first.

use crate::images;
use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::{assert_clean_error, image_ids, lines};

#[test]
fn rmi_refuses_an_image_in_use_and_force_removes_its_containers() {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &img.reference()]);
    env.ok(&["create", "--name", "idle", &img.reference(), "true"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        &img.reference(),
        "sleep",
        "1000",
    ]);

    let (code, stderr) = env.fails(&["rmi", &img.reference()]);
    assert_eq!(code, 2, "{stderr}");
    assert_clean_error(&stderr, &["in use", "busy", "idle"]);
    let (code, stderr) = env.fails(&["rmi", img.image_id()]);
    assert_eq!(code, 2, "{stderr}");
    assert_clean_error(&stderr, &["busy", "idle"]);
    let (code, _) = env.fails(&["rmi", "--all"]);
    assert_eq!(code, 2);
    assert_eq!(image_ids(&env).len(), 1, "the image is still there");

    // Untagging one of several names deletes nothing, so it is allowed.
    env.ok(&["tag", &img.reference(), "localhost/other:1"]);
    assert_eq!(
        env.ok(&["rmi", "localhost/other:1"]),
        "Untagged: localhost/other:1\n"
    );

    // `image prune -a` leaves images in use alone.
    env.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(image_ids(&env).len(), 1);

    let out = env.ok(&["rmi", "-f", &img.reference()]);
    assert!(
        out.contains(&format!("Deleted: {}", img.image_id())),
        "{out}"
    );
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(image_ids(&env), Vec::<String>::new());
    // Nothing of the containers is left on disk, and no process of theirs runs.
    let containers = env.root().join("containers");
    let left: Vec<_> = std::fs::read_dir(&containers)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "left in {}: {left:?}",
        containers.display()
    );
}

#[test]
fn image_prune_skips_used_images_and_removes_the_rest() {
    let reg = Registry::start();
    let used = images::busybox(&reg);
    let spare = images::multilayer(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &used.reference()]);
    env.ok(&["pull", "-q", &spare.reference()]);
    env.ok(&["create", "--name", "holder", &used.reference(), "true"]);

    let out = env.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(lines(&out), [spare.image_id()]);
    let left = image_ids(&env);
    assert_eq!(left.len(), 1);
    assert!(used.image_id().starts_with(&left[0]), "{left:?}");

    // Once its container is gone, the image is unused.
    env.ok(&["rm", "holder"]);
    let out = env.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(lines(&out), [used.image_id()]);
    assert_eq!(image_ids(&env), Vec::<String>::new());
}
