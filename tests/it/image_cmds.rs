//! Local image commands: `images` (table, JSON, filters, templates), `image inspect`,
//! `image history`, `image exists`, `tag`, `rmi` and `image prune`, with garbage collection of
//! layers and blobs.

use serde_json::json;

use crate::images::{self, Compression, ImageBuilder, LayerBuilder, TestImage, host_arch};
use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::*;

/// A small image with labels, on top of busybox.
fn labelled(reg: &Registry) -> TestImage {
    let layer = LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/role", 0o644, b"web\n")
        .build(Compression::Gzip);
    let image = ImageBuilder::new()
        .layer(images::busybox_layer(), "oxpod-it: busybox")
        .layer(layer, "oxpod-it: role file")
        .config(
            "Labels",
            json!({"com.example.role": "web", "tier": "front"}),
        )
        .entrypoint(&["/bin/sh", "-c"])
        .cmd(&["echo hi"])
        .build();
    images::push_image(reg, &image, "apps/web", "1.0")
}

fn short(id: &str) -> &str {
    &id[..12]
}

/// busybox, multilayer and a labelled image, pulled into one store.
fn three_images() -> (Registry, Oxpod, [TestImage; 3]) {
    let reg = Registry::start();
    let bb = images::busybox(&reg);
    let ml = images::multilayer(&reg);
    let web = labelled(&reg);
    let env = Oxpod::with_registry(&reg);
    for img in [&bb, &ml, &web] {
        assert_eq!(
            env.ok(&["pull", "-q", &img.reference()]).trim(),
            img.image_id()
        );
    }
    (reg, env, [bb, ml, web])
}

