//! A Kubernetes API server for `kube apply`'s tests: HTTPS on 127.0.0.1 with a CA, server and
//! client certificates made per server, speaking the wire protocol of what apply uses:
//! `/version`, discovery (`/api`, `/apis`, group versions, with the real `APIVersions`,
//! `APIGroupList` and `APIResourceList` shapes), server-side apply (`PATCH` with
//! `application/apply-patch+yaml`, `fieldManager`, `force`, `dryRun=All`, field ownership in
//! `managedFields`, 409 conflicts, 422 for objects the real server refuses), GET, LIST with an
//! equality `labelSelector`, and DELETE. Objects live in memory; every request is recorded.
//!
//! Semantics kept from the real server where apply depends on them: `resourceVersion` moves
//! only when an apply changes the object; `generation` only when the spec changes; objects in a
//! namespace that does not exist are refused (404), so apply order matters; a dry run persists
//! nothing. Lists are merged atomically (the real server merges some by key); that does not
//! change what apply sends. There are no controllers or pods: a GET gives a workload the status
//! its controller would have written by then (see [`Readiness`]), in the real field shapes,
//! for a cluster of two nodes; the spec is stored without the server's defaults.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};

/// What the server accepts as a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer TOKEN`; no client certificate asked for.
    Token(String),
    /// A client certificate signed by the server's CA, required in the TLS handshake.
    ClientCert,
}

/// When workloads report ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Deployments, StatefulSets, ReplicaSets, DaemonSets and Pods report ready, and Jobs
    /// complete, this long after the write that changed their spec.
    After(Duration),
    /// Jobs report failed (backoff limit exceeded) this long after the write that changed
    /// their spec; the other workloads never report ready.
    Fail(Duration),
    /// Their status never says ready; Jobs keep running.
    Never,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: String,
    pub authorization: Option<String>,
    pub client_cert: bool,
    pub status: u16,
    /// The body the server answered with (for a GET, the status the object had then).
    pub response: Value,
}

impl Recorded {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body of {} {} is not JSON: {e}", self.method, self.path))
    }
}

/// A served resource: (group, version, plural, kind, namespaced).
type Resource = (&'static str, &'static str, &'static str, &'static str, bool);

const RESOURCES: [Resource; 12] = [
    ("", "v1", "namespaces", "Namespace", false),
    ("", "v1", "configmaps", "ConfigMap", true),
    ("", "v1", "secrets", "Secret", true),
    (
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
    ),
    ("", "v1", "services", "Service", true),
    ("", "v1", "pods", "Pod", true),
    ("apps", "v1", "deployments", "Deployment", true),
    ("apps", "v1", "replicasets", "ReplicaSet", true),
    ("apps", "v1", "statefulsets", "StatefulSet", true),
    ("apps", "v1", "daemonsets", "DaemonSet", true),
    ("batch", "v1", "jobs", "Job", true),
    ("batch", "v1", "cronjobs", "CronJob", true),
];

/// (group, plural, namespace or "", name)
type Key = (String, String, String, String);

struct Stored {
    object: Value,
    /// Field manager → the fields (JSON pointers to leaves) it owns.
    owners: BTreeMap<String, BTreeSet<String>>,
    /// When the workload's status turns ready.
    ready_at: Option<Instant>,
}

struct State {
    objects: BTreeMap<Key, Stored>,
    requests: Vec<Recorded>,
    resource_version: u64,
    uid: u64,
}

struct Shared {
    auth: Auth,
    readiness: Readiness,
    state: Mutex<State>,
}

pub struct ApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

