//! The local control socket (`<state_dir>/acorn.sock`, mode 0600): how ops verbs run on the
//! machine reach a running server, which holds the store's lock. One JSON line in, one JSON line
//! out ([`LocalRequest`] / [`LocalResponse`] from `acorn-proto`). Possession of the socket is the
//! credential: only the service user (and root) can open it, the same people who can read the
//! store file itself.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use acorn_proto::ops::{BackupDone, LocalRequest, LocalResponse};
use acorn_store::OneTimePurpose;

use crate::control::{Control, setup};
use crate::tls::TlsService;

/// Longest accepted request line.
const MAX_LINE: usize = 64 * 1024;

/// Path of the socket in a state directory.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("acorn.sock")
}

/// What the socket's requests act on.
#[derive(Clone)]
pub struct LocalOps {
    pub control: Control,
    pub tls: Arc<TlsService>,
    pub gateway: Arc<crate::gateway::Gateway>,
    pub search: Arc<crate::control::search::RunSearch>,
}

/// Binds the socket (replacing a stale file) and serves it until `shutdown` fires.
pub fn serve(
    state_dir: &Path,
    ops: LocalOps,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<PathBuf> {
    let path = socket_path(state_dir);
    // We hold the store lock, so no other server uses this state dir: any socket file is stale.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let served = path.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => { tokio::spawn(handle(stream, ops.clone())); }
                    Err(e) => tracing::warn!(error = %e, "local socket accept failed"),
                },
            }
        }
        let _ = std::fs::remove_file(&served);
    });
    Ok(path)
}

async fn handle(stream: UnixStream, ops: LocalOps) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_LINE as u64));
    let response = match reader.read_line(&mut line).await {
        Ok(_) => match serde_json::from_str::<LocalRequest>(&line) {
            Ok(request) => dispatch(request, &ops).await,
            Err(e) => LocalResponse::Error {
                message: format!("malformed request: {e}"),
            },
        },
        Err(e) => LocalResponse::Error {
            message: format!("cannot read request: {e}"),
        },
    };
    let mut out = serde_json::to_string(&response)
        .unwrap_or_else(|_| "{\"result\":\"error\",\"message\":\"encoding\"}".into());
    out.push('\n');
    let _ = write.write_all(out.as_bytes()).await;
}

async fn dispatch(request: LocalRequest, ops: &LocalOps) -> LocalResponse {
    let result = match request {
        LocalRequest::CertShow => ops.tls.cert_info().map(LocalResponse::Cert).map_err(|e| e.to_string()),
        LocalRequest::RotateLeaf => match ops.tls.rotate_leaf().await {
            Ok(true) => ops.tls.cert_info().map(LocalResponse::Cert).map_err(|e| e.to_string()),
            Ok(false) => Err("the server serves operator-provided certificate files (tls.cert_file); replace those files instead".into()),
            Err(e) => Err(e.to_string()),
        },
        LocalRequest::Recover { username } => recover(ops, username).await,
        LocalRequest::Backup { out } => backup(ops, out).await,
        LocalRequest::Gateway(request) => crate::gateway::ops::handle(&ops.gateway, request).await,
        LocalRequest::Reindex => ops.search.reindex().await.map(|()| LocalResponse::Reindexing {
            message: "the search index was dropped and is being rebuilt from the store; searches \
                      answer with index \"rebuilding\" until it is done"
                .into(),
        }),
    };
    result.unwrap_or_else(|message| LocalResponse::Error { message })
}

async fn recover(ops: &LocalOps, username: String) -> Result<LocalResponse, String> {
    setup::validate_username(&username).map_err(|e| e.message)?;
    let purpose = OneTimePurpose::Recover {
        username: username.clone(),
    };
    let link = setup::issue_link(&ops.control.store, &ops.control.public_base_url, purpose)
        .await
        .map_err(|e| e.to_string())?;
    let _ = ops
        .control
        .store
        .append_system_event(
            "recovery.issued",
            &format!("recovery link issued for {username}"),
        )
        .await;
    tracing::warn!(%username, expires_at = %link.expires_at, "recovery link issued on the local socket");
    Ok(LocalResponse::Link(link))
}

async fn backup(ops: &LocalOps, out: String) -> Result<LocalResponse, String> {
    let path = PathBuf::from(&out);
    if !path.is_absolute() {
        return Err(format!("backup path must be absolute, got {out}"));
    }
    let done = crate::ops::backup::online(&ops.control.store, path)
        .await
        .map_err(|e| e.to_string())?;
    Ok(LocalResponse::Backup(done))
}

/// Sends one request to a running server. `Ok(None)`: no server is listening on this state dir.
pub async fn request(
    state_dir: &Path,
    request: &LocalRequest,
) -> std::io::Result<Option<LocalResponse>> {
    let path = socket_path(state_dir);
    let stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_string(request).map_err(std::io::Error::other)?;
    line.push('\n');
    write.write_all(line.as_bytes()).await?;
    let mut answer = String::new();
    BufReader::new(read).read_line(&mut answer).await?;
    serde_json::from_str(&answer)
        .map(Some)
        .map_err(std::io::Error::other)
}

/// A `BackupDone` from a store manifest.
pub fn backup_done(path: &Path, manifest: &acorn_store::BackupManifest) -> BackupDone {
    BackupDone {
        path: path.display().to_string(),
        manifest_path: acorn_store::manifest_path(path).display().to_string(),
        bytes: manifest.bytes,
        sha256: manifest.sha256.clone(),
    }
}
