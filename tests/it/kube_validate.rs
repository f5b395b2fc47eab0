//! `kube validate` as a user and a tool see it: every invalid fixture reported at its file,
//! line and column with exit 1, valid fixtures passing, `--output json` with positions,
//! several inputs and stdin, and warnings that fail only with `--strict`.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::oxpod::Oxpod;

/// Invalid fixtures whose only findings are warnings for validate (it does not look at the
/// store, which play checks): exit 0 without `--strict`.
const WARNINGS_ONLY: &[&str] = &["configmap-ref-missing.yaml"];

fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/kube")
        .join(kind)
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn validate(env: &Oxpod, args: &[&str]) -> Output {
    let mut all = vec!["kube", "validate"];
    all.extend_from_slice(args);
    env.run(&all)
}

fn json_findings(out: &Output) -> Vec<Value> {
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .clone()
}

#[test]
fn every_invalid_fixture_is_reported_at_its_position_with_exit_1() {
    let env = Oxpod::new();
    let mut failures = Vec::new();
    for path in yaml_files(&fixtures("invalid")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let own = path.with_extension("validate.expected");
        let expected_path = if own.exists() {
            own
        } else {
            path.with_extension("expected")
        };
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{name}: {}: {e}", expected_path.display()));
        let file = path.to_str().unwrap();
        let out = validate(&env, &[file]);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        let want_exit = if WARNINGS_ONLY.contains(&name.as_str()) {
            0
        } else {
            1
        };
        if out.status.code() != Some(want_exit) {
            failures.push(format!(
                "{name}: exit {:?}, want {want_exit}\n{all}",
                out.status
            ));
        }
        if all.contains("panicked") {
            failures.push(format!("{name}: looks like a crash:\n{all}"));
        }
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            if !all.contains(line) {
                failures.push(format!("{name}: output lacks {line:?}:\n{all}"));
            }
        }
        assert!(
            expected.lines().any(|l| l.starts_with(&format!("{name}:"))),
            "{} names no position",
            expected_path.display()
        );
        // With --strict every one of them fails.
        let strict = validate(&env, &["--strict", file]);
        if strict.status.code() != Some(1) {
            failures.push(format!(
                "{name}: --strict exit {:?}, want 1\n{}",
                strict.status,
                text(&strict.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn valid_fixtures_pass_without_a_word() {
    let env = Oxpod::new();
    let dir = fixtures("valid");
    let out = validate(&env, &["--strict", dir.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), "", "valid fixtures draw no diagnostics");
    // Every document counts, List items one by one.
    let (count, rest) = stdout.trim().split_once(" resources: ").unwrap();
    let count: usize = count.parse().unwrap();
    assert!(count > yaml_files(&dir).len(), "{stdout}");
    assert_eq!(rest, format!("{count} valid"));
    // One file at a time too.
    for path in yaml_files(&dir) {
        let out = validate(&env, &[path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
}

#[test]
fn json_output_carries_file_line_column_and_the_object() {
    let env = Oxpod::new();
    let invalid = fixtures("invalid");
    let several = invalid.join("several-errors.yaml");
    let portz = invalid.join("unknown-field-portz.yaml");
    let out = validate(
        &env,
        &[
            "--output",
            "json",
            several.to_str().unwrap(),
            portz.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "3 resources: 0 valid, 3 invalid",
        "the summary goes to stderr so stdout stays JSON"
    );
    let found = json_findings(&out);
    let brief: Vec<(String, u64, u64, &str, &str, &str, &str)> = found
        .iter()
        .map(|f| {
            let file = Path::new(f["file"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (
                file,
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["kind"].as_str().unwrap(),
                f["name"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
                f["pointer"].as_str().unwrap(),
            )
        })
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        brief,
        [
            (
                s("several-errors.yaml"),
                4,
                9,
                "Pod",
                "Web_Server",
                "error",
                "/metadata/name"
            ),
            (
                s("several-errors.yaml"),
                11,
                22,
                "Pod",
                "Web_Server",
                "error",
                "/spec/containers/0/ports/0/containerPort"
            ),
            (
                s("several-errors.yaml"),
                21,
                15,
                "Service",
                "web",
                "error",
                "/spec/ports/0/nodePort"
            ),
            (
                s("unknown-field-portz.yaml"),
                10,
                5,
                "Pod",
                "web",
                "error",
                "/spec/containers/0/portz"
            ),
        ]
    );
    assert_eq!(
        found[3]["message"],
        "unknown field \"portz\" in spec.containers[0]"
    );
    assert_eq!(found[3]["help"], "did you mean \"ports\"?");

    // A valid input: an empty array.
    let valid = fixtures("valid").join("pod.yaml");
    let out = validate(&env, &["-o", "json", valid.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(json_findings(&out).is_empty());
}

#[test]
fn stdin_several_files_and_broken_yaml_are_all_reported() {
    let env = Oxpod::new();
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: from-stdin\nspec:\n  containers:\n  - name: app\n    image: busybox\n    ports: 80\n";
    let syntax = fixtures("invalid").join("yaml-syntax.yaml");
    let valid = fixtures("valid").join("pod.yaml");
    let out = env.run_with_stdin(
        &[
            "kube",
            "validate",
            valid.to_str().unwrap(),
            "-",
            syntax.to_str().unwrap(),
        ],
        pod.as_bytes(),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("spec.containers[0].ports: invalid type: integer `80`, expected a list"),
        "{stderr}"
    );
    assert!(stderr.contains("<stdin>:9:12"), "{stderr}");
    assert!(stderr.contains("yaml-syntax.yaml:10:20"), "{stderr}");
    let valid_docs = 1;
    assert_eq!(
        text(&out.stdout).trim(),
        format!(
            "{} resources: {valid_docs} valid, 1 invalid; 1 file is not valid YAML",
            valid_docs + 1
        )
    );
}

#[test]
fn warnings_fail_only_with_strict() {
    let env = Oxpod::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  nodeSelector:\n    disk: ssd\n  containers:\n  - name: app\n    image: busybox\n    envFrom:\n    - configMapRef:\n        name: settings\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();

    let out = validate(&env, &["-o", "json", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr).trim(), "1 resource: 1 valid (2 warnings)");
    let found = json_findings(&out);
    let brief: Vec<(u64, &str, &str)> = found
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["severity"].as_str().unwrap(),
                f["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        brief,
        [
            (
                6,
                "warning",
                "nodeSelector is not honoured on a single host"
            ),
            (
                12,
                "warning",
                "ConfigMap settings is not in the input; play checks the store"
            ),
        ]
    );

    let out = validate(&env, &["--strict", file]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("pod.yaml:6:3"), "{stderr}");
    assert!(stderr.contains("pod.yaml:12:7"), "{stderr}");
    assert_eq!(text(&out.stdout).trim(), "1 resource: 0 valid, 1 invalid");

    // The ConfigMap in the input settles the reference.
    std::fs::write(
        dir.path().join("settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n",
    )
    .unwrap();
    let out = validate(&env, &["-o", "json", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        json_findings(&out).len(),
        1,
        "only the nodeSelector warning"
    );
}