impl ApiServer {
    /// Starts a server on a free port of 127.0.0.1 with the namespace `default`.
    pub fn start(auth: Auth, readiness: Readiness) -> ApiServer {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "oxpod-it-kube-ca");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "oxpod-it-user");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match auth {
            Auth::Token(_) => builder.with_no_client_auth(),
            Auth::ClientCert => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca_cert.der().clone()).unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = Arc::new(
            builder
                .with_single_cert(
                    vec![server_cert.der().clone(), ca_cert.der().clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
                )
                .unwrap(),
        );

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            auth,
            readiness,
            state: Mutex::new(State {
                objects: BTreeMap::new(),
                requests: Vec::new(),
                resource_version: 100,
                uid: 0,
            }),
        });
        let stop = Arc::new(AtomicBool::new(false));
        {
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    let config = config.clone();
                    std::thread::spawn(move || serve_connection(&shared, config, stream));
                }
            });
        }
        let server = ApiServer {
            addr,
            shared,
            stop,
            ca_pem: ca_cert.pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        };
        server
            .put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}));
        server
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn client_cert_pem(&self) -> &str {
        &self.client_cert_pem
    }

    pub fn client_key_pem(&self) -> &str {
        &self.client_key_pem
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.state.lock().unwrap().requests.clone()
    }

    /// The requests with this method, in order.
    pub fn requests_of(&self, method: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared.state.lock().unwrap().requests.clear();
    }

    /// The stored object at an API path (`/apis/apps/v1/namespaces/default/deployments/web`).
    pub fn object(&self, path: &str) -> Option<Value> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (resource, namespace, name) = parse_path(&segments)?;
        let key = key(resource, namespace, name?);
        let state = self.shared.state.lock().unwrap();
        state.objects.get(&key).map(|s| s.object.clone())
    }

    /// The names of every stored object, as `plural/namespace/name`.
    pub fn names(&self) -> Vec<String> {
        let state = self.shared.state.lock().unwrap();
        state
            .objects
            .keys()
            .map(|(_, plural, ns, name)| format!("{plural}/{ns}/{name}"))
            .collect()
    }

    /// Stores `object` as another client's apply (field manager `kubectl`) would.
    pub fn put(&self, object: Value) {
        self.apply_as("kubectl", object, true);
    }

    /// A server-side apply of `object` by `manager`, as if sent over the wire.
    pub fn apply_as(&self, manager: &str, object: Value, force: bool) {
        let kind = object["kind"].as_str().unwrap().to_string();
        let resource = RESOURCES.iter().find(|r| r.3 == kind).unwrap();
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        let namespace = resource.4.then(|| {
            object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string()
        });
        let mut state = self.shared.state.lock().unwrap();
        let (code, body) = server_side_apply(
            &mut state,
            self.shared.readiness,
            resource,
            namespace.as_deref(),
            &name,
            &object,
            manager,
            force,
            false,
        );
        assert!(code < 300, "apply_as {kind}/{name}: {code} {body}");
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 over TLS
// ---------------------------------------------------------------------------------------------

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

fn serve_connection(shared: &Shared, config: Arc<rustls::ServerConfig>, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut reader = BufReader::new(rustls::StreamOwned::new(conn, stream));
    loop {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        let client_cert = reader
            .get_ref()
            .conn
            .peer_certificates()
            .is_some_and(|c| !c.is_empty());
        let (status, body) = respond(shared, &request, client_cert);
        let text = body.to_string();
        let close = request
            .headers
            .get("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
            reason(status),
            text.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        let stream = reader.get_mut();
        if stream.write_all(head.as_bytes()).is_err()
            || stream.write_all(text.as_bytes()).is_err()
            || stream.flush().is_err()
            || close
        {
            return;
        }
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let mut body = Vec::new();
    if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    Some(Request {
        method,
        path: percent_decode(path),
        query,
        headers,
        body,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        _ => "Status",
    }
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

fn status(code: u16, reason: &str, message: &str, details: Value) -> (u16, Value) {
    let mut s = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if !details.is_null() {
        s["details"] = details;
    }
    (code, s)
}

fn respond(shared: &Shared, req: &Request, client_cert: bool) -> (u16, Value) {
    let authorization = req.headers.get("authorization").cloned();
    let authorized = match &shared.auth {
        Auth::Token(token) => authorization.as_deref() == Some(format!("Bearer {token}").as_str()),
        Auth::ClientCert => client_cert,
    };
    let (code, body) = if authorized {
        route(shared, req)
    } else {
        status(401, "Unauthorized", "Unauthorized", Value::Null)
    };
    let mut state = shared.state.lock().unwrap();
    state.requests.push(Recorded {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        content_type: req.headers.get("content-type").cloned(),
        body: String::from_utf8_lossy(&req.body).into_owned(),
        authorization,
        client_cert,
        status: code,
        response: body.clone(),
    });
    (code, body)
}

fn route(shared: &Shared, req: &Request) -> (u16, Value) {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["version"]) => (
            200,
            json!({
                "major": "1", "minor": "33", "gitVersion": "v1.33.0+oxpod-it",
                "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
                "platform": "linux/amd64"
            }),
        ),
        ("GET", ["api"]) => (
            200,
            json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]
            }),
        ),
        ("GET", ["apis"]) => {
            let groups: Vec<Value> = ["apps", "batch"]
                .iter()
                .map(|g| {
                    let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
                    json!({"name": g, "versions": [gv], "preferredVersion": gv})
                })
                .collect();
            (
                200,
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            )
        }
        ("GET", ["api", "v1"]) => (200, resource_list("", "v1")),
        ("GET", ["apis", group, version])
            if RESOURCES.iter().any(|r| r.0 == *group && r.1 == *version) =>
        {
            (200, resource_list(group, version))
        }
        _ => match parse_path(&segments) {
            Some((resource, namespace, name)) => {
                object_route(shared, req, resource, namespace, name)
            }
            None => status(
                404,
                "NotFound",
                "the server could not find the requested resource",
                Value::Null,
            ),
        },
    }
}