#[test]
fn images_table_quiet_digests_and_templates() {
    let (reg, env, [bb, ml, web]) = three_images();
    let addr = reg.addr();

    let table = env.ok(&["images"]);
    let rows = lines(&table);
    assert_eq!(rows.len(), 4, "{table}");
    let header: Vec<&str> = rows[0]
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    for (img, repo, tag) in [
        (&bb, "busybox", "latest"),
        (&ml, "multilayer", "latest"),
        (&web, "apps/web", "1.0"),
    ] {
        let row = rows
            .iter()
            .find(|r| r.contains(short(img.image_id())))
            .unwrap_or_else(|| panic!("no row for {repo}:\n{table}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[0], format!("{addr}/{repo}"), "{row}");
        assert_eq!(cells[1], tag, "{row}");
        assert_eq!(cells[2], short(img.image_id()), "{row}");
    }
    // Newest first: the last pull is the first row.
    assert!(rows[1].contains(short(web.image_id())), "{table}");

    let noheading = env.ok(&["images", "--noheading"]);
    assert_eq!(
        lines(&noheading),
        rows[1..],
        "--noheading drops only the header"
    );

    let mut quiet = image_ids(&env);
    quiet.sort();
    let mut want: Vec<String> = [&bb, &ml, &web]
        .iter()
        .map(|i| short(i.image_id()).to_owned())
        .collect();
    want.sort();
    assert_eq!(quiet, want);

    let no_trunc = env.ok(&["images", "-q", "--no-trunc"]);
    assert!(
        no_trunc.contains(&format!("sha256:{}", bb.image_id())),
        "{no_trunc}"
    );

    let digests = env.ok(&["images", "--digests"]);
    assert!(lines(&digests)[0].contains("DIGEST"), "{digests}");
    for img in [&bb, &ml, &web] {
        let row = lines(&digests)
            .into_iter()
            .find(|r| r.contains(short(img.image_id())))
            .unwrap();
        assert!(row.contains(&img.manifest_digest), "{row}");
    }

    let names = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<&str> = lines(&names);
    names.sort();
    let mut want = vec![bb.reference(), ml.reference(), web.reference()];
    want.sort();
    assert_eq!(names, want);

    let table = env.ok(&["images", "--format", "table {{.ID}} {{.Tag}}"]);
    assert_eq!(lines(&table)[0], "ID TAG");
    let (code, stderr) = env.fails(&["images", "--format", "{{.Nope}}"]);
    assert_eq!(code, 125);
    assert_clean_error(&stderr, &["Nope"]);
}

#[test]
fn images_json_reports_ids_names_digests_and_labels() {
    let (reg, env, [bb, ml, web]) = three_images();
    let listed = images_json(&env);
    assert_eq!(listed.len(), 3);
    for img in [&bb, &ml, &web] {
        let entry = listed
            .iter()
            .find(|e| e["Id"] == img.image_id())
            .unwrap_or_else(|| panic!("{} missing from {listed:?}", img.image_id()));
        assert_eq!(strings(&entry["RepoTags"]), [img.reference()]);
        assert_eq!(
            strings(&entry["RepoDigests"]),
            [format!(
                "{}/{}@{}",
                reg.addr(),
                img.repo,
                img.manifest_digest
            )]
        );
        assert_eq!(entry["Digest"], img.manifest_digest.as_str());
        assert_eq!(entry["Dangling"], false);
        assert_eq!(entry["CreatedAt"], images::CREATED);
        assert!(entry["Size"].as_u64().unwrap() > 1_000_000, "{entry}");
    }
    let entry = listed.iter().find(|e| e["Id"] == web.image_id()).unwrap();
    assert_eq!(
        entry["Labels"],
        json!({"com.example.role": "web", "tier": "front"})
    );
}

#[test]
fn images_filters() {
    let (reg, env, [bb, ml, web]) = three_images();
    let ids = |filters: &[&str]| -> Vec<String> {
        let mut args = vec!["images", "-q"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        let mut ids: Vec<String> = lines(&env.ok(&args))
            .into_iter()
            .map(str::to_owned)
            .collect();
        ids.sort();
        ids
    };
    let id = |img: &TestImage| short(img.image_id()).to_owned();

    assert_eq!(ids(&["reference=busybox"]), [id(&bb)]);
    assert_eq!(ids(&["reference=apps/*"]), [id(&web)]);
    assert_eq!(
        ids(&[&format!("reference={}/multilayer:latest", reg.addr())]),
        [id(&ml)]
    );
    assert_eq!(ids(&["reference=nothing*"]), Vec::<String>::new());
    // The positional argument is a reference filter.
    assert_eq!(lines(&env.ok(&["images", "-q", "multilayer"])), [id(&ml)]);

    assert_eq!(ids(&["label=tier"]), [id(&web)]);
    assert_eq!(ids(&["label=com.example.role=web"]), [id(&web)]);
    assert_eq!(ids(&["label=com.example.role=db"]), Vec::<String>::new());
    assert_eq!(ids(&["dangling=true"]), Vec::<String>::new());
    let mut all = vec![id(&bb), id(&ml), id(&web)];
    all.sort();
    assert_eq!(ids(&["dangling=false"]), all);
    // Several filters must all hold.
    assert_eq!(
        ids(&["label=tier", "reference=busybox"]),
        Vec::<String>::new()
    );

    let (code, stderr) = env.fails(&["images", "--filter", "colour=blue"]);
    assert_eq!(code, 125);
    assert_clean_error(&stderr, &["colour"]);
    let (code, stderr) = env.fails(&["images", "--filter", "dangling=maybe"]);
    assert_eq!(code, 125);
    assert_clean_error(&stderr, &["dangling"]);
}

#[test]
fn image_inspect_history_and_exists() {
    let (_reg, env, [bb, ml, web]) = three_images();

    let info = inspect(&env, "apps/web:1.0");
    assert_eq!(info["Id"], web.image_id());
    assert_eq!(strings(&info["RepoTags"]), [web.reference()]);
    assert_eq!(strings(&info["RootFS"]["Layers"]), web.layer_diff_ids);
    assert_eq!(info["Architecture"], host_arch());
    assert_eq!(info["Os"], "linux");
    assert_eq!(strings(&info["Config"]["Cmd"]), ["echo hi"]);
    assert_eq!(strings(&info["Config"]["Entrypoint"]), ["/bin/sh", "-c"]);
    assert_eq!(info["Labels"]["tier"], "front");
    // By ID, short ID and sha256:ID as well.
    for name in [
        web.image_id(),
        short(web.image_id()),
        &format!("sha256:{}", web.image_id()),
    ] {
        assert_eq!(inspect(&env, name)["Id"], web.image_id(), "inspect {name}");
    }
    let ml_info = inspect(&env, &ml.reference());
    assert_eq!(strings(&ml_info["RootFS"]["Layers"]), ml.layer_diff_ids);
    assert_eq!(strings(&ml_info["Config"]["Cmd"]), ["sh"]);

    let tmpl = env.ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.Architecture}}",
        "busybox",
    ]);
    assert_eq!(tmpl, format!("{} {}\n", bb.image_id(), host_arch()));

    // One unknown name among known ones: the rest are still shown, the exit status says so.
    let out = env.run(&["image", "inspect", "busybox", "nosuch"]);
    assert_eq!(out.status.code(), Some(125));
    let shown = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(shown.as_array().unwrap().len(), 1);
    assert_clean_error(&String::from_utf8_lossy(&out.stderr), &["nosuch"]);

    // History: newest first, the image ID on the top row, one row per history entry.
    let history = env.ok(&["image", "history", "apps/web:1.0"]);
    let rows = lines(&history);
    assert!(rows[0].starts_with("ID"), "{history}");
    assert!(rows[0].contains("CREATED BY"), "{history}");
    // Two layers, Labels, Entrypoint and Cmd.
    assert_eq!(rows.len(), 1 + 5, "{history}");
    assert!(rows[1].starts_with(short(web.image_id())), "{history}");
    assert!(rows[1].contains("Cmd"), "{history}");
    assert!(rows[5].contains("oxpod-it: busybox"), "{history}");
    assert!(
        rows[2..].iter().all(|r| r.starts_with("<missing>")),
        "{history}"
    );
    let entries = json(&env.ok(&["image", "history", "--format", "json", "busybox"]));
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["id"], bb.image_id());
    assert_eq!(entries[0]["size"], 0);
    assert_eq!(entries[1]["created_by"], "oxpod-it: busybox");
    assert!(entries[1]["size"].as_u64().unwrap() > 1_000_000);
    let quiet = env.ok(&["image", "history", "-q", "busybox"]);
    assert_eq!(lines(&quiet), [short(bb.image_id()), "<missing>"]);

    for name in [
        "busybox",
        "apps/web:1.0",
        &ml.reference(),
        short(bb.image_id()),
    ] {
        let out = env.run(&["image", "exists", name]);
        assert_eq!(out.status.code(), Some(0), "image exists {name}: {out:?}");
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    }
    for name in ["nosuch", "busybox:other", "apps/web:2.0"] {
        let out = env.run(&["image", "exists", name]);
        assert_eq!(out.status.code(), Some(1), "image exists {name}: {out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
    }
    fails_cleanly(
        &env,
        &["image", "history", "nosuch"],
        &["nosuch", "image not known"],
    );
}

#[test]
fn tag_then_rmi_untags_by_name_and_refuses_ids_with_several_names() {
    let reg = Registry::start();
    let bb = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", "busybox"]);
    let id = bb.image_id();

    let other = format!("{}/copies/bb:v1", reg.addr());
    assert_eq!(env.ok(&["tag", "busybox", "mine:1", &other]), "");
    let info = inspect(&env, "busybox");
    assert_eq!(
        strings(&info["RepoTags"]),
        [bb.reference(), "localhost/mine:1".to_owned(), other.clone()]
    );
    assert_eq!(inspect(&env, "mine:1")["Id"], id);
    fails_cleanly(&env, &["tag", "busybox", "Bad/Name"], &["lowercase"]);
    fails_cleanly(&env, &["tag", "nosuch", "x:1"], &["nosuch"]);

    // By ID with several names: refused (exit 2), nothing removed.
    let out = env.run(&["rmi", short(id)]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_clean_error(&stderr, &["3 names", "--force"]);
    assert_eq!(strings(&inspect(&env, id)["RepoTags"]).len(), 3);

    // By name: only that name goes.
    assert_eq!(env.ok(&["rmi", "mine:1"]), "Untagged: localhost/mine:1\n");
    assert_eq!(
        env.run(&["image", "exists", "mine:1"]).status.code(),
        Some(1)
    );
    assert_eq!(
        strings(&inspect(&env, id)["RepoTags"]),
        [bb.reference(), other.clone()]
    );
    assert_eq!(
        layer_diff_ids(&env),
        bb.layer_diff_ids,
        "untagging keeps the layers"
    );

    // Unknown image: exit 1, or 0 with --ignore.
    let (code, stderr) = env.fails(&["rmi", "nosuch"]);
    assert_eq!(code, 1);
    assert_clean_error(&stderr, &["nosuch", "image not known"]);
    assert_eq!(env.run(&["rmi", "-i", "nosuch"]).status.code(), Some(0));

    // -f by ID removes the image with all its names, then its layers and blobs.
    let out = env.ok(&["rmi", "-f", id]);
    assert!(
        out.contains(&format!("Untagged: {}", bb.reference())),
        "{out}"
    );
    assert!(out.contains(&format!("Untagged: {other}")), "{out}");
    assert!(out.ends_with(&format!("Deleted: {id}\n")), "{out}");
    assert_eq!(image_ids(&env), Vec::<String>::new());
    assert_eq!(layer_diff_ids(&env), Vec::<String>::new());
    assert_eq!(blob_digests(&env), Vec::<String>::new());

    let (code, stderr) = env.fails(&["rmi"]);
    assert_eq!(code, 125);
    assert_clean_error(&stderr, &["--all"]);
}

#[test]
fn rmi_last_name_deletes_and_collects_only_unshared_layers() {
    let reg = Registry::start();
    let bb = images::busybox(&reg);
    let ma = images::multiarch(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", "busybox"]);
    env.ok(&["pull", "-q", "multiarch"]);
    // multiarch shares busybox's layer.
    assert_eq!(ma.layer_diff_ids[0], bb.layer_diff_ids[0]);
    assert_eq!(layer_diff_ids(&env).len(), 2);

    let out = env.ok(&["rmi", "busybox"]);
    assert_eq!(
        out,
        format!("Untagged: {}\nDeleted: {}\n", bb.reference(), bb.image_id())
    );
    let mut want = ma.layer_diff_ids.clone();
    want.sort();
    assert_eq!(layer_diff_ids(&env), want, "the shared layer stays");
    assert!(
        !blobs_dir(&env).join(bb.image_id()).exists(),
        "busybox config blob kept"
    );
    assert!(
        blobs_dir(&env).join(&bb.layer_digests[0][7..]).is_file(),
        "shared blob removed"
    );
    assert_images_complete(&env);

    env.ok(&["rmi", "multiarch"]);
    assert_eq!(layer_diff_ids(&env), Vec::<String>::new());
    assert_eq!(blob_digests(&env), Vec::<String>::new());
}

#[test]
fn rmi_all_empties_the_store() {
    let (_reg, env, imgs) = three_images();
    let out = env.ok(&["rmi", "-a"]);
    for img in &imgs {
        assert!(
            out.contains(&format!("Deleted: {}", img.image_id())),
            "{out}"
        );
    }
    assert_eq!(image_ids(&env), Vec::<String>::new());
    assert_eq!(layer_diff_ids(&env), Vec::<String>::new());
    assert_eq!(blob_digests(&env), Vec::<String>::new());
    // Nothing left: still fine.
    assert_eq!(env.ok(&["rmi", "-a"]), "");
}

#[test]
fn image_prune_removes_only_dangling_images() {
    let reg = Registry::start();
    let env = Oxpod::with_registry(&reg);
    let old = images::busybox_as(&reg, "app", "latest");
    let keep = labelled(&reg);
    env.ok(&["pull", "-q", "app"]);
    env.ok(&["pull", "-q", &keep.reference()]);

    // Nothing dangling yet: prune removes nothing.
    assert_eq!(env.ok(&["image", "prune", "-f"]), "");
    assert_eq!(image_ids(&env).len(), 2);

    // A new image under the same tag leaves the old one without a name.
    let new = images::push_image(&reg, &images::multilayer_image(), "app", "latest");
    assert_eq!(env.ok(&["pull", "-q", "app"]).trim(), new.image_id());
    let dangling = env.ok(&["images", "-q", "--filter", "dangling=true"]);
    assert_eq!(lines(&dangling), [short(old.image_id())]);
    let table = env.ok(&["images"]);
    let row = lines(&table)
        .into_iter()
        .find(|r| r.contains(short(old.image_id())))
        .unwrap();
    assert!(row.starts_with("<none>"), "{table}");
    let entry = images_json(&env)
        .into_iter()
        .find(|e| e["Id"] == old.image_id())
        .unwrap();
    assert_eq!(entry["Dangling"], true);
    assert_eq!(strings(&entry["RepoTags"]), Vec::<String>::new());

    assert_eq!(
        env.ok(&["image", "prune", "-f"]),
        format!("{}\n", old.image_id())
    );
    let mut left: Vec<String> = images_json(&env)
        .iter()
        .map(|e| e["Id"].as_str().unwrap().to_owned())
        .collect();
    left.sort();
    let mut want = vec![new.image_id().to_owned(), keep.image_id().to_owned()];
    want.sort();
    assert_eq!(left, want);
    assert!(!blobs_dir(&env).join(old.image_id()).exists());
    // busybox's layer is shared by both remaining images; everything they use is still here.
    assert_images_complete(&env);
    assert_eq!(env.ok(&["images", "-q", "--filter", "dangling=true"]), "");

    // --all removes every image no container uses.
    let out = env.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(lines(&out).len(), 2, "{out}");
    assert_eq!(image_ids(&env), Vec::<String>::new());
    assert_eq!(layer_diff_ids(&env), Vec::<String>::new());
    assert_eq!(blob_digests(&env), Vec::<String>::new());
}