/// What the real server lists beside a resource's name: its short names, whether it is in
/// the `all` category, and whether it has a `status` subresource (the other subresources,
/// `scale`, `log`, `exec`, ..., are left out: apply uses none).
fn listing(plural: &str) -> (&'static [&'static str], bool, bool) {
    match plural {
        "namespaces" => (&["ns"], false, true),
        "configmaps" => (&["cm"], false, false),
        "secrets" => (&[], false, false),
        "persistentvolumeclaims" => (&["pvc"], false, true),
        "services" => (&["svc"], true, true),
        "pods" => (&["po"], true, true),
        "deployments" => (&["deploy"], true, true),
        "replicasets" => (&["rs"], true, true),
        "statefulsets" => (&["sts"], true, true),
        "daemonsets" => (&["ds"], true, true),
        "jobs" => (&[], true, true),
        "cronjobs" => (&["cj"], true, true),
        other => panic!("no discovery listing for {other}"),
    }
}

fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.0 == group && r.1 == version) {
        let (short_names, in_all, has_status) = listing(r.2);
        // Namespaces are deleted one by one (their contents go with them): no deletecollection.
        let verbs: Vec<&str> = [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
        .into_iter()
        .filter(|v| !(r.2 == "namespaces" && *v == "deletecollection"))
        .collect();
        let mut resource = json!({
            "name": r.2,
            "singularName": r.3.to_ascii_lowercase(),
            "namespaced": r.4,
            "kind": r.3,
            "verbs": verbs,
        });
        if !short_names.is_empty() {
            resource["shortNames"] = json!(short_names);
        }
        if in_all {
            resource["categories"] = json!(["all"]);
        }
        resources.push(resource);
        if has_status {
            resources.push(json!({
                "name": format!("{}/status", r.2),
                "singularName": "",
                "namespaced": r.4,
                "kind": r.3,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

/// `api/v1/...` or `apis/G/V/...` → (resource, namespace, name).
fn parse_path<'a>(
    segments: &[&'a str],
) -> Option<(&'static Resource, Option<&'a str>, Option<&'a str>)> {
    let (group, version, rest) = match segments {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let find = |plural: &str| {
        RESOURCES
            .iter()
            .find(|r| r.0 == group && r.1 == version && r.2 == plural)
    };
    match rest {
        ["namespaces", ns, plural] => find(plural).filter(|r| r.4).map(|r| (r, Some(*ns), None)),
        ["namespaces", ns, plural, name] => find(plural)
            .filter(|r| r.4)
            .map(|r| (r, Some(*ns), Some(*name))),
        [plural] => find(plural).map(|r| (r, None, None)),
        [plural, name] => find(plural)
            .filter(|r| !r.4)
            .map(|r| (r, None, Some(*name))),
        _ => None,
    }
}

fn key(resource: &Resource, namespace: Option<&str>, name: &str) -> Key {
    (
        resource.0.to_string(),
        resource.2.to_string(),
        namespace.unwrap_or("").to_string(),
        name.to_string(),
    )
}

fn api_version(resource: &Resource) -> String {
    if resource.0.is_empty() {
        resource.1.to_string()
    } else {
        format!("{}/{}", resource.0, resource.1)
    }
}

fn not_found(resource: &Resource, name: &str) -> (u16, Value) {
    let what = if resource.0.is_empty() {
        resource.2.to_string()
    } else {
        format!("{}.{}", resource.2, resource.0)
    };
    status(
        404,
        "NotFound",
        &format!("{what} \"{name}\" not found"),
        json!({"name": name, "group": resource.0, "kind": resource.2}),
    )
}

fn object_route(
    shared: &Shared,
    req: &Request,
    resource: &'static Resource,
    namespace: Option<&str>,
    name: Option<&str>,
) -> (u16, Value) {
    let param = |k: &str| {
        req.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let mut state = shared.state.lock().unwrap();
    match (req.method.as_str(), name) {
        ("GET", Some(name)) => match state.objects.get(&key(resource, namespace, name)) {
            Some(stored) => (200, with_status(stored, resource, shared.readiness)),
            None => not_found(resource, name),
        },
        ("GET", None) => {
            let selector: Vec<(String, String)> = param("labelSelector")
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .filter_map(|s| s.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let rv = state.resource_version;
            let items: Vec<Value> = state
                .objects
                .iter()
                .filter(|((g, p, ns, _), _)| {
                    g == resource.0 && p == resource.2 && namespace.is_none_or(|want| want == ns)
                })
                .filter(|(_, s)| {
                    selector.iter().all(|(k, v)| {
                        s.object["metadata"]["labels"][k.as_str()].as_str() == Some(v.as_str())
                    })
                })
                .map(|(_, s)| {
                    let mut item = with_status(s, resource, shared.readiness);
                    // Items of a typed list carry no kind or apiVersion.
                    if let Some(map) = item.as_object_mut() {
                        map.remove("kind");
                        map.remove("apiVersion");
                    }
                    item
                })
                .collect();
            (
                200,
                json!({
                    "kind": format!("{}List", resource.3),
                    "apiVersion": api_version(resource),
                    "metadata": {"resourceVersion": rv.to_string()},
                    "items": items,
                }),
            )
        }
        ("PATCH", Some(name)) => {
            let content_type = req.headers.get("content-type").map(String::as_str);
            if content_type != Some("application/apply-patch+yaml") {
                return status(
                    415,
                    "UnsupportedMediaType",
                    &format!(
                        "the body of the request was in an unknown format - accepted media types include: application/apply-patch+yaml (got {content_type:?})"
                    ),
                    Value::Null,
                );
            }
            let Some(manager) = param("fieldManager").filter(|m| !m.is_empty()) else {
                return status(
                    400,
                    "BadRequest",
                    "fieldManager is required for apply requests",
                    Value::Null,
                );
            };
            let force = match param("force") {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return status(
                        400,
                        "BadRequest",
                        &format!("invalid force value {other:?}"),
                        Value::Null,
                    );
                }
            };
            let dry_run = match param("dryRun") {
                None => false,
                Some("All") => true,
                Some(other) => {
                    return status(
                        400,
                        "BadRequest",
                        &format!("unsupported dry run value {other:?}"),
                        Value::Null,
                    );
                }
            };
            // JSON is YAML; the client sends JSON.
            let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                return status(
                    400,
                    "BadRequest",
                    "error decoding YAML: the body is not a JSON object",
                    Value::Null,
                );
            };
            if resource.4
                && let Some(ns) = namespace
                && !state.objects.contains_key(&key(&RESOURCES[0], None, ns))
            {
                return status(
                    404,
                    "NotFound",
                    &format!("namespaces \"{ns}\" not found"),
                    json!({"name": ns, "kind": "namespaces"}),
                );
            }
            server_side_apply(
                &mut state,
                shared.readiness,
                resource,
                namespace,
                name,
                &body,
                manager,
                force,
                dry_run,
            )
        }
        ("DELETE", Some(name)) => {
            let options: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let dry_run = param("dryRun") == Some("All")
                || options["dryRun"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v == "All"));
            let k = key(resource, namespace, name);
            match state.objects.get(&k) {
                None => not_found(resource, name),
                Some(stored) => {
                    let object = stored.object.clone();
                    if !dry_run {
                        state.objects.remove(&k);
                    }
                    (200, object)
                }
            }
        }
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Value::Null,
        ),
    }
}

/// The object as a GET returns it: workloads with the status they have reached by now.
fn with_status(stored: &Stored, resource: &Resource, readiness: Readiness) -> Value {
    let mut object = stored.object.clone();
    let reached = stored.ready_at.is_some_and(|t| Instant::now() >= t);
    let fails = matches!(readiness, Readiness::Fail(_));
    let ready = reached && !fails;
    let generation = object["metadata"]["generation"].clone();
    match resource.3 {
        "Deployment" => {
            let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
            let available = if ready { replicas } else { 0 };
            object["status"] = json!({
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": available,
                "availableReplicas": available,
            });
        }
        "Pod" => {
            object["status"] = if ready {
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
            } else {
                json!({"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]})
            };
        }
        "StatefulSet" => object["status"] = stateful_set_status(&object, ready),
        "ReplicaSet" => object["status"] = replica_set_status(&object, ready),
        "DaemonSet" => object["status"] = daemon_set_status(&object, ready),
        "Job" => object["status"] = job_status(&object, reached, fails),
        _ => {}
    }
    object
}

/// The nodes a DaemonSet's pods are scheduled on.
const NODES: i64 = 2;

/// Drops the counters the API types mark `omitempty` when they are zero, as the real server's
/// JSON does.
fn without_zero(mut status: Value, omitempty: &[&str]) -> Value {
    for key in omitempty {
        if status[*key] == json!(0) {
            status.as_object_mut().unwrap().remove(*key);
        }
    }
    status
}

/// A ControllerRevision name as the StatefulSet controller makes it: the set's name and a
/// hash (here of the generation that brought the template).
fn revision(object: &Value, generation: i64) -> String {
    use std::hash::{Hash, Hasher};
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (name, generation).hash(&mut hasher);
    format!("{name}-{:x}", hasher.finish() & 0xff_ffff_ffff)
}

/// Before it is ready, a new StatefulSet has its pods created but not ready; a changed one
/// has every pod ready at the old revision and none updated yet.
fn stateful_set_status(object: &Value, ready: bool) -> Value {
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
    let update = revision(object, generation);
    let (ready_replicas, updated, current) = if ready || generation == 1 {
        (if ready { replicas } else { 0 }, replicas, update.clone())
    } else {
        (replicas, 0, revision(object, generation - 1))
    };
    let status = json!({
        "observedGeneration": generation,
        "replicas": replicas,
        "readyReplicas": ready_replicas,
        "currentReplicas": if current == update { replicas } else { replicas - updated },
        "updatedReplicas": updated,
        "availableReplicas": ready_replicas,
        "currentRevision": current,
        "updateRevision": update,
        "collisionCount": 0,
    });
    without_zero(
        status,
        &["readyReplicas", "currentReplicas", "updatedReplicas"],
    )
}

/// Before it is ready, a ReplicaSet's pods exist and carry its labels but are not ready.
fn replica_set_status(object: &Value, ready: bool) -> Value {
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready_replicas = if ready { replicas } else { 0 };
    let status = json!({
        "observedGeneration": object["metadata"]["generation"],
        "replicas": replicas,
        "fullyLabeledReplicas": replicas,
        "readyReplicas": ready_replicas,
        "availableReplicas": ready_replicas,
    });
    without_zero(
        status,
        &["fullyLabeledReplicas", "readyReplicas", "availableReplicas"],
    )
}

/// One pod per node. Before it is ready, a new DaemonSet's pods are scheduled but not ready;
/// a changed one has every pod ready with the old template and none updated yet.
fn daemon_set_status(object: &Value, ready: bool) -> Value {
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
    let (number_ready, updated) = if ready {
        (NODES, NODES)
    } else if generation == 1 {
        (0, NODES)
    } else {
        (NODES, 0)
    };
    let status = json!({
        "observedGeneration": generation,
        "desiredNumberScheduled": NODES,
        "currentNumberScheduled": NODES,
        "numberMisscheduled": 0,
        "numberReady": number_ready,
        "updatedNumberScheduled": updated,
        "numberAvailable": number_ready,
        "numberUnavailable": NODES - number_ready,
    });
    without_zero(
        status,
        &[
            "updatedNumberScheduled",
            "numberAvailable",
            "numberUnavailable",
        ],
    )
}

/// A Job's status as the Job controller writes it (no observedGeneration): running, complete
/// (Kubernetes 1.31+ sets SuccessCriteriaMet before Complete), or failed past its backoff
/// limit (FailureTarget, then Failed).
fn job_status(job: &Value, finished: bool, fails: bool) -> Value {
    let start = "2025-01-01T00:00:00Z";
    let condition = |type_: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": "True", "lastProbeTime": start,
               "lastTransitionTime": start, "reason": reason, "message": message})
    };
    let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
    let parallelism = job["spec"]["parallelism"].as_i64().unwrap_or(1);
    let backoff_limit = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
    let mut status = json!({"startTime": start, "terminating": 0, "uncountedTerminatedPods": {}});
    if !finished {
        status["active"] = json!(parallelism.min(completions));
        status["ready"] = json!(0);
    } else if fails {
        let message = "Job has reached the specified backoff limit";
        status["failed"] = json!(backoff_limit + 1);
        status["ready"] = json!(0);
        status["conditions"] = json!([
            condition("FailureTarget", "BackoffLimitExceeded", message),
            condition("Failed", "BackoffLimitExceeded", message),
        ]);
    } else {
        let message = "Reached expected number of succeeded pods";
        status["succeeded"] = json!(completions);
        status["ready"] = json!(0);
        status["completionTime"] = json!(start);
        status["conditions"] = json!([
            condition("SuccessCriteriaMet", "CompletionsReached", message),
            condition("Complete", "CompletionsReached", message),
        ]);
    }
    status
}

/// Fields that identify the object rather than belong to a manager.
fn identity(pointer: &str) -> bool {
    matches!(
        pointer,
        "/apiVersion" | "/kind" | "/metadata/name" | "/metadata/namespace"
    )
}

/// JSON pointers to the leaves of `v` (lists are leaves: merged atomically here).
fn leaves(v: &Value, prefix: String, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                leaves(child, format!("{prefix}/{k}"), out);
            }
        }
        _ => {
            if !identity(&prefix) {
                out.insert(prefix);
            }
        }
    }
}

fn set_pointer(target: &mut Value, pointer: &str, value: Value) {
    let mut cur = target;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let map = cur.as_object_mut().unwrap();
        if i + 1 == parts.len() {
            map.insert(part.clone(), value);
            return;
        }
        cur = map.entry(part.clone()).or_insert_with(|| json!({}));
    }
}

fn remove_pointer(target: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    if let Some(Value::Object(map)) = target.pointer_mut(parent) {
        map.remove(&last);
    }
}

/// `managedFields` in the FieldsV1 form (`f:spec: {f:replicas: {}}`).
fn managed_fields(owners: &BTreeMap<String, BTreeSet<String>>, api_version: &str) -> Value {
    let entries: Vec<Value> = owners
        .iter()
        .filter(|(_, fields)| !fields.is_empty())
        .map(|(manager, fields)| {
            let mut tree = json!({});
            for f in fields {
                let pointer: String = f.split('/').skip(1).map(|p| format!("/f:{p}")).collect();
                set_pointer(&mut tree, &pointer, json!({}));
            }
            json!({
                "manager": manager,
                "operation": "Apply",
                "apiVersion": api_version,
                "fieldsType": "FieldsV1",
                "fieldsV1": tree,
            })
        })
        .collect();
    Value::Array(entries)
}

/// What the real server refuses and oxpod's own checks do not: a Deployment whose progress
/// deadline is not longer than its minReadySeconds.
fn invalid(resource: &Resource, name: &str, object: &Value) -> Option<(u16, Value)> {
    if resource.3 != "Deployment" {
        return None;
    }
    let deadline = object["spec"]["progressDeadlineSeconds"]
        .as_i64()
        .unwrap_or(600);
    let min_ready = object["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
    if deadline > min_ready {
        return None;
    }
    let cause = format!("Invalid value: {deadline}: must be greater than minReadySeconds");
    Some(status(
        422,
        "Invalid",
        &format!("Deployment.apps \"{name}\" is invalid: spec.progressDeadlineSeconds: {cause}"),
        json!({
            "name": name, "group": "apps", "kind": "Deployment",
            "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": "spec.progressDeadlineSeconds"}]
        }),
    ))
}

#[allow(clippy::too_many_arguments)]
fn server_side_apply(
    state: &mut State,
    readiness: Readiness,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
    body: &Value,
    manager: &str,
    force: bool,
    dry_run: bool,
) -> (u16, Value) {
    let api_version = api_version(resource);
    if body["apiVersion"] != api_version.as_str() || body["kind"] != resource.3 {
        return status(
            400,
            "BadRequest",
            &format!(
                "the body's apiVersion/kind {}/{} does not match the request's {api_version}/{}",
                body["apiVersion"], body["kind"], resource.3
            ),
            Value::Null,
        );
    }
    if body["metadata"]["name"] != name {
        return status(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL",
            Value::Null,
        );
    }
    if let Some(ns) = body["metadata"]["namespace"].as_str()
        && Some(ns) != namespace
    {
        return status(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
            Value::Null,
        );
    }
    let k = key(resource, namespace, name);
    let existing = state.objects.get(&k);
    let mut applied = BTreeSet::new();
    leaves(body, String::new(), &mut applied);

    let mut owners = existing.map(|s| s.owners.clone()).unwrap_or_default();
    let mut object = existing.map_or_else(
        || json!({"apiVersion": api_version, "kind": resource.3, "metadata": {"name": name}}),
        |s| s.object.clone(),
    );
    let mut conflicts = Vec::new();
    for (other, fields) in &owners {
        if other == manager {
            continue;
        }
        for f in fields.intersection(&applied) {
            if object.pointer(f) != body.pointer(f) {
                conflicts.push((other.clone(), f.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(m, f)| {
                json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with \"{m}\" using {api_version}"),
                    "field": f.replace('/', "."),
                })
            })
            .collect();
        let list: Vec<String> = conflicts
            .iter()
            .map(|(m, f)| {
                format!(
                    "conflict with \"{m}\" using {api_version}: {}",
                    f.replace('/', ".")
                )
            })
            .collect();
        let n = conflicts.len();
        return status(
            409,
            "Conflict",
            &format!(
                "Apply failed with {n} conflict{}: {}",
                if n == 1 { "" } else { "s" },
                list.join("\n")
            ),
            json!({"name": name, "group": resource.0, "kind": resource.2, "causes": causes}),
        );
    }
    for (other, field) in &conflicts {
        if let Some(fields) = owners.get_mut(other) {
            fields.remove(field);
        }
    }
    // Fields this manager applied before and no longer applies go, unless another owns them.
    let before = owners.get(manager).cloned().unwrap_or_default();
    for f in before.difference(&applied) {
        if !owners
            .iter()
            .any(|(m, fields)| m != manager && fields.contains(f))
        {
            remove_pointer(&mut object, f);
        }
    }
    for f in &applied {
        set_pointer(
            &mut object,
            f,
            body.pointer(f).cloned().unwrap_or(Value::Null),
        );
    }
    owners.insert(manager.to_string(), applied);
    owners.retain(|_, fields| !fields.is_empty());
    if let Some(ns) = namespace {
        object["metadata"]["namespace"] = json!(ns);
    }
    object["metadata"]["managedFields"] = managed_fields(&owners, &api_version);

    if let Some(refused) = invalid(resource, name, &object) {
        return refused;
    }
    let spec_changed = existing.is_none_or(|s| s.object.get("spec") != object.get("spec"));
    let generation = existing
        .and_then(|s| s.object["metadata"]["generation"].as_i64())
        .unwrap_or(0);
    object["metadata"]["generation"] = json!(if spec_changed {
        generation + 1
    } else {
        generation
    });
    let changed = existing.is_none_or(|s| s.object != object);
    if !changed || dry_run {
        // Nothing is written: the stored object (or the would-be one) with its current
        // resourceVersion.
        let code = if existing.is_some() { 200 } else { 201 };
        return (code, object);
    }
    state.resource_version += 1;
    object["metadata"]["resourceVersion"] = json!(state.resource_version.to_string());
    let created = existing.is_none();
    if created {
        state.uid += 1;
        object["metadata"]["uid"] = json!(format!("00000000-0000-0000-0000-{:012}", state.uid));
        object["metadata"]["creationTimestamp"] = json!("2025-01-01T00:00:00Z");
    }
    let ready_at = match (readiness, spec_changed) {
        (Readiness::Never, _) => None,
        (Readiness::After(delay) | Readiness::Fail(delay), true) => Some(Instant::now() + delay),
        (Readiness::After(_) | Readiness::Fail(_), false) => {
            state.objects.get(&k).and_then(|s| s.ready_at)
        }
    };
    state.objects.insert(
        k,
        Stored {
            object: object.clone(),
            owners,
            ready_at,
        },
    );
    (if created { 201 } else { 200 }, object)
}
